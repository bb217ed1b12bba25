-- Usage report: the SIMs with less than 10 % of their data left (or the
-- percentage given), to warn their users or sell them more.
--
--   FLEXIROAM_BASE_URL=... FLEXIROAM_API_KEY=... lua5.4 examples/usage_report.lua [PERCENT]
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"
local fmt = flexiroam.esim.format_bytes

local PERCENT = tonumber(arg[1] or "10")
if not PERCENT or PERCENT <= 0 or PERCENT > 100 then
  io.stderr:write("usage: lua5.4 examples/usage_report.lua [PERCENT] (a number from 0 to 100, default 10)\n")
  os.exit(2)
end

local function main()
  local client <close> = flexiroam.new {}
  local row = "%-22s %-14s %-9s %10s %10s %6s"
  print(row:format("ICCID", "PLAN", "STATUS", "USED", "TOTAL", "LEFT"))
  local count = 0
  for sim, usage in client:low_data { below_percent = PERCENT } do
    count = count + 1
    print(row:format(sim.iccid, tostring(usage.plan_id), usage.status, fmt(usage.data_used_bytes),
      fmt(usage.data_total_bytes), ("%.1f%%"):format(usage:percent_remaining())))
  end
  print(("%d SIMs under %g%% of their data"):format(count, PERCENT))
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
