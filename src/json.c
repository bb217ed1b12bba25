#include "handle.h"
#include "json.h"
#include "utf8_check.h"

const char fx_json_empty_array_tag = 0;

/* json.array([t]) marks t (or a new table) as a JSON array, so it encodes
 * as [] even when empty. */
static int json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    lua_setmetatable(L, 1);
    return 1;
}

/* Whether the table at idx has the metatable at array_mt
 * (FX_JSON_ARRAY_MT's): what tells a decoded array from an object, in
 * json.is_array and json.first_non_object (whose callers know it is a
 * table: the type is asked once a value). */
static int marked_array(lua_State *L, int idx, int array_mt)
{
    int yes = 0;
    if (lua_getmetatable(L, idx)) {
        yes = lua_rawequal(L, -1, array_mt);
        lua_pop(L, 1);
    }
    return yes;
}

static int json_is_array(lua_State *L)
{
    lua_settop(L, 1);
    luaL_getmetatable(L, FX_JSON_ARRAY_MT); /* 2 */
    lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && marked_array(L, 1, 2));
    return 1;
}

/* json.first_non_object(list) -> the index of list's first element (1 to
 * its raw length) that is not a JSON object, or nil: one that is not a
 * table, or is a table marked as an array. A list answer's shape check, in
 * C: in Lua (type, then is_array) it cost 42 ns a record, here 10. */
static int json_first_non_object(lua_State *L)
{
    lua_Integer i, n;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_getmetatable(L, FX_JSON_ARRAY_MT); /* 2 */
    n = (lua_Integer)lua_rawlen(L, 1);
    for (i = 1; i <= n; i++) {
        int object;
        lua_rawgeti(L, 1, i);
        object = lua_type(L, -1) == LUA_TTABLE && !marked_array(L, -1, 2);
        lua_pop(L, 1);
        if (!object) {
            lua_pushinteger(L, i);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

static const luaL_Reg json_functions[] = {{"array", json_array},
                                          {"is_array", json_is_array},
                                          {"first_non_object", json_first_non_object},
                                          {NULL, NULL}};

void fx_json_open(lua_State *L)
{
    int module;
    if (luaL_newmetatable(L, FX_JSON_ARRAY_MT)) {
        lua_pushliteral(L, "array");
        lua_setfield(L, -2, "__jsontype");
    }
    lua_pop(L, 1);

    lua_createtable(L, 0, 10);
    module = lua_gettop(L);
    fx_json_decode_register(L, module);
    fx_json_encode_register(L, module);
    fx_set_functions(L, module, json_functions);
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    lua_setfield(L, module, "array_mt");
    fx_json_pushnull(L);
    lua_setfield(L, module, "null");
    fx_json_push_empty_array(L);
    lua_setfield(L, module, "empty_array");
    /* decode takes opts.select and opts.select_at (flexiroam.fields uses
     * them when this is true; without it, it restricts after a full decode) */
    lua_pushboolean(L, 1);
    lua_setfield(L, module, "can_select");
    /* whether strings take the SSSE3 paths (utf8_lookup.h) on this CPU:
     * false without SSSE3, or with FLEXIROAM_JSON_PORTABLE=1 in the
     * environment (the same answers, one character at a time) */
    lua_pushboolean(L, fx_utf8_have_ssse3());
    lua_setfield(L, module, "simd");
}
