/* core.multi(opts): many transfers in flight at once over libcurl's multi
 * interface, for flexiroam.batch.
 *
 *   local m = core.multi{timeout_ms = ..., max_connections = 16, <session options>}
 *   local id = m:add{method =, url =, headers =, body =, timeout_ms =}
 *   for _, r in ipairs(m:perform(timeout_ms)) do  -- r = {id =, res =} or {id =, err =}
 *
 * A request and its answer are exactly those of core.session (same options,
 * same checks, same response table and error object: session.c and
 * session_response.c do both); each transfer has its own timeouts. The
 * transfers share the multi's connection pool (at most max_connections
 * open, kept alive and multiplexed over HTTP/2 when the server offers it),
 * its DNS cache and its TLS sessions. Every easy handle, header list and
 * buffer belongs to the multi userdata, which frees them on close, __gc and
 * __close alike. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "handle.h"
#include "curl_global.h"
#include "multi.h"
#include "options.h"
#include "session_internal.h"

#define MULTI_MT "flexiroam.multi"
#define DEFAULT_CONNECTIONS 16
#define MAX_CONNECTIONS 4096
#define MAX_WAIT_MS 86400000L

/* One transfer slot: a session-shaped record, so that the session's
 * callbacks, request setup and answer building work on it unchanged. Slots
 * are allocated one by one and never move: libcurl holds pointers to them. */
typedef struct transfer {
    fx_session s;
    lua_Integer id; /* 0 while idle */
    int method;
    char *url;      /* the request's, for its error report */
} transfer;

typedef struct fx_multi {
    CURLM *multi; /* NULL once closed */
    CURLSH *share;
    fx_session tmpl; /* configured once; every slot's handle is a duplicate */
    fx_origin_memory origin; /* what the answers taught: may a write ride a kept-alive connection */
    transfer **slots;
    size_t nslots, cap, active;
    lua_Integer next_id;
    /* Set while add or perform runs. A finalizer that runs meanwhile (any
     * Lua allocation may run one) and closes this multi only marks it
     * closing: the slots stay valid until the call is over. */
    int busy, closing;
} fx_multi;

static void free_transfer(fx_multi *m, transfer *t)
{
    if (t->s.easy != NULL) {
        if (t->id != 0 && m->multi != NULL)
            (void)curl_multi_remove_handle(m->multi, t->s.easy);
        curl_easy_cleanup(t->s.easy);
    }
    curl_slist_free_all(t->s.headers);
    free(t->s.body.data);
    free(t->s.head.data);
    free(t->url);
    free(t);
}

/* Idempotent. Transfers still in flight are abandoned. The easy handles go
 * before the multi and the share, which refuse to go while in use. */
static void release(fx_multi *m)
{
    size_t i;
    if (m->busy) {
        m->closing = 1;
        return;
    }
    for (i = 0; i < m->nslots; i++)
        free_transfer(m, m->slots[i]);
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->cap = m->active = 0;
    if (m->multi != NULL) {
        curl_multi_cleanup(m->multi);
        m->multi = NULL;
    }
    if (m->tmpl.easy != NULL) {
        curl_easy_cleanup(m->tmpl.easy);
        m->tmpl.easy = NULL;
    }
    if (m->share != NULL) {
        curl_share_cleanup(m->share);
        m->share = NULL;
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* max_connections, then the options table again without it, for the
 * session's reader (which raises on keys it does not know). */
static long read_max_connections(lua_State *L)
{
    long n;
    if (lua_isnoneornil(L, 1))
        return DEFAULT_CONNECTIONS;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    n = fx_opt_integer(L, 1, "max_connections", DEFAULT_CONNECTIONS, 1, MAX_CONNECTIONS);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "max_connections") == 0) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_replace(L, 1);
    return n;
}

static int multi_new(lua_State *L)
{
    fx_session_opts o;
    fx_multi *m;
    CURLSHcode sc = CURLSHE_OK;
    long max_connections = read_max_connections(L);
    fx_session_read_opts(L, &o);
    fx_curl_global_init(L);
    m = (fx_multi *)fx_handle_new(L, sizeof *m, MULTI_MT);
    m->multi = curl_multi_init();
    m->share = curl_share_init();
    m->tmpl.easy = curl_easy_init();
    if (m->multi == NULL || m->share == NULL || m->tmpl.easy == NULL) {
        release(m);
        return luaL_error(L, "multi: libcurl could not create its handles");
    }
    /* Connections are the multi's own pool (what max_connections bounds);
     * the share adds the DNS cache and TLS session resumption. */
    sc = curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    if (sc == CURLSHE_OK)
        sc = curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (sc != CURLSHE_OK)
        return luaL_error(L, "multi: cannot configure the share handle: %s", curl_share_strerror(sc));
    if (curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, max_connections) != CURLM_OK)
        return luaL_error(L, "multi: cannot bound the connections");
    /* Fails only on a libcurl without HTTP/2, which then opens more connections. */
    (void)curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);

    m->tmpl.max_response = (size_t)o.max_response;
    m->tmpl.timeout_ms = o.timeout_ms;
    m->tmpl.low_speed_bytes = o.low_speed_bytes;
    m->tmpl.low_speed_ms = o.low_speed_ms;
    /* One memory for every transfer: the multi's pool is theirs alike. */
    m->tmpl.origin = &m->origin;
    fx_session_configure(L, &m->tmpl, &o);
    if (curl_easy_setopt(m->tmpl.easy, CURLOPT_SHARE, m->share) != CURLE_OK)
        return luaL_error(L, "multi: cannot attach the share handle");
    return 1;
}

