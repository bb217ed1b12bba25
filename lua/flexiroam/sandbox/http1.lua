--- HTTP/1.1 message syntax for the sandbox server, without sockets:
-- parsing a request head and writing a response head. Header lines are
-- read by flexiroam.http_head, as every transport of the SDK reads them;
-- where a client drops a malformed line, a server answers 400.
local http_head = require("flexiroam.http_head")

local http1 = {}

http1.REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Content Too Large", [414] = "URI Too Long", [422] = "Unprocessable Content",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
}

local has_token = http_head.has_token

--- parse_head(head, limits) -> req | nil, status, message.
-- `head` is the request line and header lines (CRLF or bare LF), without the
-- blank line that ends them. req = {method, target, path, query, minor,
-- headers (lowercased names; repeats joined with ", ", as flexiroam.http_head
-- joins them), keep_alive, content_length, expect_continue}. A malformed
-- field line (no colon, a name that is not a token or is followed by
-- whitespace, a CR or NUL in the value) or an obsolete fold is a 400.
-- limits: max_line (414 beyond), max_headers (431 beyond).
function http1.parse_head(head, limits)
  local lines, n = {}, 0
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    lines[n] = line
  end
  local request_line = lines[1] or ""
  if #request_line > limits.max_line then return nil, 414, "request line too long" end
  local method, target, major, minor = request_line:match("^(%S+) (%S+) HTTP/(%d)%.(%d)$")
  if not method or not http_head.is_token(method) then return nil, 400, "malformed request line" end
  if major ~= "1" then return nil, 505, "only HTTP/1.x is served" end
  minor = tonumber(minor)

  if n - 1 > limits.max_headers then return nil, 431, "too many header fields" end
  local headers, dropped, folded = http_head.fields(lines, 2, n)
  if dropped > 0 or folded > 0 then return nil, 400, "malformed header field" end
  for _, value in pairs(headers) do
    if value:find("[%z\1-\8\10-\31\127]") then return nil, 400, "control character in a header field" end
  end

  -- origin-form, or absolute-form (a proxy-style request line): keep the path
  local path_query = target:match("^https?://[^/?#]*(.*)$") or target
  if path_query == "" then path_query = "/" end
  if path_query:sub(1, 1) ~= "/" then return nil, 400, "malformed request target" end
  path_query = path_query:match("^[^#]*")
  local path, query = path_query:match("^([^?]*)%??(.*)$")

  if minor >= 1 and not headers.host then return nil, 400, "missing Host header" end
  if headers["transfer-encoding"] then return nil, 411, "send the body with Content-Length" end
  local length
  local cl = headers["content-length"]
  if cl then
    -- repeats must agree: "5, 5" is one length, "5, 6" is request smuggling
    for item in (cl .. ","):gmatch("([^,]*),") do
      local v = item:match("^%s*(%d+)%s*$")
      if not v or #v > 15 or (length and tonumber(v) ~= length) then
        return nil, 400, "malformed Content-Length"
      end
      length = tonumber(v)
    end
  end

  local conn = headers.connection or ""
  local keep_alive
  if minor >= 1 then keep_alive = not has_token(conn, "close") else keep_alive = has_token(conn, "keep-alive") end

  return {
    method = method, target = target, path = path, query = query, minor = minor,
    headers = headers, keep_alive = keep_alive, content_length = length or 0,
    expect_continue = headers.expect ~= nil and has_token(headers.expect, "100-continue"),
  }
end

local CANONICAL = { ["x-request-id"] = "X-Request-Id", ["content-type"] = "Content-Type" }

local function canonical(name)
  local c = CANONICAL[name]
  if not c then
    c = name:gsub("^%l", string.upper):gsub("%-%l", string.upper)
    CANONICAL[name] = c
  end
  return c
end

--- response_head(status, headers, body_length, keep_alive, minor) -> string
function http1.response_head(status, headers, body_length, keep_alive, minor)
  local out = { string.format("HTTP/1.%d %d %s\r\n", minor or 1, status, http1.REASONS[status] or "Unknown") }
  for name, value in pairs(headers) do
    local lname = name:lower()
    if lname ~= "content-length" and lname ~= "connection" then
      out[#out + 1] = canonical(lname) .. ": " .. tostring(value) .. "\r\n"
    end
  end
  out[#out + 1] = "Content-Length: " .. body_length .. "\r\n"
  if not keep_alive then
    out[#out + 1] = "Connection: close\r\n\r\n"
  elseif minor == 0 then
    out[#out + 1] = "Connection: keep-alive\r\n\r\n"
  else
    out[#out + 1] = "\r\n"
  end
  return table.concat(out)
end

return http1
