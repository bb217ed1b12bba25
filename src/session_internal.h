/* The session userdata shared by session.c (options, lifetime, request
 * setup) and session_response.c (what libcurl hands back). */
#ifndef FLEXIROAM_SESSION_INTERNAL_H
#define FLEXIROAM_SESSION_INTERNAL_H

#include <curl/curl.h>

#include "buffer.h"
#include "compat.h"

/* The most header bytes a transfer takes (every response's status and
 * header lines, 1xx and trailers included) before it ends as too_large:
 * under libcurl's own 300 KiB total (curl 8.3+, and backported by Debian),
 * which would end it as a bare RECV_ERROR, and far over what an API sends.
 * A single line over libcurl's 100 KiB (CURL_MAX_HTTP_HEADER) never reaches
 * the callback: libcurl fails it as out of memory (7.x) or too large (8.6+),
 * reported as too_large too. */
#define FX_MAX_HEAD_BYTES (256 * 1024)
#define FX_MAX_HEAD_LINE (100 * 1024)

/* What a session (or a multi, for all its transfers) has learnt of the
 * https origin it talks to, from the answers it had: a write rides a
 * kept-alive connection only when every answer from that origin came over
 * HTTP/2 (see write_may_reuse in session.c). One origin is remembered; an
 * API client talks to one. */
#define FX_ORIGIN_MAX 256
typedef struct fx_origin_memory {
    char origin[FX_ORIGIN_MAX];  /* "https://host[:port]", lowercased; "" when none */
    int h2;                      /* its last answer came over HTTP/2, and no failure since */
    int other_seen;              /* it has answered over HTTP/1.x: writes stay on fresh connections */
} fx_origin_memory;

typedef struct fx_session {
    CURL *easy;                  /* NULL once closed */
    CURLSH *share;
    struct curl_slist *headers;  /* this request's header lines (carry the API key) */
    fx_buffer body;              /* the response body, reused across requests */
    unsigned body_idle;          /* requests in a row that used little of it (fx_scratch_should_shrink) */
    fx_buffer head;              /* the final response's raw header lines */
    size_t max_response;         /* cap on the body and, separately, on the header lines */
    long timeout_ms;             /* default per-request total timeout */
    long low_speed_bytes;        /* 0: no stall check */
    long low_speed_ms;

    /* Per transfer, written by the callbacks. */
    int too_large;               /* a callback refused data over the cap */
    int out_of_memory;           /* a callback's realloc failed */
    int stalled;                 /* the progress callback aborted a stalled response */
    int answering;               /* the final response's status line has arrived */
    int head_done;               /* ... and so has the blank line that ends its head */
    int head_lines;              /* header lines since the last status line */
    int head_too_large;          /* the header callback refused bytes past FX_MAX_HEAD_BYTES */
    int bad_fold;                /* the header callback refused a fold with no header before it */
    int performed;               /* the handle has run a transfer (see fx_curl_keeps_last_header) */
    CURL *pristine;              /* NULL, or a configured handle that never runs: see session.c */
    CURLM *driver;               /* with pristine: the multi that runs each fresh handle (see drive) */
    /* The write guard (docs/transport.md, "The safety rule"): libcurl's
     * pre-request callback runs before each attempt at sending the request;
     * a write gets one attempt, and another only if every earlier one was
     * refused by the server unprocessed (HTTP/2 REFUSED_STREAM). */
    int can_guard;               /* this libcurl has CURLOPT_PREREQFUNCTION (7.80+) */
    int guard;                   /* this transfer is a write: the guard is on */
    int attempts;                /* attempts libcurl went on to send */
    int refused;                 /* of them, refused unprocessed (libcurl said so: fx_session_on_debug) */
    int resend_blocked;          /* the guard stopped another attempt */
    fx_origin_memory own_origin; /* a session's memory (a multi's slots use the multi's) */
    fx_origin_memory *origin;    /* the memory this transfer reads and teaches; NULL: none */
    char request_origin[FX_ORIGIN_MAX]; /* this request's origin, "" unless https */
    curl_off_t header_bytes;     /* header bytes received so far */
    curl_off_t window_base;      /* bytes received when the stall window began */
    long long window_start_ms;   /* monotonic start of the current stall window */
    char errbuf[CURL_ERROR_SIZE];
} fx_session;

/* Everything the Lua side reports about a finished transfer, copied out of
 * the session and the easy handle before any Lua allocation: a finalizer
 * run by that allocation may close the session or start another request
 * on it, and neither may change (or free) what this request reports. */
