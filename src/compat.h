/* The few Lua C API differences between 5.1 (LuaJIT) and 5.4 that the core
 * touches, bridged here so every other file is written against one API. */
#ifndef FLEXIROAM_COMPAT_H
#define FLEXIROAM_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define FX_LUA_51 1
#define lua_rawlen(L, i) lua_objlen((L), (i))
#define luaL_setfuncs(L, l, nup) fx_compat_setfuncs((L), (l), (nup))
/* LuaJIT 2.1's lauxlib.h already has these two. */
#ifndef luaL_newlibtable
#define luaL_newlibtable(L, l) lua_createtable((L), 0, (int)(sizeof(l) / sizeof((l)[0])) - 1)
#endif
#ifndef luaL_newlib
#define luaL_newlib(L, l) (luaL_newlibtable(L, l), luaL_setfuncs(L, l, 0))
#endif
#define luaL_testudata(L, i, tname) fx_compat_testudata((L), (i), (tname))

/* 5.1 has luaL_register, which also touches package.loaded; this is the
 * plain "set these functions into the table on top" that 5.2+ offers. */
static inline void fx_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

static inline void *fx_compat_testudata(lua_State *L, int i, const char *tname)
{
    void *p = lua_touserdata(L, i);
    if (p == NULL || !lua_getmetatable(L, i))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#endif

/* Integers: 5.3+ has a separate integer subtype; 5.1/LuaJIT numbers are
 * doubles, so an integer there is exact only up to 2^53. */
#if LUA_VERSION_NUM >= 503
#define FX_HAS_INTEGERS 1
#define fx_isinteger(L, i) lua_isinteger((L), (i))
#else
#define FX_HAS_INTEGERS 0
#define fx_isinteger(L, i) 0
#endif

#if LUA_VERSION_NUM >= 504
#define fx_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 0)
#else
#define fx_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

#endif
