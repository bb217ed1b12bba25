--- The client: a facade over one request pipeline (flexiroam.pipeline,
-- where a call is built, sent, retried, reconciled and decoded). Here:
-- flexiroam.new's options, a method for every operation of the table, the
-- iterators, and the helpers that run many calls (flexiroam.batch) or a
-- whole job (flexiroam.jobs).
--
-- Every call answers its result, or nil and an error object
-- (flexiroam.errors); misuse (an unknown option or operation, a missing
-- parameter) raises at the caller's line.
-- @classmod flexiroam.client
local core = require("flexiroam.core")
local json = require("flexiroam.json")
local errors = require("flexiroam.errors")
local url = require("flexiroam.url")
local retry = require("flexiroam.retry")
local observe = require("flexiroam.observe")
local limiter = require("flexiroam.limiter")
local store = require("flexiroam.store")
local cache = require("flexiroam.cache")
local default_operations = require("flexiroam.operations")
local transports = require("flexiroam.transport")
local ngx_transport = require("flexiroam.transport.ngx")
local compat = require("flexiroam.compat")
local clock = require("flexiroam.clock")
local options = require("flexiroam.options")
local pipeline = require("flexiroam.pipeline")
local batch = require("flexiroam.batch")
local jobs = require("flexiroam.jobs")
local claims = require("flexiroam.claims")
local raise = require("flexiroam.misuse").raise

local Client = {}
Client.__index = Client

-- Every public method checks its self: client.get_sim{...}, a '.' for a
-- ':', would hand the parameters over as the client and fail deep inside
-- the SDK. One metatable comparison, no allocation (it runs on every call);
-- the message is made only when it raises.
local function not_a_client(name, example)
  raise("client:%s must be called with ':' (client:%s%s), not '.'", name, name, example)
end

-- The method of an operation: client:call(name, ...), through the client's
-- own call (a stand-in set on the client sees every operation).
local function operation_method(name)
  return function(self, params, opts)
    if getmetatable(self) ~= Client then not_a_client(name, "{...}") end
    return self:call(name, params, opts)
  end
end

local DEFAULT_BASE_URL = "https://solutions-api.flexiroam.com"

local function user_agent(extra, transport_detail)
  local ua = string.format("flexiroam-lua/%s (%s; %s)", core.VERSION, compat.lua_name(), transport_detail)
  if extra then ua = ua .. " " .. extra end
  return ua
end

-- Per-client operations: the defaults, with the caller's entries laid over
-- them field by field (so `{ path = ... }` alone corrects a path).
local function merge_operations(overrides)
  local ops = options.copy(default_operations)
  for name, op in pairs(overrides or {}) do
    if type(name) ~= "string" or type(op) ~= "table" then
      raise("flexiroam.new: operations must map names to tables")
    end
    local merged = options.merge(ops[name] or { params = {}, required = {}, answer = "item" }, op)
    if type(merged.method) ~= "string" or type(merged.path) ~= "string" then
      raise("flexiroam.new: operation '%s' needs a method and a path", name)
    end
    ops[name] = merged
  end
  return ops
end

local SESSION_OPTIONS = {
  "connect_timeout_ms", "timeout_ms", "low_speed_bytes", "low_speed_ms", "ca_file", "ca_path",
  "proxy", "verify", "max_response_bytes",
}

-- Every option flexiroam.new takes; any other raises, naming the nearest.
local NEW_OPTIONS = options.union(options.POLICY, {
  api_key = true, base_url = true, allow_insecure_http = true, user_agent = true, operations = true,
  check_iccid = true, logger = true, log = true, correlation_header = true, clock = true, rate_limit = true,
  transport = true, on_request = true, on_response = true, on_retry = true, on_error = true, on_cache = true,
  shared = true, n_workers = true, cache = true,
})
for _, name in ipairs(SESSION_OPTIONS) do NEW_OPTIONS[name] = true end

-- The options whose type nothing further down checks.
local function check_types(opts)
  for _, name in ipairs { "allow_insecure_http", "check_iccid", "verify" } do
    if opts[name] ~= nil and type(opts[name]) ~= "boolean" then
      raise("flexiroam.new: %s must be a boolean (got %s)", name, type(opts[name]))
    end
  end
  local ua = opts.user_agent
  if ua ~= nil and (type(ua) ~= "string" or ua:find("[%z\1-\31\127]")) then
    raise("flexiroam.new: user_agent must be a string without control characters")
  end
  if opts.operations ~= nil and type(opts.operations) ~= "table" then
    raise("flexiroam.new: operations must be a table")
  end
