-- The catalogue cache in a fleet (issue 16, parts 3 and the full-dict half
-- of 5), on real servers on 127.0.0.1 only: 1000 page views over a 4-worker
-- nginx (one lua_shared_dict) and over 4 Lua processes on a private
-- redis-server cause one upstream list_plans request per ttl, counted by
-- the upstream itself (spec/support/rate_counter.lua, which answers 50 ms
-- late, so page views pile up while a refresh is in flight). What decides
-- is what the upstream counted: every two of its requests are at least a
-- ttl apart (two refreshes of one expiry would not be), and there are no
-- more of them than the run's length allows. A slow machine makes the
-- run longer, never the gaps shorter. And a real full dict: cache entries
-- give way, the limiter's and the claims' keys never. Parts skip, saying
-- why, without nginx / its Lua module / the LuaJIT build or redis-server /
-- lua-redis.
local store = require "flexiroam.store"
local socket = require "socket"
local cjson = require "cjson"
local processes = require "spec.support.test_processes"
local rate_counter = require "spec.support.rate_counter"
local redis_server = require "spec.support.redis_server"
local nginx = require "spec.support.nginx"
local load = require "spec.support.load"
local fleet = require "spec.support.fleet"

local TTL = 1 -- seconds list_plans stays fresh
local VIEWS, RATE = 1000, 250 -- page views, arriving at this many a second (4 s)
local DELAY_MS = 50 -- how late the upstream answers
local SLACK = 0.1 -- seconds of clock granularity between a writer and the upstream

