-- json.encode: exact output, number round-trips, escaping, table shapes,
-- errors with paths, options. Runs under Lua 5.4 and LuaJIT (5.1 syntax
-- only; integer-subtype cases are guarded by HAS_INTEGERS).
local json = require "flexiroam.json"
local core = require "flexiroam.core"
local procs = require "spec.support.test_processes"

local HAS_INTEGERS = math.type ~= nil

local function enc(value, opts)
  local s, err = json.encode(value, opts)
  assert(err == nil, "unexpected encode error: " .. tostring(err))
  assert(type(s) == "string", "encode returned " .. type(s))
  return s
end

-- Asserts a failed encode and returns its error object.
local function enc_error(value, opts)
  local s, err = json.encode(value, opts)
  assert(s == nil, "expected an encode error, got " .. tostring(s))
  assert(type(err) == "table", "expected an error object, got " .. tostring(err))
  assert.equal(core.error_mt, getmetatable(err))
  assert.equal("encode", err.kind)
  assert.is_string(err.message)
  assert.is_string(err.path)
  return err
end

-- Deterministic pseudo-random integers in [0, n), 5.1-safe arithmetic.
local function rng(seed)
  local state = seed
  return function(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return math.floor(state / 65536) % n
  end
end

-- Reference escaper, byte by byte, for strings already known to be valid UTF-8.
local SHORT = { [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r", [34] = '\\"', [92] = "\\\\" }
local function reference_quote(s)
  local out = { '"' }
  for i = 1, #s do
    local c = s:byte(i)
    if SHORT[c] then
      out[#out + 1] = SHORT[c]
    elseif c < 32 then
      out[#out + 1] = string.format("\\u%04x", c)
    else
      out[#out + 1] = string.char(c)
    end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

-- Significant digits of a "%g"-style number text.
local function significant_digits(s)
  local mantissa = s:match("^%-?([%d%.]+)")
  local digits = mantissa:gsub("%.", ""):gsub("^0+", "")
  if digits == "" then return 1 end
  return #digits
end

describe("json.encode", function()
  describe("scalars", function()
    it("encodes nil, null, booleans and the empty array sentinel", function()
      assert.equal("null", enc(nil))
      assert.equal("null", enc(json.null))
      assert.equal("true", enc(true))
      assert.equal("false", enc(false))
      assert.equal("[]", enc(json.empty_array))
    end)

    it("treats cjson.null as null (same light userdata)", function()
      local ok, cjson = pcall(require, "cjson")
      if not ok then return pending("lua-cjson not installed") end
      assert.equal("null", enc(cjson.null))
      assert.equal('{"a":null}', enc({ a = cjson.null }))
    end)

    it("encodes strings with no escaping of '/' and no change to UTF-8", function()
      assert.equal('""', enc(""))
      assert.equal('"hello"', enc("hello"))
      assert.equal('"a/b"', enc("a/b"))
      assert.equal('"h\195\169llo \240\159\152\128"', enc("h\195\169llo \240\159\152\128"))
      assert.equal('"\127"', enc("\127"))
    end)
  end)

  describe("string escaping", function()
    it("escapes every control byte, quote and backslash", function()
      local expected = {
        [0] = "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
      }
      for c = 0, 31 do
        assert.equal('"' .. expected[c] .. '"', enc(string.char(c)))
        assert.equal('"ab' .. expected[c] .. 'cd"', enc("ab" .. string.char(c) .. "cd"))
      end
      assert.equal('"\\""', enc('"'))
      assert.equal('"\\\\"', enc("\\"))
      assert.equal('"a\\"b\\\\c"', enc('a"b\\c'))
    end)

    it("escapes special bytes at every position of long and short strings", function()
      -- the scanner reads 8 bytes at a time: put the special byte at each
      -- offset, with runs of plain bytes of every length around it
      for _, special in ipairs({ "\0", "\31", '"', "\\", "\n", "\195\169", "\226\130\172", "\240\159\152\128" }) do
        for before = 0, 19 do
          for after = 0, 11 do
            local s = string.rep("x", before) .. special .. string.rep("y", after)
            assert.equal(reference_quote(s), enc(s))
          end
        end
      end
    end)

    it("matches a reference escaper on random strings", function()
      local next_int = rng(7)
      local pieces = { "a", "Z", " ", "/", '"', "\\", "\0", "\1", "\8", "\9", "\10", "\12", "\13", "\27", "\31",
                       "\127", "\194\128", "\223\191", "\224\160\128", "\237\159\191", "\238\128\128",
                       "\239\191\191", "\240\144\128\128", "\244\143\191\191", "abcdefgh", "0123456789" }
      for _ = 1, 500 do
        local parts = {}
        for j = 1, next_int(40) do parts[j] = pieces[next_int(#pieces) + 1] end
        local s = table.concat(parts)
        assert.equal(reference_quote(s), enc(s))
      end
    end)

    it("accepts the boundaries of valid UTF-8", function()
      for _, s in ipairs({ "\194\128", "\223\191", "\224\160\128", "\237\159\191", "\238\128\128",
                           "\239\191\191", "\240\144\128\128", "\244\143\191\191" }) do
        assert.equal('"' .. s .. '"', enc(s))
      end
    end)

    -- The reference: RFC 3629's table, a character at a time; the position
    -- of the first byte of the first sequence that is not a character.
    local function first_bad_utf8(str)
      local i, n = 1, #str
      while i <= n do
        local c = str:byte(i)
        local more, lo, hi = 0, 0x80, 0xBF
        if c >= 0xC2 and c <= 0xDF then more = 1
        elseif c >= 0xE0 and c <= 0xEF then
          more = 2
          if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
        elseif c >= 0xF0 and c <= 0xF4 then
          more = 3
          if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
        elseif c >= 0x80 then return i end
        if more > 0 then
          local b1 = str:byte(i + 1)
          if not b1 or b1 < lo or b1 > hi then return i end
          for k = 2, more do
            local b = str:byte(i + k)
            if not b or b < 0x80 or b > 0xBF then return i end
          end
        end
        i = i + 1 + more
      end
      return nil
    end

    -- Strings are checked as UTF-8 a run at a time, 16 bytes a block (see
    -- src/utf8_check.c): random texts of good and broken sequences, bytes
    -- to escape between them, at every length around the block sizes.
    it("accepts and rejects UTF-8 exactly as RFC 3629 does, at the byte it names", function()
      local next_int = rng(29)
      local good = { "a", "é", "€", "😀", "\194\128", "\223\191", "\224\160\128", "\237\159\191", "\238\128\128",
        "\239\191\191", "\240\144\128\128", "\244\143\191\191", "Zürich", "東京", "data" }
      local broken = { "\128", "\191", "\192\128", "\193\191", "\224\128\128", "\224\159\191", "\237\160\128",
        "\240\128\128\128", "\244\144\128\128", "\245\128", "\255", "\226\130", "\240\159\152", "\195" }
      local escaped = { '"', "\\", "\n", "\0", "\31" }
      local valid, invalid = 0, 0
      for _ = 1, 6000 do
        local parts, length = {}, next_int(70)
        local bad_odds = next_int(2) == 0 and 6 or 0 -- in half the strings, 6% of the pieces
        while #table.concat(parts) < length do
          local r = next_int(100)
          if r < bad_odds then parts[#parts + 1] = broken[next_int(#broken) + 1]
          elseif r < bad_odds + 8 then parts[#parts + 1] = escaped[next_int(#escaped) + 1]
          else parts[#parts + 1] = good[next_int(#good) + 1] end
        end
        local str = table.concat(parts)
        local at = first_bad_utf8(str)
        if at then
          invalid = invalid + 1
          assert.equal(("invalid UTF-8 in string (byte %d)"):format(at), enc_error(str).message)
        else
          valid = valid + 1
          assert.equal(reference_quote(str), enc(str))
        end
      end
      assert(valid > 1000 and invalid > 1000, ("valid %d, invalid %d"):format(valid, invalid))
    end)

    -- Strings of 16 bytes and more are copied, escaped and checked in one
    -- pass of 16-byte blocks (json_encode.c's put_long_ssse3): a broken
    -- sequence at every offset, followed by plain ASCII (whose blocks need
    -- no lookup of their own) or by nothing at all, and an escape right
    -- before it or after it.
    it("finds a broken sequence at every place in a long string", function()
      local broken = { "\226\130", "\240\159\152", "\195", "\128", "\237\160\128", "\192\175" }
      for _, s in ipairs(broken) do
        for at = 0, 50 do
          local head = string.rep("a", at)
          local tails = { "", string.rep("b", 16), string.rep("b", 16 - (at + #s) % 16), "\n" .. string.rep("c", 20) }
          for _, tail in ipairs(tails) do
            local str = head .. s .. tail
            assert.equal(("invalid UTF-8 in string (byte %d)"):format(at + 1), enc_error(str).message)
            assert.equal(("invalid UTF-8 in string (byte %d)"):format(at + 2), enc_error("\t" .. str).message)
            assert.matches("invalid UTF%-8 in string key", enc_error({ [str] = true }).message)
          end
          local good = head .. "\240\159\152\128" .. string.rep("b", at % 17)
          assert.equal(reference_quote(good), enc(good))
          assert.equal(reference_quote(good .. "\n"), enc(good .. "\n"))
        end
      end
    end)

    it("rejects invalid UTF-8 in values and keys", function()
      local bad = {
        "\128", "\191", "\192\128", "\193\191", "\224\128\128", "\224\159\191", "\237\160\128", "\237\191\191",
        "\240\128\128\128", "\240\143\191\191", "\244\144\128\128", "\245\128\128\128", "\255", "\254",
        "\226\130", "\195", "a\195(", "\226\40\161", "\240\159\152", "abcdefghij\128",
      }
      for _, s in ipairs(bad) do
        local err = enc_error(s)
        assert.matches("invalid UTF%-8", err.message)
        assert.equal("$", err.path)
        err = enc_error({ list = { "ok", s } })
        assert.matches("invalid UTF%-8", err.message)
        assert.equal("$.list[2]", err.path)
        err = enc_error({ inner = { [s] = 1 } })
        assert.matches("invalid UTF%-8 in string key", err.message)
        assert.equal("$.inner", err.path)
      end
      assert.matches("byte 11", enc_error("abcdefghij\128").message)
    end)
  end)

  describe("integers", function()
    it("encodes integers exactly", function()
      assert.equal("0", enc(0))
      assert.equal("-1", enc(-1))
      assert.equal("7", enc(7))
      assert.equal("10", enc(10))
      assert.equal("99", enc(99))
      assert.equal("100", enc(100))
      assert.equal("-100", enc(-100))
      assert.equal("4024081013108", enc(4024081013108))
      assert.equal("[1,-2,3]", enc({ 1, -2, 3 }))
    end)

    it("keeps every int64 exact, including the extremes", function()
      if not HAS_INTEGERS then return pending("no integer subtype in " .. _VERSION) end
      local int = load("return 9007199254740993, math.mininteger, math.maxinteger, (1 << 53) + 1")
      local a, min, max, b = int()
      assert.equal("9007199254740993", enc(a))
      assert.equal("-9223372036854775808", enc(min))
      assert.equal("9223372036854775807", enc(max))
      assert.equal("9007199254740993", enc(b))
      local next_int = rng(3)
      for _ = 1, 300 do
        local v = next_int(2147483647) * 4294967296 + next_int(2147483647) * 3
        if next_int(2) == 1 then v = -v end
        assert.equal(string.format("%d", v), enc(v))
        assert.equal("integer", math.type(tonumber(enc(v))))
      end
    end)

    it("writes integral numbers as integer literals where there is no integer subtype", function()
      if HAS_INTEGERS then return pending(_VERSION .. " has integers: see the float cases") end
      assert.equal("1", enc(1.0))
      assert.equal("-3", enc(-3))
      assert.equal("9007199254740991", enc(2 ^ 53 - 1))
      assert.equal("-0", enc(-0.0))
    end)
  end)

  describe("floats", function()
    it("keeps integral floats floats", function()
      if not HAS_INTEGERS then return pending("no integer subtype in " .. _VERSION) end
      assert.equal("1.0", enc(1.0))
      assert.equal("-2.0", enc(-2.0))
      assert.equal("0.0", enc(0.0))
      assert.equal("-0.0", enc(-0.0))
      assert.equal("4024081013108.0", enc(4024081013108.0))
      assert.equal("9007199254740992.0", enc(2.0 ^ 53))
      assert.equal("1e+15", enc(1e15))
      assert.equal("float", math.type(tonumber(enc(1.0))))
      assert.equal("float", math.type(tonumber(enc(2.0 ^ 60))))
      local z = tonumber(enc(-0.0))
      assert.equal(-math.huge, 1 / z)
    end)

    it("writes the shortest text that reads back to the same double", function()
      assert.equal("0.1", enc(0.1))
      assert.equal("1e+300", enc(1e300))
      assert.equal("5e-324", enc(5e-324))
      assert.equal("-5e-324", enc(-5e-324))
      assert.equal("0.30000000000000004", enc(0.1 + 0.2))
      assert.equal("1.5", enc(1.5))
      assert.equal("123456.789", enc(123456.789))
      assert.equal("1.7976931348623157e+308", enc(1.7976931348623157e308))
      assert.equal("2.2250738585072014e-308", enc(2.2250738585072014e-308))
      assert.equal("1e-07", enc(1e-7))
    end)

    it("round-trips pseudo-random doubles with the fewest digits", function()
      local doubles = {}
      local next_int = rng(11)
      if string.pack then
        -- arbitrary bit patterns, NaN and infinities skipped
        while #doubles < 400 do
          local hi = next_int(65536) * 65536 + next_int(65536)
          local lo = next_int(65536) * 65536 + next_int(65536)
          local d = string.unpack("<d", string.pack("<I4I4", lo, hi))
          if d == d and d ~= math.huge and d ~= -math.huge then doubles[#doubles + 1] = d end
        end
      else
        while #doubles < 400 do
          local m = (next_int(67108864) * 134217728 + next_int(134217728)) / 2 ^ 53
          doubles[#doubles + 1] = (next_int(2) == 1 and -m or m) * 2 ^ (next_int(2098) - 1074)
        end
      end
      for i = 1, 100 do doubles[#doubles + 1] = next_int(1000000) / 1000 + i / 7 end
      for _, d in ipairs(doubles) do
        local s = enc(d)
        assert.is_nil(s:find("[^%d%.e%+%-]"), s)
        local back = tonumber(s)
        assert(back == d, ("%s reads back as %.17g, not %.17g"):format(s, back, d))
        if HAS_INTEGERS then
          assert.equal("float", math.type(back))
        end
        if d ~= 0 and d ~= math.floor(d) then
          local n = significant_digits(s)
          if n > 1 then
            local shorter = tonumber(string.format("%." .. (n - 1) .. "g", d))
            assert(shorter ~= d, ("%s is not the shortest: %d digits also read back"):format(s, n - 1))
          end
        end
      end
    end)

    it("rejects NaN and the infinities", function()
      assert.matches("NaN", enc_error(0 / 0).message)
      assert.matches("inf", enc_error(math.huge).message)
      assert.matches("%-inf", enc_error(-math.huge).message)
      local err = enc_error({ items = { { price = 1 }, { price = 0 / 0 } } })
      assert.equal("$.items[2].price", err.path)
    end)

    it("uses '.' as decimal point whatever the locale", function()
      local tried = { "de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8", "fr_FR", "nl_NL.UTF-8",
                      "ru_RU.UTF-8" }
      local found
      for _, name in ipairs(tried) do
        -- all of these write 0,5; LuaJIT's string.format ignores the
        -- locale, so it cannot be the probe
        if os.setlocale(name, "numeric") then
          found = name
          break
        end
      end
      if not found then
        return pending("no locale with a decimal comma is installed (tried " .. table.concat(tried, ", ") ..
          "; LOCPATH can point at one built with localedef)")
      end
      local ok, err = pcall(function()
        assert.equal("0.5", enc(0.5))
        assert.equal("123456.789", enc(123456.789))
        assert.equal("-1.25e-300", enc(-1.25e-300))
        assert.equal("5e-324", enc(5e-324))
        assert.equal("[0.1,2.5]", enc({ 0.1, 2.5 }))
        if HAS_INTEGERS then assert.equal("1.0", enc(1.0)) end
      end)
      os.setlocale("C", "numeric")
      assert(ok, err)
    end)
  end)

  describe("tables", function()
    it("encodes empty tables as {} and marked ones as []", function()
      assert.equal("{}", enc({}))
      assert.equal("[]", enc(json.array()))
      assert.equal("[]", enc(json.array({})))
      local value = { a = json.array(), b = {}, c = json.empty_array }
      assert.equal('{"a":[],"b":{},"c":[]}', enc(value, { sort_keys = true }))
    end)

    it("encodes sequences as arrays and string-keyed tables as objects", function()
      assert.equal("[1,2,3]", enc({ 1, 2, 3 }))
      assert.equal('["a",true,null]', enc({ "a", true, json.null }))
      assert.equal('{"k":"v"}', enc({ k = "v" }))
      assert.equal('[[1,[2]],{"x":[3]}]', enc({ { 1, { 2 } }, { x = { 3 } } }))
      assert.equal("[1,2]", enc(json.array({ 1, 2 })))
      local t = {}
      t[3] = "c"; t[1] = "a"; t[2] = "b" -- filled out of order: keys may sit in the hash part
      assert.equal('["a","b","c"]', enc(t))
    end)

    it("encodes every pair of an object, keys escaped", function()
      local value = { a = 1, ["b c"] = 2, ['q"'] = 3, ["\n"] = 4 }
      local s = enc(value)
      assert.equal(30, #s)
      for _, member in ipairs({ '"a":1', '"b c":2', '"q\\"":3', '"\\n":4' }) do
        assert.truthy(s:find(member, 1, true), member .. " missing from " .. s)
      end
    end)

    it("ignores metatables other than the array one and never calls metamethods", function()
      local called = false
      local mt = {
        __index = function() called = true return 1 end,
        __pairs = function() called = true return next, {}, nil end,
        __len = function() called = true return 10 end,
      }
      assert.equal('{"x":1}', enc(setmetatable({ x = 1 }, mt)))
      assert.equal("[1]", enc(setmetatable({ 1 }, mt)))
      assert.equal("{}", enc(setmetatable({}, mt)))
      assert.is_false(called)
    end)

    it("sorts keys in byte order with sort_keys", function()
      local value = { b = 1, a = { d = 2, c = 3 }, B = 4, aa = 5, ["a\0"] = 6, [""] = 7, ["\195\169"] = 8,
                      z = { 1, { y = true, x = false } } }
      assert.equal('{"":7,"B":4,"a":{"c":3,"d":2},"a\\u0000":6,"aa":5,"b":1,' ..
        '"z":[1,{"x":false,"y":true}],"\195\169":8}', enc(value, { sort_keys = true }))
      assert.equal(enc(value, { sort_keys = true }), enc(value, { sort_keys = true }))
      assert.equal('{"k":1}', enc({ k = 1 }, { sort_keys = true }))
      local many = {}
      for i = 1, 300 do many[("k%03d"):format((i * 37) % 300)] = i end
      local s = enc(many, { sort_keys = true })
      local last = ""
      for key in s:gmatch('"(k%d%d%d)"') do
        assert(key > last, key .. " after " .. last)
        last = key
      end
      assert.equal("k299", last)
    end)

    it("accepts a table reached twice when it is not a cycle", function()
      local shared = { 1, 2 }
      assert.equal("[[1,2],[1,2]]", enc({ shared, shared }))
      local obj = { v = true }
      assert.equal('{"a":{"v":true},"b":[{"v":true}]}', enc({ a = obj, b = { obj } }, { sort_keys = true }))
    end)

    it("handles large values and keeps working after them", function()
      local big = string.rep("abcdefghij", 300000)
      assert.equal(#big + 2, #enc(big))
      local list = {}
      for i = 1, 100000 do list[i] = i end
      local s = enc(list)
      assert.equal("[1,2,3,", s:sub(1, 7))
      assert.equal(",99999,100000]", s:sub(-14))
      assert.equal('{"x":[1]}', enc({ x = { 1 } }))
    end)

    -- Counted in page faults, in a fresh process (see the same check in
    -- session_spec.lua): the output buffer is kept from one big answer to
    -- the next rather than grown again on fresh pages each call.
    local it_own_allocator = require("spec.support.memory").own_allocator() and it or pending
    it_own_allocator("keeps its output buffer across big answers", function()
      local per_call, bytes = require("spec.support.memory").faults_per_call([[
        local json = require "flexiroam.json"
        local list = {}
        for i = 1, 20000 do list[i] = { id = i, name = ("n"):rep(30) } end
        local function call() return #assert(json.encode(list)) end
      ]])
      local pages = bytes / 4096
      assert(per_call < pages / 3, ("%.1f page faults a call for an answer of %.0f pages"):format(per_call, pages))
    end)

    it("is not disturbed by a failed call", function()
      enc_error({ a = { b = print } })
      assert.equal('{"a":{"b":1}}', enc({ a = { b = 1 } }))
    end)
  end)

  describe("errors", function()
    it("rejects sparse arrays", function()
      local err = enc_error({ [1] = 1, [100] = 2 })
      assert.matches("sparse array", err.message)
      assert.matches("100", err.message)
      assert.equal("$", err.path)
      err = enc_error({ items = { { 1, nil, 3 } } })
      assert.matches("sparse array", err.message)
      assert.equal("$.items[1]", err.path)
      -- a marked array covers 1..#t; which border # picks in a table with
      -- holes is up to the implementation (5.4 says 3 here, LuaJIT 1)
      local marked = json.array({ 1, nil, 3 })
      err = enc_error({ list = marked })
      if #marked == 3 then
        assert.matches("sparse array", err.message)
        assert.matches("index 2", err.message)
      else
        assert.matches("number key 3 present in an array beyond its length %(1%)", err.message)
      end
      assert.equal("$.list", err.path)
      err = enc_error({ [2] = "x" })
      assert.matches("sparse array", err.message)
    end)

    it("rejects keys of an array-marked table that its length leaves out", function()
      local b = json.array()
      b[1] = 1
      b[4] = 4
      local err = enc_error(b)
      -- the border # picks: 1 on 5.4, 4 on LuaJIT (array part of 4 slots)
      if #b == 1 then
        assert.equal("number key 4 present in an array beyond its length (1)", err.message)
      else
        assert.equal("sparse array: nil at index 2 of 4", err.message)
      end
      assert.equal("$", err.path)
      local c = json.array({ 1, 2 })
      c[10] = 10
      assert.equal("number key 10 present in an array beyond its length (2)", enc_error(c).message)

      local decoded = json.decode('{"items": [1, 2]}')
      decoded.items.extra = "x"
      err = enc_error(decoded)
      assert.equal('string key "extra" in an array', err.message)
      assert.equal("$.items", err.path)
      err = enc_error(decoded, { sort_keys = true })
      assert.equal('string key "extra" in an array', err.message)

      local empty = json.array()
      empty.name = "x"
      assert.equal('string key "name" in an array', enc_error({ empty }).message)
      local flagged = json.array({ 1, 2 })
      flagged[true] = 1
      assert.equal("boolean key true in an array", enc_error(flagged).message)
      flagged[true] = nil
      flagged[0] = 1
      assert.equal("number key 0 in an array", enc_error(flagged).message)
      flagged[0] = nil
      -- whatever part of the table holds 1..n, every other key is found
      local hashed = json.array({})
      for i = 30, 1, -1 do hashed[i] = i end
      hashed.z = 1
      assert.equal('string key "z" in an array', enc_error(hashed).message)
      hashed.z = nil
      assert.equal("[1,2,3]", enc(json.array({ 1, 2, 3 })))
      assert.equal(30, #json.decode(enc(hashed)))
    end)

    it("rejects mixed keys, naming the offending key", function()
      local err = enc_error({ 1, 2, x = 3 })
      assert.matches("mixed keys", err.message)
      assert.matches('"x"', err.message)
      err = enc_error({ data = { name = "n", [true] = 1 } })
      assert.matches("boolean key true", err.message)
      assert.equal("$.data", err.path)
      -- which key comes first is up to the hash: either one is named
      err = enc_error({ name = "n", [7] = 1 })
      assert.matches("mixed keys", err.message)
      assert.truthy(err.message:find("number key 7", 1, true) or err.message:find('string key "name"', 1, true))
    end)

    it("rejects keys that are neither strings nor array indices", function()
      assert.matches("number key 1%.5", enc_error({ [1.5] = 1 }).message)
      assert.matches("number key 0", enc_error({ [0] = 1 }).message)
      assert.matches("number key %-1", enc_error({ [-1] = 1 }).message)
      assert.matches("boolean key false", enc_error({ [false] = 1 }).message)
      assert.matches("table key", enc_error({ [{}] = 1 }).message)
      assert.matches("function key", enc_error({ [print] = 1 }).message)
    end)

    it("rejects cycles, naming where the cycle closes", function()
      local t = {}
      t.self = t
      local err = enc_error(t)
      assert.matches("cycle", err.message)
      assert.equal("$.self", err.path)
      local a = { name = "a" }
      local b = { a }
      a.list = json.array({ 1, b })
      err = enc_error({ root = a })
      assert.matches("cycle", err.message)
      assert.equal("$.root.list[2][1]", err.path)
    end)

    it("tells cycles from tables reached twice deep down, among hundreds of tables on the path", function()
      -- The path is looked up through a filter of buckets (src/json_encode.c, on_path): a deep path
      -- fills many of them, so most tables are looked for in the path itself, and each must still be
      -- found exactly when it is on it.
      local chain, nodes = {}, {}
      local node = chain
      for i = 1, 400 do
        nodes[i] = node
        node.next = {}
        node = node.next
      end
      for _, at in ipairs { 1, 2, 150, 399, 400 } do
        node.back = nodes[at]
        local err = enc_error(chain)
        assert.matches("cycle", err.message)
        assert.equal("$" .. (".next"):rep(400) .. ".back", err.path)
      end
      node.back = nil
      -- The same tables again under a sibling of the chain: reached twice, never a cycle.
      local shared = { leaf = true }
      nodes[200].twin = shared
      nodes[300].twin = shared
      nodes[300].again = { x = shared }
      local text = enc(chain, { sort_keys = true })
      assert.equal(3, select(2, text:gsub('{"leaf":true}', "")))
    end)

    it("limits nesting to max_depth (default 1000)", function()
      local function nest(n)
        local v = {}
        for _ = 2, n do v = { v } end
        return v
      end
      assert.equal(2000, #enc(nest(1000)))
      local err = enc_error(nest(1001))
      assert.matches("max_depth", err.message)
      assert.equal("$" .. string.rep("[1]", 1000), err.path)
      assert.equal("[[[]]]", enc(json.array({ json.array({ json.array() }) }), { max_depth = 3 }))
      err = enc_error({ a = { b = { c = {} } } }, { max_depth = 3 })
      assert.equal("$.a.b.c", err.path)
      assert.equal("{}", enc({}, { max_depth = 1 }))
      assert.equal("[1]", enc({ 1 }, { max_depth = 1 }))
      enc_error({ {} }, { max_depth = 1 })
      assert.equal("1", enc(1, { max_depth = 1 }))
    end)

    it("rejects values JSON has no form for, naming the type and the place", function()
      local err = enc_error(print)
      assert.matches("function", err.message)
      assert.equal("$", err.path)
      err = enc_error({ items = { 1, 2, { price = print } } })
      assert.matches("function", err.message)
      assert.equal("$.items[3].price", err.path)
      assert.matches("thread", enc_error({ co = coroutine.create(print) }).message)
      assert.matches("userdata", enc_error({ f = io.stdout }).message)
    end)

    it("quotes keys in paths that are not plain names", function()
      local err = enc_error({ ["a b"] = { ["x\"y"] = { ["1"] = { ["\n"] = print } } } })
      assert.equal('$["a b"]["x\\"y"]["1"]["\\n"]', err.path)
      err = enc_error({ snake_case9 = { [""] = print } })
      assert.equal('$.snake_case9[""]', err.path)
    end)

    it("gives the same errors with sort_keys", function()
      local t = { b = 1, a = { 1, 2, { price = print } } }
      local err = enc_error(t, { sort_keys = true })
      assert.equal("$.a[3].price", err.path)
      local c = {}
      c.me = c
      assert.matches("cycle", enc_error({ z = c }, { sort_keys = true }).message)
      assert.matches("mixed keys", enc_error({ a = 1, [2] = 2 }, { sort_keys = true }).message)
    end)

    it("prints as one line through the SDK error type", function()
      local err = enc_error({ items = { print } })
      assert.equal("flexiroam: encode: cannot encode a function $.items[1]", tostring(err))
    end)
  end)

  describe("robustness", function()
    -- In a child interpreter: a small heap, so the finalizers made before
    -- each encode often run in the middle of it. On LuaJIT lua_pushlstring
    -- steps the collector before it copies the result out of the scratch
    -- buffer; on 5.4 the finalizers run just after the copy.
    it("keeps its result when a finalizer encodes while the result is pushed", function()
      -- On Lua 5.4 the collector is made to step at nearly every allocation
      -- (incremental, no pause; lua5.4 starts generational), so that some
      -- steps land in the encode's push of its result: left generational,
      -- whether any did hung on the heap's exact sizes (one more function in
      -- flexiroam.json made it none in one checkout and thousands in
      -- another). LuaJIT's defaults finalize thousands during encodes.
      local out, why = procs.lua_child [[
        if not rawget(_G, "jit") then
          collectgarbage("incremental")
          collectgarbage("setpause", 0)
        end
        local json = require "flexiroam.json"
        local newproxy = rawget(_G, "newproxy")
        local in_encode, during, bad = false, 0, 0
        local other = {}
        for i = 1, 300 do other[i] = "other-" .. i end
        local other_text = json.encode(other)
        local function finalizer()
          if in_encode then during = during + 1 end
          if json.encode(other) ~= other_text then bad = bad + 1 end
        end
        local function make()
          if newproxy then
            local p = newproxy(true)
            getmetatable(p).__gc = finalizer
          else
            setmetatable({}, { __gc = finalizer })
          end
        end
        local value = {}
        for i = 1, 100 do value[i] = { id = i, name = "item " .. i } end
        local want = json.encode(value, { sort_keys = true })
        local wrong = 0
        for _ = 1, 3000 do
          for _ = 1, 20 do make() end
          in_encode = true
          local s = json.encode(value, { sort_keys = true })
          in_encode = false
          if s ~= want then wrong = wrong + 1 end
        end
        print("during", during, "wrong", wrong, "bad", bad)
      ]]
      if not out then return pending(why) end
      local during, wrong, bad = out:match("^during\t(%d+)\twrong\t(%d+)\tbad\t(%d+)\n$")
      assert(during, out)
      assert.is_true(tonumber(during) > 0, "no finalizer ran during an encode")
      assert.equal("0", wrong)
      assert.equal("0", bad)
    end)

    -- Observed through what calls allocate from Lua: were the shared
    -- buffers lost for good, every call would make three buffer userdata; as
    -- it is, the first call after the raise makes them and the others,
    -- encoding a value whose text is an already interned short string, allocate nothing.
    it("takes its shared buffers again after a raise in the middle of an encode", function()
      local out, why = procs.lua_child([[
        local json = require "flexiroam.json"
        local small = { "a\n" }
        json.encode(small)
        local big, line = {}, ("x"):rep(100)
        for i = 1, 1000000 do big[i] = line end
        limit_memory(64 * 1024)
        local ok, err = pcall(json.encode, big)
        print("raised", not ok, err)
        big = nil
        collectgarbage()
        collectgarbage()
        collectgarbage("stop")
        local before = collectgarbage("count")
        for _ = 1, 1000 do json.encode(small) end
        print("grew_kb", math.floor(collectgarbage("count") - before))
      ]], true)
      if not out then return pending(why) end
      assert.matches("raised\ttrue\t[^\n]*not enough memory", out)
      local grew = tonumber(out:match("grew_kb\t(%d+)"))
      assert(grew, out)
      assert.is_true(grew < 32, "1000 calls allocated " .. grew .. " kB")
    end)
  end)

  describe("misuse", function()
    it("raises on bad options", function()
      assert.has_error(function() json.encode(1, 5) end)
      assert.has_error(function() json.encode(1, "sort") end)
      assert.has_error(function() json.encode(1, { max_depth = 0 }) end)
      assert.has_error(function() json.encode(1, { max_depth = -3 }) end)
      assert.has_error(function() json.encode(1, { max_depth = 1.5 }) end)
      assert.has_error(function() json.encode(1, { max_depth = "10" }) end)
      assert.has_error(function() json.encode(1, { max_depth = 1e9 }) end)
      assert.has_error(function() json.encode(1, { sort_keys = "yes" }) end)
      assert.has_error(function() json.encode() end)
    end)

    it("accepts nil options and empty options", function()
      assert.equal("1", enc(1, nil))
      assert.equal("1", enc(1, {}))
      assert.equal("[1]", enc({ 1 }, { max_depth = 10, sort_keys = false }))
    end)

    it("raises on an unknown option, naming it and the ones it takes, instead of dropping it", function()
      -- a typo (sort_key) would otherwise leave the keys unsorted without a word
      for name, opts in pairs { bogus = { bogus = 1 }, sort_key = { sort_key = true },
        maxdepth = { sort_keys = true, maxdepth = 3 } } do
        local ok, err = pcall(json.encode, { b = 1, a = 2 }, opts)
        assert.is_false(ok)
        assert.matches("unknown option '" .. name .. "': json.encode takes sort_keys and max_depth", err, 1, true)
      end
      local ok, err = pcall(json.encode, 1, { [1] = true })
      assert.is_false(ok)
      assert.matches("option names are strings, found a number key", err, 1, true)
      assert.equal('{"a":2,"b":1}', enc({ b = 1, a = 2 }, { sort_keys = true, max_depth = 2 }))
    end)
  end)
end)
