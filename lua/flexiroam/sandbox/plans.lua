--- GET /v1/public-v2/list-plans: the catalogue, filtered by chip_type,
-- type and country (ISO 3166-1 alpha-3, either case), paged.
local paging = require("flexiroam.sandbox.paging")

local plans = {}

local CHIP_TYPES = { esim = true, psim = true }
local TYPES = { one_time = true, recurring = true }

local function encode(plan)
  return plan.json
end

local function covers(plan, country)
  for _, c in ipairs(plan.coverage) do
    if c == country then return true end
  end
  return false
end

function plans.list(h, _, params)
  local chip_type, kind, country = params.chip_type, params.type, params.country
  if chip_type ~= nil and not CHIP_TYPES[chip_type] then return h:error(400, "chip_type must be esim or psim") end
  if kind ~= nil and not TYPES[kind] then return h:error(400, "type must be one_time or recurring") end
  if country ~= nil then
    if not country:match("^%a%a%a$") then
      return h:error(400, "country must be an ISO 3166-1 alpha-3 code such as FRA")
    end
    country = country:upper()
  end
  return paging.answer(h, params, {
    scope = "plans\0" .. (chip_type or "") .. "\0" .. (kind or "") .. "\0" .. (country or ""),
    list = h.state.plans,
    keep = (chip_type or kind or country) and function(plan)
      return (not chip_type or plan.chips[chip_type]) and (not kind or plan.type == kind)
        and (not country or covers(plan, country))
    end,
    encode = encode,
  })
end

return plans
