--- flexiroam help [COMMAND...]: a command's manual page (flexiroam.cli.manual).
local manual = require("flexiroam.cli.manual")
local commands = require("flexiroam.cli.commands")

local function run(ctx, args)
  local words = args.command or {}
  local text
  if #words == 0 then
    text = manual.root_page(ctx.root)
  elseif #words == 1 and (words[1] == "exit-codes" or words[1] == "exit-status") then
    text = "EXIT STATUS\n" .. manual.exit_status()
  else
    local spec, missing = commands.find(ctx.root, words)
    if not spec then
      error({ kind = "usage", message = "no command '" .. table.concat(words, " ") .. "' ('" .. missing ..
        "' is unknown); `flexiroam help` lists them" }, 0)
    end
    text = manual.page(spec, ctx.root)
  end
  ctx.write(text .. "\n")
end

return {
  name = "help",
  summary = "a command's manual page (`help exit-codes`: the exit statuses)",
  arguments = { { "command", args = "*", description = "the command (`sims show`), or exit-codes" } },
  examples = { "flexiroam help sims show", "flexiroam help exit-codes" },
  run = run,
}
