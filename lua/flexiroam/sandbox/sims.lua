--- One SIM: GET get-sim, POST update-sim, GET get-activation and
-- POST update-auto-topup (all under /v1/public-v2/).
local json = require("flexiroam.json")
local input = require("flexiroam.sandbox.input")
local inventory = require("flexiroam.sandbox.inventory")
local ledger = require("flexiroam.sandbox.ledger")

local sims = {}

local NULL = json.null
sims.SMDP_ADDRESS = "smdp.sandbox.flexiroam.test"

local function sim_answer(h, sim, status)
  -- the SIM's cached JSON, wrapped without decoding it again
  return h:raw_json(status or 200, '{"item":' .. h:sim_json(sim) .. "}")
end

-- The SIM a read names in ?iccid=, or nil and a 422/404 answer.
local function queried_sim(h, params)
  local iccid, bad = input.query_iccid(h, params)
  if not iccid then return nil, bad end
  local sim = ledger.sim(h.state, iccid)
  if not sim then return nil, h:error(404, "no SIM with this iccid") end
  return sim
end

function sims.get(h, _, params)
  local sim, res = queried_sim(h, params)
  if not sim then return res end
  return sim_answer(h, sim)
end

local DEVICE_FIELDS = { name = true, imei = true, id = true, email = true }
local USER_FIELDS = { username = "user_info_username", department = "user_info_department" }

-- Checks an object of string-or-null fields; `known` maps its names.
local function check_fields(check, prefix, object, known)
  if not object then return end
  for k, v in pairs(object) do
    local name = prefix .. "." .. tostring(k)
    if not known[k] then
      check:fail(name, "is not a field of " .. prefix)
    elseif v ~= NULL then
      check:string(name, v, { max = 200 })
    end
  end
end

--- Changes only the fields the body names; null clears one.
function sims.update(h, req)
  local body, bad = input.body(h, req)
  if not body then return bad end
  local check = input.checker()
  local iccid = check:iccid("iccid", body.iccid)
  local device = check:object("device_info", body.device_info)
  local user = check:object("user_info", body.user_info)
  check_fields(check, "device_info", device, DEVICE_FIELDS)
  check_fields(check, "user_info", user, USER_FIELDS)
  if check:failed() then return check:answer(h) end
  local sim = ledger.sim(h.state, iccid)
  if not sim then return h:error(404, "no SIM with this iccid") end
  for k, v in pairs(device or {}) do sim.device_info[k] = v end
  for k, v in pairs(user or {}) do sim[USER_FIELDS[k]] = v end
  h:sim_changed(sim)
  return sim_answer(h, sim)
end

-- FNV-1a of the text: a per-SIM seed for its matching id.
local function hash(s)
  local v = 0x811c9dc5
  for i = 1, #s do v = ((v ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return v
end

local ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

--- The SIM's activation code, the same for the same SIM and seed.
function sims.activation(h, sim)
  local next_int = inventory.rng(hash(tostring(h.opts.seed) .. ":" .. sim.iccid))
  local groups = {}
  for g = 1, 4 do
    local chars = {}
    for c = 1, 5 do
      local k = next_int(#ALPHABET) + 1
      chars[c] = ALPHABET:sub(k, k)
    end
    groups[g] = table.concat(chars)
  end
  local matching_id = table.concat(groups, "-")
  return {
    iccid = sim.iccid, smdp_address = sims.SMDP_ADDRESS, matching_id = matching_id,
    lpa = "LPA:1$" .. sims.SMDP_ADDRESS .. "$" .. matching_id,
  }
end

--- A physical SIM has no activation code: 422.
function sims.get_activation(h, _, params)
  local sim, res = queried_sim(h, params)
  if not sim then return res end
  if sim.chip_type ~= "esim" then
    local why = "is a physical SIM: only eSIMs have an activation code"
    return h:error(422, "iccid " .. why, { fields = { iccid = why } })
  end
  return h:json(200, { item = sims.activation(h, sim) })
end

local MAX_BYTES = 1 << 53

--- Fields left out keep their value; threshold is checked against the
-- mode the SIM ends up in (percent 0-100, or bytes).
function sims.update_auto_topup(h, req)
  local body, bad = input.body(h, req)
  if not body then return bad end
  local check = input.checker()
  local iccid = check:iccid("iccid", body.iccid)
  local enabled = check:boolean("enabled", body.enabled, true)
  local in_percent = check:boolean("threshold_in_percentage", body.threshold_in_percentage)
  local quantity = check:integer("quantity", body.quantity, 1, 10)
  if check:failed() then return check:answer(h) end
  local sim = ledger.sim(h.state, iccid)
  if not sim then return h:error(404, "no SIM with this iccid") end
  local settings = sim.auto_topup_settings
  if in_percent == nil then in_percent = settings.threshold_in_percentage end
  local threshold
  if in_percent then
    threshold = check:integer("threshold", body.threshold, 0, 100)
  else
    threshold = check:integer("threshold", body.threshold, 0, MAX_BYTES)
  end
  if threshold == nil then
    threshold = settings.threshold
    if in_percent and threshold > 100 then
      check:fail("threshold", "must be given, from 0 to 100, when switching to a percentage")
    end
  end
  if check:failed() then return check:answer(h) end
  settings.enabled, settings.threshold_in_percentage = enabled, in_percent
  settings.threshold, settings.quantity = threshold, quantity or settings.quantity
  h:sim_changed(sim)
  return sim_answer(h, sim)
end

return sims
