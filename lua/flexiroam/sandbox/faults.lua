--- Fault injection for the sandbox: the fault grammar, the per-path queue,
-- and what a fault does to an answer. Transport-independent: faults that
-- need the socket become a plain-data directive in the response,
-- res.fault = {action =, delay_ms =, ms =, bytes =, committed =, spec =},
-- which the server (or any other transport) carries out:
--   action "delay": send the answer as it is; "reset": close without a byte;
--   "truncate": the head with the full Content-Length, half the body, close;
--   "drip": the head, then the body `bytes` at a time, `ms` apart.
--   delay_ms: wait that long before any of it (nil: no wait).
--   committed: the route ran, so its write happened (after_commit=reset).
--   spec: the fault's text.
--
-- Grammar: items joined by ";" (spaces around them are ignored), exactly one
-- of the kinds below, plus the modifiers that kind allows:
--   status=NNN [;retry_after=S]    an error answer (400-599) in JSON
--   html502                        a 502 with an HTML page, as a proxy sends
--   garbage                        200 with a body that is not JSON
--   envelope                       200 {"success": false, "msg": ...} (older API)
--   reset                          close without answering; the route never runs
--   truncate                       the route runs; its answer is cut in half
--   drip_ms=N [;drip_bytes=B]      the route runs; its body goes out B bytes
--                                  (default 16) at a time, N ms apart
--   after_commit=reset|NNN         the route runs (its write happens), then
--                                  the connection closes / the answer is NNN
--   delay_ms=N                     alone: the route's answer, N ms late; with
--                                  any kind above: that fault, N ms late
local faults = {}

local MAX_MS = 60000
local MAX_RETRY_AFTER = 86400
faults.MAX_TIMES = 1000000

local function number_in(value, min, max)
  if not value or not value:match("^%d+$") or #value > 9 then return nil end
  local n = math.tointeger(tonumber(value))
  if n < min or n > max then return nil end
  return n
end

local function status_code(value)
  return number_in(value, 400, 599)
end

-- Each kind reads its own value; nil and a message when it is not valid.
local KINDS = {
  status = function(v)
    local n = status_code(v)
    if not n then return nil, "status needs a code from 400 to 599" end
    return { kind = "status", status = n }
  end,
  html502 = function() return { kind = "html502" } end,
  garbage = function() return { kind = "garbage" } end,
  envelope = function() return { kind = "envelope" } end,
  reset = function() return { kind = "reset" } end,
  truncate = function() return { kind = "truncate" } end,
  drip_ms = function(v)
    local n = number_in(v, 1, MAX_MS)
    if not n then return nil, "drip_ms needs milliseconds from 1 to " .. MAX_MS end
    return { kind = "drip", ms = n }
  end,
  after_commit = function(v)
    if v == "reset" then return { kind = "after_commit", reset = true } end
    local n = status_code(v)
    if not n then return nil, "after_commit needs reset or a status from 400 to 599" end
    return { kind = "after_commit", status = n }
  end,
}
local FLAGS = { html502 = true, garbage = true, envelope = true, reset = true, truncate = true }

-- Modifiers: the kinds each one may go with (true: any, or none at all).
local MODIFIERS = {
  retry_after = { kinds = { status = true }, min = 0, max = MAX_RETRY_AFTER, field = "retry_after" },
  drip_bytes = { kinds = { drip = true }, min = 1, max = 65536, field = "bytes" },
  delay_ms = { kinds = true, min = 1, max = MAX_MS, field = "delay_ms" },
}

--- parse(text) -> fault | nil, message. A fault is a table with `kind`
-- ("delay" when delay_ms stands alone), its values, and `spec` (the text).
function faults.parse(text)
  if type(text) ~= "string" or text:match("^%s*$") then return nil, "empty fault" end
  if #text > 200 then return nil, "fault too long" end
  local fault, mods = nil, {}
  for item in (text .. ";"):gmatch("([^;]*);") do
    item = item:match("^%s*(.-)%s*$")
    local name, value = item:match("^([%w_]+)=(.*)$")
    name = name or item
    if KINDS[name] then
      if (FLAGS[name] == true) ~= (value == nil) then
        return nil, FLAGS[name] and (name .. " takes no value") or (name .. " needs a value")
      end
      if fault then return nil, "one fault at a time: " .. fault.kind .. " and " .. name end
      local err
      fault, err = KINDS[name](value)
      if not fault then return nil, err end
    elseif MODIFIERS[name] and value then
      local m = MODIFIERS[name]
      if mods[name] then return nil, name .. " given twice" end
      mods[name] = number_in(value, m.min, m.max)
      if not mods[name] then return nil, string.format("%s needs an integer from %d to %d", name, m.min, m.max) end
    else
      return nil, "unknown fault " .. string.format("%q", item:sub(1, 40))
    end
  end
  if not fault then
    if not mods.delay_ms then return nil, "no fault named" end
    fault = { kind = "delay" }
  end
  for name, n in pairs(mods) do
    local allowed = MODIFIERS[name].kinds
    if allowed ~= true and not allowed[fault.kind] then
      return nil, name .. " does not go with " .. fault.kind
    end
    fault[MODIFIERS[name].field] = n
  end
  fault.spec = text
  return fault
