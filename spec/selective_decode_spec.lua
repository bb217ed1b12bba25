-- Selective decode (issue 15, part 2): the `fields` option of read
-- operations and iterators. A result decoded with fields must equal the full
-- decode restricted to those fields, on every fixture and on random
-- documents; models built from it hold just those fields, say so, and raise
-- when another is read. Never timing.
local flexiroam = require "flexiroam"
local procs = require "spec.support.test_processes"

local json = flexiroam.json
local KEY = "sk_SELECTIVE_DECODE_SPEC_51aa"
local SAMPLE = "../shared/api/list-inventory.sample.json"

-- The oracle (spec/support/select_oracle.lua), apart from the SDK's code,
-- and its random selections.
local oracle = require("spec.support.select_oracle")
local restrict, tree_of, rng = oracle.restrict, oracle.tree_of, oracle.rng

-- Deep equality on raw contents (guards never run), arrays told from objects.
local function same(a, b, where)
  where = where or "value"
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b and not (a ~= a and b ~= b) then
      error(("%s: %s ~= %s"):format(where, tostring(a), tostring(b)), 0)
    end
    return
  end
  if (json.is_array(a) and true or false) ~= (json.is_array(b) and true or false) then
    error(where .. ": array on one side, object on the other", 0)
  end
  for k, v in pairs(a) do same(v, rawget(b, k), where .. "." .. tostring(k)) end
  for k in pairs(b) do
    if rawget(a, k) == nil then error(where .. "." .. tostring(k) .. ": only on the right", 0) end
  end
end

