-- A journal belongs to one job (issue 14, part 1): a rerun over a changed
-- list refuses before sending anything (or, with journal_mode = "extend",
-- reports what the list no longer holds and never buys it again); every
-- purchase left in flight is looked up before the batch starts; the
-- journal can be inspected without sending anything; a torn or corrupt
-- journal, one in use by another process, a read-only or full disk: each a
-- clear error before any purchase.
local flexiroam = require "flexiroam"
local procs = require "spec.support.test_processes"
local sandbox = require "spec.support.sandbox"
local stats, free_esims, tmpname = sandbox.stats, sandbox.free_esims, procs.unused_path
local jobs = require "flexiroam.jobs"
local journal = require "flexiroam.journal"
local core = require "flexiroam.core"

local KEY = "sandbox-key"
local in_process = _VERSION == "Lua 5.4"
local NO_SANDBOX = "skipped: the in-process sandbox runs under Lua 5.4 only, not " .. _VERSION

local function sandbox_it(name, fn)
  it(name, function()
    if not in_process then return pending(NO_SANDBOX) end
    return fn()
  end)
end

-- A client on a fresh in-process sandbox, counting what it sends; `before`
-- (when set) sees each request before the server does; `crash` (when set)
-- is called after each answer and may raise, as a process dying right
-- after the server acted would.
local function new_client()
  local transport = require("flexiroam.sandbox.transport").new { sims = 60, seed = 3 }
  local log = { requests = 0 }
  local wrapper = {}
  function wrapper.request(_, req)
    if log.before then log.before(req) end
    log.requests = log.requests + 1
    local res, err = transport:request(req)
    if log.crash then log.crash(req) end
    return res, err
  end
  local client = flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1", transport = wrapper }
  return client, log
end

-- The first n free eSIMs, as purchases of one plan.
local function free_purchases(client, n)
  local out = {}
  for i, iccid in ipairs(free_esims(client, n)) do out[i] = { iccid = iccid, plan_id = "FRA-1GB-7D" } end
  return out
end


