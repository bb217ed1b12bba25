#include <string.h>

#include "options.h"

int fx_opt_push(lua_State *L, int arg, const char *field)
{
    lua_getfield(L, arg, field);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    return 0;
}

long fx_opt_integer(lua_State *L, int arg, const char *field, long def, long min, long max)
{
    lua_Number d;
    if (!fx_opt_push(L, arg, field))
        return def;
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s must be an integer, got %s", field, luaL_typename(L, -1)));
    d = lua_tonumber(L, -1);
    if (!(d >= (lua_Number)min && d <= (lua_Number)max) || (lua_Number)(long)d != d)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s must be an integer from %d to %d, got %s", field, (int)min,
                                      (int)max, lua_tostring(L, -1)));
    lua_pop(L, 1);
    return (long)d;
}

int fx_opt_boolean(lua_State *L, int arg, const char *field, int def)
{
    int b;
    if (!fx_opt_push(L, arg, field))
        return def;
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a boolean, got %s", field, luaL_typename(L, -1)));
    b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

const char *fx_opt_string(lua_State *L, int arg, const char *field)
{
    const char *s;
    size_t len;
    if (!fx_opt_push(L, arg, field))
        return NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a string, got %s", field, luaL_typename(L, -1)));
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must not contain NUL bytes", field));
    lua_pop(L, 1);
    return s;
}

int fx_opt_choice(lua_State *L, int arg, const char *field, const char *const names[], int def)
{
    const char *s;
    int i;
    luaL_Buffer b;
    if (!fx_opt_push(L, arg, field))
        return def;
    s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0) {
            lua_pop(L, 1);
            return i;
        }
    /* "big_integers must be \"float\", \"string\" or \"error\"" */
    luaL_buffinit(L, &b);
    luaL_addstring(&b, field);
    luaL_addstring(&b, " must be ");
    for (i = 0; names[i] != NULL; i++) {
        if (i > 0)
            luaL_addstring(&b, names[i + 1] != NULL ? ", " : " or ");
        luaL_addchar(&b, '"');
        luaL_addstring(&b, names[i]);
        luaL_addchar(&b, '"');
    }
    luaL_pushresult(&b);
    return luaL_argerror(L, arg, lua_tostring(L, -1));
}

void fx_opt_check_names(lua_State *L, int arg, const char *const known[], const char *noun, const char *takes)
{
    const char *sep = takes != NULL ? ": " : "";
    if (takes == NULL)
        takes = "";
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *key;
        int i;
        lua_pop(L, 1);
        /* before lua_tostring, which would turn a number key into a string under lua_next */
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, arg, lua_pushfstring(L, "%s names are strings, found a %s key%s%s", noun,
                                                   luaL_typename(L, -1), sep, takes));
        key = lua_tostring(L, -1);
        for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
            ;
        if (known[i] == NULL)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown %s '%s'%s%s", noun, key, sep, takes));
    }
}

void fx_opt_check_keys(lua_State *L, int arg, const char *const known[])
{
    fx_opt_check_names(L, arg, known, "field", NULL);
}
