--- flexiroam config show|profiles|path|init: where the command line gets
-- its base URL and key. `show` resolves them as a command would, and
-- prints the key only as a fingerprint (12 hex digits of a hash), never
-- the key.
local config = require("flexiroam.cli.config")
local connect = require("flexiroam.cli.connect")
local keys = require("flexiroam.cli.keys")
local paths = require("flexiroam.cli.paths")
local sandbox_state = require("flexiroam.cli.sandbox_state")

local function cols(names)
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = { name = name, get = function(r) return r[name] end } end
  return out
end

local SHOW = cols { "config_file", "profile", "profile_from", "base_url", "base_url_from", "key_source", "key",
  "allow_insecure_http", "timeout", "retries" }

local function show(ctx)
  local s = ctx:settings()
  local record = {
    config_file = s.config_path, profile = s.profile or "(none)", profile_from = s.profile_from,
    base_url = s.base_url or "https://solutions-api.flexiroam.com", base_url_from = s.base_url_from,
    key_source = s.key_source and keys.describe(s.key_source) or ("none: " .. s.no_key_source),
    allow_insecure_http = s.allow_insecure_http, timeout = s.timeout, retries = s.retries,
  }
  local ok, key = pcall(connect.key, ctx)
  if ok then
    record.key = "set, fingerprint " .. connect.fingerprint(key)
  else
    record.key = "unusable: " .. tostring(type(key) == "table" and key.message or key)
  end
  ctx:item(record, { cols = SHOW })
  if not ok then error(key, 0) end
end

local PROFILES = cols { "profile", "default", "base_url", "key_source" }

local function profiles(ctx)
  local parsed, path = config.load()
  if not parsed then error(path, 0) end
  local w = ctx:list { cols = PROFILES }
  local seen = {}
  for _, name in ipairs(parsed.order) do
    local p = parsed.profiles[name]
    seen[name] = true
    local source = p.key_file and { kind = "file", path = paths.expand(p.key_file, paths.dirname(path)) }
      or p.key_command and { kind = "command", command = p.key_command }
      or p.key_env and { kind = "env", name = p.key_env } or nil
    w:add { profile = name, default = parsed.default == name and "yes" or "", base_url = p.base_url or "(default)",
      key_source = source and keys.describe(source) or "none" }
  end
  if not seen.sandbox then
    local s = sandbox_state.running()
    w:add { profile = "sandbox", default = parsed.default == "sandbox" and "yes" or "",
      base_url = s and s.url or "(not running: flexiroam sandbox start)", key_source = "the sandbox's own key" }
  end
  w:finish()
end

local TEMPLATE = [[
# flexiroam command line: profiles (see `flexiroam help config`).
# A profile is a base URL and ONE key source, used together. The key is
# never written here and never given on the command line.

# default = prod

# [prod]
# base_url = https://solutions-api.flexiroam.com
# key_command = "pass show flexiroam"      # its first line of output is the key

# [staging]
# base_url = https://staging.example
# key_file = ~/.config/flexiroam/staging.key   # the key alone; chmod 600 (else refused)

# [ci]
# key_env = FLEXIROAM_CI_KEY                    # an environment variable
]]

local function init(ctx)
  local path = paths.config_file()
  local f = io.open(path, "rb")
  if f then
    f:close()
    error({ kind = "usage", message = path .. " exists already; edit it" }, 0)
  end
  if not paths.make_dir(paths.dirname(path)) then
    error({ kind = "config", message = "cannot create " .. paths.dirname(path) }, 0)
  end
  local out, err = io.open(path, "wb")
  if not out then error({ kind = "config", message = "cannot write " .. tostring(err) }, 0) end
  out:write(TEMPLATE)
  out:close()
  ctx.say("wrote " .. path)
  ctx.write(path .. "\n")
end

return {
  name = "config",
  summary = "profiles and keys: show what is used, list profiles, the file's path, a template",
  description = "The config file is $FLEXIROAM_CONFIG, else ${XDG_CONFIG_HOME:-~/.config}/flexiroam/config: " ..
    "`default = NAME` and [NAME] sections, each a profile with base_url and ONE of key_file (a file holding " ..
    "the key alone, mode 0600 and yours, else refused), key_command (a shell command printing the key on its " ..
    "first line: `pass show flexiroam`) or key_env (an environment variable); allow_insecure_http, timeout " ..
    "(seconds) and retries are optional.\n\nThe profile used: --profile, else $FLEXIROAM_PROFILE, else " ..
    "`default`. A profile's key goes only to its own base URL: with a profile, $FLEXIROAM_API_KEY and " ..
    "$FLEXIROAM_BASE_URL are not read. Without any profile they are all there is. The profile `sandbox` is " ..
    "built in: the sandbox `flexiroam sandbox start` runs, with its own key.\n\nThe key is never taken on the " ..
    "command line (it would land in the shell's history and in `ps`), never printed, and never in --debug " ..
    "output; `config show` shows a fingerprint of it.",
  default = "show",
  commands = {
    { name = "show", summary = "the profile, base URL and key source a command would use (key: a fingerprint)",
      run = show },
    { name = "profiles", summary = "the profiles of the config file (and the built-in sandbox)", run = profiles },
    { name = "path", summary = "the config file's path",
      run = function(ctx) ctx.write(paths.config_file() .. "\n") end },
    { name = "init", summary = "write a commented template config file (never over an existing one)", run = init },
  },
}
