-- Embedded hosts: the C core built as a static library, linked into
-- examples/embed/main.c (a program embedding Lua 5.4), run against the
-- sandbox in one state, with package.preload, and in N states on N
-- threads; then libcurl's global init counted across N threads.
-- Everything is built into a temporary directory; skips without a C
-- compiler or the development files of Lua 5.4 and the core's libraries.
local flexiroam = require "flexiroam"
local processes = require "spec.support.test_processes"
local sandbox = require "spec.support.sandbox"

local function succeeded(r)
  return r == true or r == 0
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local run = processes.run

-- The libraries the core links (the Makefile's CORE_PKGS).
local CORE_PKGS = "libcurl libqrencode libpng"

local function missing()
  if not processes.have("cc") then return "no C compiler (cc)" end
  if not processes.have("pkg-config") then return "no pkg-config" end
  if not succeeded(os.execute("pkg-config --exists lua5.4 " .. CORE_PKGS)) then
    return "no development files of Lua 5.4 or of " .. CORE_PKGS
      .. " (liblua5.4-dev, libcurl4-openssl-dev, libqrencode-dev, libpng-dev)"
  end
  return nil
end

local CFLAGS = "-std=gnu99 -Wall -Wextra -Werror -O1"

-- src/*.c -> libflexiroam_core.a, as `make static` builds it.
local function build_static(dir)
  local objects = {}
  local p = assert(io.popen("ls src/*.c"))
  for src in p:lines() do
    local obj = dir .. "/" .. src:match("([^/]+)%.c$") .. ".o"
    local ok, out = run(("cc %s -fPIC -fvisibility=hidden $(pkg-config --cflags lua5.4 %s) -c -o %s %s")
      :format(CFLAGS, CORE_PKGS, quote(obj), quote(src)))
    assert(ok, "compiling " .. src .. " failed:\n" .. out)
    objects[#objects + 1] = quote(obj)
  end
  p:close()
  local lib = dir .. "/libflexiroam_core.a"
  local ok, out = run("ar rcs " .. quote(lib) .. " " .. table.concat(objects, " "))
  assert(ok, "ar failed:\n" .. out)
  return lib
end

local function link(dir, name, source, lib, extra)
  local exe = dir .. "/" .. name
  local command = ("cc %s -pthread $(pkg-config --cflags lua5.4 %s) -o %s %s %s"
    .. " $(pkg-config --libs lua5.4 %s) -lm %s"):format(CFLAGS, CORE_PKGS, quote(exe), quote(source), quote(lib),
    CORE_PKGS, extra or "")
  local ok, out = run(command)
  assert(ok, "linking " .. name .. " failed:\n" .. out)
  return exe
end

local why = missing()

describe("embedded hosts", function()
  if why then
    it("builds the static library", function() pending("skipped: " .. why) end)
    return
  end

  local dir, embed, init_once, sb, free

  lazy_setup(function()
    dir = processes.tmpdir()
    local lib = build_static(dir)
    embed = link(dir, "embed", "examples/embed/main.c", lib)
    init_once = link(dir, "curl_init_once", "spec/support/curl_init_once.c", lib, "-Wl,--wrap=curl_global_init")
    sb = sandbox.start { sims = 30, seed = 11 }
    -- The count the embedded script must find, asked through this process's SDK.
    local client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
    free = 0
    for _ in client:inventory { chip_type = "esim", search_by = "availability", search = "free" } do free = free + 1 end
    client:close()
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
    processes.rmdir(dir)
  end)

  -- The Lua layer from the checkout; no C module anywhere on the cpath.
  local function run_embed(args, key)
    return run(("env LUA_PATH_5_4='./lua/?.lua;./lua/?/init.lua' LUA_CPATH_5_4='/nonexistent/?.so'"
      .. " FLEXIROAM_API_KEY=%s FLEXIROAM_BASE_URL=%s %s %s examples/embed/inventory.lua")
      :format(quote(key or "sandbox-key"), quote(sb.url), quote(embed), args))
  end

  it("runs a script against the sandbox with the core registered by luaL_requiref", function()
    local ok, out = run_embed("")
    assert.is_true(ok, out)
    assert.equals(("Lua 5.4, flexiroam %s, state 0: %d free eSIMs\n"):format(flexiroam.VERSION, free), out)
  end)

  it("does the same through package.preload", function()
    local ok, out = run_embed("--preload")
    assert.is_true(ok, out)
    assert.equals(("Lua 5.4, flexiroam %s, state 0: %d free eSIMs\n"):format(flexiroam.VERSION, free), out)
  end)

  it("runs in 8 Lua states on 8 threads at once", function()
    local ok, out = run_embed("--threads 8")
    assert.is_true(ok, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals(8, #lines, out)
    for i = 1, 8 do
      local want = ("thread %d: Lua 5.4, flexiroam %s, state %d: %d free eSIMs"):format(i, flexiroam.VERSION, i, free)
      assert.equals(want, lines[i])
    end
  end)

  it("fails with the SDK's error when the script does", function()
    local ok, out = run_embed("", "not-the-key")
    assert.is_false(ok)
    assert.matches("flexiroam: auth: ", out)
    assert.is_nil(out:find("not-the-key", 1, true))
  end)

  it("initialises libcurl once however many threads open the module at the same moment", function()
    local ok, out = run(quote(init_once) .. " 16")
    assert.is_true(ok, out)
    assert.equals("curl_global_init calls: 1, states: 16, failures: 0\n", out)
  end)
end)