-- A transport answering `body` to every request, counting them.
local function client_answering(body)
  local transport = { n = 0 }
  function transport.request(self)
    self.n = self.n + 1
    return { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
  end
  return flexiroam.new { api_key = KEY, base_url = "https://api.example.test", transport = transport }, transport
end

local function page_json(n, seed)
  local items = {}
  for i = 1, n do
    items[i] = {
      iccid = string.format("8985235082%09d", seed * 100000 + i), sku = 4024081013108 + i, chip_type = "esim",
      status = i % 3 == 0 and "active" or "inactive", availability_sku = "free___x",
      balances = { main_data = 1024 * i, extra = json.array { { kind = "bonus", bytes = i }, 7 } },
      plan = { name = "FRA-" .. i, price = { amount_minor = 100 * i, currency = "EUR" }, tags = json.array { "a" } },
      note = "caf\u{e9} \"quoted\" \\ line\nnext",
    }
  end
  return json.encode { items = json.array(items), page_key = json.null, total = n }
end

-- Random documents: records with keys from a small set (so selections
-- hit), values of every kind, nested objects and arrays.
local KEYS = { "iccid", "status", "plan", "name", "price", "tags", "balances", "main_data", "x", "y" }
local function random_value(rnd, depth)
  local r = rnd(depth > 3 and 5 or 8)
  if r == 1 then return rnd(1000000) - 500000 end
  if r == 2 then return rnd() * 1e6 end
  if r == 3 then return ({ "s", "\u{263A}", "a\"b\\c", "" })[rnd(4)] end
  if r == 4 then return ({ true, false, json.null })[rnd(3)] end
  if r == 5 then return string.rep("9", 25) end
  if r == 6 or r == 7 then
    local o = {}
    for _ = 1, rnd(0, 5) do o[KEYS[rnd(#KEYS)]] = random_value(rnd, depth + 1) end
    return o
  end
  local a = json.array()
  for i = 1, rnd(0, 4) do a[i] = random_value(rnd, depth + 1) end
  return a
end

local function random_paths(rnd) return oracle.random_paths(rnd, KEYS) end

describe("selective decode", function()
  local fixtures = {}

  lazy_setup(function()
    fixtures = { { name = "20 SIMs", body = page_json(20, 1) }, { name = "1000 SIMs", body = page_json(1000, 2) } }
    local sample = procs.slurp(SAMPLE)
    if sample ~= "" then fixtures[#fixtures + 1] = { name = "the published sample", body = sample } end
  end)

  local SELECTIONS = {
    { "iccid" }, { "iccid", "status", "plan.name" }, { "balances.extra.kind", "sku" },
    { "plan", "plan.name" }, { "plan.price.currency", "note" }, { "nothing_like_this" },
  }

  it("a list's items equal the full decode restricted, on every fixture and selection", function()
    if not io.open(SAMPLE, "rb") then print("selective decode: " .. SAMPLE .. " absent (no ../shared): " ..
      "the published sample is not checked") end
    for _, fixture in ipairs(fixtures) do
      local client = client_answering(fixture.body)
      local full = json.decode(fixture.body, { big_integers = "string" })
      for _, paths in ipairs(SELECTIONS) do
        local page = assert(client:list_inventory({}, { fields = paths }))
        local want = {}
        for i, item in ipairs(full.items) do want[i] = restrict(item, tree_of({ table.unpack(paths) })) end
        assert.equals(#want, #page.items)
        for i = 1, #want do same(want[i], page.items[i], fixture.name .. " items[" .. i .. "]") end
        local key = full.page_key
        if key == json.null then key = nil end
        assert.equals(key, page.page_key)
      end
    end
  end)

  it("an item equals the full decode restricted, on random documents too", function()
    local rnd = rng(20261206)
    for n = 1, 300 do
      local record = random_value(rnd, 0)
      if type(record) ~= "table" or json.is_array(record) then record = { iccid = "x", other = record } end
      local body = json.encode { item = record }
      local paths = random_paths(rnd)
      local client = client_answering(body)
      local got = assert(client:get_sim({ iccid = "8910300000000000009" }, { fields = paths }))
      same(restrict(json.decode(body, { big_integers = "string" }).item, tree_of({ table.unpack(paths) })), got,
        "document " .. n .. " with " .. table.concat(paths, ","))
    end
  end)

  it("the decoder itself selects as the oracle does, on random documents (when it can select)", function()
    if not json.can_select then
      return pending("the C decoder has no select option in this build: the SDK restricts after a full decode")
    end
    local rnd = rng(7)
    for n = 1, 500 do
      local items = json.array()
      for i = 1, rnd(0, 6) do items[i] = random_value(rnd, 0) end
      local body = json.encode { items = items, page_key = "k" .. n, extra = random_value(rnd, 0) }
      local tree = tree_of(random_paths(rnd))
      local got = assert(json.decode(body, { big_integers = "string", select = tree, select_at = "items" }))
      local full = json.decode(body, { big_integers = "string" })
      local want = {}
      for k, v in pairs(full) do want[k] = v end
      want.items = json.array()
      for i, item in ipairs(full.items) do
        want.items[i] = (type(item) == "table" and not json.is_array(item)) and restrict(item, tree) or item
      end
      same(want, got, "document " .. n)
    end
  end)

  describe("models of a selective result", function()
    local client
    before_each(function() client = client_answering(page_json(3, 3)) end)

    it("say which fields they hold", function()
      local sim = assert(client:list_inventory({}, { fields = { "status", "iccid", "plan.name" } })).items[1]
      assert.same({ "iccid", "plan.name", "status" }, sim:fields())
      local whole = assert(client:list_inventory({})).items[1]
      assert.is_nil(whole:fields())
    end)

    it("raise a clear error naming the field when another is read, nested ones too", function()
      local sim = assert(client:list_inventory({}, { fields = { "iccid", "plan.name" } })).items[1]
      assert.equals("FRA-1", sim.plan.name)
      local ok, err = pcall(function() return sim.chip_type end)
      assert.is_false(ok)
      assert.matches("SIM.chip_type was not selected", err, 1, true)
      assert.matches("selective_decode_spec.lua", err, 1, true) -- at the caller's line
      ok, err = pcall(function() return sim.plan.price end)
      assert.is_false(ok)
      assert.matches("SIM.plan.price was not selected", err, 1, true)
    end)

    it("raise for an unselected field of an object in an array, at any depth, and in a get's item", function()
      local body = json.encode { items = json.array { { iccid = "1", plans = json.array {
        { name = "a", price = 1 }, json.array { { name = "b", price = 2 } } } } }, page_key = json.null }
      local sim = assert(client_answering(body):list_inventory({}, { fields = { "iccid", "plans.name" } })).items[1]
      assert.equals("a", sim.plans[1].name)
      assert.equals("b", sim.plans[2][1].name)
      for _, read in ipairs { function() return sim.plans[1].price end, function() return sim.plans[2][1].price end } do
        local ok, err = pcall(read)
        assert.is_false(ok)
        assert.matches("SIM.plans.price was not selected", err, 1, true)
      end
      local item = assert(client_answering(json.encode { item = { iccid = "1", plan = { name = "x", id = 2 } } })
        :get_sim({ iccid = "8910300000000000009" }, { fields = { "plan.name" } }))
      assert.equals("x", item.plan.name)
      assert.has_error(function() return item.plan.id end, nil)
      assert.has_error(function() return item.iccid end, nil)
      assert.same({ "plan.name" }, item:fields())
    end)

    it("are refused, like whole records, when an item of the page is not an object", function()
      for _, bad in ipairs { "7", '"x"', "[]", "null" } do
        local c = client_answering('{"items":[{"iccid":"1"},' .. bad .. '],"page_key":null}')
        for _, opts in ipairs { {}, { fields = { "iccid" } } } do
          local page, err = c:list_inventory({}, opts)
          assert.is_nil(page)
          assert.equals("decode", err.kind)
          assert.matches("items[2] is not an object", err.message, 1, true)
        end
      end
    end)

    it("read a selected field the server left out as nil, and keep their methods", function()
      local sim = assert(client:list_inventory({}, { fields = { "iccid", "chip_type", "not_sent_by_server" } }))
        .items[1]
      assert.is_nil(sim.not_sent_by_server)
      assert.is_true(sim:is_esim())
      assert.has_error(function() return sim:is_free() end) -- reads availability_sku, not selected
      assert.same({ chip_type = "esim", iccid = sim.iccid }, sim:raw())
    end)
  end)

  it("works on iterators, collect and batches", function()
    local client, transport = client_answering(page_json(5, 4))
    local seen = 0
    for sim in client:inventory({}, { fields = { "iccid" } }) do
      seen = seen + 1
      assert.same({ "iccid" }, sim:fields())
    end
    assert.equals(5, seen)
    local all = assert(client:collect("list_inventory", {}, { fields = { "sku" } }))
    assert.equals(5, #all)
    assert.equals("4024081013109", tostring(all[1].sku))
    local results = client:batch({ { "list_inventory", {}, { fields = { "iccid" } } } })
    assert.is_true(transport.n > 0)
    assert.is_true(results[1].ok, results[1].err and tostring(results[1].err))
    assert.same({ "iccid" }, results[1].value.items[1]:fields())
  end)

  it("selects what a reused list holds at each call, after it was changed in place", function()
    local client = client_answering(page_json(2, 6))
    local list = { "iccid" }
    assert.same({ "iccid" }, assert(client:list_inventory({}, { fields = list })).items[1]:fields())
    list[2] = "sku"
    assert.same({ "iccid", "sku" }, assert(client:list_inventory({}, { fields = list })).items[1]:fields())
    list[1], list[2] = "status", nil
    assert.same({ "status" }, assert(client:list_inventory({}, { fields = list })).items[1]:fields())
    list.oops = "iccid"
    local ok, err = pcall(client.list_inventory, client, {}, { fields = list })
    assert.is_false(ok)
    assert.matches("found the key", err, 1, true)
  end)

  it("is misuse on a write, a raw request, or a list that is not one of field paths", function()
    local client = client_answering(page_json(1, 5))
    for _, bad in ipairs { "iccid", {}, { 1 }, { "a..b" }, { "" }, { "a b" }, { x = "iccid" } } do
      local ok, err = pcall(client.list_inventory, client, {}, { fields = bad })
      assert.is_false(ok)
      assert.matches("selective_decode_spec.lua", err, 1, true)
      assert.matches("fields", err, 1, true)
    end
    local ok, err = pcall(client.purchase_plan, client, { iccid = "8910300000000000009", plan_id = "P" },
      { fields = { "id" } })
    assert.is_false(ok)
    assert.matches("purchase_plan is not one", err, 1, true)
    ok = pcall(client.request, client, "GET", "/v1/x", { fields = { "id" } })
    assert.is_false(ok)
  end)

  it("keeps a flat peak RSS over 100 000 SIMs through an iterator, and collect keeps only what it selected", function()
    local out = assert(procs.lua_child([[
      local flexiroam = require "flexiroam"
      local json = flexiroam.json
      local PAGE, PAGES = 1000, 100
      local items = {}
      for i = 1, PAGE do
        items[i] = { iccid = string.format("89852350820%08d", i), sku = 4024081013108 + i, chip_type = "esim",
          status = "active", balances = { main_data = i, bonus = i },
          plan = { name = "P" .. i, note = ("x"):rep(200) } }
      end
      -- One page's text, its page_key filled in per request: the live set
      -- stays one page, so the peak measures the client, not the fixture.
      local page_of = require("spec.support.paged_text")(
        json.encode { items = json.array(items), page_key = "PAGE_KEY" }, PAGES)
      items = nil
      local transport = { request = function(_, req)
        return { status = 200, headers = {}, body = page_of(req.url) }
      end }
      local client = flexiroam.new { api_key = "k-selective", base_url = "https://x.test", transport = transport }
      local memory = require "spec.support.memory"
      local kb, reset = memory.kb, memory.reset_peak
      collectgarbage("collect"); reset()
      local base, n, at10 = kb("VmRSS"), 0, nil
      for _ in client:inventory({}, { fields = { "iccid", "status", "plan.name" } }) do
        n = n + 1
        if n == 10000 then collectgarbage("collect"); at10 = kb("VmHWM") end
      end
      collectgarbage("collect")
      print("iterate", n, at10 - base, kb("VmHWM") - base)
      -- What collect keeps: the Lua heap after a full collection.
      collectgarbage("collect"); base = collectgarbage("count")
      local some = client:collect("list_inventory", {}, { fields = { "iccid" } })
      collectgarbage("collect")
      print("collect_selected", #some, math.floor(collectgarbage("count") - base))
      some = nil
      collectgarbage("collect"); base = collectgarbage("count")
      local all = client:collect("list_inventory", {})
      collectgarbage("collect")
      print("collect_full", #all, math.floor(collectgarbage("count") - base))
    ]]))
    local n, at10, at100 = out:match("iterate%s+(%d+)%s+(%-?%d+)%s+(%-?%d+)")
    assert(n, out)
    assert.equals("100000", n)
    local selected = tonumber(out:match("collect_selected%s+100000%s+(%-?%d+)"))
    local full = tonumber(out:match("collect_full%s+100000%s+(%-?%d+)"))
    assert(selected and full, out)
    assert.is_true(selected * 3 < full, "collect with fields keeps not much less than without: " .. out)
    local asan = (package.searchpath("flexiroam.core", package.cpath) or ""):find("/asan/", 1, true)
    if asan then return end -- RSS means nothing under ASan
    -- Flat: the peak after 100 000 SIMs is the peak after 10 000, give or take a page's worth.
    assert.is_true(tonumber(at100) - tonumber(at10) < 4096, "iterator peak grew: " .. out)
  end)
end)
