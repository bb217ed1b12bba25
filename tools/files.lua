--- Whole-file reads and writes for the tools and the benchmarks (bench/*.lua
-- load it as tools.files); the library and the specs keep their own.
local files = {}

--- files.slurp(path) -> the file's bytes, or nil when it cannot be read.
function files.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- files.write(path, text): the whole file, replaced; raises on failure.
function files.write(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

return files
