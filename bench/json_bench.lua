-- JSON decode and encode throughput of flexiroam.json against lua-cjson,
-- measured in the same run and interleaved (ours and cjson alternate block
-- by block, the order flipping every round) so machine noise hits both
-- alike; each figure is the median over the rounds. Inputs: the published
-- list-inventory sample (when the shared folder is there) and generated
-- list-inventory pages of 20, 1000 and 10000 SIMs of the sample's shape.
--
--   lua5.4 bench/json_bench.lua [seconds per timed block, default 0.08]
--
-- Decode MB/s count the bytes of the text decoded; encode MB/s count the
-- bytes of our (compact) output for the same value, for both codecs, so the
-- ratio is a ratio of times. cjson 2.1.0 is not doing the same work on
-- numbers: it decodes them all as floats and encodes with %.14g (rounding
-- integers past 14 digits); ours keeps integers exact.
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local json = require "flexiroam.json"
local cjson = require "cjson"
local inventory = require "flexiroam.sandbox.inventory"

local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"
local BLOCK = tonumber(arg[1]) or 0.08
local ROUNDS = 7
local BUDGET = 50 -- seconds: later inputs get fewer rounds rather than run long

local clock = os.clock
local started = clock()

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

-- A codec function "works" when it answers without raising (the decoder
-- and encoder land on separate branches: either may be a placeholder).
local function works(fn, arg1)
  local ok, result = pcall(fn, arg1)
  return ok and result ~= nil
end

local median = require("bench.stats").median

-- Seconds for `iters` calls of fn(arg1), after a full collection so one
-- block's garbage is not charged to the next.
local function time_block(fn, arg1, iters)
  collectgarbage()
  collectgarbage()
  local t0 = clock()
  for _ = 1, iters do fn(arg1) end
  return clock() - t0
end

-- Median MB/s of ours and theirs on the same argument, interleaved.
local function compare(ours, theirs, arg1, bytes, rounds)
  ours(arg1)
  theirs(arg1)
  local once = math.max(time_block(ours, arg1, 1), time_block(theirs, arg1, 1), 1e-6)
  local iters = math.max(1, math.ceil(BLOCK / once))
  local a, b = {}, {}
  for round = 1, rounds do
    local first_ours = round % 2 == 1
    if first_ours then a[#a + 1] = time_block(ours, arg1, iters) end
    b[#b + 1] = time_block(theirs, arg1, iters)
    if not first_ours then a[#a + 1] = time_block(ours, arg1, iters) end
  end
  local mb = bytes * iters / 1e6
  return mb / median(a), mb / median(b)
end

local decode_ok = works(json.decode, '{"a":[1,2.5,"x",null,true]}')
local encode_ok = works(json.encode, { a = { 1, 2.5, "x", json.null, true } })

local inputs = {}
local sample_path = SHARED .. "/api/list-inventory.sample.json"
local sample = read_file(sample_path)
if sample then
  inputs[#inputs + 1] = {
    name = "list-inventory.sample.json",
    text = sample,
    value = decode_ok and json.decode(sample) or cjson.decode(sample),
  }
end
for _, count in ipairs({ 20, 1000, 10000 }) do
  local value = inventory.page(count)
  inputs[#inputs + 1] = {
    name = ("page(%d)"):format(count),
    value = value,
    text = encode_ok and json.encode(value) or cjson.encode(value),
  }
end

local function fmt(x)
  if x == nil then return "n/a" end
  return ("%.0f"):format(x)
end

local function ratio(a, b)
  if a == nil or b == nil then return "n/a" end
  return ("%.2f"):format(a / b)
end

print(("%s, lua-cjson %s; %d interleaved rounds of ~%.2f s blocks, medians; os.clock (CPU time)"):format(
  _VERSION, cjson._VERSION or "?", ROUNDS, BLOCK))
if not sample then
  print(("(%s not found: published sample skipped; set FLEXIROAM_SHARED)"):format(sample_path))
end
if not decode_ok then print("(json.decode is not available in this build: decode columns are n/a)") end
if not encode_ok then print("(json.encode is not available in this build: encode columns are n/a)") end
print()
print("| input | bytes | decode ours MB/s | cjson MB/s | ratio | encode ours MB/s | cjson MB/s | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")

for _, input in ipairs(inputs) do
  local rounds = clock() - started > BUDGET and 3 or ROUNDS
  local dec_ours, dec_cjson, enc_ours, enc_cjson
  if decode_ok then
    dec_ours, dec_cjson = compare(json.decode, cjson.decode, input.text, #input.text, rounds)
  end
  if encode_ok then
    local out_bytes = #assert(json.encode(input.value))
    enc_ours, enc_cjson = compare(json.encode, cjson.encode, input.value, out_bytes, rounds)
  end
  print(("| %s | %d | %s | %s | %s | %s | %s | %s |"):format(input.name, #input.text,
    fmt(dec_ours), fmt(dec_cjson), ratio(dec_ours, dec_cjson),
    fmt(enc_ours), fmt(enc_cjson), ratio(enc_ours, enc_cjson)))
end
print()
print(("total %.1f s CPU"):format(clock() - started))
