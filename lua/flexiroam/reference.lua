--- Order references and correlation ids: random (version 4) UUIDs from the
-- operating system's CSPRNG. A reference is what makes a purchase safe to
-- send twice, so it must never repeat across processes: math.random (seeded
-- from the clock, or not at all under LuaJIT) is not good enough.
local errors = require("flexiroam.errors")
local raise = require("flexiroam.misuse").raise

local reference = {}

local SOURCE = "/dev/urandom"
local unpack = table.unpack or unpack -- luacheck: ignore 113

local function random_bytes(n)
  local f, err = io.open(SOURCE, "rb")
  if not f then
    error("flexiroam: cannot read " .. SOURCE .. " to mint an order reference (" .. tostring(err) ..
      "); pass reference = ... yourself", 0)
  end
  local bytes = f:read(n)
  f:close()
  if type(bytes) ~= "string" or #bytes ~= n then
    error("flexiroam: short read from " .. SOURCE .. " while minting an order reference", 0)
  end
  return bytes
end

--- The rules of a caller's reference, checked before anything is sent: 1
-- to 64 characters, ASCII letters, digits and - _ . : (an order number, a
-- UUID); unique per API key for good: the API charges once per reference
-- and answers a repeat with the original record.
reference.MAX_LENGTH = 64
reference.PATTERN = "^[%w%-_%.:]+$"

--- Why `ref` breaks those rules, or nil.
function reference.problem(ref)
  if #ref == 0 or #ref > reference.MAX_LENGTH then
    return "must be 1 to " .. reference.MAX_LENGTH .. " characters long (got " .. #ref .. ")"
  end
  if not ref:find(reference.PATTERN) then return "may hold only ASCII letters, digits and - _ . :" end
  return nil
end

--- check(where, name, ref) -> nil | a validation error (nothing sent);
-- raises when ref is not a string (a bug, not data).
function reference.check(where, name, ref)
  if type(ref) ~= "string" then raise("%s: %s must be a string (got %s)", where, name, type(ref)) end
  local why = reference.problem(ref)
  if not why then return nil end
  return errors.new("validation", string.format("%s: %s %s; not sent", where, name, why),
    { fields = { [name] = why }, sent = false, operation = where })
end

-- Request ids: a random prefix per process and a counter. Unique enough to
-- find a call in logs, and cheap: no read of /dev/urandom per call.
local request_prefix, request_count = nil, 0

--- A fresh request id, "<16 hex digits>-<n>".
function reference.request_id()
  if not request_prefix then
    request_prefix = string.format(string.rep("%02x", 8), random_bytes(8):byte(1, 8))
  end
  request_count = request_count + 1
  return string.format("%s-%d", request_prefix, request_count)
end

--- A fresh "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (RFC 9562 version 4).
-- Arithmetic rather than bit operators, so LuaJIT loads this file too.
function reference.uuid4()
  local b = { random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40   -- version 4
  b[9] = b[9] % 64 + 0x80   -- variant 10xx
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", unpack(b))
end

return reference
