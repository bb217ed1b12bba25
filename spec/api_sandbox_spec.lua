-- The whole API surface against the sandbox, in process (no sockets):
-- every named method, typed error answers, model methods, pagination,
-- collect, sell_plan and low_data, with the sandbox's state as witness.
-- The in-process sandbox is a Lua 5.4 program: under LuaJIT this spec
-- skips; api_http_spec runs the same SDK against the sandbox's own process.
if _VERSION ~= "Lua 5.4" then
  return describe("the API surface against the in-process sandbox", function()
    pending("skipped: the sandbox runs under Lua 5.4 only, not " .. _VERSION)
  end)
end
local flexiroam = require "flexiroam"
local sandbox_transport = require "flexiroam.sandbox.transport"

local json = flexiroam.json
local esim = flexiroam.esim
local models = flexiroam.models
local KEY = "sandbox-key"
local GB = 1024 * 1024 * 1024
local SIMS = 45

-- A Luhn-valid ICCID that no sandbox SIM has.
local UNKNOWN_ICCID = "8944000000000000000" .. esim.luhn_digit("8944000000000000000")

local function new_sandbox(opts)
  opts = opts or {}
  local transport = sandbox_transport.new { sims = opts.sims or SIMS, seed = opts.seed or 11 }
  -- Lets a spec add request headers (x-sandbox-fault) or act before a request.
  local inner = transport.request
  transport.before = nil
  transport.request = function(self, req)
    if self.before then self.before(req) end
    return inner(self, req)
  end
  local client = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1", transport = transport }
  return client, transport, transport.handler
end

local function stats(client)
  return assert(client:request("GET", "/__sandbox/stats"))
end

local function consume(client, iccid, bytes)
  return assert(client:request("POST", "/__sandbox/consume", { json = { iccid = iccid, bytes = bytes } }))
end

-- The n-th eSIM of the sandbox's inventory (every 10th SIM is a psim).
local function esim_at(h, n)
  local seen = 0
  for _, sim in ipairs(h.state.sims) do
    if sim.chip_type == "esim" then
      seen = seen + 1
      if seen == n then return sim.iccid end
    end
  end
end

local function psim_iccid(h)
  for _, sim in ipairs(h.state.sims) do
    if sim.chip_type == "psim" then return sim.iccid end
  end
end

