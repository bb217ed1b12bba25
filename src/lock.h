/* core.lock(path): an exclusive, advisory lock on a file, for one writer
 * per batch journal across processes. */
#ifndef FLEXIROAM_LOCK_H
#define FLEXIROAM_LOCK_H

#include "compat.h"

/* Sets `lock` into the table at `module`. */
void fx_lock_register(lua_State *L, int module);

#endif
