--- Misuse raises at the caller's line (flexiroam.misuse):
--   local blame = require "spec.support.blame"
--   local err = blame.assert_caller(flexiroam.new, { cache = 5 })
-- calls fn(...) from a line of this file and asserts that the error names
-- exactly that line: the first frame outside the SDK, never one inside it.
-- -> the error's text
local assert = require "luassert"

local M = {}

local THIS_FILE = debug.getinfo(1, "S").short_src
local unpack = table.unpack or unpack -- luacheck: ignore 113 (5.1)

function M.assert_caller(fn, ...)
  local n, args = select("#", ...), { ... }
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() fn(unpack(args, 1, n)) end) -- not a tail call: this line stays on the stack
  assert.is_false(ok, "expected a raise")
  err = tostring(err)
  local where = THIS_FILE .. ":" .. line .. ": "
  assert.equals(where, err:sub(1, #where), "blamed the wrong place: " .. err)
  return err
end

return M
