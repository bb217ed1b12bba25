-- The API surface over a recording fake transport (no sockets): every
-- named method, parameter and ICCID checks before anything is sent,
-- per-client operations, model objects, collect.
local flexiroam = require "flexiroam"
local fake_transport = require "spec.support.fake_transport"

local json = flexiroam.json
local models = flexiroam.models
local KEY = "sk_live_MODELS_7b2e"
local ICCID = "89852350824010131081" -- from the published sample: Luhn-valid
local ICCID2 = "89852350824010131099"
local BAD_ICCID = "89852350824010131082"
local GB = 1024 * 1024 * 1024

local function ok_item(item)
  return { status = 200, body = json.encode { item = item } }
end

local function page(items, page_key)
  return { status = 200, body = json.encode { items = json.array(items), page_key = page_key or json.null } }
end

local function client_with(responses, opts)
  local transport = fake_transport.new(responses)
  opts = opts or {}
  opts.api_key = KEY
  opts.base_url = "https://api.example.test"
  opts.transport = transport
  return flexiroam.new(opts), transport
end

local function sim_data(over)
  local sim = {
    id = "0f1e2d3c-0000-4000-8000-000000000001", iccid = ICCID, sku = 4024081013108, chip_type = "esim",
    status = "active", state = "normal", availability_sku = "free___4024081013108",
    subscribed = "0___4024081013108", user_info_username = "alice@example.com",
    device_info = { name = json.null, imei = json.null, id = json.null, email = "alice@example.com" },
    balances = { billing_cycle_id = json.null, main_data = 3 * GB },
    auto_topup_settings = { threshold = 0, quantity = 1, threshold_in_percentage = true, enabled = false },
    bootstrap_balances = json.array(), future_field = { nested = true },
  }
  for k, v in pairs(over or {}) do sim[k] = v end
  return sim
end

