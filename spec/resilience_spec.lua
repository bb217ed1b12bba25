-- Retries, backoff, Retry-After, the one deadline, write classification,
-- reference reconciliation, hooks and options: over a scripted transport
-- and a fake clock, so every wait and every request is checked exactly.
local flexiroam = require "flexiroam"
local retry = require "flexiroam.retry"
local reference = require "flexiroam.reference"
local fake_transport = require "spec.support.fake_transport"
local fake_clock = require "spec.support.fake_clock"

local json = flexiroam.json
local KEY = "sk_live_RESILIENCE_7e3b19"
local P = "/v1/public-v2/"
-- Luhn-valid: the client checks every iccid before it sends a request
local ICCID = "89852350824010131081"
local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function page(items, page_key)
  return { status = 200, body = json.encode { items = json.array(items), page_key = page_key or json.null } }
end

local function item(obj)
  return { status = 200, body = json.encode { item = obj } }
end

local function status(code, body, headers)
  return { status = code, body = body or "", headers = headers }
end

local E = fake_transport.error

local function setup(responses, opts, clock_opts)
  local clk = fake_clock.new(clock_opts)
  local transport = fake_transport.new(responses, clk)
  opts = opts or {}
  opts.api_key = KEY
  opts.base_url = "https://api.example.test"
  opts.transport = transport
  opts.clock = clk.seam
  return flexiroam.new(opts), transport, clk
end

local function body_of(req)
  return json.decode(req.body)
end

