-- luacheck: std luajit+ngx_lua
--- The nginx handler of spec/transport_contract_spec.lua: POST /contract
-- with {mode = "request" | "multi", options = {...}, steps = {...}} runs
-- the steps through a new cosocket transport (flexiroam.transport.ngx,
-- and its multi, flexiroam.transport.ngx_multi, for mode "multi") with
-- spec/support/transport_contract.lua, and answers the records as JSON.
local json = require "flexiroam.json"
local ngx_transport = require "flexiroam.transport.ngx"
local contract = require "spec.support.transport_contract"

local app = {}

local function now()
  ngx.update_time()
  return ngx.now()
end

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(assert(json.encode(value)))
end

function app.handle()
  ngx.req.read_body()
  local input = json.decode(ngx.req.get_body_data() or "")
  if type(input) ~= "table" or type(input.steps) ~= "table" then
    return reply(400, { error = "expected {mode, options, steps}" })
  end
  local options = input.options
  if type(options) ~= "table" then options = nil end
  local ok, records = pcall(function()
    return contract.run(ngx_transport.new(options), input.mode, input.steps, now)
  end)
  if not ok then return reply(500, { error = tostring(records) }) end
  reply(200, { records = records })
end

return app
