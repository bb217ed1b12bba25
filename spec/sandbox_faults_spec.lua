-- luacheck: std +busted
-- The sandbox's faults, key limits and rate limit: first on the handler
-- (plain data, no sockets), then observed from a raw HTTP client over
-- 127.0.0.1 against the real server. Bodies are decoded with lua-cjson so
-- that these specs do not lean on the SDK's codec.
--
-- Timing: waits the server promises (delay_ms, drip_ms, --latency-ms) are
-- checked as lower bounds only, which load cannot break; "others are served
-- meanwhile" is shown by order (an answer arrives while another is still
-- withheld), except the latency spec's one upper bound, which a serial server
-- could not meet and a concurrent one misses only if it stalls for seconds.
-- The sandbox is a Lua 5.4 program (integer arithmetic throughout): under
-- LuaJIT its own specs skip, while the SDK's specs still run it as a lua5.4
-- subprocess.
if _VERSION ~= "Lua 5.4" then
  return describe("sandbox faults", function()
    pending("skipped: the sandbox runs under Lua 5.4 only, not " .. _VERSION)
  end)
end
local cjson = require "cjson"
local socket = require "socket"
local handler = require "flexiroam.sandbox.handler"
local faults = require "flexiroam.sandbox.faults"
local keys = require "flexiroam.sandbox.keys"
local ratelimit = require "flexiroam.sandbox.ratelimit"
local support = require "spec.support.sandbox"

local KEY = "sandbox-key"
local LIST = "/v1/public-v2/list-inventory"
local FAULTS = "/__sandbox/faults"

local function call(h, method, path, headers, body, remote_addr)
  return h:handle {
    method = method, path = path, query = "", headers = headers or { ["x-api-key"] = KEY },
    body = body or "", remote_addr = remote_addr or "127.0.0.1",
  }
end

local function with_fault(spec, extra)
  local headers = { ["x-api-key"] = KEY, ["x-sandbox-fault"] = spec }
  for k, v in pairs(extra or {}) do headers[k] = v end
  return headers
end

local function assert_error(res, status, code)
  assert.equals(status, res.status)
  assert.equals("application/json", res.headers["content-type"])
  local body = cjson.decode(res.body)
  assert.equals(code, body.code)
  assert.equals("string", type(body.message))
  return body
end

-- A handler with a write route whose effect is visible: each call counts.
local function counting_handler(opts)
  local writes = { n = 0 }
  opts = opts or {}
  opts.routes = {
    ["POST /__sandbox/test-write"] = function(h)
      writes.n = writes.n + 1
      return h:json(200, { written = writes.n })
    end,
  }
  return handler.new(opts), writes
end

describe("sandbox fault grammar", function()
  it("reads every fault and its modifiers", function()
    local cases = {
      ["status=503"] = { kind = "status", status = 503 },
      ["status=429;retry_after=2"] = { kind = "status", status = 429, retry_after = 2 },
      [" status=429 ; retry_after=0 "] = { kind = "status", status = 429, retry_after = 0 },
      html502 = { kind = "html502" },
      garbage = { kind = "garbage" },
      envelope = { kind = "envelope" },
      reset = { kind = "reset" },
      truncate = { kind = "truncate" },
      ["delay_ms=250"] = { kind = "delay", delay_ms = 250 },
      ["drip_ms=20"] = { kind = "drip", ms = 20 },
      ["drip_ms=20;drip_bytes=3"] = { kind = "drip", ms = 20, bytes = 3 },
      ["after_commit=reset"] = { kind = "after_commit", reset = true },
      ["after_commit=500"] = { kind = "after_commit", status = 500 },
      ["delay_ms=100;status=502"] = { kind = "status", status = 502, delay_ms = 100 },
      ["reset;delay_ms=100"] = { kind = "reset", delay_ms = 100 },
    }
    for text, expected in pairs(cases) do
      local fault = assert(faults.parse(text), text)
      expected.spec = text
      assert.same(expected, fault)
    end
  end)

  it("refuses malformed faults with a reason", function()
    for _, text in ipairs {
      "", "  ", "bogus", "status", "status=", "status=200", "status=600", "status=5o3", "status=+503",
      "html502=1", "reset=now", "delay_ms=0", "delay_ms=-5", "delay_ms=60001", "delay_ms=1.5", "drip_ms",
      "after_commit=close", "after_commit=200", "status=503;status=504", "garbage;envelope",
      "retry_after=2", "html502;retry_after=2", "status=503;retry_after=x", "drip_bytes=4",
      "delay_ms=10;delay_ms=20", "status=503;;", string.rep("reset;", 50), 42,
    } do
      local fault, why = faults.parse(text)
      assert.is_nil(fault, tostring(text))
      assert.equals("string", type(why), tostring(text))
    end
  end)
end)

