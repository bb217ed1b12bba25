-- The catalogue cache (issue 16, part 3): a call's life through
-- flexiroam.cache on a store in memory and a fake clock, so every ttl,
-- stale window, lease and wait is exact. "Workers" are clients on one store
-- and one clock; one of them runs in a coroutine whose request is held in
-- flight (its transport yields) while another calls, as two nginx workers
-- would. And a full lua_shared_dict (a double with memory that runs out):
-- cache entries give way, the limiter's and the claims' state never. The
-- fleet's proofs (nginx, Redis, a real full dict) are in
-- spec/cache_fleet_spec.lua.
local flexiroam = require "flexiroam"
local store = require "flexiroam.store"
local ngx_shared = require "flexiroam.store.ngx_shared"
local fake_clock = require "spec.support.fake_clock"
local fake_transport = require "spec.support.fake_transport"
local memory_store = require "spec.support.memory_store"
local mock_ngx = require "spec.support.mock_ngx"
local blame = require "spec.support.blame"

local KEY = "sk_live_cache_spec_SECRET_42"
local NS = store.namespace(KEY)
local ICCID = "89852350824010131081" -- from the published sample: Luhn-valid
local PLAN = { iccid = ICCID, plan_id = "FRA-1GB-7D", reference = "r1" }

local function plans_body(name)
  return '{"items": [{"id": "FRA-1GB-7D", "name": "' .. name .. '", "type": "one_time", "data_bytes": 1073741824,' ..
    ' "validity_days": 7, "coverage": ["FRA"], "price": {"amount_minor": 900, "currency": "USD"}}], "page_key": null}'
end
local function ok(name) return { status = 200, body = plans_body(name or "France 1GB") } end
local function status(code, message)
  return { status = code, body = '{"message": "' .. message .. '", "code": "x"}' }
end
local ORDER = { status = 201, body = '{"item": {"id": "o1", "reference": "r1", "iccid": "' .. ICCID .. '",' ..
  ' "plan_id": "FRA-1GB-7D", "status": "completed", "created_at": "2024-01-01 00:00:00"}}' }
local ITEM = { status = 200, body = '{"item": {"iccid": "' .. ICCID .. '", "status": "active"}}' }

-- Each test's clock, store, and the cache outcomes and warnings its clients report.
local clk, s, events, warnings
before_each(function()
  clk = fake_clock.new()
  s = memory_store.new(function() return clk.t end)
  events, warnings = {}, {}
end)

