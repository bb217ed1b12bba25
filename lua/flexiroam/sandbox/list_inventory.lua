--- GET /v1/public-v2/list-inventory: filters, limit and page keys as the
-- contract describes them, over the handler's inventory state.
local paging = require("flexiroam.sandbox.paging")

local list_inventory = {}

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

  -- limit, page keys and the page itself follow the rules every list shares;
  -- an index hit (iccid, sku) is the only position to consider.
  local match, only = filter.match, filter.only
  local positions
  if only ~= nil then positions = only and { only } or {} end
  return paging.answer(h, params, {
    scope = (chip_type or "") .. "\0" .. (search_by or "") .. "\0" .. (search or ""),
    list = state.sims,
    positions = positions,
    keep = function(sim) return (not chip_type or sim.chip_type == chip_type) and (not match or match(sim)) end,
    -- SIMs are encoded once (handler:sim_json caches them)
    encode = function(sim) return h:sim_json(sim) end,
  })
end

return list_inventory
