/* json.encode(value [, opts]) -> string | nil, err
 *
 * One recursive pass over the value, straight into a scratch buffer that
 * lives as an upvalue of the closure (reused across calls), then a single
 * lua_pushlstring. Only raw accesses (lua_next, lua_rawgeti) are used, so no
 * Lua code and no Lua allocation happens until the result is pushed: nothing
 * can mutate the value half-way, and only that push can run a finalizer
 * that re-enters the encoder (see json_encode).
 *
 * Failures return nil plus an error {kind = "encode", message, path}. The
 * path is only built when something fails: the failing spot resets the
 * output buffer and each level appends its own segment, reversed, on the way
 * out; the top level reverses the lot once. Array indices in paths are Lua's
 * (1-based), since the path names a place in the Lua value. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "error.h"
#include "json.h"
#include "options.h"

/* C recursion follows the nesting, so max_depth also bounds the C stack
 * (a few hundred bytes a level, more under sanitizers). */
#define ENC_DEPTH_CEILING 10000

/* A scratch buffer grown past this by one huge call is cut back to
 * ENC_KEEP_BYTES afterwards, so it does not pin that memory for good. */
#define ENC_SHRINK_ABOVE (1024 * 1024)
#define ENC_KEEP_BYTES (64 * 1024)

#define ENC_FAIL (-1)

/* Failure paths stay out of line: their message buffers must not weigh on
 * every level of the recursion. */
#if defined(__GNUC__)
#define ENC_COLD __attribute__((noinline, cold))
#define ENC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ENC_COLD
#define ENC_PRINTF(f, a)
#endif

typedef struct enc {
    lua_State *L;
    fx_buffer *out;
    fx_buffer *path;   /* const void *: the tables being encoded, outermost first */
    fx_buffer *sort;   /* member records of the sort_keys objects in progress */
    const void *array_mt;
    int depth;
    int max_depth;
    int sort_keys;
    char msg[192];
} enc;

/* With sort_keys, members are written in traversal order, then moved into
 * key order: this avoids any Lua allocation (and so any finalizer) mid-way. */
typedef struct member {
    const char *key; /* a key of the table on the stack: stays alive */
    size_t klen;
    size_t off;      /* where `"key":value` starts in the output */
    size_t len;
} member;

/* ---- byte classes for strings ------------------------------------------ */

enum { C_PLAIN = 0, C_ESC, C_UTF8_2, C_UTF8_3, C_UTF8_4, C_BAD };

#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
static const unsigned char byte_class[256] = {
    R16(C_ESC), R16(C_ESC),                                       /* 00-1f */
    C_PLAIN, C_PLAIN, C_ESC, C_PLAIN, R4(C_PLAIN), R4(C_PLAIN), R4(C_PLAIN), /* 20-2f: '"' */
    R16(C_PLAIN), R16(C_PLAIN),                                   /* 30-4f */
    R4(C_PLAIN), R4(C_PLAIN), R4(C_PLAIN),                       /* 50-5b */
    C_ESC, C_PLAIN, C_PLAIN, C_PLAIN,                             /* 5c-5f: '\\' */
    R16(C_PLAIN), R16(C_PLAIN),                                   /* 60-7f */
    R16(C_BAD), R16(C_BAD), R16(C_BAD), R16(C_BAD),               /* 80-bf: continuations */
    C_BAD, C_BAD, C_UTF8_2, C_UTF8_2, R4(C_UTF8_2), R4(C_UTF8_2), R4(C_UTF8_2), /* c0-cf */
    R16(C_UTF8_2),                                                /* d0-df */
    R16(C_UTF8_3),                                                /* e0-ef */
    C_UTF8_4, C_UTF8_4, C_UTF8_4, C_UTF8_4, C_UTF8_4,             /* f0-f4 */
    C_BAD, C_BAD, C_BAD, R4(C_BAD), R4(C_BAD)                     /* f5-ff */
};

