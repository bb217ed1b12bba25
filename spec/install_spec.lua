-- The install kit on the Activation model (flexiroam.install): the LPA
-- string and its confirmation-code variant, the manual-entry fields, the
-- iOS link, each rebuilt from checked parts; on the sandbox's own
-- activations (get_activation, sell_plan) and on hand-made ones; the QR
-- code of each read back by zbarimg where it is installed.
local flexiroam = require "flexiroam"
local sandbox = require "spec.support.sandbox"
local scan = require "spec.support.scan"

local install, models = flexiroam.install, flexiroam.models
local IOS = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
local ICCID = "8901260882310000005"
local no_scanner = scan.missing("zbarimg")

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The LPA an iOS link carries, checked to be escaped as a URL query value must be.
local function carddata(link)
  assert.equals(IOS, link:sub(1, #IOS))
  local value = link:sub(#IOS + 1)
  assert.is_nil(value:find("[^%w%-%._~%%]"), "an unescaped character in " .. value)
  return unescape(value)
end

local function activation(fields)
  local client = flexiroam.new { api_key = "k", base_url = "http://127.0.0.1:1" }
  fields.iccid = fields.iccid or ICCID
  return models.new(client, "Activation", fields)
end

local function assert_scans_to(text, m)
  if no_scanner then return end
  assert.same({ text }, scan.decode_png(m:png()))
end

describe("activation:install_links() on the sandbox's activations", function()
  local sb, client
  lazy_setup(function()
    sb = sandbox.start { sims = 8, seed = 23 }
    client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)

  it("gives the LPA, the manual fields and the iOS link of get_activation's answer", function()
    local iccid = sandbox.free_esims(client, 1)[1]
    local act = assert(client:get_activation { iccid = iccid })
    local links = assert(act:install_links())
    assert.equals(act.lpa, links.lpa)
    assert.equals("LPA:1$" .. act.smdp_address .. "$" .. act.matching_id, links.lpa)
    assert.equals(act.smdp_address, links.smdp_address)
    assert.equals(act.matching_id, links.activation_code)
    assert.is_nil(links.confirmation_code)
    assert.is_false(links.confirmation_code_required)
    assert.equals(act.lpa, carddata(links.ios))
    local m = assert(act:qr())
    assert.equals("M", m.ec)
    assert_scans_to(act.lpa, m)
  end)

  it("does the same for the activation sell_plan answers", function()
    local plan = assert(client:collect("list_plans", { chip_type = "esim", type = "one_time" }, { max_items = 1 }))[1]
    local sale = assert(client:sell_plan { plan_id = plan.id, reference = "install-spec-1" })
    local links = assert(sale.activation:install_links())
    assert.equals(sale.activation.lpa, links.lpa)
    assert_scans_to(links.lpa, assert(sale.activation:qr { ec = "H", margin = 2 }))
  end)
end)

describe("the install kit on hand-made activations", function()
  it("writes the confirmation-code variant when the activation carries a code, and keeps it out of the LPA", function()
    local act = activation { lpa = "LPA:1$smdp.example.com$K2-LM3N", confirmation_code = "4711" }
    local links = assert(act:install_links())
    assert.equals("LPA:1$smdp.example.com$K2-LM3N$$1", links.lpa)
    assert.equals("4711", links.confirmation_code)
    assert.is_true(links.confirmation_code_required)
    assert.is_nil(links.lpa:find("4711", 1, true))
    assert.is_nil(links.ios:find("4711", 1, true))
    assert.equals(links.lpa, carddata(links.ios))
    assert_scans_to(links.lpa, assert(act:qr()))
  end)

  it("keeps the confirmation flag and SM-DP+ OID of the LPA, and says when the code comes from elsewhere", function()
    local links = assert(install.links { lpa = "LPA:1$smdp.example.com$K2-LM3N$$1" })
    assert.equals("LPA:1$smdp.example.com$K2-LM3N$$1", links.lpa)
    assert.is_true(links.confirmation_code_required)
    assert.is_nil(links.confirmation_code)
    links = assert(install.links { lpa = "lpa:1$smdp.example.com$K2-LM3N$1.3.6.1.4.1.31746" })
    assert.equals("LPA:1$smdp.example.com$K2-LM3N$1.3.6.1.4.1.31746", links.lpa)
    links = assert(install.links { lpa = "LPA:1$smdp.example.com$K2-LM3N$1.3.6.1.4.1.31746", confirmation_code = "9" })
    assert.equals("LPA:1$smdp.example.com$K2-LM3N$1.3.6.1.4.1.31746$1", links.lpa)
  end)

  it("takes an empty or null confirmation code as none", function()
    for _, none in ipairs { "", flexiroam.json.null } do
      local links = assert(install.links { lpa = "LPA:1$smdp.example.com$X", confirmation_code = none })
      assert.equals("LPA:1$smdp.example.com$X", links.lpa)
      assert.is_nil(links.confirmation_code)
    end
  end)

  it("builds the LPA from smdp_address and matching_id when the answer has no lpa", function()
    local links = assert(install.links { smdp_address = "smdp.example.com", matching_id = "A-1" })
    assert.equals("LPA:1$smdp.example.com$A-1", links.lpa)
  end)

  it("escapes characters a matching id may hold in the iOS link", function()
    local lpa = "LPA:1$smdp.example.com$a&b=c?d#e+f/g%h\"<>"
    local links = assert(install.links { lpa = lpa })
    assert.equals(lpa, carddata(links.ios))
    assert_scans_to(lpa, assert(install.qr(links)))
  end)

  it("answers nil and a validation error for an activation that cannot be installed", function()
    local cases = {
      { { lpa = "LPA:2$smdp.example.com$X" }, "lpa" },
      { { lpa = "LPA:1$not a host$X" }, "lpa" },
      { { lpa = "LPA:1$smdp.example.com$X Y" }, "lpa" },
      { { lpa = "LPA:1$smdp.example.com$X", smdp_address = "other.example.com" }, "smdp_address" },
      { { lpa = "LPA:1$smdp.example.com$X", matching_id = "Y" }, "matching_id" },
      { { smdp_address = "smdp.example.com", matching_id = "X$1" }, "matching_id" },
      { { smdp_address = "smdp.example.com" }, "lpa" },
      { {}, "lpa" },
      { { lpa = "LPA:1$smdp.example.com$X", confirmation_code = "12 34" }, "confirmation_code" },
      { { lpa = "LPA:1$smdp.example.com$X", confirmation_code = ("9"):rep(65) }, "confirmation_code" },
      { { lpa = "LPA:1$smdp.example.com$X", confirmation_code = 471 }, "confirmation_code" }, -- "0471"?
    }
    for i, case in ipairs(cases) do
      local links, err = install.links(case[1])
      assert.is_nil(links, "case " .. i)
      assert.equals("validation", err.kind, "case " .. i)
      assert.is_string(err.fields[case[2]], "case " .. i .. ": " .. tostring(err))
      local act = activation(case[1])
      local m, qr_err = act:qr()
      assert.is_nil(m)
      assert.equals(err.message, qr_err.message)
    end
  end)

  it("accepts a host name whatever its case, as DNS does", function()
    assert(install.links { lpa = "LPA:1$SMDP.Example.com$X", smdp_address = "smdp.example.COM" })
  end)
end)
