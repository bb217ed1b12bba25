--- The sandbox's plan catalogue: one-time and recurring plans over single
-- countries and regions, the same for the same seed (the seed sets prices).
-- Plan ids are readable ("FRA-3GB-7D", "EU-20GB-M") so that examples and
-- logs say what was sold.
--
-- A plan here carries two fields the API never shows: `chips` (which chip
-- types it can be sold onto: single-country plans are eSIM-only, regional
-- and global ones suit physical SIMs too) and `json` (its encoded form).
local json = require("flexiroam.json")
local inventory = require("flexiroam.sandbox.inventory")

local catalogue = {}

catalogue.GB = 1024 * 1024 * 1024
catalogue.CYCLE_DAYS = 30
catalogue.CURRENCY = "USD"

local REGIONS = {
  { code = "EU", name = "Europe", countries = {
    "AUT", "BEL", "CHE", "DEU", "DNK", "ESP", "FRA", "GBR", "GRC", "IRL", "ITA", "NLD", "NOR", "POL", "PRT", "SWE",
  } },
  { code = "ASIA", name = "Asia", countries = {
    "CHN", "HKG", "IDN", "IND", "JPN", "KOR", "MYS", "PHL", "SGP", "THA", "TWN", "VNM",
  } },
  { code = "AMER", name = "Americas", countries = { "ARG", "BRA", "CAN", "CHL", "COL", "MEX", "PER", "USA" } },
  { code = "MEA", name = "Middle East and Africa", countries = { "ARE", "EGY", "MAR", "TUR", "ZAF" } },
  { code = "OCE", name = "Oceania", countries = { "AUS", "NZL" } },
}

local COUNTRY_NAMES = {
  AUT = "Austria", BEL = "Belgium", CHE = "Switzerland", DEU = "Germany", DNK = "Denmark", ESP = "Spain",
  FRA = "France", GBR = "United Kingdom", GRC = "Greece", IRL = "Ireland", ITA = "Italy", NLD = "Netherlands",
  NOR = "Norway", POL = "Poland", PRT = "Portugal", SWE = "Sweden", CHN = "China", HKG = "Hong Kong",
  IDN = "Indonesia", IND = "India", JPN = "Japan", KOR = "South Korea", MYS = "Malaysia", PHL = "Philippines",
  SGP = "Singapore", THA = "Thailand", TWN = "Taiwan", VNM = "Vietnam", ARG = "Argentina", BRA = "Brazil",
  CAN = "Canada", CHL = "Chile", COL = "Colombia", MEX = "Mexico", PER = "Peru", USA = "United States",
  ARE = "United Arab Emirates", EGY = "Egypt", MAR = "Morocco", TUR = "Turkey", ZAF = "South Africa",
  AUS = "Australia", NZL = "New Zealand",
}

-- {gigabytes, days}: what travellers buy (one-time) and what fleets run (monthly).
local COUNTRY_ONE_TIME = { { 1, 7 }, { 3, 7 }, { 5, 15 }, { 10, 30 } }
local COUNTRY_RECURRING = { { 2 } }
local REGION_ONE_TIME = { { 3, 7 }, { 10, 30 }, { 20, 30 } }
local REGION_RECURRING = { { 5 }, { 20 } }

-- A price ending in 99 minor units, never under 1.99.
local function price(cents_per_gb, gb, days)
  local raw = cents_per_gb * gb + days * 4
  local amount = math.max(2, (raw + 50) // 100) * 100 - 1
  return { amount_minor = amount, currency = catalogue.CURRENCY }
end

local function add(plans, p)
  p.data_bytes = p.gb * catalogue.GB
  p.gb = nil
  p.json = assert(json.encode {
    id = p.id, name = p.name, type = p.type, data_bytes = p.data_bytes, validity_days = p.validity_days,
    coverage = json.array(p.coverage), price = p.price,
  })
  plans[#plans + 1] = p
end

local function plans_for(plans, code, name, coverage, chips, cents_per_gb, one_time, recurring)
  for _, o in ipairs(one_time) do
    local gb, days = o[1], o[2]
    add(plans, {
      id = string.format("%s-%dGB-%dD", code, gb, days), name = string.format("%s %d GB / %d days", name, gb, days),
      type = "one_time", gb = gb, validity_days = days, coverage = coverage, chips = chips,
      price = price(cents_per_gb, gb, days),
    })
  end
  for _, r in ipairs(recurring) do
    local gb = r[1]
    add(plans, {
      id = string.format("%s-%dGB-M", code, gb), name = string.format("%s %d GB monthly", name, gb),
      type = "recurring", gb = gb, validity_days = catalogue.CYCLE_DAYS, coverage = coverage, chips = chips,
      -- a subscription costs less per GB than the same data bought once
      price = price(cents_per_gb * 3 // 4, gb, catalogue.CYCLE_DAYS),
    })
  end
end

--- generate(seed) -> array of plans, in the order list_plans pages them.
function catalogue.generate(seed)
  local next_int = inventory.rng((seed or 1) ~ 0x2c1b3c6d)
  local plans = {}
  local ESIM, ANY = { esim = true }, { esim = true, psim = true }
  local all = {}
  for _, region in ipairs(REGIONS) do
    for _, c in ipairs(region.countries) do
      plans_for(plans, c, COUNTRY_NAMES[c], { c }, ESIM, 150 + next_int(500), COUNTRY_ONE_TIME, COUNTRY_RECURRING)
      all[#all + 1] = c
    end
  end
  for _, region in ipairs(REGIONS) do
    plans_for(plans, region.code, region.name, region.countries, ANY, 400 + next_int(400), REGION_ONE_TIME,
      REGION_RECURRING)
  end
  table.sort(all)
  plans_for(plans, "GLOBAL", "Global", all, ANY, 900 + next_int(600), REGION_ONE_TIME, REGION_RECURRING)
  return plans
end

--- Whether `code` is a country some plan covers.
function catalogue.covers(code)
  return COUNTRY_NAMES[code] ~= nil
end

return catalogue
