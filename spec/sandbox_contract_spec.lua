-- luacheck: std +busted
-- The sandbox's contract beyond list-inventory: every operation's happy
-- path and errors, the state its writes leave behind (references, flags,
-- balances, usage, auto top-up, renewals), reset and determinism, at the
-- handler level (no sockets); then the in-process transport under the SDK,
-- and a few operations through the real server to prove the routes wired.
-- Answers are read with lua-cjson, not with the SDK's codec.
-- The sandbox is a Lua 5.4 program (integer arithmetic throughout): under
-- LuaJIT its own specs skip, while the SDK's specs still run it as a lua5.4
-- subprocess.
if _VERSION ~= "Lua 5.4" then
  return describe("sandbox contract", function()
    pending("skipped: the sandbox runs under Lua 5.4 only, not " .. _VERSION)
  end)
end
local cjson = require "cjson"
local socket = require "socket"
local handler = require "flexiroam.sandbox.handler"
local support = require "spec.support.sandbox"

local KEY = "sandbox-key"
local P = "/v1/public-v2/"
local GB = 1024 * 1024 * 1024
local DAY = 86400

local function call(h, method, path, query, body, headers)
  return h:handle {
    method = method, path = path, query = query, body = body or "",
    headers = headers or { ["x-api-key"] = KEY }, remote_addr = "127.0.0.1",
  }
end

-- GET an operation: -> response, decoded body
local function get(h, op, query)
  local res = call(h, "GET", P .. op, query)
  return res, cjson.decode(res.body)
end

-- POST an operation with a Lua value (encoded) or a raw string body.
local function post(h, op, value)
  local body = type(value) == "string" and value or cjson.encode(value)
  local path = op:sub(1, 1) == "/" and op or P .. op
  local res = call(h, "POST", path, nil, body)
  return res, cjson.decode(res.body)
end

local function control(h, method, name, value)
  local res = call(h, method, "/__sandbox/" .. name, nil, value and cjson.encode(value) or "", {})
  return res, cjson.decode(res.body)
end

local function stats(h)
  local _, body = control(h, "GET", "stats")
  return body
end

local function assert_error(res, status, code)
  assert.equals(status, res.status, res.body)
  assert.equals("application/json", res.headers["content-type"])
  local body = cjson.decode(res.body)
  assert.equals(code, body.code)
  assert.equals("string", type(body.message))
  return body
end

-- A 422 whose fields name exactly `names`.
local function assert_fields(res, names)
  local body = assert_error(res, 422, "validation_failed")
  local got = {}
  for k, v in pairs(body.fields) do
    assert.equals("string", type(v))
    got[#got + 1] = k
  end
  table.sort(got)
  table.sort(names)
  assert.same(names, got)
  return body
end

local function sim_at(h, pos)
  return h.state.sims[pos]
end

local function get_sim(h, iccid)
  local res, body = get(h, "get-sim", "iccid=" .. iccid)
  assert.equals(200, res.status)
  return body.item
end

local function usage_of(h, iccid)
  local res, body = get(h, "get-usage", "iccid=" .. iccid)
  assert.equals(200, res.status)
  return body.item
end

local function consume(h, iccid, bytes)
  local res, body = control(h, "POST", "consume", { iccid = iccid, bytes = bytes })
  assert.equals(200, res.status, res.body)
  return body
end

local function advance(h, seconds)
  local res, body = control(h, "POST", "clock", { advance_seconds = seconds })
  assert.equals(200, res.status, res.body)
  return body
end

local function purchase(h, iccid, plan_id, reference)
  return post(h, "purchase-plan", { iccid = iccid, plan_id = plan_id, reference = reference })
end

local function subscribe(h, iccid, plan_id, reference)
  return post(h, "create-subscription", { iccid = iccid, plan_id = plan_id, reference = reference })
end

-- Every item of a list operation, following page_key to the end.
local function all_items(h, op, query)
  local items, key, pages = {}, nil, 0
  repeat
    local q = (query or "") .. (key and ("&page_key=" .. key) or "")
    local res, body = get(h, op, q)
    assert.equals(200, res.status, res.body)
    for _, item in ipairs(body.items) do items[#items + 1] = item end
    key = body.page_key ~= cjson.null and body.page_key or nil
    pages = pages + 1
    assert.is_true(pages <= 1000, "page keys never end")
  until not key
  return items, pages
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local UNKNOWN_ICCID = "89000000000000000000"

describe("sandbox contract: every /v1 operation", function()
  it("is routed, and refuses a request without a key with 401", function()
    local h = handler.new { sims = 5 }
    for _, op in ipairs {
      "GET get-sim", "POST update-sim", "GET get-activation", "GET list-plans", "POST purchase-plan",
      "GET list-orders", "GET get-usage", "POST create-subscription", "GET list-subscriptions",
      "POST cancel-subscription", "POST update-auto-topup",
    } do
      local method, name = op:match("^(%S+) (%S+)$")
      assert.is_function(h.routes[method .. " " .. P .. name], op)
      assert_error(call(h, method, P .. name, nil, "{}", {}), 401, "unauthorized")
    end
  end)
end)

describe("sandbox contract: get_sim", function()
  local h
  before_each(function() h = handler.new { sims = 30, seed = 1 } end)

  it("answers {item: SIM} for a known iccid, as list-inventory shows it", function()
    local sim = sim_at(h, 4)
    local res, body = get(h, "get-sim", "iccid=" .. sim.iccid)
    assert.equals(200, res.status)
    assert.equals(sim.iccid, body.item.iccid)
    assert.equals(sim.id, body.item.id)
    local _, listed = get(h, "list-inventory", "search_by=iccid&search=" .. sim.iccid)
    assert.same(listed.items[1], body.item)
  end)

  it("answers 404 for an unknown iccid and 422 for a missing or malformed one", function()
    assert_error(get(h, "get-sim", "iccid=" .. UNKNOWN_ICCID), 404, "not_found")
    for _, q in ipairs { "", "iccid=", "iccid=123", "iccid=8985235082000013108x", "iccid=" .. string.rep("1", 21) } do
      assert_fields(get(h, "get-sim", q), { "iccid" })
    end
  end)
end)

describe("sandbox contract: update_sim", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 2)
  end)

  it("changes only the fields it is given, and the change shows everywhere", function()
    local res, body = post(h, "update-sim",
      { iccid = sim.iccid, device_info = { name = "Ana's phone", imei = "3569" } })
    assert.equals(200, res.status)
    assert.equals("Ana's phone", body.item.device_info.name)
    assert.equals("3569", body.item.device_info.imei)
    assert.equals(cjson.null, body.item.device_info.email)

    res, body = post(h, "update-sim", { iccid = sim.iccid, user_info = { username = "ana", department = "sales" } })
    assert.equals(200, res.status)
    assert.equals("ana", body.item.user_info_username)
    assert.equals("sales", body.item.user_info_department)
    assert.equals("Ana's phone", body.item.device_info.name)

    -- the SIM's cached JSON was refreshed: reads see the change
    assert.equals("ana", get_sim(h, sim.iccid).user_info_username)
    local _, listed = get(h, "list-inventory", "search_by=iccid&search=" .. sim.iccid)
    assert.equals("Ana's phone", listed.items[1].device_info.name)
  end)

  it("clears a field sent as null, and answers the SIM unchanged when given nothing", function()
    post(h, "update-sim", { iccid = sim.iccid, device_info = { email = "a@example.com" } })
    local _, body = post(h, "update-sim", '{"iccid":"' .. sim.iccid .. '","device_info":{"email":null}}')
    assert.equals(cjson.null, body.item.device_info.email)
    local res, same = post(h, "update-sim", { iccid = sim.iccid })
    assert.equals(200, res.status)
    assert.same(get_sim(h, sim.iccid), same.item)
  end)

  it("answers 400 for a body that is not a JSON object", function()
    for _, raw in ipairs { "", "{", "[1]", '"text"', "42", "null", "{} x" } do
      assert_error(post(h, "update-sim", raw), 400, "bad_request")
    end
  end)

  it("answers 422 naming each bad field", function()
    assert_fields(post(h, "update-sim", {}), { "iccid" })
    assert_fields(post(h, "update-sim", { iccid = 8985 }), { "iccid" })
    assert_fields(post(h, "update-sim", { iccid = sim.iccid, device_info = "phone" }), { "device_info" })
    assert_fields(post(h, "update-sim", { iccid = sim.iccid, device_info = { colour = "red" } }),
      { "device_info.colour" })
    assert_fields(post(h, "update-sim", { iccid = sim.iccid, device_info = { imei = 42 },
      user_info = { username = string.rep("x", 201) } }), { "device_info.imei", "user_info.username" })
    -- nothing was applied
    assert.equals(cjson.null, get_sim(h, sim.iccid).device_info.imei)
  end)

  it("answers 404 for an unknown iccid", function()
    assert_error(post(h, "update-sim", { iccid = UNKNOWN_ICCID, user_info = { username = "x" } }), 404, "not_found")
  end)
end)

