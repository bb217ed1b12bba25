--- flexiroam.qr: QR codes from the C core (libqrencode; PNG through libpng).
--   local m, err = qr.encode(text [, {ec = "M", version = nil, margin = 4}])
--   m.size, m.version, m.ec, m.margin; m:get(x, y) (0-based, true = dark)
--   m:svg{module = 8, fg = "#000000", bg = "#ffffff"}  m:png{scale = 8}
--   m:terminal{scheme = "dark" | "light" | "ansi"}    m:text{dark = "#", light = "."}
--   m:close() (also __gc, __close)
-- The text is encoded byte for byte (8-bit mode). A wrong argument or
-- option raises at the caller's line; a text that is empty or too long for
-- the level (or for a fixed `version`) answers nil and a "validation" error.
return require("flexiroam.core").qr
