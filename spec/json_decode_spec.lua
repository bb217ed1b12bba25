-- json.decode: strict RFC 8259 decoding, number exactness, options, errors.
-- Runs under Lua 5.4 and LuaJIT (5.1 syntax only; integer checks guarded).
local json = require "flexiroam.json"
local core = require "flexiroam.core"
local cjson = require "cjson"
local procs = require "spec.support.test_processes"

local HAS_INTEGERS = math.type ~= nil
local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"

local function decode_error(text, opts)
  local value, err = json.decode(text, opts)
  assert(value == nil, "expected a decode error for " .. string.format("%q", text))
  assert(type(err) == "table" and err.kind == "decode",
    "expected a decode error object for " .. string.format("%q", text) .. ", got " .. tostring(err))
  return err
end

local function ok(text, opts)
  local value, err = json.decode(text, opts)
  assert(err == nil, "unexpected error for " .. string.format("%q", text) .. ": " .. tostring(err))
  return value
end

local function is_neg_zero(x)
  return x == 0 and 1 / x == -math.huge
end

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

describe("json.decode", function()
  describe("scalars", function()
    it("decodes literals and strings", function()
      assert.equal(true, ok("true"))
      assert.equal(false, ok("false"))
      assert.equal("hello", ok('"hello"'))
      assert.equal("", ok('""'))
    end)

    it("decodes null as the same light userdata as cjson.null", function()
      assert.equal(cjson.null, ok("null"))
      assert.equal(json.null, ok("null"))
      assert.equal("userdata", type(ok("null")))
    end)

    it("accepts surrounding JSON whitespace only", function()
      assert.equal(1, ok(" \t\r\n1 \t\r\n"))
      decode_error("\f1")
      decode_error("1\v")
      decode_error("\194\160" .. "1") -- no-break space
    end)

    it("rejects a UTF-8 byte order mark", function()
      local err = decode_error("\239\187\191[]")
      assert.equal(1, err.offset)
    end)

    it("rejects empty input", function()
      assert.matches("empty input", decode_error("").message)
      assert.matches("empty input", decode_error(" \n ").message)
    end)

    it("rejects trailing characters", function()
      assert.matches("trailing characters", decode_error("[1] x").message)
      assert.matches("trailing characters", decode_error("1 2").message)
      assert.matches("trailing characters", decode_error("{}}").message)
      assert.matches("trailing characters", decode_error("1\0").message)
    end)

    it("rejects bad literals", function()
      for _, text in ipairs({"tru", "nul", "fals", "True", "NULL", "[nul]", "truex", "nan"}) do
        decode_error(text)
      end
    end)
  end)

  describe("integers", function()
    it("keeps integer literals exact", function()
      assert.equal(4024081013108, ok("4024081013108"))
      assert.equal(-42, ok("-42"))
      assert.equal(0, ok("0"))
      assert.equal(9007199254740992, ok("9007199254740992"))
      if HAS_INTEGERS then
        assert.equal("integer", math.type(ok("4024081013108")))
        assert.equal("integer", math.type(ok("0")))
        assert.equal("integer", math.type(ok("1")))
        assert.equal("integer", math.type(ok("-42")))
      end
    end)

    it("holds 2^53 + 1 as an integer where Lua has integers", function()
      if HAS_INTEGERS then
        local v = ok("9007199254740993")
        assert.equal("integer", math.type(v))
        assert.equal("9007199254740993", tostring(v))
      else
        -- doubles: past 2^53 big_integers applies (default: float, rounded)
        assert.equal(9007199254740992, ok("9007199254740993"))
        assert.equal("9007199254740993", ok("9007199254740993", {big_integers = "string"}))
        assert.equal("-9007199254740993", ok("-9007199254740993", {big_integers = "string"}))
        assert.equal(9007199254740992, ok("9007199254740992", {big_integers = "error"}))
        assert.equal(-9007199254740992, ok("-9007199254740992", {big_integers = "error"}))
        assert.matches("out of range", decode_error("9007199254740993", {big_integers = "error"}).message)
      end
    end)

    if HAS_INTEGERS then
      it("holds int64 max and min exactly", function()
        assert.equal(math.maxinteger, ok("9223372036854775807"))
        assert.equal(math.mininteger, ok("-9223372036854775808"))
        assert.equal("integer", math.type(ok("-9223372036854775808")))
        assert.equal(math.maxinteger, ok("9223372036854775807", {big_integers = "error"}))
        assert.equal(math.mininteger, ok("-9223372036854775808", {big_integers = "error"}))
      end)

      it("turns integers past int64 into floats by default", function()
        local v = ok("9223372036854775808")
        assert.equal("float", math.type(v))
        assert.equal(2.0 ^ 63, v)
        v = ok("-9223372036854775809")
        assert.equal("float", math.type(v))
        assert.equal(-(2.0 ^ 63), v)
        assert.equal(1e30, ok("1000000000000000000000000000000"))
        assert.equal(2.0 ^ 64, ok("18446744073709551616", {big_integers = "float"}))
      end)

      it("keeps integers past int64 as digit strings with big_integers = 'string'", function()
        local opts = {big_integers = "string"}
        assert.equal("9223372036854775808", ok("9223372036854775808", opts))
        assert.equal("-9223372036854775809", ok("-9223372036854775809", opts))
        assert.equal("123456789012345678901234567890", ok("[123456789012345678901234567890]", opts)[1])
        assert.equal(math.maxinteger, ok("9223372036854775807", opts))
        -- only integer literals: a fraction or exponent is a float as usual
        assert.equal(1e19, ok("1e19", opts))
      end)

      it("rejects integers past int64 with big_integers = 'error'", function()
        local err = decode_error('[1, 9223372036854775808]', {big_integers = "error"})
        assert.matches("out of range", err.message)
        assert.equal(5, err.offset)
        decode_error("-9223372036854775809", {big_integers = "error"})
      end)
    end

    it("decodes -0 as a float negative zero", function()
      local v = ok("-0")
      assert.is_true(is_neg_zero(v))
      if HAS_INTEGERS then assert.equal("float", math.type(v)) end
      assert.is_true(is_neg_zero(ok("-0.0")))
      assert.is_true(is_neg_zero(ok("-0e10")))
      assert.is_false(is_neg_zero(ok("0")))
    end)
  end)

  describe("floats", function()
    it("decodes floats correctly rounded", function()
      assert.equal(1.5e300, ok("1.5e300"))
      assert.equal(5e-324, ok("5e-324"))
      assert.is_true(ok("5e-324") > 0)
      assert.equal(0.1, ok("0.1"))
      assert.equal(100, ok("1E+2"))
      assert.equal(0.0025, ok("2.5e-3"))
      assert.equal(-1.25, ok("-1.25"))
      if HAS_INTEGERS then
        assert.equal("float", math.type(ok("1.0")))
        assert.equal("float", math.type(ok("1e2")))
      end
    end)

    it("agrees with tonumber on hard cases", function()
      local cases = {
        "0.30000000000000004", "2.2250738585072014e-308", "2.2250738585072011e-308",
        "1.7976931348623157e308", "4.9406564584124654e-324", "123456789012345678901234567890.5e-5",
        "0.000000000000000000000000000001", "9007199254740993.0",
        "1.00000000000000011102230246251565404236316680908203125",
        "7.2057594037927933e16", "1e23", "8.589973e9", "3.141592653589793238462643383279", "1e-22", "1e22",
      }
      for _, text in ipairs(cases) do
        assert.equal(tonumber(text), ok(text), text)
      end
    end)

    it("reports floats that overflow as out of range", function()
      assert.matches("number out of range", decode_error("1e400").message)
      assert.matches("number out of range", decode_error("-1e400").message)
      assert.matches("number out of range", decode_error("[1.8e308]").message)
    end)

    it("flushes tiny floats to zero", function()
      assert.equal(0, ok("1e-400"))
      assert.equal(0, ok("0e99999999999999"))
    end)

    it("does not depend on the C locale's decimal point", function()
      local previous = os.setlocale(nil, "numeric")
      local set
      for _, name in ipairs({"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8", "nl_NL.UTF-8"}) do
        set = os.setlocale(name, "numeric")
        if set then break end
      end
      if not set then
        pending("no locale with a comma decimal point is installed")
        return
      end
      local results = {pcall(function()
        return ok("1.5"), ok("0.30000000000000004"), ok("[2.5e-3]")[1], ok("1234567890123456789012.5")
      end)}
      os.setlocale(previous, "numeric")
      assert(results[1], results[2])
      assert.equal(1.5, results[2])
      assert.equal(0.30000000000000004, results[3])
      assert.equal(0.0025, results[4])
      assert.equal(1.2345678901234568e21, results[5])
    end)

    it("rejects numbers outside the grammar", function()
      for _, text in ipairs({"01", "-01", "00", "+1", "0x10", "NaN", "Infinity", "-Infinity", ".5", "1.", "1e",
        "1e+", "1E-", "-", "--1", "1.e5", "0.e1", "- 1", "1.5.2", "1e5.5", "[01]", "-.5", "1ee2"}) do
        decode_error(text)
      end
      assert.matches("leading zero", decode_error("01").message)
    end)
  end)

  describe("strings", function()
    it("decodes the simple escapes", function()
      assert.equal("\"\\/\b\f\n\r\t", ok('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
      assert.equal("a\nb", ok('"a\\nb"'))
    end)

    it("decodes \\u escapes into UTF-8, combining surrogate pairs", function()
      assert.equal("A", ok('"\\u0041"'))
      assert.equal("\195\169", ok('"\\u00e9"'))
      assert.equal("\195\169", ok('"\\u00E9"'))
      assert.equal("\226\130\172", ok('"\\u20ac"'))
      assert.equal("\239\191\191", ok('"\\uffff"'))
      assert.equal("\240\159\152\128", ok('"\\ud83d\\ude00"'))
      assert.equal("\244\143\191\191", ok('"\\udbff\\udfff"'))
      assert.equal("x\240\144\128\128y", ok('"x\\ud800\\udc00y"'))
    end)

    it("decodes \\u0000 into a NUL byte", function()
      local s = ok('"a\\u0000b"')
      assert.equal(3, #s)
      assert.equal("a\0b", s)
    end)

    it("rejects lone and invalid surrogates", function()
      assert.matches("lone surrogate \\ud800", decode_error('"\\ud800"').message)
      assert.matches("lone surrogate \\udc00", decode_error('"\\udc00"').message)
      decode_error('"\\ud800x"')
      decode_error('"\\ud800\\u0041"')
      decode_error('"\\ud800\\ud800"')
      decode_error('"\\udbff\\ue000"')
      decode_error('"\\ud800\\n"')
      assert.equal(3, decode_error('"a\\udfff"').offset)
    end)

    it("rejects malformed escapes", function()
      local bad = {'"\\x41"', '"\\u12"', '"\\u12G4"', '"\\U0041"', '"\\a"', '"\\\'"', '"\\', '"\\u"', '"\\0"'}
      for _, text in ipairs(bad) do
        decode_error(text)
      end
    end)

    it("passes valid UTF-8 through unchanged", function()
      local samples = {"\226\130\172", "\240\159\152\128", "\244\143\191\191", "\239\191\191", "\194\128",
        "\223\191", "\224\160\128", "\237\159\191", "\238\128\128", "\240\144\128\128", "\127"}
      for _, s in ipairs(samples) do
        assert.equal(s, ok('"' .. s .. '"'))
        assert.equal("x\n" .. s, ok('"x\\n' .. s .. '"')) -- through the escape path too
      end
    end)

    it("rejects invalid UTF-8", function()
      local bad = {
        "\192\175", "\193\191",         -- overlong 2-byte
        "\224\128\175", "\224\159\191", -- overlong 3-byte
        "\240\128\128\175", "\240\143\191\191", -- overlong 4-byte
        "\237\160\128", "\237\191\191", -- UTF-8-encoded surrogates
        "\244\144\128\128", "\245\128\128\128", "\255", "\254", -- past U+10FFFF / never valid
        "\226\130", "\240\159\152", "\194", -- truncated
        "\128", "\191", -- lone continuation bytes
        "\226\40\161", "\194\0", -- bad continuation
      }
      for _, s in ipairs(bad) do
        local err = decode_error('["ok", "a' .. s .. 'b"]')
        assert.matches("invalid UTF%-8", err.message)
        assert.equal(10, err.offset)
        err = decode_error('"\\n' .. s .. '"')
        assert.matches("invalid UTF%-8", err.message)
      end
    end)

    -- Runs of 32 bytes and more of multi-byte text are checked 16 bytes at a
    -- time by table lookup (utf8_check.c's fx_utf8_scan): a fault, or the
    -- end of the string, at every place relative to those blocks, and a
    -- character cut by a block's end, in text of 2-, 3- and 4-byte characters.
    it("checks long multi-byte runs wherever a block starts or ends", function()
      local chars = { "\206\181", "\230\157\177", "\240\159\152\128", "x", "\208\191" }
      local function text_of(n) -- n bytes or a little more, of whole characters, varied
        local parts, len, i = {}, 0, 0
        while len < n do
          i = i + 1
          local c = chars[(i * 7 + n) % #chars + 1]
          parts[#parts + 1] = c
          len = len + #c
        end
        return table.concat(parts)
      end
      local bad = { "\192\175", "\224\159\191", "\237\160\128", "\244\144\128\128", "\226\130", "\240\159\152",
        "\128", "\226\40\161" }
      local tail = text_of(70)
      for lead = 0, 40 do
        local head = text_of(lead)
        for _, s in ipairs(bad) do
          local err = decode_error('"' .. head .. s .. tail .. '"')
          assert.matches("invalid UTF%-8", err.message)
          assert.equal(#head + 2, err.offset)
          err = decode_error('"\\n' .. head .. s .. tail .. '"') -- the escape path
          assert.equal(#head + 4, err.offset)
        end
        -- cut short by the string's end or by an escape, then valid
        for _, s in ipairs({ "\226\130", "\240\159\152", "\194" }) do
          local err = decode_error('"' .. tail .. head .. s .. '"')
          assert.matches("invalid UTF%-8", err.message)
          assert.equal(#tail + #head + 2, err.offset)
          err = decode_error('"' .. tail .. head .. s .. '\\n"')
          assert.equal(#tail + #head + 2, err.offset)
        end
        local whole = tail .. head .. "\240\159\152\128" .. tail
        assert.equal(whole, ok('"' .. whole .. '"'))
        assert.equal(whole .. "\n" .. whole, ok('"' .. whole .. '\\n' .. whole .. '"'))
        assert.equal(whole, ok('{"k":"' .. whole .. '"}').k)
      end
    end)

    it("rejects raw control characters", function()
      for c = 0, 31 do
        local err = decode_error('"a' .. string.char(c) .. 'b"')
        assert.equal(3, err.offset)
        decode_error('"\\t' .. string.char(c) .. '"')
      end
      assert.equal("a\127b", ok('"a\127b"'))
    end)

    it("reports an unterminated string at its opening quote", function()
      local err = decode_error('[1, "abc')
      assert.matches("unterminated string", err.message)
      assert.equal(5, err.offset)
      assert.matches("unterminated string", decode_error('"abc\\"').message)
      assert.matches("unterminated string", decode_error('"abc\\n').message)
    end)

    it("handles long strings with and without escapes, repeatedly", function()
      local plain = string.rep("abcdefgh", 50000)
      assert.equal(plain, ok('"' .. plain .. '"'))
      local escaped = string.rep("ab\\n\\u00e9", 40000)
      local want = string.rep("ab\n\195\169", 40000)
      assert.equal(want, ok('"' .. escaped .. '"'))
      assert.equal("x\ny", ok('"x\\ny"'))
      assert.equal(want, ok('["' .. escaped .. '"]')[1])
    end)
  end)

  describe("arrays and objects", function()
    it("gives arrays the json array metatable and objects none", function()
      local t = ok('{"a": [1, 2, {"b": []}], "c": {}}')
      assert.is_true(json.is_array(t.a))
      assert.is_true(json.is_array(t.a[3].b))
      assert.is_false(json.is_array(t))
      assert.is_false(json.is_array(t.c))
      assert.equal(json.array_mt, getmetatable(t.a))
      assert.is_nil(getmetatable(t))
      assert.is_nil(getmetatable(t.c))
      assert.is_true(json.is_array(ok("[]")))
      assert.equal(0, #ok("[]"))
      assert.is_nil(next(ok("{}")))
    end)

    it("json.first_non_object names the first element of a list that is no object", function()
      assert.is_nil(json.first_non_object(ok('[{}, {"a": 1}, {"b": [2]}]')))
      assert.is_nil(json.first_non_object(ok("[]")))
      for i, text in ipairs { '[{}, 7, {}]', '[{}, "x"]', '[{}, [], {}]', '[{}, null]', '[{}, true]', '[{}, [{}]]' } do
        assert.equal(2, json.first_non_object(ok(text)), "case " .. i)
      end
      assert.equal(1, json.first_non_object({ json.array({}) })) -- marked by json.array, not by a decode
      -- a table with a metatable of its own (a model) is an object; the list's own metatable is not asked
      local model = {}
      local list = json.array { setmetatable({}, model), {}, setmetatable({}, model) }
      assert.is_nil(json.first_non_object(list))
      list[4] = "x"
      assert.equal(4, json.first_non_object(list))
      assert.has_error(function() json.first_non_object("x") end)
    end)

    it("keeps array order and length", function()
      local a = ok('[1, "two", true, false, null, 6.5, [7], {"8": 8}]')
      assert.equal(8, #a)
      assert.equal(1, a[1])
      assert.equal("two", a[2])
      assert.equal(true, a[3])
      assert.equal(false, a[4])
      assert.equal(json.null, a[5])
      assert.equal(6.5, a[6])
      assert.equal(7, a[7][1])
      assert.equal(8, a[8]["8"])
    end)

    it("keeps the last of duplicate keys", function()
      local t = ok('{"a": 1, "b": 2, "a": 3}')
      assert.equal(3, t.a)
      assert.equal(2, t.b)
    end)

    it("keeps object keys as strings", function()
      local t = ok('{"1": "one", "": "empty", "a\\u0000b": 0}')
      assert.equal("one", t["1"])
      assert.is_nil(t[1])
      assert.equal("empty", t[""])
      assert.equal(0, t["a\0b"])
    end)

    it("rejects malformed structures with the offending offset", function()
      local cases = {
        {"[1,2,x]", 6}, {'{"a" 1}', 6}, {'{"a":1,}', 8}, {"[1,]", 4}, {"[1 2]", 4}, {"{1:2}", 2},
        {'{"a":}', 6}, {"[", 2}, {"{", 2}, {'{"a"', 5}, {"]", 1}, {"}", 1}, {"[1}", 3}, {'{"a":1]', 7},
        {"[,1]", 2}, {"{,}", 2}, {"['a']", 2},
      }
      for _, case in ipairs(cases) do
        local err = decode_error(case[1])
        assert.equal(case[2], err.offset, case[1])
      end
    end)

    -- Keys go through a cache kept across calls (src/json_decode.c): many
    -- keys sharing its sets, keys that differ in one byte, prefixes, keys
    -- past its length limit, escaped spellings of cached keys, and keys
    -- right before the end of the text must all come out as written.
    it("keeps every key exact across calls, however keys collide in the key cache", function()
      local keys, seen = {}, {}
      local function add(k)
        if not seen[k] then
          seen[k] = true
          keys[#keys + 1] = k
        end
      end
      local seed = 7
      local function rand(n)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n + 1
      end
      -- Thousands of random keys, most of them short: many share a set of
      -- the cache and have the same length, so a lookup that trusted the
      -- set and the length without the bytes would hand back the wrong key.
      local bytes = {}
      for c = 32, 126 do
        if c ~= 34 and c ~= 92 then bytes[#bytes + 1] = string.char(c) end
      end
      for n = 1, 12000 do
        local len, chars = n <= 10000 and rand(6) or 6 + rand(34), {}
        for i = 1, len do chars[i] = bytes[rand(#bytes)] end
        add(table.concat(chars))
      end
      for _, k in ipairs { "", "a", "ab", "abc", "abcdefg", "abcdefgh", "abcdefghi", ("x"):rep(32),
        ("x"):rep(33), ("x"):rep(31) .. "y", "y" .. ("x"):rep(31), "\\u00e9t\\u00e9" } do
        add(k)
      end
      for round = 1, 2 do
        local members, want = {}, {}
        for i = 1, #keys do
          members[#members + 1] = '"' .. keys[i] .. '": ' .. i
          want[cjson.decode('"' .. keys[i] .. '"')] = i
        end
        local got = ok("{" .. table.concat(members, ",") .. "}")
        assert.is_true(deep_equal(want, got), "round " .. round)
      end
      assert.is_true(deep_equal({ ab = 1 }, ok('{"a\\u0062": 1}')))
      assert.is_true(deep_equal({ ab = 2 }, ok('{"ab": 2}')))
      assert.is_true(deep_equal({ [""] = { x = 1 } }, ok('{"":{"x":1}}')))
      decode_error('{"ab"')
      decode_error('{"abcdefg')
    end)

    it("matches cjson on nested mixed data", function()
      local text = '{"items": [{"id": "x", "n": 1.5, "tags": ["a", "b"], "meta": {"deep": [[[]], {}]}}], "next": null}'
      assert.is_true(deep_equal(cjson.decode(text), ok(text)))
    end)
  end)

  describe("nesting depth", function()
    local function nested(n)
      return string.rep("[", n) .. string.rep("]", n)
    end

    it("allows 1000 levels by default and rejects 1001", function()
      assert.is_table(ok(nested(1000)))
      local err = decode_error(nested(1001))
      assert.matches("nesting deeper than 1000", err.message)
      assert.equal(1001, err.offset)
      decode_error(string.rep('{"a":', 1001) .. "1" .. string.rep("}", 1001))
      assert.is_table(ok(string.rep('{"a":', 1000) .. "1" .. string.rep("}", 1000)))
    end)

    it("follows max_depth", function()
      assert.is_table(ok("[[1]]", {max_depth = 2}))
      local err = decode_error("[[[1]]]", {max_depth = 2})
      assert.matches("nesting deeper than 2", err.message)
      assert.equal(3, err.offset)
      assert.equal(1, ok("1", {max_depth = 1}))
      assert.is_table(ok('{"a": []}', {max_depth = 2}))
      decode_error('{"a": [{}]}', {max_depth = 2})
    end)

    it("never raises past the Lua stack's limit with a huge max_depth", function()
      local text = nested(20000)
      local called, value, err = pcall(json.decode, text, {max_depth = 1000000})
      assert.is_true(called, tostring(value))
      assert.is_true(value ~= nil or (err and err.kind == "decode"))
      text = string.rep('{"k":', 20000) .. "0" .. string.rep("}", 20000)
      called, value, err = pcall(json.decode, text, {max_depth = 1000000})
      assert.is_true(called, tostring(value))
      assert.is_true(value ~= nil or (err and err.kind == "decode"))
    end)
  end)

  describe("null_as_nil", function()
    local opts = {null_as_nil = true}

    it("decodes null as nil", function()
      local value, err = json.decode("null", opts)
      assert.is_nil(value)
      assert.is_nil(err)
    end)

    it("leaves holes in arrays", function()
      local a = ok("[1, null, 3, null]", opts)
      assert.equal(1, a[1])
      assert.is_nil(a[2])
      assert.equal(3, a[3])
      assert.is_nil(a[4])
      assert.is_true(json.is_array(a))
    end)

    it("drops null members, also over an earlier duplicate", function()
      local t = ok('{"a": null, "b": 1, "c": 2, "c": null}', opts)
      assert.is_nil(t.a)
      assert.equal(1, t.b)
      assert.is_nil(t.c)
      assert.equal(json.null, ok('{"a": null}', {null_as_nil = false}).a)
    end)
  end)

  describe("errors", function()
    it("returns the SDK error object with kind, message, offset and excerpt", function()
      local value, err = json.decode('{"a": [1, 2, x]}')
      assert.is_nil(value)
      assert.equal(core.error_mt, getmetatable(err))
      assert.equal("decode", err.kind)
      assert.equal("unexpected character 'x'", err.message)
      assert.equal(14, err.offset)
      assert.equal('": [1, 2, x]}', err.excerpt) -- 10 bytes before, the byte, 9 after
      local s = tostring(err)
      assert.is_string(s)
      assert.matches("decode", s)
      assert.matches("at byte 14", s)
    end)

    it("keeps the excerpt short and printable", function()
      local text = string.rep("a", 50) .. '"\1' .. string.rep("b", 50)
      local err = decode_error("[" .. text .. "]")
      assert.equal(2, err.offset)
      text = '["' .. string.rep("a", 40) .. "\1\255" .. string.rep("b", 40) .. '"]'
      err = decode_error(text)
      assert.equal(43, err.offset)
      assert.equal(string.rep("a", 10) .. "\\x01\\xFF" .. string.rep("b", 8), err.excerpt)
      assert.matches("^[\32-\126]*$", err.excerpt)
      assert.is_true(#err.excerpt <= 80)
    end)

    it("names non-printable characters", function()
      assert.equal("unexpected character '\\x01'", decode_error("[\1]").message)
      assert.equal("unexpected end of input", decode_error("[1,").message)
    end)
  end)

  describe("misuse", function()
    it("raises on a non-string text", function()
      assert.has_error(function() json.decode() end)
      assert.has_error(function() json.decode(nil) end)
      assert.has_error(function() json.decode(5) end)
      assert.has_error(function() json.decode({}) end)
      assert.has_error(function() json.decode(true) end)
    end)

    it("raises on bad opts", function()
      assert.has_error(function() json.decode("1", 5) end)
      assert.has_error(function() json.decode("1", "x") end)
      assert.has_error(function() json.decode("1", {max_depth = 0}) end)
      assert.has_error(function() json.decode("1", {max_depth = -1}) end)
      assert.has_error(function() json.decode("1", {max_depth = 1.5}) end)
      assert.has_error(function() json.decode("1", {max_depth = "10"}) end)
      assert.has_error(function() json.decode("1", {null_as_nil = "yes"}) end)
      assert.has_error(function() json.decode("1", {big_integers = "huge"}) end)
      assert.has_error(function() json.decode("1", {big_integers = 1}) end)
    end)

    it("accepts nil or an empty opts table", function()
      assert.equal(1, ok("1", nil))
      assert.equal(1, ok("1", {}))
    end)

    it("raises on an unknown option, naming it and the ones it takes, instead of dropping it", function()
      local takes = "json.decode takes max_depth, null_as_nil, big_integers, select, select_at and select_meta"
      for name, opts in pairs { bogus = { bogus = true }, sort_keys = { sort_keys = true },
        nul_as_nil = { nul_as_nil = true }, Select = { big_integers = "string", Select = { a = true } } } do
        local done, err = pcall(json.decode, '{"a": null}', opts)
        assert.is_false(done)
        assert.matches("unknown option '" .. name .. "': " .. takes, err, 1, true)
      end
      local done, err = pcall(json.decode, "1", { true })
      assert.is_false(done)
      assert.matches("option names are strings, found a number key", err, 1, true)
    end)

    it("takes every option the SDK itself passes", function()
      -- response.lua's, and a selective decode's (flexiroam.fields)
      local tree = { a = true }
      local all = { max_depth = 5, null_as_nil = true, big_integers = "string", select = tree, select_at = "item",
        select_meta = { [tree] = {} } }
      assert.same({ item = { a = 1 } }, ok('{"item": {"a": 1, "b": 2}}', all))
      assert.same({ a = 1 }, ok('{"a": 1, "b": null}', { null_as_nil = true, big_integers = "string" }))
    end)
  end)

  describe("robustness", function()
    it("survives a decode run by a finalizer in the middle of a decode", function()
      local inner = '[{"x": "a\\nb", "y": [1, 2.5]}]'
      local seen = 0
      local function finalizer()
        local v = json.decode(inner)
        if v and v[1].x == "a\nb" then seen = seen + 1 end
      end
      local make
      local newproxy = rawget(_G, "newproxy") -- LuaJIT: tables there take no __gc
      if newproxy then
        make = function()
          local p = newproxy(true)
          getmetatable(p).__gc = finalizer
          return p
        end
      else
        make = function() return setmetatable({}, {__gc = finalizer}) end
      end
      local parts = {}
      for i = 1, 2000 do
        parts[i] = '{"k": "v\\t' .. i .. '", "n": [' .. i .. ', "\\u00e9"]}'
      end
      local text = "[" .. table.concat(parts, ",") .. "]"
      local want = cjson.decode(text)
      for _ = 1, 5 do
        for _ = 1, 300 do make() end
        local got = ok(text)
        assert.is_true(deep_equal(want, got))
      end
      collectgarbage()
      collectgarbage()
      assert.is_true(seen > 0)
    end)

    -- Observed through what calls allocate from Lua: were the shared
    -- buffers lost for good, every call would make two buffer userdata; as
    -- it is, the first call after the raise makes them and the others,
    -- decoding a text whose value is an already interned short string, allocate nothing.
    it("takes its shared buffers again after a raise in the middle of a decode", function()
      local out, why = procs.lua_child([[
        local json = require "flexiroam.json"
        local small = '"a\\n"'
        json.decode(small)
        local text = "[" .. ("[1,2,3],"):rep(2000000) .. "0]"
        limit_memory(64 * 1024)
        local ok, err = pcall(json.decode, text)
        print("raised", not ok, err)
        text = nil
        collectgarbage()
        collectgarbage()
        collectgarbage("stop")
        local before = collectgarbage("count")
        for _ = 1, 1000 do json.decode(small) end
        print("grew_kb", math.floor(collectgarbage("count") - before))
      ]], true)
      if not out then return pending(why) end
      assert.matches("raised\ttrue\tnot enough memory", out)
      local grew = tonumber(out:match("grew_kb\t(%d+)"))
      assert(grew, out)
      assert.is_true(grew < 32, "1000 calls allocated " .. grew .. " kB")
    end)

    it("matches cjson on the published inventory sample", function()
      local f = io.open(SHARED .. "/api/list-inventory.sample.json", "rb")
      if not f then
        pending("sample skipped: " .. SHARED .. " not found")
        return
      end
      local text = f:read("*a")
      f:close()
      local got = ok(text)
      assert.is_true(deep_equal(cjson.decode(text), got))
      assert.equal(4024081013108, got.items[1].sku)
      if HAS_INTEGERS then assert.equal("integer", math.type(got.items[1].sku)) end
      assert.is_true(json.is_array(got.items))
    end)

    it("matches cjson on a generated inventory page", function()
      local loaded, inventory = pcall(require, "flexiroam.sandbox.inventory")
      if not loaded then
        pending("inventory generator needs Lua 5.3+: " .. tostring(inventory))
        return
      end
      local text = cjson.encode(inventory.page(300, 5))
      local got = ok(text)
      assert.is_true(deep_equal(cjson.decode(text), got))
      assert.equal(300, #got.items)
    end)
  end)
end)
