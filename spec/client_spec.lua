-- The client's request building, error mapping and iteration, over a
-- recording fake transport (no sockets): what is sent is checked byte for byte.
local flexiroam = require "flexiroam"
local fake_transport = require "spec.support.fake_transport"
local leaks = require "spec.support.leaks"

local json = flexiroam.json
local KEY = "sk_live_DISTINCTIVE_4f9a1c"

local function page(items, page_key)
  return { status = 200, body = json.encode { items = json.array(items), page_key = page_key or json.null } }
end

local function client_with(responses, opts)
  local transport = fake_transport.new(responses)
  opts = opts or {}
  opts.api_key = opts.api_key or KEY
  opts.base_url = opts.base_url or "https://api.example.test"
  opts.transport = transport
  -- One scripted answer per request here; retries have their own spec.
  if opts.retries == nil then opts.retries = 0 end
  return flexiroam.new(opts), transport
end

local function assert_no_key(value)
  leaks.assert_absent(value, { [KEY] = "the API key" })
end

describe("flexiroam.new", function()
  it("refuses to start without a key, naming the env variable", function()
    local ok, msg = pcall(flexiroam.new, { base_url = "https://x.test", transport = fake_transport.new(),
      api_key = false })
    assert.is_false(ok)
    assert.matches("FLEXIROAM_API_KEY", msg)
  end)

  it("refuses a key holding a control character, without quoting it", function()
    for _, bad in ipairs { KEY .. "\n", KEY .. "\r\nX-Evil: 1", "\0" .. KEY, KEY .. "\t" } do
      local ok, msg = pcall(flexiroam.new, { base_url = "https://x.test", transport = fake_transport.new(),
        api_key = bad })
      assert.is_false(ok)
      assert.matches("control character", msg)
      assert.is_nil(msg:find(KEY, 1, true))
    end
  end)

  it("refuses plain http to a remote host but allows loopback and the explicit opt-in", function()
    local ok, msg = pcall(flexiroam.new,
      { api_key = KEY, base_url = "http://api.example.test", transport = fake_transport.new() })
    assert.is_false(ok)
    assert.matches("refusing plain http", msg)
    assert.is_nil(msg:find(KEY, 1, true))
    assert.truthy(flexiroam.new { api_key = KEY, base_url = "http://127.0.0.1:9", transport = fake_transport.new() })
    assert.truthy(flexiroam.new { api_key = KEY, base_url = "http://localhost:9/", transport = fake_transport.new() })
    assert.truthy(flexiroam.new { api_key = KEY, base_url = "http://api.example.test", allow_insecure_http = true,
      transport = fake_transport.new() })
  end)

  it("refuses user info in base_url: the host after its '@' would get the key in clear", function()
    -- http://127.0.0.1:x@elsewhere reads as loopback to a check that stops
    -- at the first ':', while libcurl connects to elsewhere
    for _, base in ipairs { "http://127.0.0.1:x@evil.example", "http://localhost:1@evil.example/v1",
      "https://user:" .. KEY .. "@api.example.test", "http://127.0.0.1\\@evil.example" } do
      local ok, msg = pcall(flexiroam.new, { api_key = KEY, base_url = base, transport = fake_transport.new() })
      assert.is_false(ok, base)
      assert.matches("user info", msg)
      assert.is_nil(msg:find(KEY, 1, true))
      assert.is_nil(msg:find("evil", 1, true))
    end
  end)

  it("rejects a base_url that is not http(s)", function()
    assert.has_error(function()
      flexiroam.new { api_key = KEY, base_url = "ftp://x", transport = fake_transport.new() }
    end)
  end)

  it("warns when TLS verification is turned off", function()
    local events = {}
    flexiroam.new { api_key = KEY, base_url = "https://x.test", verify = false, transport = fake_transport.new(),
      logger = function(level, event) events[#events + 1] = { level = level, event = event } end }
    assert.equals(1, #events)
    assert.equals("warn", events[1].level)
    assert.matches("verification is OFF", events[1].event.message)
  end)

  it("keeps the key out of the client's fields and tostring", function()
    local client = client_with({})
    assert_no_key(tostring(client))
    for k, v in pairs(client) do
      if type(v) == "string" then assert.is_nil(v:find(KEY, 1, true), "field " .. k) end
    end
  end)

  it("keeps two clients' keys apart", function()
    local a, ta = client_with({ page({}) }, { api_key = "key-a" })
    local b, tb = client_with({ page({}) }, { api_key = "key-b" })
    assert.truthy(b:list_inventory())
    assert.truthy(a:list_inventory())
    assert.equals("key-a", ta.requests[1].headers["x-api-key"])
    assert.equals("key-b", tb.requests[1].headers["x-api-key"])
  end)
end)

describe("client:list_inventory", function()
  it("sends exactly the documented request", function()
    local client, transport = client_with({ page({ { iccid = "1" } }) })
    local pg = assert(client:list_inventory { chip_type = "esim", search_by = "availability", search = "free" })
    local req = transport.requests[1]
    assert.equals("GET", req.method)
    assert.equals("https://api.example.test/v1/public-v2/list-inventory" ..
      "?chip_type=esim&search_by=availability&search=free", req.url)
    assert.is_nil(req.body)
    assert.equals(KEY, req.headers["x-api-key"])
    assert.equals("application/json", req.headers["Content-Type"])
    assert.equals("application/json", req.headers["Accept"])
    assert.matches("^flexiroam%-lua/" .. flexiroam.VERSION:gsub("%.", "%%.") .. " %(.+; libcurl/[%d.]+%)$",
      req.headers["User-Agent"])
    assert.equals(1, #pg.items)
    assert.is_nil(pg.page_key)
  end)

  it("percent-encodes awkward query values and keeps the parameter order", function()
    local client, transport = client_with({ page({}) })
    client:list_inventory { search = "a b&c=d/é?#+%", search_by = "iccid", page_key = "k/1==", limit = 5 }
    assert.equals("https://api.example.test/v1/public-v2/list-inventory" ..
      "?search_by=iccid&search=a%20b%26c%3Dd%2F%C3%A9%3F%23%2B%25&page_key=k%2F1%3D%3D&limit=5",
      transport.requests[1].url)
  end)

  it("returns the next page_key and keeps integers exact", function()
    local client = client_with({ { status = 200, body = '{"items":[{"sku":4024081013108}],"page_key":"p2"}' } })
    local pg = assert(client:list_inventory())
    assert.equals("p2", pg.page_key)
    assert.equals(4024081013108, pg.items[1].sku)
    assert.equals("integer", require("flexiroam.compat").math_type(pg.items[1].sku))
  end)

  it("raises on an unknown parameter or a table value (programmer misuse)", function()
    local client = client_with({})
    assert.has_error(function() client:list_inventory { chiptype = "esim" } end)
    assert.has_error(function() client:list_inventory { search = {} } end)
    assert.has_error(function() client:list_inventory "esim" end)
  end)

  local cases = {
    { 401, '{"message":"Invalid API key","code":"unauthorized"}', "auth", "Invalid API key" },
    { 403, '{"msg":"IP not whitelisted"}', "forbidden", "IP not whitelisted" },
    { 404, '{"error":{"message":"no such route"}}', "not_found", "no such route" },
    { 422, '{"message":"bad","code":"validation_failed","fields":{"limit":"1-100"}}', "validation", "bad" },
    { 500, "", "server", "HTTP 500 with an empty body" },
    { 502, "<html><body>502 Bad Gateway</body></html>", "server", "HTTP 502 with a body that is not JSON" },
    { 400, '{"message":"unknown chip_type"}', "http", "unknown chip_type" },
  }
  for _, case in ipairs(cases) do
    it("maps HTTP " .. case[1] .. " to kind " .. case[3], function()
      local client = client_with({ { status = case[1], body = case[2], headers = { ["x-request-id"] = "rq-7" } } })
      local pg, err = client:list_inventory()
      assert.is_nil(pg)
      assert.equals(case[3], err.kind)
      assert.equals(case[1], err.status)
      assert.equals(case[4], err.message)
      assert.equals("GET", err.method)
      assert.equals("/v1/public-v2/list-inventory", err.path)
      assert.equals("rq-7", err.server_request_id) -- the server's own id
      assert.matches("^%x+%-%d+$", err.request_id) -- the one the SDK sent (x-request-id)
      assert.matches(case[3], tostring(err))
      assert.matches(tostring(case[1]), tostring(err))
      assert.is_true(flexiroam.errors.is_error(err))
    end)
  end

  it("maps 429 with Retry-After", function()
    local client = client_with({ { status = 429, body = '{"message":"slow down","code":"rate_limited"}',
      headers = { ["retry-after"] = "2" } } })
    local _, err = client:list_inventory()
    assert.equals("rate_limited", err.kind)
    assert.equals(2, err.retry_after)
    assert.equals("rate_limited", err.code)
  end)

  it("keeps the 422 fields", function()
    local client = client_with({ { status = 422, body = '{"message":"bad","fields":{"limit":"must be 1-100"}}' } })
    local _, err = client:list_inventory { limit = 0 }
    assert.same({ limit = "must be 1-100" }, err.fields)
  end)

  it("turns a 200 that is not JSON into a decode error with an excerpt", function()
    local client = client_with({ { status = 200, body = "<html>oops\1</html>" } })
    local pg, err = client:list_inventory()
    assert.is_nil(pg)
    assert.equals("decode", err.kind)
    assert.equals(200, err.status)
    assert.equals("<html>oops\\x01</html>", err.body_excerpt)
  end)

  it("turns the older API's success=false envelope into an api error", function()
    local client = client_with({ { status = 200, body = '{"success":false,"msg":"Insufficient balance"}' } })
    local _, err = client:list_inventory()
    assert.equals("api", err.kind)
    assert.equals("Insufficient balance", err.message)
  end)

  it("makes a server's message and request id one printable line, capped", function()
    -- a newline would forge a log line of its own, an escape would drive the terminal
    local forged = "denied\nflexiroam: info fake-event\r\n\27[2J" .. string.rep("é", 1000)
    local client = client_with({ { status = 403, body = json.encode { message = forged },
      headers = { ["x-request-id"] = "abc\27[31m\ndef" } } })
    local _, err = client:list_inventory()
    assert.equals("forbidden", err.kind)
    assert.is_nil(err.message:find("[%z\1-\31\127]"), err.message)
    assert.is_nil(tostring(err):find("\n", 1, true))
    assert.equals(1, err.message:find("denied flexiroam: info fake-event \\x1B[2Jé", 1, true), err.message)
    assert.is_true(#err.message <= 1024 + 3)
    assert.equals("...", err.message:sub(-3))
    assert.truthy(json.encode(err.message), "cut inside a character") -- the encoder checks UTF-8
    assert.equals("abc\\x1B[31m def", err.server_request_id)
    local c2 = client_with({ { status = 200, body = json.encode { success = false, msg = "no\n\27[0mthanks" } } })
    local _, e2 = c2:list_inventory()
    assert.equals("no \\x1B[0mthanks", e2.message)
  end)

  it("rejects a 200 of the wrong shape", function()
    local client = client_with({ { status = 200, body = '{"item":{}}' } })
    local _, err = client:list_inventory()
    assert.equals("decode", err.kind)
    assert.matches("no items", err.message)
  end)

  it("passes transport failures through with method and path, as values", function()
    local terr = setmetatable({ kind = "network", message = "Failed to connect", sent = false }, flexiroam.errors.mt)
    local client = client_with({ { nil, terr } })
    local pg, err = client:list_inventory()
    assert.is_nil(pg)
    assert.equals("network", err.kind)
    assert.is_false(err.sent)
    assert.equals("GET", err.method)
    assert.equals("/v1/public-v2/list-inventory", err.path)
  end)

  it("never lets the key into an error, even when the server echoes it", function()
    local echo = '{"message":"bad key ' .. KEY .. '"}'
    local client = client_with({
      { status = 401, body = echo },
      { status = 502, body = "<p>" .. KEY .. "</p>" },
      { status = 200, body = '{"success":false,"msg":"' .. KEY .. '"}' },
      { status = 200, body = "not json " .. KEY },
    })
    for _ = 1, 4 do
      local _, err = client:list_inventory()
      assert_no_key(err)
      assert_no_key(tostring(err))
    end
  end)
end)

describe("client:inventory iterator", function()
  it("walks every page in order", function()
    local client, transport = client_with({
      page({ { n = 1 }, { n = 2 } }, "c2"), page({ { n = 3 } }, "c3"), page({}, "c4"), page({ { n = 4 } }),
    })
    local seen = {}
    for sim in client:inventory { chip_type = "esim", limit = 2 } do seen[#seen + 1] = sim.n end
    assert.same({ 1, 2, 3, 4 }, seen)
    assert.equals(4, #transport.requests)
    assert.matches("page_key=c3", transport.requests[3].url)
    assert.matches("chip_type=esim", transport.requests[4].url)
  end)

  it("raises the error object when a page fails half-way", function()
    local client = client_with({ page({ { n = 1 } }, "c2"), { status = 503, body = "" } })
    local seen = {}
    local ok, err = pcall(function()
      for sim in client:inventory() do seen[#seen + 1] = sim.n end
    end)
    assert.is_false(ok)
    assert.same({ 1 }, seen)
    assert.equals("server", err.kind)
    assert.equals(503, err.status)
  end)

  it("raises instead of looping when the API repeats a page_key", function()
    local client = client_with({ page({ { n = 1 } }, "same"), page({ { n = 2 } }, "same") })
    local ok, err = pcall(function() for _ in client:inventory() do end end)
    assert.is_false(ok)
    assert.equals("api", err.kind)
    assert.matches("repeated page_key", err.message)
  end)

  it("stops after max_pages", function()
    local client, transport = client_with({ page({ { n = 1 } }, "a"), page({ { n = 2 } }, "b") })
    local n = 0
    for _ in client:inventory(nil, { max_pages = 2 }) do n = n + 1 end
    assert.equals(2, n)
    assert.equals(2, #transport.requests)
  end)

  it("does not modify the caller's parameters", function()
    local client = client_with({ page({ { n = 1 } }, "a"), page({}) })
    local params = { chip_type = "esim" }
    for _ in client:inventory(params) do end
    assert.same({ chip_type = "esim" }, params)
  end)
end)

describe("client lifetime", function()
  it("close() closes the transport", function()
    local client, transport = client_with({})
    client:close()
    assert.is_true(transport.closed)
  end)

  it("<close> closes the transport", function()
    if _VERSION ~= "Lua 5.4" then return pending("to-be-closed variables need Lua 5.4") end
    -- Compiled at run time: the syntax alone would stop LuaJIT loading this file.
    local close_scope = assert(load("local c = ...; do local _ <close> = c end"))
    local client, transport = client_with({})
    close_scope(client)
    assert.is_true(transport.closed)
  end)
end)

describe("tostring of an error", function()
  it("names retries and the reference, and stays quiet about a single attempt", function()
    local many = flexiroam.errors.new("indeterminate", "purchase may have happened",
      { attempts = 3, reference = "ref-42", method = "POST", path = "/v1/public-v2/purchase-plan" })
    assert.equals("flexiroam: indeterminate: purchase may have happened POST /v1/public-v2/purchase-plan" ..
      " after 3 attempts [reference ref-42]", tostring(many))
    local once = flexiroam.errors.new("server", "boom", { attempts = 1, status = 500 })
    assert.equals("flexiroam: server: boom [status 500]", tostring(once))
  end)
end)

describe("query values", function()
  it("writes a float as the shortest text that reads back exactly, and integers as they are", function()
    -- %.17g alone wrote 0.1 as 0.10000000000000001
    local client, transport = client_with({ { status = 200, body = "{}" }, page({}) })
    assert(client:request("GET", "/x", { query = { a = 0.1, b = 0.1 + 0.2, c = 1 / 3, d = 5, e = 2.0, f = -2.5e-7,
      g = 123456789.125, h = 2 ^ 53 } }))
    assert.equals("https://api.example.test/x?a=0.1&b=0.30000000000000004&c=0.3333333333333333&d=5&e=2&f=-2.5e-07" ..
      "&g=123456789.125&h=9007199254740992", transport.requests[1].url)
    assert(client:list_inventory { limit = 0.5, search = 1e-300 })
    assert.matches("?search=1e-300&limit=0.5", transport.requests[2].url, 1, true)
  end)
end)
