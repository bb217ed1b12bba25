--- Confirmation before a command spends money or cancels something: what
-- it will do goes to stderr (stdout stays the answer's), then on a
-- terminal a question; --yes answers it for scripts. Off a terminal and
-- without --yes the command refuses: a pipeline that reached a purchase by
-- mistake must not buy.
local terminal = require("flexiroam.cli.terminal")

local prompt = {}

--- prompt.confirm(ctx, lines, question) -> true | nil, err
-- err.kind: "declined" (answered no; nothing sent) or "usage" (no
-- terminal to ask on and no --yes).
function prompt.confirm(ctx, lines, question)
  for _, line in ipairs(lines) do ctx.say(line) end
  if ctx.args.yes then return true end
  if not (terminal.isatty("stdin") and terminal.isatty("stderr")) then
    return nil, { kind = "usage", message = "not asking: stdin is not a terminal; pass --yes to " ..
      question:gsub("%?$", ""):gsub("^%u", string.lower) .. " without a question" }
  end
  io.stderr:write(question, " [y/N] ")
  io.stderr:flush()
  local answer = io.stdin:read("*l")
  if answer and (answer:lower() == "y" or answer:lower() == "yes") then return true end
  if answer == nil then io.stderr:write("\n") end
  return nil, { kind = "declined", message = "not confirmed: nothing was sent" }
end

return prompt
