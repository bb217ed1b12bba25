-- A transport that decodes (docs/transport.md, `decodes`): the pipeline
-- asks it to decode a read's answer (`decode`, the options it would use
-- itself) and takes `data` when it comes back; never for a write, a raw
-- request, a reference lookup or a read whose body the cache keeps. A
-- transport without `decodes` never sees the field.
local flexiroam = require "flexiroam"
local json = flexiroam.json
local fake_transport = require "spec.support.fake_transport"
local memory_store = require "spec.support.memory_store"

local KEY = "k-decode-spec"
local ICCID = "8910300000000000009"
local PAGE = '{"items":[{"iccid":"' .. ICCID .. '","status":"active","sku":4024081013108,' ..
  '"plan":{"name":"FRA","id":"p"}}],"page_key":null}'
local ORDER = '{"item":{"id":"o1","reference":"r1","iccid":"' .. ICCID .. '","plan_id":"FRA-1GB-7D",' ..
  '"status":"completed","created_at":"2024-01-01 00:00:00"}}'

-- A fake that decodes as the libcurl session does: `data` for a 2xx body
-- that json.decode takes with the request's options, `body` otherwise.
local function decoding(bodies)
  local t = fake_transport.new({})
  t.decodes = true
  local answers = {}
  for i, b in ipairs(bodies) do
    answers[i] = function(req)
      local res = { status = b.status or 200, headers = { ["content-type"] = "application/json" } }
      local data = req.decode and res.status < 300 and b.body ~= "" and json.decode(b.body, req.decode)
      if data then res.data = data else res.body = b.body end
      return res
    end
  end
  t.responses = answers
  return t
end

local function client_on(transport, extra)
  local opts = { api_key = KEY, base_url = "http://127.0.0.1:9", transport = transport, retry_base_ms = 0 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return flexiroam.new(opts)
end

describe("a transport that decodes", function()
  it("is asked to decode a read, with the options of a full decode or of the fields, and its data is used", function()
    local t = decoding { { body = PAGE }, { body = PAGE } }
    local client = client_on(t)
    local page = assert(client:list_inventory {})
    assert.same({ big_integers = "string" }, t.requests[1].decode)
    assert.equals("active", page.items[1].status)
    assert.equals("SIM", flexiroam.models.kind(page.items[1]))
    local sel = assert(client:list_inventory({}, { fields = { "iccid", "plan.name" } }))
    local opts = t.requests[2].decode
    assert.equals("items", opts.select_at)
    assert.same({ iccid = true, plan = { name = true } }, opts.select)
    assert.equals("FRA", sel.items[1].plan.name)
    assert.has_error(function() return sel.items[1].status end) -- models made by the decoder: guarded
    assert.has_error(function() return sel.items[1].plan.id end)
    assert.same({ "iccid", "plan.name" }, sel.items[1]:fields())
  end)

  it("leaves a write, a raw request and a lookup to the pipeline's own decode", function()
    local t = decoding { { body = ORDER, status = 201 }, { body = '{"ok":true}' } }
    local client = client_on(t)
    local order = assert(client:purchase_plan { iccid = ICCID, plan_id = "FRA-1GB-7D", reference = "r1" })
    assert.equals("o1", order.id)
    assert.is_nil(t.requests[1].decode)
    assert.equals("POST", t.requests[1].method)
    assert(client:request("GET", "/v1/anything"))
    assert.is_nil(t.requests[2].decode)
  end)

  it("reports an answer it could not decode as the pipeline does, from the body", function()
    local t = decoding { { body = "<html>502</html>" }, { body = '{"message":"gone"}', status = 404 } }
    local client = client_on(t, { retries = 0 })
    local page, err = client:list_inventory {}
    assert.is_nil(page)
    assert.equals("decode", err.kind)
    assert.matches("not valid JSON", err.message, 1, true)
    page, err = client:get_sim { iccid = ICCID }
    assert.is_nil(page)
    assert.equals(404, err.status)
    assert.equals("gone", err.message)
  end)

  it("is not asked to decode a read whose body the catalogue cache keeps", function()
    local now = 1000
    local store = memory_store.new(function() return now end)
    local t = decoding { { body = '{"items":[],"page_key":null}' } }
    local client = client_on(t, { shared = store, clock = { now = function() return now end,
      time = function() return now end, sleep = function() end } })
    assert(client:list_plans { country = "FRA", type = "one_time", chip_type = "esim" })
    assert.equals(1, #t.requests)
    assert.is_nil(t.requests[1].decode)
    assert(client:list_plans { country = "FRA", type = "one_time", chip_type = "esim" }) -- from the cache
    assert.equals(1, #t.requests)
  end)

  it("is never sent with a HEAD, a read of an operation the caller defined", function()
    local t = decoding { { body = "" } }
    local client = client_on(t, { operations = { ping = { method = "HEAD", path = "/v1/ping", answer = "item" } } })
    client:call("ping", {})
    assert.equals("HEAD", t.requests[1].method)
    assert.is_nil(t.requests[1].decode)
  end)

  it("is a field only a transport with decodes sees", function()
    local plain = fake_transport.new { { status = 200, body = PAGE } }
    assert(client_on(plain):list_inventory {})
    assert.is_nil(plain.requests[1].decode)
  end)
end)
