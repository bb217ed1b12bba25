--- The real tools the QR specs check with: a scanner (zbarimg, Debian
-- zbar-tools), an SVG rasteriser (rsvg-convert, librsvg2-bin) and a
-- headless browser (chromium-headless-shell or chromium). Each check skips,
-- saying which tool is missing, where one is absent; `make ci-deps`
-- installs them all.
--   scan.missing("zbarimg") -> nil | why
--   scan.decode_png(bytes) -> list of the symbols' exact bytes (one per QR code found)
--   scan.svg_to_png(svg) -> png bytes;  scan.terminal_to_pbm(text, scheme) -> a PBM image
--   scan.screenshot(url, opts) -> png bytes | nil, why;  scan.dump_dom(url) -> html | nil, why
local processes = require "spec.support.test_processes"

local scan = {}

local quote, slurp = processes.quote, processes.slurp

local PACKAGE = {
  zbarimg = "zbar-tools", ["rsvg-convert"] = "librsvg2-bin",
  browser = "chromium-headless-shell (or chromium)",
}

-- The browser's command: Debian's headless shell first (small, made for
-- this), else the full browser in headless mode.
function scan.browser()
  for _, name in ipairs { "chromium-headless-shell", "chromium" } do
    if processes.have(name) then return name end
  end
  return nil
end

--- nil when `tool` ("zbarimg", "rsvg-convert", "browser") is there, else why not.
function scan.missing(tool)
  local present
  if tool == "browser" then present = scan.browser() ~= nil else present = processes.have(tool) end
  if present then return nil end
  return ("%s is not installed (Debian: %s; make ci-deps installs it)"):format(tool, PACKAGE[tool])
end

local run = processes.run

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

local function temp(suffix)
  return processes.unused_path() .. suffix
end

