#include <stdlib.h>

#include "handle.h"
#include "buffer.h"

#define BUFFER_MT "flexiroam.buffer"

/* What the userdata holds: n buffers, all freed by one __gc. */
typedef struct buffer_set {
    size_t n;
    fx_buffer b[];
} buffer_set;

static int buffer_gc(lua_State *L)
{
    buffer_set *set = (buffer_set *)luaL_checkudata(L, 1, BUFFER_MT);
    size_t i;
    for (i = 0; i < set->n; i++) {
        free(set->b[i].data);
        set->b[i].data = NULL;
        set->b[i].len = set->b[i].cap = 0;
    }
    return 0;
}

fx_buffer *fx_buffers_push(lua_State *L, size_t n)
{
    buffer_set *set;
    fx_handle_type(L, BUFFER_MT, NULL, buffer_gc, NULL);
    set = (buffer_set *)fx_handle_new(L, sizeof *set + n * sizeof(fx_buffer), BUFFER_MT);
    set->n = n;
    return set->b;
}

fx_buffer *fx_buffer_push(lua_State *L)
{
    return fx_buffers_push(L, 1);
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

int fx_buffer_terminate(fx_buffer *b)
{
    if (b->cap <= b->len) {
        char *data = (char *)realloc(b->data, b->len + 1);
        if (data == NULL)
            return 0;
        b->data = data;
        b->cap = b->len + 1;
    }
    b->data[b->len] = '\0';
    return 1;
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

int fx_scratch_should_shrink(unsigned *idle, size_t held, size_t cap, size_t used, size_t keep)
{
    if (held <= keep || used >= cap / 4) {
        *idle = 0;
        return 0;
    }
    if (++*idle < FX_SCRATCH_IDLE_CALLS)
        return 0;
    *idle = 0;
    return 1;
}

fx_buffer *fx_buffers_take(lua_State *L, int upvalue, size_t n)
{
    buffer_set *set;
    lua_pushvalue(L, upvalue);
    set = (buffer_set *)lua_touserdata(L, -1);
    if (set == NULL) {
        lua_pop(L, 1);
        return fx_buffers_push(L, n);
    }
    lua_pushnil(L);
    lua_replace(L, upvalue);
    return set->b;
}

void fx_buffers_give_back(lua_State *L, int idx, int upvalue)
{
    lua_pushvalue(L, idx);
    lua_replace(L, upvalue);
}
