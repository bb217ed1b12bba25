-- JSON decode and encode throughput of flexiroam.json against lua-cjson,
-- measured in the same run and interleaved (ours and cjson alternate block
-- by block, the order flipping every round) so machine noise hits both
-- alike; each figure is the median over the rounds. Inputs: the published
-- list-inventory sample (when the shared folder is there), generated
-- list-inventory pages of 20, 1000 and 10000 SIMs of the sample's shape,
-- and three generated real-world shapes:
--   strings  messages: long texts in many scripts, \u escapes (surrogate
--            pairs too), \" and \n, raw UTF-8, short tags
--   numbers  telemetry: millisecond timestamps, 64-bit ids past 2^53,
--            coordinates, prices, readings, exponents, full-precision
--            ratios and integers past int64 (floats by default)
--   nested   comment threads nested up to 40 deep, small objects
-- Every generator is deterministic (its own LCG): same run, same bytes.
--
-- A second table times selective decode (the `fields` option: json.decode
-- with opts.select, see src/json_decode.c) on list-inventory pages of 20
-- and 1000 SIMs, each SIM given a plan object ({name, id, price}) so that
-- "plan.name" has something to pick: fields iccid, status and plan.name,
-- against the full decode of the same page and against lua-cjson's, in
-- microseconds per call (medians, the three interleaved, the order
-- rotating every round).
--
--   lua5.4 bench/json_bench.lua [seconds per timed block, default 0.08] [only: a Lua pattern on row names]
--
-- Decode MB/s count the bytes of the text decoded; encode MB/s count the
-- bytes of our (compact) output for the same value, for both codecs, so the
-- ratio is a ratio of times. cjson 2.1.0 is not doing the same work on
-- numbers: it decodes them all as floats and encodes with %.14g (rounding
-- integers past 14 digits); ours keeps integers exact and writes the
-- shortest text that reads back as the same float.
--
-- Each row is measured with only its own input alive (made just before,
-- dropped just after), so the rows do not slow each other's collector and
-- allocator down: the 10000-SIM page alone is some 40 MB of Lua heap. With
-- JSON_BENCH_KEEP_ALL=1 every input is made first and kept to the end, as
-- this benchmark did before: then each row runs beside some 60 MB of the
-- others' tables, the small pages the most slowed (both codecs).
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local json = require "flexiroam.json"
local cjson = require "cjson"
local inventory = require "flexiroam.sandbox.inventory"

local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"
local BLOCK = tonumber(arg[1]) or 0.08
local ONLY = arg[2]
local DUMP = os.getenv("JSON_BENCH_DUMP")
local KEEP_ALL = os.getenv("JSON_BENCH_KEEP_ALL") == "1"
local ROUNDS = 11
local BUDGET = 120 -- seconds: later inputs get fewer rounds rather than run long

local clock = os.clock
local started = clock()

local files = require("tools.files")
local read_file = files.slurp

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

