--- A clock for the client's `clock` seam: time moves only when the client
-- sleeps or a scripted request says it took time, so waits are exact.
--   local clk = fake_clock.new{ random = {0.5, 0.25} }
--   flexiroam.new{ ..., clock = clk.seam }
--   clk.slept  -- every sleep, in seconds, in order
local fake_clock = {}
fake_clock.__index = fake_clock

local START = 1000

--- opts: random (a list of values random() returns in turn, then 0.5),
-- epoch (the wall-clock time at the start, for HTTP-date Retry-After).
function fake_clock.new(opts)
  opts = opts or {}
  local self = setmetatable({ t = START, slept = {}, randoms = opts.random or {},
    epoch = opts.epoch or 1700000000 }, fake_clock)
  self.seam = {
    now = function() return self.t end,
    sleep = function(seconds)
      self.slept[#self.slept + 1] = seconds
      self.t = self.t + seconds
    end,
    random = function() return table.remove(self.randoms, 1) or 0.5 end,
    time = function() return self.epoch + math.floor(self.t - START) end,
    wall = function() return self.epoch + (self.t - START) end,
  }
  return self
end

function fake_clock:advance(seconds)
  self.t = self.t + seconds
end

--- Seconds since the start.
function fake_clock:elapsed()
  return self.t - START
end

return fake_clock
