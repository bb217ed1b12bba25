--- The config file and its profiles. A profile is a base URL and the one
-- place its key comes from, used together: a key is never sent to another
-- profile's URL.
--
--   # ~/.config/flexiroam/config
--   default = prod                 # the profile used when none is named
--
--   [prod]
--   base_url = https://solutions-api.flexiroam.com
--   key_command = "pass show flexiroam"    # its first line of output
--
--   [staging]
--   base_url = https://staging.example
--   key_file = ~/.config/flexiroam/staging.key   # mode 0600, else refused
--
--   [ci]
--   key_env = FLEXIROAM_CI_KEY             # an environment variable
--
-- The profile used: --profile, else $FLEXIROAM_PROFILE, else `default`.
-- Without any, the environment alone: $FLEXIROAM_API_KEY and
-- $FLEXIROAM_BASE_URL. "sandbox" is built in: the sandbox `flexiroam
-- sandbox start` left running, with its own key (a [sandbox] section
-- replaces it).
local paths = require("flexiroam.cli.paths")
local sandbox_state = require("flexiroam.cli.sandbox_state")

local config = {}

-- The settings a profile takes, and what each holds.
config.PROFILE_KEYS = {
  base_url = "the API's address (https://...; http:// only to this machine unless allow_insecure_http)",
  key_file = "a file holding the key alone, mode 0600 and yours (else refused)",
  key_command = "a shell command printing the key on its first line (pass, a vault client, ...)",
  key_env = "the environment variable holding the key",
  allow_insecure_http = "true to allow http:// to another machine (the key would travel in clear)",
  timeout = "seconds a request may take (default 60)",
  retries = "retries of a failed request (default: the SDK's, 2)",
}
local TOP_KEYS = { default = true }
-- The API's address when a profile names none (the SDK's default).
config.DEFAULT_BASE_URL = "https://solutions-api.flexiroam.com"
local KEY_SOURCES = { "key_file", "key_command", "key_env" }

local function config_error(message)
  return { kind = "config", message = message }
end

local function nearest(word, set)
  for candidate in pairs(set) do
    if candidate:sub(1, 3) == word:sub(1, 3) then return candidate end
  end
  return nil
end

local function unquote(value, path, n)
  if value:sub(1, 1) ~= '"' then return value end
  if #value < 2 or value:sub(-1) ~= '"' then
    return nil, config_error(string.format("%s:%d: a quoted value is not closed", path, n))
  end
  return (value:sub(2, -2):gsub('\\(["\\])', "%1"))
end

