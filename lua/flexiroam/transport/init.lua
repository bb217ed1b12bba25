--- flexiroam.transport: what a new client speaks through, and the multi a
-- batch drives. Every transport keeps one contract (docs/transport.md).
-- `transport` in flexiroam.new's options is one of
--   nil     "ngx" when running inside nginx (any phase), else "curl"
--   "curl"  the C core's libcurl session (flexiroam.transport.curl; blocks
--           the calling thread)
--   "ngx"   nginx cosockets (flexiroam.transport.ngx): yields to nginx
--   an object with a :request method, used as it is
local core = require("flexiroam.core")
local raise = require("flexiroam.misuse").raise
local curl_transport = require("flexiroam.transport.curl")
local ngx_transport = require("flexiroam.transport.ngx")

local transport = {}

local function curl_detail()
  return "libcurl/" .. (core.curl_version and core.curl_version() or "unknown")
end

--- select(choice, options) -> transport object, name ("curl", "ngx" or
-- "custom"), detail for the User-Agent ("libcurl/7.88.1"). `options` holds
-- the session options (timeouts, verify, max_response_bytes, ...). A bad
-- choice raises at the caller's line (flexiroam.misuse).
function transport.select(choice, options)
  if choice == nil then choice = ngx_transport.in_nginx() and "ngx" or "curl" end
  if choice == "curl" then return curl_transport.new(options), "curl", curl_detail() end
  if choice == "ngx" then
    if not ngx_transport.in_nginx() then
      raise("flexiroam.new: transport \"ngx\" needs nginx's Lua module (ngx.socket.tcp): " ..
        "outside nginx use \"curl\"")
    end
    return ngx_transport.new(options), "ngx", ngx_transport.version()
  end
  if (type(choice) == "table" or type(choice) == "userdata") and choice.request then
    return choice, "custom", curl_detail()
  end
  raise("flexiroam.new: transport must be \"curl\", \"ngx\" or an object with a request method")
end

-- The multi of a transport that has only :request: requests wait in a
-- queue and each perform sends the first of them, one at a time (the
-- transport blocks, so nothing could run beside it anyway).
local Serial = {}
Serial.__index = Serial

local function serial_misuse(message)
  raise("flexiroam.transport serial multi: " .. message)
end

--- m:add(req) -> id. Sends nothing yet; the transport checks the request
-- when perform sends it.
function Serial:add(req)
  if self.closed then serial_misuse("multi is closed") end
  if type(req) ~= "table" then serial_misuse("request must be a table") end
  self.last_id = self.last_id + 1
  self.queue[#self.queue + 1] = { id = self.last_id, req = req }
  return self.last_id
end

--- m:perform(wait_ms) -> { {id =, res =, err =} }: the first queued
-- request, sent and answered (however long that takes: the transport
-- blocks); {} when nothing is queued.
function Serial:perform(wait_ms)
  if self.closed then serial_misuse("multi is closed") end
  if type(wait_ms) ~= "number" or wait_ms < 0 then serial_misuse("wait_ms must be a number >= 0") end
  local entry = table.remove(self.queue, 1)
  if not entry then return {} end
  local res, err = self.transport:request(entry.req)
  return { { id = entry.id, res = res, err = err } }
end

--- m:pending() -> how many requests wait to be sent.
function Serial:pending()
  if self.closed then serial_misuse("multi is closed") end
  return #self.queue
end

--- Forgets the queue; idempotent.
function Serial:close()
  self.closed = true
  self.queue = {}
end

function Serial:__tostring()
  return "flexiroam.transport serial multi: " .. #self.queue .. " queued"
end

--- multi(t, {max_connections =}) -> m with add, perform, pending and close
-- (docs/transport.md): t:multi(opts) when the transport has one (libcurl's
-- multi, nginx's light threads), else the serial one above over
-- t:request, so a batch drives every transport the same way.
function transport.multi(t, opts)
  local kind = type(t)
  if (kind == "table" or kind == "userdata") and type(t.multi) == "function" then
    return t:multi(opts)
  end
  if (kind ~= "table" and kind ~= "userdata") or t.request == nil then
    raise("flexiroam.transport.multi: the transport must be an object with a request method")
  end
  if opts ~= nil and type(opts) ~= "table" then raise("flexiroam.transport.multi: options must be a table") end
  return setmetatable({ transport = t, queue = {}, last_id = 0, closed = false }, Serial)
end

return transport
