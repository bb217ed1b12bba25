-- Per-call cost of client:list_inventory on loopback with keep-alive,
-- against what a user would pick instead, in the same run. nginx (started
-- here, on 127.0.0.1, private prefix) serves list-inventory pages of 20 and
-- 1000 SIMs of the published sample's shape.
--
--   lua5.4 bench/http_bench.lua [seconds per measurement, default 2]
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local flexiroam = require "flexiroam"
local core = require "flexiroam.core"
local cjson = require "cjson"
local inventory = require "flexiroam.sandbox.inventory"
local json = flexiroam.json

local SECONDS = tonumber(arg[1]) or 2
local PATH = "/v1/public-v2/list-inventory"

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("command failed: " .. cmd) end
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

local function now()
  return require("socket").gettime()
end

-- Calls fn until SECONDS have passed; returns calls per second.
local function rate(fn)
  for _ = 1, 20 do fn() end
  local n, start = 0, now()
  repeat
    for _ = 1, 10 do fn() end
    n = n + 10
  until now() - start >= SECONDS
  return n / (now() - start)
end

local prefix = os.tmpname()
os.remove(prefix)
sh("mkdir -p " .. prefix .. "/conf " .. prefix .. "/logs " .. prefix .. "/tmp " .. prefix .. "/www/p20" ..
  PATH:match("^(.*)/") .. " " .. prefix .. "/www/p1000" .. PATH:match("^(.*)/"))
local sizes, bytes = { 20, 1000 }, {}
for _, n in ipairs(sizes) do
  local text = assert(json.encode(inventory.page(n)))
  bytes[n] = #text
  write(prefix .. "/www/p" .. n .. PATH, text)
end
local port = free_port()
write(prefix .. "/conf/nginx.conf", ([[
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%d;
    root %s/www;
    default_type application/json;
  }
}
]]):format(port, prefix))
sh("chmod -R a+rX " .. prefix)
sh("nginx -p " .. prefix .. " -c conf/nginx.conf")

local curl_loop = "build/bench/curl_loop"
sh("mkdir -p build/bench && cc -O2 -o " .. curl_loop .. " bench/curl_loop.c $(pkg-config --cflags --libs libcurl)")

local results = {}
local ok, err = pcall(function()
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  for _, n in ipairs(sizes) do
    local base = ("http://127.0.0.1:%d/p%d"):format(port, n)
    local url = base .. PATH
    local client = flexiroam.new { api_key = "bench", base_url = base }
    local session = core.session {}
    local headers = { ["x-api-key"] = "bench", ["Accept"] = "application/json" }
    local row = { n = n }
    row.ours = rate(function()
      local page = assert(client:list_inventory())
      assert(#page.items == n)
    end)
    row.hand = rate(function()
      local res = assert(session:request { url = url, headers = headers })
      assert(#cjson.decode(res.body).items == n)
    end)
    row.socket = rate(function()
      local chunks = {}
      local _, code = http.request { url = url, headers = headers, sink = ltn12.sink.table(chunks) }
      assert(code == 200)
      assert(#cjson.decode(table.concat(chunks)).items == n)
    end)
    local p = assert(io.popen(curl_loop .. " " .. url .. " " .. SECONDS))
    row.c = tonumber(p:read("a"))
    p:close()
    local spawned = 0
    local start = now()
    repeat
      local f = assert(io.popen("curl -s -H 'x-api-key: bench' " .. url))
      assert(#cjson.decode(f:read("a")).items == n)
      f:close()
      spawned = spawned + 1
    until now() - start >= SECONDS
    row.spawn = spawned / (now() - start)
    client:close()
    session:close()
    results[#results + 1] = row
  end
end)
os.execute("nginx -p " .. prefix .. " -c conf/nginx.conf -s stop")
os.execute("rm -rf " .. prefix)
if not ok then error(err, 0) end

print(("\nlist_inventory over HTTP/1.1 keep-alive on loopback (nginx), calls/s, %g s each"):format(SECONDS))
print("| page | flexiroam (client) | libcurl + lua-cjson by hand | C libcurl loop (no decode) |"
  .. " luasocket + lua-cjson | curl per call | ours / luasocket | ours / by hand |")
print("|---|---|---|---|---|---|---|---|")
for _, r in ipairs(results) do
  print(("| %d SIMs (%d B) | %.0f | %.0f | %.0f | %.0f | %.1f | %.2fx | %.2fx |"):format(
    r.n, bytes[r.n], r.ours, r.hand, r.c, r.socket, r.spawn, r.ours / r.socket, r.ours / r.hand))
end
