--- The sandbox's operations, keyed "METHOD /path". Each is a function
-- (handler, req, params) -> response, where params is the decoded query.
-- Every path under /v1/ needs a known x-api-key (the handler checks it
-- before routing); /__sandbox/ paths are the test hooks and need none.
local control = require("flexiroam.sandbox.control")
local list_inventory = require("flexiroam.sandbox.list_inventory")
local orders = require("flexiroam.sandbox.orders")
local plans = require("flexiroam.sandbox.plans")
local sims = require("flexiroam.sandbox.sims")
local subscriptions = require("flexiroam.sandbox.subscriptions")
local usage = require("flexiroam.sandbox.usage")

local routes = {}

local P = "/v1/public-v2/"

--- A fresh table of the default routes, which a handler may extend.
function routes.default()
  return {
    ["GET " .. P .. "list-inventory"] = list_inventory.handle,
    ["GET " .. P .. "get-sim"] = sims.get,
    ["POST " .. P .. "update-sim"] = sims.update,
    ["GET " .. P .. "get-activation"] = sims.get_activation,
    ["POST " .. P .. "update-auto-topup"] = sims.update_auto_topup,
    ["GET " .. P .. "list-plans"] = plans.list,
    ["POST " .. P .. "purchase-plan"] = orders.purchase,
    ["GET " .. P .. "list-orders"] = orders.list,
    ["GET " .. P .. "get-usage"] = usage.get,
    ["POST " .. P .. "create-subscription"] = subscriptions.create,
    ["GET " .. P .. "list-subscriptions"] = subscriptions.list,
    ["POST " .. P .. "cancel-subscription"] = subscriptions.cancel,
    ["GET /__sandbox/stats"] = control.stats,
    ["POST /__sandbox/reset"] = control.reset,
    ["POST /__sandbox/consume"] = usage.consume_route,
    ["GET /__sandbox/clock"] = control.clock,
    ["POST /__sandbox/clock"] = control.advance,
  }
end

return routes
