-- core.session over real sockets on 127.0.0.1: a test HTTP server and
-- `openssl s_server` run as separate processes (spec/support/).
local core = require "flexiroam.core"
local json = core.json
local procs = require "spec.support.test_processes"
local socket = require "socket"
local leaks = require "spec.support.leaks"

local SECRET = "sk_live_SESSION_SPEC_7c41e0"
local QUERY_SECRET = "qs_SESSION_SPEC_93ab"
-- Elapsed-time bounds only catch a hang; under valgrind everything is slower.
local MARGIN = os.getenv("FLEXIROAM_UNDER_VALGRIND") and 15 or 3

local function assert_no_secret(value)
  leaks.assert_absent(value, { [SECRET] = "the API key", [QUERY_SECRET] = "the query string" })
end

-- An error from a request that carried the secret in a header and the query.
local function assert_clean_error(err)
  assert.are.equal(core.error_mt, getmetatable(err))
  assert_no_secret(err)
  assert_no_secret(tostring(err))
  assert_no_secret(err.message)
end

-- A proxy set in the environment must not capture requests to 127.0.0.1.
local function new_session(opts)
  opts = opts or {}
  if opts.proxy == nil then opts.proxy = "" end
  return core.session(opts)
end

local function raises(pattern, fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(msg))
  return msg
end

