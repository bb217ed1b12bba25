--- flexiroam.store.ngx_shared: the shared store (flexiroam.store) on an
-- nginx lua_shared_dict, for every worker of one host.
--
--   http { lua_shared_dict flexiroam 1m; ... }
--   flexiroam.new { rate_limit = 10, shared = "flexiroam" }   -- or store.ngx_shared("flexiroam")
--
-- Atomic steps. A dict's own operations are atomic one by one, but a
-- read-modify-write (the rate limit's TAT, delete-if-owner) is not: two
-- workers are two processes. Each such step holds a lock, `<key>:lock`,
-- taken with safe_add (its ttl frees it should a worker die holding it) and
-- deleted at once: between the two the step does only dict operations and
-- never yields, so a lock is held for microseconds; a worker that finds it
-- taken sleeps 1 ms and tries again, up to LOCK_TRIES times ("busy").
--
-- Time is the host's monotonic clock (the core's clock_gettime), the same
-- in every worker, immune to wall-clock steps.
--
-- A full dict never evicts state. Every write here is safe_add or
-- safe_set: when the dict is full they answer "no memory" instead of
-- evicting another key. Cache entries (set with droppable = true, flags
-- DROPPABLE) give way to state, twice over:
--   * a cache entry is written only while RESERVE bytes of free pages are
--     left: the last pages stay for the limiter's and the claims' keys;
--   * a state write that still finds no memory drops cache entries (the
--     least recently used of the SCAN most recent keys, by their flags) and
--     tries again; only a dict full of state itself answers nil, err (and
--     is not looked through again for a second), and the limiter then
--     paces its process alone (flexiroam.limiter).
-- Keep this dict for the SDK: code that writes to it with plain
-- set/add/incr could evict state when the dict is full.
-- @module flexiroam.store.ngx_shared

-- luacheck: std luajit+ngx_lua
local store = require("flexiroam.store")
local clock = require("flexiroam.clock")
local options = require("flexiroam.options")
local ngx_transport = require("flexiroam.transport.ngx")
local raise = require("flexiroam.misuse").raise

local M = {}

local Store = {}
Store.__index = Store

local LOCK_TTL = 0.5 -- seconds: frees the lock of a worker that died holding it
local LOCK_TRIES = 50 -- 1 ms apart: a lock is held for microseconds
local SLACK = 1 -- seconds a TAT or a pause outlives its last use

local DICT_METHODS = { "get", "safe_set", "safe_add", "delete" }

-- Cache entries: their flags in the dict, the free pages they leave to
-- state (2 of nginx's 4 KiB pages: a page per size class of the small state
-- keys), and how many of the most recently used keys a state write looks
-- through for entries to drop (get_keys holds the dict's lock while it
-- walks them: bounded).
local DROPPABLE = 1
local RESERVE = 8192
local SCAN = 1024
M.DROPPABLE, M.RESERVE = DROPPABLE, RESERVE

--- A store on an nginx lua_shared_dict (also flexiroam.store.ngx_shared).
-- A name is looked up in ngx.shared (inside nginx only); a dict object
-- (ngx.shared.NAME, or any object with its get/safe_set/safe_add/delete) is
-- used as it is.
-- @param dict a lua_shared_dict's name, or the dict
-- @tparam[opt] table opts the store's options
-- @string[opt] where the caller's name, for misuse messages
-- @return the store (the interface of flexiroam.store)
-- @raise a name outside nginx, or one nginx.conf does not declare
function M.new(dict, opts, where)
  where = where or "store.ngx_shared"
  if opts ~= nil then
    if type(opts) ~= "table" then raise("%s: options must be a table", where) end
    options.check_keys(where, opts, {})
  end
  local name = "(dict)"
  if type(dict) == "string" then
    name = dict
    if not ngx_transport.in_nginx() then
      raise("%s: shared = %q names an nginx lua_shared_dict, and this is not nginx; elsewhere pass a store," ..
        " e.g. require('flexiroam.store').redis(conn)", where, name)
    end
    dict = ngx.shared[name]
    if dict == nil then raise("%s: nginx.conf has no 'lua_shared_dict %s <size>;'", where, name) end
  elseif not store.offers(dict, DICT_METHODS) then
    raise("%s: expects the name of a lua_shared_dict or the dict itself (got %s)", where, type(dict))
  end
  return setmetatable({ dict = dict, name = name, kind = "ngx_shared", clock = clock.new() }, Store)
end

local function failure(self, what, err)
  return nil, store.error(string.format("lua_shared_dict %s: %s: %s", self.name, what, tostring(err)))
end

-- The dict's get and safe_set, a failure answered as the store's (`what`
-- names the step in the error): -> value | nil, err;  -> true | nil, err
local function get(self, what, key)
  local value, err = self.dict:get(key)
  if value == nil and err then return failure(self, what, err) end
  return value
end

