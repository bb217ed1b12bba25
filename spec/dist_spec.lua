-- make dist (tools/dist.sh): the .src.rock holds the release rockspec and
-- the tarball it names, the tarball holds what the rock ships (the library,
-- the C core, the sandbox, the examples, the docs with the reference manual,
-- the editor types) and not the specs, fuzz targets, benchmarks, tools or
-- CI; and, with FLEXIROAM_DIST_INSTALL=1 (make dist-check: it compiles the
-- core twice), luarocks installs it offline into clean trees for Lua 5.4 and
-- for Lua 5.1/LuaJIT, where require "flexiroam" and a call against the
-- installed sandbox work.
local describe_with = require("spec.support.describe_with")(describe, it, pending)
local processes = require("spec.support.test_processes")
local public_api = require("spec.support.public_api")

local run, quote, slurp = public_api.run, processes.quote, processes.slurp
local version = require("flexiroam").VERSION
local name = "flexiroam-" .. version

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function missing_tools()
  for _, tool in ipairs { "ldoc", "zip", "unzip", "git" } do
    if run("command -v " .. tool) == "" then return tool .. " is not installed (make dist installs what it needs)" end
  end
  if run("git rev-parse --is-inside-work-tree") ~= "true\n" then return "not a git checkout" end
  return nil
end

-- Builds the dist into a fresh directory: its path, or raises with make's output.
local function make_dist()
  local dir = os.tmpname()
  os.remove(dir)
  local out = run("make --no-print-directory dist DIST=" .. quote(dir))
  assert(out:find("wrote " .. dir, 1, true), out)
  return dir
end

