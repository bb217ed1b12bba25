-- The rockspec must ship every module of the tree: a file added to lua/ or
-- src/ and forgotten there would work in a checkout and fail once installed.
local function rockspec()
  local env = {}
  local chunk = assert(loadfile("rockspec/flexiroam-scm-1.rockspec", "t", env))
  chunk()
  return env
end

local function lines(cmd)
  local out = {}
  local p = assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

describe("rockspec", function()
  local spec = rockspec()
  local modules = spec.build.modules

  it("lists every Lua module under lua/ with its dotted name", function()
    for _, file in ipairs(lines("find lua -name '*.lua' | sort")) do
      local name = file:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      assert.equals(file, modules[name], "missing or wrong rockspec entry for " .. file)
    end
  end)

  it("compiles every C source under src/ into flexiroam.core", function()
    local listed = {}
    for _, src in ipairs(modules["flexiroam.core"].sources) do listed[src] = true end
    local files = lines("ls src/*.c")
    assert.is_true(#files > 0)
    for _, file in ipairs(files) do
      assert.is_true(listed[file] == true, "rockspec does not compile " .. file)
    end
    assert.equals(#files, #modules["flexiroam.core"].sources)
  end)

  it("reports the same version as the module", function()
    local header = assert(io.open("src/version.h")):read("a")
    assert.equals(require("flexiroam").VERSION, header:match('FX_VERSION "([^"]+)"'))
  end)
end)
