--- When a failed attempt is tried again, after how long, and how a call's
-- one deadline is shared by its attempts, its waits and its lookups. Pure
-- functions of their inputs plus a clock seam, so the specs are exact.
local core = require "flexiroam.core"

local retry = {}

retry.DEFAULTS = {
  retries = 2,                 -- attempts after the first
  retry_base_ms = 500,         -- backoff: full jitter over min(cap, base * 2^n)
  retry_cap_ms = 8000,
  max_retry_after_ms = 60000,  -- a longer Retry-After ends the call instead of a long sleep
}

-- The server's "not now": the request was refused before it was processed,
-- so even a write may be sent again.
local NOT_PROCESSED = { [408] = true, [425] = true, [429] = true }

-- Gateway and overload answers worth another try for requests that may be
-- repeated (501, 505, ... would answer the same again).
local TRANSIENT_5XX = { [500] = true, [502] = true, [503] = true, [504] = true }

-- A retry needs some time to be worth making; less left than this ends the call.
local MIN_ATTEMPT_S = 0.05

--- How each write may be repeated. An operation entry may set `retry_mode`
-- ("read", "idempotent", "reference", "unsafe") and `lookup` itself.
--   reference:  the request carries a caller-unique `reference` the server
--               deduplicates on; after an indeterminate failure the SDK looks
--               the reference up (`lookup`) before sending again.
--   idempotent: doing it twice leaves the same state as once.
--   unsafe:     only a request that provably never left is sent again.
retry.WRITE_MODES = {
  purchase_plan = { mode = "reference", lookup = "list_orders" },
  create_subscription = { mode = "reference", lookup = "list_subscriptions" },
  -- Cancelling twice is not an error by contract, and changes nothing more.
  cancel_subscription = { mode = "idempotent" },
  -- Both set fields to the values given: a repeat sets the same values
  -- again (idempotent by value; a concurrent writer's change in between
  -- may be overwritten, as it would be by a late first attempt).
  update_sim = { mode = "idempotent" },
  update_auto_topup = { mode = "idempotent" },
}

--- retry.mode(name, op) -> mode, lookup operation name (or nil)
function retry.mode(name, op)
  local known = name and retry.WRITE_MODES[name]
  local mode = op.retry_mode or (known and known.mode)
  local lookup = op.lookup or (known and known.lookup)
  if not mode then
    local m = op.method
    if m == "GET" or m == "HEAD" then mode = "read"
    elseif m == "PUT" or m == "DELETE" then mode = "idempotent" -- by HTTP semantics
    else mode = "unsafe" end
  end
  if mode == "reference" and not lookup then mode = "unsafe" end
  return mode, lookup
end

-- "lookup" is the read that settles a reference write: an outcome left
-- unknown costs the caller most, so it also tries again after a 2xx it
-- could not read or an error envelope.
local function repeatable(mode)
  return mode == "read" or mode == "idempotent" or mode == "lookup"
end

--- retry.classify(mode, err) -> "retry" | "reconcile" | "stop", reason
-- From libcurl's own information (`sent`) and the status: a failure that
-- provably never reached the server is repeated for every mode; one that
-- may have been processed is repeated only when repeating is harmless, and
-- for a reference write it first needs a lookup.
function retry.classify(mode, err)
  local kind, status = err.kind, err.status
  if status == nil then
    if kind ~= "network" and kind ~= "timeout" then return "stop", kind end
    if err.sent == false then return "retry", kind .. " (not sent)" end
    if repeatable(mode) then return "retry", kind end
    if mode == "reference" then return "reconcile", kind end
    return "stop", kind
  end
  local reason = "status " .. status
  if NOT_PROCESSED[status] then return "retry", reason end
  if status >= 500 then
    if repeatable(mode) and TRANSIENT_5XX[status] then return "retry", reason end
    if mode == "reference" then return "reconcile", reason end
    return "stop", reason
  end
  -- A 2xx whose body could not be read: the write happened, but which
  -- order it made is unknown.
  if status >= 200 and status < 300 and kind == "decode" and mode == "reference" then
    return "reconcile", "unreadable " .. status
  end
  if status >= 200 and status < 300 and mode == "lookup" and (kind == "decode" or kind == "api") then
    return "retry", kind
  end
  return "stop", reason
end

