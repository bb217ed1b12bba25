--- flexiroam.cli: the `flexiroam` command (bin/flexiroam is a few lines
-- that call cli.main). Parsing (flexiroam.cli.parser) from the command
-- specs (flexiroam.cli.commands), then the command's run in a context
-- (flexiroam.cli.context); whatever ends it early becomes one line on
-- stderr and an exit status (flexiroam.cli.failure, flexiroam.cli.exit_codes).
local parser = require("flexiroam.cli.parser")
local commands = require("flexiroam.cli.commands")
local context = require("flexiroam.cli.context")
local failure = require("flexiroam.cli.failure")

local cli = {}

-- Words that would put a key on the command line: refused before anything
-- else, with the reason (the shell's history already holds it).
local KEY_FLAGS = { ["--api-key"] = true, ["--api_key"] = true, ["--apikey"] = true, ["--key"] = true,
  ["--x-api-key"] = true, ["-k"] = true }

local function refuse_key_flags(argv)
  for _, word in ipairs(argv) do
    local flag = word:match("^(%-%-?[%w_%-]+)=") or word
    if KEY_FLAGS[flag] then
      error({ kind = "usage", key_on_command_line = true,
        message = flag .. ": the API key is never taken on the command line (it would " ..
        "stay in the shell's history and show in `ps` to every user): set FLEXIROAM_API_KEY, or give a profile " ..
        "a key_file or key_command (flexiroam help config). If you typed a real key, consider it exposed." }, 0)
    end
  end
end

local function run(argv, argv0, state)
  refuse_key_flags(argv)
  local root = commands.root()
  local p, runnable = parser.build(root)
  if #argv == 0 then
    -- Not a mistake to report in a line: the list of what there is.
    io.stderr:write(p:get_help(), "\n")
    state.code = 2
    return
  end
  local args, spec = parser.parse(p, runnable, argv)
  local ctx = context.new(args, argv)
  state.ctx = ctx
  ctx.root, ctx.parser, ctx.argv0, ctx.spec = root, p, argv0, spec
  spec.run(ctx, args)
end

--- cli.main(argv [, argv0]) -> exit status
function cli.main(argv, argv0)
  local state = {}
  local ok, thrown = xpcall(run, failure.handler, argv, argv0, state) -- LuaJIT passes the arguments too
  local ctx = state.ctx
  if ctx and ctx._client then pcall(ctx._client.close, ctx._client) end
  if ok then return state.code or 0 end
  return failure.report(ctx, thrown, argv)
end

return cli
