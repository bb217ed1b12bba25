-- Quickstart: list the free eSIMs in stock, page after page, as a table.
--
--   FLEXIROAM_API_KEY=... lua5.4 examples/quickstart.lua            # the real API
--   make demo                                                        # the sandbox
--
-- Running from a checkout, the SDK is found next to this file; once
-- installed with luarocks, `require "flexiroam"` finds it on its own.
local root = arg and arg[0] and arg[0]:match("^(.-)/?examples/[^/]+$")
if root then
  root = root == "" and "." or root
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  package.cpath = root .. "/build/5.4/?.so;" .. package.cpath
end

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
