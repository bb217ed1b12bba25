/* core.isatty: whether a progress bar may be drawn. */
#ifndef FLEXIROAM_TERMINAL_H
#define FLEXIROAM_TERMINAL_H

#include "compat.h"

/* Sets `isatty` into the table at `module`. */
void fx_terminal_register(lua_State *L, int module);

#endif
