/* core.isatty, core.terminal_size: whether a progress bar may be drawn, how
 * wide a table may be. */
#ifndef FLEXIROAM_TERMINAL_H
#define FLEXIROAM_TERMINAL_H

#include "compat.h"

/* Sets `isatty` and `terminal_size` into the table at `module`. */
void fx_terminal_register(lua_State *L, int module);

#endif
