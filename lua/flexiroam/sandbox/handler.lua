--- The sandbox's request handler, independent of any transport:
-- handler.new(opts):handle{method=, path=, query=, headers=, body=, remote_addr=}
-- -> {status=, headers=, body=}. Request headers come lowercased; response
-- header names are lowercase too (the server writes them canonically).
--
-- opts: sims (200), seed (1), psim_every (10), keys ("sandbox-key", a list or
-- a comma-separated string; "key@ip" limits a key to an address, see
-- sandbox.keys), rate_limit (requests per second per key; nil: none),
-- latency_ms (added to every answer), clock (seconds as a float, for the
-- rate limit; default socket.gettime), routes (extra "METHOD /path" = fn
-- entries), log (function(message) for internal errors; default: stderr).
--
-- State lives in handler.state: the inventory (sims, by_iccid, by_sku) and
-- what ledger.init adds (plans, orders, subscriptions, usage, charges, the
-- clock). A route that changes a SIM must call handler:sim_changed(sim):
-- answers reuse each SIM's JSON.
--
-- An answer may carry two fields for its transport besides status, headers
-- and body: `fault` (how to deliver it, or not: see sandbox.faults) and
-- `latency_ms` (wait that long before sending it).
-- @module flexiroam.sandbox.handler
local json = require("flexiroam.json")
local faults = require("flexiroam.sandbox.faults")
local fault_routes = require("flexiroam.sandbox.fault_routes")
local inventory = require("flexiroam.sandbox.inventory")
local keys = require("flexiroam.sandbox.keys")
local ledger = require("flexiroam.sandbox.ledger")
local query = require("flexiroam.sandbox.query")
local ratelimit = require("flexiroam.sandbox.ratelimit")
local routes = require("flexiroam.sandbox.routes")

local handler = {}

local Handler = {}
Handler.__index = Handler

--- The `code` each status answers with unless the route names another.
handler.CODES = {
  [400] = "bad_request", [401] = "unauthorized", [403] = "forbidden", [404] = "not_found",
  [405] = "method_not_allowed", [409] = "conflict", [411] = "length_required",
  [413] = "payload_too_large", [414] = "uri_too_long", [422] = "validation_failed",
  [429] = "rate_limited", [431] = "header_fields_too_large", [500] = "internal_error",
  [501] = "not_implemented", [505] = "http_version_not_supported",
}

local function default_clock()
  local ok, socket = pcall(require, "socket")
  return ok and socket.gettime or os.time
end

local function new_state(opts)
  local sims = inventory.generate { count = opts.sims, seed = opts.seed, psim_every = opts.psim_every }
  local by_iccid, by_sku = {}, {}
  for pos, sim in ipairs(sims) do
    by_iccid[sim.iccid] = pos
    by_sku[sim.sku] = pos
  end
  return ledger.init({ sims = sims, by_iccid = by_iccid, by_sku = by_sku }, opts)
end

--- A sandbox: the whole API's state and routes, behind :handle(req).
-- @tparam[opt] table opts sims, seed, psim_every, keys, rate_limit, latency_ms, clock, routes, log
-- @return the handler: :handle{method =, path =, query =, headers =, body =, remote_addr =} -> {status =,
-- headers =, body =}; .state
function handler.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Handler)
  self.opts = {
    sims = opts.sims or 200,
    seed = opts.seed or 1,
    psim_every = opts.psim_every == nil and 10 or opts.psim_every,
  }
  self.keys = assert(keys.parse(opts.keys))
  if opts.rate_limit then self.limiter = ratelimit.new(opts.rate_limit, opts.clock or default_clock()) end
  self.latency_ms = opts.latency_ms ~= 0 and opts.latency_ms or nil
  self.fault_queue = faults.queue()
  -- page keys are bound to the seed: same sandbox, same keys
  self.secret = "flexiroam-sandbox:" .. tostring(self.opts.seed)
  self.routes = fault_routes.add(routes.default())
  for k, fn in pairs(opts.routes or {}) do self.routes[k] = fn end
  self.stats = { requests = 0, connections = 0 }
  self.log = opts.log or function(message) io.stderr:write("flexiroam-sandbox: ", message, "\n") end
  self.seq = 0
  self.state = new_state(self.opts)
  self.sim_cache = {}
  return self
end

--- Back to the state new() made (the inventory); counters keep running so
-- stats stay meaningful across a reset.
function Handler:reset()
  self.state = new_state(self.opts)
  self.sim_cache = {}
  self:clear_faults()
end

