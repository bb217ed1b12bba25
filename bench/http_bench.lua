-- Per-call cost of client:list_inventory on loopback with keep-alive,
-- against what a user would pick instead, in the same run. nginx (started
-- here, on 127.0.0.1, private prefix) serves list-inventory pages of 20 and
-- 1000 SIMs of the published sample's shape.
--
--   lua5.4 bench/http_bench.lua [seconds per contender, default 2] [rounds, default 8]
--
-- A shared machine speeds up and slows down over seconds, so the contenders
-- take turns: each runs once per round for seconds/rounds, and what is
-- reported is each one's median over the rounds, and for the ratios the
-- median of the per-round ratios.
--
-- `make bench` runs it a second time under `taskset -c 0`, the client and
-- nginx sharing one CPU. On a virtual machine with idle CPUs, a request
-- that wakes the other CPU waits tens of microseconds for it (the C loop
-- here: about 74 us a call across two CPUs, 27 us on one), which shrinks
-- every ratio between keep-alive clients; on one CPU that wait is gone and
-- what remains is each contender's own work plus nginx's.
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local flexiroam = require "flexiroam"
local core = require "flexiroam.core"
local cjson = require "cjson"
local inventory = require "flexiroam.sandbox.inventory"
local json = flexiroam.json

local SECONDS = tonumber(arg[1]) or 2
local ROUNDS = math.max(1, math.floor(tonumber(arg[2]) or 8))
local SLICE = SECONDS / ROUNDS
local PATH = "/v1/public-v2/list-inventory"
local FIELDS = { "iccid", "status", "plan.name" }

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("command failed: " .. cmd) end
end

local write = require("tools.files").write

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

-- Calls fn until SLICE seconds have passed; returns calls per second. The
-- contenders share one Lua heap and take turns: a full collection before
-- the timed calls makes each pay for its own garbage, not for what the one
-- before it left (the selective call followed the cjson-by-hand one, the
-- heaviest in garbage, and swept its pages).
local function rate(fn, batch)
  batch = batch or 10
  for _ = 1, batch do fn() end
  collectgarbage()
  local n, start = 0, now()
  repeat
    for _ = 1, batch do fn() end
    n = n + batch
  until now() - start >= SLICE
  return n / (now() - start)
end

local median = require("bench.stats").median

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
    local contenders = {
      ours = function()
        local page = assert(client:list_inventory())
        assert(#page.items == n)
      end,
      fields = function() -- selective decode (issue 15): what a scan of three fields costs
        local page = assert(client:list_inventory(nil, { fields = FIELDS }))
        assert(#page.items == n)
      end,
      hand = function()
        local res = assert(session:request { url = url, headers = headers })
        assert(#cjson.decode(res.body).items == n)
      end,
      socket = function()
        local chunks = {}
        local _, code = http.request { url = url, headers = headers, sink = ltn12.sink.table(chunks) }
        assert(code == 200)
        assert(#cjson.decode(table.concat(chunks)).items == n)
      end,
      c = function()
        local p = assert(io.popen(curl_loop .. " " .. url .. " " .. SLICE))
        local r = tonumber(p:read("a"))
        p:close()
        return r
      end,
      spawn = function()
        local f = assert(io.popen("curl -s -H 'x-api-key: bench' " .. url))
        assert(#cjson.decode(f:read("a")).items == n)
        f:close()
      end,
    }
    -- The pair the target is about runs back to back, in alternating order.
    -- So does the pair of the selective-decode target (3 fields against the C loop).
    local orders = { { "ours", "socket", "hand", "fields", "c", "spawn" },
      { "socket", "ours", "hand", "c", "fields", "spawn" } }
    local order = orders[1]
    local per_round = {}
    for _, name in ipairs(order) do per_round[name] = {} end
    local ratio_socket, ratio_hand, ratio_c, ratio_fields_c = {}, {}, {}, {}
    for round = 1, ROUNDS do
      for _, name in ipairs(orders[round % 2 + 1]) do
        local r
        if name == "c" then r = contenders.c() else r = rate(contenders[name], name == "spawn" and 1 or 10) end
        table.insert(per_round[name], r)
      end
      table.insert(ratio_socket, per_round.ours[#per_round.ours] / per_round.socket[#per_round.socket])
      table.insert(ratio_hand, per_round.ours[#per_round.ours] / per_round.hand[#per_round.hand])
      table.insert(ratio_c, per_round.ours[#per_round.ours] / per_round.c[#per_round.c])
      table.insert(ratio_fields_c, per_round.fields[#per_round.fields] / per_round.c[#per_round.c])
    end
    local row = { n = n, ratio_socket = median(ratio_socket), ratio_hand = median(ratio_hand),
      min_socket = math.min(table.unpack(ratio_socket)), max_socket = math.max(table.unpack(ratio_socket)),
      ratio_c = median(ratio_c), ratio_fields_c = median(ratio_fields_c),
      min_fields_c = math.min(table.unpack(ratio_fields_c)), max_fields_c = math.max(table.unpack(ratio_fields_c)) }
    for _, name in ipairs(order) do row[name] = median(per_round[name]) end
    client:close()
    session:close()
    results[#results + 1] = row
  end
end)
os.execute("nginx -p " .. prefix .. " -c conf/nginx.conf -s stop")
os.execute("rm -rf " .. prefix)
if not ok then error(err, 0) end

print(("\nlist_inventory over HTTP/1.1 keep-alive on loopback (nginx), calls/s, medians of %d rounds"
  .. " of %g s each"):format(ROUNDS, SLICE))
print("| page | flexiroam (client) | libcurl + lua-cjson by hand | C libcurl loop (no decode) |"
  .. " luasocket + lua-cjson | curl per call | ours / luasocket (rounds' range) | ours / by hand |")
print("|---|---|---|---|---|---|---|---|")
for _, r in ipairs(results) do
  print(("| %d SIMs (%d B) | %.0f | %.0f | %.0f | %.0f | %.1f | %.2fx (%.2f-%.2f) | %.2fx |"):format(
    r.n, bytes[r.n], r.ours, r.hand, r.c, r.socket, r.spawn, r.ratio_socket, r.min_socket, r.max_socket,
    r.ratio_hand))
end

print(("\nSelective decode: list_inventory with fields = {%s}, same run, calls/s"):format(
  table.concat(FIELDS, ", ")))
print("| page | flexiroam, whole records | flexiroam, 3 fields | C libcurl loop (no decode) | whole / C loop |"
  .. " 3 fields / C loop (rounds' range) |")
print("|---|---|---|---|---|---|")
for _, r in ipairs(results) do
  print(("| %d SIMs | %.0f | %.0f | %.0f | %.2fx | %.2fx (%.2f-%.2f) |"):format(
    r.n, r.ours, r.fields, r.c, r.ratio_c, r.ratio_fields_c, r.min_fields_c, r.max_fields_c))
end
