-- JSONTestSuite (test_parsing): y_ files must decode, n_ files must be
-- rejected with a decode error, i_ files may go either way; none may raise.
local json = require "flexiroam.json"

local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"
local DIR = SHARED .. "/jsontestsuite/test_parsing"

local function list_cases()
  local ok, lfs = pcall(require, "lfs")
  if not ok or lfs.attributes(DIR, "mode") ~= "directory" then return nil end
  local names = {}
  for name in lfs.dir(DIR) do
    if name:match("^[yni]_.*%.json$") then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

local slurp = require("spec.support.test_processes").slurp

local function read(name)
  return slurp(DIR .. "/" .. name)
end

local function is_decode_error(err)
  return type(err) == "table" and err.kind == "decode" and type(err.offset) == "number"
    and type(err.excerpt) == "string" and type(err.message) == "string"
end

describe("jsontestsuite", function()
  -- A handful in the suite's spirit, so this file tests something without it.
  it("answers hand-written y_/n_ cases, never raising", function()
    for _, text in ipairs({'[]', '{}', '[null]', '{"a":[1,-0.5e+2,"\\u00e9"]}', ' 0 ', '"\\ud834\\udd1e"'}) do
      local done, value, err = pcall(json.decode, text)
      assert(done and value ~= nil and err == nil, "y: " .. text)
    end
    for _, text in ipairs({'[', '[1,]', '{"a"}', '[01]', '["\\x"]', '"\1"', '[1] [2]', 'nulL', '\239\187\191{}'}) do
      local done, value, err = pcall(json.decode, text)
      assert(done and value == nil and is_decode_error(err), "n: " .. text)
    end
  end)

  local cases = list_cases()
  if not cases then
    it("test_parsing", function()
      pending("jsontestsuite skipped: " .. DIR .. " not found (set FLEXIROAM_SHARED)")
    end)
    return
  end

  local function category(prefix)
    local picked = {}
    for _, name in ipairs(cases) do
      if name:sub(1, 2) == prefix then picked[#picked + 1] = name end
    end
    return picked
  end

  it("has the suite's three categories", function()
    assert.is_true(#category("y_") > 0 and #category("n_") > 0 and #category("i_") > 0)
  end)

  it("decodes every y_ file", function()
    local failed = {}
    for _, name in ipairs(category("y_")) do
      local ok, value, err = pcall(json.decode, read(name))
      if not ok or err ~= nil or value == nil then
        failed[#failed + 1] = name .. " (" .. tostring(ok and err or value) .. ")"
      end
    end
    assert(#failed == 0, "y_ files not decoded:\n  " .. table.concat(failed, "\n  "))
  end)

  it("rejects every n_ file with a decode error", function()
    local failed = {}
    for _, name in ipairs(category("n_")) do
      local ok, value, err = pcall(json.decode, read(name))
      if not ok or value ~= nil or not is_decode_error(err) then
        failed[#failed + 1] = name .. " (" .. tostring(ok and (err or "accepted") or value) .. ")"
      end
    end
    assert(#failed == 0, "n_ files not rejected:\n  " .. table.concat(failed, "\n  "))
  end)

  it("never raises on an i_ file, and answers a value or a decode error", function()
    local failed, accepted, rejected = {}, 0, 0
    for _, name in ipairs(category("i_")) do
      local ok, value, err = pcall(json.decode, read(name))
      if not ok then
        failed[#failed + 1] = name .. " raised: " .. tostring(value)
      elseif err ~= nil then
        if is_decode_error(err) and value == nil then rejected = rejected + 1
        else failed[#failed + 1] = name .. " (bad error " .. tostring(err) .. ")" end
      else
        accepted = accepted + 1
      end
    end
    assert(#failed == 0, "i_ files mishandled:\n  " .. table.concat(failed, "\n  "))
    print(string.format("jsontestsuite: %d y_ ok, %d n_ rejected, %d i_ (%d accepted, %d rejected)",
      #category("y_"), #category("n_"), accepted + rejected, accepted, rejected))
  end)

  it("never raises on any file, with every option set", function()
    local raised = {}
    local variants = {
      {null_as_nil = true}, {big_integers = "string"}, {big_integers = "error"}, {max_depth = 2},
    }
    for _, name in ipairs(cases) do
      local text = read(name)
      for _, opts in ipairs(variants) do
        local ok, msg = pcall(json.decode, text, opts)
        if not ok then raised[#raised + 1] = name .. ": " .. tostring(msg) end
      end
    end
    assert(#raised == 0, "raised:\n  " .. table.concat(raised, "\n  "))
  end)
end)
