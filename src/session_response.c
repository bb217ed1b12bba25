/* What a transfer hands back: the write callbacks that collect the body and
 * the final response's header lines, the response table built from them,
 * and the error object for a transfer that failed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "curl_global.h"
#include "error.h"
#include "session_internal.h"

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
            (void)reserve_quietly(&s->body, (size_t)length);
    }
    return append_capped(s, &s->body, ptr, n);
}

size_t fx_session_on_header(char *ptr, size_t size, size_t nitems, void *data)
{
    fx_session *s = (fx_session *)data;
    size_t n = size * nitems;
    /* Each status line starts a new response (1xx interim ones, a proxy's
     * CONNECT reply): only the last one's headers are reported. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        s->head.len = 0;
    return append_capped(s, &s->head, ptr, n);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* t[name] = value, or t[name] = t[name] .. sep .. value when already set.
 * The name is at `name`; the value is the n bytes at v. */
static void merge_header(lua_State *L, int t, int name, const char *v, size_t n, const char *sep)
{
    lua_pushvalue(L, name);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, n);
    } else {
        lua_pushstring(L, sep);
        lua_pushlstring(L, v, n);
        lua_concat(L, 3);
    }
    lua_pushvalue(L, name);
    lua_insert(L, -2);
    lua_rawset(L, t);
}

/* Turns the raw header lines into {lowercased name = value}; repeated names
 * are joined with ", " and obsolete folded lines continue the previous one. */
static void push_headers(lua_State *L, fx_session *s)
{
    char *p = s->head.data;
    char *end = p + s->head.len;
    int t, name = 0;
    lua_newtable(L);
    t = lua_gettop(L);
    while (p < end) {
        char *eol = (char *)memchr(p, '\n', (size_t)(end - p));
        char *next = eol ? eol + 1 : end;
        char *e = eol ? eol : end;
        char *colon, *v, *q;
        while (e > p && e[-1] == '\r')
            e--;
        if (e == p || (e - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            p = next;
            continue;
        }
        if (is_ows(*p)) {
            for (v = p; v < e && is_ows(*v); v++)
                ;
            while (e > v && is_ows(e[-1]))
                e--;
            if (name && e > v)
                merge_header(L, t, name, v, (size_t)(e - v), " ");
            p = next;
            continue;
        }
        colon = (char *)memchr(p, ':', (size_t)(e - p));
        if (colon == NULL || colon == p) {
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
        if (name)
            lua_pop(L, 1);
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

static void set_seconds(lua_State *L, CURL *easy, CURLINFO info, const char *field)
{
    curl_off_t us = 0;
    if (curl_easy_getinfo(easy, info, &us) != CURLE_OK)
        us = 0;
    lua_pushnumber(L, (lua_Number)us / 1e6);
    lua_setfield(L, -2, field);
}

void fx_session_push_response(lua_State *L, fx_session *s)
{
    long status = 0, version = 0, connects = 0;
    char *url = NULL;
    (void)curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    (void)curl_easy_getinfo(s->easy, CURLINFO_HTTP_VERSION, &version);
    (void)curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
    (void)curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);

    lua_createtable(L, 0, 7);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    push_headers(L, s);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, http_version_name(version));
    lua_setfield(L, -2, "http_version");
    lua_pushboolean(L, connects == 0);
    lua_setfield(L, -2, "reused");
    lua_createtable(L, 0, 5);
    set_seconds(L, s->easy, CURLINFO_NAMELOOKUP_TIME_T, "dns");
    set_seconds(L, s->easy, CURLINFO_CONNECT_TIME_T, "connect");
    set_seconds(L, s->easy, CURLINFO_APPCONNECT_TIME_T, "tls");
    set_seconds(L, s->easy, CURLINFO_STARTTRANSFER_TIME_T, "first_byte");
    set_seconds(L, s->easy, CURLINFO_TOTAL_TIME_T, "total");
    lua_setfield(L, -2, "timings");
    lua_pushstring(L, url ? url : "");
    lua_setfield(L, -2, "url");
}

static const char *error_kind(CURLcode code, int too_large)
{
    if (too_large || code == CURLE_FILESIZE_EXCEEDED)
        return "too_large";
    switch (code) {
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

/* "https://user:pw@host/a/b?key=x#f" -> "https://host/a/b": the query and
 * user info may carry credentials, and errors end up in logs. */
static void push_url_for_error(lua_State *L, const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *host = auth, *q;
    const char *path = auth + auth_len;
    for (q = auth; q < path; q++)
        if (*q == '@')
            host = q + 1;
    lua_pushlstring(L, url, (size_t)(auth - url));
    lua_pushlstring(L, host, (size_t)(path - host));
    lua_pushlstring(L, path, strcspn(path, "?#"));
    lua_concat(L, 3);
}

int fx_session_return_error(lua_State *L, fx_session *s, CURLcode code, const char *method,
                            const char *url)
{
    const char *kind = error_kind(code, s->too_large);
    int err;
    size_t n = strlen(s->errbuf);
    while (n > 0 && (s->errbuf[n - 1] == '\n' || s->errbuf[n - 1] == '\r' || s->errbuf[n - 1] == ' '))
        s->errbuf[--n] = '\0';
    lua_pushnil(L);
    if (s->too_large || code == CURLE_FILESIZE_EXCEEDED)
        lua_pushfstring(L, "response larger than max_response_bytes (%d bytes)", (int)s->max_response);
    else
        lua_pushstring(L, n > 0 ? s->errbuf : curl_easy_strerror(code));
    fx_error_push(L, kind, lua_tostring(L, -1));
    lua_remove(L, -2);
    err = lua_gettop(L);
    lua_pushinteger(L, (lua_Integer)code);
    lua_setfield(L, err, "curl_code");
    lua_pushstring(L, fx_curl_code_name(code));
    lua_setfield(L, err, "curl_error");
    lua_pushboolean(L, request_sent(s->easy));
    lua_setfield(L, err, "sent");
    lua_pushstring(L, method);
    lua_setfield(L, err, "method");
    push_url_for_error(L, url);
    lua_setfield(L, err, "url");
    return 2;
}
