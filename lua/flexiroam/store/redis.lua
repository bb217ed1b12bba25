--- flexiroam.store.redis: the shared store (flexiroam.store) on Redis, for
-- every worker of every host.
--
--   -- plain Lua (redis-lua, Debian's lua-redis): one connection, or a function that makes one
--   local redis = require "redis"
--   local shared = require("flexiroam.store").redis(function() return redis.connect("10.0.0.5", 6379) end)
--   -- nginx (lua-resty-redis): a function that connects; the store hands each connection back to
--   -- nginx's pool (set_keepalive) after use, as cosockets cannot outlive a request
--   local shared = require("flexiroam.store").redis(function()
--     local red = require("resty.redis"):new()
--     red:set_timeout(200)
--     local ok, err = red:connect("10.0.0.5", 6379)
--     if not ok then return nil, err end
--     return red
--   end)
--
-- What it needs of a connection: the methods eval and evalsha, called as
-- conn:evalsha(sha, numkeys, key..., arg...), in either library's manner:
-- lua-resty-redis answers nil, err on a network failure and false, err for
-- an error reply; redis-lua raises both ("redis error: ..." for a reply).
-- Every atomic step is one script (below) sent with EVALSHA, and with EVAL
-- when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH); scripts
-- read Redis's own clock (TIME), so hosts whose clocks disagree still agree.
--
-- Options: timeout_ms (200; false leaves the connection's own): set on the
-- connection before each use (resty: set_timeout; redis-lua: its socket's
-- settimeout), so a stalled Redis costs a call at most that; down_ms
-- (1000): after a network failure Redis is not asked again for this long,
-- every operation answers nil, err at once (the limiter paces its process
-- alone meanwhile); release = function(conn) (default: conn:set_keepalive()
-- when it has one, as lua-resty-redis does).
--
-- A connection that failed on the network is never used again: a late
-- answer would be read as the answer to the next command. With a function,
-- the store makes a new one once down_ms has passed; a single connection
-- passed in stays down for good (pass a function to recover).
-- @module flexiroam.store.redis
local store = require("flexiroam.store")
local digest = require("flexiroam.digest")
local clock = require("flexiroam.clock")
local options = require("flexiroam.options")
local raise = require("flexiroam.misuse").raise

local unpack = table.unpack or unpack -- luacheck: ignore 113

local M = {}

local Store = {}
Store.__index = Store

local DEFAULT_TIMEOUT_MS = 200
local DEFAULT_DOWN_MS = 1000

-- Times inside Redis are integer microseconds, written with %.0f: Redis's
-- Lua (5.1) would print 1.7e15 as "1.7e+15".
local NOW = [[
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function us(x) return string.format('%.0f', x) end
local function ms(x) return string.format('%.0f', math.ceil(x / 1000)) end
]]

local SCRIPTS = {
  -- KEYS: tat, pause; ARGV: interval (us), max_wait (us, -1: any)
  rate_take = NOW .. [[
local interval, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1])) or now, tonumber(redis.call('GET', KEYS[2])) or now)
local wait = slot - now
if max_wait >= 0 and wait > max_wait then return {'later', us(wait)} end
redis.call('SET', KEYS[1], us(slot + interval), 'PX', ms(wait + interval + 1000000))
return {'ok', us(wait)}
]],
  -- KEYS: pause; ARGV: seconds (us)
  rate_pause = NOW .. [[
local length = tonumber(ARGV[1])
if now + length > (tonumber(redis.call('GET', KEYS[1])) or 0) then
  redis.call('SET', KEYS[1], us(now + length), 'PX', ms(length + 1000000))
end
return {'ok'}
]],
  -- KEYS: pause
  rate_paused = NOW .. [[
return {'ok', us(math.max(0, (tonumber(redis.call('GET', KEYS[1])) or 0) - now))}
]],
  get = [[
local v = redis.call('GET', KEYS[1])
if v then return {'hit', v} end
return {'miss'}
]],
  -- ARGV: value, ttl (ms)
  set = [[
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'ok'}
]],
  add = [[
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'ok'} end
return {'held', redis.call('GET', KEYS[1]) or ''}
]],
  renew_if = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'ok'}
