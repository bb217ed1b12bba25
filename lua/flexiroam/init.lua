--- flexiroam: the Lua SDK for the Flexiroam Solutions API V3.
local core = require "flexiroam.core"

local flexiroam = {
  VERSION = "0.1.0",
  json = require "flexiroam.json",
  error_mt = core.error_mt,
}

return flexiroam
