--- When a failed attempt is tried again, after how long, and how a call's
-- one deadline is shared by its attempts, its waits and its lookups. Pure
-- functions of their inputs: the time and the randomness come in as
-- arguments (the client's clock, flexiroam.clock), so the specs are exact.
-- An operation's mode ("read", "idempotent", "reference", "unsafe") is
-- the operations table's (flexiroam.operations); "lookup" is the read that
-- settles a reference write.
local dates = require("flexiroam.dates")

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
    if err.sent == false then
      if kind == "network" or kind == "timeout" then return "retry", kind .. " (not sent)" end
      return "stop", kind
    end
    -- Any other failure once the request may have left (an answer past
    -- max_response_bytes, a TLS or protocol error mid-answer): the server
    -- may have processed it, so a reference write is looked up, never
    -- taken for "nothing bought"; nothing else is repeated.
    if kind ~= "network" and kind ~= "timeout" then
      if mode == "reference" then return "reconcile", kind end
      return "stop", kind
    end
    if repeatable(mode) then return "retry", kind end
    if mode == "reference" then return "reconcile", kind end
    return "stop", kind
  end
  local reason = "status " .. status
  if NOT_PROCESSED[status] then return "retry", reason end
  -- The reference names another purchase, or the SIM cannot take this one:
  -- the lookup tells which (and finds the original order of a double click).
  if status == 409 and mode == "reference" then return "reconcile", reason end
  if status >= 500 then
    if repeatable(mode) and TRANSIENT_5XX[status] then return "retry", reason end
    if mode == "reference" then return "reconcile", reason end
    return "stop", reason
  end
  -- A 2xx whose body could not be read (not JSON, or past
  -- max_response_bytes): the write happened, but which order it made is
  -- unknown. (An error envelope inside a 200, kind "api", is a refusal.)
  if status >= 200 and status < 300 and kind ~= "api" and mode == "reference" then
    return "reconcile", "unreadable " .. status
  end
  if status >= 200 and status < 300 and mode == "lookup" and (kind == "decode" or kind == "api") then
    return "retry", kind
  end
  -- a 2xx that failed: its kind (decode, api) says why, not its status
  if status >= 200 and status < 300 then return "stop", kind end
  return "stop", reason
end

--- Whether a failed write provably did nothing: it never left, or the
-- server refused it (a 4xx). A 2xx or 5xx may have done it; no answer at
-- all may too.
function retry.nothing_done(err)
  if err.sent == false then return true end
  local status = err.status
  return status ~= nil and status >= 400 and status < 500
end

--- Whether repeating the same call (same reference) could cause a second effect.
function retry.safe_to_retry(mode, err)
  if mode ~= "unsafe" then return true end
  return retry.nothing_done(err)
end

-- Kinds where the same request, sent again, may get another answer.
local RETRYABLE_KINDS = { network = true, timeout = true, rate_limited = true, indeterminate = true, cancelled = true }

--- Whether sending the same request again may succeed: timeouts, resets,
-- 408/425/429, transient 5xx, a write left unclear after its lookup, a
-- batch call never started. Not a bad key, a refusal, a bad answer: those
-- answer the same again. (safe_to_retry says something else: that
-- repeating cannot cause a second effect.)
function retry.retryable(err)
  if RETRYABLE_KINDS[err.kind] then return true end
  local status = err.status
  if not status then return false end
  return NOT_PROCESSED[status] == true or TRANSIENT_5XX[status] == true
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
    -- compared in seconds: a huge integer Retry-After times 1000 would wrap
    if after > policy.max_retry_after_ms / 1000 then return nil, "retry_after" end
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

--- Retry-After as seconds to wait from `now_epoch` (wall clock): a number of
-- seconds, or an HTTP-date; nil when absent or unreadable.
function retry.parse_retry_after(value, now_epoch)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  local seconds = value:match("^%d+$")
  if seconds then return tonumber(seconds) end
  local at = dates.http(value)
  if not at then return nil end
  return math.max(0, at - now_epoch)
end

return retry
