/* libFuzzer target for json.decode: whatever the bytes, decode must return
 * a value or nil plus a well-formed decode error. A raise (other than out
 * of memory) or a malformed answer is a bug: abort so libFuzzer keeps it.
 * Built by .ci/fuzz with every C source of src/ compiled in, so all of
 * it is instrumented.
 *
 * Then the same text with a fixed select tree (opts.select; select_at
 * "items" or "item" by the first byte, a small tree or one past the size
 * that gets a hash table): the selective decode must refuse exactly what
 * the full decode refuses, with the same message, offset and excerpt, and
 * otherwise give the full decode restricted by the tree (the oracle of
 * spec/selective_decode_spec.lua, written again below); for a text of even
 * length, through opts.select_meta too (for every (sub)tree, or for every
 * other level of them), each object with the metatable of the (sub)tree
 * that restricted it when it has one, every other one with none. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_core_state.h"

/* Stack slots kept across inputs. */
#define DECODE 1
#define OPTS 2 /* a table of option tables, 1..NOPTS */
#define NOPTS 4
#define SELECT_CHECK 3 /* function(text, flags): raises on a difference */

/* Returns function(text, flags); flags bit 0: select_at "item" (else
 * "items"), bit 1: the wide tree, bits 2-3: big_integers. (The last byte
 * of a JSON text has bit 4 set whether it is '}' or ']', hence the length
 * for select_meta.) */
static const char select_checker[] =
    "local json = require('flexiroam.core').json\n"
    "local mtype = math.type\n"
    "local small = { a = true, iccid = true, plan = { name = true, price = { currency = true } },\n"
    "  b = { c = true, d = { e = true } }, items = { a = true }, [''] = true }\n"
    "local wide = { x = { y = true } }\n"
    "for c in ('abcdefghijklmnopq'):gmatch('.') do wide[c] = c < 'h' and true or { a = true, b = { c = true } } end\n"
    "local function metas_of(t, every, m, depth)\n"
    "  m, depth = m or {}, depth or 0\n"
    "  if every or depth % 2 == 0 then m[t] = { t = t } end\n"
    "  for _, s in pairs(t) do if s ~= true then metas_of(s, every, m, depth + 1) end end\n"
    "  return m\n"
    "end\n"
    "local metas_by_tree = { [small] = { metas_of(small, true), metas_of(small, false) },\n"
    "  [wide] = { metas_of(wide, true), metas_of(wide, false) } }\n"
    "local with_metas, metas\n"
    "local function restrict(value, tree)\n"
    "  if type(value) ~= 'table' then return value end\n"
    "  if json.is_array(value) then\n"
    "    local out = json.array()\n"
    "    for i = 1, #value do out[i] = restrict(value[i], tree) end\n"
    "    return out\n"
    "  end\n"
    "  local out = {}\n"
    "  for name, sub in pairs(tree) do\n"
    "    local v = rawget(value, name)\n"
    "    if v ~= nil then out[name] = sub == true and v or restrict(v, sub) end\n"
    "  end\n"
    "  return with_metas and setmetatable(out, metas[tree]) or out\n"
    "end\n"
    "local function is_object(v) return type(v) == 'table' and not json.is_array(v) end\n"
    "local function same(a, b, path)\n"
    "  if type(a) ~= type(b) then error(path .. ': ' .. type(a) .. ' became ' .. type(b), 0) end\n"
    "  if type(a) == 'table' then\n"
    "    if json.is_array(a) ~= json.is_array(b) then error(path .. ': array/object kind changed', 0) end\n"
    "    if getmetatable(a) ~= getmetatable(b) then error(path .. ': not the metatable of its tree', 0) end\n"
    "    for k, v in pairs(a) do same(v, rawget(b, k), path .. '.' .. tostring(k)) end\n"
    "    for k in pairs(b) do if rawget(a, k) == nil then error(path .. ': extra key ' .. tostring(k), 0) end end\n"
    "  elseif a ~= b or mtype(a) ~= mtype(b) then\n"
    "    error(path .. ': ' .. tostring(a) .. ' became ' .. tostring(b), 0)\n"
    "  end\n"
    "end\n"
    "local bigs = { 'float', 'string', 'error', 'string' }\n"
    "return function(text, flags)\n"
    "  local at = flags % 2 == 1 and 'item' or 'items'\n"
    "  local tree = math.floor(flags / 2) % 2 == 1 and wide or small\n"
    "  local opts = { big_integers = bigs[math.floor(flags / 4) % 4 + 1] }\n"
    "  local full, ferr = json.decode(text, opts)\n"
    "  with_metas, metas = #text % 2 == 0, metas_by_tree[tree][#text % 4 == 0 and 1 or 2]\n"
    "  opts.select, opts.select_at, opts.select_meta = tree, at, with_metas and metas or nil\n"
    "  local got, gerr = json.decode(text, opts)\n"
    "  if full == nil then\n"
    "    if got ~= nil or gerr == nil or gerr.message ~= ferr.message or gerr.offset ~= ferr.offset\n"
    "       or gerr.excerpt ~= ferr.excerpt then\n"
    "      error('select: full decode said ' .. tostring(ferr) .. ', selective ' .. tostring(gerr), 0)\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  if got == nil then error('select refused what the full decode took: ' .. tostring(gerr), 0) end\n"
    "  local want = full\n"
    "  if is_object(full) then\n"
    "    want = {}\n"
    "    for k, v in pairs(full) do want[k] = v end\n"
    "    local v = full[at]\n"
    "    if at == 'items' and type(v) == 'table' and json.is_array(v) then\n"
    "      want.items = json.array()\n"
    "      for i = 1, #v do want.items[i] = is_object(v[i]) and restrict(v[i], tree) or v[i] end\n"
    "    elseif at == 'item' and is_object(v) then\n"
    "      want.item = restrict(v, tree)\n"
    "    end\n"
    "  end\n"
    "  same(want, got, '$')\n"
    "end\n";

