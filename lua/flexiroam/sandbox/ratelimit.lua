--- Per-key rate limiting for the sandbox, as a sliding window log: a key may
-- have at most `limit` accepted requests in any window of `window` seconds
-- (1). Each key keeps the times of its last `limit` accepted requests in a
-- ring; a request is refused while the oldest of them is less than a window
-- old, and refused requests are not recorded, so a client that keeps calling
-- recovers as soon as the window has slid past its earlier requests. Unlike a
-- token bucket this allows no burst above `limit` at any moment, which makes
-- the 429 easy to provoke and to predict in tests.
local ratelimit = {}

local Limiter = {}
Limiter.__index = Limiter

--- ratelimit.new(limit, clock[, window]) where clock() gives seconds (a float).
function ratelimit.new(limit, clock, window)
  assert(math.type(limit) == "integer" and limit >= 1, "limit must be a positive integer")
  return setmetatable({ limit = limit, clock = clock, window = window or 1, keys = {} }, Limiter)
end

--- check(key) -> true, or false and the whole seconds to wait (at least 1).
function Limiter:check(key)
  local now = self.clock()
  local ring = self.keys[key]
  if not ring then
    ring = { next = 1 }
    self.keys[key] = ring
  end
  -- ring[next] is the oldest of the last `limit` accepted requests, once full
  local oldest = ring[ring.next]
  -- (a clock that went back lets the request through rather than lock the key)
  if oldest and oldest <= now and now - oldest < self.window then
    return false, math.max(1, math.ceil(oldest + self.window - now))
  end
  ring[ring.next] = now
  ring.next = ring.next % self.limit + 1
  return true
end

return ratelimit
