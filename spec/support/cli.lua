--- Runs bin/flexiroam as a user does: a separate process of the specs' own
-- interpreter (test_processes.lua_command: the right Lua, the ASan runtime
-- under `make asan`), with a HOME of its own (config, state) and none of
-- the FLEXIROAM_* variables of the machine unless a spec gives them.
--   local cli = require("spec.support.cli")
--   local home = cli.home()
--   local r = cli.run(home, { "sims", "list", "-o", "json" }, { env = { FLEXIROAM_API_KEY = "k" } })
--   r.code, r.out, r.err
--   cli.pty(home, args, { input = "y\n" }) -> the same, run on a pseudo-terminal
local procs = require("spec.support.test_processes")

local cli = {}

local quote, slurp = procs.quote, procs.slurp

local VARS = { "FLEXIROAM_API_KEY", "FLEXIROAM_BASE_URL", "FLEXIROAM_PROFILE", "FLEXIROAM_CONFIG", "FLEXIROAM_LOG",
  "XDG_CONFIG_HOME", "XDG_STATE_HOME", "COLUMNS" }

--- A fresh HOME (a temporary directory) for one spec's runs.
function cli.home()
  return procs.tmpdir()
end

function cli.cleanup(home)
  procs.rmdir(home)
end

--- The shell command that runs flexiroam with `args` (a list) in `home`.
function cli.command(home, args, opts)
  opts = opts or {}
  local env = { "env" }
  for _, name in ipairs(VARS) do env[#env + 1] = "-u " .. name end
  env[#env + 1] = "HOME=" .. quote(home)
  local names = {}
  for name in pairs(opts.env or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do env[#env + 1] = name .. "=" .. quote(opts.env[name]) end
  local words = {}
  for i, a in ipairs(args) do words[i] = quote(a) end
  return table.concat(env, " ") .. " " .. procs.lua_command("bin/flexiroam") .. " " .. table.concat(words, " ")
end

local function finish(base, r)
  r.out = slurp(base .. ".out")
  r.err = slurp(base .. ".err")
  r.code = tonumber(slurp(base .. ".rc"):match("%d+"))
  for _, ext in ipairs { ".out", ".err", ".rc", ".in" } do os.remove(base .. ext) end
  return r
end

--- cli.run(home, args [, {env =, stdin = text}]) -> {code =, out =, err =}
function cli.run(home, args, opts)
  opts = opts or {}
  local base = os.tmpname()
  local input = "/dev/null"
  if opts.stdin then
    input = base .. ".in"
    local f = assert(io.open(input, "wb"))
    f:write(opts.stdin)
    f:close()
  end
  os.execute(cli.command(home, args, opts) .. " <" .. quote(input) .. " >" .. quote(base .. ".out") .. " 2>" ..
    quote(base .. ".err") .. "; echo $? >" .. quote(base .. ".rc"))
  os.remove(base)
  return finish(base, {})
end

--- cli.spawn(home, args [, opts]) -> {pid =, base =}: started, not waited
-- for; cli.wait(child) -> the run's {code, out, err}; cli.output(child)
-- -> what it printed so far.
function cli.spawn(home, args, opts)
  local base = os.tmpname()
  os.remove(base)
  local p = assert(io.popen("(" .. cli.command(home, args, opts) .. " </dev/null >" .. quote(base .. ".out") ..
    " 2>" .. quote(base .. ".err") .. " & echo $! ; wait $! ; echo $? >" .. quote(base .. ".rc") .. ") &"))
  local pid = tonumber(p:read("*l"))
  p:close()
  return { pid = pid, base = base }
end

function cli.output(child)
  return slurp(child.base .. ".out"), slurp(child.base .. ".err")
end

function cli.wait(child, seconds)
  local socket = require("socket")
  local deadline = socket.gettime() + (seconds or 20)
  while not slurp(child.base .. ".rc"):find("%d") do
    if socket.gettime() > deadline then error("flexiroam did not finish in time") end
    socket.sleep(0.02)
  end
  return finish(child.base, { pid = child.pid })
end

--- cli.pty(home, args [, {env =, input = text, columns = n}]) -> {code, out}:
-- the command on a pseudo-terminal (util-linux `script`): stdin, stdout
-- and stderr are that terminal, `input` is typed into it; out is all it
-- showed (CR LF line ends turned into LF).
function cli.pty(home, args, opts)
  opts = opts or {}
  local base = os.tmpname()
  local f = assert(io.open(base .. ".in", "wb"))
  f:write(opts.input or "")
  f:close()
  local inner = cli.command(home, args, opts)
  if opts.columns then inner = "stty cols " .. math.floor(opts.columns) .. " rows 40; " .. inner end
  os.execute("script -q -e -c " .. quote(inner) .. " /dev/null <" .. quote(base .. ".in") .. " >" ..
    quote(base .. ".out") .. " 2>" .. quote(base .. ".err") .. "; echo $? >" .. quote(base .. ".rc"))
  os.remove(base)
  local r = finish(base, {})
  r.out = r.out:gsub("\r\n", "\n")
  return r
end

--- cli.against_sandbox(lazy_setup, lazy_teardown, sandbox_opts) -> t: in
-- the describe that calls it, a sandbox (t.sb), a client of it (t.client),
-- a HOME (t.home) and the environment that points flexiroam at it (t.env),
-- made before its first test and gone after its last. `t.run(args [,
-- extra_env])` runs flexiroam there.
function cli.against_sandbox(lazy_setup, lazy_teardown, sandbox_opts)
  local t = {}
  lazy_setup(function()
    t.sb = require("spec.support.sandbox").start(sandbox_opts)
    t.client = require("flexiroam").new { api_key = "sandbox-key", base_url = t.sb.url }
    t.home = cli.home()
    t.env = { FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = t.sb.url }
  end)
  lazy_teardown(function()
    if t.client then t.client:close() end
    if t.sb then t.sb:stop() end
    cli.cleanup(t.home)
  end)
  function t.run(args, extra_env, stdin)
    local env = {}
    for k, v in pairs(t.env) do env[k] = v end
    for k, v in pairs(extra_env or {}) do env[k] = v end
    return cli.run(t.home, args, { env = env, stdin = stdin })
  end
  return t
end

--- Whether `script` (util-linux) is here to give a command a terminal.
function cli.have_pty()
  return procs.have("script") and procs.have("stty")
end

return cli
