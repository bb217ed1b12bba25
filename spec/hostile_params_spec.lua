-- Issue 14: CR, LF, NUL, spaces, "../", "?", "&", "#" in anything that goes
-- into a path, a query or a header are escaped, or refused before sending:
-- never on the wire raw. Proven against a real local server that hands back
-- the raw bytes it received (GET /wire on spec/support/http_test_server.lua),
-- for every operation of flexiroam.operations (iterated as data: a new one is
-- covered by itself) and every one of its parameters.
--
-- The rule for each call: it raises (misuse) or answers a validation error
-- before sending, and then nothing reaches the wire; or it is sent, and then
-- the one request on the wire has a clean request line (only unreserved
-- characters and percent-escapes), the operation's exact path, clean header
-- lines, a query or JSON body that decodes back to exactly the values given,
-- and no API key in the URL.
local procs = require "spec.support.test_processes"
local socket = require "socket"
local cjson = require "cjson"
local flexiroam = require "flexiroam"
local operations = require "flexiroam.operations"

local KEY = "hostile-key-123"
local ICCID = "89852350824010131081" -- 20 digits, valid Luhn
local LONG = ("a\r\nX-Injected: 1 ../?x=1&b=c#f%2e%2e/%\0 \195\169"):rep(60)

local HOSTILE = {
  "\r\n", "a\r\nX-Injected: 1", "\0", "a b", "../../admin", "?x=1", "a&b=c", "#frag", "%", "%2e%2e/",
  "\195\169", LONG,
}

-- Valid values for the parameters an operation requires; any other gets "v".
local VALID = { iccid = ICCID, plan_id = "FRA-1GB-7D", subscription_id = "sub-1", enabled = true }

-- The request line the brief allows: a method, "/" and unreserved
-- characters or percent-escapes, an optional query of the same and "=&".
local REQUEST_LINE = "^%u+ /[%w%-%._~/%%]*%??[%w%-%._~%%=&]* HTTP/1%.1\r\n$"
local TOKEN = "^[a-zA-Z0-9!#$%%&'*+%-.^_`|~]+$"

local function show(s)
  s = tostring(s)
  if #s > 120 then s = s:sub(1, 120) .. "..." end
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

local function has_control(s)
  return s:find("[%z\1-\8\10-\31\127]") ~= nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Percent-decoding; a "%" that does not begin an escape fails.
