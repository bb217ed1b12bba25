-- Errors say what to do (issue 14, part 4): err.retryable beside
-- safe_to_retry, per-request headers, the request id every error, event and
-- log line carries, and the rules of a reference, enforced before sending.
local flexiroam = require "flexiroam"
local fake_transport = require "spec.support.fake_transport"
local fake_clock = require "spec.support.fake_clock"

local json = flexiroam.json
local KEY = "sk_ADVICE_SPEC_2c7a"
local ICCID = "89852350824010131081"
local E = fake_transport.error

local function page(items) return { status = 200, body = json.encode { items = json.array(items or {}) } } end
local function status(code, body) return { status = code, body = body or "" } end

local function setup(responses, opts)
  local clk = fake_clock.new()
  local transport = fake_transport.new(responses, clk)
  opts = opts or {}
  opts.api_key, opts.base_url, opts.transport, opts.clock = KEY, "https://api.example.test", transport, clk.seam
  return flexiroam.new(opts), transport
end

describe("err.retryable", function()
  local cases = {
    -- answer, kind, retryable, safe_to_retry (a read)
    { status(401), "auth", false, true },
    { status(403), "forbidden", false, true },
    { status(404), "not_found", false, true },
    { status(422, '{"message":"bad","fields":{"x":"y"}}'), "validation", false, true },
    { status(429), "rate_limited", true, true },
    { status(503), "server", true, true },
    { status(501), "server", false, true },
    { { status = 200, body = "<html>" }, "decode", false, true },
    { E("timeout", { sent = true }), "timeout", true, true },
    { E("network", { sent = true }), "network", true, true },
    { E("tls", { sent = false }), "tls", false, true },
  }
  for _, case in ipairs(cases) do
    it("is " .. tostring(case[3]) .. " for " .. case[2], function()
      local client = setup({ case[1] }, { retries = 0 })
      local _, err = client:list_inventory()
      assert.equals(case[2], err.kind)
      assert.equals(case[3], err.retryable)
      assert.equals(case[4], err.safe_to_retry)
    end)
  end

  it("is true for a purchase left unclear after its lookup; the same reference may go again", function()
    local client = setup({ E("timeout", { sent = true }), E("network", { sent = false }) }, { retries = 0 })
    local _, err = client:purchase_plan { iccid = ICCID, plan_id = "p1" }
    assert.equals("indeterminate", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(err.safe_to_retry)
  end)

  it("is false, with safe_to_retry false, for an unsafe raw POST cut after sending", function()
    local client = setup({ E("network", { sent = true }) })
    local _, err = client:request("POST", "/v1/x", { json = {} })
    assert.is_true(err.retryable)      -- the server may well answer next time
    assert.is_false(err.safe_to_retry) -- but it may also have done it already
  end)
end)

describe("per-request headers and the request id", function()
  it("sends the call's own headers on every attempt, checked", function()
    local client, t = setup({ status(503), page() }, { retries = 1 })
    assert(client:list_inventory(nil, { headers = { ["X-Tenant"] = "acme" } }))
    assert.equals(2, #t.requests)
    for _, req in ipairs(t.requests) do assert.equals("acme", req.headers["x-tenant"]) end
  end)

  it("refuses CR, LF, NUL and the SDK's own headers, never quoting the value", function()
    local client, t = setup({})
    for _, headers in ipairs {
      { ["X-A"] = "a\r\nX-Evil: 1" }, { ["X-A"] = "a\0b" }, { ["Bad Name"] = "v" },
      { ["x-api-key"] = "stolen" }, { ["X-API-KEY"] = "stolen" }, { ["User-Agent"] = "me" },
      { ["Content-Length"] = "5" }, { Host = "evil.test" }, { ["Accept-Encoding"] = "gzip" },
    } do
      local ok, err = pcall(client.list_inventory, client, nil, { headers = headers })
      assert.is_false(ok)
      assert.is_nil(tostring(err):find("stolen", 1, true))
      assert.is_nil(tostring(err):find("Evil", 1, true))
    end
    assert.equals(0, #t.requests)
  end)

  it("sends one x-request-id per call, the same on every attempt, and every error and event carries it", function()
    local events, lines = {}, {}
    local client, t = setup({ status(503), status(503) }, {
      retries = 1,
      on_request = function(e) events[#events + 1] = e end,
      on_error = function(e) events[#events + 1] = e end,
      on_retry = function(e) events[#events + 1] = e end,
      logger = function(level, e) lines[#lines + 1] = require("flexiroam.observe").format(level, e) end,
    })
    local _, err = client:list_inventory()
    local id = t.requests[1].headers["x-request-id"]
    assert.matches("^%x+%-%d+$", id)
    assert.equals(id, t.requests[2].headers["x-request-id"])
    assert.equals(id, err.request_id)
    assert.is_true(#events >= 4)
    for _, e in ipairs(events) do assert.equals(id, e.request_id) end
    for _, line in ipairs(lines) do assert.matches("request_id=" .. id, line, 1, true) end
    local _, err2 = setup({ status(404) }):list_inventory()
    assert.not_equals(id, err2.request_id)
  end)

  it("reuses the caller's request id, given as an option or as an x-request-id header", function()
    local client, t = setup({ page(), page() })
    assert(client:list_inventory(nil, { request_id = "order-77.a" }))
    assert(client:list_inventory(nil, { headers = { ["X-Request-Id"] = "trace-9" } }))
    assert.equals("order-77.a", t.requests[1].headers["x-request-id"])
    assert.equals("trace-9", t.requests[2].headers["x-request-id"])
  end)

  it("gives a reference lookup an id of its own, naming the purchase's", function()
    local client, t = setup({ E("timeout", { sent = true }), function(_, tr)
      local ref = json.decode(tr.requests[1].body).reference
      return page({ { id = "o1", reference = ref, iccid = ICCID, plan_id = "p1" } })
    end })
    assert(client:purchase_plan { iccid = ICCID, plan_id = "p1" })
    local id = t.requests[1].headers["x-request-id"]
    assert.equals(id .. "/reconcile", t.requests[2].headers["x-request-id"])
  end)
end)

describe("the rules of a reference", function()
  it("accepts 1 to 64 ASCII letters, digits and - _ . : and mints a UUID when absent", function()
    local created = { status = 201, body = '{"item":{"id":"o1"}}' }
    local client, t = setup({ created, created, created })
    local ok64 = ("a"):rep(64)
    assert(client:purchase_plan { iccid = ICCID, plan_id = "p", reference = ok64 })
    assert(client:purchase_plan { iccid = ICCID, plan_id = "p", reference = "ORD-2026.12:07_x" })
    assert(client:purchase_plan { iccid = ICCID, plan_id = "p" })
    local minted = json.decode(t.requests[3].body).reference
    assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x+$", minted)
  end)

  it("refuses anything else before sending: a validation error naming the reference", function()
    local client, t = setup({})
    for _, ref in ipairs { ("a"):rep(65), "has space", "ünïcode", "a/b", "a\nb", "" } do
      local order, err = client:purchase_plan { iccid = ICCID, plan_id = "p", reference = ref }
      assert.is_nil(order)
      assert.equals("validation", err.kind)
      assert.is_string(err.fields.reference)
      assert.is_false(err.sent)
      local sub, serr = client:create_subscription { iccid = ICCID, plan_id = "p", reference = ref }
      assert.is_nil(sub)
      assert.equals("validation", serr.kind)
    end
    assert.equals(0, #t.requests)
    assert.has_error(function() client:purchase_plan { iccid = ICCID, plan_id = "p", reference = 12 } end)
  end)
end)
