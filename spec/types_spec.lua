-- The editor types (library/, LuaLS annotations). lua-language-server is not
-- packaged for Debian, so nothing here runs it; instead: the generated file is
-- what `make types` makes now, both files load as Lua, every operation has
-- its exact parameter class and its method, every flexiroam.* type they
-- name is declared, and every public function reachable from
-- require "flexiroam" (spec/support/public_api.lua; the module fields
-- LDoc marks @local excepted) is declared.
local public_api = require("spec.support.public_api")
local processes = require("spec.support.test_processes")

local HAND, GENERATED = "library/flexiroam.lua", "library/generated.lua"

-- The variable each module's table has in library/flexiroam.lua.
local TYPED_MODULES = {
  flexiroam = "flexiroam", ["flexiroam.json"] = "json", ["flexiroam.errors"] = "errors",
  ["flexiroam.models"] = "models", ["flexiroam.esim"] = "esim", ["flexiroam.jobs"] = "jobs",
  ["flexiroam.store"] = "store",
}

local function escape(s) return (s:gsub("%p", "%%%0")) end

describe("editor types", function()
  local hand, generated = processes.slurp(HAND), processes.slurp(GENERATED)
  local all = hand .. "\n" .. generated

  it("are the current generation (make types)", function()
    local out = os.tmpname()
    local log = public_api.run("lua5.4 tools/types.lua " .. out)
    local fresh = processes.slurp(out)
    os.remove(out)
    assert.truthy(fresh ~= "", log)
    assert.is_true(fresh == generated, GENERATED .. " is stale: run `make types` and commit it")
  end)

  it("load as Lua", function()
    assert(loadfile(HAND))
    assert(loadfile(GENERATED))
  end)

  it("give every operation an exact parameter class and a method", function()
    for name, op in pairs(require("flexiroam.operations")) do
      local class = "flexiroam.params." .. name
      local body = generated:match("\n%-%-%-@class %(exact%) " .. escape(class) .. "\n(.-)\n\n")
      assert.is_string(body, "no exact class " .. class)
      local required = {}
      for _, p in ipairs(op.required) do required[p] = true end
      local fields = 0
      for _, p in ipairs(op.params) do
        assert.matches("%-%-%-@field " .. escape(p) .. (required[p] and " " or "%? "), body, nil, false,
          class .. " lacks field " .. p)
        fields = fields + 1
      end
      local _, count = body:gsub("%-%-%-@field ", "")
      assert.equals(fields, count, class .. " has fields the operation does not take")
      assert.matches("\n%-%-%-@param params " .. escape(class) .. "\n", generated)
      assert.matches("\nfunction Client:" .. escape(name) .. "%(params, opts%) end\n", generated)
    end
  end)

  it("name only flexiroam types they declare", function()
    local declared = {}
    for name in all:gmatch("%-%-%-@class [%(%)%a ]-(flexiroam[%w_.]*)") do declared[name] = true end
    for name in all:gmatch("%-%-%-@alias (flexiroam[%w_.]*)") do declared[name] = true end
    local used = 0
    for line in all:gmatch("%-%-%-@[^\n]+") do
      if not line:match("^%-%-%-@class") and not line:match("^%-%-%-@alias") then
        for name in line:gmatch("flexiroam%.[%a_][%w_.]*[%w_]") do
          -- prose after the type may name a module (flexiroam.store): only types count
          if name:match("^flexiroam%.[A-Z]") or name:match("^flexiroam%.params%.") or name:match("lib$") then
            assert.is_true(declared[name], line .. ": " .. name .. " is not declared")
            used = used + 1
          end
        end
      end
    end
    assert.is_true(used > 50, "only " .. used .. " type names found: is the scan blind?")
  end)

  it("declare every public function of the client, the models and require 'flexiroam'", function()
    -- Which module fields are the SDK's own (@local) LDoc says; without it,
    -- only the client's and the models' methods are checked.
    local items = public_api.has_ldoc() and public_api.ldoc_items() or nil
    local checked = 0
    for _, f in ipairs(public_api.functions()) do
      local pattern
      if f.class == "Client" then
        pattern = "\nfunction Client[:.]" .. escape(f.key) .. "%("
      elseif f.class then
        pattern = "\nfunction " .. f.class .. ":" .. escape(f.key) .. "%("
        if not all:find(pattern) then pattern = "\nfunction Model:" .. escape(f.key) .. "%(" end
      elseif items and TYPED_MODULES[f.module] then
        local item = public_api.item(items, f)
        if not (item and item.kind == "lfunction") then
          pattern = "\nfunction " .. TYPED_MODULES[f.module] .. "%." .. escape(f.key) .. "%("
        end
      end
      if pattern then
        assert.truthy(all:find(pattern), f.label .. " is not declared in library/")
        checked = checked + 1
      end
    end
    assert.is_true(checked > (items and 80 or 60), "only " .. checked .. " functions checked: is the walk blind?")
  end)
end)
