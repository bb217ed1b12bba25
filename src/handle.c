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