--- config.parse(text, path) -> {default =, profiles = {name -> settings},
-- order = {names}} | nil, err (kind "config", naming the line).
function config.parse(text, path)
  local parsed = { profiles = {}, order = {} }
  local section
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:find("^[#;]") then
      local name = line:match("^%[%s*([^%]]-)%s*%]$")
      if name then
        name = name:gsub("^profile%s+", "")
        if not name:find("^[%w_%-%.]+$") then
          return nil, config_error(string.format("%s:%d: a profile name is letters, digits, _ - or . (got %q)",
            path, n, name))
        end
        if parsed.profiles[name] then
          return nil, config_error(string.format("%s:%d: profile [%s] appears twice", path, n, name))
        end
        section = { line = n }
        parsed.profiles[name] = section
        parsed.order[#parsed.order + 1] = name
      else
        local key, value = line:match("^([%w_]+)%s*=%s*(.-)$")
        if not key then
          return nil, config_error(string.format("%s:%d: expected `name = value` or `[profile]`", path, n))
        end
        value = value:gsub("%s+#.*$", "")
        local v, err = unquote(value, path, n)
        if not v then return nil, err end
        local allowed = section and config.PROFILE_KEYS or TOP_KEYS
        if not allowed[key] then
          local near = nearest(key, allowed)
          return nil, config_error(string.format("%s:%d: unknown setting '%s'%s%s", path, n, key,
            section and "" or " outside a [profile]", near and (" (did you mean '" .. near .. "'?)") or ""))
        end
        if section then section[key] = v else parsed[key] = v end
      end
    end
  end
  for name, profile in pairs(parsed.profiles) do
    local sources = {}
    for _, k in ipairs(KEY_SOURCES) do
      if profile[k] then sources[#sources + 1] = k end
    end
    if #sources > 1 then
      return nil, config_error(string.format("%s:%d: profile [%s] names two key sources (%s): keep one", path,
        profile.line, name, table.concat(sources, " and ")))
    end
  end
  return parsed
end

--- config.load() -> parsed (empty when there is no file), path | nil, err
function config.load()
  local path = paths.config_file()
  local f, why = io.open(path, "rb")
  if not f then
    if why and why:find("No such file") then return { profiles = {}, order = {} }, path end
    return nil, config_error("cannot read the config file " .. tostring(why))
  end
  local text = f:read("*a") or ""
  f:close()
  local parsed, err = config.parse(text, path)
  if not parsed then return nil, err end
  return parsed, path
end

-- The key source of a profile: {kind = "file"|"command"|"env"|"literal", ...}.
local function key_source(profile, dir)
  if profile.key_file then return { kind = "file", path = paths.expand(profile.key_file, dir) } end
  if profile.key_command then return { kind = "command", command = profile.key_command } end
  if profile.key_env then return { kind = "env", name = profile.key_env } end
  return nil
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

local function boolean(value, what)
  if value == nil then return nil end
  if value == "true" or value == "yes" then return true end
  if value == "false" or value == "no" then return false end
  return nil, config_error(what .. " must be true or false (got " .. tostring(value) .. ")")
end

local function number(value, what)
  if value == nil then return nil end
  local n = tonumber(value)
  if not n or n <= 0 then return nil, config_error(what .. " must be a positive number (got " .. value .. ")") end
  return n
end

--- config.resolve(flags) -> settings | nil, err: what this run uses.
-- flags: profile, base_url (from the command line). settings: profile
-- (name or nil), profile_from (why that one), base_url, base_url_from,
-- key_source ({kind =, ...} or nil), allow_insecure_http, timeout, retries,
-- config_path.
function config.resolve(flags)
  local parsed, path = config.load()
  if not parsed then return nil, path end
  local s = { config_path = path }
  local name, from = flags.profile, "--profile"
  if not name then name, from = env("FLEXIROAM_PROFILE"), "FLEXIROAM_PROFILE" end
  if not name then name, from = parsed.default, "default in " .. path end
  if name then
    local profile = parsed.profiles[name]
    if not profile and name == "sandbox" then
      local state, err = sandbox_state.running()
      if not state then return nil, err end
      profile = { base_url = state.url, builtin = true }
      s.key_source = { kind = "literal", value = state.key, label = "the sandbox's own key" }
    end
    if not profile then
      local names = table.concat(parsed.order, ", ")
      return nil, config_error(string.format("no profile '%s' (from %s) in %s%s", name, from, path,
        names ~= "" and (": it has " .. names) or ": the file has no profiles (see flexiroam help config)"))
    end
    s.profile, s.profile_from = name, from
    s.key_source = s.key_source or key_source(profile, paths.dirname(path))
    s.base_url, s.base_url_from = profile.base_url, profile.builtin and "the running sandbox" or ("profile " .. name)
    local err
    s.allow_insecure_http, err = boolean(profile.allow_insecure_http, "allow_insecure_http of profile " .. name)
    if err then return nil, err end
    s.timeout, err = number(profile.timeout, "timeout of profile " .. name)
    if err then return nil, err end
    s.retries, err = number(profile.retries, "retries of profile " .. name)
    if err then return nil, err end
    if not s.key_source then s.no_key_source = "profile " .. name .. " names no key_file, key_command or key_env" end
  else
    s.key_source = env("FLEXIROAM_API_KEY") and { kind = "env", name = "FLEXIROAM_API_KEY" } or nil
    if not s.key_source then
      s.no_key_source = "no profile is selected and FLEXIROAM_API_KEY is not set"
    end
    s.base_url = env("FLEXIROAM_BASE_URL")
    s.base_url_from = s.base_url and "FLEXIROAM_BASE_URL" or nil
  end
  if flags.base_url then
    -- A profile's key goes to that profile's URL only: --base-url elsewhere
    -- would send it to whatever listens there.
    if s.profile and flags.base_url ~= (s.base_url or config.DEFAULT_BASE_URL) then
      return nil, config_error(string.format("--base-url %s is not the URL of profile %s (from %s), and its key " ..
        "is sent only there; nothing was sent. Set base_url in the profile, or use FLEXIROAM_API_KEY with no " ..
        "profile selected", flags.base_url, s.profile, s.profile_from))
    end
    s.base_url, s.base_url_from = flags.base_url, "--base-url"
  end
  if not s.base_url then s.base_url_from = "the default" end
  return s
end

return config
