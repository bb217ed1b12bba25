-- The commands that spend money, run as an operator runs them against the
-- sandbox: the confirmation prompt driven through a pseudo-terminal, no
-- purchase off a terminal without --yes, --dry-run sending nothing, the
-- reference printed before the purchase is sent, an unclear purchase
-- finished with that reference without a second charge, and a bulk job
-- interrupted and resumed from its journal, each purchase charged once.
local flexiroam = require("flexiroam")
local json = require("flexiroam.json")
local csv = require("flexiroam.cli.csv")
local socket = require("socket")
local sandbox = require("spec.support.sandbox")
local cli = require("spec.support.cli")
local procs = require("spec.support.test_processes")

local KEY = "sandbox-key" -- the sandbox's

describe("flexiroam money commands", function()
  local t = cli.against_sandbox(lazy_setup, lazy_teardown, { sims = 40, seed = 5 })
  local sb, client, home, env
  lazy_setup(function() sb, client, home, env = t.sb, t.client, t.home, t.env end)
  before_each(function() assert(client:request("POST", "/__sandbox/reset")) end)

  local function run(args, opts)
    return t.run(args, nil, opts and opts.stdin)
  end

  local function stats() return sandbox.stats(client) end
  local function price(plan_id)
    for plan in client:plans { limit = 100 } do
      if plan.id == plan_id then return plan.price end
    end
  end
  local function free(n) return sandbox.free_esims(client, n) end

  local function max_charge(s)
    local most = 0
    for _, n in pairs(s.charges) do most = math.max(most, n) end
    return most
  end

  describe("buy", function()
    it("asks on a terminal: `y` buys, under the reference printed before it was sent", function()
      if not cli.have_pty() then return pending("util-linux script is not installed") end
      local iccid = free(1)[1]
      local r = cli.pty(home, { "buy", iccid, "FRA-3GB-7D" }, { env = env, input = "y\n", columns = 200 })
      assert.equals(0, r.code, r.out)
      local ref = r.out:match("under reference ([%w%-]+)")
      assert.truthy(ref, r.out)
      assert.truthy(r.out:find(flexiroam.models.money(price("FRA-3GB-7D")), 1, true), "the price is shown")
      local asked = r.out:find("Buy it? [y/N]", 1, true)
      local sent = r.out:find("sending purchase_plan under reference " .. ref, 1, true)
      assert.truthy(asked and sent and asked < sent, r.out)
      local order = assert(client:list_orders { reference = ref }).items[1]
      assert.equals(iccid, order.iccid)
      assert.equals(1, stats().charges[ref])
    end)

    it("asks on a terminal: anything but yes sends nothing and exits 14", function()
      if not cli.have_pty() then return pending("util-linux script is not installed") end
      local iccid = free(1)[1]
      local before = stats().orders
      local r = cli.pty(home, { "buy", iccid, "FRA-3GB-7D" }, { env = env, input = "n\n" })
      assert.equals(14, r.code, r.out)
      assert.truthy(r.out:find("nothing was sent", 1, true))
      assert.equals(before, stats().orders)
    end)

    it("refuses off a terminal without --yes (exit 2), buys with it", function()
      local iccid = free(1)[1]
      local r = run({ "buy", iccid, "FRA-1GB-7D" }, { stdin = "y\n" })
      assert.equals(2, r.code)
      assert.truthy(r.err:find("pass --yes", 1, true), r.err)
      assert.equals(0, stats().orders)
      r = run { "buy", iccid, "FRA-1GB-7D", "--yes", "--reference", "order-7" }
      assert.equals(0, r.code, r.err)
      local order = assert(json.decode(r.out))
      assert.equals("order-7", order.reference)
      assert.same(price("FRA-1GB-7D"), order.price)
      assert.truthy(r.err:find("sending purchase_plan under reference order-7", 1, true))
    end)

    it("--dry-run prints the exact request as curl, the key as $FLEXIROAM_API_KEY, and sends nothing", function()
      local iccid = free(1)[1]
      local before = stats().requests
      local r = run { "buy", iccid, "FRA-1GB-7D", "--reference", "dry-1", "--dry-run" }
      assert.equals(0, r.code, r.err)
      assert.equals(before + 1, stats().requests) -- this stats request alone
      assert.truthy(r.out:find("curl -X POST '" .. sb.url .. "/v1/public-v2/purchase-plan'", 1, true), r.out)
      assert.truthy(r.out:find('-H "x-api-key: $FLEXIROAM_API_KEY"', 1, true))
      local body = assert(json.decode(r.out:match("%-%-data%-raw '([^']+)'")))
      assert.same({ iccid = iccid, plan_id = "FRA-1GB-7D", reference = "dry-1" }, body)
      assert.falsy(r.out:find(KEY, 1, true))
    end)

    it("an unclear purchase exits 7 with the reference; the command it prints finishes it, charged once", function()
      local iccid = free(1)[1]
      assert(client:request("POST", "/__sandbox/faults",
        { json = { path = "/v1/public-v2/purchase-plan", fault = "after_commit=reset" } }))
      assert(client:request("POST", "/__sandbox/faults",
        { json = { path = "/v1/public-v2/list-orders", fault = "status=503", times = 10 } }))
      local r = run { "buy", iccid, "FRA-1GB-7D", "--yes", "--retries", "1" }
      assert.equals(7, r.code, r.err)
      local again = r.err:match("`(flexiroam buy [^`]+)`[^\n]*\n?$")
      assert.truthy(again, r.err)
      local ref = again:match("%-%-reference (%S+)")
      assert(client:request("DELETE", "/__sandbox/faults"))
      local args = {}
      for word in again:gmatch("%S+") do args[#args + 1] = word end
      table.remove(args, 1)
      args[#args + 1] = "--yes"
      r = run(args)
      assert.equals(0, r.code, r.err)
      assert.truthy(r.err:find("nothing was charged again", 1, true), r.err)
      assert.equals(1, stats().charges[ref])
      assert.equals(1, stats().orders)
    end)
  end)

  describe("Ctrl-C while a purchase is out", function()
    local function interrupted(args, again)
      assert(client:request("POST", "/__sandbox/faults",
        { json = { path = "/v1/public-v2/purchase-plan", fault = "delay_ms=1500", times = 2 } }))
      local child = cli.spawn(home, args, { env = env })
      local deadline = socket.gettime() + 10
      repeat
        socket.sleep(0.05)
        local _, err = cli.output(child)
      until err:find("sending purchase_plan", 1, true) or socket.gettime() > deadline
      socket.sleep(0.2)
      os.execute("kill -INT " .. child.pid)
      local r = cli.wait(child)
      assert(client:request("DELETE", "/__sandbox/faults"))
      assert.equals(130, r.code, r.err)
      local last = r.err:match("([^\n]*)\n?$")
      assert.truthy(last:find("may have gone through", 1, true), r.err)
      assert.truthy(last:find(again, 1, true), r.err)
      assert.truthy(last:find("without buying twice", 1, true), r.err)
    end

    it("buy, topup and sell say it may have gone through, and the command that finishes it", function()
      local iccid = free(1)[1]
      interrupted({ "buy", iccid, "FRA-1GB-7D", "--yes", "--reference", "int-buy" },
        "flexiroam buy " .. iccid .. " FRA-1GB-7D --reference int-buy")
      assert.equals(0, run({ "buy", iccid, "FRA-1GB-7D", "--yes", "--reference", "int-buy" }).code)
      interrupted({ "topup", iccid, "FRA-1GB-7D", "--yes", "--reference", "int-top" },
        "flexiroam topup " .. iccid .. " FRA-1GB-7D --reference int-top")
      interrupted({ "sell", "FRA-1GB-7D", "--yes", "--reference", "int-sell" },
        "flexiroam sell FRA-1GB-7D --reference int-sell")
      assert.equals(1, max_charge(stats()))
    end)
  end)

  describe("topup and sell", function()
    it("topup refuses a SIM nobody bought onto (exit 2) and tops up one in use with its current plan", function()
      local iccid = free(1)[1]
      local r = run { "topup", iccid, "--yes" }
      assert.equals(2, r.code, r.err)
      assert.truthy(r.err:find("has no plan yet", 1, true))
      assert.equals(0, run({ "buy", iccid, "FRA-1GB-7D", "--yes" }).code)
      r = run { "topup", iccid, "--yes" }
      assert.equals(0, r.code, r.err)
      assert.equals("FRA-1GB-7D", assert(json.decode(r.out)).plan_id)
      assert.equals(2, stats().orders)
    end)

    it("sell picks a free eSIM, prints the activation; the same reference again buys nothing", function()
      local r = run { "sell", "FRA-3GB-7D", "--reference", "shop-9", "--yes" }
      assert.equals(0, r.code, r.err)
      local sale = assert(json.decode(r.out))
      assert.equals("shop-9", sale.reference)
      assert.truthy(sale.lpa:find("^LPA:1%$"))
      r = run { "sell", "FRA-3GB-7D", "--reference", "shop-9", "--yes" }
      assert.equals(0, r.code, r.err)
      assert.is_true(assert(json.decode(r.out)).replayed)
      assert.equals(1, stats().charges["shop-9"])
    end)

    it("sell --dry-run shows the purchase onto the eSIM it would pick, and sends nothing", function()
      local before = stats().requests
      local r = run { "sell", "FRA-3GB-7D", "--dry-run" }
      assert.equals(0, r.code, r.err)
      assert.equals(before + 1, stats().requests)
      assert.truthy(r.out:find("list-inventory", 1, true))
      assert.truthy(r.out:find('"iccid":"<picked eSIM>"', 1, true), r.out)
    end)

    it("--qr needs the install kit's renderer: without it, a clear error before anything is bought", function()
      local have_qr = pcall(require, "flexiroam.qr") and type(require("flexiroam.qr")) == "table"
      local r = run { "sell", "FRA-3GB-7D", "--yes", "--qr", "-o", "table" }
      if have_qr then
        assert.equals(0, r.code, r.err)
        assert.truthy(r.out:find("\226\150[\128\132\136]"), "half blocks of a QR code")
      else
        assert.equals(1, r.code)
        assert.truthy(r.err:find("flexiroam.qr", 1, true), r.err)
        assert.equals(0, stats().orders)
      end
    end)
  end)

  describe("jobs", function()
    local function job_file(n, extra)
      local path = home .. "/job-" .. tostring(math.random(1e9)) .. ".csv"
      local f = assert(io.open(path, "w"))
      f:write("iccid,plan_id,key\n")
      for i, iccid in ipairs(free(n)) do f:write(iccid, ",FRA-1GB-7D,order-", i, "\n") end
      f:write(extra or "")
      f:close()
      return path
    end

    it("refuses a file with a bad line before anything is sent", function()
      -- a value the SDK refuses is a validation error (exit 10, as from `buy`), a line
      -- that does not parse a usage one (exit 2); either names its line
      for _, case in ipairs { { "8910,FRA-1GB-7D,order-x\n", 10, "validation: " },
        { "89852350820000131081,FRA-1GB-7D\n", 2, "usage: " } } do
        local path = job_file(2, case[1])
        local r = run { "jobs", "run", path, "--yes" }
        assert.equals(case[2], r.code, r.err)
        assert.truthy(r.err:find(case[3], 1, true), r.err)
        assert.truthy(r.err:find(":4: ", 1, true), r.err)
        assert.equals(0, stats().orders)
      end
    end)

    it("runs with a journal, prints each reference before sending it, and a rerun buys nothing again", function()
      local path = job_file(4)
      local r = run { "jobs", "run", path, "--yes", "-o", "csv" }
      assert.equals(0, r.code, r.err)
      local rows = assert(csv.parse(r.out))
      assert.equals(5, #rows)
      for i = 2, 5 do
        local ref = rows[i][5]
        assert.truthy(r.err:find("sending purchase_plan under reference " .. ref, 1, true))
        assert.equals("done", rows[i][6])
      end
      local total = flexiroam.models.money { amount_minor = 4 * price("FRA-1GB-7D").amount_minor, currency = "USD" }
      assert.truthy(r.err:find("purchases at catalogue prices: " .. total, 1, true), r.err)
      local again = run { "jobs", "run", path, "--yes", "-o", "csv" }
      assert.equals(0, again.code, again.err)
      assert.equals("done before", assert(csv.parse(again.out))[2][6])
      assert.equals(4, stats().orders)
      local inspect = run { "jobs", "inspect", path }
      local report = assert(json.decode(inspect.out))
      assert.equals(4, report.done)
      assert.equals(total, report.committed)
    end)

    it("a job interrupted with Ctrl-C exits 130; `jobs resume` finishes it, each purchase charged once", function()
      local path = job_file(6)
      assert(client:request("POST", "/__sandbox/faults",
        { json = { path = "/v1/public-v2/purchase-plan", fault = "delay_ms=400", times = 6 } }))
      local child = cli.spawn(home, { "jobs", "run", path, "--yes", "--concurrency", "1" }, { env = env })
      local deadline = socket.gettime() + 10
      repeat
        socket.sleep(0.05)
        local _, err = cli.output(child)
      until select(2, err:gsub("sending purchase_plan", "")) >= 2 or socket.gettime() > deadline
      os.execute("kill -INT " .. child.pid)
      local r = cli.wait(child)
      assert.equals(130, r.code, r.err)
      assert.truthy(r.err:find("jobs resume", 1, true), r.err)
      assert.is_true(stats().orders < 6)
      assert(client:request("DELETE", "/__sandbox/faults"))
      local resumed = run { "jobs", "resume", path, "--yes", "-o", "json" }
      assert.equals(0, resumed.code, resumed.err)
      local s = stats()
      assert.equals(6, s.orders)
      assert.equals(1, max_charge(s))
      assert.falsy(procs.alive(child.pid))
    end)

    local function write_job(rows, path)
      path = path or (home .. "/job-" .. tostring(math.random(1e9)) .. ".csv")
      local f = assert(io.open(path, "w"))
      f:write(rows[1].key and "iccid,plan_id,key\n" or "iccid,plan_id\n")
      for _, r in ipairs(rows) do f:write(r.iccid, ",", r.plan_id, r.key and ("," .. r.key) or "", "\n") end
      f:close()
      return path
    end

    it("--extend after a record is added above the others buys only the new one", function()
      local sims = free(3)
      local rows = { { iccid = sims[1], plan_id = "FRA-1GB-7D" }, { iccid = sims[2], plan_id = "FRA-1GB-7D" } }
      local path = write_job(rows)
      local r = run { "jobs", "run", path, "--yes" }
      assert.equals(0, r.code, r.err)
      assert.equals(2, stats().orders)
      table.insert(rows, 1, { iccid = sims[3], plan_id = "FRA-1GB-7D" })
      local f = assert(io.open(path, "w"))
      f:write("iccid,plan_id\n")
      for _, row in ipairs(rows) do f:write(row.iccid, ",", row.plan_id, "\n") end
      f:close()
      r = run { "jobs", "run", path, "--extend", "--yes", "-o", "csv" }
      assert.equals(0, r.code, r.err)
      local s = stats()
      assert.equals(3, s.orders)
      assert.equals(1, max_charge(s))
      local out = assert(csv.parse(r.out))
      assert.equals("done", out[2][6])
      assert.equals("done before", out[3][6])
      assert.equals("done before", out[4][6])
    end)

    it("a changed file without --extend is refused (exit 12), sending nothing, with the flags to go on", function()
      local sims = free(3)
      local rows = { { iccid = sims[1], plan_id = "FRA-1GB-7D" }, { iccid = sims[2], plan_id = "FRA-1GB-7D" } }
      local path = write_job(rows)
      assert.equals(0, run({ "jobs", "run", path, "--yes" }).code)
      local before = stats()
      rows[#rows + 1] = { iccid = sims[3], plan_id = "FRA-1GB-7D" }
      write_job(rows, path)
      local r = run { "jobs", "run", path, "--yes" }
      assert.equals(12, r.code, r.err)
      assert.truthy(r.err:find("belongs to another job: of its 2 entries, 2 match " .. path .. " and 0 do not",
        1, true), r.err)
      assert.truthy(r.err:find("`flexiroam jobs run " .. path .. " --extend`", 1, true), r.err)
      assert.falsy(r.err:find("journal_mode", 1, true), r.err)
      assert.falsy(r.err:find("journal: journal", 1, true), r.err)
      assert.equals(before.orders, stats().orders)
    end)

    it("--extend refuses, sending nothing, a purchase that matches one the journal shows done under another key",
      function()
        local sims = free(2)
        local path = write_job { { iccid = sims[1], plan_id = "FRA-1GB-7D", key = "order-1" },
          { iccid = sims[2], plan_id = "FRA-1GB-7D", key = "order-2" } }
        assert.equals(0, run({ "jobs", "run", path, "--yes" }).code)
        local before = stats().requests
        local f = assert(io.open(path, "w"))
        f:write("iccid,plan_id,key\n", sims[1], ",FRA-1GB-7D,order-1-renamed\n", sims[2], ",FRA-1GB-7D,order-2\n")
        f:close()
        local r = run { "jobs", "run", path, "--extend", "--yes" }
        assert.equals(9, r.code, r.err)
        assert.truthy(r.err:find(":2 (purchase_plan FRA-1GB-7D onto " .. sims[1], 1, true), r.err)
        assert.truthy(r.err:find("order-1", 1, true), r.err)
        assert.truthy(r.err:find("Nothing was sent", 1, true), r.err)
        local s = stats()
        assert.equals(2, s.orders)
        assert.is_true(s.requests - before <= 1, "only the catalogue may be read") -- no purchase
        -- given the old entry's reference, as the refusal suggests, it is that order: answered
        -- again by the API, nothing charged
        local ref
        for line in io.lines(path .. ".journal") do
          local rec = json.decode(line)
          if type(rec) == "table" and rec.key == "order-1" and rec.state == "started" then ref = rec.reference end
        end
        assert.truthy(ref)
        f = assert(io.open(path, "w"))
        f:write("iccid,plan_id,key,reference\n", sims[1], ",FRA-1GB-7D,order-1-renamed,", ref, "\n",
          sims[2], ",FRA-1GB-7D,order-2,\n")
        f:close()
        r = run { "jobs", "run", path, "--extend", "--yes" }
        assert.equals(0, r.code, r.err)
        assert.equals(2, stats().orders)
      end)

    it("the same file run again without its journal (deleted, or another --journal) charges nothing again",
      function()
        local sims = free(2)
        local path = write_job { { iccid = sims[1], plan_id = "FRA-1GB-7D" },
          { iccid = sims[1], plan_id = "FRA-1GB-7D" }, { iccid = sims[2], plan_id = "FRA-1GB-7D" } }
        local r = run { "jobs", "run", path, "--yes", "-o", "json" }
        assert.equals(0, r.code, r.err)
        assert.equals(3, stats().orders) -- two identical records are two purchases
        local refs = {}
        for _, item in ipairs(assert(json.decode(r.out))) do refs[#refs + 1] = item.reference end
        os.remove(path .. ".journal")
        r = run { "jobs", "run", path, "--yes", "-o", "json" }
        assert.equals(0, r.code, r.err)
        for i, item in ipairs(assert(json.decode(r.out))) do
          assert.equals(refs[i], item.reference)
          assert.equals("replayed", item.status)
        end
        r = run { "jobs", "run", path, "--yes", "--journal", home .. "/other-" .. math.random(1e9) .. ".journal" }
        assert.equals(0, r.code, r.err)
        local s = stats()
        assert.equals(3, s.orders)
        assert.equals(1, max_charge(s))
        -- --new-job buys again on purpose, and refuses a journal that holds a job.
        r = run { "jobs", "run", path, "--yes", "--new-job" }
        assert.equals(2, r.code, r.err)
        assert.equals(3, stats().orders)
        r = run { "jobs", "run", path, "--yes", "--new-job", "--journal", home .. "/again-" .. math.random(1e9) }
        assert.equals(0, r.code, r.err)
        assert.equals(6, stats().orders)
      end)

    it("a --new-job interrupted early is resumed under its own salted references, not the first job's",
      function()
        local path = job_file(4)
        assert.equals(0, run({ "jobs", "run", path, "--yes" }).code)
        assert.equals(4, stats().orders)
        local second = home .. "/second-" .. math.random(1e9) .. ".journal"
        assert(client:request("POST", "/__sandbox/faults",
          { json = { path = "/v1/public-v2/purchase-plan", fault = "delay_ms=400", times = 4 } }))
        local child = cli.spawn(home, { "jobs", "run", path, "--yes", "--concurrency", "1", "--new-job",
          "--journal", second }, { env = env })
        local deadline = socket.gettime() + 10
        repeat
          socket.sleep(0.05)
          local _, err = cli.output(child)
        until err:find("sending purchase_plan", 1, true) or socket.gettime() > deadline
        os.execute("kill -INT " .. child.pid)
        assert.equals(130, cli.wait(child).code)
        assert(client:request("DELETE", "/__sandbox/faults"))
        local r = run { "jobs", "resume", path, "--yes", "--journal", second, "-o", "json" }
        assert.equals(0, r.code, r.err)
        for _, item in ipairs(assert(json.decode(r.out))) do
          assert.truthy(item.reference:find("^job%-%x%x%x%x%x%x%x%x%-%x+%-%d+$"), item.reference)
          assert.are_not.equal("replayed", item.status)
        end
        local s = stats()
        assert.equals(8, s.orders)
        assert.equals(1, max_charge(s))
      end)

    it("--dry-run skips what the journal shows done, and says so", function()
      local path = job_file(2)
      assert.equals(0, run({ "jobs", "run", path, "--yes" }).code)
      local f = assert(io.open(path, "a"))
      f:write(free(3)[3], ",FRA-1GB-7D,order-3\n")
      f:close()
      local r = run { "--dry-run", "jobs", "run", path }
      assert.equals(0, r.code, r.err)
      assert.equals(2, select(2, r.err:gsub("done in [^\n]*skipped", "")), r.err)
      assert.equals(1, select(2, (r.out .. r.err):gsub("purchase%-plan", "")), r.out .. r.err)
    end)

    it("a partly failed job exits 8 and says how to go on", function()
      local path = job_file(3)
      assert(client:request("POST", "/__sandbox/faults",
        { json = { path = "/v1/public-v2/purchase-plan", fault = "status=422", times = 1 } }))
      local r = run { "jobs", "run", path, "--yes", "--concurrency", "1" }
      assert.equals(8, r.code, r.err)
      assert.truthy(r.err:find("jobs resume", 1, true))
      r = run { "jobs", "resume", path, "--yes" }
      assert.equals(0, r.code, r.err)
      assert.equals(3, stats().orders)
    end)
  end)
end)