end

--- Does the route run under this fault? (The others answer in its place.)
function faults.runs_route(fault)
  local k = fault.kind
  return k == "delay" or k == "drip" or k == "truncate" or k == "after_commit"
end

local HTML_502 = [[<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
]]

-- codes the handler has no name for; others take the handler's own
local GATEWAY_CODES = { [502] = "bad_gateway", [503] = "service_unavailable", [504] = "gateway_timeout" }

local function directive(fault, action, extra)
  local d = { action = action, spec = fault.spec, delay_ms = fault.delay_ms }
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

--- The answer a fault gives instead of the route (faults.runs_route false).
-- h is the handler (for its JSON error bodies).
function faults.answer(h, fault)
  local k = fault.kind
  local res
  if k == "status" then
    local headers = fault.retry_after and { ["retry-after"] = tostring(fault.retry_after) } or nil
    res = h:error(fault.status, "injected fault: status " .. fault.status,
      { headers = headers, code = GATEWAY_CODES[fault.status] })
  elseif k == "html502" then
    res = { status = 502, headers = { ["content-type"] = "text/html" }, body = HTML_502 }
  elseif k == "garbage" then
    res = { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"items": [{"iccid": "89\1\255' }
  elseif k == "envelope" then
    res = h:json(200, { success = false, msg = "injected fault: request failed" })
  else -- reset: nothing reaches the client; the body is for a transport that ignores res.fault
    res = h:error(500, "injected fault: connection reset")
    res.fault = directive(fault, "reset")
  end
  return res
end

--- What a fault does to the route's own answer (faults.runs_route true).
function faults.apply(h, fault, res)
  local k = fault.kind
  if k == "after_commit" then
    if fault.reset then
      res.fault = directive(fault, "reset", { committed = true })
    else
      res = h:error(fault.status, "injected fault after the write: status " .. fault.status,
        { code = GATEWAY_CODES[fault.status] })
    end
  elseif k == "truncate" then
    res.fault = directive(fault, "truncate")
  elseif k == "drip" then
    res.fault = directive(fault, "drip", { ms = fault.ms, bytes = fault.bytes or 16 })
  end
  return res
end

--- One fault as the outcome of a request: the route's answer (run = a
-- function returning it) or the fault's, with delay_ms applied to either.
function faults.outcome(h, fault, run)
  local res
  if faults.runs_route(fault) then
    res = faults.apply(h, fault, run())
  else
    res = faults.answer(h, fault)
  end
  if fault.delay_ms and not res.fault then res.fault = directive(fault, "delay") end
  return res
end

--- The queue: path -> FIFO of {fault =, remaining =}.
local Queue = {}
Queue.__index = Queue

function faults.queue()
  return setmetatable({ by_path = {} }, Queue)
end

function Queue:push(path, fault, times)
  local list = self.by_path[path]
  if not list then
    list = {}
    self.by_path[path] = list
  end
  list[#list + 1] = { fault = fault, remaining = times }
end

--- The fault for the next request to `path`, counted; nil when none waits.
function Queue:take(path)
  local list = self.by_path[path]
  if not list then return nil end
  local entry = list[1]
  entry.remaining = entry.remaining - 1
  if entry.remaining <= 0 then
    table.remove(list, 1)
    if #list == 0 then self.by_path[path] = nil end
  end
  return entry.fault
end

--- Pending faults as plain data, sorted by path then queue order.
function Queue:list()
  local paths, out = {}, {}
  for path in pairs(self.by_path) do paths[#paths + 1] = path end
  table.sort(paths)
  for _, path in ipairs(paths) do
    for _, e in ipairs(self.by_path[path]) do
      out[#out + 1] = { path = path, fault = e.fault.spec, remaining = e.remaining }
    end
  end
  return out
end

--- Empties the queue; returns how many queued faults were dropped.
function Queue:clear()
  local n = #self:list()
  self.by_path = {}
  return n
end

return faults
