/* core.session(opts): one libcurl easy handle, reused so its connection
 * stays alive, with a share handle (DNS cache, TLS sessions, connections)
 * attached; both owned by a userdata that releases them on close, __gc and
 * __close alike. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handle.h"
#include "options.h"
#include "curl_global.h"
#include "session.h"
#include "session_internal.h"
#include "version.h"

#define SESSION_MT "flexiroam.session"
#define MAX_OPTION 0x7fffffffL        /* every integer option: fits a long and a LuaJIT string */
#define KEPT_CAPACITY (256 * 1024)    /* buffer memory always kept between requests */
/* Above this a body buffer is given back after the request that grew it,
 * whatever fx_scratch_should_shrink says: a session (or each slot of a
 * multi) may sit idle for hours after one big answer, and max_response
 * allows 32 MiB. A page of 1000 SIMs (868 KB, a 1 MiB buffer) stays kept. */
#define KEPT_MAX (4 * 1024 * 1024)

static const char *const session_keys[] = {
    "connect_timeout_ms", "timeout_ms", "low_speed_bytes", "low_speed_ms", "max_response_bytes",
    "verify", "ca_file", "ca_path", "proxy", NULL,
};

static const char *const request_keys[] = {"method", "url", "headers", "body", "timeout_ms", "decode", NULL};

/* An integer option in [min, MAX_OPTION]. Timeouts start at 1: libcurl
 * reads 0 as "no timeout", which is never what a caller of an API means. */
static long int_field(lua_State *L, int arg, const char *field, long def, long min)
{
    return fx_opt_integer(L, arg, field, def, min, MAX_OPTION);
}

void fx_session_read_opts(lua_State *L, fx_session_opts *o)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    fx_opt_check_keys(L, 1, session_keys);
    o->connect_timeout_ms = int_field(L, 1, "connect_timeout_ms", 10000, 1);
    o->timeout_ms = int_field(L, 1, "timeout_ms", 60000, 1);
    o->low_speed_bytes = int_field(L, 1, "low_speed_bytes", 1, 0);
    o->low_speed_ms = int_field(L, 1, "low_speed_ms", 30000, 1);
    o->max_response = int_field(L, 1, "max_response_bytes", 32L * 1024 * 1024, 1);
    o->ca_file = fx_opt_string(L, 1, "ca_file");
    o->ca_path = fx_opt_string(L, 1, "ca_path");
    o->proxy = fx_opt_string(L, 1, "proxy");
    o->verify = fx_opt_boolean(L, 1, "verify", 1);
}

static void check_setopt(lua_State *L, CURLcode rc, const char *name)
{
    if (rc != CURLE_OK)
        luaL_error(L, "session: cannot set %s: %s", name, curl_easy_strerror(rc));
}

#define SETOPT(L, s, opt, value) check_setopt((L), curl_easy_setopt((s)->easy, opt, value), #opt)

/* Idempotent: close, __gc and __close all land here. The easy handle goes
 * before the share handle, which refuses to go while still attached. */
