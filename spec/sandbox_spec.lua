-- luacheck: std +busted
-- The sandbox: its transport-independent handler (no sockets), then the real
-- server as a subprocess, spoken to in raw HTTP over 127.0.0.1. Answers are
-- decoded with lua-cjson so that these specs do not lean on the SDK's codec.
-- The sandbox is a Lua 5.4 program (integer arithmetic throughout): under
-- LuaJIT its own specs skip, while the SDK's specs still run it as a lua5.4
-- subprocess.
if _VERSION ~= "Lua 5.4" then
  return describe("sandbox", function()
    pending("skipped: the sandbox runs under Lua 5.4 only, not " .. _VERSION)
  end)
end
local cjson = require "cjson"
local socket = require "socket"
local handler = require "flexiroam.sandbox.handler"
local inventory = require "flexiroam.sandbox.inventory"
local query = require "flexiroam.sandbox.query"
local support = require "spec.support.sandbox"

local KEY = "sandbox-key"
local LIST = "/v1/public-v2/list-inventory"
local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"

local function get(h, path, query_string, headers)
  return h:handle {
    method = "GET", path = path, query = query_string,
    headers = headers or { ["x-api-key"] = KEY }, body = "", remote_addr = "127.0.0.1",
  }
end

local function list(h, query_string)
  local res = get(h, LIST, query_string)
  return res, cjson.decode(res.body)
end

local function assert_error(res, status, code)
  assert.equals(status, res.status)
  assert.equals("application/json", res.headers["content-type"])
  local body = cjson.decode(res.body)
  assert.equals(code, body.code)
  assert.equals("string", type(body.message))
  return body
end