/* Short escapes; 0 means \u00XX. */
static const char short_escape[256] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    ['"'] = '"', ['\\'] = '\\',
};

static const char hex_digits[] = "0123456789abcdef";

/* Eight bytes at a time: a byte needs a look when it is < 0x20, '"', '\\'
 * or >= 0x80. The lowest flagged byte is exact (borrows only propagate
 * upwards from a flagged byte), which is all the scan uses. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ENC_SWAR 1
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t special_bytes(uint64_t w)
{
    uint64_t lt = (w - ONES * 0x20) & ~w;
    uint64_t q = w ^ (ONES * '"');
    uint64_t bs = w ^ (ONES * '\\');
    q = (q - ONES) & ~q;
    bs = (bs - ONES) & ~bs;
    return (lt | q | bs | w) & HIGHS;
}
#else
#define ENC_SWAR 0
#endif

/* ---- failure and path ----------------------------------------------------- */

static ENC_COLD ENC_PRINTF(2, 3) int fail(enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->out->len = 0;
    return ENC_FAIL;
}

static ENC_COLD void add_reversed(enc *e, const char *s, size_t n)
{
    fx_buffer *b = e->out;
    fx_buffer_reserve(e->L, b, n);
    while (n > 0)
        b->data[b->len++] = s[--n];
}

static ENC_COLD int path_index(enc *e, long long i)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "[%lld]", i);
    add_reversed(e, tmp, (size_t)n);
    return ENC_FAIL;
}

static int is_identifier(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* `.key`, or `["key"]` (JSON-escaped) when the key is not identifier-like. */
static ENC_COLD int path_key(enc *e, const char *k, size_t n)
{
    if (is_identifier(k, n)) {
        add_reversed(e, k, n);
        add_reversed(e, ".", 1);
        return ENC_FAIL;
    }
    add_reversed(e, "\"]", 2);
    while (n > 0) {
        unsigned char c = (unsigned char)k[--n];
        char tmp[6];
        size_t len = 1;
        tmp[0] = (char)c;
        if (c < 0x20 || c == '"' || c == '\\') {
            tmp[0] = '\\';
            if (short_escape[c]) {
                tmp[1] = short_escape[c];
                len = 2;
            } else {
                memcpy(tmp + 1, "u00", 3);
                tmp[4] = hex_digits[c >> 4];
                tmp[5] = hex_digits[c & 15];
                len = 6;
            }
        }
        add_reversed(e, tmp, len);
    }
    add_reversed(e, "[\"", 2);
    return ENC_FAIL;
}

/* A short, printable rendering of a key for messages. */
static const char *describe_key(lua_State *L, int idx, char *buf, size_t cap)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n, i, o = 0;
        const char *s = lua_tolstring(L, idx, &n);
        o += (size_t)snprintf(buf, cap, "string key \"");
        for (i = 0; i < n && o + 8 < cap; i++) {
            unsigned char c = (unsigned char)s[i];
            if (i == 40) {
                o += (size_t)snprintf(buf + o, cap - o, "...");
                break;
            }
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                buf[o++] = (char)c;
            else
                o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        }
        snprintf(buf + o, cap - o, "\"");
        return buf;
    }
    case LUA_TNUMBER:
#if FX_HAS_INTEGERS
        if (lua_isinteger(L, idx)) {
            snprintf(buf, cap, "number key %lld", (long long)lua_tointeger(L, idx));
            return buf;
        }
#endif
        snprintf(buf, cap, "number key %.17g", (double)lua_tonumber(L, idx));
        return buf;
    case LUA_TBOOLEAN:
        snprintf(buf, cap, "boolean key %s", lua_toboolean(L, idx) ? "true" : "false");
        return buf;
    default:
        snprintf(buf, cap, "%s key", lua_typename(L, lua_type(L, idx)));
        return buf;
    }
}

/* A failure about the key at `idx`: "<before><key><after>", plus the byte
 * offset when `byte` is not 0. */
