-- bench/readme.lua: the README's benchmark tables come from `make bench`'s
-- output files, between markers, and nothing else of the README changes.
local procs = require "spec.support.test_processes"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("bench/readme.lua", function()
  local dir
  before_each(function() dir = procs.tmpdir() end)
  after_each(function() procs.rmdir(dir) end)

  local function run()
    local p = assert(io.popen(procs.interpreter() .. " bench/readme.lua " .. procs.quote(dir .. "/README.md") .. " " ..
      procs.quote(dir) .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    return out, procs.slurp(dir .. "/README.md")
  end

  it("replaces each marked block with every table of that bench's output, and only that", function()
    write(dir .. "/README.md", table.concat({
      "# t", "prose before", "<!-- bench:a_bench -->", "| old | table |", "|---|---|", "<!-- /bench:a_bench -->",
      "prose between", "<!-- bench:b_bench -->", "| kept |", "<!-- /bench:b_bench -->", "end", "",
    }, "\n"))
    write(dir .. "/a_bench.out",
      "a header line\n| x | y |\n|---|---|\n| 1 | 2 |\n\nnotes\n| z |\n|---|\n| 3 |\ntotal 1 s\n")
    local out, readme = run()
    assert.matches("1 table block", out)
    assert.matches("no tables for b_bench", out)
    assert.equals(table.concat({
      "# t", "prose before", "<!-- bench:a_bench -->", "| x | y |", "|---|---|", "| 1 | 2 |", "", "| z |", "|---|",
      "| 3 |", "<!-- /bench:a_bench -->", "prose between", "<!-- bench:b_bench -->", "| kept |",
      "<!-- /bench:b_bench -->", "end", "",
    }, "\n"), readme)
  end)

  it("bench/machine.lua prints one table row naming the machine the run measured", function()
    local p = assert(io.popen(procs.interpreter() .. " bench/machine.lua 2>&1"))
    local out = p:read("*a")
    p:close()
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals(3, #lines, out)
    assert.matches("^| measured | CPU | CPUs | widest SIMD | kernel | Debian | Lua | libcurl |$", lines[1])
    assert.matches("^|[-:|]+|$", lines[2])
    local cells = {}
    for cell in lines[3]:gmatch("|%s*([^|]-)%s*%f[|]") do cells[#cells + 1] = cell end
    assert.equals(8, #cells, lines[3])
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d UTC$", cells[1])
    assert.equals(_VERSION, cells[7])
    -- the CPU count against the C library's own count of configured CPUs (where getconf answers)
    local g = assert(io.popen("getconf _NPROCESSORS_CONF 2>/dev/null"))
    local configured = g:read("*l")
    g:close()
    if configured and configured:match("^%d+$") then assert.equals(configured, cells[3]) end
  end)

  it("marks every table of the project's README, so none is typed by hand", function()
    local readme = procs.slurp("README.md")
    local section = readme:match("\n## Benchmarks.-\n## ")
    assert.is_string(section)
    local inside = false
    for line in section:gmatch("[^\n]*") do
      if line:match("^<!%-%- bench:") then inside = true end
      if line:match("^<!%-%- /bench:") then inside = false end
      if line:sub(1, 1) == "|" then assert.is_true(inside, "a table line outside the markers: " .. line) end
    end
  end)
end)
