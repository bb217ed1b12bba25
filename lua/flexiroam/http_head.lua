--- HTTP/1.1 header lines -> {lowercased name = value}: the Lua twin of the
-- C session's fx_session_push_headers (src/session_response.c), so that the
-- cosocket transport and the sandbox read a head exactly as the libcurl
-- transport does (spec/transport_contract_spec.lua holds them to it).
--
--   local headers, dropped, folded = http_head.fields(lines [, first [, last]])
--
-- lines[first..last] are the header lines without their line ends (a
-- trailing CR left on one is ignored). Rules, RFC 9110/9112:
--   * names are lowercased; values lose the whitespace around them;
--   * a repeated name is joined with ", "; an empty value adds nothing to a
--     value already there, and an empty one is replaced by the next;
--   * a line starting with whitespace is an obsolete fold: it continues the
--     header before it, joined with " ";
--   * a line whose name is not a token (this includes a name followed by
--     whitespace, which RFC 9112 has a recipient reject), that has no
--     colon, or whose value holds a CR or NUL, is dropped, and ends the
--     header before it: a folded line after a dropped one is dropped too,
--     never appended to an earlier header; a fold holding a CR or NUL is
--     dropped and ends its header the same way.
-- `dropped` counts the lines dropped, `folded` the folds: a server reading
-- a request (the sandbox) answers 400 when either is not 0.
--
-- Also the small rules the Lua transports share: is_token, field_problem
-- (what is wrong with a caller's request header), content_coding (a coding
-- other than identity) and has_token (a token in a comma-separated list).
local http_head = {}

-- RFC 9110 tchar, ASCII only (%w would follow the C locale).
local TOKEN_CHARS = "^[a-zA-Z0-9!#$%%&'*+%-.^_`|~]+$"

-- A CR or a NUL: never part of a field value.
local function has_bad_byte(s)
  return s:find("[\r%z]") ~= nil
end

local function trim(s)
  return (s:match("^[ \t]*(.-)[ \t]*$"))
end

-- t[name] joined with value by sep, under the empty-value rules above.
local function merge(t, name, value, sep)
  local old = t[name]
  if old == nil or old == "" then
    t[name] = value
  elseif value ~= "" then
    t[name] = old .. sep .. value
  end
end

--- Whether s is an RFC 9110 token (a valid field name or method).
function http_head.is_token(s)
  return type(s) == "string" and s:find(TOKEN_CHARS) ~= nil
end

function http_head.fields(lines, first, last)
  local headers, dropped, folded = {}, 0, 0
  local current -- the header a fold continues; nil after a dropped line
  for i = first or 1, last or #lines do
    local line = lines[i]:gsub("\r+$", "")
    if line:find("^[ \t]") then
      folded = folded + 1
      local more = trim(line)
      if current and has_bad_byte(more) then
        current = nil
        dropped = dropped + 1
      elseif current then
        merge(headers, current, more, " ")
      else
        dropped = dropped + 1
      end
    else
      local name, value = line:match("^([^:]*):(.*)$")
      if not name or not name:find(TOKEN_CHARS) or has_bad_byte(value) then
        current = nil
        dropped = dropped + 1
      else
        current = name:lower()
        merge(headers, current, trim(value), ", ")
      end
    end
  end
  return headers, dropped, folded
end

--- What is wrong with a request header a caller gives, or nil: a name that
-- is not a token, a value with CR, LF or another control character. The
-- message never quotes the value (it may be the API key).
function http_head.field_problem(name, value)
  if type(name) ~= "string" or type(value) ~= "string" then return "headers must map string names to string values" end
  if not http_head.is_token(name) then return "header name is not a valid HTTP token" end
  if value:find("[%z\1-\8\10-\31\127]") then
    return "header '" .. name .. "' value contains CR, LF or another control character"
  end
  return nil
end

--- The content-coding of an answer's headers ({lowercased name = value})
-- unless it is identity or none: what a transport that asked for
-- Accept-Encoding: identity must refuse.
function http_head.content_coding(headers)
  local value = headers["content-encoding"]
  if not value then return nil end
  for item in value:gmatch("[^,]+") do
    local coding = trim(item):lower()
    if coding ~= "" and coding ~= "identity" then return value end
  end
  return nil
end

--- Whether a comma-separated header value lists `token` (case-insensitive).
function http_head.has_token(value, token)
  if not value then return false end
  for item in value:gmatch("[^,]+") do
    if trim(item):lower() == token then return true end
  end
  return false
end

return http_head
