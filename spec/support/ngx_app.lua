-- luacheck: std luajit+ngx_lua
--- What the specs' nginx apps share: a JSON reply, a worker's clients, and
-- a handler that dispatches on the URI.
--   local ngx_app = require "spec.support.ngx_app"
--   local client = ngx_app.clients(function(mode) return flexiroam.new { ... } end)
--   app.handle = ngx_app.dispatch {
--     ["/call"] = function() ngx_app.reply { ok = client("shared"):list_plans() ~= nil } end,
--   }
local json = require("flexiroam").json

local M = {}

function M.reply(value)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(assert(json.encode(value)))
end

--- clients(make) -> client(key): the client make(key) made, once per worker
-- and key, then kept, as an application keeps its clients (and with them
-- their limiters and connections) across requests.
function M.clients(make)
  local made = {}
  return function(key)
    if not made[key] then made[key] = make(key) end
    return made[key]
  end
end

--- dispatch(handlers, fallback) -> a content handler: handlers[uri](), else
-- fallback() (another app's handle), else 404.
function M.dispatch(handlers, fallback)
  return function()
    local handler = handlers[ngx.var.uri] or fallback
    if not handler then return ngx.exit(404) end
    return handler()
  end
end

return M
