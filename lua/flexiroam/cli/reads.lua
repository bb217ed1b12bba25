--- The two ways a command reads: a listing streamed page after page (each
-- record written as it comes), and one record. Both decode only the fields
-- they will show when they can (the `fields` option: --fields, else the
-- columns of a table or a CSV), and under --dry-run print the request.
local operations = require("flexiroam.operations")
local columns = require("flexiroam.cli.columns")
local checks = require("flexiroam.cli.checks")

local reads = {}

-- The fields to decode: --fields, else what a table or a CSV shows of this
-- model; nil (everything) for JSON, or an operation with no model.
function reads.selection(ctx, name)
  local op = operations[name]
  if not (op and op.model) then return nil end
  if ctx.fields then return ctx.fields end
  local cols = columns.for_model(op.model, ctx.format)
  return cols and columns.needs(cols) or nil
end

--- The option every streamed listing takes (its value is reads.stream's
-- max_pages), a new table each time: each command owns its options.
function reads.max_pages_option()
  return { "--max-pages", arg = "N", convert = checks.count, description = "stop after N pages" }
end

--- reads.stream(ctx, name, params [, {max_pages =}]): every record of a
-- list operation, written as its page arrives.
function reads.stream(ctx, name, params, opts)
  local client = ctx:client()
  local call_opts = { fields = reads.selection(ctx, name), max_pages = opts and opts.max_pages }
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:call(name, params, { fields = call_opts.fields }) end,
      { "a listing sends this again with page_key=<the answer's page_key> until the last page" })
  end
  local op = operations[name]
  local w = ctx:list { model = op and op.model }
  for record in client:each(name, params, call_opts) do w:add(record) end
  w:finish()
end

--- reads.get(ctx, name, params) -> the record (written, unless opts.quiet)
function reads.get(ctx, name, params, opts)
  local client = ctx:client()
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:call(name, params) end)
  end
  local op = operations[name]
  local record, err = client:call(name, params, { fields = not (opts and opts.whole) and ctx.fields and
    reads.selection(ctx, name) or nil })
  if record == nil then error(err, 0) end
  if not (opts and opts.quiet) then ctx:item(record, { model = op and op.model }) end
  return record
end

return reads
