-- A package the SDK needs and the machine lacks is named in one line, with
-- how to install it, instead of require's traceback through every path it
-- searched (flexiroam.dependencies; the sandbox needs LuaSocket).
local dependencies = require "flexiroam.dependencies"
local processes = require "spec.support.test_processes"

describe("dependencies.require", function()
  local saved

  before_each(function()
    saved = dependencies.PACKAGES.fx_absent_module
    dependencies.PACKAGES.fx_absent_module = { name = "Absent", rock = "absent-rock", debian = "lua-absent" }
  end)

  after_each(function()
    dependencies.PACKAGES.fx_absent_module = saved
    package.preload.fx_broken_module = nil
  end)

  it("answers the module when it is there", function()
    assert.equals(require("string"), dependencies.require("string", "a spec"))
  end)

  it("names the package, who needs it and how to install it when it is missing", function()
    local ok, err = pcall(dependencies.require, "fx_absent_module", "the spec")
    assert.is_false(ok)
    assert.equals('missing package: Absent (Lua module "fx_absent_module"), which the spec needs: install it ' ..
      "with `apt-get install lua-absent` (Debian) or `luarocks install absent-rock`", err)
    assert.is_true(dependencies.is_missing(err))
  end)

  it("passes on the error of a module that is there but fails to load", function()
    package.preload.fx_broken_module = function() error("boom inside", 0) end
    dependencies.PACKAGES.fx_broken_module = dependencies.PACKAGES.fx_absent_module
    local ok, err = pcall(dependencies.require, "fx_broken_module", "the spec")
    dependencies.PACKAGES.fx_broken_module = nil
    assert.is_false(ok)
    assert.matches("boom inside", err)
    assert.is_false(dependencies.is_missing(err))
  end)
end)

describe("bin/flexiroam-sandbox without LuaSocket", function()
  it("says which package is missing, in one line, and exits 1", function()
    local out = os.tmpname()
    -- Only the checkout's own paths: no system tree, so no LuaSocket.
    local r, _, code = os.execute("env -u LD_PRELOAD LUA_PATH_5_4='./lua/?.lua;./lua/?/init.lua' " ..
      "LUA_CPATH_5_4='./build/5.4/?.so' lua5.4 bin/flexiroam-sandbox --port 0 > " .. out .. " 2>&1")
    local text = processes.slurp(out)
    os.remove(out)
    assert.equals(1, code or r / 256) -- 5.4: false, "exit", 1; 5.1/LuaJIT: the raw wait status
    assert.equals("flexiroam-sandbox: missing package: LuaSocket (Lua module \"socket\"), which the sandbox's " ..
      "server needs: install it with `apt-get install lua-socket` (Debian) or `luarocks install luasocket`\n", text)
  end)
end)
