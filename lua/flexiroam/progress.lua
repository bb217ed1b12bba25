--- A one-line progress bar for scripts, redrawn in place on stderr:
--   " 312/1000  31% [######..............]  182.4/s  ETA 0:04  3 failed"
-- Only where stderr is a terminal that can take a carriage return: a log
-- file or a pipe would fill with redraws.
local core = require("flexiroam.core")

local progress = {}

local Bar = {}
Bar.__index = Bar

local WIDTH = 24
local REDRAW_S = 0.1

--- Whether stderr is a terminal a bar may be drawn on.
function progress.available()
  local term = os.getenv("TERM")
  if term == nil or term == "" or term == "dumb" then return false end
  return core.isatty ~= nil and core.isatty(2) == true
end

local function clock_text(seconds)
  seconds = math.floor(seconds + 0.5)
  if seconds >= 3600 then
    return string.format("%d:%02d:%02d", math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60)
  end
  return string.format("%d:%02d", math.floor(seconds / 60), seconds % 60)
end

--- The line for a state, without the carriage return (for specs, and a
-- caller's own logging).
function progress.line(done, failed, total, rate)
  local fraction = total > 0 and done / total or 1
  local filled = math.floor(fraction * WIDTH + 0.5)
  local parts = {
    string.format("%d/%d %3d%% [%s%s]", done, total, math.floor(fraction * 100),
      string.rep("#", filled), string.rep(".", WIDTH - filled)),
    string.format("%.1f/s", rate),
  }
  if done < total then
    parts[#parts + 1] = rate > 0 and "ETA " .. clock_text((total - done) / rate) or "ETA --:--"
  end
  if failed > 0 then parts[#parts + 1] = failed .. " failed" end
  return table.concat(parts, "  ")
end

--- progress.new(now) -> bar; now() gives seconds (the client's clock).
function progress.new(now, stream)
  return setmetatable({ now = now, stream = stream or io.stderr, last = nil }, Bar)
end

--- Redraws at most ten times a second, and always for the last item.
function Bar:update(done, failed, total, rate)
  local t = self.now()
  if done < total and self.last and t - self.last < REDRAW_S then return end
  self.last = t
  self.stream:write("\r", progress.line(done, failed, total, rate), "\27[K")
  self.stream:flush()
end

function Bar:finish()
  if self.last then self.stream:write("\n") end
  self.stream:flush()
end

return progress
