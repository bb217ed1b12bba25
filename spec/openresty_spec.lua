-- The SDK inside a real nginx (Debian nginx-light + libnginx-mod-http-lua,
-- LuaJIT, one worker, a private prefix on 127.0.0.1): handlers in
-- spec/support/openresty_app.lua speak to the sandbox through cosockets.
-- Skips, saying why, without nginx, its Lua module or the LuaJIT build.
local cjson = require "cjson"
local socket = require "socket"
local nginx = require "spec.support.nginx"
local processes = require "spec.support.test_processes"
local sandbox = require "spec.support.sandbox"

local LIST = "/v1/public-v2/list-inventory"
local SIMS, PSIM_EVERY = 40, 10

-- One HTTP/1.1 exchange on a fresh connection (Connection: close), bounded.
local function open(port, method, path, body)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  local head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"):format(method, path)
  if body then head = head .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n" end
  assert(c:send(head .. "\r\n" .. (body or "")))
  return c
end

local function finish(c)
  local raw, err, partial = c:receive("*a")
  c:close()
  raw = raw or (err == "closed" and partial) or error("no answer: " .. tostring(err))
  return processes.http_answer(raw)
end

-- Whether an answer is already waiting on c (the request behind it ended).
local function readable(c)
  local ready = socket.select({ c }, nil, 0)
  return ready[c] ~= nil
end

local function http(port, method, path, body)
  return finish(open(port, method, path, body))
end

local function get_json(port, path)
  local status, body = http(port, "GET", path)
  local ok, value = pcall(cjson.decode, body)
  assert(ok, ("GET %s answered %s with a body that is not JSON: %s"):format(path, tostring(status), body))
  return value, status
end

local missing = nginx.missing()

