/* The HTTP session: one libcurl easy handle (kept alive across requests)
 * plus a share handle, owned by a userdata. */
#ifndef FLEXIROAM_SESSION_H
#define FLEXIROAM_SESSION_H

#include "compat.h"

/* Sets `session` (the constructor), `curl_version` and `curl_features` into
 * the table at `module`. */
void fx_session_register(lua_State *L, int module);

#endif
