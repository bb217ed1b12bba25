-- Quickstart: list the free eSIMs in stock, page after page, as a table.
--
--   FLEXIROAM_API_KEY=... lua5.4 examples/quickstart.lua            # the real API
--   make demo                                                        # the sandbox
--
-- Running from a checkout, examples/_path.lua finds the SDK next to this
-- file; once installed with luarocks, `require "flexiroam"` finds it.
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"

-- The key comes from FLEXIROAM_API_KEY, the address from FLEXIROAM_BASE_URL
-- (default: the real API).
local client = flexiroam.new {}

local row = "%-22s %-15s %-8s %-6s %s"
print(row:format("ICCID", "SKU", "STATUS", "CHIP", "AVAILABILITY"))

local count = 0
local ok, err = pcall(function()
  for sim in client:inventory { chip_type = "esim", search_by = "availability", search = "free" } do
    count = count + 1
    local availability = tostring(sim.availability_sku):match("^(%a+)___") or "?"
    print(row:format(sim.iccid, sim.sku, sim.status, sim.chip_type, availability))
  end
end)
client:close()

if not ok then
  -- The iterator raises the SDK's error object: one readable line, no key.
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(("%d free eSIMs"):format(count))
