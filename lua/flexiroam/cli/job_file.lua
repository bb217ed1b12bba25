--- A bulk job's file: one call a record, as CSV (a header row naming the
-- columns) or NDJSON (one JSON object a line, also .jsonl). A record holds
-- an operation's parameters (iccid, plan_id, reference, ...), optionally
-- `operation` (default: purchase_plan, or --operation) and `key` (the
-- item's name in the journal: your order number; default: its operation,
-- parameters and occurrence among identical records, never its position:
-- flexiroam.cli.cmd.jobs). Every record is checked before anything is
-- sent: an unknown column, a missing parameter or a bad ICCID is refused
-- with its line number.
local json = require("flexiroam.json")
local operations = require("flexiroam.operations")
local csv = require("flexiroam.cli.csv")
local params = require("flexiroam.cli.params")
local checks = require("flexiroam.cli.checks")
local errors = require("flexiroam.errors")

local job_file = {}

local function bad(path, line, message)
  error({ kind = "usage", message = string.format("%s:%s: %s", path, tostring(line), message) }, 0)
end

-- A value the SDK would refuse (a bad ICCID or reference) stays a
-- validation error, exit 10 as from any other command, with its line.
local function refused(path, line, err)
  if not errors.is_error(err) then bad(path, line, tostring(err)) end
  error(errors.new(err.kind, string.format("%s:%s: %s", path, tostring(line), tostring(err.message)),
    { fields = err.fields, sent = false }), 0)
end

local function read_text(path)
  local f, err = io.open(path, "rb")
  if not f then error({ kind = "not_found", message = "cannot read the job file " .. tostring(err) }, 0) end
  local text = f:read("*a") or ""
  f:close()
  return text
end

-- Records as {line =, fields = {name -> value}} from either format.
local function records(path, text)
  local out = {}
  local ndjson = path:find("%.ndjson$") or path:find("%.jsonl$") or
    (not path:find("%.csv$") and text:find("^%s*{"))
  if ndjson then
    local n = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      if line:find("%S") then
        local v, err = json.decode(line)
        if type(v) ~= "table" or json.is_array(v) then
          bad(path, n, "not a JSON object" .. (err and (": " .. tostring(err.message or err)) or ""))
        end
        out[#out + 1] = { line = n, fields = v, typed = true }
      end
    end
    return out
  end
  local rows, why, at = csv.parse(text)
  if not rows then bad(path, at, why) end
  local header = rows[1]
  if not header then return out end
  for i = 2, #rows do
    local row, fields = rows[i], {}
    if #row ~= #header then bad(path, row.line, string.format("%d fields, the header has %d", #row, #header)) end
    for j, name in ipairs(header) do
      if row[j] ~= "" then fields[name] = row[j] end
    end
    out[#out + 1] = { line = row.line, fields = fields }
  end
  return out
end

--- job_file.read(path, default_operation) -> calls {{name =, params =, key =,
-- line =}} | raises a usage error naming the line.
function job_file.read(path, default_operation)
  local calls = {}
  for _, r in ipairs(records(path, read_text(path))) do
    local name = r.fields.operation or default_operation or "purchase_plan"
    name = tostring(name):gsub("%-", "_")
    local op = operations[name]
    if not op then bad(path, r.line, "unknown operation '" .. name .. "'") end
    local accepted = {}
    for _, p in ipairs(op.params or {}) do accepted[p] = true end
    local call_params = {}
    for field, value in pairs(r.fields) do
      if field ~= "operation" and field ~= "key" then
        if not accepted[field] then
          bad(path, r.line, string.format("%s takes no parameter '%s' (it takes %s)", name, field,
            table.concat(op.params or {}, ", ")))
        end
        if not r.typed and type(value) == "string" then
          local v, why = params.convert(field, value, op)
          if v == nil then bad(path, r.line, why) end
          value = v
        end
        call_params[field] = value
      end
    end
    for _, p in ipairs(op.required or {}) do
      if call_params[p] == nil then bad(path, r.line, name .. " needs " .. p) end
    end
    local ok, err = pcall(checks.params, name, op, call_params)
    if not ok then refused(path, r.line, err) end
    if call_params.reference ~= nil then
      ok, err = pcall(checks.reference, tostring(call_params.reference))
      if not ok then refused(path, r.line, err) end
    end
    local key = r.fields.key
    if key ~= nil and (type(key) ~= "string" or key == "") then bad(path, r.line, "key must be text") end
    calls[#calls + 1] = { name = name, params = call_params, key = key, line = r.line }
  end
  if #calls == 0 then error({ kind = "usage", message = path .. " holds no calls" }, 0) end
  return calls
end

return job_file
