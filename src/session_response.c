/* What a transfer hands back: the callbacks that collect the body and the
 * final response's header lines and watch for a stalled response, the
 * response table built from them, and the error object for a transfer that
 * failed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curl_global.h"
#include "error.h"
#include "json.h"
#include "session_internal.h"

/* Content-Length only hints at the size: a hostile or wrong one must not
 * make us set aside max_response bytes up front. */
#define PRESIZE_MAX (1024 * 1024)

/* fx_buffer_grow raises, which must never happen inside a libcurl callback
 * (the longjmp would skip libcurl's own frames); this one reports instead. */
static int reserve_quietly(fx_buffer *b, size_t extra)
{
    size_t need, cap;
    char *data;
    if (b->cap - b->len >= extra)
        return 1;
    need = b->len + extra;
    if (need < b->len)
        return 0;
    cap = b->cap ? b->cap : 16384;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    data = (char *)realloc(b->data, cap);
    if (data == NULL)
        return 0;
    b->data = data;
    b->cap = cap;
    return 1;
}

/* Appends unless that would pass the session's cap; returns what libcurl
 * expects back (anything but n aborts the transfer with CURLE_WRITE_ERROR). */
static size_t append_capped(fx_session *s, fx_buffer *b, const char *ptr, size_t n)
{
    if (n > s->max_response - b->len) {
        s->too_large = 1;
        return 0;
    }
    if (!reserve_quietly(b, n)) {
        s->out_of_memory = 1;
        return 0;
    }
    if (n > 0)
        memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

size_t fx_session_on_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    fx_session *s = (fx_session *)data;
    size_t n = size * nmemb;
    if (s->body.len == 0 && n > 0) {
        /* Size the buffer once from Content-Length instead of doubling up to
         * it; only a hint (a compressed body grows past it), capped anyway. */
        curl_off_t length = -1;
        if (curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
            length > 0 && (curl_off_t)s->max_response >= length)
            (void)reserve_quietly(&s->body, length > PRESIZE_MAX ? (size_t)PRESIZE_MAX : (size_t)length);
    }
    return append_capped(s, &s->body, ptr, n);
}

static long long now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HTTP/1.1 103 ...": an interim response, after which the server may
 * still be working on the request. */
static int is_interim(const char *line, size_t n)
{
    const char *sp = (const char *)memchr(line, ' ', n);
    size_t i;
    if (sp == NULL)
        return 0;
    for (i = (size_t)(sp - line); i < n && line[i] == ' '; i++)
        ;
    return i < n && line[i] == '1';
}

size_t fx_session_on_header(char *ptr, size_t size, size_t nitems, void *data)
{
    fx_session *s = (fx_session *)data;
    size_t n = size * nitems;
    s->header_bytes += (curl_off_t)n;
    if (s->header_bytes > FX_MAX_HEAD_BYTES) {
        s->head_too_large = 1;
        return 0;
    }
    /* Each status line starts a new response (1xx interim ones): only the
     * last one's headers are reported. The stall watch starts with the
     * final response: until then the server may legitimately be thinking,
     * and only timeout_ms bounds that. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        s->head.len = 0;
        s->head_lines = 0;
        if (!is_interim(ptr, n) && !s->answering) {
            s->answering = 1;
            s->window_start_ms = now_ms();
            s->window_base = s->header_bytes;
        }
    } else if (n > 0 && (ptr[0] == '\r' || ptr[0] == '\n')) {
        if (s->answering)
            s->head_done = 1;
    } else {
        /* A fold continues the header before it; first in a head it has
         * none. libcurl 7.x refuses that itself (on a handle that never
         * ran a transfer: see fx_curl_keeps_last_header), 8.3+ passes it
         * on; refused here on every version, so the answer is invalid
         * alike everywhere (docs/transport.md). */
        if (s->head_lines == 0 && n > 0 && (ptr[0] == ' ' || ptr[0] == '\t')) {
            s->bad_fold = 1;
            return 0;
        }
        s->head_lines++;
    }
    return append_capped(s, &s->head, ptr, n);
}

/* libcurl's own CURLOPT_LOW_SPEED_* also count the time the server spends
 * before its first byte, so a slow purchase would be cut off (and left
 * indeterminate) long before timeout_ms. This check runs only once the
 * final response has begun: whenever low_speed_bytes more have arrived the
 * window starts again; low_speed_ms without that aborts the transfer.
 * libcurl calls this about once a second while nothing moves. */
