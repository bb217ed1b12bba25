/* core.sleep and core.monotonic: the retry loop's clock, so waiting between
 * attempts needs neither LuaSocket nor a busy loop nor a shell. */
#ifndef FLEXIROAM_CLOCK_H
#define FLEXIROAM_CLOCK_H

#include "compat.h"

/* Sets module.sleep and module.monotonic; leaves the stack as it was. */
void fx_clock_register(lua_State *L, int module);

#endif
