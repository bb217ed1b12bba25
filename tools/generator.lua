--- What the generators made from the operations table (tools/types.lua,
-- tools/ldoc_operations.lua) read, and how they write, in one place so they
-- cannot drift apart: the operations table, what the docs say of each
-- operation (tools/operation_docs.lua) and of flexiroam.new's options
-- (tools/option_docs.lua); the operations in one order; the output, lines
-- written whole at the end. Run from the repository root:
--   local gen = require("tools.generator")
-- Loading it puts tools/ and lua/ first on package.path: the generators
-- describe the checkout's library, never an installed rock's.
package.path = "./tools/?.lua;./lua/?.lua;./lua/?/init.lua;" .. package.path

local files = require("files")
local docs = require("operation_docs")
local operations = require("flexiroam.operations")

local gen = {
  docs = docs,
  option_docs = require("option_docs"),
  operations = operations,
}

--- for name, op in gen.each_operation(): every operation, sorted by name.
function gen.each_operation()
  local names, i = docs.names(operations), 0
  return function()
    i = i + 1
    local name = names[i]
    if name then return name, operations[name] end
  end
end

--- gen.output(header) -> add, write: an output starting with the lines of
-- `header`; add(line) appends one; write(path) writes them all, joined by
-- newlines, and says so on stdout.
function gen.output(header)
  local lines = {}
  for i, line in ipairs(header) do lines[i] = line end
  local function add(line) lines[#lines + 1] = line end
  local function write(path)
    files.write(path, table.concat(lines, "\n"))
    print("wrote " .. path)
  end
  return add, write
end

return gen
