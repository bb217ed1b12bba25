--- Every operation of the Flexiroam Solutions API V3, in ONE table.
-- `list_inventory` is documented by the published page; the rest is our
-- derived design (see the contract) and may be corrected here, in one
-- place, or per client with flexiroam.new{ operations = { ... } }.
--
-- Fields: method, path, params (every accepted parameter, in the order the
-- query string lists them), required (parameters that must be present),
-- answer ("list": {items, page_key}; "item": {item}), model (the model
-- object the answer's items become, see flexiroam.models; absent or false:
-- plain tables), types (the parameters that are not strings, by name:
-- "boolean", "integer" or "object"; any other is a string). Every parameter
-- named `iccid` is checked (19-20 digits, Luhn) before a request is sent.
-- The types are the contract's: the command line turns its text into them
-- (flexiroam.cli.params) and the editor types and the manual start from
-- them (tools/operation_docs.lua), so a parameter's type is written here
-- and nowhere else.
--
-- And how a failed request may be sent again (flexiroam.pipeline, flexiroam.retry):
--   mode       "read": repeating it changes nothing;
--              "idempotent": a write whose repeat leaves the same state as once;
--              "reference": a write the server deduplicates by the parameter
--              `reference` names; after an unclear failure the pipeline looks
--              that reference up with the operation `reconcile` names before
--              sending again (under the same reference);
--              "unsafe": sent again only when it provably never left.
--   An operation a client adds without a mode gets one from its method
--   (GET, HEAD: read; PUT, DELETE: idempotent; others: unsafe).
--
-- And whether a read may be answered from the catalogue cache (flexiroam.cache,
-- on a client with a shared store):
--   cache      seconds an answer stays fresh, for a read that changes slowly
--              (the plan catalogue); a client or a call may change it.
--   live       state a sale or the SIM's own use changes (availability,
--              balances, orders, usage): never cached, whatever a client or
--              a call asks. sell_plan reads the inventory, the orders and the
--              SIM back around a purchase: a cached answer there could sell
--              a SIM twice or show a sale as not made.
--   Neither: a read that is not cached unless a client or a call asks
--   (get_activation: the same code for the same SIM, but an install secret).
-- @module flexiroam.operations
local options = require("flexiroam.options")

--- An entry of the table: client:NAME(params [, opts]) for each (see the client's page).
-- @table Operation
-- @field method "GET" or "POST"
-- @field path the request's path
-- @field params every accepted parameter, in query-string order
-- @field required the parameters that must be present
-- @field types the parameters that are not strings: name -> "boolean", "integer" or "object"
-- @field answer "list" (a page {items, page_key}) or "item"
-- @field model the model the answer's records become ("SIM", ...), or absent for plain tables
-- @field mode "read", "idempotent", "reference" or "unsafe": how a failed request may be sent again
-- @field reference the parameter a "reference" write is deduplicated by
-- @field reconcile the list operation that looks such a reference up
-- @field cache seconds a read may be answered from the catalogue cache
-- @field live true for state a sale or the SIM's use changes: never cached
-- @field documented true for the operations the published page documents
local P = "/v1/public-v2/"
-- A list's paging parameters, after its own, and the types of those.
local PAGING = { "page_key", "limit" }
local PAGING_TYPES = { limit = "integer" }

local function with_paging(params)
  local all = {}
  for _, p in ipairs(params) do all[#all + 1] = p end
  for _, p in ipairs(PAGING) do all[#all + 1] = p end
  return all
end

local function with_paging_types(types)
  return options.merge(types, PAGING_TYPES)
end

-- The two writes that buy something: a plan onto a SIM, under a caller's
-- reference the server charges once, looked up by `reconcile` after an
-- unclear failure.
local function referenced_write(path, model, reconcile)
  return {
    method = "POST", path = P .. path, answer = "item", model = model,
    mode = "reference", reference = "reference", reconcile = reconcile,
    params = { "iccid", "plan_id", "reference" }, required = { "iccid", "plan_id" },
  }
end

return {
  list_inventory = {
    method = "GET", mode = "read", path = P .. "list-inventory", answer = "list", model = "SIM", documented = true,
    live = true, params = with_paging { "chip_type", "search_by", "search" }, required = {},
    types = with_paging_types {},
  },
  get_sim = {
    method = "GET", mode = "read", path = P .. "get-sim", answer = "item", model = "SIM", live = true,
    params = { "iccid" }, required = { "iccid" },
  },
  -- Sets fields to the values given: a repeat sets the same values again
  -- (a concurrent writer's change in between may be overwritten, as it
  -- would be by a late first attempt).
  update_sim = {
    method = "POST", path = P .. "update-sim", answer = "item", model = "SIM", mode = "idempotent",
    params = { "iccid", "device_info", "user_info" }, required = { "iccid" },
    types = { device_info = "object", user_info = "object" },
  },
  get_activation = {
    method = "GET", mode = "read", path = P .. "get-activation", answer = "item", model = "Activation",
    params = { "iccid" }, required = { "iccid" },
  },
  list_plans = {
    method = "GET", mode = "read", path = P .. "list-plans", answer = "list", model = "Plan", cache = 300,
    params = with_paging { "chip_type", "type", "country" }, required = {}, types = with_paging_types {},
  },
  purchase_plan = referenced_write("purchase-plan", "Order", "list_orders"),
  list_orders = {
    method = "GET", mode = "read", path = P .. "list-orders", answer = "list", model = "Order", live = true,
    params = with_paging { "iccid", "reference" }, required = {}, types = with_paging_types {},
  },
  get_usage = {
    method = "GET", mode = "read", path = P .. "get-usage", answer = "item", model = "Usage", live = true,
    params = { "iccid" }, required = { "iccid" },
  },
  create_subscription = referenced_write("create-subscription", "Subscription", "list_subscriptions"),
  list_subscriptions = {
    method = "GET", mode = "read", path = P .. "list-subscriptions", answer = "list", model = "Subscription",
    live = true, params = with_paging { "iccid", "status" }, required = {}, types = with_paging_types {},
  },
  -- Cancelling twice is not an error by contract, and changes nothing more.
  cancel_subscription = {
    method = "POST", path = P .. "cancel-subscription", answer = "item", model = "Subscription",
    mode = "idempotent",
    params = { "subscription_id" }, required = { "subscription_id" },
  },
  update_auto_topup = { -- idempotent by value, as update_sim
    method = "POST", path = P .. "update-auto-topup", answer = "item", model = "SIM", mode = "idempotent",
    params = { "iccid", "enabled", "threshold", "threshold_in_percentage", "quantity" },
    required = { "iccid", "enabled" },
    types = { enabled = "boolean", threshold = "integer", threshold_in_percentage = "boolean", quantity = "integer" },
  },
}