end
return {'not_owner'}
]],
  delete_if = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'ok'}
end
return {'not_owner'}
]],
  delete = [[
redis.call('DEL', KEYS[1])
return {'ok'}
]],
}
M.SCRIPTS = SCRIPTS

-- Each script's SHA-1, what EVALSHA names it by, computed here once per
-- process (its cost: flexiroam.digest). Asking Redis instead (SCRIPT LOAD
-- answers the SHA) would not make this simpler: one more round trip per
-- script and process, a third method every connection must have (script),
-- and the EVAL after NOSCRIPT stays all the same (a restarted or flushed
-- Redis forgets its scripts).
local SHA = {}
for name, source in pairs(SCRIPTS) do SHA[name] = digest.sha1(source) end
M.SHA = SHA

local method = store.method

local CONNECTION_METHODS = { "eval", "evalsha" }
local function is_connection(conn) return store.offers(conn, CONNECTION_METHODS) end

local OPTIONS = { timeout_ms = true, down_ms = true, release = true }

--- A store on Redis (also flexiroam.store.redis).
-- @param conn a lua-resty-redis or redis-lua connection, or a function returning one
-- @tparam[opt] table opts timeout_ms, down_ms, release
-- @return the store (the interface of flexiroam.store)
-- @raise a conn that is neither a connection (eval, evalsha) nor a function
function M.new(conn, opts)
  local where = "store.redis"
  local connect
  if type(conn) == "function" then
    connect, conn = conn, nil
  elseif not is_connection(conn) then
    raise("%s: expects a Redis connection with eval and evalsha (lua-resty-redis, redis-lua) or a function" ..
      " that returns one (got %s)", where, type(conn))
  end
  if opts ~= nil and type(opts) ~= "table" then raise("%s: options must be a table", where) end
  opts = opts or {}
  options.check_keys(where, opts, OPTIONS)
  local timeout_ms = opts.timeout_ms
  if timeout_ms == nil then
    timeout_ms = DEFAULT_TIMEOUT_MS
  elseif timeout_ms ~= false then
    options.number(where, "timeout_ms", timeout_ms, 1, nil, true)
  end
  local down_ms = opts.down_ms
  if down_ms == nil then down_ms = DEFAULT_DOWN_MS end
  options.number(where, "down_ms", down_ms, 0)
  options.callable(where, "release", opts.release, "a function(conn)")
  return setmetatable({
    kind = "redis", conn = conn, connect = connect, timeout_ms = timeout_ms, down_ms = down_ms,
    release = opts.release, clock = clock.new(), down_until = nil, down_err = nil,
  }, Store)
end

