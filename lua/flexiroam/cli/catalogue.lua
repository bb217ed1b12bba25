--- Plans by id, for the commands that show what a purchase costs before
-- asking: the catalogue has no get-by-id, so it is read (three pages of
-- 100 in the sandbox) with only the fields a confirmation shows.
local esim = require("flexiroam.esim")
local models = require("flexiroam.models")
local errors = require("flexiroam.errors")
local compat = require("flexiroam.compat")

local catalogue = {}

local FIELDS = { "id", "name", "type", "data_bytes", "validity_days", "price" }

--- catalogue.find(client, plan_id [, fields]) -> Plan | raises not_found.
-- fields: what to decode besides the id (nil: what a confirmation shows;
-- false: every field).
function catalogue.find(client, plan_id, fields)
  local wanted = FIELDS
  if fields == false then
    wanted = nil
  elseif fields then
    wanted = { "id" } -- what the plan is found by
    for _, f in ipairs(fields) do wanted[#wanted + 1] = f end
  end
  for plan in client:plans({ limit = 100 }, wanted and { fields = wanted } or nil) do
    if rawget(plan, "id") == plan_id then return plan end
  end
  error(errors.new("not_found", string.format("no plan %q in the catalogue; nothing was sent " ..
    "(`flexiroam plans` lists them)", plan_id)), 0)
end

--- "FRA-3GB-7D (France 3 GB, one_time, 3.00 GB, 7 days, 4.99 USD)"
function catalogue.describe(plan)
  local data = compat.math_type(plan.data_bytes) and esim.format_bytes(plan.data_bytes) or "? GB"
  return string.format("%s (%s, %s, %s, %s days, %s)", tostring(plan.id), tostring(plan.name), tostring(plan.type),
    data, tostring(plan.validity_days), models.money(plan.price) or "no price")
end

--- Sums of `plans`' prices by currency: {"USD" = 1234} -> "12.34 USD".
function catalogue.total_text(sums)
  local parts = {}
  for currency, amount in pairs(sums) do
    parts[#parts + 1] = models.money { amount_minor = amount, currency = currency }
  end
  table.sort(parts)
  return #parts > 0 and table.concat(parts, " + ") or "nothing"
end

return catalogue
