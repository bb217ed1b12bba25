--- The client: where a request is built (call -> _send), sent (the
-- transport), decoded (flexiroam.response), retried (flexiroam.retry) and
-- reported (flexiroam.observe). _send is the one path every operation,
-- every raw request and every reconciliation lookup takes.
local core = require "flexiroam.core"
local json = require "flexiroam.json"
local errors = require "flexiroam.errors"
local url = require "flexiroam.url"
local response = require "flexiroam.response"
local retry = require "flexiroam.retry"
local observe = require "flexiroam.observe"
local reference = require "flexiroam.reference"
local limiter = require "flexiroam.limiter"
local default_operations = require "flexiroam.operations"
local models = require "flexiroam.models"
local esim = require "flexiroam.esim"
local transports = require "flexiroam.transport"
local compat = require "flexiroam.compat"

local Client = {}

local DEFAULT_BASE_URL = "https://solutions-api.flexiroam.com"
local DEFAULT_TIMEOUT_MS = 60000 -- the session's own default (src/session.c)
local DEFAULT_CORRELATION_HEADER = "x-correlation-id"
local MAX_LOOKUP_PAGES = 10
local LOOKUP_PAGE_SIZE = 100 -- the contract's largest `limit`
local NULL = json.null

local function user_agent(extra, transport_detail)
  local ua = string.format("flexiroam-lua/%s (%s; %s)", core.VERSION, compat.lua_name(), transport_detail)
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

-- Retry and time options, client-wide and per call: name -> smallest value,
-- and whether it must be an integer (timeout_ms goes to libcurl as one).
local POLICY_OPTIONS = {
  retries = { min = 0, integer = true },
  deadline_ms = { min = 1 },
  timeout_ms = { min = 1, integer = true },
  retry_base_ms = { min = 0 },
  retry_cap_ms = { min = 0 },
  max_retry_after_ms = { min = 0 },
}
local PER_CALL = { retries = true, deadline_ms = true, timeout_ms = true }

local function check_policy_value(where, name, value, level)
  local rule = POLICY_OPTIONS[name]
  if type(value) ~= "number" or value ~= value or value < rule.min or value == math.huge or
      (rule.integer and value ~= math.floor(value)) then
    error(string.format("%s: %s must be %s >= %d (got %s)", where, name,
      rule.integer and "an integer" or "a number", rule.min, tostring(value)), level + 1)
  end
end

local function policy_from(opts)
  local policy = shallow_copy(retry.DEFAULTS)
  for name in pairs(POLICY_OPTIONS) do
    if opts[name] ~= nil then
      check_policy_value("flexiroam.new", name, opts[name], 4)
      policy[name] = opts[name]
    end
  end
  return policy
end

--- flexiroam.new{api_key=, base_url=, timeout_ms=, retries=, deadline_ms=, ...} -> client
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
  local correlation_header = opts.correlation_header
  if correlation_header ~= nil and (type(correlation_header) ~= "string" or correlation_header == "") then
    error("flexiroam.new: correlation_header must be a header name", 2)
  end
  if correlation_header and observe.is_sensitive(correlation_header) then
    error("flexiroam.new: correlation_header must not be a credential header", 2)
  end

  local redact = errors.redactor(key)
  local emitter = observe.new(opts, redact)
  if opts.verify == false then
    emitter:warn("TLS certificate verification is OFF for " .. base .. ": anyone on the path can read the API key")
  end

  local limiters
  if opts.rate_limit ~= nil then limiters = { limiter.new(opts.rate_limit, nil, "flexiroam.new: rate_limit") } end

  -- Inside nginx the default is its cosockets: libcurl would block the worker.
  local session_opts = {}
  for _, name in ipairs(SESSION_OPTIONS) do session_opts[name] = opts[name] end
  local transport, transport_name, transport_detail = transports.select(opts.transport, session_opts, 2)
  -- Only the libcurl session has a multi counterpart for batches.
  if transport_name ~= "curl" then session_opts = nil end

  local agent = user_agent(opts.user_agent, transport_detail)
  local self = setmetatable({
    base_url = base,
    _transport = transport,
    _session_opts = session_opts, -- a batch opens a core.multi with them
    _limiters = limiters,
    _operations = merge_operations(opts.operations),
    _check_iccid = opts.check_iccid ~= false,
    _policy = policy_from(opts),
    _clock = transports.clock(retry.clock(opts.clock), opts.clock),
    _observe = emitter,
    _correlation_header = correlation_header,
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
    _redact = redact,
  }, Client)
  return self
end

