--- The SDK's version, read from the one place it is written (src/version.h),
-- for the release tools: project_version.read([root]) -> "0.2.0".
local files = require("files")

local M = {}

function M.read(root)
  local path = (root or ".") .. "/src/version.h"
  local text = assert(files.slurp(path), "cannot read " .. path)
  local version = text:match('#define FX_VERSION "([^"]+)"')
  if not version or not version:match("^%d+%.%d+%.%d+$") then
    error(path .. ": FX_VERSION must be MAJOR.MINOR.PATCH (semantic versioning), got " .. tostring(version), 0)
  end
  return version
end

return M
