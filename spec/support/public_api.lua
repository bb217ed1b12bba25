-- The public API, as the reference manual (spec/docs_spec.lua) and the
-- editor types (spec/types_spec.lua) hold it to account:
--   * every function field of the modules in config.ld's file list;
--   * every method of the client (the operation methods included) and of
--     each model class.
-- Metamethods (__tostring, __close, ...) are left to the prose. A function
-- that is a field for the SDK's own use is marked @local in its doc comment
-- (LDoc hides it; ldoc_items says so).
local M = {}

M.MODULES = {
  "flexiroam", "flexiroam.json", "flexiroam.errors", "flexiroam.models", "flexiroam.esim", "flexiroam.qr",
  "flexiroam.install", "flexiroam.jobs", "flexiroam.store", "flexiroam.store.ngx_shared", "flexiroam.store.redis",
  "flexiroam.transport.curl", "flexiroam.transport.ngx", "flexiroam.sandbox.transport", "flexiroam.sandbox.handler",
}
M.MODEL_CLASSES = { "SIM", "Plan", "Order", "Usage", "Subscription", "Activation" }

--- A shell command's output, stderr included; run without LD_PRELOAD (make
-- asan's sanitizer runtimes are for the busted process only).
local function run(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c '" .. cmd:gsub("'", "'\\''") .. "' 2>&1"))
  local out = p:read("*a")
  p:close()
  return out
end
M.run = run

local function sorted_functions(t)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and k:sub(1, 2) ~= "__" then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

--- Every public function: {module =, key =, class = (a class's name, or
-- nil for a module field), label =, names = {LDoc item names it may have}}.
function M.functions()
  local out = {}
  for _, module in ipairs(M.MODULES) do
    -- The sandbox is a Lua 5.4 program: under LuaJIT its modules do not load.
    local loads = _VERSION == "Lua 5.4" or not module:match("^flexiroam%.sandbox%.")
    for _, k in ipairs(loads and sorted_functions(require(module)) or {}) do
      out[#out + 1] = { module = module, key = k, label = module .. "." .. k,
        names = { k, module .. "." .. k, (module:match("[^.]+$")) .. "." .. k } }
    end
  end
  for _, k in ipairs(sorted_functions(require("flexiroam.client"))) do
    out[#out + 1] = { module = "flexiroam.client", key = k, class = "Client", label = "Client:" .. k,
      names = { "Client:" .. k, "Client." .. k } }
  end
  local models = require("flexiroam.models")
  for _, class in ipairs(M.MODEL_CLASSES) do
    for _, k in ipairs(sorted_functions(models[class])) do
      out[#out + 1] = { module = "flexiroam.models", key = k, class = class, label = class .. ":" .. k,
        names = { class .. ":" .. k, "Model:" .. k } }
    end
  end
  return out
end

--- Whether ldoc is installed.
function M.has_ldoc()
  return run("command -v ldoc") ~= ""
end

--- LDoc's items of config.ld's files, locals included (tools/ldoc_dump.lua):
-- items["module\0name"] = {kind =, summary =, undocumented =, returns =},
-- and the lines LDoc printed that are not items (its warnings).
function M.ldoc_items()
  assert(run("lua5.4 tools/ldoc_operations.lua"):find("wrote"), "tools/ldoc_operations.lua failed")
  local items, warnings = {}, {}
  for line in run("ldoc -a --filter tools.ldoc_dump.items ."):gmatch("[^\n]+") do
    local module, name, kind, summary, undocumented, returns =
      line:match("^item\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(%d+)$")
    if module then
      items[module .. "\0" .. name] = { kind = kind, summary = summary, undocumented = undocumented,
        returns = tonumber(returns) }
    elseif not line:match("^found master module") then
      warnings[#warnings + 1] = line
    end
  end
  return items, warnings
end

--- The LDoc item of a public function from M.functions, or nil.
function M.item(items, f)
  for _, name in ipairs(f.names) do
    if items[f.module .. "\0" .. name] then return items[f.module .. "\0" .. name] end
  end
  return nil
end

return M
