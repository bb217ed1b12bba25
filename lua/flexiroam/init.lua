--- flexiroam: the Lua SDK for the Flexiroam Solutions API V3.
--   local flexiroam = require "flexiroam"
--   local client = flexiroam.new { api_key = "...", base_url = "..." }
-- @module flexiroam
local core = require("flexiroam.core")
local Client = require("flexiroam.client")

return {
  --- The SDK's version, MAJOR.MINOR.PATCH: the same in the User-Agent and the rockspec.
  VERSION = core.VERSION,
  --- A new client (flexiroam.client): flexiroam.new(opts) is Client.new(opts).
  -- @function new
  -- @tparam[opt] table opts the client's options (see Client.new)
  -- @treturn flexiroam.client a client
  new = Client.new,
  --- The JSON codec (flexiroam.json).
  json = require "flexiroam.json",
  --- The error type and its kinds (flexiroam.errors).
  errors = require "flexiroam.errors",
  --- Every operation of the API, in one table (flexiroam.operations).
  operations = require "flexiroam.operations",
  --- The model classes: SIM, Plan, Order, Usage, Subscription, Activation (flexiroam.models).
  models = require "flexiroam.models",
  --- ICCIDs, activation codes and data sizes (flexiroam.esim).
  esim = require "flexiroam.esim",
  --- QR codes of eSIM activations: a matrix and its renderers (flexiroam.qr).
  qr = require "flexiroam.qr",
  --- What installs an eSIM: the LPA string, the manual-entry fields, the iOS link (flexiroam.install).
  install = require "flexiroam.install",
  --- The jobs the API exists for, and journals (flexiroam.jobs).
  jobs = require "flexiroam.jobs",
  --- State shared by a fleet: ngx.shared or Redis (flexiroam.store).
  store = require "flexiroam.store",
}
