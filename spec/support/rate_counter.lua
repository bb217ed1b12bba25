--- The counting upstream of the shared rate-limit specs
-- (spec/support/rate_counter_server.lua, run as its own lua5.4 process) and
-- what they measure with it:
--   local counter = require("spec.support.rate_counter").start()
--   counter.url                      -- "http://127.0.0.1:PORT": a client's base_url
--   counter:fault{status = 429, retry_after = 2, times = 1}
--   counter:delay(50)                -- every API answer 50 ms late
--   counter:arrivals()               -- { {t =, status =}, ... } by the server's clock, in order
--   rate_counter.peaks(arrivals)     -- most in any one-second window, most in one calendar second
--   counter:reset(); counter:stop()
--   rate_counter.attach(port)        -- the same handle, from another process, on a counter's port
local processes = require "spec.support.test_processes"

local M = {}

local Counter = {}
Counter.__index = Counter

local function counter(self)
  self.url = "http://127.0.0.1:" .. self.port
  return setmetatable(self, Counter)
end

function M.start()
  return counter(processes.lua_server("spec/support/rate_counter_server.lua"))
end

--- attach(port) -> a handle on a counter another process started (its stop does nothing).
function M.attach(port)
  return counter { port = port }
end

-- One exchange on a fresh connection: -> status, body
function Counter:_http(method, target)
  return processes.http(self.port, method, target, "")
end

--- Queues a fault for the next `times` API requests (default a 429 with Retry-After 1, once).
function Counter:fault(f)
  f = f or {}
  local status = self:_http("POST", ("/__counter/fault?status=%d&retry_after=%s&times=%d")
    :format(f.status or 429, tostring(f.retry_after or 1), f.times or 1))
  assert(status == 201, "counter: fault refused")
end

--- Holds every API answer back `ms` milliseconds (0: none), until reset.
function Counter:delay(ms)
  assert(self:_http("POST", ("/__counter/delay?ms=%d"):format(ms)) == 201, "counter: delay refused")
end

--- Every API request the server saw: { {t = seconds, status = n}, ... }, in order of arrival.
function Counter:arrivals()
  local status, body = self:_http("GET", "/__counter/arrivals")
  assert(status == 200, "counter: arrivals refused")
  local out = {}
  for t, s in body:gmatch("([%d%.]+) (%d+)") do out[#out + 1] = { t = tonumber(t), status = tonumber(s) } end
  return out
end

function Counter:reset()
  assert(self:_http("POST", "/__counter/reset") == 200, "counter: reset refused")
end

function Counter:stop()
  processes.stop(self)
end

--- peaks(arrivals [, from, to]) -> the most arrivals in any window [t, t + 1 s),
-- the most in one calendar second of the server's clock, and how many were
-- counted (only those with from <= t < to, when given).
function M.peaks(arrivals, from, to)
  local ts, per_second = {}, {}
  for _, a in ipairs(arrivals) do
    if (not from or a.t >= from) and (not to or a.t < to) then
      ts[#ts + 1] = a.t
      local s = math.floor(a.t)
      per_second[s] = (per_second[s] or 0) + 1
    end
  end
  table.sort(ts)
  local sliding, j = 0, 1
  for i = 1, #ts do
    if j < i then j = i end
    while j <= #ts and ts[j] < ts[i] + 1 do j = j + 1 end
    sliding = math.max(sliding, j - i)
  end
  local calendar = 0
  for _, n in pairs(per_second) do calendar = math.max(calendar, n) end
  return sliding, calendar, #ts
end

--- The counts of each calendar second, in order, as "12 10 10 ..." (for messages).
function M.histogram(arrivals)
  local per_second, first, last = {}, math.huge, -math.huge
  for _, a in ipairs(arrivals) do
    local s = math.floor(a.t)
    per_second[s] = (per_second[s] or 0) + 1
    first, last = math.min(first, s), math.max(last, s)
  end
  local out = {}
  for s = first, last do out[#out + 1] = tostring(per_second[s] or 0) end
  return table.concat(out, " ")
end

return M
