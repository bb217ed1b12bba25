-- The README's picture of an eSIM's QR code is the SDK's own output for a
-- sandbox activation (`make docs`: examples/install_esim.lua against a
-- sandbox with seed 1), never drawn by hand: it reads back to that
-- activation's LPA, and the README shows it and names the target.
local flexiroam = require "flexiroam"
local sandbox = require "spec.support.sandbox"
local scan = require "spec.support.scan"
local processes = require "spec.support.test_processes"

local IMAGE = "docs/images/esim-install-qr.png"

describe("the README's eSIM QR code", function()
  it("is shown in the section that names make docs", function()
    local readme = processes.slurp("README.md")
    local section = assert(readme:match("\n## Installing the eSIM\n(.-)\n## "), "no section 'Installing the eSIM'")
    assert.matches("](" .. IMAGE .. ")", section, nil, true)
    assert.matches("make docs", section, nil, true)
    local makefile = processes.slurp("Makefile")
    assert.matches("README_QR := " .. IMAGE, makefile, nil, true)
  end)

  it("is the QR code of the first eSIM of a sandbox with seed 1, as make docs draws it", function()
    local why = scan.missing("zbarimg")
    if why then return pending("skipped: " .. why) end
    local sb = sandbox.start { seed = 1 }
    local client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
    local first = assert(client:collect("list_inventory", { chip_type = "esim" }, { max_items = 1 }))[1]
    local activation = assert(client:get_activation { iccid = first.iccid })
    client:close()
    sb:stop()
    local png = processes.slurp(IMAGE)
    assert.same({ activation.lpa }, scan.decode_png(png))
    assert.equals(assert(activation:qr()):png { scale = 8 }, png, "docs differ from what make docs draws now")
  end)
end)