--- A call's state: its policy (the client's with per-call overrides), how
-- it may be repeated, its correlation id and, once _send starts, its target
-- and deadline. `extra` names further option keys the caller handles.
function Client:_new_call(name, op, opts, extra, level)
  local where = name or "request"
  local call = { name = name }
  local policy = self._policy
  if opts ~= nil then
    if type(opts) ~= "table" then
      error(string.format("%s: options must be a table (got %s)", where, type(opts)), level + 1)
    end
    for k, v in pairs(opts) do
      if PER_CALL[k] then
        check_policy_value(where, k, v, level + 1)
        if policy == self._policy then policy = shallow_copy(policy) end
        policy[k] = v
      elseif k == "correlation_id" then
        if type(v) ~= "string" or v == "" then error(where .. ": correlation_id must be a string", level + 1) end
        call.correlation_id = v
      elseif not (extra and extra[k]) then
        error(string.format("%s: unknown option '%s'", where, tostring(k)), level + 1)
      end
    end
  end
  call.policy = policy
  call.mode, call.lookup = retry.mode(name, op)
  if call.correlation_id == nil and self._correlation_header then call.correlation_id = reference.uuid4() end
  return call
end

-- The fields every event of an attempt carries.
local function event_of(call, attempt, event)
  event.operation = call.name
  event.purpose = call.purpose
  event.method = call.method
  event.path = call.path
  event.attempt = attempt
  event.reference = call.reference
  event.correlation_id = call.correlation_id
  return event
end

--- One attempt: the request, its hooks, the answer decoded and shaped.
-- -> data | nil, err (err.method/path set, every string redacted)
function Client:_attempt(call, attempt, timeout_ms)
  local clock, redact = self._clock, self._redact
  local headers = self._headers()
  if call.correlation_id then
    headers[self._correlation_header or DEFAULT_CORRELATION_HEADER] = call.correlation_id
  end
  local listeners = self._observe
  if listeners:wants("on_request") then
    listeners:emit("on_request", "debug", event_of(call, attempt, {
      event = "request", query = call.query, timeout_ms = timeout_ms,
      headers = observe.redact_headers(headers, redact),
    }))
  end
  local started = clock.now()
  local res, err = self._transport:request {
    method = call.method, url = call.target, headers = headers, body = call.body, timeout_ms = timeout_ms,
  }
  local elapsed = clock.now() - started
  if not res then
    if not errors.is_error(err) then err = errors.new("network", tostring(err)) end
    err.method, err.path = call.method, call.path
    return nil, errors.scrub(err, redact), elapsed
  end
  if listeners:wants("on_response") then
    listeners:emit("on_response", "debug", event_of(call, attempt, {
      event = "response", status = res.status, elapsed = elapsed, timings = res.timings, reused = res.reused,
      http_version = res.http_version, request_id = res.headers and res.headers["x-request-id"],
      headers = observe.redact_headers(res.headers, redact),
    }))
  end
  local data, derr = response.decode(res, { method = call.method, path = call.path, redact = redact,
    time = clock.time })
  if data ~= nil and call.shape then
    data, derr = call.shape(data)
    if data == nil then
      derr.status, derr.method, derr.path = res.status, call.method, call.path
      derr.request_id = res.headers and res.headers["x-request-id"]
    end
  end
  if data == nil then errors.scrub(derr, redact) end
  return data, derr, elapsed
end

-- What the caller gets: the last failure, with what the call knows.
function Client:_finish(err, call, attempts)
  err.method, err.path = call.method, call.path
  err.attempts = attempts
  err.reference = call.reference
  err.correlation_id = call.correlation_id
  if err.safe_to_retry == nil then err.safe_to_retry = retry.safe_to_retry(call.mode, err) end
  return errors.scrub(err, self._redact)
end

local function deadline_error(call)
  return errors.new("timeout", string.format("the call's deadline of %s ms passed",
    tostring(call.policy.deadline_ms)), { sent = false })
end

-- A reference write whose outcome the SDK could not settle. The reference
-- is in the message too, so tostring(err) alone tells the caller what to
-- send again.
local function indeterminate(call, cause, lookup_err)
  local why
  if lookup_err then
    why = string.format("looking it up failed (%s: %s)", tostring(lookup_err.kind), tostring(lookup_err.message))
  else
    why = "nothing is recorded under it yet, but an attempt that timed out or was cut may still be in process"
  end
  return errors.new("indeterminate", string.format(
    "%s may or may not have been done under reference %s (%s: %s); %s; calling again with the same reference" ..
    " is safe", tostring(call.name), tostring(call.reference), tostring(cause.kind), tostring(cause.message), why),
    { cause = cause, safe_to_retry = true })