static ENC_COLD int fail_key(enc *e, int idx, const char *before, const char *after, unsigned long byte)
{
    char what[96];
    describe_key(e->L, idx, what, sizeof what);
    if (byte)
        return fail(e, "%s%s%s (byte %lu)", before, what, after, byte);
    return fail(e, "%s%s%s", before, what, after);
}

/* ---- scalars ---------------------------------------------------------------- */

static inline void put_lit(enc *e, const char *s, size_t n)
{
    fx_buffer_add(e->L, e->out, s, n);
}

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static void put_integer(enc *e, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    /* unsigned negation keeps LLONG_MIN exact */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (u >= 10) {
        unsigned d = (unsigned)u * 2;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    put_lit(e, p, (size_t)(tmp + sizeof tmp - p));
}

/* Shortest "%.Ng" text that strtod reads back as the same double. For
 * normal doubles no two 15-digit decimals share a double (DBL_DIG), so when
 * 15 digits round-trip that text is already the shortest; subnormals have
 * fewer significant bits and are searched from 1 digit. printf and strtod
 * share the locale, so the round-trip check holds in any of them; the
 * locale's decimal point is then rewritten to '.'. */
static int put_float(enc *e, double d)
{
    char tmp[40], *o;
    int prec, n, i, plain = 1;
    if (d != d)
        return fail(e, "cannot encode NaN");
    if (d > DBL_MAX || d < -DBL_MAX)
        return fail(e, "cannot encode %s", d > 0 ? "inf" : "-inf");
    if (d == 0) {
        /* -0 keeps its sign through a decode in either form */
#if FX_HAS_INTEGERS
        put_lit(e, signbit(d) ? "-0.0" : "0.0", signbit(d) ? 4 : 3);
#else
        put_lit(e, signbit(d) ? "-0" : "0", signbit(d) ? 2 : 1);
#endif
        return 0;
    }
#if FX_HAS_INTEGERS
    /* "%.15g" would print these digit for digit; the ".0" keeps them floats */
    if (d == floor(d) && fabs(d) < 1e15) {
        put_integer(e, (long long)d);
        put_lit(e, ".0", 2);
        return 0;
    }
#else
    /* 5.1/LuaJIT have no integer subtype: an integral double that is exact
     * as an integer is written as one, as the integer it stands for. */
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        put_integer(e, (long long)d);
        return 0;
    }
#endif
    prec = fabs(d) < DBL_MIN ? 1 : 15;
    for (;; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (prec >= 17 || strtod(tmp, NULL) == d)
            break;
    }
    fx_buffer_reserve(e->L, e->out, (size_t)n + 2);
    o = e->out->data + e->out->len;
    for (i = 0; i < n; i++) {
        char c = tmp[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
            *o++ = c;
        } else if (c == 'e' || c == 'E') {
            *o++ = 'e';
            plain = 0;
        } else {
            /* the decimal point, possibly several bytes long */
            *o++ = '.';
            plain = 0;
            while (i + 1 < n && !(tmp[i + 1] >= '0' && tmp[i + 1] <= '9'))
                i++;
        }
    }
    if (plain) {
        *o++ = '.';
        *o++ = '0';
    }
    e->out->len = (size_t)(o - e->out->data);
    return 0;
}

