-- luacheck: std luajit+ngx_lua
--- The handlers spec/claims_fleet_spec.lua runs inside a 4-worker nginx:
-- each worker keeps one client per mode, as an application would, against
-- the sandbox ($sandbox_url).
--   GET /sell?ref=R[&mode=local]   client:sell_plan{plan_id = "FRA-1GB-7D", reference = R}, its
--                                  client on shared = "flexiroam" (mode=local: no store, the control)
--   GET /fill                      fills the dict "flexiroam" until not even a claim fits
--   GET /claims[?drop=1]           how many claim keys the dict "flexiroam" holds (then drops them)
--   anything else                  spec/support/shared_store_app.lua's (/unfill)
-- Each answers JSON.
local flexiroam = require "flexiroam"
local ngx_app = require "spec.support.ngx_app"

local KEY = "sandbox-key"

local app = {}

local reply = ngx_app.reply

local client = ngx_app.clients(function(mode)
  local opts = { api_key = KEY, base_url = ngx.var.sandbox_url, timeout_ms = 20000 }
  if mode == "shared" then opts.shared = "flexiroam" end
  return flexiroam.new(opts)
end)

local handlers = {}

handlers["/sell"] = function()
  local ref = ngx.var.arg_ref
  local sale, err = client(ngx.var.arg_mode or "shared"):sell_plan { plan_id = "FRA-1GB-7D", reference = ref }
  reply {
    pid = ngx.worker.pid(), reference = ref, ok = sale ~= nil,
    order_id = sale and sale.order.id, order_iccid = sale and sale.order.iccid,
    order_reference = sale and sale.order.reference, sim_iccid = sale and sale.sim.iccid,
    replayed = sale and sale.replayed, kind = err and err.kind, code = err and err.code,
    message = err and err.message,
  }
end

-- Fills the dict "flexiroam" with "junk:" keys (safe_set) of every size,
-- largest first, until not even the smallest fits: a dict's memory comes in
-- slabs per size, so one size alone leaves room for others.
handlers["/fill"] = function()
  local dict, n, err = ngx.shared.flexiroam, 0, nil
  for _, size in ipairs { 4000, 2000, 1000, 500, 250, 120, 60, 30, 10, 0 } do
    repeat
      local ok
      ok, err = dict:safe_set("junk:" .. size .. ":" .. n, ("x"):rep(size))
      if ok then n = n + 1 end
    until not ok
  end
  reply { filled = n, err = err }
end

handlers["/claims"] = function()
  local dict, n = ngx.shared.flexiroam, 0
  for _, k in ipairs(dict:get_keys(0)) do
    if k:find(":claim:", 1, true) then
      n = n + 1
      if ngx.var.arg_drop then dict:delete(k) end
    end
  end
  reply { claims = n }
end

app.handle = ngx_app.dispatch(handlers, require("spec.support.shared_store_app").handle)

return app
