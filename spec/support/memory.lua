--- This process's memory, from /proc/self (Linux): for specs and benches
-- that bound what a call may use, in a child of their own.
--   local memory = require "spec.support.memory"
--   memory.reset_peak(); ...; memory.kb("VmHWM") - memory.kb("VmRSS")
local memory = {}

--- A size field of /proc/self/status in KiB ("VmRSS", "VmHWM", ...).
function memory.kb(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s*(%d+)")
    if v then return tonumber(v) end
  end
  return nil
end

--- Resets the peak RSS (VmHWM) to the current RSS: 5 to clear_refs.
function memory.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then
    f:write("5")
    f:close()
  end
end

--- Minor page faults of this process so far (/proc/self/stat, field 10):
-- a count of fresh pages touched, which a buffer given back and grown again
-- on every call pays for every call.
function memory.minor_faults()
  local f = assert(io.open("/proc/self/stat", "r"))
  local stat = f:read("a")
  f:close()
  -- the command name (field 2) may hold spaces and ") ": count from after
  -- the last ")"
  local i = 2
  for field in stat:match(".*%) (.*)$"):gmatch("%S+") do
    i = i + 1
    if i == 10 then return tonumber(field) end
  end
  error("no minflt field in /proc/self/stat")
end

--- memory.faults_per_call(setup) -> the minor page faults of one call,
-- measured in a fresh Lua child (how glibc places a big block depends on
-- what the process freed before), and the child's output. `setup` is Lua
-- source that defines `local function call()`, which must return the
-- size in bytes of what it made; the child calls it 3 times, then counts
-- over 20 more. The bytes are printed for the caller to compare with.
function memory.faults_per_call(setup)
  local procs = require("spec.support.test_processes")
  local out = assert(procs.lua_child(setup .. [[

    local memory = require "spec.support.memory"
    local bytes
    for _ = 1, 3 do bytes = call() end
    local before = memory.minor_faults()
    for _ = 1, 20 do assert(call() == bytes, "the calls made different sizes") end
    print("faults", (memory.minor_faults() - before) / 20, "bytes", bytes)
  ]]))
  local per_call, bytes = out:match("faults%s+(%S+)%s+bytes%s+(%S+)")
  return assert(tonumber(per_call), out), assert(tonumber(bytes), out)
end

--- Whether blocks come from the system's allocator: not under `make asan`
-- (its own allocator, with a quarantine) or valgrind, whose allocators
-- hand out fresh memory by design, so page counts mean nothing there.
function memory.own_allocator()
  local core_path = package.searchpath("flexiroam.core", package.cpath) or ""
  return not os.getenv("FLEXIROAM_UNDER_VALGRIND") and not core_path:find("/asan/", 1, true)
end

return memory
