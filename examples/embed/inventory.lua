-- Run by examples/embed/main.c inside a Lua state of its own: `...` is the
-- thread number (0 when run alone). The key and the address come from
-- FLEXIROAM_API_KEY and FLEXIROAM_BASE_URL. Returns one line for the host.
local thread = ...
local flexiroam = require "flexiroam"

-- The host linked the core in: the loaded module is the one it registered,
-- not a core.so found on package.cpath.
assert(package.loaded["flexiroam.core"] == require("flexiroam.core"))

local client = flexiroam.new {}
local count = 0
for _ in client:inventory { chip_type = "esim", search_by = "availability", search = "free" } do
  count = count + 1
end
client:close()
return string.format("%s, flexiroam %s, state %d: %d free eSIMs", _VERSION, flexiroam.VERSION, thread, count)
