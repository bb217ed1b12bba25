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
  return err
end

-- Asserts that err says `text` (plainly, anywhere).
local function assert_says(text, err, what)
  assert.is_truthy(err:find(text, 1, true), (what or "") .. ": expected " .. text .. " in: " .. err)
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

  it("naming the method the caller called (collect, inventory), and a string where a number goes", function()
    local c = new_client()
    assert_says("collect: 'nope' is not a list operation",
      assert_blames_caller("collect of no list", c.collect, c, "nope", {}))
    assert_says('inventory: unknown option "bogus"',
      assert_blames_caller("inventory unknown option", c.inventory, c, {}, { bogus = 1 }))
    assert_says('plans: max_pages must be an integer >= 0 (got the string "3")',
      assert_blames_caller("plans max_pages string", c.plans, c, {}, { max_pages = "3" }))
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

  it("for a client method called with '.' instead of ':', naming the ':' form", function()
    -- client.get_sim{iccid = "1"} hands the parameters over as the client;
    -- client.close() hands nothing over
    local client = new_client()
    for name, f in pairs(Client) do
      if type(f) == "function" and name ~= "new" and name:sub(1, 2) ~= "__" then
        local text = "client:" .. name .. " must be called with ':'"
        assert_says(text, assert_blames_caller("client." .. name .. "{...}", client[name], { iccid = "1" }), name)
        assert_says(text, assert_blames_caller("client." .. name .. "()", client[name]), name)
        assert_says(text, assert_blames_caller("client." .. name .. '("x")', client[name], "list_plans"), name)
      end
    end
    -- an operation this client added has a method of its own, checked the same way
    local own = flexiroam.new { api_key = "k", base_url = "https://api.example.test", retries = 0,
      transport = fake_transport.new {},
      operations = { get_invoice = { method = "GET", path = "/x", params = { "n" }, required = { "n" } } } }
    assert_says("client:get_invoice must be called with ':'",
      assert_blames_caller("client.get_invoice", own.get_invoice, { n = "1" }))
    assert_blames_caller("client:get_invoice missing", own.get_invoice, own)
  end)

  it("for an operation called without a parameter table, as with an empty one: nothing is sent", function()
    local transport = fake_transport.new {}
    local client = flexiroam.new { api_key = "k", base_url = "https://api.example.test", retries = 0,
      transport = transport }
    for name, op in pairs(flexiroam.operations) do
      if #op.required > 0 then
        local missing = "missing required parameter '" .. op.required[1] .. "'"
        assert_says(missing, assert_blames_caller(name .. "()", client[name], client), name)
        assert_says(missing, assert_blames_caller(name .. "(nil, opts)", client[name], client, nil, { retries = 1 }))
        assert_says(missing, assert_blames_caller("call " .. name, client.call, client, name))
      end
    end
    assert.same({}, transport.requests)
    -- one that requires nothing still takes nothing
    local page = { status = 200, body = json.encode { items = json.array(), page_key = json.null } }
    local lists = flexiroam.new { api_key = "k", base_url = "https://api.example.test", retries = 0,
      transport = fake_transport.new { page, page } }
    assert.same({}, assert(lists:list_plans()).items)
    assert.same({}, assert(lists:call("list_orders")).items)
  end)

  it("for client:request's query and json: names, values and bodies that cannot go out", function()
    local transport = fake_transport.new {}
    local client = flexiroam.new { api_key = "k", base_url = "https://api.example.test", retries = 0,
      transport = transport }
    local cycle = {}
    cycle.again = cycle
    local cases = {
      { "query = {\"x\"}", "GET", { query = { "x" } }, "query must map names to values" },
      { "mixed query keys", "GET", { query = { a = 1, [2] = "b" } }, "query must map names to values" },
      { "a boolean query key", "GET", { query = { [true] = 1 } }, "query must map names to values" },
      { "a table query value", "GET", { query = { a = {} } }, "parameter 'a' must be a string, number or boolean" },
      { "a NaN query value", "GET", { query = { a = 0 / 0 } }, "parameter 'a' must be a finite number" },
      { "an infinite query value", "GET", { query = { a = -math.huge } }, "parameter 'a' must be a finite number" },
      { "a json cycle", "POST", { json = cycle }, "json cannot be encoded at $.again" },
      { "a json NaN", "POST", { json = { n = 0 / 0 } }, "json cannot be encoded at $.n" },
      { "a json function", "PUT", { json = { f = print } }, "json cannot be encoded at $.f" },
      { "json on a GET", "GET", { json = {} }, "a GET request carries no body" },
      { "json on a HEAD", "head", { json = { a = 1 } }, "a HEAD request carries no body" },
    }
    for _, case in ipairs(cases) do
      local err = assert_blames_caller("request: " .. case[1], client.request, client, case[2], "/x", case[3])
      assert_says("request: " .. case[4], err, case[1])
    end
    assert.same({}, transport.requests)
  end)

  it("for an operation's query value that has no text (NaN, an infinity)", function()
    local client = new_client()
    for _, bad in ipairs { 0 / 0, math.huge, -math.huge } do
      assert_says("list_inventory: parameter 'limit' must be a finite number",
        assert_blames_caller("limit " .. tostring(bad), client.list_inventory, client, { limit = bad }))
    end
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
    assert_says("sim:purchase: expects a Plan or a plan id (got number)",
      assert_blames_caller("sim:purchase", sim.purchase, sim, 42))
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

  it("for a model method called with '.' instead of ':', naming the ':' form", function()
    local client = new_client()
    local sim = sim_model()
    local plan = models.new(client, "Plan", { id = "FRA-3GB-7D" })
    -- the audit's: sim.usage(), sim.purchase("FRA-3GB-7D"), and a plan handed over as the SIM
    assert_says("sim:usage must be called with ':'", assert_blames_caller("sim.usage()", sim.usage))
    assert_says("sim:purchase must be called with ':'",
      assert_blames_caller("sim.purchase(id)", sim.purchase, "FRA-3GB-7D"))
    assert_says("sim:purchase must be called with ':'", assert_blames_caller("sim.purchase(plan)", sim.purchase, plan))
    for _, class in ipairs { "SIM", "Plan", "Order", "Usage", "Subscription", "Activation" } do
      for name, f in pairs(models[class]) do
        if type(f) == "function" and name:sub(1, 2) ~= "__" then
          local text = class:lower() .. ":" .. name .. " must be called with ':'"
          assert_says(text, assert_blames_caller(class .. "." .. name .. "()", f), class)
          assert_says(text, assert_blames_caller(class .. "." .. name .. '("x")', f, "x"), class)
          assert_says(text, assert_blames_caller(class .. "." .. name .. "{}", f, { iccid = ICCID }), class)
        end
      end
    end
    -- a model called as its class's function still works, bound or not
    assert.is_true(models.SIM.is_esim(setmetatable({ chip_type = "esim" }, models.SIM)))
    assert.same({ iccid = ICCID }, models.SIM.raw(sim))
  end)

  it("for the esim toolkit", function()
    assert_blames_caller("luhn_digit", esim.luhn_digit, 42)
    assert_blames_caller("build_lpa", esim.build_lpa, 42)
    assert_blames_caller("build_lpa smdp", esim.build_lpa, { smdp_address = "not a host", matching_id = "x" })
    assert_says('build_lpa: unknown option "bogus"', assert_blames_caller("build_lpa unknown option", esim.build_lpa,
      { smdp_address = "a.b", matching_id = "x", bogus = 1 }))
    assert_blames_caller("build_lpa format", esim.build_lpa, { smdp_address = "a.b", matching_id = "x", format = 2 })
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
    assert_says("unknown option 'bogus'", assert_blames_caller("json.encode unknown option", json.encode, {},
      { bogus = 1 }))
    assert_says("unknown option 'bogus'", assert_blames_caller("json.decode unknown option", json.decode, "{}",
      { bogus = true }))
    assert_says("unknown option 'sort_key'", assert_blames_caller("json.decode encode's option", json.decode, "{}",
      { sort_key = true }))
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
