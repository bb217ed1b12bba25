-- luacheck: std luajit+ngx_lua
--- The handlers spec/shared_store_spec.lua runs inside a 4-worker nginx:
-- each worker keeps one client per mode, as an application would, against
-- the counting upstream ($counter_url, spec/support/rate_counter.lua).
--   GET /call?mode=shared   client:list_plans() with rate_limit = 10, shared = "flexiroam"
--   GET /call?mode=local    the same with a limiter of its own (10 per worker: the control)
--   GET /fill               fills the dict "flexiroam" with other keys (safe_set) until it is full
--   GET /unfill             drops those keys again
--   GET /state              the limiter's keys in the dict, its free space, the warnings logged
-- Each answers JSON.
local flexiroam = require "flexiroam"
local store = require "flexiroam.store"
local ngx_app = require "spec.support.ngx_app"

local KEY = "fleet-key-do-not-log"
local RATE = 10

local app = {}

local reply = ngx_app.reply

-- Warnings a client logged, counted across workers in the dict `results`.
local function logger(level, event)
  if event.event == "warning" then
    local results = ngx.shared.results
    local n = results:incr("warnings", 1, 0)
    results:set("warning:" .. tostring(n), level .. " " .. tostring(event.message))
  end
end

local client = ngx_app.clients(function(mode)
  local opts = { api_key = KEY, base_url = ngx.var.counter_url, rate_limit = RATE, timeout_ms = 5000,
    logger = logger, cache = false } -- every call is to reach the API, each taking a slot
  if mode == "shared" then opts.shared = "flexiroam" end
  return flexiroam.new(opts)
end)

local handlers = {}

handlers["/call"] = function()
  local mode = ngx.var.arg_mode or "shared"
  local page, err = client(mode):list_plans()
  reply { pid = ngx.worker.pid(), ok = page ~= nil, kind = err and err.kind, message = err and err.message }
end

handlers["/fill"] = function()
  local dict, n = ngx.shared.flexiroam, 0
  while true do
    local ok, err = dict:safe_set("junk:" .. n, ("x"):rep(200))
    if not ok then
      reply { filled = n, err = err }
      return
    end
    n = n + 1
  end
end

handlers["/unfill"] = function()
  local dict, n = ngx.shared.flexiroam, 0
  for _, k in ipairs(dict:get_keys(0)) do
    if k:sub(1, 5) == "junk:" then
      dict:delete(k)
      n = n + 1
    end
  end
  reply { dropped = n }
end

handlers["/state"] = function()
  local dict, results = ngx.shared.flexiroam, ngx.shared.results
  local key = store.namespace(KEY) .. "rate"
  local warnings = {}
  for i = 1, results:get("warnings") or 0 do warnings[#warnings + 1] = results:get("warning:" .. i) end
  local keys = {}
  for _, k in ipairs(dict:get_keys(0)) do
    if k:sub(1, 5) ~= "junk:" then keys[#keys + 1] = k end
  end
  reply {
    tat = dict:get(key), pause = dict:get(key .. ":pause"), now = require("flexiroam.core").monotonic(),
    free_space = dict.free_space and dict:free_space() or nil, keys = keys, warnings = warnings,
    workers = ngx.worker.count(),
  }
end

app.handle = ngx_app.dispatch(handlers)

return app
