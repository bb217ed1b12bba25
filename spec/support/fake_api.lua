--- A small stateful fake of the API's sale path, as a transport, for specs
-- that need no sockets and run under Lua 5.4 and LuaJIT alike (the sandbox
-- is a Lua 5.4 program): free eSIMs, list-inventory (availability, limit,
-- page_key), get-sim, purchase-plan (the reference rule; a second order on
-- a sold SIM is recorded, not refused, so a double sale shows),
-- list-orders (iccid, reference) and get-activation.
--   local api = fake_api.new { sims = 20 }
--   flexiroam.new { transport = api, ... }
--   api.orders            -- every order, in the order bought
--   api:purchases()       -- how many purchase-plan requests arrived
--   api.on_purchase = function(body) return {status =, body =} | {nil, err} end   -- instead of buying
--   api.before = function(req) end   -- runs before each answer (a coroutine may yield there)
local json = require "flexiroam.json"
local esim = require "flexiroam.esim"

local fake_api = {}
local Api = {}
Api.__index = Api

local P = "/v1/public-v2/"

local function iccid_at(i)
  local body = "8985235082" .. string.format("%09d", 500000 + i)
  return body .. esim.luhn_digit(body)
end
fake_api.iccid_at = iccid_at

--- new{sims = 20} -> transport
function fake_api.new(o)
  o = o or {}
  local self = setmetatable({ sims = {}, by_iccid = {}, orders = {}, requests = {}, clock = 0 }, Api)
  for i = 1, o.sims or 20 do
    local sim = { iccid = iccid_at(i), chip_type = "esim", availability_sku = "free___" .. i, sku = i,
      subscribed = "0___" .. i, status = "active" }
    self.sims[i], self.by_iccid[sim.iccid] = sim, sim
  end
  return self
end

local function answer(status, value)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = assert(json.encode(value)) }
end

local function query_of(url)
  local path, query = url:match("^https?://[^/]+(/[^?]*)%??(.*)$")
  local q = {}
  for k, v in query:gmatch("([^&=]+)=([^&]*)") do
    q[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  return path, q
end

local function page(list, keep, q)
  local limit, after = tonumber(q.limit) or 20, tonumber(q.page_key) or 0
  local items, next_key, last = json.array(), nil, nil
  for i = after + 1, #list do
    if keep(list[i]) then
      if #items == limit then
        next_key = tostring(last)
        break
      end
      items[#items + 1], last = list[i], i
    end
  end
  return answer(200, { items = items, page_key = next_key })
end

function Api:purchases()
  local n = 0
  for _, r in ipairs(self.requests) do
    if r.path == P .. "purchase-plan" then n = n + 1 end
  end
  return n
end

function Api:_buy(body)
  for _, order in ipairs(self.orders) do
    if order.reference == body.reference then
      if order.iccid == body.iccid and order.plan_id == body.plan_id then return answer(200, { item = order }) end
      return answer(409, { message = "reference already used with another iccid or plan_id", code = "conflict" })
    end
  end
  local sim = self.by_iccid[body.iccid]
  if not sim then return answer(404, { message = "no SIM with this iccid" }) end
  self.clock = self.clock + 1
  local order = { id = "ord-" .. (#self.orders + 1), reference = body.reference, iccid = body.iccid,
    plan_id = body.plan_id, status = "completed", created_at = string.format("2025-01-01 00:%02d:%02d",
      math.floor(self.clock / 60) % 60, self.clock % 60) }
  self.orders[#self.orders + 1] = order
  sim.availability_sku = "used___" .. sim.sku
  return answer(201, { item = order })
end

function Api:request(req)
  local path, q = query_of(req.url)
  self.requests[#self.requests + 1] = { method = req.method, path = path }
  if self.before then self.before(req) end
  if path == P .. "list-inventory" then
    return page(self.sims, function(sim) return q.search ~= "free" or sim.availability_sku:match("^free") end, q)
  elseif path == P .. "get-sim" then
    local sim = self.by_iccid[q.iccid]
    if not sim then return answer(404, { message = "no SIM with this iccid" }) end
    return answer(200, { item = sim })
  elseif path == P .. "purchase-plan" then
    local body = json.decode(req.body)
    if self.on_purchase then
      local res = self.on_purchase(body)
      if res then
        if res.status then return res end
        return nil, res[2]
      end
    end
    return self:_buy(body)
  elseif path == P .. "list-orders" then
    return page(self.orders, function(order)
      return (not q.iccid or order.iccid == q.iccid) and (not q.reference or order.reference == q.reference)
    end, q)
  elseif path == P .. "get-activation" then
    return answer(200, { item = { iccid = q.iccid, lpa = "LPA:1$smdp.test$" .. q.iccid, smdp_address = "smdp.test",
      matching_id = q.iccid } })
  end
  return answer(404, { message = "no route " .. path })
end

function Api.close() end

return fake_api
