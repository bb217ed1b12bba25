--- Runs a private nginx with Debian's Lua module for specs:
--   local ngx_server = require("spec.support.nginx").start { http = "...", init_worker = "..." }
--   ngx_server.url  -- "http://127.0.0.1:PORT";  ngx_server:stop(); ngx_server:error_log()
-- One worker (workers = n for more), a prefix under a fresh temporary
-- directory, 127.0.0.1 only;
-- Lua modules come from the checkout (lua/, spec/) and the C core from the
-- LuaJIT build (build/luajit). Run from the repository root.
local processes = require "spec.support.test_processes"

local M = {}

M.MODULES = {
  "/usr/lib/nginx/modules/ndk_http_module.so",     -- the Lua module needs the NDK loaded first
  "/usr/lib/nginx/modules/ngx_http_lua_module.so",
}
M.CORE = "build/luajit/flexiroam/core.so"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local slurp, quote = processes.slurp, processes.quote

--- nil when nginx, its Lua module and the LuaJIT build are all there, else
-- the reason the specs skip.
function M.missing()
  if not processes.have("nginx") then return "nginx is not installed (Debian: nginx-light)" end
  for _, path in ipairs(M.MODULES) do
    if not exists(path) then return path .. " is missing (Debian: libnginx-mod-http-lua)" end
  end
  if not exists(M.CORE) then return M.CORE .. " is missing (run make luajit)" end
  return nil
end

local function cwd()
  local p = io.popen("pwd")
  local dir = p:read("*l")
  p:close()
  return dir
end

local Server = {}
Server.__index = Server

--- start{http = directives inside http {} (the server block included),
-- main = directives at the top level, port = (a free one), workers = 1} -> server.
-- `${port}` and `${root}` in the text become the port and the checkout.
function M.start(opts)
  local root = cwd()
  local port = opts.port or processes.free_port()
  local prefix = processes.tmpdir()
  -- Workers run as nobody when nginx starts as root: they must read the prefix.
  os.execute("chmod 755 " .. quote(prefix) .. " && mkdir -p " .. quote(prefix .. "/conf") .. " "
    .. quote(prefix .. "/logs") .. " " .. quote(prefix .. "/tmp"))
  local function expand(text)
    return (text or ""):gsub("%${port}", tostring(port)):gsub("%${root}", root)
  end
  local conf = table.concat({
    "worker_processes " .. (opts.workers or 1) .. ";",
    "error_log logs/error.log notice;",
    "pid logs/nginx.pid;",
    "load_module " .. M.MODULES[1] .. ";",
    "load_module " .. M.MODULES[2] .. ";",
    expand(opts.main),
    "events { worker_connections 512; }",
    "http {",
    "  access_log off;",
    "  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;",
    "  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;",
    "  lua_socket_log_errors off;",
    string.format('  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;;";', root, root, root),
    string.format('  lua_package_cpath "%s/build/luajit/?.so;;";', root),
    expand(opts.http),
    "}",
  }, "\n")
  local f = assert(io.open(prefix .. "/conf/nginx.conf", "wb"))
  f:write(conf)
  f:close()

  return M.launch { prefix = prefix, conf = "conf/nginx.conf", port = port, dir = prefix, level = 3 }
end

--- launch{prefix = (-p), conf = (-c, relative to prefix or absolute),
-- port = (where it listens), dir = (a temporary directory for its stderr,
-- removed on stop), env = {NAME = value}} -> server, once it listens.
function M.launch(opts)
  local stderr = opts.dir .. "/nginx.stderr"
  local env = ""
  for name, value in pairs(opts.env or {}) do env = env .. name .. "=" .. quote(value) .. " " end
  -- Started as root, nginx runs its workers as nobody, who may not be able
  -- to read a checkout under a private directory (a CI clone in a mktemp
  -- folder): this test nginx, on 127.0.0.1 only, keeps the workers as root.
  local globals = "daemon off;"
  local id = io.popen("id -u")
  if id then
    if id:read("*l") == "0" then globals = globals .. " user root;" end
    id:close()
  end
  local self = setmetatable(processes.spawn(env .. "nginx -p " .. quote(opts.prefix .. "/") .. " -c " ..
    quote(opts.conf) .. " -g " .. quote(globals) .. " >/dev/null 2>" .. quote(stderr)), Server)
  self.prefix, self.dir, self.port, self.stderr_path = opts.prefix, opts.dir, opts.port, stderr
  self.url = "http://127.0.0.1:" .. opts.port
  if not processes.await_listening(self, opts.port) then
    local why = slurp(stderr) .. self:error_log()
    self:stop()
    error("nginx did not start: " .. why, opts.level or 2)
  end
  return self
end

--- example{env = {NAME = value}} -> server: examples/openresty as shipped
-- (its nginx.conf with only the port and the scratch directory changed),
-- run from the checkout.
function M.example(opts)
  local dir = processes.tmpdir()
  os.execute("chmod 755 " .. quote(dir))
  local port = processes.free_port()
  local conf = slurp("examples/openresty/nginx.conf")
  local replaced
  conf, replaced = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
  assert(replaced == 1, "examples/openresty/nginx.conf no longer listens on 127.0.0.1:8080")
  conf = conf:gsub("build/openresty/", dir .. "/")
  local f = assert(io.open(dir .. "/nginx.conf", "wb"))
  f:write(conf)
  f:close()
  return M.launch { prefix = cwd(), conf = dir .. "/nginx.conf", port = port, dir = dir, env = opts.env, level = 3 }
end

function Server:error_log()
  return slurp(self.prefix .. "/logs/error.log") .. slurp(self.stderr_path)
end

--- Graceful stop (QUIT), KILL after 5 s; removes the prefix.
function Server:stop()
  processes.stop(self, "QUIT")
  processes.rmdir(self.dir)
end

return M
