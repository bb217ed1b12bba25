-- json.decode's select option (issue 15, part 2): the C decoder keeps only
-- the selected fields of an answer's records and skips the rest without
-- building it, yet refuses exactly what a full decode refuses. Everything
-- is checked against a full decode: restricted by the oracle below for
-- what is accepted, error for error (message, offset, excerpt) for what is
-- not. Runs under Lua 5.4 and LuaJIT (5.1 syntax only).
local json = require "flexiroam.json"

local HAS_INTEGERS = math.type ~= nil

-- The oracle (spec/support/select_oracle.lua), apart from the SDK's code,
-- and its random selections.
local oracle = require("spec.support.select_oracle")
local restrict, rng = oracle.restrict, oracle.rng

local function is_object(v) return type(v) == "table" and not json.is_array(v) end

-- The full decode of a document, its records restricted.
local function expected(full, tree, at)
  if not is_object(full) then return full end
  local want = {}
  for k, v in pairs(full) do want[k] = v end
  local v = full[at]
  if at == "items" and type(v) == "table" and json.is_array(v) then
    want.items = json.array()
    for i = 1, #v do want.items[i] = is_object(v[i]) and restrict(v[i], tree) or v[i] end
  elseif at == "item" and is_object(v) then
    want.item = restrict(v, tree)
  end
  return want
end

-- Deep equality on raw contents, arrays told from objects, integer from float.
local function same(a, b, where)
  where = where or "value"
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b then error(("%s: %s ~= %s"):format(where, tostring(a), tostring(b)), 0) end
    if HAS_INTEGERS and math.type(a) ~= math.type(b) then error(where .. ": integer on one side only", 0) end
    return
  end
  if json.is_array(a) ~= json.is_array(b) then error(where .. ": array on one side, object on the other", 0) end
  for k, v in pairs(a) do same(v, rawget(b, k), where .. "." .. tostring(k)) end
  for k in pairs(b) do
    if rawget(a, k) == nil then error(where .. "." .. tostring(k) .. ": only on the right", 0) end
  end
end

