-- Profiles and the API key, as an operator sets them up: the key comes
-- from the environment, a 0600 key file (a wider one is refused) or a
-- command, never from argv; it is never printed (not by --debug, --verbose,
-- --dry-run, an error or `config show`) and never in /proc/<pid>/cmdline.
local json = require("flexiroam.json")
local socket = require("socket")
local sandbox = require("spec.support.sandbox")
local cli = require("spec.support.cli")
local procs = require("spec.support.test_processes")

-- Distinctive, so that any trace of it in any output is found.
local KEY = "fx-live-CLISPEC-7f3a9c2e41d8b605"

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " " .. procs.quote(path)) end
end

describe("flexiroam profiles and keys", function()
  local sb, home, config_dir
  lazy_setup(function()
    sb = sandbox.start { sims = 20, seed = 8, keys = KEY }
    home = cli.home()
    config_dir = home .. "/.config/flexiroam"
    os.execute("mkdir -p " .. procs.quote(config_dir))
    write(config_dir .. "/prod.key", KEY .. "\n", "600")
    write(config_dir .. "/wide.key", KEY .. "\n", "644")
    write(config_dir .. "/config", table.concat({
      "# profiles for the spec",
      "default = filed",
      "[filed]",
      "base_url = " .. sb.url,
      "key_file = prod.key",
      "[wide]",
      "base_url = " .. sb.url,
      "key_file = ~/.config/flexiroam/wide.key",
      "[commanded]",
      "base_url = " .. sb.url,
      'key_command = "printf \'%s\\nnotes\\n\' ' .. KEY .. '"',
      "[failing]",
      "base_url = " .. sb.url,
      "key_command = exit 3",
      "[env]",
      "base_url = " .. sb.url,
      "key_env = SPEC_FLEXIROAM_KEY",
    }, "\n") .. "\n")
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    cli.cleanup(home)
  end)

  local function run(args, env)
    return cli.run(home, args, { env = env })
  end

  local function assert_no_key(r, what)
    for _, text in ipairs { r.out or "", r.err or "" } do
      assert.falsy(text:find(KEY, 1, true), what .. " printed the key")
      assert.falsy(text:find(KEY:sub(1, 20), 1, true), what .. " printed part of the key")
    end
  end

  it("--base-url never takes a profile's key elsewhere: refused (exit 13) before anything is sent", function()
    local listener = assert(socket.bind("127.0.0.1", 0))
    listener:settimeout(0)
    local _, port = listener:getsockname()
    local url = "http://127.0.0.1:" .. port
    for _, args in ipairs {
      { "--base-url", url, "plans" },                             -- the default profile's key
      { "--profile", "env", "--base-url", url, "plans" },         -- a named profile's
    } do
      local r = run(args, { SPEC_FLEXIROAM_KEY = KEY })
      assert.equals(13, r.code, r.err)
      assert.truthy(r.err:find("--base-url", 1, true), r.err)
      assert.truthy(r.err:find("nothing was sent", 1, true), r.err)
      assert_no_key(r, table.concat(args, " "))
    end
    assert.is_nil(listener:accept(), "a request reached the listener")
    listener:close()
    -- The profile's own URL is fine; so is FLEXIROAM_API_KEY with no profile.
    local r = run { "--base-url", sb.url, "plans", "show", "FRA-1GB-7D" }
    assert.equals(0, r.code, r.err)
    local bare = cli.home()
    r = cli.run(bare, { "--base-url", sb.url, "plans", "show", "FRA-1GB-7D" }, { env = { FLEXIROAM_API_KEY = KEY } })
    cli.cleanup(bare)
    assert.equals(0, r.code, r.err)
  end)

  it("uses the default profile's key file (0600)", function()
    local r = run { "plans", "show", "FRA-1GB-7D" }
    assert.equals(0, r.code, r.err)
    assert.equals("FRA-1GB-7D", assert(json.decode(r.out)).id)
  end)

  it("refuses a key file others can read (exit 3), naming the file and the fix", function()
    local r = run { "-p", "wide", "plans" }
    assert.equals(3, r.code)
    assert.truthy(r.err:find("wide.key", 1, true) and r.err:find("chmod 600", 1, true), r.err)
    assert_no_key(r, "the refusal")
  end)

  it("takes the first line of a key_command; a failing one is exit 3", function()
    local r = run { "-p", "commanded", "plans", "show", "FRA-1GB-7D" }
    assert.equals(0, r.code, r.err)
    r = run { "-p", "failing", "plans" }
    assert.equals(3, r.code)
    assert.truthy(r.err:find("key_command", 1, true), r.err)
  end)

  it("selects a profile by FLEXIROAM_PROFILE; its key goes only to its own URL", function()
    local r = run({ "config", "show" }, { FLEXIROAM_PROFILE = "env", SPEC_FLEXIROAM_KEY = KEY,
      FLEXIROAM_API_KEY = "another-key-from-the-environment", FLEXIROAM_BASE_URL = "http://127.0.0.1:1" })
    assert.equals(0, r.code, r.err)
    local shown = assert(json.decode(r.out))
    assert.equals("env", shown.profile)
    assert.equals("FLEXIROAM_PROFILE", shown.profile_from)
    assert.equals(sb.url, shown.base_url)
    assert.equals("environment variable SPEC_FLEXIROAM_KEY", shown.key_source)
    assert.truthy(shown.key:find("^set, fingerprint %x+$"), shown.key)
    assert_no_key(r, "config show")
  end)

  it("names an unknown profile and the ones there are (exit 13)", function()
    local r = run { "-p", "nope", "plans" }
    assert.equals(13, r.code)
    assert.truthy(r.err:find("no profile 'nope'", 1, true) and r.err:find("filed, wide", 1, true), r.err)
  end)

  it("never takes a key on the command line (exit 2), and says why", function()
    for _, args in ipairs { { "--api-key", KEY, "plans" }, { "--api-key=" .. KEY, "plans" }, { "--key", "x" } } do
      local r = run(args)
      assert.equals(2, r.code)
      assert.truthy(r.err:find("never taken on the command line", 1, true), r.err)
      assert_no_key(r, "the refusal")
    end
    -- typed as the value of another option: refused before it is sent anywhere
    local r = run { "--fields", KEY, "plans" }
    assert.equals(2, r.code)
    assert.truthy(r.err:find("holds the API key", 1, true), r.err)
  end)

  it("never quotes the key when a word that holds it fails a check before anything connects", function()
    -- A command checks its words (an ICCID, a file, a field path), and the
    -- parser its options and commands, before the key is loaded: a message
    -- quoting such a word must become the key's refusal (exit 2).
    local runs = {
      { "sims", "show", KEY }, { "usage", KEY }, { "topup", KEY, "FRA-1GB-7D", "--yes" },
      { "--" .. KEY }, { KEY }, { "sims", KEY }, { "help", KEY }, { "jobs", "run", KEY .. ".csv" },
      { "sims", "list", "--fields", KEY .. "." }, { "-p", "commanded", "sims", "show", "x" .. KEY },
    }
    for _, args in ipairs(runs) do
      local r = run(args)
      local what = table.concat(args, " ")
      assert_no_key(r, what)
      assert.equals(2, r.code, what .. ": " .. tostring(r.err))
      assert.truthy(r.err:find("holds the API key", 1, true), what .. ": " .. tostring(r.err))
    end
    -- a word that is not the key is still quoted as it was
    local r = run { "sims", "show", "89852350820000131082" }
    assert.equals(10, r.code)
    assert.truthy(r.err:find("89852350820000131082", 1, true), r.err)
  end)

  it("--dry-run writes the key as the variable that holds it, or says where it comes from", function()
    local buy = { "--dry-run", "buy", "89852350820000131081", "FRA-1GB-7D" }
    local r = run(buy) -- the default profile: a key file
    assert.equals(0, r.code, r.err)
    assert.truthy(r.out:find('-H "x-api-key: $FLEXIROAM_API_KEY"', 1, true), r.out)
    assert.truthy(r.out:find("# $FLEXIROAM_API_KEY stands for the key in the key file " .. config_dir ..
      "/prod.key", 1, true), r.out)
    assert_no_key(r, "--dry-run, key file")
    local env_run = { "-p", "env" }
    for _, word in ipairs(buy) do env_run[#env_run + 1] = word end
    r = run(env_run, { SPEC_FLEXIROAM_KEY = KEY })
    assert.equals(0, r.code, r.err)
    assert.truthy(r.out:find('-H "x-api-key: $SPEC_FLEXIROAM_KEY"', 1, true), r.out)
    assert.falsy(r.out:find("stands for", 1, true), r.out)
    assert_no_key(r, "--dry-run, key_env")
  end)

  it("never prints the key: --debug, --verbose, --dry-run, errors, config show", function()
    local runs = {
      { "--debug", "plans", "show", "FRA-1GB-7D" },
      { "--verbose", "sims", "list", "--max-pages", "1" },
      { "--dry-run", "buy", "89852350820000131081", "FRA-1GB-7D" },
      { "--debug", "sims", "show", "89852350820000131081" },
      { "--debug", "get-sim", "89852350820000139999" },
      { "config", "show" },
      { "-o", "table", "config", "show" },
      { "--debug", "--retries", "0", "--base-url", "http://127.0.0.1:1", "plans" },
    }
    for _, args in ipairs(runs) do
      local r = run(args)
      assert_no_key(r, table.concat(args, " "))
    end
    local debug = run { "--debug", "plans", "show", "FRA-1GB-7D" }
    assert.truthy(debug.err:find("x-api-key: [REDACTED]", 1, true), debug.err)
  end)

  it("keeps the key out of /proc/<pid>/cmdline and its environment while it runs", function()
    local admin = require("flexiroam").new { api_key = KEY, base_url = sb.url }
    assert(admin:request("POST", "/__sandbox/faults",
      { json = { path = "/v1/public-v2/list-plans", fault = "delay_ms=1500" } }))
    local child = cli.spawn(home, { "plans", "list" })
    local cmdline, environ = "", ""
    local deadline = socket.gettime() + 5
    while cmdline == "" and socket.gettime() < deadline do
      cmdline = procs.slurp("/proc/" .. child.pid .. "/cmdline")
      environ = procs.slurp("/proc/" .. child.pid .. "/environ")
      socket.sleep(0.02)
    end
    socket.sleep(0.3) -- reading its key file, sending
    cmdline = cmdline .. procs.slurp("/proc/" .. child.pid .. "/cmdline")
    local r = cli.wait(child)
    admin:close()
    assert.equals(0, r.code, r.err)
    assert.truthy(cmdline:find("flexiroam", 1, true), "the process was seen")
    assert.falsy(cmdline:find(KEY, 1, true))
    assert.falsy(environ:find(KEY, 1, true))
  end)
end)
