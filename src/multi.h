/* core.multi: many transfers at once over libcurl's multi interface. */
#ifndef FLEXIROAM_MULTI_H
#define FLEXIROAM_MULTI_H

#include "compat.h"

/* Sets `multi` (the constructor) into the table at `module`. */
void fx_multi_register(lua_State *L, int module);

#endif
