/* core.read_private_file: a secret read only from a file nobody else can read. */
#ifndef FLEXIROAM_PRIVATE_FILE_H
#define FLEXIROAM_PRIVATE_FILE_H

#include "compat.h"

/* Sets `read_private_file` into the table at `module`. */
void fx_private_file_register(lua_State *L, int module);

#endif
