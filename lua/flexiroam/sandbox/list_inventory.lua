--- GET /v1/public-v2/list-inventory: filters, limit and page keys as the
-- contract describes them, over the handler's inventory state.
local cursor = require "flexiroam.sandbox.cursor"

local list_inventory = {}

local DEFAULT_LIMIT, MAX_LIMIT = 20, 100
local CHIP_TYPES = { esim = true, psim = true }

local function prefix_match(field, prefix)
  local n = #prefix
  return function(sim) return sim[field]:sub(1, n) == prefix end
end

-- Each search_by turns its search value into either a predicate over SIMs or
-- the single position an index gives (false when nothing matches); nil and a
-- message when the value is not one the API accepts.
local SEARCHES = {
  availability = function(value)
    if value ~= "free" and value ~= "used" then return nil, "search must be free or used for search_by=availability" end
    return { match = prefix_match("availability_sku", value .. "___") }
  end,
  subscribed = function(value)
    if value ~= "0" and value ~= "1" then return nil, "search must be 0 or 1 for search_by=subscribed" end
    return { match = prefix_match("subscribed", value .. "___") }
  end,
  iccid = function(value, state)
    if not value:match("^%d+$") or #value < 19 or #value > 20 then
      return nil, "search must be an ICCID of 19 or 20 digits for search_by=iccid"
    end
    return { only = state.by_iccid[value] or false }
  end,
  sku = function(value, state)
    if not value:match("^%d+$") or #value > 18 then return nil, "search must be a decimal SKU for search_by=sku" end
    return { only = state.by_sku[math.tointeger(tonumber(value))] or false }
  end,
}
local SEARCH_NAMES = "availability, iccid, sku, subscribed"

local function parse_limit(raw)
  if raw == nil then return DEFAULT_LIMIT end
  local n = raw:match("^%d+$") and #raw <= 4 and tonumber(raw)
  if not n or n < 1 or n > MAX_LIMIT then return nil end
  return math.tointeger(n)
end

--- The route function: (handler, req, params) -> response.
function list_inventory.handle(h, _, params)
  local chip_type = params.chip_type
  if chip_type ~= nil and not CHIP_TYPES[chip_type] then
    return h:error(400, "chip_type must be esim or psim")
  end

  local state = h.state
  local search_by, search = params.search_by, params.search
  local filter = {}
  if search_by ~= nil then
    local make = SEARCHES[search_by]
    if not make then return h:error(400, "search_by must be one of " .. SEARCH_NAMES) end
    if search == nil then return h:error(400, "search_by=" .. search_by .. " needs a search value") end
    local err
    filter, err = make(search, state)
    if not filter then return h:error(400, err) end
  elseif search ~= nil then
    return h:error(400, "search needs search_by")
  end

  local limit = parse_limit(params.limit)
  if not limit then
    local why = "must be an integer from 1 to " .. MAX_LIMIT
    return h:error(422, "limit " .. why, { fields = { limit = why } })
  end

  local scope = (chip_type or "") .. "\0" .. (search_by or "") .. "\0" .. (search or "")
  local after = 0
  if params.page_key ~= nil then
    after = cursor.decode(h.secret, scope, params.page_key)
    if not after then return h:error(400, "page_key is not one this query issued") end
  end

  local sims, match, only = state.sims, filter.match, filter.only
  local first, last = after + 1, #sims
  if only ~= nil then
    first, last = only or 1, only or 0
    if first <= after then last = 0 end
  end

  local parts, n, next_key, last_pos = {}, 0, nil, nil
  for pos = first, last do
    local sim = sims[pos]
    if (not chip_type or sim.chip_type == chip_type) and (not match or match(sim)) then
      if n == limit then
        -- one more match exists: the page ends at the previous one
        next_key = cursor.encode(h.secret, scope, last_pos)
        break
      end
      n = n + 1
      parts[n] = h:sim_json(sim)
      last_pos = pos
    end
  end
  -- SIMs are encoded once (handler:sim_json caches them); the page around
  -- them is assembled here: a page key is hex digits, safe to inline.
  return h:raw_json(200, '{"items":[' .. table.concat(parts, ",") .. '],"page_key":'
    .. (next_key and ('"' .. next_key .. '"') or "null") .. "}")
end

return list_inventory
