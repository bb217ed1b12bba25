--- A client's clock: the one place the SDK reads time or waits.
--   now()      monotonic seconds (the core's clock_gettime)
--   sleep(s)   waits without spinning: the core's nanosleep, or inside
--              nginx ngx.sleep where a phase allows it, which yields to
--              nginx instead of blocking the worker and every request on it
--   random()   in [0, 1), for backoff jitter
--   time()     wall-clock epoch seconds, for a Retry-After given as a date
--   wall()     wall-clock epoch seconds to the microsecond (inside nginx its
--              millisecond clock): a cache entry's age, which every host
--              of a fleet reads (os.time's whole seconds are too coarse)
-- The specs replace any of them through flexiroam.new{clock = {...}}.
local core = require("flexiroam.core")
local ngx_transport = require("flexiroam.transport.ngx")
local raise = require("flexiroam.misuse").raise

local clock = {}

local FIELDS = { "now", "sleep", "random", "time", "wall" }

--- clock.new([seam]) -> {now =, sleep =, random =, time =}; a seam's
-- functions replace the defaults one by one (its sleep wins inside nginx too).
function clock.new(seam)
  local c = { now = core.monotonic, sleep = core.sleep, random = math.random, time = os.time, wall = core.realtime }
  if ngx_transport.in_nginx() then c.sleep, c.wall = ngx_transport.sleeper(core.sleep), ngx_transport.now end
  if seam == nil then return c end
  if type(seam) ~= "table" then raise("flexiroam.new: clock must be a table") end
  for _, name in ipairs(FIELDS) do
    local f = seam[name]
    if f ~= nil then
      if type(f) ~= "function" then raise("flexiroam.new: clock.%s must be a function", name) end
      c[name] = f
    end
  end
  return c
end

return clock