int fx_session_on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    fx_session *s = (fx_session *)data;
    curl_off_t received = s->header_bytes + dlnow;
    long long now;
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    if (!s->answering || s->low_speed_bytes <= 0)
        return 0;
    now = now_ms();
    if (received - s->window_base >= (curl_off_t)s->low_speed_bytes) {
        s->window_base = received;
        s->window_start_ms = now;
        return 0;
    }
    if (now - s->window_start_ms >= s->low_speed_ms) {
        s->stalled = 1;
        return 1;
    }
    return 0;
}

#if LIBCURL_VERSION_NUM >= 0x075000
#define PREREQ_OK CURL_PREREQFUNC_OK
#define PREREQ_ABORT CURL_PREREQFUNC_ABORT
#else
#define PREREQ_OK 0
#define PREREQ_ABORT 1
#endif

/* libcurl sends a request again by itself, inside the same transfer, when
 * a reused connection dies before any byte of the answer (over HTTP/1.1
 * and HTTP/2 alike), when the server refuses an HTTP/2 stream, and when it
 * answers HTTP_1_1_REQUIRED (Curl_retry_request and its callers). Each
 * attempt passes here first, once its connection is ready and before a
 * byte of the request is sent. A write gets its first attempt; another one
 * only while every earlier attempt was refused unprocessed. Anything else
 * (a connection that died after the server may have read the request)
 * ends the transfer here, reported as sent and not safe to retry. */
int fx_session_on_prereq(void *data, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    fx_session *s = (fx_session *)data;
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    if (s->guard && s->attempts > s->refused) {
        s->resend_blocked = 1;
        return PREREQ_ABORT;
    }
    s->attempts++;
    return PREREQ_OK;
}

/* What libcurl says, in verbose mode, exactly when it retries an HTTP/2
 * stream the server refused (RST_STREAM REFUSED_STREAM, or a stream above
 * a GOAWAY's last stream id) before any byte of an answer, on a connection
 * it did not reuse; RFC 9113 section 8.7: never processed. The same text
 * from 7.x to 8.x (transfer.c, Curl_retry_request); should it ever change,
 * such a retry is only stopped by the guard, which is the safe side. On a
 * reused connection libcurl 7.88 takes its "connection died" branch first
 * and says nothing that tells a refused stream from a dead connection. */
#define REFUSED_TEXT "REFUSED_STREAM, retrying a fresh connect"

int fx_session_on_debug(CURL *easy, curl_infotype type, char *text, size_t n, void *data)
{
    fx_session *s = (fx_session *)data;
    (void)easy;
    if (type == CURLINFO_TEXT && n >= sizeof REFUSED_TEXT - 1 &&
        memcmp(text, REFUSED_TEXT, sizeof REFUSED_TEXT - 1) == 0)
        s->refused++;
    return 0;
}

void fx_session_start_transfer(fx_session *s)
{
    s->errbuf[0] = '\0';
    s->attempts = 0;
    s->refused = 0;
    s->resend_blocked = 0;
    s->too_large = 0;
    s->out_of_memory = 0;
    s->stalled = 0;
    s->answering = 0;
    s->head_done = 0;
    s->head_lines = 0;
    s->head_too_large = 0;
    s->bad_fold = 0;
    s->header_bytes = 0;
    s->window_base = 0;
    s->window_start_ms = 0;
    s->body.len = 0;
    s->head.len = 0;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar: what a field name is made of. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* t[name] = value, or t[name] = t[name] .. sep .. value when already set;
 * an empty value adds nothing to a set one, and is replaced by the next.
 * The name is at `name`; the value is the n bytes at v. */
static void merge_header(lua_State *L, int t, int name, const char *v, size_t n, const char *sep)
{
    lua_pushvalue(L, name);
    lua_rawget(L, t);
    if (lua_isnil(L, -1) || lua_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, n);
    } else if (n == 0) {
        lua_pop(L, 1);
        return;
    } else {
        lua_pushstring(L, sep);
        lua_pushlstring(L, v, n);
        lua_concat(L, 3);
    }
    lua_pushvalue(L, name);
    lua_insert(L, -2);
    lua_rawset(L, t);
}

/* A bare CR or a NUL: never part of a field value (RFC 9110). */
static int has_bad_byte(const char *p, const char *e)
{
    for (; p < e; p++)
        if (*p == '\r' || *p == '\0')
            return 1;
    return 0;
}

