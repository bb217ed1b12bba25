-- The machine a `make bench` run measured, as a one-row table for the
-- README (bench/readme.lua puts it under the Benchmarks heading): the
-- ratios against the C loop move with the machine more than with the code
-- (a fast loopback and a slow CPU shrink every one), so each set of tables
-- says where it was made.
--
--   lua5.4 bench/machine.lua
local files = require("tools.files")

local function first_line(command)
  local p = io.popen(command .. " 2>/dev/null")
  if not p then return nil end
  local line = p:read("l")
  p:close()
  return line
end

-- A newline first, so that every field, the first one too, follows one.
local cpuinfo = "\n" .. (files.slurp("/proc/cpuinfo") or "")

local function cpu_field(name)
  return cpuinfo:match("\n" .. name .. "%s*: ([^\n]*)")
end

local function count_cpus()
  local n = 0
  for _ in cpuinfo:gmatch("processor%s*: %d+") do n = n + 1 end
  return n > 0 and tostring(n) or "?"
end

-- The widest vector extension the CPU reports, of those the codec's
-- scanners could use (the build itself uses SSE2, and SSSE3 where present).
local function simd()
  local flags = " " .. (cpu_field("flags") or "") .. " "
  for _, f in ipairs { { "avx512f", "AVX-512" }, { "avx2", "AVX2" }, { "ssse3", "SSSE3" }, { "sse2", "SSE2" } } do
    if flags:find(" " .. f[1] .. " ", 1, true) then return f[2] end
  end
  return "?"
end

local function trim(s)
  return s and (s:gsub("^%s+", ""):gsub("%s+$", "")) or nil
end

local model = trim(cpu_field("model name")) or "?"
local mhz = tonumber(cpu_field("cpu MHz") or "")
local kernel = trim(files.slurp("/proc/sys/kernel/osrelease")) or "?"
local debian = trim(files.slurp("/etc/debian_version")) or "?"
local libcurl = first_line("pkg-config --modversion libcurl") or "?"

print("| measured | CPU | CPUs | widest SIMD | kernel | Debian | Lua | libcurl |")
print("|---|---|---:|---|---|---|---|---|")
print(("| %s | %s%s | %s | %s | %s | %s | %s | %s |"):format(os.date("!%Y-%m-%d %H:%M UTC"), model,
  mhz and (" at %d MHz"):format(math.floor(mhz + 0.5)) or "", count_cpus(), simd(), kernel, debian, _VERSION,
  libcurl))
