--- An in-process transport to the sandbox: the SDK talks to a sandbox
-- handler directly, with no sockets, for specs and examples.
--   local transport = require("flexiroam.sandbox.transport").new { sims = 20, seed = 7 }
--   local client = flexiroam.new { api_key = "sandbox-key", base_url = "http://sandbox.local",
--                                   transport = transport }
--   transport.handler  -- the handler, to read its state or stats
--
-- new(opts): opts are the handler's (sims, seed, keys, ...), or
-- opts.handler, an existing handler to share; opts.remote_addr is the
-- caller's address the handler sees ("127.0.0.1"); opts.sleep(ms), when
-- given, is called for the latency an answer asks for (res.latency_ms, a
-- fault's delay_ms); without it nothing waits.
--
-- :request{method=, url=, headers=, body=, timeout_ms=} answers as the C
-- session does: {status=, headers= (lowercase names), body=, http_version=,
-- reused=, timings=, url=}, or nil and a network error when a fault drops
-- or cuts the answer (res.fault, set by the handler's fault injection).
local errors = require "flexiroam.errors"
local handler = require "flexiroam.sandbox.handler"

local transport = {}

local Transport = {}
Transport.__index = Transport

function transport.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("sandbox transport: options must be a table", 2) end
  return setmetatable({
    handler = opts.handler or handler.new(opts),
    remote_addr = opts.remote_addr or "127.0.0.1",
    sleep = opts.sleep,
    requests = 0,
    closed = false,
  }, Transport)
end

-- "scheme://authority/path?query#fragment" -> path, query
local function split_url(url)
  local rest = url:match("^%a[%w+.-]*://[^/?#]*(.*)$")
  if not rest then return nil end
  rest = rest:gsub("#.*$", "")
  local path, query = rest:match("^([^?]*)%??(.*)$")
  if path == "" then path = "/" end
  return path, query
end

local function network_error(req, message, curl_code, curl_error)
  return errors.new("network", message, {
    curl_code = curl_code, curl_error = curl_error, sent = true, method = req.method, url = req.url,
  })
end

local ZERO_TIMINGS = { dns = 0, connect = 0, tls = 0, first_byte = 0, total = 0 }

function Transport:request(req)
  if type(req) ~= "table" then error("sandbox transport: request must be a table", 2) end
  local method, url = req.method or "GET", req.url
  if type(method) ~= "string" then error("sandbox transport: method must be a string", 2) end
  if type(url) ~= "string" then error("sandbox transport: url must be a string", 2) end
  if req.body ~= nil and type(req.body) ~= "string" then error("sandbox transport: body must be a string", 2) end
  if self.closed then error("sandbox transport: used after close", 2) end
  local path, query = split_url(url)
  if not path then error("sandbox transport: url must be absolute: " .. url, 2) end

  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[tostring(k):lower()] = tostring(v) end
  local h = self.handler
  self.requests = self.requests + 1
  -- one kept-alive connection, opened by the first request
  if self.requests == 1 then h:connection_opened() end
  local res = h:handle {
    method = method, path = path, query = query, headers = headers, body = req.body or "",
    remote_addr = self.remote_addr,
  }

  if res.latency_ms and self.sleep then self.sleep(res.latency_ms) end
  local fault = res.fault
  if type(fault) == "table" then
    if fault.delay_ms and self.sleep then self.sleep(fault.delay_ms) end
    if fault.action == "reset" then
      return nil, network_error(req, "the sandbox closed the connection without answering (fault)", 52,
        "CURLE_GOT_NOTHING")
    elseif fault.action == "truncate" then
      return nil, network_error(req, "the sandbox cut the answer short (fault)", 18, "CURLE_PARTIAL_FILE")
    end
  end

  local out = {}
  for k, v in pairs(res.headers or {}) do out[k:lower()] = v end
  out["content-length"] = tostring(#(res.body or ""))
  local timings = {}
  for k, v in pairs(ZERO_TIMINGS) do timings[k] = v end
  return {
    status = res.status, headers = out, body = res.body or "", http_version = "1.1",
    reused = self.requests > 1, timings = timings, url = url,
  }
end

function Transport:close()
  self.closed = true
end

return transport
