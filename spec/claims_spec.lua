-- SIM claims (issue 16, part 4, and part 5's claims half): with a shared
-- store, sell_plan claims a free SIM before buying onto it, so two sellers
-- never pick one SIM; a store that cannot answer means no purchase. Here on
-- a fake API (spec/support/fake_api.lua) and a store in memory on a fake
-- clock (spec/support/lease_store.lua), under Lua 5.4 and LuaJIT; the
-- fleet proofs on real servers are in spec/claims_fleet_spec.lua.
local flexiroam = require "flexiroam"
local store = require "flexiroam.store"
local claims = require "flexiroam.claims"
local errors = require "flexiroam.errors"
local fake_api = require "spec.support.fake_api"
local lease_store = require "spec.support.lease_store"
local fake_clock = require "spec.support.fake_clock"
local turns = require "spec.support.turns"
local orders_per_sim = require "spec.support.orders_per_sim"

local unpack = table.unpack or unpack -- luacheck: ignore 113 (5.1)

local KEY = "sk_live_claims_SECRET_0123456789"
local NS = store.namespace(KEY)
local PLAN = "FRA-1GB-7D"
local THIS_FILE = debug.getinfo(1, "S").short_src
local LEASE = 2 * claims.ATTEMPT_MS / 1000 + claims.SETTLE -- no deadline set: one attempt and its lookup

local function claim_key(iccid) return NS .. "claim:" .. iccid end

local clk, s, warnings
before_each(function()
  clk = fake_clock.new()
  s = lease_store.new(clk)
  warnings = {}
end)

-- A client on `api` sharing the store `s` (shared = false: none).
local function client(api, extra)
  local opts = { api_key = KEY, base_url = "http://127.0.0.1:9", transport = api, shared = s, clock = clk.seam,
    retry_base_ms = 0, logger = function(level, e)
      if e.event == "warning" then warnings[#warnings + 1] = level .. " " .. e.message end
    end }
  for k, v in pairs(extra or {}) do opts[k] = v end
  if opts.shared == false then opts.shared = nil end
  return flexiroam.new(opts)
end

local function sell(c, ref, extra)
  local args = { plan_id = PLAN, reference = ref }
  for k, v in pairs(extra or {}) do args[k] = v end
  return c:sell_plan(args)
end

-- Another sale's claim on a SIM, as the store holds them.
local function hold(iccid, ttl, ref)
  assert(s:add(claim_key(iccid), "someone-else " .. (ref or ""), ttl or LEASE))
end

-- How many SIMs the API sold more than once.
local function sims_sold_twice(api)
  return select(2, orders_per_sim.count(api.orders))
end

describe("sell_plan with a shared store", function()
  it("claims the SIM before buying, under the namespace, with a fresh owner token per sale", function()
    local api = fake_api.new { sims = 5 }
    local seen = {}
    api.on_purchase = function(body)
      -- at the moment the purchase arrives, the SIM is claimed for this sale
      local key = claim_key(body.iccid)
      seen[#seen + 1] = { value = s.items[key] and s.items[key].value, ttl = s:ttl(key), reference = body.reference }
    end
    local c = client(api)
    local a = assert(sell(c, "order-1"))
    local b = assert(sell(c, "order-2"))
    assert.are_not.equal(a.sim.iccid, b.sim.iccid)
    for i, claim in ipairs(seen) do
      local token, ref = claim.value:match("^(%S+) (.*)$")
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", token)
      assert.equals(claim.reference, ref)
      assert.equals(LEASE, claim.ttl, "claim " .. i)
      assert.is_nil(claim.value:find(KEY, 1, true))
    end
    assert.are_not.equal(seen[1].value:match("^%S+"), seen[2].value:match("^%S+"))
    -- Bought: each claim stays until its lease ends, then the key is gone.
    assert.is_number(s:ttl(claim_key(a.sim.iccid)))
    clk:advance(LEASE)
    assert.is_nil(s:ttl(claim_key(a.sim.iccid)))
    for key in pairs(s.items) do assert.equals(NS .. "claim:", key:sub(1, #NS + 6)) end
  end)

  it("sizes the lease to the purchase's deadline, and sends the purchase with that deadline", function()
    local api = fake_api.new { sims = 3 }
    local ttl, timeout_ms
    api.before = function(req)
      if req.url:find("purchase-plan", 1, true) then timeout_ms = req.timeout_ms end
    end
    api.on_purchase = function(body) ttl = s:ttl(claim_key(body.iccid)) end
    assert(client(api, { deadline_ms = 8000 }):sell_plan({ plan_id = PLAN, reference = "r-1" }))
    assert.equals(8 + claims.SETTLE, ttl)
    assert.is_true(timeout_ms <= 8000)
    assert(client(api):sell_plan({ plan_id = PLAN, reference = "r-2" }, { deadline_ms = 2500 }))
    assert.equals(2.5 + claims.SETTLE, ttl)
    assert.is_true(timeout_ms <= 2500)
    -- no deadline anywhere: twice the attempt timeout (an attempt, and the lookup that settles an unclear one)
    assert(client(api, { timeout_ms = 3000 }):sell_plan({ plan_id = PLAN, reference = "r-3" }))
    assert.equals(6 + claims.SETTLE, ttl)
    assert.equals(3000, timeout_ms)
  end)

  it("skips a SIM another sale holds", function()
    for round = 1, 3 do -- whatever place in the page a sale starts from
      s = lease_store.new(clk)
      for i = 1, 11 do hold(fake_api.iccid_at(i)) end
      local api = fake_api.new { sims = 12 }
      local sale = assert(sell(client(api), "skip-" .. round))
      assert.equals(fake_api.iccid_at(12), sale.sim.iccid)
      assert.equals(1, #api.orders)
    end
  end)

  it("every candidate held: looks through a bounded number of pages, then conflict, nothing bought", function()
    local api = fake_api.new { sims = 300 }
    for i = 1, 300 do hold(fake_api.iccid_at(i)) end
    local sale, err = sell(client(api), "all-held")
    assert.is_nil(sale)
    assert.equals("conflict", err.kind)
    assert.equals("sims_claimed", err.code)
    assert.matches("each of the 200 free eSIMs the inventory listed first is claimed by another sale", err.message)
    assert.is_true(err.safe_to_retry)
    assert.equals(0, api:purchases())
    local lists = 0
    for _, r in ipairs(api.requests) do
      if r.path:find("list-inventory", 1, true) then lists = lists + 1 end
    end
    assert.equals(claims.PAGES, lists)
  end)

  it("no free SIM at all: not_found out_of_stock, as without a store", function()
    local api = fake_api.new { sims = 0 }
    local sale, err = sell(client(api), "none")
    assert.is_nil(sale)
    assert.equals("not_found", err.kind)
    assert.equals("out_of_stock", err.code)
  end)

  it("a purchase that failed releases the claim: the SIM is sold by the next sale", function()
    local api = fake_api.new { sims = 1 }
    api.on_purchase = function()
      return { status = 422, headers = { ["content-type"] = "application/json" },
        body = '{"message": "plan_id is not sold for this SIM", "fields": {"plan_id": "no"}}' }
    end
    local c = client(api)
    local sale, err = sell(c, "fails")
    assert.is_nil(sale)
    assert.equals("validation", err.kind)
    assert.is_nil(s:ttl(claim_key(fake_api.iccid_at(1))))
    api.on_purchase = nil
    sale = assert(sell(client(api), "next"))
    assert.equals(fake_api.iccid_at(1), sale.sim.iccid)
  end)

  it("an order answered 'failed' releases it too", function()
    local api = fake_api.new { sims = 1 }
    api.on_purchase = function(body)
      return { status = 201, headers = { ["content-type"] = "application/json" }, body = flexiroam.json.encode {
        item = { id = "ord-x", reference = body.reference, iccid = body.iccid, plan_id = body.plan_id,
          status = "failed", created_at = "2025-01-01 00:00:00" } } }
    end
    local sale, err = sell(client(api), "failed-order")
    assert.is_nil(sale)
    assert.equals("api", err.kind)
    assert.is_nil(s:ttl(claim_key(fake_api.iccid_at(1))))
  end)

  it("an indeterminate purchase keeps the claim for HOLD_UNKNOWN: nobody sells that SIM meanwhile", function()
    local api = fake_api.new { sims = 1 }
    api.on_purchase = function()
      return { nil, errors.new("timeout", "simulated: no answer", { sent = true }) }
    end
    local sale, err = sell(client(api, { retries = 0 }), "unknown")
    assert.is_nil(sale)
    assert.equals("indeterminate", err.kind)
    local key = claim_key(fake_api.iccid_at(1))
    assert.equals(claims.HOLD_UNKNOWN, s:ttl(key))
    api.on_purchase = nil
    local other, err2 = sell(client(api), "meanwhile")
    assert.is_nil(other)
    assert.equals("sims_claimed", err2.code)
    assert.equals(1, api:purchases()) -- the first one only
    clk:advance(claims.HOLD_UNKNOWN)
    assert(sell(client(api), "later"))
  end)

  it("a purchase that landed but whose answer was lost (too large) is found by its reference, never released",
    function()
    -- The server makes the order; the answer never arrives whole. The
    -- inventory still lists the SIM as free (it may lag), so a released
    -- claim would let the next sale buy the same SIM again.
    local api = fake_api.new { sims = 1 }
    api.on_purchase = function(body)
      api.on_purchase = nil
      api:_buy(body)
      return { nil, errors.new("too_large", "simulated: the answer passed max_response_bytes", { sent = true }) }
    end
    local free_row = { iccid = fake_api.iccid_at(1), chip_type = "esim", availability_sku = "free___1",
      subscribed = "0___1", status = "active" }
    local real = api.request
    api.request = function(self, req)
      if req.url:find("list%-inventory") then
        return { status = 200, headers = { ["content-type"] = "application/json" },
          body = flexiroam.json.encode { items = { free_row }, page_key = flexiroam.json.null } }
      end
      return real(self, req)
    end
    local sale = assert(sell(client(api), "landed")) -- the lookup by reference found the order
    assert.equals("landed", sale.order.reference)
    assert.is_not_nil(s:ttl(claim_key(fake_api.iccid_at(1))))
    local other, err = sell(client(api), "next-customer")
    assert.is_nil(other)
    assert.equals("sims_claimed", err.code)
    assert.equals(1, #api.orders)
  end)

  it("a purchase that failed in a way that proves nothing keeps the claim", function()
    local api = fake_api.new { sims = 1 }
    api.on_purchase = function()
      -- no status, and whether it left is unknown: not a proof that nothing was bought
      return { nil, errors.new("tls", "simulated: the connection broke mid-answer", {}) }
    end
    local sale, err = sell(client(api, { retries = 0 }), "unclear")
    assert.is_nil(sale)
    assert.is_not_nil(err)
    assert.is_not_nil(s:ttl(claim_key(fake_api.iccid_at(1))))
  end)

  it("a holder that dies mid-purchase leaves its claim to expire with the lease", function()
    local api = fake_api.new { sims = 1 }
    api.before = function(req)
      if req.url:find("purchase-plan", 1, true) then coroutine.yield("died") end
    end
    local holder = coroutine.create(function() return sell(client(api), "dies") end)
    local ok, what = coroutine.resume(holder)
    assert.is_true(ok)
    assert.equals("died", what) -- never resumed: its purchase never ends
    api.before = nil
    local sale, err = sell(client(api), "waits")
    assert.is_nil(sale)
    assert.equals("sims_claimed", err.code)
    clk:advance(LEASE - 0.001)
    assert.equals("sims_claimed", select(2, sell(client(api), "still")).code)
    clk:advance(0.001)
    sale = assert(sell(client(api), "after"))
    assert.equals(fake_api.iccid_at(1), sale.sim.iccid)
  end)

  it("the store down: kind store, a clear message, no purchase sent, no API key anywhere", function()
    local api = fake_api.new { sims = 5 }
    s.fail = "Redis: connect: connection refused"
    local sale, err = sell(client(api), "store-down")
    assert.is_nil(sale)
    assert.equals("store", err.kind)
    assert.matches("^sell_plan: SIM %d+ cannot be claimed: the shared store did not answer %(Redis: connect: " ..
      "connection refused%); no purchase was sent", err.message)
    assert.equals("store", err.cause.kind)
    assert.is_true(err.safe_to_retry)
    assert.equals(0, api:purchases())
    assert.is_nil(tostring(err):find(KEY, 1, true))
    assert.is_truthy(errors.KINDS.store)
  end)

  it("a full lua_shared_dict refuses the claim: kind store, no purchase sent", function()
    local dict = {
      get = function() return nil end, delete = function() end,
      safe_set = function() return nil, "no memory" end, safe_add = function() return nil, "no memory" end,
    }
    local api = fake_api.new { sims = 5 }
    local sale, err = sell(client(api, { shared = store.ngx_shared(dict) }), "full")
    assert.is_nil(sale)
    assert.equals("store", err.kind)
    assert.matches("no memory", err.message)
    assert.equals(0, api:purchases())
  end)

  it("a SIM the caller names: claimed while free, refused while another sale holds it", function()
    local api = fake_api.new { sims = 3 }
    local iccid = fake_api.iccid_at(2)
    hold(iccid, LEASE, "someone-elses-order")
    local sale, err = sell(client(api), "named", { iccid = iccid })
    assert.is_nil(sale)
    assert.equals("conflict", err.kind)
    assert.equals("sim_claimed", err.code)
    assert.equals(0, api:purchases())
    -- held under this very reference (a double click): the API's reference rule makes it one sale
    s.items = {}
    hold(iccid, LEASE, "same-order")
    local first = assert(sell(client(api), "same-order", { iccid = iccid }))
    assert.equals(iccid, first.sim.iccid)
    local again = assert(sell(client(api), "same-order", { iccid = iccid }))
    assert.is_true(again.replayed)
    assert.equals(1, #api.orders)
  end)

  it("a named used SIM (a top-up) and a replay by reference need no claim: they work with the store down", function()
    local api = fake_api.new { sims = 3 }
    local first = assert(sell(client(api), "first"))
    s.fail = "Redis: connect: connection refused"
    local log_before = #s.log
    local replay = assert(sell(client(api), "first"))
    assert.is_true(replay.replayed)
    assert.equals(first.order.id, replay.order.id)
    local topup = assert(sell(client(api), "topup", { iccid = first.sim.iccid }))
    assert.equals(first.sim.iccid, topup.order.iccid)
    for i = log_before + 1, #s.log do assert.are_not.equal("add", s.log[i]) end
    -- a named free SIM does: refused with the store down
    local free = fake_api.iccid_at(1) == first.sim.iccid and fake_api.iccid_at(2) or fake_api.iccid_at(1)
    local sale, err = sell(client(api), "named-free", { iccid = free })
    assert.is_nil(sale)
    assert.equals("store", err.kind)
    assert.equals(2, #api.orders)
  end)

  it("the store down when releasing or extending: the claim ends with its lease, and a warning says so", function()
    local api = fake_api.new { sims = 2 }
    api.on_purchase = function()
      s.fail = "Redis: timeout"
      return { status = 422, headers = { ["content-type"] = "application/json" }, body = '{"message": "no"}' }
    end
    local sale, err = sell(client(api), "release-fails")
    assert.is_nil(sale)
    assert.equals("validation", err.kind)
    assert.equals(1, #warnings)
    assert.matches("^warn the claim on SIM %d+ could not be released %(Redis: timeout%): the SIM stays claimed" ..
      " until its lease ends, in at most 150 s", warnings[1])
    s.fail = nil
    local key = next(s.items)
    assert.is_nil(next(s.items, key))
    assert.equals(LEASE, s:ttl(key))
  end)

  it("without a store: no claims, today's in-process picks", function()
    local api = fake_api.new { sims = 4 }
    local c = client(api, { shared = false })
    assert.is_nil(rawget(c, "_claims"))
    local a = assert(sell(c, "plain-1"))
    local b = assert(sell(c, "plain-2"))
    assert.are_not.equal(a.sim.iccid, b.sim.iccid)
    assert.same({}, s.log)
  end)

  it("raises at the caller's line on misuse, before any claim or request", function()
    local api = fake_api.new { sims = 3 }
    local c = client(api)
    local cases = {
      { nil }, { { plan_id = 5 } }, { { plan_id = PLAN, colour = "red" } }, { { plan_id = PLAN, reference = "" } },
      { { plan_id = PLAN }, { deadline_ms = "soon" } }, { { plan_id = PLAN }, { deadline_ms = 0 } },
      { { plan_id = PLAN }, { timeout_ms = "long" } },
    }
    for i, case in ipairs(cases) do
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() c:sell_plan(unpack(case, 1, 2)) end) -- not a tail call: this line stays
      assert.is_false(ok, "case " .. i)
      local where = THIS_FILE .. ":" .. line .. ": "
      assert.equals(where, tostring(err):sub(1, #where), "case " .. i .. ": " .. tostring(err))
    end
    assert.same({}, s.log)
    assert.equals(0, api:purchases())
  end)
end)

describe("a fleet's race for free SIMs", function()
  local SELLERS = 20

  -- SELLERS sales at once, each from its own client (a worker of its own,
  -- with its own in-process picks), over one API: every request and every
  -- store call is a turn, so all of them list the same free SIMs before
  -- any buys. -> the answers, the API
  local function race(shared)
    local api = fake_api.new { sims = SELLERS }
    api.before = function() coroutine.yield() end
    s.before = function() coroutine.yield() end
    local sales = {}
    for i = 1, SELLERS do
      local c = client(api, { shared = shared })
      sales[i] = function() return sell(c, "race-" .. i) end
    end
    local results = turns.run(sales)
    api.before, s.before = nil, nil
    return results, api
  end

  it("with the store: every sale succeeds, each on a SIM of its own", function()
    local results, api = race(nil)
    for i, r in ipairs(results) do assert(r[1], "sale " .. i .. ": " .. tostring(r[2])) end
    assert.equals(SELLERS, #api.orders)
    assert.equals(0, sims_sold_twice(api))
    for i, r in ipairs(results) do
      local order = api.orders[tonumber(r[1].order.id:match("%d+"))]
      assert.equals("race-" .. i, order.reference)
      assert.equals(order.iccid, r[1].sim.iccid)
    end
  end)

  it("without it (the control), the same race sells SIMs twice: the check above has teeth", function()
    local _, api = race(false)
    local twice = sims_sold_twice(api)
    print(("\n[claims, control] %d sellers over %d SIMs without a store: %d SIMs sold twice or more")
      :format(SELLERS, SELLERS, twice))
    assert.is_true(twice > 0)
  end)
end)
