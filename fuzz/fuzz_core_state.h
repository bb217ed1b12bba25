/* The Lua state the JSON fuzz targets share between inputs: the standard
 * libraries and flexiroam.core (compiled in with src/, see .ci/fuzz). */
#ifndef FLEXIROAM_FUZZ_CORE_STATE_H
#define FLEXIROAM_FUZZ_CORE_STATE_H

#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_flexiroam_core(lua_State *L);

/* A new state with core.json on top of the stack (core under it); aborts
 * when there is no memory for it. */
static lua_State *fuzz_core_state(void)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    luaL_requiref(L, "flexiroam.core", luaopen_flexiroam_core, 0);
    lua_getfield(L, -1, "json");
    return L;
}

#endif
