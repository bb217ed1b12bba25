--- A private redis-server for specs (Debian's redis-server), and the
-- redis-lua client (Debian's lua-redis):
--   local redis_server = require "spec.support.redis_server"
--   local why = redis_server.missing()        -- nil, or why the Redis specs skip
--   local r = redis_server.start()            -- 127.0.0.1, a free port, no persistence, a temp dir
--   local conn = redis_server.connect(r.port) -- a redis-lua connection
--   r:stop()                                  -- SIGTERM (KILL after 5 s), the dir removed
-- redis-lua is packaged for Lua 5.1-5.3 (/usr/share/lua/5.1 .. 5.3); it is pure
-- Lua and runs unchanged on 5.4 once /usr/share/lua/5.3 is on package.path,
-- which redis_server.lua_path() adds.
local processes = require "spec.support.test_processes"

local M = {}

local slurp, quote = processes.slurp, processes.quote

--- The package.path entry that finds redis-lua under this interpreter
-- (nil when the default path already does).
function M.extra_path()
  if _VERSION == "Lua 5.4" then return "/usr/share/lua/5.3/?.lua" end
  return nil
end

--- Puts redis-lua on package.path (see extra_path) and returns the module, or nil, why.
function M.redis_lua()
  local extra = M.extra_path()
  if extra and not package.path:find(extra, 1, true) then package.path = package.path .. ";" .. extra end
  local ok, redis = pcall(require, "redis")
  if not ok then return nil, "redis-lua is not installed (Debian: lua-redis): " .. tostring(redis) end
  return redis
end

--- nil when redis-server and redis-lua are there, else why the specs skip.
function M.missing()
  if not processes.have("redis-server") then return "redis-server is not installed (Debian: redis-server)" end
  local redis, why = M.redis_lua()
  if not redis then return why end
  return nil
end

local Server = {}
Server.__index = Server

--- start{port = (a free one)} -> server, once it answers.
function M.start(opts)
  opts = opts or {}
  local port = opts.port or processes.free_port()
  local dir = processes.tmpdir()
  local conf = table.concat({
    "port " .. port, "bind 127.0.0.1", "protected-mode yes", "daemonize no", 'save ""', "appendonly no",
    "dir " .. dir, "logfile " .. dir .. "/redis.log", "databases 1", "maxclients 200",
  }, "\n") .. "\n"
  local f = assert(io.open(dir .. "/redis.conf", "w"))
  f:write(conf)
  f:close()
  local self = setmetatable(processes.spawn("redis-server " .. quote(dir .. "/redis.conf") .. " >/dev/null 2>&1"),
    Server)
  self.port, self.dir = port, dir
  if not processes.await_listening(self, port) then
    local why = slurp(dir .. "/redis.log")
    self:stop()
    error("redis-server did not start: " .. why, 2)
  end
  return self
end

--- SIGTERM, KILL after 5 s; removes the directory.
function Server:stop()
  processes.stop(self)
  processes.rmdir(self.dir)
end

--- A redis-lua connection to 127.0.0.1:port (raises when it cannot connect).
function M.connect(port)
  local redis = assert(M.redis_lua())
  return redis.connect { host = "127.0.0.1", port = port, timeout = 5 }
end

--- A connection in lua-resty-redis's manner over a redis-lua one, to prove
-- the store speaks both: a network failure answers nil, err; an error reply
-- false, err (no raise); a missing value `null` (a sentinel, as ngx.null);
-- and it has set_timeout, set_keepalive and close.
function M.resty_shaped(conn)
  local null = M.null
  local function wrap(reply)
    if reply == nil then return null end
    if type(reply) == "table" then
      local out = {}
      for i = 1, #reply do out[i] = wrap(reply[i]) end
      return out
    end
    return reply
  end
  local shaped = { calls = {}, keepalives = 0 }
  local function call(name)
    return function(_, ...)
      shaped.calls[#shaped.calls + 1] = name
      local ok, res = pcall(conn[name], conn, ...)
      if ok then return wrap(res) end
      local message = tostring(res)
      local reply_error = message:match("redis error: (.*)$")
      if reply_error then return false, reply_error end
      return nil, message
    end
  end
  shaped.eval, shaped.evalsha = call("eval"), call("evalsha")
  function shaped.set_timeout(_, ms) conn.network.socket:settimeout(ms / 1000) return 1 end
  function shaped.set_keepalive() shaped.keepalives = shaped.keepalives + 1 return 1 end
  function shaped.close() conn.network.socket:close() return 1 end
  return shaped
end
M.null = setmetatable({}, { __tostring = function() return "null" end })

--- Every key in the server (KEYS *: the specs' servers hold a few).
function M.keys(conn)
  return conn:keys("*")
end

return M
