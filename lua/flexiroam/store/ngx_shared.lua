-- luacheck: std luajit+ngx_lua
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
-- evicting another key, the store answers nil, err, and the limiter falls
-- back to pacing its process alone (flexiroam.limiter). Updating a key that
-- exists (the TAT, a number) needs no new memory, so a limiter whose state
-- exists keeps working in a full dict for as long as its lock finds room.
-- Keep this dict for the SDK's state: code that writes to it with plain
-- set/add/incr could evict that state when the dict is full (the cache is to
-- have a dict of its own, or to write with safe_set).
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

--- new(name | dict [, opts [, where]]) -> store. A name is looked up in
-- ngx.shared (inside nginx only); a dict object (ngx.shared.NAME, or any
-- object with its get/safe_set/safe_add/delete) is used as it is.
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

local function safe_set(self, what, key, value, ttl)
  local ok, err = self.dict:safe_set(key, value, ttl)
  if not ok then return failure(self, what, err) end
  return true
end

-- fn(dict) under the key's lock -> fn's answers | nil, err ("busy", "no memory").
function Store:_locked(key, fn)
  local dict, lock = self.dict, key .. ":lock"
  for _ = 1, LOCK_TRIES do
    local ok, err = dict:safe_add(lock, true, LOCK_TTL)
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

function Store:set(key, value, ttl)
  return safe_set(self, "set " .. key, key, value, ttl)
end

function Store:add(key, value, ttl)
  local ok, err = self.dict:safe_add(key, value, ttl)
  if ok then return true end
  if err == "exists" then
    local current = self.dict:get(key)
    if current ~= nil then return false, current end
    -- It expired between the two steps: one more try.
    ok, err = self.dict:safe_add(key, value, ttl)
    if ok then return true end
    if err == "exists" then return false, self.dict:get(key) end
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
