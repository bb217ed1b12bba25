--- Converters for command-line values (argparse's :convert: a value, or
-- nil and why), and the checks a command makes before it sends anything.
local esim = require("flexiroam.esim")
local reference = require("flexiroam.reference")
local errors = require("flexiroam.errors")

local checks = {}

function checks.positive_number(text)
  local n = tonumber(text)
  if not n or n <= 0 or n ~= n or n == math.huge then return nil, "must be a number above 0" end
  return n
end

function checks.count(text)
  local n = tonumber(text)
  if not n or n < 1 or n ~= math.floor(n) or n > 1000000 then return nil, "must be a whole number from 1" end
  return math.floor(n)
end

function checks.whole(text)
  local n = tonumber(text)
  if not n or n < 0 or n ~= math.floor(n) or n > 1000000 then return nil, "must be a whole number from 0" end
  return math.floor(n)
end

--- --fields: "iccid,plan.name" -> {"iccid", "plan.name"}
function checks.fields(text)
  local out = {}
  for item in (text .. ","):gmatch("([^,]*),") do
    item = item:gsub("^%s+", ""):gsub("%s+$", "")
    local ok = item ~= ""
    for segment in (item .. "."):gmatch("([^.]*)%.") do
      if not segment:find("^[%w_%-]+$") then ok = false end
    end
    if not ok then
      return nil, string.format("%q is not a field path (names joined by '.', as balances.main_data)", item)
    end
    out[#out + 1] = item
  end
  return out
end

--- A value the API would refuse, refused here before anything is sent:
-- the SDK's validation error, so the exit status is the same either way.
local function invalid(name, why, value)
  return errors.new("validation", string.format("%s %s %s; nothing was sent", name, value, why),
    { fields = { [name] = why }, sent = false })
end

--- checks.iccid(value [, name]) -> value | raises a validation error
function checks.iccid(value, name)
  local why = esim.iccid_problem(value)
  if why then error(invalid(name or "iccid", why, string.format("%q", value)), 0) end
  return value
end

--- checks.reference(value) -> value | raises a validation error
function checks.reference(value)
  local why = reference.problem(value)
  if why then error(invalid("reference", why, string.format("%q", value)), 0) end
  return value
end

--- Every ICCID an operation's parameters hold (esim.check_params), checked.
function checks.params(name, op, params)
  local err = esim.check_params(name, op, params)
  if err then error(err, 0) end
end

return checks