local function sel(tree, at, extra)
  local o = { select = tree, select_at = at or "items", big_integers = "string" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- The selective decode of text equals the full one restricted, or both
-- refuse it alike; returns the selective result.
local function check(text, tree, at, extra, where)
  local opts = sel(tree, at, extra)
  local got, gerr = json.decode(text, opts)
  opts.select, opts.select_at = nil, nil
  local full, ferr = json.decode(text, opts)
  where = where or ("%q"):format(text)
  if full == nil and ferr ~= nil then
    assert(got == nil and gerr ~= nil, where .. ": the selective decode took what the full one refused: " ..
      tostring(ferr))
    assert(gerr.message == ferr.message and gerr.offset == ferr.offset and gerr.excerpt == ferr.excerpt,
      ("%s: full decode: %s at %d, selective: %s at %d"):format(where, ferr.message, ferr.offset, gerr.message,
        gerr.offset))
    return nil, gerr
  end
  assert(gerr == nil, where .. ": the selective decode refused what the full one took: " .. tostring(gerr))
  same(expected(full, tree, at or "items"), got, where)
  -- With a metatable for the tree and each subtree: the same values.
  local metas = {}
  local function each(t)
    metas[t] = {}
    for _, sub in pairs(t) do if type(sub) == "table" and not metas[sub] then each(sub) end end
  end
  each(tree)
  local opts_meta = sel(tree, at, extra)
  opts_meta.select_meta = metas
  local got_meta, merr = json.decode(text, opts_meta)
  assert(got_meta ~= nil, where .. " (with select_meta): " .. tostring(merr))
  same(got, got_meta, where .. " (with select_meta)")
  return got
end

-- Documents written by hand (not by an encoder): duplicate keys, keys with
-- \u escapes, whitespace, every kind of scalar, records among non-records.
local KEYS = { "items", "item", "iccid", "status", "plan", "name", "price", "tags", "x", "y", "k1", "k2", "k3",
  "k4", "k5", "k6", "k7", "k8", "k9", "" }
local SCALARS = { "1", "-0", "0.5", "-12", "3.14e-5", "1E2", "9007199254740993", "123456789012345678901234567890",
  "true", "false", "null", '"s"', '"caf\\u00e9"', '"\\ud83d\\ude00"', '"a\\"b\\\\c\\n"', '""', '"\226\152\186"' }

local function writer(rnd)
  local function key()
    local k = KEYS[rnd(#KEYS)]
    if k ~= "" and rnd(6) == 1 then
      local i = rnd(#k)
      k = k:sub(1, i - 1) .. ("\\u%04x"):format(k:byte(i)) .. k:sub(i + 1)
    end
    return '"' .. k .. '"'
  end
  local function ws()
    local r = rnd(8)
    return r == 1 and " " or r == 2 and "\n  " or ""
  end
  local function value(depth)
    local r = rnd(depth > 4 and 4 or 9)
    if r <= 4 then return SCALARS[rnd(#SCALARS)] end
    local parts = {}
    if r <= 7 then
      for i = 1, rnd(0, 6) do parts[i] = ws() .. key() .. ws() .. ":" .. ws() .. value(depth + 1) end
      return "{" .. table.concat(parts, ",") .. ws() .. "}"
    end
    for i = 1, rnd(0, 5) do parts[i] = ws() .. value(depth + 1) end
    return "[" .. table.concat(parts, ",") .. ws() .. "]"
  end
  local function tree() return oracle.random_tree(rnd, KEYS) end
  local function document()
    if rnd(10) == 1 then return value(0) end
    local parts = {}
    for i = 1, rnd(1, 4) do
      local r = rnd(6)
      local k, v
      if r <= 2 then
        k = '"items"'
        local elements = {}
        for j = 1, rnd(0, 5) do elements[j] = value(1) end
        v = "[" .. table.concat(elements, ",") .. "]"
      elseif r == 3 then
        k, v = '"item"', value(1)
      else
        k, v = key(), value(1)
      end
      parts[i] = k .. ws() .. ":" .. v
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local BYTES = { '"', "\\", ",", ":", "{", "}", "[", "]", "x", "\0", "\1", "\255", "\192\128", "\237\160\128", "0",
    "-", "e", ".", "\\u12", "\\ud800", "\t", "nul" }
  local function mutate(s)
    local r, i = rnd(4), rnd(#s)
    if r == 1 then return s:sub(1, i - 1) .. s:sub(i + 1) end
    if r == 2 then return s:sub(1, i) end
    if r == 3 then return s:sub(1, i - 1) .. BYTES[rnd(#BYTES)] .. s:sub(i + 1) end
    return s:sub(1, i) .. BYTES[rnd(#BYTES)] .. s:sub(i + 1)
  end
  return { document = document, tree = tree, mutate = mutate }
end

local BIG = { "string", "float", "error" }

-- `count` pages, page(n) each (every mutate_every-th through mutate), checked against tree(n) with
-- big_integers taking turns; both outcomes must be common, or the pages tell little.
local function check_pages(count, page, tree, mutate, mutate_every, min_accepted, min_refused)
  local accepted, refused = 0, 0
  for n = 1, count do
    local text = page(n)
    if n % mutate_every == 0 then text = mutate(text) end
    if check(text, tree(n), "items", { big_integers = BIG[n % 3 + 1] }, "page " .. n .. " " .. ("%q"):format(text)) then
      accepted = accepted + 1
    else
      refused = refused + 1
    end
  end
  assert.is_true(accepted > min_accepted and refused > min_refused, accepted .. " accepted, " .. refused .. " refused")
end

describe("json.decode with select", function()
  it("is announced: json.can_select", function()
    assert.is_true(json.can_select)
  end)

  it("keeps the selected fields of each record of items, and the rest of the answer whole", function()
    local text = '{"items":[{"iccid":"89","status":"active","sku":4024081013108,"plan":{"name":"FRA","price":' ..
      '{"amount":100,"currency":"EUR"}},"tags":["a","b"]},{"iccid":"90","plan":"none"},[{"iccid":"91"}],7,null],' ..
      '"page_key":"k2","meta":{"iccid":"kept","sku":1}}'
    local got = check(text, { iccid = true, plan = { name = true } })
    assert.same({ iccid = "89", plan = { name = "FRA" } }, got.items[1])
    assert.same({ iccid = "90", plan = "none" }, got.items[2])
    assert.same({ { iccid = "91" } }, got.items[3]) -- an array among the records: as it is
    assert.equals(7, got.items[4])
    assert.equals(json.null, got.items[5])
    assert.equals("k2", got.page_key)
    assert.same({ iccid = "kept", sku = 1 }, got.meta)
    assert.is_true(json.is_array(got.items))
  end)

  it("restricts the item of a get with select_at = \"item\", and leaves items whole then", function()
    local text = '{"item":{"iccid":"89","status":"active","balances":{"main_data":5,"extra":[{"kind":"bonus",' ..
      '"bytes":1},[{"kind":"x","y":1}],3]}},"items":[{"status":"x","other":1}]}'
    local got = check(text, { status = true, balances = { extra = { kind = true } } }, "item")
    assert.same({ status = "active", balances = { extra = { { kind = "bonus" }, { { kind = "x" } }, 3 } } }, got.item)
    assert.same({ { status = "x", other = 1 } }, got.items)
    assert.is_true(json.is_array(got.item.balances.extra) and json.is_array(got.item.balances.extra[2]))
  end)

  it("leaves an answer of another shape as it is", function()
    local tree = { a = true }
    for _, text in ipairs { '[{"items":[{"a":1,"b":2}]}]', '{"items":{"a":1,"b":2}}', '{"item":[{"a":1,"b":2}]}',
      '"items"', "12", '{"items":[]}', '{"item":null}', "{}", '{"x":{"items":[{"a":1,"b":2}]}}' } do
      check(text, tree, "items")
      check(text, tree, "item")
    end
    assert.same({ a = 1, b = 2 }, json.decode('{"items":{"a":1,"b":2}}', sel(tree)).items)
  end)

  it("keeps the last of duplicate keys, selected or not, at the top and in records", function()
    local got = check('{"items":[{"a":1,"b":0,"a":2}],"items":[{"a":3,"b":4,"a":{"x":1,"y":2},"b":5}]}',
      { a = { x = true } })
    assert.same({ { a = { x = 1 } } }, got.items)
    got = check('{"item":{"a":{"x":1},"a":[{"x":2,"y":3}]},"item":5}', { a = { x = true } }, "item")
    assert.equals(5, got.item)
    check('{"item":{"a":1,"a":null,"b":2}}', { a = true }, "item", { null_as_nil = true })
    assert.same({ b = 2 }, json.decode('{"item":{"a":1,"a":null,"b":2}}', sel({ a = true, b = true }, "item",
      { null_as_nil = true })).item)
  end)

  it("matches keys written with escapes, in records and at the top", function()
    local got = check('{"it\\u0065ms":[{"\\u0069ccid":"89","st\\u0061tus":"x","pl\\u0061n":{"n\\u0061me":"F",' ..
      '"id":1}}]}', { iccid = true, plan = { name = true } })
    assert.same({ { iccid = "89", plan = { name = "F" } } }, got.items)
    got = check('{"item":{"caf\\u00e9":1,"caf\\u00e8":2,"\\"q\\"":3,"":4}}', { ["caf\195\169"] = true, ['"q"'] = true,
      [""] = true }, "item")
    assert.same({ ["caf\195\169"] = 1, ['"q"'] = 3, [""] = 4 }, got.item)
  end)

  it("walks arrays under a subtree to any depth: objects restricted, the rest as it is", function()
    local got = check('{"items":[{"a":[[[{"b":1,"c":2}],{"b":3,"d":4}],"s",[],{}],"z":1}]}', { a = { b = true } })
    assert.same({ a = { { { { b = 1 } }, { b = 3 } }, "s", {}, {} } }, got.items[1])
    assert.is_true(json.is_array(got.items[1].a[3]))
    assert.is_false(json.is_array(got.items[1].a[4]))
  end)

  it("gives select_meta's metatables to the records and to every object kept under a subtree", function()
    local tree = { iccid = true, plan = { name = true, price = { amount = true } } }
    local rec, plan, price = { __name = "rec" }, { __name = "plan" }, { __name = "price" }
    local meta = { [tree] = rec, [tree.plan] = plan, [tree.plan.price] = price }
    local text = '{"items":[{"iccid":"1","x":{"y":2},"plan":{"name":"a","price":{"amount":1,"c":2},"id":3}},' ..
      '{"plan":[{"name":"b"},[{"name":"c","price":[{"amount":2}]}],3,{}]},[{"iccid":"2"}],7],' ..
      '"page_key":{"iccid":"k"}}'
    local got = assert(json.decode(text, { select = tree, select_at = "items", select_meta = meta }))
    -- the same values as without select_meta (rawequal walk: the guards never run)
    assert.same(json.decode(text, sel(tree)), got)
    local items = got.items
    assert.equals(rec, getmetatable(items[1]))
    assert.equals(plan, getmetatable(items[1].plan))
    assert.equals(price, getmetatable(items[1].plan.price))
    assert.equals(json.array_mt, getmetatable(items[2].plan)) -- arrays stay arrays
    assert.equals(plan, getmetatable(items[2].plan[1]))
    assert.equals(plan, getmetatable(items[2].plan[2][1])) -- in an array in the array too
    assert.equals(price, getmetatable(items[2].plan[2][1].price[1]))
    assert.equals(plan, getmetatable(items[2].plan[4]))
    assert.equals(rec, getmetatable(items[2]))
    assert.equals(json.array_mt, getmetatable(items[3])) -- not a record: as it is
    assert.is_nil(getmetatable(items[3][1]))
    assert.is_nil(getmetatable(got))
    assert.is_nil(getmetatable(got.page_key))
    -- a get's item; a subtree without an entry gets none
    got = assert(json.decode('{"item":{"iccid":"1","plan":{"name":"a","price":{"amount":1}}}}',
      { select = tree, select_at = "item", select_meta = { [tree] = rec, [tree.plan.price] = price } }))
    assert.equals(rec, getmetatable(got.item))
    assert.is_nil(getmetatable(got.item.plan))
    assert.equals(price, getmetatable(got.item.plan.price))
  end)

  it("finds names in a wide selection (a hash table past 8 of them) and in an empty one", function()
    local tree, parts, want = {}, {}, {}
    for i = 1, 300 do
      local name = "field_" .. i
      if i % 3 == 0 then
        tree[name] = true
        want[name] = i
      end
      parts[#parts + 1] = ('"%s":%d'):format(name, i)
    end
    local got = check('{"items":[{' .. table.concat(parts, ",") .. "}]}", tree)
    assert.same(want, got.items[1])
    got = check('{"items":[{"a":1,"b":{"c":2}}]}', {})
    assert.same({}, got.items[1])
  end)

  it("equals the full decode restricted, on random written documents", function()
    local w = writer(rng(151))
    local accepted = 0
    for n = 1, 3000 do
      local text, tree = w.document(), w.tree()
      local at = n % 2 == 0 and "items" or "item"
      if check(text, tree, at, { big_integers = BIG[n % 3 + 1] }, "document " .. n .. " " .. ("%q"):format(text)) then
        accepted = accepted + 1
      end
    end
    assert.is_true(accepted > 1500, accepted .. " of 3000 accepted")
  end)

  it("refuses exactly what the full decode refuses: same message, offset and excerpt", function()
    for _, text in ipairs {
      '{"items":[{"a":1,"b":"\\ud800"}]}', '{"items":[{"a":1,"b":"\\ud83dx"}]}', '{"items":[{"a":1,"b":"\\x"}]}',
      '{"items":[{"a":1,"b":"\\u12"}]}', '{"items":[{"a":1,"b":"\255"}]}', '{"items":[{"a":1,"b":"\237\160\128"}]}',
      '{"items":[{"a":1,"b":"\1"}]}', '{"items":[{"a":1,"b":"open}]}', '{"items":[{"a":1,"b":01}]}',
      '{"items":[{"a":1,"b":1.}]}', '{"items":[{"a":1,"b":1e}]}', '{"items":[{"a":1,"b":-}]}',
      '{"items":[{"a":1,"b":1e999}]}', '{"items":[{"a":1,"b":nul}]}', '{"items":[{"a":1,"b":tru}]}',
      '{"items":[{"a":1,"b":[1,]}]}', '{"items":[{"a":1,"b":{"c" 1}}]}', '{"items":[{"a":1,"b":{c:1}}]}',
      '{"items":[{"a":1,"b":{"c":1,}}]}', '{"items":[{"a":1,"b":[1 2]}]}', '{"items":[{"a":1,"b":{"c":1]}]}',
      '{"items":[{"a":1,"b" 1}]}', '{"items":[{"a":1,"\255":1}]}', '{"items":[{"a":1,"b\\q":1}]}',
      '{"items":[{"a":1,"b":@}]}', '{"items":[{"a":1,"b":[[[', '{"items":[{"a":1,"b":"', '{"items":[{"a":1,"b":',
      '{"items":[{"b":1,"a":"\\ud800"}]}', '{"items":[{"a":1,"b":2}]} x', '{"items":[{"a":1,"b":2}]',
      '{"items":[{"a":1,"b":"x\0y"}]}', '{"items":[{"a":1,"b":123456789012345678901234567890}]}',
    } do
      for _, big in ipairs(BIG) do
        local value, err = check(text, { a = true }, "items", { big_integers = big })
        if text:find("123456789012345678901234567890", 1, true) then
          assert.equals(big ~= "error", value ~= nil)
        else
          assert.is_table(err, ("%q"):format(text))
        end
      end
    end
    local w = writer(rng(977))
    for n = 1, 3000 do
      local text = w.mutate(w.document())
      check(text, w.tree(), n % 2 == 0 and "items" or "item", { big_integers = BIG[n % 3 + 1] },
        "mutated document " .. n .. " " .. ("%q"):format(text))
    end
  end)

  it("tells each key from the one at its place in the record before: near misses, escapes, bad bytes", function()
    -- The records of a page spell the same keys in the same order, and the decoder first compares each
    -- key with the one at that place in the record before (src/json_decode.c, sel_memo). Pages here
    -- keep one order and change a few keys per record into near misses of the one before: a prefix, a
    -- longer key, a byte off, the same name escaped, a quote escaped inside, bad UTF-8, keys added or
    -- dropped, long keys; the values are of every kind, some objects under a selected subtree. Valid
    -- and mutated, the selective decode equals the full one restricted, error for error.
    local rnd = rng(2027)
    -- keys as written in the text (between the quotes)
    local POOL = { "iccid", "iccid2", "iccie", "iccid\\u0032", "icci", "iccid\\\"", "status", "statu", "status_",
      "plan", "plans", "pla\\u006e", "name", "nam", "names", "a", "", "\\u0061", "0123456789abcdef",
      "0123456789abcdeg", "0123456789abcdefX", ("L"):rep(40), ("L"):rep(41), ("L"):rep(39) .. "M",
      "caf\195\169", "x\\\"y", "x", "\\\\", "b" }
    local BAD = { "caf\195", "k\0", "iccid\\u00", "\255" } -- a record holding one is refused
    local function pick() return rnd(150) == 1 and BAD[rnd(#BAD)] or POOL[rnd(#POOL)] end
    local NAMES = { "iccid", "iccid2", "status", "plan", "plans", "name", "a", "", "0123456789abcdef",
      "0123456789abcdefX", ("L"):rep(40), ("L"):rep(41), "caf\195\169", "x\"y", "x", "\\", "b" }
    local function quoted(k) return '"' .. k .. '"' end
    local function value(depth)
      local r = rnd(depth > 1 and 3 or 6)
      if r <= 3 then
        local scalars = { "1", "-0", "0.5", "true", "null", '"s"', '"caf\\u00e9"', '""', '"iccid"',
          "123456789012345678901234567890" }
        return scalars[rnd(#scalars)]
      end
      local parts = {}
      for i = 1, rnd(0, 4) do parts[i] = quoted(POOL[rnd(#POOL)]) .. ":" .. value(depth + 1) end
      if r == 6 then return "[{" .. table.concat(parts, ",") .. "}," .. value(depth + 1) .. "]" end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    local function page()
      local order = {}
      for i = 1, rnd(1, 9) do order[i] = pick() end
      local records = {}
      for r = 1, rnd(2, 6) do
        local keys = {}
        for i, k in ipairs(order) do keys[i] = k end
        for _ = 1, rnd(0, 2) do -- the record's changes from the page's order
          local c, i = rnd(3), rnd(#keys + 1)
          if c == 1 then table.insert(keys, i, pick())
          elseif c == 2 and #keys > 0 then table.remove(keys, math.min(i, #keys))
          elseif #keys > 0 then keys[math.min(i, #keys)] = pick() end
        end
        local members = {}
        for i, k in ipairs(keys) do members[i] = quoted(k) .. ":" .. value(0) end
        records[r] = "{" .. table.concat(members, ",") .. "}"
      end
      return '{"items":[' .. table.concat(records, ",") .. '],"page_key":null}'
    end
    local function tree()
      local t = {}
      for _ = 1, rnd(1, 4) do
        local name = NAMES[rnd(#NAMES)]
        if rnd(3) == 1 then
          local sub = {}
          for _ = 1, rnd(1, 3) do sub[NAMES[rnd(#NAMES)]] = true end
          t[name] = sub
        else
          t[name] = true
        end
      end
      return t
    end
    check_pages(2500, page, tree, writer(rnd).mutate, 3, 1000, 300)
  end)

  it("skips a run of unselected members alike in compact and spaced text, for every number form", function()
    -- Most of a record is a run of members outside the selection, which the decoder skips in one loop
    -- (src/json_decode.c, skip_members): each value checked as skip_value checks it, the integers
    -- up to 18 digits by a shorter path, and the whitespace looked for only where the next byte is
    -- not the one expected. Pages of records with one key order, every boundary between tokens
    -- written compact or spaced, and numbers of every form (the short path's own and the ones it
    -- hands on); valid and mutated, the selective decode equals the full one, error for error.
    local rnd = rng(4099)
    local NUMBERS = { "0", "-0", "7", "-12", "123456789012345678", "-123456789012345678", "1234567890123456789",
      "-9223372036854775808", "9223372036854775808", "12345678901234567890", "1.5", "-0.0", "1e5", "1E+2",
      "2e-3", "0e0" }
    local OTHERS = { "null", "true", "false", '"s"', '""', '"caf\\u00e9"', "{}", "[]", '{"z":0,"y":[1,-2]}',
      "[null, 0 ,-1]", '{ "a" : "x" ,"b":null,\n"c":true }', '{"d":{"e":[]},"f":-1.5}', "{ }", "[ ]" }
    local WRONG = { "01", "-01", "00", "-", "1.", "1e", ".5", "+1", "0x1", "1.5e", "--1", "-a", "nul", '"open',
      '{"a" 1}', '{"a":1,}', "{a:1}", '{"a":1 "b":2}', '{"a":1]', '{"a":01}', "{", '{"a":"\\x"}', "[1,]",
      '{"a"=1}', '{"a";1}', '{"a":1;"b":2}' }
    local SPACE = { "", "", "", " ", "\n  ", "\t", "\r\n" }
    local function ws() return SPACE[rnd(#SPACE)] end
    local function value()
      local r = rnd(40)
      if r == 1 then return WRONG[rnd(#WRONG)] end
      if r <= 12 then return OTHERS[rnd(#OTHERS)] end
      return NUMBERS[rnd(#NUMBERS)]
    end
    local ORDER = { "k1", "k2", "iccid", "k3", "k4", "k5", "status", "k6", "k7", "k8" }
    local function record(spaced)
      local members = {}
      for i, k in ipairs(ORDER) do
        if spaced then
          members[i] = ws() .. '"' .. k .. '"' .. ws() .. ":" .. ws() .. value() .. ws()
        else
          members[i] = '"' .. k .. '":' .. value()
        end
      end
      return "{" .. table.concat(members, ",") .. "}"
    end
    local function page(n)
      local records = {}
      for r = 1, rnd(2, 5) do records[r] = record(n % 2 == 0) end
      return '{"items":[' .. table.concat(records, ",") .. '],"page_key":null}'
    end
    local trees = { { iccid = true, status = true }, { k8 = true }, { nothing = true } }
    check_pages(1500, page, function(n) return trees[n % 3 + 1] end, writer(rnd).mutate, 4, 300, 300)
  end)

  it("skips an object by its bytes only when they are the ones skipped at that place before", function()
    -- A SIM's device_info, balances and auto_topup_settings have the same bytes in record after record,
    -- and the decoder skips such an object by comparing it with the one skipped at that place of the
    -- record before (src/json_decode.c, value_memo), and a run of keys by comparing ,"key": at once
    -- (sel_recall_member). Pages here draw each member's object from a few, with near misses of them: a
    -- byte off inside, one longer or shorter, the same prefix, spaces, a nested object one level
    -- deeper, an error inside an otherwise equal one; keys now and then spelled with spaces. Valid and
    -- mutated, with max_depth taking turns, the selective decode equals the full one, error for error.
    local rnd = rng(6151)
    local OBJECTS = { '{"imei":null,"id":null,"email":null,"name":null}', '{"main_data":0,"billing_cycle_id":null}',
      '{"main_data":1,"billing_cycle_id":null}', '{"main_data":0,"billing_cycle_id":null,"x":1}',
      '{"main_data":0}', '{"main_data":0,"billing_cycle_id":nul}', '{"main_data":0,"billing_cycle_id":null ',
      '{"main_data":0,"billing_cycle_id":{"a":{}}}', '{"main_data":0,"billing_cycle_id":"\\u00e9"}',
      '{"main_data":0,"billing_cycle_id":"\\ud800"}', '{"main_data":0, "billing_cycle_id":null}',
      '{"threshold_in_percentage":true,"threshold":0,"quantity":1,"enabled":false}',
      '{"threshold_in_percentage":true,"threshold":0,"quantity":1,"enabled":fals}', '{}', '{ }', "null",
      '[{"a":1}]', '{"a":[1,2,{"b":[]}]}', '{"a":[1,2,{"b":[}]}' }
    local WEIGHTS = { 12, 12, 3, 2, 2, 1, 1, 2, 2, 1, 2, 12, 1, 2, 1, 2, 2, 2, 1 }
    local function object()
      local r = rnd(63)
      for i, w in ipairs(WEIGHTS) do
        if r <= w then return OBJECTS[i] end
        r = r - w
      end
      return OBJECTS[1]
    end
    local ORDER = { "id", "device_info", "state", "balances", "paused_balances", "iccid", "auto_topup_settings",
      "status", "chip_type" }
    local function page()
      local records = {}
      for r = 1, rnd(2, 8) do
        local members = {}
        for i, k in ipairs(ORDER) do
          local v = k:find("_") and object() or ('"' .. k .. r .. '"')
          local sep = rnd(25) == 1 and " : " or ":"
          members[i] = (rnd(30) == 1 and " " or "") .. '"' .. k .. '"' .. sep .. v
        end
        records[r] = "{" .. table.concat(members, ",") .. "}"
      end
      return '{"items":[' .. table.concat(records, ",") .. '],"page_key":null}'
    end
    local trees = { { iccid = true, status = true }, { id = true }, { balances = { main_data = true } },
      { nothing = true } }
    local mutate = writer(rnd).mutate
    local accepted, refused = 0, 0
    for n = 1, 2000 do
      local text = page()
      if n % 4 == 0 then text = mutate(text) end
      local ok = check(text, trees[n % 4 + 1], "items", { max_depth = n % 5 == 0 and 3 or nil },
        "page " .. n .. " " .. ("%q"):format(text))
      if ok then accepted = accepted + 1 else refused = refused + 1 end
    end
    assert.is_true(accepted > 300 and refused > 300, accepted .. " accepted, " .. refused .. " refused")
  end)

  it("tells a key from the same key at the same place of an object elsewhere in the selection", function()
    -- What a key at a place became is remembered with the node of the selection it was under: "a" of a
    -- record (skipped) and "a" of its "sub" (kept) share a place, and, for some length of the other
    -- name, a memo entry too.
    local text = '{"items":[{"a":1,"sub":{"a":2,"b":3}},{"a":1,"sub":{"a":2,"b":3}}]}'
    for len = 1, 1200, 1 do
      local got = check(text, { [("n"):rep(len)] = true, sub = { a = true } })
      assert.equals(2, got.items[2].sub.a)
    end
  end)

  it("counts max_depth in skipped values as in kept ones", function()
    local deep = '{"items":[{"a":1,"b":' .. ("["):rep(6) .. ("]"):rep(6) .. "}]}"
    local objects = '{"items":[{"a":1,"b":{"c":{"d":{},"e":[]},"f":null}},{"a":2,"b":{}}]}'
    -- the same skipped object, at the same place of a subtree's objects, one level deeper the second time
    local deeper = '{"items":[{"sub":[{"k":{"c":{}}},[{"k":{"c":{}}}]]}]}'
    for depth = 1, 10 do
      for _, text in ipairs { deep, objects, deeper } do
        check(text, { a = true }, "items", { max_depth = depth })
        check(text, { b = true }, "items", { max_depth = depth })
        check(text, { sub = { a = true } }, "items", { max_depth = depth })
      end
    end
    local _, err = json.decode(deep, sel({ a = true }, "items", { max_depth = 6 }))
    assert.matches("nesting deeper than 6", err.message)
    local nested = '{"items":[{"a":' .. ('{"k":'):rep(997) .. "1" .. ("}"):rep(997) .. "}]}"
    assert.is_table(check(nested, { b = true }))
    _, err = check('{"items":[{"a":' .. ('{"k":'):rep(998) .. "1" .. ("}"):rep(998) .. "}]}", { b = true })
    assert.matches("nesting deeper than 1000", err.message)
  end)

  it("takes null_as_nil in records", function()
    local got = check('{"items":[{"a":null,"b":[null,1],"c":null}]}', { a = true, b = true }, "items",
      { null_as_nil = true })
    assert.is_nil(got.items[1].a)
    assert.equals(1, got.items[1].b[2])
  end)

  it("builds much less for a few fields of a big page", function()
    local sims = {}
    for i = 1, 2000 do
      sims[i] = ('{"iccid":"8985235082%09d","status":"active","plan":{"name":"P%d","price":{"amount":%d}},' ..
        '"reseller_id":"3f1e28b7-3b74-4ef9-a1d3-97a8a08b8a18","creation_date":"2024-10-07 12:%02d:00",' ..
        '"balances":{"main_data":%d,"billing_cycle_id":null},"device_info":{"name":null,"imei":null}}'):format(
        i, i, i, i % 60, i)
    end
    local text = '{"items":[' .. table.concat(sims, ",") .. "]}"
    local tree = { iccid = true, plan = { name = true } }
    -- the Lua heap a decode leaves, then, with `after`, what after(value) leaves
    local function heap_of(opts, after)
      collectgarbage()
      collectgarbage()
      local before = collectgarbage("count")
      local kept = json.decode(text, opts)
      if after then kept = after(kept) end
      collectgarbage()
      collectgarbage()
      local kb = collectgarbage("count") - before
      assert.equals(2000, #kept.items)
      return kb
    end
    json.decode(text, sel(tree)) -- the decoder's key cache, made at its first call, is not counted
    local selected = heap_of(sel(tree))
    local full = heap_of({ big_integers = "string" })
    -- restricted in Lua: tables that grew to what they hold
    local restricted = heap_of({ big_integers = "string" }, function(v) return expected(v, tree, "items") end)
    local report = ("selected %.0f kB, full %.0f kB, full then restricted %.0f kB"):format(selected, full, restricted)
    assert.is_true(selected * 2 < full, report)
    -- the records are not made at the size of whole ones
    assert.is_true(selected < restricted * 1.1, report)
  end)

  it("survives a selective decode run by a finalizer in the middle of one", function()
    local inner = '{"items":[{"x":"a\\nb","y":[1,2.5],"z":{"w":1}}]}'
    local inner_opts = sel({ x = true, z = { w = true } })
    local seen = 0
    local function finalizer()
      local v = json.decode(inner, inner_opts)
      if v and v.items[1].x == "a\nb" and v.items[1].y == nil and v.items[1].z.w == 1 then seen = seen + 1 end
    end
    local make
    local newproxy = rawget(_G, "newproxy") -- LuaJIT: tables there take no __gc
    if newproxy then
      make = function()
        local p = newproxy(true)
        getmetatable(p).__gc = finalizer
        return p
      end
    else
      make = function() return setmetatable({}, { __gc = finalizer }) end
    end
    local parts = {}
    for i = 1, 2000 do
      parts[i] = '{"k":"v\\t' .. i .. '","n":[' .. i .. ',"\\u00e9"],"m":{"a":' .. i .. ',"b":2}}'
    end
    local text = '{"items":[' .. table.concat(parts, ",") .. "]}"
    local tree = { k = true, m = { a = true } }
    local want = expected(json.decode(text), tree, "items")
    for _ = 1, 5 do
      for _ = 1, 300 do make() end
      same(want, json.decode(text, sel(tree)))
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(seen > 0)
  end)

  describe("misuse", function()
    local function raises(opts, pattern)
      local ok, err = pcall(json.decode, '{"items":[]}', opts)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
    end

    it("raises on a select that is not a tree of field names", function()
      raises({ select = "iccid", select_at = "items" }, "select must be a table of fields")
      raises({ select = { "iccid" }, select_at = "items" }, "select: field names must be strings, found a number key")
      raises({ select = { iccid = false }, select_at = "items" },
        "select.iccid: must be true (the whole field) or a table of its fields, got false")
      raises({ select = { plan = { name = "x" } }, select_at = "items" }, "select.plan.name: must be true")
      raises({ select = { plan = { price = { [true] = true } } }, select_at = "items" },
        "select.plan.price: field names must be strings, found a boolean key")
      local cycle = {}
      cycle.a = cycle
      raises({ select = cycle, select_at = "items" }, "nested deeper than 64 levels")
    end)

    it("raises on a select_at other than \"items\" or \"item\", or one without the other", function()
      raises({ select = { a = true } }, 'select needs select_at: "items"')
      raises({ select_at = "items" }, "select_at without select")
      raises({ select = { a = true }, select_at = "list" }, 'select_at must be "items" or "item"')
      raises({ select = { a = true }, select_at = 1 }, 'select_at must be "items" or "item"')
    end)

    it("raises on a select_meta that is not a map of the select's tables to metatables", function()
      local tree = { plan = { name = true } }
      raises({ select_meta = { [tree] = {} } }, "select_meta without select")
      raises({ select = tree, select_at = "items", select_meta = "x" }, "select_meta must be a table")
      raises({ select = tree, select_at = "items", select_meta = { plan = {} } },
        "select_meta's keys must be select or tables in it, found a string key")
      raises({ select = tree, select_at = "items", select_meta = { [tree.plan] = true } },
        "select_meta's values must be metatables, found a boolean")
      raises({ select = tree, select_at = "items", select_meta = { [tree] = {}, [{ name = true }] = {} } },
        "select_meta has a key that is neither select nor a table inside it")
      -- a subtree under two names is one key: it cannot cover for a stray one
      local shared = { name = true }
      raises({ select = { a = shared, b = shared }, select_at = "items", select_meta = { [shared] = {},
        [{ name = true }] = {} } }, "select_meta has a key that is neither select nor a table inside it")
      local got = assert(json.decode('{"items":[{"a":{"name":1,"x":2},"b":{"name":3}}]}', { select = { a = shared,
        b = shared }, select_at = "items", select_meta = { [shared] = { __name = "s" } } }))
      assert.equals("s", getmetatable(got.items[1].a).__name)
      assert.equals("s", getmetatable(got.items[1].b).__name)
    end)

    it("raises, never crashes, when opts give another select_meta on a second read", function()
      local tree = { iccid = true }
      local reads = 0
      local opts = setmetatable({ select = tree, select_at = "items" }, { __index = function(_, k)
        if k ~= "select_meta" then return nil end
        reads = reads + 1
        return reads == 1 and { [tree] = {} } or { [tree] = "not a metatable" }
      end })
      local ok, err = pcall(json.decode, '{"items":[{"iccid":"1"}]}', opts)
      assert.is_false(ok)
      assert.matches("select_meta's values must be metatables, found a string", err, 1, true)
      assert.is_true(reads >= 2)
    end)

    it("then decodes as before: the shared buffers are not lost", function()
      pcall(json.decode, "{}", { select = { a = 1 }, select_at = "items" })
      check('{"items":[{"a":1,"b":2}]}', { a = true })
    end)
  end)
end)
