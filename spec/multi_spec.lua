-- core.multi over real sockets on 127.0.0.1, against the session specs'
-- test server (spec/support/http_test_server.lua).
local core = require "flexiroam.core"
local procs = require "spec.support.test_processes"
local socket = require "socket"

-- Elapsed-time bounds only catch a hang; under valgrind everything is slower.
local MARGIN = os.getenv("FLEXIROAM_UNDER_VALGRIND") and 15 or 3

local function new_multi(opts)
  opts = opts or {}
  if opts.proxy == nil then opts.proxy = "" end
  return core.multi(opts)
end

-- Everything the multi answers for `n` transfers, by id; fails past `seconds`.
local function collect(m, n, seconds)
  local out, got = {}, 0
  local deadline = socket.gettime() + (seconds or 10)
  while got < n do
    assert(socket.gettime() < deadline, "transfers did not finish in time")
    for _, r in ipairs(m:perform(200)) do
      assert.is_nil(out[r.id], "answered twice: " .. r.id)
      out[r.id] = r
      got = got + 1
    end
  end
  return out
end

local function raises(pattern, fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(msg))
end

describe("core.multi", function()
  local server, base

  setup(function()
    server = procs.http_server()
    base = ("http://127.0.0.1:%d"):format(server.port)
  end)

  teardown(function()
    procs.stop(server)
  end)

  it("answers each transfer with the session's response table, under its own id", function()
    local m = new_multi()
    local ids, codes = {}, { 200, 201, 202, 404, 503 }
    for i, code in ipairs(codes) do ids[i] = m:add { url = base .. "/status/" .. code } end
    for i = 2, 5 do assert.is_true(ids[i] > ids[i - 1]) end
    assert.equals(5, m:pending())
    local out = collect(m, 5)
    for i, code in ipairs(codes) do
      local res = assert(out[ids[i]].res, tostring(out[ids[i]].err))
      assert.is_nil(out[ids[i]].err)
      assert.equals(code, res.status)
      assert.equals("status " .. code, res.body)
      assert.is_string(res.headers["x-conn"])
      assert.equals("1.1", res.http_version)
      assert.is_boolean(res.reused)
      assert.is_number(res.timings.total)
      assert.equals(base .. "/status/" .. code, res.url)
    end
    assert.equals(0, m:pending())
    m:close()
  end)

  it("sends a POST body it copied, after the caller's string is gone", function()
    local m = new_multi()
    local id
    do
      local body = ("payload-%d-"):format(42) .. ("x"):rep(3000) .. "\0end"
      id = m:add { method = "POST", url = base .. "/echo", body = body, headers = { ["Content-Type"] = "text/plain" } }
    end
    collectgarbage()
    collectgarbage()
    local res = assert(collect(m, 1)[id].res)
    assert.matches("^POST /echo HTTP/1.1\r\n", res.body)
    assert.is_truthy(res.body:find("payload-42-" .. ("x"):rep(3000) .. "\0end", 1, true))
    m:close()
  end)

  it("runs transfers side by side: a stalled one does not hold up the others", function()
    local m = new_multi()
    local stalled = m:add { url = base .. "/stall", timeout_ms = 1000 }
    local quick = {}
    for i = 1, 4 do quick[i] = m:add { url = base .. "/status/200" } end
    local first = {}
    local deadline = socket.gettime() + MARGIN
    while #first < 4 and socket.gettime() < deadline do
      for _, r in ipairs(m:perform(100)) do first[#first + 1] = r.id end
    end
    table.sort(first)
    assert.same(quick, first)
    local out = collect(m, 1)
    local err = out[stalled].err
    assert.equals("timeout", err.kind)
    assert.is_true(err.sent)
    assert.equals("GET", err.method)
    m:close()
  end)

  it("reports a refused connection as a network error that was not sent", function()
    local m = new_multi()
    local id = m:add { method = "POST", url = ("http://127.0.0.1:%d/x?secret=1"):format(procs.free_port()),
      body = "{}" }
    local r = collect(m, 1)[id]
    assert.is_nil(r.res)
    assert.equals(core.error_mt, getmetatable(r.err))
    assert.equals("network", r.err.kind)
    assert.is_false(r.err.sent)
    assert.equals("COULDNT_CONNECT", r.err.curl_error)
    assert.equals("POST", r.err.method)
    assert.not_matches("secret", r.err.url)
    m:close()
  end)

  it("waits up to timeout_ms when nothing finishes, and not at all with nothing in flight", function()
    local m = new_multi()
    local t0 = socket.gettime()
    assert.same({}, m:perform(5000))
    assert.is_true(socket.gettime() - t0 < 1)
    local id = m:add { url = base .. "/stall", timeout_ms = 2000 }
    t0 = socket.gettime()
    assert.same({}, m:perform(300))
    local waited = socket.gettime() - t0
    assert.is_true(waited >= 0.25 and waited < 0.3 + MARGIN, "waited " .. waited)
    assert.same({}, m:perform())
    assert.equals(1, m:pending())
    m:close() -- abandons the stalled transfer
    assert.is_number(id)
  end)

  it("opens at most max_connections, and reuses them", function()
    local m = new_multi { max_connections = 2 }
    local ids = {}
    for i = 1, 10 do ids[i] = m:add { url = base .. "/status/200" } end
    local out = collect(m, 10)
    local conns = {}
    for _, id in ipairs(ids) do conns[out[id].res.headers["x-conn"]] = true end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.is_true(n <= 2, n .. " connections")
    local again = m:add { url = base .. "/status/200" }
    local r = collect(m, 1)[again].res
    assert.is_true(r.reused)
    assert.is_true(conns[r.headers["x-conn"]])
    m:close()
  end)

  it("never re-sends a write the server read before dropping the connection", function()
    local m = new_multi()
    -- a kept-alive connection is there to be reused
    local warm = m:add { url = base .. "/status/200" }
    assert.is_false(collect(m, 1)[warm].res.reused)
    local tag = ("multi_%d_%d"):format(os.time(), math.random(1e6))
    local id = m:add { method = "POST", url = base .. "/vanish?tag=" .. tag, body = '{"sku":1}' }
    local err = collect(m, 1)[id].err
    assert.equals("network", err.kind)
    assert.is_true(err.sent)
    local hits = m:add { url = base .. "/hits?tag=" .. tag }
    assert.equals("1", collect(m, 1)[hits].res.body)
    m:close()
  end)

  it("sends a write on a connection of its own; reads still ride kept-alive ones", function()
    local m = new_multi { max_connections = 4 }
    local first = m:add { url = base .. "/status/200" }
    local conn = collect(m, 1)[first].res.headers["x-conn"]
    local tag = ("multi_%d_%d"):format(os.time(), math.random(1e6))
    local post = m:add { method = "POST", url = base .. "/vanish-reused?tag=" .. tag, body = "{}" }
    local r = assert(collect(m, 1)[post].res)
    assert.equals("answered", r.body)
    assert.is_false(r.reused)
    assert.not_equals(conn, r.headers["x-conn"])
    local again = m:add { url = base .. "/status/200" }
    assert.is_true(collect(m, 1)[again].res.reused)
    m:close()
  end)

  it("cuts a transfer that stalls below the low-speed limit, and only that one", function()
    local m = new_multi { low_speed_bytes = 1000, low_speed_ms = 1000, timeout_ms = 60000 }
    local t0 = socket.gettime()
    local slow = m:add { url = base .. "/drip?n=200&every=0.1" }
    local quick = m:add { url = base .. "/status/200" }
    local out = collect(m, 2)
    assert.equals(200, out[quick].res.status)
    local err = out[slow].err
    assert.equals("timeout", err.kind)
    assert.matches("stalled", err.message)
    assert.is_true(socket.gettime() - t0 < 2 + MARGIN)
    m:close()
  end)

  it("takes the session's options and checks them the same way", function()
    raises("unknown field 'timeout'", core.multi, { timeout = 5 })
    raises("timeout_ms must be an integer", core.multi, { timeout_ms = 0 })
    raises("max_connections must be an integer from 1 to 4096", core.multi, { max_connections = 0 })
    raises("max_connections", core.multi, { max_connections = 1.5 })
    raises("max_connections", core.multi, { max_connections = "8" })
    raises("table expected", core.multi, 5)
    local m = core.multi()
    assert.matches("^flexiroam.multi: .*open, 0 in flight", tostring(m))
    m:close()
  end)

  it("raises on a bad request as the session does, and stays usable", function()
    local m = new_multi()
    raises("url must start with http", m.add, m, { url = "ftp://x/" })
    raises("cannot carry a body", m.add, m, { url = base .. "/echo", body = "x" })
    raises("unknown field 'verb'", m.add, m, { verb = "GET", url = base })
    raises("header name is not a valid HTTP token", m.add, m, { url = base, headers = { ["a b"] = "x" } })
    raises("table expected", m.add, m, "http://x/")
    raises("timeout_ms must be from 0", m.perform, m, -1)
    assert.equals(0, m:pending())
    local id = m:add { url = base .. "/status/204" }
    assert.equals(204, collect(m, 1)[id].res.status)
    m:close()
  end)

  it("closes idempotently, abandons what is in flight, and refuses use afterwards", function()
    local m = new_multi()
    m:add { url = base .. "/stall", timeout_ms = 5000 }
    m:close()
    m:close()
    assert.matches("closed", tostring(m))
    raises("multi is closed", m.add, m, { url = base })
    raises("multi is closed", m.perform, m)
    raises("multi is closed", m.pending, m)
    raises("flexiroam.multi expected", m.add, {}, { url = base })
  end)

  it("is released by the garbage collector, transfers in flight or not", function()
    for _ = 1, 3 do
      local m = new_multi()
      m:add { url = base .. "/stall", timeout_ms = 5000 }
      m:add { url = base .. "/status/200" }
      m:perform(50)
    end
    collectgarbage()
    collectgarbage()
  end)

  it("closes through <close> in Lua 5.4", function()
    if _VERSION ~= "Lua 5.4" then return pending("Lua 5.4 only") end
    local chunk = assert(load([[
      local core, base = ...
      local kept
      do
        local m <close> = core.multi { proxy = "" }
        kept = m
        m:add { url = base .. "/stall", timeout_ms = 5000 }
      end
      return kept
    ]]))
    local m = chunk(core, base)
    assert.matches("closed", tostring(m))
  end)

  -- Finalizers that run inside perform, from the allocations perform itself
  -- makes while it builds the answers (large bodies: many allocations), with
  -- a collector that never pauses. That needs a small heap, where a cycle
  -- ends within those allocations: a fresh process, not this one. Under
  -- valgrind the child runs under it too. Lua 5.1/LuaJIT never finalizes
  -- tables, so there the garbage is newproxy userdata.
  local FINALIZER_CHILD = [[
    local core = require "flexiroam.core"
    local function finalized(gc)
      if not newproxy then return setmetatable({}, { __gc = gc }) end
      local u = newproxy(true)
      getmetatable(u).__gc = gc
      return u
    end
    local mode, base = arg[1], arg[2]
    local m
    local function fresh()
      m = core.multi { proxy = "" }
      for _ = 1, 40 do m:add { url = base .. "/big?size=100000" } end
    end
    fresh()
    local inside, hits, refused, got = false, 0, 0, 0
    collectgarbage("setpause", 0)
    while hits == 0 and m:pending() > 0 do
      for _ = 1, 50 do
        finalized(function()
          if not inside then return end
          hits = hits + 1
          if mode == "close" then
            m:close()
          else
            local ok, why = pcall(m.perform, m, 0)
            if not ok and why:find("busy") then refused = refused + 1 end
            ok, why = pcall(m.add, m, { url = base })
            if not ok and why:find("busy") then refused = refused + 1 end
          end
        end)
      end
      inside = true
      local performed, out = pcall(m.perform, m, 100)
      inside = false
      if not performed then
        -- Closed by a finalizer on the way in, before perform began (LuaJIT
        -- allocates there): refused as closed, which proves nothing of
        -- perform itself. Again, on a new multi.
        assert(tostring(out):find("multi is closed", 1, true), out)
        fresh()
        hits, got, out = 0, 0, {}
      end
      got = got + #out
      for _, r in ipairs(out) do assert(#r.res.body == 100000) end
    end
    if mode == "close" then
      local ok, why = pcall(m.perform, m)
      print(hits, got, tostring(m), ok, why)
    else
      while m:pending() > 0 do got = got + #m:perform(100) end
      print(hits, got, refused)
    end
  ]]

  local function run_child(mode)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    -- the interpreter and core build of the suite, with its package paths
    f:write(procs.paths_prelude(), FINALIZER_CHILD)
    f:close()
    local lua = os.getenv("FLEXIROAM_UNDER_VALGRIND") and
      "valgrind -q --error-exitcode=99 --suppressions=.ci/valgrind.supp --leak-check=full " ..
      "--errors-for-leak-kinds=definite " .. procs.interpreter() or procs.interpreter()
    local p = assert(io.popen(lua .. " " .. path .. " " .. mode .. " " .. base .. " 2>&1"))
    local out = p:read("a")
    local ok, how, code = p:close()
    os.remove(path)
    assert.is_true(ok == true or ok == 0, ("the child ended by %s %s: %s"):format(tostring(how), tostring(code), out))
    return out
  end

  it("survives a finalizer that closes it while perform builds its answers", function()
    local out = run_child("close")
    local hits, got, shown, ok, why = out:match("^(%d+)\t(%d+)\t([^\t]*)\t(%a+)\t([^\n]*)")
    assert(hits, "the child printed: " .. out)
    assert.is_true(tonumber(hits) > 0, "no finalizer ran inside perform")
    assert.is_true(tonumber(got) > 0) -- the answers built when it closed were still delivered
    assert.matches("closed", shown)
    assert.equals("false", ok)
    assert.matches("multi is closed", why)
  end)

  it("refuses add and perform from inside perform", function()
    local out = run_child("reenter")
    local hits, got, refused = out:match("^(%d+)\t(%d+)\t(%d+)")
    assert(hits, "the child printed: " .. out)
    assert.is_true(tonumber(hits) > 0, "no finalizer ran inside perform")
    assert.equals(40, tonumber(got))
    assert.equals(2 * tonumber(hits), tonumber(refused))
  end)
end)

-- HTTP/2 over TLS: nginx (started here on 127.0.0.1 with a throwaway
-- certificate) offers h2 by ALPN, and the multi runs its transfers as
-- streams of one connection rather than opening one each.
describe("core.multi over HTTP/2", function()
  local dir, port, cert

  local function have_nginx()
    return procs.have("nginx") and core.curl_features().http2
  end

  setup(function()
    if not have_nginx() then return end
    dir = procs.tmpdir()
    local key
    cert, key = procs.self_signed_cert(dir)
    port = procs.free_port()
    os.execute("mkdir -p " .. dir .. "/logs " .. dir .. "/tmp " .. dir .. "/www")
    local f = assert(io.open(dir .. "/www/usage.json", "wb"))
    f:write('{"item":{"iccid":"1"}}')
    f:close()
    f = assert(io.open(dir .. "/nginx.conf", "wb"))
    f:write(([[
      worker_processes 1;
      error_log logs/error.log warn;
      pid logs/nginx.pid;
      events { worker_connections 64; }
      http {
        access_log off;
        client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
        uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
        server {
          listen 127.0.0.1:%d ssl http2;
          ssl_certificate %s;
          ssl_certificate_key %s;
          root %s/www;
          default_type application/json;
          add_header X-Conn $connection always;
        }
      }
    ]]):format(port, cert, key, dir))
    f:close()
    os.execute("chmod -R a+rX " .. dir)
    assert(os.execute("env -u LD_PRELOAD nginx -p " .. dir .. " -c nginx.conf"), "nginx did not start")
  end)

  teardown(function()
    if dir then
      os.execute("env -u LD_PRELOAD nginx -p " .. dir .. " -c nginx.conf -s stop 2>/dev/null")
      procs.rmdir(dir)
    end
  end)

  it("multiplexes the transfers over one connection", function()
    if not have_nginx() then return pending("needs nginx and a libcurl with HTTP/2") end
    local m = new_multi { ca_file = cert, max_connections = 8 }
    local url = ("https://127.0.0.1:%d/usage.json"):format(port)
    local ids = {}
    for i = 1, 20 do ids[i] = m:add { url = url } end
    local out = collect(m, 20)
    local conns = {}
    for _, id in ipairs(ids) do
      local res = assert(out[id].res, tostring(out[id].err))
      assert.equals(200, res.status)
      assert.equals("2", res.http_version)
      conns[res.headers["x-conn"]] = true
    end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.equals(1, n)
    m:close()
  end)
end)
