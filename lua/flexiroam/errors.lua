--- The SDK's one error type. Every operational failure, from the C core or
-- from Lua, is a table with this metatable: `kind`, `message` and whatever
-- else is known (`status`, `code`, `method`, `path`, `request_id`,
-- `retry_after`, `body_excerpt`, `fields`, `curl_code`, `sent`, ...).
local core = require "flexiroam.core"

local errors = {}

local mt = core.error_mt
errors.mt = mt

local KIND_BY_STATUS = {
  [400] = "http", [401] = "auth", [403] = "forbidden", [404] = "not_found",
  [409] = "conflict", [422] = "validation", [429] = "rate_limited",
}

--- errors.new(kind, message [, fields]) -> error object
function errors.new(kind, message, fields)
  local err = {}
  if fields then
    for k, v in pairs(fields) do err[k] = v end
  end
  err.kind = kind
  err.message = message
  return setmetatable(err, mt)
end

function errors.is_error(value)
  return getmetatable(value) == mt
end

--- The kind an HTTP error status maps to.
function errors.kind_for_status(status)
  return KIND_BY_STATUS[status] or (status >= 500 and "server") or "http"
end

-- Replaces every occurrence of `secret` in `text`: a body or a message from
-- a server (or a proxy in between) may echo what it was sent.
function errors.redact(text, secret)
  if type(text) ~= "string" or not secret or secret == "" then return text end
  local out, start = {}, 1
  while true do
    local i, j = text:find(secret, start, true)
    if not i then break end
    out[#out + 1] = text:sub(start, i - 1)
    out[#out + 1] = "[REDACTED]"
    start = j + 1
  end
  if start == 1 then return text end
  out[#out + 1] = text:sub(start)
  return table.concat(out)
end

local EXCERPT_BYTES = 200

--- A short, printable excerpt of an undecodable body, for diagnostics.
function errors.excerpt(body)
  if type(body) ~= "string" or body == "" then return nil end
  local s = body:sub(1, EXCERPT_BYTES):gsub("[%z\1-\8\11\12\14-\31\127-\255]", function(c)
    return string.format("\\x%02X", c:byte())
  end)
  if #body > EXCERPT_BYTES then s = s .. "..." end
  return s
end

return errors
