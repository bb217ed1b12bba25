--- Operation parameters from command-line text. The API takes strings
-- for everything but the parameters an operation types in the operations
-- table (flexiroam.operations, an entry's `types`: "boolean", "integer" or
-- "object"); those are converted here, so an operation added there with
-- typed parameters needs nothing in the command line. Any value can also
-- be given exactly with --params '{"name": ...}'.
local json = require("flexiroam.json")
local operations = require("flexiroam.operations")

local params = {}

--- params.TYPES: name -> type of every parameter some operation types,
-- made from the operations table, for a caller that has a name and no
-- operation. A name two operations type differently has no one type and is
-- left out (convert it with its operation).
params.TYPES = (function()
  local types, conflicting = {}, {}
  for _, op in pairs(operations) do
    for name, t in pairs(op.types or {}) do
      if types[name] ~= nil and types[name] ~= t then conflicting[name] = true end
      types[name] = t
    end
  end
  for name in pairs(conflicting) do types[name] = nil end
  return types
end)()

--- params.type_of(name, op) -> "boolean", "integer", "object", or nil for a
-- string: the operation's type for it, or without `op` params.TYPES's.
function params.type_of(name, op)
  if op then return (op.types or {})[name] end
  return params.TYPES[name]
end

local BOOLEANS = { ["true"] = true, yes = true, ["1"] = true, ["false"] = false, no = false, ["0"] = false }

--- params.convert(name, text [, op]) -> value | nil, why: `text` as the
-- type parameter `name` has in operation `op` (see params.type_of).
function params.convert(name, text, op)
  local t = params.type_of(name, op)
  if t == "boolean" then
    local v = BOOLEANS[text:lower()]
    if v == nil then return nil, name .. " must be true or false" end
    return v
  elseif t == "integer" then
    if not text:find("^%-?%d+$") or #text > 18 then return nil, name .. " must be a whole number" end
    return math.tointeger and math.tointeger(tonumber(text)) or tonumber(text)
  elseif t == "object" then
    local v = json.decode(text)
    if type(v) ~= "table" or json.is_array(v) then
      return nil, name .. " must be a JSON object, as '{\"name\": \"x\"}'"
    end
    return v
  end
  return text
end

--- params.object(text) -> the table of --params | nil, why
function params.object(text)
  local v, err = json.decode(text)
  if type(v) ~= "table" or json.is_array(v) then
    return nil, "--params must be a JSON object of parameters" ..
      (err and (" (" .. tostring(err.message or err) .. ")") or "")
  end
  return v
end

return params
