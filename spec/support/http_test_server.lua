-- A small HTTP/1.1 server for the session specs, run as its own process:
--   lua5.4 spec/support/http_test_server.lua
-- It binds 127.0.0.1 on a free port, prints that port as its first line and
-- serves until killed. Connections are served concurrently (coroutines over
-- socket.select) so a stalled or kept-alive connection never blocks another.
--
-- Routes (every response carries X-Conn, the connection's number, and
-- X-Accepted, how many connections the server has accepted so far):
--   /echo             200, body = the raw request bytes (head and body)
-- Absolute-form targets (as sent to a proxy) are routed by their path.
--   /status/<code>    <code>, body "status <code>", single, repeated and mixed-case headers
--   /interim          a 103 Early Hints response, then the final 200
--   /redirect         302 to /echo (the client must not follow it)
--   /big?size=N[&chunked=1]  N bytes of "x", with Content-Length or chunked
--   /gzip?size=N      N bytes of "x", gzip-compressed (Content-Encoding: gzip)
--   /gzip-endless     chunked, Content-Encoding: gzip, a deflate stream that never ends: each
--                     1.6 KB piece inflates to 258 KB of "x" (sent whatever Accept-Encoding says)
--   /redirect-to?to=U 302 to U (percent-decoded), e.g. another server's /count
--   /count?tag=T      counts the request under T, then 200 "counted"
--   /stall            reads the request, never answers
--   /drip?n=N&every=S Content-Length N, then one byte every S seconds
--   /reset            a partial body, then a TCP reset
--   /vanish?tag=T     counts the request under T, then closes the connection without an answer
--   /vanish-reused?tag=T  counts it; closes without an answer on a connection that already
--                     served a request (a kept-alive connection dying), else 200
--   /hits?tag=T       body = how many requests were counted under T
--   /think?ms=N       waits N ms before answering 200 "thought"
--   /head-stall       headers (Content-Length 100), then nothing
--   /many-headers?n=N&size=S  N headers X-H<i>, each value S bytes
--   /raw-head?case=C  a 200 whose header block is RAW_HEADS[C] (spec/support/raw_heads.lua), sent as is
--   /raw-head?seed=N  the same, with the block spec/support/raw_heads.lua makes from N
--   /interim-raw      a 103 with its own headers, then a 200 whose header block is RAW_HEADS.mixed
--   /lie?length=N     Content-Length N, then 10 bytes and a close
local socket = require "socket"

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

local accepted = 0
local waiting = {} -- coroutine -> { mode = "read" | "write" | "sleep", arg = socket or wake time }

local function resume(co)
  local ok, mode, arg = coroutine.resume(co)
  if not ok then
    io.stderr:write("http_test_server: ", tostring(mode), "\n")
  elseif coroutine.status(co) ~= "dead" then
    waiting[co] = { mode = mode, arg = arg }
  end
end

local function sleep(seconds)
  coroutine.yield("sleep", socket.gettime() + seconds)
end

-- Next chunk of bytes from the connection, or nil once the peer is gone.
local function recv(conn)
  if conn.closed then return nil end
  while true do
    local data, err, partial = conn.sock:receive(8192)
    if data then return data end
    if err == "closed" then
      conn.closed = true
      if partial and #partial > 0 then return partial end
      return nil
    end
    if partial and #partial > 0 then return partial end
    if err ~= "timeout" then conn.closed = true; return nil end
    coroutine.yield("read", conn.sock)
  end
end

local function send(conn, data)
  local i = 1
  while i <= #data do
    local last, err, partial = conn.sock:send(data, i)
    if last then
      i = last + 1
    elseif err == "timeout" then
      i = partial + 1
      coroutine.yield("write", conn.sock)
    else
      return false
    end
  end
  return true
end

local function read_request(conn)
  while not conn.buf:find("\r\n\r\n", 1, true) do
    local data = recv(conn)
    if not data then return nil end
    conn.buf = conn.buf .. data
  end
  local head_end = conn.buf:find("\r\n\r\n", 1, true) + 3
  local head = conn.buf:sub(1, head_end)
  conn.buf = conn.buf:sub(head_end + 1)
  local method, target = head:match("^(%S+) (%S+) HTTP/1%.%d\r\n")
  local req = { method = method, target = target, headers = {} }
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    req.headers[name:lower()] = value
  end
  local length = tonumber(req.headers["content-length"] or "0")
  while #conn.buf < length do
    local data = recv(conn)
    if not data then return nil end
    conn.buf = conn.buf .. data
  end
  req.body = conn.buf:sub(1, length)
  conn.buf = conn.buf:sub(length + 1)
  req.raw = head .. req.body
  -- a proxy sees absolute-form targets: route them by their path
  local origin_form = target:match("^https?://[^/]*(/.*)$") or target
  req.path, req.query = origin_form:match("^([^?]*)%??(.*)$")
  req.args = {}
  for k, v in req.query:gmatch("([^&=]+)=([^&]*)") do req.args[k] = v end
  return req
end

