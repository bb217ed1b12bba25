-- IoT fleet: a monthly data subscription on each of 50 eSIMs (trackers,
-- meters, ...). Safe to run again: a SIM already subscribed is left alone,
-- and each subscription carries a reference of its own (fleet:<iccid>:<plan>),
-- so even a run cut short half-way and run again creates nothing twice.
--
--   FLEXIROAM_BASE_URL=... FLEXIROAM_API_KEY=... lua5.4 examples/iot_fleet.lua [FLEET_SIZE [COUNTRY]]
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"

local FLEET_SIZE = math.tointeger(tonumber(arg[1] or "50"))
local COUNTRY = arg[2] or "DEU"

local function main()
  local client <close> = flexiroam.new {}

  -- The fleet: here, the first FLEET_SIZE eSIMs of the inventory (which
  -- lists in a stable order); a real fleet comes from your own records.
  local fleet = assert(client:collect("list_inventory", { chip_type = "esim" }, { max_items = FLEET_SIZE }))
  if #fleet < FLEET_SIZE then error(("only %d eSIMs in the inventory"):format(#fleet), 0) end

  -- The cheapest monthly plan for the country.
  local plan
  for p in client:plans { type = "recurring", country = COUNTRY, chip_type = "esim" } do
    if not plan or p.price.amount_minor < plan.price.amount_minor then plan = p end
  end
  if not plan then error("no monthly plan covers " .. COUNTRY, 0) end
  print(("plan %s: %s, %s a month per SIM"):format(plan.id, plan.name, plan:price_text()))

  local active = {}
  for sub in client:subscriptions { status = "active" } do active[sub.iccid] = sub end

  local created, already, stopped, failed = 0, 0, 0, 0
  for _, sim in ipairs(fleet) do
    if active[sim.iccid] then
      already = already + 1
    else
      local sub, err = sim:subscribe(plan, { reference = "fleet:" .. sim.iccid .. ":" .. plan.id })
      if not sub then
        failed = failed + 1
        io.stderr:write(("%s: %s\n"):format(sim.iccid, tostring(err)))
      elseif sub.status ~= "active" then
        -- the reference answered a subscription someone cancelled since:
        -- subscribing again is a decision for a person, with a new reference
        stopped = stopped + 1
        print(("%s  was cancelled (%s): left alone"):format(sim.iccid, sub.id))
      else
        created = created + 1
        print(("%s  subscribed  %s  renews %s"):format(sim.iccid, sub.id, sub.renews_at))
      end
    end
  end
  print(("fleet of %d: %d subscribed now, %d already subscribed, %d cancelled earlier, %d failed"):format(
    #fleet, created, already, stopped, failed))
  return failed == 0
end

local ok, result = pcall(main)
if not ok then io.stderr:write(tostring(result), "\n") end
if not (ok and result) then os.exit(1) end
