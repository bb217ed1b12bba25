--- Opaque page keys: the position of the last SIM a page returned, bound by
-- a checksum to the sandbox's seed and to the query's filters, so a forged,
-- truncated or foreign key is refused instead of silently paging elsewhere.
-- Positions (not offsets into the filtered list) keep pages stable when a
-- write moves a SIM in or out of the filter between two pages.
local cursor = {}

-- FNV-1a, 32 bits: enough to catch forgery by accident, not by intent.
local function fnv1a(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
  end
  return h
end

local function sign(secret, scope, pos)
  return fnv1a(secret .. "\0" .. scope .. "\0" .. pos)
end

--- encode(secret, scope, pos) -> 16 hex digits.
function cursor.encode(secret, scope, pos)
  return string.format("%08x%08x", pos, sign(secret, scope, pos))
end

--- decode(secret, scope, key) -> pos | nil when the key is not one we issued
-- for this scope.
function cursor.decode(secret, scope, key)
  if type(key) ~= "string" or #key ~= 16 or not key:match("^%x+$") then return nil end
  local pos, sum = tonumber(key:sub(1, 8), 16), tonumber(key:sub(9, 16), 16)
  if sign(secret, scope, pos) ~= sum or key ~= cursor.encode(secret, scope, pos) then return nil end
  return pos
end

return cursor
