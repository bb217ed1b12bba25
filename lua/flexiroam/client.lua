--- The client: where a request is built (call -> _send), sent (the
-- transport), and decoded (flexiroam.response). Retries and hooks will
-- live in _send, the one path every operation takes.
local core = require "flexiroam.core"
local json = require "flexiroam.json"
local errors = require "flexiroam.errors"
local url = require "flexiroam.url"
local response = require "flexiroam.response"
local default_operations = require "flexiroam.operations"
local transports = require "flexiroam.transport"

local Client = {}

local DEFAULT_BASE_URL = "https://solutions-api.flexiroam.com"
local NULL = json.null

local function lua_name()
  if type(jit) == "table" and jit.version then return jit.version end -- luacheck: ignore 113
  return _VERSION
end

local function user_agent(extra, transport_detail)
  local ua = string.format("flexiroam-lua/%s (%s; %s)", core.VERSION, lua_name(), transport_detail)
  if extra then ua = ua .. " " .. extra end
  return ua
end

local function shallow_copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Per-client operations: the defaults, with the caller's entries laid over
-- them field by field (so `{ path = ... }` alone corrects a path).
local function merge_operations(overrides)
  local ops = {}
  for name, op in pairs(default_operations) do ops[name] = op end
  for name, op in pairs(overrides or {}) do
    if type(name) ~= "string" or type(op) ~= "table" then
      error("flexiroam.new: operations must map names to tables", 4)
    end
    local merged = shallow_copy(ops[name] or { params = {}, required = {}, answer = "item" })
    for k, v in pairs(op) do merged[k] = v end
    if type(merged.method) ~= "string" or type(merged.path) ~= "string" then
      error("flexiroam.new: operation '" .. name .. "' needs a method and a path", 4)
    end
    ops[name] = merged
  end
  return ops
end

local SESSION_OPTIONS = {
  "connect_timeout_ms", "timeout_ms", "low_speed_bytes", "low_speed_ms", "ca_file", "ca_path",
  "proxy", "verify", "max_response_bytes",
}

local function warn(logger, message)
  if logger then
    logger("warn", { event = "warning", message = message })
  else
    io.stderr:write("flexiroam: warning: ", message, "\n")
  end
end

--- flexiroam.new{api_key=, base_url=, timeout_ms=, ...} -> client
function Client.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("flexiroam.new: options must be a table", 2) end
  local key = opts.api_key
  if key == nil then key = os.getenv("FLEXIROAM_API_KEY") end
  if type(key) ~= "string" or key == "" then
    error("flexiroam.new: no API key: pass api_key or set FLEXIROAM_API_KEY", 2)
  end
  local base = opts.base_url or os.getenv("FLEXIROAM_BASE_URL") or DEFAULT_BASE_URL
  if type(base) ~= "string" then error("flexiroam.new: base_url must be a string", 2) end
  base = base:gsub("/+$", "")
  local scheme, host = url.split(base)
  if not scheme then error("flexiroam.new: base_url must be an http:// or https:// URL: " .. base, 2) end
  if scheme == "http" and not url.is_loopback(host) and not opts.allow_insecure_http then
    error("flexiroam.new: refusing plain http:// to " .. host ..
      " (the API key would travel in clear); use https, or allow_insecure_http = true", 2)
  end
  if opts.verify == false then
    warn(opts.logger, "TLS certificate verification is OFF for " .. base .. ": anyone on the path can read the API key")
  end

  -- Inside nginx the default is its cosockets: libcurl would block the worker.
  local session_opts = {}
  for _, name in ipairs(SESSION_OPTIONS) do session_opts[name] = opts[name] end
  local transport, _, transport_detail = transports.select(opts.transport, session_opts, 2)

  local agent = user_agent(opts.user_agent, transport_detail)
  local self = setmetatable({
    base_url = base,
    _transport = transport,
    _operations = merge_operations(opts.operations),
    -- The key lives only in these closures: a client printed, serialised
    -- or dumped field by field shows no key.
    _headers = function()
      return {
        ["x-api-key"] = key,
        ["Content-Type"] = "application/json",
        ["Accept"] = "application/json",
        ["User-Agent"] = agent,
      }
    end,
    _redact = function(text) return errors.redact(text, key) end,
  }, Client)
  return self
end

--- Sends one request and decodes its answer: data, or nil and an error.
function Client:_send(method, path, query, body)
  local target = self.base_url .. path
  if query and query ~= "" then target = target .. "?" .. query end
  local res, err = self._transport:request { method = method, url = target, headers = self._headers(), body = body }
  if not res then
    if not errors.is_error(err) then err = errors.new("network", tostring(err)) end
    err.method, err.path = method, path
    err.message = self._redact(err.message)
    return nil, err
  end
  return response.decode(res, { method = method, path = path, redact = self._redact })
