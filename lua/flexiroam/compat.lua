--- What differs between Lua 5.3+ and Lua 5.1/LuaJIT in the few places the
-- Lua layer cares. LuaJIT (OpenResty, nginx) has no integer subtype: every
-- number is a double, exact as an integer only within +-2^53.
local compat = {}

local math_type = math.type -- luacheck: ignore 143 (absent on 5.1)
local EXACT = 2 ^ 53

--- Whether numbers have an integer subtype (5.3+).
compat.HAS_INTEGERS = math_type ~= nil

--- math.type on 5.3+. On 5.1/LuaJIT: "integer" for an integral number a
-- double holds exactly (within +-2^53), "float" for any other number, nil
-- for anything else, so that "is this an integer?" reads the same on both.
function compat.math_type(value)
  if math_type then return math_type(value) end
  if type(value) ~= "number" then return nil end
  if value == math.floor(value) and value >= -EXACT and value <= EXACT then return "integer" end
  return "float"
end

--- The Lua running this: "LuaJIT 2.1.0-beta3" or "Lua 5.4".
function compat.lua_name()
  local jit = rawget(_G, "jit")
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

return compat
