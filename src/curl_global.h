/* What the core needs from libcurl process-wide: its one-time global init,
 * its version and features, and short names for its error codes. */
#ifndef FLEXIROAM_CURL_GLOBAL_H
#define FLEXIROAM_CURL_GLOBAL_H

#include <curl/curl.h>

#include "compat.h"

/* Runs curl_global_init once per process, whichever thread or Lua state gets
 * here first; raises if that one attempt failed. */
void fx_curl_global_init(lua_State *L);

/* Whether the running libcurl may read a freed header line when a transfer
 * on a used easy handle gets a folded first header line (curl issue
 * 11101): then each transfer needs a fresh handle. */
int fx_curl_keeps_last_header(void);

/* "COULDNT_CONNECT" for CURLE_COULDNT_CONNECT; "UNKNOWN" for codes this
 * build does not name. */
const char *fx_curl_code_name(CURLcode code);

/* core.curl_version() -> "7.88.1" */
int fx_curl_version(lua_State *L);

/* core.curl_features() -> {http2 = bool, ssl = "OpenSSL/..." or false, libz = bool} */
int fx_curl_features(lua_State *L);

#endif