static int put_string(enc *e, const char *s, size_t len, int is_key)
{
    fx_buffer *b = e->out;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    char *out, *end;
    /* one output byte per input byte and the quotes; escapes ask for more */
    fx_buffer_reserve(e->L, b, len + 3);
    out = b->data + b->len;
    end = b->data + b->cap;
    *out++ = '"';
    for (;;) {
        unsigned c;
#if ENC_SWAR
        while (len - i >= 8) {
            uint64_t w, m;
            memcpy(&w, s + i, 8);
            memcpy(out, &w, 8);
            m = special_bytes(w);
            if (m != 0) {
                m = (uint64_t)__builtin_ctzll(m) >> 3;
                out += m;
                i += m;
                break;
            }
            out += 8;
            i += 8;
        }
#endif
        while (i < len && byte_class[u[i]] == C_PLAIN)
            *out++ = (char)u[i++];
        if (i == len)
            break;
        c = u[i];
        switch (byte_class[c]) {
        case C_ESC:
            if ((size_t)(end - out) < len - i + 7) {
                b->len = (size_t)(out - b->data);
                fx_buffer_reserve(e->L, b, len - i + 7);
                out = b->data + b->len;
                end = b->data + b->cap;
            }
            *out++ = '\\';
            if (short_escape[c]) {
                *out++ = short_escape[c];
            } else {
                memcpy(out, "u00", 3);
                out[3] = hex_digits[c >> 4];
                out[4] = hex_digits[c & 15];
                out += 5;
            }
            i++;
            break;
        case C_UTF8_2:
            if (i + 1 >= len || (u[i + 1] & 0xc0) != 0x80)
                goto bad_utf8;
            out[0] = (char)c;
            out[1] = (char)u[i + 1];
            out += 2;
            i += 2;
            break;
        case C_UTF8_3: {
            /* no overlong forms (e0 80..9f) and no surrogates (ed a0..bf) */
            unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (i + 2 >= len || u[i + 1] < lo || u[i + 1] > hi || (u[i + 2] & 0xc0) != 0x80)
                goto bad_utf8;
            memcpy(out, s + i, 3);
            out += 3;
            i += 3;
            break;
        }
        case C_UTF8_4: {
            /* no overlong forms (f0 80..8f), nothing above U+10FFFF (f4 90..) */
            unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            if (i + 3 >= len || u[i + 1] < lo || u[i + 1] > hi || (u[i + 2] & 0xc0) != 0x80 ||
                (u[i + 3] & 0xc0) != 0x80)
                goto bad_utf8;
            memcpy(out, s + i, 4);
            out += 4;
            i += 4;
            break;
        }
        default:
            goto bad_utf8;
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return 0;

bad_utf8:
    /* a key is the one at -2 (from lua_next) in both object loops */
    if (is_key)
        return fail_key(e, -2, "invalid UTF-8 in ", "", (unsigned long)i + 1);
    return fail(e, "invalid UTF-8 in string (byte %lu)", (unsigned long)i + 1);
}

/* ---- tables ------------------------------------------------------------------ */

static int enc_value(enc *e, int idx);

/* t[1..n], each element followed by ',' and the last one turned into ']'.
 * A nil inside can only come from an array-marked table (plain ones were
 * checked to hold exactly 1..n) and is an error there. */
static int enc_array(enc *e, int t, long long n)
{
    lua_State *L = e->L;
    long long i;
    if (n == 0) {
        put_lit(e, "[]", 2);
        return 0;
    }
    fx_buffer_addchar(L, e->out, '[');
    for (i = 1; i <= n; i++) {
        int top;
        lua_rawgeti(L, t, (lua_Integer)i);
        top = lua_gettop(L);
        if (lua_type(L, top) == LUA_TNIL)
            return fail(e, "sparse array: nil at index %lld of %lld", i, n);
        if (enc_value(e, top) != 0)
            return path_index(e, i);
        lua_settop(L, top - 1);
        fx_buffer_addchar(L, e->out, ',');
    }
    e->out->data[e->out->len - 1] = ']';
    return 0;
}

/* `k` as a positive array index, or 0. */
static long long array_index(lua_State *L, int idx)
{
#if FX_HAS_INTEGERS
    if (lua_isinteger(L, idx)) {
        lua_Integer k = lua_tointeger(L, idx);
        return k > 0 ? (long long)k : 0;
    }
    return 0;
#else
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number k = lua_tonumber(L, idx);
        if (k >= 1 && k < 9007199254740992.0 && k == floor(k))
            return (long long)k;
    }
    return 0;
#endif
}

/* A plain table whose first key is not a string: JSON array when its keys
 * are exactly 1..n. Counting them costs a pass, as in any Lua encoder;
 * decoded arrays and json.array() tables carry the metatable and skip it. */
static int enc_plain_array(enc *e, int t)
{
    lua_State *L = e->L;
    long long count = 0, max = 0, j;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        long long k;
        lua_pop(L, 1);
        k = array_index(L, -1);
        if (k == 0) {
            if (lua_type(L, -1) == LUA_TSTRING)
                return fail_key(e, -1, "mixed keys: ", " in a table with array indices", 0);
            return fail_key(e, -1, "", " is neither a string nor an array index", 0);
        }
        count++;
        if (k > max)
            max = k;
    }
    if (max != count) {
        for (j = 1; j < max; j++) {
            int missing;
            lua_rawgeti(L, t, (lua_Integer)j);
            missing = lua_type(L, -1) == LUA_TNIL;
            lua_pop(L, 1);
            if (missing)
                break;
        }
        return fail(e, "sparse array: key %lld present but key %lld missing", max, j);
    }
    return enc_array(e, t, count);
}