describe("core.session", function()
  local server, base

  setup(function()
    server = procs.http_server()
    base = ("http://127.0.0.1:%d"):format(server.port)
  end)

  teardown(function()
    procs.stop(server)
  end)

  local function split_request(raw)
    local head_end = assert(raw:find("\r\n\r\n", 1, true))
    local head, body = raw:sub(1, head_end + 1), raw:sub(head_end + 4)
    local lines = {}
    for line in head:gmatch("([^\r\n]*)\r\n") do lines[#lines + 1] = line end
    local headers = {}
    for i = 2, #lines do
      local name, value = lines[i]:match("^([^:]+):%s*(.*)$")
      headers[name:lower()] = value
    end
    return lines[1], headers, body
  end

  describe("requests on the wire", function()
    it("sends the method, path and query, custom headers, no Expect and a binary body", function()
      local s = new_session()
      local body = "a\0b\r\nc\255" .. ("\0"):rep(5)
      local r = assert(s:request {
        method = "POST",
        url = base .. "/echo?a=1&b=two%20x",
        headers = { ["X-Api-Key"] = "k1", ["X-Custom"] = "v 2", ["X-Empty"] = "" },
        body = body,
      })
      assert.are.equal(200, r.status)
      local line, headers, sent = split_request(r.body)
      assert.are.equal("POST /echo?a=1&b=two%20x HTTP/1.1", line)
      assert.are.equal("k1", headers["x-api-key"])
      assert.are.equal("v 2", headers["x-custom"])
      assert.are.equal("", headers["x-empty"])
      assert.are.equal(tostring(#body), headers["content-length"])
      assert.is_nil(headers["expect"])
      assert.is_nil(headers["content-type"])
      assert.are.equal("flexiroam-lua/" .. core.VERSION, headers["user-agent"])
      assert.truthy(headers["accept-encoding"]:find("gzip", 1, true))
      assert.are.equal(body, sent)
      s:close()
    end)

    it("sends a large body whole without waiting for 100 Continue", function()
      local s = new_session { timeout_ms = 20000 }
      local body = ("0123456789\0"):rep(120000)
      local r = assert(s:request { method = "PUT", url = base .. "/echo", body = body,
        headers = { ["Content-Type"] = "application/octet-stream" } })
      local line, headers, sent = split_request(r.body)
      assert.are.equal("PUT /echo HTTP/1.1", line)
      assert.is_nil(headers["expect"])
      assert.are.equal("application/octet-stream", headers["content-type"])
      assert.are.equal(#body, #sent)
      assert.are.equal(body, sent)
      s:close()
    end)

    it("resets the method and body between requests on the reused handle", function()
      local s = new_session()
      local function request(method, body)
        local r = assert(s:request { method = method, url = base .. "/echo", body = body })
        return split_request(r.body)
      end
      local line, headers, body = request("POST", "one")
      assert.are.equal("POST /echo HTTP/1.1", line)
      assert.are.equal("3", headers["content-length"])
      assert.are.equal("one", body)
      line, headers, body = request("GET")
      assert.are.equal("GET /echo HTTP/1.1", line)
      assert.is_nil(headers["content-length"])
      assert.are.equal("", body)
      line, headers, body = request("PATCH", '{"a":1}')
      assert.are.equal("PATCH /echo HTTP/1.1", line)
      assert.are.equal("7", headers["content-length"])
      assert.are.equal('{"a":1}', body)
      line, headers = request("DELETE")
      assert.are.equal("DELETE /echo HTTP/1.1", line)
      assert.is_nil(headers["content-length"])
      line, headers, body = request("DELETE", "why")
      assert.are.equal("DELETE /echo HTTP/1.1", line)
      assert.are.equal("3", headers["content-length"])
      assert.are.equal("why", body)
      line, headers = request("POST")
      assert.are.equal("POST /echo HTTP/1.1", line)
      assert.are.equal("0", headers["content-length"])
      local r = assert(s:request { method = "HEAD", url = base .. "/echo" })
      assert.are.equal(200, r.status)
      assert.are.equal("", r.body)
      line = request(nil)
      assert.are.equal("GET /echo HTTP/1.1", line)
      s:close()
    end)

    it("sends each request's own headers only", function()
      local s = new_session()
      assert(s:request { url = base .. "/echo", headers = { ["X-First"] = "1" } })
      local r = assert(s:request { url = base .. "/echo", headers = { ["X-Second"] = "2" } })
      local _, headers = split_request(r.body)
      assert.is_nil(headers["x-first"])
      assert.are.equal("2", headers["x-second"])
      s:close()
    end)
  end)

  describe("responses", function()
    for _, code in ipairs { 200, 404, 500 } do
      it("returns status, lowercased and joined headers and body for " .. code, function()
        local s = new_session()
        local r, err = s:request { url = base .. "/status/" .. code .. "?x=1" }
        assert.is_nil(err)
        assert.are.equal(code, r.status)
        assert.are.equal("status " .. code, r.body)
        assert.are.equal("one", r.headers["x-single"])
        assert.are.equal("a, b", r.headers["x-multi"])
        assert.are.equal("Yes", r.headers["x-mixed-case"])
        assert.are.equal("c1=1, c2=2", r.headers["set-cookie"])
        assert.are.equal(tostring(#r.body), r.headers["content-length"])
        assert.is_nil(r.headers["X-Single"])
        assert.are.equal("1.1", r.http_version)
        assert.are.equal(base .. "/status/" .. code .. "?x=1", r.url)
        assert.is_false(r.reused)
        for _, k in ipairs { "dns", "connect", "tls", "first_byte", "total" } do
          assert.are.equal("number", type(r.timings[k]))
          assert.is_true(r.timings[k] >= 0)
        end
        assert.is_true(r.timings.total >= r.timings.first_byte)
        assert.is_true(r.timings.first_byte >= r.timings.connect)
        s:close()
      end)
    end

    describe("with decode (json.decode options)", function()
      -- The server keeps `text`, then a GET with decode fetches it.
      local function post(s, text, decode, status)
        assert.equals(204, assert(s:request { method = "POST", url = base .. "/body?k=spec", body = text }).status)
        return assert(s:request { url = base .. "/body?k=spec&status=" .. (status or 200), decode = decode })
      end

      it("answers a 2xx body that decodes as data, decoded from its buffer as json.decode decodes it", function()
        local s = new_session()
        local page = '{"items":[{"iccid":"89","sku":123456789012345678901234567890,"plan":{"name":"a","id":1}},7],' ..
          '"page_key":null,"t":"caf\\u00e9 \\ud83d\\ude00"}'
        local opts = { big_integers = "string" }
        local r = post(s, page, opts)
        assert.is_nil(r.body)
        assert.same(json.decode(page, opts), r.data)
        assert.is_true(json.is_array(r.data.items))
        assert.equals("123456789012345678901234567890", r.data.items[1].sku) -- past int64: its digits
        -- with select and select_meta, as the pipeline asks for fields
        local tree = { iccid = true, plan = { name = true } }
        local rec, sub = {}, {}
        r = post(s, page, { big_integers = "string", select = tree, select_at = "items",
          select_meta = { [tree] = rec, [tree.plan] = sub } })
        assert.same({ iccid = "89", plan = { name = "a" } }, r.data.items[1])
        assert.equals(rec, getmetatable(r.data.items[1]))
        assert.equals(sub, getmetatable(r.data.items[1].plan))
        assert.equals(200, r.status)
        assert.equals("application/json", r.headers["content-type"])
        -- a body as big as a page of 1000 SIMs, then a small one: the buffer is reused
        local many = {}
        for i = 1, 20000 do many[i] = { a = i } end
        local big = json.encode { items = json.array(many) }
        assert.equals(20000, #post(s, big, {}).data.items)
        assert.same({ 1 }, post(s, "[1]", {}).data)
        s:close()
      end)

      it("answers body as always for another status, an empty body, or a body that is not JSON", function()
        local s = new_session()
        for _, case in ipairs { { '{"error":"no"}', 404 }, { '{"error":"no"}', 500 }, { "", 200 },
          { "<html>502</html>", 200 }, { '{"a":1', 200 }, { '{"a":1} x', 201 } } do
          local r = post(s, case[1], {}, case[2])
          assert.equals(case[2], r.status)
          assert.equals(case[1], r.body)
          assert.is_nil(r.data)
        end
        s:close()
      end)

      it("raises on decode that is not a table, options json.decode refuses, or decode on a write", function()
        local s = new_session()
        raises("decode must be a table of json.decode options, got string", s.request, s,
          { url = base .. "/status/200", decode = "yes" })
        raises("big_integers must be", s.request, s, { url = base .. "/v1/x", decode = { big_integers = "maybe" } })
        -- the options are read after the answer: a write never takes them, so misuse never costs its outcome
        for _, method in ipairs { "POST", "PUT", "PATCH", "DELETE", "HEAD" } do
          raises("decode is for GET requests", s.request, s, { method = method, url = base .. "/count?tag=dec",
            body = (method ~= "DELETE" and method ~= "HEAD") and "{}" or nil, decode = {} })
        end
        assert.equals("0", assert(s:request { url = base .. "/hits?tag=dec" }).body) -- none was sent
        assert.equals("status 200", assert(s:request { url = base .. "/status/200" }).body) -- still usable
        s:close()
      end)
    end)

    it("answers HEAD with headers and no body, even past max_response_bytes", function()
      local s = new_session { max_response_bytes = 100 }
      local r = assert(s:request { method = "HEAD", url = base .. "/big?size=5000" })
      assert.are.equal(200, r.status)
      assert.are.equal("", r.body)
      assert.are.equal("5000", r.headers["content-length"])
      s:close()
    end)

    it("reports only the final response's headers after a 1xx", function()
      local s = new_session()
      local r = assert(s:request { url = base .. "/interim" })
      assert.are.equal(200, r.status)
      assert.are.equal("yes", r.headers["x-final"])
      assert.is_nil(r.headers["x-interim"])
      assert.is_nil(r.headers["link"])
      assert.are.equal("final", r.body)
      s:close()
    end)

    it("never follows a redirect", function()
      local s = new_session()
      local r = assert(s:request { url = base .. "/redirect", headers = { ["X-Api-Key"] = SECRET } })
      assert.are.equal(302, r.status)
      assert.are.equal(base .. "/echo", r.headers["location"])
      assert.are.equal("moved", r.body)
      assert.are.equal(base .. "/redirect", r.url)
      s:close()
    end)
  end)

  describe("proxy", function()
    it("sends absolute-form requests through the given proxy", function()
      local s = core.session { proxy = base }
      local r = assert(s:request { url = "http://flexiroam.invalid/echo?a=1" })
      assert.are.equal(200, r.status)
      local line, headers = split_request(r.body)
      assert.are.equal("GET http://flexiroam.invalid/echo?a=1 HTTP/1.1", line)
      assert.are.equal("flexiroam.invalid", headers["host"])
      s:close()
    end)
  end)

  describe("keep-alive", function()
    it("reuses one connection across requests", function()
      local s = new_session()
      local first = assert(s:request { url = base .. "/status/200" })
      assert.is_false(first.reused)
      for _ = 2, 5 do
        local r = assert(s:request { url = base .. "/status/200" })
        assert.is_true(r.reused)
        assert.are.equal(first.headers["x-conn"], r.headers["x-conn"])
        assert.are.equal(first.headers["x-accepted"], r.headers["x-accepted"])
      end
      s:close()
      local other = new_session()
      local r = assert(other:request { url = base .. "/status/200" })
      assert.is_false(r.reused)
      assert.are_not.equal(first.headers["x-conn"], r.headers["x-conn"])
      other:close()
    end)
  end)

  describe("transport failures", function()
    local function secret_request(s, path, extra)
      local req = { url = base .. path .. (path:find("?", 1, true) and "&" or "?") .. "key=" .. QUERY_SECRET,
        headers = { ["X-Api-Key"] = SECRET } }
      for k, v in pairs(extra or {}) do req[k] = v end
      return s:request(req)
    end

    it("returns a network error, not sent, when the connection is refused", function()
      local port = procs.free_port()
      local s = new_session()
      local r, err = s:request { method = "POST", body = "x", headers = { ["X-Api-Key"] = SECRET },
        url = ("http://127.0.0.1:%d/v1/orders?key=%s#frag"):format(port, QUERY_SECRET) }
      assert.is_nil(r)
      assert.are.equal("network", err.kind)
      assert.is_false(err.sent)
      assert.are.equal("COULDNT_CONNECT", err.curl_error)
      assert.are.equal(7, err.curl_code)
      assert.are.equal("POST", err.method)
      assert.are.equal(("http://127.0.0.1:%d/v1/orders"):format(port), err.url)
      assert.are.equal("string", type(err.message))
      assert.matches("^flexiroam: network: ", tostring(err))
      assert_clean_error(err)
      s:close()
    end)

    it("strips user info from the reported url", function()
      local port = procs.free_port()
      local s = new_session()
      local _, err = s:request { url = ("http://user:%s@127.0.0.1:%d/p?q=1"):format(SECRET, port) }
      assert.are.equal(("http://127.0.0.1:%d/p"):format(port), err.url)
      assert_clean_error(err)
      s:close()
    end)

    it("times out on a server that accepts and stalls", function()
      local s = new_session { timeout_ms = 30000 }
      local t0 = socket.gettime()
      local r, err = secret_request(s, "/stall", { timeout_ms = 300 })
      local elapsed = socket.gettime() - t0
      assert.is_nil(r)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("OPERATION_TIMEDOUT", err.curl_error)
      assert.is_true(err.sent)
      assert.is_true(elapsed >= 0.25, "returned before the timeout: " .. elapsed)
      assert.is_true(elapsed < 0.3 + MARGIN, "took " .. elapsed)
      assert_clean_error(err)
      -- the same session still works afterwards
      assert.are.equal(200, assert(s:request { url = base .. "/status/200" }).status)
      s:close()
    end)

    it("aborts a transfer that drips below the low-speed limit", function()
      local s = new_session { low_speed_bytes = 1000, low_speed_ms = 1000, timeout_ms = 60000 }
      local t0 = socket.gettime()
      local r, err = secret_request(s, "/drip?n=200&every=0.1")
      local elapsed = socket.gettime() - t0
      assert.is_nil(r)
      assert.are.equal("timeout", err.kind)
      assert.is_true(err.sent)
      assert.matches("stalled", err.message)
      assert.is_true(elapsed < 2 + MARGIN, "took " .. elapsed)
      assert_clean_error(err)
      s:close()
    end)

    it("refuses a body over max_response_bytes announced by Content-Length", function()
      local s = new_session { max_response_bytes = 1000 }
      local r, err = secret_request(s, "/big?size=5000")
      assert.is_nil(r)
      assert.are.equal("too_large", err.kind)
      assert.are.equal("FILESIZE_EXCEEDED", err.curl_error)
      assert.matches("1000", err.message)
      assert_clean_error(err)
      local ok = assert(s:request { url = base .. "/big?size=1000" })
      assert.are.equal(1000, #ok.body)
      s:close()
    end)

    it("refuses a chunked body that grows past max_response_bytes", function()
      local s = new_session { max_response_bytes = 100000 }
      local r, err = secret_request(s, "/big?size=300000&chunked=1")
      assert.is_nil(r)
      assert.are.equal("too_large", err.kind)
      assert.are.equal("WRITE_ERROR", err.curl_error)
      assert.is_true(err.sent)
      assert_clean_error(err)
      local ok = assert(s:request { url = base .. "/big?size=100000&chunked=1" })
      assert.are.equal(("x"):rep(100000), ok.body)
      s:close()
    end)

    it("decodes gzip, and caps the decoded size rather than the compressed one", function()
      local s = new_session { max_response_bytes = 100000 }
      local r = assert(s:request { url = base .. "/gzip?size=50000" })
      assert.are.equal(("x"):rep(50000), r.body)
      assert.is_true(tonumber(r.headers["content-length"]) < 1000)
      local _, err = secret_request(s, "/gzip?size=1000000")
      assert.are.equal("too_large", err.kind)
      assert_clean_error(err)
      s:close()
    end)

    it("serves a large body and keeps working after it", function()
      local s = new_session()
      local r = assert(s:request { url = base .. "/big?size=3000000&chunked=1" })
      assert.are.equal(3000000, #r.body)
      r = assert(s:request { url = base .. "/status/200" })
      assert.are.equal("status 200", r.body)
      s:close()
    end)

    -- Counted in page faults, not time: growing the body buffer again for
    -- every big answer touched fresh pages on each call (217 faults a call
    -- for this 1 MB body of 244 pages); kept, what is left is the Lua
    -- string's own (37 on Lua 5.4, 0 on LuaJIT). In a fresh process: how
    -- glibc places a 1 MB block depends on what the process freed before
    -- (this spec's 3 MB body above made the old code look fine). The
    -- sanitizer and valgrind allocators hand out fresh memory by design
    -- (memory.own_allocator).
    local it_own_allocator = require("spec.support.memory").own_allocator() and it or pending
    it_own_allocator("keeps its body buffer across big answers instead of growing it again each time", function()
      local per_call, bytes = require("spec.support.memory").faults_per_call(([[
        local core = require "flexiroam.core"
        local s = core.session { proxy = "" }
        local function call() return #assert(s:request { url = %q }).body end
      ]]):format(base .. "/big?size=1000000"))
      local pages = math.floor(bytes / 4096)
      assert(bytes == 1000000, bytes)
      assert(per_call < pages / 3, ("%.1f page faults a call for a body of %d pages"):format(per_call, pages))
    end)

    it("returns a network error, sent, when the server resets mid-response", function()
      local s = new_session()
      local r, err = secret_request(s, "/reset")
      assert.is_nil(r)
      assert.are.equal("network", err.kind)
      assert.is_true(err.sent)
      assert.are.equal("GET", err.method)
      assert.are.equal(base .. "/reset", err.url)
      assert_clean_error(err)
      s:close()
    end)

    it("returns a network error for a name that does not resolve", function()
      local s = new_session { connect_timeout_ms = 5000 }
      local _, err = s:request { url = "http://name.invalid/x", headers = { ["X-Api-Key"] = SECRET } }
      assert.are.equal("network", err.kind)
      assert.is_false(err.sent)
      assert_clean_error(err)
      s:close()
    end)
  end)

  describe("https", function()
    local tls, cert

    setup(function()
      tls = procs.self_signed_tls()
      cert = tls and tls.cert
    end)

    teardown(function() procs.stop_tls(tls) end)

    local function url()
      return ("https://127.0.0.1:%d/?key=%s"):format(tls.port, QUERY_SECRET)
    end

    it("rejects a self-signed certificate by default", function()
      if not tls then return pending("openssl not installed") end
      local s = new_session()
      local r, err = s:request { url = url(), headers = { ["X-Api-Key"] = SECRET } }
      assert.is_nil(r)
      assert.are.equal("tls", err.kind)
      assert.is_false(err.sent)
      assert_clean_error(err)
      s:close()
    end)

    it("accepts it when given as ca_file", function()
      if not tls then return pending("openssl not installed") end
      local s = new_session { ca_file = cert }
      local r = assert(s:request { url = url() })
      assert.are.equal(200, r.status)
      assert.truthy(r.body:find("s_server", 1, true))
      assert.is_true(r.timings.tls > 0)
      s:close()
    end)

    it("accepts it with verify = false", function()
      if not tls then return pending("openssl not installed") end
      local s = new_session { verify = false }
      local r = assert(s:request { url = url() })
      assert.are.equal(200, r.status)
      s:close()
    end)
  end)

  describe("low-speed abort", function()
    it("waits past low_speed_ms for a server that thinks before answering", function()
      local s = new_session { low_speed_bytes = 1, low_speed_ms = 1000, timeout_ms = 20000 }
      local r, err = s:request { url = base .. "/think?ms=2000" }
      assert.is_nil(err)
      assert.are.equal(200, r.status)
      assert.are.equal("thought", r.body)
      s:close()
    end)

    it("times out a response that stalls after its headers, whatever is left of timeout_ms", function()
      local s = new_session { low_speed_bytes = 1, low_speed_ms = 1000, timeout_ms = 60000 }
      local t0 = socket.gettime()
      local r, err = s:request { url = base .. "/head-stall" }
      local elapsed = socket.gettime() - t0
      assert.is_nil(r)
      assert.are.equal("timeout", err.kind)
      assert.is_true(err.sent)
      assert.matches("stalled: fewer than 1 bytes arrived in 1000 ms", err.message)
      assert.is_true(elapsed >= 0.9, "returned before low_speed_ms: " .. elapsed)
      assert.is_true(elapsed < 2 + MARGIN, "took " .. elapsed)
      assert.are.equal(200, assert(s:request { url = base .. "/status/200" }).status)
      s:close()
    end)

    it("is off with low_speed_bytes = 0", function()
      local s = new_session { low_speed_bytes = 0, low_speed_ms = 1, timeout_ms = 20000 }
      local r = assert(s:request { url = base .. "/drip?n=3&every=0.2" })
      assert.are.equal("xxx", r.body)
      s:close()
    end)
  end)

  describe("writes are sent once", function()
    local tags = 0
    local function new_tag()
      tags = tags + 1
      return ("t%d_%d"):format(os.time(), tags)
    end
    local function hits(s, tag)
      return tonumber(assert(s:request { url = base .. "/hits?tag=" .. tag }).body)
    end

    for _, method in ipairs { "POST", "PUT", "PATCH", "DELETE" } do
      it("never re-sends a " .. method .. " the server read before dropping the connection", function()
        local s = new_session()
        -- a kept-alive connection is there to be reused
        assert.is_false(assert(s:request { url = base .. "/status/200" }).reused)
        assert.is_true(assert(s:request { url = base .. "/status/200" }).reused)
        local tag = new_tag()
        local r, err = s:request { method = method, url = base .. "/vanish?tag=" .. tag, body = '{"sku":1}' }
        assert.is_nil(r)
        assert.are.equal("network", err.kind)
        assert.is_true(err.sent)
        assert.are.equal(method, err.method)
        assert.are.equal(1, hits(s, tag))
        s:close()
      end)
    end

    it("sends a write on a connection of its own, reported as not reused", function()
      local s = new_session()
      assert(s:request { url = base .. "/status/200" })
      local tag = new_tag()
      -- /vanish-reused drops a connection that already served a request,
      -- as a server closing an idle keep-alive connection would
      local r = assert(s:request { method = "POST", url = base .. "/vanish-reused?tag=" .. tag, body = "{}" })
      assert.are.equal(200, r.status)
      assert.are.equal("answered", r.body)
      assert.is_false(r.reused)
      assert.are.equal(1, hits(s, tag))
      -- reads still ride the kept-alive connections
      assert.is_true(assert(s:request { url = base .. "/status/200" }).reused)
      s:close()
    end)
  end)

  describe("response headers", function()
    local function raw_head(case)
      local s = new_session()
      local r = assert(s:request { url = base .. "/raw-head?case=" .. case })
      s:close()
      assert.are.equal("ok", r.body)
      return r.headers
    end

    it("drops a line with whitespace before the colon, and a folded line after it", function()
      local h = raw_head("space_before_colon")
      assert.are.equal("1", h["x-before"])
      assert.are.equal("2", h["x-after"])
      assert.is_nil(h["x-sp "])
      assert.is_nil(h["x-sp"])
      for name, value in pairs(h) do
        assert.is_nil(name:find("[%s:]"), "kept a bad name: " .. name)
        assert.is_nil(value:find("folded", 1, true), "a folded line continued " .. name)
      end
    end)

    it("drops a name that is not a token, and a folded line after it", function()
      local h = raw_head("bad_name")
      assert.are.equal("1", h["x-before"])
      assert.are.equal("2", h["x-after"])
      assert.is_nil(h["x(bad)@"])
      for name, value in pairs(h) do
        assert.matches("^[%w!#$%%&'*+.^_`|~-]+$", name)
        assert.is_nil(value:find("folded", 1, true), "a folded line continued " .. name)
      end
    end)

    it("joins no empty value to another, and keeps a lone one", function()
      local h = raw_head("empty_values")
      assert.are.equal("late", h["x-empty"])
      assert.are.equal("a", h["x-late"])
      assert.are.equal("folded", h["x-fold-empty"])
      assert.are.equal("", h["x-none"])
    end)

    it("still joins the obsolete folding of a valid header", function()
      local h = raw_head("folded")
      assert.are.equal("a b c", h["x-fold"])
      assert.are.equal("2", h["x-after"])
    end)
  end)

  describe("error urls", function()
    for _, password in ipairs { "pa?ss" .. SECRET, "pa#ss" .. SECRET, "pa/ss" .. SECRET, "pa:ss?" .. SECRET,
      "pa%3Fss" .. SECRET } do
      it("never leaks a password like " .. password:sub(1, 7), function()
        local port = procs.free_port()
        local s = new_session()
        local url = ("http://user:%s@127.0.0.1:%d/p?q=%s"):format(password, port, QUERY_SECRET)
        local r, err = s:request { method = "POST", url = url, body = "x" }
        assert.is_nil(r)
        assert.are.equal("network", err.kind)
        assert_clean_error(err)
        -- what libcurl cannot parse is not echoed at all
        if err.url ~= "<unparseable url>" then
          assert.are.equal(("http://127.0.0.1:%d/p"):format(port), err.url)
        end
        s:close()
      end)
    end

    it("keeps the scheme, host, port and path, and nothing else", function()
      local s = new_session()
      local port = procs.free_port()
      local _, err = s:request { url = ("HTTP://u:pw@127.0.0.1:%d/a/b%%20c?x=1#frag"):format(port) }
      assert.are.equal(("http://127.0.0.1:%d/a/b%%20c"):format(port), err.url)
      _, err = s:request { url = ("http://[::1]:%d?x=%s"):format(port, QUERY_SECRET) }
      assert.are.equal(("http://[::1]:%d/"):format(port), err.url)
      s:close()
    end)
  end)

  describe("finalizers using the session during a request", function()
    -- Run in a child interpreter: its heap is small, so with the collector
    -- running all the time (pause 1%) the finalizers of the objects made
    -- before each request do run inside that request's own Lua allocations
    -- (argument checks, header lines, response table, headers), which a
    -- busted process with its large heap does not make happen reliably.
    -- Under `make asan` the child runs the ASan build too. Lua 5.1/LuaJIT
    -- never finalizes tables, so there the garbage is newproxy userdata.
    local PRELUDE = [[
      local core = require "flexiroam.core"
      local base = %q
      collectgarbage("setpause", 1)
      collectgarbage("setstepmul", 100)
      local in_request, during = false, 0
      local function finalized(gc)
        if not newproxy then return setmetatable({}, { __gc = gc }) end
        local u = newproxy(true)
        getmetatable(u).__gc = gc
        return u
      end
      local function garbage(n, action)
        for _ = 1, n do
          finalized(function()
            if in_request then
              during = during + 1
              action()
            end
          end)
        end
      end
      local function check_many(r, n, size)
        assert(r.status == 200 and r.body == "many", "outer response garbled")
        for i = 1, n do
          local v = tostring(i)
          assert(r.headers["x-h" .. i] == ("v"):rep(size - #v) .. v, "outer header x-h" .. i .. " garbled")
        end
      end
    ]]

    local function run(code)
      local out, why = procs.lua_child(PRELUDE:format(base) .. code)
      if not out then error(why) end
      return out
    end

    it("survives s:close() from a finalizer at any point of a request", function()
      local out = run [[
        local url = base .. "/many-headers?n=100&size=50"
        local target
        local answered, refused = 0, 0
        for _ = 1, 150 do
          local s = core.session { proxy = "" }
          target = s
          garbage(50, function() if target then target:close() end end)
          in_request = true
          local ok, r = pcall(s.request, s, { url = url })
          in_request = false
          target = nil
          if ok then
            answered = answered + 1
            check_many(r, 100, 50)
            assert(r.url == url, "url garbled")
          else
            refused = refused + 1
            assert(tostring(r):find("session is closed", 1, true), tostring(r))
          end
          s:close()
        end
        print("during", during, "answered", answered, "refused", refused)
      ]]
      local during, answered = out:match("^during\t(%d+)\tanswered\t(%d+)\trefused\t%d+\n$")
      assert(during, out)
      assert.is_true(tonumber(during) > 0, "no finalizer ran during a request")
      assert.is_true(tonumber(answered) > 0)
    end)

    it("survives s:request() from a finalizer at any point of a request", function()
      local out = run [[
        local s = core.session { proxy = "" }
        local inner_runs, budget = 0, 0
        -- at most two inner requests per outer one (none inside another:
        -- the collector does not run finalizers from a finalizer)
        local inner_bad
        local function inner()
          if budget == 0 then return end
          budget = budget - 1
          local r, err = s:request { url = base .. "/many-headers?n=400&size=120" }
          inner_runs = inner_runs + 1
          if not r then
            inner_bad = inner_bad or tostring(err)
          elseif r.headers["x-h400"] ~= ("v"):rep(117) .. "400" then
            inner_bad = inner_bad or "inner response garbled"
          end
        end
        local function outer(req)
          garbage(40, inner)
          budget = 2
          in_request = true
          local r = assert(s:request(req))
          in_request = false
          budget = 0
          return r
        end
        local sent = {}
        for i = 1, 40 do sent["X-Sent-" .. i] = ("s"):rep(i) end
        for round = 1, 30 do
          check_many(outer { url = base .. "/many-headers?n=100&size=50" }, 100, 50)
          local r = outer { method = "POST", url = base .. "/echo?round=" .. round, headers = sent, body = "b" }
          assert(r.body:find("^POST /echo%?round=" .. round .. " HTTP/1.1\r\n"), "echo garbled")
          for name, value in pairs(sent) do
            assert(r.body:find("\r\n" .. name .. ": " .. value .. "\r\n", 1, true), name .. " was lost")
          end
        end
        s:close()
        print("during", during, "inner", inner_runs, "bad", inner_bad or "none")
      ]]
      local during, inner, bad = out:match("^during\t(%d+)\tinner\t(%d+)\tbad\t([^\n]*)\n$")
      assert(during, out)
      assert.is_true(tonumber(inner) > 0, "no finalizer ran during a request")
      assert.are.equal("none", bad)
    end)
  end)

  describe("memory", function()
    it("sizes the body buffer from Content-Length up to 1 MiB only", function()
      local out, why = procs.lua_child(([[
        local core = require "flexiroam.core"
        local s = core.session { proxy = "" }
        assert(s:request { url = %q })
        local function vm_peak()
          for line in io.lines("/proc/self/status") do
            local kb = line:match("^VmPeak:%%s*(%%d+)")
            if kb then return tonumber(kb) end
          end
        end
        local before = vm_peak()
        local r, err = s:request { url = %q }
        print("partial", r == nil and err.curl_error)
        print("grew_kb", vm_peak() - before)
      ]]):format(base .. "/status/200", base .. "/lie?length=30000000"))
      if not out then return pending(why) end
      assert.matches("partial\tPARTIAL_FILE", out)
      local grew = tonumber(out:match("grew_kb%s+(%d+)"))
      assert(grew, out)
      assert.is_true(grew < 8 * 1024, "address space grew by " .. grew .. " kB")
    end)

    it("returns an error, with sent, when the body buffer cannot grow", function()
      local out, why = procs.lua_child(([[
        local core = require "flexiroam.core"
        local s = core.session { proxy = "", max_response_bytes = 2000000000, timeout_ms = 60000 }
        assert(s:request { url = %q })
        limit_memory(100 * 1024)
        local ok, r, err = pcall(s.request, s, { method = "POST", url = %q, body = "{}" })
        if not ok then print("raised", r) os.exit(0) end
        print("result", r == nil, err.kind, err.message, err.sent, err.curl_error)
      ]]):format(base .. "/status/200", base .. "/big?size=150000000&chunked=1"), true)
      if not out then return pending(why) end
      assert.matches("result\ttrue\tnetwork\tout of memory reading the response\ttrue\tWRITE_ERROR", out, 1, true)
    end)
  end)

  describe("argument checks", function()
    it("raises on invalid session options", function()
      raises("timeout_ms must be an integer from 1", core.session, { timeout_ms = 0 })
      raises("timeout_ms must be an integer from 1", core.session, { timeout_ms = -5 })
      raises("timeout_ms must be an integer, got string", core.session, { timeout_ms = "10" })
      raises("connect_timeout_ms must be an integer from 1", core.session, { connect_timeout_ms = 1.5 })
      raises("connect_timeout_ms", core.session, { connect_timeout_ms = 0 })
      raises("low_speed_ms must be an integer from 1", core.session, { low_speed_ms = 0 })
      raises("low_speed_bytes must be an integer from 0", core.session, { low_speed_bytes = -1 })
      raises("max_response_bytes must be an integer from 1", core.session, { max_response_bytes = 0 })
      raises("max_response_bytes", core.session, { max_response_bytes = 2 ^ 40 })
      raises("timeout_ms", core.session, { timeout_ms = 0 / 0 })
      raises("verify must be a boolean", core.session, { verify = "yes" })
      raises("ca_file must be a string", core.session, { ca_file = 1 })
      raises("proxy must not contain NUL", core.session, { proxy = "http://a\0b" })
      raises("unknown field 'timeout'", core.session, { timeout = 10 })
      raises("table expected", core.session, "fast")
      assert.truthy(core.session({ low_speed_bytes = 0 }):close() == nil)
    end)

    it("raises on invalid requests without revealing header values", function()
      local s = new_session()
      local url = base .. "/echo"
      raises("table expected", s.request, s, url)
      raises("method must be one of", s.request, s, { url = url, method = "get" })
      raises("method must be one of", s.request, s, { url = url, method = "TRACE" })
      raises("method must be a string", s.request, s, { url = url, method = 1 })
      raises("url must be a string", s.request, s, {})
      raises("url must start with http", s.request, s, { url = "ftp://127.0.0.1/" })
      raises("url must start with http", s.request, s, { url = "file:///etc/passwd" })
      raises("url must not contain", s.request, s, { url = base .. "/a b" })
      raises("url must not contain", s.request, s, { url = base .. "/a\r\nX: y" })
      raises("body must be a string", s.request, s, { url = url, method = "POST", body = 1 })
      raises("cannot carry a body", s.request, s, { url = url, body = "x" })
      raises("headers must be a table", s.request, s, { url = url, headers = "X: y" })
      raises("string names to string values", s.request, s, { url = url, headers = { ["X-N"] = 1 } })
      raises("string names to string values", s.request, s, { url = url, headers = { "x" } })
      raises("valid HTTP token", s.request, s, { url = url, headers = { ["X Bad"] = "v" } })
      raises("valid HTTP token", s.request, s, { url = url, headers = { ["X:Bad"] = "v" } })
      raises("valid HTTP token", s.request, s, { url = url, headers = { ["X\r\nY"] = "v" } })
      raises("timeout_ms must be an integer from 1", s.request, s, { url = url, timeout_ms = 0 })
      raises("unknown field 'query'", s.request, s, { url = url, query = "a=1" })
      for _, bad in ipairs { SECRET .. "\r\nX-Injected: 1", SECRET .. "\n", SECRET .. "\0" } do
        local msg = raises("header 'X%-Api%-Key' value contains CR, LF", s.request, s,
          { url = url, headers = { ["X-Api-Key"] = bad } })
        assert_no_secret(msg)
      end
      -- the session is still usable, with none of the refused headers left over
      local r = assert(s:request { url = url })
      local _, headers = split_request(r.body)
      assert.is_nil(headers["x-api-key"])
      s:close()
    end)
  end)

  describe("lifetime", function()
    it("closes idempotently and refuses use afterwards", function()
      local s = new_session()
      assert.matches("^flexiroam%.session: 0x%x+ %(open%)$", tostring(s))
      assert(s:request { url = base .. "/status/200" })
      s:close()
      s:close()
      assert.matches("^flexiroam%.session: 0x%x+ %(closed%)$", tostring(s))
      raises("session is closed", s.request, s, { url = base .. "/status/200" })
    end)

    it("is released by the garbage collector without close", function()
      for _ = 1, 3 do
        local s = new_session()
        assert(s:request { url = base .. "/status/200" })
      end
      collectgarbage()
      collectgarbage()
    end)

    it("closes through <close> in Lua 5.4", function()
      if _VERSION ~= "Lua 5.4" then return pending("to-be-closed variables need Lua 5.4") end
      local chunk = assert(load([[
        local core, url = ...
        local kept
        do
          local s <close> = core.session { proxy = "" }
          assert(s:request { url = url })
          kept = s
        end
        return kept
      ]]))
      local s = chunk(core, base .. "/status/200")
      assert.matches("%(closed%)$", tostring(s))
      raises("session is closed", s.request, s, { url = base .. "/status/200" })
    end)

    it("rejects other values as self", function()
      local s = new_session()
      raises("flexiroam.session expected", s.request, {}, { url = base })
      raises("flexiroam.session expected", s.close, io.stdout)
      s:close()
    end)
  end)

  describe("libcurl information", function()
    it("reports the version and features", function()
      assert.matches("^%d+%.%d+%.%d+", core.curl_version())
      local f = core.curl_features()
      assert.are.equal("boolean", type(f.http2))
      assert.are.equal("boolean", type(f.libz))
      assert.is_true(type(f.ssl) == "string" or f.ssl == false)
    end)
  end)
end)