describe("sandbox contract: get_activation", function()
  it("answers the eSIM's LPA string, the same for the same SIM and seed", function()
    local h = handler.new { sims = 30, seed = 1 }
    local sim = sim_at(h, 1)
    local res, body = get(h, "get-activation", "iccid=" .. sim.iccid)
    assert.equals(200, res.status)
    local a = body.item
    assert.same({ "iccid", "lpa", "matching_id", "smdp_address" }, sorted_keys(a))
    assert.equals(sim.iccid, a.iccid)
    assert.equals("LPA:1$" .. a.smdp_address .. "$" .. a.matching_id, a.lpa)
    assert.matches("^[%w.-]+$", a.smdp_address)
    assert.matches("^[%w-]+$", a.matching_id)

    local _, again = get(handler.new { sims = 30, seed = 1 }, "get-activation", "iccid=" .. sim.iccid)
    assert.same(a, again.item)
    local _, other_sim = get(h, "get-activation", "iccid=" .. sim_at(h, 2).iccid)
    assert.are_not.equal(a.matching_id, other_sim.item.matching_id)
    local _, other_seed = get(handler.new { sims = 30, seed = 2 }, "get-activation", "iccid=" .. sim.iccid)
    assert.are_not.equal(a.matching_id, other_seed.item.matching_id)
  end)

  it("answers 422 for a physical SIM, 404 for an unknown one, 422 for a malformed iccid", function()
    local h = handler.new { sims = 30, seed = 1 }
    local psim = sim_at(h, 10)
    assert.equals("psim", psim.chip_type)
    assert_fields(get(h, "get-activation", "iccid=" .. psim.iccid), { "iccid" })
    assert_error(get(h, "get-activation", "iccid=" .. UNKNOWN_ICCID), 404, "not_found")
    assert_fields(get(h, "get-activation", "iccid=abc"), { "iccid" })
  end)
end)

