-- Misuse raises at the caller's line: every public function, called with a
-- bad argument, raises an error whose position is the line of the call
-- (spec/support/blame.lua makes it), never a line inside the SDK (flexiroam.misuse). A public
-- function added without a case here fails "covers every public function".
local flexiroam = require "flexiroam"
local Client = require "flexiroam.client"
local misuse = require "flexiroam.misuse"
local ngx_transport = require "flexiroam.transport.ngx"
local fake_transport = require "spec.support.fake_transport"
local blame = require "spec.support.blame"

local models, esim, json, errors = flexiroam.models, flexiroam.esim, flexiroam.json, flexiroam.errors
local ICCID = "8901260882310000005"

local function assert_blames_caller(what, fn, ...)
  local err, where = blame.raised_at(fn, ...)
  assert.is_string(err, what .. " did not raise")
  assert.equals(where, err:sub(1, #where), what .. " blamed the wrong place: " .. err)
end

local function new_client(responses)
  return flexiroam.new { api_key = "k", base_url = "https://api.example.test", retries = 0,
    transport = fake_transport.new(responses or {}) }
end

local function sim_model()
  return models.new(new_client(), "SIM", { iccid = ICCID })
end

-- name -> { function, a bad argument list } for everything that is not an
-- operation method (those are generated, and checked below each one).
local CLIENT_CASES = {
  call = { "get_sim", 42 },
  request = { 42, "/x" },
  each = { "list_inventory", nil, 42 },
  inventory = { { colour = "red" } },
  plans = { 42 },
  orders = { nil, { retires = 1 } },
  subscriptions = { { bogus = 1 } },
  collect = { "list_plans", nil, { max_items = -1 } },
  batch = { { { "no_such_operation", {} } } },
  map = { 42, {} },
  usage_many = { 42 },
  purchase_many = { { 42 } },
  auto_topup_many = { { ICCID }, 42 },
  sell_plan = { { plan_id = 42 } },
  low_data = { {} },
}
-- Public methods that take no argument that could be wrong.
local CLIENT_TOTAL = { close = true, new = true }

describe("misuse raises at the caller's line", function()
  it("for flexiroam.new's checks", function()
    local bad = {
      42, { api_key = 1 }, { api_key = "k", base_url = "ftp://x" }, { api_key = "k", retries = -1 },
      { api_key = "k", clock = 5 }, { api_key = "k", clock = { now = 1 } }, { api_key = "k", on_request = 5 },
      { api_key = "k", logger = 5 }, { api_key = "k", log = "loud" }, { api_key = "k", rate_limit = 0 },
      { api_key = "k", operations = { x = 1 } }, { api_key = "k", operations = { x = { path = "/x" } } },
      { api_key = "k", transport = "carrier pigeon" }, { api_key = "k", correlation_header = "x-api-key" },
      { api_key = "k", base_url = "http://example.com" }, { api_key = "k", timeout_ms = 1.5 },
    }
    for i, opts in ipairs(bad) do assert_blames_caller("flexiroam.new #" .. i, flexiroam.new, opts) end
  end)

  it("for every client method", function()
    local client = new_client()
    for name, args in pairs(CLIENT_CASES) do
      assert_blames_caller("client:" .. name, client[name], client, args[1], args[2], args[3])
    end
  end)

  it("for every operation method: bad parameters, an unknown option, a missing required parameter", function()
    local client = new_client()
    for name, op in pairs(flexiroam.operations) do
      assert_blames_caller(name .. "(42)", client[name], client, 42)
      assert_blames_caller(name .. " unknown parameter", client[name], client, { no_such_parameter = 1 })
      assert_blames_caller(name .. " unknown option", client[name], client, nil, { retires = 1 })
      if #op.required > 0 then assert_blames_caller(name .. " missing", client[name], client, {}) end
    end
    assert_blames_caller("iccid as a number", client.get_sim, client, { iccid = 8901260882310000005 })
  end)

  it("covers every public function of the client", function()
    for name, f in pairs(Client) do
      if type(f) == "function" and name:sub(1, 1) ~= "_" then
        assert.is_true(CLIENT_CASES[name] ~= nil or CLIENT_TOTAL[name] ~= nil or flexiroam.operations[name] ~= nil,
          "client:" .. name .. " has no misuse case here")
      end
    end
  end)

  it("for the model methods", function()
    local sim = sim_model()
    local sub = models.new(new_client(), "Subscription", { id = "s1", iccid = ICCID })
    local order = models.new(new_client(), "Order", { id = "o1", iccid = ICCID })
    assert_blames_caller("models.new", models.new, new_client(), "Spaceship", {})
    assert_blames_caller("models.new data", models.new, new_client(), "SIM", 42)
    assert_blames_caller("sim:usage", sim.usage, sim, 42)
    assert_blames_caller("sim:activation", sim.activation, sim, 42)
    assert_blames_caller("sim:purchase", sim.purchase, sim, 42)
    assert_blames_caller("sim:purchase opts", sim.purchase, sim, "p", 42)
    assert_blames_caller("sim:subscribe", sim.subscribe, sim, {})
    assert_blames_caller("sim:set_auto_topup", sim.set_auto_topup, sim, 42)
    assert_blames_caller("sim:update", sim.update, sim, 42)
    assert_blames_caller("sim:refresh", sim.refresh, sim, 42)
    assert_blames_caller("sim:orders", sim.orders, sim, { iccid = "8901260882310000013" })
    assert_blames_caller("sim:subscriptions", sim.subscriptions, sim, nil, 42)
    assert_blames_caller("order:sim", order.sim, order, 42)
    assert_blames_caller("subscription:cancel", sub.cancel, sub, 42)
    local orphan = setmetatable({ iccid = ICCID }, models.SIM)
    assert_blames_caller("a model without a client", models.SIM.usage, orphan)
  end)

  it("for the esim toolkit", function()
    assert_blames_caller("luhn_digit", esim.luhn_digit, 42)
    assert_blames_caller("build_lpa", esim.build_lpa, 42)
    assert_blames_caller("build_lpa smdp", esim.build_lpa, { smdp_address = "not a host", matching_id = "x" })
    assert_blames_caller("bytes_to_gb", esim.bytes_to_gb, "x")
    assert_blames_caller("bytes_to_mb", esim.bytes_to_mb, "x")
    assert_blames_caller("gb_to_bytes", esim.gb_to_bytes, 0 / 0)
    assert_blames_caller("mb_to_bytes", esim.mb_to_bytes, {})
    assert_blames_caller("format_bytes", esim.format_bytes, "x")
  end)

  it("for the QR codes and the install kit", function()
    local act = models.new(new_client(), "Activation", { iccid = ICCID, lpa = "LPA:1$smdp.example.com$K2-LM3N" })
    assert_blames_caller("qr.encode", flexiroam.qr.encode, 42)
    assert_blames_caller("qr.encode options", flexiroam.qr.encode, "x", { ec = "Z" })
    assert_blames_caller("install.links", flexiroam.install.links, 42)
    assert_blames_caller("install.qr", flexiroam.install.qr, act, { margin = -1 })
    assert_blames_caller("activation:qr", act.qr, act, { bogus = true })
    assert_blames_caller("activation:qr options", act.qr, act, 42)
  end)

  it("for the codec, the transports and the sandbox transport", function()
    assert_blames_caller("json.decode", json.decode, {})
    assert_blames_caller("json.encode options", json.encode, {}, 42)
    assert_blames_caller("transport.ngx.new", ngx_transport.new, { no_such_option = 1 })
    if _VERSION ~= "Lua 5.1" then -- the sandbox is a Lua 5.4 program
      assert_blames_caller("sandbox transport", require("flexiroam.sandbox.transport").new, 42)
    end
  end)

  it("never blames the SDK's own files, which the helper recognises", function()
    assert.is_true(misuse.is_ours(debug.getinfo(flexiroam.new, "S").source))
    assert.is_true(misuse.is_ours("=[C]"))
    assert.is_false(misuse.is_ours(debug.getinfo(1, "S").source))
    assert.is_true(errors.is_error(errors.new("x", "y")))
  end)
end)
