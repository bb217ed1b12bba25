-- A small HTTP/1.1 server for the session specs, run as its own process:
--   lua5.4 spec/support/http_test_server.lua
-- It binds 127.0.0.1 on a free port, prints that port as its first line and
-- serves until killed. Connections are served concurrently (coroutines over
-- socket.select) so a stalled or kept-alive connection never blocks another.
--
-- Routes (every response carries X-Conn, the connection's number, and
-- X-Accepted, how many connections the server has accepted so far):
--   /echo             200, body = the raw request bytes (head and body)
--   /body?k=K         POST: keeps the request's body under K (204);
--                     GET (&status=N): answers N (default 200) with the body kept under K, as JSON
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
--   /stats            body "accepted=A requests=R": connections accepted, requests read (this one excluded)
--   /wire             body = every byte received so far on other connections, in arrival order
--                     (a client's raw requests, however malformed); then forgets them
--   /v1/...           any other API path: 200 {"item": {}, "items": [], "page_key": null} (the raw bytes
--                     are in /wire)
--   /hostile/<case>[,<arg>...]/...  a misbehaving server, for a client whose base_url ends in
--                     /hostile/<case>,<args>: see HOSTILE below; each request counts under the tag
--                     "hostile:<case>" (/hits?tag=hostile:<case>)
local socket = require "socket"

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

local accepted = 0
local requests = 0
-- Every chunk received, with its connection, since the last /wire (which
-- hands them out); kept only while someone may ask, up to WIRE_CAP bytes.
local wire, wire_bytes = {}, 0
local WIRE_CAP = 16 * 1024 * 1024
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

local function log_wire(conn, data)
  if wire_bytes + #data > WIRE_CAP then wire, wire_bytes = {}, 0 end
  wire[#wire + 1] = { conn = conn, data = data }
  wire_bytes = wire_bytes + #data
end

-- Next chunk of bytes from the connection, or nil once the peer is gone.
local function recv(conn)
  if conn.closed then return nil end
  while true do
    local data, err, partial = conn.sock:receive(8192)
    if data then
      log_wire(conn, data)
      return data
    end
    if partial and #partial > 0 then log_wire(conn, partial) end
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

local REASONS = { [200] = "OK", [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect", [404] = "Not Found", [500] = "Internal Server Error",
  [503] = "Service Unavailable" }

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

local kept_bodies = {}
routes["/body"] = function(conn, req)
  local key = req.args.k or ""
  if req.method == "POST" then
    kept_bodies[key] = req.body
    return respond(conn, req, 204, {}, "")
  end
  return respond(conn, req, tonumber(req.args.status) or 200, { { "Content-Type", "application/json" } },
    kept_bodies[key] or "")
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

routes["/stats"] = function(conn, req)
  return respond(conn, req, 200, {}, ("accepted=%d requests=%d"):format(accepted, requests - 1))
end

-- A connection that asked for /wire is an observer's: its own bytes are never handed out.
routes["/wire"] = function(conn, req)
  conn.observer = true
  local out = {}
  for _, chunk in ipairs(wire) do
    if not chunk.conn.observer then out[#out + 1] = chunk.data end
  end
  wire, wire_bytes = {}, 0
  return respond(conn, req, 200, { { "Content-Type", "application/octet-stream" } }, table.concat(out))
end

local EMPTY_ANSWER = '{"item": {}, "items": [], "page_key": null}'

local function json_answer(conn, req, status, body, headers)
  headers = headers or {}
  headers[#headers + 1] = { "Content-Type", "application/json" }
  return respond(conn, req, status, headers, body)
end

------------------------------------------------------------------------
-- A misbehaving server: /hostile/<case>[,<arg>...]/<anything>. A client
-- whose base_url is http://127.0.0.1:PORT/hostile/<case>,<args> sends
-- every operation here. Each case is function(conn, req, args).

-- Sends `total` bytes made by repeating `unit` (64 KiB pieces), through
-- `put`; false once the peer is gone.
local function stream(put, unit, total)
  local block = unit:rep(math.ceil(65536 / #unit)):sub(1, 65536)
  local left = total
  while left > 0 do
    local n = math.min(left, #block)
    if not put(block:sub(1, n)) then return false end
    left = left - n
  end
  return true
end

local function chunk_sender(conn)
  return function(data) return send(conn, ("%x\r\n%s\r\n"):format(#data, data)) end
end

-- Hostile JSON bodies (JSON,<name>[,<n>]): each a function of n.
local JSON_BODIES = {
  deep_array = function(n) return ("["):rep(n or 100000) end,
  deep_array_closed = function(n) n = n or 100000; return ("["):rep(n) .. ("]"):rep(n) end,
  deep_object = function(n) return ('{"a":'):rep(n or 100000) end,
  huge_exponent = function() return '{"item": {"sku": 1e999999}}' end,
  huge_negative_exponent = function() return '{"item": {"sku": 1e-999999}}' end,
  long_integer = function(n) return '{"item": {"sku": ' .. ("9"):rep(n or 100000) .. '}}' end,
  long_fraction = function(n) return '{"item": {"price": 0.' .. ("1"):rep(n or 100000) .. '}}' end,
  duplicate_keys = function()
    return '{"item": {"iccid": "first", "iccid": "second"}, "item": {"iccid": "last", "iccid": "final"}}'
  end,
  invalid_utf8 = function() return '{"item": {"name": "a\255\254b"}}' end,
  overlong_utf8 = function() return '{"item": {"name": "\192\175"}}' end,
  lone_surrogate = function() return '{"item": {"name": "\\ud800"}}' end,
  escaped_nul = function() return '{"item": {"name": "a\\u0000b"}}' end,
  raw_control = function() return '{"item": {"name": "a\0b\r\nc"}}' end,
  bom = function() return '\239\187\191{"item": {}}' end,
  trailing = function() return '{"item": {}} {"item": {}}' end,
  nan = function() return '{"item": {"sku": NaN}}' end,
  item_array = function() return '{"item": []}' end,
  item_string = function() return '{"item": "__index"}' end,
  meta_keys = function()
    return '{"item": {"iccid": "8910300000000000009", "chip_type": "esim", "__index": {"usage": 1}, ' ..
      '"__newindex": "x", "__gc": 1, "__tostring": "t", "__name": "n", "__metatable": false, "__call": 1, ' ..
      '"__len": 1, "__pairs": 1, "__close": 1, "__mode": "k", "__eq": 1, "__concat": 1, "__lt": 1, ' ..
      '"_client": 1, "_model": "Plan", "_base": {}}}'
  end,
  meta_items = function()
    return '{"items": [{"__index": 1, "__gc": 2, "iccid": "1"}, {"__newindex": 3, "iccid": "2"}], ' ..
      '"page_key": null, "__index": {"items": 1}}'
  end,
  shadowing = function()
    return '{"item": {"iccid": "8910300000000000009", "usage": "data", "raw": 7, "client": "x"}}'
  end,
  huge_array = function(n) -- {"item": {"a": [0,0,...]}}: n zeros
    n = n or 1000000
    return '{"item": {"a": [' .. ("0,"):rep(n - 1) .. '0]}}'
  end,
  many_objects = function(n) -- {"items": [{},{},...], "page_key": null}: n empty objects
    n = n or 1000000
    return '{"items": [' .. ("{},"):rep(n - 1) .. '{}], "page_key": null}'
  end,
  many_keys = function(n)
    n = n or 100000
    local parts = {}
    for i = 1, n do parts[i] = '"k' .. i .. '": 0' end
    return '{"item": {' .. table.concat(parts, ", ") .. '}}'
  end,
}

-- A deflate stream of `pieces` pieces (each inflates to 258 000 bytes of
-- "x"), without an end: the client is to stop long before.
local function gzip_bomb_body(pieces)
  return GZIP_HEADER .. GZIP_FIRST .. GZIP_NEXT:rep(pieces - 1)
end

local HOSTILE = {}

-- redirect,<code>,<port>[,<host>]: <code> to http://<host>:<port>/v1/... (host 127.0.0.1).
HOSTILE.redirect = function(conn, req, args)
  local code, to_port, host = tonumber(args[1]), args[2], args[3] or "127.0.0.1"
  local to = ("http://%s:%s/v1/public-v2/get-sim?redirected=1"):format(host, to_port)
  return json_answer(conn, req, code, '{"message": "moved"}', { { "Location", to } })
end

-- gzip_bomb[,<pieces>]: Content-Length, Content-Encoding: gzip; 1000 pieces (the default) are 1.6 MB that
-- inflate to 258 MB.
HOSTILE.gzip_bomb = function(conn, req, args)
  local body = gzip_bomb_body(tonumber(args[1]) or 1000)
  return respond(conn, req, 200, { { "Content-Encoding", "gzip" }, { "Content-Type", "application/json" } }, body)
end

-- gzip_endless: chunked gzip that never ends (as /gzip-endless).
HOSTILE.gzip_endless = function(conn, req) return routes["/gzip-endless"](conn, req) end

-- endless: a chunked JSON string that never ends.
HOSTILE.endless = function(conn)
  if not send(conn, head_of(conn, 200, { { "Transfer-Encoding", "chunked" }, { "Content-Type", "application/json" } }))
  then
    return false
  end
  local put = chunk_sender(conn)
  if not put('{"item": {"name": "') then return false end
  while stream(put, "x", 1048576) do end
  return false
end

-- huge_string,<MiB>[,chunked]: {"item": {"name": "xxx..."}}, the string <MiB> MiB long.
HOSTILE.huge_string = function(conn, _, args)
  local size = (tonumber(args[1]) or 100) * 1048576
  local open, close = '{"item": {"name": "', '"}}'
  local chunked = args[2] == "chunked"
  local headers = { { "Content-Type", "application/json" } }
  headers[#headers + 1] = chunked and { "Transfer-Encoding", "chunked" }
    or { "Content-Length", tostring(#open + size + #close) }
  if not send(conn, head_of(conn, 200, headers)) then return false end
  local put = chunked and chunk_sender(conn) or function(data) return send(conn, data) end
  if not (put(open) and stream(put, "x", size) and put(close)) then return false end
  if chunked then return send(conn, "0\r\n\r\n") end
  return true
end

-- header_line,<bytes>: one header whose value is <bytes> long.
HOSTILE.header_line = function(conn, req, args)
  local value = ("v"):rep(tonumber(args[1]) or 1048576)
  return json_answer(conn, req, 200, EMPTY_ANSWER, { { "X-Long", value } })
end

-- many_headers,<n>: n headers.
HOSTILE.many_headers = function(conn, _, args)
  local n = tonumber(args[1]) or 100000
  local lines = { "HTTP/1.1 200 OK\r\n" }
  for i = 1, n do lines[#lines + 1] = "X-H" .. i .. ": v\r\n" end
  lines[#lines + 1] = "Content-Type: application/json\r\nContent-Length: " .. #EMPTY_ANSWER .. "\r\n\r\n"
  return send(conn, table.concat(lines) .. EMPTY_ANSWER)
end

-- json,<name>[,<n>]: a 200 whose body is JSON_BODIES[name](n).
HOSTILE.json = function(conn, req, args)
  local make = assert(JSON_BODIES[args[1]], "no such body")
  return json_answer(conn, req, 200, make(tonumber(args[2])))
end

-- trickle_body,<n>,<every>: a 200 of Content-Length n, one byte every <every> seconds.
HOSTILE.trickle_body = function(conn, req, args)
  req.args.n, req.args.every = args[1] or "100", args[2] or "1"
  return routes["/drip"](conn, req)
end

-- trickle_head,<every>: the status line and headers, one byte every <every> seconds.
HOSTILE.trickle_head = function(conn, _, args)
  local every = tonumber(args[1]) or 1
  local head = head_of(conn, 200, { { "Content-Length", "2" } })
  for i = 1, #head do
    if not send(conn, head:sub(i, i)) then return false end
    sleep(every)
  end
  return send(conn, "{}")
end

-- interim_flood,<n>: <n> interim answers (100 Continue) of about 530 bytes each, then a 200:
-- every head counts against the one limit of the head.
HOSTILE.interim_flood = function(conn, req, args)
  local interim = "HTTP/1.1 100 Continue\r\nX-Pad: " .. string.rep("p", 500) .. "\r\n\r\n"
  for _ = 1, tonumber(args[1]) or 2000 do
    if not send(conn, interim) then return false end
  end
  return json_answer(conn, req, 200, EMPTY_ANSWER)
end

-- head_cut: a status line and a header, then the connection closes before the blank line
-- that ends the head (libcurl 7.88 took that for a 200 with an empty body).
HOSTILE.head_cut = function(conn)
  send(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
  return false
end

-- stall: reads the request, never answers.
HOSTILE.stall = function(conn) return routes["/stall"](conn) end

-- fold_first: a 200 whose first header line is folded (starts with a space).
HOSTILE.fold_first = function(conn, req)
  return send(conn, "HTTP/1.1 200 OK\r\n X-Folded: first\r\nContent-Type: application/json\r\nContent-Length: " ..
    #EMPTY_ANSWER .. "\r\n\r\n" .. (req.method == "HEAD" and "" or EMPTY_ANSWER))
end

-- fold_after,<n>,<id>: the first <n> requests under <id> get the empty answer, every later one
-- fold_first's: a client whose handle has run a transfer meets the fold on the next one.
local fold_seen = {}
HOSTILE.fold_after = function(conn, req, args)
  local n, id = tonumber(args[1]) or 1, args[2] or ""
  fold_seen[id] = (fold_seen[id] or 0) + 1
  if fold_seen[id] <= n then return json_answer(conn, req, 200, EMPTY_ANSWER) end
  return HOSTILE.fold_first(conn, req)
end

-- post503: a POST gets 503, anything else the empty answer (a write whose lookup finds nothing).
HOSTILE.post503 = function(conn, req)
  if req.method == "POST" then return json_answer(conn, req, 503, '{"message": "try later"}') end
  return json_answer(conn, req, 200, EMPTY_ANSWER)
end

local function hostile(conn, req)
  local spec = req.path:match("^/hostile/([^/]+)")
  local args = {}
  for a in spec:gmatch("[^,]+") do args[#args + 1] = a end
  local case = table.remove(args, 1)
  local handler = HOSTILE[case]
  if not handler then return respond(conn, req, 404, {}, "no hostile case " .. case) end
  req.args.tag = "hostile:" .. case
  count(req)
  return handler(conn, req, args)
end

local function serve(conn)
  while true do
    local req = read_request(conn)
    if not req then break end
    requests = requests + 1
    local route = routes[req.path]
    local code = req.path:match("^/status/(%d%d%d)$")
    local keep
    if route then
      keep = route(conn, req)
    elseif req.path:find("^/hostile/[^/]") then
      keep = hostile(conn, req)
    elseif req.path:find("^/v1/") then
      keep = json_answer(conn, req, 200, EMPTY_ANSWER)
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
    -- select() takes descriptors below FD_SETSIZE (1024) only: past that a
    -- connection is refused (closed at once) rather than the server dying.
    if sock and sock:getfd() >= 1000 then
      sock:close()
      sock = nil
    end
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
