-- The Makefile's package lists: `make deps` (which `make test` runs first)
-- must install everything the core compiles against and the command line
-- requires. A list defined with := is expanded where it stands, so one that
-- names another list defined below it silently loses that list: PKGS_BASE
-- once lost PKGS_QR and PKGS_CLI that way, and `make test` on a fresh Debian
-- failed for want of libqrencode-dev.
local run = require("spec.support.public_api").run

local function words(text)
  local out = {}
  for word in text:gmatch("%S+") do out[#out + 1] = word end
  return out
end

-- The value make expanded for a variable: make -p prints its database
-- (-n: nothing is run; deps is a target every checkout has).
local function expanded(database, name)
  local value = database:match("\n" .. name .. " :?= ([^\n]*)")
  assert(value, name .. " is not in make's database")
  return value
end

local function set_of(list)
  local set = {}
  for _, word in ipairs(list) do set[word] = true end
  return set
end

describe("Makefile", function()
  local database = run("make --no-print-directory -pn deps 2>/dev/null")

  it("installs, in make deps, the QR and command-line packages the build and the CLI need", function()
    local base = set_of(words(expanded(database, "PKGS_BASE")))
    local needed = words(expanded(database, "PKGS_QR") .. " " .. expanded(database, "PKGS_CLI"))
    assert.is_true(#needed >= 3, "PKGS_QR and PKGS_CLI should name packages")
    for _, package in ipairs(needed) do
      assert.is_true(base[package] == true, "make deps does not install " .. package)
    end
    -- The development files of every library the core links (CORE_PKGS).
    for _, package in ipairs { "libcurl4-openssl-dev", "libqrencode-dev", "libpng-dev", "liblua5.4-dev" } do
      assert.is_true(base[package] == true, "make deps does not install " .. package)
    end
  end)

  it("defines every list a := list names above it", function()
    local defined, line_no = {}, 0
    local file = assert(io.open("Makefile"))
    local text = file:read("a")
    file:close()
    local pending_name
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      line_no = line_no + 1
      local name, rest = line:match("^([%w_]+)%s*:=(.*)$")
      local body = rest or (pending_name and line) or nil
      if body then
        for ref in body:gmatch("%$%(([%w_]+)%)") do
          assert.is_true(defined[ref] == true,
            ("Makefile line %d: %s names $(%s) before it is defined"):format(line_no, name or pending_name, ref))
        end
      end
      if name then defined[name] = true end
      if body and body:match("\\%s*$") then pending_name = name or pending_name else pending_name = nil end
    end
    -- the walk saw the lists the first test reads
    assert.is_true(defined.PKGS_BASE == true and defined.PKGS_QR == true and defined.PKGS_CLI == true)
  end)
end)