end

local function base_url_of(opts)
  local base = opts.base_url or os.getenv("FLEXIROAM_BASE_URL") or DEFAULT_BASE_URL
  if type(base) ~= "string" then raise("flexiroam.new: base_url must be a string") end
  -- Never echoed: it may carry credentials.
  if base:find("[%z\1-\32\127?#]") then
    raise("flexiroam.new: base_url must not contain spaces, control characters, '?' or '#'")
  end
  -- User info would name the host libcurl connects to after an '@' that
  -- the loopback check below does not see (http://127.0.0.1:x@elsewhere),
  -- and the key travels in a header anyway.
  if base:find("[@\\]") then
    raise("flexiroam.new: base_url must not contain user info ('@') or backslashes")
  end
  base = base:gsub("/+$", "")
  local scheme, host = url.split(base)
  if not scheme then raise("flexiroam.new: base_url must be an http:// or https:// URL") end
  if scheme == "http" and not url.is_loopback(host) and not opts.allow_insecure_http then
    raise("flexiroam.new: refusing plain http:// to %s (the API key would travel in clear); use https, or " ..
      "allow_insecure_http = true", host)
  end
  return base
end

-- The workers a shared limit's fallback divides rate_limit among when
-- n_workers is not given: this nginx's workers (one host), else 1.
local function default_workers()
  if ngx_transport.in_nginx() then
    local ok, count = pcall(function() return rawget(_G, "ngx").worker.count() end)
    if ok and type(count) == "number" and count >= 1 then return count end
  end
  return 1
end

--- A new client: flexiroam.new{api_key =, base_url =, timeout_ms =, retries =, ...}.
-- @tparam[opt] table opts the options (see Options); the key defaults to $FLEXIROAM_API_KEY
-- @treturn flexiroam.client the client
-- @raise an unknown option (naming the nearest), a value of the wrong type, no API key, a base_url that is
-- not http(s) or sends the key in clear to a host that is not loopback
function Client.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then raise("flexiroam.new: options must be a table") end
  options.check_keys("flexiroam.new", opts, NEW_OPTIONS)
  check_types(opts)
  local key = opts.api_key
  if key == nil then key = os.getenv("FLEXIROAM_API_KEY") end
  if type(key) ~= "string" or key == "" then
    raise("flexiroam.new: no API key: pass api_key or set FLEXIROAM_API_KEY")
  end
  -- It goes out as a header value: a CR, LF or other control byte would
  -- be refused by every request, or split the header. Never echoed.
  if key:find("[%z\1-\31\127]") then
    raise("flexiroam.new: the API key holds a control character (a newline read with it from a file?)")
  end
  local base = base_url_of(opts)
  local correlation_header = opts.correlation_header
  if correlation_header ~= nil and (type(correlation_header) ~= "string" or correlation_header == "") then
    raise("flexiroam.new: correlation_header must be a header name")
  end
  if correlation_header and observe.is_sensitive(correlation_header) then
    raise("flexiroam.new: correlation_header must not be a credential header")
  end

  local redact = errors.redactor(key)
  local emitter = observe.new(opts, redact)
  if opts.verify == false then
    emitter:warn("TLS certificate verification is OFF for " .. base .. ": anyone on the path can read the API key")
  end
  -- What the shared limit and the cache say about their store: a warning
  -- once per outage, an info line when it answers again.
  local function warn(message) emitter:warn(message) end
  local function info(message) emitter:log("info", { event = "warning", message = message }) end
  local shared, limiters = store.resolve(opts.shared, "flexiroam.new"), nil
  -- Where this key's state lives in a store (a hash of the key, never the key).
  local ns = (shared or (type(opts.cache) == "table" and opts.cache.shared ~= nil)) and store.namespace(key) or nil
  if opts.n_workers ~= nil then
    options.number("flexiroam.new", "n_workers", opts.n_workers, 1, nil, true)
    if not shared then raise("flexiroam.new: n_workers sizes the fallback of a shared rate limit: it needs shared") end
  end
  if opts.rate_limit ~= nil then
    local own = limiter.new(opts.rate_limit, nil, "flexiroam.new: rate_limit")
    if shared then
      -- One rate for every worker, process and host of this key; alone at
      -- rate / n_workers while the store cannot answer.
      own = limiter.shared {
        store = shared, key = ns .. "rate", rate = opts.rate_limit,
        n_workers = opts.n_workers or default_workers(),
        warn = warn, info = info,
      }
    end
    limiters = { own }
  end

  -- Inside nginx the default is its cosockets: libcurl would block the worker.
  local session_opts = {}
  for _, name in ipairs(SESSION_OPTIONS) do session_opts[name] = opts[name] end
  local transport, _, transport_detail = transports.select(opts.transport, session_opts)
  local agent = user_agent(opts.user_agent, transport_detail)
  local operations = merge_operations(opts.operations)
  local policy = options.policy(retry.DEFAULTS, opts)
  local clk = clock.new(opts.clock)
  -- The catalogue cache: on by default with a store (the operations
  -- table's `cache`), in the store's namespace of this key.
  local catalogue = cache.new(opts.cache, {
    shared = shared, namespace = ns, base_url = base, operations = operations,
    mode_of = pipeline.mode_of, clock = clk, redact = redact, warn = warn, info = info,
  })

  local self = setmetatable({
    base_url = base,
    _pipeline = pipeline.new {
      base_url = base,
      -- The key lives only in this closure: a client printed, serialised
      -- or dumped field by field shows no key.
      headers = function()
        return { ["x-api-key"] = key, ["Content-Type"] = "application/json", ["Accept"] = "application/json",
          ["User-Agent"] = agent }
      end,
      redact = redact,
      transport = transport,
      operations = operations,
      check_iccid = opts.check_iccid ~= false,
      policy = policy,
      clock = clk,
      observe = emitter,
      correlation_header = correlation_header,
      limiters = limiters,
      cache = catalogue,
      -- The store shared with the fleet (flexiroam.store), or nil: the rate
      -- limit's, the claims' and the cache's (unless cache.shared names
      -- another).
      store = shared,
    },
    -- One sale per free SIM across the fleet (flexiroam.claims), with a store.
    _claims = shared and claims.new {
      store = shared, namespace = ns,
      deadline_ms = policy.deadline_ms, timeout_ms = policy.timeout_ms,
      warn = function(message) emitter:warn(message) end,
    } or nil,
  }, Client)
  -- An operation this client added has a method of its own, as the
  -- table's operations have on the class.
  for name in pairs(operations) do
    if Client[name] == nil then self[name] = operation_method(name) end
  end
  return self
end

--- Calls any operation by name: what every operation method does.
-- A list answers a page {items = {...}, page_key = cursor or nil}; an item
-- answers the object itself; items are model objects when the operation
-- names one (flexiroam.models). An `iccid` that is not one (19-20 digits,
-- Luhn) answers nil and a validation error before anything is sent.
-- @string name the operation (a key of flexiroam.operations, or one this client added)
-- @tparam table params its parameters
-- @tparam[opt] table opts per-call options: retries, deadline_ms, timeout_ms, correlation_id, request_id,
-- headers; on a read also fields and cache
-- @return the page or the item
-- @return[2] nil
-- @return[2] an error object: kind, message, status, request_id, safe_to_retry, ...
-- @raise an unknown operation, parameter or option; a missing required parameter
function Client:call(name, params, opts)
  return self._pipeline:call(self, name, params, opts)
end

--- The raw escape hatch, through the same pipeline as every operation.
-- A POST is repeated only when it provably never left, unless `idempotent`.
-- @string method "GET", "POST", ...
-- @string path a path under base_url ("/v1/public-v2/..."); one that would leave base_url's origin raises
-- @tparam[opt] table opts query (a table), json (the body), idempotent, and the per-call options
-- @return the decoded answer
-- @return[2] nil
-- @return[2] an error object
function Client:request(method, path, opts)
  local pipe = self._pipeline
  return pipe:run(pipe:prepare_request(self, method, path, opts))
end

local EACH_KEYS = { max_pages = true }

-- each's body; `where` names the method the caller called (each, inventory,
-- collect, ...) in a misuse message.
local function iterate(self, where, name, params, opts)
  local pipe = self._pipeline
  local op = pipe.operations[name]
  if not op or op.answer ~= "list" then raise("%s: '%s' is not a list operation", where, tostring(name)) end
  if opts ~= nil and type(opts) == "table" then
    options.check_keys(where, opts, options.union(options.PER_CALL, EACH_KEYS))
  end
  local own, call_opts = options.split(where, opts, EACH_KEYS)
  if own.max_pages ~= nil then options.number(where, "max_pages", own.max_pages, 0, nil, true) end
  local max_pages = own.max_pages
  -- Misuse raises here, before the first page is asked for.
  local request = options.copy(pipe:prepare(self, name, params, call_opts).params)
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

