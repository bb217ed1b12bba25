-- client:batch and its helpers without sockets: the in-process sandbox as
-- the server, a scripted clock for the waits, and a Lua stand-in for
-- core.multi that finishes transfers out of order.
-- The in-process sandbox is a Lua 5.4 program: under LuaJIT the cases that
-- need it skip (batch_sandbox_spec runs batches against the sandbox's own
-- process there) and the rest run.
local flexiroam = require "flexiroam"
local sandbox_transport = _VERSION == "Lua 5.4" and require "flexiroam.sandbox.transport" or nil
local NO_SANDBOX = "skipped: the in-process sandbox runs under Lua 5.4 only, not " .. _VERSION
local fake_clock = require "spec.support.fake_clock"
local journal = require "flexiroam.journal"
local limiter = require "flexiroam.limiter"
local progress = require "flexiroam.progress"

local KEY = "sandbox-key"
local P = "/v1/public-v2/"

-- A stand-in for core.multi over another transport: transfers are only
-- queued by add and answered by perform, the latest first, `per_step` at
-- a time. It records how many were in flight at once.
local function lifo_multi(inner, per_step)
  local m = { queued = {}, next_id = 0, peak = 0, closed = false, adds = 0 }
  function m.add(_, req)
    assert(not m.closed, "add after close")
    m.next_id = m.next_id + 1
    m.adds = m.adds + 1
    m.queued[#m.queued + 1] = { id = m.next_id, req = req }
    if #m.queued > m.peak then m.peak = #m.queued end
    return m.next_id
  end
  function m.perform()
    local out = {}
    for _ = 1, per_step or 1 do
      local t = table.remove(m.queued)
      if not t then break end
      local res, err = inner:request(t.req)
      out[#out + 1] = { id = t.id, res = res, err = err }
    end
    return out
  end
  function m.close() m.closed = true end
  return m
end

-- it() for a case that needs the in-process sandbox.
local function sandbox_it(name, fn)
  it(name, function()
    if not sandbox_transport then return pending(NO_SANDBOX) end
    return fn()
  end)
end

-- Without the sandbox (LuaJIT), for cases that must send nothing.
local offline_transport = {
  request = function() error("sent a request, and there is no in-process sandbox to answer it") end,
}

-- A Luhn-valid ICCID for those cases.
local OFFLINE_ICCID = "8944000000000000000" .. flexiroam.esim.luhn_digit("8944000000000000000")

-- A client on a fresh in-process sandbox (when there is one); opts.multi
-- gives its transport a :multi (the LIFO stand-in); opts.clock a scripted clock.
local function new_client(opts)
  opts = opts or {}
  local transport = sandbox_transport and sandbox_transport.new { sims = opts.sims or 60, seed = 5 }
    or offline_transport
  local log = { requests = {}, multis = {} }
  local wrapper = {}
  function wrapper.request(_, req)
    log.requests[#log.requests + 1] = req
    return transport:request(req)
  end
  if opts.multi then
    function wrapper.multi(_, mopts)
      local m = lifo_multi(wrapper, opts.per_step)
      m.max_connections = mopts.max_connections
      log.multis[#log.multis + 1] = m
      return m
    end
  end
  local client = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1", transport = wrapper,
    clock = opts.clock and opts.clock.seam, rate_limit = opts.rate_limit, retry_base_ms = opts.retry_base_ms,
    on_request = opts.on_request }
  return client, transport.handler, log
end

local function esims(h, n)
  local out = {}
  for _, sim in ipairs(h.state.sims) do
    if sim.chip_type == "esim" then out[#out + 1] = sim.iccid end
    if #out == n then break end
  end
  return out
end

local function one_time_plan(client)
  return assert(client:list_plans { chip_type = "esim", type = "one_time", limit = 1 }).items[1].id
end

local function queue(client, path, fault, times)
  assert(client:request("POST", "/__sandbox/faults", { json = { path = path, fault = fault, times = times or 1 } }))
end

local function charges(client)
  return assert(client:request("GET", "/__sandbox/stats")).charges
end

local tmpname = require("spec.support.test_processes").unused_path

describe("client:batch", function()
  sandbox_it("answers every call in input order, whatever order the transfers finish in", function()
    local client, h, log = new_client { multi = true }
    local iccids = esims(h, 20)
    local results, summary = client:usage_many(iccids, { concurrency = 5 })
    assert.equals(20, #results)
    for i, r in ipairs(results) do
      assert.is_true(r.ok, tostring(r.err))
      assert.equals(iccids[i], r.value.iccid)
    end
    assert.same({ total = 20, ok = 20, failed = 0, cancelled = 0, skipped = 0 },
      { total = summary.total, ok = summary.ok, failed = summary.failed, cancelled = summary.cancelled,
        skipped = summary.skipped })
    local m = log.multis[1]
    assert.equals(5, m.max_connections)
    assert.equals(5, m.peak) -- five in flight at once, never more
    assert.equals(20, m.adds)
    assert.is_true(m.closed)
  end)

  sandbox_it("takes {name =, params =, opts =} tables and positional ones alike", function()
    local client, h = new_client { multi = true }
    local iccid = esims(h, 1)[1]
    local results = client:batch {
      { "get_sim", { iccid = iccid } },
      { name = "get_usage", params = { iccid = iccid }, opts = { retries = 0 } },
      { "list_plans", { chip_type = "esim", limit = 2 } },
    }
    assert.equals(iccid, results[1].value.iccid)
    assert.equals(iccid, results[2].value.iccid)
    assert.equals(2, #results[3].value.items)
  end)

  sandbox_it("keeps failures as results: no item is dropped, the rest succeed", function()
    local client, h = new_client { multi = true }
    local iccids = esims(h, 6)
    queue(client, P .. "get-usage", "status=404", 2)
    local list = {}
    for i, iccid in ipairs(iccids) do list[i] = iccid end
    list[3] = "12345" -- not an ICCID: a validation error, never sent
    local results, summary = client:usage_many(list, { concurrency = 1 })
    assert.equals(6, #results)
    assert.equals("not_found", results[1].err.kind)
    assert.equals("not_found", results[2].err.kind)
    assert.equals("validation", results[3].err.kind)
    for i = 4, 6 do assert.equals(iccids[i], results[i].value.iccid) end
    assert.equals(3, summary.failed)
    assert.equals(3, summary.ok)
  end)

  it("raises on misuse before anything is sent", function()
    local client, h, log = new_client { multi = true }
    local iccid = h and esims(h, 1)[1] or OFFLINE_ICCID
    local before = #log.requests
    assert.has_error(function()
      client:batch { { "get_usage", { iccid = iccid } }, { "no_such_op", {} } }
    end, "batch: call 2: unknown operation 'no_such_op'")
    assert.has_error(function() client:batch { { "get_usage", { iccid = iccid, bogus = 1 } } } end)
    assert.has_error(function() client:batch({ { "get_usage", { iccid = iccid } } }, { concurrency = 0 }) end)
    assert.has_error(function() client:batch({ { "get_usage", { iccid = iccid } } }, { retires = 2 }) end)
    assert.has_error(function() client:batch({ { "get_usage", { iccid = iccid } } }, { rate = -1 }) end)
    assert.has_error(function() client:batch({ { key = 1, "get_usage", { iccid = iccid } } }) end)
    assert.has_error(function()
      client:batch { { "get_usage", { iccid = iccid }, key = "a" }, { "get_usage", { iccid = iccid }, key = "a" } }
    end)
    assert.has_error(function() client:map("get_usage", "nope") end)
    assert.has_error(function() client:usage_many { 42 } end)
    assert.equals(before, #log.requests)
  end)

  it("an empty list answers an empty list", function()
    local client = new_client { multi = true }
    local results, summary = client:batch {}
    assert.same({}, results)
    assert.equals(0, summary.total)
  end)

  sandbox_it("cancels what has not started when on_progress answers false", function()
    local client, h, log = new_client { multi = true }
    local iccids = esims(h, 12)
    local seen = {}
    local before = #log.requests
    local results, summary = client:usage_many(iccids, { concurrency = 2,
      on_progress = function(done, failed, total, rate)
        seen[#seen + 1] = { done, failed, total }
        assert.is_number(rate)
        if done == 3 then return false end
      end })
    assert.equals(12, #results)
    -- the call in flight when it said stop still finished
    local finished = summary.ok + summary.failed
    assert.is_true(finished == 3 or finished == 4, "finished " .. finished)
    assert.equals(12 - finished, summary.cancelled)
    for i = finished + 1, 12 do
      assert.is_false(results[i].ok)
      assert.equals("cancelled", results[i].err.kind)
    end
    assert.equals(finished, #log.requests - before) -- nothing sent for a cancelled call
    assert.same({ 1, 0, 12 }, seen[1])
  end)

  sandbox_it("a raise from on_progress ends the batch with that error, and closes the multi", function()
    local client, h, log = new_client { multi = true }
    assert.has_error(function()
      client:usage_many(esims(h, 5), { on_progress = function() error("crash", 0) end })
    end, "crash")
    assert.is_true(log.multis[1].closed)
  end)

  sandbox_it("runs each call through the whole pipeline: retries, reconciliation, hooks", function()
    local clk = fake_clock.new()
    local events = {}
    local client, h = new_client { multi = true, clock = clk,
      on_request = function(e) events[#events + 1] = tostring(e.operation) .. " " .. (e.purpose or "") end }
    local iccids = esims(h, 3)
    local plan = one_time_plan(client)
    queue(client, P .. "purchase-plan", "after_commit=500", 1)
    queue(client, P .. "get-usage", "status=503", 1)
    local results = client:batch({
      { "purchase_plan", { iccid = iccids[1], plan_id = plan } },
      { "get_usage", { iccid = iccids[2] } },
    }, { concurrency = 2 })
    assert.is_true(results[1].ok, tostring(results[1].err))
    assert.is_true(results[2].ok, tostring(results[2].err))
    assert.equals(1, charges(client)[results[1].value.reference])
    local text = table.concat(events, ",")
    assert.matches("list_orders reconcile", text, 1, true)
    assert.equals(1, #clk.slept) -- the 503's backoff, through the client's own sleep
  end)

  sandbox_it("waits out backoffs side by side, not one after the other", function()
    local clk = fake_clock.new()
    local client, h = new_client { clock = clk, retry_base_ms = 1000 }
    local iccids = esims(h, 4)
    queue(client, P .. "get-usage", "status=503", 4)
    local results = client:usage_many(iccids, { concurrency = 4 })
    for _, r in ipairs(results) do assert.is_true(r.ok) end
    -- four waits of 0.5 s (full jitter at random() = 0.5 of 1 s), overlapping
    assert.is_true(clk:elapsed() < 1, "elapsed " .. clk:elapsed())
    local sequential = fake_clock.new()
    local c2, h2 = new_client { clock = sequential, retry_base_ms = 1000 }
    for _, iccid in ipairs(esims(h2, 4)) do
      queue(c2, P .. "get-usage", "status=503", 1)
      assert(c2:get_usage { iccid = iccid })
    end
    assert.equals(2, sequential:elapsed())
  end)

  sandbox_it("binds models to the caller's client, which works after the batch", function()
    local client, h = new_client { multi = true }
    local results = client:usage_many(esims(h, 2))
    local usage = results[1].value
    assert.equals("Usage", flexiroam.models.kind(usage))
    assert.equals(client, usage:client())
    local sims = client:batch { { "get_sim", { iccid = esims(h, 1)[1] } } }
    assert(sims[1].value:usage()) -- a plain call, after the batch is gone
  end)

  sandbox_it("map, purchase_many and auto_topup_many", function()
    local client, h = new_client { multi = true }
    local iccids = esims(h, 4)
    local plan = one_time_plan(client)
    local sims = client:map("get_sim", { { iccid = iccids[1] }, { iccid = iccids[2] } })
    assert.equals(iccids[2], sims[2].value.iccid)
    local bought = client:purchase_many { { iccid = iccids[1], plan_id = plan }, { iccid = iccids[2], plan_id = plan } }
    local refs = charges(client)
    for _, r in ipairs(bought) do
      assert.is_true(r.ok, tostring(r.err))
      assert.equals(1, refs[r.value.reference])
    end
    assert.not_equals(bought[1].value.reference, bought[2].value.reference)
    local set = client:auto_topup_many({ iccids[3], { iccid = iccids[4], threshold = 7 } },
      { enabled = true, threshold = 20, quantity = 1 })
    assert.is_true(set[1].ok, tostring(set[1].err))
    assert.is_true(set[2].ok, tostring(set[2].err))
    local sim3 = assert(client:get_sim { iccid = iccids[3] })
    local sim4 = assert(client:get_sim { iccid = iccids[4] })
    assert.equals(20, sim3.auto_topup_settings.threshold)
    assert.is_true(sim3.auto_topup_settings.enabled)
    assert.equals(7, sim4.auto_topup_settings.threshold)
  end)
end)

describe("the rate limiter", function()
  it("spaces takes 1/rate apart, reserving in turn", function()
    local l = limiter.new(4)
    assert.equals(0, l:take(10))
    assert.equals(0.25, l:take(10))
    assert.equals(0.5, l:take(10))
    assert.equals(0, l:take(11)) -- a second later the reservations are paid and one token is back
  end)

  it("holds a burst when asked", function()
    local l = limiter.new(2, 3)
    assert.equals(0, l:take(0))
    assert.equals(0, l:take(0))
    assert.equals(0, l:take(0))
    assert.equals(0.5, l:take(0))
  end)

  it("rejects a rate that is not a positive number", function()
    assert.has_error(function() limiter.new(0) end)
    assert.has_error(function() limiter.new(-1) end)
    assert.has_error(function() limiter.new("5") end)
    assert.has_error(function() flexiroam.new { api_key = KEY, rate_limit = 0 } end)
  end)

  sandbox_it("rate_limit paces a client's plain calls", function()
    local clk = fake_clock.new()
    local client, h = new_client { clock = clk, rate_limit = 5 }
    for _, iccid in ipairs(esims(h, 10)) do assert(client:get_usage { iccid = iccid }) end
    assert.is_true(math.abs(clk:elapsed() - 9 * 0.2) < 1e-9, "elapsed " .. clk:elapsed())
  end)

  sandbox_it("paces a batch the same, and a batch rate adds to the client's", function()
    local clk = fake_clock.new()
    local client, h = new_client { clock = clk, rate_limit = 5 }
    local results = client:usage_many(esims(h, 10), { concurrency = 10 })
    for _, r in ipairs(results) do assert.is_true(r.ok) end
    assert.is_true(math.abs(clk:elapsed() - 9 * 0.2) < 1e-6, "elapsed " .. clk:elapsed())
    local clk2 = fake_clock.new()
    local c2, h2 = new_client { clock = clk2 }
    c2:usage_many(esims(h2, 5), { concurrency = 5, rate = 2 })
    assert.is_true(math.abs(clk2:elapsed() - 4 * 0.5) < 1e-6, "elapsed " .. clk2:elapsed())
  end)
end)

describe("the journal", function()
  local path
  before_each(function() path = tmpname() end)
  after_each(function() os.remove(path) end)

  it("keys items by position, operation and a stable hash of the parameters", function()
    local a = journal.key(3, "get_usage", { iccid = "1", nested = { x = 1, y = { 2, 3 } } })
    local b = journal.key(3, "get_usage", { nested = { y = { 2, 3 }, x = 1 }, iccid = "1" })
    assert.equals(a, b)
    assert.matches("^3:get_usage:%x+$", a)
    assert.not_equals(a, journal.key(4, "get_usage", { iccid = "1", nested = { x = 1, y = { 2, 3 } } }))
    assert.not_equals(a, journal.key(3, "get_usage", { iccid = "2", nested = { x = 1, y = { 2, 3 } } }))
    assert.not_equals(a, journal.key(3, "get_sim", { iccid = "1", nested = { x = 1, y = { 2, 3 } } }))
  end)

  sandbox_it("a rerun skips what is done and answers it from the journal", function()
    local client, h, log = new_client { multi = true }
    local iccids = esims(h, 6)
    local first = client:usage_many(iccids, { journal = path })
    local before = #log.requests
    local again, summary = client:usage_many(iccids, { journal = path })
    assert.equals(before, #log.requests)
    assert.equals(6, summary.skipped)
    for i, r in ipairs(again) do
      assert.is_true(r.ok and r.journaled)
      assert.equals(first[i].value.iccid, r.value.iccid)
      assert.equals("Usage", flexiroam.models.kind(r.value))
    end
  end)

  sandbox_it("after a crash, a rerun buys each SIM once: done items skipped, started ones under their reference",
  function()
    local clk = fake_clock.new()
    local client, h, log = new_client { multi = true, per_step = 1, clock = clk }
    local iccids = esims(h, 10)
    local plan = one_time_plan(client)
    local purchases = {}
    for i, iccid in ipairs(iccids) do purchases[i] = { iccid = iccid, plan_id = plan } end
    -- Items 4 and 3 (answered first: the stand-in answers the latest
    -- transfer first) meet a 503 and wait to retry when the job "crashes".
    queue(client, P .. "purchase-plan", "status=503", 2)
    local finished = 0
    assert.has_error(function()
      client:purchase_many(purchases, { concurrency = 4, journal = path, on_progress = function(done)
        finished = done
        if done == 2 then error("simulated crash", 0) end
      end })
    end, "simulated crash")
    assert.equals(2, finished)
    local sent_refs = {}
    for _, req in ipairs(log.requests) do
      local ref = req.body and req.body:match('"reference":"([^"]+)"')
      if ref then sent_refs[ref] = true end
    end
    local before = #log.requests
    local results, summary = client:purchase_many(purchases, { concurrency = 4, journal = path })
    assert.equals(2, summary.skipped)
    assert.equals(10, summary.ok)
    local refs = charges(client)
    local seen = {}
    for i, r in ipairs(results) do
      assert.is_true(r.ok, tostring(r.err))
      assert.equals(iccids[i], r.value.iccid)
      assert.equals(1, refs[r.value.reference], "charged " .. tostring(refs[r.value.reference]) .. " times")
      assert.is_nil(seen[r.value.reference])
      seen[r.value.reference] = true
    end
    -- a purchase sent before the crash went again under the same reference
    local reused = 0
    for i = 1, 10 do if sent_refs[results[i].value.reference] then reused = reused + 1 end end
    assert.is_true(reused >= 4, "reused " .. reused)
    assert.is_true(#log.requests - before >= 8)
    local n = 0
    for _ in pairs(refs) do n = n + 1 end
    assert.equals(10, n) -- ten orders in all, none twice
  end)

  sandbox_it("refuses a line cut short by a crash, and drops it when asked to repair", function()
    local client, h, log = new_client { multi = true }
    local iccids = esims(h, 2)
    client:usage_many(iccids, { journal = path })
    local f = assert(io.open(path, "ab"))
    f:write('{"key":"1:get_usage:')
    f:close()
    local before = #log.requests
    local results, err = client:usage_many(iccids, { journal = path })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches("cut short", err.message)
    assert.matches("journal_repair", err.message)
    assert.equals(before, #log.requests) -- nothing sent
    local _, summary = client:usage_many(iccids, { journal = path, journal_repair = true })
    assert.equals(2, summary.skipped)
    assert.equals(1, summary.repaired)
  end)

  sandbox_it("answers a journal that cannot be opened with a journal error, sending nothing", function()
    local client, h, log = new_client { multi = true }
    local results, err = client:usage_many(esims(h, 1), { journal = "/nonexistent-dir/journal.jsonl" })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.equals(0, #log.requests)
  end)
end)

describe("the progress bar", function()
  it("shows count, percentage, rate, ETA and failures", function()
    assert.equals("25/100  25% [######..................]  5.0/s  ETA 0:15  2 failed",
      progress.line(25, 2, 100, 5))
    assert.equals("10/10 100% [########################]  3.3/s", progress.line(10, 0, 10, 10 / 3))
    assert.matches("ETA %-%-:%-%-", progress.line(0, 0, 10, 0))
    assert.matches("ETA 1:00:00", progress.line(0, 0, 3600, 1))
  end)

  it("redraws in place at most ten times a second, and always at the end", function()
    local t = 0
    local out = {}
    local stream = { write = function(_, ...) for _, s in ipairs { ... } do out[#out + 1] = s end end,
      flush = function() end }
    local bar = progress.new(function() return t end, stream)
    bar:update(1, 0, 3, 1)
    bar:update(2, 0, 3, 1) -- same instant: skipped
    t = 0.5
    bar:update(3, 0, 3, 1)
    bar:finish()
    local text = table.concat(out)
    assert.matches("^\r1/3", text)
    assert.not_matches("2/3", text)
    assert.matches("\r3/3.*\n$", text)
  end)

  -- A real batch in a child whose stderr is a terminal (a pty from
  -- script(1)), and the same with stderr in a file.
  local CHILD = [[
    local flexiroam = require "flexiroam"
    local transport = require("flexiroam.sandbox.transport").new { sims = 30, seed = 7 }
    local client = flexiroam.new { api_key = "sandbox-key", base_url = "http://127.0.0.1", transport = transport }
    local iccids = {}
    for sim in client:inventory { chip_type = "esim" } do iccids[#iccids + 1] = sim.iccid end
    local _, summary = client:usage_many({ iccids[1], iccids[2], iccids[3] }, { progress = true })
    io.stdout:write("ok ", summary.ok, "\n")
  ]]

  local function run_child(command_for)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(CHILD)
    f:close()
    local env = ("TERM=xterm LUA_PATH_5_4='%s;;' LUA_CPATH_5_4='%s;;'"):format(package.path, package.cpath)
    local p = assert(io.popen(command_for(env .. " lua5.4 " .. path)))
    local out = p:read("a")
    p:close()
    os.remove(path)
    return out
  end

  sandbox_it("is drawn on stderr when it is a terminal, and not otherwise", function()
    if not os.execute("command -v script >/dev/null 2>&1") then return pending("needs script(1)") end
    local on_tty = run_child(function(cmd) return "script -qc " .. ("%q"):format(cmd) .. " /dev/null" end)
    assert.matches("ok 3", on_tty)
    assert.matches("\r3/3 100%% %[#+%]", on_tty)
    local errfile = os.tmpname()
    local piped = run_child(function(cmd) return cmd .. " 2>" .. errfile end)
    local f = assert(io.open(errfile, "rb"))
    local err_text = f:read("a")
    f:close()
    os.remove(errfile)
    assert.matches("ok 3", piped)
    assert.equals("", err_text)
  end)
end)