end

-- Ends a call with `err`: the final on_error, then the error as the caller
-- gets it. A reference write that had an attempt in flight when it failed
-- ends indeterminate whatever came after: that attempt may still land.
function Client:_fail(call, attempt, err, why, elapsed)
  if call.in_doubt and call.mode == "reference" and err.kind ~= "indeterminate" then
    err = indeterminate(call, err)
  end
  self._observe:emit("on_error", "info", event_of(call, attempt, {
    event = "error", error = err, kind = err.kind, status = err.status, reason = why, final = true,
    elapsed = elapsed,
  }))
  return nil, self:_finish(err, call, attempt)
end

--- Sends a request until it succeeds or may not be sent again; decodes
-- its answer: data, or nil and an error. `call` (from _new_call) may be
-- omitted for a plain read.
function Client:_send(method, path, query, body, call)
  call = call or self:_new_call(nil, { method = method }, nil, nil, 2)
  local target = self.base_url .. path
  if query and query ~= "" then target = target .. "?" .. query end
  call.method, call.path, call.query, call.target, call.body = method, path, query, target, body
  local clock, policy, observer = self._clock, call.policy, self._observe
  if call.deadline == nil and policy.deadline_ms then
    call.deadline = clock.now() + policy.deadline_ms / 1000
  end
  local attempt, last_err = 0, nil
  while true do
    self:_throttle()
    local timeout_ms = retry.attempt_timeout(policy.timeout_ms, DEFAULT_TIMEOUT_MS, call.deadline, clock.now())
    if timeout_ms == 0 then return self:_fail(call, attempt, last_err or deadline_error(call), "deadline") end
    attempt = attempt + 1
    local data, err, elapsed = self:_attempt(call, attempt, timeout_ms)
    if data ~= nil then return data end
    last_err = err

    local decision, reason = retry.classify(call.mode, err)
    if decision == "reconcile" then
      -- No answer at all: the server may still be working on it.
      if err.status == nil then call.in_doubt = true end
      local found, outcome, lookup_err = self:_reconcile(call)
      observer:emit(nil, "info", event_of(call, attempt, { event = "reconcile", outcome = outcome, reason = reason }))
      if outcome == "found" then
        observer:emit("on_error", "debug", event_of(call, attempt, {
          event = "error", error = err, kind = err.kind, status = err.status, reason = reason, final = false,
          outcome = "found", elapsed = elapsed }))
        return found
      end
      if outcome == "unknown" then
        return self:_fail(call, attempt, indeterminate(call, err, lookup_err), reason, elapsed)
      end
      if outcome == "mismatch" then return self:_fail(call, attempt, lookup_err, reason, elapsed) end
      decision = "retry" -- proven absent: the same reference may go again
    end

    local delay, why = nil, reason
    if decision == "retry" then
      if attempt > policy.retries then
        why = "no retries left"
      else
        delay, why = retry.wait(policy, attempt, err, clock.now(), call.deadline, clock.random)
        if delay and delay > 0 and not clock.sleep then
          delay, why = nil, "no sleep function"
          self:_warn_once("no_sleep", "retries that need a wait are off: neither LuaSocket nor core.sleep is available")
        end
      end
    end
    if delay == nil then return self:_fail(call, attempt, err, why, elapsed) end
    observer:emit("on_error", "info", event_of(call, attempt, {
      event = "error", error = err, kind = err.kind, status = err.status, reason = why, final = false,
      elapsed = elapsed,
    }))
    observer:emit("on_retry", "info", event_of(call, attempt, {
      event = "retry", reason = reason, delay = delay, kind = err.kind, status = err.status,
      next_attempt = attempt + 1,
    }))
    if delay > 0 then clock.sleep(delay) end
  end
end

-- Waits for a token of every rate limiter (the client's, a batch's): each
-- attempt and each lookup is a request the API counts.
function Client:_throttle()
  local limiters, clock = self._limiters, self._clock
  if not limiters then return end
  for i = 1, #limiters do
    local wait = limiters[i]:take(clock.now())
    if wait > 0 and clock.sleep then clock.sleep(wait) end
  end
end

function Client:_warn_once(what, message)
  self._warned = self._warned or {}
  if self._warned[what] then return end
  self._warned[what] = true
  self._observe:warn(message)
end

