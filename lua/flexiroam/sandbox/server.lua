--- A small HTTP/1.1 server on LuaSocket for the sandbox handler: one
-- coroutine per connection over non-blocking sockets and socket.select, so a
-- slow or broken client only ever waits on itself. Keep-alive, pipelining,
-- Content-Length bodies (with 100-continue), bounded heads and bodies.
-- It carries out the delivery an answer asks for (res.latency_ms and
-- res.fault, see sandbox.faults); a connection that waits to answer sleeps
-- in the loop's timer list, never in a blocking call.
local socket = require("flexiroam.dependencies").require("socket", "the sandbox's server")
local http1 = require("flexiroam.sandbox.http1")

local server = {}

local Server = {}
Server.__index = Server

server.DEFAULTS = {
  max_line = 8192,          -- request line, bytes (414 beyond)
  max_head = 16384,         -- request line + header fields, bytes (431 beyond)
  max_headers = 100,        -- header fields (431 beyond)
  max_body = 1048576,       -- bytes (413 beyond)
  max_connections = 256,    -- further clients wait in the listen backlog
  idle_timeout = 60,        -- seconds a kept-alive connection may stay silent
  request_timeout = 15,     -- seconds to finish sending a request, or to read our answer
}

local READ_SIZE = 65536
local CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n"
local LINGER_BYTES = 1048576

--- server.new(handler, {host=, port=, <limits>...}); then :listen() and :run().
function server.new(handler, opts)
  opts = opts or {}
  local limits = {}
  for k, v in pairs(server.DEFAULTS) do limits[k] = opts[k] or v end
  return setmetatable({
    handler = handler, limits = limits,
    host = opts.host or "127.0.0.1", port = opts.port or 0,
    conns = {}, nconns = 0, running = false,
  }, Server)
end

--- Binds and listens; returns the bound address and port, or nil, err.
function Server:listen()
  local sock, err = socket.bind(self.host, self.port, 128)
  if not sock then return nil, err end
  sock:settimeout(0)
  self.sock = sock
  local ip, port = sock:getsockname()
  self.bound_ip, self.bound_port = ip, tonumber(port)
  self.running = true
  return ip, self.bound_port
end

-- Reads what is there into conn.buf, waiting for readability only when the
-- socket has nothing; false once the peer is gone.
local function fill(conn)
  while true do
    local data, err, partial = conn.sock:receive(READ_SIZE)
    data = data or partial
    if data and data ~= "" then
      conn.buf = conn.buf .. data
      return true
    end
    if err ~= "timeout" then return false end
    coroutine.yield("r")
  end
end

local function send_all(conn, data)
  local i = 1
  while i <= #data do
    local last, err, partial = conn.sock:send(data, i)
    if last then
      i = last + 1
    elseif err == "timeout" then
      i = partial + 1
      if i <= #data then coroutine.yield("w") end
    else
      return false
    end
  end
  return true
end

-- Parks the connection's coroutine for `seconds`; the loop wakes it.
local function sleep(conn, limits, seconds)
  if seconds <= 0 then return end
  conn.wake = socket.gettime() + seconds
  conn.deadline = conn.wake + limits.request_timeout
  coroutine.yield("sleep")
end

local function wait_before(conn, limits, res)
  local ms = (res.latency_ms or 0) + (res.fault and res.fault.delay_ms or 0)
  sleep(conn, limits, ms / 1000)
end

-- After an error answer the client may still be sending (an oversize head or
-- body): closing with unread data would reset the connection and could
-- destroy our answer before it is read, so read and drop for a while first.
local function linger(conn)
  conn.sock:shutdown("send")
  conn.deadline = socket.gettime() + 2
  local dropped = 0
  while dropped < LINGER_BYTES do
    local data, err, partial = conn.sock:receive(READ_SIZE)
    data = data or partial
    if data and data ~= "" then
      dropped = dropped + #data
    elseif err ~= "timeout" then
      return
    else
      coroutine.yield("r")
    end
  end
end

-- Returns a parsed request, or nil, status, message for a bad one, or
-- nothing when the peer closed first.
local function read_head(limits, conn)
  local waiting = conn.buf == ""
  while true do
    local buf = conn.buf
    -- blank lines before a request line are to be ignored (RFC 9112 2.2)
    if buf:find("^[\r\n]") then
      buf = buf:gsub("^[\r\n]+", "")
      conn.buf = buf
    end
    if waiting and buf ~= "" then
      waiting = false
      conn.deadline = socket.gettime() + limits.request_timeout
    end
    local s, e = buf:find("\n\r?\n")
    if s and s <= limits.max_head + 1 then
      local head = buf:sub(1, s - 1):gsub("\r$", "")
      conn.buf = buf:sub(e + 1)
      return http1.parse_head(head, limits)
    end
    if s or #buf > limits.max_head then
      local first_line_end = buf:find("\n", 1, true) or #buf
      if first_line_end > limits.max_line then return nil, 414, "request line too long" end
      return nil, 431, "request header fields too large"
    end
    if not fill(conn) then return nil end
  end
end

