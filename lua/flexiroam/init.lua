--- flexiroam: the Lua SDK for the Flexiroam Solutions API V3.
--   local flexiroam = require "flexiroam"
--   local client = flexiroam.new { api_key = "...", base_url = "..." }
local core = require("flexiroam.core")
local Client = require("flexiroam.client")

return {
  VERSION = core.VERSION,
  new = Client.new,
  json = require "flexiroam.json",
  errors = require "flexiroam.errors",
  operations = require "flexiroam.operations",
  models = require "flexiroam.models",
  esim = require "flexiroam.esim",
  qr = require "flexiroam.qr",
  install = require "flexiroam.install",
  jobs = require "flexiroam.jobs",
  store = require "flexiroam.store",
}
