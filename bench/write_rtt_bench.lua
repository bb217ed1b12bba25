-- Round trips a purchase costs on a warm client, over HTTP/1.1 and over
-- HTTP/2, against a far-away API: nginx on 127.0.0.1 (TLS with a throwaway
-- self-signed certificate, one port speaking HTTP/1.1 only, one offering
-- HTTP/2), each behind bench/delay_proxy.lua, which makes every byte take
-- ONE_WAY_MS each way (a round trip is 2 * ONE_WAY_MS) and a new TCP
-- connection cost a round trip before its first byte.
--
--   lua5.4 bench/write_rtt_bench.lua [purchases, default 20] [one-way ms, default 25]
--
-- A warm client has made one call (list_orders) first, as any client has
-- before it buys. Each purchase is client:purchase_plan (a POST with its
-- reference), timed on its own; reported are the median and the spread,
-- the median in round trips, and how many connections the client opened
-- for them (counted at the proxy). A purchase on a connection of its own
-- costs TCP (1) + TLS 1.3 (1) + the request (1) = 3 round trips; on a warm
-- HTTP/2 connection, 1.
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local flexiroam = require "flexiroam"
local core = require "flexiroam.core"
local socket = require "socket"
local procs = require "spec.support.test_processes"

local N = math.max(1, math.floor(tonumber(arg[1]) or 20))
local ONE_WAY_MS = tonumber(arg[2]) or 25
local RTT = 2 * ONE_WAY_MS / 1000
local KEY = "bench-key"
local ICCID = "89852350824010131081"

local ORDER = '{"item": {"order_id": "ord_1", "reference": "r", "iccid": "' .. ICCID ..
  '", "plan_id": "FRA-3GB-7D", "status": "completed"}}'
local LIST = '{"items": [], "page_key": null}'

local write = require("tools.files").write

local dir = procs.tmpdir()
local ports = { h1 = procs.free_port(), h2 = procs.free_port() }
local children = {}

local function stop_all()
  for _, c in ipairs(children) do procs.stop(c) end
  procs.rmdir(dir)
end

