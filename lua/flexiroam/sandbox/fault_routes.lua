--- The fault queue's control endpoints (no key needed, like every
-- /__sandbox/ path):
--   POST   /__sandbox/faults {"path": "/v1/...", "fault": "...", "times": N}
--          queues a fault for the next N requests to that exact path
--          (times: 1 by default); answers 201 {"queued": {...}, "faults": [...]}
--   GET    /__sandbox/faults -> {"faults": [{"path", "fault", "remaining"}...]}
--   DELETE /__sandbox/faults -> {"cleared": n}
local json = require("flexiroam.json")
local faults = require("flexiroam.sandbox.faults")

local fault_routes = {}

local function pending(h)
  return json.array(h.fault_queue:list())
end

local function queue_fault(h, req)
  local body, err = json.decode(req.body or "")
  if body == nil then return h:error(400, "the body is not JSON: " .. tostring(err)) end
  if type(body) ~= "table" or json.is_array(body) then return h:error(400, "the body must be a JSON object") end
  local path, spec, times = body.path, body.fault, body.times
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" or path:find("[?#%s]") then
    return h:error(422, "path must be a request path such as /v1/public-v2/purchase-plan",
      { fields = { path = "a path starting with /, without a query" } })
  end
  if type(spec) ~= "string" then
    return h:error(422, "fault must be a string", { fields = { fault = "a fault such as status=503" } })
  end
  local fault, why = faults.parse(spec)
  if not fault then return h:error(400, "malformed fault: " .. why, { fields = { fault = why } }) end
  if times == nil or times == json.null then times = 1 end
  if math.type(times) ~= "integer" or times < 1 or times > faults.MAX_TIMES then
    return h:error(422, "times must be an integer from 1 to " .. faults.MAX_TIMES,
      { fields = { times = "an integer from 1 to " .. faults.MAX_TIMES } })
  end
  h.fault_queue:push(path, fault, times)
  return h:json(201, { queued = { path = path, fault = spec, times = times }, faults = pending(h) })
end

local function list_faults(h)
  return h:json(200, { faults = pending(h) })
end

local function clear_faults(h)
  return h:json(200, { cleared = h:clear_faults() })
end

--- Adds the routes to a handler's route table.
function fault_routes.add(routes)
  routes["POST /__sandbox/faults"] = queue_fault
  routes["GET /__sandbox/faults"] = list_faults
  routes["DELETE /__sandbox/faults"] = clear_faults
  return routes
end

return fault_routes
