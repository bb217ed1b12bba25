-- Issue 14, part 5: 200 000 calls and 10 000 clients created and collected
-- in one process, with flat RSS and open fds. Everything runs in one fresh
-- interpreter (procs.lua_child: busted's own memory stays out of the
-- figures) that prints what it measured; the assertions here are on sizes
-- and counts only, never on time.
--
--   calls    200 000 client:list_inventory{limit = 20} on one client whose
--            transport answers a 20-SIM page from memory: RSS and the Lua
--            heap after the last call against after the first 20 000
--   clients  10 000 clients on the real libcurl transport, dropped one by
--            one; every 10th makes a real call to the test server; half
--            are closed with client:close(), half left to __gc: fds, RSS
--            and heap after the last against after the first 1 000, and no
--            client still reachable once collected
--   batches  20 batches of 1 000 get_sim through client:batch (core.multi)
--            against the test server: fds, RSS and heap after the last
--            against after the 4th (LuaJIT's heap settles over the first
--            three), and the connections the server accepted (pooled: at
--            most `concurrency` per batch)
--
-- Every sample is taken after a full collection: VmRSS from
-- /proc/self/status, collectgarbage("count"), the entries of /proc/<pid>/fd
-- (the `ls` pipe reading them counts as one, in every sample alike). Under
-- `make asan` RSS means nothing (shadow memory, quarantine): its bounds are
-- skipped there, fds and heap still hold. Under valgrind (tens of times
-- slower, and its own RSS) it is pending.
local procs = require "spec.support.test_processes"

local UNDER_VALGRIND = os.getenv("FLEXIROAM_UNDER_VALGRIND") ~= nil
local ASAN = (package.searchpath("flexiroam.core", package.cpath) or ""):find("/asan/", 1, true) ~= nil

local CALLS, CALLS_WARM = 200000, 20000
local CLIENTS, CLIENTS_FIRST = 10000, 1000
local BATCHES, BATCH_SIZE, BATCHES_WARM, CONCURRENCY = 20, 1000, 4, 16

local RSS_SLACK_KB = 8 * 1024 -- a leak of about 50 bytes a call, or 1 KiB a client, is over it
local HEAP_SLACK_KB = 1024
local FD_SLACK = 2

