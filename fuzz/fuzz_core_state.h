/* The Lua state the fuzz targets keep between inputs: the standard
 * libraries and flexiroam.core (compiled in with src/, see .ci/fuzz); and
 * the call of a Lua checker that most of them make per input. */
#ifndef FLEXIROAM_FUZZ_CORE_STATE_H
#define FLEXIROAM_FUZZ_CORE_STATE_H

#include <stdint.h>
#include <stdio.h>
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

/* Calls the checker at index 1 with (the input after its first byte, that
 * byte as an integer: the options it picks) and empties the stack down to
 * it again. A raise other than out of memory is a finding: abort, naming
 * `target`, so libFuzzer keeps the input. */
static void fuzz_check_options_and_text(lua_State *L, const char *target, const uint8_t *data, size_t size)
{
    int status;
    lua_pushvalue(L, 1);
    lua_pushlstring(L, (const char *)data + 1, size - 1);
    lua_pushinteger(L, data[0]);
    status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK && status != LUA_ERRMEM) {
        fprintf(stderr, "%s: %s (input of %zu bytes, options byte %u)\n", target, lua_tostring(L, -1), size,
                (unsigned)data[0]);
        abort();
    }
    lua_settop(L, 1);
}

#endif
