-- The codec's strings take SSSE3 paths on x86 CPUs that have it (16 bytes
-- at a time: src/utf8_lookup.h) and portable ones elsewhere; both must give
-- the same answers. FLEXIROAM_JSON_PORTABLE=1 makes a process take the
-- portable ones, so a child run with it encodes and decodes the same
-- strings and texts as this process, and every answer is compared.
local processes = require("spec.support.test_processes")
local json = require("flexiroam.json")

-- Made from a fixed seed in both processes: strings of every length to 200
-- bytes, of ASCII, 2-, 3- and 4-byte characters, bytes to escape and
-- broken sequences; and JSON texts of such strings, raw or \u-escaped.
local CORPUS = [==[
local json = require("flexiroam.json")
local rnd = require("spec.support.select_oracle").rng(12345)
local function next_int(n) return rnd(n) - 1 end
local good = { "a", "Z", " ", "é", "€", "東", "😀", "data", "Ελλάδα", "\194\128", "\239\191\191", "\244\143\191\191" }
local broken = { "\128", "\192\175", "\224\159\191", "\237\160\128", "\244\144\128\128", "\255", "\226\130",
  "\240\159\152", "\195" }
local escaped = { '"', "\\", "\n", "\0", "\31", "\t" }
local escapes = { "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "\\n", "\\\"", "\\u0041", "\\ud800", "\\uZZZZ", "\\q" }
local answers = {}
local function answer(ok, result, err)
  if ok then return result end
  return "error: " .. tostring(err and err.message) .. " @" .. tostring(err and (err.offset or err.path))
end
for i = 1, 3000 do
  local parts, length = {}, next_int(200)
  local bad_odds = i % 3 == 0 and 4 or 0
  local total = 0
  while total < length do
    local r, piece = next_int(100)
    if r < bad_odds then piece = broken[next_int(#broken) + 1]
    elseif r < bad_odds + 6 then piece = escaped[next_int(#escaped) + 1]
    else piece = good[next_int(#good) + 1] end
    parts[#parts + 1] = piece
    total = total + #piece
  end
  local s = table.concat(parts)
  local out, err = json.encode(s)
  answers[#answers + 1] = answer(out ~= nil, out, err)
  out, err = json.encode({ [s] = { s } })
  answers[#answers + 1] = answer(out ~= nil, out, err)
  -- the same pieces as a JSON text: raw, with some escapes between them
  for j = 1, #parts do
    if next_int(5) == 0 then parts[j] = escapes[next_int(#escapes) + 1] end
    if parts[j] == '"' or parts[j] == "\\" then parts[j] = "\\" .. parts[j] end
  end
  local text = '["' .. table.concat(parts) .. '"]'
  local value
  value, err = json.decode(text)
  answers[#answers + 1] = answer(value ~= nil, value and value[1], err)
end
return answers
]==]

describe("json: the portable string paths", function()
  it("answer every string and text as the SSSE3 paths do", function()
    if not json.simd then
      pending("this CPU has no SSSE3 (or FLEXIROAM_JSON_PORTABLE is set): only the portable paths run here")
      return
    end
    local here = assert(load(CORPUS, "=corpus"))()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(processes.paths_prelude(), "local answers = (function() ", CORPUS, " end)()\n",
      "assert(require('flexiroam.json').simd == false, 'FLEXIROAM_JSON_PORTABLE=1 did not take the portable paths')\n",
      "io.write(require('flexiroam.json').encode(answers))\n")
    f:close()
    local child = assert(io.popen("FLEXIROAM_JSON_PORTABLE=1 " .. processes.lua_command(file) .. " 2>&1", "r"))
    local printed = child:read("*a")
    child:close()
    os.remove(file)
    local there = json.decode(printed)
    assert(type(there) == "table", "the child printed: " .. printed:sub(1, 300))
    assert.equal(#here, #there)
    local errors = 0
    for i = 1, #here do
      assert.equal(here[i], there[i], "answer " .. i)
      if here[i]:find("^error: ") then errors = errors + 1 end
    end
    -- both kinds of answer, and strings long enough for the 16-byte paths
    assert(errors > 500 and #here - errors > 3000, ("%d errors of %d answers"):format(errors, #here))
  end)
end)
