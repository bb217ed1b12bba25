--- Operation parameters from command-line text. The API takes strings
-- for everything but these (the contract's types); a parameter of an
-- operation added later is a string unless it is named here, and any
-- value can be given exactly with --params '{"name": ...}'.
local json = require("flexiroam.json")

local params = {}

params.TYPES = {
  enabled = "boolean", threshold_in_percentage = "boolean",
  threshold = "integer", quantity = "integer", limit = "integer",
  device_info = "object", user_info = "object",
}

local BOOLEANS = { ["true"] = true, yes = true, ["1"] = true, ["false"] = false, no = false, ["0"] = false }

--- params.convert(name, text) -> value | nil, why
function params.convert(name, text)
  local t = params.TYPES[name]
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
    return nil, "must be a JSON object of parameters" .. (err and (" (" .. tostring(err.message or err) .. ")") or "")
  end
  return v
end

return params
