-- The client's own cost per call, without sockets: client:list_inventory
-- through a transport that answers from memory, against what a user would
-- write by hand with the same transport (request table, json.decode, a
-- status check). The difference is the pipeline: validation, the request's
-- building, the limiter and retry bookkeeping, the answer's shape, models
-- and hooks. The two alternate round by round; figures are medians (CPU
-- time, os.clock).
--
--   lua5.4 bench/client_bench.lua [calls per round, default 20000] [rounds, default 7]
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local flexiroam = require "flexiroam"
local stats = require "bench.stats"
local json = flexiroam.json

local CALLS = math.floor(tonumber(arg[1]) or 20000)
local ROUNDS = math.max(1, math.floor(tonumber(arg[2]) or 7))
local URL = "https://api.example.test/v1/public-v2/list-inventory?limit=20"

local function page_of(n)
  local items = {}
  for i = 1, n do
    items[i] = { iccid = string.format("89852350824010%05d", i), sku = 4024081013108 + i, chip_type = "esim",
      availability_sku = "free___x", balances = { main_data = 1024 * i } }
  end
  return json.encode { items = json.array(items), page_key = json.null }
end

local function contenders(sims)
  local res = { status = 200, headers = { ["content-type"] = "application/json" }, body = page_of(sims),
    http_version = "1.1", reused = true, timings = {}, url = URL }
  local transport = { request = function() return res end }
  local client = flexiroam.new { api_key = "k", base_url = "https://api.example.test", transport = transport }
  local headers = { ["x-api-key"] = "k", ["Accept"] = "application/json" }
  return {
    ours = function() return assert(client:list_inventory { limit = 20 }) end,
    by_hand = function()
      local r = transport:request { method = "GET", url = URL, headers = headers }
      assert(r.status == 200)
      return assert(json.decode(r.body, { big_integers = "string" }))
    end,
  }
end

local function per_call_us(fn)
  local t0 = os.clock()
  for _ = 1, CALLS do fn() end
  return (os.clock() - t0) / CALLS * 1e6
end

print(string.format("client_bench: %d calls a round, %d rounds, medians of CPU time per call", CALLS, ROUNDS))
print("| page | client:list_inventory µs | transport + json.decode by hand µs | the pipeline's own µs |")
print("|---|---:|---:|---:|")
for _, sims in ipairs { 0, 20 } do
  local c = contenders(sims)
  for _ = 1, 2000 do c.ours(); c.by_hand() end -- warm up
  local ours, by_hand = {}, {}
  for round = 1, ROUNDS do
    -- Alternating order, so a slow patch of the machine hits both alike.
    if round % 2 == 1 then
      ours[round] = per_call_us(c.ours); by_hand[round] = per_call_us(c.by_hand)
    else
      by_hand[round] = per_call_us(c.by_hand); ours[round] = per_call_us(c.ours)
    end
  end
  local o, h = stats.median(ours), stats.median(by_hand)
  print(string.format("| %d SIMs | %.2f | %.2f | %.2f |", sims, o, h, o - h))
end
