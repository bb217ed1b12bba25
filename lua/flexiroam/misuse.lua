--- Programmer misuse raises at the caller's line: the first frame on the
-- stack that is neither the SDK's own code nor a C function. Counting
-- levels by hand goes wrong as soon as a function is reached by another
-- path (a named method, an iterator, a batch check), so no caller here
-- counts: misuse.raise finds the place itself.
--   local raise = require("flexiroam.misuse").raise
--   if type(opts) ~= "table" then raise("%s: options must be a table", where) end
local misuse = {}

-- Every SDK file lives below the folder this one is in ("@./lua/flexiroam/",
-- "@/usr/share/lua/5.4/flexiroam/", ...): a frame whose chunk starts so is ours.
local OWN_PREFIX = debug.getinfo(1, "S").source:match("^(@.*[/\\])misuse%.lua$")

local function is_ours(source)
  if source == "=[C]" then return true end -- pcall, coroutine.wrap, ... between us and the caller
  return OWN_PREFIX ~= nil and source:sub(1, #OWN_PREFIX) == OWN_PREFIX
end

--- The level, as error() counts it from the function calling misuse.raise
-- (level 1), of the first frame outside the SDK; 0 (no position) when the
-- whole stack is the SDK's.
function misuse.level()
  local level = 3 -- 1 is this function, 2 misuse.raise
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return 0 end
    if not is_ours(info.source) then return level - 1 end
    level = level + 1
  end
end

--- raise(format, ...): error(string.format(format, ...)) positioned at the
-- caller's line. A message without arguments is used as it is.
function misuse.raise(message, ...)
  if select("#", ...) > 0 then message = string.format(message, ...) end
  error(message, misuse.level())
end

--- Whether a chunk name (debug.getinfo().source) is the SDK's own: the
-- specs use it to check that no misuse is blamed on the SDK itself.
misuse.is_ours = is_ours

return misuse
