--- The sandbox's operations, keyed "METHOD /path". Each is a function
-- (handler, req, params) -> response, where params is the decoded query.
-- Every path under /v1/ needs a known x-api-key (the handler checks it
-- before routing); /__sandbox/ paths are the test hooks and need none.
local list_inventory = require "flexiroam.sandbox.list_inventory"

local routes = {}

local function stats(h)
  return h:json(200, { requests = h.stats.requests, connections = h.stats.connections })
end

local function reset(h)
  h:reset()
  return h:json(200, { reset = true })
end

--- A fresh table of the default routes, which a handler may extend.
function routes.default()
  return {
    ["GET /v1/public-v2/list-inventory"] = list_inventory.handle,
    ["GET /__sandbox/stats"] = stats,
    ["POST /__sandbox/reset"] = reset,
  }
end

return routes
