--- The install QR code drawn in the terminal (`sims show ICCID --qr`,
-- `sell --qr`), by the eSIM install kit's renderer: flexiroam.qr
-- (libqrencode in the C core) and activation:qr(). A build without the
-- kit gets a clear error before anything is sent or bought.
local qr_code = {}

qr_code.SCHEMES = { "dark", "light", "ansi" }

--- qr_code.available() -> the flexiroam.qr module | raises (kind "unavailable")
function qr_code.available()
  local ok, qr = pcall(require, "flexiroam.qr")
  if ok and type(qr) == "table" and type(qr.encode) == "function" then return qr end
  error({ kind = "unavailable", message = "--qr needs flexiroam.qr, the eSIM install kit's QR renderer, which " ..
    "this build does not have (install a flexiroam built with libqrencode); the activation string itself: " ..
    "flexiroam get-activation ICCID" }, 0)
end

--- qr_code.render(activation, scheme) -> the code as terminal text, and
-- the LPA string it encodes | raises the SDK's error for an activation
-- that cannot be drawn.
function qr_code.render(activation, scheme)
  local qr = qr_code.available()
  local m, err
  if type(activation.qr) == "function" then
    m, err = activation:qr()
  else
    m, err = qr.encode(activation:install_string() or "")
  end
  if not m then error(err, 0) end
  local text = m:terminal { scheme = scheme or "dark" }
  if m.close then m:close() end
  return text, activation:install_string()
end

--- Writes the code where a person sees it: after a table on stdout, else
-- on stderr (stdout then holds JSON or CSV for a program).
function qr_code.show(ctx, activation)
  local text, lpa = qr_code.render(activation, ctx.args.qr_scheme)
  local out = ctx.format == "table" and ctx.write or function(s) io.stderr:write(s) end
  out("\n" .. text .. (text:sub(-1) == "\n" and "" or "\n"))
  out("Scan with the phone's camera, or enter: " .. tostring(lpa) .. "\n")
end

return qr_code