-- write() -> the dict's answer (ok | nil/false, err); when it is "no memory",
-- cache entries are dropped, least recently used first, and write() is
-- tried again after every few. -> write()'s last answer
local function with_room(self, write)
  local ok, err = write()
  if ok or err ~= "no memory" then return ok, err end
  local dict = self.dict
  local get_keys = store.method(dict, "get_keys")
  -- A look that found no cache entry to drop is not repeated for a second:
  -- a dict full of state would have every write walk its keys in vain.
  if not get_keys or (self.barren_until and self.clock.now() < self.barren_until) then return ok, err end
  local keys, pending, dropped = get_keys(dict, SCAN), 0, 0
  for i = #keys, 1, -1 do -- get_keys lists the most recently used first
    local _, flags = dict:get(keys[i])
    if flags == DROPPABLE then
      dict:delete(keys[i])
      pending, dropped = pending + 1, dropped + 1
      if pending == 4 then
        pending = 0
        ok, err = write()
        if ok or err ~= "no memory" then return ok, err end
      end
    end
  end
  if pending > 0 then return write() end
  if dropped == 0 then self.barren_until = self.clock.now() + 1 end
  return ok, err
end

-- A write of state, with room made for it. -> true | nil, err
local function safe_set(self, what, key, value, ttl)
  local dict = self.dict
  local ok, err = with_room(self, function() return dict:safe_set(key, value, ttl) end)
  if not ok then return failure(self, what, err) end
  return true
end

-- A cache entry: only while the reserve is free, never room made for it.
local function droppable_set(self, what, key, value, ttl)
  local dict = self.dict
  local free_space = store.method(dict, "free_space")
  if free_space and free_space(dict) < RESERVE then
    return failure(self, what, "no memory (the last free pages are kept for the rate limit and the claims)")
  end
  local ok, err = dict:safe_set(key, value, ttl, DROPPABLE)
  if not ok then return failure(self, what, err) end
  return true
end

-- fn(dict) under the key's lock -> fn's answers | nil, err ("busy", "no memory").
function Store:_locked(key, fn)
  local dict, lock = self.dict, key .. ":lock"
  local function take() return dict:safe_add(lock, true, LOCK_TTL) end
  for _ = 1, LOCK_TRIES do
    local ok, err = with_room(self, take)
    if ok then
      local done, a, b = pcall(fn, dict)
      dict:delete(lock)
      if not done then error(a, 0) end
      return a, b
    end
    if err ~= "exists" then return failure(self, "lock " .. key, err) end
    self.clock.sleep(0.001)
  end
  return failure(self, "lock " .. key, "busy (held by another worker for more than " .. LOCK_TRIES .. " ms)")
end

function Store:rate_take(key, interval, max_wait)
  return self:_locked(key, function(dict)
    local now = self.clock.now()
    local slot = math.max(now, dict:get(key) or now, dict:get(key .. ":pause") or now)
    local wait = slot - now
    if max_wait and wait > max_wait then return false, wait end
    local ok, err = safe_set(self, "rate " .. key, key, slot + interval, wait + interval + SLACK)
    if not ok then return nil, err end
    return wait
  end)
end

function Store:rate_pause(key, seconds)
  return self:_locked(key, function(dict)
    local now = self.clock.now()
    local pause_key = key .. ":pause"
    local current = dict:get(pause_key) or now
    if now + seconds <= current then return true end
    return safe_set(self, "pause " .. key, pause_key, now + seconds, seconds + SLACK)
  end)
end

function Store:rate_paused(key)
  local until_, err = get(self, "get " .. key, key .. ":pause")
  if err then return nil, err end
  return math.max(0, (until_ or 0) - self.clock.now())
end

function Store:get(key)
  return get(self, "get " .. key, key)
end

function Store:set(key, value, ttl, droppable)
  return (droppable and droppable_set or safe_set)(self, "set " .. key, key, value, ttl)
end

function Store:add(key, value, ttl)
  local dict = self.dict
  local function add() return dict:safe_add(key, value, ttl) end
  local ok, err = with_room(self, add)
  if ok then return true end
  if err == "exists" then
    local current = dict:get(key)
    if current ~= nil then return false, current end
    -- It expired between the two steps: one more try.
    ok, err = with_room(self, add)
    if ok then return true end
    if err == "exists" then return false, dict:get(key) end
  end
  return failure(self, "add " .. key, err)
end

function Store:renew_if(key, value, ttl)
  return self:_locked(key, function(dict)
    if dict:get(key) ~= value then return false end
    return safe_set(self, "renew " .. key, key, value, ttl)
  end)
end

function Store:delete_if(key, value)
  return self:_locked(key, function(dict)
    if dict:get(key) ~= value then return false end
    dict:delete(key)
    return true
  end)
end

function Store:delete(key)
  self.dict:delete(key)
  return true
end

function Store:__tostring()
  return "flexiroam.store.ngx_shared: " .. self.name
end

store.checked(Store)

return M