--- An iterator over every item of a list operation, page after page.
-- The call options apply to each page's request. A failure half-way RAISES the
-- error object, so a loop never mistakes a failure for the end of the list;
-- a page_key the API already gave raises too instead of looping forever.
-- @string name a list operation
-- @tparam table params its parameters (page_key excepted)
-- @tparam[opt] table opts max_pages, and the per-call options
-- @treturn function the iterator: for item in client:each(...) do ... end
-- @raise the error object of a page that failed; misuse before the first page
function Client:each(name, params, opts) return iterate(self, "each", name, params, opts) end

--- Every SIM of the inventory: for sim in client:inventory{chip_type = "esim"} do ... end
-- @tparam[opt] table params list_inventory's parameters
-- @tparam[opt] table opts as Client:each's
-- @treturn function an iterator over SIM models (raises on a failed page)
function Client:inventory(params, opts) return iterate(self, "inventory", "list_inventory", params, opts) end

--- Every plan of the catalogue: for plan in client:plans{country = "FRA"} do ... end
-- @tparam[opt] table params list_plans's parameters
-- @tparam[opt] table opts as Client:each's
-- @treturn function an iterator over Plan models (raises on a failed page)
function Client:plans(params, opts) return iterate(self, "plans", "list_plans", params, opts) end

