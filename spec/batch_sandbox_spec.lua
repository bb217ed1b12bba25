-- client:batch over real HTTP against the sandbox (bin/flexiroam-sandbox on
-- 127.0.0.1), through core.multi: calls really overlap, a fault storm
-- mid-run, a job killed mid-flight and rerun from its journal without a
-- double charge, and the rate limiter under the sandbox's --rate-limit.
local flexiroam = require "flexiroam"
local sandbox = require "spec.support.sandbox"
local procs = require "spec.support.test_processes"
local socket = require "socket"

local KEY = "sandbox-key"
local P = "/v1/public-v2/"
local UNDER_VALGRIND = os.getenv("FLEXIROAM_UNDER_VALGRIND") ~= nil

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local tmpname = procs.unused_path

local function read_lines(path)
  local lines = {}
  local f = io.open(path, "rb")
  if not f then return lines end
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

local function esims_of(client, n)
  local out = {}
  for sim in client:inventory { chip_type = "esim", limit = 100 } do
    out[#out + 1] = sim.iccid
    if #out == n then break end
  end
  assert(#out == n, "the sandbox has too few eSIMs")
  return out
end

local function one_time_plan(client)
  return assert(client:list_plans { chip_type = "esim", type = "one_time", limit = 1 }).items[1].id
end

-- Requests in flight at once, as the hooks see them.
local function in_flight_counter()
  local c = { now = 0, peak = 0 }
  function c.on_request()
    c.now = c.now + 1
    if c.now > c.peak then c.peak = c.now end
  end
  function c.on_response() c.now = c.now - 1 end
  -- on_error comes after on_response for an answer with an error status
  return c
end

describe("client:batch over HTTP", function()
  local sb, control

  lazy_setup(function()
    sb = sandbox.start { sims = 1200, seed = 21, latency_ms = 200 }
    control = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "", retries = 0 }
  end)
  lazy_teardown(function()
    if control then control:close() end
    if sb then sb:stop() end
  end)

  before_each(function() assert(control:request("DELETE", "/__sandbox/faults")) end)

  local function stats()
    return assert(control:request("GET", "/__sandbox/stats"))
  end

  local function queue(path, fault, times)
    assert(control:request("POST", "/__sandbox/faults", { json = { path = path, fault = fault, times = times or 1 } }))
  end

  it("runs the calls side by side: 16 at 16 in flight take about one latency, not sixteen", function()
    local counter = in_flight_counter()
    local client = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "",
      on_request = counter.on_request, on_response = counter.on_response }
    local iccids = esims_of(control, 16)
    local before = stats().connections
    local t0 = socket.gettime()
    local results, summary = client:usage_many(iccids, { concurrency = 16 })
    local elapsed = socket.gettime() - t0
    assert.equals(16, summary.ok)
    for i, r in ipairs(results) do assert.equals(iccids[i], r.value.iccid) end
    assert.equals(16, counter.peak)
    assert.is_true(stats().connections - before >= 8, "connections opened: " .. stats().connections - before)
    -- 16 x 0.2 s one after the other would be 3.2 s
    if not UNDER_VALGRIND then assert.is_true(elapsed < 8 * 0.2, "took " .. elapsed) end
    client:close()
  end)

  it("never has more calls in flight than its concurrency, and answers in input order", function()
    local counter = in_flight_counter()
    local client = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "",
      on_request = counter.on_request, on_response = counter.on_response }
    local iccids = esims_of(control, 40)
    local results = client:usage_many(iccids, { concurrency = 5 })
    assert.equals(5, counter.peak)
    for i, r in ipairs(results) do
      assert.is_true(r.ok, tostring(r.err))
      assert.equals(iccids[i], r.value.iccid)
    end
    client:close()
  end)

  it("rides out a fault storm mid-run: reads retried, purchases charged once", function()
    local client = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "", retries = 4, timeout_ms = 1500,
      retry_base_ms = 10, retry_cap_ms = 100 }
    local iccids = esims_of(control, 130)
    local reads = {}
    for i = 1, 80 do reads[i] = iccids[i] end
    for _, f in ipairs { { "status=503", 8 }, { "reset", 6 }, { "truncate", 6 }, { "html502", 4 },
      { "status=429;retry_after=1", 2 }, { "delay_ms=2000", 3 }, { "garbage", 3 } } do
      queue(P .. "get-usage", f[1], f[2])
    end
    local results, summary = client:usage_many(reads, { concurrency = 16 })
    -- A 200 that is not JSON is not retried on a read: three decode errors.
    assert.equals(77, summary.ok)
    for i, r in ipairs(results) do
      if r.ok then
        assert.equals(reads[i], r.value.iccid)
      else
        assert.equals("decode", r.err.kind, tostring(r.err))
      end
    end

    local plan = one_time_plan(control)
    local purchases = {}
    for i = 81, 130 do purchases[#purchases + 1] = { iccid = iccids[i], plan_id = plan } end
    for _, f in ipairs { { "after_commit=500", 4 }, { "after_commit=reset", 4 }, { "status=503", 4 },
      { "reset", 4 }, { "truncate", 4 }, { "status=429", 3 } } do
      queue(P .. "purchase-plan", f[1], f[2])
    end
    local bought = client:purchase_many(purchases, { concurrency = 16 })
    local charges = stats().charges
    local refs = {}
    for i, r in ipairs(bought) do
      local ref = r.ok and r.value.reference or r.err.reference
      assert.is_string(ref)
      assert.is_nil(refs[ref], "a reference used twice")
      refs[ref] = true
      if r.ok then
        assert.equals(purchases[i].iccid, r.value.iccid)
        assert.equals(1, charges[ref])
      else
        assert.equals("indeterminate", r.err.kind, tostring(r.err))
        assert.is_true((charges[ref] or 0) <= 1)
      end
    end
    for ref, n in pairs(charges) do assert.is_true(n <= 1, ref .. " charged " .. n .. " times") end
    client:close()
  end)

  -- SIGKILL stops it dead; SIGTERM too (Lua does not catch it); SIGINT is
  -- caught by the interpreter, which raises "interrupted!" into the batch.
  for round, signal in ipairs { "KILL", "TERM", "INT" } do
  it("a job killed by SIG" .. signal .. " mid-flight and run again from its journal buys every SIM once", function()
    local journal_path, list_path, script_path = tmpname(), tmpname(), tmpname()
    local first = 100 + 30 * round
    local iccids = esims_of(control, first + 30)
    local plan = one_time_plan(control)
    local purchases, lines = {}, {}
    for i = first + 1, first + 30 do
      purchases[#purchases + 1] = { iccid = iccids[i], plan_id = plan }
      lines[#lines + 1] = iccids[i]
    end
    local f = assert(io.open(list_path, "wb"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    -- The job runs under the suite's interpreter, with its core build and
    -- package paths (the sandbox it talks to is a process of its own).
    f = assert(io.open(script_path, "wb"))
    f:write(procs.paths_prelude(), [[
      local flexiroam = require "flexiroam"
      local url, list, journal, plan = arg[1], arg[2], arg[3], arg[4]
      local purchases = {}
      for iccid in io.lines(list) do purchases[#purchases + 1] = { iccid = iccid, plan_id = plan } end
      local client = flexiroam.new { api_key = "sandbox-key", base_url = url, proxy = "" }
      client:purchase_many(purchases, { concurrency = 6, journal = journal })
      io.stderr:write("the job finished before it was killed\n")
    ]])
    f:close()
    local charged_before = 0
    for _ in pairs(stats().charges) do charged_before = charged_before + 1 end

    local proc = assert(io.popen("echo $$; exec " .. procs.interpreter() .. " " .. table.concat({ quote(script_path),
      -- its stderr dropped: a SIGINT ends it with a traceback ("interrupted!"), expected here
      quote(sb.url), quote(list_path), quote(journal_path), quote(plan) }, " ") .. " 2>/dev/null"))
    local pid = assert(tonumber(proc:read("l")))
    local deadline = socket.gettime() + 30
    local done_lines = 0
    while done_lines < 8 and socket.gettime() < deadline do
      socket.sleep(0.02)
      done_lines = 0
      for _, line in ipairs(read_lines(journal_path)) do
        if line:find('"state":"done"', 1, true) then done_lines = done_lines + 1 end
      end
    end
    os.execute("kill -" .. signal .. " " .. pid .. " 2>/dev/null")
    proc:close()
    assert.is_true(done_lines >= 8, "the job did not get far enough")

    -- What the journal says at the crash: done items, and items started
    -- (their purchase sent, or about to be) but not done.
    local started, done = {}, {}
    for _, line in ipairs(read_lines(journal_path)) do
      local rec = flexiroam.json.decode(line)
      if rec and rec.state == "started" then started[rec.key] = rec.reference end
      if rec and rec.state == "done" then done[rec.key] = true end
    end
    local in_flight = 0
    for key in pairs(started) do if not done[key] then in_flight = in_flight + 1 end end
    assert.is_true(in_flight > 0, "nothing was in flight at the crash")
    assert.is_true(#read_lines(journal_path) < 60, "the job had finished")

    local client = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "" }
    local results, summary = client:purchase_many(purchases, { concurrency = 6, journal = journal_path })
    assert.equals(30, summary.ok)
    assert.is_true(summary.skipped >= 8)
    local charges = stats().charges
    local charged_after = 0
    for _ in pairs(charges) do charged_after = charged_after + 1 end
    assert.equals(30, charged_after - charged_before) -- thirty orders, not one more
    local refs = {}
    for i, r in ipairs(results) do
      assert.equals(purchases[i].iccid, r.value.iccid)
      assert.equals(1, charges[r.value.reference])
      refs[r.value.reference] = true
    end
    -- every reference recorded before the crash is the one its SIM was bought under
    for _, ref in pairs(started) do assert.is_true(refs[ref], "reference " .. ref .. " was replaced") end
    client:close()
    os.remove(journal_path)
    os.remove(list_path)
    os.remove(script_path)
  end)
  end
end)

describe("the rate limiter against the sandbox's --rate-limit", function()
  local sb, iccids

  lazy_setup(function()
    sb = sandbox.start { sims = 200, seed = 4, rate_limit = 20 }
    local c = flexiroam.new { api_key = KEY, base_url = sb.url, proxy = "", rate_limit = 20 }
    iccids = esims_of(c, 40)
    c:close()
    socket.sleep(1.1) -- the listing's requests out of the server's window
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
  end)

  local function run(client_opts, batch_opts)
    local refused = 0
    client_opts.api_key, client_opts.base_url, client_opts.proxy = KEY, sb.url, ""
    client_opts.on_response = function(e) if e.status == 429 then refused = refused + 1 end end
    local client = flexiroam.new(client_opts)
    local t0 = socket.gettime()
    local results, summary = client:usage_many(iccids, batch_opts)
    local elapsed = socket.gettime() - t0
    client:close()
    socket.sleep(1.1)
    return summary, refused, elapsed, results
  end

  it("without it, a bulk run at 16 in flight meets 429s", function()
    local summary, refused = run({ retries = 0 }, { concurrency = 16 })
    assert.is_true(refused > 0)
    assert.is_true(summary.failed > 0)
  end)

  it("a client rate_limit under the server's keeps every request under it", function()
    local summary, refused, elapsed = run({ rate_limit = 16 }, { concurrency = 16 })
    assert.equals(40, summary.ok)
    assert.equals(0, refused)
    assert.is_true(elapsed >= 39 / 16 - 0.05, "took " .. elapsed)
  end)

  it("a batch rate at the server's limit: every call succeeds, any 429 honoured", function()
    local summary, refused = run({}, { concurrency = 16, rate = 20 })
    assert.equals(40, summary.ok)
    assert.is_true(refused <= 4, refused .. " refused")
  end)
end)
