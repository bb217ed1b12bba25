/* Reading the option tables the core's functions take (core.session,
 * core.multi, json.decode, json.encode): one place for "absent means the
 * default", the type and range checks, and their messages. Every reader
 * raises with luaL_argerror on argument `arg`, which must be a table. */
#ifndef FLEXIROAM_OPTIONS_H
#define FLEXIROAM_OPTIONS_H

#include "compat.h"

/* Pushes t[field] and returns 1, or pushes nothing and returns 0 when it is nil. */
int fx_opt_push(lua_State *L, int arg, const char *field);

/* An integer in [min, max], or `def` when absent. */
long fx_opt_integer(lua_State *L, int arg, const char *field, long def, long min, long max);

/* A boolean, or `def` when absent. */
int fx_opt_boolean(lua_State *L, int arg, const char *field, int def);

/* A string without NUL bytes (for C APIs), or NULL when absent; it stays
 * referenced by the table at `arg`, so it lives as long as that does. */
const char *fx_opt_string(lua_State *L, int arg, const char *field);

/* The index in `names` (NULL-terminated) of a string, or `def` when absent. */
int fx_opt_choice(lua_State *L, int arg, const char *field, const char *const names[], int def);

/* Raises on a key `known` (NULL-terminated) does not list: a misspelt
 * `timeout` would otherwise be silently ignored. "unknown field 'x'". */
void fx_opt_check_keys(lua_State *L, int arg, const char *const known[]);

/* The same, naming the keys `noun`s ("unknown option 'x'") and adding
 * `takes` (what the function does take; NULL for nothing) to the message.
 * luaL_argerror is luaL_error at level 1: the message names the Lua line
 * that called the C function. */
void fx_opt_check_names(lua_State *L, int arg, const char *const known[], const char *noun, const char *takes);

#endif
