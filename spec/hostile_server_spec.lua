-- What a hostile or broken server does to a client (issue 14, part 5;
-- docs/hostile-servers.md): redirects to another origin, bodies and heads
-- that never end or inflate without bound, hostile JSON, answers that
-- trickle or never come. Every case runs through the whole client (the
-- pipeline, not only a transport) against spec/support/http_test_server.lua's
-- /hostile/<case> routes, on each transport that speaks to a network: the
-- libcurl session (a lone call), the libcurl multi (a batch) and the
-- cosocket transport under a mock ngx. The cases that could use memory run
-- in a child interpreter that measures its own peak RSS around each call.
local procs = require "spec.support.test_processes"
local cjson = require "cjson"

local KEY = "sk_HOSTILE_SERVER_SPEC_7f3e"
local ICCID = "8910300000000000009"
local module = package.searchpath("flexiroam.core", package.cpath) or ""
local ASAN = module:find("/asan/", 1, true) ~= nil

-- How each row makes a client and runs one get_sim through it, in a child:
-- `client_for(base, extra)` and `call(client)` -> value | nil, err.
local ROWS = {
  curl = [[
    local function client_for(base, extra)
      local o = { api_key = KEY, base_url = base, retries = 0 }
      for k, v in pairs(extra) do o[k] = v end
      return require("flexiroam").new(o)
    end
    local function call(client) return client:get_sim { iccid = ICCID } end
    local function run(f) return f() end
  ]],
  multi = [[
    local function client_for(base, extra)
      local o = { api_key = KEY, base_url = base, retries = 0 }
      for k, v in pairs(extra) do o[k] = v end
      return require("flexiroam").new(o)
    end
    local function call(client)
      local results = client:batch({ { "get_sim", { iccid = ICCID } } }, { concurrency = 2 })
      local r = results[1]
      if r.ok then return r.value end
      return nil, r.err
    end
    local function run(f) return f() end
  ]],
  ngx = [[
    local mock = require("spec.support.mock_ngx").new()
    local function client_for(base, extra)
      -- created inside mock.with, so "ngx" finds the (mock) ngx and takes the client's options
      local o = { api_key = KEY, base_url = base, retries = 0, transport = "ngx" }
      for k, v in pairs(extra) do o[k] = v end
      return require("flexiroam").new(o)
    end
    local function call(client) return client:get_sim { iccid = ICCID } end
    local function run(f)
      local r = { mock.with(function() return { f() } end) }
      mock.drain()
      return table.unpack(r[1])
    end
  ]],
}

-- A child that runs `cases` ({{path =, opts =}}) on a row and prints, per
-- case, one JSON line: {kind, message, value (a few fields), peak_kb (the
-- growth of its peak RSS over the call), elapsed, sent_to_other}.
local function child_script(row, port, cases)
  return ([[
local KEY, ICCID, PORT = %q, %q, %d
local cjson = require "cjson"
local socket = require "socket"
table.unpack = table.unpack or unpack
%s
local memory = require "spec.support.memory"
local status_kb, reset_peak = memory.kb, memory.reset_peak
for _, case in ipairs(cjson.decode(%q)) do
  collectgarbage("collect")
  reset_peak()
  local before = status_kb("VmRSS")
  local started = socket.gettime()
  local value, err = run(function()
    local client = client_for("http://127.0.0.1:" .. PORT .. case.path, case.opts or {})
    for _ = 2, case.calls or 1 do assert(call(client)) end
    return call(client)
  end)
  local out = { case = case.path, elapsed = socket.gettime() - started }
  collectgarbage("collect")
  out.peak_kb = status_kb("VmHWM") - before
  if value then
    out.value = { iccid = value.iccid, name = value.name, sku = value.sku, chip_type = value.chip_type,
      index = type(rawget(value, "__index")), has_usage_method = type(value.usage) }
  else
    out.kind, out.message, out.status = err.kind, tostring(err), err.status
    out.sent, out.safe_to_retry = err.sent, err.safe_to_retry
  end
  io.write(cjson.encode(out), "\n")
  io.flush()
end
]]):format(KEY, ICCID, port, ROWS[row], cjson.encode(cases))
end

local function run_child(row, port, cases)
  local out = assert(procs.lua_child(child_script(row, port, cases)))
  local results = {}
  for line in out:gmatch("[^\n]+") do
    local ok, rec = pcall(cjson.decode, line)
    assert(ok and type(rec) == "table", "the child printed something else (a crash?): " .. out)
    results[rec.case] = rec
  end
  for _, case in ipairs(cases) do
    assert(results[case.path], "no answer for " .. case.path .. " (the child died?): " .. out)
  end
  return results