-- Median MB/s of ours and theirs on the same argument, interleaved, and
-- the ratio ours/theirs: {median, min, max} of the rounds' own ratios
-- (each round's pair ran back to back, so a slow spell of the machine
-- weighs on both sides of a ratio alike). With `floor` (the API floor,
-- bench/api_floor.c: a function of no argument) timed in the same rounds,
-- also the ratio theirs/floor the same way: the most any codec on Lua's C
-- API could reach against theirs.
local function compare(ours, theirs, arg1, bytes, rounds, floor)
  ours(arg1)
  theirs(arg1)
  local once = math.max(time_block(ours, arg1, 1), time_block(theirs, arg1, 1), 1e-6)
  -- at least 3 calls a block: the 10000-SIM rows otherwise time single calls
  local iters = math.max(3, math.ceil(BLOCK / once))
  local a, b, f = {}, {}, {}
  if floor then floor() end
  for round = 1, rounds do
    local first_ours = round % 2 == 1
    if first_ours then a[#a + 1] = time_block(ours, arg1, iters) end
    b[#b + 1] = time_block(theirs, arg1, iters)
    if floor then f[#f + 1] = time_block(floor, nil, iters) end
    if not first_ours then a[#a + 1] = time_block(ours, arg1, iters) end
  end
  local function spread(num, den)
    local ratios = {}
    for i = 1, rounds do ratios[i] = num[i] / den[i] end
    return { median(ratios), math.min(table.unpack(ratios)), math.max(table.unpack(ratios)) }
  end
  local mb = bytes * iters / 1e6
  return mb / median(a), mb / median(b), spread(b, a), floor and spread(b, f) or nil
end

-- The API floor, when `make bench` has built it (build/bench/api_floor.so).
local floor_ok, api_floor = pcall(function()
  return assert(package.loadlib("./build/bench/api_floor.so", "luaopen_api_floor"))()
end)
if not floor_ok then api_floor = nil end

local decode_ok = works(json.decode, '{"a":[1,2.5,"x",null,true]}')
local encode_ok = works(json.encode, { a = { 1, 2.5, "x", json.null, true } })

---------------------------------------------------------------------------
-- The generated real-world shapes: JSON texts written by hand here (not by
-- either encoder), so they hold what encoders rarely write, \u escapes.

local concat, format = table.concat, string.format

-- A JSON string literal for s (UTF-8): with `uescape`, every non-ASCII
-- character as \uXXXX (a surrogate pair past U+FFFF); otherwise raw.
local function quote(s, uescape)
  local out = {}
  for _, cp in utf8.codes(s) do
    if cp == 34 then
      out[#out + 1] = '\\"'
    elseif cp == 92 then
      out[#out + 1] = "\\\\"
    elseif cp == 10 then
      out[#out + 1] = "\\n"
    elseif cp == 9 then
      out[#out + 1] = "\\t"
    elseif cp < 0x20 then
      out[#out + 1] = format("\\u%04x", cp)
    elseif cp < 0x80 or not uescape then
      out[#out + 1] = utf8.char(cp)
    elseif cp < 0x10000 then
      out[#out + 1] = format("\\u%04x", cp)
    else
      cp = cp - 0x10000
      out[#out + 1] = format("\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF))
    end
  end
  return '"' .. concat(out) .. '"'
end

local WORDS = {
  "the", "roaming", "profile", "was", "activated", "in", "and", "data", "plan", "for", "your", "trip",
  "network", "coverage", "is", "good", "with", "a", "balance", "of", "GB", "left", "thanks", "support",
  "café", "naïve", "Zürich", "São", "Paulo", "données", "mobiles", "straße", "smörgåsbord", "mañana",
  "Kraków", "Ελλάδα", "δεδομένα", "привет", "роуминг", "東京", "での", "ローミング", "数据", "漫游",
  "서울", "데이터", "مرحبا", "שלום", "नमस्ते", "ยินดี", "😀", "🚀", "👍🏽", "🇯🇵",
}
local NAMES = { "Zoë Ångström", "José Núñez", "Łukasz Wójcik", "Søren Kierkegård", "田中 花子", "Ольга Петрова",
  "Νίκος Παππάς", "محمد علي", "Ada Lovelace", "Chloé Dubois" }
local LANGS = { "fr", "de", "pt-BR", "ja", "zh", "ko", "ar", "he", "hi", "th", "el", "ru", "en" }

local function words(next_int, n)
  local w = {}
  for i = 1, n do
    w[i] = WORDS[next_int(#WORDS) + 1]
    if next_int(17) == 0 then w[i] = w[i] .. ",\n" elseif next_int(23) == 0 then w[i] = '"' .. w[i] .. '"' end
  end
  return concat(w, " ")
end

-- (a) string-heavy: support messages, a long body, a subject, tags.
local function strings_text(count)
  local next_int = inventory.rng(11)
  local items = {}
  for i = 1, count do
    local esc = i % 2 == 0 -- every other message written with \u escapes
    local tags = {}
    for t = 1, 1 + next_int(4) do tags[t] = quote(WORDS[next_int(#WORDS) + 1], esc) end
    items[i] = concat({
      '{"id":', i,
      ',"author":', quote(NAMES[next_int(#NAMES) + 1], esc),
      ',"lang":', quote(LANGS[next_int(#LANGS) + 1]),
      ',"subject":', quote(words(next_int, 3 + next_int(6)), esc),
      ',"body":', quote(words(next_int, 20 + next_int(60)), esc),
      ',"tags":[', concat(tags, ","), ']',
      ',"read":', next_int(2) == 0 and "false" or "true", "}",
    })
  end
  return '{"messages":[' .. concat(items, ",") .. '],"next":null}'
end

-- The shortest %.Ng text that reads back as x, as the usual encoders write.
local function float_text(x)
  for prec = 15, 17 do
    local s = format("%." .. prec .. "g", x)
    if tonumber(s) == x then
      if not s:find("[.eEn]") then s = s .. ".0" end
      return s
    end
  end
end

-- (b) number-heavy: telemetry records. Every value is computed with exact
-- IEEE operations (no libm), so the text is the same everywhere.
local function numbers_text(count)
  local rng = inventory.rng(23)
  -- the LCG gives 15 bits a call: two calls for the wide ranges
  local function next_int(n) return (rng(32768) * 32768 + rng(32768)) % n end
  local items = {}
  for i = 1, count do
    local readings = {}
    for r = 1, 8 do
      local kind = next_int(8)
      local v
      if kind < 4 then -- a measurement with 1 to 4 decimals
        v = (next_int(2000000) - 1000000) / 10 ^ (1 + kind)
      elseif kind < 6 then -- a small or large one with an exponent
        v = (1 + next_int(9999)) / 1000 * 10.0 ^ (next_int(40) - 20)
      elseif kind == 6 then -- a computed ratio: 15 to 17 digits
        v = (1 + next_int(30000)) / (30001 + next_int(30000))
      else
        v = next_int(100000) -- an integer reading
      end
      readings[r] = math.type(v) == "integer" and tostring(v) or float_text(v)
    end
    -- every tenth record: an integer past int64 (a float unless big_integers says otherwise)
    local big = i % 10 == 0 and (',"serial":1234567890123456789' .. format("%05d", next_int(100000))) or ""
    items[i] = concat({
      '{"ts":', 1700000000000 + i * 250 + next_int(100),
      ',"id":', 1311000000000000000 + i * 7919 + next_int(1000),
      ',"lat":', float_text((next_int(180000000) - 90000000) / 1e6),
      ',"lon":', float_text((next_int(360000000) - 180000000) / 1e6),
      ',"alt":', float_text(next_int(90000) / 10),
      ',"price":', float_text(next_int(100000) / 100),
      ',"ratio":', float_text((1 + next_int(1000000)) / 1000003),
      ',"seq":', i,
      ',"readings":[', concat(readings, ","), "]",
      big, "}",
    })
  end
  return '{"records":[' .. concat(items, ",") .. '],"count":' .. count .. "}"
end

-- (c) deep nesting with small objects: comment threads, replies nested up
-- to 40 deep (a few long chains, many short branches).
local function nested_text(count)
  local next_int = inventory.rng(37)
  local made = 0
  local function comment(depth)
    made = made + 1
    local parts = {
      '{"id":', made, ',"by":', quote("user" .. next_int(500)), ',"score":', next_int(200) - 20,
      ',"meta":{"edited":', next_int(4) == 0 and "true" or "false", ',"flags":[', next_int(3), "]}",
    }
    local replies = {}
    local n = depth < 40 and (next_int(10) < 6 and 1 or next_int(3)) or 0
    for r = 1, n do
      if made >= count then break end
      replies[r] = comment(depth + 1)
    end
    parts[#parts + 1] = ',"replies":[' .. concat(replies, ",") .. "]}"
    return concat(parts)
  end
  local threads = {}
  while made < count do threads[#threads + 1] = comment(1) end
  return '{"threads":[' .. concat(threads, ",") .. "]}"
end

---------------------------------------------------------------------------

-- Each input is made when its row runs (see the head of this file).
local inputs = {}
local sample_path = SHARED .. "/api/list-inventory.sample.json"
local sample_reason
if read_file(sample_path) == nil then
  sample_reason = ("%s not found: published sample skipped (set FLEXIROAM_SHARED)"):format(sample_path)
else
  inputs[#inputs + 1] = { name = "published sample", text = function() return read_file(sample_path) end }
end
for _, count in ipairs({ 20, 1000, 10000 }) do
  inputs[#inputs + 1] = {
    name = ("%d SIMs"):format(count),
    value = function() return inventory.page(count) end,
  }
end
inputs[#inputs + 1] = { name = "strings: 600 messages", text = function() return strings_text(600) end }
inputs[#inputs + 1] = { name = "numbers: 2000 records", text = function() return numbers_text(2000) end }
inputs[#inputs + 1] = { name = "nested: 3000 comments", text = function() return nested_text(3000) end }

local function fmt(x)
  if x == nil then return "n/a" end
  return ("%.0f"):format(x)
end

-- "2.07 (1.95-2.21)": the median of the rounds' ratios and their range.
local function ratio(r)
  if r == nil then return "n/a" end
  return ("%.2f (%.2f-%.2f)"):format(r[1], r[2], r[3])
end

-- A limit column: the median of cjson's time over the API floor's.
local function limit(r)
  if r == nil then return "n/a" end
  return ("%.2f"):format(r[1])
end

-- The text and the value of an input.
local function make(input)
  if input.text then
    local text = input.text()
    return text, decode_ok and json.decode(text) or cjson.decode(text)
  end
  local value = input.value()
  return encode_ok and json.encode(value) or cjson.encode(value), value
end

local kept = {}
if KEEP_ALL then
  for i, input in ipairs(inputs) do
    if ONLY == nil or input.name:find(ONLY) then kept[i] = { make(input) } end
  end
end

print(("%s, lua-cjson %s; %d interleaved rounds of ~%.2f s blocks, medians; os.clock (CPU time)"):format(
  _VERSION, cjson._VERSION or "?", ROUNDS, BLOCK))
if sample_reason then print("(" .. sample_reason .. ")") end
if KEEP_ALL then print("(JSON_BENCH_KEEP_ALL: every input made first and kept alive throughout)") end
if not decode_ok then print("(json.decode is not available in this build: decode columns are n/a)") end
if not encode_ok then print("(json.encode is not available in this build: encode columns are n/a)") end
if not api_floor then print("(build/bench/api_floor.so not built (make bench builds it): limit columns are n/a)") end
print()
print("| input | bytes | decode ours MB/s | cjson MB/s | ratio (rounds' range) | limit | encode ours MB/s |"
  .. " cjson MB/s | ratio (rounds' range) | limit |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

-- One row. A function of its own, so that nothing of the row outlives it:
-- a dead local of a loop body stays in its register, where the collector
-- still sees it (the 10000-SIM page, some 40 MB, kept alive through every
-- later row, changed their timings both ways).
local function row(i, input)
  local text, value
  if kept[i] then
    text, value = kept[i][1], kept[i][2]
  else
    text, value = make(input)
  end
  if DUMP then -- JSON_BENCH_DUMP=dir: each input's text into dir, for profiling
    files.write(("%s/%s.json"):format(DUMP, input.name:gsub("[^%w]+", "_")), text)
  end
  local rounds = clock() - started > BUDGET and 3 or ROUNDS
  local dec_ours, dec_cjson, dec_ratio, dec_limit, enc_ours, enc_cjson, enc_ratio, enc_limit
  if decode_ok then
    local build_floor
    if api_floor then
      local tape, slots = api_floor.tape(json.decode(text), json.array_mt)
      build_floor = function() return api_floor.build(tape, slots, json.array_mt) end
    end
    dec_ours, dec_cjson, dec_ratio, dec_limit = compare(json.decode, cjson.decode, text, #text, rounds, build_floor)
  end
  if encode_ok then
    local out_bytes = #assert(json.encode(value))
    local walk_floor = api_floor and function() return api_floor.walk(value, json.array_mt, out_bytes) end
    enc_ours, enc_cjson, enc_ratio, enc_limit = compare(json.encode, cjson.encode, value, out_bytes, rounds,
      walk_floor)
  end
  print(("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |"):format(input.name, #text,
    fmt(dec_ours), fmt(dec_cjson), ratio(dec_ratio), limit(dec_limit),
    fmt(enc_ours), fmt(enc_cjson), ratio(enc_ratio), limit(enc_limit)))
end

for i, input in ipairs(inputs) do
  if ONLY == nil or input.name:find(ONLY) then
    row(i, input)
    collectgarbage()
    collectgarbage()
  end
end

---------------------------------------------------------------------------
-- Selective decode: the records' iccid, status and plan.name only.

local FIELDS = { "iccid", "status", "plan.name" }
local SELECT = { big_integers = "string", select = { iccid = true, status = true, plan = { name = true } },
  select_at = "items" }
local FULL = { big_integers = "string" }

-- Median µs per call of each of fns (interleaved, the order rotating).
local function per_call(fns, rounds)
  for _, fn in ipairs(fns) do fn() end
  local once = 1e-6
  for _, fn in ipairs(fns) do once = math.max(once, time_block(fn, nil, 1)) end
  local iters = math.max(3, math.ceil(BLOCK / once))
  local times = {}
  for i = 1, #fns do times[i] = {} end
  for round = 1, rounds do
    for j = 0, #fns - 1 do
      local i = (round + j - 1) % #fns + 1
      times[i][#times[i] + 1] = time_block(fns[i], nil, iters)
    end
  end
  local out = {}
  for i = 1, #fns do out[i] = median(times[i]) / iters * 1e6 end
  return out
end

local function selective_row(count)
  local page = inventory.page(count)
  for i, sim in ipairs(page.items) do
    sim.plan = { name = "FRA-" .. i, id = "plan-" .. i, price = { amount_minor = 100 * i, currency = "EUR" } }
  end
  local text = encode_ok and json.encode(page) or cjson.encode(page)
  page = nil -- luacheck: ignore 311
  local got = json.decode(text, SELECT)
  assert(got.items[count].plan.name == "FRA-" .. count and got.items[1].sku == nil, "select did not select")
  got = nil -- luacheck: ignore 311
  local us = per_call({
    function() return json.decode(text, SELECT) end,
    function() return json.decode(text, FULL) end,
    function() return cjson.decode(text) end,
  }, clock() - started > BUDGET and 3 or ROUNDS)
  print(("| %d SIMs | %d | %s | %.1f | %.1f | %.1f | %.2f | %.2f |"):format(count, #text, table.concat(FIELDS, ", "),
    us[1], us[2], us[3], us[2] / us[1], us[3] / us[1]))
end

if json.can_select and decode_ok and (ONLY == nil or ("selective"):find(ONLY)) then
  print()
  print("| selective decode | bytes | fields | select µs | full decode µs | cjson µs | full / select " ..
    "| cjson / select |")
  print("|---|---:|---|---:|---:|---:|---:|---:|")
  for _, count in ipairs({ 20, 1000 }) do selective_row(count) end
elseif not json.can_select then
  print()
  print("(json.can_select is not set in this build: no selective decode rows)")
end

print()
print(("total %.1f s CPU"):format(clock() - started))