static void bug(lua_State *L, const char *what, size_t size)
{
    fprintf(stderr, "json_decode_fuzz: %s (input of %zu bytes): %s\n", what, size,
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)");
    abort();
}

static void set_opts(lua_State *L, int i, int null_as_nil, const char *big, int max_depth)
{
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, null_as_nil);
    lua_setfield(L, -2, "null_as_nil");
    lua_pushstring(L, big);
    lua_setfield(L, -2, "big_integers");
    lua_pushinteger(L, max_depth);
    lua_setfield(L, -2, "max_depth");
    lua_rawseti(L, OPTS, i);
}

static lua_State *state(void)
{
    static lua_State *L;
    if (L != NULL)
        return L;
    L = fuzz_core_state();
    lua_getfield(L, -1, "decode");
    lua_replace(L, DECODE);
    lua_settop(L, DECODE);
    lua_createtable(L, NOPTS, 0);
    set_opts(L, 1, 1, "float", 1000);
    set_opts(L, 2, 0, "string", 1000);
    set_opts(L, 3, 0, "error", 8);
    set_opts(L, 4, 1, "string", 2);
    if (luaL_loadstring(L, select_checker) != LUA_OK) {
        fprintf(stderr, "json_decode_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_call(L, 0, 1);
    return L;
}

/* Checks the answer of one decode call at the top of the stack. */
static void check(lua_State *L, int status, size_t size, int nil_ok)
{
    lua_Integer offset;
    if (status == LUA_ERRMEM)
        return;
    if (status != LUA_OK)
        bug(L, "decode raised", size);
    if (!lua_isnil(L, -2)) {
        if (!lua_isnil(L, -1))
            bug(L, "value and error both set", size);
        return;
    }
    if (lua_isnil(L, -1)) {
        if (!nil_ok)
            bug(L, "nil without an error", size);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        bug(L, "error is not a table", size);
    lua_getfield(L, -1, "kind");
    if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "decode") != 0)
        bug(L, "error kind is not decode", size);
    lua_pop(L, 1);
    lua_getfield(L, -1, "offset");
    offset = lua_tointeger(L, -1);
    if (!lua_isinteger(L, -1) || offset < 1 || (size_t)offset > size + 1)
        bug(L, "error offset out of range", size);
    lua_pop(L, 1);
    lua_getfield(L, -1, "excerpt");
    if (lua_type(L, -1) != LUA_TSTRING)
        bug(L, "excerpt is not a string", size);
    {
        size_t n, i;
        const char *s = lua_tolstring(L, -1, &n);
        for (i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                bug(L, "excerpt is not printable", size);
    }
    lua_pop(L, 1);
    if (luaL_tolstring(L, -1, NULL) == NULL || strstr(lua_tostring(L, -1), "decode") == NULL)
        bug(L, "tostring(err) lacks the kind", size);
    lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = state();
    int status;

    lua_pushvalue(L, DECODE);
    lua_pushlstring(L, (const char *)data, size);
    status = lua_pcall(L, 1, 2, 0);
    check(L, status, size, 0);
    lua_settop(L, SELECT_CHECK);

    if (size > 0) {
        lua_pushvalue(L, DECODE);
        lua_pushlstring(L, (const char *)data, size);
        lua_rawgeti(L, OPTS, 1 + data[0] % NOPTS);
        status = lua_pcall(L, 2, 2, 0);
        check(L, status, size, 1);
        lua_settop(L, SELECT_CHECK);

        lua_pushvalue(L, SELECT_CHECK);
        lua_pushlstring(L, (const char *)data, size);
        lua_pushinteger(L, data[size - 1]);
        status = lua_pcall(L, 2, 0, 0);
        if (status != LUA_OK && status != LUA_ERRMEM)
            bug(L, "selective decode differs", size);
        lua_settop(L, SELECT_CHECK);
    }
    return 0;
}
