-- Auto top-up: every SIM in use refills itself before it runs dry. When
-- its data falls under 20 % of its plan, one more of the plan is added
-- (and charged). Safe to run again: SIMs already set up are left alone.
--
--   FLEXIROAM_BASE_URL=... FLEXIROAM_API_KEY=... lua5.4 examples/auto_topup.lua [PERCENT [QUANTITY]]
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"

local PERCENT = math.tointeger(tonumber(arg[1] or "20"))
local QUANTITY = math.tointeger(tonumber(arg[2] or "1"))

local function set_up(s)
  return s.enabled == true and s.threshold_in_percentage == true and s.threshold == PERCENT
    and s.quantity == QUANTITY
end

local function main()
  local client <close> = flexiroam.new {}
  local changed, unchanged = 0, 0
  for sim in client:inventory { search_by = "availability", search = "used" } do
    if set_up(sim.auto_topup_settings) then
      unchanged = unchanged + 1
    else
      assert(sim:set_auto_topup { enabled = true, threshold = PERCENT, threshold_in_percentage = true,
        quantity = QUANTITY })
      changed = changed + 1
      print(("%s  auto top-up on: under %d%%, add %d x the plan"):format(sim.iccid,
        sim.auto_topup_settings.threshold, sim.auto_topup_settings.quantity))
    end
  end
  print(("auto top-up: %d SIMs set up now, %d already set up"):format(changed, unchanged))
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
