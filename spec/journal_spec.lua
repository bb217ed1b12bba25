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

local KEY = "sandbox-key"
local in_process = _VERSION == "Lua 5.4"
local NO_SANDBOX = "skipped: the in-process sandbox runs under Lua 5.4 only, not " .. _VERSION

local function sandbox_it(name, fn)
  it(name, function()
    if not in_process then return pending(NO_SANDBOX) end
    return fn()
  end)
end

-- A client on a fresh in-process sandbox, counting what it sends; `crash`
-- (when set) is called after each answer and may raise, as a process dying
-- right after the server acted would.
local function new_client()
  local transport = require("flexiroam.sandbox.transport").new { sims = 60, seed = 3 }
  local log = { requests = 0 }
  local wrapper = {}
  function wrapper.request(_, req)
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