/* A line no header is read from: RFC 9112 has a recipient reject a name
 * followed by whitespace, and field values never hold CR, LF or NUL. */
static int is_malformed(const char *p, const char *colon, const char *e)
{
    const char *q;
    if (colon == NULL || colon == p)
        return 1;
    for (q = p; q < colon; q++)
        if (!is_tchar((unsigned char)*q))
            return 1;
    return has_bad_byte(colon + 1, e);
}

/* Turns raw header lines into {lowercased name = value}; repeated names are
 * joined with ", " and obsolete folded lines continue the previous header.
 * A dropped line (malformed, blank, a status line) also ends that header,
 * so a folded line after it is dropped too rather than appended to an
 * earlier header. */
void fx_session_push_headers(lua_State *L, char *data, size_t len)
{
    char *p, *end;
    int t, name = 0; /* stack index of the header a folded line continues */
    lua_newtable(L);
    t = lua_gettop(L);
    if (len == 0)
        return;
    p = data;
    end = data + len;
    while (p < end) {
        char *eol = (char *)memchr(p, '\n', (size_t)(end - p));
        char *next = eol ? eol + 1 : end;
        char *e = eol ? eol : end;
        char *colon, *v, *q;
        while (e > p && e[-1] == '\r')
            e--;
        if (e > p && is_ows(*p)) {
            /* an obsolete folded line: continues the header before it */
            for (v = p; v < e && is_ows(*v); v++)
                ;
            while (e > v && is_ows(e[-1]))
                e--;
            if (name && has_bad_byte(v, e)) {
                lua_pop(L, 1);
                name = 0;
            } else if (name) {
                merge_header(L, t, name, v, (size_t)(e - v), " ");
            }
            p = next;
            continue;
        }
        colon = (char *)memchr(p, ':', (size_t)(e - p));
        if (name) {
            lua_pop(L, 1);
            name = 0;
        }
        if (is_malformed(p, colon, e)) {
            p = next;
            continue;
        }
        for (q = p; q < colon; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        for (v = colon + 1; v < e && is_ows(*v); v++)
            ;
        while (e > v && is_ows(e[-1]))
            e--;
        lua_pushlstring(L, p, (size_t)(colon - p));
        name = lua_gettop(L);
        merge_header(L, t, name, v, (size_t)(e - v), ", ");
        p = next;
    }
    if (name)
        lua_pop(L, 1);
}

static const char *http_version_name(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0:
        return "1.0";
    case CURL_HTTP_VERSION_1_1:
        return "1.1";
    case CURL_HTTP_VERSION_2_0:
        return "2";
    case CURL_HTTP_VERSION_3:
        return "3";
    default:
        return "unknown";
    }
}

static curl_off_t info_us(CURL *easy, CURLINFO info)
{
    curl_off_t us = 0;
    if (curl_easy_getinfo(easy, info, &us) != CURLE_OK)
        us = 0;
    return us;
}

/* Whether any byte of the request may have reached the server. libcurl
 * counts request bytes handed to the connection (request_size for the
 * first write, the upload counter for what follows) and response header
 * bytes; all three stay 0 through resolve, connect and TLS handshake, so
 * false is only ever reported when a retry cannot repeat a write. */
static int request_sent(CURL *easy)
{
    long request_size = 0, header_size = 0;
    curl_off_t uploaded = 0;
    if (curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size) != CURLE_OK ||
        curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_size) != CURLE_OK ||
        curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &uploaded) != CURLE_OK)
        return 1;
    return request_size > 0 || header_size > 0 || uploaded > 0;
}

