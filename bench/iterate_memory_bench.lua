-- Memory of a scan over 100 000 SIMs (issue 15: iterators and collect keep
-- a flat peak RSS): 100 pages of 1000 SIMs of the published sample's shape,
-- each SIM given a plan object, answered from memory (one page's text, its
-- page_key filled in per request, so the live set is one page and what is
-- measured is the reader). Each row runs in a child process of its own, so
-- its RSS starts from the same place:
--   iterate  client:inventory, each SIM read and dropped; with fields too;
--            lua-cjson by hand page by page, as a user would loop without us
--   collect  client:collect keeping all 100 000, whole and with fields;
--            lua-cjson by hand keeping every item
-- Peak RSS growth (VmHWM over VmRSS before the scan) after the first 10 000
-- SIMs, after 50 000 and after all 100 000: flat means the peak stops
-- growing once the first pages are through. "Lua heap kept" is what stays after a full collection (the result
-- a collect holds). Seconds are CPU time, for scale only.
--
--   lua5.4 bench/iterate_memory_bench.lua          (the table)
--   lua5.4 bench/iterate_memory_bench.lua row NAME (one row, in this process)
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local PAGE, PAGES = 1000, 100
local FIELDS = { "iccid", "status", "plan.name" }
local ROWS = {
  { name = "iterate_whole", label = "client:inventory, whole records" },
  { name = "iterate_fields", label = "client:inventory, fields = iccid, status, plan.name" },
  { name = "iterate_cjson", label = "lua-cjson by hand, page by page" },
  { name = "collect_whole", label = "client:collect, whole records", holds_all = true },
  { name = "collect_fields", label = "client:collect, fields = iccid, status, plan.name", holds_all = true },
  { name = "collect_cjson", label = "lua-cjson by hand, every item kept", holds_all = true },
}

local function run_row(name)
  local flexiroam = require "flexiroam"
  local json = flexiroam.json
  local memory = require "spec.support.memory"
  local inventory = require "flexiroam.sandbox.inventory"

  local page = json.decode(assert(json.encode(inventory.page(PAGE))))
  for i, sim in ipairs(page.items) do
    sim.plan = { name = "FRA-" .. i, id = "plan-" .. i, price = { amount_minor = 100 * i, currency = "EUR" } }
  end
  page.page_key = "PAGE_KEY"
  local body_of = require("spec.support.paged_text")(assert(json.encode(page)), PAGES)
  page = nil -- luacheck: ignore 311 (dropped so that the live set is the text alone)
  local transport = { request = function(_, req) return { status = 200, headers = {}, body = body_of(req.url) } end }
  local client = flexiroam.new { api_key = "k-bench", base_url = "https://bench.test", transport = transport }

  local seen, marks = 0, {}
  local function count()
    seen = seen + 1
    if seen == 10000 or seen == 50000 then
      collectgarbage("collect")
      marks[#marks + 1] = memory.kb("VmHWM")
    end
  end
  local scans = {
    iterate_whole = function()
      for _ in client:inventory({}) do count() end
    end,
    iterate_fields = function()
      for _ in client:inventory({}, { fields = FIELDS }) do count() end
    end,
    iterate_cjson = function()
      local cjson = require "cjson"
      local key
      repeat
        local doc = cjson.decode(body_of("?page_key=" .. (key or "")))
        for _ = 1, #doc.items do count() end
        key = doc.page_key ~= cjson.null and doc.page_key or nil
      until not key
    end,
    collect_whole = function()
      local all = assert(client:collect("list_inventory", {}))
      for _ = 1, #all do count() end
      return all
    end,
    collect_fields = function()
      local all = assert(client:collect("list_inventory", {}, { fields = FIELDS }))
      for _ = 1, #all do count() end
      return all
    end,
    collect_cjson = function()
      local cjson = require "cjson"
      local all, key = {}, nil
      repeat
        local doc = cjson.decode(body_of("?page_key=" .. (key or "")))
        for _, item in ipairs(doc.items) do
          all[#all + 1] = item
          count()
        end
        key = doc.page_key ~= cjson.null and doc.page_key or nil
      until not key
      return all
    end,
  }
  local scan = assert(scans[name], "no row " .. name)
  collectgarbage("collect")
  local heap0 = collectgarbage("count")
  memory.reset_peak()
  local rss0 = memory.kb("VmRSS")
  local t0 = os.clock()
  local kept = scan()
  local seconds = os.clock() - t0
  collectgarbage("collect")
  local peak = memory.kb("VmHWM")
  local heap = collectgarbage("count") - heap0
  assert(seen == PAGE * PAGES, ("%s saw %d SIMs"):format(name, seen))
  assert(kept == nil or #kept == seen, "a collect kept the wrong count") -- and kept them alive until here
  print(("row %s %d %d %d %d %d %.3f"):format(name, seen, marks[1] - rss0, marks[2] - rss0, peak - rss0,
    math.floor(heap), seconds))
end

if arg[1] == "row" then
  run_row(assert(arg[2], "usage: iterate_memory_bench.lua row NAME"))
  return
end

local lua = arg[-1] or "lua5.4"
print(("Memory of a scan over %d SIMs (%d pages of %d), each row in a process of its own"):format(
  PAGE * PAGES, PAGES, PAGE))
print("| how | SIMs | peak RSS growth after 10 000 SIMs, KiB | after 50 000 | after 100 000 |"
  .. " Lua heap kept after, KiB | CPU seconds |")
print("|---|---:|---:|---:|---:|---:|---:|")
for _, row in ipairs(ROWS) do
  local p = assert(io.popen(("%s bench/iterate_memory_bench.lua row %s"):format(lua, row.name)))
  local out = p:read("a")
  p:close()
  local seen, at10, at50, at100, heap, seconds =
    out:match("row %S+ (%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) ([%d.]+)")
  assert(seen, "row " .. row.name .. " failed: " .. out)
  -- a collect holds every SIM before it answers: no "after 10 000" to tell
  print(("| %s | %s | %s | %s | %s | %s | %.2f |"):format(row.label, seen, row.holds_all and "—" or at10,
    row.holds_all and "—" or at50, at100, heap, tonumber(seconds)))
end
