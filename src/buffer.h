/* A growable byte buffer whose memory belongs to a Lua userdata, so a Lua
 * error thrown half-way through encoding or decoding never leaks it: the
 * collector frees it through __gc. */
#ifndef FLEXIROAM_BUFFER_H
#define FLEXIROAM_BUFFER_H

#include <stddef.h>
#include <string.h>

#include "compat.h"

typedef struct fx_buffer {
    char *data;
    size_t len;
    size_t cap;
} fx_buffer;

/* Pushes a new, empty buffer userdata and returns it. */
fx_buffer *fx_buffer_push(lua_State *L);

/* Makes room for `extra` more bytes; raises a Lua memory error on failure. */
void fx_buffer_grow(lua_State *L, fx_buffer *b, size_t extra);

/* Gives back memory above `keep` bytes so one huge call does not pin a huge
 * scratch buffer for the life of the state. */
void fx_buffer_shrink(fx_buffer *b, size_t keep);

/* A flag that marks a closure's shared scratch buffers as in use: a __gc
 * finalizer run by a Lua allocation in the middle of a call may call the
 * same function again, and that nested call must take fresh buffers
 * instead of trampling the outer call's. */
int *fx_busy_push(lua_State *L);

/* Sets the flag userdata at `idx` (an upvalue index works). On Lua 5.4 it
 * also pushes the flag as a to-be-closed slot whose __close clears it, so a
 * raise in the middle of the call (a memory error) cannot leave the flag
 * set; pushes nothing on 5.1, where a raise leaves it set and every later
 * call then takes fresh buffers: correct, only slower. Callers still clear
 * the flag themselves once done with the buffers. */
void fx_busy_enter(lua_State *L, int idx);

static inline void fx_buffer_reserve(lua_State *L, fx_buffer *b, size_t extra)
{
    if (b->cap - b->len < extra)
        fx_buffer_grow(L, b, extra);
}

static inline void fx_buffer_add(lua_State *L, fx_buffer *b, const char *s, size_t n)
{
    if (n == 0) /* memcpy into a never-allocated buffer is UB even for 0 bytes */
        return;
    fx_buffer_reserve(L, b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void fx_buffer_addchar(lua_State *L, fx_buffer *b, char c)
{
    fx_buffer_reserve(L, b, 1);
    b->data[b->len++] = c;
}

#endif
