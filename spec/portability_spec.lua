-- What differs between Lua 5.4 and LuaJIT, and how a client picks its
-- transport; runs under both (`luajit /usr/bin/busted`), outside nginx.
local flexiroam = require "flexiroam"
local compat = require "flexiroam.compat"
local url = require "flexiroam.url"
local response = require "flexiroam.response"
local transports = require "flexiroam.transport"
local ngx_transport = require "flexiroam.transport.ngx"
local fake_transport = require "spec.support.fake_transport"

local function succeeded(r)
  return r == true or r == 0
end

local function decode(body)
  return response.decode({ status = 200, headers = {}, body = body },
    { method = "GET", path = "/x", redact = function(s) return s end })
end

describe("compat", function()
  it("names integers the same way on every Lua", function()
    assert.equals("integer", compat.math_type(4024081013108))
    assert.equals("integer", compat.math_type(-3))
    assert.equals("float", compat.math_type(0.5))
    assert.equals("float", compat.math_type(1 / 0))
    assert.equals("float", compat.math_type(0 / 0))
    assert.is_nil(compat.math_type("1"))
    assert.is_nil(compat.math_type(nil))
  end)

  it("knows which Lua runs", function()
    local jit = rawget(_G, "jit")
    assert.equals(jit and jit.version or _VERSION, compat.lua_name())
    assert.equals(math.type ~= nil, compat.HAS_INTEGERS) -- luacheck: ignore 143
  end)
end)

describe("query strings", function()
  it("write integral numbers as plain digits (LuaJIT's tostring gives 1e+15)", function()
    assert.equals("limit=1000000000000000", url.query({ "limit" }, { limit = 1e15 }))
    assert.equals("sku=4024081013108", url.query({ "sku" }, { sku = 4024081013108 }))
    assert.equals("n=9007199254740992", url.query({ "n" }, { n = 2 ^ 53 }))
    assert.equals("x=0.5", url.query({ "x" }, { x = 0.5 }))
  end)
end)

describe("API answers", function()
  it("keep integers exact where the Lua can hold them", function()
    local data = assert(decode('{"sku": 4024081013108, "bytes": 9007199254740992}'))
    assert.equals(4024081013108, data.sku)
    assert.equals(2 ^ 53, data.bytes)
    assert.equals("integer", compat.math_type(data.sku))
  end)

  it("keep the digits of integers the Lua cannot hold, never a rounded number", function()
    local data = assert(decode('{"a": 9007199254740993, "b": -9007199254740993, "c": 18446744073709551617}'))
    if compat.HAS_INTEGERS then
      assert.equals("integer", math.type(data.a)) -- luacheck: ignore 143
      assert.equals("9007199254740993", string.format("%d", data.a))
      assert.equals("-9007199254740993", string.format("%d", data.b))
    else
      -- LuaJIT: a double would be 9007199254740992, a different SKU.
      assert.equals("9007199254740993", data.a)
      assert.equals("-9007199254740993", data.b)
    end
    assert.equals("18446744073709551617", data.c)
  end)

  it("keep them in error bodies too", function()
    local res = { status = 409, headers = {}, body = '{"message": "m", "code": 18446744073709551617}' }
    local _, err = response.decode(res, { method = "GET", path = "/x", redact = function(s) return s end })
    assert.equals("conflict", err.kind)
    assert.equals("18446744073709551617", err.code)
  end)
end)

describe("transport selection", function()
  local function new(opts)
    opts.api_key = "k"
    opts.base_url = opts.base_url or "http://127.0.0.1:9"
    return flexiroam.new(opts)
  end

  -- The User-Agent of a request names the transport that sent it.
  local function user_agent_of(opts)
    local seen
    opts.on_request = function(e) seen = e.headers["User-Agent"] end
    opts.retries = 0
    local client = new(opts)
    client:list_inventory() -- to a closed port: refused, after on_request
    client:close()
    return seen
  end

  it("is libcurl outside nginx", function()
    assert.is_false(ngx_transport.in_nginx())
    assert.matches("; libcurl/[%d.]+%)$", user_agent_of {})
    assert.matches("; libcurl/[%d.]+%)$", user_agent_of { transport = "curl" })
    local t = transports.select("curl", {})
    assert.matches("^flexiroam%.session", tostring(t))
    t:close()
  end)

  it("refuses the nginx transport outside nginx, clearly", function()
    assert.has_error(function() new { transport = "ngx" } end,
      'flexiroam.new: transport "ngx" needs nginx\'s Lua module (ngx.socket.tcp): outside nginx use "curl"')
    local t = ngx_transport.new()
    local ok, err = pcall(t.request, t, { url = "http://127.0.0.1:9/" })
    assert.is_false(ok)
    assert.matches("not running inside nginx", err)
  end)

  it("takes an object with a request method as it is", function()
    local fake = fake_transport.new({ { status = 200, body = '{"items": []}' } })
    assert(new({ transport = fake }):list_inventory())
    assert.equals(1, #fake.requests)
  end)

  it("raises on anything else", function()
    assert.has_error(function() new { transport = "http" } end,
      'flexiroam.new: transport must be "curl", "ngx" or an object with a request method')
    assert.has_error(function() new { transport = 42 } end)
    assert.has_error(function() transports.select({}, {}) end)
  end)

  it("checks the nginx transport's options where it is built", function()
    assert.has_error(function() ngx_transport.new { ca_file = "/x" } end,
      "flexiroam.transport.ngx: ca_file is not supported: set lua_ssl_trusted_certificate in nginx.conf instead")
    assert.has_error(function() ngx_transport.new { proxy = "http://p" } end)
    assert.has_error(function() ngx_transport.new { timeout_ms = 0 } end)
    assert.has_error(function() ngx_transport.new { verify = "yes" } end)
    assert.has_error(function() ngx_transport.new { timeot_ms = 5 } end,
      "flexiroam.transport.ngx: unknown option 'timeot_ms'")
    assert.equals(1000, ngx_transport.new({ timeout_ms = 1000 }).timeout_ms)
  end)

  it("names the cosocket phases", function()
    for _, phase in ipairs { "rewrite", "access", "content", "timer" } do
      assert.is_true(ngx_transport.phase_allows(phase), phase)
    end
    for _, phase in ipairs { "init", "init_worker", "set", "header_filter", "body_filter", "log", "balancer" } do
      assert.is_false(ngx_transport.phase_allows(phase), phase)
    end
  end)
end)

describe("LuaJIT can load the SDK", function()
  local function have_luajit()
    return succeeded(os.execute("command -v luajit >/dev/null 2>&1"))
  end

  it("every module outside the sandbox parses as Lua 5.1 (luajit -bl)", function()
    if not have_luajit() then return pending("skipped: luajit is not installed") end
    local p = assert(io.popen("find lua -name '*.lua' -not -path 'lua/flexiroam/sandbox/*' | sort"))
    local files = {}
    for file in p:lines() do files[#files + 1] = file end
    p:close()
    assert.is_true(#files >= 10)
    for _, file in ipairs(files) do
      assert.is_true(succeeded(os.execute("luajit -bl " .. file .. " >/dev/null 2>&1")),
        file .. " does not parse under LuaJIT")
    end
  end)
end)
