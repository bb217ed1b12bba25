-- The examples, run as the user would (a separate lua5.4 process, key and
-- address from the environment) against a sandbox server; their output and
-- the sandbox's state afterwards are checked.
local flexiroam = require "flexiroam"
local sandbox = require "spec.support.sandbox"
local scan = require "spec.support.scan"

local GB = 1024 * 1024 * 1024
local SIMS = 80 -- 72 eSIMs: enough for a fleet of 50

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- -> stdout, stderr, exit code
local function run(url, script, args, key)
  local err_path = os.tmpname()
  local parts = {
    "FLEXIROAM_BASE_URL=" .. quote(url), "FLEXIROAM_API_KEY=" .. quote(key or "sandbox-key"),
    -- the specs' own module paths after the example's (examples/_path.lua)
    "LUA_PATH_5_4=" .. quote(package.path .. ";;"), "LUA_CPATH_5_4=" .. quote(package.cpath .. ";;"),
    "lua5.4", quote("examples/" .. script),
  }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>" .. quote(err_path) .. "; echo \"__exit=$?\""))
  local out = p:read("a")
  p:close()
  local f = io.open(err_path, "rb")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(err_path)
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  return out:gsub("__exit=%d+%s*$", ""), err, code
end

local function lines_matching(text, pattern)
  local found = {}
  for line in text:gmatch("[^\n]+") do
    if line:match(pattern) then found[#found + 1] = line end
  end
  return found
end

describe("examples against the sandbox", function()
  local sb, client
  lazy_setup(function()
    sb = sandbox.start { sims = SIMS, seed = 4 }
    client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function() assert(client:request("POST", "/__sandbox/reset")) end)

  local function stats()
    return assert(client:request("GET", "/__sandbox/stats"))
  end

  local function esims(n)
    return assert(client:collect("list_inventory", { chip_type = "esim" }, { max_items = n }))
  end

  it("quickstart lists every free eSIM", function()
    local out, err, code = run(sb.url, "quickstart.lua")
    assert.equals(0, code, err)
    assert.matches("\n72 free eSIMs\n$", out)
    assert.equals(72, #lines_matching(out, "^%d+ +%d+ +active +esim +free$"))
  end)

  it("json_codec decodes a generated page with exact integers and arrays that stay arrays", function()
    local out, err, code = run(sb.url, "json_codec.lua")
    assert.equals(0, code, err)
    assert.equals(20, #lines_matching(out, "^%d+ +4024081013%d%d%d +active +free$"))
    assert.matches("sku is a Lua integer; bootstrap_balances re%-encodes as %[%];", out)
    assert.matches("page_key is json.null: true", out)
  end)

  it("travel_upsell sells 3 GB / 7 days and prints the install string; a rerun buys nothing", function()
    local out, err, code = run(sb.url, "travel_upsell.lua", { "FRA", "shop-77" })
    assert.equals(0, code, err)
    assert.matches("plan       FRA%-3GB%-7D  France 3 GB / 7 days  %d+%.%d%d USD\n", out)
    local iccid = out:match("\neSIM       (%d+)\n")
    assert.truthy(iccid, out)
    local lpa = out:match("\ninstall    (LPA:1%$%S+)\n")
    assert.equals(assert(client:get_activation { iccid = iccid }).lpa, lpa)
    assert.matches("\ndata       3%.00 GB on the SIM\n", out)
    assert.matches("completed  reference shop%-77", out)
    assert.is_false(assert(client:get_sim { iccid = iccid }):is_free())

    local again, err2, code2 = run(sb.url, "travel_upsell.lua", { "FRA", "shop-77" })
    assert.equals(0, code2, err2)
    assert.matches("eSIM       " .. iccid .. "  %(sold before under this reference%)", again)
    assert.equals(1, stats().charges["shop-77"])
    assert.equals(1, stats().orders)
  end)

  it("travel_upsell fails with one readable line, and no key, when things go wrong", function()
    local out, err, code = run(sb.url, "travel_upsell.lua", { "ATA" })
    assert.equals(1, code)
    assert.equals("", out)
    assert.equals("no 3 GB / 7 days plan covers ATA\n", err)
    local key = "sk_wrong_5d2f9a"
    out, err, code = run(sb.url, "travel_upsell.lua", { "FRA" }, key)
    assert.equals(1, code)
    assert.equals("", out)
    assert.matches("^flexiroam: auth: .-401.-\n$", err)
    assert.is_nil(err:find(key, 1, true))
    assert.equals(0, stats().orders)
  end)

  it("usage_report and install_esim refuse a bad argument with their usage, before calling the API", function()
    -- nothing listens on port 1: an example that called the API would fail with a network error
    for _, case in ipairs { { "usage_report.lua", { "abc" } }, { "usage_report.lua", { "0" } },
      { "install_esim.lua", { "--scheme", "blue" } } } do
      local out, err, code = run("http://127.0.0.1:1", case[1], case[2])
      assert.equals(2, code, case[1] .. ": " .. err)
      assert.equals("", out)
      assert.matches("usage: ", err)
      assert.is_nil(err:find("network", 1, true), err)
    end
  end)

  it("iot_fleet subscribes 50 SIMs monthly; a rerun creates nothing new", function()
    local out, err, code = run(sb.url, "iot_fleet.lua")
    assert.equals(0, code, err)
    assert.matches("plan DEU%-2GB%-M: Germany 2 GB monthly", out)
    assert.equals(50, #lines_matching(out, "^%d+  subscribed  "))
    assert.matches("fleet of 50: 50 subscribed now, 0 already subscribed, 0 cancelled earlier, 0 failed\n$", out)
    local active = assert(client:collect("list_subscriptions", { status = "active" }))
    assert.equals(50, #active)
    local fleet = {}
    for _, sim in ipairs(esims(50)) do fleet[sim.iccid] = true end
    for _, sub in ipairs(active) do
      assert.is_true(fleet[sub.iccid])
      assert.equals("fleet:" .. sub.iccid .. ":DEU-2GB-M", sub.reference)
    end

    out, err, code = run(sb.url, "iot_fleet.lua")
    assert.equals(0, code, err)
    assert.matches("fleet of 50: 0 subscribed now, 50 already subscribed, 0 cancelled earlier, 0 failed\n$", out)
    assert.equals(50, stats().subscriptions)

    -- a subscription someone cancelled is not silently bought again
    assert(active[1]:cancel())
    out, err, code = run(sb.url, "iot_fleet.lua")
    assert.equals(0, code, err)
    assert.matches(active[1].iccid .. "  was cancelled", out, 1, true)
    assert.matches("0 subscribed now, 49 already subscribed, 1 cancelled earlier, 0 failed", out, 1, true)
    assert.equals(50, stats().subscriptions)
  end)

  it("usage_report lists the SIMs under 10 % of their data", function()
    local sims = esims(3)
    for i, sim in ipairs(sims) do assert(sim:purchase("FRA-1GB-7D", { reference = "u-" .. i })) end
    local function use(sim, bytes)
      assert(client:request("POST", "/__sandbox/consume", { json = { iccid = sim.iccid, bytes = bytes } }))
    end
    use(sims[1], GB - math.floor(GB / 20)) -- 5 % left
    use(sims[2], math.floor(GB / 2))       -- 50 % left
    local out, err, code = run(sb.url, "usage_report.lua")
    assert.equals(0, code, err)
    local rows = lines_matching(out, "^89%d+ ")
    assert.equals(1, #rows)
    assert.matches("^" .. sims[1].iccid .. " +FRA%-1GB%-7D +active +972%.8 MB +1%.00 GB +5%.0%%$", rows[1])
    assert.matches("\n1 SIMs under 10%% of their data\n$", out)
    out = run(sb.url, "usage_report.lua", { "60" })
    assert.equals(2, #lines_matching(out, "^89%d+ "))
    assert.matches("2 SIMs under 60%% of their data", out)
  end)

  it("auto_topup sets every SIM in use to refill itself; a rerun changes nothing; the setting works", function()
    local sims = esims(2)
    for i, sim in ipairs(sims) do assert(sim:purchase("FRA-1GB-7D", { reference = "t-" .. i })) end
    local out, err, code = run(sb.url, "auto_topup.lua")
    assert.equals(0, code, err)
    assert.equals(2, #lines_matching(out, "^%d+  auto top%-up on: under 20%%, add 1 x the plan$"))
    assert.matches("auto top%-up: 2 SIMs set up now, 0 already set up\n$", out)
    out = run(sb.url, "auto_topup.lua")
    assert.matches("auto top%-up: 0 SIMs set up now, 2 already set up\n$", out)
    local report = assert(client:request("POST", "/__sandbox/consume",
      { json = { iccid = sims[1].iccid, bytes = GB - math.floor(GB / 10) } }))
    assert.is_true(report.topped_up)
    assert.equals(1, stats().charges["auto-topup:" .. sims[1].iccid .. ":1"])
  end)

  it("install_esim draws a code that scans from the terminal, prints the links and saves the picture", function()
    local iccid = esims(1)[1].iccid
    local activation = assert(client:get_activation { iccid = iccid })
    local links = assert(activation:install_links())
    local png = os.tmpname()
    local out, err, code = run(sb.url, "install_esim.lua", { iccid, "--png", png, "--scheme", "ansi" })
    local saved = io.open(png, "rb"):read("a")
    os.remove(png)
    assert.equals(0, code, err)
    local drawn = assert(out:match("^(.-)eSIM       " .. iccid .. "\n"))
    assert.matches("\nby hand    SM-DP+ address " .. links.smdp_address .. ", activation code "
      .. links.activation_code .. "\n", out, nil, true)
    assert.matches("\niPhone     " .. links.ios .. "  (iOS 17.4+", out, nil, true)
    assert.matches("\nAndroid    enter the whole code: " .. links.lpa .. "\n", out, nil, true)
    local why = scan.missing("zbarimg")
    if why then return pending("the code is not scanned: " .. why) end
    assert.same({ links.lpa }, scan.decode_pbm(scan.terminal_to_pbm(drawn, "ansi")))
    assert.same({ links.lpa }, scan.decode_png(saved))
    local _, usage_err, usage_code = run(sb.url, "install_esim.lua", { "--scheme" })
    assert.equals(2, usage_code)
    assert.matches("--scheme needs a value", usage_err, nil, true)
  end)
end)
