--- One value as the text of a cell: exact for CSV (integers as the API
-- sent them, objects as JSON), readable for a table (bytes as GB/MB, money
-- as "4.99 USD", control characters made visible so data can never move
-- the cursor or change the colours of the operator's terminal).
local json = require("flexiroam.json")
local esim = require("flexiroam.esim")
local models = require("flexiroam.models")
local columns = require("flexiroam.cli.columns")

local cells = {}

local NULL = json.null

local function encode(value)
  local text = json.encode(value, { sort_keys = true })
  return text or tostring(value)
end

local function visible(s)
  return (s:gsub("[%z\1-\31\127]", function(c) return string.format("\\x%02X", c:byte()) end))
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 63 and v < 2 ^ 63
end

local function string_list(v)
  if rawget(v, 1) == nil then return nil end
  local out = {}
  for i = 1, #v do
    if type(v[i]) ~= "string" then return nil end
    out[i] = v[i]
  end
  return table.concat(out, ",")
end

--- cells.exact(value) -> text for CSV: "" for nothing, numbers exact,
-- tables as JSON.
function cells.exact(value)
  if value == nil or value == NULL then return "" end
  local t = type(value)
  if t == "string" then return value end
  if t == "number" or t == "table" then return encode(value) end
  return tostring(value)
end

--- cells.readable(value, format) -> text for a table; `format` is the
-- column's (columns.BYTES, columns.MONEY or nil).
function cells.readable(value, format)
  if value == nil or value == NULL then return "-" end
  local t = type(value)
  if t == "string" then return visible(value) end
  if t == "number" then
    if format == columns.BYTES and is_integer(value) and value >= 0 then return esim.format_bytes(value) end
    return encode(value)
  end
  if t == "table" then
    local money = models.money(value)
    if money then return money end
    return visible(string_list(value) or encode(value))
  end
  return tostring(value)
end

return cells