-- The outcomes' counts as "hit 950, stale 30, ...".
local function describe_outcomes(o)
  local parts = {}
  for _, name in ipairs { "hit", "stale", "wait", "miss", "refresh", "unavailable" } do
    if (o[name] or 0) > 0 then parts[#parts + 1] = ("%s %d"):format(name, o[name]) end
  end
  return table.concat(parts, ", ")
end

-- What the upstream counted: one request per ttl. -> how many
local function assert_one_per_ttl(label, arrivals, elapsed, outcomes)
  local n = #arrivals
  local times = {}
  for i, a in ipairs(arrivals) do
    times[i] = ("%.2f"):format(a.t - arrivals[1].t)
    assert.equals(200, a.status)
  end
  local allowed = math.floor(elapsed / TTL) + 1
  print(("\n%s %d page views in %.1f s, ttl %g s: %d upstream list_plans requests (at most %d), at +%s s; %s")
    :format(label, VIEWS, elapsed, TTL, n, allowed, table.concat(times, ", "), describe_outcomes(outcomes)))
  assert.is_true(n >= 1)
  for i = 2, n do
    local gap = arrivals[i].t - arrivals[i - 1].t
    assert.is_true(gap >= TTL - SLACK, ("requests %d and %d only %.3f s apart: %s"):format(i - 1, i, gap,
      table.concat(times, ", ")))
  end
  assert.is_true(n <= allowed, n .. " requests in " .. elapsed .. " s")
  return n
end


local describe_with = require("spec.support.describe_with")(describe, it, pending)

----------------------------------------------------------------------
-- One process: a batch's calls share the cache as workers do
----------------------------------------------------------------------

describe("the catalogue cache in a batch", function()
  it("8 concurrent list_plans over 2 queries: 2 upstream requests, the others wait on them", function()
    local counter = rate_counter.start()
    counter:delay(DELAY_MS)
    local s = require("spec.support.memory_store").new(require("flexiroam.core").monotonic)
    local outcomes = {}
    local client = require("flexiroam").new { api_key = "batch-key", base_url = counter.url, shared = s,
      on_cache = function(e) outcomes[e.outcome] = (outcomes[e.outcome] or 0) + 1 end }
    local list = {}
    for i = 1, 8 do list[i] = { country = i % 2 == 0 and "FRA" or "ESP" } end
    local results = client:map("list_plans", list, { concurrency = 8 })
    local arrivals = counter:arrivals()
    counter:stop()
    for _, r in ipairs(results) do assert.is_true(r.ok, tostring(r.err)) end
    assert.equals(2, #arrivals)
    assert.same({ miss = 2, wait = 6 }, outcomes)
  end)
end)

----------------------------------------------------------------------
-- nginx, 4 workers, one lua_shared_dict
----------------------------------------------------------------------

describe_with(nginx.missing(), "the catalogue cache in nginx: 4 workers, one lua_shared_dict", function()
  local counter, srv

  local function get_json(path)
    local status, body = processes.http(srv.port, "GET", path)
    assert.equals(200, status, body)
    return cjson.decode(body)
  end

  lazy_setup(function()
    counter = rate_counter.start()
    srv = fleet.nginx("spec.support.cache_app", { counter_url = counter.url, cache_ttl = ("%g"):format(TTL) },
      { tiny = "64k" })
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if counter then counter:stop() end
  end)

  it("1000 page views cause one upstream list_plans request per ttl", function()
    counter:reset()
    counter:delay(DELAY_MS)
    local result = load.run { port = srv.port, path = "/plans", clients = 16, requests = VIEWS, rate = RATE }
    local pids, failures = {}, {}
    for _, a in ipairs(result.answers) do
      local ok, value = pcall(cjson.decode, a.body)
      if a.status == 200 and ok and value.ok then pids[value.pid] = true else failures[#failures + 1] = a.body end
    end
    assert.same({}, failures)
    assert.equals(0, result.failed)
    assert.equals(VIEWS, #result.answers)
    local workers = 0
    for _ in pairs(pids) do workers = workers + 1 end
    assert.is_true(workers >= 3, "only " .. workers .. " workers served the views")
    local outcomes = get_json("/outcomes")
    assert_one_per_ttl(("[nginx, 4 workers (%d served), 16 clients]"):format(workers), counter:arrivals(),
      result.elapsed, outcomes)
    assert.equals(VIEWS, outcomes.hit + outcomes.stale + outcomes.wait + outcomes.miss + outcomes.refresh)
  end)

  it("a full dict: cache entries give way to the limiter's and the claims' new keys, which all succeed", function()
    local filled = get_json("/tiny/fill")
    assert.matches("no memory", filled.err)
    assert.is_true(filled.filled > 10, filled.filled .. " entries")
    local state = get_json("/tiny/state?n=120")
    assert.same({}, state.failures)
    assert.equals(120, state.kept)
    assert.is_true(state.cache_after < state.cache_before, "no cache entry gave way")
    print(("\n[nginx, lua_shared_dict tiny 64k] %d cache entries filled it (free pages left: %d bytes); 120 limiter" ..
      " slots and 120 claims on new keys all succeeded, taking the room of %d cache entries")
      :format(filled.filled, filled.free_space, state.cache_before - state.cache_after))
    -- A page view whose cache is that full dict: answered, the cache write refused or made, harmlessly.
    local view = get_json("/tiny/plans")
    assert.is_true(view.ok, view.message)
  end)
end)

----------------------------------------------------------------------
-- 4 Lua processes on one redis-server
----------------------------------------------------------------------

-- The code of one process (spec/support/fleet.lua): a client on the Redis at
-- o.redis_port making o.views page views, one every o.every seconds from
-- o.start (epoch seconds).
local PAGE_VIEWS = [[
local outcomes = {}
local client = fleet.client(o, { timeout_ms = 5000, rate_limit = 10, cache = { ttl = { list_plans = o.ttl } },
  on_cache = function(e) outcomes[e.outcome] = (outcomes[e.outcome] or 0) + 1 end })
local ok, failed = 0, 0
for k = 0, o.views - 1 do
  fleet.wait_until(o.start + k * o.every)
  if client:list_plans { chip_type = "esim", type = "one_time" } then ok = ok + 1 else failed = failed + 1 end
end
local parts = {}
for name, n in pairs(outcomes) do parts[#parts + 1] = name .. "=" .. n end
print(("result ok=%d failed=%d %s"):format(ok, failed, table.concat(parts, " ")))
]]

describe_with(redis_server.missing(), "the catalogue cache on Redis: 4 processes", function()
  local KEY = "sk_live_cache_fleet_SECRET_0123"
  local server, counter, conn

  lazy_setup(function()
    server = redis_server.start()
    counter = rate_counter.start()
    conn = redis_server.connect(server.port)
  end)

  lazy_teardown(function()
    if counter then counter:stop() end
    if server then server:stop() end
  end)

  it("1000 page views cause one upstream list_plans request per ttl", function()
    counter:reset()
    counter:delay(DELAY_MS)
    local started = socket.gettime()
    local start = started + 1 -- every process started and connected by then
    local outcomes = {}
    -- Each process shifted by its slot of 4, so that together they view at RATE a second.
    local outs = fleet.run(4, function(i)
      return { api_key = KEY, url = counter.url, redis_port = server.port, ttl = TTL,
        start = start + (i - 1) / RATE, views = math.floor(VIEWS / 4), every = 4 / RATE }
    end, PAGE_VIEWS)
    for _, out in ipairs(outs) do
      local ok, failed = out:match("result ok=(%d+) failed=(%d+)")
      assert(ok, "a process failed: " .. out)
      assert.equals(VIEWS / 4, tonumber(ok), out)
      assert.equals(0, tonumber(failed), out)
      for name, n in out:gmatch("(%a+)=(%d+)") do
        if name ~= "ok" and name ~= "failed" then outcomes[name] = (outcomes[name] or 0) + tonumber(n) end
      end
    end
    local elapsed = socket.gettime() - start
    assert_one_per_ttl("[redis, 4 processes]", counter:arrivals(), elapsed, outcomes)
    -- What Redis holds: this key's entry under its namespace, no lock left, nothing of the API key.
    local ns = store.namespace(KEY)
    for _, k in ipairs(redis_server.keys(conn)) do
      assert.equals(ns, k:sub(1, #ns))
      assert.is_nil(k:find(KEY, 1, true))
      assert.is_nil(k:find(":lock", 1, true), "a lock outlived its refresh: " .. k)
      assert.is_true(conn:pttl(k) > 0, k .. " never expires")
    end
  end)
end)