describe_with(missing_tools(), "make dist", function()
  local dir, rock, tarball, listing

  setup(function()
    dir = make_dist()
    rock, tarball = dir .. "/" .. name .. "-1.src.rock", dir .. "/" .. name .. ".tar.gz"
    listing = {}
    for _, path in ipairs(lines(run("tar tzf " .. quote(tarball)))) do listing[path] = true end
  end)

  teardown(function()
    if dir then os.execute("rm -rf " .. quote(dir)) end
  end)

  it("makes a .src.rock of the release rockspec and the tarball it names", function()
    local names = {}
    for _, line in ipairs(lines(run("unzip -Z1 " .. quote(rock)))) do names[#names + 1] = line end
    table.sort(names)
    assert.same({ name .. "-1.rockspec", name .. ".tar.gz" }, names)
    assert.equals(slurp("rockspec/" .. name .. "-1.rockspec"), run("unzip -p " .. quote(rock) .. " " .. name ..
      "-1.rockspec"))
    assert.equals(slurp(tarball), run("unzip -p " .. quote(rock) .. " " .. name .. ".tar.gz"))
  end)

  it("puts everything under one directory, the rockspec's source.dir", function()
    for path in pairs(listing) do
      assert.equals(name .. "/", path:sub(1, #name + 1))
    end
  end)

  it("ships the library, the core, the sandbox, the examples, the docs and the types", function()
    local wanted = lines(run("git ls-files lua src bin examples docs library rockspec"))
    for _, extra in ipairs { "README.md", "CONTRIBUTING.md", "LICENSE", "CHANGELOG.md", "docs/reference/index.html",
      "docs/reference/classes/flexiroam.client.html" } do
      wanted[#wanted + 1] = extra
    end
    assert.is_true(#wanted > 100)
    for _, path in ipairs(wanted) do
      assert.is_true(listing[name .. "/" .. path], path .. " is not in the tarball")
    end
  end)

  it("ships no specs, fuzz targets, benchmarks, tools or CI", function()
    for path in pairs(listing) do
      local top = path:sub(#name + 2):match("^[^/]+")
      for _, excluded in ipairs { "spec", "fuzz", "bench", "tools", ".ci", "build", "dist", "Makefile" } do
        assert.is_true(top ~= excluded, path .. " should not be shipped")
      end
    end
  end)

  it("holds every file the rockspec builds or installs", function()
    local env = {}
    assert(loadfile("rockspec/" .. name .. "-1.rockspec", "t", env))()
    local needed = {}
    for _, entry in pairs(env.build.modules) do
      if type(entry) == "string" then needed[#needed + 1] = entry
      else for _, src in ipairs(entry.sources) do needed[#needed + 1] = src end end
    end
    for _, file in pairs(env.build.install.bin) do needed[#needed + 1] = file end
    for _, folder in ipairs(env.build.copy_directories) do needed[#needed + 1] = folder .. "/" end
    for _, file in ipairs(needed) do
      assert.is_true(listing[name .. "/" .. file], file .. " is not in the tarball")
    end
  end)

  it("makes the same bytes twice", function()
    local again = make_dist()
    local same = slurp(again .. "/" .. name .. "-1.src.rock") == slurp(rock)
    os.execute("rm -rf " .. quote(again))
    assert.is_true(same)
  end)
end)

-- The Debian packages that stand for the rockspec's dependencies in the
-- clean tree (flexiroam.dependencies names both), as a fresh machine with
-- them installed has them: a luarocks config's rocks_provided.
local function provided()
  local entries = {}
  for _, package in pairs(require("flexiroam.dependencies").PACKAGES) do
    local v = run("dpkg-query -W -f='${Version}' " .. package.debian):match("^(%d[%w.]*)")
    if v then entries[#entries + 1] = string.format("  [%q] = %q,", package.rock, v .. "-1") end
  end
  return "rocks_provided = {\n" .. table.concat(entries, "\n") .. "\n}\n"
end

local function install_missing()
  if os.getenv("FLEXIROAM_DIST_INSTALL") ~= "1" then
    return "the offline install runs with make dist-check (FLEXIROAM_DIST_INSTALL=1): it compiles the core twice"
  end
  if run("command -v luarocks") == "" or run("command -v luajit") == "" then return "needs luarocks and luajit" end
  return missing_tools()
end

describe_with(install_missing(), "the .src.rock installed offline", function()
  local dir, home, rock

  setup(function()
    dir = make_dist()
    rock = dir .. "/" .. name .. "-1.src.rock"
    home = dir .. "/home" -- no user config, cache or tree of this machine's
    os.execute("mkdir -p " .. quote(home))
    local f = assert(io.open(home .. "/config.lua", "w"))
    f:write(provided())
    f:close()
  end)

  teardown(function()
    if dir then os.execute("rm -rf " .. quote(dir)) end
  end)

  -- luarocks in the clean HOME, no server but a folder that does not exist.
  local function luarocks(lua_version, args)
    return run("cd " .. quote(home) .. " && env -u LD_PRELOAD HOME=" .. quote(home) .. " LUAROCKS_CONFIG=" ..
      quote(home .. "/config.lua") .. " luarocks --lua-version=" .. lua_version .. " " .. args)
  end

  -- Runs `code` with `interpreter` in the tree's paths only (and the
  -- system's, for LuaSocket), from the clean HOME.
  local function run_in_tree(tree, lua_version, interpreter, code, env)
    local paths = luarocks(lua_version, "path --tree=" .. quote(tree))
    return run("cd " .. quote(home) .. " && " .. paths:gsub("\n", "; ") .. " env -u LD_PRELOAD " .. (env or "") ..
      " " .. interpreter .. " -e " .. quote(code))
  end

  local CALL = [[
    local f = require "flexiroam"
    assert(package.searchpath("flexiroam", package.path):find(os.getenv("TREE"), 1, true), "not the tree's")
    local client = f.new { base_url = os.getenv("URL"), api_key = "sandbox-key" }
    local page = assert(client:list_plans { country = "FRA" })
    assert(#page.items > 0 and page.items[1]:covers("FRA"))
    local sale = assert(client:sell_plan { plan_id = page.items[1].id, reference = "dist-check" })
    print("ok " .. f.VERSION .. " " .. sale.activation:install_string():sub(1, 6))
  ]]

  local sandbox
  local function installed(lua_version, extra)
    local tree = dir .. "/tree-" .. lua_version
    local out = luarocks(lua_version, "install --tree=" .. quote(tree) .. " --only-server=/nonexistent " ..
      quote(rock) .. (extra or ""))
    assert.matches(name:gsub("%-", " ", 1):gsub("[%.%-]", "%%%0") .. "%-1 is now installed", out)
    assert.matches("depends on luasocket %(.- provided by VM%)", out)
    return tree
  end

  after_each(function()
    if sandbox then sandbox:stop() end
    sandbox = nil
  end)

  it("for Lua 5.4: the library, a call against the installed sandbox, the docs and types beside it", function()
    local tree = installed("5.4")
    sandbox = require("spec.support.sandbox").start {
      command = "env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 HOME=" .. quote(home) .. " " .. quote(tree ..
        "/bin/flexiroam-sandbox") .. " --port 0",
    }
    local out = run_in_tree(tree, "5.4", "lua5.4", CALL, "TREE=" .. quote(tree) .. " URL=" .. quote(sandbox.url))
    assert.equals("ok " .. version .. " LPA:1$\n", out)
    local rock_dir = tree .. "/lib/luarocks/rocks-5.4/flexiroam/" .. version .. "-1/"
    for _, file in ipairs { "docs/reference/index.html", "docs/transport.md", "examples/quickstart.lua",
      "library/flexiroam.lua", "library/generated.lua" } do
      assert.is_true(io.open(rock_dir .. file) ~= nil, file .. " is not in the installed rock")
    end
    assert.equals("", run("find " .. quote(tree) .. " -name spec -o -name fuzz -o -name bench -o -name '*_spec.lua'"))
  end)

  it("for Lua 5.1/LuaJIT: the library built against LuaJIT, a call against a sandbox", function()
    local tree = installed("5.1", " LUA_INCDIR=" .. run("pkg-config --variable=includedir luajit"):gsub("%s+$", ""))
    sandbox = require("spec.support.sandbox").start {}
    local out = run_in_tree(tree, "5.1", "luajit", CALL, "TREE=" .. quote(tree) .. " URL=" .. quote(sandbox.url))
    assert.equals("ok " .. version .. " LPA:1$\n", out)
  end)
end)