--- What zbarimg finds in an image file (any format ImageMagick reads: PNG,
-- PBM...): a list with one entry per QR code. With exactly one, the entry
-- is its exact bytes: binary mode, where zbar neither guesses a character
-- set nor appends a newline (nor separates symbols: hence the count from
-- a first, XML, pass). With several, their text as zbar shows it.
function scan.decode_file(path)
  local xml_path = temp(".xml")
  local ok, log = run(("zbarimg -q --xml -Sdisable -Sqrcode.enable %s > %s"):format(quote(path), quote(xml_path)))
  local xml = slurp(xml_path)
  os.remove(xml_path)
  -- zbarimg exits 4 when it finds nothing: that is an empty list, not a failure.
  if not ok and not xml:find("<barcodes", 1, true) then error("zbarimg failed: " .. log) end
  local found = {}
  for data in xml:gmatch("<data[^>]*><!%[CDATA%[(.-)%]%]></data>") do found[#found + 1] = data end
  if #found ~= 1 then return found end
  local raw_path = temp(".raw")
  ok, log = run(("zbarimg -q --raw -Sdisable -Sqrcode.enable -Sbinary %s > %s"):format(quote(path), quote(raw_path)))
  found[1] = slurp(raw_path)
  os.remove(raw_path)
  assert(ok, "zbarimg failed: " .. log)
  return found
end

--- decode(bytes, suffix) -> decode_file of the bytes written to a temporary
-- file named with `suffix` (".png", ".pbm": how ImageMagick knows the format).
function scan.decode(bytes, suffix)
  local path = write(temp(suffix), bytes)
  local found = scan.decode_file(path)
  os.remove(path)
  return found
end

function scan.decode_png(bytes) return scan.decode(bytes, ".png") end
function scan.decode_pbm(pbm) return scan.decode(pbm, ".pbm") end

--- An SVG document rasterised by librsvg, as PNG bytes.
function scan.svg_to_png(svg)
  local src, dst = write(temp(".svg"), svg), temp(".png")
  local ok, log = run(("rsvg-convert --background-color=white -o %s %s"):format(quote(dst), quote(src)))
  os.remove(src)
  local png = slurp(dst)
  os.remove(dst)
  assert(ok and #png > 0, "rsvg-convert failed: " .. log)
  return png
end

-- The two modules a half-block character shows, top and bottom, as "is
-- this half drawn in the terminal's ink".
local HALVES = { [" "] = { false, false }, ["\226\150\132"] = { false, true }, ["\226\150\128"] = { true, false },
  ["\226\150\136"] = { true, true } }

--- What a terminal shows for m:terminal{scheme = scheme}, as a PBM image
-- (4 pixels a module), read back from the text the way a screen draws it:
-- each character cell is two modules, ink is the foreground colour. On
-- "dark" and "ansi" the ink is light (light text on a dark ground; "ansi"
-- sets white on black itself), on "light" it is dark. Raises on anything
-- but half blocks, spaces, newlines and (for "ansi") the colour codes.
function scan.terminal_to_pbm(text, scheme)
  local ink_is_dark = scheme == "light"
  local rows = {}
  for line in text:gmatch("([^\n]*)\n") do
    if scheme == "ansi" then
      local body = line:match("^\27%[38;5;231;48;5;16m(.*)\27%[0m$")
      assert(body, "a line without its colour codes: " .. ("%q"):format(line))
      line = body
    end
    local top, bottom = {}, {}
    for ch in line:gmatch("[%z\1-\127\194-\244][\128-\191]*") do
      local h = assert(HALVES[ch], "not a half block: " .. ("%q"):format(ch))
      top[#top + 1], bottom[#bottom + 1] = h[1], h[2]
    end
    rows[#rows + 1], rows[#rows + 2] = top, bottom
  end
  local scale, width = 4, #rows[1]
  local out = { ("P1\n%d %d\n"):format(width * scale, #rows * scale) }
  for _, row in ipairs(rows) do
    assert(#row == width, "ragged terminal output")
    local pixels = {}
    for x = 1, width do
      local dark = row[x] == ink_is_dark -- ink where the ink is dark, or blank where it is light
      for _ = 1, scale do pixels[#pixels + 1] = dark and "1" or "0" end
    end
    local line = table.concat(pixels, " ") .. "\n"
    for _ = 1, scale do out[#out + 1] = line end
  end
  return table.concat(out)
end

-- The browser's flags: headless, no GPU, no first-run or network chatter,
-- a throwaway profile; as root (CI) Chromium refuses to start sandboxed.
local function browser_command(dir, extra, url)
  local flags = {
    "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--user-data-dir=" .. quote(dir .. "/profile"), "--crash-dumps-dir=" .. quote(dir),
  }
  local id = io.popen("id -u")
  if id then
    if id:read("*l") == "0" then flags[#flags + 1] = "--no-sandbox" end
    id:close()
  end
  -- Bounded: `timeout` ends a browser that hangs (the spec then fails, it
  -- does not wait); how long it took never decides anything.
  return ("HOME=%s timeout -k 5 60 %s %s %s %s"):format(quote(dir), scan.browser(), table.concat(flags, " "),
    extra, quote(url))
end

-- Runs the browser on `url` with `extra` flags, `output` naming the file it
-- writes (a shell redirection when `to_stdout`) -> that file's bytes | nil, why.
local function browse(url, extra, output, to_stdout)
  local dir = processes.tmpdir()
  local path = dir .. "/" .. output
  local command = browser_command(dir, extra:gsub("%%s", quote(path)), url)
  local ok, log = run(to_stdout and (command .. " > " .. quote(path)) or command)
  local bytes = slurp(path)
  processes.rmdir(dir)
  if not ok or bytes == "" then return nil, "the browser failed: " .. log end
  return bytes
end

--- A screenshot of `url` (opts.width x opts.height, 800x1400) -> png | nil, why.
function scan.screenshot(url, opts)
  opts = opts or {}
  local size = ("--window-size=%d,%d"):format(opts.width or 800, opts.height or 1400)
  return browse(url, size .. " --screenshot=%s", "shot.png")
end

--- The page's DOM after its scripts ran (what the browser made of it) -> html | nil, why.
function scan.dump_dom(url)
  return browse(url, "--dump-dom", "dom.html", true)
end

return scan
