-- The reference manual (make docs-reference: LDoc over config.ld's files)
-- covers the public API (spec/support/public_api.lua says what it is), and
-- a public function without its doc comment fails here. A function that is
-- a field for the SDK's own use is documented too, but marked @local:
-- hidden from the manual. A public one has a summary, a description of
-- every parameter and at least one @return (close, which answers nothing,
-- excepted).
local describe_with = require("spec.support.describe_with")(describe, it, pending)
local public_api = require("spec.support.public_api")

local NO_RETURN = { ["Client:close"] = true }

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

describe_with(not public_api.has_ldoc() and "ldoc is not installed (make docs-reference installs lua-ldoc)",
  "reference manual", function()
  local items, warnings

  setup(function()
    items, warnings = public_api.ldoc_items()
  end)

  it("is made without a warning from LDoc", function()
    assert.same({}, warnings)
  end)

  it("has a doc comment for every public function", function()
    local checked = 0
    for _, f in ipairs(public_api.functions()) do
      local item = public_api.item(items, f)
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
