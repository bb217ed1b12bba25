--- flexiroam.transport.ngx: the SDK's transport inside nginx (OpenResty or
-- Debian's ngx_lua), an HTTP/1.1 client on ngx.socket.tcp cosockets. A
-- libcurl call in a handler would block the worker and every request on
-- it; a cosocket yields to nginx's event loop instead.
--
--   local t = require("flexiroam.transport.ngx").new { timeout_ms = 5000 }
--   t:request { method =, url =, headers =, body =, timeout_ms = }
--     -> { status =, headers = (lowercased names), body =, http_version =,
--          reused =, timings =, url = }  |  nil, err
--
-- It keeps the transport contract, docs/transport.md: err is the SDK's
-- error object with the libcurl transport's kinds ("network", "timeout",
-- "tls", "too_large"); `sent` is false only when no byte of the request can
-- have reached the server (connect or TLS failed). Only a GET or a HEAD is
-- ever sent a second time by the transport (a pooled connection found dead):
-- every other method goes on a connection of its own, closed after its
-- answer. Requests are plain: Accept-Encoding: identity (an answer in any
-- other content-coding is refused), no redirects followed, no proxy. https
-- verifies the certificate and the host name against nginx's
-- `lua_ssl_trusted_certificate`, which nginx.conf must set; a host name
-- (not an IP) also needs nginx's `resolver`.
-- @module flexiroam.transport.ngx

-- luacheck: std luajit+ngx_lua
local errors = require("flexiroam.errors")
local http_head = require("flexiroam.http_head")
local url = require("flexiroam.url")
local raise = require("flexiroam.misuse").raise

local M = {}

local Transport = {}
Transport.__index = Transport

-- Where ngx_lua lets a handler use cosockets (ngx.get_phase() names).
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

