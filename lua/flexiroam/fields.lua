--- Selective decode: the `fields` option of a read operation.
--   client:list_inventory(params, { fields = { "iccid", "status", "plan.name" } })
-- keeps only those fields of each record (the items of a list, the item of
-- a get); the decoder skips everything else without building it. A record
-- made so knows what it holds: reading a field that was not selected
-- raises, never answers nil by mistake.
local json = require("flexiroam.json")
local raise = require("flexiroam.misuse").raise

local fields = {}

local MAX_PATHS = 256
local MAX_DEPTH = 16

-- Compiled selections by their canonical text: a script passes the same
-- list on every page of an iterator.
local compiled = setmetatable({}, { __mode = "v" })

-- And by the caller's own list table, with a copy of what it held then: an
-- iterator passes one table on every page, and checking it against the copy
-- (a few comparisons) costs far less than canonicalising it again (about 7
-- us for three paths). A list changed since is compiled afresh.
local by_list = setmetatable({}, { __mode = "k" })

local function same_contents(list, copy)
  local n = 0
  for k, v in pairs(list) do
    if copy[k] ~= v then return false end
    n = n + 1
  end
  return n == #copy
end

local function segments(where, path)
  if type(path) ~= "string" or path == "" then
    raise("%s: fields must be a list of field names (\"iccid\", \"plan.name\"), got %s", where,
      type(path) == "string" and "an empty string" or type(path))
  end
  local out = {}
  for segment in (path .. "."):gmatch("(.-)%.") do
    if segment == "" or segment:find("[^%w_%-]") then
      raise("%s: fields: %q is not a field path (names of letters, digits, _ or -, joined by '.')", where, path)
    end
    out[#out + 1] = segment
  end
  if #out > MAX_DEPTH then raise("%s: fields: %q is deeper than %d", where, path, MAX_DEPTH) end
  return out
end

--- fields.compile(where, list) -> selection: {tree =, paths =, key =}.
-- tree: {name = true} for a whole field, {name = subtree} for some of an
-- object's fields ("plan.name" -> {plan = {name = true}}); a whole field
-- wins over parts of it. Raises at the caller's line on anything else than
-- a non-empty list of field paths.
local compile

function fields.compile(where, list)
  local seen = type(list) == "table" and by_list[list]
  if seen and same_contents(list, seen.copy) then return seen.selection end
  local selection = compile(where, list)
  local copy = {}
  for i = 1, #list do copy[i] = list[i] end
  by_list[list] = { copy = copy, selection = selection }
  return selection
end

function compile(where, list)
  if type(list) ~= "table" or list[1] == nil then
    raise("%s: fields must be a non-empty list of field names (got %s)", where, type(list))
  end
  if #list > MAX_PATHS then raise("%s: fields: more than %d paths", where, MAX_PATHS) end
  local paths = {}
  for k, path in pairs(list) do
    if type(k) ~= "number" then raise("%s: fields must be a list (found the key %q)", where, tostring(k)) end
    paths[#paths + 1] = table.concat(segments(where, path), ".")
  end
  table.sort(paths)
  local key = table.concat(paths, ",")
  local known = compiled[key]
  if known then return known end
  local tree = {}
  for _, path in ipairs(paths) do
    local node, parts = tree, segments(where, path)
    for i = 1, #parts - 1 do
      local child = node[parts[i]]
      if child == true then -- the whole of it is selected already
        node = nil
        break
      end
      if child == nil then
        child = {}
        node[parts[i]] = child
      end
      node = child
    end
    if node then node[parts[#parts]] = true end
  end
  local selection = { tree = tree, paths = paths, key = key }
  compiled[key] = selection
  return selection
end

local restrict_value

-- The fields of `object` that `tree` selects (a new table), with the
-- metatable `metas` gives the tree (fields.metatables), as the decoder sets it.
local function restrict_object(object, tree, metas)
  local out = {}
  for name, sub in pairs(tree) do
    local v = object[name]
    if v ~= nil then out[name] = sub == true and v or restrict_value(v, sub, metas) end
  end
  if metas and metas[tree] then setmetatable(out, metas[tree]) end
  return out
end

-- A value under a subtree: an object is restricted, an array's objects each
-- are; anything else (a string where an object was expected) is kept as is.
function restrict_value(v, tree, metas)
  if type(v) ~= "table" then return v end
  if json.is_array(v) then
    local out = json.array()
    for i = 1, #v do out[i] = restrict_value(v[i], tree, metas) end
    return out
  end
  return restrict_object(v, tree, metas)
end

--- fields.restrict(data, selection, answer [, metas]) -> data with only the
-- selected fields of its records (answer "list": data.items[i]; "item":
-- data.item), given the metatables of json.decode's select_meta `metas`.
-- What the decoder does while decoding; here for a decoder that cannot.
function fields.restrict(data, selection, answer, metas)
  if type(data) ~= "table" then return data end
  if answer == "list" and type(data.items) == "table" then
    local items = data.items
    for i = 1, #items do
      if type(items[i]) == "table" and not json.is_array(items[i]) then
        items[i] = restrict_object(items[i], selection.tree, metas)
      end
    end
  elseif answer == "item" and type(data.item) == "table" and not json.is_array(data.item) then
    data.item = restrict_object(data.item, selection.tree, metas)
  end
  return data
end

local function not_selected(label, name, selection)
  raise("%s.%s was not selected: this record was decoded with fields = { %s }; add %q to read it", label,
    tostring(name), table.concat(selection.paths, ", "), name)
end

-- A guard: the metatable of the objects `label` names whose fields outside
-- `sub` raise when read, instead of reading as nil.
local function guard(sub, label, selection)
  return {
    __index = function(_, name)
      if type(name) == "string" and sub[name] == nil then not_selected(label, name, selection) end
      return nil
    end,
  }
end

--- fields.metatables(selection, label, record_mt) -> json.decode's
-- select_meta: the records (of model `label`) get record_mt, and every
-- object selected in part below them (the value of "plan" in "plan.name",
-- or each object in its array) a guard that raises on a field outside the
-- selection, naming it ("SIM.plan.price was not selected"). The decoder
-- sets them as it builds the objects: no second walk over the records.
function fields.metatables(selection, label, record_mt)
  local metas = { [selection.tree] = record_mt }
  local function below(tree, path)
    for name, sub in pairs(tree) do
      if sub ~= true then
        local sub_path = path .. "." .. name
        metas[sub] = guard(sub, sub_path, selection)
        below(sub, sub_path)
      end
    end
  end
  below(selection.tree, label)
  return metas
end

fields.not_selected = not_selected

return fields
