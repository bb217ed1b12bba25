/* libFuzzer target: decode, and when that succeeds, encode and decode
 * again; the two decoded values must be deeply equal (floats compared by
 * their bits, integer and float subtypes kept apart, arrays and objects
 * kept apart). Any raise other than out of memory aborts.
 *
 * The first byte of the input picks the options, the rest is the text:
 * bit 0 encodes with sort_keys (then the output must also be stable: the
 * second value encodes to the same bytes, and object keys come out in byte
 * order), bit 1 decodes with null_as_nil (then the only encode errors
 * allowed are the arrays left with holes), bit 2 with big_integers =
 * "string". .ci/fuzz gives each seed a first byte of its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_core_state.h"

/* Returns a function(text): raises with a description on a mismatch. */
static const char checker[] =
    "local json = ...\n"
    "local pack, mtype = string.pack, math.type\n"
    "local function same(a, b, path)\n"
    "  if type(a) ~= type(b) then error(path .. ': ' .. type(a) .. ' became ' .. type(b), 0) end\n"
    "  if type(a) == 'number' then\n"
    "    if mtype(a) ~= mtype(b) then error(path .. ': ' .. mtype(a) .. ' became ' .. mtype(b), 0) end\n"
    "    local differ = mtype(a) == 'float' and pack('<d', a) ~= pack('<d', b) or a ~= b\n"
    "    if differ then error(path .. ': ' .. string.format('%.17g became %.17g', a, b), 0) end\n"
    "  elseif type(a) == 'table' then\n"
    "    if json.is_array(a) ~= json.is_array(b) then error(path .. ': array/object kind changed', 0) end\n"
    "    for k, v in pairs(a) do same(v, b[k], path .. '.' .. tostring(k)) end\n"
    "    for k in pairs(b) do if a[k] == nil then error(path .. ': new key ' .. tostring(k), 0) end end\n"
    "  elseif a ~= b then\n"
    "    error(path .. ': value changed', 0)\n"
    "  end\n"
    "end\n"
    "-- the text sort_keys must give: every object's keys in byte order (the C locale's strcoll)\n"
    "local function canon(v)\n"
    "  if type(v) ~= 'table' then return (json.encode(v)) end\n"
    "  local parts = {}\n"
    "  if json.is_array(v) then\n"
    "    for i = 1, #v do parts[i] = canon(v[i]) end\n"
    "    return '[' .. table.concat(parts, ',') .. ']'\n"
    "  end\n"
    "  local keys = {}\n"
    "  for k in pairs(v) do keys[#keys + 1] = k end\n"
    "  table.sort(keys)\n"
    "  for i, k in ipairs(keys) do parts[i] = json.encode(k) .. ':' .. canon(v[k]) end\n"
    "  return '{' .. table.concat(parts, ',') .. '}'\n"
    "end\n"
    "return function(text, flags)\n"
    "  local sort = flags % 2 == 1\n"
    "  local dopts = { null_as_nil = math.floor(flags / 2) % 2 == 1,\n"
    "                  big_integers = math.floor(flags / 4) % 2 == 1 and 'string' or nil }\n"
    "  local v1 = json.decode(text, dopts)\n"
    "  if v1 == nil then return end\n"
    "  local out, err = json.encode(v1, { sort_keys = sort })\n"
    "  if out == nil then\n"
    "    -- null_as_nil leaves holes in arrays, which the encoder must refuse\n"
    "    local m = tostring(err.message)\n"
    "    if dopts.null_as_nil and (m:find('sparse array', 1, true) or m:find('beyond its length', 1, true)) then\n"
    "      return\n"
    "    end\n"
    "    error('encode refused a decoded value: ' .. tostring(err), 0)\n"
    "  end\n"
    "  local v2, err2 = json.decode(out, dopts)\n"
    "  if v2 == nil then error('decode refused encoder output: ' .. tostring(err2) .. ' in ' .. out:sub(1, 200), 0) end\n"
    "  same(v1, v2, '$')\n"
    "  if sort and canon(v2) ~= out then error('sort_keys output out of order: ' .. out:sub(1, 200), 0) end\n"
    "end\n";

static int enabled = 1;

static lua_State *state(void)
{
    static lua_State *L;
    if (L != NULL)
        return L;
    L = fuzz_core_state();
    lua_replace(L, 1);
    lua_settop(L, 1);
    if (luaL_loadstring(L, checker) != LUA_OK) {
        fprintf(stderr, "json_roundtrip_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_replace(L, 1);
    lua_settop(L, 1);

    /* Until the encoder lands its placeholder raises "not implemented":
     * then there is nothing to round-trip, which is not a finding. */
    if (luaL_dostring(L, "return require('flexiroam.core').json.encode({})") != LUA_OK &&
        strstr(lua_tostring(L, -1), "not implemented") != NULL) {
        fprintf(stderr, "json_roundtrip_fuzz: encode is not implemented yet; every input passes\n");
        enabled = 0;
    }
    lua_settop(L, 1);
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = state();
    if (!enabled || size == 0)
        return 0;
    fuzz_check_options_and_text(L, "json_roundtrip_fuzz", data, size);
    return 0;
}