--- A SIM's JSON text, encoded once until sim_changed(sim).
function Handler:sim_json(sim)
  local text = self.sim_cache[sim]
  if not text then
    text = assert(json.encode(sim))
    self.sim_cache[sim] = text
  end
  return text
end

function Handler:sim_changed(sim)
  self.sim_cache[sim] = nil
end

function Handler:connection_opened()
  self.stats.connections = self.stats.connections + 1
end

function Handler:_begin()
  self.stats.requests = self.stats.requests + 1
  self.seq = self.seq + 1
  return "sbx-" .. self.seq
end

function Handler.raw_json(_, status, body, headers)
  headers = headers or {}
  headers["content-type"] = "application/json"
  return { status = status, headers = headers, body = body }
end

function Handler:json(status, value, headers)
  return self:raw_json(status, assert(json.encode(value)), headers)
end

--- An error answer: {"message": ..., "code": ...[, "fields": {...}]};
-- extra may carry code, fields and headers.
function Handler:error(status, message, extra)
  extra = extra or {}
  local value = { message = message, code = extra.code or handler.CODES[status] or "error", fields = extra.fields }
  return self:json(status, value, extra.headers)
end

--- An answer the transport makes itself (malformed or oversize requests),
-- counted and numbered like any other.
function Handler:reject(status, message)
  local id = self:_begin()
  local res = self:error(status, message)
  res.headers["x-request-id"] = id
  res.latency_ms = self.latency_ms
  return res
end

function Handler:allowed_methods(path)
  local methods = {}
  for k in pairs(self.routes) do
    local method, p = k:match("^(%S+) (.*)$")
    if p == path then methods[#methods + 1] = method end
  end
  table.sort(methods)
  return methods
end

--- Drops every queued fault; returns how many there were. Reset calls it.
function Handler:clear_faults()
  return self.fault_queue:clear()
end

-- The key check of /v1 paths: 401, 403 (key bound to other addresses), 429
-- (over the rate limit, counted per key on requests that passed the rest).
local function admit(self, req, headers)
  local key = headers["x-api-key"]
  if key == nil or key == "" then return self:error(401, "missing x-api-key header") end
  local allowed = self.keys[key]
  if not allowed then return self:error(401, "the API key is not valid") end
  if allowed ~= true then
    local addr = keys.normalize(req.remote_addr)
    if not (addr and allowed[addr]) then
      return self:error(403, "this API key may not be used from " .. tostring(addr or "an unknown address"))
    end
  end
  if self.limiter then
    local ok, wait = self.limiter:check(key)
    if not ok then
      return self:error(429, "rate limit exceeded; retry in " .. wait .. " s",
        { headers = { ["retry-after"] = tostring(wait) } })
    end
  end
end

local function dispatch(self, req)
  local path, headers = req.path or "/", req.headers or {}
  if path:sub(1, 4) == "/v1/" or path == "/v1" then
    local refused = admit(self, req, headers)
    if refused then return refused end
  end
  local fn = self.routes[tostring(req.method) .. " " .. path]
  if not fn then
    local methods = self:allowed_methods(path)
    if #methods > 0 then
      return self:error(405, "method not allowed", { headers = { allow = table.concat(methods, ", ") } })
    end
    return self:error(404, "no such route")
  end
  local params, err = query.parse(req.query)
  if not params then return self:error(400, err) end
  return fn(self, req, params)
end

local function run(self, req)
  local ok, res = pcall(dispatch, self, req)
  if not ok then
    self.log(tostring(res))
    res = self:error(500, "internal sandbox error")
  end
  return res
end

-- The fault for this request: its x-sandbox-fault header, else the next one
-- queued for its path (a header leaves the queue as it is).
local function fault_for(self, req)
  local spec = req.headers and req.headers["x-sandbox-fault"]
  if spec then
    local fault, err = faults.parse(spec)
    if not fault then return nil, self:error(400, "malformed x-sandbox-fault: " .. err) end
    return fault
  end
  return self.fault_queue:take(req.path or "/")
end

--- Faults come first, as they stand for trouble in front of the API (a
-- proxy, the network): one that answers in the route's place is not behind
-- the key check, and one that lets the route run delivers whatever it answers.
function Handler:handle(req)
  local id = self:_begin()
  local fault, res = fault_for(self, req)
  if fault then
    res = faults.outcome(self, fault, function() return run(self, req) end)
  elseif not res then
    res = run(self, req)
  end
  res.headers["x-request-id"] = id
  res.latency_ms = self.latency_ms
  return res
end

return handler
