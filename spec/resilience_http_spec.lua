-- Retries, the deadline, write classification and TLS through libcurl on
-- 127.0.0.1: the `sent` flag and the timeouts come from real transfers.
local flexiroam = require "flexiroam"
local procs = require "spec.support.test_processes"
local socket = require "socket"

local KEY = "sk_test_RESILIENCE_HTTP_51d0"
-- Elapsed-time bounds only catch a hang; under valgrind everything is slower.
local MARGIN = os.getenv("FLEXIROAM_UNDER_VALGRIND") and 15 or 3

describe("resilience over HTTP", function()
  local server, base

  lazy_setup(function()
    server = procs.http_server()
    base = ("http://127.0.0.1:%d"):format(server.port)
  end)
  lazy_teardown(function() procs.stop(server) end)

  -- A client counting its attempts; proxy = "" keeps an environment proxy out.
  local function new_client(opts)
    local counts = { requests = 0, retries = 0, paths = {} }
    opts = opts or {}
    opts.api_key = KEY
    opts.base_url = opts.base_url or base
    opts.proxy = ""
    opts.retry_base_ms = opts.retry_base_ms or 20
    opts.on_request = function(e)
      counts.requests = counts.requests + 1
      counts.paths[#counts.paths + 1] = e.method .. " " .. e.path
    end
    opts.on_retry = function() counts.retries = counts.retries + 1 end
    return flexiroam.new(opts), counts
  end

  it("retries a GET answered 503 and reports the attempts", function()
    local client, counts = new_client()
    local _, err = client:request("GET", "/status/503")
    assert.equals("server", err.kind)
    assert.equals(503, err.status)
    assert.equals(3, err.attempts)
    assert.equals(3, counts.requests)
    client:close()
  end)

  it("retries a GET whose answer was cut by a reset", function()
    local client, counts = new_client()
    local _, err = client:request("GET", "/reset")
    assert.equals("network", err.kind)
    assert.is_true(err.sent)
    assert.equals(3, counts.requests)
    client:close()
  end)

  it("sends a POST again when the connection was refused (nothing left)", function()
    local client, counts = new_client { base_url = ("http://127.0.0.1:%d"):format(procs.free_port()) }
    local _, err = client:request("POST", "/v1/x", { json = { a = 1 } })
    assert.equals("network", err.kind)
    assert.is_false(err.sent)
    assert.is_true(err.safe_to_retry)
    assert.equals(3, counts.requests)
    client:close()
  end)

  it("times out connecting as not sent, so even a purchase is sent again without a lookup", function()
    local port, close = procs.unaccepting_port()
    local url = ("http://127.0.0.1:%d"):format(port)
    local client, counts = new_client { base_url = url, connect_timeout_ms = 200 }
    local _, err = client:purchase_plan { iccid = "89852350824010131081", plan_id = "p1" }
    close()
    assert.equals("timeout", err.kind)
    assert.is_false(err.sent)
    assert.equals(3, err.attempts)
    assert.equals(3, counts.requests)
    for _, p in ipairs(counts.paths) do assert.equals("POST /v1/public-v2/purchase-plan", p) end
    assert.is_string(err.reference)
    client:close()
  end)

  it("never sends a POST again after it timed out on the server", function()
    local client, counts = new_client { timeout_ms = 300 }
    local _, err = client:request("POST", "/stall", { json = { a = 1 } })
    assert.equals("timeout", err.kind)
    assert.is_true(err.sent)
    assert.is_false(err.safe_to_retry)
    assert.equals(1, counts.requests)
    client:close()
  end)

  it("ends a purchase it cannot settle as indeterminate, with its reference", function()
    local client, counts = new_client { timeout_ms = 300, retries = 1,
      operations = { purchase_plan = { path = "/stall" }, list_orders = { path = "/status/500" } } }
    local order, err = client:purchase_plan { iccid = "89852350824010131081", plan_id = "p1" }
    assert.is_nil(order)
    assert.equals("indeterminate", err.kind)
    assert.equals("timeout", err.cause.kind)
    assert.matches("^%x+%-%x+%-4", err.reference)
    assert.is_true(err.safe_to_retry)
    assert.equals(3, counts.requests) -- the purchase, then the lookup and its one retry
    client:close()
  end)

  it("bounds all attempts and waits of a call by deadline_ms", function()
    local client, counts = new_client { retries = 10, retry_base_ms = 50 }
    local t0 = socket.gettime()
    local _, err = client:request("GET", "/stall", { deadline_ms = 700, timeout_ms = 200 })
    local elapsed = socket.gettime() - t0
    assert.equals("timeout", err.kind)
    assert.is_true(counts.requests >= 2 and counts.requests <= 4, "attempts: " .. counts.requests)
    assert.is_true(elapsed >= 0.6, "returned early: " .. elapsed)
    assert.is_true(elapsed < 0.7 + MARGIN, "took " .. elapsed)
    client:close()
  end)

  it("counts a drip under the low-speed limit as a timeout", function()
    local client = new_client { low_speed_bytes = 1000, low_speed_ms = 1000, retries = 0 }
    local _, err = client:request("GET", "/drip", { query = { n = 200, every = 0.1 } })
    assert.equals("timeout", err.kind)
    assert.matches("stalled", err.message)
    client:close()
  end)

  describe("TLS", function()
    local tls, cert

    lazy_setup(function()
      tls = procs.self_signed_tls()
      cert = tls and tls.cert
    end)
    lazy_teardown(function() procs.stop_tls(tls) end)

    local function https() return ("https://127.0.0.1:%d"):format(tls.port) end

    it("rejects a self-signed certificate, once, without retrying", function()
      if not tls then return pending("openssl not installed") end
      local client, counts = new_client { base_url = https() }
      local _, err = client:request("GET", "/")
      assert.equals("tls", err.kind)
      assert.is_false(err.sent)
      assert.equals(1, counts.requests)
      client:close()
    end)

    it("accepts it given as ca_file", function()
      if not tls then return pending("openssl not installed") end
      local client = new_client { base_url = https(), ca_file = cert }
      -- s_server -www answers an HTML page: past TLS, it is not JSON.
      local _, err = client:request("GET", "/")
      assert.equals("decode", err.kind)
      assert.equals(200, err.status)
      client:close()
    end)

    it("accepts it with verify = false, after one warning", function()
      if not tls then return pending("openssl not installed") end
      local warnings = 0
      local client = new_client { base_url = https(), verify = false,
        logger = function(level) if level == "warn" then warnings = warnings + 1 end end }
      local _, err = client:request("GET", "/")
      client:request("GET", "/")
      assert.equals("decode", err.kind)
      assert.equals(1, warnings)
      client:close()
    end)
  end)
end)
