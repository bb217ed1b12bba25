#include <string.h>

#include "handle.h"

void fx_handle_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction release,
                    lua_CFunction tostring)
{
    if (luaL_newmetatable(L, name)) {
        if (methods != NULL) {
            lua_newtable(L);
            luaL_setfuncs(L, methods, 0);
            lua_setfield(L, -2, "__index");
        }
        lua_pushcfunction(L, release);
        lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, release);
        lua_setfield(L, -2, "__close");
#endif
        if (tostring != NULL) {
            lua_pushcfunction(L, tostring);
            lua_setfield(L, -2, "__tostring");
        }
        lua_pushstring(L, name);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

void *fx_handle_new(lua_State *L, size_t size, const char *name)
{
    void *p = fx_newuserdata(L, size);
    memset(p, 0, size);
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
    return p;
}

void fx_set_functions(lua_State *L, int module, const luaL_Reg *fns)
{
    lua_pushvalue(L, module);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
