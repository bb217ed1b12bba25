-- The API key never leaves the SDK except in the x-api-key header: every
-- failure mode runs with a distinctive key and every hook payload, logger
-- event, stderr line, error, nested error and tostring is searched for it.
local flexiroam = require "flexiroam"
local fake_transport = require "spec.support.fake_transport"
local fake_clock = require "spec.support.fake_clock"
local procs = require "spec.support.test_processes"

local KEY = "sk_live_LEAKCANARY_q9Z2x7"
local ENCODED = KEY -- unreserved characters only: percent-encoding leaves it as is
local E = fake_transport.error

-- Everything the SDK emitted, as strings: tables walked (keys too),
-- errors also through their C __tostring.
local Sink = {}
Sink.__index = Sink

local function new_sink()
  return setmetatable({ texts = {}, count = 0 }, Sink)
end

function Sink:add(value, seen)
  seen = seen or {}
  local t = type(value)
  if t == "string" then
    self.texts[#self.texts + 1] = value
  elseif t == "number" or t == "boolean" then
    self.texts[#self.texts + 1] = tostring(value)
  elseif t == "table" and not seen[value] then
    seen[value] = true
    self.count = self.count + 1
    if flexiroam.errors.is_error(value) then self.texts[#self.texts + 1] = tostring(value) end
    for k, v in pairs(value) do
      self:add(k, seen)
      self:add(v, seen)
    end
  end
end

function Sink:assert_clean()
  assert.is_true(self.count > 0, "nothing was captured")
  for _, text in ipairs(self.texts) do
    assert.is_nil(text:find(KEY, 1, true), "the API key leaked into: " .. text)
    assert.is_nil(text:find(KEY:sub(1, 16), 1, true), "a prefix of the API key leaked into: " .. text)
  end
end

local function capture_stderr(sink, f)
  local real = io.stderr
  io.stderr = { write = function(_, ...) sink:add(table.concat({ ... })) end } -- luacheck: ignore 122
  local ok, err = pcall(f)
  io.stderr = real -- luacheck: ignore 122
  assert(ok, err)
end

-- A client whose every output goes to `sink`: the four hooks, the logger,
-- and (through log = "debug") the stderr logger of a second client.
local function watched(sink, opts)
  opts = opts or {}
  opts.api_key = KEY
  for _, hook in ipairs { "on_request", "on_response", "on_retry", "on_error" } do
    opts[hook] = function(e) sink:add(e) end
  end
  return opts
end

local function run_everywhere(sink, make_opts, calls)
  -- Once with hooks and a logger function, once with the stderr logger.
  for _, mode in ipairs { "logger", "stderr" } do
    local opts = watched(sink, make_opts())
    if mode == "logger" then
      opts.logger = function(level, e) sink:add(level); sink:add(e) end
    else
      opts.log = "debug"
    end
    capture_stderr(sink, function()
      local client = flexiroam.new(opts)
      sink:add(tostring(client))
      for _, call in ipairs(calls) do
        -- Errors only: data a server returns is the caller's, as it came.
        local data, err = call(client)
        if not data then sink:add(err) end
      end
      client:close()
    end)
  end
end

local function echo_json(code, extra_headers)
  local headers = { ["content-type"] = "application/json", ["set-cookie"] = "session=" .. KEY,
    ["x-echo-key"] = KEY }
  for k, v in pairs(extra_headers or {}) do headers[k] = v end
  return { status = code, headers = headers,
    body = '{"message":"bad key ' .. KEY .. '","code":"' .. KEY .. '","fields":{"' .. KEY .. '":"' .. KEY .. '"}}' }
end

-- Every failure a response or a transport can produce, each echoing the key.
local function scripted_failures()
  local list = {}
  for _, code in ipairs { 400, 401, 403, 404, 408, 409, 422, 425, 429, 500, 501, 502, 503, 504 } do
    list[#list + 1] = echo_json(code, { ["retry-after"] = "0" })
  end
  list[#list + 1] = { status = 502, body = "<html><p>upstream sent x-api-key: " .. KEY .. "</p></html>" }
  list[#list + 1] = { status = 200, body = "not json, echoing " .. KEY }
  list[#list + 1] = { status = 200, body = ("p"):rep(190) .. KEY } -- the key straddles the excerpt's cut
  list[#list + 1] = { status = 200, body = '{"success":false,"msg":"' .. KEY .. '","code":"' .. KEY .. '"}' }
  list[#list + 1] = { status = 200, body = '{"item":"' .. KEY .. '"}' }
  for _, kind in ipairs { "network", "timeout", "tls", "too_large" } do
    list[#list + 1] = E(kind, { sent = true, message = "curl said " .. KEY, curl_error = KEY,
      url = "https://h/?k=" .. ENCODED })
    list[#list + 1] = E(kind, { sent = false, message = "curl said " .. KEY })
  end
  list[#list + 1] = { nil, "a transport error as a plain string with " .. KEY }
  return list
end

describe("redaction", function()
  it("keeps the key out of everything, for every scripted failure of reads", function()
    local sink = new_sink()
    for _, failure in ipairs(scripted_failures()) do
      run_everywhere(sink, function()
        local answers = {}
        for i = 1, 3 do
          local copy = {}
          for k, v in pairs(failure) do copy[k] = v end
          answers[i] = copy
        end
        return { base_url = "https://api.example.test", transport = fake_transport.new(answers),
          clock = fake_clock.new().seam }
      end, { function(c) return c:list_inventory() end })
    end
    sink:assert_clean()
  end)

  it("keeps the key out of everything for writes, lookups and indeterminate outcomes", function()
    local sink = new_sink()
    local lookups = {
      echo_json(503),
      { status = 200, body = '{"items":[{"reference":"x","note":"' .. KEY .. '"}],"page_key":null}' },
      { status = 200, body = "garbage " .. KEY },
    }
    for _, failure in ipairs(scripted_failures()) do
      for _, lookup in ipairs(lookups) do
        run_everywhere(sink, function()
          local answers = {}
          for i = 1, 8 do answers[i] = i % 2 == 1 and failure or lookup end
          local transport = fake_transport.new({})
          -- Fresh copies: the transport fills in default headers.
          function transport.request(self, req)
            self.requests[#self.requests + 1] = req
            local a = table.remove(answers, 1) or lookup
            if a.status == nil then
              local err = a[2]
              if flexiroam.errors.is_error(err) then
                local copy = {}
                for k, v in pairs(err) do copy[k] = v end
                err = setmetatable(copy, flexiroam.errors.mt)
              end
              return nil, err
            end
            return { status = a.status, headers = a.headers or {}, body = a.body }
          end
          return { base_url = "https://api.example.test", transport = transport, clock = fake_clock.new().seam,
            correlation_header = "x-correlation-id" }
        end, {
          function(c) return c:purchase_plan { iccid = "89852350824010131081", plan_id = "p1" } end,
          function(c) return c:create_subscription { iccid = "89852350824010131081", plan_id = "r1" } end,
          function(c) return c:update_sim { iccid = "89852350824010131081" } end,
          function(c) return c:request("POST", "/raw", { json = { a = 1 } }) end,
        })
      end
    end
    sink:assert_clean()
  end)

  it("keeps the key out of raised iterator errors and hook failures", function()
    local sink = new_sink()
    run_everywhere(sink, function()
      local answers = { echo_json(503), echo_json(503), echo_json(503) }
      return { base_url = "https://api.example.test", transport = fake_transport.new(answers),
        on_retry = function() error("hook failed holding " .. KEY) end, clock = fake_clock.new().seam }
    end, { function(c)
      local ok, err = pcall(function() for _ in c:inventory() do end end)
      assert.is_false(ok)
      return nil, err
    end })
    sink:assert_clean()
  end)

  it("redacts a key with slashes in every spelling an echo may carry: raw, percent-encoded, JSON-escaped", function()
    local key = "sk/live+Q9z=="
    local redact = flexiroam.errors.redactor(key)
    local echoed = table.concat({ key, "sk%2Flive%2BQ9z%3D%3D", "sk\\/live+Q9z==", "sk\\u002flive+Q9z==",
      "sk\\u002Flive+Q9z==" }, " | ")
    assert.equals("[REDACTED] | [REDACTED] | [REDACTED] | [REDACTED] | [REDACTED]", redact(echoed))
    assert.equals(redact(echoed), flexiroam.errors.redact(echoed, key))
    -- a body the server wrote with PHP's json_encode, decoded: the key reads as sent
    local body = '{"message": "no plans for key sk\\/live+Q9z=="}'
    assert.is_nil(redact(body):find("live", 1, true))
  end)

  it("shows credential headers as [REDACTED] in hook payloads", function()
    local seen, sent
    local client = flexiroam.new {
      api_key = KEY, base_url = "https://api.example.test", clock = fake_clock.new().seam,
      transport = fake_transport.new({ { status = 200, body = '{"items":[]}',
        headers = { ["set-cookie"] = "a=b", authorization = "Bearer zzz" } } }),
      on_response = function(e) seen = e end,
      on_request = function(e) sent = e end,
    }
    assert(client:list_inventory())
    assert.equals("[REDACTED]", sent.headers["x-api-key"])
    assert.equals("[REDACTED]", seen.headers["set-cookie"])
    assert.equals("[REDACTED]", seen.headers.authorization)
  end)

  describe("over real HTTP", function()
    local server
    lazy_setup(function() server = procs.http_server() end)
    lazy_teardown(function() procs.stop(server) end)

    it("keeps the key out of everything for echoed requests, resets, stalls and refusals", function()
      local sink = new_sink()
      local base = ("http://127.0.0.1:%d"):format(server.port)
      local refused = ("http://127.0.0.1:%d"):format(procs.free_port())
      local routes = { "/echo", "/status/500", "/status/429", "/reset", "/stall" }
      for _, route in ipairs(routes) do
        run_everywhere(sink, function()
          return { base_url = base, timeout_ms = 300, retries = 1, retry_base_ms = 10, proxy = "",
            operations = { list_inventory = { path = route }, purchase_plan = { path = route },
              list_orders = { path = route } } }
        end, {
          function(c) return c:list_inventory() end,
          function(c) return c:purchase_plan { iccid = "89852350824010131081", plan_id = "p1" } end,
          function(c) return c:request("POST", route, { json = { k = 1 } }) end,
        })
      end
      run_everywhere(sink, function() return { base_url = refused, retries = 1, retry_base_ms = 10, proxy = "" } end, {
        function(c) return c:list_inventory() end,
      })
      sink:assert_clean()
    end)

    it("writes no key to the real stderr under FLEXIROAM_LOG=debug", function()
      local script = ([[
        package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
        package.cpath = "./build/5.4/?.so;" .. package.cpath
        local c = require("flexiroam").new { base_url = "http://127.0.0.1:%d", retries = 1, retry_base_ms = 10,
          proxy = "",
          operations = { list_inventory = { path = "/echo" }, purchase_plan = { path = "/status/503" },
            list_orders = { path = "/status/500" } } }
        c:list_inventory()
        c:purchase_plan { iccid = "89852350824010131081", plan_id = "p" }
      ]]):format(server.port)
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(script)
      f:close()
      local p = io.popen("env -u LD_PRELOAD FLEXIROAM_LOG=debug FLEXIROAM_API_KEY=" .. KEY ..
        " lua5.4 " .. path .. " 2>&1")
      local out = p:read("a")
      p:close()
      os.remove(path)
      assert.matches("flexiroam: debug request", out)
      assert.matches("info error", out)
      assert.matches("indeterminate", out)
      assert.is_nil(out:find(KEY, 1, true), out)
    end)
  end)
end)
