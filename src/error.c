#include <string.h>

#include "error.h"

int fx_error_push(lua_State *L, const char *kind, const char *message)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    luaL_getmetatable(L, FX_ERROR_MT);
    lua_setmetatable(L, -2);
    return lua_gettop(L);
}

int fx_error_return(lua_State *L, const char *kind, const char *message)
{
    lua_pushnil(L);
    fx_error_push(L, kind, message);
    return 2;
}

/* Appends " <label><value><close>" when the field is a string or number;
 * returns how many strings it pushed (0 or 1). */
static int push_detail(lua_State *L, int err, const char *name, const char *label, const char *close)
{
    lua_getfield(L, err, name);
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        const char *value = lua_tostring(L, -1);
        lua_pushfstring(L, "%s%s%s", label, value, close);
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    return 0;
}

/* One readable line: "flexiroam: <kind>: <message> [status 404] GET /path".
 * Built only from named fields, so nothing else in the table (and never a
 * request header) can leak into a log line through tostring. */
static int error_tostring(lua_State *L)
{
    int n = 1;
    const char *kind, *message;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    kind = lua_tostring(L, 2);
    message = lua_tostring(L, 3);
    lua_pushfstring(L, "flexiroam: %s: %s", kind ? kind : "error", message ? message : "(no message)");
    lua_replace(L, 2);
    lua_settop(L, 2);
    n += push_detail(L, 1, "status", " [status ", "]");
    n += push_detail(L, 1, "code", " [code ", "]");
    n += push_detail(L, 1, "method", " ", "");
    {
        /* The client names the API path; a bare session error has the URL. */
        int with_path = push_detail(L, 1, "path", " ", "");
        n += with_path ? with_path : push_detail(L, 1, "url", " ", "");
    }
    n += push_detail(L, 1, "offset", " at byte ", "");
    /* Retries are news; a single attempt is the rule and says nothing. */
    lua_getfield(L, 1, "attempts");
    if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 1 && lua_tonumber(L, -1) < 1e6) {
        lua_pushfstring(L, " after %d attempts", (int)lua_tonumber(L, -1));
        lua_remove(L, -2);
        n++;
    } else {
        lua_pop(L, 1);
    }
    n += push_detail(L, 1, "reference", " [reference ", "]");
    lua_concat(L, n);
    return 1;
}

void fx_error_register(lua_State *L)
{
    if (luaL_newmetatable(L, FX_ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "flexiroam.error");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}
