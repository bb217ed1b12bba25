-- Bulk calls against a slow API: get_usage through client:usage_many at
-- several concurrencies, against a sequential luasocket loop (socket.http
-- + lua-cjson, what a script would do by hand), in the same run. The
-- sandbox (bin/flexiroam-sandbox, on 127.0.0.1) answers every request
-- 50 ms late, as a far-away API would; the ideal time for N calls at C in
-- flight is N * 50 ms / C.
--
--   lua5.4 bench/batch_bench.lua [calls, default 1000] [slow-row calls, default 200]
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local flexiroam = require "flexiroam"
local core = require "flexiroam.core"
local cjson = require "cjson"
local http = require "socket.http"
local ltn12 = require "ltn12"
local sandbox = require "spec.support.sandbox"

local N = tonumber(arg[1]) or 1000
local SLOW_N = tonumber(arg[2]) or 200 -- concurrency 1 and the sequential loop: N of them would take N * 50 ms
local LATENCY = 0.05
local KEY = "sandbox-key"

local now = core.monotonic

local sb = sandbox.start { sims = 1200, seed = 9, latency_ms = math.floor(LATENCY * 1000) }
local rows, memory = {}, {}
local ok, err = pcall(function()
  local client = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "" }
  local iccids = {}
  for sim in client:inventory { chip_type = "esim", limit = 100 } do iccids[#iccids + 1] = sim.iccid end
  local function list(n)
    local out = {}
    for i = 1, n do out[i] = iccids[(i - 1) % #iccids + 1] end
    return out
  end

  -- The hand-written loop: one socket.http request (a new connection
  -- each: socket.http does not keep them alive) and one cjson.decode a call.
  do
    local calls = list(SLOW_N)
    local t0 = now()
    for _, iccid in ipairs(calls) do
      local chunks = {}
      local _, code = http.request { url = sb.url .. "/v1/public-v2/get-usage?iccid=" .. iccid,
        headers = { ["x-api-key"] = KEY, ["Accept"] = "application/json" }, sink = ltn12.sink.table(chunks) }
      assert(code == 200, "status " .. tostring(code))
      assert(cjson.decode(table.concat(chunks)).item.iccid == iccid)
    end
    local elapsed = now() - t0
    rows[#rows + 1] = { name = "luasocket + cjson, sequential", n = SLOW_N, c = 1, elapsed = elapsed }
  end

  local function batch_row(c, n)
    local calls = list(n)
    collectgarbage()
    collectgarbage()
    local base_kb, peak_kb = collectgarbage("count"), 0
    local t0 = now()
    local results, summary = client:usage_many(calls, { concurrency = c, retries = 0, on_progress = function()
      local kb = collectgarbage("count")
      if kb > peak_kb then peak_kb = kb end
    end })
    local elapsed = now() - t0
    assert(summary.ok == n, summary.failed .. " calls failed: " .. tostring(results[1].err))
    collectgarbage()
    collectgarbage()
    local kept_kb = collectgarbage("count") - base_kb
    results = nil -- luacheck: ignore 311
    return { name = "client:usage_many, concurrency " .. c, n = n, c = c, elapsed = elapsed,
      peak_kb = peak_kb - base_kb, kept_kb = kept_kb }
  end

  rows[#rows + 1] = batch_row(1, SLOW_N)
  for _, c in ipairs { 8, 32, 64 } do rows[#rows + 1] = batch_row(c, N) end
  for _, n in ipairs { math.floor(N / 4), N } do memory[#memory + 1] = batch_row(32, n) end
  client:close()
end)
sb:stop()
if not ok then error(err, 0) end

local sequential = rows[1].n / rows[1].elapsed
print(("\nget_usage against the sandbox at %d ms a request (127.0.0.1); ideal = N x %d ms / concurrency")
  :format(LATENCY * 1000, LATENCY * 1000))
print("| how | calls | in flight | seconds | calls/s | time / ideal | speedup over sequential |")
print("|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
  local ideal = r.n * LATENCY / r.c
  print(("| %s | %d | %d | %.2f | %.0f | %.2fx | %.1fx |"):format(r.name, r.n, r.c, r.elapsed, r.n / r.elapsed,
    r.elapsed / ideal, (r.n / r.elapsed) / sequential))
end
print("\nLua heap of a usage_many at concurrency 32 as N grows (KB above the heap before the call)")
print("| calls | peak during the run | kept after (the results) | kept per call |")
print("|---|---|---|---|")
for _, r in ipairs(memory) do
  print(("| %d | %.0f | %.0f | %.2f |"):format(r.n, r.peak_kb, r.kept_kb, r.kept_kb / r.n))
end

local at32
for _, r in ipairs(rows) do if r.c == 32 then at32 = r end end
local ratio, speedup = at32.elapsed / (at32.n * LATENCY / at32.c), (at32.n / at32.elapsed) / sequential
print(("\ntarget at 32 in flight: <= 1.2x the ideal (%.2fx: %s), >= 25x the sequential loop (%.1fx: %s)"):format(
  ratio, ratio <= 1.2 and "met" or "MISSED", speedup, speedup >= 25 and "met" or "MISSED"))