-- Sends an answer the way its fault says (see sandbox.faults); false when
-- the connection is over.
local function deliver(conn, limits, res, keep_alive, minor)
  local body = res.body or ""
  local action = res.fault and res.fault.action
  if action == "reset" then
    -- a zero linger makes close() send RST: the client sees a reset, not an EOF
    conn.sock:setoption("linger", { on = true, timeout = 0 })
    return false
  end
  local head = http1.response_head(res.status, res.headers or {}, #body, keep_alive, minor)
  if action == "truncate" then
    -- the head promises the whole body; half of it (half the head when there
    -- is no body) comes, then the end of the stream
    local out = #body > 0 and head .. body:sub(1, #body // 2) or head:sub(1, #head // 2)
    if send_all(conn, out) then linger(conn) end
    return false
  elseif action == "drip" then
    if not send_all(conn, head) then return false end
    local step, pause = res.fault.bytes or 16, (res.fault.ms or 0) / 1000
    for i = 1, #body, step do
      if i > 1 then sleep(conn, limits, pause) end
      if not send_all(conn, body:sub(i, i + step - 1)) then return false end
    end
    conn.deadline = socket.gettime() + limits.request_timeout
    return true
  end
  return send_all(conn, head .. body)
end

local function serve(self, conn)
  local limits, handler = self.limits, self.handler
  while true do
    conn.deadline = socket.gettime() + limits.idle_timeout
    local req, status, message = read_head(limits, conn)
    if not req then
      if status then
        local res = handler:reject(status, message)
        wait_before(conn, limits, res)
        if send_all(conn, http1.response_head(status, res.headers, #res.body, false, 1) .. res.body) then
          linger(conn)
        end
      end
      return
    end

    local length = req.content_length
    if length > limits.max_body then
      local res = handler:reject(413, "request body larger than " .. limits.max_body .. " bytes")
      wait_before(conn, limits, res)
      if send_all(conn, http1.response_head(413, res.headers, #res.body, false, req.minor) .. res.body) then
        linger(conn)
      end
      return
    end
    local body = ""
    if length > 0 then
      if #conn.buf < length and req.expect_continue and req.minor >= 1 then
        if not send_all(conn, CONTINUE) then return end
      end
      while #conn.buf < length do
        if not fill(conn) then return end
      end
      body = conn.buf:sub(1, length)
      conn.buf = conn.buf:sub(length + 1)
    end

    local res = handler:handle {
      method = req.method, path = req.path, query = req.query, headers = req.headers,
      body = body, remote_addr = conn.remote_addr,
    }
    local keep_alive = req.keep_alive and self.running
    wait_before(conn, limits, res)
    conn.deadline = socket.gettime() + limits.request_timeout
    if not deliver(conn, limits, res, keep_alive, req.minor) then return end
    if not keep_alive then
      if conn.buf ~= "" then linger(conn) end
      return
    end
  end
end

function Server:close_conn(conn)
  if self.conns[conn.sock] then
    self.conns[conn.sock] = nil
    self.nconns = self.nconns - 1
  end
  conn.sock:close()
end

function Server:resume(conn, ...)
  local ok, want = coroutine.resume(conn.co, ...)
  if not ok then
    io.stderr:write("flexiroam-sandbox: connection error: ", tostring(want), "\n")
    self:close_conn(conn)
  elseif coroutine.status(conn.co) == "dead" then
    self:close_conn(conn)
  else
    conn.want = want
    if want ~= "sleep" then conn.wake = nil end
  end
end

function Server:accept()
  while self.nconns < self.limits.max_connections do
    local sock = self.sock:accept()
    if not sock then return end
    sock:settimeout(0)
    sock:setoption("tcp-nodelay", true)
    local conn = { sock = sock, buf = "", remote_addr = (sock:getpeername()), co = coroutine.create(serve) }
    self.conns[sock] = conn
    self.nconns = self.nconns + 1
    self.handler:connection_opened()
    self:resume(conn, self, conn)
  end
end

--- One round: wait up to `timeout` seconds for sockets, serve what is ready,
-- drop connections past their deadline.
function Server:step(timeout)
  local readers, writers = {}, {}
  if self.nconns < self.limits.max_connections then readers[1] = self.sock end
  local now, first_wake = socket.gettime(), nil
  for sock, conn in pairs(self.conns) do
    local want = conn.want
    if want == "w" then
      writers[#writers + 1] = sock
    elseif want == "sleep" then
      if not first_wake or conn.wake < first_wake then first_wake = conn.wake end
    else
      readers[#readers + 1] = sock
    end
  end
  if first_wake then timeout = math.max(0, math.min(timeout, first_wake - now)) end
  local can_read, can_write = socket.select(readers, writers, timeout)
  for _, sock in ipairs(can_read) do
    if sock == self.sock then
      self:accept()
    else
      local conn = self.conns[sock]
      if conn then self:resume(conn) end
    end
  end
  for _, sock in ipairs(can_write) do
    local conn = self.conns[sock]
    if conn then self:resume(conn) end
  end
  now = socket.gettime()
  local woken = {}
  for _, conn in pairs(self.conns) do
    if conn.want == "sleep" and conn.wake <= now then
      woken[#woken + 1] = conn
    elseif conn.deadline and conn.deadline < now then
      self:close_conn(conn)
    end
  end
  -- resumed outside the walk: a resumed coroutine may close its connection
  for _, conn in ipairs(woken) do
    if self.conns[conn.sock] then self:resume(conn) end
  end
end

--- Serves until stop() (or a signal ends the process). A failure of the loop
-- itself is logged and the loop goes on: the sandbox must not die under a test.
function Server:run()
  while self.running do
    local ok, err = pcall(self.step, self, 1)
    if not ok then
      io.stderr:write("flexiroam-sandbox: server loop: ", tostring(err), "\n")
      socket.sleep(0.01)
    end
  end
  for _, conn in pairs(self.conns) do self:close_conn(conn) end
  self.sock:close()
end

function Server:stop()
  self.running = false
end

return server