local function query_of(req)
  local q = {}
  for k, v in (req.url:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do q[k] = v end
  return q
end

local function body_of(req)
  return req.body and json.decode(req.body)
end

-- Minimal valid parameters for each operation of the table.
local VALID = {
  list_inventory = {}, get_sim = { iccid = ICCID }, update_sim = { iccid = ICCID, user_info = { username = "a" } },
  get_activation = { iccid = ICCID }, list_plans = {}, purchase_plan = { iccid = ICCID, plan_id = "FRA-3GB-7D",
    reference = "r1" }, list_orders = {}, get_usage = { iccid = ICCID },
  create_subscription = { iccid = ICCID, plan_id = "DEU-2GB-M", reference = "r2" }, list_subscriptions = {},
  cancel_subscription = { subscription_id = "s1" }, update_auto_topup = { iccid = ICCID, enabled = true },
}

local MODEL = {
  list_inventory = "SIM", get_sim = "SIM", update_sim = "SIM", get_activation = "Activation", list_plans = "Plan",
  purchase_plan = "Order", list_orders = "Order", get_usage = "Usage", create_subscription = "Subscription",
  list_subscriptions = "Subscription", cancel_subscription = "Subscription", update_auto_topup = "SIM",
}

describe("the operations table", function()
  it("holds the twelve operations of the contract, each with a model", function()
    local names = {}
    for name, op in pairs(flexiroam.operations) do
      names[#names + 1] = name
      assert.equals(MODEL[name], op.model, name)
      assert.matches("^/v1/public%-v2/", op.path)
      assert.is_true(op.answer == "list" or op.answer == "item")
    end
    table.sort(names)
    local expected = {}
    for name in pairs(VALID) do expected[#expected + 1] = name end
    table.sort(expected)
    assert.same(expected, names)
  end)

  for name, params in pairs(VALID) do
    it("client:" .. name .. " sends the table's method and path and answers a " .. MODEL[name], function()
      local op = flexiroam.operations[name]
      local answer = op.answer == "list" and page({ { id = "x", iccid = ICCID } })
        or ok_item { id = "x", iccid = ICCID }
      local client, transport = client_with({ answer })
      local value = assert(client[name](client, params))
      local req = transport.requests[1]
      assert.equals(op.method, req.method)
      assert.equals("https://api.example.test" .. op.path, req.url:match("^[^?]*"))
      if op.method == "GET" then
        assert.is_nil(req.body)
        for k, v in pairs(params) do assert.equals(tostring(v), query_of(req)[k]) end
      else
        assert.same(params, body_of(req))
      end
      local item = op.answer == "list" and value.items[1] or value
      assert.equals(MODEL[name], models.kind(item))
      assert.equals("x", item.id)
    end)
  end

  it("passes a named method's second argument on to client:call", function()
    local client = client_with({})
    local seen
    rawset(client, "call", function(_, name, params, opts)
      seen = { name = name, params = params, opts = opts }
      return {}
    end)
    local opts = { retries = 0 }
    client:get_sim({ iccid = ICCID }, opts)
    assert.equals("get_sim", seen.name)
    assert.equals(opts, seen.opts)
  end)
end)

describe("parameter checks", function()
  local required = {
    { "get_sim", {}, "iccid" }, { "update_sim", {}, "iccid" }, { "get_activation", { iccid = "" }, "iccid" },
    { "purchase_plan", { iccid = ICCID }, "plan_id" }, { "get_usage", {}, "iccid" },
    { "create_subscription", { plan_id = "p" }, "iccid" }, { "cancel_subscription", {}, "subscription_id" },
    { "update_auto_topup", { iccid = ICCID }, "enabled" },
  }
  for _, case in ipairs(required) do
    it(case[1] .. " raises on a missing " .. case[3] .. " before sending anything", function()
      local client, transport = client_with({})
      local ok, msg = pcall(client[case[1]], client, case[2])
      assert.is_false(ok)
      assert.matches(case[1] .. ": missing required parameter '" .. case[3] .. "'", msg, 1, true)
      assert.equals(0, #transport.requests)
    end)
  end

  it("raises on an unknown parameter, naming it", function()
    local client, transport = client_with({})
    local ok, msg = pcall(client.purchase_plan, client, { iccid = ICCID, plan_id = "p", plan = "p" })
    assert.is_false(ok)
    assert.matches("unknown parameter 'plan'", msg, 1, true)
    assert.equals(0, #transport.requests)
  end)

  for name, params in pairs(VALID) do
    if params.iccid then
      it(name .. " answers a validation error for a bad ICCID and sends nothing", function()
        local client, transport = client_with({})
        local p = {}
        for k, v in pairs(params) do p[k] = v end
        p.iccid = BAD_ICCID
        local value, err = client[name](client, p)
        assert.is_nil(value)
        assert.equals("validation", err.kind)
        assert.is_true(flexiroam.errors.is_error(err))
        assert.matches("Luhn", err.fields.iccid)
        assert.is_false(err.sent)
        assert.equals(name, err.operation)
        assert.equals(flexiroam.operations[name].path, err.path)
        assert.matches(name .. ": iccid", tostring(err), 1, true)
        assert.equals(0, #transport.requests)
      end)
    end
  end

  it("checks an optional iccid filter too, and the iterators raise that error", function()
    local client, transport = client_with({})
    local _, err = client:list_orders { iccid = "123" }
    assert.equals("validation", err.kind)
    assert.matches("19 or 20", err.fields.iccid)
    local ok, raised = pcall(function() for _ in client:orders { iccid = "123" } do end end)
    assert.is_false(ok)
    assert.equals("validation", raised.kind)
    assert.equals(0, #transport.requests)
  end)

  it("raises when an iccid is not a string at all (a bug, not data)", function()
    local client, transport = client_with({})
    assert.has_error(function() client:get_sim { iccid = 89852350824010131 } end)
    assert.equals(0, #transport.requests)
  end)

  it("sends any iccid when the client is made with check_iccid = false", function()
    local client, transport = client_with({ ok_item(sim_data { iccid = BAD_ICCID }) }, { check_iccid = false })
    local sim = assert(client:get_sim { iccid = BAD_ICCID })
    assert.equals(BAD_ICCID, sim.iccid)
    assert.equals(1, #transport.requests)
  end)
end)

describe("per-client operations", function()
  it("corrects a path for one client only, keeping the rest of the operation", function()
    local client, transport = client_with({ page({ { id = "FRA-1GB-7D", data_bytes = GB } }) },
      { operations = { list_plans = { path = "/v2/plans" } } })
    local pg = assert(client:list_plans { country = "FRA" })
    assert.equals("https://api.example.test/v2/plans?country=FRA", transport.requests[1].url)
    assert.equals("Plan", models.kind(pg.items[1]))
    assert.equals(1, pg.items[1]:data_gb())
    assert.equals("/v1/public-v2/list-plans", flexiroam.operations.list_plans.path)
    local other, t2 = client_with({ page({}) })
    other:list_plans()
    assert.matches("/v1/public%-v2/list%-plans$", t2.requests[1].url)
  end)

  it("adds an operation reachable by name, through call, each and collect", function()
    local ops = {
      get_invoice = { method = "GET", path = "/v1/public-v2/get-invoice", params = { "invoice_number" },
        required = { "invoice_number" } },
      list_topups = { method = "GET", path = "/v1/public-v2/list-topups", answer = "list", model = "Order",
        params = { "iccid", "page_key" } },
    }
    local client, transport = client_with({
      ok_item { invoice_number = "FAL-INV-1", total = 5 },
      page({ { id = "o1" } }, "k2"), page({ { id = "o2" } }),
      page({ { id = "o3" } }),
    }, { operations = ops })
    local invoice = assert(client:get_invoice { invoice_number = "FAL-INV-1" })
    assert.equals(5, invoice.total)
    assert.is_nil(models.kind(invoice)) -- no model named: a plain table
    assert.is_nil(getmetatable(invoice))
    local ids = {}
    for o in client:each("list_topups", { iccid = ICCID }) do ids[#ids + 1] = o.id end
    assert.same({ "o1", "o2" }, ids)
    local all = assert(client:collect("list_topups", { iccid = ICCID }))
    assert.equals("Order", models.kind(all[1]))
    assert.matches("page_key=k2", transport.requests[3].url)
    assert.has_error(function() client:get_invoice {} end)
    assert.has_error(function() client_with({}, { operations = { broken = { path = "/x" } } }) end)
  end)
end)

describe("model objects", function()
  it("read as plain fields, keep unknown ones, and encode as the data they are", function()
    local client = client_with({ ok_item(sim_data()) })
    local sim = assert(client:get_sim { iccid = ICCID })
    assert.equals("SIM", models.kind(sim))
    assert.equals(ICCID, sim.iccid)
    assert.equals(3 * GB, sim.balances.main_data)
    assert.equals("integer", require("flexiroam.compat").math_type(sim.sku))
    assert.is_true(sim.future_field.nested)
    local raw = sim:raw()
    assert.is_nil(getmetatable(raw))
    assert.equals(sim.balances, raw.balances)
    local keys = {}
    for k in pairs(sim) do keys[#keys + 1] = k end
    local raw_keys = {}
    for k in pairs(raw) do raw_keys[#raw_keys + 1] = k end
    table.sort(keys)
    table.sort(raw_keys)
    assert.same(raw_keys, keys) -- pairs() sees the data, no methods, no client
    assert.equals(json.encode(raw, { sort_keys = true }), json.encode(sim, { sort_keys = true }))
    assert.equals(json.encode(sim_data(), { sort_keys = true }), json.encode(sim, { sort_keys = true }))
    assert.equals("[]", json.encode(sim.bootstrap_balances))
  end)

  it("print as one line without secrets or personal data", function()
    local client = client_with({
      ok_item(sim_data { availability_sku = "used___4024081013108", subscribed = "1___4024081013108" }),
      ok_item { iccid = ICCID, lpa = "LPA:1$smdp.example.test$SECRET-MATCHING-ID", smdp_address = "smdp.example.test",
        matching_id = "SECRET-MATCHING-ID" },
      ok_item { id = "FRA-3GB-7D", type = "one_time", data_bytes = 3 * GB, validity_days = 7,
        price = { amount_minor = 599, currency = "USD" } },
      ok_item { id = "o1", reference = "r1", iccid = ICCID, plan_id = "FRA-3GB-7D", status = "completed",
        price = { amount_minor = 599, currency = "USD" } },
      ok_item { iccid = ICCID, status = "active", data_total_bytes = 4 * GB, data_used_bytes = GB },
      ok_item { id = "s1", status = "active", cycle = "monthly", plan_id = "DEU-2GB-M", iccid = ICCID,
        renews_at = "2025-01-31 00:00:00" },
    })
    local sim = assert(client:get_sim { iccid = ICCID })
    local act = assert(client:get_activation { iccid = ICCID })
    local plan = assert(client:call("get_sim", { iccid = ICCID }))
    local order = assert(client:call("get_sim", { iccid = ICCID }))
    local usage = assert(client:get_usage { iccid = ICCID })
    local sub = assert(client:call("get_sim", { iccid = ICCID }))
    plan, order, sub = models.new(client, "Plan", plan:raw()), models.new(client, "Order", order:raw()),
      models.new(client, "Subscription", sub:raw())
    local expected = {
      { sim, "^SIM " .. ICCID .. " %(esim, active, used, subscribed, sku 4024081013108, 3%.00 GB left%)$" },
      { act, "^Activation " .. ICCID .. " %(SM%-DP%+ smdp%.example%.test, matching id hidden%)$" },
      { plan, "^Plan FRA%-3GB%-7D %(one_time, 3%.00 GB, 7 days, 5%.99 USD%)$" },
      { order, "^Order o1 %(completed, plan FRA%-3GB%-7D on SIM " .. ICCID .. ", 5%.99 USD, reference r1%)$" },
      { usage, "^Usage " .. ICCID .. " %(active, plan %-, 1%.00 GB of 4%.00 GB used, 25%.0%%%)$" },
      { sub, "^Subscription s1 %(active, monthly, plan DEU%-2GB%-M on SIM " .. ICCID .. ", renews 2025" },
    }
    for _, case in ipairs(expected) do
      local line = tostring(case[1])
      assert.matches(case[2], line)
      assert.is_nil(line:find("\n"))
      assert.is_nil(line:find("SECRET", 1, true))
      assert.is_nil(line:find("alice", 1, true))
    end
  end)

  it("a SIM's methods send the request they name", function()
    local client, transport = client_with({
      ok_item { iccid = ICCID, status = "active", data_total_bytes = 4, data_used_bytes = 1 },
      ok_item { iccid = ICCID, lpa = "LPA:1$a.b$C", smdp_address = "a.b", matching_id = "C" },
      ok_item { id = "o1", iccid = ICCID, plan_id = "FRA-3GB-7D", reference = "ref-1", status = "completed" },
      ok_item { id = "o2", iccid = ICCID, plan_id = "FRA-1GB-7D", reference = "ref-2", status = "completed" },
      ok_item { id = "s1", iccid = ICCID, plan_id = "DEU-2GB-M", reference = "ref-3", status = "active" },
      page({ { id = "o1" } }),
    })
    local sim = models.new(client, "SIM", sim_data())
    assert.equals("Usage", models.kind(assert(sim:usage())))
    local act = assert(sim:activation())
    assert.equals("LPA:1$a.b$C", act:install_string())
    assert.equals("C", assert(act:parse()).matching_id)
    local plan = models.new(client, "Plan", { id = "FRA-3GB-7D" })
    assert.equals("o1", assert(sim:purchase(plan, { reference = "ref-1", retries = 0 })).id)
    assert.equals("o2", assert(sim:purchase("FRA-1GB-7D", { reference = "ref-2" })).id)
    assert.equals("s1", assert(sim:subscribe("DEU-2GB-M", { reference = "ref-3" })).id)
    for o in sim:orders() do assert.equals("o1", o.id) end
    local r = transport.requests
    assert.matches("/get%-usage%?iccid=" .. ICCID .. "$", r[1].url)
    assert.matches("/get%-activation%?iccid=" .. ICCID .. "$", r[2].url)
    assert.same({ iccid = ICCID, plan_id = "FRA-3GB-7D", reference = "ref-1" }, body_of(r[3]))
    assert.same({ iccid = ICCID, plan_id = "FRA-1GB-7D", reference = "ref-2" }, body_of(r[4]))
    assert.matches("/create%-subscription$", r[5].url)
    assert.same({ iccid = ICCID, plan_id = "DEU-2GB-M", reference = "ref-3" }, body_of(r[5]))
    assert.matches("/list%-orders%?iccid=" .. ICCID .. "$", r[6].url)
    -- the options other than reference are the call's, checked as such
    assert.has_error(function() sim:purchase(plan, { reference = "ref-9", colour = "red" }) end)
    assert.equals(6, #r)
    assert.has_error(function() sim:purchase(nil) end)
    assert.has_error(function() sim:purchase({}) end)
  end)

  it("update, set_auto_topup and refresh change the object in place", function()
    local updated = sim_data { user_info_username = "bob" }
    local topped = sim_data { auto_topup_settings = { threshold = 20, quantity = 2, threshold_in_percentage = true,
      enabled = true } }
    local fresh = sim_data { availability_sku = "used___4024081013108" }
    fresh.future_field = nil
    local client, transport = client_with({ ok_item(updated), ok_item(topped), ok_item(fresh),
      { status = 404, body = '{"message":"no SIM with this iccid","code":"not_found"}' } })
    local sim = models.new(client, "SIM", sim_data())
    assert.equals(sim, assert(sim:update { user_info = { username = "bob" } }))
    assert.equals("bob", sim.user_info_username)
    assert.same({ iccid = ICCID, user_info = { username = "bob" } }, body_of(transport.requests[1]))
    assert.equals(sim, assert(sim:set_auto_topup { enabled = true, threshold = 20, quantity = 2 }))
    assert.is_true(sim.auto_topup_settings.enabled)
    assert.same({ iccid = ICCID, enabled = true, threshold = 20, quantity = 2 }, body_of(transport.requests[2]))
    assert.equals(sim, assert(sim:refresh()))
    assert.is_false(sim:is_free())
    assert.is_nil(sim.future_field) -- a field the API no longer sends is gone
    local same, err = sim:refresh()
    assert.is_nil(same)
    assert.equals("not_found", err.kind)
    assert.equals(ICCID, sim.iccid) -- a failed refresh leaves the object as it was
    assert.has_error(function() sim:update { iccid = ICCID2 } end)
  end)

  it("subscription:cancel updates the subscription in place", function()
    local client, transport = client_with({ ok_item { id = "s1", status = "cancelled", renews_at = json.null } })
    local sub = models.new(client, "Subscription", { id = "s1", status = "active", renews_at = "2025-01-31" })
    assert.is_true(sub:is_active())
    assert.equals(sub, assert(sub:cancel()))
    assert.equals("cancelled", sub.status)
    assert.is_false(sub:is_active())
    assert.same({ subscription_id = "s1" }, body_of(transport.requests[1]))
  end)

  it("usage and plan arithmetic", function()
    local client = client_with({})
    local u = models.new(client, "Usage", { data_total_bytes = 4 * GB, data_used_bytes = 3 * GB,
      data_remaining_bytes = GB })
    assert.equals(75, u:percent_used())
    assert.equals(25, u:percent_remaining())
    assert.equals(GB, u:remaining_bytes())
    local none = models.new(client, "Usage", { data_total_bytes = 0, data_used_bytes = 0, status = "not_started" })
    assert.is_nil(none:percent_used())
    assert.is_nil(none:percent_remaining())
    local plan = models.new(client, "Plan", { data_bytes = 3 * GB, coverage = json.array { "FRA", "DEU" },
      type = "recurring", price = { amount_minor = 1299, currency = "EUR" } })
    assert.equals(3, plan:data_gb())
    assert.equals("3", tostring(plan:data_gb())) -- "3 GB" in a listing, not "3.0 GB"
    assert.is_true(plan:covers("fra"))
    assert.is_false(plan:covers("USA"))
    assert.is_true(plan:is_recurring())
    assert.equals("12.99 EUR", plan:price_text())
    assert.equals(0.5, models.new(client, "Plan", { data_bytes = math.floor(GB / 2) }):data_gb())
  end)

  it("a model made by hand without a client raises when a method needs the API", function()
    local sim = setmetatable(sim_data(), models.SIM)
    assert.equals(ICCID, sim.iccid)
    assert.is_true(sim:is_free())
    local ok, msg = pcall(sim.usage, sim)
    assert.is_false(ok)
    assert.matches("no client", msg)
    assert.has_error(function() models.new({}, "Nope", {}) end)
    assert.has_error(function() models.new({}, "SIM", json.array {}) end)
  end)

  it("a field the API sends wins over a method of the same name; the class still reaches it", function()
    local client, transport = client_with({ ok_item { iccid = ICCID, status = "active" } })
    local sim = models.new(client, "SIM", sim_data { usage = "heavy" })
    assert.equals("heavy", sim.usage)
    assert.equals("Usage", models.kind(assert(models.SIM.usage(sim))))
    assert.equals(1, #transport.requests)
  end)
end)

describe("client:collect", function()
  it("gathers every page into one array of models", function()
    local client, transport = client_with({ page({ { id = "a" }, { id = "b" } }, "k2"), page({ { id = "c" } }) })
    local plans = assert(client:collect("list_plans", { type = "one_time" }))
    assert.equals(3, #plans)
    assert.equals("Plan", models.kind(plans[3]))
    assert.equals(2, #transport.requests)
    assert.is_true(json.is_array(plans))
  end)

  it("stops at max_items without asking for another page, and at max_pages", function()
    local client, transport = client_with({ page({ { id = "a" }, { id = "b" } }, "k2"), page({ { id = "c" } }) })
    local two = assert(client:collect("list_plans", nil, { max_items = 2 }))
    assert.equals(2, #two)
    assert.equals(1, #transport.requests)
    local c2, t2 = client_with({ page({ { id = "a" } }, "k2"), page({ { id = "b" } }, "k3") })
    assert.equals(2, #assert(c2:collect("list_plans", nil, { max_pages = 2 })))
    assert.equals(2, #t2.requests)
    local c3, t3 = client_with({})
    assert.equals("[]", json.encode(assert(c3:collect("list_plans", nil, { max_items = 0 }))))
    assert.equals(0, #t3.requests)
  end)

  it("answers nil and the error when a page fails, with what it had gathered in err.items", function()
    local client = client_with({ page({ { id = "a" } }, "k2"), { status = 503, body = "" } })
    local items, err = client:collect("list_orders", nil, { retries = 0 })
    assert.is_nil(items)
    assert.equals("server", err.kind)
    assert.equals(1, #err.items)
    assert.equals("a", err.items[1].id)
  end)

  it("raises on misuse before any request", function()
    local client, transport = client_with({})
    assert.has_error(function() client:collect("get_sim", { iccid = ICCID }) end)
    assert.has_error(function() client:collect("list_plans", { nope = 1 }) end)
    assert.has_error(function() client:collect("list_plans", nil, { max_items = -1 }) end)
    assert.has_error(function() client:collect("list_plans", nil, "x") end)
    assert.equals(0, #transport.requests)
  end)
end)

describe("friendly iterators", function()
  for _, case in ipairs { { "inventory", "list-inventory" }, { "plans", "list-plans" }, { "orders", "list-orders" },
    { "subscriptions", "list-subscriptions" } } do
    it("client:" .. case[1] .. " walks " .. case[2] .. " across pages", function()
      local client, transport = client_with({ page({ { id = "1" } }, "k2"), page({ { id = "2" } }) })
      local ids = {}
      for item in client[case[1]](client, {}) do ids[#ids + 1] = item.id end
      assert.same({ "1", "2" }, ids)
      assert.matches("/" .. case[2]:gsub("%-", "%%-") .. "%?page_key=k2$", transport.requests[2].url)
    end)
  end
end)

-- sell_plan's check that a SIM it picked was not sold to someone else just
-- before: decided by created_at, whichever order the API lists orders in.
describe("jobs.rival_order", function()
  local jobs = require "flexiroam.jobs"
  local ours = { id = "o-ours", reference = "shop-1", created_at = "2026-11-27 12:00:05" }
  local function other(id, at) return { id = id, reference = "ref-" .. id, created_at = at } end

  it("finds an order made shortly before ours, listed oldest or newest first", function()
    local rival = other("o-rival", "2026-11-27 12:00:03")
    assert.equals(rival, jobs.rival_order(ours, { rival, ours }))
    assert.equals(rival, jobs.rival_order(ours, { ours, rival }))
  end)

  it("leaves the SIM to us when the other order came after ours, in either listing", function()
    local later = other("o-later", "2026-11-27 12:00:07")
    assert.is_nil(jobs.rival_order(ours, { ours, later }))
    assert.is_nil(jobs.rival_order(ours, { later, ours }))
  end)

  it("ignores orders older than the race window: the SIM's history", function()
    assert.is_nil(jobs.rival_order(ours, { other("o-old", "2026-11-27 11:40:00"), ours }))
    assert.equals("o-near", jobs.rival_order(ours, { other("o-near", "2026-11-27 11:50:10"), ours }).id)
  end)

  it("within one second, lets the API's listing decide, so exactly one of two sellers gives way", function()
    local theirs = { id = "o-theirs", reference = "shop-2", created_at = ours.created_at }
    local listing = { theirs, ours }
    assert.equals(theirs, jobs.rival_order(ours, listing))
    assert.is_nil(jobs.rival_order(theirs, listing))
  end)

  it("counts an unreadable time as a race", function()
    assert.equals("o-x", jobs.rival_order(ours, { ours, other("o-x", "yesterday") }).id)
  end)

  it("finds no rival on a SIM with our order alone", function()
    assert.is_nil(jobs.rival_order(ours, { ours }))
    assert.is_nil(jobs.rival_order(ours, {}))
  end)
end)