static fx_multi *check_multi(lua_State *L)
{
    fx_multi *m = (fx_multi *)luaL_checkudata(L, 1, MULTI_MT);
    if (m->multi == NULL || m->closing)
        luaL_error(L, "multi is closed");
    return m;
}

/* Gives slot t a handle duplicated from the template (whose handle never
 * runs a transfer), in place of the one it has, if any. */
static void fresh_handle(lua_State *L, fx_multi *m, transfer *t)
{
    CURL *easy = curl_easy_duphandle(m->tmpl.easy);
    if (easy == NULL)
        luaL_error(L, "multi: libcurl could not create a handle");
    if (t->s.easy != NULL)
        curl_easy_cleanup(t->s.easy);
    t->s.easy = easy;
    t->s.performed = 0;
    fx_session_bind(L, &t->s);
    if (curl_easy_setopt(t->s.easy, CURLOPT_SHARE, m->share) != CURLE_OK ||
        curl_easy_setopt(t->s.easy, CURLOPT_PRIVATE, (void *)t) != CURLE_OK)
        luaL_error(L, "multi: cannot set up a handle");
}

/* An idle slot, or a new one duplicated from the template. On a libcurl
 * that keeps a dangling header pointer between transfers
 * (fx_curl_keeps_last_header), an idle slot gets a fresh handle first. */
static transfer *idle_transfer(lua_State *L, fx_multi *m)
{
    transfer *t;
    size_t i;
    for (i = 0; i < m->nslots; i++)
        if (m->slots[i]->id == 0) {
            t = m->slots[i];
            if (t->s.easy == NULL || (t->s.performed && fx_curl_keeps_last_header()))
                fresh_handle(L, m, t);
            return t;
        }
    if (m->nslots == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        transfer **slots = (transfer **)realloc(m->slots, cap * sizeof *slots);
        if (slots == NULL)
            luaL_error(L, "not enough memory");
        m->slots = slots;
        m->cap = cap;
    }
    t = (transfer *)malloc(sizeof *t);
    if (t == NULL)
        luaL_error(L, "not enough memory");
    memset(t, 0, sizeof *t);
    /* The template's settings (caps, default timeout, stall check); its
     * handle, header list and buffers are never used, so nothing of them
     * is shared. */
    t->s = m->tmpl;
    t->s.easy = NULL;
    m->slots[m->nslots++] = t; /* owned by the multi from here on */
    fresh_handle(L, m, t);
    return t;
}

/* Stack: 1 multi, 2 request table. */
static int add_body(lua_State *L)
{
    fx_multi *m = (fx_multi *)lua_touserdata(L, 1);
    fx_request r;
    transfer *t;
    const char *url;
    size_t n;
    char *copy;
    CURLMcode mc;
    fx_request_read(L, m->tmpl.timeout_ms, &r);
    t = idle_transfer(L, m);
    fx_request_apply(L, &t->s, &r);
    url = r.url;
    n = strlen(url);
    /* The session hands libcurl the body in place, which is safe while it
     * waits for the answer; a multi returns at once, so libcurl keeps a copy. */
    if (r.body != NULL && curl_easy_setopt(t->s.easy, CURLOPT_COPYPOSTFIELDS, r.body) != CURLE_OK) {
        fx_session_drop_headers(&t->s);
        return luaL_error(L, "not enough memory");
    }
    copy = (char *)malloc(n + 1);
    if (copy == NULL) {
        fx_session_drop_headers(&t->s);
        return luaL_error(L, "not enough memory");
    }
    memcpy(copy, url, n + 1);
    free(t->url);
    t->url = copy;
    /* Over TLS, wait for a connection being set up to say (by ALPN) whether
     * it takes more HTTP/2 streams rather than open one more; over plain
     * HTTP nothing says so before a whole answer, so never wait there. */
    (void)curl_easy_setopt(t->s.easy, CURLOPT_PIPEWAIT, strncasecmp(url, "https://", 8) == 0 ? 1L : 0L);
    mc = curl_multi_add_handle(m->multi, t->s.easy);
    if (mc != CURLM_OK) {
        fx_session_drop_headers(&t->s);
        return luaL_error(L, "multi: cannot add the transfer: %s", curl_multi_strerror(mc));
    }
    t->s.performed = 1;
    t->id = ++m->next_id;
    t->method = r.method;
    m->active++;
    lua_pushinteger(L, t->id);
    return 1;
}

