/* Every C object the core hands to Lua (session, multi, scratch buffers) is
 * a userdata whose metatable releases it on __gc and, on 5.4, on __close:
 * this is the one place that rule is written. */
#ifndef FLEXIROAM_HANDLE_H
#define FLEXIROAM_HANDLE_H

#include "compat.h"

/* Creates the metatable `name` once (later calls find it in the registry):
 * __index = methods (may be NULL), __gc and __close = release, __tostring
 * (may be NULL), __name. Leaves nothing on the stack. */
void fx_handle_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction release,
                    lua_CFunction tostring);

/* A zeroed userdata of `size` bytes with the metatable `name` (made by
 * fx_handle_type), left on the stack: its __gc exists before anything it
 * will own, so a raise while filling it in still frees what was made. */
void *fx_handle_new(lua_State *L, size_t size, const char *name);

/* Sets the functions of `fns` (NULL-terminated) into the table at index
 * `module`: how each piece of the core adds its constructors and functions. */
void fx_set_functions(lua_State *L, int module, const luaL_Reg *fns);

#endif