describe("sandbox handler faults", function()
  it("answers status faults in JSON, with Retry-After when asked, without running the route", function()
    local h, writes = counting_handler()
    local res = call(h, "POST", "/__sandbox/test-write", with_fault("status=503"))
    assert_error(res, 503, "service_unavailable")
    res = call(h, "POST", "/__sandbox/test-write", with_fault("status=429;retry_after=2"))
    assert_error(res, 429, "rate_limited")
    assert.equals("2", res.headers["retry-after"])
    assert_error(call(h, "GET", LIST, with_fault("status=418")), 418, "error")
    assert.equals(0, writes.n)
  end)

  it("answers html502, garbage and envelope in the route's place", function()
    local h = handler.new { sims = 5 }
    local res = call(h, "GET", LIST, with_fault("html502"))
    assert.equals(502, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("<html>", res.body)
    res = call(h, "GET", LIST, with_fault("garbage"))
    assert.equals(200, res.status)
    assert.is_false(pcall(cjson.decode, res.body))
    res = call(h, "GET", LIST, with_fault("envelope"))
    assert.equals(200, res.status)
    local body = cjson.decode(res.body)
    assert.is_false(body.success)
    assert.equals("string", type(body.msg))
    assert.is_nil(body.items)
  end)

  it("puts socket-level faults in res.fault as plain data", function()
    local h, writes = counting_handler()
    local res = call(h, "POST", "/__sandbox/test-write", with_fault("reset"))
    assert.same({ action = "reset", spec = "reset" }, res.fault)
    assert.equals(0, writes.n, "reset answers before the route")

    res = call(h, "POST", "/__sandbox/test-write", with_fault("truncate"))
    assert.same({ action = "truncate", spec = "truncate" }, res.fault)
    assert.same({ written = 1 }, cjson.decode(res.body))

    res = call(h, "GET", LIST, with_fault("delay_ms=40"))
    assert.equals(200, res.status)
    assert.same({ action = "delay", delay_ms = 40, spec = "delay_ms=40" }, res.fault)

    res = call(h, "GET", LIST, with_fault("drip_ms=5"))
    assert.same({ action = "drip", ms = 5, bytes = 16, spec = "drip_ms=5" }, res.fault)

    res = call(h, "GET", LIST, with_fault("delay_ms=30;reset"))
    assert.same({ action = "reset", delay_ms = 30, spec = "delay_ms=30;reset" }, res.fault)

    -- no fault, no directive
    assert.is_nil(call(h, "GET", LIST).fault)
  end)

  it("runs the route for after_commit faults, then withholds or replaces its answer", function()
    local h, writes = counting_handler()
    local res = call(h, "POST", "/__sandbox/test-write", with_fault("after_commit=reset"))
    assert.equals(1, writes.n)
    assert.equals("reset", res.fault.action)
    assert.is_true(res.fault.committed)
    res = call(h, "POST", "/__sandbox/test-write", with_fault("after_commit=500"))
    assert.equals(2, writes.n)
    assert_error(res, 500, "internal_error")
    assert.is_nil(res.fault)
    assert_error(call(h, "POST", "/__sandbox/test-write", with_fault("after_commit=503")), 503, "service_unavailable")
    assert.equals(3, writes.n)
  end)

  it("answers a malformed x-sandbox-fault with 400 and does not run the route", function()
    local h, writes = counting_handler()
    local body = assert_error(call(h, "POST", "/__sandbox/test-write", with_fault("status=9000")), 400, "bad_request")
    assert.matches("x%-sandbox%-fault", body.message)
    assert.equals(0, writes.n)
  end)

  it("puts faults in front of the key check, and lets a delivery fault carry the route's 401", function()
    local h = handler.new { sims = 5 }
    assert.equals(503, call(h, "GET", LIST, { ["x-sandbox-fault"] = "status=503" }).status)
    local res = call(h, "GET", LIST, { ["x-sandbox-fault"] = "delay_ms=5" })
    assert_error(res, 401, "unauthorized")
    assert.equals("delay", res.fault.action)
  end)

  it("keeps the request id on every faulted answer", function()
    local h = handler.new { sims = 5 }
    for _, spec in ipairs { "status=500", "html502", "garbage", "envelope", "reset", "truncate", "after_commit=500" } do
      assert.matches("^sbx%-%d+$", call(h, "GET", LIST, with_fault(spec)).headers["x-request-id"], spec)
    end
  end)
end)

describe("sandbox fault queue", function()
  local h, writes
  before_each(function() h, writes = counting_handler() end)

  local function queue(body)
    return call(h, "POST", FAULTS, {}, cjson.encode(body))
  end

  local function pending_faults()
    local res = call(h, "GET", FAULTS, {})
    assert.equals(200, res.status)
    return cjson.decode(res.body).faults
  end

  it("applies a queued fault to exactly the next N requests to its path", function()
    local res = queue { path = LIST, fault = "status=503", times = 3 }
    assert.equals(201, res.status)
    assert.same({ path = LIST, fault = "status=503", times = 3 }, cjson.decode(res.body).queued)
    -- other paths are untouched
    assert.equals(200, call(h, "POST", "/__sandbox/test-write").status)
    for _ = 1, 3 do assert.equals(503, call(h, "GET", LIST).status) end
    assert.equals(200, call(h, "GET", LIST).status)
    assert.equals(200, call(h, "GET", LIST).status)
    assert.same({}, pending_faults())
  end)

  it("defaults times to 1 and runs queued faults in order", function()
    assert.equals(201, queue { path = LIST, fault = "status=502" }.status)
    assert.equals(201, queue { path = LIST, fault = "envelope", times = 2 }.status)
    assert.same({
      { path = LIST, fault = "status=502", remaining = 1 }, { path = LIST, fault = "envelope", remaining = 2 },
    }, pending_faults())
    assert.equals(502, call(h, "GET", LIST).status)
    assert.is_false(cjson.decode(call(h, "GET", LIST).body).success)
    assert.same({ { path = LIST, fault = "envelope", remaining = 1 } }, pending_faults())
    assert.is_false(cjson.decode(call(h, "GET", LIST).body).success)
    assert.equals(200, call(h, "GET", LIST).status)
  end)

  it("lets a request's own x-sandbox-fault win without using up the queued one", function()
    queue { path = LIST, fault = "status=503" }
    assert.equals(502, call(h, "GET", LIST, with_fault("html502")).status)
    assert.equals(503, call(h, "GET", LIST).status)
    assert.equals(200, call(h, "GET", LIST).status)
  end)

  it("queues after_commit faults for a write path", function()
    queue { path = "/__sandbox/test-write", fault = "after_commit=500", times = 2 }
    assert.equals(500, call(h, "POST", "/__sandbox/test-write").status)
    assert.equals(500, call(h, "POST", "/__sandbox/test-write").status)
    local res = call(h, "POST", "/__sandbox/test-write")
    assert.equals(200, res.status)
    assert.same({ written = 3 }, cjson.decode(res.body))
    assert.equals(3, writes.n)
  end)

  it("clears with DELETE and with clear_faults()", function()
    queue { path = LIST, fault = "reset", times = 5 }
    queue { path = "/__sandbox/test-write", fault = "garbage" }
    local res = call(h, "DELETE", FAULTS, {})
    assert.equals(200, res.status)
    assert.same({ cleared = 2 }, cjson.decode(res.body))
    assert.same({}, pending_faults())
    assert.equals(200, call(h, "GET", LIST).status)
    queue { path = LIST, fault = "reset" }
    assert.equals(1, h:clear_faults())
    assert.is_nil(call(h, "GET", LIST).fault)
  end)

  it("forgets queued faults on POST /__sandbox/reset", function()
    queue { path = LIST, fault = "reset", times = 3 }
    assert.equals(200, call(h, "POST", "/__sandbox/reset").status)
    assert.same({}, pending_faults())
    assert.is_nil(call(h, "GET", LIST).fault)
  end)

  it("refuses bad queue requests: 400 for a body or fault it cannot read, 422 for bad fields", function()
    assert_error(call(h, "POST", FAULTS, {}, "{nope"), 400, "bad_request")
    assert_error(call(h, "POST", FAULTS, {}, "[1]"), 400, "bad_request")
    assert_error(call(h, "POST", FAULTS, {}, ""), 400, "bad_request")
    local body = assert_error(queue { path = LIST, fault = "status=99" }, 400, "bad_request")
    assert.equals("string", type(body.fields.fault))
    body = assert_error(queue { fault = "reset" }, 422, "validation_failed")
    assert.equals("string", type(body.fields.path))
    assert_error(queue { path = "v1/no-slash", fault = "reset" }, 422, "validation_failed")
    assert_error(queue { path = LIST .. "?limit=1", fault = "reset" }, 422, "validation_failed")
    assert_error(queue { path = LIST, fault = 503 }, 422, "validation_failed")
    for _, times in ipairs { 0, -1, 1.5, "2", 1000001 } do
      body = assert_error(queue { path = LIST, fault = "reset", times = times }, 422, "validation_failed")
      assert.equals("string", type(body.fields.times), tostring(times))
    end
    assert.same({}, pending_faults())
    assert_error(call(h, "PUT", FAULTS, {}), 405, "method_not_allowed")
  end)
end)

describe("sandbox keys bound to addresses", function()
  it("parses keys with and without addresses", function()
    assert.same({ a = true, b = { ["127.0.0.2"] = true, ["10.0.0.1"] = true }, c = true },
      keys.parse("a,b@127.0.0.2,b@10.0.0.1,c@::1,c"))
    assert.same({ ["sandbox-key"] = true }, keys.parse(nil))
    assert.same({ x = { ["::1"] = true } }, keys.parse { "x@::1" })
    for _, bad in ipairs { "", ",", "@127.0.0.1", "k@", "k@host.example", "k@256.0.0.1", "k@1.2.3", "k@1@2" } do
      assert.is_nil(keys.parse(bad), bad)
    end
    assert.equals("127.0.0.2", keys.normalize("::ffff:127.0.0.2"))
  end)

  it("answers 403 to a bound key from another address, 200 from its own", function()
    local h = handler.new { sims = 5, keys = "open,bound@127.0.0.2,bound@::ffff:10.1.2.3" }
    local bound = { ["x-api-key"] = "bound" }
    local body = assert_error(call(h, "GET", LIST, bound, "", "127.0.0.1"), 403, "forbidden")
    assert.is_nil(body.message:find("bound", 1, true), "the key is not echoed")
    assert_error(h:handle { method = "GET", path = LIST, headers = bound }, 403, "forbidden")
    assert.equals(200, call(h, "GET", LIST, bound, "", "127.0.0.2").status)
    assert.equals(200, call(h, "GET", LIST, bound, "", "::ffff:127.0.0.2").status)
    assert.equals(200, call(h, "GET", LIST, bound, "", "10.1.2.3").status)
    assert.equals(200, call(h, "GET", LIST, { ["x-api-key"] = "open" }, "", "192.0.2.7").status)
    assert_error(call(h, "GET", LIST, { ["x-api-key"] = "other" }, "", "127.0.0.2"), 401, "unauthorized")
  end)

  it("refuses a malformed key list when the handler is made", function()
    assert.has_error(function() handler.new { keys = "k@nowhere" } end)
  end)
end)

describe("sandbox rate limit", function()
  local now
  local function clock() return now end
  before_each(function() now = 1000 end)

  it("allows N per sliding second, then 429 with Retry-After, and recovers", function()
    local h = handler.new { sims = 5, rate_limit = 3, clock = clock }
    for _ = 1, 3 do
      assert.equals(200, call(h, "GET", LIST).status)
      now = now + 0.1
    end
    -- requests at 1000.0, 1000.1, 1000.2; now 1000.3
    local res = call(h, "GET", LIST)
    assert_error(res, 429, "rate_limited")
    assert.equals("1", res.headers["retry-after"])
    now = 1000.95
    assert.equals(429, call(h, "GET", LIST).status)
    now = 1001.0 -- the first request has left the window
    assert.equals(200, call(h, "GET", LIST).status)
    assert.equals(429, call(h, "GET", LIST).status)
    now = 1001.1
    assert.equals(200, call(h, "GET", LIST).status)
  end)

  it("counts per key, not /__sandbox/ paths, and not refused or unauthorised requests", function()
    local h = handler.new { sims = 5, keys = "a,b", rate_limit = 1, clock = clock }
    assert.equals(200, call(h, "GET", LIST, { ["x-api-key"] = "a" }).status)
    assert.equals(429, call(h, "GET", LIST, { ["x-api-key"] = "a" }).status)
    assert.equals(200, call(h, "GET", LIST, { ["x-api-key"] = "b" }).status)
    assert.equals(401, call(h, "GET", LIST, { ["x-api-key"] = "c" }).status)
    assert.equals(200, call(h, "GET", "/__sandbox/stats", {}).status)
    now = now + 0.99
    -- hammering while limited does not push recovery back
    for _ = 1, 5 do assert.equals(429, call(h, "GET", LIST, { ["x-api-key"] = "a" }).status) end
    now = now + 0.01
    assert.equals(200, call(h, "GET", LIST, { ["x-api-key"] = "a" }).status)
  end)

  it("gives whole seconds to wait, at least one", function()
    local limiter = ratelimit.new(2, clock, 5)
    assert.is_true(limiter:check("k"))
    now = now + 0.5
    assert.is_true(limiter:check("k"))
    local ok, wait = limiter:check("k")
    assert.is_false(ok)
    assert.equals(5, wait) -- 4.5 s left, rounded up
    now = now + 4.2
    assert.same({ false, 1 }, { limiter:check("k") })
  end)
end)

describe("sandbox latency", function()
  it("marks every answer, rejections included, with latency_ms", function()
    local h = handler.new { sims = 5, latency_ms = 25 }
    assert.equals(25, call(h, "GET", LIST).latency_ms)
    assert.equals(25, call(h, "GET", LIST, with_fault("reset")).latency_ms)
    assert.equals(25, h:reject(400, "bad").latency_ms)
    assert.is_nil(call(handler.new { sims = 5 }, "GET", LIST).latency_ms)
  end)
end)

-- Raw HTTP over LuaSocket, every wait bounded.
local function connect(sb, from)
  local c = socket.tcp()
  c:settimeout(5)
  if from then assert(c:bind(from, 0)) end
  assert(c:connect(sb.host, sb.port))
  return c
end

local function request_text(method, target, headers, body)
  local lines = { method .. " " .. target .. " HTTP/1.1", "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- The status line and headers; nil, err, partial when the connection ends first.
local function read_head(c)
  local line, err, partial = c:receive("*l")
  if not line then return nil, err, partial end
  local res = { status = tonumber(line:match("^HTTP/1%.%d (%d%d%d) ")), headers = {} }
  while true do
    local h = assert(c:receive("*l"))
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.*)$")
    res.headers[name:lower()] = value
  end
  res.length = tonumber(res.headers["content-length"])
  return res
end

local function read_response(c)
  local res, err, partial = read_head(c)
  if not res then return nil, err, partial end
  res.body = res.length > 0 and assert(c:receive(res.length)) or ""
  return res
end

local function request(c, method, target, headers, body)
  assert(c:send(request_text(method, target, headers, body)))
  return assert(read_response(c))
end

local function fault_request(spec, method, target)
  local headers = { ["x-api-key"] = KEY, ["x-sandbox-fault"] = spec }
  return request_text(method or "GET", target or (LIST .. "?limit=1"), headers)
end

-- A request on a connection of its own, closed after.
local function once(sb, method, target, headers, body)
  local c = connect(sb)
  local res = request(c, method, target, headers, body)
  c:close()
  return res
end

local function closed_by_peer(c)
  local _, err = c:receive(1)
  return err == "closed" or err == "connection reset by peer"
end

-- Nothing has arrived yet on c (and it is still open).
local function nothing_yet(c)
  c:settimeout(0)
  local data, err, partial = c:receive(1)
  c:settimeout(5)
  return data == nil and err == "timeout" and partial == ""
end

describe("sandbox server faults (raw HTTP)", function()
  local sb
  setup(function() sb = support.start { sims = 20, seed = 3 } end)
  teardown(function()
    if sb then
      sb:stop()
      -- no connection ever failed inside the server
      assert.equals("", sb.stderr)
    end
  end)
  after_each(function() once(sb, "DELETE", FAULTS) end)

  it("answers status faults in JSON, with Retry-After", function()
    local c = connect(sb)
    assert(c:send(fault_request("status=503")))
    local res = assert(read_response(c))
    assert.equals(503, res.status)
    assert.equals("service_unavailable", cjson.decode(res.body).code)
    assert(c:send(fault_request("status=429;retry_after=2")))
    res = assert(read_response(c))
    assert.equals(429, res.status)
    assert.equals("2", res.headers["retry-after"])
    assert.equals("rate_limited", cjson.decode(res.body).code)
    -- the connection stays usable
    assert.equals(200, request(c, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY }).status)
    c:close()
  end)

  it("answers html502, garbage and envelope", function()
    local c = connect(sb)
    assert(c:send(fault_request("html502")))
    local res = assert(read_response(c))
    assert.equals(502, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("^<html>", res.body)
    assert(c:send(fault_request("garbage")))
    res = assert(read_response(c))
    assert.equals(200, res.status)
    assert.equals("application/json", res.headers["content-type"])
    assert.is_false(pcall(cjson.decode, res.body))
    assert(c:send(fault_request("envelope")))
    res = assert(read_response(c))
    assert.equals(200, res.status)
    assert.same({ success = false, msg = "injected fault: request failed" }, cjson.decode(res.body))
    c:close()
  end)

  it("resets: the connection closes without a byte", function()
    local c = connect(sb)
    assert(c:send(fault_request("reset")))
    local line, err, partial = c:receive("*l")
    assert.is_nil(line)
    assert.is_true(err == "closed" or err == "connection reset by peer", err)
    assert.equals("", partial)
    c:close()
  end)

  it("truncates: fewer bytes than Content-Length, then the end of the stream", function()
    local whole = once(sb, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY })
    local c = connect(sb)
    assert(c:send(fault_request("truncate")))
    local res = assert(read_head(c))
    assert.equals(200, res.status)
    assert.equals(#whole.body, res.length)
    local body, err, partial = c:receive(res.length)
    assert.is_nil(body)
    assert.equals("closed", err)
    assert.equals(math.floor(#whole.body / 2), #partial)
    assert.equals(whole.body:sub(1, #partial), partial)
    c:close()
  end)

  it("delays an answer by at least delay_ms and keeps the connection", function()
    local c = connect(sb)
    local t0 = socket.gettime()
    assert(c:send(fault_request("delay_ms=300")))
    local res = assert(read_response(c))
    assert.is_true(socket.gettime() - t0 >= 0.3)
    assert.equals(1, #cjson.decode(res.body).items)
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
  end)

  it("serves other connections while one answer is delayed", function()
    local late = connect(sb)
    assert(late:send(fault_request("delay_ms=60000")))
    local res = once(sb, "GET", LIST .. "?limit=2", { ["x-api-key"] = KEY })
    assert.equals(2, #cjson.decode(res.body).items)
    assert.is_true(nothing_yet(late))
    late:close()
    -- and the sandbox still answers after the waiting client left
    assert.equals(200, once(sb, "GET", "/__sandbox/stats").status)
  end)

  it("drips the body in several pieces over time, then keeps the connection", function()
    local whole = once(sb, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY })
    local c = connect(sb)
    local t0 = socket.gettime()
    assert(c:send(fault_request("drip_ms=20;drip_bytes=" .. math.ceil(#whole.body / 5))))
    local res = assert(read_head(c))
    assert.equals(#whole.body, res.length)
    -- short reads: each returns what has come so far
    local got, reads, received = {}, 0, 0
    local deadline = socket.gettime() + 10
    c:settimeout(0.005)
    while received < res.length and socket.gettime() < deadline do
      local data, err, partial = c:receive(res.length - received)
      data = data or partial
      assert.is_true(err == nil or err == "timeout", err)
      if data ~= "" then
        reads = reads + 1
        got[#got + 1] = data
        received = received + #data
      end
    end
    c:settimeout(5)
    assert.equals(whole.body, table.concat(got))
    assert.is_true(reads >= 2, "pieces seen: " .. reads)
    assert.is_true(socket.gettime() - t0 >= 4 * 0.02) -- five pieces, four pauses
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
  end)

  it("serves others while it drips to a client that does not read", function()
    local slow = connect(sb)
    assert(slow:send(fault_request("drip_ms=50;drip_bytes=1")))
    assert.equals(200, once(sb, "GET", LIST .. "?limit=3", { ["x-api-key"] = KEY }).status)
    slow:close()
  end)

  it("after_commit=reset: the write happens, the client gets nothing", function()
    -- queuing a fault is a write whose effect GET /__sandbox/faults shows
    local c = connect(sb)
    local body = cjson.encode { path = "/v1/after-commit", fault = "status=500" }
    assert(c:send(request_text("POST", FAULTS, { ["x-sandbox-fault"] = "after_commit=reset" }, body)))
    local line, err, partial = c:receive("*l")
    assert.is_nil(line)
    assert.is_true(err == "closed" or err == "connection reset by peer", err)
    assert.equals("", partial)
    c:close()
    local listed = cjson.decode(once(sb, "GET", FAULTS).body).faults
    assert.same({ { path = "/v1/after-commit", fault = "status=500", remaining = 1 } }, listed)
  end)

  it("after_commit=500: the write happens, the client gets a 500", function()
    local body = cjson.encode { path = "/v1/after-commit", fault = "reset", times = 4 }
    local res = once(sb, "POST", FAULTS, { ["x-sandbox-fault"] = "after_commit=500" }, body)
    assert.equals(500, res.status)
    assert.equals("internal_error", cjson.decode(res.body).code)
    local listed = cjson.decode(once(sb, "GET", FAULTS).body).faults
    assert.same({ { path = "/v1/after-commit", fault = "reset", remaining = 4 } }, listed)
  end)

  it("after_commit on a real purchase: the order and its one charge exist, the answer never came", function()
    local key = { ["x-api-key"] = KEY }
    local sims = cjson.decode(once(sb, "GET", LIST .. "?chip_type=esim&search_by=availability&search=free&limit=2",
      key).body).items
    local plans = cjson.decode(once(sb, "GET", "/v1/public-v2/list-plans?type=one_time&limit=1", key).body).items
    for i, fault in ipairs { "after_commit=reset", "after_commit=500" } do
      local reference = "after-commit-purchase-" .. i
      local body = cjson.encode { iccid = sims[i].iccid, plan_id = plans[1].id, reference = reference }
      local c = connect(sb)
      assert(c:send(request_text("POST", "/v1/public-v2/purchase-plan",
        { ["x-api-key"] = KEY, ["x-sandbox-fault"] = fault, ["Content-Type"] = "application/json" }, body)))
      local res, err = read_response(c)
      c:close()
      if fault == "after_commit=reset" then
        assert.is_nil(res)
        assert.is_true(err == "closed" or err == "connection reset by peer", err)
      else
        assert.equals(500, res.status)
      end
      local orders = cjson.decode(once(sb, "GET", "/v1/public-v2/list-orders?reference=" .. reference, key).body)
      assert.equals(1, #orders.items)
      assert.equals(sims[i].iccid, orders.items[1].iccid)
      local stats = cjson.decode(once(sb, "GET", "/__sandbox/stats").body)
      assert.equals(1, stats.charges[reference])
    end
  end)

  it("applies a queued fault to exactly N requests, then serves normally", function()
    local res = once(sb, "POST", FAULTS, {}, cjson.encode { path = LIST, fault = "status=503", times = 2 })
    assert.equals(201, res.status)
    local c = connect(sb)
    local statuses = {}
    for i = 1, 4 do statuses[i] = request(c, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY }).status end
    c:close()
    assert.same({ 503, 503, 200, 200 }, statuses)
  end)

  it("applies a queued connection fault, then keeps serving", function()
    once(sb, "POST", FAULTS, {}, cjson.encode { path = LIST, fault = "reset" })
    local c = connect(sb)
    assert(c:send(request_text("GET", LIST, { ["x-api-key"] = KEY })))
    assert.is_nil((c:receive("*l")))
    c:close()
    assert.equals(200, once(sb, "GET", LIST, { ["x-api-key"] = KEY }).status)
  end)

  it("answers a malformed x-sandbox-fault and a malformed queue request with 400", function()
    local res = once(sb, "GET", LIST, { ["x-api-key"] = KEY, ["x-sandbox-fault"] = "explode" })
    assert.equals(400, res.status)
    assert.equals("bad_request", cjson.decode(res.body).code)
    res = once(sb, "POST", FAULTS, {}, cjson.encode { path = LIST, fault = "status=1" })
    assert.equals(400, res.status)
    res = once(sb, "POST", FAULTS, {}, "{")
    assert.equals(400, res.status)
  end)
end)

describe("sandbox server robustness (raw HTTP)", function()
  local sb
  setup(function() sb = support.start { sims = 20 } end)
  teardown(function()
    if sb then
      sb:stop()
      assert.equals("", sb.stderr)
    end
  end)

  it("serves 100 connections at once", function()
    local before = cjson.decode(once(sb, "GET", "/__sandbox/stats").body)
    local conns = {}
    for i = 1, 100 do
      conns[i] = connect(sb)
      assert(conns[i]:send(request_text("GET", LIST .. "?limit=" .. (i % 7 + 1), { ["x-api-key"] = KEY })))
    end
    for i = #conns, 1, -1 do
      local res = assert(read_response(conns[i]))
      assert.equals(200, res.status)
      assert.equals(i % 7 + 1, #cjson.decode(res.body).items)
      conns[i]:close()
    end
    local after = cjson.decode(once(sb, "GET", "/__sandbox/stats").body)
    assert.equals(before.connections + 101, after.connections)
    assert.equals(before.requests + 101, after.requests)
  end)

  it("answers malformed requests with 400 and keeps serving", function()
    for _, junk in ipairs {
      "\0\1\2\3\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    } do
      local c = connect(sb)
      assert(c:send(junk))
      local res = assert(read_response(c))
      assert.equals(400, res.status)
      assert.equals("bad_request", cjson.decode(res.body).code)
      assert.is_true(closed_by_peer(c))
      c:close()
    end
    assert.equals(200, once(sb, "GET", "/__sandbox/stats").status)
  end)
end)

describe("sandbox server keys and rate limit (raw HTTP)", function()
  it("answers 403 to a bound key from another address and 200 from its own", function()
    local sb = support.start { sims = 5, keys = { KEY, "bound@127.0.0.2" } }
    local ok, err = pcall(function()
      local res = once(sb, "GET", LIST, { ["x-api-key"] = "bound" })
      assert.equals(403, res.status)
      assert.equals("forbidden", cjson.decode(res.body).code)
      local c = connect(sb, "127.0.0.2")
      assert.equals(200, request(c, "GET", LIST, { ["x-api-key"] = "bound" }).status)
      -- an unbound key is good from anywhere
      assert.equals(200, request(c, "GET", LIST, { ["x-api-key"] = KEY }).status)
      c:close()
    end)
    sb:stop()
    assert(ok, err)
  end)

  it("answers 429 with Retry-After over --rate-limit, then recovers", function()
    local sb = support.start { sims = 5, rate_limit = 3 }
    local ok, err = pcall(function()
      local c = connect(sb)
      -- four requests in one write: the fourth is within the same second
      local one = request_text("GET", LIST .. "?limit=1", { ["x-api-key"] = KEY })
      assert(c:send(one:rep(4)))
      local statuses, last = {}, nil
      for i = 1, 4 do
        last = assert(read_response(c))
        statuses[i] = last.status
      end
      assert.same({ 200, 200, 200, 429 }, statuses)
      assert.equals("rate_limited", cjson.decode(last.body).code)
      local wait = tonumber(last.headers["retry-after"])
      assert.is_true(wait >= 1 and wait == math.floor(wait))
      socket.sleep(wait)
      assert.equals(200, request(c, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY }).status)
      c:close()
    end)
    sb:stop()
    assert(ok, err)
  end)

  it("adds --latency-ms to every answer without serialising connections", function()
    local latency = 1000
    local sb = support.start { sims = 5, latency_ms = latency }
    local ok, err = pcall(function()
      local conns = {}
      local t0 = socket.gettime()
      for i = 1, 8 do
        conns[i] = connect(sb)
        assert(conns[i]:send(request_text("GET", LIST .. "?limit=1", { ["x-api-key"] = KEY })))
      end
      for i = 1, 8 do
        assert.equals(200, assert(read_response(conns[i])).status)
        assert.is_true(socket.gettime() - t0 >= latency / 1000)
        conns[i]:close()
      end
      -- one after another they would take 8 s at least
      assert.is_true(socket.gettime() - t0 < 8 * latency / 1000)
    end)
    sb:stop()
    assert(ok, err)
  end)
end)

describe("sandbox command line: fault flags", function()
  local function run(args)
    local p = io.popen("lua5.4 bin/flexiroam-sandbox " .. args .. " 2>&1")
    local out = p:read("a")
    local _, how, code = p:close()
    return out, how, code
  end

  it("lists the new flags with --help", function()
    local out = run("--help")
    for _, flag in ipairs { "--rate-limit", "--latency-ms", "K@IP", "/__sandbox/faults", "x-sandbox-fault" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
  end)

  it("exits 2 on bad values", function()
    for _, args in ipairs { "--rate-limit 0", "--rate-limit x", "--latency-ms -1", "--latency-ms 60001",
      "--keys k@nowhere", "--keys @127.0.0.1", "--rate-limit" } do
      local out, how, code = run(args)
      assert.equals("exit", how)
      assert.equals(2, code, args)
      assert.matches("flexiroam%-sandbox: ", out)
    end
  end)
end)
