--- What the fleet specs (spec/shared_store_spec.lua, spec/claims_fleet_spec.lua,
-- spec/cache_fleet_spec.lua) set up: a 4-worker nginx around one of their
-- apps, and separate Lua processes each with a client of its own, which
-- share a rate limit, SIM claims or the catalogue cache only through one
-- redis-server, as a fleet's machines would. The processes start at one
-- moment, so that their calls meet.
--   local outs = fleet.run(4, function(i) return { url = url, redis_port = port, start = start } end, [[
--     local client = fleet.client(o, { timeout_ms = 5000 })
--     fleet.wait_until(o.start)
--     print(client:list_plans() and "ok" or "failed")
--   ]])
-- In a child's code, `fleet` is this module and `o` the table made for that
-- child, sent as JSON: strings, numbers and booleans.
local flexiroam = require "flexiroam"
local socket = require "socket"

local M = {}

----------------------------------------------------------------------
-- In the spec (what it needs is required where it is used: a child
-- loads this module too)
----------------------------------------------------------------------

-- Within http {}: the lua_shared_dicts flexiroam and results (the fleet's
-- store, and what the workers count together), more dicts, a server, more
-- `set`s, the app.
local NGINX_HTTP = [[
  lua_shared_dict flexiroam 1m;
  lua_shared_dict results 1m;
%s  server {
    listen 127.0.0.1:${port} reuseport;
%s    location / { content_by_lua_block { require("%s").handle() } }
  }]]

--- nginx(app, vars, dicts) -> a 4-worker nginx (spec/support/nginx.lua's
-- start) whose every request is require(app).handle(), with `set $name
-- value;` for each of vars, and the dicts flexiroam and results (1m each)
-- and those of dicts ({name = size}).
function M.nginx(app, vars, dicts)
  local dict_lines, var_lines = {}, {}
  for name, size in pairs(dicts or {}) do
    dict_lines[#dict_lines + 1] = ("  lua_shared_dict %s %s;\n"):format(name, size)
  end
  for name, value in pairs(vars) do var_lines[#var_lines + 1] = ("    set $%s %s;\n"):format(name, value) end
  table.sort(dict_lines)
  table.sort(var_lines)
  return require("spec.support.nginx").start { workers = 4,
    http = NGINX_HTTP:format(table.concat(dict_lines), table.concat(var_lines), app) }
end

--- spawn(o, code) -> child (test_processes.lua_spawn's): `code` in a process
-- of its own, with `fleet` and `o`, not waited for.
function M.spawn(o, code)
  return require("spec.support.test_processes").lua_spawn(
    ('local fleet = require "spec.support.fleet"\nlocal o = assert(require("flexiroam").json.decode(%q))\n')
      :format(assert(flexiroam.json.encode(o))) .. code)
end

--- run(n, params, code, meanwhile) -> what each of n children printed:
-- child i runs `code` with o = params(i). They are all started before any
-- is waited for; meanwhile() (optional) runs once they are, while they run.
function M.run(n, params, code, meanwhile)
  local children, outs = {}, {}
  for i = 1, n do children[i] = M.spawn(params(i), code) end
  if meanwhile then meanwhile() end
  local collect = require("spec.support.test_processes").lua_collect
  for i, child in ipairs(children) do outs[i] = collect(child) end
  return outs
end

----------------------------------------------------------------------
-- In a child
----------------------------------------------------------------------

--- redis_store(port) -> a store on the Redis at 127.0.0.1:port, through a
-- function that connects, so that a failed connection is made anew (a
-- single connection that failed is not used again).
function M.redis_store(port)
  return require("flexiroam.store").redis(function()
    return require("redis").connect { host = "127.0.0.1", port = port, timeout = 1 }
  end)
end

--- client(o, options) -> flexiroam.new with `options` and o.api_key, o.url
-- as base_url, shared on the Redis at o.redis_port (no store when it is nil:
-- the control, each process on its own).
function M.client(o, options)
  local opts = { api_key = o.api_key, base_url = o.url }
  for k, v in pairs(options) do opts[k] = v end
  if o.redis_port then opts.shared = M.redis_store(o.redis_port) end
  return flexiroam.new(opts)
end

--- wait_until(t): returns at epoch second t, at once when it is past.
function M.wait_until(t)
  local now = socket.gettime()
  while now < t do
    socket.sleep(t - now)
    now = socket.gettime()
  end
end

return M
