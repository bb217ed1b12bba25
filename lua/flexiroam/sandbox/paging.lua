--- Paging for every list operation, list-inventory included, with the
-- contract's rules: `limit` 1-100 (default 20, else 422), opaque page keys from
-- the cursor module bound to the seed and to the query (else 400), and
-- positions in an append-only list so that pages stay stable under writes.
local cursor = require("flexiroam.sandbox.cursor")

local paging = {}

paging.DEFAULT_LIMIT, paging.MAX_LIMIT = 20, 100

function paging.limit(raw)
  if raw == nil then return paging.DEFAULT_LIMIT end
  local n = raw:match("^%d+$") and #raw <= 4 and tonumber(raw)
  if not n or n < 1 or n > paging.MAX_LIMIT then return nil end
  return math.tointeger(n)
end

--- paging.answer(h, params, spec) -> response. spec:
--   scope     the operation and its filters, as one string
--   list      the records, in order (append-only)
--   positions optional ascending positions in `list` to consider (an index)
--   keep      optional predicate over a record
--   encode    record -> its JSON text
function paging.answer(h, params, spec)
  local limit = paging.limit(params.limit)
  if not limit then
    local why = "must be an integer from 1 to " .. paging.MAX_LIMIT
    return h:error(422, "limit " .. why, { fields = { limit = why } })
  end
  local after = 0
  if params.page_key ~= nil then
    after = cursor.decode(h.secret, spec.scope, params.page_key)
    if not after then return h:error(400, "page_key is not one this query issued") end
  end

  local list, keep, encode, positions = spec.list, spec.keep, spec.encode, spec.positions
  local parts, n, next_key, last_pos = {}, 0, nil, nil
  local count = positions and #positions or #list
  -- without an index, positions are indices: start right after the key
  local i = positions and 0 or math.min(after, count)
  while i < count do
    i = i + 1
    local pos = positions and positions[i] or i
    local record = list[pos]
    if pos > after and (not keep or keep(record)) then
      if n == limit then
        next_key = cursor.encode(h.secret, spec.scope, last_pos)
        break
      end
      n = n + 1
      parts[n] = encode(record)
      last_pos = pos
    end
  end
  return h:raw_json(200, '{"items":[' .. table.concat(parts, ",") .. '],"page_key":'
    .. (next_key and ('"' .. next_key .. '"') or "null") .. "}")
end

return paging