end

-- How much a call may grow the peak RSS: a cap of 1 MiB on the answer, and
-- room for the decoder's work and the allocator. Not measured under ASan
-- (its shadow memory and quarantine make RSS meaningless).
local PEAK_KB = 24 * 1024

local function assert_bounded(rec)
  if ASAN then return end
  assert.is_true(rec.peak_kb < PEAK_KB, ("%s: the peak RSS grew by %d KiB (bound %d KiB)")
    :format(rec.case, rec.peak_kb, PEAK_KB))
end

local function assert_no_key(rec)
  assert.is_nil((rec.message or ""):find(KEY, 1, true), "the key is in the message: " .. tostring(rec.message))
end

-- The request count the test server keeps per tag.
local function hits(port, tag)
  local transport = require("flexiroam.transport.curl").new {}
  local res = assert(transport:request { method = "GET", url = ("http://127.0.0.1:%d/hits?tag=%s"):format(port, tag) })
  transport:close()
  return tonumber(res.body) or 0
end

local function wire(port)
  local transport = require("flexiroam.transport.curl").new {}
  local res = assert(transport:request { method = "GET", url = ("http://127.0.0.1:%d/wire"):format(port) })
  transport:close()
  return res.body
end

local ROW_NAMES = { curl = "a lone call (libcurl)", multi = "a batch (libcurl multi)", ngx = "cosockets (mock ngx)" }

