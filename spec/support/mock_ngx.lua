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
local socket = require "socket"

local M = {}

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
