-- The client end to end over real HTTP on 127.0.0.1: against the sandbox,
-- and against sockets that never answer.
local flexiroam = require "flexiroam"
local socket = require "socket"
local sandbox = require "spec.support.sandbox"

local SIMS, PSIM_EVERY = 45, 10

-- A listening socket that never accepts: the kernel still completes the
-- handshake and buffers what the client sends, so the client waits for an
-- answer that never comes, and the spec can read the request afterwards.
local function silent_server()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  return server, ("http://127.0.0.1:%d"):format(port)
end

local function read_request(server)
  server:settimeout(2)
  local conn = assert(server:accept())
  conn:settimeout(2)
  local lines = {}
  repeat
    local line = assert(conn:receive("*l"))
    lines[#lines + 1] = line
  until line == ""
  conn:close()
  return lines
end

describe("client over HTTP", function()
  local sb
  lazy_setup(function() sb = sandbox.start { sims = SIMS, seed = 3 } end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local function new_client(opts)
    opts = opts or {}
    opts.api_key = opts.api_key or "sandbox-key"
    opts.base_url = opts.base_url or sb.url
    return flexiroam.new(opts)
  end

  it("lists the free eSIMs as documented", function()
    local client = new_client()
    local page = assert(client:list_inventory { chip_type = "esim", search_by = "availability", search = "free" })
    assert.is_true(#page.items > 0)
    for _, sim in ipairs(page.items) do
      assert.equals("esim", sim.chip_type)
      assert.matches("^free___", sim.availability_sku)
      assert.equals("integer", require("flexiroam.compat").math_type(sim.sku))
      assert.matches("^%d+$", sim.iccid)
    end
    client:close()
  end)

  it("iterates every SIM exactly once across many pages", function()
    local client = new_client()
    local seen, count = {}, 0
    for sim in client:inventory { chip_type = "esim", limit = 4 } do
      assert.is_nil(seen[sim.iccid], "SIM seen twice: " .. sim.iccid)
      seen[sim.iccid] = true
      count = count + 1
    end
    assert.equals(SIMS - math.floor(SIMS / PSIM_EVERY), count)
    client:close()
  end)

  it("keeps one connection alive across calls", function()
    local client = new_client()
    local before = assert(client:request("GET", "/__sandbox/stats"))
    for _ = 1, 5 do assert(client:list_inventory { limit = 1 }) end
    local after = assert(client:request("GET", "/__sandbox/stats"))
    assert.equals(0, after.connections - before.connections)
    assert.equals(6, after.requests - before.requests)
    client:close()
  end)

  it("maps a wrong key to an auth error that does not contain the key", function()
    local wrong = "sk_wrong_key_8c1d77e0"
    local client = new_client { api_key = wrong }
    local page, err = client:list_inventory()
    assert.is_nil(page)
    assert.equals("auth", err.kind)
    assert.equals(401, err.status)
    assert.equals("unauthorized", err.code)
    assert.is_nil(tostring(err):find(wrong, 1, true))
    assert.is_nil(err.message:find(wrong, 1, true))
    client:close()
  end)

  it("maps a 422 from the sandbox with its fields", function()
    local client = new_client()
    local _, err = client:list_inventory { limit = 1000 }
    assert.equals("validation", err.kind)
    assert.equals(422, err.status)
    assert.is_table(err.fields)
    assert.is_not_nil(err.fields.limit)
    client:close()
  end)

  it("reports a refused connection as a network error, known not sent", function()
    local server, url = silent_server()
    server:close() -- nothing listens there any more
    local client = new_client { base_url = url }
    local page, err = client:list_inventory()
    assert.is_nil(page)
    assert.equals("network", err.kind)
    assert.is_false(err.sent)
    assert.equals("/v1/public-v2/list-inventory", err.path)
    client:close()
  end)

  it("gives up on a server that never answers, within the timeout", function()
    local server, url = silent_server()
    -- One attempt: the deadline across retries has its own spec.
    local client = new_client { base_url = url, timeout_ms = 300, retries = 0 }
    local start = socket.gettime()
    local page, err = client:list_inventory()
    local elapsed = socket.gettime() - start
    assert.is_nil(page)
    assert.equals("timeout", err.kind)
    assert.is_true(elapsed < 0.3 + 1.5, "took " .. elapsed .. " s")
    client:close()
    server:close()
  end)

  it("sends exactly the documented request line and headers", function()
    local server, url = silent_server()
    local client = new_client { base_url = url, timeout_ms = 200, api_key = "k-123" }
    client:list_inventory { chip_type = "esim", search_by = "availability", search = "free" }
    client:close()
    local lines = read_request(server)
    server:close()
    assert.equals("GET /v1/public-v2/list-inventory?chip_type=esim&search_by=availability&search=free HTTP/1.1",
      lines[1])
    local headers = {}
    for i = 2, #lines - 1 do
      local name, value = lines[i]:match("^([^:]+):%s*(.*)$")
      headers[name:lower()] = value
    end
    assert.equals("k-123", headers["x-api-key"])
    assert.equals("application/json", headers["content-type"])
    assert.equals("application/json", headers["accept"])
    local lua = require("flexiroam.compat").lua_name():gsub("%p", "%%%0")
    assert.matches("^flexiroam%-lua/[%d.]+ %(" .. lua .. "; libcurl/[%d.]+%)$", headers["user-agent"])
    assert.equals(url:match("//(.*)$"), headers["host"])
    assert.is_nil(headers["expect"])
  end)

  it("refuses an answer over max_response_bytes", function()
    local client = new_client { max_response_bytes = 2000 }
    local page, err = client:list_inventory { limit = 50 }
    assert.is_nil(page)
    assert.equals("too_large", err.kind)
    client:close()
  end)
end)