describe("OpenResty (nginx + ngx_lua)", function()
  if missing then
    it("runs inside nginx", function() pending("skipped: " .. missing) end)
    return
  end

  local sb, test_server, srv, tls_dir, tls_servers

  lazy_setup(function()
    sb = sandbox.start { sims = SIMS, seed = 5 }
    test_server = processes.http_server()
    -- Two TLS servers: one whose certificate names 127.0.0.1, one whose
    -- certificate is trusted but names another host.
    tls_dir = processes.tmpdir()
    local cert, key = processes.self_signed_cert(tls_dir)
    local wrong_cert, wrong_key = tls_dir .. "/wrong.pem", tls_dir .. "/wrong-key.pem"
    assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s"
      .. " -out %s -days 1 -subj /CN=wrong.example.invalid -addext subjectAltName=DNS:wrong.example.invalid"
      .. " >/dev/null 2>&1"):format(wrong_key, wrong_cert)))
    os.execute(("cat %s %s > %s/trusted.pem && chmod -R a+rX %s"):format(cert, wrong_cert, tls_dir, tls_dir))
    tls_servers = { processes.tls_server(cert, key), processes.tls_server(wrong_cert, wrong_key) }

    local vars = table.concat({
      ("set $sandbox_url %s;"):format(sb.url),
      ("set $test_server_url http://127.0.0.1:%d;"):format(test_server.port),
      ("set $closed_port %d;"):format(processes.free_port()),
      ("set $tls_port %d;"):format(tls_servers[1].port),
      ("set $wrong_name_tls_port %d;"):format(tls_servers[2].port),
    }, "\n    ")
    srv = nginx.start {
      http = ([[
  lua_shared_dict results 1m;
  init_worker_by_lua_block { require("spec.support.openresty_app").init_worker("%s") }
  server {
    listen 127.0.0.1:${port};
    %s
    location / { content_by_lua_block { require("spec.support.openresty_app").handle() } }
    location = /logged {
      content_by_lua_block { ngx.say("logged") }
      log_by_lua_block { require("spec.support.openresty_app").log_phase() }
    }
    location = /transport {
      lua_ssl_trusted_certificate %s/trusted.pem;
      content_by_lua_block { require("spec.support.openresty_app").handle() }
    }
    location = /untrusted {
      content_by_lua_block { require("spec.support.openresty_app").handle() }
    }
  }]]):format(sb.url, vars, tls_dir),
    }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if sb then sb:stop() end
    processes.stop(test_server)
    for _, p in ipairs(tls_servers or {}) do processes.stop(p) end
    processes.rmdir(tls_dir)
  end)

  -- Queues a fault for the next `times` (1) list-inventory requests.
  local function queue_fault(fault, times)
    local status = http(sb.port, "POST", "/__sandbox/faults",
      cjson.encode { path = LIST, fault = fault, times = times })
    assert.equals(201, status)
  end

  -- Until the sandbox has taken every queued fault: the requests they were
  -- for are in flight, and being held back.
  local function wait_faults_taken()
    local deadline = socket.gettime() + 5
    while socket.gettime() < deadline do
      if #get_json(sb.port, "/__sandbox/faults").faults == 0 then return end
      socket.sleep(0.01)
    end
    error("the held-back requests never reached the sandbox")
  end

  local function transport_case(name)
    return get_json(srv.port, "/transport?case=" .. name)
  end

  describe("the SDK in a content handler", function()
    it("lists the free eSIMs through cosockets", function()
      local out, status = get_json(srv.port, "/list")
      assert.equals(200, status)
      assert.equals(5, out.count)
      assert.is_true(out.all_free_esims)
      assert.equals("number", out.sku_type)
      -- The User-Agent names the transport chosen: nginx's cosockets.
      assert.matches("^flexiroam%-lua/[%d.]+ %(LuaJIT [^;]+; ngx_lua/%d+%.%d+%.%d+%)$", out.user_agent)
    end)

    it("iterates every page exactly once", function()
      local out = get_json(srv.port, "/iterate")
      assert.equals(SIMS - SIMS / PSIM_EVERY, out.count)
      assert.equals(0, out.duplicates)
    end)

    it("maps a wrong key to an auth error without the key in it", function()
      local out = get_json(srv.port, "/auth")
      assert.is_false(out.page)
      assert.equals("auth", out.error.kind)
      assert.equals(401, out.error.status)
      assert.equals(LIST, out.error.path)
      assert.is_false(out.leaked)
    end)

    it("reports a refused connection as a network error that sent nothing", function()
      local out = get_json(srv.port, "/refused")
      assert.equals("network", out.error.kind)
      assert.is_false(out.error.sent)
      assert.equals("GET", out.error.method)
      assert.equals(LIST, out.error.path)
      assert.matches("connection refused", out.error.message)
    end)

    it("buys a plan once per reference and returns the LPA install string", function()
      local out, status = get_json(srv.port, "/purchase")
      assert.equals(200, status, out.error and out.error.text)
      assert.equals(out.iccid, out.order_iccid)
      assert.equals(out.order_id, out.replay_order_id)
      assert.matches("^LPA:1%$[^$]+%$[%w-]+$", out.lpa)
    end)
  end)

  describe("phases without cosockets", function()
    it("refuses in init_worker_by_lua and log_by_lua, and works from a timer", function()
      http(srv.port, "GET", "/logged")
      local out
      local deadline = socket.gettime() + 5
      repeat
        out = get_json(srv.port, "/phases")
        if out.timer and out.log then break end
        socket.sleep(0.05)
      until socket.gettime() > deadline
      assert.matches("; ngx_lua/%d+%.%d+%.%d+%)$", out.user_agent_in_init_worker) -- the cosocket transport
      assert.matches("cannot send a request in nginx's 'init_worker' phase", out.init_worker)
      assert.matches("content_by_lua", out.init_worker)
      assert.matches("cannot send a request in nginx's 'log' phase", out.log)
      assert.equals("items 2", out.timer)
    end)
  end)

  describe("non-blocking", function()
    it("answers another request on the same worker while a handler waits on the API", function()
      queue_fault("delay_ms=1000")
      local slow = open(srv.port, "GET", "/slow")
      wait_faults_taken()
      local started = socket.gettime()
      local status, body = http(srv.port, "GET", "/fast")
      local elapsed = socket.gettime() - started
      local slow_done_first = readable(slow)
      local slow_status, slow_body = finish(slow)
      assert.equals(200, status, body)
      -- Order, not timing, is the proof: the fast answer came while the slow
      -- one was still held back.
      assert.is_false(slow_done_first)
      assert.is_true(elapsed < 0.5, ("the fast request took %.3f s"):format(elapsed))
      local out = cjson.decode(slow_body)
      assert.equals(200, slow_status)
      assert.is_true(out.ok, slow_body)
      assert.is_true(out.elapsed >= 0.9, "the slow call was not held back: " .. out.elapsed)
    end)

    it("whereas libcurl, asked for explicitly, blocks the worker (the control)", function()
      queue_fault("delay_ms=1000")
      local slow = open(srv.port, "GET", "/slow_curl")
      wait_faults_taken()
      local status = http(srv.port, "GET", "/fast")
      local slow_done_first = readable(slow)
      local slow_status, slow_body = finish(slow)
      assert.equals(200, status)
      assert.equals(200, slow_status)
      assert.is_true(cjson.decode(slow_body).ok, slow_body)
      assert.is_true(slow_done_first, "the fast request was answered while libcurl held the worker")
    end)
  end)

  describe("client:batch inside nginx", function()
    it("runs the calls at once, on light threads", function()
      queue_fault("delay_ms=400", 6)
      local out, status = get_json(srv.port, "/batch?n=6")
      assert.equals(200, status)
      assert.equals(6, out.ok, cjson.encode(out))
      assert.equals(6, out.pages)
      -- One after the other they would take 2.4 s.
      assert.is_true(out.elapsed >= 0.39, "the calls were not held back: " .. out.elapsed)
      assert.is_true(out.elapsed < 1.6, ("six 0.4 s calls took %.2f s: not at once"):format(out.elapsed))
    end)

    it("leaves the worker free for other requests while the batch waits", function()
      queue_fault("delay_ms=1000", 4)
      local slow = open(srv.port, "GET", "/batch?n=4")
      wait_faults_taken()
      local status = http(srv.port, "GET", "/fast")
      local batch_done_first = readable(slow)
      local slow_status, slow_body = finish(slow)
      assert.equals(200, status)
      assert.is_false(batch_done_first, "the fast request waited for the batch")
      assert.equals(200, slow_status)
      local out = cjson.decode(slow_body)
      assert.equals(4, out.ok, slow_body)
      assert.is_true(out.elapsed >= 0.9, slow_body)
    end)

    it("waits out one call's Retry-After while another is still in flight", function()
      queue_fault("status=503;retry_after=1")
      queue_fault("delay_ms=2500")
      local out = get_json(srv.port, "/batch_retry")
      assert.equals(2, out.ok, cjson.encode(out))
      assert.is_true(out.first >= 0.9, cjson.encode(out))
      assert.is_true(out.first < 2.0, "the retry waited for the other call: " .. cjson.encode(out))
      assert.is_true(out.last >= 2.4, cjson.encode(out))
    end)

    it("lets a progress callback sleep through nginx for its full time", function()
      queue_fault("delay_ms=300", 2)
      local out = get_json(srv.port, "/batch_sleepy_progress")
      assert.equals(4, out.ok, cjson.encode(out))
      assert.equals(4, #out.slept)
      for _, s in ipairs(out.slept) do
        assert.is_true(s >= 0.19, "a 0.2 s sleep ended early: " .. cjson.encode(out))
      end
    end)

    it("answers a refused connection as each call's own error", function()
      local out = get_json(srv.port, "/batch_refused?n=3")
      assert.equals(0, out.ok, cjson.encode(out))
      assert.equals(3, out.failed)
      assert.equals("network", out.error.kind)
      assert.is_false(out.error.sent)
    end)
  end)

  describe("waits between retries", function()
    -- One call answered 503 + Retry-After: 1, then retried; a second
    -- request goes to the same worker while the first waits. -> the
    -- worker's order of events: wait began, fast answered, wait ended.
    local function during_retry_wait(path)
      local status = http(sb.port, "POST", "/__sandbox/faults",
        cjson.encode { path = LIST, fault = "status=503;retry_after=1" })
      assert.equals(201, status)
      local slow = open(srv.port, "GET", path)
      local deadline = socket.gettime() + 5
      repeat
        socket.sleep(0.01)
      until #get_json(sb.port, "/__sandbox/faults").faults == 0 or socket.gettime() > deadline
      -- Past the 503's arrival, well inside the one-second wait.
      socket.sleep(0.2)
      local fast = get_json(srv.port, "/fast")
      local slow_status, slow_body = finish(slow)
      assert.equals(200, slow_status)
      local out = cjson.decode(slow_body)
      assert.is_true(out.ok, slow_body)
      assert.equals(1, out.retries)
      assert.is_true(out.elapsed >= 0.9, "the client did not wait for Retry-After: " .. out.elapsed)
      return out.waiting_from, fast.seq, out.resumed_at
    end

    it("yield to nginx (ngx.sleep): other requests are answered meanwhile", function()
      local waiting_from, fast, resumed_at = during_retry_wait("/retry_wait")
      assert.is_true(waiting_from < fast and fast < resumed_at,
        ("wait began at %d, fast answered at %d, wait ended at %d"):format(waiting_from, fast, resumed_at))
    end)

    it("would block the worker with the core's nanosleep (the control)", function()
      local waiting_from, fast, resumed_at = during_retry_wait("/retry_wait_blocking")
      assert.is_true(waiting_from < resumed_at and resumed_at < fast,
        ("wait began at %d, fast answered at %d, wait ended at %d"):format(waiting_from, fast, resumed_at))
    end)
  end)

  -- Keep-alive, bodies by Content-Length and chunks, max_response_bytes, 1xx
  -- answers, timeouts, a broken answer and a refused connection are cases
  -- of spec/transport_contract_spec.lua, run there on this transport inside
  -- nginx too; what is the cosocket transport's own stays here.
  describe("the cosocket transport", function()
    it("reads status, lowercased and joined headers, a Content-Length body", function()
      local out = transport_case("status")
      assert.equals(200, out.status)
      assert.equals("1.1", out.http_version)
      assert.equals("one", out.headers["x-single"])
      assert.equals("a, b", out.headers["x-multi"])
      assert.equals("Yes", out.headers["x-mixed-case"])
      assert.equals("status 200", out.body)
      assert.is_false(out.reused)
    end)

    it("sends the request line, Host, Content-Length, the caller's headers and Accept-Encoding: identity", function()
      local out = transport_case("echo")
      local head = out.body
      assert.matches("^POST /echo%?q=1 HTTP/1%.1\r\n", head)
      assert.matches("\r\nHost: 127%.0%.0%.1:%d+\r\n", head)
      assert.matches("\r\nContent%-Length: 7\r\n", head)
      assert.matches("\r\nX%-Api%-Key: k\r\n", head)
      -- no header would mean "any coding" (RFC 9110): it decodes none
      assert.matches("\r\nAccept%-Encoding: identity\r\n", head)
      assert.equals(1, select(2, head:lower():gsub("accept%-encoding", "")))
      assert.matches('\r\n\r\n{"a":1}$', head)
    end)

    it("raises on programmer mistakes, never quoting a header value", function()
      local out = transport_case("misuse")
      assert.matches("header 'X%-A' value contains CR, LF", out.injection)
      assert.is_nil(out.injection:find("Evil", 1, true))
      assert.matches("header name is not a valid HTTP token", out.bad_name)
      assert.matches("header 'Content%-Length' is the transport's to set", out.framing)
      assert.matches("a GET or HEAD request cannot carry a body", out.get_body)
      assert.matches("url must start with http:// or https://", out.scheme)
      assert.matches("unknown request field 'timeout'", out.field)
    end)

    it("retries on a new connection when a pooled one was dropped", function()
      local out = transport_case("stale")
      assert.equals(200, out.first.status)
      assert.equals(201, out.queued.status)
      -- a write never rides a pooled connection (docs/transport.md): the
      -- list's connection waits in the pool for the next GET
      assert.is_false(out.queued.reused)
      assert.equals(200, out.after.status, out.after.error and out.after.error.text)
      assert.matches('"faults":%[%]', out.faults.body)
    end)

    describe("https", function()
      it("verifies the certificate against lua_ssl_trusted_certificate", function()
        local out = transport_case("tls_trusted")
        assert.equals(200, out.status, out.error and out.error.text)
      end)

      it("refuses a trusted certificate for another host name", function()
        local out = transport_case("tls_wrong_name")
        assert.equals("tls", out.error.kind)
        assert.is_false(out.error.sent)
      end)

      it("refuses an unknown certificate and says where nginx looks", function()
        local out = get_json(srv.port, "/untrusted?case=tls_untrusted")
        assert.equals("tls", out.error.kind)
        assert.is_false(out.error.sent)
        assert.matches("lua_ssl_trusted_certificate", out.error.message)
      end)

      it("never lets an unknown certificate through, however the handshake completes", function()
        local out = get_json(srv.port, "/untrusted?case=tls_untrusted_many")
        assert.equals(0, out.passed)
        assert.equals(30, out.kinds.tls)
      end)

      it("skips verification only when asked to", function()
        local out = get_json(srv.port, "/untrusted?case=tls_unverified")
        assert.equals(200, out.status, out.error and out.error.text)
      end)
    end)
  end)
end)

