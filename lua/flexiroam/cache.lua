--- flexiroam.cache: the catalogue cache, one step of a call's life
-- (flexiroam.pipeline, run). A read that changes slowly (the plan
-- catalogue) is answered from the shared store (flexiroam.store), so a fleet
-- asks the API about once per ttl instead of once per page view.
--
--   flexiroam.new { shared = "flexiroam" }        -- list_plans kept 300 s (the operations table's `cache`)
--   flexiroam.new { shared = s, cache = { ttl = { list_plans = 60, get_activation = 3600 }, stale = 30,
--                                         errors = 5, lock_ms = 5000, shared = other_store } }
--   flexiroam.new { shared = s, cache = false }    -- no cache
--   client:list_plans(params, { cache = false })   -- this call asks the API and keeps nothing
--   client:list_plans(params, { cache = 10 })      -- an answer at most 10 s old (kept 10 s when fetched)
--
-- An entry is "<wall-clock time it was fetched>;<status>\n<body>": the raw
-- JSON body (the API key redacted from it), decoded afresh on every hit,
-- so no caller shares a table with another and `fields` decodes only what
-- it names. It is fresh for `ttl` seconds; for `stale` seconds more (the
-- ttl again, unless told) it is served while ONE caller refreshes it: that
-- caller holds a lease, `<entry>:lock`, taken with store:add, so a refresher
-- that dies frees it after lock_ms. A caller with nothing to serve waits on
-- that refresh, polling, at most until the lease ends or half the time to
-- its deadline is gone, and then asks the API itself. The store's own expiry (ttl + stale) bounds
-- an entry's life whatever the hosts' clocks say; between hosts the age is
-- off by their clocks' difference.
--
-- Never cached: a write, an operation marked live (operations table), a
-- call with headers of its own, a raw client:request, a reconcile lookup,
-- an answer that did not decode; errors only with `errors` = seconds, and
-- then only 400, 404, 410 and 422 (an answer about the question, not about
-- this host, this key or this moment). A store that fails costs the cache,
-- never the call: it goes straight to the API (one warning per outage).
local digest = require("flexiroam.digest")
local options = require("flexiroam.options")
local reference = require("flexiroam.reference")
local store = require("flexiroam.store")
local raise = require("flexiroam.misuse").raise

local cache = {}

local Cache = {}
Cache.__index = Cache

local DEFAULT_LOCK_MS = 5000
local FIRST_POLL, MAX_POLL = 0.005, 0.05 -- seconds between a waiter's looks
local MAX_QUERY = 300 -- a longer query is hashed into the key
local NEGATIVE = { [400] = true, [404] = true, [410] = true, [422] = true }
local NO_HEADERS = {}
local OPTIONS = { ttl = true, stale = true, errors = true, lock_ms = true, shared = true }

-- A number of seconds: > 0, or >= 0 when `zero` is allowed.
local function seconds(where, name, v, zero)
  if type(v) ~= "number" or v ~= v or v == math.huge or v < 0 or (v == 0 and not zero) then
    raise("%s: %s must be a number of seconds %s (got %s)", where, name, zero and ">= 0" or "> 0", tostring(v))
  end
  return v
end

-- Why operation `op` (whose mode is `mode`) may never be cached, or nil.
local function never(name, op, mode)
  if mode ~= "read" then return name .. " is a write: never cached" end
  if op.live then return name .. " is live state (a sale or the SIM's use changes it): never cached" end
  return nil
end

-- A ttl for operation `name` (`label` names it in errors), checked: -> ttl
local function ttl_of(where, label, name, op, mode_of, ttl)
  seconds(where, label, ttl)
  local why = never(name, op, mode_of(op))
  if why then raise("%s: %s", where, why) end
  return ttl
end

-- The ttl of each operation: the table's `cache`, with the client's `ttl` laid over.
local function ttls(where, operations, mode_of, own)
  local out = {}
  for name, op in pairs(operations) do
    if op.cache ~= nil and op.cache ~= false then
      out[name] = ttl_of(where, "operation " .. name .. "'s cache", name, op, mode_of, op.cache)
    end
  end
  if own == nil then return out end
  if type(own) ~= "table" then raise("%s: ttl must be a table {operation = seconds | false}", where) end
  for name, ttl in pairs(own) do
    local op = operations[name]
    if not op then options.unknown(where .. ".ttl", "operation", name, operations) end
    out[name] = ttl ~= false and ttl_of(where, "ttl." .. name, name, op, mode_of, ttl) or nil
  end
  return out
end

--- cache.new(opts, {shared =, namespace =, base_url =, operations =, mode_of =, clock =, redact =, warn =,
-- info =})
-- -> cache | nil: flexiroam.new's `cache` option (nil: the defaults; false:
-- none), over the client's store or cache.shared. Misuse raises.
function cache.new(opts, o)
  local where = "flexiroam.new: cache"
  if opts == false then return nil end
  if opts ~= nil and type(opts) ~= "table" then raise("%s must be false or a table (got %s)", where, type(opts)) end
  opts = opts or {}
  options.check_keys(where, opts, OPTIONS)
  local s = o.shared
  if opts.shared ~= nil then s = store.resolve(opts.shared, where) end
  if not s then
    if next(opts) ~= nil then raise("%s needs a store: pass shared (or cache.shared)", where) end
    return nil
  end
  if opts.stale ~= nil then seconds(where, "stale", opts.stale, true) end
  if opts.errors ~= nil and opts.errors ~= false then seconds(where, "errors", opts.errors) end
  if opts.lock_ms ~= nil then options.number(where, "lock_ms", opts.lock_ms, 1) end
  return setmetatable({
    store = s, namespace = o.namespace, base_url = o.base_url, ttl = ttls(where, o.operations, o.mode_of, opts.ttl),
    stale = opts.stale, errors = opts.errors or nil, lock = (opts.lock_ms or DEFAULT_LOCK_MS) / 1000,
    clock = o.clock, redact = o.redact, warn = o.warn, info = o.info, prefixes = {}, tokens = 0,
  }, Cache)
