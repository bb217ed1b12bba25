--- flexiroam.pipeline: the whole life of a call, in the order it happens.
--
--   prepare   1. validate   the operation, its parameters and the call's options (misuse raises)
--   run       2. build      the ICCID check, the reference (minted once), the query or JSON body
--             2a. cache     a slowly changing read answered from the shared store, or one caller
--                           refreshing it for the fleet (flexiroam.cache); else on to 3
--             3. limit      a token from every rate limiter (the client's, a batch's)
--             4. send       through the scheduler: the transport, or a batch's multi
--             5. classify   retry, reconcile or stop (flexiroam.retry, by the operation's mode)
--             6. retry      backoff or Retry-After, every attempt and wait under one deadline
--             7. reconcile  an unclear referenced write is looked up by its reference
--             8. decode     status, JSON and error envelopes (flexiroam.response), then the answer's shape
--             9. model      items become model objects bound to the client (flexiroam.models)
--            10. report     hooks and the logger at every step (flexiroam.observe)
--
-- A Client (flexiroam.client) holds one pipeline and is a facade over it;
-- flexiroam.batch runs the same calls with a scheduler of its own, whose
-- send and sleep yield to it. Nothing else reads a pipeline's state.
--
-- A transport (docs/transport.md) sends a request at most once, except
-- a GET or HEAD on a connection that died; every other repeat is decided
-- here, from the operation's mode.
local json = require("flexiroam.json")
local errors = require("flexiroam.errors")
local url = require("flexiroam.url")
local response = require("flexiroam.response")
local retry = require("flexiroam.retry")
local observe = require("flexiroam.observe")
local reference = require("flexiroam.reference")
local models = require("flexiroam.models")
local esim = require("flexiroam.esim")
local options = require("flexiroam.options")
local selective = require("flexiroam.fields")
local transports = require("flexiroam.transport")
local http_head = require("flexiroam.http_head")
local cache = require("flexiroam.cache")
local raise = require("flexiroam.misuse").raise

local pipeline = {}

local Pipeline = {}
Pipeline.__index = Pipeline

local DEFAULT_TIMEOUT_MS = 60000 -- the transports' own default
local DEFAULT_CORRELATION_HEADER = "x-correlation-id"
local MAX_LOOKUP_PAGES = 10
local LOOKUP_PAGE_SIZE = 100 -- the contract's largest `limit`
local NULL = json.null
local NONE = {} -- iterated in place of an absent table; never written

--- pipeline.new(settings) -> pipeline. Settings, checked by flexiroam.new:
-- base_url, headers (a function returning the request headers: the key
-- lives only in its closure), redact, transport, operations, check_iccid,
-- policy, clock, observe (an emitter), correlation_header, limiters, cache
-- (flexiroam.cache, or nil).
function pipeline.new(s)
  local self = setmetatable({}, Pipeline)
  for k, v in pairs(s) do self[k] = v end
  -- How a lone call sends and waits; a batch brings its own (Pipeline:scheduler).
  self.direct = self:scheduler {}
  return self
end

--- The write mode of an operation: its own, else its method's.
function pipeline.mode_of(op)
  local mode = op.mode
  if not mode then
    local m = op.method
    if m == "GET" or m == "HEAD" then mode = "read"
    elseif m == "PUT" or m == "DELETE" then mode = "idempotent" -- by HTTP semantics
    else mode = "unsafe" end
  end
  -- A reference nobody can look up cannot be settled: sent once.
  if mode == "reference" and not op.reconcile then mode = "unsafe" end
  return mode
end

--- scheduler{send =, sleep =, rate_limiter =} -> how calls send and wait:
-- send(request) -> res | nil, err (default: the transport); sleep(seconds)
-- (default: the clock's); a further limiter on top of the client's.
function Pipeline:scheduler(s)
  local transport = self.transport
  local limiters = self.limiters
  if s.rate_limiter then
    limiters = options.copy(limiters) or {}
    limiters[#limiters + 1] = s.rate_limiter
  end
  return {
    send = s.send or function(req) return transport:request(req) end,
    sleep = s.sleep or self.clock.sleep,
    limiters = limiters,
  }
end

--- A multi of the transport (docs/transport.md), for a batch.
function Pipeline:multi(max_connections)
  return transports.multi(self.transport, { max_connections = max_connections })
end

function Pipeline:close()
  if self.transport.close then self.transport:close() end
end

----------------------------------------------------------------------
-- 1. validate
----------------------------------------------------------------------

-- Each operation's parameter names as a set, made on its first call (weak
-- keys: an operations table a client drops takes its sets with it).
local accepted_sets = setmetatable({}, { __mode = "k" })

local function accepted_of(op)
  local accepted = accepted_sets[op]
  if not accepted then
    accepted = {}
    for _, p in ipairs(op.params or {}) do accepted[p] = true end
    accepted_sets[op] = accepted
  end
  return accepted
end

local function check_params(name, op, params)
  -- No table is an empty one: client:get_sim() misses its iccid as much as
  -- client:get_sim{} does, and must raise before anything is sent.
  local given = params
  if given == nil then
    given = NONE
  elseif type(given) ~= "table" then
    raise("%s: parameters must be a table (got %s)", name, type(given))
  end
  local accepted = accepted_of(op)
  for k in pairs(given) do
    if not accepted[k] then
      local near = options.nearest(k, accepted)
      raise("%s: unknown parameter '%s'%s", name, tostring(k), near and (" (did you mean '" .. near .. "'?)") or "")
    end
  end
  for _, p in ipairs(op.required or NONE) do
    if given[p] == nil or given[p] == "" then raise("%s: missing required parameter '%s'", name, p) end
  end
  return params or {}
end

-- Headers a call may not set itself: the SDK's own, and those that frame
-- the message (the transport's).
local OWN_HEADERS = {
  ["x-api-key"] = true, ["content-type"] = true, accept = true, ["user-agent"] = true,
  host = true, ["content-length"] = true, ["transfer-encoding"] = true, connection = true,
  ["accept-encoding"] = true, expect = true, te = true, upgrade = true,
}

-- A call's own headers (opts.headers), checked, and its request id: the
-- caller's (request_id, or an x-request-id among its headers), else a
-- fresh one. -> headers (lowercased names) or nil, request id
function Pipeline:call_headers(where, own)
  local extra, request_id = nil, own and own.request_id
  local headers = own and own.headers
  for name, value in next, headers or NONE do
    local problem = http_head.field_problem(name, value)
    if problem then raise("%s: %s", where, problem) end
    local lower = name:lower()
    if OWN_HEADERS[lower] or lower == (self.correlation_header or DEFAULT_CORRELATION_HEADER):lower() then
      raise("%s: header '%s' is the SDK's own to set", where, name)
    end
    if lower == "x-request-id" then
      request_id = request_id or value
    else
      extra = extra or {}
      extra[lower] = value
    end
  end
  return extra, request_id or reference.request_id()
end

-- The fields every call starts with, from its options.
function Pipeline:new_call(where, own, fields)
  fields.headers, fields.request_id = self:call_headers(where, own)
  local correlation_id = own and own.correlation_id
  -- A fresh correlation id when the client sends the header (the same on
  -- every attempt and lookup).
  if correlation_id == nil and self.correlation_header then correlation_id = reference.uuid4() end
  fields.correlation_id = correlation_id
  return fields
end

--- The operation `name`, or a raise.
function Pipeline:operation(name)
  local op = self.operations[name]
  if not op then raise("unknown operation '%s'", tostring(name)) end
  return op
end

--- prepare(owner, name, params, opts) -> call: an operation checked and
-- ready to run. Raises on misuse (unknown operation, parameter or option, a
-- missing required parameter); sends nothing. `owner` is the client whose
-- models the answer becomes.
function Pipeline:prepare(owner, name, params, opts)
  local op = self:operation(name)
  params = check_params(name, op, params)
  local policy, own = options.per_call(name, opts, self.policy)
  local selection, select_meta
  if own and own.fields ~= nil then
    if pipeline.mode_of(op) ~= "read" or not op.model then
      raise("%s: fields selects what a read operation returns; %s is not one", name, name)
    end
    selection = selective.compile(name, own.fields)
    select_meta = models.select_meta(owner, op, selection) -- the decoder makes the models
  end
  -- A bad ICCID or reference is data (nil, err when the call runs); one
  -- that is not a string is a bug, and raises here.
  local invalid = self.check_iccid and esim.check_params(name, op, params) or nil
  local ref_param = op.reference or "reference"
  local mode = pipeline.mode_of(op)
  if mode == "reference" and params[ref_param] ~= nil then
    invalid = invalid or reference.check(name, ref_param, params[ref_param])
  end
  return self:new_call(name, own, {
    owner = owner, name = name, op = op, params = params, mode = mode, policy = policy,
    reference_param = mode == "reference" and ref_param or nil,
    method = op.method, path = op.path, invalid = invalid, selection = selection, select_meta = select_meta,
    cache = cache.plan(self.cache, name, op, mode, own), -- the seconds it is cached, or nil
  })
end

local RAW_KEYS = { query = true, json = true, idempotent = true }

--- prepare_request(owner, method, path, opts) -> call: client:request's
-- raw call. A POST is repeated only when it provably never left, unless
-- opts.idempotent.
function Pipeline:prepare_request(owner, method, path, opts)
  if type(method) ~= "string" or type(path) ~= "string" then raise("request: method and path must be strings") end
  local problem = url.path_problem(path)
  if problem then raise("request: path %s (a query goes in opts.query)", problem) end
  method = method:upper()
  local policy, own = options.per_call("request", opts, self.policy, RAW_KEYS)
  if own and own.fields ~= nil then raise("request: fields selects what an operation returns, not a raw request") end
  if own and own.cache then raise("request: a raw request is never cached") end
  opts = opts or NONE
  local query
  if type(opts.query) == "table" then
    -- Names in a fixed (sorted) order; a name that is no string would fail
    -- in the sort or the encoding, inside the SDK.
    local names = {}
    for k in pairs(opts.query) do
      if type(k) ~= "string" then
        raise("request: query must map names to values (found a %s key: %s)", type(k), tostring(k))
      end
      names[#names + 1] = k
    end
    table.sort(names)
    query = url.query(names, opts.query, "request")
  elseif opts.query ~= nil then
    raise("request: query must be a table")
  end
  -- The body is encoded here, not when the call runs: a value JSON cannot
  -- hold (a cycle, NaN, a function) is the caller's mistake, and raises
  -- with the encoder's message instead of returning an error of no kind
  -- the README lists.
  local body
  if opts.json ~= nil then
    if method == "GET" or method == "HEAD" then
      raise("request: a %s request carries no body: json is for POST, PUT, PATCH or DELETE", method)
    end
    local err
    body, err = json.encode(opts.json)
    if not body then raise("request: json cannot be encoded at %s: %s", tostring(err.path), tostring(err.message)) end
  end
  return self:new_call("request", own, {
    owner = owner, method = method, path = path, query = query, body = body, policy = policy,
    mode = opts.idempotent and "idempotent" or pipeline.mode_of { method = method },
  })
end

----------------------------------------------------------------------
-- 2. build
----------------------------------------------------------------------

--- The call's reference, minted once (and sent on every attempt: the
-- server charges once per reference, and the lookup finds the order by
-- it); nil for a call that takes none. A batch records it in its journal
-- before the first send.
function pipeline.reference(call)
  local name = call.reference_param
  if not name then return nil end
  local ref = call.params[name]
  if ref == nil then
    call.params = options.copy(call.params)
    ref = reference.uuid4()
    call.params[name] = ref
  end
  call.reference = ref
  return ref
end

--- Sets the reference a call is to carry (a rerun's, from a batch's journal).
function pipeline.set_reference(call, ref)
  call.params = options.copy(call.params)
  call.params[call.reference_param] = ref
end

local function body_of(op, params)
  local body = {}
  for _, p in ipairs(op.params or {}) do body[p] = params[p] end
  return json.encode(body)
end

-- A record of the API is a JSON object: a server that answers an array, a
-- number or a string in its place gets a decode error, never a model built
-- from it (nor a raw value in a list).
local function not_object(value)
  return type(value) ~= "table" or json.is_array(value)
end

local function not_record(name, i)
  return errors.new("decode", string.format("%s: unexpected answer: items[%d] is not an object", name, i))
end

-- A list answer: an items array of objects (json.first_non_object; in a
-- selective decode the decoder gives each object record its model's
-- metatable, still an object to it) and a string page_key or none.
local function make_list_shape(name)
  return function(data)
    local items, page_key = data.items, data.page_key
    if type(items) ~= "table" or (next(items) ~= nil and not json.is_array(items)) then
      return nil, errors.new("decode", name .. ": unexpected answer: no items array")
    end
    local bad = json.first_non_object(items)
    if bad then return nil, not_record(name, bad) end
    if page_key == NULL then page_key = nil end
    if page_key ~= nil and type(page_key) ~= "string" then
      return nil, errors.new("decode", name .. ": unexpected answer: page_key is not a string")
    end
    return { items = items, page_key = page_key }
  end
end

local function make_item_shape(name)
  return function(data)
    if not_object(data.item) then
      return nil, errors.new("decode", name .. ": unexpected answer: no item object")
    end
    return data.item
  end
end

-- One checker per operation name and kind, made once: a call only looks it up.
local function memo_by_name(make)
  local made = {}
  return function(name)
    local f = made[name]
    if not f then
      f = make(name)
      made[name] = f
    end
    return f
  end
end
local list_shape, item_shape = memo_by_name(make_list_shape), memo_by_name(make_item_shape)

-- The request of a call: nil, err for an ICCID that is not one (nothing sent).
local function build(call)
  local op = call.op
  if not op then return true end -- a raw request: prepare_request encoded its body
  if call.invalid then return nil, call.invalid end
  pipeline.reference(call)
  if op.method == "GET" or op.method == "DELETE" then
    call.query = url.query(op.params or {}, call.params, call.name)
  else
    local body, err = body_of(op, call.params)
    if not body then return nil, err end
    call.body = body
  end
  call.shape = op.answer == "list" and list_shape(call.name)
    or item_shape(call.name)
  return true
end

----------------------------------------------------------------------
-- 10. report: the fields every event of an attempt carries
----------------------------------------------------------------------

local function event_of(call, attempt, event)
  event.operation = call.name
  event.purpose = call.purpose
  event.method = call.method
  event.path = call.path
  event.attempt = attempt
  event.reference = call.reference
  event.correlation_id = call.correlation_id
  event.request_id = call.request_id
  return event
end

--- event(call, hook, fields): an event of the call's for `hook` and the
-- logger (debug), built only when something listens.
function Pipeline:event(call, hook, fields)
  if self.observe:wants(hook) then self.observe:emit(hook, "debug", event_of(call, nil, fields)) end
end

local function error_event(call, attempt, err, why, final, elapsed, outcome)
  return event_of(call, attempt, {
    event = "error", error = err, kind = err.kind, status = err.status, reason = why, final = final,
    elapsed = elapsed, outcome = outcome,
  })
end

----------------------------------------------------------------------
-- 3-4, 8. one attempt: limit, send, decode
----------------------------------------------------------------------

-- Every rate limiter's token: each attempt and each lookup is a request
-- the API counts. A shared limiter (flexiroam.limiter.shared) reserves a
-- slot only when it comes before the call's deadline (-> false: none does),
-- and may void the slot once the wait is over (a pause began meanwhile, or
-- the caller woke too late for it): the caller then takes the next one.
local function take_tokens(sched, now, deadline)
  local limiters = sched.limiters
  if not limiters then return true end
  for i = 1, #limiters do
    local lim, voided = limiters[i], 0
    while true do
      local t = now()
      local wait = lim:take(t, deadline and math.max(0, deadline - t) or nil)
      if wait == nil then return false end
      if wait > 0 then sched.sleep(wait) end
      if not lim.void or not lim:void(wait, now() - t - wait, voided) then break end
      voided = voided + 1
    end
  end
  return true
end

local function no_slot_error(call)
  return errors.new("timeout", string.format("rate_limit: no request slot is free before the call's deadline of" ..
    " %s ms (the shared limit is busy or paused by a 429)", tostring(call.policy.deadline_ms)), { sent = false })
end

-- A 429's Retry-After pauses every shared limiter: every worker, process
-- and host of the key waits it out, not only this call (a pause longer
-- than max_retry_after_ms is cut to it).
local function pause_limiters(sched, err, policy)
  local limiters = sched.limiters
  if not limiters or err.status ~= 429 or not err.retry_after or err.retry_after <= 0 then return end
  local seconds = math.min(err.retry_after, policy.max_retry_after_ms / 1000)
  if seconds <= 0 then return end
  for i = 1, #limiters do
    if limiters[i].pause then limiters[i]:pause(seconds) end
  end
end

--- What response.decode needs to know of a call (made once per call).
function Pipeline:decode_context(call)
  local ctx = call.decode_context
  if not ctx then
    ctx = { method = call.method, path = call.path, redact = self.redact, time = self.clock.time,
      selection = call.selection, answer = call.op and call.op.answer, select_meta = call.select_meta }
    call.decode_context = ctx
  end
  return ctx
end

--- decode(call, res) -> data | nil, err: an answer (the transport's, or
-- the cache's {status =, body =}) decoded, checked and shaped as the call's
-- operation answers (flexiroam.response); every string of err redacted.
function Pipeline:decode(call, res)
  local data, derr = response.decode(res, self:decode_context(call))
  if data ~= nil and call.shape then
    data, derr = call.shape(data)
    if data == nil then
      derr.status, derr.method, derr.path = res.status, call.method, call.path
      derr.server_request_id = response.server_request_id(res)
    end
  end
  if data == nil then errors.scrub(derr, self.redact) end
  return data, derr
end

-- -> data | nil, err (err.method/path set, every string redacted), elapsed
function Pipeline:attempt(call, attempt, timeout_ms, sched)
  local clock, redact, listeners = self.clock, self.redact, self.observe
  local headers = self.headers()
  for name, value in pairs(call.headers or {}) do headers[name] = value end
  headers["x-request-id"] = call.request_id
  if call.correlation_id then
    headers[self.correlation_header or DEFAULT_CORRELATION_HEADER] = call.correlation_id
  end
  if listeners:wants("on_request") then
    listeners:emit("on_request", "debug", event_of(call, attempt, {
      event = "request", query = call.query, timeout_ms = timeout_ms,
      headers = observe.redact_headers(headers, redact),
    }))
  end
  -- A read's answer decoded by a transport that can (docs/transport.md:
  -- `decodes`) straight from its buffer: a big page is never copied into a
  -- Lua string. Never a write's, nor one the cache keeps as it came.
  local decode
  if self.transport.decodes and call.op and call.mode == "read" and call.method == "GET" and not call.keep_answer then
    decode = response.options(self:decode_context(call))
  end
  local started = clock.now()
  local res, err = sched.send { method = call.method, url = call.target, headers = headers, body = call.body,
    timeout_ms = timeout_ms, decode = decode }
  local elapsed = clock.now() - started
  if not res then
    if not errors.is_error(err) then err = errors.new("network", tostring(err)) end
    -- The transport's safe_to_retry speaks of the raw request; the call's
    -- own answer comes from its mode when it ends (Pipeline:fail).
    err.method, err.path, err.safe_to_retry = call.method, call.path, nil
    return nil, errors.scrub(err, redact), elapsed
  end
  if call.keep_answer then call.answered = res end -- the cache keeps its body
  if listeners:wants("on_response") then
    listeners:emit("on_response", "debug", event_of(call, attempt, {
      event = "response", status = res.status, elapsed = elapsed, timings = res.timings, reused = res.reused,
      http_version = res.http_version, server_request_id = response.server_request_id(res),
      headers = observe.redact_headers(res.headers, redact),
    }))
  end
  local data, derr = self:decode(call, res)
  if data ~= nil and call.mode == "reference" and res.status == 200 then
    -- The contract: a repeated reference answers the ORIGINAL record with
    -- 200 (a new one is 201), and nothing is charged again.
    call.replayed = true
  end
  return data, derr, elapsed
end

----------------------------------------------------------------------
-- The end of a call that failed
----------------------------------------------------------------------

-- A reference write whose outcome could not be settled. The reference is
-- in the message too, so tostring(err) alone tells what to send again.
local function indeterminate(call, cause, lookup_err)
  local why
  if lookup_err then
    why = string.format("looking it up failed (%s: %s)", tostring(lookup_err.kind), tostring(lookup_err.message))
  else
    why = "nothing is recorded under it yet, but an attempt that timed out, was cut or got a 5xx or an " ..
      "unreadable answer may still be in process"
  end
  return errors.new("indeterminate", string.format(
    "%s may or may not have been done under reference %s (%s: %s); %s; calling again with the same reference" ..
    " is safe", tostring(call.name), tostring(call.reference), tostring(cause.kind), tostring(cause.message), why),
    { cause = cause, safe_to_retry = true })
end

-- The final on_error, then the error as the caller gets it: what the call
-- knows, and whether the same call may be repeated (by its mode: a
-- transport's own safe_to_retry speaks of the raw request only). A
-- reference write that had an attempt in flight when it failed ends
-- indeterminate whatever came after: that attempt may still land. (Not a
-- reference that names another purchase: none of this call's can land.)
function Pipeline:fail(call, attempt, err, why, elapsed)
  if call.in_doubt and call.mode == "reference" and err.kind ~= "indeterminate" and
    err.kind ~= "reference_reused" then
    err = indeterminate(call, err)
  end
  self.observe:emit("on_error", "info", error_event(call, attempt, err, why, true, elapsed))
  err.method, err.path = call.method, call.path
  err.attempts = attempt
  err.reference = call.reference
  err.correlation_id = call.correlation_id
  err.request_id = call.request_id
  if err.safe_to_retry == nil then err.safe_to_retry = retry.safe_to_retry(call.mode, err) end
  err.retryable = retry.retryable(err)
  return nil, errors.scrub(err, self.redact)
end

local function deadline_error(call)
  return errors.new("timeout", string.format("the call's deadline of %s ms passed",
    tostring(call.policy.deadline_ms)), { sent = false })
end

----------------------------------------------------------------------
-- 7. reconcile
----------------------------------------------------------------------

-- Whether an order or subscription found by reference is the one this
-- call asked for (a reused reference names someone else's).
local function same_request(item, params)
  for _, field in ipairs { "iccid", "plan_id" } do
    local want, got = params[field], item[field]
    if want ~= nil and got ~= nil and tostring(want) ~= tostring(got) then return false end
  end
  return true
end

-- "iccid 8985..., plan FRA-1GB-7D" of a record or of a call's parameters.
local function described(t)
  return string.format("iccid %s, plan %s", tostring(t.iccid), tostring(t.plan_id))
end

-- A reference that already names another purchase: its own kind, naming
-- both, with the record found (err.existing).
local function reference_reused(call, item)
  return errors.new("reference_reused", string.format(
    "reference %s already names %s %s (%s); this call asked for %s: use a new reference for a new purchase",
    tostring(call.reference), models.kind(item) or "record", tostring(item.id), described(item),
    described(call.params)), { existing = item, safe_to_retry = true })
end

--- After a write may or may not have landed, or was refused with 409:
-- looks its reference up.
-- -> item, "found" | nil, "absent" | nil, "unknown", err | nil, "mismatch", err
function Pipeline:reconcile(call, sched)
  local name = call.op.reconcile
  local op = self.operations[name]
  if not op then
    return nil, "unknown", errors.new("api", "no operation '" .. tostring(name) .. "' to look references up")
  end
  -- By the reference where the list filters by it (a reference is unique
  -- per account, whatever SIM it bought for: a double click's other SIM is
  -- found too); else by the SIM as well, whose few records are matched on
  -- their reference here (the contract's list_subscriptions does not say it
  -- filters by reference).
  local by_reference = accepted_of(op).reference == true
  local filter = by_reference and { "reference", "page_key", "limit" } or { "iccid", "reference", "page_key", "limit" }
  local page_key
  for _ = 1, MAX_LOOKUP_PAGES do
    local lookup = {
      name = name, purpose = "reconcile", mode = "lookup", policy = call.policy, deadline = call.deadline,
      correlation_id = call.correlation_id, reference = call.reference, shape = list_shape(name),
      method = op.method, path = op.path, headers = call.headers,
      -- Its own request id, which names the call's: a server that takes
      -- request ids as idempotency keys must not see the purchase's again.
      request_id = call.request_id .. "/reconcile",
      query = url.query(filter,
        { iccid = call.params.iccid, reference = call.reference, page_key = page_key, limit = LOOKUP_PAGE_SIZE }),
    }
    local page, err = self:send(lookup, sched)
    if not page then return nil, "unknown", err end
    for _, item in ipairs(page.items) do
      if type(item) == "table" and item.reference == call.reference then
        if same_request(item, call.params) then return item, "found" end
        models.wrap(call.owner, call.op, item)
        return nil, "mismatch", reference_reused(call, item)
      end
    end
    if page.page_key == nil then return nil, "absent" end
    page_key = page.page_key
  end
  return nil, "unknown", errors.new("api", "the lookup by reference did not end within " .. MAX_LOOKUP_PAGES ..
    " pages")
end

----------------------------------------------------------------------
-- 3-8. attempts until one succeeds or none may follow
----------------------------------------------------------------------

--- send(call, sched) -> data | nil, err: a built call sent until it
-- succeeds or may not be sent again, its answer decoded and shaped.
function Pipeline:send(call, sched)
  local target = self.base_url .. call.path
  if call.query and call.query ~= "" then target = target .. "?" .. call.query end
  call.target = target
  local clock, policy, observer = self.clock, call.policy, self.observe
  if call.deadline == nil and policy.deadline_ms then
    call.deadline = clock.now() + policy.deadline_ms / 1000
  end
  local attempt, last_err = 0, nil
  while true do
    if not take_tokens(sched, clock.now, call.deadline) then
      return self:fail(call, attempt, last_err or no_slot_error(call), "deadline")
    end
    local timeout_ms = retry.attempt_timeout(policy.timeout_ms, DEFAULT_TIMEOUT_MS, call.deadline, clock.now())
    if timeout_ms == 0 then return self:fail(call, attempt, last_err or deadline_error(call), "deadline") end
    attempt = attempt + 1
    local data, err, elapsed = self:attempt(call, attempt, timeout_ms, sched)
    if data ~= nil then return data end
    if err.kind == "timeout" and call.deadline and timeout_ms and timeout_ms < (policy.timeout_ms or DEFAULT_TIMEOUT_MS)
    then -- the transport's words know nothing of the deadline that cut this attempt short
      err.message = string.format("%s (this attempt had the %d ms the call's deadline_ms of %s left)",
        tostring(err.message), timeout_ms, tostring(policy.deadline_ms))
    end
    last_err = err
    pause_limiters(sched, err, policy)

    local decision, reason = retry.classify(call.mode, err)
    if decision == "reconcile" then
      -- No answer, a 5xx (a gateway that gave up while the API works on)
      -- or a 2xx that could not be read: the attempt may still land, so the
      -- call cannot end in a plain failure whatever comes after. Only a
      -- 409 is the API's own refusal.
      if err.status ~= 409 then call.in_doubt = true end
      -- A 409 was a refusal: the reference names another purchase, or the
      -- SIM cannot take this one. Nothing was done, so nothing is sent again.
      local refused = err.status == 409
      local found, outcome, lookup_err = self:reconcile(call, sched)
      observer:emit(nil, "info", event_of(call, attempt, { event = "reconcile", outcome = outcome, reason = reason }))
      if outcome == "found" then
        observer:emit("on_error", "debug", error_event(call, attempt, err, reason, false, elapsed, "found"))
        call.replayed = call.replayed or refused
        return found
      end
      if outcome == "mismatch" then
        if refused then -- the API's own refusal, now explained
          lookup_err.status, lookup_err.code, lookup_err.server_request_id = err.status, err.code, err.server_request_id
        end
        return self:fail(call, attempt, lookup_err, reason, elapsed)
      end
      if refused then return self:fail(call, attempt, err, reason, elapsed) end
      if outcome == "unknown" then
        return self:fail(call, attempt, indeterminate(call, err, lookup_err), reason, elapsed)
      end
      decision = "retry" -- proven absent: the same reference may go again
    end

    local delay, why = nil, reason
    if decision == "retry" then
      if attempt > policy.retries then
        why = "no retries left"
      else
        delay, why = retry.wait(policy, attempt, err, clock.now(), call.deadline, clock.random)
      end
    end
    if delay == nil then return self:fail(call, attempt, err, why, elapsed) end
    observer:emit("on_error", "info", error_event(call, attempt, err, why, false, elapsed))
    observer:emit("on_retry", "info", event_of(call, attempt, {
      event = "retry", reason = reason, delay = delay, kind = err.kind, status = err.status,
      next_attempt = attempt + 1,
    }))
    if delay > 0 then sched.sleep(delay) end
  end
end

----------------------------------------------------------------------
-- The whole call
----------------------------------------------------------------------

--- run(call [, sched]) -> value | nil, err: build, send, model. `sched`
-- is a batch's scheduler; a lone call sends through the transport.
function Pipeline:run(call, sched)
  local ok, err = build(call)
  if not ok then return nil, err end
  sched = sched or self.direct
  local data
  if call.cache then
    data, err = self.cache:through(call, sched, self) -- 2a: sends only when the cache cannot answer
  else
    data, err = self:send(call, sched)
  end
  if not call.op then return data, err end
  -- 9. With a selection the decoder made the models (models.select_meta),
  -- and the answer's shape checked every record is one.
  if not call.select_meta then data = models.wrap(call.owner, call.op, data) end
  if call.replayed and data ~= nil then models.mark_replayed(data) end
  return data, err
end

--- call(owner, name, params, opts) -> value | nil, err: one operation, start to end.
function Pipeline:call(owner, name, params, opts)
  return self:run(self:prepare(owner, name, params, opts))
end

return pipeline
