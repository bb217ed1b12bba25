#include <stdlib.h>

#include "buffer.h"

#define BUFFER_MT "flexiroam.buffer"

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
