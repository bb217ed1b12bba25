--- flexiroam sandbox start|stop|status|fault: the local fake of the API
-- (bin/flexiroam-sandbox) in the background, for trying the command line,
-- a script or a failure without a key and without money. `--profile
-- sandbox` then talks to it with its own key.
local flexiroam = require("flexiroam")
local operations = require("flexiroam.operations")
local checks = require("flexiroam.cli.checks")
local paths = require("flexiroam.cli.paths")
local state = require("flexiroam.cli.sandbox_state")

local SANDBOX_KEY = "sandbox-key"

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

local function slurp(path)
  return state.slurp(path) or ""
end

-- The sandbox program: beside this command (a checkout's bin/, or where
-- luarocks installed both), else on PATH.
local function program(ctx)
  local dir = (ctx.argv0 or ""):match("^(.*)/[^/]*$")
  if dir then
    local beside = dir .. "/flexiroam-sandbox"
    local f = io.open(beside, "rb")
    if f then
      f:close()
      return beside
    end
  end
  return "flexiroam-sandbox"
end

local function show(ctx, s)
  ctx:item({ url = s.url, pid = s.pid, log = s.log, profile = "sandbox" }, {
    cols = (function()
      local cols = {}
      for _, name in ipairs { "url", "pid", "profile", "log" } do
        cols[#cols + 1] = { name = name, get = function(r) return r[name] end }
      end
      return cols
    end)(),
  })
end

local function start(ctx, args)
  local running = state.running()
  if running then
    ctx.say("a sandbox is already running at " .. running.url .. " (pid " .. running.pid .. ")")
    return show(ctx, running)
  end
  if not paths.make_dir(paths.state_dir()) then
    error({ kind = "config", message = "cannot create " .. paths.state_dir() }, 0)
  end
  local log = paths.state_dir() .. "/sandbox.log"
  os.remove(log)
  local words = { paths.quote(program(ctx)), "--port", tostring(args.port or 0), "--keys", SANDBOX_KEY }
  for _, o in ipairs { { "--sims", args.sims }, { "--seed", args.seed }, { "--rate-limit", args.rate_limit },
    { "--latency-ms", args.latency_ms } } do
    if o[2] then words[#words + 1] = o[1] .. " " .. tostring(o[2]) end
  end
  -- Its own session (setsid): a Ctrl-C or a closed terminal here does not
  -- reach it. `$!` is its pid: setsid and env exec, they do not fork.
  local p = io.popen("setsid " .. table.concat(words, " ") .. " >" .. paths.quote(log) ..
    " 2>&1 </dev/null & echo $!")
  local pid = tonumber(p:read("*l") or "")
  p:close()
  -- Up to 15 s: a loaded machine takes a while to start a Lua program.
  local url
  for _ = 1, 300 do
    url = slurp(log):match("^listening (http://%S+)\n")
    -- Alive, not is_sandbox: mid-exec (setsid, env, then lua5.4) the
    -- process's cmdline may read empty for a moment, which is no death.
    if url or not (pid and state.alive(pid)) then break end
    sleep(0.05)
  end
  if not url then
    -- Ours, and of no use without its address: not left running.
    if pid and state.is_sandbox(pid) then os.execute("kill -TERM " .. math.floor(pid) .. " 2>/dev/null") end
    error({ kind = "internal", message = "the sandbox did not start: " ..
      (slurp(log):gsub("%s+$", ""):gsub("\n", " ")) }, 0)
  end
  local s = { pid = pid, url = url, key = SANDBOX_KEY, log = log }
  local ok, err = state.write(s)
  if not ok then error({ kind = "config", message = "cannot write " .. state.file() .. ": " .. tostring(err) }, 0) end
  ctx.say("sandbox running at " .. url .. "; use it with `flexiroam --profile sandbox ...`; stop it with " ..
    "`flexiroam sandbox stop`")
  show(ctx, s)
end

local function stop(ctx)
  local s = state.read()
  if not (s and state.is_sandbox(s.pid)) then
    state.remove()
    ctx.say("no sandbox is running")
    return
  end
  os.execute("kill -TERM " .. math.floor(s.pid) .. " 2>/dev/null")
  for _ = 1, 60 do
    if not state.alive(s.pid) then break end
    sleep(0.05)
  end
  if state.alive(s.pid) then os.execute("kill -KILL " .. math.floor(s.pid) .. " 2>/dev/null") end
  state.remove()
  ctx.say("stopped the sandbox at " .. s.url .. " (pid " .. s.pid .. ")")
end

local function status(ctx)
  local s, err = state.running()
  if not s then error({ kind = "not_found", message = err.message }, 0) end
  show(ctx, s)
end

-- A client for the control endpoints: they take no key, and the operator's
-- own key must never go to them, so it carries the sandbox's.
local function control(ctx)
  local url = ctx.args.base_url
  if not url then
    local s, err = state.running()
    if not s then error(err, 0) end
    url = s.url
  end
  return flexiroam.new { api_key = SANDBOX_KEY, base_url = url, retries = 0, user_agent = "flexiroam-cli" }
end

local function fault(ctx, args)
  local client = control(ctx)
  local answer, err
  if args.list then
    answer, err = client:request("GET", "/__sandbox/faults")
    if not answer then error(err, 0) end
    local w = ctx:list {}
    for _, f in ipairs(answer.faults or {}) do w:add(f) end
    return w:finish()
  end
  if args.clear then
    answer, err = client:request("DELETE", "/__sandbox/faults")
    if not answer then error(err, 0) end
    return ctx:item(answer)
  end
  if not (args.target and args.fault) then
    error({ kind = "usage", message = "name the operation (or path) and the fault, or pass --list or --clear" }, 0)
  end
  local path = args.target
  if path:sub(1, 1) ~= "/" then
    local op = operations[path:gsub("%-", "_")]
    if not op then error({ kind = "usage", message = "no operation '" .. args.target .. "'" }, 0) end
    path = op.path
  end
  answer, err = client:request("POST", "/__sandbox/faults",
    { json = { path = path, fault = args.fault, times = args.times } })
  if not answer then error(err, 0) end
  ctx:item(answer)
end

return {
  name = "sandbox",
  summary = "a local fake of the API in the background: start, stop, status, fault",
  description = "`sandbox start` runs bin/flexiroam-sandbox on a free port in its own session and remembers it " ..
    "(in ~/.local/state/flexiroam/); `--profile sandbox` then talks to it with its own key. `sandbox fault` " ..
    "queues failures for the next requests to an operation: status=503, reset, after_commit=500 (the purchase " ..
    "is made but the answer lost), delay_ms=N, ... (see the README, The sandbox).",
  commands = {
    {
      name = "start", summary = "start a sandbox in the background (or show the one running)",
      options = {
        { "--port", arg = "N", convert = checks.whole, description = "port to listen on (default: a free one)" },
        { "--sims", arg = "N", convert = checks.whole, description = "SIMs in its inventory (default 200)" },
        { "--seed", arg = "N", convert = checks.whole, description = "seed of its data (default 1)" },
        { "--rate-limit", arg = "N", convert = checks.count, description = "requests a second before 429s" },
        { "--latency-ms", arg = "N", convert = checks.whole, description = "answer every request N ms late" },
      },
      examples = { "flexiroam sandbox start && flexiroam --profile sandbox sims list --free" },
      run = start,
    },
    { name = "stop", summary = "stop the sandbox `sandbox start` started", run = stop },
    { name = "status", summary = "where the sandbox runs (exit 4 when none does)", run = status },
    {
      name = "fault", summary = "queue a fault for an operation's next requests (or --list, --clear)",
      arguments = {
        { "target", args = "?", description = "an operation (purchase-plan) or a path (/v1/public-v2/...)" },
        { "fault", args = "?", description = "status=NNN, html502, garbage, envelope, reset, truncate, " ..
          "delay_ms=N, after_commit=reset, after_commit=NNN, ..." },
      },
      options = {
        { "--times", arg = "N", convert = checks.count, description = "for the next N requests (default 1)" },
        { "--list", description = "the faults queued" },
        { "--clear", description = "drop every queued fault" },
      },
      examples = { "flexiroam sandbox fault purchase-plan after_commit=500 --times 1" },
      run = fault,
    },
  },
}
