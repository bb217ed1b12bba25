/* The session userdata shared by session.c (options, lifetime, request
 * setup) and session_response.c (what libcurl hands back). */
#ifndef FLEXIROAM_SESSION_INTERNAL_H
#define FLEXIROAM_SESSION_INTERNAL_H

#include <curl/curl.h>

#include "buffer.h"
#include "compat.h"

typedef struct fx_session {
    CURL *easy;                  /* NULL once closed */
    CURLSH *share;
    struct curl_slist *headers;  /* this request's header lines (carry the API key) */
    fx_buffer body;              /* the response body, reused across requests */
    fx_buffer head;              /* the final response's raw header lines */
    size_t max_response;         /* cap on the body and, separately, on the header lines */
    long timeout_ms;             /* default per-request total timeout */
    int too_large;               /* set by a callback that refused data over the cap */
    int out_of_memory;           /* set by a callback whose realloc failed */
    char errbuf[CURL_ERROR_SIZE];
} fx_session;

/* CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION, with the session as data.
 * They never call into Lua: a raise there would unwind through libcurl. */
size_t fx_session_on_body(char *ptr, size_t size, size_t nmemb, void *data);
size_t fx_session_on_header(char *ptr, size_t size, size_t nitems, void *data);

/* Pushes the response table for a transfer that returned CURLE_OK. */
void fx_session_push_response(lua_State *L, fx_session *s);

/* Pushes nil and the error object for a failed transfer; returns 2. `url`
 * is reported without its query, fragment or user info. */
int fx_session_return_error(lua_State *L, fx_session *s, CURLcode code, const char *method,
                            const char *url);

#endif
