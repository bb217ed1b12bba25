--- The runner of spec/transport_contract_spec.lua, shared by the spec
-- (transports in the busted process) and spec/support/transport_contract_app.lua
-- (transports inside a real nginx): it sends a case's steps through a
-- transport and answers plain records (JSON-ready: no metatables, no
-- functions), so the spec asserts the same way on every row.
--
--   contract.run(t, mode, steps, now) -> records
--
-- t is a transport (docs/transport.md); mode "request" sends each request
-- with t:request, mode "multi" through one multi of t for the whole case
-- (flexiroam.transport.multi: add, then perform until its answer comes).
-- A step is {req = request} -> a response record {status, headers, body,
-- body_length, reused, http_version, url, timing_keys, elapsed}, an error
-- record {error = {every field, nested; text = tostring(err); is_error =
-- whether it is the SDK's error object}, elapsed}, or {raised = message}
-- when the transport raised; or {multi_case = {requests}}, which checks the
-- multi interface itself (see multi_case); or {batch = {requests}} ->
-- {batch = {a record for each request}}: in mode "multi" the requests are
-- all added before the first perform, so they are in flight together (and
-- share a connection where the transport multiplexes); in mode "request"
-- they go one after the other.
local errors = require "flexiroam.errors"
local transports = require "flexiroam.transport"

local contract = {}

-- The longest a step may take before the runner gives up on it: bounds a
-- hang only (valgrind is slow), never decides a case.
contract.STEP_LIMIT_S = 120
local BODY_KEPT = 65536

-- A plain deep copy: strings, numbers and booleans; tables copied; anything
-- else (a function, a userdata) as its type name.
local function plain(value, seen)
  local t = type(value)
  if t == "string" or t == "number" or t == "boolean" then return value end
  if t ~= "table" then return "<" .. t .. ">" end
  seen = seen or {}
  if seen[value] then return "<cycle>" end
  seen[value] = true
  local out = {}
  for k, v in pairs(value) do out[tostring(k)] = plain(v, seen) end
  seen[value] = nil
  return out
end

function contract.error_record(err)
  local rec = plain(err)
  if type(rec) ~= "table" then rec = { value = rec } end
  rec.text = tostring(err)
  rec.is_error = errors.is_error(err)
  return rec
end

function contract.response_record(res)
  local keys = {}
  for k in pairs(res.timings or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local body = res.body
  return {
    status = res.status, headers = plain(res.headers), body_length = type(body) == "string" and #body or nil,
    body = type(body) == "string" and #body <= BODY_KEPT and body or nil,
    reused = res.reused, http_version = res.http_version, url = res.url, timing_keys = keys,
  }
end

-- Request functions over a multi: send(req) adds, then performs until that
-- id's answer arrives (answers for other ids are kept); send_all(reqs)
-- adds them all, then performs until every one has its answer, and returns
-- a list of {res, err} (or {raised = message} for a request the multi
-- refused to add).
local function via_multi(m, now)
  local early = {}
  local function wait(id)
    local started = now()
    while not early[id] do
      for _, r in ipairs(m:perform(200)) do early[r.id] = r end
      if not early[id] and now() - started > contract.STEP_LIMIT_S then
        return nil, "the multi never answered request " .. tostring(id)
      end
    end
    local r = early[id]
    early[id] = nil
    return r.res, r.err
  end
  local function send(req)
    return wait(m:add(req))
  end
  local function send_all(reqs)
    local ids, out = {}, {}
    for i, req in ipairs(reqs) do
      local ok, id = pcall(m.add, m, req)
      if ok then ids[i] = id else out[i] = { raised = tostring(id) } end
    end
    for i in ipairs(reqs) do
      if ids[i] then
        local res, err = wait(ids[i])
        out[i] = { res = res, err = err }
      end
    end
    return out
  end
  return send, send_all
end

-- A record of one request's outcome: pcall's (ok, res, err).
local function record_of(ok, res, err)
  if not ok then return { raised = tostring(res) } end
  if res then return contract.response_record(res) end
  if type(err) == "string" then return { hang = err } end
  return { error = contract.error_record(err) }
end

--- The multi interface on its own: adds the requests, reads pending()
-- before any perform, performs until every answer has come (each id once),
-- reads pending() again, closes twice, and tries an add after close.
function contract.multi_case(t, requests, now)
  local m = transports.multi(t, { max_connections = 4 })
  local out = { ids = {}, answers = {} }
  for i, req in ipairs(requests) do out.ids[i] = m:add(req) end
  out.pending_after_add = m:pending()
  local started, got = now(), 0
  while got < #requests and now() - started < contract.STEP_LIMIT_S do
    for _, r in ipairs(m:perform(200)) do
      got = got + 1
      out.answers[#out.answers + 1] = {
        id = r.id, status = r.res and r.res.status, body = r.res and r.res.body,
        error = r.err and contract.error_record(r.err) or nil,
      }
    end
  end
  out.pending_at_end = m:pending()
  out.close_twice = pcall(function()
    m:close()
    m:close()
  end)
  out.add_after_close = select(2, pcall(m.add, m, requests[1]))
  out.add_after_close = out.add_after_close and tostring(out.add_after_close)
  return out
end

--- Runs a case's steps; see the top of the file.
function contract.run(t, mode, steps, now)
  local send, send_all
  local m
  if mode == "multi" then
    m = transports.multi(t, { max_connections = 4 })
    send, send_all = via_multi(m, now)
  else
    send = function(req) return t:request(req) end
    send_all = function(reqs)
      local out = {}
      for i, req in ipairs(reqs) do
        local ok, res, err = pcall(send, req)
        out[i] = ok and { res = res, err = err } or { raised = tostring(res) }
      end
      return out
    end
  end
  local records = {}
  for i, step in ipairs(steps) do
    local started = now()
    local rec
    if step.multi_case then
      rec = { multi = contract.multi_case(t, step.multi_case, now) }
    elseif step.batch then
      rec = { batch = {} }
      for j, o in ipairs(send_all(step.batch)) do
        rec.batch[j] = o.raised and { raised = o.raised } or record_of(true, o.res, o.err)
      end
    else
      rec = record_of(pcall(send, step.req))
    end
    rec.elapsed = now() - started
    records[i] = rec
  end
  if m then m:close() end
  return records
end

return contract
