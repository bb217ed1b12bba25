--- Data on a SIM: what plans add, what consumption takes, what get-usage
-- reports, and auto top-up.
--
-- Per SIM: `total` (every byte ever added), `used` (every byte consumed);
-- the SIM's balances.main_data is always total - used. The validity window
-- opens at the first consumption after data arrives (not_started until
-- then) and lasts the longest validity bought; data bought while the window
-- is open pushes its end to at least now + the plan's validity; data bought
-- after it closed opens a new one. Consumption in a closed window (expired)
-- takes nothing.
--
-- Auto top-up: after a consumption that leaves the balance under the SIM's
-- threshold (bytes, or percent of the current plan's data), the current
-- plan's data is added `quantity` times as an order of its own, charged
-- under the reference "auto-topup:<iccid>:<n>". One consumption tops up once.
local json = require("flexiroam.json")
local input = require("flexiroam.sandbox.input")
local ledger = require("flexiroam.sandbox.ledger")

local usage = {}

local NULL = json.null

local function record(state, iccid)
  local u = state.usage[iccid]
  if not u then
    u = { total = 0, used = 0, validity_days = 0 }
    state.usage[iccid] = u
  end
  return u
end

function usage.status(u, now)
  if not u or not u.plan_id or not u.started then return "not_started" end
  if now >= u.expires then return "expired" end
  if u.total - u.used <= 0 then return "depleted" end
  return "active"
end

local function set_balance(h, sim, u)
  sim.balances.main_data = u.total - u.used
  h:sim_changed(sim)
end

--- Adds `bytes` of `plan` onto `sim` (a purchase, a subscription cycle or a
-- top-up).
function usage.add(h, sim, plan, bytes)
  local state = h.state
  local now = ledger.now(state)
  local u = record(state, sim.iccid)
  local status = usage.status(u, now)
  if status == "expired" then
    u.started, u.expires, u.validity_days = nil, nil, plan.validity_days
  elseif u.started then
    u.expires = math.max(u.expires, now + plan.validity_days * ledger.DAY)
  else
    u.validity_days = math.max(u.validity_days, plan.validity_days)
  end
  u.plan_id = plan.id
  u.total = u.total + bytes
  u.updated = now
  set_balance(h, sim, u)
end

local function stamp(t)
  return t and ledger.timestamp(t) or NULL
end

--- The Usage object of a SIM.
function usage.view(state, sim)
  local u = state.usage[sim.iccid] or { total = 0, used = 0 }
  return {
    iccid = sim.iccid, plan_id = u.plan_id or NULL, status = usage.status(u, ledger.now(state)),
    data_total_bytes = u.total, data_used_bytes = u.used, data_remaining_bytes = u.total - u.used,
    started_at = stamp(u.started), expires_at = stamp(u.expires), updated_at = stamp(u.updated),
  }
end

local function threshold_bytes(settings, plan)
  if settings.threshold_in_percentage then
    return plan.data_bytes * settings.threshold // 100
  end
  return settings.threshold
end

-- One auto top-up when the settings ask for it; true when it happened.
local function auto_topup(h, sim, u)
  local settings = sim.auto_topup_settings
  local plan = u.plan_id and h.state.plan_by_id[u.plan_id]
  if not settings.enabled or not plan then return false end
  if u.total - u.used >= threshold_bytes(settings, plan) then return false end
  local state = h.state
  local n = (state.topups[sim.iccid] or 0) + 1
  state.topups[sim.iccid] = n
  ledger.record_order(h, sim, plan, "auto-topup:" .. sim.iccid .. ":" .. n, settings.quantity)
  usage.add(h, sim, plan, plan.data_bytes * settings.quantity)
  return true
end

--- Consumes up to `bytes` on `sim`: -> bytes consumed, whether it topped up.
function usage.consume(h, sim, bytes)
  local state = h.state
  local now = ledger.now(state)
  local u = record(state, sim.iccid)
  local status = usage.status(u, now)
  if not u.plan_id or status == "expired" then return 0, false end
  local taken = math.min(bytes, u.total - u.used)
  if taken <= 0 then return 0, false end
  if not u.started then
    u.started = now
    u.expires = now + u.validity_days * ledger.DAY
  end
  u.used = u.used + taken
  u.updated = now
  set_balance(h, sim, u)
  return taken, auto_topup(h, sim, u)
end

local function find_sim(h, iccid)
  local sim = ledger.sim(h.state, iccid)
  if not sim then return nil, h:error(404, "no SIM with this iccid") end
  return sim
end
usage.find_sim = find_sim

--- GET /v1/public-v2/get-usage?iccid=
function usage.get(h, _, params)
  local iccid, res = input.query_iccid(h, params)
  if not iccid then return res end
  local sim, missing = find_sim(h, iccid)
  if not sim then return missing end
  return h:json(200, { item = usage.view(h.state, sim) })
end

--- POST /__sandbox/consume {"iccid": ..., "bytes": N} -> {"item": Usage,
-- "consumed": bytes taken, "topped_up": true|false}
function usage.consume_route(h, req)
  local body, bad = input.body(h, req)
  if not body then return bad end
  local check = input.checker()
  local iccid = check:iccid("iccid", body.iccid)
  local bytes = check:integer("bytes", body.bytes, 0, math.maxinteger, true)
  if check:failed() then return check:answer(h) end
  local sim, missing = find_sim(h, iccid)
  if not sim then return missing end
  local taken, topped = usage.consume(h, sim, bytes)
  return h:json(200, { item = usage.view(h.state, sim), consumed = taken, topped_up = topped })
end

return usage