-- Every page of a query, following page_key until it is null.
local function all_pages(h, query_string)
  local pages, key = {}, nil
  repeat
    local q = query_string .. (key and ("&page_key=" .. key) or "")
    local res, body = list(h, q)
    assert.equals(200, res.status)
    pages[#pages + 1] = body
    key = body.page_key ~= cjson.null and body.page_key or nil
    assert.is_true(#pages <= 1000, "page keys never end")
  until not key
  return pages
end

-- Sorted "a.b.c" paths of every key, recursing into objects and the first
-- element of non-empty arrays.
local function key_paths(value, prefix, out)
  out = out or {}
  if type(value) == "table" then
    if #value > 0 then
      key_paths(value[1], prefix .. "[]", out)
    else
      for k, v in pairs(value) do
        local path = prefix == "" and k or (prefix .. "." .. k)
        out[#out + 1] = path
        key_paths(v, path, out)
      end
    end
  end
  table.sort(out)
  return out
end

describe("sandbox query strings", function()
  it("decodes percent-escapes and + as a space, first occurrence winning", function()
    local q = query.parse("a=1+2%2B3&b&a=second&%63hip=%65sim&e=%E2%82%AC&&")
    assert.same({ a = "1 2+3", b = "", chip = "esim", e = "\226\130\172" }, q)
  end)

  it("refuses malformed escapes", function()
    for _, raw in ipairs { "a=%zz", "a=%4", "a=%", "%g1=x" } do
      assert.is_nil(query.parse(raw), raw)
    end
  end)
end)

describe("sandbox handler: list-inventory", function()
  local h
  before_each(function() h = handler.new { sims = 200, seed = 1 } end)

  it("answers the first page with the default limit and a page key", function()
    local res, body = list(h, "")
    assert.equals(200, res.status)
    assert.equals("application/json", res.headers["content-type"])
    assert.equals(20, #body.items)
    assert.equals("string", type(body.page_key))
  end)

  it("pages across the whole inventory, every SIM exactly once, and ends with a null key", function()
    for _, limit in ipairs { 7, 100, 1 } do
      local seen, count = {}, 0
      local pages = all_pages(h, "limit=" .. limit)
      for _, page in ipairs(pages) do
        assert.is_true(#page.items <= limit)
        for _, sim in ipairs(page.items) do
          assert.is_nil(seen[sim.iccid], "seen twice: " .. sim.iccid)
          seen[sim.iccid] = true
          count = count + 1
        end
      end
      assert.equals(200, count)
      assert.equals(math.ceil(200 / limit), #pages)
      assert.equals(cjson.null, pages[#pages].page_key)
    end
  end)

  it("filters by chip_type, and pages a filter without leaving it", function()
    local psim, esim = 0, 0
    for _, page in ipairs(all_pages(h, "chip_type=psim&limit=6")) do
      for _, sim in ipairs(page.items) do
        assert.equals("psim", sim.chip_type)
        psim = psim + 1
      end
    end
    for _, page in ipairs(all_pages(h, "chip_type=esim&limit=100")) do
      for _, sim in ipairs(page.items) do
        assert.equals("esim", sim.chip_type)
        esim = esim + 1
      end
    end
    assert.equals(20, psim)
    assert.equals(180, esim)
  end)

  it("filters by availability and by subscription, and answers an empty list as []", function()
    local _, free = list(h, "chip_type=esim&search_by=availability&search=free&limit=100")
    assert.equals(100, #free.items)
    for _, sim in ipairs(free.items) do assert.matches("^free___", sim.availability_sku) end
    local res = get(h, LIST, "search_by=availability&search=used")
    assert.equals(200, res.status)
    assert.matches('"items":%[%]', res.body)
    assert.equals(cjson.null, cjson.decode(res.body).page_key)

    local _, unsubscribed = list(h, "search_by=subscribed&search=0&limit=5")
    assert.equals(5, #unsubscribed.items)
    local _, subscribed = list(h, "search_by=subscribed&search=1")
    assert.equals(0, #subscribed.items)
  end)

  it("finds one SIM by iccid or by sku, and none for an unknown one", function()
    local target = h.state.sims[42]
    local _, by_iccid = list(h, "search_by=iccid&search=" .. target.iccid)
    assert.equals(1, #by_iccid.items)
    assert.equals(target.id, by_iccid.items[1].id)
    assert.equals(cjson.null, by_iccid.page_key)
    local _, by_sku = list(h, "search_by=sku&search=" .. target.sku)
    assert.equals(1, #by_sku.items)
    assert.equals(target.iccid, by_sku.items[1].iccid)
    local _, none = list(h, "search_by=iccid&search=89000000000000000000")
    assert.equals(0, #none.items)
    -- the chip_type filter still applies to an exact search
    local _, other_chip = list(h, "chip_type=psim&search_by=iccid&search=" .. target.iccid)
    assert.equals(target.chip_type == "psim" and 1 or 0, #other_chip.items)
  end)

  it("sees a changed SIM in the next answer, and reset restores the initial state", function()
    local sim = h.state.sims[3]
    sim.availability_sku = "used___" .. sim.sku
    h:sim_changed(sim)
    local _, used = list(h, "search_by=availability&search=used")
    assert.equals(1, #used.items)
    assert.equals("used___" .. sim.sku, used.items[1].availability_sku)
    local res = h:handle { method = "POST", path = "/__sandbox/reset", headers = {}, body = "" }
    assert.equals(200, res.status)
    local _, after = list(h, "search_by=availability&search=used")
    assert.equals(0, #after.items)
  end)

  it("decodes escaped query values", function()
    local _, body = list(h, "chip_type=%70sim&search_by=availability&search=fr%65e")
    assert.equals(20, #body.items)
    assert.equals("psim", body.items[1].chip_type)
    assert_error(get(h, LIST, "chip_type=%zz"), 400, "bad_request")
  end)

  it("refuses a chip_type other than esim or psim with 400", function()
    for _, v in ipairs { "usim", "", "ESIM", "esim+" } do
      assert_error(get(h, LIST, "chip_type=" .. v), 400, "bad_request")
    end
  end)

  it("refuses unknown search_by and bad search values with 400", function()
    for _, q in ipairs {
      "search_by=colour&search=red", "search_by=availability&search=taken", "search_by=availability",
      "search_by=subscribed&search=2", "search_by=iccid&search=12ab", "search_by=iccid&search=123",
      "search_by=sku&search=-1", "search=free",
    } do
      assert_error(get(h, LIST, q), 400, "bad_request")
    end
  end)

  it("validates limit: an integer from 1 to 100, else 422 naming the field", function()
    for _, v in ipairs { "0", "101", "abc", "1.5", "", "-1", "1e2", "00000000001" } do
      local body = assert_error(get(h, LIST, "limit=" .. v), 422, "validation_failed")
      assert.equals("string", type(body.fields.limit), v)
    end
    local _, one = list(h, "limit=1")
    assert.equals(1, #one.items)
    local _, hundred = list(h, "limit=100")
    assert.equals(100, #hundred.items)
  end)

  it("refuses a forged, foreign or empty page key with 400", function()
    local _, first = list(h, "limit=5")
    local key = first.page_key
    local forged = key:sub(1, 7) .. (key:sub(8, 8) == "0" and "1" or "0") .. key:sub(9)
    for _, bad in ipairs { forged, "", "nonsense", key .. "0", key:upper() ~= key and key:upper() or "ZZ" } do
      assert_error(get(h, LIST, "limit=5&page_key=" .. bad), 400, "bad_request")
    end
    -- a key belongs to the query that issued it
    assert_error(get(h, LIST, "limit=5&chip_type=esim&page_key=" .. key), 400, "bad_request")
    -- and to the seed of the sandbox that issued it
    assert_error(get(handler.new { seed = 2 }, LIST, "limit=5&page_key=" .. key), 400, "bad_request")
    local res = get(h, LIST, "limit=3&page_key=" .. key)
    assert.equals(200, res.status)
  end)

  it("answers 401 without a key or with an unknown one, never echoing the key", function()
    assert_error(get(h, LIST, "", {}), 401, "unauthorized")
    local res = get(h, LIST, "", { ["x-api-key"] = "not-THE-key-7f3a" })
    assert_error(res, 401, "unauthorized")
    assert.is_nil(res.body:find("not-THE-key-7f3a", 1, true))
    -- unknown /v1 paths are behind the key too
    assert_error(get(h, "/v1/public-v2/nothing-here", "", {}), 401, "unauthorized")
  end)

  it("accepts any of several keys", function()
    local multi = handler.new { keys = "k1,k2" }
    assert.equals(200, get(multi, LIST, "", { ["x-api-key"] = "k2" }).status)
    assert_error(get(multi, LIST, "", { ["x-api-key"] = KEY }), 401, "unauthorized")
    assert.equals(200, get(handler.new { keys = { "a", "b" } }, LIST, "", { ["x-api-key"] = "a" }).status)
  end)

  it("answers 404 for an unknown route and 405 for a wrong method", function()
    assert_error(get(h, "/v1/public-v2/nothing-here"), 404, "not_found")
    assert_error(get(h, "/"), 404, "not_found")
    local res = h:handle { method = "DELETE", path = LIST, headers = { ["x-api-key"] = KEY }, body = "" }
    assert_error(res, 405, "method_not_allowed")
    assert.equals("GET", res.headers.allow)
    assert_error(get(h, "/__sandbox/reset"), 405, "method_not_allowed")
  end)

  it("numbers every answer with a distinct x-request-id", function()
    local ids = {}
    for _, res in ipairs { get(h, LIST, ""), get(h, "/nowhere"), get(h, LIST, "", {}), h:reject(400, "bad") } do
      local id = res.headers["x-request-id"]
      assert.equals("string", type(id))
      assert.is_nil(ids[id])
      ids[id] = true
    end
  end)

  it("counts requests in stats", function()
    get(h, LIST, "")
    get(h, "/nowhere")
    local res = get(h, "/__sandbox/stats", "", {})
    assert.equals(200, res.status)
    local body = cjson.decode(res.body)
    assert.equals(3, body.requests)
    assert.equals(0, body.connections)
  end)

  it("answers 500 in JSON when a route fails, and keeps serving", function()
    local logged = {}
    local broken = handler.new {
      routes = { ["GET /__sandbox/boom"] = function() error("boom") end },
      log = function(message) logged[#logged + 1] = message end,
    }
    assert_error(get(broken, "/__sandbox/boom"), 500, "internal_error")
    assert.matches("boom", logged[1])
    assert.equals(200, get(broken, LIST, "").status)
  end)

  it("copes with a request table missing its parts", function()
    assert_error(h:handle {}, 404, "not_found")
    assert_error(h:handle { method = "GET", path = LIST }, 401, "unauthorized")
    assert.equals(200, h:handle { method = "GET", path = LIST, headers = { ["x-api-key"] = KEY } }.status)
  end)
end)

describe("sandbox inventory", function()
  it("is the same for the same seed and differs for another", function()
    local function sims(seed)
      return cjson.decode(get(handler.new { seed = seed }, LIST, "limit=100").body).items
    end
    assert.same(sims(7), sims(7))
    assert.are_not.same(sims(7), sims(8))
    assert.same(inventory.generate { count = 30, seed = 5 }, inventory.generate { count = 30, seed = 5 })
  end)

  it("gives SIMs valid ICCIDs (Luhn) and version-4 UUIDs, all distinct", function()
    local ids, iccids = {}, {}
    for _, sim in ipairs(inventory.generate { count = 300, seed = 3, psim_every = 10 }) do
      assert.matches("^%d+$", sim.iccid)
      assert.is_true(require("flexiroam.esim").is_iccid(sim.iccid), sim.iccid)
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", sim.id)
      assert.is_nil(ids[sim.id])
      assert.is_nil(iccids[sim.iccid])
      ids[sim.id], iccids[sim.iccid] = true, true
    end
  end)

  it("has exactly the published sample's fields", function()
    local f = io.open(SHARED .. "/api/list-inventory.sample.json", "rb")
    if not f then
      pending("skipped: " .. SHARED .. " not found")
      return
    end
    local sample = cjson.decode(f:read("a"))
    f:close()
    local h = handler.new {}
    local _, body = list(h, "limit=1")
    assert.same(key_paths(sample.items[1], ""), key_paths(body.items[1], ""))
    -- and the same JSON types field by field
    for k, v in pairs(sample.items[1]) do
      assert.equals(type(v), type(body.items[1][k]), k)
    end
  end)
end)

-- Raw HTTP over LuaSocket, every wait bounded.
local function connect(sb)
  local c = socket.tcp()
  c:settimeout(5)
  assert(c:connect(sb.host, sb.port))
  return c
end

local function read_response(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local res = { status = tonumber(line:match("^HTTP/1%.%d (%d%d%d) ")), headers = {} }
  while true do
    local h = assert(c:receive("*l"))
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.*)$")
    res.headers[name:lower()] = value
  end
  local length = tonumber(res.headers["content-length"])
  res.body = length and length > 0 and assert(c:receive(length)) or ""
  return res
end

local function request_text(method, target, headers, body)
  local lines = { method .. " " .. target .. " HTTP/1.1", "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local function request(c, method, target, headers, body)
  assert(c:send(request_text(method, target, headers, body)))
  return assert(read_response(c))
end

local function stats(sb)
  local c = connect(sb)
  local res = request(c, "GET", "/__sandbox/stats", { Connection = "close" })
  c:close()
  return cjson.decode(res.body)
end

-- true when the server closed the connection (rather than leaving it open)
local function closed_by_peer(c)
  local _, err = c:receive(1)
  return err == "closed"
end

describe("sandbox server", function()
  local sb
  setup(function() sb = support.start { sims = 50, seed = 1 } end)
  teardown(function() if sb then sb:stop() end end)

  it("prints its address as its first line", function()
    assert.matches("^listening http://127%.0%.0%.1:%d+$", sb.first_line)
    assert.is_true(sb.port > 0)
  end)

  it("serves list-inventory with JSON, a request id and the key check", function()
    local c = connect(sb)
    local res = request(c, "GET", LIST .. "?limit=2&chip_type=esim", { ["X-Api-Key"] = KEY })
    assert.equals(200, res.status)
    assert.equals("application/json", res.headers["content-type"])
    assert.truthy(res.headers["x-request-id"])
    assert.equals(2, #cjson.decode(res.body).items)
    local denied = request(c, "GET", LIST, {})
    assert.equals(401, denied.status)
    assert.equals("unauthorized", cjson.decode(denied.body).code)
    c:close()
  end)

  it("carries several requests on one kept-alive connection", function()
    local before = stats(sb)
    local c = connect(sb)
    for _ = 1, 3 do
      assert.equals(200, request(c, "GET", LIST .. "?limit=1", { ["x-api-key"] = KEY }).status)
    end
    local now = cjson.decode(request(c, "GET", "/__sandbox/stats").body)
    c:close()
    assert.equals(before.connections + 1, now.connections)
    assert.equals(before.requests + 4, now.requests)
  end)

  it("answers pipelined requests in order", function()
    local c = connect(sb)
    assert(c:send(request_text("GET", LIST .. "?limit=1", { ["x-api-key"] = KEY })
      .. request_text("GET", "/nowhere") .. request_text("GET", LIST .. "?limit=2", { ["x-api-key"] = KEY })))
    assert.equals(1, #cjson.decode(read_response(c).body).items)
    assert.equals(404, read_response(c).status)
    assert.equals(2, #cjson.decode(read_response(c).body).items)
    c:close()
  end)

  it("serves one client while another is halfway through its request", function()
    local slow, fast = connect(sb), connect(sb)
    assert(slow:send("GET " .. LIST .. "?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-"))
    local res = request(fast, "GET", LIST .. "?limit=3", { ["x-api-key"] = KEY })
    assert.equals(3, #cjson.decode(res.body).items)
    assert(slow:send("key: " .. KEY .. "\r\n\r\n"))
    local late = assert(read_response(slow))
    assert.equals(1, #cjson.decode(late.body).items)
    assert.are_not.equal(res.headers["x-request-id"], late.headers["x-request-id"])
    slow:close()
    fast:close()
  end)

  it("serves others while a client does not read its answers", function()
    local hog = connect(sb)
    local burst = string.rep(request_text("GET", LIST .. "?limit=100", { ["x-api-key"] = KEY }), 300)
    assert(hog:send(burst))
    local c = connect(sb)
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
    hog:close()
  end)

  it("honours Connection: close", function()
    local c = connect(sb)
    local res = request(c, "GET", "/__sandbox/stats", { Connection = "close" })
    assert.equals(200, res.status)
    assert.equals("close", res.headers.connection)
    assert.is_true(closed_by_peer(c))
    c:close()
  end)

  it("keeps an HTTP/1.0 connection only when asked", function()
    local c = connect(sb)
    assert(c:send("GET /__sandbox/stats HTTP/1.0\r\n\r\n"))
    assert.equals(200, read_response(c).status)
    assert.is_true(closed_by_peer(c))
    c:close()
    c = connect(sb)
    assert(c:send("GET /__sandbox/stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
    assert.equals("keep-alive", read_response(c).headers.connection)
    assert(c:send("GET /__sandbox/stats HTTP/1.0\r\n\r\n"))
    assert.equals(200, read_response(c).status)
    c:close()
  end)

  it("answers a malformed request line with 400, closes, and serves the next client", function()
    for _, junk in ipairs { "HELLO\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n: no-name\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n" } do
      local c = connect(sb)
      assert(c:send(junk))
      local res = assert(read_response(c))
      assert.equals(400, res.status, junk)
      assert.equals("bad_request", cjson.decode(res.body).code)
      assert.is_true(closed_by_peer(c))
      c:close()
    end
    local c = connect(sb)
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
  end)

  it("answers an oversize header with 431 and an oversize request line with 414", function()
    local c = connect(sb)
    assert(c:send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " .. string.rep("a", 20000) .. "\r\n\r\n"))
    local res = assert(read_response(c))
    assert.equals(431, res.status)
    assert.is_true(closed_by_peer(c))
    c:close()
    c = connect(sb)
    assert(c:send("GET /" .. string.rep("a", 20000) .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    assert.equals(414, assert(read_response(c)).status)
    c:close()
  end)

  it("answers an oversize body with 413 and a chunked one with 411", function()
    local c = connect(sb)
    assert(c:send("POST /__sandbox/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\n\r\nxx"))
    assert.equals(413, assert(read_response(c)).status)
    c:close()
    c = connect(sb)
    assert(c:send("POST /__sandbox/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
    assert.equals(411, assert(read_response(c)).status)
    c:close()
  end)

  it("reads a Content-Length body, sending 100 Continue when asked", function()
    local c = connect(sb)
    assert(c:send("POST /__sandbox/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
      .. "Expect: 100-continue\r\n\r\n"))
    assert.equals("HTTP/1.1 100 Continue", c:receive("*l"))
    assert.equals("", c:receive("*l"))
    assert(c:send("{}"))
    assert.equals(200, read_response(c).status)
    -- the body did not leak into the next request
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
  end)

  it("still serves after clients vanish mid-request", function()
    for _ = 1, 3 do
      local c = connect(sb)
      assert(c:send("POST /__sandbox/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc"))
      c:close()
    end
    local c = connect(sb)
    assert.equals(200, request(c, "GET", "/__sandbox/stats").status)
    c:close()
  end)

  it("stops on SIGTERM", function()
    local how, code = sb:stop()
    assert.equals("signal", how)
    assert.equals(15, code)
    local c = socket.tcp()
    c:settimeout(2)
    assert.is_nil(c:connect(sb.host, sb.port))
    c:close()
  end)
end)

describe("sandbox command line", function()
  local function run(args)
    local p = io.popen("lua5.4 bin/flexiroam-sandbox " .. args .. " 2>&1")
    local out = p:read("a")
    local _, how, code = p:close()
    return out, how, code
  end

  it("lists its flags with --help", function()
    local out, _, code = run("--help")
    assert.equals(0, code)
    for _, flag in ipairs { "--host", "--port", "--sims", "--seed", "--keys" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
  end)

  it("exits 2 with a message on bad flags", function()
    for _, args in ipairs { "--port x", "--port 70000", "--sims", "--bogus", "--keys ,", "extra" } do
      local out, how, code = run(args)
      assert.equals("exit", how)
      assert.equals(2, code, args)
      assert.matches("flexiroam%-sandbox: ", out)
    end
  end)

  it("gives up on a server that never prints its line, without hanging", function()
    local t0 = socket.gettime()
    local ok, err = pcall(support.start, { command = "sleep 30", timeout = 0.5 })
    assert.is_false(ok)
    assert.matches("no answer within", err)
    assert.is_true(socket.gettime() - t0 < 5)
  end)

  it("uses the seed and the keys it is given", function()
    local sb = support.start { sims = 5, seed = 9, keys = { "one", "two" } }
    local ok, err = pcall(function()
      local c = connect(sb)
      local res = request(c, "GET", LIST .. "?limit=100", { ["x-api-key"] = "two" })
      c:close()
      local expected = get(handler.new { sims = 5, seed = 9 }, LIST, "limit=100")
      assert.same(cjson.decode(expected.body), cjson.decode(res.body))
    end)
    sb:stop()
    assert(ok, err)
  end)
end)