describe("every operation against the sandbox", function()
  local client, h
  before_each(function()
    local _
    client, _, h = new_sandbox()
  end)

  it("list_inventory and get_sim answer SIMs", function()
    local pg = assert(client:list_inventory { chip_type = "esim", search_by = "availability", search = "free",
      limit = 5 })
    assert.equals(5, #pg.items)
    assert.is_string(pg.page_key)
    for _, sim in ipairs(pg.items) do
      assert.equals("SIM", models.kind(sim))
      assert.is_true(sim:is_free())
      assert.is_true(sim:is_esim())
    end
    local sim = assert(client:get_sim { iccid = pg.items[2].iccid })
    assert.equals(pg.items[2].id, sim.id)
  end)

  it("update_sim changes the fields given", function()
    local iccid = esim_at(h, 1)
    local sim = assert(client:update_sim { iccid = iccid, user_info = { department = "logistics" },
      device_info = { name = "tracker-7", imei = "356938035643809" } })
    assert.equals("tracker-7", sim.device_info.name)
    assert.equals("logistics", sim.user_info_department)
    assert.equals("tracker-7", assert(client:get_sim { iccid = iccid }).device_info.name)
  end)

  it("get_activation answers the install string", function()
    local act = assert(client:get_activation { iccid = esim_at(h, 2) })
    assert.equals("Activation", models.kind(act))
    local code = assert(esim.parse_lpa(act.lpa))
    assert.equals(act.smdp_address, code.smdp_address)
    assert.equals(act.matching_id, code.matching_id)
    assert.equals(act.lpa, esim.build_lpa(code))
  end)

  it("list_plans filters the catalogue", function()
    local pg = assert(client:list_plans { type = "one_time", country = "FRA", chip_type = "esim", limit = 100 })
    local ids = {}
    for _, plan in ipairs(pg.items) do
      assert.equals("Plan", models.kind(plan))
      assert.is_true(plan:covers("FRA"))
      assert.is_false(plan:is_recurring())
      ids[plan.id] = plan
    end
    assert.equals(3, ids["FRA-3GB-7D"]:data_gb())
    assert.equals(7, ids["FRA-3GB-7D"].validity_days)
  end)

  it("purchase_plan, list_orders and get_usage", function()
    local iccid = esim_at(h, 3)
    local order = assert(client:purchase_plan { iccid = iccid, plan_id = "FRA-3GB-7D", reference = "ord-1" })
    assert.equals("Order", models.kind(order))
    assert.is_true(order:is_completed())
    assert.equals("ord-1", order.reference)
    local again = assert(client:purchase_plan { iccid = iccid, plan_id = "FRA-3GB-7D", reference = "ord-1" })
    assert.equals(order.id, again.id)
    assert.equals(1, stats(client).charges["ord-1"])
    local listed = assert(client:list_orders { reference = "ord-1" })
    assert.equals(order.id, listed.items[1].id)
    assert.equals(1, #assert(client:list_orders { iccid = iccid }).items)
    local usage = assert(client:get_usage { iccid = iccid })
    assert.equals("Usage", models.kind(usage))
    assert.equals("not_started", usage.status)
    assert.equals(3 * GB, usage.data_total_bytes)
    assert.equals(0, usage:percent_used())
    local sim = assert(order:sim())
    assert.is_false(sim:is_free())
    assert.equals(3 * GB, sim:remaining_bytes())
  end)

  it("create_subscription, list_subscriptions and cancel_subscription", function()
    local iccid = esim_at(h, 4)
    local sub = assert(client:create_subscription { iccid = iccid, plan_id = "DEU-2GB-M", reference = "sub-1" })
    assert.equals("Subscription", models.kind(sub))
    assert.is_true(sub:is_active())
    assert.is_true(assert(client:get_sim { iccid = iccid }):is_subscribed())
    local active = assert(client:list_subscriptions { status = "active" })
    assert.equals(sub.id, active.items[1].id)
    local cancelled = assert(client:cancel_subscription { subscription_id = sub.id })
    assert.equals("cancelled", cancelled.status)
    assert.equals("cancelled", assert(client:cancel_subscription { subscription_id = sub.id }).status)
    assert.is_false(assert(client:get_sim { iccid = iccid }):is_subscribed())
    assert.equals(0, #assert(client:list_subscriptions { status = "active" }).items)
  end)

  it("update_auto_topup answers the SIM with its new settings", function()
    local sim = assert(client:update_auto_topup { iccid = esim_at(h, 5), enabled = true, threshold = 15,
      threshold_in_percentage = true, quantity = 2 })
    assert.same({ enabled = true, threshold = 15, threshold_in_percentage = true, quantity = 2 },
      sim.auto_topup_settings)
  end)
end)

describe("error answers from the sandbox, as typed errors", function()
  local client, h
  before_each(function()
    local _
    client, _, h = new_sandbox()
  end)

  local function check(err, kind, status, code)
    assert.is_true(flexiroam.errors.is_error(err))
    assert.equals(kind, err.kind)
    assert.equals(status, err.status)
    assert.equals(code, err.code)
    assert.is_string(err.request_id)
  end

  it("404 for an unknown SIM, plan or subscription", function()
    for _, name in ipairs { "get_sim", "get_activation", "get_usage" } do
      local v, err = client[name](client, { iccid = UNKNOWN_ICCID })
      assert.is_nil(v)
      check(err, "not_found", 404, "not_found")
      assert.equals(flexiroam.operations[name].path, err.path)
    end
    local _, err = client:purchase_plan { iccid = esim_at(h, 1), plan_id = "MARS-1GB-7D", reference = "r-404" }
    check(err, "not_found", 404, "not_found")
    _, err = client:cancel_subscription { subscription_id = "no-such-subscription" }
    check(err, "not_found", 404, "not_found")
  end)

  it("409 for a reference reused differently and for a SIM already subscribed", function()
    assert(client:purchase_plan { iccid = esim_at(h, 1), plan_id = "FRA-1GB-7D", reference = "dup" })
    local _, err = client:purchase_plan { iccid = esim_at(h, 2), plan_id = "FRA-1GB-7D", reference = "dup" }
    check(err, "reference_reused", 409, "conflict") -- looked up: it names the first SIM's order
    assert.equals(esim_at(h, 1), err.existing.iccid)
    assert(client:create_subscription { iccid = esim_at(h, 3), plan_id = "DEU-2GB-M", reference = "s-a" })
    _, err = client:create_subscription { iccid = esim_at(h, 3), plan_id = "DEU-2GB-M", reference = "s-b" }
    check(err, "conflict", 409, "conflict")
  end)

  it("422 with the fields at fault", function()
    local _, err = client:update_auto_topup { iccid = esim_at(h, 1), enabled = true, quantity = 11 }
    check(err, "validation", 422, "validation_failed")
    assert.is_string(err.fields.quantity)
    _, err = client:update_auto_topup { iccid = esim_at(h, 1), enabled = true, threshold = 101,
      threshold_in_percentage = true }
    assert.is_string(err.fields.threshold)
    _, err = client:purchase_plan { iccid = esim_at(h, 1), plan_id = "DEU-2GB-M", reference = "r-422" }
    check(err, "validation", 422, "validation_failed")
    assert.matches("recurring", err.fields.plan_id)
    _, err = client:get_activation { iccid = psim_iccid(h) }
    check(err, "validation", 422, "validation_failed")
    assert.is_string(err.fields.iccid)
  end)

  it("a bad ICCID never reaches the sandbox", function()
    local before = stats(client).requests
    local _, err = client:get_sim { iccid = "89852350824010131082" }
    assert.equals("validation", err.kind)
    assert.is_nil(err.status)
    assert.equals(before + 1, stats(client).requests) -- only the stats call itself
  end)
end)

describe("pagination against the sandbox", function()
  it("walks a multi-page inventory: every SIM once, in the sandbox's order", function()
    local client, transport, h = new_sandbox()
    local seen, order = {}, {}
    for sim in client:inventory { limit = 4 } do
      assert.is_nil(seen[sim.iccid], "seen twice: " .. sim.iccid)
      seen[sim.iccid] = true
      order[#order + 1] = sim.iccid
    end
    assert.equals(SIMS, #order)
    for i, sim in ipairs(h.state.sims) do assert.equals(sim.iccid, order[i]) end
    assert.equals(math.ceil(SIMS / 4), transport.requests)
  end)

  it("collect gathers the same, and bounds it", function()
    local client, _, h = new_sandbox()
    local all = assert(client:collect("list_inventory", { chip_type = "esim", limit = 7 }))
    local esims = 0
    for _, sim in ipairs(h.state.sims) do if sim.chip_type == "esim" then esims = esims + 1 end end
    assert.equals(esims, #all)
    assert.equals(10, #assert(client:collect("list_inventory", { limit = 7 }, { max_items = 10 })))
    assert.equals(14, #assert(client:collect("list_inventory", { limit = 7 }, { max_pages = 2 })))
    local plans = assert(client:collect("list_plans", { limit = 100 }))
    assert.equals(#h.state.plans, #plans)
  end)

  it("collect stops at a failing page and keeps what came before", function()
    local client, transport = new_sandbox()
    local n = 0
    transport.before = function(req)
      n = n + 1
      if n == 3 then req.headers["x-sandbox-fault"] = "status=503" end
    end
    local items, err = client:collect("list_inventory", { limit = 5 }, { retries = 0 })
    assert.is_nil(items)
    assert.equals("server", err.kind)
    assert.equals(503, err.status)
    assert.equals(10, #err.items)
  end)
end)

describe("model methods against the sandbox", function()
  it("a SIM bought, used, topped up, subscribed, renamed and read back", function()
    local client, _, h = new_sandbox()
    local sim = assert(client:get_sim { iccid = esim_at(h, 6) })
    local order = assert(sim:purchase("FRA-3GB-7D", { reference = "m-1" }))
    assert.equals(sim.iccid, order.iccid)
    assert.is_true(sim:is_free()) -- the object is what the API said when it was read
    assert.equals(sim, assert(sim:refresh()))
    assert.is_false(sim:is_free())
    assert.equals(3 * GB, sim:remaining_bytes())

    consume(client, sim.iccid, 2 * GB + math.floor(GB / 2))
    local usage = assert(sim:usage())
    assert.equals("active", usage.status)
    assert.is_true(math.abs(usage:percent_used() - 250 / 3) < 1e-9)
    assert.is_true(math.abs(usage:percent_remaining() - 50 / 3) < 1e-9)

    assert(sim:set_auto_topup { enabled = true, threshold = 10, threshold_in_percentage = true, quantity = 1 })
    assert.is_true(sim.auto_topup_settings.enabled)
    local report = consume(client, sim.iccid, math.floor(GB / 4)) -- leaves 1/4 GB: under 10 % of 3 GB
    assert.is_true(report.topped_up)
    assert(sim:refresh())
    assert.equals(3 * GB + math.floor(GB / 4), sim:remaining_bytes())

    local sub = assert(sim:subscribe("DEU-2GB-M", { reference = "m-sub" }))
    assert(sim:refresh())
    assert.is_true(sim:is_subscribed())
    assert.equals(sub, assert(sub:cancel()))
    assert.equals("cancelled", sub.status)
    assert.is_false(assert(sim:refresh()):is_subscribed())

    assert.equals(sim, assert(sim:update { user_info = { username = "traveller-42" } }))
    assert.equals("traveller-42", sim.user_info_username)
    local orders = {}
    for o in sim:orders() do orders[#orders + 1] = o.reference end
    assert.same({ "m-1", "auto-topup:" .. sim.iccid .. ":1" }, orders)
    local act = assert(sim:activation())
    assert.equals(sim.iccid, act.iccid)
    assert.matches("^LPA:1%$", act:install_string())
  end)

  it("model methods answer typed errors too", function()
    local client, _, h = new_sandbox()
    local sim = assert(client:get_sim { iccid = esim_at(h, 1) })
    local order, err = sim:purchase("DEU-2GB-M", { reference = "bad" })
    assert.is_nil(order)
    assert.equals("validation", err.kind)
    local same, err2 = sim:set_auto_topup { enabled = true, quantity = 0 }
    assert.is_nil(same)
    assert.equals("validation", err2.kind)
    assert.is_false(sim.auto_topup_settings.enabled) -- unchanged on failure
  end)
end)

describe("client:sell_plan against the sandbox", function()
  it("takes a free eSIM, buys the plan and fetches its activation", function()
    local client, _, h = new_sandbox()
    local sale = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1001" })
    assert.equals("SIM", models.kind(sale.sim))
    assert.equals("Order", models.kind(sale.order))
    assert.equals("Activation", models.kind(sale.activation))
    assert.is_false(sale.replayed)
    assert.is_false(sale.sim:is_free())
    assert.equals("esim", sale.sim.chip_type)
    assert.equals(3 * GB, sale.sim:remaining_bytes())
    assert.equals("shop-1001", sale.order.reference)
    assert.equals(sale.sim.iccid, sale.order.iccid)
    assert.equals(assert(client:get_activation { iccid = sale.sim.iccid }).lpa, sale.activation.lpa)
    assert.truthy(esim.parse_lpa(sale.activation.lpa))
    assert.equals(1, stats(client).charges["shop-1001"])
    assert.is_nil(h.state.sims[h.state.by_iccid[sale.sim.iccid]].availability_sku:match("^free"))
  end)

  it("accepts a Plan and sells onto a given SIM", function()
    local client, _, h = new_sandbox()
    local plan = assert(client:list_plans { country = "JPN", type = "one_time", limit = 1 }).items[1]
    local sale = assert(client:sell_plan { plan_id = plan, reference = "shop-jp", iccid = esim_at(h, 9) })
    assert.equals(esim_at(h, 9), sale.sim.iccid)
    assert.equals(plan.id, sale.order.plan_id)
  end)

  it("run again with the same reference, finishes the sale without buying twice", function()
    local client = new_sandbox()
    local first = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1002" })
    local second = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1002" })
    assert.is_true(second.replayed)
    assert.equals(first.order.id, second.order.id)
    assert.equals(first.sim.iccid, second.sim.iccid)
    assert.equals(first.activation.lpa, second.activation.lpa)
    local s = stats(client)
    assert.equals(1, s.charges["shop-1002"])
    assert.equals(1, s.orders)
  end)

  it("refuses a reference that already bought another plan", function()
    local client = new_sandbox()
    assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1003" })
    local sale, err = client:sell_plan { plan_id = "FRA-1GB-7D", reference = "shop-1003" }
    assert.is_nil(sale)
    assert.equals("conflict", err.kind)
    assert.equals("FRA-3GB-7D", err.order.plan_id)
    assert.equals(1, stats(client).orders)
  end)

  it("a purchase that fails leaves nothing bought and the SIM free", function()
    local client, _, h = new_sandbox()
    local sale, err = client:sell_plan { plan_id = "DEU-2GB-M", reference = "shop-1004" } -- recurring: 422
    assert.is_nil(sale)
    assert.equals("validation", err.kind)
    sale, err = client:sell_plan { plan_id = "NOPE-1GB-7D", reference = "shop-1005" }
    assert.is_nil(sale)
    assert.equals("not_found", err.kind)
    assert.equals(0, stats(client).orders)
    for _, sim in ipairs(h.state.sims) do assert.matches("^free___", sim.availability_sku) end
  end)

  it("a failure after the purchase names the order; the same reference then finishes it", function()
    local client, transport = new_sandbox()
    transport.before = function(req)
      if req.url:find("/get%-activation") then req.headers["x-sandbox-fault"] = "status=503" end
    end
    local sale, err = client:sell_plan({ plan_id = "FRA-3GB-7D", reference = "shop-1006" }, { retries = 0 })
    assert.is_nil(sale)
    assert.equals("server", err.kind)
    assert.equals("shop-1006", err.order.reference)
    assert.equals("SIM", models.kind(err.sim))
    assert.matches("order " .. err.order.id .. " is placed", err.message, 1, true)
    assert.matches("reference shop-1006", err.message, 1, true)
    transport.before = nil
    local done = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1006" })
    assert.is_true(done.replayed)
    assert.equals(err.order.id, done.order.id)
    assert.equals(1, stats(client).charges["shop-1006"])
  end)

  it("when another seller takes the same SIM first, says so instead of handing it over", function()
    local client, transport, h = new_sandbox { sims = 3 }
    -- another client of the same sandbox buys whichever SIM ours is about
    -- to buy, just before our purchase arrives
    local rival = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1",
      transport = sandbox_transport.new { handler = h } }
    transport.before = function(req)
      if req.url:find("/purchase%-plan") then
        transport.before = nil
        local iccid = json.decode(req.body).iccid
        assert(rival:purchase_plan { iccid = iccid, plan_id = "FRA-1GB-7D", reference = "rival-1" })
      end
    end
    local sale, err = client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1007" }
    assert.is_nil(sale)
    assert.equals("conflict", err.kind)
    assert.equals("sim_taken", err.code)
    assert.equals("rival-1", err.other.reference)
    assert.equals("shop-1007", err.order.reference)
    -- the same reference tells the same story; a new one sells another eSIM
    local again, err2 = client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1007" }
    assert.is_nil(again)
    assert.equals("sim_taken", err2.code)
    local other = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1007b" })
    assert.are_not.equal(err.order.iccid, other.sim.iccid)
  end)

  it("without a reference, the pipeline makes one up for the purchase", function()
    local client = new_sandbox()
    local sale = assert(client:sell_plan { plan_id = "FRA-1GB-7D" })
    assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", sale.order.reference)
    assert.equals(1, stats(client).charges[sale.order.reference])
  end)

  it("a purchase whose answer is lost after it landed is found, not bought twice", function()
    local client, transport = new_sandbox()
    transport.before = function(req)
      if req.url:find("/purchase%-plan") then
        transport.before = nil
        req.headers["x-sandbox-fault"] = "after_commit=500"
      end
    end
    local sale = assert(client:sell_plan { plan_id = "FRA-3GB-7D", reference = "shop-1008" })
    assert.equals("shop-1008", sale.order.reference)
    assert.equals("Order", models.kind(sale.order))
    local s = stats(client)
    assert.equals(1, s.charges["shop-1008"])
    assert.equals(1, s.orders)
  end)

  it("answers out_of_stock when no free eSIM is left", function()
    local client = new_sandbox { sims = 3 }
    for i = 1, 3 do assert(client:sell_plan { plan_id = "FRA-1GB-7D", reference = "all-" .. i }) end
    local sale, err = client:sell_plan { plan_id = "FRA-1GB-7D", reference = "all-4" }
    assert.is_nil(sale)
    assert.equals("not_found", err.kind)
    assert.equals("out_of_stock", err.code)
    assert.equals(3, stats(client).orders)
  end)

  it("raises on misuse before any request", function()
    local client, transport = new_sandbox()
    assert.has_error(function() client:sell_plan {} end)
    assert.has_error(function() client:sell_plan { plan_id = "FRA-1GB-7D", reference = "" } end)
    assert.has_error(function() client:sell_plan { plan_id = "FRA-1GB-7D", country = "FRA" } end)
    assert.has_error(function() client:sell_plan "FRA-1GB-7D" end)
    assert.equals(0, transport.requests)
  end)
end)

describe("client:low_data against the sandbox", function()
  local client, h, iccids
  before_each(function()
    local _
    client, _, h = new_sandbox()
    iccids = {}
    for i = 1, 4 do
      iccids[i] = esim_at(h, i)
      assert(client:purchase_plan { iccid = iccids[i], plan_id = "FRA-1GB-7D", reference = "low-" .. i })
    end
    consume(client, iccids[1], GB - math.floor(GB / 20)) -- 5 % left
    consume(client, iccids[2], math.floor(GB / 2))       -- 50 % left
    consume(client, iccids[3], GB)            -- depleted
    -- iccids[4]: bought, never used (not_started)
  end)

  local function found(iter)
    local list = {}
    for sim, usage in iter do
      assert.equals("SIM", models.kind(sim))
      assert.equals(sim.iccid, usage.iccid)
      list[#list + 1] = sim.iccid
    end
    table.sort(list)
    return list
  end

  local function sorted(t)
    table.sort(t)
    return t
  end

  it("finds the SIMs under a percentage, depleted ones included", function()
    assert.same(sorted { iccids[1], iccids[3] }, found(client:low_data { below_percent = 10 }))
    assert.same(sorted { iccids[1], iccids[2], iccids[3] }, found(client:low_data { below_percent = 60 }))
  end)

  it("finds the SIMs under a byte count", function()
    assert.same(sorted { iccids[1], iccids[3] }, found(client:low_data { below_bytes = 100 * esim.MB }))
  end)

  it("counts only the statuses asked for", function()
    assert.same({ iccids[1] }, found(client:low_data { below_percent = 10, statuses = { "active" } }))
    assert.same(sorted { iccids[1], iccids[2], iccids[3], iccids[4] },
      found(client:low_data { below_bytes = 2 * GB, statuses = { "active", "depleted", "not_started" } }))
    assert.same(sorted { iccids[1], iccids[2], iccids[3] }, found(client:low_data { below_percent = 100 }))
  end)

  it("raises on misuse, and raises the error object when a request fails", function()
    assert.has_error(function() client:low_data {} end)
    assert.has_error(function() client:low_data { below_percent = 10, below_bytes = 1 } end)
    assert.has_error(function() client:low_data { below_percent = 120 } end)
    assert.has_error(function() client:low_data { below_percent = 10, colour = "red" } end)
    local transport, handler
    client, transport, handler = new_sandbox()
    assert(client:purchase_plan { iccid = esim_at(handler, 1), plan_id = "FRA-1GB-7D",
      reference = "x" })
    transport.before = function(req)
      if req.url:find("/get%-usage") then req.headers["x-sandbox-fault"] = "status=500" end
    end
    local ok, err = pcall(function() for _ in client:low_data({ below_percent = 10 }, { retries = 0 }) do end end)
    assert.is_false(ok)
    assert.equals("server", err.kind)
  end)
end)
