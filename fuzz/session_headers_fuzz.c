/* libFuzzer target for the response header parser (fx_session_push_headers),
 * fed the raw header block libcurl would hand over. Whatever the bytes, it
 * must return a table of names that are non-empty lowercase tokens, each
 * naming a line of the input, and values without CR, LF or NUL and without
 * surrounding whitespace. A raise (other than out of memory) or a table
 * breaking those rules is a bug: abort so libFuzzer keeps the input.
 * Built by .ci/fuzz with every C source of src/ compiled in. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "session_internal.h"

static const char *problem;

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Whether `name` (lowercase) starts a line of the input, case aside. */
static int starts_a_line(const char *in, size_t len, const char *name, size_t n)
{
    size_t i = 0;
    while (i < len) {
        size_t j;
        for (j = 0; j < n && i + j < len; j++) {
            char c = in[i + j];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != name[j])
                break;
        }
        if (j == n && i + n < len && in[i + n] == ':')
            return 1;
        while (i < len && in[i] != '\n')
            i++;
        i++;
    }
    return 0;
}

/* Stack: 1 the input. */
static int run(lua_State *L)
{
    size_t len, n, v, i;
    const char *in = lua_tolstring(L, 1, &len);
    char *copy = (char *)lua_newuserdata(L, len + 1);
    memcpy(copy, in, len);
    fx_session_push_headers(L, copy, len);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *name, *value;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            problem = "a name or value is not a string";
            return 0;
        }
        name = lua_tolstring(L, -2, &n);
        value = lua_tolstring(L, -1, &v);
        if (n == 0) {
            problem = "empty name";
            return 0;
        }
        for (i = 0; i < n; i++)
            if (!is_tchar((unsigned char)name[i])) {
                problem = "name is not a lowercase token";
                return 0;
            }
        if (!starts_a_line(in, len, name, n)) {
            problem = "name does not start a line of the input";
            return 0;
        }
        for (i = 0; i < v; i++)
            if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
                problem = "value holds CR, LF or NUL";
                return 0;
            }
        if (v > 0 && (value[0] == ' ' || value[0] == '\t' || value[v - 1] == ' ' || value[v - 1] == '\t')) {
            problem = "value keeps surrounding whitespace";
            return 0;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    int status;
    if (L == NULL) {
        L = luaL_newstate();
        if (L == NULL)
            abort();
    }
    problem = NULL;
    lua_settop(L, 0);
    lua_pushcfunction(L, run);
    lua_pushlstring(L, (const char *)data, size);
    status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK && status != LUA_ERRMEM) {
        fprintf(stderr, "session_headers_fuzz: raised: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (problem != NULL) {
        fprintf(stderr, "session_headers_fuzz: %s (input of %zu bytes)\n", problem, size);
        abort();
    }
    return 0;
}
