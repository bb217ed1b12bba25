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

/* The options core.session and core.multi take (strings stay owned by the
 * options table on the stack). */
typedef struct fx_session_opts {
    long connect_timeout_ms, timeout_ms, low_speed_bytes, low_speed_ms, max_response;
    int verify;
    const char *ca_file, *ca_path, *proxy, *user_agent;
} fx_session_opts;

/* Reads the options table at stack index 1 (none: defaults); raises on
 * unknown keys and bad values. Leaves the table at 1, alone on the stack. */
void fx_session_read_opts(lua_State *L, fx_session_opts *o);

/* Sets every handle-wide option on s->easy (and s->share, when set). */
void fx_session_configure(lua_State *L, fx_session *s, const fx_session_opts *o);

/* Points the handle's callbacks and error buffer at s: after configure, and
 * again for a handle duplicated from another (curl_easy_duphandle). */
void fx_session_bind(lua_State *L, fx_session *s);

/* Reads the request table at stack index 2 and sets it on s->easy, ready
 * to perform; raises on misuse. Leaves 3 method, 4 url, 5 body, 6 headers
 * on the stack; returns the method (fx_session_method_name). */
int fx_session_prepare(lua_State *L, fx_session *s);

const char *fx_session_method_name(int method);

/* After a transfer: frees its header list, and buffer memory above what is
 * kept for the next one. */
void fx_session_drop_headers(fx_session *s);
void fx_session_reset_buffers(fx_session *s);

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
