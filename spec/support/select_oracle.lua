--- The oracle of selective decode, written apart from the SDK's own code
-- (lua/flexiroam/fields.lua, the C decoder's select) so the specs can judge
-- both: a record keeps the fields its tree names; a field with a subtree
-- keeps, of an object, the subtree's fields, of an array, each element so
-- restricted (non-objects as they are); any other value as it is. And the
-- random selections both specs of it draw (spec/json_select_spec.lua,
-- spec/selective_decode_spec.lua), from a seeded LCG so every run, on 5.4
-- as on LuaJIT, draws the same cases. Lua 5.1 syntax: LuaJIT runs it.
local json = require "flexiroam.json"

local oracle = {}

function oracle.restrict(value, tree)
  if type(value) ~= "table" then return value end
  if json.is_array(value) then
    local out = json.array()
    for i = 1, #value do out[i] = oracle.restrict(value[i], tree) end
    return out
  end
  local out = {}
  for name, sub in pairs(tree) do
    local v = rawget(value, name)
    if v ~= nil then out[name] = sub == true and v or oracle.restrict(v, sub) end
  end
  return out
end

--- A selection list as a tree, as the SDK documents it (a field named whole
-- swallows its subfields). Sorts `paths` in place.
function oracle.tree_of(paths)
  local tree = {}
  table.sort(paths)
  for _, path in ipairs(paths) do
    local node = tree
    local parts = {}
    for p in path:gmatch("[^.]+") do parts[#parts + 1] = p end
    for i = 1, #parts - 1 do
      if node[parts[i]] == true then node = nil break end
      node[parts[i]] = node[parts[i]] or {}
      node = node[parts[i]]
    end
    if node then node[parts[#parts]] = true end
  end
  return tree
end

--- rng(seed) -> rnd, a small LCG (the same numbers under 5.4 and LuaJIT):
-- rnd() a float in [0, 1), rnd(n) an integer in 1..n, rnd(a, b) one in a..b.
function oracle.rng(seed)
  local state = seed
  return function(a, b)
    state = (state * 1103515245 + 12345) % 2147483648
    local x = state / 2147483648
    if a == nil then return x end
    if b == nil then a, b = 1, a end
    return a + math.floor(x * (b - a + 1))
  end
end

--- A random selection tree for json.decode's select: up to 12 of `keys` at
-- the top and 4 below, each whole or (above the third level) a subtree.
function oracle.random_tree(rnd, keys, depth)
  depth = depth or 0
  local t = {}
  for _ = 1, rnd(0, depth == 0 and 12 or 4) do
    local name = keys[rnd(#keys)]
    t[name] = (depth < 3 and rnd(2) == 1) and oracle.random_tree(rnd, keys, depth + 1) or true
  end
  return t
end

--- A random selection list for the `fields` option: 1 to 4 dotted paths,
-- each of 1 to 3 of `keys`.
function oracle.random_paths(rnd, keys)
  local paths = {}
  for _ = 1, rnd(1, 4) do
    local depth, parts = rnd(1, 3), {}
    for i = 1, depth do parts[i] = keys[rnd(#keys)] end
    paths[#paths + 1] = table.concat(parts, ".")
  end
  return paths
end

return oracle
