--- The sandbox's business state beside the inventory: plans, orders,
-- subscriptions, usage, charges and the clock, and the bookkeeping every
-- route shares. ledger.init(state, opts) fills a fresh handler state;
-- reset builds a new one, so everything here starts over with it.
--
-- The clock is the sandbox's own: it starts at EPOCH and moves only when
-- told to (POST /__sandbox/clock), so timestamps and expiry never depend
-- on how fast requests arrive.
local json = require("flexiroam.json")
local catalogue = require("flexiroam.sandbox.catalogue")
local inventory = require("flexiroam.sandbox.inventory")

local ledger = {}

ledger.EPOCH = 1735689600 -- 2025-01-01 00:00:00 UTC
ledger.DAY = 86400

function ledger.init(state, opts)
  local plans = catalogue.generate(opts.seed)
  local plan_by_id = {}
  for _, p in ipairs(plans) do plan_by_id[p.id] = p end
  state.plans, state.plan_by_id = plans, plan_by_id
  state.orders, state.orders_by_iccid = {}, {}
  state.subscriptions, state.subs_by_id, state.subs_by_iccid = {}, {}, {}
  state.active_sub = {} -- iccid -> its active subscription
  state.renewals = {}   -- subscription id -> {at = next renewal time, cycle = cycles so far}
  -- one namespace for order and subscription references: a reference is
  -- one sale, whichever operation made it
  state.references = {} -- reference -> {kind = "order"|"subscription", record =, pos =}
  state.usage = {}      -- iccid -> usage record (usage.lua)
  state.charges = {}    -- reference -> times charged
  state.topups = {}     -- iccid -> auto top-ups so far
  state.clock = ledger.EPOCH
  state.next_id = inventory.rng((opts.seed or 1) ~ 0x1d5e7a93)
  return state
end

function ledger.timestamp(t)
  return os.date("!%Y-%m-%d %H:%M:%S", t)
end

function ledger.now(state)
  return state.clock
end

function ledger.new_id(state)
  return inventory.uuid(state.next_id)
end

--- Counts one charge under `reference` and stamps the SIM's first bill.
function ledger.charge(h, sim, reference)
  local state = h.state
  state.charges[reference] = (state.charges[reference] or 0) + 1
  if sim.first_billed_date == nil or sim.first_billed_date == json.null then
    sim.first_billed_date = ledger.timestamp(state.clock)
    h:sim_changed(sim)
  end
end

local function push_index(index, key, pos)
  local list = index[key]
  if not list then
    list = {}
    index[key] = list
  end
  list[#list + 1] = pos
end

--- Records a completed order of `plan` (times `quantity`) onto `sim` and
-- charges it; the caller adds the data.
function ledger.record_order(h, sim, plan, reference, quantity)
  local state = h.state
  quantity = quantity or 1
  local order = {
    id = ledger.new_id(state), reference = reference, iccid = sim.iccid, plan_id = plan.id, status = "completed",
    price = { amount_minor = plan.price.amount_minor * quantity, currency = plan.price.currency },
    created_at = ledger.timestamp(state.clock),
  }
  local pos = #state.orders + 1
  state.orders[pos] = order
  push_index(state.orders_by_iccid, sim.iccid, pos)
  state.references[reference] = { kind = "order", record = order, pos = pos }
  ledger.charge(h, sim, reference)
  return order
end

function ledger.record_subscription(h, sub)
  local state = h.state
  local pos = #state.subscriptions + 1
  state.subscriptions[pos] = sub
  state.subs_by_id[sub.id] = sub
  push_index(state.subs_by_iccid, sub.iccid, pos)
  state.references[sub.reference] = { kind = "subscription", record = sub, pos = pos }
end

--- The SIM at `iccid`, or nil.
function ledger.sim(state, iccid)
  local pos = state.by_iccid[iccid]
  return pos and state.sims[pos]
end

return ledger
