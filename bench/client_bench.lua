-- The client's own cost per call, without sockets: client:list_inventory
-- through a transport that answers from memory, against what a user would
-- write by hand with the same transport (request table, json.decode, a
-- status check). The difference is the pipeline: validation, the request's
-- building, the limiter and retry bookkeeping, the answer's shape, models
-- and hooks. The two alternate round by round; figures are medians (CPU
-- time, os.clock). A last column gives the pipeline's cost with the CPU's
-- caches evicted before each call, as a request over the network leaves
-- them (see `evicted` below).
--
-- A second table: the same call with fields = { "iccid", "status",
-- "plan.name" } (selective decode, models that hold those fields only)
-- against the whole records, on pages of 20 and 1000 SIMs that have a plan
-- object each, and the by-hand decodes of the same page, whole and with
-- json.decode's select. Rounds of the 1000-SIM page make fewer calls
-- (20000 * 20 / 1000 by default), so each round takes about as long.
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

local function page_of(n, with_plans)
  local items = {}
  for i = 1, n do
    items[i] = { iccid = string.format("89852350824010%05d", i), sku = 4024081013108 + i, chip_type = "esim",
      availability_sku = "free___x", balances = { main_data = 1024 * i } }
    if with_plans then
      items[i].status = "active"
      items[i].plan = { name = "FRA-" .. i, id = "plan-" .. i, price = { amount_minor = 100 * i, currency = "EUR" } }
    end
  end
  return json.encode { items = json.array(items), page_key = json.null }
end

local FIELDS = { "iccid", "status", "plan.name" }
local SELECT = { big_integers = "string", select = { iccid = true, status = true, plan = { name = true } },
  select_at = "items" }

local function contenders(sims, with_plans)
  local res = { status = 200, headers = { ["content-type"] = "application/json" }, body = page_of(sims, with_plans),
    http_version = "1.1", reused = true, timings = {}, url = URL }
  local transport = { request = function() return res end }
  local client = flexiroam.new { api_key = "k", base_url = "https://api.example.test", transport = transport }
  local headers = { ["x-api-key"] = "k", ["Accept"] = "application/json" }
  local fields = { fields = FIELDS }
  return {
    ours = function() return assert(client:list_inventory { limit = 20 }) end,
    by_hand = function()
      local r = transport:request { method = "GET", url = URL, headers = headers }
      assert(r.status == 200)
      return assert(json.decode(r.body, { big_integers = "string" }))
    end,
    ours_fields = function() return assert(client:list_inventory({ limit = 20 }, fields)) end,
    by_hand_select = function()
      local r = transport:request { method = "GET", url = URL, headers = headers }
      assert(r.status == 200)
      return assert(json.decode(r.body, SELECT))
    end,
  }
end

local function per_call_us(fn, calls)
  calls = calls or CALLS
  local t0 = os.clock()
  for _ = 1, calls do fn() end
  return (os.clock() - t0) / calls * 1e6
end

-- A request over the network leaves the CPU's caches full of the kernel's,
-- libcurl's and the server's data: the pipeline then runs with its code
-- and tables evicted, and costs more than back to back from memory. The
-- last column makes that state for both contenders: each call follows a
-- read of 4 MiB (past a 1-2 MiB L2), and the pipeline's own cost is the
-- median of the rounds' differences, the read cancelling out.
local EVICT = string.rep("x", 4 * 1024 * 1024)
local function evicted(fn)
  return function()
    fn()
    return EVICT:find("y", 1, true)
  end
end
local COLD_CALLS = math.max(10, math.floor(CALLS / 10))

-- Alternating order, so a slow patch of the machine hits both alike;
-- -> the medians of a and b, and of the rounds' differences a - b.
local function alternate(a, b, calls)
  local ta, tb, diff = {}, {}, {}
  for round = 1, ROUNDS do
    if round % 2 == 1 then
      ta[round] = per_call_us(a, calls); tb[round] = per_call_us(b, calls)
    else
      tb[round] = per_call_us(b, calls); ta[round] = per_call_us(a, calls)
    end
    diff[round] = ta[round] - tb[round]
  end
  return stats.median(ta), stats.median(tb), stats.median(diff)
end

print(string.format("client_bench: %d calls a round, %d rounds, medians of CPU time per call", CALLS, ROUNDS))
print("| page | client:list_inventory µs | transport + json.decode by hand µs | the pipeline's own µs |" ..
  " the pipeline's own, each call after a 4 MiB read µs |")
print("|---|---:|---:|---:|---:|")
for _, sims in ipairs { 0, 20 } do
  local c = contenders(sims)
  for _ = 1, 2000 do c.ours(); c.by_hand() end -- warm up
  local o, h = alternate(c.ours, c.by_hand)
  local _, _, cold = alternate(evicted(c.ours), evicted(c.by_hand), COLD_CALLS)
  print(string.format("| %d SIMs | %.2f | %.2f | %.2f | %.2f |", sims, o, h, o - h, cold))
end

print()
print("| page, records with a plan | client µs | client, fields = iccid, status, plan.name µs | whole / fields " ..
  "| by hand json.decode µs | by hand with select µs |")
print("|---|---:|---:|---:|---:|---:|")
for _, sims in ipairs { 20, 1000 } do
  local c = contenders(sims, true)
  local page = c.ours_fields()
  assert(page.items[sims].plan.name == "FRA-" .. sims and not pcall(function() return page.items[1].sku end))
  local calls = math.max(10, math.floor(CALLS * 20 / math.max(sims, 20)))
  for _ = 1, math.max(5, math.floor(calls / 10)) do c.ours(); c.ours_fields(); c.by_hand(); c.by_hand_select() end
  local names = { "ours", "ours_fields", "by_hand", "by_hand_select" }
  local times = { ours = {}, ours_fields = {}, by_hand = {}, by_hand_select = {} }
  for round = 1, ROUNDS do
    for j = 0, #names - 1 do -- the order rotating round by round
      local name = names[(round + j - 1) % #names + 1]
      collectgarbage()
      times[name][round] = per_call_us(c[name], calls)
    end
  end
  local m = {}
  for name, list in pairs(times) do m[name] = stats.median(list) end
  print(string.format("| %d SIMs | %.2f | %.2f | %.2f | %.2f | %.2f |", sims, m.ours, m.ours_fields,
    m.ours / m.ours_fields, m.by_hand, m.by_hand_select))
end
