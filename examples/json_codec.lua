-- The C core's JSON codec on a list-inventory page of the published sample's
-- shape: integers stay exact, [] stays an array, null is cjson's null.
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local json = require("flexiroam").json
local inventory = require "flexiroam.sandbox.inventory"

local text = assert(json.encode(inventory.page(20), { sort_keys = true }))
local page = assert(json.decode(text))

local row = "%-22s %-15s %-8s %s"
print(row:format("ICCID", "SKU", "STATUS", "AVAILABILITY"))
for _, sim in ipairs(page.items) do
  print(row:format(sim.iccid, sim.sku, sim.status, sim.availability_sku:match("^(%a+)___")))
end
local first = page.items[1]
print(("%d eSIMs in %d bytes of JSON; sku is a Lua %s; bootstrap_balances re-encodes as %s;"
  .. " page_key is json.null: %s"):format(#page.items, #text, math.type(first.sku),
  json.encode(first.bootstrap_balances), tostring(page.page_key == json.null)))
