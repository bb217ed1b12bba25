--- A command for every operation of the API, made from the operations
-- table (flexiroam.operations) when the command line starts: an operation
-- added there is a command here, with no code. `get_sim` is `get-sim`; its
-- required parameters are arguments in the table's order, the others
-- options (--plan-id); --params '{"name": value}' gives any of them as
-- JSON. Lists stream every page; purchases (an operation with a
-- reference) go through the same confirmation as `buy`, and every other
-- write asks first too (--yes for scripts).
local operations = require("flexiroam.operations")
local pipeline = require("flexiroam.pipeline")
local params = require("flexiroam.cli.params")
local checks = require("flexiroam.cli.checks")
local reads = require("flexiroam.cli.reads")
local purchase = require("flexiroam.cli.purchase")
local prompt = require("flexiroam.cli.prompt")
local json = require("flexiroam.json")

local function option_name(param)
  return "--" .. param:gsub("_", "-")
end

local function command_name(name)
  return (name:gsub("_", "-"))
end

-- The parameters of a call from its arguments: --params first, then each
-- one given on its own (which wins).
local function call_params(name, op, args)
  local p = {}
  if args.params then
    for k, v in pairs(args.params) do p[k] = v end
  end
  for _, param in ipairs(op.params or {}) do
    local text = args[param]
    if text ~= nil then
      local v, why = params.convert(param, text, op)
      if v == nil then error({ kind = "usage", message = why }, 0) end
      p[param] = v
    end
  end
  for _, param in ipairs(op.required or {}) do
    if p[param] == nil then error({ kind = "usage", message = name .. " needs " .. param }, 0) end
  end
  checks.params(name, op, p)
  return p
end

local function runner(name, op)
  local mode = pipeline.mode_of(op)
  return function(ctx, args)
    local p = call_params(name, op, args)
    if mode == "read" and op.answer == "list" then
      return reads.stream(ctx, name, p, { max_pages = args.max_pages })
    elseif mode == "read" then
      return reads.get(ctx, name, p)
    elseif mode == "reference" and p.iccid and p.plan_id then
      local cmd = command_name(name)
      return purchase.one(ctx, {
        operation = name, iccid = p.iccid, plan_id = p.plan_id, reference = p[op.reference or "reference"],
        verb = "send " .. cmd .. " for", question = "Send it?",
        again = function(ref)
          return string.format("flexiroam %s %s %s --reference %s", cmd, p.iccid, p.plan_id, ref)
        end,
      })
    end
    local client = ctx:client()
    if ctx.args.dry_run then return ctx:dry_run(function() return client:call(name, p) end) end
    -- A write changes a SIM, its top-ups or a subscription (money, service):
    -- asked first like the curated commands, --yes for scripts.
    local shown = {}
    for k, v in pairs(p) do shown[#shown + 1] = k .. "=" .. (type(v) == "table" and json.encode(v) or tostring(v)) end
    table.sort(shown)
    local ok, why = prompt.confirm(ctx, { string.format("about to send %s (%s %s): %s", command_name(name),
      op.method, op.path, table.concat(shown, ", ")) }, "Send it?")
    if not ok then error(why, 0) end
    local value, err = client:call(name, p)
    if value == nil then error(err, 0) end
    ctx:item(value)
  end
end

local function spec(name, op)
  local required = {}
  for _, param in ipairs(op.required or {}) do required[param] = true end
  local mode = pipeline.mode_of(op)
  local arguments, opts = {}, {}
  for _, param in ipairs(op.required or {}) do
    arguments[#arguments + 1] = { param, description = "the " .. param .. " (required)" }
  end
  for _, param in ipairs(op.params or {}) do
    if not required[param] then
      local t = params.type_of(param, op)
      opts[#opts + 1] = { option_name(param), arg = param:upper(), description = "the " .. param ..
        (t and (" (" .. (t == "object" and "a JSON object" or t) .. ")") or "") }
    end
  end
  if op.answer == "list" and mode == "read" then
    opts[#opts + 1] = reads.max_pages_option()
  end
  opts[#opts + 1] = { "--params", arg = "JSON", convert = params.object,
    description = "parameters as a JSON object (typed exactly; an option given too wins)" }
  local what = ({ read = "a read", idempotent = "a write (safe to repeat; asks first)",
    reference = "a purchase under a " ..
    "reference (asks first; never sent twice)", unsafe = "a write sent once (asks first)" })[mode] or mode
  return {
    name = command_name(name),
    summary = string.format("%s %s: %s", op.method, op.path, what),
    description = string.format("The API operation %s (%s %s%s), from the SDK's operations table.%s", name,
      op.method, op.path, op.documented and ", documented" or ", derived: see the contract",
      op.answer == "list" and " Every page is read and streamed." or ""),
    arguments = arguments, options = opts, run = runner(name, op), operation = name,
  }
end

--- The generated commands, by name.
local specs = {}
local names = {}
for name in pairs(operations) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do specs[#specs + 1] = spec(name, operations[name]) end

return specs
