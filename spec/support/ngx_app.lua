-- luacheck: std luajit+ngx_lua
--- What the specs' nginx apps share: a JSON reply, and a handler that
-- dispatches on the URI.
--   local ngx_app = require "spec.support.ngx_app"
--   app.handle = ngx_app.dispatch { ["/call"] = function() ngx_app.reply { ok = true } end }
local json = require("flexiroam").json

local M = {}

function M.reply(value)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(assert(json.encode(value)))
end

--- dispatch(handlers) -> a content handler: handlers[uri](), else 404.
function M.dispatch(handlers)
  return function()
    local handler = handlers[ngx.var.uri]
    if not handler then return ngx.exit(404) end
    return handler()
  end
end

return M
