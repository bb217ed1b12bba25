--- What purchase-plan and create-subscription share: the body
-- {iccid, plan_id, reference}, the reference rule, and the checks of the
-- SIM and the plan.
--
-- The reference rule: a reference names one sale. Sent again with the same
-- iccid and plan_id (to the same operation) it answers the original record
-- with 200 and charges nothing; with anything else it answers 409.
local input = require("flexiroam.sandbox.input")
local ledger = require("flexiroam.sandbox.ledger")

local sales = {}

-- References the sandbox writes itself; a client's would collide with them.
local RESERVED = { "auto-topup:", "renewal:" }

local function reserved(reference)
  for _, prefix in ipairs(RESERVED) do
    if reference:sub(1, #prefix) == prefix then return prefix end
  end
  return nil
end

--- sales.prepare(h, req, kind, plan_type) -> sale | nil, response
-- kind: "order" or "subscription"; plan_type: the type of plan the
-- operation sells. The response is an error answer or, for a replay, the
-- original record's 200 answer. A sale is {sim =, plan =, reference =}.
function sales.prepare(h, req, kind, plan_type)
  local body, bad = input.body(h, req)
  if not body then return nil, bad end
  local check = input.checker()
  local iccid = check:iccid("iccid", body.iccid)
  local plan_id = check:string("plan_id", body.plan_id)
  local reference = check:string("reference", body.reference)
  if reference then
    local prefix = reserved(reference)
    if prefix then check:fail("reference", "must not start with " .. prefix .. " (the sandbox's own references)") end
  end
  if check:failed() then return nil, check:answer(h) end

  local state = h.state
  local prior = state.references[reference]
  if prior then
    local r = prior.record
    if prior.kind ~= kind then
      return nil, h:error(409, "reference " .. string.format("%q", reference) .. " already names a " .. prior.kind)
    end
    if r.iccid ~= iccid or r.plan_id ~= plan_id then
      return nil, h:error(409, "reference " .. string.format("%q", reference)
        .. " was already used with another iccid or plan_id")
    end
    return nil, h:json(200, { item = r })
  end

  local sim = ledger.sim(state, iccid)
  if not sim then return nil, h:error(404, "no SIM with this iccid") end
  local plan = state.plan_by_id[plan_id]
  if not plan then return nil, h:error(404, "no plan with this plan_id") end
  if plan.type ~= plan_type then
    local why = plan_type == "one_time" and "is a recurring plan: subscribe to it with create-subscription"
      or "is a one-time plan: buy it with purchase-plan"
    return nil, h:error(422, "plan_id " .. why, { fields = { plan_id = why } })
  end
  if not plan.chips[sim.chip_type] then
    local why = "is not sold for " .. sim.chip_type .. " SIMs"
    return nil, h:error(422, "plan_id " .. why, { fields = { plan_id = why } })
  end
  return { sim = sim, plan = plan, reference = reference }
end

--- Marks the SIM as sold (availability used___<sku>).
function sales.mark_used(h, sim)
  sim.availability_sku = "used___" .. sim.sku
  h:sim_changed(sim)
end

return sales
