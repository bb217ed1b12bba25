/* libFuzzer target for json.decode: whatever the bytes, decode must return
 * a value or nil plus a well-formed decode error. A raise (other than out
 * of memory) or a malformed answer is a bug: abort so libFuzzer keeps it.
 * Built by .ci/fuzz with every C source of src/ compiled in, so all of
 * it is instrumented. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_core_state.h"

/* Stack slots kept across inputs. */
#define DECODE 1
#define OPTS 2 /* a table of option tables, 1..NOPTS */
#define NOPTS 4

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
    lua_settop(L, OPTS);

    if (size > 0) {
        lua_pushvalue(L, DECODE);
        lua_pushlstring(L, (const char *)data, size);
        lua_rawgeti(L, OPTS, 1 + data[0] % NOPTS);
        status = lua_pcall(L, 2, 2, 0);
        check(L, status, size, 1);
        lua_settop(L, OPTS);
    }
    return 0;
}
