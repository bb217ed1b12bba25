--- The SDK's one error type. Every operational failure, from the C core or
-- from Lua, is a table with this metatable: `kind`, `message` and whatever
-- else is known (`status`, `code`, `fields`, `request_id`, `method`, `path`,
-- `attempts`, `retry_after`, `reference`, `safe_to_retry`, `body_excerpt`,
-- and from the transport `curl_code`, `curl_error`, `sent`).
-- tostring(err) is one line: kind, status, message, method and path.
-- @module flexiroam.errors
local core = require("flexiroam.core")

local errors = {}

local mt = core.error_mt
--- The metatable of every error object (getmetatable(err) == errors.mt).
errors.mt = mt

--- An error object: what a failed call answers after nil.
-- @table Error
-- @field kind one of KINDS' keys
-- @field message what happened and, where it helps, what to do
-- @field status the HTTP status, when an answer came
-- @field code the API's (or the SDK's) code for the failure ("sim_taken", "out_of_stock", ...)
-- @field fields a validation error's reasons per parameter ({iccid = "..."})
-- @field request_id the call's x-request-id
-- @field method the request's method
-- @field path the request's path
-- @field attempts how many attempts were made
-- @field retry_after seconds a 429 or 503 asked to wait
-- @field reference the reference of a purchase or subscription
-- @field retryable whether the same request, sent again, may succeed
-- @field safe_to_retry whether sending it again cannot cause a second effect
-- @field sent false when nothing can have reached the server
-- @field body_excerpt the start of an answer that could not be decoded
-- @field existing the record a reused reference names (reference_reused)
-- @field cause the error behind this one (indeterminate, store)

--- Every kind an error can have, and when (the README's table).
errors.KINDS = {
  network = "the connection failed (DNS, connect, reset, truncated answer)",
  timeout = "an attempt or the call's deadline ran out",
  tls = "the TLS handshake or the certificate check failed",
  too_large = "the answer passed max_response_bytes",
  http = "another 4xx (400, 408, 425, ...)",
  auth = "401: missing, unknown or revoked key",
  forbidden = "403: the key is limited to other IPs",
  not_found = "404",
  conflict = "409: reference reused differently, SIM already subscribed; a SIM taken or claimed by another sale",
  validation = "422: `fields` says which",
  rate_limited = "429: `retry_after` says how long to wait",
  server = "5xx",
  decode = "a 2xx whose body is not the JSON expected",
  api = "an error envelope inside a 200 ({success: false})",
  indeterminate = "a write may or may not have happened and the SDK could not find out",
  reference_reused = "the reference already names another purchase (err.existing); a new one needs a new reference",
  journal = "a batch's journal cannot be used: another job's, torn, corrupt, locked, or the disk refuses it",
  cancelled = "a batch call that never started: on_progress stopped the batch, or its journal failed",
  store = "the shared store (Redis, a lua_shared_dict) cannot answer or refuses: down, slow, full; a sale that must" ..
    " claim a SIM sends no purchase",
}

local KIND_BY_STATUS = {
  [400] = "http", [401] = "auth", [403] = "forbidden", [404] = "not_found",
  [409] = "conflict", [422] = "validation", [429] = "rate_limited",
}

--- A new error object.
-- @string kind one of KINDS' keys
-- @string message what happened
-- @tparam[opt] table fields more fields (status, code, ...), copied in
-- @treturn Error the error object
function errors.new(kind, message, fields)
  local err = {}
  if fields then
    for k, v in pairs(fields) do err[k] = v end
  end
  err.kind = kind
  err.message = message
  return setmetatable(err, mt)
end

--- Whether a value is an error object of the SDK.
-- @param value anything
-- @treturn boolean
function errors.is_error(value)
  return getmetatable(value) == mt
end

--- The kind an HTTP error status maps to.
-- @local
function errors.kind_for_status(status)
  return KIND_BY_STATUS[status] or (status >= 500 and "server") or "http"
end

local function replace_all(text, secret)
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

local function percent_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- The spellings of `secret` an echo may carry: as sent, percent-encoded
-- (a URL), and as JSON encoders write it inside a string: "/" as "\/"
-- (PHP's default) or "\u002f"/"\u002F" (a base64 key has slashes).
local function spellings(secret)
  local out, seen = {}, {}
  local function add(s)
    if not seen[s] then
      seen[s] = true
      out[#out + 1] = s
    end
  end
  add(secret)
  add(percent_encode(secret))
  if secret:find("/", 1, true) then
    add((secret:gsub("/", "\\/")))
    add((secret:gsub("/", "\\u002f")))
    add((secret:gsub("/", "\\u002F")))
  end
  return out
end

--- Replaces every occurrence of `secret` in `text`, as sent, percent-encoded
-- and JSON-escaped: a body or a message from a server (or a proxy in
-- between) may echo what it was sent, in a header, a URL or a JSON string.
-- @local
function errors.redact(text, secret)
  if type(text) ~= "string" or not secret or secret == "" then return text end
  for _, s in ipairs(spellings(secret)) do text = replace_all(text, s) end
  return text
end

--- errors.redactor(secret) -> function(text): errors.redact with the
-- secret's spellings worked out once, for a client's many calls.
-- @local
function errors.redactor(secret)
  local all = spellings(secret)
  return function(text)
    if type(text) ~= "string" then return text end
    for i = 1, #all do text = replace_all(text, all[i]) end
    return text
  end
end

--- Redacts every string in an error in place, nested tables (`fields`,
-- `cause`) included: a server may echo the key in any of them. Returns err.
-- @local
function errors.scrub(err, redact, seen)
  seen = seen or {}
  if seen[err] then return err end
  seen[err] = true
  local renamed
  for k, v in pairs(err) do
    if type(v) == "string" then
      err[k] = redact(v)
    elseif type(v) == "table" then
      errors.scrub(v, redact, seen)
    end
    if type(k) == "string" and redact(k) ~= k then
      renamed = renamed or {}
      renamed[k] = redact(k)
    end
  end
  -- Keys too (a 422's `fields` names what the server echoes), changed
  -- after the walk: next() forbids adding keys while it runs.
  for old, new in pairs(renamed or {}) do
    err[new], err[old] = err[old], nil
  end
  return err
end

local EXCERPT_BYTES = 200
local SERVER_TEXT_BYTES = 1024

--- Text a server wrote (an error's message, its request id), made safe to
-- print as one line: a terminal would obey an escape in it, and a newline
-- would forge a log line of its own. Whitespace runs become one space, other
-- control bytes `\xNN`; past `max` bytes (1024) it is cut at a character's
-- start, with "...". UTF-8 text in any script stays as it is.
-- @local
function errors.server_text(text, max)
  if type(text) ~= "string" then return text end
  max = max or SERVER_TEXT_BYTES
  local s = text:gsub("[\t\n\v\f\r ]+", " "):gsub("[%z\1-\31\127]", function(c)
    return string.format("\\x%02X", c:byte())
  end)
  if #s <= max then return s end
  local cut = max
  while cut > 0 and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xC0 do cut = cut - 1 end
  return s:sub(1, cut) .. "..."
end

--- A short, printable excerpt of an undecodable body, for diagnostics.
-- @local
function errors.excerpt(body)
  if type(body) ~= "string" or body == "" then return nil end
  local s = body:sub(1, EXCERPT_BYTES):gsub("[%z\1-\8\11\12\14-\31\127-\255]", function(c)
    return string.format("\\x%02X", c:byte())
  end)
  if #body > EXCERPT_BYTES then s = s .. "..." end
  return s
end

return errors
