--- Reading what a request sends: the JSON object body of a write and the
-- fields in it, each checked with the reason a 422 names in `fields`.
--   local body, res = input.body(h, req); if not body then return res end
--   local check = input.checker()
--   local iccid = check:iccid("iccid", body.iccid)
--   if check:failed() then return check:answer(h) end
local json = require("flexiroam.json")

local input = {}

local NULL = json.null

--- The request's body as a JSON object, or nil and a 400 answer.
function input.body(h, req)
  local text = req.body
  if text == nil or text == "" then return nil, h:error(400, "the body must be a JSON object, and it is empty") end
  local value, err = json.decode(text)
  if value == nil then
    return nil, h:error(400, "the body is not valid JSON: " .. tostring(err and err.message or err))
  end
  if type(value) ~= "table" or json.is_array(value) then
    return nil, h:error(400, "the body must be a JSON object")
  end
  return value
end

local Checker = {}
Checker.__index = Checker

function input.checker()
  return setmetatable({ fields = {}, names = {} }, Checker)
end

function Checker:fail(name, why)
  if self.fields[name] == nil then
    self.fields[name] = why
    self.names[#self.names + 1] = name
  end
  return nil
end

function Checker:failed()
  return #self.names > 0
end

--- The 422 answer naming every field that failed.
function Checker:answer(h)
  table.sort(self.names)
  return h:error(422, "invalid fields: " .. table.concat(self.names, ", "), { fields = self.fields })
end

local function absent(v)
  return v == nil or v == NULL
end

local function is_iccid(v)
  return type(v) == "string" and #v >= 19 and #v <= 20 and v:match("^%d+$") ~= nil
end
input.is_iccid = is_iccid

function Checker:iccid(name, v)
  if absent(v) or v == "" then return self:fail(name, "is required") end
  if not is_iccid(v) then return self:fail(name, "must be an ICCID: a string of 19 or 20 digits") end
  return v
end

--- A required (or, with opts.optional, optional) string of 1..max bytes
-- without control characters.
function Checker:string(name, v, opts)
  opts = opts or {}
  if absent(v) then
    if opts.optional then return nil end
    return self:fail(name, "is required")
  end
  local max = opts.max or 100
  if type(v) ~= "string" then return self:fail(name, "must be a string") end
  if v == "" or #v > max or v:find("[%z\1-\31\127]") then
    return self:fail(name, string.format("must be 1 to %d characters, without control characters", max))
  end
  return v
end

--- An optional boolean: nil when absent.
function Checker:boolean(name, v, required)
  if absent(v) then
    if required then return self:fail(name, "is required") end
    return nil
  end
  if type(v) ~= "boolean" then return self:fail(name, "must be true or false") end
  return v
end

--- An optional integer in [min, max] (an integral float counts): nil when
-- absent, false when invalid.
function Checker:integer(name, v, min, max, required)
  if absent(v) then
    if required then return self:fail(name, "is required") end
    return nil
  end
  local n = math.type(v) and math.tointeger(v)
  local why = string.format("must be an integer from %d to %d", min, max)
  if not n or n < min or n > max then
    self:fail(name, why)
    return false
  end
  return n
end

--- An optional object: nil when absent, false when not an object.
function Checker:object(name, v)
  if absent(v) then return nil end
  if type(v) ~= "table" or json.is_array(v) then
    self:fail(name, "must be an object")
    return false
  end
  return v
end

--- The ICCID query parameter of a read, or nil and a 422 answer.
function input.query_iccid(h, params)
  local check = input.checker()
  local iccid = check:iccid("iccid", params.iccid)
  if check:failed() then return nil, check:answer(h) end
  return iccid
end

return input
