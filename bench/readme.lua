--- Regenerates the README's benchmark tables from what `make bench` just
-- printed, so no figure in them is ever typed by hand:
--   lua5.4 bench/readme.lua README.md build/bench
-- Between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` the README gets
-- every markdown table of build/bench/NAME.out (a bench's output, saved by
-- `make bench`), in order, blank lines between them. A marker whose output
-- is missing is left as it is and named on stderr; nothing else changes.
local readme_path, dir = arg[1], arg[2]
if not readme_path or not dir then
  io.stderr:write("usage: lua bench/readme.lua README.md build/bench\n")
  os.exit(2)
end

local files = require("tools.files")
local slurp = files.slurp

-- The markdown tables of a bench's output: runs of lines starting with "|".
local function tables_of(text)
  local blocks, current = {}, nil
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    if line:sub(1, 1) == "|" then
      current = current or {}
      current[#current + 1] = line
    elseif current then
      blocks[#blocks + 1] = table.concat(current, "\n")
      current = nil
    end
  end
  if current then blocks[#blocks + 1] = table.concat(current, "\n") end
  return blocks
end

local readme = assert(slurp(readme_path), "cannot read " .. readme_path)
local replaced, missing = 0, {}
local BLOCK = "(<!%-%- bench:([%w_%-]+) %-%->\n)(.-)(<!%-%- /bench:%2 %-%->)"
local out = readme:gsub(BLOCK, function(open, name, old, close)
  local text = slurp(dir .. "/" .. name .. ".out")
  local blocks = text and tables_of(text)
  if not blocks or #blocks == 0 then
    missing[#missing + 1] = name
    return open .. old .. close
  end
  replaced = replaced + 1
  return open .. table.concat(blocks, "\n\n") .. "\n" .. close
end)

if #missing > 0 then
  io.stderr:write("bench/readme.lua: no tables for " .. table.concat(missing, ", ") .. " in " .. dir .. "\n")
end
if out ~= readme then files.write(readme_path, out) end
print(("bench/readme.lua: %d table block(s) of %s regenerated from %s"):format(replaced, readme_path, dir))