--- Whether repeating the same call (same reference) could cause a second effect.
function retry.safe_to_retry(mode, err)
  if mode ~= "unsafe" then return true end
  if err.sent == false then return true end
  local status = err.status
  if status == nil then return false end
  -- A 4xx is a refusal: nothing was done. A 2xx or 5xx may have done it.
  return status >= 400 and status < 500
end

--- Full jitter: a uniform wait in [0, min(cap, base * 2^(n-1))), n the
-- number of attempts failed so far; in seconds.
function retry.backoff(failed, random, base_ms, cap_ms)
  local ceiling = math.min(cap_ms, base_ms * 2 ^ (failed - 1))
  return random() * ceiling / 1000
end

--- retry.wait(policy, failed, err, now, deadline, random) -> seconds | nil, why
-- A server's Retry-After is waited in full or not at all: waiting less would
-- be refused again, so when it does not fit the call ends with the error
-- (which carries retry_after for the caller).
function retry.wait(policy, failed, err, now, deadline, random)
  local left = deadline and (deadline - now)
  if left and left < MIN_ATTEMPT_S then return nil, "deadline" end
  local after = err.retry_after
  if after then
    if after * 1000 > policy.max_retry_after_ms then return nil, "retry_after" end
    if left and after + MIN_ATTEMPT_S > left then return nil, "deadline" end
    return after
  end
  local delay = retry.backoff(failed, random, policy.retry_base_ms, policy.retry_cap_ms)
  if left then delay = math.min(delay, left - MIN_ATTEMPT_S) end
  return delay
end

--- The timeout of the next attempt in ms: its own, cut to what the deadline
-- leaves; 0 when nothing is left; nil when neither applies (transport default).
function retry.attempt_timeout(own_ms, default_ms, deadline, now)
  if not deadline then return own_ms end
  local left = math.floor((deadline - now) * 1000)
  if left < 1 then return 0 end
  return math.min(own_ms or default_ms, left)
end

-- HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and
-- asctime forms recipients must still accept.
local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Days since 1970-01-01 of a proleptic Gregorian date (no os.time: it
-- reads local time, and an HTTP date is GMT). No `//`: LuaJIT parses this file too.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local floor = math.floor
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function http_date(value)
  local d, mon, y, hh, mm, ss = value:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, hh, mm, ss = value:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then
      y = tonumber(y)
      y = y < 70 and 2000 + y or 1900 + y
    end
  end
  if not d then
    mon, d, hh, mm, ss, y = value:match("^%a%a%a (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  local month = mon and MONTHS[mon]
  if not month then return nil end
  d, y, hh, mm, ss = tonumber(d), tonumber(y), tonumber(hh), tonumber(mm), tonumber(ss)
  if d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 then return nil end
  return days_from_civil(y, month, d) * 86400 + hh * 3600 + mm * 60 + ss
end

--- Retry-After as seconds to wait from `now_epoch` (wall clock): a number of
-- seconds, or an HTTP-date; nil when absent or unreadable.
function retry.parse_retry_after(value, now_epoch)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  local seconds = value:match("^%d+$")
  if seconds then return tonumber(seconds) end
  local at = http_date(value)
  if not at then return nil end
  return math.max(0, at - (now_epoch or os.time()))
end

-- The default clock: a monotonic one from the core when it has it, else
-- LuaSocket's; a sleep that blocks without spinning (the core's nanosleep,
-- else socket.sleep). With neither, `sleep` is nil and the client makes
-- no retry that needs a wait rather than burn a CPU or fork a shell.
local have_socket, socket = pcall(require, "socket")
if not have_socket then socket = nil end

function retry.default_clock()
  local now = core.monotonic or (socket and socket.gettime) or os.time
  local sleep = core.sleep or (socket and socket.sleep) or nil
  return { now = now, sleep = sleep, random = math.random, time = os.time }
end

--- A clock from a caller's seam: any of now, sleep, random, time replaced.
function retry.clock(seam)
  local clock = retry.default_clock()
  if seam == nil then return clock end
  if type(seam) ~= "table" then error("flexiroam.new: clock must be a table", 3) end
  for _, name in ipairs { "now", "sleep", "random", "time" } do
    local f = seam[name]
    if f ~= nil then
      if type(f) ~= "function" then error("flexiroam.new: clock." .. name .. " must be a function", 3) end
      clock[name] = f
    end
  end
  return clock
end

return retry
