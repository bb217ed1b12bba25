-- `flexiroam` as a whole, run as a user runs it: a command for every
-- operation of the table, an exit status per kind of failure with one line
-- on stderr (and the request id), --verbose's timings, the manual pages,
-- the bash completion, and `sandbox start|stop|fault` driving a sandbox.
local flexiroam = require("flexiroam")
local json = require("flexiroam.json")
local operations = require("flexiroam.operations")
local cli = require("spec.support.cli")
local procs = require("spec.support.test_processes")

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("flexiroam commands", function()
  local t = cli.against_sandbox(lazy_setup, lazy_teardown, { sims = 20, seed = 2 })
  local client, home
  lazy_setup(function() client, home = t.client, t.home end)
  before_each(function() assert(client:request("POST", "/__sandbox/reset")) end)
  local run = t.run

  local function fault(path, f, times)
    assert(client:request("POST", "/__sandbox/faults", { json = { path = path, fault = f, times = times } }))
  end

  it("types a generated command's parameters as the operations table types them, and nowhere else", function()
    local params = require("flexiroam.cli.params")
    -- An operation added with a typed parameter needs nothing in the CLI.
    local added = { params = { "iccid", "count", "on", "extra" }, required = { "iccid" },
      types = { count = "integer", on = "boolean", extra = "object" } }
    assert.equals(3, params.convert("count", "3", added))
    assert.is_true(params.convert("on", "yes", added))
    assert.same({ a = 1 }, params.convert("extra", '{"a":1}', added))
    assert.equals("3", params.convert("iccid", "3", added))
    assert.same({ nil, "count must be a whole number" }, { params.convert("count", "three", added) })
    -- params.TYPES (by name alone) is the table's types, gathered.
    local gathered = {}
    for _, op in pairs(operations) do
      for name, type_of in pairs(op.types or {}) do gathered[name] = type_of end
    end
    assert.same(gathered, params.TYPES)
    assert.same({ device_info = "object", user_info = "object", limit = "integer",
      enabled = "boolean", threshold_in_percentage = "boolean", threshold = "integer", quantity = "integer",
    }, params.TYPES)
    local page = run { "help", "update-auto-topup" }
    assert.truthy(page.out:find("the quantity (integer)", 1, true), page.out)
  end)

  it("has a command for every operation of the operations table", function()
    local help = run { "--help" }
    assert.equals(0, help.code)
    for name, op in pairs(operations) do
      local command = name:gsub("_", "-")
      assert.truthy(help.out:find("\n   " .. command .. " ", 1, true), command .. " is missing")
      local page = run { "help", command }
      assert.equals(0, page.code, page.err)
      assert.truthy(page.out:find(op.path, 1, true), "its page names the path")
    end
    local sim = assert(client:collect("list_inventory", {}, { max_items = 1 }))[1]
    local r = run { "get-sim", sim.iccid }
    assert.equals(0, r.code, r.err)
    assert.equals(sim.iccid, assert(json.decode(r.out)).iccid)
    r = run { "list-plans", "--country", "JPN", "--type", "recurring" }
    assert.equals(0, r.code, r.err)
    for _, plan in ipairs(assert(json.decode(r.out))) do assert.equals("recurring", plan.type) end
    -- A generated write asks first, like buy: off a terminal, --yes or nothing is sent.
    local before = json.encode(assert(client:get_sim { iccid = sim.iccid }).auto_topup_settings)
    r = run { "update-auto-topup", sim.iccid, "true", "--threshold", "20", "--quantity", "2" }
    assert.equals(2, r.code, "a write off a terminal without --yes is refused: " .. r.err)
    assert.truthy(r.err:find("--yes", 1, true), r.err)
    assert.equals(before, json.encode(assert(client:get_sim { iccid = sim.iccid }).auto_topup_settings))
    local cancel = run { "cancel-subscription", "sub-1" }
    assert.equals(2, cancel.code, cancel.err)
    assert.truthy(cancel.err:find("--yes", 1, true), cancel.err)
    r = run { "update-auto-topup", sim.iccid, "true", "--threshold", "20", "--quantity", "2", "--yes" }
    assert.equals(0, r.code, r.err)
    local updated = assert(json.decode(r.out))
    assert.is_true(updated.auto_topup_settings.enabled)
    assert.equals(20, updated.auto_topup_settings.threshold)
  end)

  describe("exit statuses, one line on stderr", function()
    local function check(code, r, pattern)
      assert.equals(code, r.code, r.err)
      local errs = lines(r.err)
      assert.equals(1, #errs, "one line: " .. r.err)
      assert.truthy(errs[1]:find("^flexiroam: "), errs[1])
      if pattern then assert.truthy(errs[1]:find(pattern), errs[1]) end
      assert.falsy(r.err:find("stack traceback", 1, true))
    end

    it("usage 2, auth 3, not found 4, rate limited 5, network 6, rejected 10, server 11", function()
      check(2, run { "sims", "nonsense" }, "unknown command")
      check(2, run { "sims", "list", "--limit", "many" }, "usage")
      check(3, run({ "plans" }, { FLEXIROAM_API_KEY = "wrong-key" }), "^flexiroam: auth: .*%(request %x+%-%d+")
      check(3, cli.run(home, { "plans" }), "no API key")
      local unknown = "8985235082000013999" .. flexiroam.esim.luhn_digit("8985235082000013999")
      check(4, run { "sims", "show", unknown }, "not_found")
      fault("/v1/public-v2/list-plans", "status=429;retry_after=0", 5)
      check(5, run { "--retries", "0", "plans" }, "rate_limited")
      assert(client:request("DELETE", "/__sandbox/faults"))
      check(6, run { "--retries", "0", "--base-url", "http://127.0.0.1:" .. procs.free_port(), "plans" }, "network")
      check(10, run { "sims", "show", "89852350820000131082" }, "Luhn")
      fault("/v1/public-v2/list-plans", "status=503", 5)
      check(11, run { "--retries", "0", "plans" }, "server request sbx%-")
    end)

    it("a misuse the SDK raises is a usage error; a bad config file is 13", function()
      check(2, run { "update-sim", "89852350820000131081", "--device-info", "[1]" }, "JSON object")
      local cfg = home .. "/bad.config"
      local f = assert(io.open(cfg, "w"))
      f:write("[p]\nbase_uri = x\n")
      f:close()
      check(13, run({ "plans" }, { FLEXIROAM_CONFIG = cfg }), "bad.config:2: unknown setting 'base_uri'")
    end)
  end)

  it("sims show --qr draws the eSIM's install code; a real scanner reads it back to its LPA string", function()
    local scan = require("spec.support.scan")
    local have_qr = pcall(require, "flexiroam.qr") and type(require("flexiroam.qr")) == "table"
    if not have_qr then return pending("this build has no flexiroam.qr") end
    local missing = scan.missing("zbarimg")
    if missing then return pending(missing) end
    local sim = assert(client:collect("list_inventory", { chip_type = "esim" }, { max_items = 1 }))[1]
    local activation = assert(client:get_activation { iccid = sim.iccid })
    for _, scheme in ipairs { "dark", "light" } do
      local r = run { "-o", "table", "sims", "show", sim.iccid, "--qr", "--qr-scheme", scheme }
      assert.equals(0, r.code, r.err)
      assert.truthy(r.out:find("iccid%s+" .. sim.iccid), "the record comes first")
      local code = {}
      for line in r.out:gmatch("[^\n]+") do
        if line:find("^[ \226\150\128\132\136]+$") and line:find("\226") then code[#code + 1] = line end
      end
      assert.same({ activation.lpa }, scan.decode_pbm(scan.terminal_to_pbm(table.concat(code, "\n") .. "\n", scheme)))
      assert.truthy(r.out:find(activation.lpa, 1, true), "and the string to type")
    end
    -- JSON on stdout stays JSON: the code goes to stderr.
    local r = run { "sims", "show", sim.iccid, "--qr" }
    assert.equals(sim.iccid, assert(json.decode(r.out)).iccid)
    assert.truthy(r.err:find(activation.lpa, 1, true))
  end)

  it("--verbose adds a line per request with its phase timings and request id", function()
    local r = run { "--verbose", "plans", "list", "--max-pages", "1" }
    assert.equals(0, r.code, r.err)
    local line = lines(r.err)[1]
    assert.truthy(line:find("^< GET /v1/public%-v2/list%-plans 200 in [%d.]+ ms " ..
      "%(.*total [%d.]+ ms.*%) request %x+%-%d+"), line)
  end)

  it("--verbose has a line for every attempt, one that got no answer too", function()
    fault("/v1/public-v2/list-plans", "reset", 2)
    local r = run { "--verbose", "plans", "list", "--max-pages", "1" }
    assert.equals(0, r.code, r.err)
    local out = lines(r.err)
    assert.equals(3, #out, r.err)
    for i = 1, 2 do assert.truthy(out[i]:find("^! GET /v1/public%-v2/list%-plans network after"), out[i]) end
    assert.truthy(out[3]:find("^< GET /v1/public%-v2/list%-plans 200 in"), out[3])
  end)

  it("prints manual pages: `help COMMAND`, `help exit-codes`", function()
    local r = run { "help", "sims", "show" }
    assert.equals(0, r.code, r.err)
    for _, section in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "ARGUMENTS", "OPTIONS", "EXIT STATUS", "EXAMPLES" } do
      assert.truthy(r.out:find("\n" .. section .. "\n", 1, true), section)
    end
    assert.truthy(r.out:find("--qr", 1, true))
    r = run { "help", "exit-codes" }
    for _, code in ipairs { "2  usage", "3  auth", "4  not_found", "5  rate_limited", "6  network",
      "7  indeterminate", "8  partial" } do
      assert.truthy(r.out:find(code, 1, true), code)
    end
    r = run { "help", "nothing-like-it" }
    assert.equals(2, r.code)
  end)

  it("completes in bash: commands, subcommands, options, choices and profile names", function()
    if not procs.have("bash") then return pending("bash is not installed") end
    local script = run { "completion", "bash" }
    assert.equals(0, script.code, script.err)
    local path = home .. "/completion.bash"
    local f = assert(io.open(path, "w"))
    f:write(script.out)
    f:close()
    local cfg = home .. "/profiles.config"
    f = assert(io.open(cfg, "w"))
    -- "-eu" starts like a formula: the profile names are asked for as raw CSV.
    f:write("[alpha]\nkey_env = X\n[beta]\nkey_env = Y\n[-eu]\nkey_env = Z\n")
    f:close()
    -- COMP_WORDS[0] runs the very command being completed (for profiles).
    local wrapper = home .. "/flexiroam"
    f = assert(io.open(wrapper, "w"))
    f:write("#!/bin/sh\nexec ", cli.command(home, {}, { env = { FLEXIROAM_CONFIG = cfg } }), ' "$@"\n')
    f:close()
    os.execute("chmod +x " .. procs.quote(wrapper))
    local function complete(...)
      local words = { wrapper, ... }
      local quoted = {}
      for i, w in ipairs(words) do quoted[i] = procs.quote(w) end
      local p = assert(io.popen("bash -c " .. procs.quote("source " .. procs.quote(path) .. "; COMP_WORDS=(" ..
        table.concat(quoted, " ") .. "); COMP_CWORD=" .. (#words - 1) .. '; _flexiroam; echo "${COMPREPLY[*]}"')))
      local out = p:read("*a")
      p:close()
      return out:gsub("%s+$", "")
    end
    assert.equals("sims subscriptions sell sandbox", complete("s"))
    assert.equals("list show", complete("sims", ""))
    assert.equals("--qr --qr-scheme", complete("sims", "show", "--q"))
    assert.equals("table json ndjson csv", complete("-o", ""))
    assert.equals("get-activation get-sim get-usage", complete("get-"))
    assert.equals("alpha beta -eu sandbox", complete("--profile", "")) -- and the built-in one
    assert.equals("--csv-raw", complete("--csv"))
    assert.truthy(run({ "completion", "zsh" }).out:find("^#compdef flexiroam"))
  end)

  it("completes in zsh: an interactive zsh (zpty) offers the subcommands and choices", function()
    if not procs.have("zsh") then return pending("zsh is not installed (make test installs it)") end
    local script = run { "completion", "zsh" }
    assert.equals(0, script.code, script.err)
    os.execute("mkdir -p " .. procs.quote(home .. "/zfunctions"))
    local f = assert(io.open(home .. "/zfunctions/_flexiroam", "w"))
    f:write(script.out)
    f:close()
    -- Types a command line and a TAB into a real interactive zsh with
    -- compinit, and answers what the terminal shows (escapes removed).
    local function complete(line)
      local driver = home .. "/complete.zsh"
      f = assert(io.open(driver, "w"))
      f:write(([[
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1="> "; fpath=(%s $fpath); autoload -U compinit; compinit -u -D'
sleep 1
zpty -w -n z %s
sleep 2
out=""
while zpty -rt z chunk; do out+=$chunk; done
print -r -- "$out"
zpty -d z
]]):format(procs.quote(home .. "/zfunctions"), procs.quote(line .. "\t")))
      f:close()
      local p = assert(io.popen("timeout 20 zsh -f " .. procs.quote(driver) .. " 2>&1"))
      local out = p:read("*a")
      p:close()
      return (out:gsub("\27%[[%d;?]*%a", ""):gsub("\r", "\n"))
    end
    local shown = complete("flexiroam sims ")
    assert.truthy(shown:find("list%s+%-%- every SIM"), shown)
    assert.truthy(shown:find("show%s+%-%- one SIM"), shown)
    shown = complete("flexiroam -o ")
    for _, format in ipairs { "table", "json", "ndjson", "csv" } do
      assert.truthy(shown:find("%f[%w]" .. format .. "%f[%W]"), shown)
    end
    shown = complete("flexiroam --csv")
    assert.truthy(shown:find("--csv-raw", 1, true), shown)
  end)

  it("sandbox start, status, fault, stop", function()
    local own = cli.home()
    local function sb_run(args) return cli.run(own, args) end
    local started = sb_run { "sandbox", "start", "--sims", "12", "--seed", "4" }
    assert.equals(0, started.code, started.err)
    local s = assert(json.decode(started.out))
    assert.truthy(s.url:find("^http://127%.0%.0%.1:%d+$"))
    local ok, why = pcall(function()
      assert.is_true(procs.alive(s.pid))
      assert.equals(s.pid, assert(json.decode(sb_run({ "sandbox", "status" }).out)).pid)
      local again = sb_run { "sandbox", "start" }
      assert.equals(s.pid, assert(json.decode(again.out)).pid) -- one sandbox, not two
      local sims = sb_run { "--profile", "sandbox", "sims", "list" }
      assert.equals(0, sims.code, sims.err)
      assert.equals(12, #assert(json.decode(sims.out)))
      assert.equals(0, sb_run({ "sandbox", "fault", "get-sim", "status=503", "--times", "2" }).code)
      local queued = assert(json.decode(sb_run({ "sandbox", "fault", "--list" }).out))
      assert.same({ { path = "/v1/public-v2/get-sim", fault = "status=503", remaining = 2 } }, queued)
      local failed = sb_run { "--profile", "sandbox", "--retries", "0", "get-sim", sims.out:match('"iccid":"(%d+)"') }
      assert.equals(11, failed.code, failed.err)
      assert.equals(1, assert(json.decode(sb_run({ "sandbox", "fault", "--clear" }).out)).cleared)
    end)
    local stopped = sb_run { "sandbox", "stop" }
    local alive = procs.alive(s.pid)
    cli.cleanup(own)
    assert(ok, why)
    assert.equals(0, stopped.code, stopped.err)
    assert.is_false(alive)
  end)
end)

describe("flexiroam.cli.failure's hint to finish a purchase", function()
  local failure = require("flexiroam.cli.failure")
  local errors = require("flexiroam.errors")

  local function report(err)
    local written = {}
    local real = io.stderr
    -- luacheck: push ignore 122
    io.stderr = { write = function(_, ...) for _, s in ipairs { ... } do written[#written + 1] = s end end }
    local ok, code = pcall(failure.report, { retry_hint = "`flexiroam sell P --reference R` finishes it" }, err)
    io.stderr = real
    -- luacheck: pop
    assert(ok, code)
    return table.concat(written), code
  end

  it("is given after an order went through, not when the SIM was taken (that needs a new reference)", function()
    local text = report(errors.new("indeterminate", "the answer was lost", { reference = "R" }))
    assert.truthy(text:find("--reference R", 1, true), text)
    text = report(errors.new("conflict", "SIM taken by another order: sell again under a NEW reference",
      { code = "sim_taken", order = { id = "o-1" } }))
    assert.falsy(text:find("--reference R", 1, true), text)
    assert.truthy(text:find("NEW reference", 1, true), text)
  end)
end)
