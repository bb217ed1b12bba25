-- Differential checks against lua-cjson: our decode must agree with
-- cjson.decode on every valid JSONTestSuite file, the published sample and
-- generated inventory pages, and our encode -> decode must give back the
-- very same value (integers stay integers, floats stay floats, arrays stay
-- arrays). Runs under Lua 5.4 and LuaJIT (5.1 syntax only).
local json = require "flexiroam.json"
local cjson = require "cjson"
-- the generator is written in Lua 5.3+ syntax: absent under LuaJIT
local has_inventory, inventory = pcall(require, "flexiroam.sandbox.inventory")

local SHARED = os.getenv("FLEXIROAM_SHARED") or "../shared"
local SUITE = SHARED .. "/jsontestsuite/test_parsing"
local SAMPLE = SHARED .. "/api/list-inventory.sample.json"

local slurp = require("spec.support.test_processes").slurp

-- The y_ files of the suite, sorted; nil when the suite is not there.
local function suite_files()
  local list = io.popen('ls "' .. SUITE .. '" 2>/dev/null')
  if not list then return nil end
  local files = {}
  for name in list:lines() do
    if name:match("^y_.*%.json$") then files[#files + 1] = name end
  end
  list:close()
  if #files == 0 then return nil end
  table.sort(files)
  return files
end

local function is_empty(t)
  return next(t) == nil
end

-- Ours vs cjson's: numbers by value (cjson 2.1.0 decodes every number as a
-- float), null as the one shared light userdata, arrays and objects by
-- structure (cjson has no array marker: an empty one is {} to it).
-- Returns nil when equal, else where and how they differ.
local function differ(ours, theirs, path)
  if type(ours) ~= type(theirs) then
    return ("%s: %s vs cjson's %s"):format(path, type(ours), type(theirs))
  end
  if type(ours) ~= "table" then
    if ours ~= theirs then
      return ("%s: %s vs cjson's %s"):format(path, tostring(ours), tostring(theirs))
    end
    return nil
  end
  if json.is_array(ours) then
    if #ours ~= #theirs then
      return ("%s: array of %d vs cjson's %d"):format(path, #ours, #theirs)
    end
    for k in pairs(theirs) do
      if type(k) ~= "number" or ours[k] == nil then
        return ("%s: cjson has an extra key %s"):format(path, tostring(k))
      end
    end
    for i = 1, #ours do
      local d = differ(ours[i], theirs[i], path .. "[" .. i .. "]")
      if d then return d end
    end
    return nil
  end
  if is_empty(ours) and is_empty(theirs) then return nil end
  for k, v in pairs(ours) do
    if type(k) ~= "string" then return ("%s: non-string key %s"):format(path, tostring(k)) end
    local d = differ(v, theirs[k], path .. "." .. k)
    if d then return d end
  end
  for k in pairs(theirs) do
    if ours[k] == nil then return ("%s: cjson has an extra key %s"):format(path, tostring(k)) end
  end
  return nil
end

local HAS_INTEGERS = math.type ~= nil

-- Strictly the same value: same subtypes, same array/object kind.
local function not_identical(a, b, path)
  if type(a) ~= type(b) then return ("%s: %s became %s"):format(path, type(a), type(b)) end
  if type(a) == "number" then
    if HAS_INTEGERS and math.type(a) ~= math.type(b) then
      return ("%s: %s became %s"):format(path, math.type(a), math.type(b))
    end
    if a ~= b or (a == 0 and 1 / a ~= 1 / b) then
      return ("%s: %.17g became %.17g"):format(path, a, b)
    end
    return nil
  end
  if type(a) ~= "table" then
    if a ~= b then return ("%s: %s became %s"):format(path, tostring(a), tostring(b)) end
    return nil
  end
  if json.is_array(a) ~= json.is_array(b) then return path .. ": array/object kind changed" end
  for k, v in pairs(a) do
    local d = not_identical(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return ("%s: new key %s"):format(path, tostring(k)) end
  end
  return nil
end

-- The checks every input goes through. Returns false when cjson rejects
-- the text (nothing to compare against), true otherwise.
local function check_text(name, text)
  local ok_cjson, theirs = pcall(cjson.decode, text)
  local ours, err = json.decode(text)
  assert(err == nil, name .. ": our decode failed: " .. tostring(err))
  if ok_cjson then
    local d = differ(ours, theirs, "$")
    assert(d == nil, name .. ": decode differs from cjson at " .. tostring(d))
  end
  local out, enc_err = json.encode(ours)
  assert(out ~= nil, name .. ": encode refused a decoded value: " .. tostring(enc_err))
  local again, err2 = json.decode(out)
  assert(err2 == nil, name .. ": our decode refused our encoding: " .. tostring(err2))
  local d = not_identical(ours, again, "$")
  assert(d == nil, name .. ": encode -> decode changed the value at " .. tostring(d))
  return ok_cjson
end

describe("json codec vs lua-cjson", function()
  it("agrees on every y_ file of JSONTestSuite and round-trips it", function()
    local files = suite_files()
    if not files then
      return pending("JSONTestSuite skipped: " .. SUITE .. " not found (set FLEXIROAM_SHARED)")
    end
    local rejected_by_cjson = {}
    for _, name in ipairs(files) do
      local text = slurp(SUITE .. "/" .. name)
      if not check_text(name, text) then rejected_by_cjson[#rejected_by_cjson + 1] = name end
    end
    print(("\n%d y_ files checked; cjson itself rejects %d of them (compared for round-trip only)%s"):format(
      #files, #rejected_by_cjson,
      #rejected_by_cjson > 0 and (": " .. table.concat(rejected_by_cjson, ", ")) or ""))
  end)

  it("agrees on the published list-inventory sample and round-trips it", function()
    local text = slurp(SAMPLE)
    if text == "" then
      return pending("sample skipped: " .. SAMPLE .. " not found (set FLEXIROAM_SHARED)")
    end
    assert.is_true(check_text("list-inventory.sample.json", text))
    local value = json.decode(text)
    assert.is_true(#value.items > 0)
    if HAS_INTEGERS then assert.equal("integer", math.type(value.items[1].sku)) end
  end)

  for _, count in ipairs({ 20, 1000 }) do
    it("agrees on a generated page of " .. count .. " SIMs and round-trips it", function()
      if not has_inventory then
        return pending("generated pages skipped: flexiroam.sandbox.inventory does not load on " .. _VERSION)
      end
      local page = inventory.page(count, 42)
      local text = assert(json.encode(page))
      assert.is_true(check_text("page(" .. count .. ")", text))
      -- an independent reader sees what was put in
      local d = differ(page, cjson.decode(text), "$")
      assert(d == nil, "cjson reads our encoding differently at " .. tostring(d))
      local back = json.decode(text)
      local d2 = not_identical(page, back, "$")
      assert(d2 == nil, "page changed through encode -> decode at " .. tostring(d2))
      assert.equal(count, #back.items)
    end)
  end
end)
