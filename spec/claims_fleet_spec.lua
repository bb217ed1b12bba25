-- One sale per SIM across a fleet (issue 16, part 4, and part 5's claims
-- half), on real servers on 127.0.0.1 only: 200 sell_plan at once over a
-- 4-worker nginx (one lua_shared_dict) and over 4 separate Lua processes on
-- a private redis-server (50 each, in coroutines over non-blocking
-- sockets), against the sandbox, which records every order and would let
-- two land on one SIM. Asserted: every sale succeeded, the sandbox holds
-- exactly 200 orders on 200 distinct SIMs, each charged once, and each
-- sale's answer is the sandbox's record of it. The same fleets without a
-- store (the control) are printed, not asserted; spec/claims_spec.lua
-- races 20 sellers deterministically, with and without claims. Then the
-- faults: Redis down, stalled, stopped and started again, a full dict: the
-- sale fails with kind "store" and no purchase reaches the sandbox. Parts
-- skip, saying why, without redis-server / lua-redis or nginx / its Lua
-- module / the LuaJIT build. Timing is printed, never asserted.
local flexiroam = require "flexiroam"
local store = require "flexiroam.store"
local socket = require "socket"
local cjson = require "cjson"
local processes = require "spec.support.test_processes"
local redis_server = require "spec.support.redis_server"
local nginx = require "spec.support.nginx"
local load = require "spec.support.load"
local sandbox = require "spec.support.sandbox"
local orders_per_sim = require "spec.support.orders_per_sim"
local fleet = require "spec.support.fleet"

local KEY = "sandbox-key"
local PLAN = "FRA-1GB-7D"
local SALES = 200
local SIMS = 600 -- 540 eSIMs (every 10th SIM is physical): room for the 200 and the control's

-- The sandbox's own view: every order by reference, and the charges.
local function upstream(url)
  local c = flexiroam.new { api_key = KEY, base_url = url }
  local orders = assert(c:collect("list_orders", { limit = 100 }))
  local by_reference = {}
  for _, o in ipairs(orders) do by_reference[o.reference] = o end
  return orders, by_reference, sandbox.stats(c)
end

