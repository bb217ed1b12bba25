--- The command line's grammar, built with lua-argparse from the command
-- specs (flexiroam.cli.commands): the same specs give `flexiroam help`'s
-- pages and the shell completions, so the three never disagree.
--
-- A spec: {name =, summary =, description =, arguments = {{name, description
-- =, args = "?"|"*"|"+"}}, options = {{"--name", "-n", arg = "VALUE" (absent:
-- a flag), choices =, count = "*", convert =, action =, description =}}, commands =
-- {specs} | run = function(ctx, args), default = "sub" (run when the group
-- is named alone), examples = {lines}}.
local argparse = require("flexiroam.dependencies").require("argparse", "the command line (flexiroam)")

local parser = {}

local unpack = table.unpack or unpack -- luacheck: ignore 113 (5.1's)

-- What argparse reports as misuse, raised as our usage error: the message
-- and the usage line of the (sub)command it was parsing.
local function usage_error(p, message)
  error({ kind = "usage", message = message, usage = p:get_usage() }, 0)
end

local function add_option(cmd, o)
  local names = {}
  for _, n in ipairs(o) do names[#names + 1] = n end
  local element
  if o.arg then
    element = cmd:option(table.concat(names, " "), o.description)
    element:argname(o.arg)
    if o.choices then element:choices(o.choices) end
    if o.count then element:count(o.count) end
    if o.convert then element:convert(o.convert) end
  else
    element = cmd:flag(table.concat(names, " "), o.description)
  end
  if o.hidden then element:hidden(true) end
  if o.action then element:action(o.action) end
  return element
end

local function add_argument(cmd, a)
  local element = cmd:argument(a[1], a.description)
  if a.args then element:args(a.args) end
  if a.choices then element:choices(a.choices) end
  if a.convert then element:convert(a.convert) end
  return element
end

-- Adds `spec` under `parent`; records each runnable command by the result
-- key argparse sets when it is chosen.
local function add_command(parent, spec, path, runnable)
  local cmd = parent:command(spec.name)
  cmd:summary(spec.summary)
  cmd:description(spec.summary .. (spec.description and ("\n\n" .. spec.description) or ""))
  local full = path .. " " .. spec.name
  local target = "_command:" .. full
  cmd:target(target)
  for _, a in ipairs(spec.arguments or {}) do add_argument(cmd, a) end
  for _, o in ipairs(spec.options or {}) do add_option(cmd, o) end
  spec.path = full:sub(2)
  if spec.commands then
    if spec.default then
      -- `sims --free` as `sims list --free`: the group takes its default's
      -- options too.
      cmd:require_command(false)
      for _, sub in ipairs(spec.commands) do
        if sub.name == spec.default then
          for _, o in ipairs(sub.options or {}) do add_option(cmd, o) end
        end
      end
    end
    for _, sub in ipairs(spec.commands) do add_command(cmd, sub, full, runnable) end
  end
  runnable[#runnable + 1] = { target = target, spec = spec, depth = select(2, full:gsub(" ", "")) }
  return cmd
end

--- parser.build(root) -> parser, runnable: root = {name, summary,
-- description, options (global), groups = {{title, specs}}}.
function parser.build(root)
  local p = argparse(root.name, root.summary .. "\n\n" .. root.description)
  p:help_max_width(100)
  p:usage_max_width(100)
  for _, o in ipairs(root.options) do add_option(p, o) end
  local runnable = {}
  for _, group in ipairs(root.groups) do
    local made = {}
    for _, spec in ipairs(group[2]) do made[#made + 1] = add_command(p, spec, "", runnable) end
    p:group(group[1], unpack(made))
  end
  -- Deepest first: a subcommand's key is set along with its group's.
  table.sort(runnable, function(a, b) return a.depth > b.depth end)
  p.error = usage_error
  return p, runnable
end

--- parser.parse(p, runnable, argv) -> args, spec | raises a usage error.
function parser.parse(p, runnable, argv)
  local args = p:parse(argv)
  for _, r in ipairs(runnable) do
    if args[r.target] then
      local spec = r.spec
      if spec.commands and spec.default then
        for _, sub in ipairs(spec.commands) do
          if sub.name == spec.default then return args, sub end
        end
      end
      return args, spec
    end
  end
  usage_error(p, "a command is required")
end

return parser