void fx_session_capture(fx_session *s, CURLcode code, fx_outcome *o)
{
    CURL *easy = s->easy;
    size_t n;
    memset(o, 0, sizeof *o);
    o->code = code;
    (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &o->status);
    (void)curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &o->http_version);
    (void)curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &o->connects);
    o->dns_us = info_us(easy, CURLINFO_NAMELOOKUP_TIME_T);
    o->connect_us = info_us(easy, CURLINFO_CONNECT_TIME_T);
    o->tls_us = info_us(easy, CURLINFO_APPCONNECT_TIME_T);
    o->first_byte_us = info_us(easy, CURLINFO_STARTTRANSFER_TIME_T);
    o->total_us = info_us(easy, CURLINFO_TOTAL_TIME_T);
    o->resend_blocked = s->resend_blocked;
    o->refused = s->refused;
    /* Every attempt that left was refused unprocessed: as if never sent. */
    o->refused_all = !s->resend_blocked && s->attempts > 0 && s->attempts == s->refused;
    if (o->resend_blocked)
        o->sent = 1;
    else if (o->refused_all)
        o->sent = 0;
    else
        o->sent = request_sent(easy);
    o->too_large = s->too_large || code == CURLE_FILESIZE_EXCEEDED;
    o->head_too_large = s->head_too_large;
    /* A header line past libcurl's own limit: its "out of memory" (7.x) or
     * CURLE_TOO_LARGE (8.6+) before the head is complete. */
    o->line_too_large = !s->head_done && !s->out_of_memory && !s->head_too_large &&
                        (code == CURLE_OUT_OF_MEMORY
#if LIBCURL_VERSION_NUM >= 0x080600
                         || code == CURLE_TOO_LARGE
#endif
                        );
    /* libcurl 7.x refuses a fold first in a head itself, before our
     * callback sees it, as a bad function argument mid-head. */
    o->bad_fold = s->bad_fold || (code == CURLE_BAD_FUNCTION_ARGUMENT && s->answering && !s->head_done);
    /* A connection closed after a status line and some headers, before the
     * blank line: libcurl 7.88 takes that for an answer with an empty body.
     * It is a cut answer, as the cosocket transport says. (Over HTTP/2
     * libcurl ends a head with the same blank line.) */
    o->head_cut = code == CURLE_OK && !s->head_done;
    o->out_of_memory = s->out_of_memory;
    o->stalled = s->stalled;
    o->max_response = s->max_response;
    o->low_speed_bytes = s->low_speed_bytes;
    o->low_speed_ms = s->low_speed_ms;
    memcpy(o->errbuf, s->errbuf, sizeof o->errbuf);
    o->errbuf[sizeof o->errbuf - 1] = '\0';
    n = strlen(o->errbuf);
    while (n > 0 && (o->errbuf[n - 1] == '\n' || o->errbuf[n - 1] == '\r' || o->errbuf[n - 1] == ' '))
        o->errbuf[--n] = '\0';
}

static void set_seconds(lua_State *L, curl_off_t us, const char *field)
{
    lua_pushnumber(L, (lua_Number)us / 1e6);
    lua_setfield(L, -2, field);
}

void fx_session_push_response(lua_State *L, const fx_outcome *o, fx_buffer *head, const fx_buffer *body,
                              int url_idx, int decode_idx)
{
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, (lua_Integer)o->status);
    lua_setfield(L, -2, "status");
    fx_session_push_headers(L, head->data, head->len);
    lua_setfield(L, -2, "headers");
    /* Decoded from the buffer, a big page is never copied into a Lua
     * string (nor that string collected): the copy and the collector's
     * share of it were a tenth of a 1000-SIM call. */
    if (decode_idx != 0 && body->len > 0 && o->status >= 200 && o->status <= 299 &&
        fx_json_decode_bytes(L, body->data, body->len, decode_idx)) {
        lua_setfield(L, -2, "data");
    } else {
        lua_pushlstring(L, body->data ? body->data : "", body->len);
        lua_setfield(L, -2, "body");
    }
    lua_pushstring(L, http_version_name(o->http_version));
    lua_setfield(L, -2, "http_version");
    /* NUM_CONNECTS counts the connections this transfer had to open: 0
     * when it ran on a kept-alive one only. */
    lua_pushboolean(L, o->connects == 0);
    lua_setfield(L, -2, "reused");
    lua_createtable(L, 0, 5);
    set_seconds(L, o->dns_us, "dns");
    set_seconds(L, o->connect_us, "connect");
    set_seconds(L, o->tls_us, "tls");
    set_seconds(L, o->first_byte_us, "first_byte");
    set_seconds(L, o->total_us, "total");
    lua_setfield(L, -2, "timings");
    /* The request's URL, not CURLINFO_EFFECTIVE_URL: redirects are never
     * followed, so they are the same, and the request's one is a Lua string
     * nothing can free under us. */
    lua_pushvalue(L, url_idx);
    lua_setfield(L, -2, "url");
}

static const char *error_kind(const fx_outcome *o)
{
    if (o->too_large || o->head_too_large || o->line_too_large)
        return "too_large";
    if (o->stalled)
        return "timeout";
    switch (o->code) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return "tls";
    default:
        return "network";
    }
}

