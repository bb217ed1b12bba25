--- Misuse raises at the caller's line (flexiroam.misuse): raised_at calls
-- fn(...) from a known line of this file and answers the error and the
-- position it must start with. The call sits inside a closure, not
-- pcall(fn, ...): a C function's error names the Lua line that called it,
-- and pcall has none. This file is not the SDK's, so misuse must name it.
--   local blame = require "spec.support.blame"
--   local err, where = blame.raised_at(fn, ...)
--   assert.equals(where, err:sub(1, #where))
--   local err = blame.assert_caller(flexiroam.new, { cache = 5 })   -- the same, asserted
local unpack = table.unpack or unpack -- luacheck: ignore 113 (5.1)

local HERE = debug.getinfo(1, "S").short_src

local blame = {}

--- -> the error as a string (nil when fn did not raise), "<this file>:<line>: "
function blame.raised_at(fn, ...)
  local n, args = select("#", ...), { ... }
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() fn(unpack(args, 1, n)) end) -- not a tail call: this line stays on the stack
  return (not ok) and tostring(err) or nil, HERE .. ":" .. line .. ": "
end

--- Asserts that fn(...) raises naming exactly the line it was called from
-- (the first frame outside the SDK, never one inside it). -> the error's text
function blame.assert_caller(fn, ...)
  local assert = require "luassert"
  local err, where = blame.raised_at(fn, ...)
  assert.is_not_nil(err, "expected a raise")
  assert.equals(where, err:sub(1, #where), "blamed the wrong place: " .. err)
  return err
end

return blame
