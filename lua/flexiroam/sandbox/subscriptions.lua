--- POST /v1/public-v2/create-subscription, GET .../list-subscriptions,
-- POST .../cancel-subscription, and renewals as the sandbox clock passes
-- a subscription's renews_at.
--
-- A subscription sells its recurring plan's data for the first cycle at
-- once (a charge under its reference; subscriptions are not orders), flips
-- the SIM's `subscribed` key to 1___<sku>, and renews every 30 days until
-- cancelled: each renewal adds the plan's data again and is charged under
-- "renewal:<id>:<cycle>" (cycle 2, 3, ...).
local json = require("flexiroam.json")
local input = require("flexiroam.sandbox.input")
local ledger = require("flexiroam.sandbox.ledger")
local paging = require("flexiroam.sandbox.paging")
local sales = require("flexiroam.sandbox.sales")
local usage = require("flexiroam.sandbox.usage")

local subscriptions = {}

local NULL = json.null
local CYCLE = 30 * ledger.DAY

local function encode(sub)
  return assert(json.encode(sub))
end

local function set_subscribed(h, sim, flag)
  sim.subscribed = flag .. "___" .. sim.sku
  h:sim_changed(sim)
end

function subscriptions.create(h, req)
  local sale, res = sales.prepare(h, req, "subscription", "recurring")
  if not sale then return res end
  local state = h.state
  local sim, plan = sale.sim, sale.plan
  local current = state.active_sub[sim.iccid]
  if current then
    return h:error(409, "the SIM already has an active subscription (" .. current.id .. ")")
  end
  local now = ledger.now(state)
  local sub = {
    id = ledger.new_id(state), reference = sale.reference, iccid = sim.iccid, plan_id = plan.id,
    status = "active", cycle = "monthly", created_at = ledger.timestamp(now),
    renews_at = ledger.timestamp(now + CYCLE),
  }
  ledger.record_subscription(h, sub)
  state.renewals[sub.id] = { at = now + CYCLE, cycle = 1 }
  state.active_sub[sim.iccid] = sub
  ledger.charge(h, sim, sale.reference)
  set_subscribed(h, sim, 1)
  sales.mark_used(h, sim)
  usage.add(h, sim, plan, plan.data_bytes)
  return h:json(201, { item = sub })
end

local STATUSES = { active = true, cancelled = true }

function subscriptions.list(h, _, params)
  local iccid, status = params.iccid, params.status
  if iccid ~= nil and not input.is_iccid(iccid) then
    return h:error(400, "iccid must be an ICCID of 19 or 20 digits")
  end
  if status ~= nil and not STATUSES[status] then return h:error(400, "status must be active or cancelled") end
  local state = h.state
  return paging.answer(h, params, {
    scope = "subscriptions\0" .. (iccid or "") .. "\0" .. (status or ""),
    list = state.subscriptions,
    positions = iccid and (state.subs_by_iccid[iccid] or {}) or nil,
    keep = status and function(sub) return sub.status == status end,
    encode = encode,
  })
end

--- Cancelling a cancelled subscription answers it again, unchanged.
function subscriptions.cancel(h, req)
  local body, bad = input.body(h, req)
  if not body then return bad end
  local check = input.checker()
  local id = check:string("subscription_id", body.subscription_id)
  if check:failed() then return check:answer(h) end
  local state = h.state
  local sub = state.subs_by_id[id]
  if not sub then return h:error(404, "no subscription with this subscription_id") end
  if sub.status ~= "cancelled" then
    sub.status = "cancelled"
    sub.renews_at = NULL
    if state.active_sub[sub.iccid] == sub then state.active_sub[sub.iccid] = nil end
    set_subscribed(h, ledger.sim(state, sub.iccid), 0)
  end
  return h:json(200, { item = sub })
end

--- Runs every renewal due up to time `t` (the clock is set to each
-- renewal's time while it runs, so its order and data carry that time);
-- -> how many ran.
function subscriptions.renew_until(h, t)
  local state = h.state
  local ran = 0
  for _, sub in ipairs(state.subscriptions) do
    local next_one = state.renewals[sub.id]
    while sub.status == "active" and next_one.at <= t do
      local sim, plan = ledger.sim(state, sub.iccid), state.plan_by_id[sub.plan_id]
      state.clock = next_one.at
      next_one.cycle = next_one.cycle + 1
      ledger.charge(h, sim, "renewal:" .. sub.id .. ":" .. next_one.cycle)
      usage.add(h, sim, plan, plan.data_bytes)
      next_one.at = next_one.at + CYCLE
      sub.renews_at = ledger.timestamp(next_one.at)
      ran = ran + 1
    end
  end
  return ran
end

return subscriptions
