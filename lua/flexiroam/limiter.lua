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
-- is the caller's from this moment: it must send after that wait.
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

return limiter