/* Copies the n bytes of a URL part into out, if they fit. */
static int add_part(char *out, size_t cap, size_t *len, const char *part)
{
    size_t n = strlen(part);
    if (n > cap - *len)
        return 0;
    memcpy(out + *len, part, n);
    *len += n;
    return 1;
}

/* "https://user:pw@host:8443/a/b?key=x#f" -> "https://host:8443/a/b": the
 * query and the user info may carry credentials, and errors end up in
 * logs. libcurl's own parser splits the URL, so what is reported is the
 * host and path libcurl used, whatever '?', '#' or '@' the password
 * holds; a URL it cannot parse is never echoed. */
static void push_url_for_error(lua_State *L, const char *url)
{
    static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT, CURLUPART_PATH};
    static const char *const before[] = {"", "://", ":", ""};
    /* The rebuilt URL is never longer than the original plus "/"; the
     * scratch is Lua's, so a raise below leaks nothing, and nothing between
     * curl_url() and curl_url_cleanup() can raise. */
    size_t cap = strlen(url) + 16, len = 0, i;
    char *out = (char *)fx_newuserdata(L, cap);
    CURLU *h = curl_url();
    int ok = h != NULL && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK;
    for (i = 0; ok && i < sizeof parts / sizeof parts[0]; i++) {
        char *part = NULL;
        CURLUcode rc = curl_url_get(h, parts[i], &part, 0);
        if (rc == CURLUE_OK)
            ok = add_part(out, cap, &len, before[i]) && add_part(out, cap, &len, part);
        else
            ok = parts[i] == CURLUPART_PORT && rc == CURLUE_NO_PORT;
        curl_free(part);
    }
    curl_url_cleanup(h);
    if (ok)
        lua_pushlstring(L, out, len);
    else
        lua_pushliteral(L, "<unparseable url>");
    lua_remove(L, -2);
}

int fx_session_return_error(lua_State *L, const fx_outcome *o, const char *method, const char *url)
{
    int err;
    lua_pushnil(L);
    if (o->too_large)
        lua_pushfstring(L, "response larger than max_response_bytes (%d bytes)", (int)o->max_response);
    else if (o->head_too_large)
        lua_pushfstring(L, "response headers larger than %d bytes", (int)FX_MAX_HEAD_BYTES);
    else if (o->line_too_large)
        lua_pushfstring(L, "a response header line longer than libcurl takes (%d bytes)", (int)FX_MAX_HEAD_LINE);
    else if (o->head_cut)
        lua_pushliteral(L, "the connection closed in the middle of the answer's head (before the blank line "
                           "that ends it)");
    else if (o->bad_fold)
        lua_pushliteral(L, "invalid answer: a header line starts with whitespace (an obsolete fold) "
                           "with no header before it");
    else if (o->stalled)
        lua_pushfstring(L, "response stalled: fewer than %d bytes arrived in %d ms "
                           "(low_speed_bytes, low_speed_ms)",
                        (int)o->low_speed_bytes, (int)o->low_speed_ms);
    else if (o->out_of_memory)
        lua_pushliteral(L, "out of memory reading the response");
    else if (o->resend_blocked)
        lua_pushliteral(L, "the connection ended before any answer to this write, which the server may have "
                           "processed: not sent again (libcurl would have)");
    else if (o->refused_all)
        lua_pushfstring(L, "%s (the server refused the request unprocessed %d times: HTTP/2 REFUSED_STREAM)",
                        o->errbuf[0] != '\0' ? o->errbuf : curl_easy_strerror(o->code), o->refused);
    else
        lua_pushstring(L, o->errbuf[0] != '\0' ? o->errbuf : curl_easy_strerror(o->code));
    fx_error_push(L, error_kind(o), lua_tostring(L, -1));
    lua_remove(L, -2);
    err = lua_gettop(L);
    lua_pushinteger(L, (lua_Integer)o->code);
    lua_setfield(L, err, "curl_code");
    lua_pushstring(L, fx_curl_code_name(o->code));
    lua_setfield(L, err, "curl_error");
    lua_pushboolean(L, o->sent);
    lua_setfield(L, err, "sent");
    /* The transport's answer for the raw request (docs/transport.md): only
     * a request of which no byte left can be sent again whatever it was;
     * the pipeline replaces it with the call's answer. */
    lua_pushboolean(L, !o->sent);
    lua_setfield(L, err, "safe_to_retry");
    lua_pushstring(L, method);
    lua_setfield(L, err, "method");
    push_url_for_error(L, url);
    lua_setfield(L, err, "url");
    return 2;
}
