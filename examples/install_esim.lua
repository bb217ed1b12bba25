-- Install kit: everything a customer needs to install an eSIM, at the
-- terminal: the QR code (drawn in the terminal, scannable from the
-- screen), the iPhone link, the details to type by hand; optionally saved
-- as pictures.
--
--   FLEXIROAM_BASE_URL=http://127.0.0.1:PORT FLEXIROAM_API_KEY=sandbox-key \
--     lua5.4 examples/install_esim.lua [ICCID] [--png FILE] [--svg FILE] [--scheme dark|light|ansi]
--
-- Without an ICCID: the first eSIM of the inventory. --scheme: "dark" (the
-- default) for light text on a dark terminal, "light" for dark text on a
-- light one, "ansi" to set the colours itself. `make docs` runs this
-- against a sandbox to draw the README's picture.
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")

local flexiroam = require "flexiroam"

local function usage_error(message)
  io.stderr:write(message, "\nusage: install_esim.lua [ICCID] [--png FILE] [--svg FILE] [--scheme dark|light|ansi]\n")
  os.exit(2)
end

local function options(args)
  local o, i = { scheme = "dark" }, 1
  while i <= #args do
    local a = args[i]
    if a == "--png" or a == "--svg" or a == "--scheme" then
      o[a:sub(3)] = args[i + 1] or usage_error(a .. " needs a value")
      i = i + 2
    elseif a:sub(1, 2) == "--" or o.iccid then
      usage_error("unknown argument " .. a)
    else
      o.iccid, i = a, i + 1
    end
  end
  -- checked here, before any call to the API
  if o.scheme ~= "dark" and o.scheme ~= "light" and o.scheme ~= "ansi" then
    usage_error("--scheme must be dark, light or ansi (got " .. o.scheme .. ")")
  end
  return o
end

local function save(path, bytes)
  local f = assert(io.open(path, "wb"))
  assert(f:write(bytes))
  assert(f:close())
  print(("saved      %s (%d bytes)"):format(path, #bytes))
end

local function main()
  local o = options(arg)
  local client <close> = flexiroam.new {}
  local iccid = o.iccid
  if not iccid then
    local first = assert(client:collect("list_inventory", { chip_type = "esim" }, { max_items = 1 }))[1]
    if not first then error("the inventory has no eSIM", 0) end
    iccid = first.iccid
  end

  local activation = assert(client:get_activation { iccid = iccid })
  local links = assert(activation:install_links())
  local code <close> = assert(activation:qr())

  io.write(code:terminal { scheme = o.scheme })
  print(("eSIM       %s"):format(iccid))
  print(("scan       the code above, from another phone's screen or a print (QR version %d, level %s)")
    :format(code.version, code.ec))
  print(("iPhone     %s  (iOS 17.4+, tapped on the iPhone)"):format(links.ios))
  print(("by hand    SM-DP+ address %s, activation code %s"):format(links.smdp_address, links.activation_code))
  if links.confirmation_code then
    print(("           confirmation code %s"):format(links.confirmation_code))
  elseif links.confirmation_code_required then
    print("           the phone will ask for a confirmation code: the seller sends it separately")
  end
  print(("Android    enter the whole code: %s"):format(links.lpa))
  if o.png then save(o.png, code:png { scale = 8 }) end
  if o.svg then save(o.svg, code:svg { module = 8 }) end
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(tostring(err), "\n") -- the SDK's error object: one line, no key
  os.exit(1)
end