-- Whether an order or subscription found by reference is the one this
-- call asked for (a reused reference names someone else's).
local function same_request(item, params)
  for _, field in ipairs { "iccid", "plan_id" } do
    local want, got = params[field], item[field]
    if want ~= nil and got ~= nil and tostring(want) ~= tostring(got) then return false, field end
  end
  return true
end

local function list_shape(name)
  return function(data)
    local items, page_key = data.items, data.page_key
    if type(items) ~= "table" then return nil, errors.new("decode", name .. ": unexpected answer: no items array") end
    if page_key == NULL then page_key = nil end
    if page_key ~= nil and type(page_key) ~= "string" then
      return nil, errors.new("decode", name .. ": unexpected answer: page_key is not a string")
    end
    return { items = items, page_key = page_key }
  end
end

--- After a write may or may not have landed: looks its reference up.
-- -> item, "found" | nil, "absent" | nil, "unknown", err | nil, "mismatch", err
function Client:_reconcile(call)
  local op = self._operations[call.lookup]
  if not op then
    return nil, "unknown", errors.new("api", "no operation '" .. tostring(call.lookup) .. "' to look references up")
  end
  local page_key
  for _ = 1, MAX_LOOKUP_PAGES do
    local lookup = {
      name = call.lookup, purpose = "reconcile", mode = "lookup", policy = call.policy, deadline = call.deadline,
      correlation_id = call.correlation_id, reference = call.reference, shape = list_shape(call.lookup),
    }
    -- By iccid too: a list that does not filter by reference (the
    -- contract's list_subscriptions) still narrows to the SIM's few records,
    -- and every item is matched on its reference here anyway.
    local query = url.query({ "iccid", "reference", "page_key", "limit" },
      { iccid = call.params.iccid, reference = call.reference, page_key = page_key, limit = LOOKUP_PAGE_SIZE })
    local page, err = self:_send(op.method, op.path, query, nil, lookup)
    if not page then return nil, "unknown", err end
    for _, item in ipairs(page.items) do
      if type(item) == "table" and item.reference == call.reference then
        local same, field = same_request(item, call.params)
        if same then return item, "found" end
        return nil, "mismatch", errors.new("conflict", string.format(
          "reference %s already names another request (its %s differs)", call.reference, field),
          { safe_to_retry = true })
      end
    end
    if page.page_key == nil then return nil, "absent" end
    page_key = page.page_key
  end
  return nil, "unknown", errors.new("api", "the lookup by reference did not end within " .. MAX_LOOKUP_PAGES ..
    " pages")
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

local function item_shape(name)
  return function(data)
    if type(data.item) ~= "table" then
      return nil, errors.new("decode", name .. ": unexpected answer: no item object")
    end
    return data.item
  end
end

--- client:call(name, params [, opts]) -> page | item | nil, err
-- A list answers a page {items = {...}, page_key = cursor or nil}; an item
-- answers the object itself; items are model objects when the operation
-- names one (flexiroam.models). An `iccid` that is not one (19-20 digits,
-- Luhn) answers nil and a validation error before anything is sent.
-- opts: retries, deadline_ms, timeout_ms, correlation_id for this call only.
function Client:call(name, params, opts)
  local op = self._operations[name]
  if not op then error("unknown operation '" .. tostring(name) .. "'", 2) end
  params = check_params(name, op, params)
  local call = self:_new_call(name, op, opts, nil, 3)
  if self._check_iccid then
    local invalid = esim.check_params(name, op, params)
    if invalid then return nil, invalid end
  end
  if call.mode == "reference" then
    -- Minted once per call and sent on every attempt: the server charges
    -- once per reference, and the lookup finds the order by it.
    if params.reference == nil then
      params = shallow_copy(params)
      params.reference = reference.uuid4()
    elseif type(params.reference) ~= "string" or params.reference == "" then
      error(name .. ": reference must be a non-empty string", 3)
    end
    call.reference, call.params = params.reference, params
  end
  local query, body
  if op.method == "GET" or op.method == "DELETE" then
    query = url.query(op.params or {}, params)
  else
    local err
    body, err = body_of(op, params)
    if not body then return nil, err end
  end
  call.shape = op.answer == "list" and list_shape(name) or item_shape(name)
  return models.wrap(self, op, self:_send(op.method, op.path, query, body, call))
end

local REQUEST_KEYS = { query = true, json = true, idempotent = true }

--- client:request(method, path, {query = {...}, json = value, idempotent = bool,
-- retries =, deadline_ms =, timeout_ms =, correlation_id =}) -> data | nil, err
-- The raw escape hatch, through the same pipeline as every operation. A
-- POST is repeated only when it provably never left, unless `idempotent`.
function Client:request(method, path, opts)
  if type(method) ~= "string" or type(path) ~= "string" then
    error("request: method and path must be strings", 2)
  end
  method = method:upper()
  local call = self:_new_call(nil, { method = method }, opts, REQUEST_KEYS, 2)
  opts = opts or {}
  if opts.idempotent then call.mode = "idempotent" end
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
  return self:_send(method, path, query, body, call)
end

--- client:each(name, params [, {max_pages = n, retries =, deadline_ms =, ...}])
-- -> iterator over every item of a list operation, page after page. The
-- call options apply to each page's request. A failure half-way RAISES the
-- error object, so a loop never mistakes a failure for the end of the list;
-- a page_key the API already gave raises too instead of looping forever.
function Client:each(name, params, opts)
  local op = self._operations[name]
  if not op or op.answer ~= "list" then error("each: '" .. tostring(name) .. "' is not a list operation", 2) end
  local request = shallow_copy(check_params(name, op, params))
  local max_pages, call_opts = nil, nil
  if opts ~= nil then
    if type(opts) ~= "table" then error("each: options must be a table", 2) end
    for k, v in pairs(opts) do
      if k == "max_pages" then max_pages = v else call_opts = call_opts or {}; call_opts[k] = v end
    end
  end
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
      local page, err = self:call(name, request, call_opts)
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

--- for plan in client:plans{type = "one_time", country = "FRA"} do ... end
function Client:plans(params, opts)
  return self:each("list_plans", params, opts)
end

--- for order in client:orders{iccid = ...} do ... end
function Client:orders(params, opts)
  return self:each("list_orders", params, opts)
end

--- for sub in client:subscriptions{status = "active"} do ... end
function Client:subscriptions(params, opts)
  return self:each("list_subscriptions", params, opts)
end

--- client:collect(name, params [, {max_items =, max_pages =, ...}]) -> items | nil, err
-- Every item of a list operation in one array, bounded by max_items and
-- max_pages (other options go to each page's call, as with each). A
-- failure half-way answers nil and the error, with the items gathered
-- before it in err.items: a short list is never mistaken for the whole.
function Client:collect(name, params, opts)
  local max_items, each_opts = nil, nil
  if opts ~= nil then
    if type(opts) ~= "table" then error("collect: options must be a table", 2) end
    for k, v in pairs(opts) do
      if k == "max_items" then
        max_items = v
      else
        each_opts = each_opts or {}
        each_opts[k] = v
      end
    end
    if max_items ~= nil and (compat.math_type(max_items) ~= "integer" or max_items < 0) then
      error("collect: max_items must be an integer >= 0", 2)
    end
  end
  local items = json.array()
  if max_items == 0 then return items end
  local next_item = self:each(name, params, each_opts) -- misuse raises here, before any request
  local ok, err = pcall(function()
    for item in next_item do
      items[#items + 1] = item
      if max_items and #items >= max_items then return end
    end
  end)
  if ok then return items end
  if not errors.is_error(err) then error(err, 0) end
  err.items = items
  return nil, err
end

--- Raises, as client:call would, when `name`, `params` or `opts` are
-- misuse; sends nothing. A batch checks every item before its first request.
function Client:_validate(name, params, opts)
  local op = self._operations[name]
  if not op then error("unknown operation '" .. tostring(name) .. "'", 2) end
  check_params(name, op, params)
  self:_new_call(name, op, opts, nil, 2)
  return op
end

--- A copy of this client with some fields replaced (flexiroam.batch runs
-- each item through one whose transport and clock yield to its scheduler).
function Client:_with(fields)
  local view = shallow_copy(self)
  for k, v in pairs(fields) do view[k] = v end
  return setmetatable(view, Client)
end

-- Many calls at once (flexiroam.batch), loaded on first use.
for _, name in ipairs { "batch", "map", "usage_many", "purchase_many", "auto_topup_many" } do
  Client[name] = function(self, ...) return require("flexiroam.batch")[name](self, ...) end
end

function Client:close()
  if self._transport.close then self._transport:close() end
end

Client.__close = Client.close

function Client:__tostring()
  return "flexiroam.client: " .. self.base_url
end

-- Named methods (client:list_inventory(params, opts)) come from the
-- operations table; an operation a client added itself is reachable the same way.
-- One function per operation name serves every client (it names no client).
local operation_methods = {}

function Client.__index(self, name)
  local method = Client[name]
  if method ~= nil then return method end
  local ops = rawget(self, "_operations")
  if ops and ops[name] then
    method = operation_methods[name]
    if method == nil then
      method = function(client, params, opts) return client:call(name, params, opts) end
      operation_methods[name] = method
    end
    return method
  end
  return nil
end

return Client
