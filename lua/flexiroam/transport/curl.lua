--- flexiroam.transport.curl: the libcurl transport (the C core's
-- core.session and core.multi) in the shape every transport has
-- (docs/transport.md):
--
--   local t = require("flexiroam.transport.curl").new { timeout_ms = 5000 }
--   t:request { method =, url =, headers =, body =, timeout_ms = }  -> res | nil, err
--   local m = t:multi { max_connections = 16 }  -- a core.multi, same options
--   t:close()
--
-- The options are checked by core.session when the transport is made, so a
-- misspelt one raises there. A raise of the C core (misuse: a bad option, a
-- bad request) is raised again at the caller's line, as every misuse of the
-- SDK is (flexiroam.misuse), not at this file's.
-- @module flexiroam.transport.curl
local core = require("flexiroam.core")
local misuse = require("flexiroam.misuse")
local options_of = require("flexiroam.options")

local M = {}

local Curl = {}
Curl.__index = Curl

-- It takes `decode` (json.decode options) in a request and answers a 2xx
-- body that decodes as `data` (docs/transport.md).
Curl.decodes = true

-- The C core positions its raises at the Lua line that called it: this
-- file. The message without that position, raised from the caller's line.
local function reraise(message)
  message = tostring(message)
  local chunk, rest = message:match("^(.-):%d+: (.*)$")
  if chunk and misuse.is_ours("@" .. chunk) then message = rest end
  misuse.raise(message)
end

--- A transport on the C core's libcurl session, for flexiroam.new{transport = ...}.
-- @tparam[opt] table options core.session's: connect_timeout_ms, timeout_ms, low_speed_bytes, low_speed_ms,
-- max_response_bytes, verify, ca_file, ca_path, proxy
-- @return the transport: :request{method =, url =, headers =, body =, timeout_ms =}, :multi, :close
function M.new(options)
  if options ~= nil and type(options) ~= "table" then
    misuse.raise("flexiroam.transport.curl: options must be a table")
  end
  local ok, session = pcall(core.session, options)
  if not ok then reraise(session) end
  return setmetatable({ session = session, options = options_of.copy(options) }, Curl)
end

-- A method call from Lua, not a tail call, so that a raise still names
-- "bad argument #1 to 'request'" (a C function reached otherwise has no name).
local function send(session, req)
  local res, err = session:request(req)
  return res, err
end

--- t:request{method=, url=, headers=, body=, timeout_ms=} -> res | nil, err
function Curl:request(req)
  local ok, res, err = pcall(send, self.session, req)
  if not ok then reraise(res) end
  return res, err
end

--- t:multi{max_connections=} -> a core.multi with the transport's own
-- options: many requests at once on libcurl's multi interface.
function Curl:multi(opts)
  if opts ~= nil and type(opts) ~= "table" then
    misuse.raise("flexiroam.transport.curl: multi options must be a table")
  end
  local merged = options_of.merge(self.options, { max_connections = opts and opts.max_connections })
  local ok, m = pcall(core.multi, merged)
  if not ok then reraise(m) end
  return m
end

--- Releases the session's connections at once; idempotent.
function Curl:close()
  self.session:close()
end

-- "flexiroam.session: 0x... (open)": the session's own.
function Curl:__tostring()
  return tostring(self.session)
end

return M
