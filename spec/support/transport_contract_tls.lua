--- The TLS test servers of spec/support/transport_contract_tls_app.lua for
-- spec/transport_contract_spec.lua: one private nginx (spec/support/nginx.lua)
-- on 127.0.0.1 with a throwaway self-signed certificate, serving the same
-- routes on four TLS ports and counting on a plain one:
--
--   h1       HTTP/1.1 only (no http2 on the listener: ALPN picks http/1.1)
--   h2       HTTP/2 (ALPN h2)
--   refuse   HTTP/2 with http2_body_preread_size 0: a stream that carries a body
--            before the client acknowledged nginx's SETTINGS, as the first one on a new
--            connection does, is refused unprocessed (RST_STREAM REFUSED_STREAM)
--   goaway   HTTP/2 with keepalive_requests 2: nginx sends GOAWAY with the second
--            request's stream as the last one it processes; later streams are refused
--   control  plain HTTP: /hits?tag=T, /stats (of the server block given by ?port=)
--
--   local tls = require("spec.support.transport_contract_tls")
--   local why = tls.missing()          -- nil, or why these rows skip
--   local s = tls.start()              -- s.ports.h1 ... s.ca_file, s.base(kind)
--   s:hits(tag); s:accepted(kind); s:stop()
local socket = require "socket"
local nginx = require "spec.support.nginx"
local procs = require "spec.support.test_processes"

local M = {}

local KINDS = { "h1", "h2", "refuse", "goaway" }

--- nil when nginx (with its Lua and HTTP/2 modules) and openssl are there,
-- else the reason the TLS rows skip.
function M.missing()
  if not procs.have("nginx") then return "nginx is not installed (Debian: nginx-light)" end
  for _, path in ipairs(nginx.MODULES) do
    local f = io.open(path, "rb")
    if not f then return path .. " is missing (Debian: libnginx-mod-http-lua)" end
    f:close()
  end
  local p = io.popen("nginx -V 2>&1")
  local v = p:read("*a")
  p:close()
  if not v:find("--with-http_v2_module", 1, true) then return "this nginx has no HTTP/2 module" end
  if not procs.have("openssl") then return "openssl is not installed (for the self-signed certificate)" end
  return nil
end

local SERVER = [[
  server {
    listen 127.0.0.1:%d ssl%s;
    %s
    location / { content_by_lua_block { require("spec.support.transport_contract_tls_app").handle() } }
    location ~ ^/gzip {
      gzip on; gzip_types *; gzip_min_length 0;
      content_by_lua_block { require("spec.support.transport_contract_tls_app").handle() }
    }
  }]]

local EXTRA = {
  h1 = "",
  h2 = "",
  refuse = "http2_body_preread_size 0;",
  goaway = "keepalive_requests 2;",
}

local Servers = {}
Servers.__index = Servers

function M.start()
  local dir = procs.tmpdir()
  os.execute("chmod 755 " .. procs.quote(dir))
  local cert, key = procs.self_signed_cert(dir)
  os.execute("chmod 644 " .. procs.quote(key))
  local ports = { control = procs.free_port() }
  local blocks = {}
  for _, kind in ipairs(KINDS) do
    ports[kind] = procs.free_port()
    blocks[#blocks + 1] = SERVER:format(ports[kind], kind == "h1" and "" or " http2", EXTRA[kind])
  end
  local ok, server = pcall(nginx.start, {
    port = ports.control,
    main = "worker_shutdown_timeout 2s;",
    http = table.concat({
      "  lua_shared_dict contract 4m;",
      "  lua_check_client_abort on;",
      "  client_max_body_size 1m; client_body_buffer_size 1m;",
      ("  ssl_certificate %s; ssl_certificate_key %s;"):format(cert, key),
      "  server {",
      "    listen 127.0.0.1:${port};",
      "    location / { content_by_lua_block { require('spec.support.transport_contract_tls_app').handle() } }",
      "  }",
      table.concat(blocks, "\n"),
    }, "\n"),
  })
  if not ok then
    procs.rmdir(dir)
    error(server, 0)
  end
  return setmetatable({ nginx = server, dir = dir, ports = ports, ca_file = cert }, Servers)
end

--- "https://127.0.0.1:PORT" of a kind (h1, h2, refuse, goaway).
function Servers:base(kind)
  return ("https://127.0.0.1:%d"):format(assert(self.ports[kind], kind))
end

local function get(port, path)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"):format(path)))
  local raw = assert(c:receive("*a"))
  c:close()
  local status = tonumber(raw:match("^HTTP/1%.%d (%d%d%d)"))
  assert(status == 200, "control answered " .. tostring(status))
  return raw:match("\r\n\r\n(.*)$")
end

--- How many requests were counted under tag, on every port alike.
function Servers:hits(tag)
  return tonumber(get(self.ports.control, "/hits?tag=" .. tag))
end

--- How many connections that carried a request the kind's port has had.
function Servers:accepted(kind)
  local body = get(self.ports.control, "/stats?port=" .. assert(self.ports[kind], kind))
  return tonumber(body:match("accepted=(%d+)"))
end

function Servers:stop()
  self.nginx:stop()
  procs.rmdir(self.dir)
end

return M
