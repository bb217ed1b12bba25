--- Every operation of the Flexiroam Solutions API V3, in ONE table.
-- `list_inventory` is documented by the published page; the rest is our
-- derived design (see the contract) and may be corrected here, in one
-- place, or per client with flexiroam.new{ operations = { ... } }.
--
-- Fields: method, path, params (every accepted parameter, in the order the
-- query string lists them), required (parameters that must be present),
-- answer ("list": {items, page_key}; "item": {item}), model (the model
-- object the answer's items become, see flexiroam.models; absent or false:
-- plain tables). Every parameter named `iccid` is checked (19-20 digits,
-- Luhn) before a request is sent.
local P = "/v1/public-v2/"
local PAGING = { "page_key", "limit" }

local function with_paging(params)
  local all = {}
  for _, p in ipairs(params) do all[#all + 1] = p end
  for _, p in ipairs(PAGING) do all[#all + 1] = p end
  return all
end

return {
  list_inventory = {
    method = "GET", path = P .. "list-inventory", answer = "list", model = "SIM", documented = true,
    params = with_paging { "chip_type", "search_by", "search" }, required = {},
  },
  get_sim = {
    method = "GET", path = P .. "get-sim", answer = "item", model = "SIM",
    params = { "iccid" }, required = { "iccid" },
  },
  update_sim = {
    method = "POST", path = P .. "update-sim", answer = "item", model = "SIM",
    params = { "iccid", "device_info", "user_info" }, required = { "iccid" },
  },
  get_activation = {
    method = "GET", path = P .. "get-activation", answer = "item", model = "Activation",
    params = { "iccid" }, required = { "iccid" },
  },
  list_plans = {
    method = "GET", path = P .. "list-plans", answer = "list", model = "Plan",
    params = with_paging { "chip_type", "type", "country" }, required = {},
  },
  purchase_plan = {
    method = "POST", path = P .. "purchase-plan", answer = "item", model = "Order",
    params = { "iccid", "plan_id", "reference" }, required = { "iccid", "plan_id" },
  },
  list_orders = {
    method = "GET", path = P .. "list-orders", answer = "list", model = "Order",
    params = with_paging { "iccid", "reference" }, required = {},
  },
  get_usage = {
    method = "GET", path = P .. "get-usage", answer = "item", model = "Usage",
    params = { "iccid" }, required = { "iccid" },
  },
  create_subscription = {
    method = "POST", path = P .. "create-subscription", answer = "item", model = "Subscription",
    params = { "iccid", "plan_id", "reference" }, required = { "iccid", "plan_id" },
  },
  list_subscriptions = {
    method = "GET", path = P .. "list-subscriptions", answer = "list", model = "Subscription",
    params = with_paging { "iccid", "status" }, required = {},
  },
  cancel_subscription = {
    method = "POST", path = P .. "cancel-subscription", answer = "item", model = "Subscription",
    params = { "subscription_id" }, required = { "subscription_id" },
  },
  update_auto_topup = {
    method = "POST", path = P .. "update-auto-topup", answer = "item", model = "SIM",
    params = { "iccid", "enabled", "threshold", "threshold_in_percentage", "quantity" },
    required = { "iccid", "enabled" },
  },
}