-- examples/openresty as shipped: its nginx.conf (only the port and the
-- scratch directory changed) and its storefront handler, against the sandbox.
describe("examples/openresty storefront", function()
  if missing then
    it("runs inside nginx", function() pending("skipped: " .. missing) end)
    return
  end

  local sb, srv

  lazy_setup(function()
    sb = sandbox.start { sims = 12, seed = 9 }
    local dir = processes.tmpdir()
    os.execute("chmod 755 " .. dir)
    local port = processes.free_port()
    local conf = assert(io.open("examples/openresty/nginx.conf", "rb")):read("*a")
    local replaced
    conf, replaced = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
    assert.equals(1, replaced)
    conf = conf:gsub("build/openresty/", dir .. "/")
    local f = assert(io.open(dir .. "/nginx.conf", "wb"))
    f:write(conf)
    f:close()
    local pwd = io.popen("pwd")
    local root = pwd:read("*l")
    pwd:close()
    srv = nginx.launch {
      prefix = root, conf = dir .. "/nginx.conf", port = port, dir = dir,
      env = { FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = sb.url },
    }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if sb then sb:stop() end
  end)

  local function buy(plan_id, reference)
    local status, body = http(srv.port, "POST", "/buy", cjson.encode { plan_id = plan_id, reference = reference })
    return status, cjson.decode(body)
  end

  it("lists the one-time eSIM plans", function()
    local out, status = get_json(srv.port, "/plans?country=FRA")
    assert.equals(200, status)
    assert.is_true(#out.plans > 0)
    for _, plan in ipairs(out.plans) do
      assert.equals("string", type(plan.id))
      assert.equals("table", type(plan.price))
    end
  end)

  it("answers /plans from the catalogue cache its workers share: 20 page views, one API request", function()
    local sandbox_port = tonumber(sb.url:match(":(%d+)$"))
    local function api_requests() return get_json(sandbox_port, "/__sandbox/stats").requests end
    local before = api_requests()
    for _ = 1, 20 do
      local _, status = get_json(srv.port, "/plans?country=ESP")
      assert.equals(200, status)
    end
    assert.equals(before + 2, api_requests()) -- the one list_plans, and this look at the stats
  end)

  it("sells a plan and answers the LPA string; the same reference answers the same eSIM", function()
    local plans = get_json(srv.port, "/plans")
    local plan = plans.plans[1].id
    local status, sale = buy(plan, "shop-order-1001")
    assert.equals(201, status, cjson.encode(sale))
    assert.matches("^LPA:1%$[^$]+%$[%w-]+$", sale.lpa)
    assert.equals(plan, sale.plan_id)
    local again_status, again = buy(plan, "shop-order-1001")
    assert.equals(201, again_status)
    assert.equals(sale.order_id, again.order_id)
    assert.equals(sale.iccid, again.iccid)
    assert.is_false(sale.replayed)
    assert.is_true(again.replayed)
    local other_status, other = buy(plan, "shop-order-1002")
    assert.equals(201, other_status)
    assert.are_not.equals(sale.iccid, other.iccid)
  end)

  it("answers the data left on several eSIMs at once, each with its own answer", function()
    local plan = get_json(srv.port, "/plans").plans[1].id
    local _, first = buy(plan, "shop-order-3001")
    local _, second = buy(plan, "shop-order-3002")
    local bad = "89852350824010131082" -- the sample's ICCID with a wrong Luhn digit
    local out, status = get_json(srv.port, "/usage?iccid=" .. first.iccid .. "," .. second.iccid .. "," .. bad)
    assert.equals(200, status)
    assert.equals(3, #out.usage)
    for i, sale in ipairs { first, second } do
      assert.equals(sale.iccid, out.usage[i].iccid)
      assert.equals("string", type(out.usage[i].status), cjson.encode(out))
      assert.equals("number", type(out.usage[i].remaining_bytes))
    end
    assert.equals(bad, out.usage[3].iccid)
    assert.equals("validation", out.usage[3].error)
    assert.equals(400, (http(srv.port, "GET", "/usage")))
  end)

  it("answers the customer's mistakes with 4xx and the API's trouble with 5xx", function()
    local status, out = buy(nil, "r")
    assert.equals(400, status)
    assert.equals("bad_request", out.error)
    status, out = buy("NO-SUCH-PLAN", "shop-order-2001")
    assert.equals(404, status)
    assert.equals("not_found", out.error)
    local bad_status = http(srv.port, "GET", "/buy")
    assert.equals(403, bad_status)
  end)
end)
