--- flexiroam.qr: QR codes from the C core (libqrencode; PNG through libpng).
--   local m, err = qr.encode(text [, {ec = "M", version = nil, margin = 4}])
--   m.size, m.version, m.ec, m.margin; m:get(x, y) (0-based, true = dark)
--   m:svg{module = 8, fg = "#000000", bg = "#ffffff"}  m:png{scale = 8}
--   m:terminal{scheme = "dark" | "light" | "ansi"}    m:text{dark = "#", light = "."}
--   m:close() (also __gc, __close)
-- The text is encoded byte for byte (8-bit mode). A wrong argument or
-- option raises at the caller's line; a text that is empty or too long for
-- the level (or for a fixed `version`) answers nil and a "validation" error.
-- @module flexiroam.qr

--- The QR code of `text`, encoded byte for byte (8-bit mode), as a matrix
-- userdata: m.size, m.version, m.ec, m.margin, m:get(x, y) (0-based, true
-- = dark), m:svg{module =, fg =, bg =} (one path), m:png{scale =} (bytes),
-- m:terminal{scheme = "dark" | "light" | "ansi"}, m:text{dark =, light =},
-- m:close() (also __gc and __close).
-- @function encode
-- @tparam string text what the code holds (an LPA string: flexiroam.install)
-- @tparam[opt] table opts {ec = "L" | "M" | "Q" | "H" (default "M"), version = 1..40 (exact; default the smallest
-- that fits), margin = modules of quiet zone (default 4)}
-- @treturn userdata the matrix
-- @return[2] nil
-- @return[2] a validation error: the text is empty or too long for the level (or the version)

return require("flexiroam.core").qr
