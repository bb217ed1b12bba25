/* The SDK's one error type. Failures in C are pushed as a table carrying
 * this metatable, so Lua code and C code hand the caller the same thing. */
#ifndef FLEXIROAM_ERROR_H
#define FLEXIROAM_ERROR_H

#include "compat.h"

#define FX_ERROR_MT "flexiroam.error"

/* Pushes a new error table {kind = kind, message = message}; returns its
 * absolute stack index so callers can add fields with lua_setfield. */
int fx_error_push(lua_State *L, const char *kind, const char *message);

/* Pushes nil and a new error, for `return nil, err`; returns 2. Callers may
 * still set fields on the error at the top of the stack. */
int fx_error_return(lua_State *L, const char *kind, const char *message);

/* Adds the error metatable and its methods; leaves nothing on the stack. */
void fx_error_register(lua_State *L);

#endif
