-- Travel upsell: a traveller going to France buys 3 GB for 7 days at
-- checkout; sell the plan onto a free eSIM and print what installs it.
--
--   FLEXIROAM_BASE_URL=http://127.0.0.1:PORT FLEXIROAM_API_KEY=sandbox-key \
--     lua5.4 examples/travel_upsell.lua [COUNTRY [ORDER_REFERENCE]]
--
-- The reference is your own order number: run again with the same one
-- (after a crash, a timeout, a double click) and the sale is found and
-- finished, never bought twice.
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"

local COUNTRY = arg[1] or "FRA"
local REFERENCE = arg[2] or string.format("travel-%d-%06d", os.time(), math.random(0, 999999))

local function main()
  local client <close> = flexiroam.new {}

  -- The plan: one-time, 3 GB, 7 days, covering the country.
  local plan
  for p in client:plans { type = "one_time", country = COUNTRY, chip_type = "esim" } do
    if p:data_gb() == 3 and p.validity_days == 7 then
      plan = p
      break
    end
  end
  if not plan then error("no 3 GB / 7 days plan covers " .. COUNTRY, 0) end
  print(("plan       %s  %s  %s"):format(plan.id, plan.name, plan:price_text()))

  local sale = assert(client:sell_plan { plan_id = plan.id, reference = REFERENCE })
  local code = assert(sale.activation:parse())
  print(("eSIM       %s%s"):format(sale.sim.iccid, sale.replayed and "  (sold before under this reference)" or ""))
  print(("order      %s  %s  reference %s"):format(sale.order.id, sale.order.status, sale.order.reference))
  print(("data       %s on the SIM"):format(flexiroam.esim.format_bytes(sale.sim:remaining_bytes())))
  -- What the traveller scans (as a QR code) or types in by hand:
  print(("install    %s"):format(sale.activation:install_string()))
  print(("by hand    SM-DP+ address %s, activation code %s"):format(code.smdp_address, code.matching_id))
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(tostring(err), "\n") -- the SDK's error object: one line, no key
  os.exit(1)
end