/* The slow half of enc_marked_array: every key other than 1..n is an
 * error, and every key is looked at, since which keys lua_next visits after
 * n depends on where the table stores 1..n. */
static int check_array_keys(enc *e, int t, long long n)
{
    lua_State *L = e->L;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        long long k;
        lua_pop(L, 1);
        k = array_index(L, -1);
        if (k >= 1 && k <= n)
            continue;
        if (k > n)
            return fail(e, "number key %lld present in an array beyond its length (%lld)", k, n);
        return fail_key(e, -1, "", " in an array", 0);
    }
    return 0;
}

/* An array-marked table is t[1..#t], and any other key would be dropped
 * without a word, so it is an error. A table that holds 1..n in its array
 * part (built in order, or decoded) hands them to lua_next in order: one
 * pass then writes them and meets any other key. Any other layout starts
 * over with t[1..n] by index and a pass over every key. */
static int enc_marked_array(enc *e, int t)
{
    lua_State *L = e->L;
    long long n = (long long)lua_rawlen(L, t), i = 0;
    size_t start = e->out->len;
    int rc;
    fx_buffer_addchar(L, e->out, '[');
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int top = lua_gettop(L);
        if (i == n || array_index(L, top - 1) != i + 1) {
            lua_settop(L, top - 2);
            goto by_index;
        }
        i++;
        if (enc_value(e, top) != 0)
            return path_index(e, i);
        lua_settop(L, top - 1);
        fx_buffer_addchar(L, e->out, ',');
    }
    if (i != n)
        goto by_index;
    if (n == 0)
        fx_buffer_addchar(L, e->out, ']');
    else
        e->out->data[e->out->len - 1] = ']';
    return 0;

by_index:
    e->out->len = start;
    rc = enc_array(e, t, n);
    return rc != 0 ? rc : check_array_keys(e, t, n);
}

/* The key of the member at stack slots top - 1 (key), top (value): NULL,
 * with the error set, for a key that is not a string. */
static const char *member_key(enc *e, int top, size_t *klen)
{
    if (lua_type(e->L, top - 1) != LUA_TSTRING) {
        (void)fail_key(e, -2, "mixed keys: ", " in a table with string keys", 0);
        return NULL;
    }
    return lua_tolstring(e->L, top - 1, klen);
}

/* Called with the first key/value pair (string key) on the stack. */
static int enc_object(enc *e, int t)
{
    lua_State *L = e->L;
    fx_buffer *b = e->out;
    fx_buffer_addchar(L, b, '{');
    do {
        size_t klen;
        int top = lua_gettop(L);
        const char *k = member_key(e, top, &klen);
        if (k == NULL || put_string(e, k, klen, 1) != 0)
            return ENC_FAIL;
        fx_buffer_addchar(L, b, ':');
        if (enc_value(e, top) != 0)
            return path_key(e, k, klen);
        lua_settop(L, top - 1);
        fx_buffer_addchar(L, b, ',');
    } while (lua_next(L, t));
    b->data[b->len - 1] = '}';
    return 0;
}