-- Every sale (a list of {reference =, ok =, order_id =, order_iccid =,
-- sim_iccid =, kind =, code =, message =}) succeeded and is the sandbox's
-- record of it; the sandbox holds SALES orders on SALES distinct SIMs.
local function assert_one_sim_each(label, sales, url, elapsed)
  local failures = {}
  for _, s in ipairs(sales) do
    if not s.ok then failures[#failures + 1] = ("%s: %s %s %s"):format(s.reference, s.kind, s.code, s.message) end
  end
  assert.same({}, failures)
  assert.equals(SALES, #sales)
  local orders, by_reference, stats = upstream(url)
  local distinct, twice = orders_per_sim.count(orders)
  print(("\n%s %d sales in %.2f s: %d orders upstream on %d distinct SIMs, %d SIMs sold twice")
    :format(label, #sales, elapsed, #orders, distinct, twice))
  assert.equals(SALES, #orders)
  assert.equals(SALES, distinct)
  for _, s in ipairs(sales) do
    local o = by_reference[s.reference]
    assert(o, "no order upstream for " .. s.reference)
    assert.equals(o.id, s.order_id)
    assert.equals(o.iccid, s.order_iccid)
    assert.equals(o.iccid, s.sim_iccid)
    assert.equals(1, stats.charges[s.reference])
  end
end

-- The control: the same fleet without claims. Printed, not asserted.
local function print_control(label, sales, url)
  local orders = upstream(url)
  local failed, why = 0, {}
  for _, s in ipairs(sales) do
    if not s.ok then
      failed = failed + 1
      local code = tostring(s.code or s.kind)
      why[code] = (why[code] or 0) + 1
    end
  end
  local reasons = {}
  for code, n in pairs(why) do reasons[#reasons + 1] = n .. " " .. code end
  table.sort(reasons)
  print(("%s without a store: %d orders upstream, %d SIMs sold twice or more, %d sales failed (%s)")
    :format(label, #orders, select(2, orders_per_sim.count(orders)), failed, table.concat(reasons, ", ")))
end

local function reset(url)
  assert(flexiroam.new { api_key = KEY, base_url = url }:request("POST", "/__sandbox/reset"))
end

-- A client that records the operation of every request it sends.
local function recording_client(url, shared, sent)
  return flexiroam.new { api_key = KEY, base_url = url, shared = shared, timeout_ms = 5000,
    on_request = function(e) sent[#sent + 1] = e.operation end }
end

local function count(list, value)
  local n = 0
  for _, v in ipairs(list) do
    if v == value then n = n + 1 end
  end
  return n
end

-- The sale failed with kind "store", and no purchase was sent.
local function assert_refused(sale, err, sent, pattern, purchases_before)
  assert.is_nil(sale)
  assert.equals("store", err.kind)
  assert.matches("cannot be claimed: the shared store did not answer", err.message)
  if pattern then assert.matches(pattern, err.message) end
  assert.matches("no purchase was sent", err.message)
  assert.equals(purchases_before or 0, count(sent, "purchase_plan"))
end

local describe_with = require("spec.support.describe_with")(describe, it, pending)

local stop_all = processes.stop_all

----------------------------------------------------------------------
-- nginx, 4 workers, one lua_shared_dict
----------------------------------------------------------------------

describe_with(nginx.missing(), "nginx: 4 workers, one claim per SIM", function()
  local sb, srv

  lazy_setup(function()
    sb = sandbox.start { sims = SIMS, seed = 16, latency_ms = 10 }
    srv = fleet.nginx("spec.support.claims_app", { sandbox_url = sb.url })
  end)

  lazy_teardown(function() stop_all(srv, sb) end)

  -- SALES requests at once to /sell (mode `mode`): -> the sales, how many
  -- workers answered, the time it took.
  local function sell_all(prefix, mode)
    local result = load.run { port = srv.port, clients = SALES, requests = SALES, seconds = 60, grace = 30,
      path = function(n) return ("/sell?ref=%s-%d&mode=%s"):format(prefix, n, mode) end }
    local sales, pids, workers = {}, {}, 0
    for _, a in ipairs(result.answers) do
      local ok, sale = pcall(cjson.decode, a.body)
      assert(a.status == 200 and ok, "not a sale's answer: " .. a.status .. " " .. a.body)
      for k, v in pairs(sale) do
        if v == cjson.null then sale[k] = nil end
      end
      sales[#sales + 1] = sale
      if not pids[sale.pid] then workers = workers + 1 end
      pids[sale.pid] = true
    end
    assert.equals(0, result.failed)
    return sales, workers, result.elapsed
  end

  it("200 sell_plan at once: 200 orders on 200 distinct SIMs, none lost, each the sandbox's record", function()
    local sales, workers, elapsed = sell_all("ngx", "shared")
    assert.is_true(workers >= 3, "only " .. workers .. " workers served the sales")
    assert_one_sim_each(("[nginx, 4 workers, %d served]"):format(workers), sales, sb.url, elapsed)
    local _, body = processes.http(srv.port, "GET", "/claims")
    local held = cjson.decode(body).claims
    print(("[nginx] claims in the dict after the run: %d (a bought SIM's claim lasts until its lease ends)")
      :format(held))
    assert.equals(SALES, held)
  end)

  it("without the shared dict, the same 200 (the control: printed, not asserted)", function()
    reset(sb.url)
    local sales = sell_all("ngx-control", "local")
    print_control("[nginx, control]", sales, sb.url)
  end)

  it("a full dict refuses the claim: kind store, no purchase sent; room again, sales again", function()
    -- The sandbox's SIMs free again, and none of them claimed by the runs above.
    reset(sb.url)
    processes.http(srv.port, "GET", "/claims?drop=1")
    local _, filled = processes.http(srv.port, "GET", "/fill")
    assert.equals("no memory", cjson.decode(filled).err)
    local _, body = processes.http(srv.port, "GET", "/sell?ref=full-1&mode=shared")
    local sale = cjson.decode(body)
    assert.is_false(sale.ok)
    assert.equals("store", sale.kind)
    assert.matches("no purchase was sent", sale.message)
    assert.matches("no memory", sale.message)
    local orders, _, stats = upstream(sb.url)
    assert.equals(0, #orders)
    assert.is_nil(stats.charges["full-1"])
    processes.http(srv.port, "GET", "/unfill")
    _, body = processes.http(srv.port, "GET", "/sell?ref=full-2&mode=shared")
    assert.is_true(cjson.decode(body).ok, body)
  end)
end)

----------------------------------------------------------------------
-- 4 separate Lua processes, one Redis
----------------------------------------------------------------------

-- One process (spec/support/fleet.lua): o.n sales at once under references
-- o.prefix-1..n, from o.start (epoch seconds), shared on Redis at
-- o.redis_port (nil: no store). Prints a line per sale: "sale ok <ref>
-- <order id> <order iccid> <sim iccid>" or "sale err <ref> <kind> <code> <message>".
local SELLER = [[
local coop = require "spec.support.coop"
local client = fleet.client(o, { transport = coop.transport(), timeout_ms = 20000 })
local sales = {}
for i = 1, o.n do
  local ref = o.prefix .. "-" .. i
  sales[i] = function()
    local sale, err = client:sell_plan { plan_id = o.plan, reference = ref }
    if sale then return ("ok %s %s %s %s"):format(ref, sale.order.id, sale.order.iccid, sale.sim.iccid) end
    return ("err %s %s %s %s"):format(ref, err.kind, tostring(err.code), err.message)
  end
end
fleet.wait_until(o.start)
local results, abandoned = coop.run(sales, { hard_stop = o.start + 60 })
for _, r in ipairs(results) do print("sale " .. r[1]) end
print("abandoned " .. abandoned)
]]

local function parse_sales(out)
  local sales = {}
  for line in out:gmatch("[^\n]+") do
    local ref, id, iccid, sim = line:match("^sale ok (%S+) (%S+) (%S+) (%S+)$")
    if ref then
      sales[#sales + 1] = { reference = ref, ok = true, order_id = id, order_iccid = iccid, sim_iccid = sim }
    else
      local r, kind, code, message = line:match("^sale err (%S+) (%S+) (%S+) (.*)$")
      if r then sales[#sales + 1] = { reference = r, ok = false, kind = kind, code = code, message = message } end
    end
  end
  assert(out:find("\nabandoned 0\n", 1, true) or out:find("^abandoned 0\n"), "a seller did not finish: " .. out)
  return sales
end

describe_with(redis_server.missing(), "Redis: 4 processes, one claim per SIM", function()
  local redis = redis_server.redis_lua()
  local server, sb

  lazy_setup(function()
    server = redis_server.start()
    sb = sandbox.start { sims = SIMS, seed = 17, latency_ms = 10 }
  end)

  lazy_teardown(function() stop_all(sb, server) end)

  -- 4 processes selling SALES / 4 each, at once: -> the sales, the time it took.
  local function sell_all(prefix, redis_port)
    local start = socket.gettime() + 1
    local sales = {}
    local outs = fleet.run(4, function(i)
      return { api_key = KEY, url = sb.url, redis_port = redis_port, n = math.floor(SALES / 4), plan = PLAN,
        prefix = prefix .. i, start = start }
    end, SELLER)
    for _, out in ipairs(outs) do
      for _, s in ipairs(parse_sales(out)) do sales[#sales + 1] = s end
    end
    return sales, socket.gettime() - start
  end

  it("200 sell_plan at once: 200 orders on 200 distinct SIMs, none lost, each the sandbox's record", function()
    local sales, elapsed = sell_all("redis", server.port)
    assert_one_sim_each("[redis, 4 processes x 50]", sales, sb.url, elapsed)
    local conn = redis_server.connect(server.port)
    local keys = conn:keys(store.namespace(KEY) .. "claim:*")
    print(("[redis] claims after the run: %d"):format(#keys))
    assert.equals(SALES, #keys)
    for _, k in ipairs(keys) do
      local ttl = conn:pttl(k)
      assert.is_true(ttl > 0 and ttl <= 70000, k .. " " .. ttl) -- 2 x timeout_ms 20000 + 30 s
    end
  end)

  it("without the store, the same 200 (the control: printed, not asserted)", function()
    reset(sb.url)
    print_control("[redis, control]", (sell_all("control", nil)), sb.url)
  end)

  describe("when Redis cannot answer, no purchase is sent", function()
    before_each(function() reset(sb.url) end)

    local function redis_at(port, opts)
      return store.redis(function() return redis.connect("127.0.0.1", port) end, opts)
    end

    it("nothing listens", function()
      local sent = {}
      local c = recording_client(sb.url, redis_at(processes.free_port()), sent)
      local sale, err = c:sell_plan { plan_id = PLAN, reference = "down-1" }
      assert_refused(sale, err, sent, "Redis: connect: .*refused")
      assert.equals(0, #(upstream(sb.url)))
    end)

    it("a server that stalls: refused after timeout_ms", function()
      local stall = assert(socket.bind("127.0.0.1", 0)) -- listens, never accepts nor answers
      local _, port = stall:getsockname()
      local sent = {}
      local c = recording_client(sb.url, redis_at(port, { timeout_ms = 100 }), sent)
      local started = socket.gettime()
      local sale, err = c:sell_plan { plan_id = PLAN, reference = "slow-1" }
      local elapsed = socket.gettime() - started
      stall:close()
      print(("\n[redis stalled, timeout_ms = 100] the sale was refused after %.3f s"):format(elapsed))
      assert_refused(sale, err, sent, "timeout")
      assert.equals(0, #(upstream(sb.url)))
    end)

    it("stopped mid-run: refused while down, sells again once it is back", function()
      local other = redis_server.start()
      local sent = {}
      local c = recording_client(sb.url, redis_at(other.port, { down_ms = 200 }), sent)
      assert(c:sell_plan { plan_id = PLAN, reference = "before" })
      other:stop()
      local purchases = count(sent, "purchase_plan")
      local sale, err = c:sell_plan { plan_id = PLAN, reference = "during" }
      assert_refused(sale, err, sent, nil, purchases)
      other = redis_server.start { port = other.port }
      socket.sleep(0.3)
      assert(c:sell_plan { plan_id = PLAN, reference = "after" })
      other:stop()
      local orders, by_reference = upstream(sb.url)
      assert.equals(2, #orders)
      assert.is_nil(by_reference.during)
    end)
  end)
end)