end

local function check_params(name, op, params)
  if params == nil then return {} end
  if type(params) ~= "table" then
    error(string.format("%s: parameters must be a table (got %s)", name, type(params)), 4)
  end
  local accepted = {}
  for _, p in ipairs(op.params or {}) do accepted[p] = true end
  for k in pairs(params) do
    if not accepted[k] then
      error(string.format("%s: unknown parameter '%s'", name, tostring(k)), 4)
    end
  end
  for _, p in ipairs(op.required or {}) do
    if params[p] == nil or params[p] == "" then
      error(string.format("%s: missing required parameter '%s'", name, p), 4)
    end
  end
  return params
end

local function body_of(op, params)
  local body = {}
  for _, p in ipairs(op.params or {}) do body[p] = params[p] end
  return json.encode(body)
end

local function shape_error(name, what)
  return errors.new("decode", string.format("%s: unexpected answer: %s", name, what))
end

--- client:call(name, params) -> page | item | nil, err
-- A list answers a page {items = {...}, page_key = cursor or nil}; an item
-- answers the object itself.
function Client:call(name, params)
  local op = self._operations[name]
  if not op then error("unknown operation '" .. tostring(name) .. "'", 2) end
  params = check_params(name, op, params)
  local query, body
  if op.method == "GET" or op.method == "DELETE" then
    query = url.query(op.params or {}, params)
  else
    local err
    body, err = body_of(op, params)
    if not body then return nil, err end
  end
  local data, err = self:_send(op.method, op.path, query, body)
  if not data then return nil, err end
  if op.answer == "list" then
    local items, page_key = data.items, data.page_key
    if type(items) ~= "table" then return nil, shape_error(name, "no items array") end
    if page_key == NULL then page_key = nil end
    if page_key ~= nil and type(page_key) ~= "string" then
      return nil, shape_error(name, "page_key is not a string")
    end
    return { items = items, page_key = page_key }
  end
  if type(data.item) ~= "table" then return nil, shape_error(name, "no item object") end
  return data.item
end

--- client:request(method, path, {query = {...}, json = value}) -> data | nil, err
-- The raw escape hatch, through the same pipeline as every operation.
function Client:request(method, path, opts)
  if type(method) ~= "string" or type(path) ~= "string" then
    error("request: method and path must be strings", 2)
  end
  opts = opts or {}
  local query
  if type(opts.query) == "table" then
    local names = {}
    for k in pairs(opts.query) do names[#names + 1] = k end
    table.sort(names)
    query = url.query(names, opts.query)
  elseif opts.query ~= nil then
    error("request: query must be a table", 2)
  end
  local body
  if opts.json ~= nil then
    local err
    body, err = json.encode(opts.json)
    if not body then return nil, err end
  end
  return self:_send(method:upper(), path, query, body)
end

--- client:each(name, params [, {max_pages = n}]) -> iterator over every item
-- of a list operation, page after page. A failure half-way RAISES the error
-- object, so a loop never mistakes a failure for the end of the list; a
-- page_key the API already gave raises too instead of looping forever.
function Client:each(name, params, opts)
  local op = self._operations[name]
  if not op or op.answer ~= "list" then error("each: '" .. tostring(name) .. "' is not a list operation", 2) end
  local request = shallow_copy(check_params(name, op, params))
  local max_pages = opts and opts.max_pages
  local seen, pages = {}, 0
  local items, index, finished = nil, 0, false
  return function()
    while true do
      if items and index < #items then
        index = index + 1
        return items[index]
      end
      if finished then return nil end
      if max_pages and pages >= max_pages then return nil end
      local page, err = self:call(name, request)
      if not page then error(err, 0) end
      pages = pages + 1
      items, index = page.items, 0
      if page.page_key == nil then
        finished = true
      elseif seen[page.page_key] then
        error(errors.new("api", "the API repeated page_key " .. string.format("%q", page.page_key) ..
          " (stopping instead of looping forever)", { method = op.method, path = op.path }), 0)
      else
        seen[page.page_key] = true
        request.page_key = page.page_key
      end
    end
  end
end

--- for sim in client:inventory{chip_type = "esim", ...} do ... end
function Client:inventory(params, opts)
  return self:each("list_inventory", params, opts)
end

function Client:close()
  if self._transport.close then self._transport:close() end
end

Client.__close = Client.close

function Client:__tostring()
  return "flexiroam.client: " .. self.base_url
end

-- Named methods (client:list_inventory{...}) come from the operations
-- table; an operation a client added itself is reachable the same way.
function Client.__index(self, name)
  local method = Client[name]
  if method ~= nil then return method end
  local ops = rawget(self, "_operations")
  if ops and ops[name] then
    return function(client, params) return client:call(name, params) end
  end
  return nil
end

return Client
