-- The API surface through the real sandbox server on 127.0.0.1: the same
-- client code as over the in-process transport, over HTTP.
local flexiroam = require "flexiroam"
local sandbox = require "spec.support.sandbox"

local GB = 1024 * 1024 * 1024
local SIMS = 30

describe("the API surface over HTTP", function()
  local sb, client
  lazy_setup(function()
    sb = sandbox.start { sims = SIMS, seed = 9 }
    client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function() assert(client:request("POST", "/__sandbox/reset")) end)

  it("pages through the whole inventory", function()
    local all = assert(client:collect("list_inventory", { limit = 7 }))
    assert.equals(SIMS, #all)
    local seen = {}
    for _, sim in ipairs(all) do
      assert.is_nil(seen[sim.iccid])
      seen[sim.iccid] = true
      assert.is_true(flexiroam.esim.is_iccid(sim.iccid))
    end
  end)

  it("sells a plan, and the same reference again finishes without buying twice", function()
    local sale = assert(client:sell_plan { plan_id = "ITA-3GB-7D", reference = "http-1" })
    assert.equals(3 * GB, sale.sim:remaining_bytes())
    assert.truthy(flexiroam.esim.parse_lpa(sale.activation.lpa))
    local again = assert(client:sell_plan { plan_id = "ITA-3GB-7D", reference = "http-1" })
    assert.is_true(again.replayed)
    assert.equals(sale.order.id, again.order.id)
    local stats = assert(client:request("GET", "/__sandbox/stats"))
    assert.equals(1, stats.charges["http-1"])
    assert.equals(1, stats.orders)
  end)

  it("surfaces 404, 409 and 422 as typed errors", function()
    local sim = assert(client:list_inventory { chip_type = "esim", limit = 1 }).items[1]
    local unknown = "8944000000000000000" .. flexiroam.esim.luhn_digit("8944000000000000000")
    local _, err = client:get_usage { iccid = unknown }
    assert.equals("not_found", err.kind)
    assert.equals(404, err.status)
    assert(sim:subscribe("ESP-2GB-M", { reference = "h-s1" }))
    _, err = sim:subscribe("ESP-2GB-M", { reference = "h-s2" })
    assert.equals("conflict", err.kind)
    assert.equals(409, err.status)
    _, err = sim:set_auto_topup { enabled = true, quantity = 0 }
    assert.equals("validation", err.kind)
    assert.equals(422, err.status)
    assert.is_string(err.fields.quantity)
  end)

  it("model methods read the server's state back", function()
    local sim = assert(client:list_inventory { chip_type = "esim", limit = 1 }).items[1]
    assert(sim:purchase("ITA-1GB-7D", { reference = "h-p1" }))
    assert(client:request("POST", "/__sandbox/consume", { json = { iccid = sim.iccid, bytes = math.floor(GB / 4) } }))
    local usage = assert(sim:usage())
    assert.equals(25, usage:percent_used())
    assert.equals(sim, assert(sim:refresh()))
    assert.equals(GB - math.floor(GB / 4), sim:remaining_bytes())
  end)
end)