static int member_cmp(const void *pa, const void *pb)
{
    const member *a = (const member *)pa, *b = (const member *)pb;
    int c = memcmp(a->key, b->key, a->klen < b->klen ? a->klen : b->klen);
    if (c != 0)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

/* sort_keys: as enc_object, then the members are moved into byte order of
 * their keys through the free tail of the output buffer. */
static int enc_object_sorted(enc *e, int t)
{
    lua_State *L = e->L;
    fx_buffer *b = e->out, *sb = e->sort;
    size_t base = sb->len, n = 0, start, total, j;
    member *m;
    char *tail, *p;
    fx_buffer_addchar(L, b, '{');
    start = b->len;
    do {
        size_t klen;
        int top = lua_gettop(L);
        const char *k = member_key(e, top, &klen);
        if (k == NULL)
            return ENC_FAIL;
        fx_buffer_reserve(L, sb, sizeof *m);
        m = (member *)(void *)(sb->data + sb->len);
        sb->len += sizeof *m;
        m->key = k;
        m->klen = klen;
        m->off = b->len;
        if (put_string(e, k, klen, 1) != 0)
            return ENC_FAIL;
        fx_buffer_addchar(L, b, ':');
        if (enc_value(e, top) != 0)
            return path_key(e, k, klen);
        m = (member *)(void *)(sb->data + base) + n; /* sb may have moved */
        m->len = b->len - m->off;
        n++;
        lua_settop(L, top - 1);
    } while (lua_next(L, t));

    m = (member *)(void *)(sb->data + base);
    qsort(m, n, sizeof *m, member_cmp);
    total = b->len - start;
    fx_buffer_reserve(L, b, total + n + 1);
    tail = p = b->data + b->len;
    for (j = 0; j < n; j++) {
        memcpy(p, b->data + m[j].off, m[j].len);
        p += m[j].len;
        *p++ = ',';
    }
    p[-1] = '}';
    /* the members gained commas, so the copy back reaches into the tail */
    memmove(b->data + start, tail, (size_t)(p - tail));
    b->len = start + (size_t)(p - tail);
    sb->len = base;
    return 0;
}

static int enc_table(enc *e, int t)
{
    lua_State *L = e->L;
    const void *self = lua_topointer(L, t);
    const void **path = (const void **)(void *)e->path->data;
    int i, rc;
    for (i = 0; i < e->depth; i++)
        if (path[i] == self)
            return fail(e, "cycle: a table contains itself");
    if (e->depth >= e->max_depth)
        return fail(e, "nesting deeper than max_depth (%d)", e->max_depth);
    if (!lua_checkstack(L, 4))
        return fail(e, "nesting too deep for the Lua stack");
    e->path->len = (size_t)e->depth * sizeof self;
    fx_buffer_reserve(L, e->path, sizeof self);
    ((const void **)(void *)e->path->data)[e->depth++] = self;

    if (lua_getmetatable(L, t)) {
        int marked = lua_topointer(L, -1) == e->array_mt;
        lua_pop(L, 1);
        if (marked) {
            rc = enc_marked_array(e, t);
            goto done;
        }
    }
    lua_pushnil(L);
    if (!lua_next(L, t)) {
        put_lit(e, "{}", 2);
        rc = 0;
    } else if (lua_type(L, -2) == LUA_TSTRING) {
        rc = e->sort_keys ? enc_object_sorted(e, t) : enc_object(e, t);
    } else {
        lua_pop(L, 2);
        rc = enc_plain_array(e, t);
    }
done:
    e->depth--;
    return rc;
}

static int enc_value(enc *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return put_string(e, s, n, 0);
    }
    case LUA_TNUMBER:
#if FX_HAS_INTEGERS
        if (lua_isinteger(L, idx)) {
            put_integer(e, (long long)lua_tointeger(L, idx));
            return 0;
        }
#endif
        return put_float(e, (double)lua_tonumber(L, idx));
    case LUA_TTABLE:
        return enc_table(e, idx);
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put_lit(e, "true", 4);
        else
            put_lit(e, "false", 5);
        return 0;
    case LUA_TNIL:
        put_lit(e, "null", 4);
        return 0;
    case LUA_TLIGHTUSERDATA: {
        const void *p = lua_touserdata(L, idx);
        if (p == NULL) {
            put_lit(e, "null", 4);
            return 0;
        }
        if (p == (const void *)&fx_json_empty_array_tag) {
            put_lit(e, "[]", 2);
            return 0;
        }
        return fail(e, "cannot encode a light userdata");
    }
    default:
        return fail(e, "cannot encode a %s", lua_typename(L, lua_type(L, idx)));
    }
}

