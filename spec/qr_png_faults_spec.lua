-- The PNG renderer's error path (libpng reports failure by longjmp): every
-- failure made to happen at each step, through -Wl,--wrap on the libpng
-- calls, in a program built from the QR sources with AddressSanitizer's
-- leak checker (spec/support/qr_png_faults.c). Each failure must raise a
-- clear error, the next image must still come out, and nothing may leak.
-- Skips without a C compiler, pkg-config, or the libraries' headers.
local processes = require "spec.support.test_processes"

local quote = processes.quote
local SOURCES = { "src/qr.c", "src/qr_png.c", "src/qr_svg.c", "src/qr_text.c", "src/buffer.c", "src/handle.c",
  "src/options.c", "src/error.c" }
local WRAPPED = { "png_create_write_struct", "png_create_info_struct", "png_write_row", "png_write_end" }

local function missing()
  if not processes.have("cc") then return "no C compiler (cc)" end
  if not processes.have("pkg-config") then return "no pkg-config" end
  if not processes.run("pkg-config --exists lua5.4 libqrencode libpng") then
    return "no development files of Lua 5.4, libqrencode or libpng (liblua5.4-dev, libqrencode-dev, libpng-dev)"
  end
  return nil
end

describe("the PNG renderer when libpng fails", function()
  local why = missing()
  if why then
    it("raises and leaks nothing", function() pending("skipped: " .. why) end)
    return
  end

  it("raises a clear error at every step, leaks nothing, and renders again afterwards", function()
    local dir = processes.tmpdir()
    local exe = dir .. "/qr_png_faults"
    local sources = {}
    for i, s in ipairs(SOURCES) do sources[i] = quote(s) end
    local ok, out = processes.run(("cc -std=gnu99 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined"
      .. " -Isrc $(pkg-config --cflags lua5.4 libqrencode libpng) -o %s spec/support/qr_png_faults.c %s"
      .. " $(pkg-config --libs lua5.4 libqrencode libpng) -lm -Wl,--wrap=%s")
      :format(quote(exe), table.concat(sources, " "), table.concat(WRAPPED, ",--wrap=")))
    assert.is_true(ok, "building the fault program failed:\n" .. out)
    ok, out = processes.run("ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 " .. quote(exe))
    processes.rmdir(dir)
    assert.is_true(ok, out)
    assert.matches("fault 1 row 0: not enough memory\n", out, nil, true)
    assert.matches("fault 3 row 7: qr: png: injected failure at a row\n", out, nil, true)
    assert.matches("fault 4 row 0: qr: png: injected failure at the end\n", out, nil, true)
    assert.matches("\nok 15\n$", out)
    assert.is_nil(out:find("LeakSanitizer", 1, true))
  end)
end)
