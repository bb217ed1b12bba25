--- flexiroam.transport: what a new client speaks through. `transport` in
-- flexiroam.new's options is one of
--   nil     "ngx" when running inside nginx (any phase), else "curl"
--   "curl"  the C core's libcurl session (blocks the calling thread)
--   "ngx"   nginx cosockets (flexiroam.transport.ngx): yields to nginx
--   an object with a :request method, used as it is
local core = require "flexiroam.core"
local ngx_transport = require "flexiroam.transport.ngx"

local transport = {}

local function curl_detail()
  return "libcurl/" .. (core.curl_version and core.curl_version() or "unknown")
end

--- select(choice, options, level) -> transport object, name ("curl", "ngx"
-- or "custom"), detail for the User-Agent ("libcurl/7.88.1"). `options`
-- holds the session options (timeouts, verify, max_response_bytes, ...).
function transport.select(choice, options, level)
  level = (level or 1) + 1
  if choice == nil then choice = ngx_transport.in_nginx() and "ngx" or "curl" end
  if choice == "curl" then return core.session(options), "curl", curl_detail() end
  if choice == "ngx" then
    if not ngx_transport.in_nginx() then
      error("flexiroam.new: transport \"ngx\" needs nginx's Lua module (ngx.socket.tcp): " ..
        "outside nginx use \"curl\"", level)
    end
    return ngx_transport.new(options), "ngx", ngx_transport.version()
  end
  if (type(choice) == "table" or type(choice) == "userdata") and choice.request then
    return choice, "custom", curl_detail()
  end
  error("flexiroam.new: transport must be \"curl\", \"ngx\" or an object with a request method", level)
end

--- The client's retry clock: inside nginx its waits between attempts
-- yield (ngx.sleep) instead of blocking the worker and every request on
-- it, whatever the transport. A sleep from the caller's clock seam wins.
function transport.clock(clock, seam)
  if ngx_transport.in_nginx() and not (type(seam) == "table" and seam.sleep ~= nil) then
    clock.sleep = ngx_transport.sleeper(clock.sleep)
  end
  return clock
end

return transport
