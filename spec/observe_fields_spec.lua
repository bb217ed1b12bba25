-- Every field a hook or logger event carries is in the README's table of
-- event fields, and every field that table names is carried by some event:
-- the documentation and the events cannot drift apart.
local flexiroam = require "flexiroam"
local fake_transport = require "spec.support.fake_transport"
local fake_clock = require "spec.support.fake_clock"
local slurp = require("spec.support.test_processes").slurp

local json = flexiroam.json
local ICCID = "89852350824010131081"

-- The field names of README.md's event table ("| field | type | in |").
local function documented_fields()
  local text = slurp("README.md")
  if text == "" then return nil end
  local names, in_table = {}, false
  for line in (text .. "\n"):gmatch("(.-)\n") do -- one line each, on 5.1 as on 5.4
    if line:find("^| field | type | in |") then
      in_table = true
    elseif in_table then
      if not line:find("^|") then break end
      local first = line:match("^| ([^|]+) |")
      for name in (first or ""):gmatch("`([%w_]+)`") do names[name] = true end
    end
  end
  return names
end

-- An answer as a transport gives it, with everything a response event reports.
local function page(items)
  return { status = 200, body = json.encode { items = json.array(items), page_key = json.null },
    http_version = "1.1", reused = true,
    timings = { dns = 0, connect = 0, tls = 0, first_byte = 0.001, total = 0.002 } }
end

describe("hook and logger events", function()
  it("carry exactly the fields the README's table documents", function()
    local documented = assert(documented_fields(), "README.md not found (run from the repository root)")
    assert.is_true(next(documented) ~= nil, "the README has no event table")
    local events = {}
    local function keep(e) events[#events + 1] = e end
    local clk = fake_clock.new()
    local order
    local transport = fake_transport.new({
      -- a read: 503 (error + retry), then 200
      { status = 503, body = "", headers = { ["x-request-id"] = "srv-1" } }, page({}),
      -- a purchase: a reset after sending, then the lookup finds it
      fake_transport.error("network", { sent = true }),
      function(req)
        order = { id = "o1", reference = req.url:match("reference=([^&]+)"), iccid = ICCID, plan_id = "p1",
          status = "completed" }
        return page({ order })
      end,
      -- a raw request, refused
      { status = 404, body = '{"message":"no"}' },
    }, clk)
    local client = flexiroam.new {
      api_key = "sk_OBSERVE_FIELDS_5d1e", base_url = "https://api.example.test", transport = transport,
      clock = clk.seam,
      verify = false, correlation_header = "x-correlation-id", timeout_ms = 5000,
      on_request = keep, on_response = keep, on_retry = keep,
      on_error = function(e) keep(e); error("a hook bug") end,
      logger = function(_, e) keep(e) end,
    }
    assert(client:list_inventory())
    assert(client:purchase_plan { iccid = ICCID, plan_id = "p1" })
    assert.is_nil(client:request("GET", "/v1/public-v2/anything"))
    local seen = {}
    for _, e in ipairs(events) do
      for k in pairs(e) do
        assert.is_true(documented[k] == true, "event " .. tostring(e.event) .. " carries '" .. tostring(k) ..
          "', which the README's event table does not list")
        seen[k] = true
      end
    end
    for name in pairs(documented) do
      assert.is_true(seen[name] == true, "the README's event table lists '" .. name .. "', which no event carried")
    end
    assert.is_truthy(order)
  end)
end)