static void release(fx_session *s)
{
    if (s->easy != NULL) {
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    if (s->pristine != NULL) {
        curl_easy_cleanup(s->pristine);
        s->pristine = NULL;
    }
    if (s->driver != NULL) {
        curl_multi_cleanup(s->driver);
        s->driver = NULL;
    }
    if (s->share != NULL) {
        curl_share_cleanup(s->share);
        s->share = NULL;
    }
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    free(s->body.data);
    free(s->head.data);
    memset(&s->body, 0, sizeof s->body);
    memset(&s->head, 0, sizeof s->head);
}

static void share_everything(lua_State *L, CURLSH *share)
{
    CURLSHcode sc = CURLSHE_OK;
    if (sc == CURLSHE_OK)
        sc = curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    if (sc == CURLSHE_OK)
        sc = curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (sc == CURLSHE_OK)
        sc = curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    if (sc != CURLSHE_OK)
        luaL_error(L, "session: cannot configure the share handle: %s", curl_share_strerror(sc));
}

void fx_session_bind(lua_State *L, fx_session *s)
{
    SETOPT(L, s, CURLOPT_ERRORBUFFER, s->errbuf);
    SETOPT(L, s, CURLOPT_WRITEDATA, (void *)s);
    SETOPT(L, s, CURLOPT_HEADERDATA, (void *)s);
    SETOPT(L, s, CURLOPT_XFERINFODATA, (void *)s);
    SETOPT(L, s, CURLOPT_DEBUGDATA, (void *)s);
#if LIBCURL_VERSION_NUM >= 0x075000
    if (s->can_guard)
        SETOPT(L, s, CURLOPT_PREREQDATA, (void *)s);
#endif
}

void fx_session_configure(lua_State *L, fx_session *s, const fx_session_opts *o)
{
    if (s->share != NULL)
        SETOPT(L, s, CURLOPT_SHARE, s->share);
    /* Signals would be process-wide and clash with the host's; the threaded
     * resolver still bounds DNS time without them. */
    SETOPT(L, s, CURLOPT_NOSIGNAL, 1L);
    SETOPT(L, s, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(L, s, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* A redirect would re-send the API key to wherever Location points. */
    SETOPT(L, s, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(L, s, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    /* The stall check is ours (fx_session_on_progress), not libcurl's
     * LOW_SPEED_*, which also fire while the server is still thinking. */
    SETOPT(L, s, CURLOPT_XFERINFOFUNCTION, fx_session_on_progress);
    SETOPT(L, s, CURLOPT_NOPROGRESS, o->low_speed_bytes > 0 ? 0L : 1L);
    if (o->ca_file != NULL)
        SETOPT(L, s, CURLOPT_CAINFO, o->ca_file);
    if (o->ca_path != NULL)
        SETOPT(L, s, CURLOPT_CAPATH, o->ca_path);
    if (o->proxy != NULL)
        SETOPT(L, s, CURLOPT_PROXY, o->proxy);
    /* A fixed default: the Lua client sends its own User-Agent header. */
    SETOPT(L, s, CURLOPT_USERAGENT, "flexiroam-lua/" FX_VERSION);
    SETOPT(L, s, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
    SETOPT(L, s, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
    SETOPT(L, s, CURLOPT_ACCEPT_ENCODING, "");
    /* Fails only on a libcurl without HTTP/2, which then speaks 1.1. */
    (void)curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(L, s, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(L, s, CURLOPT_WRITEFUNCTION, fx_session_on_body);
    SETOPT(L, s, CURLOPT_HEADERFUNCTION, fx_session_on_header);
    /* Runs only for the transfers that turn CURLOPT_VERBOSE on: writes. */
    SETOPT(L, s, CURLOPT_DEBUGFUNCTION, fx_session_on_debug);
    /* The write guard; without it (libcurl before 7.80, or one built
     * without the option) every write keeps a connection of its own. */
    s->can_guard = 0;
#if LIBCURL_VERSION_NUM >= 0x075000
    s->can_guard = curl_easy_setopt(s->easy, CURLOPT_PREREQFUNCTION, fx_session_on_prereq) == CURLE_OK;
#endif
    fx_session_bind(L, s);
    /* A proxy's CONNECT reply is not the server's answer: it would start
     * the stall watch while the server has not seen the request yet. */
    SETOPT(L, s, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
}

static int session_new(lua_State *L)
{
    fx_session_opts o;
    fx_session *s;
    fx_session_read_opts(L, &o);
    fx_curl_global_init(L);
    s = (fx_session *)fx_handle_new(L, sizeof *s, SESSION_MT);
    s->max_response = (size_t)o.max_response;
    s->timeout_ms = o.timeout_ms;
    s->low_speed_bytes = o.low_speed_bytes;
    s->low_speed_ms = o.low_speed_ms;
    s->origin = &s->own_origin;
    s->easy = curl_easy_init();
    s->share = curl_share_init();
    if (s->easy == NULL || s->share == NULL) {
        release(s);
        return luaL_error(L, "session: libcurl could not create its handles");
    }
    share_everything(L, s->share);
    fx_session_configure(L, s, &o);
    /* One session, one handle: a 64 KiB receive buffer takes a typical page
     * (20 SIMs are 17 KiB) in one read instead of two. The multi's many
     * handles keep libcurl's 16 KiB. */
    SETOPT(L, s, CURLOPT_BUFFERSIZE, 64L * 1024);
    /* On a libcurl that keeps a dangling header pointer from one transfer
     * to the next (fx_curl_keeps_last_header), every transfer after the
     * first runs on a copy of this configured, never used handle (see
     * renew_handle). The share keeps the connections, so they stay alive. */
    if (fx_curl_keeps_last_header()) {
        s->pristine = curl_easy_duphandle(s->easy);
        s->driver = curl_multi_init();
        if (s->pristine == NULL || s->driver == NULL) {
            release(s);
            return luaL_error(L, "session: libcurl could not create its handles");
        }
    }
    return 1;
}

static fx_session *check_open(lua_State *L)
{
    fx_session *s = (fx_session *)luaL_checkudata(L, 1, SESSION_MT);
    if (s->easy == NULL)
        luaL_error(L, "session is closed");
    return s;
}

enum method { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_HEAD };
static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};

static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Drops the previous request's header list; the handle lets go of it first
 * so it never points at freed memory. */
void fx_session_drop_headers(fx_session *s)
{
    (void)curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_slist_free_all(s->headers);
    s->headers = NULL;
}

/* Checks the request's headers and pushes a table of the header lines to
 * send. Header values are never quoted in messages: they carry the API key.
 * The lines are made here, with Lua allocations (which may run finalizers,
 * which may use this very session), so that the slist itself is built
 * later without any: see session_request. */
static void push_header_lines(lua_State *L, int headers, int has_body)
{
    int expect = 0, content_type = 0, n = 0, lines;
    lua_newtable(L);
    lines = lua_gettop(L);
    if (!lua_isnil(L, headers)) {
        lua_pushnil(L);
        while (lua_next(L, headers)) {
            const char *name, *value;
            size_t name_len, value_len, i;
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_argerror(L, 2, "headers must map string names to string values");
            name = lua_tolstring(L, -2, &name_len);
            value = lua_tolstring(L, -1, &value_len);
            if (name_len == 0)
                luaL_argerror(L, 2, "header name must not be empty");
            for (i = 0; i < name_len; i++)
                if (!is_token_char((unsigned char)name[i]))
                    luaL_argerror(L, 2, "header name is not a valid HTTP token");
            for (i = 0; i < value_len; i++) {
                unsigned char c = (unsigned char)value[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    luaL_argerror(L, 2, lua_pushfstring(L, "header '%s' value contains CR, LF or another "
                                                           "control character", name));
            }
            expect = expect || strcasecmp(name, "Expect") == 0;
            content_type = content_type || strcasecmp(name, "Content-Type") == 0;
            /* "Name;" is libcurl's spelling of a header sent with an empty
             * value ("Name:" would remove it instead). */
            if (value_len == 0)
                lua_pushfstring(L, "%s;", name);
            else
                lua_pushfstring(L, "%s: %s", name, value);
            lua_rawseti(L, lines, ++n);
            lua_pop(L, 1);
        }
    }
    /* Without these libcurl would wait for a 100 Continue on larger bodies,
     * and label every body as a urlencoded form. */
    if (!expect) {
        lua_pushliteral(L, "Expect:");
        lua_rawseti(L, lines, ++n);
    }
    if (has_body && !content_type) {
        lua_pushliteral(L, "Content-Type:");
        lua_rawseti(L, lines, ++n);
    }
}

/* The lines table at `lines` into the session's slist: no Lua allocation
 * (lua_rawgeti and lua_tostring on strings allocate nothing). The list
 * lives in the session, not on the C stack, so a raise half-way through
 * leaks nothing. */
static void install_headers(lua_State *L, fx_session *s, int lines)
{
    int i, n = (int)lua_rawlen(L, lines);
    fx_session_drop_headers(s);
    for (i = 1; i <= n; i++) {
        struct curl_slist *l;
        lua_rawgeti(L, lines, i);
        l = curl_slist_append(s->headers, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (l == NULL)
            luaL_error(L, "not enough memory");
        s->headers = l;
    }
}

static const char *check_url(lua_State *L, int idx)
{
    size_t len, i;
    const char *url;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_argerror(L, 2, lua_pushfstring(L, "url must be a string, got %s", luaL_typename(L, idx)));
    url = lua_tolstring(L, idx, &len);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        luaL_argerror(L, 2, "url must start with http:// or https://");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f)
            luaL_argerror(L, 2, "url must not contain spaces or control characters");
    }
    return url;
}

/* "https://user@Host:8443/p?q" -> "https://host:8443" into out (cap
 * bytes); "" for any other scheme, or an origin that does not fit. Only a
 * key for the origin memory: two spellings of one origin ("host" and
 * "host:443") are two keys, which costs a fresh connection, never safety. */
static void origin_of(const char *url, char *out, size_t cap)
{
    const char *p, *host, *end;
    size_t n;
    out[0] = '\0';
    if (strncasecmp(url, "https://", 8) != 0)
        return;
    p = host = url + 8;
    end = p + strcspn(p, "/?#\\");
    for (; p < end; p++)
        if (*p == '@')
            host = p + 1;
    n = (size_t)(end - host);
    if (n == 0 || n + 9 > cap)
        return;
    memcpy(out, "https://", 8);
    for (p = host; p < end; p++)
        out[8 + (p - host)] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    out[8 + n] = '\0';
}

/* Whether a write may ride a kept-alive connection: only where libcurl
 * cannot send it twice (the guard: fx_session_on_prereq) and only where
 * that connection is HTTP/2, which is all this session (or multi) has ever
 * had from the origin, its last answer included. HTTP/2 is negotiated only
 * over TLS here (CURL_HTTP_VERSION_2TLS), so only https qualifies. */
static int write_may_reuse(const fx_session *s)
{
    const fx_origin_memory *m = s->origin;
    return s->can_guard && m != NULL && s->request_origin[0] != '\0' && m->h2 && !m->other_seen &&
           strcmp(m->origin, s->request_origin) == 0;
}

void fx_session_learn(fx_session *s, const fx_outcome *o)
{
    fx_origin_memory *m = s->origin;
    if (m == NULL || s->request_origin[0] == '\0')
        return;
    if (strcmp(m->origin, s->request_origin) != 0) {
        memcpy(m->origin, s->request_origin, sizeof m->origin);
        m->h2 = 0;
        m->other_seen = 0;
    }
    /* A failure may leave anything in the pool: the next write opens a
     * connection of its own, and the answer it gets teaches again. */
    if (o->code != CURLE_OK)
        m->h2 = 0;
    else if (o->http_version == CURL_HTTP_VERSION_2_0)
        m->h2 = 1;
    else {
        m->h2 = 0;
        m->other_seen = 1;
    }
}

/* Every per-request option is set on every request: the handle is reused
 * and would otherwise keep the previous request's method or body. */
static void set_method(lua_State *L, fx_session *s, enum method m, const char *body, size_t body_len)
{
    int write = m != M_GET && m != M_HEAD;
    SETOPT(L, s, CURLOPT_POSTFIELDS, (char *)NULL);
    SETOPT(L, s, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    SETOPT(L, s, CURLOPT_NOBODY, 0L);
    SETOPT(L, s, CURLOPT_CUSTOMREQUEST,
           (m == M_PUT || m == M_PATCH || m == M_DELETE) ? method_names[m] : (const char *)NULL);
    /* When a reused keep-alive connection dies before the first response
     * byte, libcurl sends the request again, inside this same perform, over
     * HTTP/1.1 and HTTP/2 alike: harmless for a GET, a second purchase for
     * a POST the server had already read. So:
     *  - every write runs under the guard (fx_session_on_prereq): libcurl
     *    gets one attempt at sending it, and another only after the server
     *    refused the earlier ones unprocessed (HTTP/2 REFUSED_STREAM);
     *    anything else ends as an error, sent and not safe to retry;
     *  - over HTTP/1.1 a write still gets a connection of its own, which
     *    libcurl never retries on: a server closing an idle HTTP/1.1
     *    connection gives no notice, and that common race would otherwise
     *    end a write indeterminate (libcurl 8.16's
     *    CURLOPT_FORBID_RETRY_ON_REUSE would do the same). The connection
     *    stays in the pool for later requests;
     *  - over HTTP/2 (write_may_reuse) a write rides the warm connection:
     *    no TCP and TLS handshakes, one round trip. A server closing an
     *    HTTP/2 connection says so first (GOAWAY), and libcurl does not
     *    reuse a connection after that. */
    s->guard = write && s->can_guard;
    SETOPT(L, s, CURLOPT_FRESH_CONNECT, write && !write_may_reuse(s) ? 1L : 0L);
    /* For fx_session_on_debug, which counts refused streams. */
    SETOPT(L, s, CURLOPT_VERBOSE, s->guard ? 1L : 0L);
    if (body != NULL) {
        /* POSTFIELDS with an explicit size: binary-safe, and never falls
         * back to reading the body from stdin. */
        SETOPT(L, s, CURLOPT_POST, 1L);
        SETOPT(L, s, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SETOPT(L, s, CURLOPT_POSTFIELDS, body);
    } else {
        SETOPT(L, s, CURLOPT_HTTPGET, 1L);
        if (m == M_HEAD)
            SETOPT(L, s, CURLOPT_NOBODY, 1L);
    }
    /* A HEAD reply's Content-Length describes a body that never comes. */
    SETOPT(L, s, CURLOPT_MAXFILESIZE_LARGE, m == M_HEAD ? (curl_off_t)0 : (curl_off_t)s->max_response);
}

void fx_session_reset_buffers(fx_session *s)
{
    size_t used = s->body.len;
    s->body.len = 0;
    s->head.len = 0;
    if (fx_scratch_should_shrink(&s->body_idle, s->body.cap, s->body.cap, used, KEPT_CAPACITY) ||
        s->body.cap > KEPT_MAX)
        fx_buffer_shrink(&s->body, KEPT_CAPACITY);
    if (s->head.cap > KEPT_CAPACITY)
        fx_buffer_shrink(&s->head, KEPT_CAPACITY);
}

/* Hands the buffers `taken` from the session back to it for the next
 * request, unless a finalizer closed the session meanwhile or ran a request
 * of its own that left the session new ones; the userdata free them then. */
static void give_back(fx_session *s, fx_buffer *head, fx_buffer *body)
{
    if (s->easy == NULL || s->head.data != NULL || s->body.data != NULL)
        return;
    s->head = *head;
    s->body = *body;
    memset(head, 0, sizeof *head);
    memset(body, 0, sizeof *body);
    fx_session_reset_buffers(s);
}

const char *fx_session_method_name(int method)
{
    return method_names[method];
}

/* Swaps a handle that has run a transfer for a copy of the pristine one,
 * attached to the same share (a copy is not). Before any other option of
 * the request is set; no Lua allocation unless it raises. */
static void renew_handle(lua_State *L, fx_session *s)
{
    CURL *fresh = curl_easy_duphandle(s->pristine);
    if (fresh == NULL)
        luaL_error(L, "session: libcurl could not create a handle");
    if (curl_easy_setopt(fresh, CURLOPT_SHARE, s->share) != CURLE_OK) {
        curl_easy_cleanup(fresh);
        luaL_error(L, "session: cannot attach the share handle");
    }
    fx_session_drop_headers(s);
    curl_easy_cleanup(s->easy);
    s->easy = fresh;
    s->performed = 0;
}

/* Runs the transfer of s->easy to its end, as curl_easy_perform does. On
 * a libcurl that needs a fresh handle per transfer (renew_handle), through
 * the session's own multi handle: curl_easy_perform makes a multi for every
 * handle it first runs (with a socket pair for its wakeups: socketpair,
 * fcntl, close), which on a fresh handle per transfer cost a 20-SIM call
 * more than the rest of the session's own work; one multi kept for the
 * session's life pays that once. The loop is libcurl's own (easy.c,
 * easy_transfer): poll (bounded, so a lost wakeup costs at most that), run,
 * and take the result once nothing runs. Plain C, no Lua allocation. */
static CURLcode drive(fx_session *s)
{
    CURLMcode mc;
    CURLcode result = CURLE_OK;
    int done = 0;
    if (s->driver == NULL)
        return curl_easy_perform(s->easy);
    mc = curl_multi_add_handle(s->driver, s->easy);
    while (mc == CURLM_OK && !done) {
        int running = 0;
        mc = curl_multi_perform(s->driver, &running);
        if (mc == CURLM_OK && running == 0) {
            int left;
            CURLMsg *msg = curl_multi_info_read(s->driver, &left);
            /* No message for a transfer that stopped running would be
             * libcurl's own fault: a failure of the transfer, not a success
             * with no answer. */
            result = msg != NULL ? msg->data.result : CURLE_RECV_ERROR;
            done = 1;
        } else if (mc == CURLM_OK) {
            mc = curl_multi_poll(s->driver, NULL, 0, 1000, NULL);
        }
    }
    curl_multi_remove_handle(s->driver, s->easy);
    /* The multi itself failed (it cannot, short of memory or a bug): a
     * transfer failure, reported as a network one; whether the request left
     * is read from libcurl's counters as for any other (fx_session_capture).
     * Not CURLE_BAD_FUNCTION_ARGUMENT: mid-head that code means a refused
     * fold (session_response.c). */
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    return result;
}

/* Phase 1 of a request (see session_request). Stack: 1 session (or multi),
 * 2 request table; leaves 3 method, 4 url, 5 body, 6 headers, 7 header lines.
 * (`decode`, json.decode options for a 2xx answer, is checked here and read
 * by the session; a multi answers `body` whatever it says.) */
void fx_request_read(lua_State *L, long default_timeout_ms, fx_request *r)
{
    enum method m = M_GET;
    const char *body = NULL;
    size_t body_len = 0;

    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    fx_opt_check_keys(L, 2, request_keys);
    lua_getfield(L, 2, "method");
    if (!lua_isnil(L, 3)) {
        int i;
        const char *name;
        if (lua_type(L, 3) != LUA_TSTRING)
            luaL_argerror(L, 2, lua_pushfstring(L, "method must be a string, got %s", luaL_typename(L, 3)));
        name = lua_tostring(L, 3);
        for (i = 0; method_names[i] != NULL && strcmp(method_names[i], name) != 0; i++)
            ;
        if (method_names[i] == NULL)
            luaL_argerror(L, 2, "method must be one of GET, POST, PUT, PATCH, DELETE, HEAD");
        m = (enum method)i;
    }
    lua_getfield(L, 2, "url");
    r->url = check_url(L, 4);
    lua_getfield(L, 2, "body");
    if (!lua_isnil(L, 5)) {
        if (lua_type(L, 5) != LUA_TSTRING)
            luaL_argerror(L, 2, lua_pushfstring(L, "body must be a string, got %s", luaL_typename(L, 5)));
        if (m == M_GET || m == M_HEAD)
            luaL_argerror(L, 2, "a GET or HEAD request cannot carry a body");
        body = lua_tolstring(L, 5, &body_len);
    } else if (m == M_POST || m == M_PUT || m == M_PATCH) {
        body = "";
    }
    lua_getfield(L, 2, "headers");
    if (!lua_isnil(L, 6) && !lua_istable(L, 6))
        luaL_argerror(L, 2, lua_pushfstring(L, "headers must be a table, got %s", luaL_typename(L, 6)));
    r->timeout_ms = int_field(L, 2, "timeout_ms", default_timeout_ms, 1);
    lua_getfield(L, 2, "decode");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "decode must be a table of json.decode options, got %s",
                                               luaL_typename(L, -1)));
    /* Its options are read by the decoder, after the answer: misuse found
     * then must never cost a write its outcome, so only a GET takes it. */
    if (!lua_isnil(L, -1) && m != M_GET)
        luaL_argerror(L, 2, "decode is for GET requests (reads) only");
    lua_settop(L, 6);
    push_header_lines(L, 6, body != NULL);
    r->method = (int)m;
    r->body = body;
    r->body_len = body_len;
}

/* Phase 2, up to the transfer: no Lua allocation. */
void fx_request_apply(lua_State *L, fx_session *s, const fx_request *r)
{
    install_headers(L, s, 7);
    origin_of(r->url, s->request_origin, sizeof s->request_origin);
    SETOPT(L, s, CURLOPT_URL, r->url);
    SETOPT(L, s, CURLOPT_HTTPHEADER, s->headers);
    SETOPT(L, s, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    set_method(L, s, (enum method)r->method, r->body, r->body_len);
    fx_session_start_transfer(s);
}

/* Any Lua allocation may run a __gc finalizer, and a finalizer may call
 * s:close() or s:request() on this very session. So a request goes in three
 * phases:
 *   1. reading the arguments, making the header lines and the buffers'
 *      userdata: Lua allocations, touching nothing in the session; then
 *      the session is checked again, since a finalizer may have closed it;
 *   2. slist, options, perform, and copying out what is to be reported
 *      (fx_session_capture), with the response buffers moved into the
 *      userdata: plain C, no Lua allocation, so no finalizer;
 *   3. building the answer from those copies: finalizers may close the
 *      session or reuse it, and touch nothing this request still reads.
 * Stack: 1 session, 2 request table, 3 method, 4 url, 5 body, 6 headers,
 * 7 header lines, 8 the head and body buffers, 9 the decode options. */
static int session_request(lua_State *L)
{
    fx_session *s = check_open(L);
    fx_request r;
    CURLcode code;
    fx_outcome o;
    fx_buffer *head, *resp;
    int decode;

    fx_request_read(L, s->timeout_ms, &r);
    head = fx_buffers_push(L, 2);
    resp = head + 1;
    lua_getfield(L, 2, "decode");
    decode = lua_istable(L, 9) ? 9 : 0;
    if (s->easy == NULL)
        return luaL_error(L, "session is closed");

    /* Phase 2: no Lua allocation until the buffers are moved out. */
    if (s->performed && s->pristine != NULL)
        renew_handle(L, s);
    fx_request_apply(L, s, &r);
    s->performed = 1;
    code = drive(s);
    fx_session_drop_headers(s);
    fx_session_capture(s, code, &o);
    fx_session_learn(s, &o);
    *head = s->head;
    *resp = s->body;
    memset(&s->head, 0, sizeof s->head);
    memset(&s->body, 0, sizeof s->body);
    /* The decoder reads up to a NUL after the text, as after a Lua string. */
    if (decode != 0 && !fx_buffer_terminate(resp))
        decode = 0;

    /* Phase 3. A failed allocation in a callback is reported like any
     * other transport failure (kind "network"), with `sent`, rather than
     * raised: the caller must still learn whether a write may have gone
     * through. */
    if (code == CURLE_OK && !o.head_cut)
        fx_session_push_response(L, &o, head, resp, 4, decode);
    else
        fx_session_return_error(L, &o, method_names[r.method], r.url);
    give_back(s, head, resp);
    return code == CURLE_OK && !o.head_cut ? 1 : 2;
}

static int session_close(lua_State *L)
{
    release((fx_session *)luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int session_tostring(lua_State *L)
{
    fx_session *s = (fx_session *)luaL_checkudata(L, 1, SESSION_MT);
    lua_pushfstring(L, "flexiroam.session: %p (%s)", (void *)s, s->easy ? "open" : "closed");
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"request", session_request},
    {"close", session_close},
    {NULL, NULL},
};

static const luaL_Reg session_functions[] = {
    {"session", session_new},
    {"curl_version", fx_curl_version},
    {"curl_features", fx_curl_features},
    {NULL, NULL},
};

void fx_session_register(lua_State *L, int module)
{
    fx_handle_type(L, SESSION_MT, session_methods, session_close, session_tostring);
    fx_set_functions(L, module, session_functions);
}