describe("a hostile server", function()
  local server, other

  lazy_setup(function()
    server, other = procs.http_server(), procs.http_server()
  end)
  lazy_teardown(function()
    procs.stop(server)
    procs.stop(other)
  end)

  for _, row in ipairs { "curl", "multi", "ngx" } do
    describe(ROW_NAMES[row], function()
      it("a 3xx to another origin is not followed and the key never reaches it", function()
        wire(other.port) -- forget anything before
        local cases = {}
        for _, code in ipairs { 301, 302, 303, 307, 308 } do
          cases[#cases + 1] = { path = ("/hostile/redirect,%d,%d"):format(code, other.port) }
          -- the same port on another name for this machine: another origin too
          cases[#cases + 1] = { path = ("/hostile/redirect,%d,%d,localhost"):format(code, other.port) }
        end
        local results = run_child(row, server.port, cases)
        for _, case in ipairs(cases) do
          local rec = results[case.path]
          assert.equals("http", rec.kind, case.path .. ": " .. cjson.encode(rec))
          assert.is_true(rec.status >= 300 and rec.status < 400, case.path)
          assert_no_key(rec)
        end
        assert.equals("", wire(other.port), "the other origin was sent something")
        assert.equals(0, hits(other.port, "hostile:redirect"))
      end)

      it("an answer too large to take ends as too_large with bounded memory", function()
        local gzip_kind = row == "ngx" and "network" or "too_large" -- cosockets ask for identity only
        local cases = {
          { path = "/hostile/gzip_bomb", kind = gzip_kind },
          { path = "/hostile/gzip_endless", kind = gzip_kind },
          { path = "/hostile/endless", kind = "too_large" },
          { path = "/hostile/huge_string,100", kind = "too_large" },
          { path = "/hostile/huge_string,100,chunked", kind = "too_large" },
          { path = "/hostile/header_line,1048576", kind = "too_large" },
          { path = "/hostile/many_headers,100000", kind = "too_large" },
          { path = "/hostile/interim_flood,2000", kind = "too_large" }, -- 1 MB of 100 Continue heads
        }
        for _, case in ipairs(cases) do case.opts = { max_response_bytes = 1024 * 1024 } end
        local results = run_child(row, server.port, cases)
        for _, case in ipairs(cases) do
          local rec = results[case.path]
          assert.equals(case.kind, rec.kind, case.path .. ": " .. cjson.encode(rec))
          assert.is_true(rec.sent, case.path)
          assert_bounded(rec)
          assert_no_key(rec)
        end
      end)

      it("hostile JSON: no crash, bounded memory, a decode error or exactly what was sent", function()
        -- body name -> the message of the decode error, or a check of the value
        local expect = {
          deep_array = "nesting deeper than 1000",
          deep_array_closed = "nesting deeper than 1000",
          deep_object = "nesting deeper than 1000",
          huge_exponent = "number out of range",
          huge_negative_exponent = function(v) assert.equals(0, v.sku) end, -- underflows to 0, as strtod does
          invalid_utf8 = "invalid UTF%-8",
          overlong_utf8 = "invalid UTF%-8",
          lone_surrogate = "lone surrogate",
          raw_control = "control character",
          bom = "unexpected character",
          trailing = "trailing characters",
          nan = "unexpected character",
          item_array = "no item object",
          item_string = "no item object",
          long_integer = function(v) -- exact: the digits as a string, never a rounded float
            assert.equals(("9"):rep(100000), v.sku)
          end,
          duplicate_keys = function(v) assert.equals("final", v.iccid) end, -- the last one wins, as in cjson
          escaped_nul = function(v) assert.equals("a\0b", v.name) end,
          meta_keys = function(v) -- data, never behaviour: the model's methods still work
            assert.equals("8910300000000000009", v.iccid)
            assert.equals("table", v.index)
            assert.equals("function", v.has_usage_method)
          end,
          -- A field named like a method is the server's data and hides the
          -- method on that record (docs/hostile-servers.md): one
          -- setmetatable per record, never a copy.
          shadowing = function(v) assert.equals("string", v.has_usage_method) end,
          huge_array = function(v) assert.is_table(v) end,
          many_keys = function(v) assert.is_table(v) end,
        }
        local cases = {}
        for name in pairs(expect) do cases[#cases + 1] = { path = "/hostile/json," .. name, name = name } end
        table.sort(cases, function(a, b) return a.path < b.path end)
        local results = run_child(row, server.port, cases)
        for _, case in ipairs(cases) do
          local rec, want = results[case.path], expect[case.name]
          if type(want) == "string" then
            assert.equals("decode", rec.kind, case.path .. ": " .. cjson.encode(rec))
            assert.matches(want, rec.message, 1)
            assert.equals(200, rec.status)
          else
            assert.is_table(rec.value, case.path .. ": " .. cjson.encode(rec))
            want(rec.value)
          end
          assert_bounded(rec)
        end
      end)

      it("a server that trickles or never answers is bounded by the timeouts and the deadline", function()
        local cases = {
          { path = "/hostile/trickle_body,100,1", opts = { timeout_ms = 1500 }, kind = "timeout" },
          { path = "/hostile/trickle_head,1", opts = { timeout_ms = 1500 }, kind = "timeout" },
          { path = "/hostile/stall", opts = { timeout_ms = 1500 }, kind = "timeout" },
          -- retries allowed, one deadline over all of them
          { path = "/hostile/stall,deadline", opts = { timeout_ms = 1000, retries = 5, deadline_ms = 1800 },
            kind = "timeout" },
          -- a byte every 0.3 s keeps no low-speed window of 1 s busy enough
          { path = "/hostile/trickle_body,100,0.3", opts = { low_speed_bytes = 10, low_speed_ms = 1000 },
            kind = "timeout" },
        }
        local results = run_child(row, server.port, cases)
        for _, case in ipairs(cases) do
          local rec = results[case.path]
          assert.equals(case.kind, rec.kind, case.path .. ": " .. cjson.encode(rec))
          -- A hang guard, far over the bounds: the call came back at all.
          assert.is_true(rec.elapsed < 15, case.path .. " took " .. rec.elapsed .. " s")
        end
      end)

      it("an answer cut inside its head is a network error (sent), the same on every transport", function()
        local cases = { { path = "/hostile/head_cut" } }
        local rec = run_child(row, server.port, cases)["/hostile/head_cut"]
        assert.equals("network", rec.kind, cjson.encode(rec))
        assert_no_key(rec)
      end)

      it("a head whose first line is a fold is an invalid answer, the same on every transport", function()
        -- fold_after: the client's second call meets it, after a transfer
        -- on the same handle (libcurl 7.83-8.2 would append it to the last
        -- run's freed header line: see src/curl_global.c; make asan checks)
        local id = row .. tostring(os.time())
        local cases = { { path = "/hostile/fold_first" }, { path = "/hostile/fold_after,1," .. id, calls = 2 } }
        local results = run_child(row, server.port, cases)
        for _, case in ipairs(cases) do
          local rec = results[case.path]
          assert.equals("network", rec.kind, cjson.encode(rec))
          assert.matches("invalid answer: a header line starts with whitespace", rec.message, 1, true)
        end
      end)
    end)
  end
end)
