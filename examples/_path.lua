-- Lets the examples run from a checkout: puts this checkout's lua/ and
-- build/5.4/ in front of the module paths. Each example starts with
--   pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")
-- (this file, found next to the example); once the SDK is installed with
-- luarocks the line finds nothing, does nothing, and `require "flexiroam"`
-- finds the installed SDK.
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local root = here .. ".."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/5.4/?.so;" .. package.cpath
