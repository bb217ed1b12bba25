--- An LDoc filter (ldoc -a --filter tools.ldoc_dump.items .): one line per
-- documented item, for spec/docs_spec.lua to hold against the modules'
-- real functions:
--   item <TAB> module <TAB> name <TAB> type <TAB> summary <TAB> undocumented params <TAB> returns
-- type is LDoc's (function, lfunction for @local, table, field, ...);
-- undocumented params is a comma-separated list of formal arguments
-- without a description; returns is how many @return lines it has.
local M = {}

local function clean(s)
  return (tostring(s or ""):gsub("[\t\n]", " "))
end

function M.items(modules)
  for _, mod in ipairs(modules) do
    for _, item in ipairs(mod.items) do
      local missing = {}
      local map = item.params and item.params.map or {}
      for _, name in ipairs(item.params or {}) do
        if name ~= "self" and name ~= "..." and not (map[name] or ""):find("%S") then missing[#missing + 1] = name end
      end
      print(table.concat({ "item", mod.name, item.name, item.type, clean(item.summary), table.concat(missing, ","),
        tostring(item.ret and #item.ret or 0) }, "\t"))
    end
  end
end

return M