--- Every order: for order in client:orders{iccid = iccid} do ... end
-- @tparam[opt] table params list_orders's parameters
-- @tparam[opt] table opts as Client:each's
-- @treturn function an iterator over Order models (raises on a failed page)
function Client:orders(params, opts) return iterate(self, "orders", "list_orders", params, opts) end

--- Every subscription: for sub in client:subscriptions{status = "active"} do ... end
-- @tparam[opt] table params list_subscriptions's parameters
-- @tparam[opt] table opts as Client:each's
-- @treturn function an iterator over Subscription models (raises on a failed page)
function Client:subscriptions(params, opts)
  return iterate(self, "subscriptions", "list_subscriptions", params, opts)
end

--- Every item of a list operation in one array, bounded by max_items and max_pages.
-- Other options go to each page's call, as with each. A failure half-way
-- answers nil and the error, with the items gathered before it in
-- err.items: a short list is never mistaken for the whole.
-- @string name a list operation
-- @tparam table params its parameters
-- @tparam[opt] table opts max_items, max_pages, and the per-call options
-- @treturn table the items (models when the operation names one)
-- @return[2] nil
-- @return[2] an error object, with the items gathered before it in err.items
function Client:collect(name, params, opts)
  if opts ~= nil and type(opts) == "table" then
    options.check_keys("collect", opts, options.union(options.PER_CALL, EACH_KEYS, { max_items = true }))
  end
  local own, each_opts = options.split("collect", opts, { max_items = true })
  local max_items = own.max_items
  if max_items ~= nil and (compat.math_type(max_items) ~= "integer" or max_items < 0) then
    raise("collect: max_items must be an integer >= 0")
  end
  local items = json.array()
  if max_items == 0 then return items end
  local next_item = iterate(self, "collect", name, params, each_opts) -- misuse raises here, before any request
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