-- conn:<name>(first, numkeys, keys..., args...) in either library's manner
-- -> reply | nil, message, "reply" | "network"
local function invoke(conn, name, first, keys, args)
  local all = { first, #keys }
  for _, k in ipairs(keys) do all[#all + 1] = k end
  for _, a in ipairs(args) do all[#all + 1] = a end
  local f = method(conn, name)
  if not f then return nil, "the connection has no " .. name, "network" end
  local ok, res, err = pcall(f, conn, unpack(all))
  if not ok then -- redis-lua raises; "redis error: " marks an error reply
    local message = tostring(res)
    if message:find("redis error: ", 1, true) then return nil, message:match("redis error: (.*)$"), "reply" end
    return nil, message, "network"
  end
  if res == false then return nil, tostring(err), "reply" end -- lua-resty-redis: an error reply
  if res == nil then return nil, tostring(err or "no answer"), "network" end
  if type(res) ~= "table" then return nil, "unexpected answer " .. tostring(res), "reply" end
  return res
end

local function close(conn)
  local f = method(conn, "close")
  if f then
    pcall(f, conn)
  elseif type(conn.network) == "table" and conn.network.socket then
    pcall(function() conn.network.socket:close() end)
  end
end

local function set_timeout(conn, ms)
  local f = method(conn, "set_timeout")
  if f then return pcall(f, conn, ms) end
  local sock = type(conn.network) == "table" and conn.network.socket
  if sock then return pcall(function() sock:settimeout(ms / 1000) end) end
end

-- A network failure: this connection is done for, Redis is not asked again
-- for down_ms. -> nil, err
function Store:_down(conn, message)
  if conn then close(conn) end
  if conn and conn == self.conn then
    self.conn = nil
    if not self.connect then
      message = message .. " (the connection passed to store.redis is not used again; pass a function that" ..
        " connects to let the store reconnect)"
      self.dead = true
    end
  end
  self.down_err = store.error("Redis: " .. message)
  self.down_until = self.clock.now() + self.down_ms / 1000
  return nil, self.down_err
end

function Store:_acquire()
  if self.conn then return self.conn end
  if self.dead then return nil, "the connection failed earlier" end
  local ok, conn, err = pcall(self.connect)
  if not ok then return nil, "connect: " .. tostring(conn) end
  if not is_connection(conn) then return nil, "connect: " .. tostring(err or "the function returned no connection") end
  -- A connection nginx pools is handed back after each use; any other is kept.
  if not method(conn, "set_keepalive") then self.conn = conn end
  return conn
end

function Store:_release(conn)
  if conn == self.conn then return end
  if self.release then
    pcall(self.release, conn)
  else
    local f = method(conn, "set_keepalive")
    if f then pcall(f, conn) end
  end
end

-- Runs a script and reads its reply (an array) with answer(reply):
-- -> answer's answers | nil, err
function Store:_run(name, keys, args, answer)
  if self.down_until then
    if self.dead or self.clock.now() < self.down_until then return nil, self.down_err end
    self.down_until = nil
  end
  local conn, why = self:_acquire()
  if not conn then return self:_down(nil, why) end
  if self.timeout_ms then set_timeout(conn, self.timeout_ms) end
  local res, err, kind = invoke(conn, "evalsha", SHA[name], keys, args)
  if not res and kind == "reply" and err:find("NOSCRIPT", 1, true) then
    res, err, kind = invoke(conn, "eval", SCRIPTS[name], keys, args)
  end
  if not res and kind == "network" then return self:_down(conn, err) end
  self:_release(conn)
  if not res then return nil, store.error("Redis: " .. err) end
  return answer(res)
end

local function us(seconds) return string.format("%.0f", seconds * 1e6) end
local function ms(seconds) return string.format("%.0f", math.max(1, math.ceil(seconds * 1000))) end

-- The scripts' replies, read.
local function done() return true end
local function owned(reply) return reply[1] == "ok" end
local function slot(reply)
  local wait = tonumber(reply[2])
  if not wait then return nil, store.error("Redis: unexpected answer to rate_take") end
  if reply[1] == "later" then return false, wait / 1e6 end
  return wait / 1e6
end
local function pause_left(reply) return (tonumber(reply[2]) or 0) / 1e6 end
local function found(reply)
  if reply[1] == "hit" then return reply[2] end
  return nil
end
local function claimed(reply)
  if reply[1] == "ok" then return true end
  return false, reply[2]
end

function Store:rate_take(key, interval, max_wait)
  return self:_run("rate_take", { key, key .. ":pause" }, { us(interval), max_wait and us(max_wait) or "-1" }, slot)
end

function Store:rate_pause(key, seconds)
  return self:_run("rate_pause", { key .. ":pause" }, { us(seconds) }, done)
end

function Store:rate_paused(key)
  return self:_run("rate_paused", { key .. ":pause" }, {}, pause_left)
end

function Store:get(key)
  return self:_run("get", { key }, {}, found)
end

function Store:set(key, value, ttl)
  return self:_run("set", { key }, { value, ms(ttl) }, done)
end

function Store:add(key, value, ttl)
  return self:_run("add", { key }, { value, ms(ttl) }, claimed)
end

function Store:renew_if(key, value, ttl)
  return self:_run("renew_if", { key }, { value, ms(ttl) }, owned)
end

function Store:delete_if(key, value)
  return self:_run("delete_if", { key }, { value }, owned)
end

function Store:delete(key)
  return self:_run("delete", { key }, {}, done)
end

function Store.__tostring()
  return "flexiroam.store.redis"
end

store.checked(Store)

return M
