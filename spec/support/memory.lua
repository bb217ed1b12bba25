--- This process's memory, from /proc/self (Linux): for specs and benches
-- that bound what a call may use, in a child of their own.
--   local memory = require "spec.support.memory"
--   memory.reset_peak(); ...; memory.kb("VmHWM") - memory.kb("VmRSS")
local memory = {}

--- A size field of /proc/self/status in KiB ("VmRSS", "VmHWM", ...).
function memory.kb(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s*(%d+)")
    if v then return tonumber(v) end
  end
  return nil
end

--- Resets the peak RSS (VmHWM) to the current RSS: 5 to clear_refs.
function memory.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then
    f:write("5")
    f:close()
  end
end

return memory
