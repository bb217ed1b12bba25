-- flexiroam.qr (src/qr*.c on libqrencode and libpng): the matrix, every
-- renderer, and every QR code read back by a real scanner (zbarimg), the
-- SVG through a real rasteriser (rsvg-convert) and the terminal output
-- drawn as a screen would draw it. Scanner checks skip, saying why, where
-- the tools are missing (`make ci-deps` installs them).
local flexiroam = require "flexiroam"
local blame = require "spec.support.blame"
local scan = require "spec.support.scan"

local qr = flexiroam.qr
local LPA = "LPA:1$smdp.example.com$K2M4P-7QX9Z-AB3CD-EF5GH"
local THIS_FILE = debug.getinfo(1, "S").short_src

local function assert_misuse(what, pattern, fn, ...)
  local err, where = blame.raised_at(fn, ...)
  assert.is_string(err, what .. " did not raise")
  assert.equals(where, err:sub(1, #where), what .. " blamed the wrong place: " .. err)
  if pattern then assert.matches(pattern, err, nil, true) end
end

local function lines(text)
  local out = {}
  for line in text:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out
end

-- Big-endian 32-bit integer at byte i of s.
local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

describe("flexiroam.qr.encode", function()
  it("answers a matrix: size, version, level, margin, and the finder patterns where ISO/IEC 18004 puts them", function()
    local m = assert(qr.encode(LPA))
    assert.equals(4, m.version) -- 47 bytes at level M: version 4 holds 62
    assert.equals(17 + 4 * m.version, m.size)
    assert.equals("M", m.ec)
    assert.equals(4, m.margin)
    assert.equals("flexiroam.qr.matrix 33x33 (version 4, level M, margin 4)", tostring(m))
    -- each 7x7 finder: a dark ring, a light ring, a dark 3x3 core; light separator beyond
    for _, corner in ipairs { { 0, 0 }, { m.size - 7, 0 }, { 0, m.size - 7 } } do
      local cx, cy = corner[1], corner[2]
      assert.is_true(m:get(cx, cy))
      assert.is_true(m:get(cx + 6, cy + 6))
      assert.is_false(m:get(cx + 1, cy + 1))
      assert.is_true(m:get(cx + 3, cy + 3))
    end
    assert.is_false(m:get(7, 0))
    assert.is_false(m:get(0, 7))
  end)

  it("draws the same modules in text as get() reads, inside a light quiet zone", function()
    local m = assert(qr.encode("hello", { margin = 2, ec = "H" }))
    local rows = lines(m:text())
    assert.equals(m.size + 4, #rows)
    for y, row in ipairs(rows) do
      assert.equals(m.size + 4, #row)
      for x = 1, #row do
        local sx, sy = x - 1 - 2, y - 1 - 2
        local inside = sx >= 0 and sy >= 0 and sx < m.size and sy < m.size
        local want = inside and m:get(sx, sy) and "#" or "."
        assert.equals(want, row:sub(x, x), ("module %d,%d"):format(sx, sy))
      end
    end
    assert.equals("@@", lines(m:text { dark = "@@", light = "  " })[3]:sub(5, 6))
  end)

  it("takes each level and a fixed version, and a margin from 0 to 32", function()
    for _, ec in ipairs { "L", "M", "Q", "H" } do
      assert.equals(ec, assert(qr.encode(LPA, { ec = ec })).ec)
    end
    local m = assert(qr.encode(LPA, { version = 10 }))
    assert.equals(10, m.version)
    assert.equals(57, m.size)
    assert.equals(0, assert(qr.encode("x", { margin = 0 })).margin)
    assert.equals(33, #lines(assert(qr.encode("x", { margin = 6 })):text())) -- 21 + 2 * 6
  end)

  it("encodes the text byte for byte, NUL and bytes that are not UTF-8 included", function()
    local text = "a\0b\255\254\n\r\t$%"
    local m = assert(qr.encode(text))
    assert.equals(1, m.version)
  end)

  it("answers nil and a validation error for a text it cannot encode", function()
    local m, err = qr.encode("")
    assert.is_nil(m)
    assert.equals("validation", err.kind)
    assert.matches("empty", err.message)
    assert.equals("string", type(err.fields.text))
    -- the byte capacities of version 40 (ISO/IEC 18004 table 7), at each level
    for ec, max in pairs { L = 2953, M = 2331, Q = 1663, H = 1273 } do
      local full = assert(qr.encode(("x"):rep(max), { ec = ec }))
      assert.equals(40, full.version)
      local none, too_long = qr.encode(("x"):rep(max + 1), { ec = ec })
      assert.is_nil(none)
      assert.equals("validation", too_long.kind)
      assert.matches(("holds at most %d at level %s"):format(max, ec), too_long.message, nil, true)
    end
    local none, small = qr.encode(("x"):rep(100), { version = 2 })
    assert.is_nil(none)
    assert.equals("flexiroam: validation: qr: the text does not fit version 2 at level M: it needs version 6",
      tostring(small))
  end)

  it("raises at the caller's line on a wrong argument or option", function()
    assert_misuse("a number", "string expected, got number", qr.encode, 42)
    assert_misuse("nil", "string expected, got no value", qr.encode)
    assert_misuse("options not a table", "table expected", qr.encode, "x", 5)
    assert_misuse("unknown option", "unknown field 'level'", qr.encode, "x", { level = "M" })
    assert_misuse("bad level", 'ec must be "L", "M", "Q" or "H"', qr.encode, "x", { ec = "m" })
    assert_misuse("version 0", "version must be an integer from 1 to 40", qr.encode, "x", { version = 0 })
    assert_misuse("version 41", "version must be an integer from 1 to 40", qr.encode, "x", { version = 41 })
    assert_misuse("version 1.5", "version must be an integer", qr.encode, "x", { version = 1.5 })
    assert_misuse("margin -1", "margin must be an integer from 0 to 32", qr.encode, "x", { margin = -1 })
    assert_misuse("margin text", "margin must be an integer", qr.encode, "x", { margin = "4" })
  end)
end)

describe("a qr matrix", function()
  local m
  before_each(function() m = assert(qr.encode(LPA)) end)

  it("raises at the caller's line on a wrong renderer option", function()
    assert_misuse("get x", "0 to 32", m.get, m, 33, 0)
    assert_misuse("get y", "0 to 32", m.get, m, 0, -1)
    assert_misuse("get 1.5", "0 to 32", m.get, m, 1.5, 0)
    assert_misuse("svg module", "module must be an integer from 1 to 64", m.svg, m, { module = 0 })
    assert_misuse("svg colour name", "fg must be a colour", m.svg, m, { fg = "black" })
    assert_misuse("svg short colour", "bg must be a colour", m.svg, m, { bg = "#ff" })
    assert_misuse("svg non-hex", "fg must be a colour", m.svg, m, { fg = "#00000g" })
    assert_misuse("svg injection", "fg must be a colour", m.svg, m, { fg = '#000"/><script>' })
    assert_misuse("svg inverted", "fg must be darker than bg", m.svg, m, { fg = "#fff", bg = "#000" })
    assert_misuse("svg low contrast", "contrast of at least 3:1", m.svg, m, { fg = "#999999", bg = "#ffffff" })
    assert_misuse("svg unknown", "unknown field 'colour'", m.svg, m, { colour = "#000" })
    assert_misuse("png scale", "scale must be an integer from 1 to 64", m.png, m, { scale = 65 })
    assert_misuse("png unknown", "unknown field 'size'", m.png, m, { size = 3 })
    assert_misuse("terminal scheme", 'scheme must be "dark", "light" or "ansi"', m.terminal, m, { scheme = "x" })
    assert_misuse("text glyph", "dark must be 1 to 16 bytes", m.text, m, { dark = "" })
    assert_misuse("text newline", "light must be 1 to 16 bytes", m.text, m, { light = "\n" })
    assert_misuse("not a matrix", "flexiroam.qr.matrix expected", m.svg, {})
  end)

  it("is released by close, after which every use raises and close is harmless", function()
    m:close()
    m:close()
    assert.equals("flexiroam.qr.matrix (closed)", tostring(m))
    assert_misuse("get", "qr matrix is closed", m.get, m, 0, 0)
    assert_misuse("png", "qr matrix is closed", m.png, m)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() return m.size end)
    assert.is_false(ok)
    assert.equals(THIS_FILE .. ":" .. line .. ": qr matrix is closed", err)
  end)

  if _VERSION == "Lua 5.4" then
    it("is released at the end of a to-be-closed variable's scope", function()
      local escaped = assert(load([[
        local qr = ...
        local kept
        do
          local m <close> = assert(qr.encode("x"))
          kept = m
        end
        return kept
      ]]))(qr)
      assert.equals("flexiroam.qr.matrix (closed)", tostring(escaped))
    end)
  end

  it("renders SVG as one path of dark modules on a background, sized by module", function()
    local svg = m:svg()
    local side = (m.size + 8) * 8
    assert.matches('^<svg xmlns="http://www.w3.org/2000/svg" width="' .. side .. '" height="' .. side .. '" ', svg)
    assert.matches('viewBox="0 0 41 41"', svg, nil, true)
    local _, paths = svg:gsub("<path ", "")
    assert.equals(1, paths)
    local _, elements = svg:gsub("<%a", "")
    assert.equals(3, elements) -- svg, rect, path
    assert.matches('<rect width="41" height="41" fill="#ffffff"/><path fill="#000000" d="M', svg, nil, true)
    local custom = m:svg { module = 3, fg = "#1A2B3C", bg = "#fe9" }
    assert.matches('width="123"', custom, nil, true)
    assert.matches('fill="#fe9"', custom, nil, true)
    assert.matches('fill="#1A2B3C"', custom, nil, true)
  end)

  it("renders a 1-bit greyscale PNG of (size + 2 margins) * scale pixels a side", function()
    for _, scale in ipairs { 1, 4, 8 } do
      local png = m:png { scale = scale }
      assert.equals("\137PNG\r\n\26\n", png:sub(1, 8))
      assert.equals("IHDR", png:sub(13, 16))
      assert.equals((m.size + 8) * scale, u32(png, 17))
      assert.equals((m.size + 8) * scale, u32(png, 21))
      assert.equals(1, png:byte(25)) -- bit depth
      assert.equals(0, png:byte(26)) -- greyscale
      assert.equals("IEND\174\66\96\130", png:sub(-8))
    end
    assert.is_true(#m:png() < 1024, "the default PNG of an LPA code is " .. #m:png() .. " bytes")
  end)

  it("draws the terminal code in half blocks, two rows a line, quiet zone drawn", function()
    local rows = lines(m:terminal())
    assert.equals(math.ceil((m.size + 8) / 2), #rows)
    -- a dark-background terminal: the quiet zone is ink (full blocks)
    assert.equals(("\226\150\136"):rep(m.size + 8), rows[1])
    local light = lines(m:terminal { scheme = "light" })
    assert.equals((" "):rep(m.size + 8), light[1])
    local ansi = lines(m:terminal { scheme = "ansi" })
    assert.equals("\27[38;5;231;48;5;16m", ansi[1]:sub(1, 19))
    assert.equals("\27[0m", ansi[1]:sub(-4))
  end)
end)

describe("QR codes read back by a real scanner", function()
  local why = scan.missing("zbarimg")
  if why then
    it("decodes every renderer's output", function() pending("skipped: " .. why) end)
    return
  end

  it("reads the PNG renderer's code back to the exact text, at every level and scale", function()
    for _, ec in ipairs { "L", "M", "Q", "H" } do
      for _, scale in ipairs { 2, 8 } do
        local m = assert(qr.encode(LPA, { ec = ec }))
        assert.same({ LPA }, scan.decode_png(m:png { scale = scale }), ec .. " x" .. scale)
      end
    end
  end)

  it("reads back arbitrary bytes, and a full version 40 code", function()
    local seed = 17
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    end
    for i = 1, 12 do
      local bytes = {}
      for j = 1, 1 + rand(i * 25) do bytes[j] = string.char(rand(256)) end
      local text = table.concat(bytes)
      local m = assert(qr.encode(text, { ec = ({ "L", "M", "Q", "H" })[i % 4 + 1] }))
      assert.same({ text }, scan.decode_png(m:png { scale = 4 }), ("text %d of %d bytes"):format(i, #text))
    end
    local big = ("LPA:1$smdp.example.com$"):rep(101):sub(1, 2331)
    local m = assert(qr.encode(big))
    assert.equals(40, m.version)
    assert.same({ big }, scan.decode_png(m:png { scale = 3 }))
  end)

  it("reads back the terminal code as a screen shows it, in each scheme", function()
    for _, scheme in ipairs { "dark", "light", "ansi" } do
      for _, text in ipairs { LPA, "odd" } do -- version 4 has an odd side (41 with the margin), so does version 1
        local m = assert(qr.encode(text))
        local pbm = scan.terminal_to_pbm(m:terminal { scheme = scheme }, scheme)
        assert.same({ text }, scan.decode_pbm(pbm), scheme)
      end
    end
  end)

  it("reads back the SVG renderer's code, rasterised by librsvg, in the default and brand colours", function()
    local missing = scan.missing("rsvg-convert")
    if missing then return pending("skipped: " .. missing) end
    local m = assert(qr.encode(LPA))
    assert.same({ LPA }, scan.decode_png(scan.svg_to_png(m:svg())))
    assert.same({ LPA }, scan.decode_png(scan.svg_to_png(m:svg { module = 4, fg = "#0b3d91", bg = "#fffbe6" })))
  end)

  it("finds nothing where there is no code (the scanner is not fooled by a blank)", function()
    local m = assert(qr.encode("x", { margin = 0 }))
    local blank = scan.terminal_to_pbm(m:terminal { scheme = "light" }:gsub("[^\n]+", function(line)
      return (" "):rep(#line:gsub("[\128-\191]", ""))
    end), "light")
    assert.same({}, scan.decode_pbm(blank))
  end)
end)