/* ---- entry point --------------------------------------------------------- */

static void read_opts(lua_State *L, enc *e)
{
    e->max_depth = FX_JSON_DEFAULT_MAX_DEPTH;
    e->sort_keys = 0;
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);

    e->sort_keys = fx_opt_boolean(L, 2, "sort_keys", 0);
    e->max_depth = (int)fx_opt_integer(L, 2, "max_depth", FX_JSON_DEFAULT_MAX_DEPTH, 1, ENC_DEPTH_CEILING);
}

/* Stack slot 3 holds the buffers taken for this call. */
static void release(lua_State *L, enc *e)
{
    e->out->len = 0;
    e->path->len = 0;
    e->sort->len = 0;
    if (e->out->cap > ENC_SHRINK_ABOVE)
        fx_buffer_shrink(e->out, ENC_KEEP_BYTES);
    if (e->path->cap > ENC_SHRINK_ABOVE)
        fx_buffer_shrink(e->path, ENC_KEEP_BYTES);
    if (e->sort->cap > ENC_SHRINK_ABOVE)
        fx_buffer_shrink(e->sort, ENC_KEEP_BYTES);
    fx_buffers_give_back(L, 3, lua_upvalueindex(1));
}

/* Upvalue 1 holds the three shared scratch buffers, taken for the call and
 * given back after it (see fx_buffers_take). Nothing in an encode allocates
 * from Lua until the result is pushed, but that push may itself run a
 * finalizer first (LuaJIT's lua_pushlstring steps the collector before it
 * copies), and an encode run by that finalizer must not overwrite, or move,
 * the very bytes being copied: it gets fresh buffers. */
static int json_encode(lua_State *L)
{
    enc e;
    size_t i, n;
    int base;
    luaL_checkany(L, 1);
    read_opts(L, &e);
    lua_settop(L, 2);
    e.L = L;
    e.out = fx_buffers_take(L, lua_upvalueindex(1), 3);
    e.path = e.out + 1;
    e.sort = e.out + 2;
    e.out->len = e.path->len = e.sort->len = 0;
    e.depth = 0;
    e.msg[0] = '\0';
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    e.array_mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    base = lua_gettop(L);

    if (enc_value(&e, 1) == 0) {
        lua_pushlstring(L, e.out->data, e.out->len);
        release(L, &e);
        return 1;
    }

    /* the segments were appended innermost first, each reversed */
    fx_buffer_addchar(L, e.out, '$');
    for (i = 0, n = e.out->len; i < n / 2; i++) {
        char c = e.out->data[i];
        e.out->data[i] = e.out->data[n - 1 - i];
        e.out->data[n - 1 - i] = c;
    }
    lua_settop(L, base);
    lua_pushlstring(L, e.out->data, e.out->len);
    release(L, &e);
    fx_error_return(L, "encode", e.msg);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "path");
    return 2;
}

void fx_json_encode_register(lua_State *L, int module)
{
    fx_buffers_push(L, 3);
    lua_pushcclosure(L, json_encode, 1);
    lua_setfield(L, module, "encode");
}
