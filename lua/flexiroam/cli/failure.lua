--- Whatever ends a command early becomes one line on stderr and an exit
-- status (flexiroam.cli.exit_codes), never a traceback: an SDK error says
-- its kind, its message and the request id to quote to support; a misuse
-- the SDK raised is a usage error; anything else is a bug, said so (the
-- traceback only with --debug).
local errors = require("flexiroam.errors")
local exit_codes = require("flexiroam.cli.exit_codes")
local connect = require("flexiroam.cli.connect")

local failure = {}

--- The message handler for xpcall: notes whether a string error was
-- raised by flexiroam.misuse (the caller's mistake, not a bug) and keeps
-- a traceback for --debug.
function failure.handler(thrown)
  if type(thrown) ~= "string" then return thrown end
  local raiser = debug.getinfo(3, "S")
  return {
    text = thrown,
    misuse = raiser ~= nil and raiser.source:find("misuse%.lua$") ~= nil,
    traceback = debug.traceback(thrown, 2),
  }
end

local function one_line(s)
  return (tostring(s):gsub("%s*\n%s*", " "))
end

-- Where an error came from, for support: our request id, the server's.
local function ids(err)
  local parts = {}
  if err.request_id then parts[#parts + 1] = "request " .. tostring(err.request_id) end
  if err.server_request_id then parts[#parts + 1] = "server request " .. tostring(err.server_request_id) end
  if #parts == 0 then return "" end
  return " (" .. table.concat(parts, ", ") .. ")"
end

local function sdk_line(err, hint)
  local message = one_line(err.message)
  if err.kind == "rate_limited" and err.retry_after then
    message = message .. string.format("; the API asks to wait %s s", tostring(err.retry_after))
  end
  if err.kind == "validation" and type(err.fields) == "table" then
    -- The reasons the message does not already give.
    local fields = {}
    for name, why in pairs(err.fields) do
      if not message:find(one_line(why), 1, true) then fields[#fields + 1] = tostring(name) .. " " .. one_line(why) end
    end
    table.sort(fields)
    if #fields > 0 then message = message .. " [" .. table.concat(fields, "; ") .. "]" end
  end
  return err.kind .. ": " .. message .. ids(err) .. (hint and ("; " .. hint) or "")
end

-- The text an error prints, whatever raised it.
local function text_of(thrown)
  if type(thrown) ~= "table" then return tostring(thrown) end
  return thrown.message or thrown.text
end

--- failure.report(ctx, thrown [, argv]) -> exit status, having written the line.
-- ctx may be partial, or nil (an error before the command line was parsed).
-- A message that quotes a word of argv holding the API key is never
-- printed: the key's refusal is reported instead (connect.refusal).
function failure.report(ctx, thrown, argv)
  local refusal, probe
  if not (type(thrown) == "table" and thrown.key_on_command_line) then -- already the refusal
    refusal, probe = connect.refusal(ctx, argv or (ctx and ctx.argv) or {}, text_of(thrown))
    if refusal then thrown = refusal end
  end
  local redact = (probe and probe.redact) or (ctx and ctx.redact) or function(s) return s end
  local debug_on = ctx and ctx.args and ctx.args.debug
  local function say(line)
    io.stderr:write("flexiroam: ", redact(line), "\n")
  end
  if type(thrown) == "table" and thrown.broken_pipe then return 141 end
  if errors.is_error(thrown) then
    -- A purchase whose outcome is unknown, or that went through before a
    -- later step failed: how to finish it without buying twice.
    local hint
    -- Not a SIM taken by another sale: that one needs a new reference.
    if ctx and ctx.retry_hint and (thrown.kind == "indeterminate" or thrown.order ~= nil) and
      not (thrown.kind == "conflict" and thrown.code == "sim_taken") then
      hint = ctx.retry_hint
    end
    say(sdk_line(thrown, hint))
    return (exit_codes.for_kind(thrown.kind))
  end
  if type(thrown) == "table" and thrown.text then -- a string raised somewhere
    local text = thrown.text
    if text:find("interrupted!$") then
      say("interrupted" .. (ctx and ctx.interrupt_hint and ("; " .. ctx.interrupt_hint) or ""))
      return exit_codes.code("interrupted")
    end
    if thrown.misuse then
      say("usage: " .. one_line(text:gsub("^[^\n]-:%d+: ", "")))
      return exit_codes.code("usage")
    end
    say("internal error: " .. one_line(text) .. " (please report it; --debug shows where)")
    if debug_on then io.stderr:write(redact(thrown.traceback), "\n") end
    return exit_codes.code("internal")
  end
  if type(thrown) == "table" and thrown.kind then -- the command line's own
    local line = one_line(thrown.message)
    if thrown.kind == "usage" then
      -- The command argparse was reading ("flexiroam sims"), from its usage line.
      local command = thrown.usage and thrown.usage:match("^Usage: (.-)%s+%[") or nil
      if command then line = line .. " (`" .. command:gsub("^flexiroam", "flexiroam help") .. "` explains it)" end
      say("usage: " .. line)
      return exit_codes.code("usage")
    end
    say((thrown.kind == "declined" and "" or (thrown.kind .. ": ")) .. line)
    local code = exit_codes.code(thrown.kind)
    if code == exit_codes.code("internal") and thrown.kind ~= "internal" then
      code = exit_codes.for_kind(thrown.kind)
    end
    return code
  end
  say("internal error: " .. one_line(tostring(thrown)))
  return exit_codes.code("internal")
end

return failure