end

--- cache.plan(cache | nil, name, op, mode, own) -> the ttl a call is cached
-- with, or nil (not cached). `own` holds the call's options (own.cache:
-- false, or seconds). Misuse raises at the caller's line.
function cache.plan(c, name, op, mode, own)
  local asked = own and own.cache
  local has_headers = own and own.headers ~= nil and next(own.headers) ~= nil
  if asked ~= nil and asked ~= false then
    if type(asked) ~= "number" then
      raise("%s: cache must be false or a number of seconds (got %s)", name, type(asked))
    end
    seconds(name, "cache", asked)
    local why = never(name, op, mode)
    if why then raise("%s: cache: %s", name, why) end
    if has_headers then raise("%s: cache: a call with headers of its own is never cached", name) end
    if not c then
      raise("%s: cache needs a client with a store (flexiroam.new{shared = ...}) and its cache on", name)
    end
  end
  if not c or asked == false or has_headers or mode ~= "read" or op.live then return nil end
  return asked or c.ttl[name]
end

----------------------------------------------------------------------
-- Entries and keys
----------------------------------------------------------------------

-- `at` to the millisecond, rounded down (never in this host's future).
local function entry(at, status, body)
  return string.format("%.3f;%d\n", math.floor(at * 1000) / 1000, status) .. body
end

-- -> at, status, body | nil (absent, or not an entry: treated as absent)
local function parse(value)
  if value == nil then return nil end
  local nl = value:find("\n", 1, true)
  local at, status = value:sub(1, (nl or 1) - 1):match("^(%-?[%d%.]+);(%d%d%d)$")
  if not at then return nil end
  return tonumber(at), tonumber(status), value:sub(nl + 1)
end

-- "<namespace>cache:<operation>:<hash of base_url, method, path>?<query>":
-- two clients of one key meet on the same entry only for the same request.
-- A long query (or one holding the API key, absurd as that is) is hashed.
function Cache:key(call)
  local prefix = self.prefixes[call.name]
  if not prefix then
    local op = call.op
    prefix = self.namespace .. "cache:" .. call.name .. ":" ..
      digest.sha256(self.base_url .. " " .. op.method .. " " .. op.path):sub(1, 12)
    self.prefixes[call.name] = prefix
  end
  local query = call.query or ""
  if #query > MAX_QUERY or self.redact(query) ~= query then return prefix .. "#" .. digest.sha256(query):sub(1, 32) end
  return prefix .. "?" .. query
end

----------------------------------------------------------------------
-- The store failing: once per outage a warning, and the call goes on
----------------------------------------------------------------------

function Cache:_failed(err)
  if self.degraded then return end
  self.degraded = true
  if self.warn then
    self.warn(string.format("the catalogue cache is unavailable (%s): calls go straight to the API until the" ..
      " store answers again", tostring(err and err.message or err)))
  end
end

function Cache:_answered()
  if not self.degraded then return end
  self.degraded = false
  if self.info then self.info("the catalogue cache answers again") end
end

-- A write the store refused (a full dict): said once per client.
function Cache:_unkept(err)
  if self.unkept then return end
  self.unkept = true
  if self.warn then
    self.warn(string.format("the catalogue cache could not keep an answer (%s): a full lua_shared_dict keeps its" ..
      " last pages for the rate limit and the claims; give it more room, or the cache a store of its own" ..
      " (cache.shared)", tostring(err and err.message or err)))
  end
end

----------------------------------------------------------------------
-- The step
----------------------------------------------------------------------

-- A lock's value, unique to this caller in the whole fleet: a random
-- prefix per client (the OS's CSPRNG, once) and a count.
function Cache:_token()
  self.token_prefix = self.token_prefix or reference.uuid4()
  self.tokens = self.tokens + 1
  return self.token_prefix .. ":" .. self.tokens
end

-- An entry as a call cached `ttl` reads it: -> fresh (boolean), age,
-- status, body | nil (none). An error is fresh for `errors` seconds.
function Cache:_read(value, ttl)
  local at, status, body = parse(value)
  if not at then return nil end
  local age = self.clock.wall() - at
  return age < (status < 300 and ttl or self.errors or 0), age, status, body
end

-- The entry a call's answer makes (data, err: what pipe:send answered;
-- call.answered: the last response's status and body), and its life in the
-- store. -> entry, seconds | nil
function Cache:_entry_of(call, data, err)
  local res = call.answered
  if not res then return nil end
  local now = self.clock.wall()
  if data ~= nil and res.status >= 200 and res.status < 300 then
    return entry(now, res.status, self.redact(res.body)), call.cache + (self.stale or call.cache)
  end
  if data == nil and self.errors and err and err.status == res.status and NEGATIVE[res.status] then
    return entry(now, res.status, self.redact(res.body)), self.errors
  end
  return nil
end

-- Decodes an entry into a fresh answer, as if the API had just sent it.
local function serve(call, sched, pipe, outcome, age, status, body)
  pipe:event(call, "on_cache", { event = "cache", outcome = outcome, age = age, ttl = call.cache })
  local data, err = pipe:decode(call, { status = status, body = body, headers = NO_HEADERS })
  if data ~= nil then return data end
  -- An entry this version cannot read as the API's answer: ask the API.
  if status < 300 then return pipe:send(call, sched) end
  return pipe:fail(call, 0, err, "cached")
end

-- Asks the API (holding the lock `lock` = `token`, when given), keeps the
-- answer, frees the lock.
function Cache:_refresh(call, sched, pipe, key, lock, token, outcome)
  pipe:event(call, "on_cache", { event = "cache", outcome = outcome, ttl = call.cache })
  call.keep_answer = true
  local data, err = pipe:send(call, sched)
  local value, life = self:_entry_of(call, data, err)
  call.answered = nil
  if value then
    local ok, werr = self.store:set(key, value, life, true)
    if not ok then self:_unkept(werr) end
  end
  if lock then self.store:delete_if(lock, token) end
  return data, err
end

-- This caller holds the lock: the entry is read once more (a refresh that
-- ended between this caller's look and its lock left a fresh one, which
-- is served), else refreshed.
function Cache:_locked(call, sched, pipe, key, lock, token, outcome)
  local value, err = self.store:get(key)
  local fresh, age, status, body = self:_read(not err and value or nil, call.cache)
  if fresh then
    self.store:delete_if(lock, token)
    return serve(call, sched, pipe, "hit", age, status, body)
  end
  return self:_refresh(call, sched, pipe, key, lock, token, outcome)
end

-- The store failed: the call goes straight to the API, keeping nothing.
function Cache:_bypass(call, sched, pipe, err)
  self:_failed(err)
  pipe:event(call, "on_cache", { event = "cache", outcome = "unavailable", ttl = call.cache })
  return pipe:send(call, sched)
end

-- Nothing to serve and another caller refreshing: polls for its answer
-- until the lease ends (it died: then this caller takes the lock), or half
-- the time left before the call's deadline (the other half is for its own
-- request); then asks the API itself.
function Cache:_wait(call, sched, pipe, key, lock, token)
  local clock = self.clock
  local now = clock.now()
  local give_up = now + self.lock
  if call.deadline then give_up = math.min(give_up, now + (call.deadline - now) / 2) end
  local pause = FIRST_POLL
  while clock.now() < give_up do
    sched.sleep(math.min(pause, math.max(0, give_up - clock.now())))
    pause = math.min(pause * 2, MAX_POLL)
    local value, err = self.store:get(key)
    if err then return self:_bypass(call, sched, pipe, err) end
    local fresh, age, status, body = self:_read(value, call.cache)
    if fresh then return serve(call, sched, pipe, "wait", age, status, body) end
    local mine, held = self.store:add(lock, token, self.lock)
    if mine == nil then return self:_bypass(call, sched, pipe, held) end
    if mine then return self:_locked(call, sched, pipe, key, lock, token, "miss") end
  end
  return self:_refresh(call, sched, pipe, key, nil, nil, "miss")
end

--- through(call, sched, pipe) -> what pipe:send would answer, from the
-- cache when it can: a fresh entry; a stale one while another caller
-- refreshes it; else this caller refreshes, or waits on the one who does.
function Cache:through(call, sched, pipe)
  local clock = self.clock
  if call.deadline == nil and call.policy.deadline_ms then
    call.deadline = clock.now() + call.policy.deadline_ms / 1000
  end
  local key = self:key(call)
  local value, err = self.store:get(key)
  if err then return self:_bypass(call, sched, pipe, err) end
  self:_answered()
  local ttl = call.cache
  local fresh, age, status, body = self:_read(value, ttl)
  if fresh then return serve(call, sched, pipe, "hit", age, status, body) end
  -- Stale, and servable while another refreshes: never an error, nor past the stale window.
  local stale = fresh == false and status < 300 and age < ttl + (self.stale or ttl)
  local lock, token = key .. ":lock", self:_token()
  local mine, held = self.store:add(lock, token, self.lock)
  if mine == nil then return self:_bypass(call, sched, pipe, held) end
  if mine then return self:_locked(call, sched, pipe, key, lock, token, stale and "refresh" or "miss") end
  if stale then return serve(call, sched, pipe, "stale", age, status, body) end
  return self:_wait(call, sched, pipe, key, lock, token)
end

return cache
