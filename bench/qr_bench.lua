-- What an eSIM's QR code costs: flexiroam.qr.encode of a sandbox-shaped
-- LPA string (version 4, level M) and each renderer, then a full version 40
-- code, on Lua 5.4 and (when its build is there) LuaJIT, in one table.
-- Figures are medians of the rounds (CPU time, os.clock), per call.
--
--   lua5.4 bench/qr_bench.lua [rounds, default 7]
-- `luajit bench/qr_bench.lua --rows` prints only its own figures, one a
-- line: the 5.4 run puts them beside its own.
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
local jit_runtime = rawget(_G, "jit")
package.cpath = (jit_runtime and "./build/luajit/?.so;" or "./build/5.4/?.so;") .. package.cpath

local qr = require "flexiroam.qr"
local stats = require "bench.stats"

local ROUNDS = math.max(1, math.floor(tonumber(arg[1]) or 7))
local LPA = "LPA:1$smdp.sandbox.flexiroam.test$JKUDM-8GU75-JSVSA-WP889"
local FULL = ("LPA:1$smdp.sandbox.flexiroam.test$"):rep(70):sub(1, 2331) -- version 40 at level M

local m = assert(qr.encode(LPA))
local big = assert(qr.encode(FULL))

-- name, calls per round, the call, what it makes (for the size column)
local CASES = {
  { "encode (LPA, version 4)", 2000, function() qr.encode(LPA):close() end },
  { "svg{module = 8}", 2000, function() return m:svg() end, m:svg() },
  { "png{scale = 8}", 500, function() return m:png() end, m:png() },
  { "terminal()", 5000, function() return m:terminal() end, m:terminal() },
  { "encode (2331 bytes, version 40)", 20, function() qr.encode(FULL):close() end },
  { "png{scale = 8} of version 40", 10, function() return big:png() end, big:png() },
}

local function per_call_us(case)
  local rounds = {}
  for r = 1, ROUNDS do
    local t = os.clock()
    for _ = 1, case[2] do case[3]() end
    rounds[r] = (os.clock() - t) / case[2] * 1e6
  end
  return stats.median(rounds)
end

local function format_us(us)
  if us >= 1000 then return ("%.2f ms"):format(us / 1000) end
  return ("%.1f µs"):format(us)
end

if arg[1] == "--rows" then
  for _, case in ipairs(CASES) do print(format_us(per_call_us(case))) end
  return
end

-- LuaJIT's figures, from a child run of this file, when its build exists.
local jit_figures = {}
local have_jit = io.open("build/luajit/flexiroam/core.so", "rb")
if have_jit then
  have_jit:close()
  local p = io.popen("luajit bench/qr_bench.lua --rows 2>/dev/null")
  for line in p:lines() do jit_figures[#jit_figures + 1] = line end
  p:close()
end

print(("QR codes: median of %d rounds, per call; libqrencode %s"):format(ROUNDS, qr.libqrencode))
print("")
print("| operation | Lua 5.4 | LuaJIT | output |")
print("|---|---|---|---|")
for i, case in ipairs(CASES) do
  local size = case[4] and ("%d bytes"):format(#case[4]) or "-"
  print(("| %s | %s | %s | %s |"):format(case[1], format_us(per_call_us(case)), jit_figures[i] or "not built", size))
end