-- The child. Prints one line per sample:
--   sample <phase> <label> rss_kb=N heap_kb=N fds=N fd_kinds=file:4,pipe:2,socket:1
-- one `totals <phase> k=v ...` line per phase, and `done` at the end.
local CHILD = [[
local flexiroam = require "flexiroam"
local core = require "flexiroam.core"
local json = flexiroam.json
local BASE = "http://127.0.0.1:" .. PORT
local ICCID = "89103000000000000014"

local function collect()
  collectgarbage("collect")
  collectgarbage("collect") -- what the first cycle's finalizers let go
end

local function rss_kb() return require("spec.support.memory").kb("VmRSS") end

local stat = assert(io.open("/proc/self/stat"))
local PID = tonumber(stat:read("*l"):match("^(%d+)"))
stat:close()

-- Open fds: how many, and how many of each kind (socket, pipe, anon_inode, file).
local function fds()
  local p = assert(io.popen("ls -l /proc/" .. PID .. "/fd 2>/dev/null"))
  local n, kinds = 0, {}
  for line in p:lines() do
    local target = line:match(" %-> (.*)$")
    if target then
      n = n + 1
      local kind = target:match("^(%a[%w_]*):") or "file"
      kinds[kind] = (kinds[kind] or 0) + 1
    end
  end
  p:close()
  local parts = {}
  for kind, count in pairs(kinds) do parts[#parts + 1] = kind .. ":" .. count end
  table.sort(parts)
  return n, table.concat(parts, ",")
end

local function sample(phase, label)
  collect()
  local n, kinds = fds()
  local heap = math.floor(collectgarbage("count"))
  print(("sample %s %s rss_kb=%d heap_kb=%d fds=%d fd_kinds=%s"):format(phase, label, rss_kb(), heap, n, kinds))
  io.stdout:flush()
end

local function server_stats()
  local s = core.session { proxy = "" }
  local r = assert(s:request { url = BASE .. "/stats" })
  s:close()
  local accepted, requests = r.body:match("accepted=(%d+) requests=(%d+)")
  return tonumber(accepted), tonumber(requests)
end

-- 1. CALLS calls on one client, answered from memory.
do
  local items = {}
  for i = 1, 20 do
    items[i] = { iccid = ("89852350824010%05d"):format(i), sku = 4024081013108 + i, chip_type = "esim",
      availability_sku = "free___x", balances = { main_data = 1024 * i } }
  end
  local PAGE = json.encode { items = json.array(items), page_key = json.null }
  local transport = {}
  function transport.request(_, req)
    return { status = 200, headers = { ["content-type"] = "application/json" }, body = PAGE,
      http_version = "1.1", reused = true, timings = {}, url = req.url }
  end
  local client = flexiroam.new { api_key = "scale-key", base_url = "https://api.example.test", transport = transport }
  local done = 0
  local function calls(n)
    for _ = 1, n do
      local page, err = client:list_inventory { limit = 20 }
      if not page or #page.items ~= 20 then error("call " .. (done + 1) .. " failed: " .. tostring(err)) end
      done = done + 1
    end
  end
  sample("calls", "start")
  calls(CALLS_WARM)
  sample("calls", "warm")
  calls((CALLS - CALLS_WARM) / 2)
  sample("calls", "mid")
  calls(CALLS - done)
  sample("calls", "end")
  client:close()
  print(("totals calls made=%d"):format(done))
end

-- 2. CLIENTS clients on libcurl, created and dropped.
do
  local alive = setmetatable({}, { __mode = "k" })
  local called, answered, closed = 0, 0, 0
  -- In a function of its own: no stack slot of the loop keeps a client.
  local function one_client(i)
    local client = flexiroam.new { api_key = "scale-key", base_url = BASE, retries = 0 }
    alive[client] = true
    if i % 10 == 0 then
      called = called + 1
      local sim, err = client:get_sim { iccid = ICCID }
      if not sim then error("client " .. i .. ": " .. tostring(err)) end
      answered = answered + 1
    end
    -- Runs of 10 alternate: closed by hand, or left to the collector
    -- (each run ends with a client that made a call).
    if math.floor((i - 1) / 10) % 2 == 0 then
      client:close()
      closed = closed + 1
    end
  end
  sample("clients", "start")
  for i = 1, CLIENTS do
    one_client(i)
    if i % 10 == 0 then collectgarbage("collect") end
    if i == CLIENTS_FIRST then sample("clients", "first") end
  end
  sample("clients", "end")
  local reachable = 0
  for _ in pairs(alive) do reachable = reachable + 1 end
  print(("totals clients created=%d called=%d answered=%d closed=%d reachable=%d")
    :format(CLIENTS, called, answered, closed, reachable))
end

-- 3. BATCHES batches of BATCH_SIZE calls through core.multi, on one client.
do
  local client = flexiroam.new { api_key = "scale-key", base_url = BASE, retries = 0 }
  local list = {}
  for i = 1, BATCH_SIZE do list[i] = { "get_sim", { iccid = ICCID } } end
  local accepted0, requests0 = server_stats()
  sample("batches", "start")
  local ok = 0
  for b = 1, BATCHES do
    local results, summary = client:batch(list, { concurrency = CONCURRENCY })
    if summary.ok ~= BATCH_SIZE then
      local first_err
      for _, r in ipairs(results) do first_err = first_err or (not r.ok and tostring(r.err)) end
      error(("batch %d: %d of %d ok; %s"):format(b, summary.ok, BATCH_SIZE, tostring(first_err)))
    end
    ok = ok + summary.ok
    if b == 1 then sample("batches", "first") end
    if b == BATCHES_WARM then sample("batches", "warm") end
  end
  sample("batches", "end")
  client:close()
  local accepted1, requests1 = server_stats()
  print(("totals batches batches=%d ok=%d accepted=%d requests=%d")
    :format(BATCHES, ok, accepted1 - accepted0 - 1, requests1 - requests0 - 1)) -- less the second /stats
end
print("done")
]]

local function child_code(port)
  return ("local PORT, CALLS, CALLS_WARM = %d, %d, %d\n"):format(port, CALLS, CALLS_WARM)
    .. ("local CLIENTS, CLIENTS_FIRST = %d, %d\n"):format(CLIENTS, CLIENTS_FIRST)
    .. ("local BATCHES, BATCH_SIZE, BATCHES_WARM, CONCURRENCY = %d, %d, %d, %d\n")
      :format(BATCHES, BATCH_SIZE, BATCHES_WARM, CONCURRENCY)
    .. CHILD
end

-- "k=v k=v" -> { k = number or string }
local function fields(text)
  local t = {}
  for k, v in text:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

-- The child's output -> samples[phase][label], totals[phase].
local function parse(out)
  local samples, totals = {}, {}
  for line in out:gmatch("[^\n]+") do
    local phase, label, rest = line:match("^sample (%a+) (%a+) (.*)$")
    if phase then
      samples[phase] = samples[phase] or {}
      samples[phase][label] = fields(rest)
    else
      phase, rest = line:match("^totals (%a+) (.*)$")
      if phase then totals[phase] = fields(rest) end
    end
  end
  return samples, totals
end

describe("scale (issue 14, part 5)", function()
  if UNDER_VALGRIND then
    it("200 000 calls and 10 000 clients keep RSS and fds flat", function()
      pending("230 000 calls and 10 000 clients are too slow under valgrind, and RSS means nothing there; "
        .. "`make test`, `make luajit` and `make asan` run this spec")
    end)
    return
  end

  local server, out, samples, totals

  setup(function()
    server = procs.http_server()
    out = assert(procs.lua_child(child_code(server.port)))
    samples, totals = parse(out)
    -- The figures, on request: FLEXIROAM_SPEC_FIGURES=1 make test
    if os.getenv("FLEXIROAM_SPEC_FIGURES") then
      for line in out:gmatch("[^\n]+") do
        if line:match("^sample ") or line:match("^totals ") then io.stderr:write("scale_spec: ", line, "\n") end
      end
    end
  end)

  teardown(function()
    procs.stop(server)
  end)

  -- The samples of a phase, one line each, for the assertion messages.
  local function figures(phase)
    local lines = {}
    for _, label in ipairs { "start", "first", "warm", "mid", "end" } do
      local s = samples[phase] and samples[phase][label]
      if s then
        lines[#lines + 1] = ("  %-5s rss %d KiB, heap %d KiB, %d fds (%s)"):format(label, s.rss_kb, s.heap_kb, s.fds,
          s.fd_kinds)
      end
    end
    local t = totals[phase]
    if t then
      local parts = {}
      for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. tostring(v) end
      table.sort(parts)
      lines[#lines + 1] = "  totals " .. table.concat(parts, " ")
    end
    return phase .. " (" .. procs.interpreter() .. (ASAN and ", asan" or "") .. "):\n" .. table.concat(lines, "\n")
  end

  -- Samples `from` and `to` of `phase` exist; -> them.
  local function pair(phase, from, to)
    local s = samples[phase]
    assert(s and s[from] and s[to] and totals[phase], "the child did not finish the " .. phase .. " phase:\n" .. out)
    return s[from], s[to]
  end

  local function assert_flat(phase, from, to)
    local a, b = pair(phase, from, to)
    local report = figures(phase)
    assert(b.fds <= a.fds + FD_SLACK, ("%s: open fds went from %d to %d (more than +%d)\n%s")
      :format(phase, a.fds, b.fds, FD_SLACK, report))
    assert(b.heap_kb <= a.heap_kb + HEAP_SLACK_KB, ("%s: the Lua heap grew by %d KiB (more than %d)\n%s")
      :format(phase, b.heap_kb - a.heap_kb, HEAP_SLACK_KB, report))
    if not ASAN then
      assert(b.rss_kb <= a.rss_kb + RSS_SLACK_KB, ("%s: RSS grew by %d KiB (more than %d)\n%s")
        :format(phase, b.rss_kb - a.rss_kb, RSS_SLACK_KB, report))
    end
  end

  it("200 000 calls on one client: RSS, Lua heap and fds after the last as after the first 20 000", function()
    assert_flat("calls", "warm", "end")
    assert.are.equal(CALLS, totals.calls.made, figures("calls"))
  end)

  it("10 000 clients created and dropped, closed or collected: fds, RSS and heap flat, none left", function()
    pair("clients", "first", "end")
    local t = totals.clients
    local report = figures("clients")
    assert(t.called == CLIENTS / 10 and t.answered == t.called, "not every 10th client's call was answered\n" .. report)
    assert(t.closed == CLIENTS / 2, "half the clients should have been closed by hand\n" .. report)
    assert(t.reachable == 0, ("%d of %d clients are still reachable after a full collection\n%s")
      :format(t.reachable, CLIENTS, report))
    assert_flat("clients", "first", "end")
    -- and back where the phase started, every connection released
    local start, last = pair("clients", "start", "end")
    assert(last.fds <= start.fds + FD_SLACK, ("clients: %d fds at the end, %d before the first client\n%s")
      :format(last.fds, start.fds, report))
  end)

  it("20 batches of 1 000 calls: fds, RSS and heap flat, connections pooled", function()
    assert_flat("batches", "warm", "end")
    local first, last = pair("batches", "first", "end")
    local report = figures("batches")
    assert(last.fds <= first.fds + FD_SLACK, ("batches: %d fds after the last batch, %d after the first\n%s")
      :format(last.fds, first.fds, report))
    local t = totals.batches
    assert(t.ok == BATCHES * BATCH_SIZE, "not every call of the batches succeeded\n" .. report)
    assert(t.requests >= BATCHES * BATCH_SIZE, "the batches did not reach the server\n" .. report)
    assert(t.accepted <= BATCHES * CONCURRENCY,
      ("batches: the server accepted %d connections for %d requests: more than %d a batch (the concurrency)\n%s")
      :format(t.accepted, t.requests, CONCURRENCY, report))
  end)
end)
