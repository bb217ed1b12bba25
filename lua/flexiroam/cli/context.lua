--- What a command runs with: its parsed arguments, where its output goes
-- and in which format, how it talks to the operator (stderr), the client
-- (made on first use), and --dry-run's capture.
local output = require("flexiroam.cli.output")
local terminal = require("flexiroam.cli.terminal")
local connect = require("flexiroam.cli.connect")
local dry_run = require("flexiroam.cli.dry_run")

local Context = {}
Context.__index = Context

local context = {}

--- context.new(args, argv) -> ctx
function context.new(args, argv)
  local ctx = setmetatable({
    args = args, argv = argv, format = output.format(args.output), fields = args.fields,
    width = terminal.width(), write = output.stdout(), stderr_tty = terminal.isatty("stderr"),
    dry_requests = {},
  }, Context)
  -- A line for the operator on stderr. On a terminal it first clears the
  -- line, where a progress bar may be drawn; the key never reaches it.
  ctx.say = function(line)
    if ctx.redact then line = ctx.redact(line) end
    io.stderr:write(ctx.stderr_tty and "\r\27[K" or "", line, "\n")
    io.stderr:flush()
  end
  return ctx
end

function Context:client()
  return connect.client(self)
end

function Context:settings()
  return connect.settings(self)
end

--- A writer for a listing (output.list) in this run's format.
function Context:list(opts)
  opts = opts or {}
  return output.list { format = self.format, write = self.write, width = self.width, fields = self.fields,
    model = opts.model, cols = opts.cols, csv_raw = self.args.csv_raw }
end

--- One record (output.item) in this run's format.
function Context:item(record, opts)
  opts = opts or {}
  output.item(record, { format = self.format, write = self.write, width = self.width, fields = self.fields,
    model = opts.model, cols = opts.cols, csv_raw = self.args.csv_raw })
end

--- Under --dry-run: runs f against the capturing transport and prints every
-- request it would have sent as a curl command (and `notes` as comments).
-- Returns true when it printed something. A check that fails before
-- anything would be sent (a bad ICCID) raises that error.
function Context:dry_run(f, notes)
  self:client()
  self.dry_requests = {}
  local ok, value, err = dry_run.run(self, f)
  if not ok and err then error(err, 0) end
  local redact = self.redact or function(s) return s end
  local variable, where = dry_run.key_variable(self:settings().key_source)
  self.write("# --dry-run: nothing was sent. " .. #self.dry_requests .. " request" ..
    (#self.dry_requests == 1 and "" or "s") .. " it would send:\n")
  if where then self.write("# " .. redact(where) .. "\n") end
  for i, req in ipairs(self.dry_requests) do
    if req.note then self.write("# " .. req.note .. "\n") end
    self.write(dry_run.curl(req, redact, variable) .. "\n")
    if i < #self.dry_requests then self.write("\n") end
  end
  for _, note in ipairs(notes or {}) do self.write("# " .. note .. "\n") end
  return value
end

return context
