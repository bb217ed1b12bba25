-- The eSIM toolkit: ICCID checks, activation codes, data sizes.
local flexiroam = require "flexiroam"

local esim = flexiroam.esim

-- 19 digits of the sandbox's shape plus its check digit, built here from
-- the Luhn rule written out by hand (not with the function under test).
local function luhn_by_hand(body)
  local sum = 0
  local digits = {}
  for d in body:gmatch("%d") do digits[#digits + 1] = tonumber(d) end
  -- from the right, the first digit of the body is doubled (the check
  -- digit will sit to its right)
  for i = #digits, 1, -1 do
    local d = digits[i]
    if (#digits - i) % 2 == 0 then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
  end
  return tostring((10 - sum % 10) % 10)
end

describe("esim ICCIDs", function()
  it("knows the Luhn digit of the textbook example and of real ICCIDs", function()
    assert.equals(3, esim.luhn_digit("7992739871"))
    -- from the published list-inventory sample
    assert.equals(1, esim.luhn_digit("8985235082401013108"))
    assert.equals(9, esim.luhn_digit("8985235082401013109"))
    for _, body in ipairs { "898523508240101310", "8944500102198304826", "1", "0000000000000000000" } do
      assert.equals(tonumber(luhn_by_hand(body)), esim.luhn_digit(body), body)
    end
  end)

  it("accepts 19 and 20 digit ICCIDs with a good check digit", function()
    local twenty = "8985235082401013108" .. luhn_by_hand("8985235082401013108")
    local nineteen = "898523508240101310" .. luhn_by_hand("898523508240101310")
    assert.is_true(esim.is_iccid(twenty))
    assert.is_true(esim.is_iccid(nineteen))
    assert.equals(twenty, esim.check_iccid(twenty))
  end)

  local bad = {
    { "89852350824010131082", "Luhn" },          -- last digit changed
    { "89852350824010131018", "Luhn" },          -- two digits swapped
    { "8985235082401013108", "Luhn" },           -- a digit missing (19 digits, wrong check)
    { "898523508240101310", "19 or 20 digits" }, -- too short
    { "898523508240101310811", "19 or 20 digits" },
    { "8985235082401013108a", "only the digits" },
    { " 89852350824010131081", "only the digits" },
    { "", "only the digits" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. string.format("%q", case[1]) .. " saying why", function()
      local v, err = esim.check_iccid(case[1])
      assert.is_nil(v)
      assert.equals("validation", err.kind)
      assert.is_true(flexiroam.errors.is_error(err))
      assert.matches(case[2], err.fields.iccid)
      assert.is_false(err.sent)
      assert.is_false(esim.is_iccid(case[1]))
    end)
  end

  it("says a number is not a string instead of guessing its digits", function()
    assert.matches("string", esim.iccid_problem(8985235082401013108))
    assert.matches("string", esim.iccid_problem(nil))
  end)

  it("shortens an ICCID for logs", function()
    assert.equals("...31081", esim.short_iccid("89852350824010131081", 5))
    assert.equals("...1081", esim.short_iccid("89852350824010131081"))
    assert.equals("12", esim.short_iccid("12"))
  end)
end)

describe("esim activation codes", function()
  it("parses the LPA string the API hands out", function()
    local code = assert(esim.parse_lpa("LPA:1$smdp.sandbox.flexiroam.test$TMWJ8-6RLB9-JNB7B-7KZM4"))
    assert.equals("smdp.sandbox.flexiroam.test", code.smdp_address)
    assert.equals("TMWJ8-6RLB9-JNB7B-7KZM4", code.matching_id)
    assert.equals(1, code.format)
    assert.is_nil(code.oid)
    assert.is_false(code.confirmation_code_required)
  end)

  it("parses the bare form, an empty matching id, an OID and the confirmation flag", function()
    local a = assert(esim.parse_lpa("1$rsp.example.com$ABC"))
    assert.equals("rsp.example.com", a.smdp_address)
    local b = assert(esim.parse_lpa("lpa:1$consumer.rsp.global$"))
    assert.equals("", b.matching_id)
    local c = assert(esim.parse_lpa("LPA:1$rsp.example.com$ABC$1.3.6.1.4.1.31746$1"))
    assert.equals("1.3.6.1.4.1.31746", c.oid)
    assert.is_true(c.confirmation_code_required)
    local d = assert(esim.parse_lpa("LPA:1$rsp.example.com$ABC$$1"))
    assert.is_nil(d.oid)
    assert.is_true(d.confirmation_code_required)
  end)

  local bad = {
    { "LPA:2$rsp.example.com$ABC", "format 1" },
    { "LPA:1$rsp.example.com", "matching id" },
    { "LPA:1$$ABC", "host name" },
    { "LPA:1$https://rsp.example.com$ABC", "host name" },
    { "LPA:1$rsp..example.com$ABC", "host name" },
    { "LPA:1$rsp.example.com$AB C", "spaces" },
    { "LPA:1$rsp.example.com$ABC$x.y", "OID" },
    { "LPA:1$rsp.example.com$ABC$$2", "flag" },
    { "LPA:1$a.b$c$1.2$1$x", "more than 5" },
    { "", "format 1" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. string.format("%q", case[1]), function()
      local code, err = esim.parse_lpa(case[1])
      assert.is_nil(code)
      assert.equals("validation", err.kind)
      assert.matches(case[2], err.fields.lpa)
    end)
  end

  it("builds what it parses, and parses what it builds", function()
    local cases = {
      { smdp_address = "smdp.example.com", matching_id = "K2-LM3N4P5Q-R6S7T" },
      { smdp_address = "smdp.example.com", matching_id = "" },
      { smdp_address = "smdp.example.com", matching_id = "X", oid = "1.2.3" },
      { smdp_address = "smdp.example.com", matching_id = "X", confirmation_code_required = true },
      { smdp_address = "10.0.0.1", matching_id = "X", oid = "1.2.3", confirmation_code_required = true },
    }
    for _, parts in ipairs(cases) do
      local text = esim.build_lpa(parts)
      local back = assert(esim.parse_lpa(text))
      assert.equals(parts.smdp_address, back.smdp_address)
      assert.equals(parts.matching_id, back.matching_id)
      assert.equals(parts.oid, back.oid)
      assert.equals(parts.confirmation_code_required or false, back.confirmation_code_required)
      assert.equals(text, esim.build_lpa(back))
    end
    assert.equals("LPA:1$smdp.example.com$AB-12", esim.build_lpa { smdp_address = "smdp.example.com",
      matching_id = "AB-12" })
  end)

  it("raises when asked to build a code that would not parse", function()
    assert.has_error(function() esim.build_lpa { smdp_address = "a b", matching_id = "X" } end)
    assert.has_error(function() esim.build_lpa { smdp_address = "a.b", matching_id = "X$Y" } end)
    assert.has_error(function() esim.build_lpa { smdp_address = "a.b", matching_id = "X", oid = "z" } end)
    assert.has_error(function() esim.build_lpa "LPA:1$a$b" end)
  end)
end)

describe("esim sizes", function()
  it("uses binary units throughout", function()
    assert.equals(1024, esim.KB)
    assert.equals(1048576, esim.MB)
    assert.equals(1073741824, esim.GB)
    assert.equals(3, esim.bytes_to_gb(3221225472))
    assert.equals(512, esim.bytes_to_mb(536870912))
    assert.equals(3221225472, esim.gb_to_bytes(3))
    assert.equals("integer", require("flexiroam.compat").math_type(esim.gb_to_bytes(0.5)))
    assert.equals(536870912, esim.gb_to_bytes(0.5))
    assert.equals(1572864, esim.mb_to_bytes(1.5))
    assert.equals(1, esim.mb_to_bytes(1 / esim.MB * 0.6)) -- rounded to the nearest byte
  end)

  it("formats byte counts for people", function()
    assert.equals("0 B", esim.format_bytes(0))
    assert.equals("812 B", esim.format_bytes(812))
    assert.equals("1.5 KB", esim.format_bytes(1536))
    assert.equals("340.0 MB", esim.format_bytes(340 * esim.MB))
    assert.equals("2.75 GB", esim.format_bytes(esim.gb_to_bytes(2.75)))
    assert.equals("-1.00 GB", esim.format_bytes(-esim.GB))
  end)

  it("raises on what is not a number", function()
    assert.has_error(function() esim.bytes_to_gb("3") end)
    assert.has_error(function() esim.gb_to_bytes(math.huge) end)
    assert.has_error(function() esim.format_bytes(nil) end)
  end)
end)