describe("sandbox contract: list_plans", function()
  local h
  before_each(function() h = handler.new { sims = 5, seed = 1 } end)

  it("pages the whole catalogue, one-time and recurring, in the contract's shape", function()
    local plans, pages = all_items(h, "list-plans", "limit=50")
    assert.is_true(#plans > 100)
    assert.equals(math.ceil(#plans / 50), pages)
    local ids, kinds = {}, {}
    for _, p in ipairs(plans) do
      assert.same({ "coverage", "data_bytes", "id", "name", "price", "type", "validity_days" }, sorted_keys(p))
      assert.is_nil(ids[p.id], p.id)
      ids[p.id] = true
      kinds[p.type] = (kinds[p.type] or 0) + 1
      assert.is_true(p.data_bytes > 0)
      assert.same({ "amount_minor", "currency" }, sorted_keys(p.price))
      assert.is_true(p.price.amount_minor > 0 and p.price.amount_minor % 1 == 0)
      assert.matches("^%u%u%u$", p.price.currency)
      assert.is_true(#p.coverage >= 1)
      for _, c in ipairs(p.coverage) do assert.matches("^%u%u%u$", c) end
      if p.type == "recurring" then assert.equals(30, p.validity_days) end
    end
    assert.is_true(kinds.one_time > 0 and kinds.recurring > 0)
    -- the travel plan everyone sells
    local found = false
    for _, p in ipairs(plans) do
      if p.type == "one_time" and p.data_bytes == 3 * GB and p.validity_days == 7 then found = true end
    end
    assert.is_true(found)
  end)

  it("filters by type, country (either case) and chip_type", function()
    for _, p in ipairs(all_items(h, "list-plans", "type=recurring&limit=100")) do
      assert.equals("recurring", p.type)
    end
    local fra = all_items(h, "list-plans", "country=FRA&limit=100")
    assert.is_true(#fra > 0)
    local single, regional = 0, 0
    for _, p in ipairs(fra) do
      local covers = false
      for _, c in ipairs(p.coverage) do covers = covers or c == "FRA" end
      assert.is_true(covers, p.id)
      if #p.coverage == 1 then single = single + 1 else regional = regional + 1 end
    end
    assert.is_true(single > 0 and regional > 0)
    assert.same(fra, all_items(h, "list-plans", "country=fra&limit=100"))
    -- physical SIMs get the multi-country plans only
    local psim = all_items(h, "list-plans", "chip_type=psim&country=FRA&limit=100")
    assert.equals(regional, #psim)
    for _, p in ipairs(psim) do assert.is_true(#p.coverage > 1) end
    assert.equals(#fra, #all_items(h, "list-plans", "chip_type=esim&country=FRA&limit=100"))
    -- a country no plan covers: an empty list
    local res, body = get(h, "list-plans", "country=ATA")
    assert.equals(200, res.status)
    assert.equals(0, #body.items)
    assert.equals(cjson.null, body.page_key)
  end)

  it("answers 400 for unknown filter values, 422 for a bad limit, 400 for a foreign page key", function()
    for _, q in ipairs { "chip_type=usim", "type=monthly", "type=", "country=FR", "country=FRAN", "country=12A" } do
      assert_error(get(h, "list-plans", q), 400, "bad_request")
    end
    assert_fields(get(h, "list-plans", "limit=0"), { "limit" })
    assert_fields(get(h, "list-plans", "limit=101"), { "limit" })
    local _, first = get(h, "list-plans", "limit=5")
    assert_error(get(h, "list-plans", "limit=5&type=recurring&page_key=" .. first.page_key), 400, "bad_request")
    assert_error(get(h, "list-plans", "page_key=00000001deadbeef"), 400, "bad_request")
    -- list-inventory's keys are not list-plans' keys
    local _, inv = get(h, "list-inventory", "limit=2")
    assert_error(get(h, "list-plans", "limit=2&page_key=" .. inv.page_key), 400, "bad_request")
    assert.equals(200, (get(h, "list-plans", "limit=5&page_key=" .. first.page_key)).status)
  end)

  it("is the same catalogue for the same seed; another seed prices it differently", function()
    local a = all_items(handler.new { seed = 3 }, "list-plans", "limit=100")
    assert.same(a, all_items(handler.new { seed = 3 }, "list-plans", "limit=100"))
    local b = all_items(handler.new { seed = 4 }, "list-plans", "limit=100")
    assert.equals(#a, #b)
    local differ = false
    for i = 1, #a do differ = differ or a[i].price.amount_minor ~= b[i].price.amount_minor end
    assert.is_true(differ)
  end)
end)

describe("sandbox contract: purchase_plan", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 1)
  end)

  it("sells a one-time plan: 201 with the order, the SIM used, its balance grown, one charge", function()
    local res, body = purchase(h, sim.iccid, "FRA-3GB-7D", "ref-1")
    assert.equals(201, res.status)
    local o = body.item
    assert.same({ "created_at", "iccid", "id", "plan_id", "price", "reference", "status" }, sorted_keys(o))
    assert.equals("ref-1", o.reference)
    assert.equals(sim.iccid, o.iccid)
    assert.equals("FRA-3GB-7D", o.plan_id)
    assert.equals("completed", o.status)
    assert.equals(h.state.plan_by_id["FRA-3GB-7D"].price.amount_minor, o.price.amount_minor)
    assert.equals("USD", o.price.currency)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", o.created_at)

    local after = get_sim(h, sim.iccid)
    assert.equals("used___" .. sim.sku, after.availability_sku)
    assert.equals(3 * GB, after.balances.main_data)
    assert.equals("string", type(after.first_billed_date))
    local _, used = get(h, "list-inventory", "search_by=availability&search=used")
    assert.equals(1, #used.items)

    purchase(h, sim.iccid, "FRA-1GB-7D", "ref-2")
    assert.equals(4 * GB, get_sim(h, sim.iccid).balances.main_data)
    local s = stats(h)
    assert.equals(2, s.orders)
    assert.same({ ["ref-1"] = 1, ["ref-2"] = 1 }, s.charges)
  end)

  it("answers the original order to a repeated reference, charging nothing again", function()
    local _, first = purchase(h, sim.iccid, "FRA-3GB-7D", "ref-1")
    for _ = 1, 3 do
      local res, again = purchase(h, sim.iccid, "FRA-3GB-7D", "ref-1")
      assert.equals(200, res.status)
      assert.same(first.item, again.item)
    end
    assert.equals(3 * GB, get_sim(h, sim.iccid).balances.main_data)
    local s = stats(h)
    assert.equals(1, s.orders)
    assert.equals(1, s.charges["ref-1"])
  end)

  it("answers 409 to a reference reused with another plan, iccid or operation", function()
    purchase(h, sim.iccid, "FRA-3GB-7D", "ref-1")
    assert_error(purchase(h, sim.iccid, "FRA-1GB-7D", "ref-1"), 409, "conflict")
    assert_error(purchase(h, sim_at(h, 2).iccid, "FRA-3GB-7D", "ref-1"), 409, "conflict")
    assert_error(subscribe(h, sim.iccid, "EU-5GB-M", "ref-1"), 409, "conflict")
    subscribe(h, sim_at(h, 3).iccid, "EU-5GB-M", "sub-1")
    assert_error(purchase(h, sim_at(h, 3).iccid, "FRA-3GB-7D", "sub-1"), 409, "conflict")
    assert.same({ ["ref-1"] = 1, ["sub-1"] = 1 }, stats(h).charges)
  end)

  it("answers 422 for missing or malformed fields, a recurring plan, or a plan the chip cannot take", function()
    assert_fields(post(h, "purchase-plan", {}), { "iccid", "plan_id", "reference" })
    assert_fields(purchase(h, "123", 7, ""), { "iccid", "plan_id", "reference" })
    assert_fields(purchase(h, sim.iccid, "FRA-3GB-7D", string.rep("r", 101)), { "reference" })
    assert_fields(purchase(h, sim.iccid, "FRA-3GB-7D", "auto-topup:" .. sim.iccid .. ":1"), { "reference" })
    assert_fields(purchase(h, sim.iccid, "EU-5GB-M", "ref-r"), { "plan_id" })
    local psim = sim_at(h, 10)
    assert_fields(purchase(h, psim.iccid, "FRA-3GB-7D", "ref-p"), { "plan_id" })
    assert.equals(201, (purchase(h, psim.iccid, "EU-3GB-7D", "ref-p")).status)
    assert.same({ ["ref-p"] = 1 }, stats(h).charges)
  end)

  it("answers 404 for an unknown iccid or plan, and 400 for a malformed body", function()
    assert_error(purchase(h, UNKNOWN_ICCID, "FRA-3GB-7D", "r"), 404, "not_found")
    assert_error(purchase(h, sim.iccid, "NOWHERE-1GB-1D", "r"), 404, "not_found")
    assert_error(post(h, "purchase-plan", '{"iccid": '), 400, "bad_request")
    assert_error(post(h, "purchase-plan", "[]"), 400, "bad_request")
    assert.equals(0, stats(h).orders)
    assert.equals("free___" .. sim.sku, get_sim(h, sim.iccid).availability_sku)
  end)
end)

describe("sandbox contract: list_orders", function()
  local h
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    for i = 1, 25 do
      purchase(h, sim_at(h, (i - 1) % 3 + 1).iccid, "FRA-1GB-7D", "ref-" .. i)
    end
  end)

  it("pages every order in order, and filters by iccid and by reference", function()
    local all = all_items(h, "list-orders", "limit=7")
    assert.equals(25, #all)
    for i, o in ipairs(all) do assert.equals("ref-" .. i, o.reference) end
    local mine = all_items(h, "list-orders", "iccid=" .. sim_at(h, 2).iccid .. "&limit=3")
    assert.equals(8, #mine)
    for _, o in ipairs(mine) do assert.equals(sim_at(h, 2).iccid, o.iccid) end
    local _, one = get(h, "list-orders", "reference=ref-7")
    assert.equals(1, #one.items)
    assert.equals("ref-7", one.items[1].reference)
    assert.equals(cjson.null, one.page_key)
    local _, both = get(h, "list-orders", "reference=ref-7&iccid=" .. sim_at(h, 2).iccid)
    assert.equals(0, #both.items)
    local _, none = get(h, "list-orders", "reference=nobody")
    assert.equals(0, #none.items)
    local _, default = get(h, "list-orders", "")
    assert.equals(20, #default.items)
  end)

  it("answers 400 for a malformed iccid or an empty reference, 422 for a bad limit", function()
    assert_error(get(h, "list-orders", "iccid=12"), 400, "bad_request")
    assert_error(get(h, "list-orders", "reference="), 400, "bad_request")
    assert_fields(get(h, "list-orders", "limit=x"), { "limit" })
  end)
end)

describe("sandbox contract: get_usage and consumption", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 5)
  end)

  it("reports not_started with nothing on a SIM no plan was sold onto", function()
    local u = usage_of(h, sim.iccid)
    assert.same({ "data_remaining_bytes", "data_total_bytes", "data_used_bytes", "expires_at", "iccid", "plan_id",
      "started_at", "status", "updated_at" }, sorted_keys(u))
    assert.equals("not_started", u.status)
    assert.equals(cjson.null, u.plan_id)
    assert.equals(0, u.data_total_bytes)
    assert.equals(0, u.data_remaining_bytes)
    assert.equals(cjson.null, u.started_at)
    -- consuming nothing from nothing
    assert.equals(0, consume(h, sim.iccid, 100).consumed)
  end)

  it("goes not_started -> active -> depleted -> expired with the data and the sandbox clock", function()
    purchase(h, sim.iccid, "FRA-1GB-7D", "r1")
    local u = usage_of(h, sim.iccid)
    assert.equals("not_started", u.status)
    assert.equals("FRA-1GB-7D", u.plan_id)
    assert.equals(GB, u.data_total_bytes)
    assert.equals(cjson.null, u.started_at)

    local c = consume(h, sim.iccid, 1000)
    assert.equals(1000, c.consumed)
    u = usage_of(h, sim.iccid)
    assert.equals("active", u.status)
    assert.equals(1000, u.data_used_bytes)
    assert.equals(GB - 1000, u.data_remaining_bytes)
    assert.equals(GB - 1000, get_sim(h, sim.iccid).balances.main_data)
    assert.equals("2025-01-01 00:00:00", u.started_at)
    assert.equals("2025-01-08 00:00:00", u.expires_at)

    advance(h, DAY)
    c = consume(h, sim.iccid, 2 * GB) -- more than is left: takes what is left
    assert.equals(GB - 1000, c.consumed)
    u = usage_of(h, sim.iccid)
    assert.equals("depleted", u.status)
    assert.equals(0, u.data_remaining_bytes)
    assert.equals("2025-01-02 00:00:00", u.updated_at)
    assert.equals(0, get_sim(h, sim.iccid).balances.main_data)

    purchase(h, sim.iccid, "FRA-1GB-7D", "r2")
    assert.equals("active", usage_of(h, sim.iccid).status)
    -- bought in an open window: it ends no earlier than now + 7 days
    assert.equals("2025-01-09 00:00:00", usage_of(h, sim.iccid).expires_at)
    advance(h, 8 * DAY)
    u = usage_of(h, sim.iccid)
    assert.equals("expired", u.status)
    assert.equals(0, consume(h, sim.iccid, 10).consumed)
    -- data bought after expiry opens a new window at the next use
    purchase(h, sim.iccid, "FRA-3GB-7D", "r3")
    assert.equals("not_started", usage_of(h, sim.iccid).status)
    consume(h, sim.iccid, 1)
    u = usage_of(h, sim.iccid)
    assert.equals("active", u.status)
    assert.equals("2025-01-10 00:00:00", u.started_at)
    assert.equals("2025-01-17 00:00:00", u.expires_at)
    assert.equals(u.data_total_bytes - u.data_used_bytes, u.data_remaining_bytes)
  end)

  it("answers 404 and 422 for get-usage and consume, 400 for a malformed consume body", function()
    assert_error(get(h, "get-usage", "iccid=" .. UNKNOWN_ICCID), 404, "not_found")
    assert_fields(get(h, "get-usage", ""), { "iccid" })
    assert_error((control(h, "POST", "consume", { iccid = UNKNOWN_ICCID, bytes = 1 })), 404, "not_found")
    assert_fields((control(h, "POST", "consume", { iccid = sim.iccid, bytes = -1 })), { "bytes" })
    assert_fields((control(h, "POST", "consume", { iccid = sim.iccid, bytes = 1.5 })), { "bytes" })
    assert_fields((control(h, "POST", "consume", {})), { "bytes", "iccid" })
    assert_error(call(h, "POST", "/__sandbox/consume", nil, "nope", {}), 400, "bad_request")
  end)
end)

describe("sandbox contract: subscriptions", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 6)
  end)

  it("creates one: 201, the SIM subscribed and used, the first cycle's data, one charge", function()
    local res, body = subscribe(h, sim.iccid, "EU-5GB-M", "sub-1")
    assert.equals(201, res.status)
    local s = body.item
    assert.same({ "created_at", "cycle", "iccid", "id", "plan_id", "reference", "renews_at", "status" }, sorted_keys(s))
    assert.equals("active", s.status)
    assert.equals("monthly", s.cycle)
    assert.equals("sub-1", s.reference)
    assert.equals("2025-01-01 00:00:00", s.created_at)
    assert.equals("2025-01-31 00:00:00", s.renews_at)
    local after = get_sim(h, sim.iccid)
    assert.equals("1___" .. sim.sku, after.subscribed)
    assert.equals("used___" .. sim.sku, after.availability_sku)
    assert.equals(5 * GB, after.balances.main_data)
    local _, subscribed = get(h, "list-inventory", "search_by=subscribed&search=1")
    assert.equals(1, #subscribed.items)
    local st = stats(h)
    assert.equals(1, st.subscriptions)
    assert.same({ ["sub-1"] = 1 }, st.charges)
  end)

  it("answers the original to a repeated reference, and 409 to a second active subscription", function()
    local _, first = subscribe(h, sim.iccid, "EU-5GB-M", "sub-1")
    local res, again = subscribe(h, sim.iccid, "EU-5GB-M", "sub-1")
    assert.equals(200, res.status)
    assert.same(first.item, again.item)
    assert_error(subscribe(h, sim.iccid, "EU-20GB-M", "sub-2"), 409, "conflict")
    assert_error(subscribe(h, sim.iccid, "EU-20GB-M", "sub-1"), 409, "conflict")
    assert.equals(5 * GB, get_sim(h, sim.iccid).balances.main_data)
    assert.same({ ["sub-1"] = 1 }, stats(h).charges)
  end)

  it("cancels (twice without error), flipping subscribed back, and allows a new one then", function()
    local _, created = subscribe(h, sim.iccid, "EU-5GB-M", "sub-1")
    local id = created.item.id
    local res, body = post(h, "cancel-subscription", { subscription_id = id })
    assert.equals(200, res.status)
    assert.equals("cancelled", body.item.status)
    assert.equals(cjson.null, body.item.renews_at)
    assert.equals("0___" .. sim.sku, get_sim(h, sim.iccid).subscribed)
    local res2, body2 = post(h, "cancel-subscription", { subscription_id = id })
    assert.equals(200, res2.status)
    assert.same(body.item, body2.item)
    -- the data already sold stays
    assert.equals(5 * GB, get_sim(h, sim.iccid).balances.main_data)
    assert.equals(201, (subscribe(h, sim.iccid, "EU-20GB-M", "sub-2")).status)
    assert.equals("1___" .. sim.sku, get_sim(h, sim.iccid).subscribed)
  end)

  it("answers 422 for a one-time plan or bad fields, 404 for unknown things, 400 for bad bodies", function()
    assert_fields(subscribe(h, sim.iccid, "FRA-3GB-7D", "s"), { "plan_id" })
    assert_fields(post(h, "create-subscription", { iccid = sim.iccid }), { "plan_id", "reference" })
    assert_fields(subscribe(h, sim_at(h, 10).iccid, "FRA-2GB-M", "s"), { "plan_id" }) -- psim, eSIM-only plan
    assert_error(subscribe(h, UNKNOWN_ICCID, "EU-5GB-M", "s"), 404, "not_found")
    assert_error(subscribe(h, sim.iccid, "EU-6GB-M", "s"), 404, "not_found")
    assert_error(post(h, "create-subscription", "{]"), 400, "bad_request")
    assert_error(post(h, "cancel-subscription", { subscription_id = "no-such-id" }), 404, "not_found")
    assert_fields(post(h, "cancel-subscription", {}), { "subscription_id" })
    assert_fields(post(h, "cancel-subscription", { subscription_id = 12 }), { "subscription_id" })
    assert_error(post(h, "cancel-subscription", ""), 400, "bad_request")
    assert.equals(0, stats(h).subscriptions)
    assert.equals("0___" .. sim.sku, get_sim(h, sim.iccid).subscribed)
  end)

  it("lists them, filtered by iccid and status", function()
    local ids = {}
    for i = 1, 5 do
      local _, b = subscribe(h, sim_at(h, i).iccid, "GLOBAL-5GB-M", "s" .. i)
      ids[i] = b.item.id
    end
    post(h, "cancel-subscription", { subscription_id = ids[2] })
    post(h, "cancel-subscription", { subscription_id = ids[4] })
    assert.equals(5, #all_items(h, "list-subscriptions", "limit=2"))
    local active = all_items(h, "list-subscriptions", "status=active&limit=2")
    assert.equals(3, #active)
    for _, s in ipairs(active) do assert.equals("active", s.status) end
    local cancelled = all_items(h, "list-subscriptions", "status=cancelled")
    assert.same({ ids[2], ids[4] }, { cancelled[1].id, cancelled[2].id })
    local mine = all_items(h, "list-subscriptions", "iccid=" .. sim_at(h, 3).iccid)
    assert.equals(1, #mine)
    assert.equals(ids[3], mine[1].id)
    assert.equals(0, #all_items(h, "list-subscriptions", "iccid=" .. sim_at(h, 3).iccid .. "&status=cancelled"))
    assert_error(get(h, "list-subscriptions", "status=paused"), 400, "bad_request")
    assert_error(get(h, "list-subscriptions", "iccid=x"), 400, "bad_request")
  end)

  it("renews every 30 days on the sandbox clock while active, charging each cycle once", function()
    local _, a = subscribe(h, sim.iccid, "EU-5GB-M", "sub-a")
    local other = sim_at(h, 7)
    local _, b = subscribe(h, other.iccid, "EU-5GB-M", "sub-b")
    post(h, "cancel-subscription", { subscription_id = b.item.id })
    assert.equals(0, advance(h, 29 * DAY).renewed)
    local r = advance(h, 32 * DAY) -- day 61: cycles 2 (day 30) and 3 (day 60)
    assert.equals(2, r.renewed)
    assert.equals("2025-03-03 00:00:00", r.now)
    local charges = stats(h).charges
    assert.equals(1, charges["renewal:" .. a.item.id .. ":2"])
    assert.equals(1, charges["renewal:" .. a.item.id .. ":3"])
    assert.is_nil(charges["renewal:" .. b.item.id .. ":2"])
    assert.equals(15 * GB, get_sim(h, sim.iccid).balances.main_data)
    assert.equals(5 * GB, get_sim(h, other.iccid).balances.main_data)
    local _, listed = get(h, "list-subscriptions", "iccid=" .. sim.iccid)
    assert.equals("2025-04-01 00:00:00", listed.items[1].renews_at) -- day 90
  end)
end)

describe("sandbox contract: update_auto_topup", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 8)
  end)

  it("stores the settings and answers the SIM", function()
    local res, body = post(h, "update-auto-topup",
      { iccid = sim.iccid, enabled = true, threshold = 500000, threshold_in_percentage = false, quantity = 2 })
    assert.equals(200, res.status)
    assert.same({ enabled = true, threshold = 500000, threshold_in_percentage = false, quantity = 2 },
      body.item.auto_topup_settings)
    assert.same(body.item.auto_topup_settings, get_sim(h, sim.iccid).auto_topup_settings)
    -- fields left out keep their value
    local _, b2 = post(h, "update-auto-topup", { iccid = sim.iccid, enabled = false })
    assert.same({ enabled = false, threshold = 500000, threshold_in_percentage = false, quantity = 2 },
      b2.item.auto_topup_settings)
  end)

  it("answers 422 out of range: percent 0-100, bytes >= 0, quantity 1-10, enabled required", function()
    local function update(t)
      t.iccid = t.iccid or sim.iccid
      return post(h, "update-auto-topup", t)
    end
    assert_fields(update { enabled = true, threshold = 101, threshold_in_percentage = true }, { "threshold" })
    assert_fields(update { enabled = true, threshold = -1, threshold_in_percentage = false }, { "threshold" })
    assert_fields(update { enabled = true, threshold = 1.5 }, { "threshold" })
    assert_fields(update { enabled = true, quantity = 0 }, { "quantity" })
    assert_fields(update { enabled = true, quantity = 11 }, { "quantity" })
    assert_fields(update { threshold = 10 }, { "enabled" })
    assert_fields(update { enabled = "yes", threshold_in_percentage = 1 }, { "enabled", "threshold_in_percentage" })
    -- a byte threshold above 100 cannot silently become a percentage
    assert.equals(200, (update { enabled = true, threshold = 5000, threshold_in_percentage = false }).status)
    assert_fields(update { enabled = true, threshold_in_percentage = true }, { "threshold" })
    assert.equals(200, (update { enabled = true, threshold = 100, threshold_in_percentage = true }).status)
    assert.equals(200,
      (update { enabled = true, threshold = 0, threshold_in_percentage = false, quantity = 10 }).status)
    assert_error(update { iccid = UNKNOWN_ICCID, enabled = true }, 404, "not_found")
    assert_error(post(h, "update-auto-topup", "true"), 400, "bad_request")
  end)
end)

describe("sandbox contract: auto top-up", function()
  local h, sim
  before_each(function()
    h = handler.new { sims = 30, seed = 1 }
    sim = sim_at(h, 9)
    purchase(h, sim.iccid, "FRA-1GB-7D", "buy-1")
  end)

  local function enable(t)
    t.iccid, t.enabled = sim.iccid, true
    local res = post(h, "update-auto-topup", t)
    assert.equals(200, res.status, res.body)
  end

  it("tops up quantity x the plan's data exactly when the balance falls under a byte threshold", function()
    enable { threshold = 1000, threshold_in_percentage = false, quantity = 2 }
    -- down to exactly the threshold: not under it
    local c = consume(h, sim.iccid, GB - 1000)
    assert.is_false(c.topped_up)
    assert.equals(1000, get_sim(h, sim.iccid).balances.main_data)
    c = consume(h, sim.iccid, 1)
    assert.is_true(c.topped_up)
    assert.equals(999 + 2 * GB, get_sim(h, sim.iccid).balances.main_data)
    local ref = "auto-topup:" .. sim.iccid .. ":1"
    local st = stats(h)
    assert.same({ ["buy-1"] = 1, [ref] = 1 }, st.charges)
    assert.equals(2, st.orders)
    local _, order = get(h, "list-orders", "reference=" .. ref)
    assert.equals(1, #order.items)
    assert.equals("FRA-1GB-7D", order.items[1].plan_id)
    assert.equals(2 * h.state.plan_by_id["FRA-1GB-7D"].price.amount_minor, order.items[1].price.amount_minor)
    local u = usage_of(h, sim.iccid)
    assert.equals(3 * GB, u.data_total_bytes)
    -- above the threshold again: consumption that stays above it does nothing
    assert.is_false(consume(h, sim.iccid, GB).topped_up)
    -- the next fall under it is the second top-up
    assert.is_true(consume(h, sim.iccid, GB + 999 - 500).topped_up)
    assert.equals(1, stats(h).charges["auto-topup:" .. sim.iccid .. ":2"])
  end)

  it("reads a percentage threshold as a share of the plan's data", function()
    enable { threshold = 10, threshold_in_percentage = true, quantity = 1 }
    local ten_percent = math.floor(GB / 10)
    assert.is_false(consume(h, sim.iccid, GB - ten_percent).topped_up)
    assert.is_true(consume(h, sim.iccid, 1).topped_up)
    assert.equals(ten_percent - 1 + GB, get_sim(h, sim.iccid).balances.main_data)
  end)

  it("never fires when disabled, and tops up once per consumption", function()
    post(h, "update-auto-topup", { iccid = sim.iccid, enabled = false, threshold = 100,
      threshold_in_percentage = true })
    assert.is_false(consume(h, sim.iccid, GB).topped_up)
    assert.equals("depleted", usage_of(h, sim.iccid).status)
    -- a threshold far above what a top-up adds: still one top-up per consumption, no loop
    enable { threshold = 10 * GB, threshold_in_percentage = false, quantity = 1 }
    purchase(h, sim.iccid, "FRA-1GB-7D", "buy-2")
    assert.is_true(consume(h, sim.iccid, 1).topped_up)
    assert.equals(2 * GB - 1, get_sim(h, sim.iccid).balances.main_data)
    assert.is_true(consume(h, sim.iccid, 1).topped_up)
    assert.equals(3 * GB - 2, get_sim(h, sim.iccid).balances.main_data)
    local n = 0
    for ref in pairs(stats(h).charges) do
      if ref:match("^auto%-topup:") then n = n + 1 end
    end
    assert.equals(2, n)
  end)
end)

describe("sandbox contract: stats, reset, determinism", function()
  it("reports requests, connections, orders, subscriptions and charges (an object even when empty)", function()
    local h = handler.new { sims = 5 }
    local res = call(h, "GET", "/__sandbox/stats", nil, "", {})
    assert.matches('"charges":{}', res.body)
    local s = cjson.decode(res.body)
    assert.same({ "charges", "connections", "orders", "requests", "subscriptions" }, sorted_keys(s))
    assert.equals(1, s.requests)
    assert.equals(0, s.orders)
  end)

  it("reset restores the inventory, orders, subscriptions, charges, usage and clock", function()
    local h = handler.new { sims = 30, seed = 1 }
    local before_sim = get_sim(h, sim_at(h, 1).iccid)
    local _, before_plans = get(h, "list-plans", "limit=100")
    purchase(h, sim_at(h, 1).iccid, "FRA-3GB-7D", "r1")
    subscribe(h, sim_at(h, 2).iccid, "EU-5GB-M", "s1")
    post(h, "update-sim", { iccid = sim_at(h, 1).iccid, user_info = { username = "x" } })
    consume(h, sim_at(h, 1).iccid, 5)
    advance(h, DAY)
    local requests = stats(h).requests
    local res = control(h, "POST", "reset")
    assert.equals(200, res.status)
    local s = stats(h)
    assert.equals(0, s.orders)
    assert.equals(0, s.subscriptions)
    assert.same({}, s.charges)
    assert.equals(requests + 2, s.requests) -- counters keep running
    assert.same(before_sim, get_sim(h, sim_at(h, 1).iccid))
    assert.equals("not_started", usage_of(h, sim_at(h, 1).iccid).status)
    assert.equals(0, #all_items(h, "list-orders", ""))
    assert.equals(0, #all_items(h, "list-subscriptions", ""))
    local _, after_plans = get(h, "list-plans", "limit=100")
    assert.same(before_plans, after_plans)
    local _, clock = control(h, "GET", "clock")
    assert.equals("2025-01-01 00:00:00", clock.now)
    -- a reference of the old state is free again
    assert.equals(201, (purchase(h, sim_at(h, 1).iccid, "FRA-1GB-7D", "r1")).status)
  end)

  it("answers the same bodies for the same seed and requests, and others for another seed", function()
    local function script(seed)
      local h = handler.new { sims = 30, seed = seed }
      local bodies = {}
      local function keep(res) bodies[#bodies + 1] = cjson.decode(res.body) end
      keep(purchase(h, sim_at(h, 1).iccid, "FRA-3GB-7D", "r1"))
      keep(subscribe(h, sim_at(h, 2).iccid, "EU-5GB-M", "s1"))
      keep(call(h, "GET", P .. "get-activation", "iccid=" .. sim_at(h, 3).iccid))
      consume(h, sim_at(h, 1).iccid, 12345)
      advance(h, 40 * DAY)
      keep(call(h, "GET", P .. "get-usage", "iccid=" .. sim_at(h, 1).iccid))
      keep(call(h, "GET", P .. "list-orders", ""))
      keep(call(h, "GET", P .. "list-plans", "limit=100"))
      keep(call(h, "GET", P .. "list-inventory", "limit=100"))
      keep(call(h, "GET", "/__sandbox/stats", nil, "", {}))
      return bodies
    end
    local a = script(11)
    assert.same(a, script(11))
    local b = script(12)
    assert.are_not.same(a[1].item.id, b[1].item.id)
    assert.are_not.same(a[6], b[6])
  end)

  it("rejects a clock that would go backwards or too far", function()
    local h = handler.new { sims = 1 }
    assert_fields((control(h, "POST", "clock", { advance_seconds = -1 })), { "advance_seconds" })
    assert_fields((control(h, "POST", "clock", {})), { "advance_seconds" })
    assert_fields((control(h, "POST", "clock", { advance_seconds = 3651 * DAY })), { "advance_seconds" })
    assert.equals("2025-01-01 00:00:10", advance(h, 10).now)
  end)
end)

describe("sandbox in-process transport", function()
  local flexiroam = require "flexiroam"
  local transport_mod = require "flexiroam.sandbox.transport"

  local function client(t)
    return flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1:9", transport = t }
  end

  it("answers like the C session: status, lowercase headers, body", function()
    local t = transport_mod.new { sims = 3, seed = 1 }
    local res = t:request { method = "GET", url = "http://x/v1/public-v2/list-plans?limit=2&type=recurring#frag",
      headers = { ["X-Api-Key"] = KEY } }
    assert.equals(200, res.status)
    assert.equals("application/json", res.headers["content-type"])
    assert.equals(tostring(#res.body), res.headers["content-length"])
    assert.equals("string", type(res.headers["x-request-id"]))
    local body = cjson.decode(res.body)
    assert.equals(2, #body.items)
    assert.equals("recurring", body.items[1].type)
    assert.equals(401, t:request { method = "GET", url = "http://x/v1/public-v2/list-plans" }.status)
    assert.equals(404, t:request { method = "GET", url = "http://x" }.status)
    assert.has_error(function() t:request { url = 42 } end)
    assert.has_error(function() t:request "GET /" end)
  end)

  it("runs the SDK's whole sale flow with no sockets", function()
    local t = transport_mod.new { sims = 10, seed = 1 }
    local c = client(t)
    local plan
    for p in c:each("list_plans", { type = "one_time", country = "FRA" }) do
      if p.data_bytes == 3 * GB and p.validity_days == 7 then plan = p end
    end
    assert.is_table(plan)
    local page = assert(c:list_inventory { chip_type = "esim", search_by = "availability", search = "free", limit = 1 })
    local iccid = page.items[1].iccid
    local order = assert(c:purchase_plan { iccid = iccid, plan_id = plan.id, reference = "sdk-1" })
    assert.equals("completed", order.status)
    local again = assert(c:purchase_plan { iccid = iccid, plan_id = plan.id, reference = "sdk-1" })
    assert.equals(order.id, again.id)
    assert.is_true(again:is_replayed())
    local _, err = c:purchase_plan { iccid = iccid, plan_id = plan.id .. "x", reference = "sdk-1" }
    assert.equals("reference_reused", err.kind) -- the 409, looked up: it names order.id
    assert.equals(409, err.status)
    assert.equals(order.id, err.existing.id)
    _, err = c:update_auto_topup { iccid = iccid, enabled = true, quantity = 99 }
    assert.equals("validation", err.kind)
    assert.equals("string", type(err.fields.quantity))
    assert.equals(plan.data_bytes, assert(c:get_sim { iccid = iccid }).balances.main_data)
    assert.matches("^LPA:1%$", assert(c:get_activation { iccid = iccid }).lpa)
    assert.equals(1, t.handler.state.charges["sdk-1"])
    local s = cjson.decode(t.handler:handle { method = "GET", path = "/__sandbox/stats" }.body)
    assert.equals(1, s.connections)
    c:close()
    assert.has_error(function() t:request { method = "GET", url = "http://x/" } end)
  end)

  -- a route whose answer carries a fault directive, as fault injection sets it
  local function faulty(fault)
    return function(hh)
      local r = hh:json(200, { ok = true })
      r.fault = fault
      return r
    end
  end

  it("shares a handler when given one, and turns a dropped answer into a network error", function()
    local h = handler.new {
      sims = 2,
      routes = {
        ["GET /__sandbox/drop"] = faulty { action = "reset" },
        ["GET /__sandbox/cut"] = faulty { action = "truncate" },
        ["GET /__sandbox/late"] = faulty { action = "delay", delay_ms = 5 },
      },
    }
    local slept = {}
    local t = transport_mod.new { handler = h, sleep = function(ms) slept[#slept + 1] = ms end }
    assert.equals(h, t.handler)
    local res, err = t:request { method = "GET", url = "http://x/__sandbox/drop" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.is_true(err.sent)
    res, err = t:request { method = "GET", url = "http://x/__sandbox/cut" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    res = assert(t:request { method = "GET", url = "http://x/__sandbox/late" })
    assert.equals(200, res.status)
    assert.same({ 5 }, slept)
    -- latency the handler adds to every answer (--latency-ms) waits the same way
    local stub = {
      connection_opened = function() end,
      handle = function() return { status = 200, headers = {}, body = "{}", latency_ms = 7 } end,
    }
    local slow = transport_mod.new { handler = stub, sleep = function(ms) slept[#slept + 1] = ms end }
    assert.equals(200, assert(slow:request { method = "GET", url = "http://x/" }).status)
    assert.same({ 5, 7 }, slept)
  end)
end)

-- Raw HTTP to the real server, every wait bounded.
local function http(sb, method, target, body, key)
  local c = socket.tcp()
  c:settimeout(5)
  assert(c:connect(sb.host, sb.port))
  local lines = { method .. " " .. target .. " HTTP/1.1", "Host: 127.0.0.1", "Connection: close" }
  if key then lines[#lines + 1] = "x-api-key: " .. key end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
  local status = tonumber(assert(c:receive("*l")):match("^HTTP/1%.%d (%d%d%d) "))
  local length
  while true do
    local line = assert(c:receive("*l"))
    if line == "" then break end
    local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if n then length = tonumber(n) end
  end
  local text = length and length > 0 and assert(c:receive(length)) or ""
  c:close()
  return status, cjson.decode(text)
end

describe("sandbox contract through the server", function()
  local sb
  setup(function() sb = support.start { sims = 20, seed = 5 } end)
  teardown(function() if sb then sb:stop() end end)

  it("sells a plan once per reference, consumes, reports usage and resets", function()
    local local_h = handler.new { sims = 20, seed = 5 }
    local iccid = local_h.state.sims[1].iccid
    local order_body = cjson.encode { iccid = iccid, plan_id = "EU-3GB-7D", reference = "wire-1" }
    local status, first = http(sb, "POST", P .. "purchase-plan", order_body, KEY)
    assert.equals(201, status)
    local status2, again = http(sb, "POST", P .. "purchase-plan", order_body, KEY)
    assert.equals(200, status2)
    assert.equals(first.item.id, again.item.id)
    assert.equals(409, (http(sb, "POST", P .. "purchase-plan",
      cjson.encode { iccid = iccid, plan_id = "EU-10GB-30D", reference = "wire-1" }, KEY)))
    assert.equals(401, (http(sb, "POST", P .. "purchase-plan", order_body)))

    local _, consumed = http(sb, "POST", "/__sandbox/consume", cjson.encode { iccid = iccid, bytes = 4096 })
    assert.equals(4096, consumed.consumed)
    local _, u = http(sb, "GET", P .. "get-usage?iccid=" .. iccid, nil, KEY)
    assert.equals("active", u.item.status)
    assert.equals(4096, u.item.data_used_bytes)
    local _, s = http(sb, "GET", "/__sandbox/stats")
    assert.equals(1, s.orders)
    assert.same({ ["wire-1"] = 1 }, s.charges)

    local _, sub = http(sb, "POST", P .. "create-subscription",
      cjson.encode { iccid = iccid, plan_id = "GLOBAL-5GB-M", reference = "wire-s" }, KEY)
    assert.equals("active", sub.item.status)
    local _, listed = http(sb, "GET", P .. "list-subscriptions?status=active", nil, KEY)
    assert.equals(sub.item.id, listed.items[1].id)

    assert.equals(200, (http(sb, "POST", "/__sandbox/reset", "")))
    _, s = http(sb, "GET", "/__sandbox/stats")
    assert.equals(0, s.orders)
    assert.equals(0, s.subscriptions)
    local _, sim = http(sb, "GET", P .. "get-sim?iccid=" .. iccid, nil, KEY)
    assert.equals("free___" .. local_h.state.sims[1].sku, sim.item.availability_sku)
  end)
end)
