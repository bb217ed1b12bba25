--- The oracle of selective decode, written apart from the SDK's own code
-- (lua/flexiroam/fields.lua, the C decoder's select) so the specs can judge
-- both: a record keeps the fields its tree names; a field with a subtree
-- keeps, of an object, the subtree's fields, of an array, each element so
-- restricted (non-objects as they are); any other value as it is.
local json = require "flexiroam.json"

local oracle = {}

function oracle.restrict(value, tree)
  if type(value) ~= "table" then return value end
  if json.is_array(value) then
    local out = json.array()
    for i = 1, #value do out[i] = oracle.restrict(value[i], tree) end
    return out
  end
  local out = {}
  for name, sub in pairs(tree) do
    local v = rawget(value, name)
    if v ~= nil then out[name] = sub == true and v or oracle.restrict(v, sub) end
  end
  return out
end

return oracle
