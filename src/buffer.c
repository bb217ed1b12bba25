#include <stdlib.h>

#include "buffer.h"

#define BUFFER_MT "flexiroam.buffer"
#define BUSY_MT "flexiroam.busy"

static int buffer_gc(lua_State *L)
{
    fx_buffer *b = (fx_buffer *)luaL_checkudata(L, 1, BUFFER_MT);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}

fx_buffer *fx_buffer_push(lua_State *L)
{
    fx_buffer *b = (fx_buffer *)fx_newuserdata(L, sizeof *b);
    b->data = NULL;
    b->len = b->cap = 0;
    if (luaL_newmetatable(L, BUFFER_MT)) {
        lua_pushcfunction(L, buffer_gc);
        lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, buffer_gc);
        lua_setfield(L, -2, "__close");
#endif
    }
    lua_setmetatable(L, -2);
    return b;
}

void fx_buffer_grow(lua_State *L, fx_buffer *b, size_t extra)
{
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    char *data;
    if (need < b->len)
        luaL_error(L, "buffer size overflow");
    while (cap < need) {
        if (cap > ((size_t)-1) / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    data = (char *)realloc(b->data, cap);
    if (data == NULL)
        luaL_error(L, "not enough memory");
    b->data = data;
    b->cap = cap;
}

void fx_buffer_shrink(fx_buffer *b, size_t keep)
{
    if (b->cap > keep) {
        char *data = (char *)realloc(b->data, keep);
        if (data != NULL || keep == 0) {
            b->data = data;
            b->cap = keep;
            if (b->len > keep)
                b->len = keep;
        }
    }
}

#if LUA_VERSION_NUM >= 504
static int busy_close(lua_State *L)
{
    *(int *)lua_touserdata(L, 1) = 0;
    return 0;
}
#endif

int *fx_busy_push(lua_State *L)
{
    int *busy = (int *)fx_newuserdata(L, sizeof *busy);
    *busy = 0;
#if LUA_VERSION_NUM >= 504
    if (luaL_newmetatable(L, BUSY_MT)) {
        lua_pushcfunction(L, busy_close);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
#endif
    return busy;
}

void fx_busy_enter(lua_State *L, int idx)
{
    int *busy = (int *)lua_touserdata(L, idx);
#if LUA_VERSION_NUM >= 504
    lua_pushvalue(L, idx);
    lua_toclose(L, -1);
#endif
    *busy = 1;
}
