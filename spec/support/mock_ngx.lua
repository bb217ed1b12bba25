--- A stand-in for the `ngx` global of nginx's Lua module, over LuaSocket,
-- enough to run flexiroam.transport.ngx in plain Lua 5.4 or LuaJIT (a unit
-- test where a real nginx is not needed):
--
--   local mock = require("spec.support.mock_ngx").new()
--   mock.install()  ...  mock.uninstall()   -- or mock.with(fn, ...)
--
-- What it models, as ngx_lua 0.10 does: ngx.socket.tcp() with
-- settimeout(s), connect(host, port, {pool =, pool_size =}) taking an idle
-- connection from the named pool when there is one (most recently pooled
-- first, as nginx does; one the peer has closed or written to meanwhile is
-- dropped, as nginx's idle-connection handler drops it), getreusedtimes,
-- send (a string or an array of strings), receiveany, setkeepalive (into
-- the pool the connection was made for, up to pool_size idle ones, the
-- object unusable afterwards) and close; sslhandshake raises ("not
-- supported": no TLS here). Also ngx.now/update_time (the wall clock),
-- ngx.get_phase (mock.phase, "content"), ngx.sleep and
-- ngx.config.ngx_lua_version. Blocking, one request at a time: no light
-- threads, no semaphores (the multi needs a real nginx).
--
-- And M.shared_dict{capacity =}: a lua_shared_dict's double for the shared
-- store (flexiroam.store.ngx_shared), with memory that runs out.
local socket = require "socket"

local M = {}

local PAGE = 4096
local ENTRY_OVERHEAD = 64 -- bytes an entry costs beyond its key and value (nginx's node, roughly)

--- shared_dict{capacity = bytes, now = function} -> a double of
-- ngx.shared.DICT: get -> value, flags (flags only when not 0), safe_set and
-- safe_add (never evict: "no memory"), set (evicts the least recently used
-- entries, as nginx's forcible set does), delete, get_keys(max = 1024; 0:
-- all), most recently used first, free_space (whole free pages), capacity.
-- An entry costs #key + #value + ENTRY_OVERHEAD bytes.
function M.shared_dict(o)
  local now = o.now or socket.gettime
  local d = { entries = {}, used = 0, cap = o.capacity, tick = 0 }
  local function size(key, value) return #key + #tostring(value) + ENTRY_OVERHEAD end
  local function drop(key)
    local e = d.entries[key]
    if e then
      d.used = d.used - e.size
      d.entries[key] = nil
    end
  end
  local function live(key)
    local e = d.entries[key]
    if e and e.expires and e.expires <= now() then
      drop(key)
      return nil
    end
    return e
  end
  local function touch(e)
    d.tick = d.tick + 1
    e.used_at = d.tick
  end
  local function lru()
    local oldest
    for key, e in pairs(d.entries) do
      if not oldest or e.used_at < d.entries[oldest].used_at then oldest = key end
    end
    return oldest
  end
  local function put(key, value, ttl, flags, evict)
    local old = live(key)
    local need = size(key, value) - (old and old.size or 0)
    while d.used + need > d.cap do
      local victim = evict and lru()
      if not victim or victim == key then return false, "no memory" end
      drop(victim)
    end
    drop(key)
    local e = { value = value, flags = flags ~= 0 and flags or nil, size = size(key, value),
      expires = ttl and ttl > 0 and now() + ttl or nil }
    d.entries[key] = e
    d.used = d.used + e.size
    touch(e)
    return true
  end

  function d.get(_, key)
    local e = live(key)
    if not e then return nil end
    touch(e)
    return e.value, e.flags
  end
  function d.safe_set(_, key, value, ttl, flags) return put(key, value, ttl, flags, false) end
  function d.set(_, key, value, ttl, flags) return put(key, value, ttl, flags, true) end
  function d.safe_add(_, key, value, ttl, flags)
    if live(key) then return false, "exists" end
    return put(key, value, ttl, flags, false)
  end
  function d.delete(_, key) drop(key) end
  function d.get_keys(_, max)
    max = max or 1024
    local keys = {}
    for key in pairs(d.entries) do
      if live(key) then keys[#keys + 1] = key end
    end
    table.sort(keys, function(a, b) return d.entries[a].used_at > d.entries[b].used_at end)
    if max > 0 then
      for i = #keys, max + 1, -1 do keys[i] = nil end
    end
    return keys
  end
  function d.free_space() return math.floor((d.cap - d.used) / PAGE) * PAGE end
  function d.capacity() return d.cap end
  return d
end

local unpack = table.unpack or unpack -- luacheck: ignore 113

local function pack(...)
  return { n = select("#", ...), ... }
end

local function seconds(ms)
  if ms == nil then return nil end
  return ms / 1000
end

function M.new()
  local mock = { phase = "content", pools = {}, connects = 0 }
  local ngx = { config = { ngx_lua_version = 10023 }, socket = {} }
  mock.ngx = ngx

  function ngx.now() return socket.gettime() end
  function ngx.update_time() end
  function ngx.get_phase() return mock.phase end
  function ngx.sleep(s) socket.sleep(s) end

  local Sock = {}
  Sock.__index = Sock

  function ngx.socket.tcp()
    return setmetatable({ timeouts = { 60000, 60000, 60000 } }, Sock)
  end

  function Sock:settimeout(ms)
    self.timeouts = { ms, ms, ms }
  end

  function Sock:settimeouts(connect_ms, send_ms, read_ms)
    self.timeouts = { connect_ms, send_ms, read_ms }
  end

  -- Whether an idle connection is still fit for a request: the peer has
  -- neither closed it nor sent anything on it.
  local function idle_ok(entry)
    if entry.expires and socket.gettime() > entry.expires then return false end
    if entry.sock:dirty() then return false end
    local ready = socket.select({ entry.sock }, nil, 0)
    return not ready[entry.sock]
  end

  function Sock:connect(host, port, opts)
    if self.sock then return nil, "already connected" end
    local pool = (opts and opts.pool) or (host .. ":" .. port)
    self.pool = pool
    local idle = mock.pools[pool]
    while idle and #idle > 0 do
      local entry = table.remove(idle)
      if idle_ok(entry) then
        self.sock, self.reused = entry.sock, entry.reused + 1
        return 1
      end
      entry.sock:close()
    end
    local s = socket.tcp()
    s:settimeout(seconds(self.timeouts[1]))
    local ok, err = s:connect(host, port)
    if not ok then
      s:close()
      return nil, err
    end
    mock.connects = mock.connects + 1
    self.sock, self.reused = s, 0
    return 1
  end

  function Sock:getreusedtimes()
    if not self.sock then return nil, "closed" end
    return self.reused
  end

  function Sock.sslhandshake()
    error("mock ngx: sslhandshake is not supported (no TLS in the mock)")
  end

  function Sock:send(data)
    if not self.sock then return nil, "closed" end
    if type(data) == "table" then data = table.concat(data) end
    self.sock:settimeout(seconds(self.timeouts[2]))
    local last, err = self.sock:send(data)
    if not last then return nil, err end
    return #data
  end

  function Sock:receiveany(max)
    if not self.sock then return nil, "closed" end
    if self.eof then return nil, "closed" end
    if not self.sock:dirty() then
      local ready = socket.select({ self.sock }, nil, seconds(self.timeouts[3]))
      if not ready[self.sock] then return nil, "timeout" end
    end
    self.sock:settimeout(0)
    local data, err, partial = self.sock:receive(max)
    data = data or partial
    if err == "closed" then self.eof = true end
    if data and data ~= "" then return data end
    if err == "timeout" then return nil, "timeout" end
    return nil, err or "closed"
  end

  function Sock:setkeepalive(timeout_ms, size)
    if not self.sock then return nil, "closed" end
    local idle = mock.pools[self.pool] or {}
    mock.pools[self.pool] = idle
    idle[#idle + 1] = {
      sock = self.sock, reused = self.reused,
      expires = timeout_ms and timeout_ms > 0 and socket.gettime() + timeout_ms / 1000 or nil,
    }
    size = size or 30
    while #idle > size do table.remove(idle, 1).sock:close() end
    self.sock = nil
    return 1
  end

  function Sock:close()
    if not self.sock then return nil, "closed" end
    self.sock:close()
    self.sock = nil
    return 1
  end

  --- How many connections wait idle in a pool (all pools: nil).
  function mock.idle(pool)
    local n = 0
    for name, idle in pairs(mock.pools) do
      if pool == nil or name == pool then n = n + #idle end
    end
    return n
  end

  --- Closes every pooled connection.
  function mock.drain()
    for _, idle in pairs(mock.pools) do
      for _, entry in ipairs(idle) do entry.sock:close() end
    end
    mock.pools = {}
  end

  local saved
  function mock.install()
    saved = rawget(_G, "ngx")
    rawset(_G, "ngx", ngx)
  end

  function mock.uninstall()
    rawset(_G, "ngx", saved)
    saved = nil
  end

  --- fn(...) with the mock installed as the global ngx; its results, or
  -- its error raised again once the global is restored.
  function mock.with(fn, ...)
    mock.install()
    local results = pack(pcall(fn, ...))
    mock.uninstall()
    if not results[1] then error(results[2], 0) end
    return unpack(results, 2, results.n)
  end

  return mock
end

return M
