--- The API key, from the one source a profile names. Never from the
-- command line: argv lands in shell history and in `ps` for every user of
-- the machine. A key read here is held only in the client's closure (see
-- flexiroam.client); nothing of it is ever printed, not even in an error:
-- a message names the source, never what it gave.
local core = require("flexiroam.core")

local keys = {}

local function auth_error(message)
  return { kind = "auth", message = message }
end

-- A key is one token of printable ASCII: what an HTTP header can carry.
local function check(key, where)
  key = key:gsub("^%s+", ""):gsub("%s+$", "")
  if key == "" then return nil, auth_error(where .. " gave an empty key") end
  if not key:find("^[\33-\126]+$") then
    return nil, auth_error(where .. " gave a key with spaces, control or non-ASCII characters (not shown)")
  end
  return key
end

--- keys.describe(source) -> a line saying where the key comes from.
function keys.describe(source)
  if not source then return "none" end
  if source.kind == "env" then return "environment variable " .. source.name end
  if source.kind == "file" then return "key_file " .. source.path end
  if source.kind == "command" then return "key_command `" .. source.command .. "`" end
  return source.label or source.kind
end

local function from_file(path)
  local text, why, reason = core.read_private_file(path, 4096)
  if not text then
    if reason == "mode" or reason == "owner" then return nil, auth_error("refusing the key file " .. why) end
    return nil, auth_error("cannot read the key file " .. why)
  end
  local first, rest = text:match("^([^\n]*)\n?(.*)$")
  if rest:find("%S") then
    return nil, auth_error("the key file " .. path .. " holds more than one line: it must hold the key alone")
  end
  return check(first, "the key file " .. path)
end

-- The command's first line of output (`pass show` prints the secret
-- first, then notes); its exit status must be 0 (read from a line the
-- shell adds after it: LuaJIT's close() does not report a status). It runs
-- with sh, keeping the terminal for a passphrase prompt of its own.
local MARK = "\n#flexiroam-key-command-status:"

local function from_command(command)
  local p = io.popen("(" .. command .. "\n); printf '" .. MARK:gsub("\n", "\\n") .. "%d' \"$?\"", "r")
  if not p then return nil, auth_error("cannot run key_command `" .. command .. "`") end
  local text = p:read("*a") or ""
  p:close()
  local at = text:find(MARK, 1, true)
  local status = at and tonumber(text:sub(at + #MARK))
  if status ~= 0 then
    return nil, auth_error(string.format("key_command `%s` failed (exit status %s)", command, tostring(status)))
  end
  return check(text:sub(1, at - 1):match("^([^\n]*)") or "", "key_command `" .. command .. "`")
end

--- keys.load(source) -> key | nil, err (kind "auth")
function keys.load(source)
  if source.kind == "env" then
    local v = os.getenv(source.name)
    if v == nil or v == "" then return nil, auth_error("environment variable " .. source.name .. " is not set") end
    return check(v, "environment variable " .. source.name)
  elseif source.kind == "file" then
    return from_file(source.path)
  elseif source.kind == "command" then
    return from_command(source.command)
  end
  return check(source.value, keys.describe(source))
end

return keys
