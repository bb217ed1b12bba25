--- URL pieces: percent-encoding and query strings in a fixed parameter order.
local compat = require("flexiroam.compat")
local raise = require("flexiroam.misuse").raise

local url = {}

local function encode_byte(c)
  return string.format("%%%02X", c:byte())
end

--- Percent-encodes everything but RFC 3986's unreserved characters.
function url.encode(value)
  return (value:gsub("[^%w%-%._~]", encode_byte))
end

-- The shortest text that reads back as the very same double: 0.1 goes out
-- as "0.1", not %.17g's "0.10000000000000001", and never as a neighbour
-- (%.15g alone would round some). "%g" writes the C locale's decimal point,
-- which a host may have set to ','; the query wants '.' whatever it is.
local FLOAT_FORMATS = { "%.15g", "%.16g", "%.17g" }

local function float_text(value)
  local text
  for i = 1, #FLOAT_FORMATS do
    text = (string.format(FLOAT_FORMATS[i], value):gsub(",", "."))
    if tonumber(text) == value then return text end
  end
  return text -- %.17g always reads back; this is never reached
end

-- Raises "<where>: parameter 'name' <why>"; the prefix only when where is
-- given (made here, not on every call).
local function bad_value(where, name, why, ...)
  raise("%sparameter '%s' " .. why, where and (where .. ": ") or "", name, ...)
end

local function to_query_value(name, value, where)
  local t = compat.math_type(value)
  -- "%d", not tostring: LuaJIT writes integral doubles past 1e14 as "1e+15".
  if t == "integer" then return string.format("%d", value) end
  if t == "float" then
    if value == math.floor(value) and value >= -2^53 and value <= 2^53 then
      return string.format("%d", value)
    end
    -- NaN and the infinities have no text the API reads as a number ("-nan", "inf"): a bug upstream.
    if value ~= value or value == math.huge or value == -math.huge then
      bad_value(where, name, "must be a finite number (got %s)", value ~= value and "NaN" or
        (value > 0 and "inf" or "-inf"))
    end
    return float_text(value)
  end
  if type(value) == "string" then return value end
  if type(value) == "boolean" then return value and "true" or "false" end
  bad_value(where, name, "must be a string, number or boolean (got %s)", type(value))
end

--- query(names, params [, where]): "a=1&b=2" with the parameters in the
-- order `names` lists them, skipping absent ones; "" when none is present.
-- A value that has no text (a table, NaN, an infinity) raises, its message
-- starting with where (the function the caller called) when given.
function url.query(names, params, where)
  local parts = {}
  for _, name in ipairs(names) do
    local value = params[name]
    if value ~= nil then
      parts[#parts + 1] = url.encode(name) .. "=" .. url.encode(to_query_value(name, value, where))
    end
  end
  return table.concat(parts, "&")
end

--- Why `path` cannot follow a base URL as it is, or nil. It must start
-- with "/" (else it runs on into the authority: "@evil.example/x" would
-- send the key to evil.example) and hold only "/", RFC 3986 unreserved
-- characters and well-formed percent-escapes (anything else escaped: no
-- space, control character, "?", "&" or "#"), and no "." or ".." segment,
-- plain or escaped (libcurl resolves them: "/v1/../../etc" goes out as "/etc").
function url.path_problem(path)
  if path:sub(1, 1) ~= "/" then return "must start with '/'" end
  if path:find("[^A-Za-z0-9%-%._~%%/]") then
    return "may hold only '/', letters, digits, '-._~' and percent-escapes (escape anything else)"
  end
  if path:gsub("%%%x%x", ""):find("%", 1, true) then return "holds a '%' that is not a percent-escape" end
  for segment in path:gmatch("[^/]+") do
    local plain = segment:gsub("%%2[Ee]", ".")
    if plain == "." or plain == ".." then return "must not hold a '.' or '..' segment" end
  end
  return nil
end

--- Splits "scheme://host[:port]/prefix" into scheme, host and the rest;
-- nil when it is not an http(s) URL, or carries user info.
function url.split(base)
  local scheme, authority, rest = base:match("^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  -- user info: the host would be what follows its '@', which this does not read
  if not scheme or authority:find("@", 1, true) then return nil end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return nil end
  local host = authority:match("^%[(.-)%]") or authority:match("^([^:]+)")
  return scheme, host and host:lower(), rest
end

-- A host as RFC 3986 writes it: a bracketed IP literal, or a reg-name
-- (letters, digits, "-._~", percent-escapes and sub-delims).
local function valid_host(host)
  if host:match("^%[[%x:.]+%]$") then return true end
  return host ~= "" and not host:find("[^%w%-%._~%%!$&'()*+,;=]")
end

--- for_error(u) -> "scheme://host[:port]/path": what an error may say of a
-- URL. Errors end up in logs, and user info, a query or a fragment may
-- carry credentials, so all three go. The authority ends at the first "/",
-- "?" or "#" (RFC 3986), so a password holding one of them leaves a host or
-- port that is not one: such a URL, or any other that does not parse, is
-- never echoed ("<unparseable url>"), as the C session does.
function url.for_error(u)
  if type(u) ~= "string" or u:find("[%z\1-\32\127]") then return "<unparseable url>" end
  local scheme, authority, path = u:match("^(%a[%w+.-]*)://([^/?#]*)([^?#]*)")
  if not scheme then return "<unparseable url>" end
  authority = authority:match("^.*@(.*)$") or authority
  local host, port = authority:match("^(%[.*%])(.*)$")
  if not host then host, port = authority:match("^([^:]*)(.*)$") end
  if not valid_host(host) or not (port == "" or port:match("^:%d+$")) then return "<unparseable url>" end
  if path == "" then path = "/" end
  return scheme:lower() .. "://" .. host .. port .. path
end

--- Whether a host name or literal address is this machine.
function url.is_loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

return url
