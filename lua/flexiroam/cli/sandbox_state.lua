--- The sandbox `flexiroam sandbox start` left running: its pid, address,
-- key and log, in a state file, so `sandbox stop`, `sandbox fault` and the
-- built-in "sandbox" profile find it from any shell.
local json = require("flexiroam.json")
local paths = require("flexiroam.cli.paths")

local state = {}

function state.file()
  return paths.state_dir() .. "/sandbox.json"
end

--- A file's whole text, or nil.
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end
state.slurp = slurp

--- Whether the process `pid` runs (not gone, not a zombie).
function state.alive(pid)
  local run_state = (slurp("/proc/" .. pid .. "/stat") or ""):match("^%d+ %b() (%a)")
  return run_state ~= nil and run_state ~= "Z" and run_state ~= "X"
end

--- Whether `pid` runs a flexiroam-sandbox (a pid reused by another
-- program since is not ours to stop).
function state.is_sandbox(pid)
  if type(pid) ~= "number" or not state.alive(pid) then return false end
  local cmdline = slurp("/proc/" .. pid .. "/cmdline") or ""
  return cmdline:find("flexiroam-sandbox", 1, true) ~= nil
end

--- state.read() -> {pid =, url =, key =, log =} or nil (no file, or unreadable).
function state.read()
  local text = slurp(state.file())
  if not text then return nil end
  local t = json.decode(text)
  if type(t) ~= "table" or type(t.pid) ~= "number" or type(t.url) ~= "string" then return nil end
  return t
end

--- state.running() -> the state of a sandbox that runs | nil, err
function state.running()
  local s = state.read()
  if s and state.is_sandbox(s.pid) then return s end
  return nil, { kind = "config", message = "no sandbox is running (start one with `flexiroam sandbox start`)" }
end

function state.write(s)
  if not paths.make_dir(paths.state_dir()) then return nil, "cannot create " .. paths.state_dir() end
  local f, err = io.open(state.file(), "wb")
  if not f then return nil, err end
  f:write(json.encode(s, { sort_keys = true }), "\n")
  f:close()
  return true
end

function state.remove()
  os.remove(state.file())
end

return state
