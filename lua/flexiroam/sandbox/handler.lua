--- The sandbox's request handler, independent of any transport:
-- handler.new(opts):handle{method=, path=, query=, headers=, body=, remote_addr=}
-- -> {status=, headers=, body=}. Request headers come lowercased; response
-- header names are lowercase too (the server writes them canonically).
--
-- opts: sims (200), seed (1), psim_every (10), keys ("sandbox-key", a list or
-- a comma-separated string), routes (extra "METHOD /path" = fn entries),
-- log (function(message) for internal errors; default: stderr).
--
-- State lives in handler.state (sims, by_iccid, by_sku). A route that changes
-- a SIM must call handler:sim_changed(sim): answers reuse each SIM's JSON.
local json = require "flexiroam.json"
local inventory = require "flexiroam.sandbox.inventory"
local query = require "flexiroam.sandbox.query"
local routes = require "flexiroam.sandbox.routes"

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

local function key_set(keys)
  if keys == nil then keys = { "sandbox-key" } end
  if type(keys) == "string" then
    local list = {}
    for k in keys:gmatch("[^,]+") do list[#list + 1] = k end
    keys = list
  end
  local set = {}
  for _, k in ipairs(keys) do set[k] = true end
  return set
end

local function new_state(opts)
  local sims = inventory.generate { count = opts.sims, seed = opts.seed, psim_every = opts.psim_every }
  local by_iccid, by_sku = {}, {}
  for pos, sim in ipairs(sims) do
    by_iccid[sim.iccid] = pos
    by_sku[sim.sku] = pos
  end
  return { sims = sims, by_iccid = by_iccid, by_sku = by_sku }
end

function handler.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Handler)
  self.opts = {
    sims = opts.sims or 200,
    seed = opts.seed or 1,
    psim_every = opts.psim_every == nil and 10 or opts.psim_every,
  }
  self.keys = key_set(opts.keys)
  -- page keys are bound to the seed: same sandbox, same keys
  self.secret = "flexiroam-sandbox:" .. tostring(self.opts.seed)
  self.routes = routes.default()
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

local function dispatch(self, req)
  local path, headers = req.path or "/", req.headers or {}
  if path:sub(1, 4) == "/v1/" or path == "/v1" then
    local key = headers["x-api-key"]
    if key == nil or key == "" then return self:error(401, "missing x-api-key header") end
    if not self.keys[key] then return self:error(401, "the API key is not valid") end
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

function Handler:handle(req)
  local id = self:_begin()
  local ok, res = pcall(dispatch, self, req)
  if not ok then
    self.log(tostring(res))
    res = self:error(500, "internal sandbox error")
  end
  res.headers["x-request-id"] = id
  return res
end

return handler
