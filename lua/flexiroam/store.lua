--- flexiroam.store: state shared by every worker, process and host that
-- uses one API key, so that together they keep one rate limit (and, on
-- the same interface, one catalogue cache and one claim per SIM).
--
--   local store = require "flexiroam.store"
--   flexiroam.new { rate_limit = 10, shared = "flexiroam" }                      -- inside nginx: a lua_shared_dict
--   flexiroam.new { rate_limit = 10, shared = store.ngx_shared("flexiroam") }    -- the same, spelled out
--   flexiroam.new { rate_limit = 10, shared = store.redis(conn), n_workers = 8 } -- Redis: several hosts
--
-- Two implementations, one interface:
--   store.ngx_shared(name | dict)  an nginx lua_shared_dict: every worker of one host. Atomic steps hold
--                                  a short lock in the dict (safe_add, deleted after a few microseconds
--                                  without yielding); every write is safe_add/safe_set, which never
--                                  evicts another key (flexiroam.store.ngx_shared).
--   store.redis(conn | connect [, opts])  Redis: every host. A lua-resty-redis or redis-lua connection,
--                                  or a function returning one; each atomic step is one Lua script run
--                                  by Redis (EVALSHA, EVAL when Redis answers NOSCRIPT), on Redis's own
--                                  clock (flexiroam.store.redis).
--
-- The interface. Keys and values are strings; ttl and times are seconds
-- (numbers, millisecond resolution). Every method answers its result, or
-- nil and an error of kind "store" when the store cannot be reached or
-- refuses (a full dict, Redis down, a timeout): callers fall back, they
-- never wait on a store without bound. Misuse (a key that is not a string,
-- a ttl that is not a positive number) raises at the caller's line.
--
--   rate_take(key, interval, max_wait) -> wait | false, wait | nil, err
--       GCRA with no burst, plus a pause: the caller's slot is the latest of
--       now, the key's theoretical arrival time (TAT) and its pause; when it
--       is at most max_wait seconds away (nil: any), the TAT becomes slot +
--       interval and the caller gets `wait` = slot - now: the slot is
--       reserved, the caller must send after that wait. Callers are served in
--       the order they ask, each slot `interval` after the previous one, so
--       none starves. Further away than max_wait: false and the wait it would
--       have had, nothing reserved.
--   rate_pause(key, seconds) -> true | nil, err
--       no slot before now + seconds (a server's Retry-After); a longer pause
--       already set stays.
--   rate_paused(key) -> seconds of pause left (0: none) | nil, err
--       asked by a caller that slept until its slot: a pause set meanwhile
--       voids that slot (it takes another, after the pause).
--   get(key) -> value | nil (absent) | nil, err
--   set(key, value, ttl [, droppable]) -> true | nil, err
--       droppable = true marks a cache entry (flexiroam.cache): a store short
--       of room may refuse it or drop it later, never state for its sake (an
--       ngx_shared store makes room for the limiter and the claims by dropping
--       such entries); a store without that notion ignores the flag.
--   add(key, value, ttl) -> true | false, current value (held) | nil, err
--       add-if-absent with a lease: a claim whose value names its owner,
--       gone after ttl if its owner dies.
--   renew_if(key, value, ttl) -> true | false | nil, err
--       a new ttl, only while key still holds value (its owner renews).
--   delete_if(key, value) -> true | false | nil, err
--       delete-if-owner: only while key still holds value.
--   delete(key) -> true | nil, err
--   store.kind: "ngx_shared" or "redis"
--
-- Keys of one API key live under store.namespace(api_key), a prefix made
-- from a SHA-256 of the key, never the key itself: a Redis shared by
-- several accounts (or a dump of it) shows no API key. The limiter uses
-- "<namespace>rate" (TAT) and "<namespace>rate:pause"; the cache
-- "<namespace>cache:<operation>:<hash>?<query>" and its ":lock"; the
-- claims other names under the same prefix.
-- @module flexiroam.store
local digest = require("flexiroam.digest")
local errors = require("flexiroam.errors")
local raise = require("flexiroam.misuse").raise

local store = {}

-- The interface's methods and what each takes after self, in the order
-- above. Every implementation's methods are wrapped by store.checked, so the
-- arguments are checked here, once, for all of them.
local SIGNATURES = {
  { "rate_take", "key", "interval", "max_wait" },
  { "rate_pause", "key", "seconds" },
  { "rate_paused", "key" },
  { "get", "key" },
  { "set", "key", "value", "ttl", "droppable" },
  { "add", "key", "value", "ttl" },
  { "renew_if", "key", "value", "ttl" },
  { "delete_if", "key", "value" },
  { "delete", "key" },
}

--- The interface's method names, in order (rate_take, rate_pause, ...).
store.METHODS = {}
for i, signature in ipairs(SIGNATURES) do store.METHODS[i] = signature[1] end

--- The prefix of every key of an API key in a store: "fx:{<32 hex digits>}:".
-- 128 bits of a SHA-256 of the key, never the key; the braces are a Redis
-- Cluster hash tag, so a script's keys share a slot.
-- @string api_key the API key
-- @treturn string the prefix
-- @raise an api_key that is not a non-empty string
function store.namespace(api_key)
  if type(api_key) ~= "string" or api_key == "" then raise("store.namespace: api_key must be a non-empty string") end
  return "fx:{" .. digest.sha256("flexiroam-lua store\0" .. api_key):sub(1, 32) .. "}:"
end

--- A store on an nginx lua_shared_dict: every worker of one host (flexiroam.store.ngx_shared).
-- @param dict the dict's name (inside nginx), or the dict
-- @tparam[opt] table opts the store's options
-- @string[opt] where the caller's name, for misuse messages
-- @return the store
function store.ngx_shared(dict, opts, where)
  return require("flexiroam.store.ngx_shared").new(dict, opts, where)
end

--- A store on Redis: every host (flexiroam.store.redis).
-- @param conn a lua-resty-redis or redis-lua connection, or a function returning one
-- @tparam[opt] table opts timeout_ms, down_ms, release
-- @return the store
function store.redis(conn, opts)
  return require("flexiroam.store.redis").new(conn, opts)
end

----------------------------------------------------------------------
-- For the implementations: argument checks (misuse raises at the
-- caller's line) and the error of a store that cannot answer.
----------------------------------------------------------------------

local MAX_KEY = 512

local function positive_seconds(where, name, v)
  if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
    raise("%s: %s must be a positive number of seconds (got %s)", where, name, tostring(v))
  end
end

-- Each argument's check, by its name in SIGNATURES: (method, name, value).
local CHECKS = {
  key = function(where, _, key)
    if type(key) ~= "string" or key == "" or #key > MAX_KEY then
      raise("%s: key must be a string of 1 to %d bytes (got %s)", where, MAX_KEY, type(key))
    end
  end,
  value = function(where, _, value)
    if type(value) ~= "string" then raise("%s: value must be a string (got %s)", where, type(value)) end
  end,
  droppable = function(where, name, v)
    if v ~= nil and type(v) ~= "boolean" then
      raise("%s: %s must be a boolean or nil (got %s)", where, name, type(v))
    end
  end,
  interval = positive_seconds,
  seconds = positive_seconds,
  ttl = positive_seconds,
  max_wait = function(where, name, v) -- a wait bound: nil (any) or >= 0
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0) then
      raise("%s: %s must be a number of seconds >= 0 (got %s)", where, name, tostring(v))
    end
  end,
}

--- store.checked(Class) -> Class, each interface method replaced by one that
-- checks its arguments (misuse raises at the caller's line) and then runs
-- the implementation's: an implementation's methods receive checked
-- arguments only.
-- @local
function store.checked(class)
  for _, signature in ipairs(SIGNATURES) do
    local name, method = signature[1], class[signature[1]]
    class[name] = function(self, ...)
      for i = 2, #signature do CHECKS[signature[i]](name, signature[i], (select(i - 1, ...))) end
      return method(self, ...)
    end
  end
  return class
end

--- The error of a store that could not do what it was asked (kind "store").
-- @local
function store.error(message, fields)
  return errors.new("store", message, fields)
end

--- store.method(object, name) -> object[name] when it is a function, else
-- nil (object not a table or userdata, or a lookup that raises).
-- @local
function store.method(object, name)
  if type(object) ~= "table" and type(object) ~= "userdata" then return nil end
  local ok, f = pcall(function() return object[name] end)
  if ok and type(f) == "function" then return f end
  return nil
end

--- Whether object has a function under every name in the list `names`.
-- @local
function store.offers(object, names)
  for _, name in ipairs(names) do
    if not store.method(object, name) then return false end
  end
  return true
end

--- Whether `value` offers the interface (a store of either kind, or one of your own).
-- @param value anything
-- @treturn boolean
function store.is_store(value)
  return type(value) == "table" and store.offers(value, store.METHODS)
end

--- store.resolve(shared, where) -> a store or nil: flexiroam.new's `shared`.
-- A string names an nginx lua_shared_dict (only inside nginx); a table must
-- offer the interface.
-- @local
function store.resolve(shared, where)
  if shared == nil then return nil end
  if type(shared) == "string" then return store.ngx_shared(shared, nil, where) end
  if not store.is_store(shared) then
    raise("%s: shared must be a store (require('flexiroam.store').redis(conn) or .ngx_shared(name)) or the name" ..
      " of an nginx lua_shared_dict (got %s)", where, type(shared))
  end
  return shared
end

return store
