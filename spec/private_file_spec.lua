-- core.read_private_file, what the command line reads a key file with: only
-- a regular file of this user that nobody else may read or change, checked
-- on the descriptor it then reads; and core.terminal_size beside isatty.
-- In process, so `make asan` and `make valgrind` check the C.
local core = require("flexiroam.core")
local procs = require("spec.support.test_processes")

describe("core.read_private_file", function()
  local dir
  before_each(function() dir = procs.tmpdir() end)
  after_each(function() procs.rmdir(dir) end)

  local function file(name, text, mode)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    os.execute("chmod " .. mode .. " " .. procs.quote(path))
    return path
  end

  it("reads a 0600 or 0400 file whole", function()
    assert.equals("k-1\n", core.read_private_file(file("a", "k-1\n", "600")))
    assert.equals("k-2", core.read_private_file(file("b", "k-2", "400")))
    assert.equals("", core.read_private_file(file("c", "", "600")))
    local big = string.rep("x", 70000)
    assert.equals(big, core.read_private_file(file("d", big, "600"), 100000))
  end)

  it("refuses what others may read or change, naming the mode and never the content", function()
    for _, mode in ipairs { "644", "640", "604", "620", "602", "660" } do
      local text, why, reason = core.read_private_file(file("k" .. mode, "secret-value", mode))
      assert.is_nil(text)
      assert.equals("mode", reason)
      assert.truthy(why:find("mode 0" .. mode, 1, true), why)
      assert.falsy(why:find("secret-value", 1, true))
    end
  end)

  it("refuses another user's file, whatever its mode (checked where the specs may chown: as root)", function()
    local path = file("theirs", "k", "600")
    local chowned = os.execute("chown 65534 " .. procs.quote(path) .. " 2>/dev/null")
    if not (chowned == true or chowned == 0) then return pending("not root: cannot give a file away") end
    local text, why, reason = core.read_private_file(path)
    assert.is_nil(text)
    assert.equals("owner", reason)
    assert.truthy(why:find("uid 65534", 1, true), why)
  end)

  it("answers nil, a message and a reason for a missing file, a directory, a file too large", function()
    local _, why, reason = core.read_private_file(dir .. "/none")
    assert.equals("missing", reason)
    assert.truthy(why:find(dir .. "/none", 1, true))
    _, _, reason = core.read_private_file(dir)
    assert.equals("type", reason)
    _, _, reason = core.read_private_file(file("big", string.rep("x", 5000), "600"), 4096)
    assert.equals("too_large", reason)
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.read_private_file("") end)
    assert.has_error(function() core.read_private_file("a\0b") end)
    assert.has_error(function() core.read_private_file(dir, 0) end)
  end)
end)

describe("core.terminal_size", function()
  it("answers nil for a descriptor that is no terminal, and raises on a bad one", function()
    assert.has_error(function() core.terminal_size(-1) end)
    assert.has_error(function() core.terminal_size(1.5) end)
    local cols = core.terminal_size(1)
    if core.isatty(1) then
      assert.is_true(cols == nil or cols > 0)
    else
      assert.is_nil(cols)
    end
  end)
end)