local REASONS = { [200] = "OK", [302] = "Found", [404] = "Not Found", [500] = "Internal Server Error" }

local function head_of(conn, status, headers)
  local lines = { ("HTTP/1.1 %d %s\r\n"):format(status, REASONS[status] or "Status") }
  for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] .. "\r\n" end
  lines[#lines + 1] = "X-Conn: " .. conn.id .. "\r\n"
  lines[#lines + 1] = "X-Accepted: " .. accepted .. "\r\n\r\n"
  return table.concat(lines)
end

local function respond(conn, req, status, headers, body)
  headers[#headers + 1] = { "Content-Length", tostring(#body) }
  local data = head_of(conn, status, headers)
  if req.method ~= "HEAD" then data = data .. body end
  return send(conn, data)
end

local routes = {}
local hits = {}

local function count(req)
  local tag = req.args.tag or ""
  hits[tag] = (hits[tag] or 0) + 1
end

routes["/vanish"] = function(_, req)
  count(req)
  return false
end

routes["/vanish-reused"] = function(conn, req)
  count(req)
  if conn.served > 0 then return false end
  return respond(conn, req, 200, {}, "answered")
end

routes["/count"] = function(conn, req)
  count(req)
  return respond(conn, req, 200, {}, "counted")
end

routes["/hits"] = function(conn, req)
  return respond(conn, req, 200, {}, tostring(hits[req.args.tag or ""] or 0))
end

routes["/think"] = function(conn, req)
  sleep(tonumber(req.args.ms) / 1000)
  return respond(conn, req, 200, {}, "thought")
end

routes["/head-stall"] = function(conn)
  if not send(conn, head_of(conn, 200, { { "Content-Length", "100" } })) then return false end
  while recv(conn) do end
  return false
end

routes["/many-headers"] = function(conn, req)
  local n, size = tonumber(req.args.n), tonumber(req.args.size)
  local headers = {}
  for i = 1, n do
    local v = tostring(i)
    headers[i] = { "X-H" .. i, ("v"):rep(size - #v) .. v }
  end
  return respond(conn, req, 200, headers, "many")
end

-- Header blocks a lenient or broken server might send (spec/support/raw_heads.lua,
-- shared with the specs), read from beside this file.
local raw_heads = dofile((arg[0]:match("^(.*)/") or ".") .. "/raw_heads.lua")
local RAW_HEADS = raw_heads.FIXED

routes["/raw-head"] = function(conn, req)
  local lines = req.args.seed and raw_heads.random(tonumber(req.args.seed)) or RAW_HEADS[req.args.case]
  local head = "HTTP/1.1 200 OK\r\n" .. table.concat(lines, "\r\n") .. "\r\nContent-Length: 2\r\n\r\n"
  return send(conn, head .. (req.method == "HEAD" and "" or "ok"))
end

routes["/interim-raw"] = function(conn, req)
  send(conn, "HTTP/1.1 103 Early Hints\r\nX-Interim: yes\r\nX-Dup: interim\r\n\r\n")
  local head = "HTTP/1.1 200 OK\r\n" .. table.concat(RAW_HEADS.mixed, "\r\n") .. "\r\nContent-Length: 2\r\n\r\n"
  return send(conn, head .. (req.method == "HEAD" and "" or "ok"))
end

routes["/lie"] = function(conn, req)
  send(conn, head_of(conn, 200, { { "Content-Length", req.args.length } }) .. ("x"):rep(10))
  return false
end

routes["/echo"] = function(conn, req)
  return respond(conn, req, 200, { { "Content-Type", "application/octet-stream" } }, req.raw)
end

routes["/interim"] = function(conn, req)
  send(conn, "HTTP/1.1 103 Early Hints\r\nX-Interim: yes\r\nLink: </a.css>; rel=preload\r\n\r\n")
  return respond(conn, req, 200, { { "X-Final", "yes" } }, "final")
end

routes["/redirect"] = function(conn, req)
  local to = ("http://127.0.0.1:%d/echo"):format(port)
  return respond(conn, req, 302, { { "Location", to } }, "moved")
end

routes["/big"] = function(conn, req)
  local size = tonumber(req.args.size)
  if req.args.chunked ~= "1" then
    return respond(conn, req, 200, {}, ("x"):rep(size))
  end
  if not send(conn, head_of(conn, 200, { { "Transfer-Encoding", "chunked" } })) then return false end
  local chunk = ("x"):rep(65536)
  local left = size
  while left > 0 do
    local n = math.min(left, #chunk)
    if not send(conn, ("%x\r\n%s\r\n"):format(n, chunk:sub(1, n))) then return false end
    left = left - n
  end
  return send(conn, "0\r\n\r\n")
end

routes["/gzip"] = function(conn, req)
  local size = math.floor(tonumber(req.args.size))
  local p = assert(io.popen(("head -c %d /dev/zero | tr '\\0' x | gzip -c"):format(size), "r"))
  local gz = p:read("*a")
  p:close()
  return respond(conn, req, 200, { { "Content-Encoding", "gzip" } }, gz)
end

-- A deflate stream (RFC 1951) made by hand: each piece is a block of fixed
-- Huffman codes, 1000 matches of length 258 at distance 1 (the first
-- piece starts with a literal "x" for them to copy), closed by an empty
-- stored block that brings it back to a byte boundary, so that the piece
-- after it may be sent again and again. Nothing ever ends the stream.
local function deflate_piece(first, repeats)
  local out, acc, n = {}, 0, 0
  local function bits(value, width) -- the low `width` bits, least significant first
    for i = 0, width - 1 do
      acc = acc | (((value >> i) & 1) << n)
      n = n + 1
      if n == 8 then
        out[#out + 1] = string.char(acc)
        acc, n = 0, 0
      end
    end
  end
  local function code(value, len) -- a Huffman code, most significant bit first
    for i = len - 1, 0, -1 do bits((value >> i) & 1, 1) end
  end
  bits(0, 1) -- not the final block
  bits(1, 2) -- fixed Huffman codes
  if first then code(0x30 + 0x78, 8) end -- the literal "x"
  for _ = 1, repeats do
    code(197, 8) -- length code 285: 258 bytes
    code(0, 5)   -- distance code 0: 1 byte back
  end
  code(0, 7)  -- end of block
  bits(0, 3)  -- a stored block, not final...
  if n > 0 then out[#out + 1] = string.char(acc) end
  return table.concat(out) .. "\0\0\255\255" -- ...of length 0
end
local GZIP_HEADER = "\31\139\8\0\0\0\0\0\0\255"
local GZIP_FIRST, GZIP_NEXT = deflate_piece(true, 1000), deflate_piece(false, 1000)

routes["/gzip-endless"] = function(conn)
  if not send(conn, head_of(conn, 200, { { "Content-Encoding", "gzip" }, { "Transfer-Encoding", "chunked" } })) then
    return false
  end
  local function send_chunk(data) return send(conn, ("%x\r\n%s\r\n"):format(#data, data)) end
  if not send_chunk(GZIP_HEADER .. GZIP_FIRST) then return false end
  while send_chunk(GZIP_NEXT) do end
  return false
end

routes["/redirect-to"] = function(conn, req)
  local to = req.args.to:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  return respond(conn, req, 302, { { "Location", to } }, "moved")
end

routes["/stall"] = function(conn)
  while recv(conn) do end
  return false
end

routes["/drip"] = function(conn, req)
  local n, every = tonumber(req.args.n), tonumber(req.args.every)
  if not send(conn, head_of(conn, 200, { { "Content-Length", tostring(n) } })) then return false end
  for _ = 1, n do
    sleep(every)
    if not send(conn, "x") then return false end
  end
  return true
end

routes["/reset"] = function(conn)
  send(conn, head_of(conn, 200, { { "Content-Length", "100000" } }) .. ("x"):rep(10))
  sleep(0.05)
  -- SO_LINGER with a zero timeout turns close() into a reset.
  conn.sock:setoption("linger", { on = true, timeout = 0 })
  return false
end

local function status_route(conn, req, code)
  return respond(conn, req, code, {
    { "X-Single", "one" },
    { "X-Multi", "a" },
    { "X-Multi", "b" },
    { "X-Mixed-Case", "Yes" },
    { "Set-Cookie", "c1=1" },
    { "Set-Cookie", "c2=2" },
  }, "status " .. code)
end

local function serve(conn)
  while true do
    local req = read_request(conn)
    if not req then break end
    local route = routes[req.path]
    local code = req.path:match("^/status/(%d%d%d)$")
    local keep
    if route then
      keep = route(conn, req)
    elseif code then
      keep = status_route(conn, req, tonumber(code))
    else
      keep = respond(conn, req, 404, {}, "no route")
    end
    if not keep then break end
    conn.served = conn.served + 1
  end
  conn.sock:close()
end

while true do
  local readers, writers, timeout = { server }, {}, nil
  local now = socket.gettime()
  for _, w in pairs(waiting) do
    if w.mode == "read" then
      readers[#readers + 1] = w.arg
    elseif w.mode == "write" then
      writers[#writers + 1] = w.arg
    else
      local left = math.max(0, w.arg - now)
      timeout = timeout and math.min(timeout, left) or left
    end
  end
  local readable, writable = socket.select(readers, writers, timeout)
  if readable[server] then
    local sock = server:accept()
    if sock then
      accepted = accepted + 1
      sock:settimeout(0)
      local conn = { sock = sock, id = accepted, buf = "", served = 0 }
      resume(coroutine.create(function() serve(conn) end))
    end
  end
  now = socket.gettime()
  local ready = {}
  for co, w in pairs(waiting) do
    if (w.mode == "read" and readable[w.arg]) or (w.mode == "write" and writable[w.arg])
        or (w.mode == "sleep" and now >= w.arg) then
      ready[#ready + 1] = co
    end
  end
  for _, co in ipairs(ready) do
    waiting[co] = nil
    resume(co)
  end
end