--- Many calls at once (flexiroam.batch), each an ordinary call in a coroutine of its own.
-- No call is dropped: results[i] is {ok = true, value =} or {ok = false, err =} for calls[i].
-- @tparam table calls { {name, params [, opts]}, ... } or {name =, params =, opts =, key =} each
-- @tparam[opt] table opts concurrency (16), rate, on_progress, journal, journal_mode, journal_repair, progress,
-- and call options for every item
-- @treturn table results, in the order of calls
-- @treturn table summary {total, ok, failed, cancelled, skipped, elapsed} (with a journal: reconciled, orphaned,
-- repaired)
-- @raise misuse in any call or option, before anything is sent
function Client:batch(calls, opts) return batch.batch(self, self._pipeline, calls, opts) end

--- One call of the same operation per parameter table, as a batch.
-- @string name the operation
-- @tparam table list its parameter tables
-- @tparam[opt] table opts as Client:batch's
-- @treturn table results, in the order of list
-- @treturn table summary
function Client:map(name, list, opts) return batch.map(self, self._pipeline, name, list, opts) end

--- get_usage for every SIM, as a batch.
-- @tparam table iccids the ICCIDs (or parameter tables)
-- @tparam[opt] table opts as Client:batch's
-- @treturn table results, their values Usage models
-- @treturn table summary
function Client:usage_many(iccids, opts) return batch.usage_many(self, self._pipeline, iccids, opts) end

--- One purchase_plan per entry, each under a reference of its own minted before the batch
-- starts (and journaled before it is first sent: a rerun after a crash buys each SIM once).
-- @tparam table purchases { {iccid =, plan_id = [, reference =]}, ... }
-- @tparam[opt] table opts as Client:batch's
-- @treturn table results, their values Order models
-- @treturn table summary
function Client:purchase_many(purchases, opts) return batch.purchase_many(self, self._pipeline, purchases, opts) end

--- update_auto_topup for every SIM with the same settings, as a batch.
-- @tparam table iccids the ICCIDs, or tables of their own overriding settings
-- @tparam table settings {enabled =, threshold =, threshold_in_percentage =, quantity =}
-- @tparam[opt] table opts as Client:batch's
-- @treturn table results, their values SIM models
-- @treturn table summary
function Client:auto_topup_many(iccids, settings, opts)
  return batch.auto_topup_many(self, self._pipeline, iccids, settings, opts)
end

--- Sells a plan in one call: a free eSIM, the purchase and the activation (flexiroam.jobs.sell_plan).
-- Called again with the same reference, it finishes that sale instead of buying again.
-- @function Client:sell_plan
-- @tparam table args plan_id (required: an id or a Plan), reference (your order number), iccid (a SIM of your choice)
-- @tparam[opt] table opts per-call options
-- @treturn table {sim =, order =, activation =, replayed =}
-- @return[2] nil
-- @return[2] an error object: conflict (code sim_taken, sims_claimed), not_found (code out_of_stock), store,
-- indeterminate, ... with err.order and err.sim when the purchase was made
Client.sell_plan = jobs.sell_plan

--- The SIMs in use whose remaining data is under a threshold (flexiroam.jobs.low_data).
-- @function Client:low_data
-- @tparam table args below_percent or below_bytes; chip_type, statuses ({"active", "depleted"}), max_pages
-- @tparam[opt] table opts per-call options
-- @treturn function an iterator of sim, usage (raises on a failed page)
Client.low_data = jobs.low_data

--- Releases the client's connection now, instead of when it is collected
-- (also `local client <close> = flexiroam.new{...}` on 5.4).
function Client:close()
  self._pipeline:close()
end

Client.__close = Client.close

function Client:__tostring()
  return "flexiroam.client: " .. self.base_url
end

-- Every other public method checks its self too (see not_a_client), by
-- one wrapper made here rather than a line in each. No method takes more
-- than three arguments besides self: fixed ones, not `...`, which LuaJIT
-- compiles worse. (__close stays the bare close: Lua passes it the client.)
for name, f in pairs(Client) do
  if type(f) == "function" and name ~= "new" and name:sub(1, 2) ~= "__" then
    Client[name] = function(self, a, b, c)
      if getmetatable(self) ~= Client then not_a_client(name, "(...)") end
      return f(self, a, b, c)
    end
  end
end

-- A method for every operation of the table, client:list_inventory(params,
-- opts) and the others, made once here: pairs(Client), LDoc and editors see
-- them all. Each goes through client:call.
for name in pairs(default_operations) do
  Client[name] = operation_method(name)
end

return Client