local function pct_decode(s)
  assert(not s:gsub("%%%x%x", ""):find("%", 1, true), "a bare '%' on the wire: " .. show(s))
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Everything the server received since the last /wire, asked for on a
-- connection of its own (an observer's, whose bytes /wire never hands out).
local function fetch_wire(port)
  local c = socket.tcp()
  c:settimeout(5)
  assert(c:connect("127.0.0.1", port))
  assert(c:send("GET /wire HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
  local length
  while true do
    local line = assert(c:receive("*l"))
    if line == "" then break end
    length = length or tonumber(line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)"))
  end
  assert(length, "/wire answered no Content-Length")
  local body = length > 0 and assert(c:receive(length)) or ""
  c:close()
  return body
end

-- The one request in `raw`, checked line by line -> {method, path, query,
-- headers = {lowercased name = value}, body}. Fails on anything after it
-- (a second, smuggled request).
local function parse_request(raw)
  local head_end = raw:find("\r\n\r\n", 1, true)
  assert(head_end, "no complete request head on the wire: " .. show(raw))
  local lines = {}
  for line in raw:sub(1, head_end + 1):gmatch("(.-)\r\n") do lines[#lines + 1] = line end
  local request_line = lines[1] .. "\r\n"
  assert(request_line:find(REQUEST_LINE), "request line with raw bytes: " .. show(request_line))
  assert(not request_line:find(KEY, 1, true), "the API key is in the URL")
  local method, target = lines[1]:match("^(%u+) (%S+) HTTP/1%.1$")
  local path, query = target:match("^([^?]*)%??(.*)$")
  local headers, counts = {}, {}
  for i = 2, #lines do
    local line = lines[i]
    assert(not line:find("[\r\n%z]"), "a header line holds a raw CR, LF or NUL: " .. show(line))
    local name, value = line:match("^([^:]*):[ \t]*(.-)[ \t]*$")
    assert(name and name:find(TOKEN), "a header line that is not one: " .. show(line))
    name = name:lower()
    assert.not_equals("x-injected", name)
    headers[name] = value
    counts[name] = (counts[name] or 0) + 1
  end
  assert.equals(1, counts["x-api-key"])
  assert.equals(KEY, headers["x-api-key"])
  local rest = raw:sub(head_end + 4)
  local length = tonumber(headers["content-length"] or "0")
  assert.equals(length, #rest, "bytes on the wire after the request's body")
  return { method = method, path = path, query = query, headers = headers, counts = counts, body = rest }
end

-- A query string -> {decoded name = decoded value}; every pair once.
local function parse_query(query)
  local map = {}
  if query == "" then return map end
  for pair in (query .. "&"):gmatch("([^&]*)&") do
    local k, v = pair:match("^([^=]*)=([^=]*)$")
    assert(k, "a query pair that is not one: " .. show(pair))
    k, v = pct_decode(k), pct_decode(v)
    assert.is_nil(map[k], "a parameter twice in the query: " .. show(k))
    map[k] = v
  end
  return map
end

local function wire_value(v)
  if type(v) == "boolean" then return tostring(v) end
  return v
end

describe("hostile values in paths, queries and headers (issue 14)", function()
  local srv, client, base

  local function wire() return fetch_wire(srv.port) end

  -- Runs fn: a raise or a validation error must leave the wire empty; a
  -- call that went out must have sent exactly one request, handed to
  -- check. -> "raised" | "refused" | "sent"
  local function outcome(what, fn, check)
    assert.equals("", wire(), "the wire was not empty before " .. what)
    local ok, res, err = pcall(fn)
    if not ok then
      assert.equals("", wire(), what .. " raised (" .. tostring(res) .. ") yet sent something")
      return "raised"
    end
    if res == nil then
      assert(err and err.kind == "validation" and err.sent == false,
        what .. " failed after sending: " .. tostring(err))
      assert.equals("", wire(), what .. " was refused yet sent something")
      return "refused"
    end
    check(parse_request(wire()))
    return "sent"
  end

  lazy_setup(function()
    srv = procs.http_server()
    base = "http://127.0.0.1:" .. srv.port
    client = flexiroam.new { api_key = KEY, base_url = base, retries = 0, timeout_ms = 5000 }
  end)

  lazy_teardown(function()
    if client then client:close() end
    procs.stop(srv)
  end)

  before_each(function() wire() end)

  -- The libcurl core refuses a raw CR, LF or NUL in a header or URL itself,
  -- so some checks of parse_request cannot trip through it: proven here on
  -- requests made by hand.
  it("the wire checks catch what they are for", function()
    local H = "x-api-key: " .. KEY .. "\r\n"
    local good = "GET /v1/a?b=%20 HTTP/1.1\r\n" .. H .. "\r\n"
    assert.equals("/v1/a", parse_request(good).path)
    for _, raw in ipairs {
      "GET /v1/a b HTTP/1.1\r\n" .. H .. "\r\n",                        -- a raw space
      "GET /v1/a?b=\r\nX HTTP/1.1\r\n" .. H .. "\r\n",                 -- a raw CR LF in the target
      "GET /v1/a#f HTTP/1.1\r\n" .. H .. "\r\n",                        -- a fragment
      "GET /v1/a?k=" .. KEY .. " HTTP/1.1\r\n" .. H .. "\r\n",          -- the key in the URL
      "GET /v1/a HTTP/1.1\r\n" .. H .. "X-Tenant: a\nb: c\r\n\r\n",     -- a bare LF in a header line
      "GET /v1/a HTTP/1.1\r\n" .. H .. "X-Tenant: a\0\r\n\r\n",         -- a NUL in a header line
      "GET /v1/a HTTP/1.1\r\n" .. H .. "X-Tenant: a\r\nX-Injected: 1\r\n\r\n",
      "GET /v1/a HTTP/1.1\r\n" .. H .. H .. "\r\n",                     -- the key twice
      "GET /v1/a HTTP/1.1\r\n" .. H .. "\r\n" .. "GET /admin HTTP/1.1\r\n\r\n", -- a smuggled second request
      "GET /v1/a HTTP/1.1\r\n" .. H .. "Content-Length: 2\r\n\r\nabc",  -- bytes after the body
    } do
      assert(not pcall(parse_request, raw), "parse_request took " .. show(raw))
    end
    assert(not pcall(parse_query, "a=%"))
    assert(not pcall(parse_query, "a=b=c"))
    assert(not pcall(parse_query, "a=1&a=2"))
    assert.same({ ["a&b"] = "\r\n" }, parse_query("a%26b=%0D%0A"))
  end)

  describe("every parameter of every operation", function()
    for _, name in ipairs(sorted_keys(operations)) do
      local op = operations[name]
      it(name .. " escapes or refuses each hostile value in each parameter", function()
        for _, param in ipairs(op.params or {}) do
          for _, hostile in ipairs(HOSTILE) do
            local params = {}
            for _, r in ipairs(op.required or {}) do params[r] = VALID[r] or "v" end
            params[param] = hostile
            local what = ("%s{%s = %s}"):format(name, param, show(hostile))
            local result = outcome(what, function() return client:call(name, params) end, function(req)
              assert.equals(op.method, req.method, what)
              assert.equals(op.path, req.path, what)
              assert.not_equals("x-injected", req.headers["x-injected"])
              if op.method == "GET" or op.method == "DELETE" then
                local expected = {}
                for k, v in pairs(params) do expected[k] = wire_value(v) end
                assert.same(expected, parse_query(req.query), what)
                assert.equals(hostile, parse_query(req.query)[param], what)
              else
                assert.equals("", req.query, what)
                assert(not req.body:find("[%z\1-\31]"), what .. ": a raw control character in the JSON body")
                assert.equals("application/json", req.headers["content-type"])
                local body = cjson.decode(req.body)
                assert.equals(hostile, body[param], what)
                for k, v in pairs(params) do assert.equals(v, body[k], what) end
                local accepted = {}
                for _, p in ipairs(op.params) do accepted[p] = true end
                for k in pairs(body) do assert(accepted[k], what .. ": a body field the operation lacks: " .. k) end
              end
            end)
            -- What the SDK checks refuses; everything else must go out escaped.
            if param == "iccid" or (param == (op.reference or "reference") and op.mode == "reference") then
              assert.equals("refused", result, what)
            else
              assert.equals("sent", result, what)
            end
          end
        end
        -- And with valid values only (an operation whose parameters are all
        -- checked refuses every hostile one): its exact path, nothing else.
        local params = {}
        for _, r in ipairs(op.required or {}) do params[r] = VALID[r] or "v" end
        assert.equals("sent", outcome(name .. " with valid values", function() return client:call(name, params) end,
          function(req)
            assert.equals(op.method, req.method)
            assert.equals(op.path, req.path)
          end))
      end)
    end
  end)

  describe("per-call options", function()
    it("headers: a value with CR, LF or NUL raises; any other goes out verbatim on its own line", function()
      for _, hostile in ipairs(HOSTILE) do
        for _, name in ipairs { "list_inventory", "cancel_subscription" } do
          local params = name == "cancel_subscription" and { subscription_id = "sub-1" } or {}
          local what = name .. " with header X-Tenant = " .. show(hostile)
          local result = outcome(what, function()
            return client:call(name, params, { headers = { ["X-Tenant"] = hostile } })
          end, function(req)
            assert.equals(hostile, req.headers["x-tenant"], what)
            assert.equals(1, req.counts["x-tenant"], what)
            assert.equals(operations[name].path, req.path, what)
          end)
          if has_control(hostile) then assert.equals("raised", result, what) end
        end
      end
    end)

    it("headers: a name that is not a token raises; a token name goes out as itself", function()
      for _, hostile in ipairs(HOSTILE) do
        local what = "a header named " .. show(hostile)
        local result = outcome(what, function()
          return client:list_inventory({}, { headers = { [hostile] = "v" } })
        end, function(req)
          assert.equals("v", req.headers[hostile:lower()], what)
        end)
        if not hostile:find(TOKEN) then assert.equals("raised", result, what) end
      end
    end)

    it("headers: an x-request-id among them is a header value like any other", function()
      for _, hostile in ipairs(HOSTILE) do
        local what = "x-request-id header " .. show(hostile)
        local result = outcome(what, function()
          return client:list_inventory({}, { headers = { ["X-Request-Id"] = hostile } })
        end, function(req)
          assert.equals(hostile, req.headers["x-request-id"], what)
          assert.equals(1, req.counts["x-request-id"], what)
        end)
        if has_control(hostile) then assert.equals("raised", result, what) end
      end
    end)

    it("request_id and correlation_id: only 1-128 of letters, digits and -._:/ are sent, verbatim", function()
      local correlated = flexiroam.new { api_key = KEY, base_url = base, retries = 0,
        correlation_header = "x-correlation-id" }
      for _, hostile in ipairs(HOSTILE) do
        for _, option in ipairs { "request_id", "correlation_id" } do
          local header = option == "request_id" and "x-request-id" or "x-correlation-id"
          local what = option .. " = " .. show(hostile)
          local result = outcome(what, function()
            return correlated:list_inventory({}, { [option] = hostile })
          end, function(req)
            assert.equals(hostile, req.headers[header], what)
            assert.equals("/v1/public-v2/list-inventory", req.path, what)
          end)
          if hostile:find("[^%w%-%._:/]") then assert.equals("raised", result, what) end
        end
      end
      correlated:close()
    end)

    it("reference: not a per-call option (raises); as a referenced write's parameter, refused", function()
      for _, hostile in ipairs(HOSTILE) do
        assert.equals("raised", outcome("opts.reference", function()
          return client:list_orders({}, { reference = hostile })
        end, function() end))
        for _, name in ipairs(sorted_keys(operations)) do
          local op = operations[name]
          if op.mode == "reference" then
            local params = {}
            for _, r in ipairs(op.required or {}) do params[r] = VALID[r] or "v" end
            params[op.reference or "reference"] = hostile
            local _, err = client:call(name, params)
            assert.equals("validation", err and err.kind, name .. " " .. show(hostile))
            assert.is_false(err.sent)
            assert.equals("", wire())
          end
        end
      end
    end)
  end)

  describe("client:request", function()
    -- The SDK REFUSES (a raise in client:request, before any transport is
    -- asked; url.path_problem) a raw path that is not "/" followed by "/",
    -- unreserved characters and well-formed percent-escapes: no space or
    -- control character, no "?" (a query goes in opts.query), "&" or "#", no
    -- bare "%", no "." or ".." segment, plain or %2e-escaped (libcurl
    -- resolves them: "/v1/../../etc" went out as "GET /etc"). It never
    -- escapes one: a raw path is the caller's, and a guess at what was meant
    -- could reach another resource. Before the fix a path not starting with
    -- "/" ran on into the authority: "@127.0.0.1:<port>/v1/x" sent the API
    -- key to that other host, and "/v1/x#y" went out as "GET /v1/x".
    it("refuses hostile raw paths before sending anything, to any host", function()
      local other = procs.http_server()
      local paths = {
        "/v1/x\r\nHost: evil", "/v1/x\r\nX-Injected: 1", "/v1/x y", "/v1/\0", "/v1/x#y", "/v1/../../etc",
        "/v1/%2e%2e/%2E%2e/etc", "/v1/./x", "/v1/x?y=1", "/v1/%", "/v1/%zz", "/v1/\195\169", "v1/x", "",
        "@127.0.0.1:" .. other.port .. "/v1/x", ":" .. other.port .. "/v1/x", ".example/v1/x",
      }
      for _, hostile in ipairs(HOSTILE) do paths[#paths + 1] = "/v1/" .. hostile end
      local ok, err = pcall(function()
        for _, path in ipairs(paths) do
          for _, method in ipairs { "GET", "POST" } do
            local what = method .. " " .. show(path)
            assert.equals("raised", outcome(what, function()
              return client:request(method, path, method == "POST" and { json = { a = 1 } } or nil)
            end, function() end), what)
            assert.equals("", fetch_wire(other.port), what .. " reached another host")
          end
        end
      end)
      procs.stop(other)
      assert(ok, err)
    end)

    it("still sends a clean raw path, with hostile query names and values escaped", function()
      for _, hostile in ipairs(HOSTILE) do
        local what = "request GET with query " .. show(hostile)
        assert.equals("sent", outcome(what, function()
          return client:request("GET", "/v1/raw/a-b_c.d~e/%41", { query = { [hostile] = hostile, n = 1 } })
        end, function(req)
          assert.equals("/v1/raw/a-b_c.d~e/%41", req.path, what)
          assert.same({ [hostile] = hostile, n = "1" }, parse_query(req.query), what)
        end), what)
      end
    end)

    it("sends a hostile JSON body escaped, and decodes it back", function()
      for _, hostile in ipairs(HOSTILE) do
        local what = "request POST with json " .. show(hostile)
        assert.equals("sent", outcome(what, function()
          return client:request("POST", "/v1/raw", { json = { [hostile] = hostile } })
        end, function(req)
          assert.equals("/v1/raw", req.path, what)
          assert.equals("", req.query, what)
          assert(not req.body:find("[%z\1-\31]"), what .. ": a raw control character in the JSON body")
          assert.same({ [hostile] = hostile }, cjson.decode(req.body), what)
        end), what)
      end
    end)

    it("refuses a hostile method", function()
      for _, hostile in ipairs(HOSTILE) do
        for _, method in ipairs { hostile, "GET " .. hostile, "GET /x HTTP/1.1\r\n" .. hostile } do
          assert.equals("raised", outcome("method " .. show(method), function()
            return client:request(method, "/v1/x")
          end, function() end))
        end
      end
    end)
  end)

  describe("base_url", function()
    it("with CR, LF, NUL, space, tab, '?' or '#' raises at flexiroam.new", function()
      local bases = {
        base .. "/v1\r\nX-Injected: 1", base .. "\r\n", base .. "/a b", base .. " ", base .. "\0", base .. "/\t",
        "http://127.0.0.1 :" .. srv.port, "http://127.0.0.1\r\n:" .. srv.port, "https://exa mple.com",
        "https://example.com/\0", base .. "?x=1", base .. "/v1?x=1", base .. "#frag", base .. "/#",
      }
      for _, b in ipairs(bases) do
        local ok, err = pcall(flexiroam.new, { api_key = KEY, base_url = b, retries = 0 })
        assert(not ok, "flexiroam.new took base_url " .. show(b))
        assert.matches("base_url", tostring(err))
      end
      assert.equals("", wire())
    end)
  end)
end)
