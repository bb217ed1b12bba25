--- Deterministic eSIM inventory of the published sample's shape, for the
-- sandbox, the demo and the benchmarks. Same seed and count, same SIMs.
local esim = require("flexiroam.esim")
local json = require("flexiroam.json")

local inventory = {}

local NULL = json.null
local BASE_SKU = 4024081013108
local ICCID_PREFIX = "8985235082"
local RESELLER_ID = "3f1e28b7-3b74-4ef9-a1d3-97a8a08b8a18"
local USER_ID = "49350307-8442-4d07-993e-4a0fafd0c077"

-- The SDK's own check digit, so every generated ICCID passes its validation.
inventory.luhn_digit = esim.luhn_digit

-- A small LCG of our own (no math.random): no global state is touched and
-- the sequence is the same on every platform.
local function rng(seed)
  local state = (seed or 1) & 0x7fffffff
  return function(n)
    state = (state * 1103515245 + 12345) & 0x7fffffff
    -- the low bits of this LCG cycle quickly; the high ones do not
    return (state >> 16) % n
  end
end
inventory.rng = rng

local function uuid(next_int)
  local hex = {}
  for i = 1, 32 do hex[i] = next_int(16) end
  -- a version-4 UUID: version nibble 4, variant bits 10
  hex[13] = 4
  hex[17] = 8 + hex[17] % 4
  for i = 1, 32 do hex[i] = string.format("%x", hex[i]) end
  local s = table.concat(hex)
  return string.format("%s-%s-%s-%s-%s", s:sub(1, 8), s:sub(9, 12), s:sub(13, 16), s:sub(17, 20), s:sub(21, 32))
end
inventory.uuid = uuid

local function empty_array()
  return json.array()
end

--- One SIM of the sample's shape; `i` is its 0-based position.
function inventory.sim(i, next_int, chip_type)
  local sku = BASE_SKU + i
  local body = ICCID_PREFIX .. string.format("%09d", 13108 + i)
  chip_type = chip_type or "esim"
  return {
    device_info = { name = NULL, imei = NULL, id = NULL, email = NULL },
    status = "active",
    billing_group_histories = empty_array(),
    iccid = body .. inventory.luhn_digit(body),
    subscribed = "0___" .. sku,
    bootstrap_balances = empty_array(),
    availability_sku = "free___" .. sku,
    user_id_chip_type = USER_ID .. "___" .. chip_type,
    creation_date = string.format("2024-10-07 12:%02d:%02d", 5 + i // 60 % 50, i % 60),
    state = "normal",
    reseller_id = RESELLER_ID,
    user_info_department = NULL,
    balances = { billing_cycle_id = NULL, main_data = 0 },
    user_id = USER_ID,
    chip_type = chip_type,
    first_billed_date = NULL,
    paused_balances = { billing_cycle_id = NULL, main_data = 0 },
    user_info_username = NULL,
    auto_topup_settings = { threshold = 0, quantity = 1, threshold_in_percentage = true, enabled = false },
    id = uuid(next_int),
    invoice_number = "FAL-INV-" .. (243789 + i // 100),
    sku = sku,
  }
end

--- generate{count = N, seed = S, psim_every = K}: an array of N SIMs; every
-- K-th one (when K is given) is a physical SIM, so chip_type filters matter.
function inventory.generate(opts)
  opts = opts or {}
  local count = opts.count or 200
  local next_int = rng(opts.seed or 1)
  local sims = {}
  for i = 0, count - 1 do
    local chip = (opts.psim_every and (i + 1) % opts.psim_every == 0) and "psim" or "esim"
    sims[#sims + 1] = inventory.sim(i, next_int, chip)
  end
  return sims
end

--- A list-inventory answer: {items = sims, page_key = null}.
function inventory.page(count, seed)
  return { items = json.array(inventory.generate { count = count, seed = seed }), page_key = NULL }
end

return inventory