describe("a journal belongs to one job", function()
  local path
  before_each(function() path = tmpname() end)
  after_each(function() os.remove(path) end)

  sandbox_it("a rerun over a re-picked list refuses before sending anything, then extends when asked", function()
    local client, log = new_client()
    -- The airline's job: 10 SIMs without a plan, killed after 4 purchases.
    local first = free_purchases(client, 10)
    assert.has_error(function()
      client:purchase_many(first, { journal = path, on_progress = function(done)
        if done == 4 then error("killed", 0) end
      end })
    end, "killed")
    assert.equals(4, stats(client).orders)
    -- Run again, re-picking "10 SIMs without a plan": another list.
    local second = free_purchases(client, 10)
    local sent = log.requests
    local results, err = client:purchase_many(second, { journal = path })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches("belongs to another job", err.message)
    assert.matches("of its 10 entries, 0 match this list and 10 do not", err.message, 1, true)
    assert.matches("4 purchases done and 6 started whose outcome is unknown", err.message, 1, true)
    assert.equals(sent, log.requests) -- nothing sent
    assert.equals(4, stats(client).orders)
    -- Accepting the change: the new list is bought, the old entries are
    -- reported, and nothing of the old job is bought again.
    local results2, summary = client:purchase_many(second, { journal = path, journal_mode = "extend" })
    assert.equals(10, summary.ok)
    assert.equals(10, #summary.orphaned)
    assert.equals(6, summary.reconciled) -- the six never sent, proven absent
    local s = stats(client)
    assert.equals(14, s.orders)
    for ref, n in pairs(s.charges) do assert.equals(1, n, ref) end
    for i, r in ipairs(results2) do assert.equals(second[i].iccid, r.value.iccid) end
  end)

  sandbox_it("the same list resumes: done items skipped, nothing bought twice", function()
    local client = new_client()
    local list = free_purchases(client, 6)
    assert.has_error(function()
      client:purchase_many(list, { journal = path, on_progress = function(done)
        if done == 2 then error("killed", 0) end
      end })
    end)
    local _, summary = client:purchase_many(list, { journal = path })
    assert.equals(6, summary.ok)
    assert.equals(2, summary.skipped)
    assert.equals(6, stats(client).orders)
  end)

  sandbox_it('journal_mode = "new" refuses a journal that exists', function()
    local client, log = new_client()
    local list = free_purchases(client, 2)
    assert(client:purchase_many(list, { journal = path, journal_mode = "new" }))
    local sent = log.requests
    local results, err = client:purchase_many(list, { journal = path, journal_mode = "new" })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches('journal_mode = "new"', err.message, 1, true)
    assert.equals(sent, log.requests)
  end)

  sandbox_it("a purchase the process died with is looked up before the batch starts, even off the list", function()
    local client, log = new_client()
    local list = free_purchases(client, 3)
    -- The server commits the second purchase, then the process dies before
    -- it hears back.
    local n = 0
    log.crash = function(req)
      if req.url:find("purchase%-plan") then
        n = n + 1
        if n == 2 then error("power cut", 0) end
      end
    end
    assert.has_error(function() client:purchase_many(list, { journal = path, concurrency = 1 }) end)
    log.crash = nil
    assert.equals(2, stats(client).orders)
    local before = jobs.inspect(path)
    assert.equals(1, before.done)
    assert.equals(1, before.started_unknown) -- committed, its answer never heard
    -- Another job's list, accepted: the unknown one is settled first.
    local other = free_purchases(client, 1)
    local _, summary = client:purchase_many(other, { journal = path, journal_mode = "extend" })
    assert.equals(1, summary.reconciled)
    local after = jobs.inspect(path)
    assert.equals(0, after.started_unknown)
    assert.equals(3, after.done) -- two of the first job (one found by its reference) and the new one
    assert.equals(3, stats(client).orders)
  end)

  sandbox_it("jobs.inspect reports done, failed, unsettled and the money committed, sending nothing", function()
    local client, log = new_client()
    local list = free_purchases(client, 3)
    list[4] = { iccid = list[1].iccid, plan_id = "NO-SUCH-PLAN" }
    client:purchase_many(list, { journal = path })
    local sent = log.requests
    local report = assert(jobs.inspect(path))
    assert.equals(sent, log.requests)
    assert.equals(3, report.done)
    assert.equals(1, report.failed)
    assert.equals(0, report.started_unknown)
    assert.equals(4, report.total)
    assert.equals(4, report.calls)
    assert.is_string(report.job)
    local orders = stats(client)
    assert.equals(3, orders.orders)
    local sum = 0
    for _, r in ipairs(report.committed_orders or {}) do sum = sum + r end
    local currency, amount = next(report.committed)
    assert.is_string(currency)
    assert.is_true(amount > 0)
    local _, err = jobs.inspect(path .. ".missing")
    assert.equals("journal", err.kind)
  end)

  it("refuses a corrupt line anywhere, naming it", function()
    local f = assert(io.open(path, "wb"))
    f:write('{"journal":"flexiroam","version":2,"job":"x","calls":1}\n', "not json at all\n", '{"state":"run"}\n')
    f:close()
    local report, err = jobs.inspect(path)
    assert.is_nil(report)
    assert.equals("journal", err.kind)
    assert.matches("line 2", err.message)
  end)
end)

describe("a journal in use, on a read-only or full disk", function()
  local sb
  lazy_setup(function()
    sb = sandbox.start { sims = 40, seed = 4, latency_ms = 150 }
  end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local function orders()
    return assert(flexiroam.new { api_key = KEY, base_url = sb.url }:request("GET", "/__sandbox/stats")).orders
  end

  -- n free eSIMs, picked once: a job's list.
  local function pick(n)
    local client = flexiroam.new { api_key = KEY, base_url = sb.url }
    local out = {}
    for sim in client:inventory { chip_type = "esim", search_by = "availability", search = "free", limit = 50 } do
      out[#out + 1] = sim.iccid
      if #out == n then break end
    end
    return out
  end

  -- A job in a child process: buys one plan onto each of `iccids`, with the
  -- journal at `path`.
  local function job_script(path, iccids)
    return procs.paths_prelude() .. ([[
      local client = require("flexiroam").new { api_key = %q, base_url = %q }
      local list = {}
      for iccid in (%q):gmatch("%%d+") do list[#list + 1] = { iccid = iccid, plan_id = "FRA-1GB-7D" } end
      local results, err = client:purchase_many(list, { journal = %q, concurrency = 1 })
      if results then print("ok") else print("refused", err.kind, err.message) end
    ]]):format(KEY, sb.url, table.concat(iccids, " "), path)
  end

  it("a second process on the same journal refuses while the first holds it", function()
    local path = tmpname()
    local file = os.tmpname()
    local iccids = pick(6)
    local f = assert(io.open(file, "w"))
    f:write(job_script(path, iccids))
    f:close()
    local first = assert(io.popen(procs.lua_command(file) .. " 2>&1"))
    -- Wait until the first job has written its header: it holds the lock.
    local socket = require "socket"
    local deadline = socket.gettime() + 20
    repeat
      socket.sleep(0.05)
      local j = io.open(path, "rb")
      local text = j and j:read("*a") or ""
      if j then j:close() end
    until text:find('"state":"started"', 1, true) or socket.gettime() > deadline
    local before = orders()
    local out = procs.lua_child(job_script(path, iccids))
    assert.matches("^refused\tjournal\t", out)
    assert.matches("in use by another process", out)
    local first_out = first:read("*a")
    first:close()
    os.remove(file)
    assert.matches("^ok", first_out)
    assert.is_true(orders() - before <= 6)
    -- Once the first is done, the same job resumes on it: all skipped.
    local settled = orders()
    assert.matches("^ok", procs.lua_child(job_script(path, iccids)))
    assert.equals(settled, orders())
    os.remove(path)
  end)

  -- Runs a child job inside a private mount namespace with a tiny tmpfs at
  -- `dir`; `setup` is shell run before the job (filling it, remounting it
  -- read-only), never under the sanitizer runtimes `make asan` preloads (dd
  -- aborts under ASan). -> its output | nil, why it cannot run here
  local function on_tmpfs(setup, script)
    if not procs.have("unshare") then return nil, "unshare is not installed" end
    local dir = procs.tmpdir()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(script(dir .. "/journal"))
    f:close()
    local cmd = ("unshare -m sh -c %s 2>&1"):format(procs.quote(
      ("mount -t tmpfs -o size=8k none %s || { echo NO_MOUNT; exit 0; }; (unset LD_PRELOAD; %s); %s")
        :format(procs.quote(dir), setup(dir), procs.lua_command(file))))
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    os.remove(file)
    procs.rmdir(dir)
    if out:find("NO_MOUNT", 1, true) or out:find("unshare: ", 1, true) then
      return nil, "cannot mount a private tmpfs here (unshare -m needs CAP_SYS_ADMIN): " .. out
    end
    return out
  end

  it("a full disk refuses the job before any purchase", function()
    local before = orders()
    local out, why = on_tmpfs(function(dir)
      return ("dd if=/dev/zero of=%s/filler bs=1024 count=8 2>/dev/null"):format(procs.quote(dir))
    end, function(path) return job_script(path, pick(2)) end)
    if not out then return pending("skipped: " .. why) end
    assert.matches("^refused\tjournal\t", out)
    assert.matches("cannot be written", out)
    assert.equals(before, orders())
  end)

  it("a read-only disk refuses the job before any purchase", function()
    local before = orders()
    local out, why = on_tmpfs(function(dir)
      return ("mount -o remount,ro %s"):format(procs.quote(dir))
    end, function(path) return job_script(path, pick(2)) end)
    if not out then return pending("skipped: " .. why) end
    assert.matches("^refused\tjournal\t", out)
    assert.matches("Read%-only", out)
    assert.equals(before, orders())
  end)
end)

-- The journal is trusted with money: a line it did not write (a foreign
-- tool's, a hand edit, a bit flip that still parses) must stop the job,
-- never be half-understood. Before, a started line whose reference was
-- not a string (or was spelled "ref") was kept without it, and the rerun
-- minted a new reference and bought again.
describe("a garbled or foreign journal line", function()
  local path
  before_each(function() path = tmpname() end)
  after_each(function() os.remove(path) end)

  local function write(lines)
    local f = assert(io.open(path, "wb"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end

  local H = '{"journal":"flexiroam","version":2,"job":"x","sdk":"0.2.0","operations":["purchase_plan"],"calls":2}'
  local RUN = '{"state":"run","mode":"resume"}'
  local STARTED = '{"key":"1:k","state":"started","reference":"ref-1","operation":"purchase_plan"}'
  -- name, lines, the line refused, words the message must hold
  local cases = {
    { "a reference that is not a string",
      { H, RUN, '{"key":"1:k","state":"started","reference":12345,"operation":"purchase_plan"}' }, 3, '"reference"' },
    { "a misspelled field", { H, RUN, '{"key":"1:k","state":"started","ref":"ref-1","operation":"purchase_plan"}' },
      3, '"ref"' },
    { "an unknown state", { H, RUN, STARTED, '{"key":"1:k","state":"strated","reference":"ref-1"}' }, 4, '"strated"' },
    { "a header of an unknown version", { (H:gsub('"version":2', '"version":99')), STARTED }, 1, "version 99" },
    { "a header of another format", { (H:gsub('"flexiroam"', '"other"')), STARTED }, 1, '"other"' },
    { "a header without its job", { (H:gsub('"job":"x",', '')), STARTED }, 1, '"job"' },
    { "a state that is not a string", { H, '{"key":"1:k","state":true}' }, 2, '"state"' },
    { "a key that is not a string", { H, RUN, '{"key":7,"state":"done","value":1}' }, 3, '"key"' },
    { "an empty reference", { H, RUN, '{"key":"1:k","state":"started","reference":""}' }, 3, '"reference"' },
    { "an unknown field", { H, RUN, STARTED, '{"key":"1:k","state":"done","value":1,"charged":2}' }, 4, '"charged"' },
    { "a failed line without its kind", { H, RUN, STARTED, '{"key":"1:k","state":"failed","message":"x"}' }, 4,
      '"kind"' },
    { "an absent line without its reference", { H, RUN, STARTED, '{"key":"1:k","state":"absent"}' }, 4,
      '"reference"' },
    { "a run line of an unknown mode", { H, '{"state":"run","mode":"append"}' }, 2, '"append"' },
    { "a record that is a list", { H, RUN, '["started","ref-1"]' }, 3, "not a journal record" },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1] .. ", naming the line and what is wrong", function()
      write(case[2])
      local report, err = jobs.inspect(path)
      assert.is_nil(report, case[1])
      assert.equals("journal", err.kind)
      assert.matches("line " .. case[3] .. " ", err.message, 1, true)
      assert.equals(case[3], err.line)
      assert.matches(case[4], err.message, 1, true)
    end)
  end

  it("accepts every record the journal writes", function()
    local job = journal.job({ "1:purchase_plan:a", "2:purchase_plan:b", "3:get_usage:c" },
      { "purchase_plan", "purchase_plan", "get_usage" })
    local j = assert(journal.open(path, { job = job }))
    assert(j:started("1:purchase_plan:a", "ref-a", "purchase_plan", { iccid = "8944", plan_id = "FRA-1GB-7D" }))
    assert(j:done("1:purchase_plan:a", { id = "o-1", price = { amount_minor = 500, currency = "EUR" } }))
    assert(j:started("2:purchase_plan:b", "ref-b", "purchase_plan", { iccid = "8945", plan_id = "FRA-1GB-7D" }))
    assert(j:failed("2:purchase_plan:b", { kind = "indeterminate", message = "lost", reference = "ref-b" }))
    assert(j:absent("2:purchase_plan:b", "ref-b"))
    assert(j:failed("2:purchase_plan:b", flexiroam.errors.new("conflict", "sim_taken")))
    assert(j:done("3:get_usage:c", print)) -- a value the codec cannot write: done without it
    assert(j:done("3:get_usage:c", nil))
    assert(j:done("3:get_usage:c", "text"))
    j:close()
    local report = assert(jobs.inspect(path))
    assert.equals(3, report.total)
    assert.equals(2, report.done)
    assert.equals(1, report.failed + report.absent)
    -- and the job reopens on it, in every mode that takes a journal that exists
    assert(journal.open(path, { job = job })):close()
    assert(journal.open(path, { job = job, mode = "extend" })):close()
    assert(journal.open(path)):close()
  end)

  sandbox_it("a started line garbled after a crash stops the rerun: nothing bought again", function()
    local client, log = new_client()
    local list = free_purchases(client, 1)
    -- The server commits the purchase, then the process dies.
    log.crash = function(req) if req.url:find("purchase%-plan") then error("power cut", 0) end end
    assert.has_error(function() client:purchase_many(list, { journal = path }) end)
    log.crash = nil
    assert.equals(1, stats(client).orders)
    local text = assert(io.open(path, "rb")):read("*a")
    local garbled, n = text:gsub('"reference":"[^"]+"', '"reference":12345')
    assert.equals(1, n)
    local f = assert(io.open(path, "wb"))
    f:write(garbled)
    f:close()
    local sent = log.requests
    local results, err = client:purchase_many(list, { journal = path })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches('"reference"', err.message, 1, true)
    assert.equals(sent, log.requests) -- nothing sent, not even a lookup
    assert.equals(1, stats(client).orders)
  end)
end)

-- journal_mode = "extend" takes a changed list, and the default key holds
-- the item's position: a purchase that merely moved got a new key, a new
-- reference, and was bought again.
describe('journal_mode = "extend"', function()
  local path
  before_each(function() path = tmpname() end)
  after_each(function() os.remove(path) end)

  -- Every order of the sandbox on `iccid`.
  local function orders_on(client, iccid)
    return #assert(client:list_orders { iccid = iccid, limit = 100 }).items
  end

  sandbox_it("refuses a purchase that only moved in the list, done under its old key; nothing is sent", function()
    local client, log = new_client()
    local p = free_purchases(client, 3)
    local a, b, c = p[1], p[2], p[3]
    local first = assert(client:purchase_many({ a, b }, { journal = path }))
    -- The list changed: a dropped, c added, b now first. resume refuses,
    -- and its message is true about what extend does.
    local results, err = client:purchase_many({ b, c }, { journal = path })
    assert.is_nil(results)
    assert.not_matches("never bought again", err.message, 1, true)
    assert.matches('journal_mode = "extend"', err.message, 1, true)
    assert.matches("refused", err.message, 1, true)
    local sent = log.requests
    results, err = client:purchase_many({ b, c }, { journal = path, journal_mode = "extend" })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches("item 1", err.message, 1, true)
    assert.matches(b.iccid, err.message, 1, true)
    assert.matches(first[2].value.reference, err.message, 1, true) -- the old record, by its reference
    assert.matches("done", err.message, 1, true)
    assert.equals(sent, log.requests) -- nothing sent
    assert.equals(1, orders_on(client, b.iccid))
    assert.equals(0, orders_on(client, c.iccid))
    -- Told it is that order (its reference), the same list goes through:
    -- the server answers the first order, nothing is charged twice.
    local again = assert(client:purchase_many({ { iccid = b.iccid, plan_id = b.plan_id,
      reference = first[2].value.reference }, c }, { journal = path, journal_mode = "extend" }))
    assert.is_true(again[1].ok and again[2].ok)
    assert.equals(1, orders_on(client, b.iccid))
    assert.equals(1, orders_on(client, c.iccid))
    for ref, n in pairs(stats(client).charges) do assert.equals(1, n, ref) end
  end)

  sandbox_it("refuses a moved purchase whose outcome was unknown once the lookup finds it", function()
    local client, log = new_client()
    local p = free_purchases(client, 3)
    local a, b, c = p[1], p[2], p[3]
    -- b's purchase is committed, then the process dies before it hears back.
    local n = 0
    log.crash = function(req)
      if req.url:find("purchase%-plan") then
        n = n + 1
        if n == 2 then error("power cut", 0) end
      end
    end
    assert.has_error(function() client:purchase_many({ a, b }, { journal = path, concurrency = 1 }) end)
    log.crash = nil
    assert.equals(1, jobs.inspect(path).started_unknown)
    local results, err = client:purchase_many({ b, c }, { journal = path, journal_mode = "extend" })
    assert.is_nil(results)
    assert.equals("journal", err.kind)
    assert.matches("item 1", err.message, 1, true)
    assert.matches(b.iccid, err.message, 1, true)
    assert.equals(1, orders_on(client, b.iccid))
    assert.equals(0, orders_on(client, c.iccid)) -- nothing of the list was bought
  end)

  sandbox_it("buys a moved purchase the lookup proves was never made", function()
    local client, log = new_client()
    local p = free_purchases(client, 2)
    local a, b = p[1], p[2]
    -- a's started line is written, then the process dies before sending it.
    log.before = function(req) if req.url:find("purchase%-plan") then error("killed", 0) end end
    assert.has_error(function() client:purchase_many({ a }, { journal = path }) end)
    log.before = nil
    assert.equals(1, jobs.inspect(path).started_unknown)
    local results, summary = client:purchase_many({ b, a }, { journal = path, journal_mode = "extend" })
    assert.is_table(results, tostring(summary))
    assert.equals(1, summary.reconciled)
    assert.equals(2, summary.ok)
    assert.equals(1, orders_on(client, a.iccid))
  end)
end)

-- A power cut after a purchase left, with its started line still in the
-- page cache, lost the reference: the rerun minted a new one and bought
-- again. The started line is now on disk before its purchase is sent.
describe("the started line is durable before its purchase is sent", function()
  local path
  before_each(function() path = tmpname() end)
  after_each(function() os.remove(path) end)

  it("core.fsync syncs a file handle or a path, and says why it cannot", function()
    local f = assert(io.open(path, "wb"))
    f:write("x\n")
    assert.is_true(core.fsync(f))
    f:close()
    assert.is_true(core.fsync(path))
    assert.is_true(core.fsync((path:match("^(.*)/") or ".")))
    local ok, why = core.fsync(path .. ".missing")
    assert.is_nil(ok)
    assert.matches("missing", why, 1, true)
    assert.has_error(function() core.fsync(f) end) -- a closed file is a bug
    assert.has_error(function() core.fsync(42) end)
  end)

  -- Wraps journal.fsync: what the journal file held at each sync of it,
  -- and the directories synced.
  local real = journal.fsync
  local function watch_syncs(fail)
    local seen = { files = 0, dirs = {}, synced = {} }
    journal.fsync = function(target)
      if io.type(target) == "file" then
        seen.files = seen.files + 1
        local text = assert(io.open(path, "rb")):read("*a")
        if fail and fail(text) then return nil, "Input/output error" end
        for line in text:gmatch("[^\n]+") do
          if line:find('"state":"started"', 1, true) then seen.synced[line:match('"reference":"([^"]+)"')] = true end
        end
      else
        seen.dirs[#seen.dirs + 1] = target
      end
      return real(target)
    end
    finally(function() journal.fsync = real end)
    return seen
  end

  sandbox_it("every purchase's reference is synced to disk before its request is sent", function()
    local client, log = new_client()
    local list = free_purchases(client, 20)
    local seen = watch_syncs()
    local purchases, unsynced = 0, {}
    log.before = function(req)
      if req.url:find("purchase%-plan") then
        purchases = purchases + 1
        local ref = req.body:match('"reference":"([^"]+)"')
        if not seen.synced[ref] then unsynced[#unsynced + 1] = ref end
      end
    end
    local results, summary = client:purchase_many(list, { journal = path, concurrency = 4 })
    assert.is_table(results, tostring(summary))
    assert.equals(20, summary.ok)
    assert.equals(20, purchases)
    assert.same({}, unsynced)
    -- the new journal's directory entry too
    assert.same({ path:match("^(.*)/") }, seen.dirs)
  end)

  sandbox_it("a sync the disk refuses is a journal error, and the purchase is not sent", function()
    local client, log = new_client()
    local list = free_purchases(client, 2)
    watch_syncs(function(text) return text:find('"state":"started"', 1, true) ~= nil end)
    local purchases = 0
    log.before = function(req) if req.url:find("purchase%-plan") then purchases = purchases + 1 end end
    local results = client:purchase_many(list, { journal = path })
    assert.equals(0, purchases)
    for _, r in ipairs(results) do
      assert.is_false(r.ok)
      assert.equals("journal", r.err.kind)
      assert.matches("Input/output error", r.err.message, 1, true)
    end
    -- A journal the disk refuses to sync when it is created: nothing sent.
    os.remove(path)
    watch_syncs(function() return true end)
    local none, err = client:purchase_many(list, { journal = path })
    assert.is_nil(none)
    assert.equals("journal", err.kind)
    assert.equals(0, purchases)
  end)
end)