local DEFAULTS = {
  connect_timeout_ms = 10000, timeout_ms = 60000, low_speed_bytes = 1, low_speed_ms = 30000,
  max_response_bytes = 32 * 1024 * 1024, pool_size = 30, keepalive_timeout_ms = 60000,
}
local MAX_OPTION = 0x7fffffff
local READ_BLOCK = 65536
-- An answer's head (status line and header lines) and any one line of it
-- are capped as the C session caps them (src/session_internal.h,
-- FX_MAX_HEAD_BYTES and libcurl's own line limit): past either, too_large.
local MAX_HEAD_BYTES = 256 * 1024
local MAX_HEAD_LINE = 100 * 1024
-- A reused connection the server has meanwhile closed fails before any
-- answer; a GET or HEAD then goes again on a new one, as libcurl does.
local MAX_STALE_RETRIES = 3

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
-- The methods the transport may send a second time by itself (the safety
-- rule of docs/transport.md); the others never ride a pooled connection.
local REPEATABLE = { GET = true, HEAD = true }
-- Framing and content-coding are the transport's: a caller's own would
-- contradict them (it reads identity bodies only).
local RESERVED_HEADERS = {
  ["content-length"] = true, ["transfer-encoding"] = true, connection = true, ["accept-encoding"] = true,
}

--- nginx's clock, brought up to date: seconds, as a number.
-- @local
function M.now()
  ngx.update_time()
  return ngx.now()
end
local now = M.now

--- Whether this code runs inside nginx's Lua module (in any phase).
-- @local
function M.in_nginx()
  local n = rawget(_G, "ngx")
  return type(n) == "table" and type(n.get_phase) == "function" and type(n.socket) == "table"
end

--- Whether the phase allows cosockets.
-- @local
function M.phase_allows(phase)
  return COSOCKET_PHASES[phase] == true
end

--- "ngx_lua/0.10.23", for the User-Agent.
-- @local
function M.version()
  local v = M.in_nginx() and ngx.config and ngx.config.ngx_lua_version
  if type(v) ~= "number" then return "ngx_lua" end
  return string.format("ngx_lua/%d.%d.%d", math.floor(v / 1000000), math.floor(v / 1000) % 1000, v % 1000)
end

--- A sleep for the waits between retries: ngx.sleep, which yields to
-- nginx, where nginx allows it; elsewhere (init_by_lua, where nothing is
-- served yet, or log_by_lua after a blocking libcurl call the caller chose)
-- `fallback`.
-- @local
function M.sleeper(fallback)
  return function(seconds)
    if COSOCKET_PHASES[ngx.get_phase()] then return ngx.sleep(seconds) end
    if fallback then return fallback(seconds) end
  end
end

local function misuse(message)
  raise("%s%s", "flexiroam.transport.ngx: ", message)
end

local function integer_option(opts, name, min)
  local v = opts[name]
  if v == nil then return DEFAULTS[name] end
  if type(v) ~= "number" or v ~= math.floor(v) or v < min or v > MAX_OPTION then
    misuse(string.format("%s must be an integer from %d to %d, got %s", name, min, MAX_OPTION, tostring(v)))
  end
  return v
end

local UNSUPPORTED = {
  ca_file = "set lua_ssl_trusted_certificate in nginx.conf instead",
  ca_path = "set lua_ssl_trusted_certificate in nginx.conf instead",
  proxy = "cosockets connect directly",
}

local KNOWN = {
  connect_timeout_ms = true, timeout_ms = true, low_speed_ms = true, low_speed_bytes = true,
  max_response_bytes = true, verify = true, pool_size = true, keepalive_timeout_ms = true,
}

--- A transport on nginx's cosockets, for flexiroam.new{transport = ...}.
-- Once the final answer has begun, fewer than low_speed_bytes arriving
-- within low_speed_ms ends it ("timeout"); 0 bytes turns that off. The wait
-- for the answer's first byte is bounded by timeout_ms only.
-- @tparam[opt] table opts connect_timeout_ms, timeout_ms, low_speed_bytes (1), low_speed_ms (30000),
-- max_response_bytes, verify (true), pool_size (30), keepalive_timeout_ms (60000)
-- @return the transport: :request{method =, url =, headers =, body =, timeout_ms =}, :multi, :close
-- @raise an unknown option, or ca_file, ca_path, proxy (nginx.conf's business)
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then misuse("options must be a table") end
  for k, v in pairs(opts) do
    if UNSUPPORTED[k] and v ~= nil then misuse(k .. " is not supported: " .. UNSUPPORTED[k]) end
    if not KNOWN[k] then misuse("unknown option '" .. tostring(k) .. "'") end
  end
  local verify = opts.verify
  if verify == nil then verify = true end
  if type(verify) ~= "boolean" then misuse("verify must be a boolean") end
  return setmetatable({
    connect_timeout_ms = integer_option(opts, "connect_timeout_ms", 1),
    timeout_ms = integer_option(opts, "timeout_ms", 1),
    low_speed_bytes = integer_option(opts, "low_speed_bytes", 0),
    low_speed_ms = integer_option(opts, "low_speed_ms", 1),
    max_response_bytes = integer_option(opts, "max_response_bytes", 1),
    pool_size = integer_option(opts, "pool_size", 1),
    keepalive_timeout_ms = integer_option(opts, "keepalive_timeout_ms", 0),
    verify = verify,
  }, Transport)
end

-- -> {method, scheme, host, port, sni, target, head (request head), body, timeout_ms, url}
local function prepare(self, req)
  if type(req) ~= "table" then misuse("request must be a table") end
  for k in pairs(req) do
    if k ~= "method" and k ~= "url" and k ~= "headers" and k ~= "body" and k ~= "timeout_ms" then
      misuse("unknown request field '" .. tostring(k) .. "'")
    end
  end
  local method = req.method or "GET"
  if not METHODS[method] then misuse("method must be one of GET, POST, PUT, PATCH, DELETE, HEAD") end
  local u = req.url
  if type(u) ~= "string" then misuse("url must be a string, got " .. type(u)) end
  if u:find("[%z\1-\32\127]") then misuse("url must not contain spaces or control characters") end
  local scheme, authority, target = u:match("^(%a+)://([^/?#]*)([^#]*)")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then misuse("url must start with http:// or https://") end
  if authority:find("@", 1, true) then misuse("url must not carry user info") end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([^:]+)(.*)$") end
  if not host then misuse("url has no host") end
  if port ~= "" then
    port = port:match("^:(%d+)$") and tonumber(port:sub(2))
    if not port or port < 1 or port > 65535 then misuse("url has a bad port") end
  else
    port = scheme == "https" and 443 or 80
  end
  if target == "" then target = "/" elseif target:sub(1, 1) == "?" then target = "/" .. target end
  local default_port = (scheme == "https" and 443 or 80)

  local body = req.body
  if body ~= nil and type(body) ~= "string" then misuse("body must be a string, got " .. type(body)) end
  if body ~= nil and (method == "GET" or method == "HEAD") then
    misuse("a GET or HEAD request cannot carry a body")
  end
  if body == nil and (method == "POST" or method == "PUT" or method == "PATCH") then body = "" end

  local lines = { method, " ", target, " HTTP/1.1\r\n" }
  local has_host = false
  if req.headers ~= nil then
    if type(req.headers) ~= "table" then misuse("headers must be a table") end
    for name, value in pairs(req.headers) do
      -- Values are never quoted back: they carry the API key.
      local problem = http_head.field_problem(name, value)
      if problem then misuse(problem) end
      local lower = name:lower()
      if RESERVED_HEADERS[lower] then misuse("header '" .. name .. "' is the transport's to set") end
      has_host = has_host or lower == "host"
      lines[#lines + 1] = name .. ": " .. value .. "\r\n"
    end
  end
  if not has_host then
    lines[#lines + 1] = "Host: " .. host .. (port == default_port and "" or (":" .. port)) .. "\r\n"
  end
  -- No header would mean "any coding" (RFC 9110), and this transport
  -- decodes none: a compressed body must never reach the JSON decoder.
  lines[#lines + 1] = "Accept-Encoding: identity\r\n"
  if body ~= nil then lines[#lines + 1] = "Content-Length: " .. #body .. "\r\n" end
  lines[#lines + 1] = "\r\n"

  local timeout_ms = req.timeout_ms
  if timeout_ms == nil then
    timeout_ms = self.timeout_ms
  elseif type(timeout_ms) ~= "number" or timeout_ms ~= math.floor(timeout_ms) or timeout_ms < 1
      or timeout_ms > MAX_OPTION then
    misuse("timeout_ms must be an integer from 1 to " .. MAX_OPTION)
  end
  local repeatable = REPEATABLE[method] == true
  return {
    method = method, scheme = scheme, host = host, port = port, target = target,
    sni = host:match("^%[(.*)%]$") or host, head = table.concat(lines), body = body,
    timeout_ms = timeout_ms, url = u, repeatable = repeatable,
    -- https and http, verified and not, never share a connection. A
    -- cosocket connect takes any idle connection of the pool it names, so
    -- a write names a pool of its own that never holds one (its connection
    -- is closed after the answer): it always gets a new connection, which
    -- nothing else has used and no server can have closed as idle.
    pool = string.format("flexiroam:%s:%s:%d%s%s", scheme, host, port, self.verify and "" or ":noverify",
      repeatable and "" or ":write"),
  }
end

-- safe_to_retry speaks of the raw request only (the pipeline replaces it
-- with the call's answer): nothing can have reached the server.
local function fail(r, kind, message, sent, socket_error)
  return errors.new(kind, message, {
    sent = sent, safe_to_retry = not sent, method = r.method, url = url.for_error(r.url),
    socket_error = socket_error,
  })
end

local function address(r)
  return r.host .. ":" .. r.port
end

-- Reads the answer through one buffer, by lines and by byte counts. Each
-- wait is bounded by what is left of the request's deadline, so no trickle
-- of bytes outlasts timeout_ms; once the final answer has begun
-- (start_window), also by the low-speed window, as the C session's
-- fx_session_on_progress: whenever low_speed_bytes more have arrived the
-- window starts again, and low_speed_ms without that ends the answer
-- ("stalled").
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline, low_speed_bytes, low_speed_ms, connect_ms)
  return setmetatable({
    sock = sock, deadline = deadline, low_speed_bytes = low_speed_bytes, low_speed_ms = low_speed_ms,
    connect_ms = connect_ms, buf = "", received = 0,
    window_start = nil, window_base = 0,
  }, Reader)
end

--- The final answer's status line has been read: the stall watch starts,
-- counting what came after that line.
function Reader:start_window()
  if self.low_speed_bytes > 0 and not self.window_start then
    self.window_start = now()
    self.window_base = self.received - #self.buf
  end
end

function Reader:fill(want)
  local t = now()
  local left = math.floor((self.deadline - t) * 1000)
  if left < 1 then return nil, "timeout" end
  local wait, stall_bound = left, false
  if self.window_start then
    local window_left = math.floor((self.window_start - t) * 1000) + self.low_speed_ms
    if window_left < 1 then return nil, "stalled" end
    if window_left < wait then wait, stall_bound = window_left, true end
  end
  self.sock:settimeouts(self.connect_ms, wait, wait)
  local data, err = self.sock:receiveany(math.max(want or READ_BLOCK, 1))
  if not data then
    if err == "timeout" and stall_bound then return nil, "stalled" end
    return nil, err
  end
  self.received = self.received + #data
  if self.window_start and self.received - self.window_base >= self.low_speed_bytes then
    self.window_start, self.window_base = now(), self.received
  end
  return data
end

-- The next line without its CR LF; `limit` bounds how long it may get.
function Reader:line(limit)
  while true do
    local nl = self.buf:find("\n", 1, true)
    if nl then
      local line = self.buf:sub(1, nl - 1)
      self.buf = self.buf:sub(nl + 1)
      if line:sub(-1) == "\r" then line = line:sub(1, -2) end
      return line
    end
    if #self.buf > limit then return nil, "too_large" end
    local data, err = self:fill()
    if not data then return nil, err end
    self.buf = self.buf .. data
  end
end

-- Exactly n more bytes, appended to the list `parts`.
function Reader:bytes(n, parts)
  if #self.buf >= n then
    parts[#parts + 1] = self.buf:sub(1, n)
    self.buf = self.buf:sub(n + 1)
    return true
  end
  if self.buf ~= "" then
    parts[#parts + 1] = self.buf
    n = n - #self.buf
    self.buf = ""
  end
  while n > 0 do
    local data, err = self:fill(math.min(n, READ_BLOCK))
    if not data then return nil, err end
    if #data > n then
      self.buf = data:sub(n + 1)
      data = data:sub(1, n)
    end
    parts[#parts + 1] = data
    n = n - #data
  end
  return true
end

-- Everything up to the server closing the connection.
function Reader:rest(parts, cap, size)
  if self.buf ~= "" then
    parts[#parts + 1] = self.buf
    size = size + #self.buf
    self.buf = ""
  end
  while true do
    if size > cap then return nil, "too_large" end
    local data, err = self:fill()
    if not data then
      if err == "closed" then return size end
      return nil, err
    end
    parts[#parts + 1] = data
    size = size + #data
  end
end

local has_token = http_head.has_token

-- Header lines up to the blank one, read as the C session reads them
-- (flexiroam.http_head): {lowercased name = value}. A line that is neither
-- a field nor a fold (no colon), or a fold with no field before it, makes
-- the answer invalid, as libcurl has it ("Header without colon"). `used`:
-- the bytes of the heads before it; returns the fields and the new total.
local function read_headers(reader, cap, used)
  local lines, size = {}, used or 0
  cap = math.min(cap, MAX_HEAD_BYTES)
  while true do
    local line, err = reader:line(math.min(cap - size, MAX_HEAD_LINE))
    if err == "too_large" then return nil, "head_too_large" end
    if not line then return nil, err end
    size = size + #line + 2
    if size > cap then return nil, "head_too_large" end
    if line == "" then return (http_head.fields(lines)), size end
    local fold = line:find("^[ \t]") ~= nil
    if fold and #lines == 0 then return nil, "bad fold" end
    if not fold and not line:find(":", 1, true) then return nil, "not http" end
    lines[#lines + 1] = line
  end
end

-- Content-Length as a number; repeated identical values ("5, 5", as two
-- headers joined) are one length, anything else is not HTTP (nil).
local function content_length(value)
  local n
  for item in value:gmatch("[^,]+") do
    local v = item:match("^%s*(%d+)%s*$")
    if not v or (n and n ~= v) then return nil end
    n = v
  end
  return tonumber(n)
end

-- The body of a chunked answer: chunk after chunk, then the trailer lines.
local function read_chunked(reader, parts, cap, head_size)
  local size = 0
  while true do
    local line, err = reader:line(1024)
    if not line then return nil, err end
    local n = tonumber(line:match("^%s*(%x+)%s*[;]?") or "", 16)
    if not n then return nil, "bad chunk" end
    if n == 0 then
      local trailer, terr = read_headers(reader, cap, head_size)
      if not trailer then return nil, terr end
      return size
    end
    if size + n > cap then return nil, "too_large" end
    local ok, berr = reader:bytes(n, parts)
    if not ok then return nil, berr end
    size = size + n
    local crlf, cerr = reader:line(2)
    if not crlf then return nil, cerr end
    if crlf ~= "" then return nil, "bad chunk" end
  end
end

-- The error for a failure while the answer was being read.
local function read_error(self, r, err, reader)
  if err == "too_large" then
    return fail(r, "too_large", string.format("response larger than max_response_bytes (%d bytes)",
      self.max_response_bytes), true)
  end
  if err == "head_too_large" then
    return fail(r, "too_large", string.format("response headers larger than %d bytes, or a line of them over %d",
      MAX_HEAD_BYTES, MAX_HEAD_LINE), true)
  end
  if err == "timeout" then
    return fail(r, "timeout", string.format("no complete answer from %s within %d ms", address(r), r.timeout_ms),
      true, err)
  end
  if err == "stalled" then
    return fail(r, "timeout", string.format("response stalled: fewer than %d bytes arrived in %d ms " ..
      "(low_speed_bytes, low_speed_ms)", self.low_speed_bytes, self.low_speed_ms), true, err)
  end
  if err == "bad fold" then -- worded as the C session words it
    return fail(r, "network", "invalid answer: a header line starts with whitespace (an obsolete fold) with no " ..
      "header before it", true, err)
  end
  if err == "bad chunk" or err == "not http" then
    return fail(r, "network", "the answer from " .. address(r) .. " is not valid HTTP/1.1", true, err)
  end
  if reader.received == 0 then
    return fail(r, "network", "the server at " .. address(r) .. " closed the connection without answering ("
      .. tostring(err) .. ")", true, err)
  end
  return fail(r, "network", "the connection to " .. address(r) .. " broke in the middle of the answer ("
    .. tostring(err) .. ")", true, err)
end

local function tls_message(r, err)
  local message = "TLS handshake with " .. address(r) .. " failed: " .. tostring(err)
  -- "20: unable to get local issuer certificate", "certificate host mismatch", ...
  if tostring(err):find("^%d+: ") or tostring(err):find("certificate", 1, true) then
    message = message .. " (nginx checks the certificate against lua_ssl_trusted_certificate: is it set?)"
  end
  return message
end

-- One exchange on one connection. -> response | nil, err, stale (the
-- pooled connection was dead before answering: worth one more go).
function Transport:_exchange(r, started, deadline)
  local left = math.floor((deadline - now()) * 1000)
  if left < 1 then
    return nil, fail(r, "timeout", string.format("no answer from %s within %d ms", address(r), r.timeout_ms), false)
  end
  local connect_ms = math.min(self.connect_timeout_ms, left)
  local sock = ngx.socket.tcp()
  sock:settimeouts(connect_ms, left, left)
  -- A write's pool is never given a size: it holds no connection.
  local ok, err = sock:connect(r.host, r.port, { pool = r.pool, pool_size = r.repeatable and self.pool_size or nil })
  if not ok then
    if err == "timeout" then
      return nil, fail(r, "timeout", string.format("connect to %s timed out after %d ms", address(r), connect_ms),
        false, err)
    end
    return nil, fail(r, "network", "connect to " .. address(r) .. " failed: " .. tostring(err), false, err)
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  local t_connect = now()
  if r.scheme == "https" and not reused then
    -- nil, not false, for the session: with false, lua-resty-core 0.1.25
    -- (ngx_lua 0.10.23) answers true for a certificate that FAILED
    -- verification whenever the handshake completes in one go, as it skips
    -- the result check; asked for a session it checks, and on that path
    -- raises an assertion instead, which is a failure here too.
    local done
    done, ok, err = pcall(sock.sslhandshake, sock, nil, r.sni, self.verify)
    if not done then ok, err = nil, "certificate verification failed" end
    if not ok then
      sock:close()
      if err == "timeout" then
        return nil, fail(r, "timeout", "TLS handshake with " .. address(r) .. " timed out", false, err)
      end
      return nil, fail(r, "tls", tls_message(r, err), false, err)
    end
  end
  local t_tls = now()

  local bytes
  bytes, err = sock:send(r.body and { r.head, r.body } or r.head)
  if not bytes then
    sock:close()
    if err == "timeout" then
      return nil, fail(r, "timeout", "sending to " .. address(r) .. " timed out", true, err)
    end
    return nil, fail(r, "network", "sending to " .. address(r) .. " failed: " .. tostring(err), true, err), reused
  end

  local reader = new_reader(sock, deadline, self.low_speed_bytes, self.low_speed_ms, connect_ms)
  local cap = self.max_response_bytes
  local status, version, headers, line, t_first
  -- Every head's bytes count against one limit, the 1xx answers' and the
  -- trailer's too, as libcurl counts them: endless interim answers are a
  -- head too large, not a way around it.
  local head_size = 0
  repeat
    line, err = reader:line(math.min(cap, MAX_HEAD_LINE))
    if err == "too_large" then err = "head_too_large" end
    if not line then
      sock:close()
      return nil, read_error(self, r, err, reader), reused and reader.received == 0 and err ~= "timeout"
    end
    t_first = t_first or now()
    local major, minor, code = line:match("^HTTP/(%d)%.(%d) (%d%d%d)")
    if not major then
      sock:close()
      return nil, read_error(self, r, "not http", reader)
    end
    version, status = major .. "." .. minor, tonumber(code)
    if status >= 200 or status == 101 then reader:start_window() end
    local size_or_err
    headers, size_or_err = read_headers(reader, cap, head_size + #line + 2)
    if not headers then
      sock:close()
      return nil, read_error(self, r, size_or_err, reader)
    end
    head_size = size_or_err
    -- 1xx answers (103 Early Hints, a stray 100) come before the real one.
  until status >= 200 or status == 101

  local parts, keep = {}, version == "1.1" and not has_token(headers.connection, "close")
  local length = headers["content-length"]
  local no_body = r.method == "HEAD" or status == 204 or status == 304 or status < 200
  local coding = not no_body and length ~= "0" and http_head.content_coding(headers)
  if coding then
    -- Asked for identity: compressed bytes must not reach the decoder, and
    -- reading them (a bomb, an endless stream) would only waste time.
    sock:close()
    return nil, fail(r, "network", string.format("the answer from %s is in content-coding '%s', which was not " ..
      "asked for (this transport sends Accept-Encoding: identity)", address(r), coding:sub(1, 40)), true)
  end
  if no_body then -- luacheck: ignore 542
    -- no body, whatever the headers say
  elseif has_token(headers["transfer-encoding"], "chunked") then
    local _, cerr = read_chunked(reader, parts, cap, head_size)
    if cerr then
      sock:close()
      return nil, read_error(self, r, cerr, reader)
    end
  elseif length then
    local n = content_length(length)
    if not n then
      sock:close()
      return nil, read_error(self, r, "not http", reader)
    end
    if n > cap then
      sock:close()
      return nil, read_error(self, r, "too_large", reader)
    end
    local done, berr = reader:bytes(n, parts)
    if not done then
      sock:close()
      return nil, read_error(self, r, berr, reader)
    end
  else
    keep = false
    local _, rerr = reader:rest(parts, cap, 0)
    if rerr then
      sock:close()
      return nil, read_error(self, r, rerr, reader)
    end
  end

  -- A write's connection is never pooled (see prepare).
  if keep and reader.buf == "" and r.repeatable then
    sock:setkeepalive(self.keepalive_timeout_ms, self.pool_size)
  else
    sock:close()
  end
  local t_end = now()
  return {
    status = status, headers = headers, body = table.concat(parts), http_version = version, reused = reused,
    url = r.url,
    timings = {
      connect = t_connect - started, tls = t_tls - started, first_byte = t_first - started, total = t_end - started,
    },
  }
end

-- Raises, at the caller's line, where cosockets cannot be used.
local function check_phase()
  if not M.in_nginx() then
    raise("flexiroam.transport.ngx: not running inside nginx (no ngx.socket.tcp); use the curl transport")
  end
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then
    raise("flexiroam: cannot send a request in nginx's '%s' phase: cosockets are not available " ..
      "there and a blocking call would stall the worker; send from rewrite_by_lua*, access_by_lua*, " ..
      "content_by_lua* or an ngx.timer.at callback", phase)
  end
end

--- transport:request{method=, url=, headers=, body=, timeout_ms=} -> response | nil, err
-- Raises in a phase without cosockets (init_by_lua, init_worker_by_lua,
-- set/log/header_filter/body_filter/balancer_by_lua): there nothing can
-- be sent without blocking the worker.
function Transport:request(req)
  check_phase()
  return self:_send(prepare(self, req))
end

--- For flexiroam.transport.ngx_multi: checks a request as request() does
-- (raising on misuse, at the caller's line) and returns it prepared.
function Transport:_prepare(req)
  check_phase()
  return prepare(self, req)
end

-- A prepared request, sent: its answer or nil, err. Only a GET or HEAD
-- is sent again, when the pooled connection it went on was found dead
-- before any answer; a write's connection is always new (never stale),
-- and whatever befalls it is the caller's to settle.
function Transport:_send(r)
  local started = now()
  local deadline = started + r.timeout_ms / 1000
  local res, err, stale
  for _ = 0, MAX_STALE_RETRIES do
    res, err, stale = self:_exchange(r, started, deadline)
    if res or not stale or not r.repeatable then break end
  end
  return res, err
end

--- transport:multi{max_connections =} -> many requests in flight at once
-- (flexiroam.batch uses it), each on a light thread of its own.
function Transport:multi(opts)
  return require("flexiroam.transport.ngx_multi").new(self, opts)
end

--- Connections belong to nginx's per-worker pools: nothing to release.
function Transport.close() end

function Transport:__tostring()
  return "flexiroam.transport.ngx: " .. tostring(self.timeout_ms) .. " ms"
end

return M
