-- The rockspec must ship every module of the tree: a file added to lua/ or
-- src/ and forgotten there would work in a checkout and fail once installed.
local function rockspec(file)
  local env = {}
  local chunk = assert(loadfile(file or "rockspec/flexiroam-scm-1.rockspec", "t", env))
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

  it("ships the folders it copies (the manual, the examples, the editor types)", function()
    assert.same({ "docs", "examples", "library" }, spec.build.copy_directories)
  end)
end)

-- The release rockspec is made from the development one (make rockspec), so
-- the checks above hold for it too once it is current.
describe("release rockspec", function()
  local version = require("flexiroam").VERSION
  local file = "rockspec/flexiroam-" .. version .. "-1.rockspec"

  it("is the development rockspec made for this version (make rockspec)", function()
    local p = assert(io.popen("env -u LD_PRELOAD lua5.4 tools/release_rockspec.lua --check 2>&1"))
    local out = p:read("a")
    p:close() -- its status is always true on LuaJIT: the output says
    assert.matches("is up to date", out)
  end)

  it("names the version and the tarball make dist writes", function()
    local release = rockspec(file)
    assert.equals(version .. "-1", release.version)
    local name = "flexiroam-" .. version
    assert.equals(name, release.source.dir)
    assert.matches("^https://.+/v" .. version:gsub("%.", "%%.") .. "/" .. name:gsub("[%.%-]", "%%%0") ..
      "%.tar%.gz$", release.source.url)
    assert.same(rockspec().build, release.build)
    assert.same(rockspec().dependencies, release.dependencies)
  end)
end)

-- Every module the shipped code requires is the SDK's own, the host's
-- (LuaJIT's bit, nginx's ngx.*, OpenResty's resty.*), or a package that
-- flexiroam.dependencies names and the rockspec declares; and the rockspec
-- declares nothing else.
describe("rockspec dependencies", function()
  local packages = require("flexiroam.dependencies").PACKAGES

  local function host_module(name)
    return name == "bit" or name:match("^ngx%.") or name:match("^resty%.")
  end

  -- module name -> the first file requiring it, comments left out.
  local function required_modules()
    local found = {}
    for _, file in ipairs(lines("find lua bin -type f | sort")) do
      local text = assert(io.open(file)):read("a")
      text = text:gsub("%-%-%[(=*)%[.-%]%1%]", ""):gsub("%-%-[^\n]*", "")
      for name in text:gmatch("require%s*%(?%s*[\"']([%w_%.]+)[\"']") do
        if not name:match("^flexiroam") and not host_module(name) then found[name] = found[name] or file end
      end
    end
    return found
  end

  it("declare the package of every module the shipped code requires, and no other", function()
    local declared = {}
    for _, dep in ipairs(rockspec().dependencies) do
      local rock = dep:match("^([%w_%-]+)")
      if rock ~= "lua" then declared[rock] = true end
    end
    local needed = {}
    for name, file in pairs(required_modules()) do
      local package = packages[name]
      assert.is_table(package, file .. " requires '" .. name .. "': add its package to flexiroam.dependencies")
      assert.is_true(declared[package.rock], file .. " requires '" .. name .. "': declare " .. package.rock ..
        " in the rockspec's dependencies")
      needed[package.rock] = true
    end
    for rock in pairs(declared) do
      assert.is_true(needed[rock], "the rockspec declares " .. rock .. ", which no shipped code requires")
    end
    assert.is_true(needed.luasocket, "the sandbox's LuaSocket was not found: is the scan blind?")
  end)
end)