-- A client of the fleet on the test's store: -> client, its transport.
local function worker(responses, extra, seam)
  local transport = fake_transport.new(responses or {})
  local opts = {
    api_key = KEY, base_url = "http://127.0.0.1:9", shared = s, clock = seam or clk.seam, transport = transport,
    retry_base_ms = 0,
    on_cache = function(e) events[#events + 1] = e.outcome end,
    logger = function(level, e)
      if e.event == "warning" then warnings[#warnings + 1] = level .. " " .. e.message end
    end,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return flexiroam.new(opts), transport
end

-- The methods the store was asked since the last look.
local function store_calls()
  local log = s.log
  s.log = {}
  return log
end

local function lock_keys()
  local out = {}
  for _, k in ipairs(s.keys()) do
    if k:sub(-5) == ":lock" then out[#out + 1] = k end
  end
  return out
end

-- A worker whose next request is held in flight: run() starts its
-- list_plans in a coroutine and leaves it inside the transport; land()
-- lets the answer come and returns what the call answered.
local function in_flight(answer)
  local client = worker { function() coroutine.yield() return answer end }
  local co = coroutine.create(function() return client:list_plans() end)
  local w = {}
  function w.run()
    assert(coroutine.resume(co))
    assert.equals("suspended", coroutine.status(co))
  end
  function w.land()
    local done, page, err = coroutine.resume(co)
    assert(done, page)
    w.page, w.err = page, err
    return page, err
  end
  function w.pending() return coroutine.status(co) == "suspended" end
  return w
end

-- The clock seam of a worker whose every sleep lets `other`'s answer land
-- (the other worker's refresh completes while this one waits).
local function seam_landing(other)
  local seam = {}
  for k, f in pairs(clk.seam) do seam[k] = f end
  seam.sleep = function(seconds)
    clk.seam.sleep(seconds)
    if other.pending() then other.land() end
  end
  return seam
end

local function total(list)
  local sum = 0
  for _, v in ipairs(list) do sum = sum + v end
  return sum
end

describe("the catalogue cache: ttl", function()
  it("keeps list_plans its table's 300 s: one request, hits, then one refresh", function()
    local c, t = worker { ok "v1", ok "v2" }
    assert.equals("v1", c:list_plans().items[1].name)
    clk:advance(299)
    assert.equals("v1", c:list_plans().items[1].name)
    assert.equals(1, #t.requests)
    clk:advance(2)
    assert.equals("v2", c:list_plans().items[1].name) -- stale, and no one refreshing: this caller refreshes
    assert.equals("v2", c:list_plans().items[1].name)
    assert.equals(2, #t.requests)
    assert.same({ "miss", "hit", "refresh", "hit" }, events)
    assert.same({}, lock_keys())
  end)

  it("keeps each distinct query as its own entry, and each page of an iterator", function()
    local c, t = worker { ok "fra", ok "esp" }
    assert.equals("fra", c:list_plans({ country = "FRA" }).items[1].name)
    assert.equals("esp", c:list_plans({ country = "ESP" }).items[1].name)
    assert.equals("fra", c:list_plans({ country = "FRA" }).items[1].name)
    for plan in c:plans { country = "ESP" } do assert.equals("esp", plan.name) end
    assert.equals(2, #t.requests)
  end)

  it("drops an entry past ttl + stale: the next caller misses", function()
    local c, t = worker({ ok "v1", ok "v2" }, { cache = { stale = 60 } })
    c:list_plans()
    clk:advance(361)
    assert.equals("v2", c:list_plans().items[1].name)
    assert.equals(2, #t.requests)
    assert.same({ "miss", "miss" }, events)
  end)

  it("a client's ttl overrides the table's; false turns an operation off; get_activation on demand", function()
    local activation = { status = 200, body = '{"item": {"iccid": "' .. ICCID .. '", "lpa": "LPA:1$x$y"}}' }
    local ttl = { list_plans = 10, get_activation = 60 }
    local c, t = worker({ ok "v1", ok "v2", activation }, { cache = { ttl = ttl } })
    c:list_plans()
    clk:advance(11)
    local page, err = c:list_plans()
    assert(page, tostring(err))
    assert.equals("v2", page.items[1].name)
    assert.equals("LPA:1$x$y", c:get_activation({ iccid = ICCID }).lpa)
    assert.equals("LPA:1$x$y", c:get_activation({ iccid = ICCID }).lpa)
    assert.equals(3, #t.requests)
    local off, t2 = worker({ ok "a", ok "b" }, { cache = { ttl = { list_plans = false } } })
    off:list_plans()
    off:list_plans()
    assert.equals(2, #t2.requests)
  end)

  it("a call's cache = seconds takes an entry at most that old; cache = false neither reads nor keeps", function()
    local c, t = worker { ok "v1", ok "v2", ok "v3" }
    c:list_plans()
    clk:advance(20)
    assert.equals("v1", c:list_plans(nil, { cache = 30 }).items[1].name)
    assert.equals("v2", c:list_plans(nil, { cache = 10 }).items[1].name) -- 20 s old: too old for this call
    store_calls()
    assert.equals("v3", c:list_plans(nil, { cache = false }).items[1].name)
    assert.same({}, store_calls())
    assert.equals("v2", c:list_plans().items[1].name) -- v3's call kept nothing
    assert.equals(3, #t.requests)
  end)

  it("flexiroam.new{cache = false}, or a client without a store: no cache", function()
    local c, t = worker({ ok "a", ok "b" }, { cache = false })
    c:list_plans()
    c:list_plans()
    assert.equals(2, #t.requests)
    assert.same({}, s.log)
    local plain = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1:9",
      transport = fake_transport.new { ok "a", ok "b" } }
    plain:list_plans()
    assert.equals("b", plain:list_plans().items[1].name)
  end)
end)

describe("the catalogue cache: one refresh for the fleet", function()
  it("stale-while-revalidate: while one worker refreshes, the others serve the stale value at once", function()
    local b, tb = worker { ok "v1" }
    b:list_plans()
    clk:advance(301)
    local a = in_flight(ok "v2")
    a.run() -- found it stale, took the lock; its request is in flight
    for _ = 1, 3 do assert.equals("v1", b:list_plans().items[1].name) end
    assert.equals(1, #tb.requests)
    assert.equals("v2", a.land().items[1].name)
    assert.equals("v2", b:list_plans().items[1].name)
    assert.same({ "miss", "refresh", "stale", "stale", "stale", "hit" }, events)
    assert.same({}, lock_keys())
    assert.same({}, clk.slept) -- nobody waited
  end)

  it("a refresh that ends between a caller's look and its lock: the caller serves it, asks nothing", function()
    local b, tb = worker { ok "v1" }
    b:list_plans()
    clk:advance(301)
    local a = in_flight(ok "v2")
    a.run()
    local add = s.add
    s.add = function(...) -- b saw v1 stale; a's answer lands (its lock freed) before b's add
      if a.pending() then a.land() end
      return add(...)
    end
    assert.equals("v2", b:list_plans().items[1].name)
    assert.equals(1, #tb.requests)
    assert.same({ "miss", "refresh", "hit" }, events)
    assert.same({}, lock_keys())
  end)

  it("single-flight: with nothing to serve, the others wait on that one refresh and read it", function()
    local a = in_flight(ok "v1")
    a.run() -- missed, took the lock; its request is in flight
    local b, tb = worker({}, nil, seam_landing(a))
    local c, tc = worker({}, nil, seam_landing(a))
    assert.equals("v1", b:list_plans().items[1].name) -- its first poll found a's answer
    assert.equals("v1", c:list_plans().items[1].name)
    assert.equals(0, #tb.requests + #tc.requests)
    assert.equals("v1", a.page.items[1].name)
    assert.same({ "miss", "wait", "hit" }, events)
    assert.same({ 0.005 }, clk.slept)
  end)

  it("a refresher that dies: the others wait no longer than its lease, then one of them refreshes", function()
    local a = worker { function() error("worker killed mid-request", 0) end }
    assert.has_error(function() a:list_plans() end, "worker killed mid-request")
    assert.equals(1, #lock_keys()) -- nobody freed it
    local b, tb = worker { ok "v1" }
    assert.equals("v1", b:list_plans().items[1].name)
    assert.equals(1, #tb.requests)
    -- b polled (5 ms, 10, 20, 40, then 50 ms apart) until the lease of 5 s ran out
    assert.near(5, total(clk.slept), 1e-6)
    assert.same({ "miss", "miss" }, events)
    assert.same({}, lock_keys())
  end)

  it("a refresher that dies with a stale value there: stale is served for its lease, then one refreshes", function()
    local b, tb = worker { ok "v1", ok "v2" }
    b:list_plans()
    clk:advance(301)
    local a = worker { function() error("worker killed mid-request", 0) end }
    assert.has_error(function() a:list_plans() end)
    assert.equals("v1", b:list_plans().items[1].name)
    clk:advance(4.9)
    assert.equals("v1", b:list_plans().items[1].name)
    clk:advance(0.2) -- the lease (lock_ms 5000) is over
    assert.equals("v2", b:list_plans().items[1].name)
    assert.equals(2, #tb.requests)
    assert.same({ "miss", "refresh", "stale", "stale", "refresh" }, events)
  end)

  it("a waiter gives up at the lease or half-way to its deadline, and asks the API itself", function()
    local a = in_flight(ok "late")
    a.run()
    local b, tb = worker({ ok "own" }, { cache = { lock_ms = 60000 }, deadline_ms = 2000 })
    assert.equals("own", b:list_plans().items[1].name)
    assert.equals(1, #tb.requests)
    assert.near(1, total(clk.slept), 1e-6)
    a.land()
  end)
end)

describe("the catalogue cache: what it never keeps", function()
  it("errors are not cached by default", function()
    local c, t = worker({ status(404, "no plans there"), status(404, "no plans there") }, { retries = 0 })
    for _ = 1, 2 do
      local page, err = c:list_plans { country = "XXX" }
      assert.is_nil(page)
      assert.equals("not_found", err.kind)
    end
    assert.equals(2, #t.requests)
    assert.same({}, lock_keys())
  end)

  it("errors = seconds keeps a 404 that long, as the same error; never a 5xx, 429 or a failure to connect", function()
    local c, t = worker({ status(404, "no plans there"), status(404, "still none"),
      status(503, "down"), status(503, "down"), status(429, "slow down"), status(429, "slow down"),
      fake_transport.error("network", { sent = false }), fake_transport.error("network", { sent = false }) },
      { retries = 0, cache = { errors = 5 } })
    local _, first = c:list_plans { country = "XXX" }
    local _, cached = c:list_plans { country = "XXX" }
    assert.equals(1, #t.requests)
    assert.equals("not_found", cached.kind)
    assert.equals(404, cached.status)
    assert.equals(first.message, cached.message)
    assert.equals(0, cached.attempts)
    clk:advance(6)
    local _, later = c:list_plans { country = "XXX" }
    assert.equals("still none", later.message)
    for _, country in ipairs { "AAA", "AAA", "BBB", "BBB", "CCC", "CCC" } do
      assert.is_nil((c:list_plans { country = country }))
    end
    assert.equals(8, #t.requests)
  end)

  it("a write, live state, a call with headers of its own, a raw request: straight to the API, the store untouched",
    function()
      local c, t = worker { ORDER, ORDER, ITEM, ITEM, ITEM, ITEM, ok "a", ok "b", ok "c", ok "d" }
      for _ = 1, 2 do assert.is_table(c:purchase_plan(PLAN, { cache = false })) end
      for _ = 1, 2 do assert.is_table(c:get_usage { iccid = ICCID }) end
      for _ = 1, 2 do assert.is_table(c:get_sim { iccid = ICCID }) end
      for _ = 1, 2 do assert.is_table(c:list_plans(nil, { headers = { ["accept-language"] = "fr" } })) end
      for _ = 1, 2 do assert.is_table(c:request("GET", "/v1/public-v2/list-plans")) end
      assert.equals(10, #t.requests)
      assert.same({}, s.log)
      assert.same({}, events)
    end)

  it("marks live the reads a sale changes, and caches only list_plans unless told", function()
    local cached, live = {}, {}
    for name, op in pairs(flexiroam.operations) do
      if op.cache then cached[#cached + 1] = name end
      if op.live then live[#live + 1] = name end
    end
    table.sort(cached)
    table.sort(live)
    assert.same({ "list_plans" }, cached)
    assert.same({ "get_sim", "get_usage", "list_inventory", "list_orders", "list_subscriptions" }, live)
  end)
end)

describe("the catalogue cache: every hit is a fresh answer", function()
  it("decodes a new model per hit, which no caller can change for another; fields on a hit", function()
    local c, t = worker { ok "France 1GB" }
    local full = c:list_plans()
    full.items[1].name = "mutated"
    full.items[1].price.amount_minor = 1
    local selected = c:list_plans(nil, { fields = { "id", "price.amount_minor" } })
    local plan = selected.items[1]
    assert.equals("FRA-1GB-7D", plan.id)
    assert.equals(900, plan.price.amount_minor)
    assert.has_error(function() return plan.name end)
    assert.same({ "id", "price.amount_minor" }, plan:fields())
    local again = c:list_plans().items[1]
    assert.equals("France 1GB", again.name)
    assert.equals(900, again.price.amount_minor)
    assert.is_nil(again:fields())
    assert.is_true(again:covers("FRA")) -- a model bound to this client, as a fresh answer is
    assert.equals(1, #t.requests)
  end)

  it("keeps entries under the key's namespace, and never the API key: not in a key, a value or an event", function()
    local echoed = { status = 200, body = plans_body("echo " .. KEY) }
    local seen = {}
    local c = worker({ echoed }, {
      on_cache = function(e) seen[#seen + 1] = e end,
      logger = function(level, e) seen[#seen + 1] = level .. " " .. require("flexiroam.observe").format(level, e) end,
    })
    c:list_plans()
    assert.is_nil(c:list_plans().items[1].name:find(KEY, 1, true))
    local keys = s.keys()
    assert.equals(1, #keys)
    for _, k in ipairs(keys) do
      assert.equals(NS .. "cache:list_plans:", k:sub(1, #NS + 17))
      assert.is_nil(k:find(KEY, 1, true))
      assert.is_nil(s.values[k]:find(KEY, 1, true))
      assert.matches("[REDACTED]", s.values[k], 1, true)
    end
    assert.is_true(#seen >= 4)
    for _, e in ipairs(seen) do
      local text = type(e) == "table" and (e.outcome .. tostring(e.operation) .. tostring(e.path)) or e
      assert.is_nil(text:find(KEY, 1, true))
    end
  end)
end)

describe("the catalogue cache: a store that fails", function()
  it("goes straight to the API, warns once, and says when the store answers again", function()
    s.fail = "Redis: connection refused"
    local c, t = worker { ok "a", ok "b", ok "c" }
    assert.equals("a", c:list_plans().items[1].name)
    assert.equals("b", c:list_plans().items[1].name)
    assert.equals(2, #t.requests)
    assert.same({ "unavailable", "unavailable" }, events)
    assert.equals(1, #warnings)
    assert.matches("^warn the catalogue cache is unavailable %(Redis: connection refused%): calls go straight to" ..
      " the API", warnings[1])
    s.fail = nil
    assert.equals("c", c:list_plans().items[1].name)
    assert.equals("c", c:list_plans().items[1].name)
    assert.equals(3, #t.requests)
    assert.equals(2, #warnings)
    assert.matches("^info the catalogue cache answers again", warnings[2])
  end)

  it("a store that refuses to keep an answer (a full dict): the call answers, one warning says so", function()
    s.set = function() return nil, store.error("lua_shared_dict flexiroam: set ...: no memory") end
    local c, t = worker { ok "a", ok "b", ok "c" }
    for _ = 1, 3 do assert.is_table(c:list_plans()) end
    assert.equals(3, #t.requests)
    assert.equals(1, #warnings)
    assert.matches("could not keep an answer %(.*no memory%)", warnings[1])
    assert.same({}, lock_keys())
  end)

  it("cache.shared: the cache in a store of its own, the rate limit in the client's", function()
    local own = memory_store.new(function() return clk.t end)
    local c, t = worker({ ok "a", ok "b" }, { rate_limit = 100, cache = { shared = own } })
    c:list_plans()
    c:list_plans()
    assert.equals(1, #t.requests)
    assert.equals(1, #own.keys())
    assert.same({ "rate_take" }, s.log) -- the limiter's only
  end)
end)

describe("the catalogue cache: misuse raises at the caller's line", function()
  local function new_with(extra)
    local opts = { api_key = KEY, base_url = "http://127.0.0.1:9", shared = s }
    for k, v in pairs(extra) do opts[k] = v end
    return opts
  end

  it("in flexiroam.new", function()
    local caller = blame.assert_caller
    assert.matches("cache must be false or a table", caller(flexiroam.new, new_with { cache = 5 }))
    assert.matches('did you mean "ttl"', caller(flexiroam.new, new_with { cache = { tll = {} } }))
    assert.matches('did you mean "list_plans"', caller(flexiroam.new, new_with { cache = { ttl = { list_plan = 5 } } }))
    assert.matches("get_usage is live", caller(flexiroam.new, new_with { cache = { ttl = { get_usage = 5 } } }))
    assert.matches("get_sim is live", caller(flexiroam.new, new_with { cache = { ttl = { get_sim = 5 } } }))
    assert.matches("purchase_plan is a write",
      caller(flexiroam.new, new_with { cache = { ttl = { purchase_plan = 5 } } }))
    assert.matches("ttl must be a table", caller(flexiroam.new, new_with { cache = { ttl = 5 } }))
    caller(flexiroam.new, new_with { cache = { ttl = { list_plans = -1 } } })
    caller(flexiroam.new, new_with { cache = { ttl = { list_plans = "5" } } })
    caller(flexiroam.new, new_with { cache = { stale = -1 } })
    caller(flexiroam.new, new_with { cache = { errors = 0 } })
    caller(flexiroam.new, new_with { cache = { lock_ms = 0 } })
    caller(flexiroam.new, new_with { cache = { shared = 42 } })
    assert.matches("list_orders is live",
      caller(flexiroam.new, new_with { operations = { list_orders = { cache = 60 } } }))
    assert.matches("needs a store", caller(flexiroam.new, { api_key = KEY, base_url = "http://127.0.0.1:9",
      cache = { ttl = { list_plans = 5 } } }))
  end)

  it("in a call", function()
    local caller = blame.assert_caller
    local c = worker {}
    assert.matches("cache must be false or a number of seconds", caller(c.list_plans, c, nil, { cache = "yes" }))
    assert.matches("cache must be a number of seconds > 0", caller(c.list_plans, c, nil, { cache = 0 }))
    caller(c.list_plans, c, nil, { cache = true })
    assert.matches("get_usage is live", caller(c.get_usage, c, { iccid = ICCID }, { cache = 10 }))
    assert.matches("purchase_plan is a write", caller(c.purchase_plan, c, PLAN, { cache = 10 }))
    assert.matches("headers of its own", caller(c.list_plans, c, nil, { cache = 10, headers = { ["x-shop"] = "1" } }))
    assert.matches("raw request is never cached",
      caller(c.request, c, "GET", "/v1/public-v2/list-plans", { cache = 10 }))
    caller(c.plans, c, nil, { cache = "x" })
    local plain = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1:9", transport = fake_transport.new {} }
    assert.matches("needs a client with a store", caller(plain.list_plans, plain, nil, { cache = 10 }))
  end)
end)

describe("a full lua_shared_dict (flexiroam.store.ngx_shared on a dict double)", function()
  local CAPACITY = 64 * 1024

  -- A dict filled with cache entries until the store refuses one: -> dict, store, how many it took.
  local function filled()
    local d = mock_ngx.shared_dict { capacity = CAPACITY }
    local st = store.ngx_shared(d)
    local n = 0
    while true do
      local done, err = st:set(NS .. "cache:list_plans:x?page=" .. n, ("x"):rep(500), 600, true)
      if not done then
        assert.equals("store", err.kind)
        assert.matches("no memory", err.message)
        break
      end
      n = n + 1
    end
    return d, st, n
  end

  local function count(d, prefix)
    local n = 0
    for _, k in ipairs(d:get_keys(0)) do
      if k:sub(1, #prefix) == prefix then n = n + 1 end
    end
    return n
  end

  it("cache entries stop short of the last free pages", function()
    local d, _, n = filled()
    assert.is_true(n > 50, n .. " entries")
    assert.is_true(d:free_space() < ngx_shared.RESERVE)
    assert.is_true(CAPACITY - d.used >= ngx_shared.RESERVE - 4096, "the reserve was used by the cache")
    local _, flags = d:get(NS .. "cache:list_plans:x?page=0")
    assert.equals(ngx_shared.DROPPABLE, flags)
  end)

  it("the limiter's and the claims' new keys still find room: cache entries are dropped, nothing else", function()
    local d, st, n = filled()
    for i = 1, 150 do
      assert.is_number(st:rate_take(NS .. "rate" .. i, 0.1), "limiter key " .. i)
      assert.is_true(st:add(NS .. "claim:" .. i, "owner-" .. i, 60), "claim " .. i)
      assert.is_true(st:set(NS .. "state:" .. i, "s", 60), "state " .. i)
    end
    for i = 1, 150 do
      assert.is_number(d:get(NS .. "rate" .. i))
      assert.equals("owner-" .. i, d:get(NS .. "claim:" .. i))
      assert.equals("s", d:get(NS .. "state:" .. i))
    end
    local left = count(d, NS .. "cache:")
    assert.is_true(left < n, "no cache entry was dropped")
    assert.is_true(left > 0, "every cache entry was dropped: more than needed")
    print(("\n[dict double, %d KiB] %d cache entries filled it; 450 new state keys took the room of %d of them")
      :format(CAPACITY / 1024, n, n - left))
  end)

  it("a dict full of state: nil, err of kind store, and no state evicted for it", function()
    local d = mock_ngx.shared_dict { capacity = CAPACITY }
    local st = store.ngx_shared(d)
    local i = 0
    while true do
      i = i + 1
      local done, err = st:set(NS .. "state:" .. i, ("s"):rep(200), 60)
      if not done then
        assert.equals("store", err.kind)
        assert.matches("no memory", err.message)
        break
      end
    end
    for j = 1, i - 1 do assert.equals(200, #d:get(NS .. "state:" .. j)) end
    assert.is_nil((st:set(NS .. "cache:x", "v", 60, true)))
    -- Its keys were looked through once for cache entries to drop; not again on every write.
    local scans, get_keys = 0, d.get_keys
    d.get_keys = function(...) scans = scans + 1 return get_keys(...) end
    for j = 1, 5 do assert.is_nil((st:set(NS .. "more:" .. j, ("s"):rep(200), 60))) end
    assert.equals(0, scans)
  end)

  it("store:set checks droppable", function()
    local st = store.ngx_shared(mock_ngx.shared_dict { capacity = CAPACITY })
    assert.matches("droppable must be a boolean", blame.assert_caller(st.set, st, "k", "v", 1, "yes"))
  end)
end)
