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

/* Pushes a new userdata holding one empty buffer and returns the buffer. */
fx_buffer *fx_buffer_push(lua_State *L);

/* The same with n buffers in one userdata; returns the first of them. */
fx_buffer *fx_buffers_push(lua_State *L, size_t n);

/* Makes room for `extra` more bytes; raises a Lua memory error on failure. */
void fx_buffer_grow(lua_State *L, fx_buffer *b, size_t extra);

/* Writes a NUL after the buffer's bytes (not counted in len), growing it
 * by one byte if it must, without Lua (plain realloc): 1, or 0 when there
 * was no memory for it. */
int fx_buffer_terminate(fx_buffer *b);

/* Gives back memory above `keep` bytes so one huge call does not pin a huge
 * scratch buffer for the life of the state. */
void fx_buffer_shrink(fx_buffer *b, size_t keep);

/* Scratch memory that grows with the size of an answer (the encoder's
 * output, a session's response body) is kept from one call to the next:
 * growing it again for every big answer (a realloc at every doubling, each
 * a copy, and fresh pages, each page a fault) cost more than the work done
 * in it once answers were about a megabyte; on this project's virtual
 * machine a session fetching the 1000-SIM page went from 430 to 1650 calls
 * a second when the body buffer stopped shrinking after every call.
 * The caller holds `held` bytes (its largest buffer); `cap` is its main
 * buffer's capacity and `used` what this call used of it. Memory held
 * above `keep` bytes is given back only after FX_SCRATCH_IDLE_CALLS calls
 * in a row have used under a quarter of `cap`: a run of big answers keeps
 * it, one big answer among small ones does not pin it for long once calls
 * go on (a caller that may sit idle after one big answer caps what it
 * keeps as well: see session.c). Returns 1 when the caller should shrink
 * its buffers to `keep` now; `idle` is the caller's count of such calls. */
#define FX_SCRATCH_IDLE_CALLS 8
int fx_scratch_should_shrink(unsigned *idle, size_t held, size_t cap, size_t used, size_t keep);

/* Scratch buffers shared across calls live in an upvalue of the function
 * that uses them (one fx_buffers_push userdata), and a call takes them out,
 * leaving the upvalue nil, until it gives them back. A __gc finalizer run
 * by a Lua allocation in the middle of a call may call the same function:
 * that nested call finds the upvalue empty and makes fresh buffers instead
 * of trampling the outer call's. So does the call after one that raised
 * half-way (a memory error): the buffers that call held are garbage, and
 * the fresh ones are shared from then on, so nothing stays "busy".
 *
 * fx_buffers_take pushes the userdata (taken from the upvalue, or new with
 * n buffers), which keeps it alive for the call, and returns its first
 * buffer; fx_buffers_give_back stores the userdata at `idx` into the
 * upvalue again. Nothing allocates from Lua between looking at the upvalue
 * and emptying it. */
fx_buffer *fx_buffers_take(lua_State *L, int upvalue, size_t n);
void fx_buffers_give_back(lua_State *L, int idx, int upvalue);

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
