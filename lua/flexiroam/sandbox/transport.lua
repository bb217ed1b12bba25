--- An in-process transport to the sandbox: the SDK talks to a sandbox
-- handler directly, with no sockets, for specs and examples.
--   local transport = require("flexiroam.sandbox.transport").new { sims = 20, seed = 7 }
--   local client = flexiroam.new { api_key = "sandbox-key", base_url = "http://sandbox.local",
--                                   transport = transport }
--   transport.handler  -- the handler, to read its state or stats
--
-- new(opts): opts are the handler's (sims, seed, keys, ...), or
-- opts.handler, an existing handler to share (any object with
-- :handle(req) and :connection_opened()); opts.remote_addr is the caller's
-- address the handler sees ("127.0.0.1"); opts.sleep(ms), when given, is
-- called for the time an answer takes (res.latency_ms, a fault's delay_ms,
-- a drip); without it nothing waits. The transport's own options, as the
-- other transports': timeout_ms (60000), low_speed_bytes (1), low_speed_ms
-- (30000), max_response_bytes (32 MiB).
--
-- :request{method=, url=, headers=, body=, timeout_ms=} keeps the transport
-- contract (docs/transport.md) where it applies to a transport without a
-- connection: {status=, headers= (lowercase names), body=, http_version=,
-- reused=, timings=, url=}, or nil and an error (kind "network", "timeout"
-- or "too_large"; sent = true, as the handler has run; safe_to_retry =
-- false; url without user info, query or fragment):
--   * a fault that drops or cuts the answer (res.fault, set by the
--     handler's fault injection) is a network error;
--   * an answer that takes longer than timeout_ms (latency, delay, drip) is
--     a timeout, and so is a drip slower than low_speed_bytes per
--     low_speed_ms once the answer has begun;
--   * a body over max_response_bytes is too_large;
--   * it asks for Accept-Encoding: identity, so an answer in another
--     content-coding is refused (network).
-- Misuse (a request that is not a table, a bad field, an unknown one)
-- raises.
-- @module flexiroam.sandbox.transport
local errors = require("flexiroam.errors")
local url_tools = require("flexiroam.url")
local http_head = require("flexiroam.http_head")
local raise = require("flexiroam.misuse").raise

local transport = {}

local Transport = {}
Transport.__index = Transport

local MAX_OPTION = 0x7fffffff
local DEFAULTS = {
  timeout_ms = 60000, low_speed_bytes = 1, low_speed_ms = 30000, max_response_bytes = 32 * 1024 * 1024,
}
local MINIMUM = { timeout_ms = 1, low_speed_bytes = 0, low_speed_ms = 1, max_response_bytes = 1 }
local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
local REQUEST_FIELDS = { method = true, url = true, headers = true, body = true, timeout_ms = true }
local RESERVED_HEADERS = {
  ["content-length"] = true, ["transfer-encoding"] = true, connection = true, ["accept-encoding"] = true,
}

local function misuse(message)
  raise("%s%s", "sandbox transport: ", message)
end

local function integer(value, name, min)
  if type(value) ~= "number" or value ~= math.floor(value) or value < min or value > MAX_OPTION then
    misuse(string.format("%s must be an integer from %d to %d", name, min, MAX_OPTION))
  end
  return value
end

--- An in-process transport to a sandbox handler, for flexiroam.new{transport = ...}.
-- @tparam[opt] table opts the handler's options (sims, seed, keys, ...) or handler; remote_addr, sleep,
-- timeout_ms, low_speed_bytes, low_speed_ms, max_response_bytes
-- @return the transport: :request{method =, url =, headers =, body =, timeout_ms =}; .handler
function transport.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then misuse("options must be a table") end
  local self = {
    -- The real handler only when none is given: a fake one needs no Lua 5.4.
    handler = opts.handler or require("flexiroam.sandbox.handler").new(opts),
    remote_addr = opts.remote_addr or "127.0.0.1",
    sleep = opts.sleep,
    requests = 0,
    closed = false,
  }
  for name, default in pairs(DEFAULTS) do
    self[name] = opts[name] == nil and default or integer(opts[name], name, MINIMUM[name])
  end
  return setmetatable(self, Transport)
end

-- "scheme://authority/path?query#fragment" -> path, query
local function split_url(url)
  local rest = url:match("^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*(.*)$")
  if not rest then return nil end
  rest = rest:gsub("#.*$", "")
  local path, query = rest:match("^([^?]*)%??(.*)$")
  if path == "" then path = "/" end
  return path, query
end

-- The request's fields, checked as the other transports check them.
local function check(req)
  if type(req) ~= "table" then misuse("request must be a table") end
  for k in pairs(req) do
    if not REQUEST_FIELDS[k] then misuse("unknown request field '" .. tostring(k) .. "'") end
  end
  local method = req.method or "GET"
  if not METHODS[method] then misuse("method must be one of GET, POST, PUT, PATCH, DELETE, HEAD") end
  if type(req.url) ~= "string" then misuse("url must be a string, got " .. type(req.url)) end
  local path, query = split_url(req.url)
  if not path then misuse("url must be absolute, starting with http:// or https://") end
  if req.body ~= nil and type(req.body) ~= "string" then misuse("body must be a string") end
  if req.body ~= nil and (method == "GET" or method == "HEAD") then
    misuse("a GET or HEAD request cannot carry a body")
  end
  if req.headers ~= nil and type(req.headers) ~= "table" then misuse("headers must be a table") end
  local headers = {}
  for name, value in pairs(req.headers or {}) do
    -- Values are never quoted back: they carry the API key.
    local problem = http_head.field_problem(name, value)
    if problem then misuse(problem) end
    local lower = name:lower()
    if RESERVED_HEADERS[lower] then misuse("header '" .. name .. "' is the transport's to set") end
    headers[lower] = headers[lower] and (headers[lower] .. ", " .. value) or value
  end
  -- What the wire would carry: this transport decodes no content-coding.
  headers["accept-encoding"] = "identity"
  if req.timeout_ms ~= nil then integer(req.timeout_ms, "timeout_ms", 1, 3) end
  return method, path, query, headers
end

local function fail(req, method, kind, message, extra)
  local fields = { sent = true, safe_to_retry = false, method = method, url = url_tools.for_error(req.url) }
  for k, v in pairs(extra or {}) do fields[k] = v end
  return errors.new(kind, message, fields)
end

-- When the answer ends, in ms from the request, and how: "done",
-- "timeout" (timeout_ms passed first) or "stalled" (the low-speed rule of
-- docs/transport.md: once the answer has begun, fewer than low_speed_bytes
-- within low_speed_ms). The answer begins after `wait` ms with its head
-- and first piece; a drip sends the rest `step` bytes every `pause` ms, as
-- the sandbox server does.
local function timeline(self, timeout_ms, wait, head_bytes, body, drip)
  if wait >= timeout_ms then return "timeout", timeout_ms end
  local step = drip and drip.bytes or math.max(#body, 1)
  local pause = drip and drip.ms or 0
  local at = wait
  local received = head_bytes + math.min(step, #body)
  local window_start, window_base = wait, 0
  local low = self.low_speed_bytes
  if low > 0 and received >= low then window_start, window_base = at, received end
  for i = step + 1, #body, step do
    local next_at = at + pause
    if low > 0 and next_at - window_start >= self.low_speed_ms and window_start + self.low_speed_ms < timeout_ms then
      return "stalled", window_start + self.low_speed_ms
    end
    if next_at >= timeout_ms then return "timeout", timeout_ms end
    at = next_at
    received = received + math.min(step, #body - i + 1)
    if low > 0 and received - window_base >= low then window_start, window_base = at, received end
  end
  return "done", at
end

-- Waits `ms` with opts.sleep, in the pieces the answer's delivery takes
-- (latency, the fault's delay, the drip), none past `until_ms` in all.
local function wait_for(self, pieces, until_ms)
  if not self.sleep then return end
  local spent = 0
  for _, ms in ipairs(pieces) do
    local n = math.min(ms, until_ms - spent)
    if n > 0 then
      self.sleep(n)
      spent = spent + n
    end
  end
end

local ZERO_TIMINGS = { dns = 0, connect = 0, tls = 0, first_byte = 0, total = 0 }

function Transport:request(req)
  local method, path, query, headers = check(req)
  if self.closed then misuse("used after close") end
  local timeout_ms = req.timeout_ms or self.timeout_ms

  local h = self.handler
  self.requests = self.requests + 1
  -- one kept-alive connection, opened by the first request
  if self.requests == 1 then h:connection_opened() end
  local res = h:handle {
    method = method, path = path, query = query, headers = headers, body = req.body or "",
    remote_addr = self.remote_addr,
  }

  local fault = type(res.fault) == "table" and res.fault or {}
  local body = res.body or ""
  local out = {}
  for k, v in pairs(res.headers or {}) do
    local name = tostring(k):lower()
    out[name] = out[name] and (out[name] .. ", " .. tostring(v)) or tostring(v)
  end
  out["content-length"] = tostring(#body)
  local head_bytes = 0
  for k, v in pairs(out) do head_bytes = head_bytes + #k + #v + 4 end

  local latency, delay = res.latency_ms or 0, fault.delay_ms or 0
  local how, at = timeline(self, timeout_ms, latency + delay, head_bytes, body,
    fault.action == "drip" and fault or nil)
  wait_for(self, { latency, delay, at - latency - delay }, at)
  if how == "timeout" then
    return nil, fail(req, method, "timeout", string.format("no complete answer from the sandbox within %d ms",
      timeout_ms), { curl_code = 28, curl_error = "OPERATION_TIMEDOUT" })
  elseif how == "stalled" then
    return nil, fail(req, method, "timeout", string.format("response stalled: fewer than %d bytes arrived in %d ms " ..
      "(low_speed_bytes, low_speed_ms)", self.low_speed_bytes, self.low_speed_ms),
      { curl_code = 42, curl_error = "ABORTED_BY_CALLBACK" })
  end
  if fault.action == "reset" then
    return nil, fail(req, method, "network", "the sandbox closed the connection without answering (fault)",
      { curl_code = 52, curl_error = "GOT_NOTHING" })
  elseif fault.action == "truncate" then
    return nil, fail(req, method, "network", "the sandbox cut the answer short (fault)",
      { curl_code = 18, curl_error = "PARTIAL_FILE" })
  end
  local coding = #body > 0 and http_head.content_coding(out)
  if coding then
    return nil, fail(req, method, "network", string.format("the answer is in content-coding '%s', which was not " ..
      "asked for (this transport sends Accept-Encoding: identity)", coding:sub(1, 40)))
  end
  if #body > self.max_response_bytes then
    return nil, fail(req, method, "too_large", string.format("response larger than max_response_bytes (%d bytes)",
      self.max_response_bytes), { curl_code = 63, curl_error = "FILESIZE_EXCEEDED" })
  end

  local timings = {}
  for k, v in pairs(ZERO_TIMINGS) do timings[k] = v end
  return {
    status = res.status, headers = out, body = body, http_version = "1.1",
    reused = self.requests > 1, timings = timings, url = req.url,
  }
end

function Transport:close()
  self.closed = true
end

function Transport:__tostring()
  return "flexiroam.sandbox.transport: " .. self.requests .. " requests"
end

return transport
