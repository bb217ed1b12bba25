--- Where the command line keeps its files, by the XDG base directories:
--   config  $FLEXIROAM_CONFIG, else ${XDG_CONFIG_HOME:-~/.config}/flexiroam/config
--   state   ${XDG_STATE_HOME:-~/.local/state}/flexiroam/ (the sandbox it started)
local paths = {}

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

function paths.home()
  return env("HOME") or "/"
end

--- A path from a config file: "~/x" is under $HOME; a relative one is
-- relative to the directory of the file that names it.
function paths.expand(path, relative_to)
  if path == "~" then return paths.home() end
  if path:sub(1, 2) == "~/" then return paths.home() .. path:sub(2) end
  if path:sub(1, 1) ~= "/" and relative_to then return relative_to .. "/" .. path end
  return path
end

function paths.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

function paths.config_file()
  local explicit = env("FLEXIROAM_CONFIG")
  if explicit then return explicit end
  local base = env("XDG_CONFIG_HOME") or (paths.home() .. "/.config")
  return base .. "/flexiroam/config"
end

function paths.state_dir()
  local base = env("XDG_STATE_HOME") or (paths.home() .. "/.local/state")
  return base .. "/flexiroam"
end

--- A word for sh: single-quoted, any single quote in it escaped.
function paths.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- mkdir -p, private to this user (the state may name a key's location).
function paths.make_dir(dir)
  local ok = os.execute("mkdir -p -m 700 " .. paths.quote(dir) .. " 2>/dev/null")
  return ok == true or ok == 0
end

return paths