/* The result of a finished transfer, appended to the list at `results`. */
static void finish(lua_State *L, fx_multi *m, transfer *t, CURLcode code, int results, int n)
{
    lua_Integer id = t->id;
    fx_outcome o;
    (void)curl_multi_remove_handle(m->multi, t->s.easy);
    fx_session_drop_headers(&t->s);
    fx_session_capture(&t->s, code, &o);
    fx_session_learn(&t->s, &o);
    t->id = 0;
    m->active--;
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    if (code == CURLE_OK && !o.head_cut) {
        lua_pushstring(L, t->url);
        fx_session_push_response(L, &o, &t->s.head, &t->s.body, lua_gettop(L), 0);
        lua_setfield(L, -3, "res");
    } else {
        fx_session_return_error(L, &o, fx_session_method_name(t->method), t->url);
        lua_setfield(L, -3, "err");
    }
    lua_pop(L, 1);
    fx_session_reset_buffers(&t->s);
    lua_rawseti(L, results, n);
}

/* Stack: 1 multi, 2 timeout in ms. */
static int perform_body(lua_State *L)
{
    fx_multi *m = (fx_multi *)lua_touserdata(L, 1);
    long long timeout_ms = (long long)lua_tonumber(L, 2);
    long long start = now_ms();
    int results, n = 0;
    lua_newtable(L);
    results = lua_gettop(L);
    for (;;) {
        int running = 0, left = 0;
        long long elapsed;
        CURLMsg *msg;
        CURLMcode mc = curl_multi_perform(m->multi, &running);
        if (mc != CURLM_OK)
            return luaL_error(L, "multi: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
            transfer *t = NULL;
            CURLcode code;
            if (msg->msg != CURLMSG_DONE)
                continue;
            code = msg->data.result; /* msg does not survive the handle's removal */
            if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t) != CURLE_OK || t == NULL)
                continue;
            finish(L, m, t, code, results, ++n);
        }
        if (n > 0 || m->active == 0)
            break;
        elapsed = now_ms() - start;
        if (elapsed >= timeout_ms)
            break;
        mc = curl_multi_poll(m->multi, NULL, 0, (int)(timeout_ms - elapsed), NULL);
        if (mc != CURLM_OK)
            return luaL_error(L, "multi: %s", curl_multi_strerror(mc));
    }
    return 1;
}

/* Runs body(multi, arg) with the multi marked busy, clearing the mark
 * whether body returns or raises. */
static int guarded(lua_State *L, lua_CFunction body)
{
    fx_multi *m = check_multi(L);
    int rc;
    if (m->busy)
        return luaL_error(L, "multi is busy (add and perform cannot run inside perform)");
    lua_settop(L, 2);
    lua_pushcfunction(L, body);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    /* LuaJIT allocates a closure for lua_pushcfunction: a collection step
     * there may run a finalizer that closes this multi (not yet busy, so
     * at once). From here on a close waits for the mark to clear. */
    if (m->multi == NULL)
        return luaL_error(L, "multi is closed");
    m->busy = 1;
    rc = lua_pcall(L, 2, 1, 0);
    m->busy = 0;
    if (m->closing)
        release(m);
    if (rc != 0)
        return lua_error(L);
    return 1;
}

/* m:add(request) -> id. The request table is core.session's. */
static int multi_add(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    return guarded(L, add_body);
}

/* m:perform([timeout_ms]) -> {{id =, res =} | {id =, err =}, ...}: moves
 * every transfer along; returns those that finished, waiting up to
 * timeout_ms (default 0) for at least one. Nothing in flight: {} at once. */
static int multi_perform(lua_State *L)
{
    lua_Number ms = luaL_optnumber(L, 2, 0);
    if (!(ms >= 0 && ms <= (lua_Number)MAX_WAIT_MS))
        return luaL_argerror(L, 2, "timeout_ms must be from 0 to 86400000");
    lua_settop(L, 1);
    lua_pushnumber(L, ms);
    return guarded(L, perform_body);
}

/* m:pending() -> how many transfers are in flight. */
static int multi_pending(lua_State *L)
{
    fx_multi *m = check_multi(L);
    lua_pushinteger(L, (lua_Integer)m->active);
    return 1;
}

static int multi_close(lua_State *L)
{
    release((fx_multi *)luaL_checkudata(L, 1, MULTI_MT));
    return 0;
}

static int multi_tostring(lua_State *L)
{
    fx_multi *m = (fx_multi *)luaL_checkudata(L, 1, MULTI_MT);
    if (m->multi == NULL || m->closing)
        lua_pushfstring(L, "flexiroam.multi: %p (closed)", (void *)m);
    else
        lua_pushfstring(L, "flexiroam.multi: %p (open, %d in flight)", (void *)m, (int)m->active);
    return 1;
}

static const luaL_Reg multi_methods[] = {
    {"add", multi_add},
    {"perform", multi_perform},
    {"pending", multi_pending},
    {"close", multi_close},
    {NULL, NULL},
};

static const luaL_Reg multi_functions[] = {{"multi", multi_new}, {NULL, NULL}};

void fx_multi_register(lua_State *L, int module)
{
    fx_handle_type(L, MULTI_MT, multi_methods, multi_close, multi_tostring);
    fx_set_functions(L, module, multi_functions);
}
