--- The Lua packages outside the SDK that a part of it needs, and one error
-- that names the package to install when one is missing, instead of
-- require's traceback through every path it searched.
--   local socket = require("flexiroam.dependencies").require("socket", "the sandbox")
-- The rockspec declares each package's rock (spec/rockspec_spec.lua checks
-- that every module the shipped code requires is listed here or is the
-- host's own).
local dependencies = {}

--- Per Lua module: the package's name, its rock and its Debian package.
dependencies.PACKAGES = {
  socket = { name = "LuaSocket", rock = "luasocket", debian = "lua-socket" },
  argparse = { name = "argparse", rock = "argparse", debian = "lua-argparse" },
}

local PREFIX = "missing package: "

--- dependencies.require(module, needed_by) -> the module. A module that is
-- not installed raises one line (no traceback level): which package
-- provides it, who needs it, and how to install it.
function dependencies.require(module, needed_by)
  local ok, loaded = pcall(require, module)
  if ok then return loaded end
  local package = dependencies.PACKAGES[module]
  if not package or not tostring(loaded):find("module '" .. module .. "' not found", 1, true) then
    error(loaded, 0) -- found but broken, or unknown here: require's own message
  end
  error(string.format("%s%s (Lua module %q), which %s needs: install it with `apt-get install %s` (Debian) " ..
    "or `luarocks install %s`", PREFIX, package.name, module, needed_by, package.debian, package.rock), 0)
end

--- Whether an error is dependencies.require's: a script prints it as it is.
function dependencies.is_missing(err)
  return type(err) == "string" and err:sub(1, #PREFIX) == PREFIX
end

return dependencies
