-- The reference manual (make docs-reference: LDoc over config.ld's files)
-- covers the public API, and a public function without its doc comment
-- fails here. The public API is:
--   * every function field of the modules in config.ld's file list
--     (flexiroam, flexiroam.json, flexiroam.errors, flexiroam.models,
--     flexiroam.esim, flexiroam.jobs, flexiroam.store and its two stores,
--     the curl and ngx transports, the sandbox's transport and handler);
--   * every method of the client (flexiroam.client), the operation methods
--     included (their doc comments are generated from the operations table
--     by tools/ldoc_operations.lua), and of each model class.
-- Metamethods (__tostring, __close, ...) are left to the prose.
-- A function that is a field for the SDK's own use is documented too, but
-- marked @local: hidden from the manual. A public one has a summary, a
-- description of every parameter and at least one @return (close, which
-- answers nothing, excepted).
local describe_with = require("spec.support.describe_with")(describe, it, pending)

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  return out
end

local has_ldoc = run("command -v ldoc") ~= ""
local NO_RETURN = { ["Client:close"] = true }

-- The module names LDoc knows each public module by, and how to reach
-- its table at run time.
local MODULES = {
  "flexiroam", "flexiroam.json", "flexiroam.errors", "flexiroam.models", "flexiroam.esim", "flexiroam.jobs",
  "flexiroam.store", "flexiroam.store.ngx_shared", "flexiroam.store.redis", "flexiroam.transport.curl",
  "flexiroam.transport.ngx", "flexiroam.sandbox.transport", "flexiroam.sandbox.handler",
}
local MODEL_CLASSES = { "SIM", "Plan", "Order", "Usage", "Subscription", "Activation" }

local function sorted_functions(t)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and k:sub(1, 2) ~= "__" then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

-- Every public function: { module =, names = {accepted LDoc item names}, label = }.
local function public_functions()
  local out = {}
  local function add(module, label, names) out[#out + 1] = { module = module, label = label, names = names } end
  for _, module in ipairs(MODULES) do
    -- The sandbox is a Lua 5.4 program: under LuaJIT its modules do not load.
    local loads = _VERSION == "Lua 5.4" or not module:match("^flexiroam%.sandbox%.")
    for _, k in ipairs(loads and sorted_functions(require(module)) or {}) do
      add(module, module .. "." .. k, { k, module .. "." .. k, (module:match("[^.]+$")) .. "." .. k })
    end
  end
  for _, k in ipairs(sorted_functions(require("flexiroam.client"))) do
    add("flexiroam.client", "Client:" .. k, { "Client:" .. k, "Client." .. k })
  end
  local models = require("flexiroam.models")
  for _, class in ipairs(MODEL_CLASSES) do
    for _, k in ipairs(sorted_functions(models[class])) do
      add("flexiroam.models", class .. ":" .. k, { class .. ":" .. k, "Model:" .. k })
    end
  end
  return out
end

-- tools/option_docs.lua (the manual's and the editor's list of flexiroam.new's
-- options) against the set flexiroam.new checks options against.
describe("the documented options of flexiroam.new", function()
  local function accepted()
    local new = require("flexiroam.client").new
    for i = 1, math.huge do
      local name, value = debug.getupvalue(new, i)
      if name == nil then break end
      if name == "NEW_OPTIONS" then return value end
    end
    error("flexiroam.client.new no longer holds NEW_OPTIONS")
  end

  it("are exactly the options it accepts", function()
    local documented = {}
    for _, option in ipairs(dofile("tools/option_docs.lua")) do documented[option[1]] = true end
    for name in pairs(accepted()) do
      assert.is_true(documented[name], "flexiroam.new accepts '" .. name .. "': document it in tools/option_docs.lua")
    end
    for name in pairs(documented) do
      assert.is_true(accepted()[name], "tools/option_docs.lua documents '" .. name .. "', which flexiroam.new refuses")
    end
  end)
end)

describe_with(not has_ldoc and "ldoc is not installed (make docs-reference installs lua-ldoc)",
  "reference manual", function()
  local items, warnings = {}, {}

  setup(function()
    assert(run("lua5.4 tools/ldoc_operations.lua"):find("wrote"), "tools/ldoc_operations.lua failed")
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
  end)

  it("is made without a warning from LDoc", function()
    assert.same({}, warnings)
  end)

  it("has a doc comment for every public function", function()
    local checked = 0
    for _, f in ipairs(public_functions()) do
      local item
      for _, name in ipairs(f.names) do item = item or items[f.module .. "\0" .. name] end
      assert.is_table(item, f.label .. " has no doc comment (a public one, or @local for the SDK's own use)")
      assert.truthy(item.summary:find("%S"), f.label .. "'s doc comment has no summary")
      if item.kind ~= "lfunction" then
        assert.equals("", item.undocumented, f.label .. " does not describe its parameter(s) " .. item.undocumented)
        assert.is_true(item.returns > 0 or NO_RETURN[f.label] == true, f.label .. " does not say what it returns")
      end
      checked = checked + 1
    end
    assert.is_true(checked > 100, "only " .. checked .. " functions found: is the walk blind?")
  end)

  it("documents every operation method with its parameters", function()
    for name in pairs(require("flexiroam.operations")) do
      local item = items["flexiroam.client\0Client:" .. name]
      assert.is_table(item, "Client:" .. name)
      assert.equals("function", item.kind)
      assert.equals(3, item.returns) -- the answer; nil and the error
    end
  end)
end)
