--- One check for every spec that proves a secret stays out of what the SDK
-- hands back: every string in a value, keys and nested tables included.
--   leaks.assert_absent(err, { [KEY] = "the API key", [QUERY] = "the query string" })
local leaks = {}

--- Raises (a busted failure) naming what leaked and where, if any string
-- in `value` contains one of `secrets` (secret -> what it is).
function leaks.assert_absent(value, secrets, seen)
  seen = seen or {}
  if type(value) == "string" then
    for secret, what in pairs(secrets) do
      assert(not value:find(secret, 1, true), what .. " leaked into: " .. value)
    end
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do
      leaks.assert_absent(k, secrets, seen)
      leaks.assert_absent(v, secrets, seen)
    end
  end
end

return leaks
