-- luacheck: std luajit+ngx_lua
--- The routes of spec/support/http_test_server.lua that the transport
-- contract uses, served by a real nginx over TLS, as HTTP/1.1 and as
-- HTTP/2 (spec/support/transport_contract_tls.lua starts it). Every answer
-- carries X-Conn, nginx's connection number ($connection): two answers with
-- the same X-Conn came over the same connection.
--
--   /status/<code>, /count?tag=T, /hits?tag=T, /think?ms=N, /stall,
--   /drip?n=N&every=S, /echo, /big?size=N[&chunked=1], /gzip?size=N,
--   /redirect-to?to=U   as the test server's
--   /gzip-endless         64 MB of "x" in gzip (by nginx's gzip filter): endless to a client capped lower
--   /vanish?tag=T         counts the request under T, then resets the TCP connection (RST) without a byte
--                         of an answer: the worker process sets SO_LINGER 0 on its socket and exits (the
--                         master starts another)
--   /vanish-reused?tag=T  counts it; vanishes so on a connection that already served a request, else 200
--   /reset                headers (Content-Length 100000) and 10 bytes, then a reset
--   /lie?length=N         Content-Length N, 10 bytes, then the connection closes (FIN)
--   /stats[?port=P]       body "accepted=A": connections that carried a request to port P (default: this one)
--
-- Counts live in the shared dict "contract" and so outlive a worker that
-- exits. Raw heads (malformed header lines) cannot be sent through nginx,
-- nor exist in HTTP/2: that case is not applicable to these rows.
local ffi = require "ffi"

local app = {}

local dict = ngx.shared.contract

ffi.cdef [[
int getpeername(int sockfd, void *addr, unsigned int *addrlen);
int setsockopt(int sockfd, int level, int optname, const void *optval, unsigned int optlen);
]]
local SOL_SOCKET, SO_LINGER, AF_INET = 1, 13, 2 -- Linux

-- The descriptor of this request's TCP connection: the socket whose peer is
-- the client's address and port (nginx does not hand its descriptor to Lua).
local function client_fd()
  local port = tonumber(ngx.var.remote_port)
  local addr = ffi.new("uint8_t[128]")
  local len = ffi.new("unsigned int[1]")
  for fd = 3, 4095 do
    len[0] = 128
    if ffi.C.getpeername(fd, addr, len) == 0 and addr[0] + addr[1] * 256 == AF_INET
        and addr[2] * 256 + addr[3] == port then
      return fd
    end
  end
  return nil
end

-- Ends this worker, and with it every connection it holds: this request's
-- with a reset (RST) when `reset`, else with a close (FIN).
local function die(reset)
  if reset then
    local fd = assert(client_fd(), "the client's socket was not found")
    local linger = ffi.new("int[2]", 1, 0)
    assert(ffi.C.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 8) == 0, "setsockopt SO_LINGER failed")
  end
  os.exit(1)
end

local function count()
  dict:incr("hits:" .. (ngx.var.arg_tag or ""), 1, 0)
end

local function stream(total, chunk_size)
  local chunk = ("x"):rep(chunk_size)
  local left = total
  while left > 0 do
    local n = math.min(left, #chunk)
    if not ngx.print(n == #chunk and chunk or chunk:sub(1, n)) then return false end
    if not ngx.flush(true) then return false end
    left = left - n
  end
  return true
end

local routes = {}

routes["/count"] = function()
  count()
  ngx.print("counted")
end

routes["/hits"] = function()
  ngx.print(tostring(dict:get("hits:" .. (ngx.var.arg_tag or "")) or 0))
end

routes["/vanish"] = function()
  count()
  die(true)
end

routes["/vanish-reused"] = function(served)
  count()
  if served > 0 then die(true) end
  ngx.print("answered")
end

routes["/think"] = function()
  ngx.sleep(tonumber(ngx.var.arg_ms) / 1000)
  ngx.print("thought")
end

-- Never answers; the client gives up first (lua_check_client_abort ends it
-- then, worker_shutdown_timeout at the latest).
routes["/stall"] = function()
  ngx.sleep(60)
end

routes["/drip"] = function()
  local n, every = tonumber(ngx.var.arg_n), tonumber(ngx.var.arg_every)
  ngx.header["Content-Length"] = n
  ngx.send_headers()
  ngx.flush(true)
  for _ = 1, n do
    ngx.sleep(every)
    if not ngx.print("x") or not ngx.flush(true) then return end
  end
end

routes["/echo"] = function()
  local lines = { ngx.req.get_method() .. " " .. ngx.var.request_uri }
  for k, v in pairs(ngx.req.get_headers()) do
    lines[#lines + 1] = k .. ": " .. (type(v) == "table" and table.concat(v, ", ") or v)
  end
  ngx.print(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (ngx.req.get_body_data() or ""))
end

routes["/big"] = function()
  local size = tonumber(ngx.var.arg_size)
  if ngx.var.arg_chunked ~= "1" then
    ngx.header["Content-Length"] = size
    ngx.print(("x"):rep(size))
    return
  end
  stream(size, 65536)
end

-- Compressed by nginx's gzip filter (this location has gzip on).
routes["/gzip"] = function()
  ngx.print(("x"):rep(tonumber(ngx.var.arg_size)))
end

-- Endless for a client capped at a few MB: 64 MB of "x", gzip-compressed
-- about a thousand to one. (Truly endless, it would keep the worker busy
-- compressing for a stream nobody reads any more.)
routes["/gzip-endless"] = function()
  stream(64 * 1024 * 1024, 262144)
end

routes["/redirect-to"] = function()
  ngx.header["Location"] = ngx.unescape_uri(ngx.var.arg_to)
  ngx.status = 302
  ngx.print("moved")
end

routes["/reset"] = function()
  ngx.header["Content-Length"] = 100000
  ngx.print(("x"):rep(10))
  ngx.flush(true)
  ngx.sleep(0.05)
  die(true)
end

routes["/lie"] = function()
  ngx.header["Content-Length"] = tonumber(ngx.var.arg_length)
  ngx.print(("x"):rep(10))
  ngx.flush(true)
  ngx.sleep(0.05)
  die(false)
end

routes["/stats"] = function()
  ngx.print(("accepted=%d"):format(dict:get("accepted:" .. (ngx.var.arg_port or ngx.var.server_port)) or 0))
end

function app.handle()
  ngx.req.read_body() -- as a server reads a request before it acts on it
  local conn = ngx.var.connection
  -- requests this connection carried before this one
  local served = dict:incr("conn:" .. conn, 1, 0) - 1
  if served == 0 and ngx.var.uri ~= "/hits" and ngx.var.uri ~= "/stats" then
    dict:incr("accepted:" .. ngx.var.server_port, 1, 0)
  end
  ngx.header["X-Conn"] = conn
  local code = ngx.var.uri:match("^/status/(%d%d%d)$")
  if code then
    ngx.status = tonumber(code)
    ngx.header["X-Single"] = "one"
    ngx.header["X-Multi"] = { "a", "b" }
    ngx.header["X-Mixed-Case"] = "Yes"
    ngx.header["Set-Cookie"] = { "c1=1", "c2=2" }
    ngx.print("status " .. code)
    return
  end
  local route = routes[ngx.var.uri]
  if not route then
    ngx.status = 404
    ngx.print("no route")
    return
  end
  route(served)
end

return app
