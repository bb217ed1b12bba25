--- The sandbox's API keys and the addresses each may call from, as the real
-- API lets an account limit a key to whitelisted IPs.
-- Spec: a list, or a comma-separated string, of "key" (any address) or
-- "key@ip" (only from ip). A key named several times with addresses may be
-- used from any of them; named once without, from anywhere.
local keys = {}

local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, octet in ipairs { a, b, c, d } do
    if #octet > 3 or tonumber(octet) > 255 then return false end
  end
  return true
end

local function ipv6(s)
  return s:find(":", 1, true) ~= nil and s:match("^[%x:%.]+$") ~= nil
end

--- An address as compared: IPv4-mapped IPv6 ("::ffff:1.2.3.4") is the IPv4 one.
function keys.normalize(addr)
  if type(addr) ~= "string" then return nil end
  local mapped = addr:lower():match("^::ffff:(%d+%.%d+%.%d+%.%d+)$")
  return mapped or addr:lower()
end

--- parse(spec) -> {key = true | {[ip] = true}} | nil, message
function keys.parse(spec)
  if spec == nil then spec = { "sandbox-key" } end
  if type(spec) == "string" then
    local list = {}
    for k in spec:gmatch("[^,]+") do list[#list + 1] = k end
    spec = list
  end
  local set, n = {}, 0
  for _, item in ipairs(spec) do
    local key, ip = item:match("^([^@]*)@(.*)$")
    key = key or item
    if key == "" then return nil, "empty key in " .. string.format("%q", item) end
    if ip then
      ip = keys.normalize(ip)
      if not (ipv4(ip) or ipv6(ip)) then return nil, "not an IP address: " .. string.format("%q", ip) end
      if set[key] ~= true then
        set[key] = set[key] or {}
        set[key][ip] = true
      end
    else
      set[key] = true
    end
    n = n + 1
  end
  if n == 0 then return nil, "no key" end
  return set
end

return keys
