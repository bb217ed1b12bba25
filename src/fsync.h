/* core.fsync: makes a file's written data (or a directory's entries)
 * durable, for the batch journal's started lines. */
#ifndef FLEXIROAM_FSYNC_H
#define FLEXIROAM_FSYNC_H

#include "compat.h"

/* Sets `fsync` into the table at `module`. */
void fx_fsync_register(lua_State *L, int module);

#endif
