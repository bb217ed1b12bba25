-- luacheck: std luajit+ngx_lua
--- The handlers spec/cache_fleet_spec.lua runs inside a 4-worker nginx:
-- each worker keeps one client, as a storefront would, against the counting
-- upstream ($counter_url, spec/support/rate_counter.lua).
--   GET /plans          a page view: client:list_plans() through the catalogue cache
--                       (shared = "flexiroam", ttl $cache_ttl, rate_limit 10)
--   GET /outcomes       how many of each cache outcome every worker's on_cache saw
--   GET /tiny/fill      fills the dict "tiny" with cache entries (droppable sets) until it refuses one
--   GET /tiny/state?n=  n new limiter slots, claims and state keys in "tiny"; what it holds after
--   GET /tiny/plans     a page view whose cache is the full "tiny"
-- Each answers JSON.
local flexiroam = require "flexiroam"
local store = require "flexiroam.store"
local ngx_app = require "spec.support.ngx_app"
local ngx_shared = require "flexiroam.store.ngx_shared"

local KEY = "cache-fleet-key-do-not-log"
local NS = store.namespace(KEY)

local app = {}

local reply = ngx_app.reply

local function count(event)
  ngx.shared.results:incr("outcome:" .. event.outcome, 1, 0)
end

local client = ngx_app.clients(function(dict)
  local ttl = tonumber(ngx.var.cache_ttl)
  return flexiroam.new { api_key = KEY, base_url = ngx.var.counter_url, rate_limit = 10, timeout_ms = 5000,
    shared = dict, cache = { ttl = { list_plans = ttl } }, on_cache = count }
end)

local function page_view(dict)
  local page, err = client(dict):list_plans { chip_type = "esim", type = "one_time" }
  reply { pid = ngx.worker.pid(), ok = page ~= nil, kind = err and err.kind, message = err and err.message }
end

-- The cache entries in a dict (flags DROPPABLE).
local function cache_entries(dict)
  local n = 0
  for _, k in ipairs(dict:get_keys(0)) do
    local _, flags = dict:get(k)
    if flags == ngx_shared.DROPPABLE then n = n + 1 end
  end
  return n
end

local handlers = {}

handlers["/plans"] = function() page_view("flexiroam") end
handlers["/tiny/plans"] = function() page_view("tiny") end

handlers["/outcomes"] = function()
  local out = {}
  for _, name in ipairs { "hit", "stale", "wait", "miss", "refresh", "unavailable" } do
    out[name] = ngx.shared.results:get("outcome:" .. name) or 0
  end
  reply(out)
end

handlers["/tiny/fill"] = function()
  local s, n = store.ngx_shared("tiny"), 0
  while true do
    local ok, err = s:set(NS .. "cache:list_plans:fill?page=" .. n, ("x"):rep(500), 600, true)
    if not ok then
      reply { filled = n, err = err.message, free_space = ngx.shared.tiny:free_space(),
        capacity = ngx.shared.tiny:capacity() }
      return
    end
    n = n + 1
  end
end

handlers["/tiny/state"] = function()
  local s, dict, n = store.ngx_shared("tiny"), ngx.shared.tiny, tonumber(ngx.var.arg_n)
  local before, failures = cache_entries(dict), {}
  for i = 1, n do
    local wait, err = s:rate_take(NS .. "rate:" .. i, 0.1)
    if not wait then failures[#failures + 1] = "rate " .. i .. ": " .. tostring(err and err.message) end
    local claimed, cerr = s:add(NS .. "claim:" .. i, "worker-" .. i, 60)
    if not claimed then failures[#failures + 1] = "claim " .. i .. ": " .. tostring(cerr and cerr.message) end
  end
  local kept = 0
  for i = 1, n do
    if dict:get(NS .. "rate:" .. i) and dict:get(NS .. "claim:" .. i) == "worker-" .. i then kept = kept + 1 end
  end
  reply { cache_before = before, cache_after = cache_entries(dict), failures = failures, kept = kept,
    free_space = dict:free_space() }
end

app.handle = ngx_app.dispatch(handlers)

return app
