--- POST /v1/public-v2/purchase-plan and GET /v1/public-v2/list-orders.
local json = require("flexiroam.json")
local input = require("flexiroam.sandbox.input")
local ledger = require("flexiroam.sandbox.ledger")
local paging = require("flexiroam.sandbox.paging")
local sales = require("flexiroam.sandbox.sales")
local usage = require("flexiroam.sandbox.usage")

local orders = {}

local function encode(order)
  return assert(json.encode(order))
end

--- Sells a one-time plan: 201 with the new order; a replayed reference
-- answers the original order with 200 (sales.prepare).
function orders.purchase(h, req)
  local sale, res = sales.prepare(h, req, "order", "one_time")
  if not sale then return res end
  local sim, plan = sale.sim, sale.plan
  local order = ledger.record_order(h, sim, plan, sale.reference)
  sales.mark_used(h, sim)
  usage.add(h, sim, plan, plan.data_bytes)
  return h:json(201, { item = order })
end

function orders.list(h, _, params)
  local iccid, reference = params.iccid, params.reference
  if iccid ~= nil and not input.is_iccid(iccid) then
    return h:error(400, "iccid must be an ICCID of 19 or 20 digits")
  end
  if reference == "" then return h:error(400, "reference must not be empty") end
  local state = h.state
  local positions
  if reference ~= nil then
    -- a reference names at most one order: find its position
    local prior = state.references[reference]
    positions = { prior and prior.kind == "order" and prior.pos or nil }
  elseif iccid ~= nil then
    positions = state.orders_by_iccid[iccid] or {}
  end
  return paging.answer(h, params, {
    scope = "orders\0" .. (iccid or "") .. "\0" .. (reference or ""),
    list = state.orders,
    positions = positions,
    keep = iccid and reference and function(order) return order.iccid == iccid end,
    encode = encode,
  })
end

return orders
