--- Query strings as a form decoder reads them: `+` is a space, `%XX` a
-- byte; a malformed escape is an error rather than a guess, so a client bug
-- shows up as a 400 instead of a silently different search.
local query = {}

local function unescape(s)
  if s:find("%", 1, true) then
    -- every `%` must start exactly two hex digits
    local stripped = s:gsub("%%%x%x", "")
    if stripped:find("%", 1, true) then return nil end
    s = s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    return s
  end
  return (s:gsub("+", " "))
end
query.unescape = unescape

--- parse(raw) -> {name = value} | nil, message. The first occurrence of a
-- name wins; a name without `=` has the value "".
function query.parse(raw)
  local params = {}
  if raw == nil or raw == "" then return params end
  for pair in raw:gmatch("[^&]+") do
    local eq = pair:find("=", 1, true)
    local name, value
    if eq then
      name, value = unescape(pair:sub(1, eq - 1)), unescape(pair:sub(eq + 1))
    else
      name, value = unescape(pair), ""
    end
    if not name or not value then
      return nil, "malformed percent-escape in the query string"
    end
    if params[name] == nil then params[name] = value end
  end
  return params
end

return query
