--- Order references and correlation ids: random (version 4) UUIDs from the
-- operating system's CSPRNG. A reference is what makes a purchase safe to
-- send twice, so it must never repeat across processes: math.random (seeded
-- from the clock, or not at all under LuaJIT) is not good enough.
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

--- A fresh "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (RFC 9562 version 4).
-- Arithmetic rather than bit operators, so LuaJIT loads this file too.
function reference.uuid4()
  local b = { random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40   -- version 4
  b[9] = b[9] % 64 + 0x80   -- variant 10xx
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", unpack(b))
end

return reference
