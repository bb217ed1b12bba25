--- A client-side rate limiter: a token bucket refilled at `rate` tokens a
-- second, holding at most `burst` (1 unless told). take() hands out a
-- token at once when there is one; otherwise it reserves the next one and
-- says how long to wait for it, so callers arriving together (the items of
-- a batch) are spaced 1/rate apart in the order they asked, none starved.
--
-- A burst of 1 is deliberate: an API that counts requests in a sliding
-- one-second window (the sandbox's --rate-limit does) refuses any burst
-- above its limit, and a full bucket of `rate` tokens plus a second's
-- refill would send twice the limit in the first second.
local options = require("flexiroam.options")
local raise = require("flexiroam.misuse").raise

local limiter = {}

local Limiter = {}
Limiter.__index = Limiter

--- limiter.new(rate [, burst [, where]]) -> limiter. `where` names the
-- option in error messages.
function limiter.new(rate, burst, where)
  where = where or "limiter"
  options.number(where, "rate", rate, 0)
  if rate == 0 then raise("%s: rate must be more than 0 requests a second", where) end
  burst = burst or 1
  options.number(where, "burst", burst, 1)
  return setmetatable({ rate = rate, burst = burst, tokens = burst, at = nil }, Limiter)
end

--- take(now) -> seconds to wait before sending (0: send now). The token
-- is the caller's from this moment: it must send after that wait. (A
-- second argument, the most the caller would wait, is a shared limiter's:
-- this one always hands out the next token.)
function Limiter:take(now)
  if self.at == nil then
    self.at = now
  elseif now > self.at then
    self.tokens = math.min(self.burst, self.tokens + (now - self.at) * self.rate)
    self.at = now
  end
  self.tokens = self.tokens - 1
  if self.tokens >= 0 then return 0 end
  return -self.tokens / self.rate
end

----------------------------------------------------------------------
-- The shared limiter: one rate for every worker, process and host of an
-- API key, kept in a store (flexiroam.store).
----------------------------------------------------------------------

local Shared = {}
Shared.__index = Shared

--- limiter.shared{store =, key =, rate =, n_workers =, warn =, info =} -> limiter.
-- Each take reserves the next slot in the store (GCRA, no burst: slots
-- 1/rate apart, in the order asked, so no worker starves); a 429's
-- Retry-After pauses every taker (pause). When the store cannot answer (a
-- full dict, Redis down or slow) the process paces itself alone at
-- rate / n_workers until the store answers again: `warn(message)` says so
-- once per outage, `info(message)` when the store is back.
function limiter.shared(o)
  local rate, n_workers = o.rate, o.n_workers or 1
  return setmetatable({
    store = o.store, key = o.key, rate = rate, interval = 1 / rate, n_workers = n_workers,
    fallback = limiter.new(rate / n_workers, nil, "limiter.shared"), warn = o.warn, info = o.info,
    degraded = false,
  }, Shared)
end

function Shared:_failed(err)
  if self.degraded then return end
  self.degraded = true
  if self.warn then
    self.warn(string.format("the shared rate limit is unavailable (%s): this process paces itself alone at %.4g" ..
      " requests a second (rate_limit %s / n_workers %s) until the store answers again",
      tostring(err and err.message or err), self.rate / self.n_workers, tostring(self.rate), tostring(self.n_workers)))
  end
end

function Shared:_answered()
  if not self.degraded then return end
  self.degraded = false
  if self.info then self.info("the shared rate limit answers again: pacing with every other worker") end
end

--- take(now [, max_wait]) -> seconds to wait | nil, wait: the next slot
-- of the store's, reserved; nil (nothing reserved) when it is more than
-- max_wait away. The store down: the process's own token bucket.
function Shared:take(now, max_wait)
  local wait, err = self.store:rate_take(self.key, self.interval, max_wait)
  if wait then
    self:_answered()
    return wait
  end
  if wait == false then
    self:_answered()
    return nil, err
  end
  self:_failed(err)
  return self.fallback:take(now)
end

--- A server's Retry-After: no taker anywhere gets a slot for `seconds`.
function Shared:pause(seconds)
  if self.degraded then return end
  local ok, err = self.store:rate_pause(self.key, seconds)
  if not ok then self:_failed(err) end
end

--- The pause left, in seconds (0: none, or the store cannot say).
function Shared:paused()
  if self.degraded then return 0 end
  local left = self.store:rate_paused(self.key)
  return left or 0
end

-- A caller that wakes this late for its slot gives it up: sent now, its
-- request would arrive together with the next slot's.
local MAX_LATE_RETAKES = 2

--- void(wait, late, voided) -> whether the slot a take gave (after `wait`
-- seconds, the caller `late` seconds behind it, `voided` slots given up
-- already for this request) must be given up for the next one: a pause
-- began while the caller slept (a 429 elsewhere), or the caller woke more
-- than half an interval late (at most MAX_LATE_RETAKES times a request).
function Shared:void(wait, late, voided)
  if self.degraded then return false end
  if late > self.interval / 2 and voided < MAX_LATE_RETAKES then return true end
  return wait > 0 and self:paused() > 0
end

return limiter
