-- luacheck: std luajit+ngx_lua
--- A storefront on OpenResty: sells a one-time data plan on a free eSIM and
-- answers the LPA string a phone installs the eSIM from (shown as a QR code).
--
--   GET  /plans[?country=FRA]                        the one-time eSIM plans on sale
--   POST /buy {"plan_id": "...", "reference": "..."}  -> 201 {"iccid", "order_id", "plan_id", "lpa", "install_url"}
--   GET  /usage?iccid=A,B,...                         data left on up to 20 eSIMs, asked all at once
--   GET  /install/<iccid>[.png]?e=&t=                 the page that installs an eSIM (install_page.lua)
--
-- install_url is the install page's link signed for this eSIM
-- (install_token.lua, with STOREFRONT_SECRET), valid STOREFRONT_INSTALL_TTL
-- seconds (7 days if unset), a path for the shop to send its customer on
-- its own host; null, and a log line, while the secret is missing.
--
-- `reference` is the shop's own order number: the API charges once per
-- reference, and a repeated /buy with it answers the same eSIM, so a
-- customer double-clicking or a proxy retrying never pays twice.
--
-- Inside nginx the SDK speaks through cosockets on its own: a handler
-- waiting on the API leaves the worker free for every other request.
--
-- Every worker's client shares the lua_shared_dict "flexiroam" (nginx.conf):
-- the workers keep ONE rate limit together (rate_limit requests a second in
-- all, not per worker), and the plan catalogue is cached there for all of
-- them (list_plans: 5 minutes, refreshed by one worker while the others
-- keep answering), so page views do not each cost an API call. Sales never
-- come from the cache: the SIMs, orders and usage are live state.
local flexiroam = require "flexiroam"
local install_page = require "install_page"
local install_token = require "install_token"

local json = flexiroam.json

local storefront = {}

-- One client per worker, made on first use: it holds no socket between
-- requests (connections wait in nginx's keep-alive pool). The key and the
-- address come from FLEXIROAM_API_KEY and FLEXIROAM_BASE_URL (see `env`
-- in nginx.conf).
local RATE_LIMIT = 10 -- requests a second the API key may make, all workers together

local client
local function api()
  client = client or flexiroam.new { timeout_ms = 15000, rate_limit = RATE_LIMIT, shared = "flexiroam" }
  return client
end

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(value))
  return ngx.exit(status)
end

-- What the shop's customer is told when the API fails: our own key or the
-- API's trouble is a 502/503/504, never the customer's fault. A sale the
-- shared store could not guard (kind "store": no purchase was sent) is a
-- 503: the customer may try again in a moment.
local STATUS_FOR = {
  http = 400, not_found = 404, validation = 422, conflict = 409, rate_limited = 503, store = 503,
  timeout = 504, network = 502, tls = 502, server = 502, auth = 502, forbidden = 502,
}

local function fail(err)
  -- The error's text names the call and never the key; the log keeps it.
  ngx.log(ngx.ERR, "flexiroam: ", tostring(err))
  return reply(STATUS_FOR[err.kind] or 502, { error = err.kind, message = err.message, request_id = err.request_id })
end

-- Answered from the catalogue cache: one worker asks the API for each
-- query once every 5 minutes; page views meanwhile get the catalogue it
-- fetched last (or, the very first ones, wait for it).
function storefront.plans()
  local page, err = api():list_plans {
    chip_type = "esim", type = "one_time", country = ngx.var.arg_country, limit = 50,
  }
  if not page then return fail(err) end
  local plans = {}
  for _, plan in ipairs(page.items) do
    plans[#plans + 1] = {
      id = plan.id, name = plan.name, price = plan.price, data_bytes = plan.data_bytes,
      validity_days = plan.validity_days,
    }
  end
  return reply(200, { plans = json.array(plans) })
end

-- The signed link to the page installing this eSIM, or json.null without a
-- usable secret (the sale itself still stands).
local function install_url(iccid)
  local secret = install_page.secret()
  local usable, why = install_token.secret_ok(secret)
  if not usable then
    ngx.log(ngx.ERR, "no install link: ", why)
    return json.null
  end
  local ttl = tonumber(os.getenv("STOREFRONT_INSTALL_TTL") or "") or install_token.DEFAULT_TTL
  return install_token.path(secret, iccid, ngx.time() + math.floor(ttl))
end

function storefront.buy()
  ngx.req.read_body()
  local body = json.decode(ngx.req.get_body_data() or "")
  if type(body) ~= "table" or type(body.plan_id) ~= "string" or type(body.reference) ~= "string"
      or body.reference == "" or #body.reference > 100 then
    return reply(400, { error = "bad_request", message = 'send {"plan_id": "...", "reference": "your order number"}' })
  end
  -- A free eSIM, the plan bought onto it, its activation: a repeated
  -- reference finds its order and answers it again (sale.replayed).
  local sale, err = api():sell_plan { plan_id = body.plan_id, reference = body.reference }
  if not sale then return fail(err) end
  return reply(201, {
    iccid = sale.order.iccid, order_id = sale.order.id, plan_id = sale.order.plan_id,
    lpa = sale.activation.lpa, replayed = sale.replayed, install_url = install_url(sale.order.iccid),
  })
end

-- The customer's eSIMs in one answer: the calls run at once, each on a
-- light thread (client:usage_many inside nginx), so twenty eSIMs take
-- about as long as one and the worker serves others meanwhile. A SIM the
-- API cannot answer for gets its own error; the others still answer.
local MAX_USAGE = 20

function storefront.usage()
  local iccids = {}
  for iccid in (ngx.var.arg_iccid or ""):gmatch("[^,]+") do iccids[#iccids + 1] = iccid end
  if #iccids == 0 or #iccids > MAX_USAGE then
    return reply(400, { error = "bad_request", message = "send ?iccid=A,B,... (1 to " .. MAX_USAGE .. " ICCIDs)" })
  end
  local results = api():usage_many(iccids, { concurrency = #iccids })
  local usage = {}
  for i, r in ipairs(results) do
    if r.ok then
      usage[i] = { iccid = iccids[i], status = r.value.status, remaining_bytes = r.value.data_remaining_bytes }
    else
      usage[i] = { iccid = iccids[i], error = r.err.kind, message = r.err.message }
    end
  end
  return reply(200, { usage = json.array(usage) })
end

function storefront.install() return install_page.serve(api()) end

return storefront