describe("reads", function()
  for _, code in ipairs { 408, 425, 429, 500, 502, 503, 504 } do
    it("retry HTTP " .. code .. " after a full-jitter wait", function()
      local client, t, clk = setup({ status(code), page({ { n = 1 } }) })
      local pg = assert(client:list_inventory())
      assert.equals(1, #pg.items)
      assert.equals(2, #t.requests)
      assert.same({ 0.25 }, clk.slept) -- random 0.5 * min(8 s, 0.5 s)
    end)
  end

  for _, kind in ipairs { "network", "timeout" } do
    it("retry a " .. kind .. " failure, sent or not", function()
      local client, t = setup({ E(kind, { sent = true }), E(kind, { sent = false }), page({}) })
      assert(client:list_inventory())
      assert.equals(3, #t.requests)
    end)
  end

  for _, code in ipairs { 400, 401, 403, 404, 409, 422, 501, 505 } do
    it("do not retry HTTP " .. code, function()
      local client, t, clk = setup({ status(code, '{"message":"no"}') })
      local _, err = client:list_inventory()
      assert.equals(code, err.status)
      assert.equals(1, err.attempts)
      assert.equals(1, #t.requests)
      assert.same({}, clk.slept)
    end)
  end

  it("do not retry TLS failures, oversize answers, undecodable 200s or error envelopes", function()
    local cases = {
      { E("tls", { sent = false }), "tls" },
      { E("too_large", { sent = true }), "too_large" },
      { status(200, "<html>"), "decode" },
      { status(200, '{"success":false,"msg":"nope"}'), "api" },
      { status(200, '{"item":{}}'), "decode" },
    }
    for _, case in ipairs(cases) do
      local client, t = setup({ case[1] })
      local _, err = client:list_inventory()
      assert.equals(case[2], err.kind)
      assert.equals(1, #t.requests)
      assert.equals(1, err.attempts)
    end
  end)

  it("give up after 2 retries by default, with the last error and the attempt count", function()
    local client, t, clk = setup({ status(503), status(502), status(500, '{"message":"down"}') })
    local _, err = client:list_inventory()
    assert.equals(3, #t.requests)
    assert.equals("server", err.kind)
    assert.equals(500, err.status)
    assert.equals("down", err.message)
    assert.equals(3, err.attempts)
    assert.is_true(err.safe_to_retry)
    assert.same({ 0.25, 0.5 }, clk.slept)
  end)

  it("back off exponentially up to the 8 s cap, with full jitter", function()
    local responses = {}
    for i = 1, 7 do responses[i] = status(503) end
    local client, _, clk = setup(responses, { retries = 6 }, { random = { 1, 1, 1, 1, 1, 1 } })
    client:list_inventory()
    assert.same({ 0.5, 1, 2, 4, 8, 8 }, clk.slept)
    local c2, _, clk2 = setup({ status(503), status(503), page({}) }, nil, { random = { 0.1, 0 } })
    assert(c2:list_inventory())
    assert.equals(1, #clk2.slept) -- a zero draw retries at once, without sleeping
    assert.near(0.05, clk2.slept[1], 1e-12)
  end)

  it("honour retry_base_ms and retry_cap_ms", function()
    local client, _, clk = setup({ status(503), status(503), status(503), status(503) },
      { retries = 3, retry_base_ms = 100, retry_cap_ms = 250 }, { random = { 1, 1, 1 } })
    client:list_inventory()
    assert.same({ 0.1, 0.2, 0.25 }, clk.slept)
  end)
end)

describe("retries option", function()
  it("retries = 0 disables retries, client-wide", function()
    local client, t = setup({ status(503) }, { retries = 0 })
    local _, err = client:list_inventory()
    assert.equals(1, #t.requests)
    assert.equals(1, err.attempts)
  end)

  it("a per-call table overrides the client, both ways", function()
    local responses = {}
    for i = 1, 6 do responses[i] = status(503) end
    local client, t = setup(responses)
    local _, err = client:list_inventory(nil, { retries = 5 })
    assert.equals(6, #t.requests)
    assert.equals(6, err.attempts)
    local c2, t2 = setup({ status(503) }, { retries = 5 })
    c2:list_inventory({ limit = 5 }, { retries = 0 })
    assert.equals(1, #t2.requests)
  end)

  it("a per-call override does not stick to the client", function()
    local client, t = setup({ status(503), status(503), status(503), status(503) })
    client:list_inventory(nil, { retries = 0 })
    client:list_inventory()
    assert.equals(4, #t.requests)
  end)

  it("raises on an unknown or invalid option (programmer misuse)", function()
    local client = setup({})
    assert.has_error(function() client:list_inventory(nil, { retry = 1 }) end)
    assert.has_error(function() client:list_inventory(nil, { retries = -1 }) end)
    assert.has_error(function() client:list_inventory(nil, { retries = 1.5 }) end)
    assert.has_error(function() client:list_inventory(nil, { timeout_ms = 0 }) end)
    assert.has_error(function() client:list_inventory(nil, { deadline_ms = "1s" }) end)
    assert.has_error(function() client:list_inventory(nil, "fast") end)
    assert.has_error(function() setup({}, { retries = "2" }) end)
    assert.has_error(function() setup({}, { deadline_ms = -5 }) end)
    assert.has_error(function()
      flexiroam.new { api_key = KEY, base_url = "https://x.test", transport = fake_transport.new(),
        clock = { now = 5 } }
    end)
    assert.has_error(function() setup({}, { on_retry = "print" }) end)
  end)

  it("iterators pass call options to every page, beside max_pages", function()
    local client, t = setup({ page({ { n = 1 } }, "a"), status(503) })
    local ok, err = pcall(function()
      for _ in client:inventory(nil, { retries = 0, max_pages = 5 }) do end
    end)
    assert.is_false(ok)
    assert.equals(503, err.status)
    assert.equals(2, #t.requests)
  end)
end)

describe("Retry-After", function()
  it("waits the seconds a 429 or a 503 asks for", function()
    local client, _, clk = setup({
      status(429, '{"code":"rate_limited"}', { ["retry-after"] = "3" }),
      status(503, "", { ["retry-after"] = " 1 " }),
      page({}),
    })
    assert(client:list_inventory())
    assert.same({ 3, 1 }, clk.slept)
  end)

  it("waits until an HTTP-date", function()
    local client, _, clk = setup({ status(503, "", { ["retry-after"] = "Tue, 14 Nov 2023 22:13:27 GMT" }), page({}) },
      nil, { epoch = 1700000000 })
    assert(client:list_inventory())
    assert.same({ 7 }, clk.slept)
  end)

  it("retries at once for a date in the past", function()
    local client, t, clk = setup({ status(503, "", { ["retry-after"] = "Tue, 14 Nov 2023 22:00:00 GMT" }), page({}) },
      nil, { epoch = 1700000000 })
    assert(client:list_inventory())
    assert.equals(2, #t.requests)
    assert.same({}, clk.slept)
  end)

  it("ends the call instead of waiting past the deadline, with retry_after on the error", function()
    local client, t, clk = setup({ status(429, "", { ["retry-after"] = "5" }) }, { deadline_ms = 4000 })
    local _, err = client:list_inventory()
    assert.equals("rate_limited", err.kind)
    assert.equals(5, err.retry_after)
    assert.equals(1, #t.requests)
    assert.same({}, clk.slept)
  end)

  it("ends the call when a Retry-After too large for an integer wait is given (no wrap to a negative)", function()
    -- 9223372036854776 s times 1000 wraps past 2^63 on Lua 5.4; compared so,
    -- it slept for ever
    for _, value in ipairs { "9223372036854776", "9223372036854775807", "99999999999999999999999" } do
      local client, t, clk = setup({ status(429, "", { ["retry-after"] = value }), page({}) })
      local _, err = client:list_inventory()
      assert.equals("rate_limited", err and err.kind, value)
      assert.equals(1, #t.requests)
      assert.same({}, clk.slept)
    end
  end)

  it("ends the call when the wait passes max_retry_after_ms", function()
    local client, t, clk = setup({ status(429, "", { ["retry-after"] = "3600" }) })
    local _, err = client:list_inventory()
    assert.equals(3600, err.retry_after)
    assert.equals(1, #t.requests)
    assert.same({}, clk.slept)
    local c2, t2, clk2 = setup({ status(429, "", { ["retry-after"] = "2" }), page({}) }, { max_retry_after_ms = 1000 })
    c2:list_inventory()
    assert.equals(1, #t2.requests)
    assert.same({}, clk2.slept)
  end)

  it("parses seconds and the three HTTP-date forms, and nothing else", function()
    local now = 1700000000
    assert.equals(120, retry.parse_retry_after("120", now))
    assert.equals(7, retry.parse_retry_after("Tue, 14 Nov 2023 22:13:27 GMT", now))
    assert.equals(7, retry.parse_retry_after("Tuesday, 14-Nov-23 22:13:27 GMT", now))
    assert.equals(7, retry.parse_retry_after("Tue Nov 14 22:13:27 2023", now))
    assert.equals(86407, retry.parse_retry_after("Wed, 15 Nov 2023 22:13:27 GMT", now))
    assert.equals(0, retry.parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now))
    assert.equals(951782400, retry.parse_retry_after("Tue, 29 Feb 2000 00:00:00 GMT", 0))
    for _, bad in ipairs { "", "-1", "1.5", "soon", "Tue, 14 Nov 2023 22:13:27 CET", "Tue, 14 Foo 2023 22:13:27 GMT",
      "Tue, 14 Nov 2023 25:13:27 GMT" } do
      assert.is_nil(retry.parse_retry_after(bad, now), bad)
    end
    assert.is_nil(retry.parse_retry_after(nil, now))
  end)
end)

describe("the deadline", function()
  -- A transport that times out at whatever timeout the attempt was given.
  local function stall(req, t)
    t.clock:advance(req.timeout_ms / 1000)
    return nil, flexiroam.errors.new("timeout", "Operation timed out", { sent = true })
  end

  it("bounds every attempt and every wait together", function()
    local client, t, clk = setup({ stall, stall, stall, stall, stall, stall },
      { retries = 5, deadline_ms = 1500, timeout_ms = 500 })
    local _, err = client:list_inventory()
    assert.equals("timeout", err.kind)
    assert.equals(3, #t.requests)
    assert.equals(500, t.requests[1].timeout_ms)
    assert.equals(500, t.requests[2].timeout_ms) -- 750 ms were left
    assert.is_true(t.requests[3].timeout_ms <= 50 and t.requests[3].timeout_ms >= 49)
    assert.same(0.25, clk.slept[1])
    assert.near(0.2, clk.slept[2], 1e-9) -- the 0.5 s backoff cut to what is left
    assert.is_true(clk:elapsed() <= 1.5 + 1e-9)
    assert.equals(3, err.attempts)
    -- the last attempt was cut by the deadline, and its error says so
    assert.matches("the call's deadline_ms of 1500 left", err.message, 1, true)
  end)

  it("per call, as the issue writes it", function()
    local client, t, clk = setup({ stall, stall, stall, stall, stall, stall })
    local _, err = client:list_inventory({ chip_type = "esim" }, { retries = 5, deadline_ms = 1500, timeout_ms = 500 })
    assert.equals("timeout", err.kind)
    assert.equals(500, t.requests[1].timeout_ms)
    assert.is_true(clk:elapsed() <= 1.5 + 1e-9)
  end)

  it("passes the attempt timeout to the transport only when one is set", function()
    local client, t = setup({ page({}), page({}) })
    client:list_inventory()
    assert.is_nil(t.requests[1].timeout_ms)
    client:list_inventory(nil, { timeout_ms = 300 })
    assert.equals(300, t.requests[2].timeout_ms)
    local c2, t2 = setup({ page({}) }, { timeout_ms = 700 })
    c2:list_inventory()
    assert.equals(700, t2.requests[1].timeout_ms)
    local c3, t3 = setup({ page({}) }, { deadline_ms = 2500 })
    c3:list_inventory()
    assert.equals(2500, t3.requests[1].timeout_ms)
  end)

  it("starts no retry when too little time is left", function()
    local client, t = setup({ status(503, "", nil), page({}) }, { deadline_ms = 1000 })
    t.responses[1].elapsed = 0.97
    local _, err = client:list_inventory()
    assert.equals(503, err.status)
    assert.equals(1, #t.requests)
  end)
end)

describe("writes without a reference", function()
  local function raw_post(responses, opts)
    local client, t = setup(responses)
    local data, err = client:request("POST", "/v1/thing", opts or { json = { a = 1 } })
    return data, err, t
  end

  it("are sent again when libcurl proves nothing left (connect, DNS)", function()
    local data, _, t = raw_post({ E("network", { sent = false }), E("timeout", { sent = false }), item({}) })
    assert.truthy(data)
    assert.equals(3, #t.requests)
    assert.equals(t.requests[1].body, t.requests[3].body)
  end)

  it("are never replayed after they may have been processed", function()
    for _, answer in ipairs {
      E("timeout", { sent = true }), E("network", { sent = true }), E("network", {}),
      status(500), status(502), status(503), status(200, "garbage"),
    } do
      local _, err, t = raw_post({ answer })
      assert.equals(1, #t.requests)
      assert.is_false(err.safe_to_retry, err.kind)
    end
  end)

  it("are sent again after 408, 425 and 429 (refused before processing)", function()
    for _, code in ipairs { 408, 425, 429 } do
      local data, _, t = raw_post({ status(code), item({}) })
      assert.truthy(data)
      assert.equals(2, #t.requests)
    end
  end)

  it("stop at a 4xx refusal, which is safe to send again", function()
    local _, err, t = raw_post({ status(422, '{"message":"bad","fields":{"a":"no"}}') })
    assert.equals(1, #t.requests)
    assert.equals("validation", err.kind)
    assert.is_true(err.safe_to_retry)
  end)

  it("are retried like reads when the caller says they are idempotent", function()
    local data, _, t = raw_post({ status(500), E("timeout", { sent = true }), item({}) },
      { json = { a = 1 }, idempotent = true })
    assert.truthy(data)
    assert.equals(3, #t.requests)
  end)
end)

describe("idempotent operations", function()
  it("update_sim, update_auto_topup and cancel_subscription are retried after indeterminate failures", function()
    local client, t = setup({
      E("timeout", { sent = true }), item({ iccid = ICCID }),
      status(502), item({ iccid = ICCID }),
      status(500), item({ id = "s1", status = "cancelled" }),
    })
    assert(client:update_sim { iccid = ICCID, device_info = { name = "x" } })
    assert(client:update_auto_topup { iccid = ICCID, enabled = true })
    assert(client:cancel_subscription { subscription_id = "s1" })
    assert.equals(6, #t.requests)
    assert.equals(t.requests[1].body, t.requests[2].body)
    for _, req in ipairs(t.requests) do assert.equals("POST", req.method) end
  end)
end)

describe("purchase_plan", function()
  local ORDER = { id = "o1", iccid = ICCID, plan_id = "p1", status = "completed" }
  local function order(ref) local o = {} for k, v in pairs(ORDER) do o[k] = v end o.reference = ref return o end
  -- Answers the lookup from the reference the purchase carried.
  local function lookup_finds(req, t)
    local ref = body_of(t.requests[1]).reference
    assert.equals("GET", req.method)
    -- By the reference alone: it is unique per account, whatever SIM it bought for.
    assert.equals("https://api.example.test" .. P .. "list-orders?reference=" .. ref .. "&limit=100", req.url)
    return page({ order(ref) })
  end
  local function buy(client, extra, opts)
    local params = { iccid = ICCID, plan_id = "p1" }
    for k, v in pairs(extra or {}) do params[k] = v end
    return client:purchase_plan(params, opts)
  end

  it("mints a version 4 UUID reference per call when none is given", function()
    local client, t = setup({ item(order("x")), item(order("y")) })
    buy(client)
    buy(client)
    local r1, r2 = body_of(t.requests[1]).reference, body_of(t.requests[2]).reference
    assert.matches(UUID4, r1)
    assert.matches(UUID4, r2)
    assert.not_equals(r1, r2)
  end)

  it("keeps the caller's reference and leaves the caller's table alone", function()
    local client, t = setup({ item(order("mine")) })
    local params = { iccid = ICCID, plan_id = "p1", reference = "mine" }
    assert(client:purchase_plan(params))
    assert.equals("mine", body_of(t.requests[1]).reference)
    local p2 = { iccid = ICCID, plan_id = "p1" }
    local c2 = setup({ item(order("x")) })
    c2:purchase_plan(p2)
    assert.is_nil(p2.reference)
    assert.has_error(function() client:purchase_plan { iccid = ICCID, plan_id = "p", reference = 5 } end)
    local _, err = client:purchase_plan { iccid = ICCID, plan_id = "p", reference = "" } -- data, not a bug
    assert.equals("validation", err.kind)
    assert.equals(1, #t.requests) -- nothing more was sent
  end)

  it("sends again, same reference and no lookup, when nothing left", function()
    local client, t = setup({ E("network", { sent = false }), item(order("r")) })
    assert(buy(client))
    assert.equals(2, #t.requests)
    assert.equals("POST", t.requests[2].method)
    assert.equals(t.requests[1].body, t.requests[2].body)
  end)

  it("sends again at once after 429, with the same reference", function()
    local client, t = setup({ status(429), item(order("r")) })
    assert(buy(client))
    assert.equals(2, #t.requests)
    assert.equals(t.requests[1].body, t.requests[2].body)
  end)

  for _, case in ipairs {
    { "a 500 (committed, then failed)", status(500) },
    { "a timeout after sending", E("timeout", { sent = true }) },
    { "a reset after sending", E("network", { sent = true }) },
    { "a 200 it cannot read", status(200, "<html>half") },
    { "a 200 of the wrong shape", status(200, '{"order":{}}') },
  } do
    it("after " .. case[1] .. ", finds the order by reference instead of buying again", function()
      local client, t = setup({ case[2], lookup_finds })
      local o = assert(buy(client))
      assert.equals("o1", o.id)
      assert.equals(body_of(t.requests[1]).reference, o.reference)
      assert.equals(2, #t.requests) -- one purchase, one lookup
    end)
  end

  it("buys again with the same reference when the lookup proves nothing landed", function()
    local client, t = setup({ E("timeout", { sent = true }), page({}), item(order("r")) })
    assert(buy(client))
    assert.equals(3, #t.requests)
    assert.equals("POST", t.requests[3].method)
    assert.equals(t.requests[1].body, t.requests[3].body)
  end)

  it("ignores orders of other references in the lookup, across pages", function()
    local client, t = setup({
      status(500),
      page({ order("someone-else") }, "next"),
      function(req, tr)
        assert.matches("page_key=next", req.url)
        return page({ order(body_of(tr.requests[1]).reference) })
      end,
    })
    local o = assert(buy(client))
    assert.equals("o1", o.id)
    assert.equals(3, #t.requests)
  end)

  it("returns an indeterminate error carrying the reference when the lookup fails", function()
    local client, t = setup({ status(500, '{"message":"db down"}'), status(503) })
    local o, err = buy(client, nil, { retries = 0 })
    assert.is_nil(o)
    assert.equals(2, #t.requests)
    assert.equals("indeterminate", err.kind)
    assert.equals(body_of(t.requests[1]).reference, err.reference)
    assert.is_true(err.safe_to_retry)
    assert.equals("server", err.cause.kind)
    assert.equals(500, err.cause.status)
    assert.equals(1, err.attempts)
    assert.matches(err.reference, tostring(err), 1, true)
    assert.matches("indeterminate", tostring(err))
  end)

  it("and calling again with that reference is the caller's safe retry", function()
    local client, t = setup({ status(500), status(503), item(order("r")) })
    local _, err = buy(client, nil, { retries = 0 })
    assert(buy(client, { reference = err.reference }))
    assert.equals(err.reference, body_of(t.requests[3]).reference)
  end)

  it("the lookup retries an unreadable or enveloped answer too", function()
    local client, t = setup({ status(500), status(200, "<html>"), status(200, '{"success":false}'), lookup_finds })
    local o = assert(buy(client))
    assert.equals("o1", o.id)
    assert.equals(4, #t.requests)
  end)

  it("the lookup is a read: it retries within the same budget", function()
    local client, t = setup({ status(500), status(503), lookup_finds })
    local o = assert(buy(client))
    assert.equals("o1", o.id)
    assert.equals(3, #t.requests)
  end)

  it("still looks up after the last attempt failed", function()
    local client, t = setup({ status(502), lookup_finds }, { retries = 0 })
    assert(buy(client))
    assert.equals(2, #t.requests)
  end)

  it("ends with the error and its reference when no attempt can have landed", function()
    local client, t = setup({ E("network", { sent = false }), status(429), status(422) }, { retries = 2 })
    local _, err = buy(client)
    assert.equals(3, #t.requests)
    assert.equals("validation", err.kind)
    assert.equals(3, err.attempts)
    assert.equals(body_of(t.requests[1]).reference, err.reference)
    assert.equals(body_of(t.requests[1]).reference, body_of(t.requests[3]).reference)
    assert.is_true(err.safe_to_retry)
  end)

  it("ends indeterminate after 5xx answers, even when every lookup found nothing", function()
    -- A 5xx may come from a gateway that gave up while the API goes on
    -- with the purchase: nothing found yet does not prove it will not land.
    local client, t = setup({ status(500), page({}), status(500), page({}) }, { retries = 1 })
    local _, err = buy(client)
    assert.equals(4, #t.requests)
    assert.equals("indeterminate", err.kind)
    assert.equals("server", err.cause.kind)
    assert.equals(2, err.attempts)
    assert.equals(body_of(t.requests[1]).reference, err.reference)
    assert.equals(body_of(t.requests[1]).reference, body_of(t.requests[3]).reference)
    assert.is_true(err.safe_to_retry)
  end)

  -- The audit's case: a 504 (the gateway gave up, the API still working),
  -- nothing found yet, the same reference sent again and refused with a 429
  -- too long to wait. A plain rate_limited would read "nothing bought" to
  -- sell_plan (which gives the SIM's claim back), the journal and the CLI,
  -- while the first attempt may still land.
  for _, case in ipairs {
    { "a 504", status(504) },
    { "an unreadable 2xx", status(201, "<html>") },
  } do
    it("ends indeterminate when a later attempt is refused after " .. case[1], function()
      local client, t = setup({ case[2], page({}), status(429, "", { ["retry-after"] = "3600" }) }, { retries = 1 })
      local _, err = buy(client)
      assert.equals(3, #t.requests)
      assert.equals("indeterminate", err.kind)
      assert.equals("rate_limited", err.cause.kind)
      assert.is_true(err.safe_to_retry)
      assert.equals(body_of(t.requests[1]).reference, err.reference)
    end)
  end

  it("ends indeterminate when an attempt timed out, even if later lookups found nothing", function()
    -- The timed-out request may still be in process on the server: nothing
    -- found yet is no proof it will not land.
    local client, t = setup({ E("timeout", { sent = true }), page({}), status(500), page({}) }, { retries = 1 })
    local _, err = buy(client)
    assert.equals(4, #t.requests)
    assert.equals("indeterminate", err.kind)
    assert.equals("server", err.cause.kind)
    assert.equals(2, err.attempts)
    assert.is_true(err.safe_to_retry)
    assert.matches("may still be in process", err.message)
    assert.matches(err.reference, tostring(err), 1, true)
  end)

  it("reports a conflict when the reference names another SIM's order", function()
    local client, t = setup({ status(500), function(_, tr)
      local o = order(body_of(tr.requests[1]).reference)
      o.iccid = "other"
      return page({ o })
    end })
    local _, err = buy(client)
    assert.equals("reference_reused", err.kind)
    assert.matches("iccid", err.message)
    assert.equals(2, #t.requests)
  end)

  it("is indeterminate when the deadline leaves no time to look up", function()
    local client, t = setup({ E("timeout", { sent = true, elapsed = 2 }) }, { deadline_ms = 2000 })
    local _, err = buy(client)
    assert.equals(1, #t.requests)
    assert.equals("indeterminate", err.kind)
    assert.equals("timeout", err.cause.kind)
    assert.is_string(err.reference)
  end)

  it("does not retry or look up after a refusal, and the error carries the reference", function()
    local client, t = setup({ status(422, '{"message":"plan not for this SIM"}') })
    local _, err = buy(client, { reference = "ref-422" })
    assert.equals(1, #t.requests)
    assert.equals("validation", err.kind)
    assert.equals("ref-422", err.reference)
    assert.is_true(err.safe_to_retry)
  end)
end)

describe("create_subscription", function()
  it("reconciles through list_subscriptions by reference", function()
    local client, t = setup({ status(504), function(req, tr)
      local ref = body_of(tr.requests[1]).reference
      assert.equals("https://api.example.test" .. P .. "list-subscriptions?iccid=" .. ICCID .. "&reference=" .. ref ..
        "&limit=100", req.url)
      return page({ { id = "s1", reference = ref, iccid = ICCID, plan_id = "r1", status = "active" } })
    end })
    local sub = assert(client:create_subscription { iccid = ICCID, plan_id = "r1" })
    assert.equals("s1", sub.id)
    assert.equals(2, #t.requests)
  end)

  it("subscribes again with the same reference when none landed", function()
    local client, t = setup({ E("network", { sent = true }), page({}), item({ id = "s2" }) })
    assert(client:create_subscription { iccid = ICCID, plan_id = "r1" })
    assert.equals(3, #t.requests)
    assert.matches(UUID4, body_of(t.requests[3]).reference)
    assert.equals(t.requests[1].body, t.requests[3].body)
  end)
end)

describe("hooks", function()
  it("report each attempt, the retry and its reason, in order, with timings", function()
    local events = {}
    local function record(name) return function(e) events[#events + 1] = { name, e } end end
    local timings = { dns = 0.001, connect = 0.002, tls = 0.003, first_byte = 0.004, total = 0.005 }
    local client = setup({
      { status = 503, body = "", timings = timings, headers = { ["x-request-id"] = "rq-1" } },
      { status = 200, body = '{"items":[],"page_key":null}', timings = timings },
    }, { on_request = record("on_request"), on_response = record("on_response"), on_retry = record("on_retry"),
      on_error = record("on_error") })
    assert(client:list_inventory { limit = 1 })
    local names = {}
    for i, e in ipairs(events) do names[i] = e[1] end
    assert.same({ "on_request", "on_response", "on_error", "on_retry", "on_request", "on_response" }, names)
    local req1, res1, err1, retry1, req2 = events[1][2], events[2][2], events[3][2], events[4][2], events[5][2]
    assert.equals("GET", req1.method)
    assert.equals(P .. "list-inventory", req1.path)
    assert.equals("limit=1", req1.query)
    assert.equals("list_inventory", req1.operation)
    assert.equals(1, req1.attempt)
    assert.equals("[REDACTED]", req1.headers["x-api-key"])
    assert.equals("application/json", req1.headers["Accept"])
    assert.equals(503, res1.status)
    assert.equals("rq-1", res1.server_request_id)
    assert.equals(req1.request_id, res1.request_id) -- the call's own, on every event
    assert.same(timings, res1.timings)
    assert.equals("server", err1.error.kind)
    assert.is_false(err1.final)
    assert.equals("status 503", retry1.reason)
    assert.equals(0.25, retry1.delay)
    assert.equals(1, retry1.attempt)
    assert.equals(2, retry1.next_attempt)
    assert.equals(2, req2.attempt)
  end)

  it("mark the error that ends the call as final", function()
    local finals = {}
    local client = setup({ status(404) }, { on_error = function(e) finals[#finals + 1] = e.final end })
    client:get_sim { iccid = ICCID }
    assert.same({ true }, finals)
  end)

  it("a hook that raises does not fail the call; it is reported once", function()
    local logged = {}
    local client = setup({ page({}), page({}) }, {
      on_request = function() error("hook bug") end,
      logger = function(level, e) if level == "warn" then logged[#logged + 1] = e end end,
    })
    assert(client:list_inventory())
    assert(client:list_inventory())
    assert.equals(1, #logged)
    assert.equals("hook_failed", logged[1].event)
    assert.matches("hook bug", logged[1].message)
  end)

  it("get copies: a hook changing its event changes nothing sent", function()
    local client, t = setup({ page({}) }, { on_request = function(e) e.headers["x-api-key"] = "changed" end })
    client:list_inventory()
    assert.equals(KEY, t.requests[1].headers["x-api-key"])
  end)
end)

describe("correlation ids", function()
  it("send one per call, the same on every attempt, when correlation_header is set", function()
    local client, t = setup({ status(503), page({}), page({}) }, { correlation_header = "x-correlation-id" })
    client:list_inventory()
    client:list_inventory()
    local a, b, c = t.requests[1].headers["x-correlation-id"], t.requests[2].headers["x-correlation-id"],
      t.requests[3].headers["x-correlation-id"]
    assert.matches(UUID4, a)
    assert.equals(a, b)
    assert.not_equals(a, c)
  end)

  it("use the caller's value, and carry it in errors and lookups", function()
    local client, t = setup({ status(500), page({}), status(422) }, { correlation_header = "X-Request-Trace" })
    local _, err = client:purchase_plan({ iccid = ICCID, plan_id = "p" }, { correlation_id = "trace-42" })
    for _, req in ipairs(t.requests) do assert.equals("trace-42", req.headers["X-Request-Trace"]) end
    assert.equals("trace-42", err.correlation_id)
  end)

  it("are not sent unless asked for", function()
    local client, t = setup({ page({}) })
    client:list_inventory()
    assert.is_nil(t.requests[1].headers["x-correlation-id"])
    local c2, t2 = setup({ page({}) })
    c2:list_inventory(nil, { correlation_id = "given" })
    assert.equals("given", t2.requests[1].headers["x-correlation-id"])
    assert.has_error(function() setup({}, { correlation_header = "x-api-key" }) end)
  end)
end)

describe("logging", function()
  local function capture_stderr(f)
    local lines, real = {}, io.stderr
    io.stderr = { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end } -- luacheck: ignore 122
    local ok, err = pcall(f)
    io.stderr = real -- luacheck: ignore 122
    assert(ok, err)
    return table.concat(lines)
  end

  it("logger gets every event with its level", function()
    local seen = {}
    local client = setup({ status(503), page({}) },
      { logger = function(level, e) seen[#seen + 1] = level .. " " .. e.event end })
    client:list_inventory()
    assert.same({ "debug request", "debug response", "info error", "info retry", "debug request", "debug response" },
      seen)
  end)

  it("log = 'info' writes retries and failures to stderr, one line each, without debug lines", function()
    local out = capture_stderr(function()
      local client = setup({ status(503), status(404, '{"message":"gone"}') }, { log = "info" })
      client:get_sim { iccid = ICCID }
    end)
    assert.matches("flexiroam: info retry operation=get_sim method=GET path=/v1/public%-v2/get%-sim attempt=1", out)
    assert.matches("delay=0.250", out)
    assert.matches('info error .* status=404 .*error="flexiroam: not_found: gone', out)
    assert.is_nil(out:find("debug", 1, true))
  end)

  it("log = 'debug' adds requests and responses", function()
    local out = capture_stderr(function()
      local client = setup({ page({}) }, { log = "debug" })
      client:list_inventory()
    end)
    assert.matches("debug request", out)
    assert.matches("debug response .*status=200", out)
  end)

  it("writes any number a server sends, however large", function()
    local out = capture_stderr(function()
      local client = setup({ status(429, "", { ["retry-after"] = "99999999999999999999" }) }, { log = "info" })
      local _, err = client:list_inventory()
      assert.equals(1e20, err.retry_after)
    end)
    assert.matches("info error", out)
  end)

  it("is silent by default", function()
    local out = capture_stderr(function()
      local client = setup({ status(503), status(503), status(503) }, { log = false })
      client:list_inventory()
    end)
    assert.equals("", out)
  end)

  it("warns once per client when TLS verification is off", function()
    local warnings = {}
    local client = flexiroam.new { api_key = KEY, base_url = "https://x.test", verify = false,
      clock = fake_clock.new().seam, transport = fake_transport.new({ status(503), page({}), page({}) }),
      logger = function(level, e) if level == "warn" then warnings[#warnings + 1] = e.message end end }
    assert(client:list_inventory())
    assert(client:list_inventory())
    assert.equals(1, #warnings)
    assert.matches("verification is OFF", warnings[1])
  end)
end)

describe("the default clock", function()
  it("sleeps without spinning (core.sleep) and has a monotonic now", function()
    local clock = require("flexiroam.clock").new()
    local core = require "flexiroam.core"
    assert.equals(core.sleep, clock.sleep)
    assert.equals(core.monotonic, clock.now)
    local a = clock.now()
    clock.sleep(0.01)
    assert.is_true(clock.now() >= a)
  end)
end)

describe("core.sleep and core.monotonic", function()
  local core = require "flexiroam.core"
  it("sleep at least the time asked, and not at all for 0, negative or NaN", function()
    if not core.sleep then return pending("this core does not register src/clock.c yet") end
    local socket = require "socket"
    local t0, m0 = socket.gettime(), core.monotonic()
    core.sleep(0.05)
    assert.is_true(socket.gettime() - t0 >= 0.045)
    assert.is_true(core.monotonic() - m0 >= 0.045)
    core.sleep(0)
    core.sleep(-1)
    core.sleep(0 / 0)
    assert.has_error(function() core.sleep({}) end)
  end)
end)

describe("references", function()
  it("are distinct version 4 UUIDs", function()
    local seen = {}
    for _ = 1, 2000 do
      local r = reference.uuid4()
      assert.matches(UUID4, r)
      assert.is_nil(seen[r])
      seen[r] = true
    end
  end)
end)

describe("retry.classify", function()
  local function e(kind, fields) return flexiroam.errors.new(kind, "x", fields) end
  it("sorts failures by what may be repeated", function()
    local cases = {
      -- mode, error, expected decision
      { "read", e("timeout", { sent = true }), "retry" },
      { "unsafe", e("timeout", { sent = true }), "stop" },
      { "unsafe", e("timeout", { sent = false }), "retry" },
      { "reference", e("timeout", { sent = true }), "reconcile" },
      { "reference", e("network", { sent = false }), "retry" },
      { "reference", e("tls", { sent = false }), "stop" },
      { "idempotent", e("network", { sent = true }), "retry" },
      { "reference", e("server", { status = 501 }), "reconcile" },
      { "idempotent", e("server", { status = 501 }), "stop" },
      { "reference", e("rate_limited", { status = 429 }), "retry" },
      { "reference", e("conflict", { status = 409 }), "reconcile" }, -- which purchase has the reference?
      { "reference", e("decode", { status = 201 }), "reconcile" },
      { "read", e("decode", { status = 200 }), "stop" },
      { "reference", e("api", { status = 200 }), "stop" },
      { "lookup", e("api", { status = 200 }), "retry" },
      { "lookup", e("decode", { status = 200 }), "retry" },
      { "lookup", e("server", { status = 503 }), "retry" },
      { "lookup", e("auth", { status = 401 }), "stop" },
      -- Sent, and the answer was too large to read: the purchase may have
      -- been made, so it is looked up, never taken for "nothing bought".
      { "reference", e("too_large", { sent = true }), "reconcile" },
      { "reference", e("too_large", {}), "reconcile" }, -- sent unknown
      { "reference", e("too_large", { status = 200 }), "reconcile" },
      { "reference", e("tls", { sent = true }), "reconcile" },
      { "unsafe", e("too_large", { sent = true }), "stop" },
      { "read", e("too_large", { status = 200 }), "stop" },
      { "reference", e("too_large", { sent = false }), "stop" },
    }
    for i, case in ipairs(cases) do
      assert.equals(case[3], (retry.classify(case[1], case[2])), "case " .. i)
    end
    -- the reason a log line gives: a 2xx that failed by its kind, not "status 200"
    assert.equals("decode", select(2, retry.classify("read", e("decode", { status = 200 }))))
    assert.equals("status 404", select(2, retry.classify("read", e("not_found", { status = 404 }))))
  end)

  it("knows every write of the operations table", function()
    local pipeline = require "flexiroam.pipeline"
    for name, op in pairs(flexiroam.operations) do
      local mode = pipeline.mode_of(op)
      assert.equals(op.mode, mode, name) -- every operation names its own
      if op.method == "GET" then assert.equals("read", mode, name)
      else assert.is_truthy(mode == "reference" or mode == "idempotent", name) end
    end
  end)
end)
