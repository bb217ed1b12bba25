--- Runs bin/flexiroam-sandbox as a subprocess for specs:
--   local sb = require("spec.support.sandbox").start{sims =, seed =, keys =, ...}
--   sb.url  -- "http://127.0.0.1:PORT";  sb:stop() -> how, code (as io.close gives them)
-- Start fails with the server's stderr when no "listening" line comes within
-- `timeout` seconds (5); it never waits longer. Run from the repository root.
local socket = require "socket"
local processes = require "spec.support.test_processes"

local sandbox = {}

local Sandbox = {}
Sandbox.__index = Sandbox

local slurp, quote = processes.slurp, processes.quote

-- Running, as opposed to exited (a zombie until io.close reaps it) or gone.
local function alive(pid)
  local stat = slurp("/proc/" .. pid .. "/stat")
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

local function signal(pid, name)
  os.execute("kill -" .. name .. " " .. pid .. " 2>/dev/null")
end

--- start{sims=, seed=, keys= (string or list; "key@ip" binds a key to an
-- address), rate_limit= (per key per second), latency_ms=, host=, lua= ("lua5.4"),
-- timeout= (5), command= (a whole shell command instead of the script, for
-- testing this helper)} -> sandbox
function sandbox.start(opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local command = opts.command
  if not command then
    local args = { opts.lua or "lua5.4", "bin/flexiroam-sandbox", "--port", "0" }
    local function add(flag, value)
      if value ~= nil then
        if type(value) == "table" then value = table.concat(value, ",") end
        args[#args + 1] = flag
        args[#args + 1] = tostring(value)
      end
    end
    add("--host", opts.host)
    add("--sims", opts.sims)
    add("--seed", opts.seed)
    add("--keys", opts.keys)
    add("--rate-limit", opts.rate_limit)
    add("--latency-ms", opts.latency_ms)
    for i, a in ipairs(args) do args[i] = quote(a) end
    command = table.concat(args, " ")
  end
  -- `exec` keeps the shell's pid, so the pid echoed is the server's; its
  -- output goes to files so that waiting for the first line can time out.
  -- The script finds the checkout's modules itself; the specs' own paths
  -- (busted's --lpath/--cpath) come after them, e.g. for a build elsewhere.
  -- Only from a Lua 5.4 runner: LuaJIT's paths lead to 5.1 C modules that
  -- lua5.4 cannot load.
  local env = ""
  if _VERSION == "Lua 5.4" then
    env = "LUA_PATH_5_4=" .. quote(package.path .. ";;") .. " LUA_CPATH_5_4=" .. quote(package.cpath .. ";;")
  end
  local script = "echo $$; " .. env .. " exec " .. command .. " >" .. quote(out) .. " 2>" .. quote(err)
  local proc = assert(io.popen(script)) -- io.popen runs it with sh -c
  local pid = tonumber(proc:read("*l"))
  local self = setmetatable({ pid = pid, proc = proc, out_path = out, err_path = err }, Sandbox)
  if not pid then
    self:stop()
    error("sandbox: could not start " .. command)
  end

  local deadline = socket.gettime() + (opts.timeout or 5)
  while true do
    local first = slurp(out):match("^([^\n]*)\n")
    if first then
      self.first_line = first
      self.url = first:match("^listening (http://%S+)$")
      if not self.url then
        self:stop()
        error("sandbox: unexpected first line " .. string.format("%q", first))
      end
      self.host, self.port = self.url:match("^http://(.+):(%d+)$")
      self.port = tonumber(self.port)
      return self
    end
    local exited = not alive(pid)
    if exited or socket.gettime() > deadline then
      local stderr = slurp(err)
      self:stop()
      error(string.format("sandbox: %s before printing its listening line; stderr: %s",
        exited and "exited" or "no answer within " .. (opts.timeout or 5) .. " s", stderr), 2)
    end
    socket.sleep(0.02)
  end
end

--- Sends `sig` (default TERM), waits up to 3 s, then KILLs; reaps the process
-- and removes its files. Returns how it ended ("exit"/"signal") and the code.
function Sandbox:stop(sig)
  if self.how then return self.how, self.code end
  if alive(self.pid) then
    signal(self.pid, sig or "TERM")
    local deadline = socket.gettime() + 3
    while alive(self.pid) and socket.gettime() < deadline do socket.sleep(0.02) end
    if alive(self.pid) then signal(self.pid, "KILL") end
  end
  local _, how, code = self.proc:close()
  self.how, self.code = how, code
  self.stderr = slurp(self.err_path)
  os.remove(self.out_path)
  os.remove(self.err_path)
  return how, code
end

--- A client's view of the sandbox's counters (GET /__sandbox/stats).
function sandbox.stats(client)
  return assert(client:request("GET", "/__sandbox/stats"))
end

--- The first n free eSIMs of the inventory, as a list of ICCIDs.
function sandbox.free_esims(client, n)
  local out = {}
  for sim in client:inventory { chip_type = "esim", search_by = "availability", search = "free" } do
    out[#out + 1] = sim.iccid
    if #out == n then break end
  end
  return out
end

return sandbox