typedef struct fx_outcome {
    CURLcode code;
    long status, http_version, connects;
    curl_off_t dns_us, connect_us, tls_us, first_byte_us, total_us;
    int sent, too_large, out_of_memory, stalled;
    int resend_blocked, refused_all, refused;
    int head_too_large, line_too_large, bad_fold;
    int head_cut; /* libcurl said done, but the final answer's head never ended (no blank line) */
    size_t max_response;
    long low_speed_bytes, low_speed_ms;
    char errbuf[CURL_ERROR_SIZE];
} fx_outcome;

/* The options core.session and core.multi take (strings stay owned by the
 * options table on the stack). */
typedef struct fx_session_opts {
    long connect_timeout_ms, timeout_ms, low_speed_bytes, low_speed_ms, max_response;
    int verify;
    const char *ca_file, *ca_path, *proxy;
} fx_session_opts;

/* Reads the options table at stack index 1 (none: defaults); raises on
 * unknown keys and bad values. Leaves the table at 1, alone on the stack. */
void fx_session_read_opts(lua_State *L, fx_session_opts *o);

/* Sets every handle-wide option on s->easy (and s->share, when set). */
void fx_session_configure(lua_State *L, fx_session *s, const fx_session_opts *o);

/* Points the handle's callbacks and error buffer at s: after configure, and
 * again for a handle duplicated from another (curl_easy_duphandle). */
void fx_session_bind(lua_State *L, fx_session *s);

/* A request as read from its table; the strings are on the Lua stack. */
typedef struct fx_request {
    int method;             /* fx_session_method_name(method) */
    const char *url;
    const char *body;       /* NULL: none */
    size_t body_len;
    long timeout_ms;
} fx_request;

/* Reads and checks the request table at stack index 2 (raises on misuse)
 * and makes its header lines, with Lua allocations and without touching
 * any session. Leaves 3 method, 4 url, 5 body, 6 headers, 7 header lines. */
void fx_request_read(lua_State *L, long default_timeout_ms, fx_request *r);

/* Sets the request read into r (header lines still at stack index 7) on
 * s->easy, ready to perform; no Lua allocation. */
void fx_request_apply(lua_State *L, fx_session *s, const fx_request *r);

const char *fx_session_method_name(int method);

/* After a transfer: frees its header list, and buffer memory above what is
 * kept for the next one. */
void fx_session_drop_headers(fx_session *s);
void fx_session_reset_buffers(fx_session *s);

/* CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION / CURLOPT_XFERINFOFUNCTION,
 * with the session as data. They never call into Lua: a raise there would
 * unwind through libcurl. */
size_t fx_session_on_body(char *ptr, size_t size, size_t nmemb, void *data);
size_t fx_session_on_header(char *ptr, size_t size, size_t nitems, void *data);
int fx_session_on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow);

/* CURLOPT_PREREQFUNCTION: the write guard, before each attempt libcurl
 * makes at sending the request. CURLOPT_DEBUGFUNCTION (on for writes
 * only): counts libcurl's own word that the server refused an attempt
 * unprocessed; reads nothing else (header lines carry the API key). */
int fx_session_on_prereq(void *data, char *primary_ip, char *local_ip, int primary_port, int local_port);
int fx_session_on_debug(CURL *easy, curl_infotype type, char *text, size_t n, void *data);

/* Resets the per-transfer fields the callbacks write. */
void fx_session_start_transfer(fx_session *s);

/* After a transfer: what its answer (or failure) teaches the origin memory. */
void fx_session_learn(fx_session *s, const fx_outcome *o);

/* Fills o from the session and its handle; touches no Lua state. */
void fx_session_capture(fx_session *s, CURLcode code, fx_outcome *o);

/* Pushes {lowercased name = value} for the raw header lines in data[0, len);
 * lowercases the names in place. data must stay valid across Lua
 * allocations (the caller owns it through a userdata). */
void fx_session_push_headers(lua_State *L, char *data, size_t len);

/* Pushes the response table for a transfer that returned CURLE_OK. head and
 * body belong to userdata on the stack; url_idx holds the request URL.
 * With decode_idx (an absolute index of json.decode options; 0: none), a
 * 2xx body that decodes is answered as `data`, the decoded value, instead
 * of `body`; body must then be NUL-terminated (fx_buffer_terminate). */
void fx_session_push_response(lua_State *L, const fx_outcome *o, fx_buffer *head, const fx_buffer *body,
                              int url_idx, int decode_idx);

/* Pushes nil and the error object for a failed transfer; returns 2. `url`
 * is reported without its query, fragment or user info. */
int fx_session_return_error(lua_State *L, const fx_outcome *o, const char *method, const char *url);

#endif