local function start_nginx(cert, key)
  -- workers may run as nobody: they read nothing here but what the master opened
  os.execute("chmod 755 " .. procs.quote(dir))
  os.execute("mkdir -p " .. procs.quote(dir .. "/logs") .. " " .. procs.quote(dir .. "/tmp"))
  local servers = {}
  for kind, port in pairs(ports) do
    servers[#servers + 1] = ([[
  server {
    listen 127.0.0.1:%d ssl%s;
    location = /v1/public-v2/purchase-plan { return 200 '%s'; }
    location / { return 200 '%s'; }
  }]]):format(port, kind == "h2" and " http2" or "", ORDER, LIST)
  end
  write(dir .. "/nginx.conf", table.concat({
    "worker_processes 1;",
    "error_log " .. dir .. "/logs/error.log;",
    "pid " .. dir .. "/logs/nginx.pid;",
    "events { worker_connections 256; }",
    "http {",
    "  access_log off;",
    "  default_type application/json;",
    "  keepalive_timeout 300s; keepalive_requests 1000000;",
    "  client_body_temp_path " .. dir .. "/tmp;",
    ("  ssl_certificate %s; ssl_certificate_key %s;"):format(cert, key),
    -- nginx before 1.23.4 leaves TLS 1.3 out by default; an API offers it
    "  ssl_protocols TLSv1.2 TLSv1.3;",
    table.concat(servers, "\n"),
    "}",
  }, "\n"))
  local p = assert(io.popen("echo $$; exec env -u LD_PRELOAD nginx -p " .. procs.quote(dir .. "/") .. " -c " ..
    procs.quote(dir .. "/nginx.conf") .. " -g 'daemon off; master_process on;' 2>>" ..
    procs.quote(dir .. "/logs/stderr")))
  children[#children + 1] = { handle = p, pid = tonumber(p:read("*l")) }
  local deadline = socket.gettime() + 10
  for _, port in pairs(ports) do
    while true do
      local c = socket.tcp()
      c:settimeout(0.2)
      local ok = c:connect("127.0.0.1", port)
      c:close()
      if ok then break end
      if socket.gettime() > deadline then error("nginx did not start: " .. procs.slurp(dir .. "/logs/error.log")) end
      socket.sleep(0.05)
    end
  end
end

-- bench/delay_proxy.lua in front of port: {port, control}.
local function start_proxy(target)
  local p = assert(io.popen(("echo $$; exec env -u LD_PRELOAD lua5.4 bench/delay_proxy.lua %d %s"):format(
    target, tostring(ONE_WAY_MS))))
  local proc = { handle = p, pid = tonumber(p:read("*l")) }
  children[#children + 1] = proc
  local port, control = p:read("*l"):match("^(%d+) (%d+)$")
  proc.port, proc.control = tonumber(port), tonumber(control)
  return proc
end

local function accepted(proxy)
  local c = assert(socket.connect("127.0.0.1", proxy.control))
  c:settimeout(5)
  local line = assert(c:receive("*l"))
  c:close()
  return tonumber(line:match("accepted=(%d+)"))
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

local rows = {}

local function run(kind, proxy, cert)
  local client = flexiroam.new { api_key = KEY, base_url = "https://127.0.0.1:" .. proxy.port, ca_file = cert,
    proxy = "", retries = 0 }
  local before_cold = accepted(proxy)
  local t0 = core.monotonic()
  local order, err = client:purchase_plan { iccid = ICCID, plan_id = "FRA-3GB-7D" }
  local cold = core.monotonic() - t0
  assert(order, tostring(err))
  rows[#rows + 1] = { name = kind .. ", first call of a new client (cold)", n = 1, times = { cold },
    connections = accepted(proxy) - before_cold }
  -- warm: a second client that has listed orders once
  client:close()
  client = flexiroam.new { api_key = KEY, base_url = "https://127.0.0.1:" .. proxy.port, ca_file = cert,
    proxy = "", retries = 0 }
  assert(client:list_orders { limit = 1 })
  local before = accepted(proxy)
  local times = {}
  for i = 1, N do
    t0 = core.monotonic()
    local reference = ("bench-%s-%d"):format(kind:match("^HTTP/(%d)"), i)
    order, err = client:purchase_plan { iccid = ICCID, plan_id = "FRA-3GB-7D", reference = reference }
    times[i] = core.monotonic() - t0
    assert(order, tostring(err))
  end
  rows[#rows + 1] = { name = kind .. ", warm client", n = N, times = times, connections = accepted(proxy) - before }
  client:close()
end

local ok, err = pcall(function()
  local cert, key = procs.self_signed_cert(dir)
  start_nginx(cert, key)
  run("HTTP/1.1 over TLS", start_proxy(ports.h1), cert)
  run("HTTP/2 over TLS", start_proxy(ports.h2), cert)
end)
stop_all()
if not ok then error(err, 0) end

print(("purchases (client:purchase_plan) through a proxy adding %g ms each way: RTT %g ms; libcurl %s")
  :format(ONE_WAY_MS, RTT * 1000, core.curl_version()))
print()
print("| connection | purchases | median ms | min–max ms | round trips (median / RTT) | " ..
  "connections opened per purchase |")
print("|---|---:|---:|---:|---:|---:|")
for _, r in ipairs(rows) do
  local lo, hi = math.huge, 0
  for _, t in ipairs(r.times) do
    lo, hi = math.min(lo, t), math.max(hi, t)
  end
  print(("| %s | %d | %.1f | %.1f–%.1f | %.2f | %.2f |"):format(r.name, r.n, median(r.times) * 1000, lo * 1000,
    hi * 1000, median(r.times) / RTT, r.connections / r.n))
end
