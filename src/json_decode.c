/* json.decode(str [, opts]): a strict RFC 8259 decoder.
 *
 * Bad input never raises: it returns nil plus a "decode" error carrying the
 * 1-based byte offset of the problem and a printable excerpt around it. Only
 * misuse (a non-string text, a malformed opts table) and memory errors raise.
 *
 * The parser is iterative, not recursive: a caller may raise max_depth far
 * beyond what the C stack would survive, and the only per-level cost is one
 * Lua stack slot (two for objects) plus one saved word in `levels`.
 *
 * It leans on Lua's guarantee that a string is followed by a NUL byte: every
 * scanning loop stops on a byte it does not expect, and the NUL after the
 * input is such a byte, so the hot loops need no separate bounds check. An
 * embedded NUL is told apart from that sentinel by comparing with `end`.
 *
 * Options (opts table, all optional):
 *   max_depth    positive integer, default FX_JSON_DEFAULT_MAX_DEPTH; a text
 *                nested deeper is a decode error. Past what the Lua stack
 *                allows (about 8000 slots on LuaJIT) it is a decode error too.
 *   null_as_nil  boolean: null decodes as nil instead of json.null. Arrays
 *                then have holes (t[i] == nil, so #t is unreliable), object
 *                members that are null are absent, and a top-level null
 *                returns a lone nil (no error).
 *   big_integers "float" (default), "string" or "error": what becomes of an
 *                integer literal Lua cannot hold exactly (past int64 on 5.3+,
 *                past +-2^53 on 5.1/LuaJIT): the nearest float, the literal's
 *                exact digits as a string, or a decode error.
 * Integer literals Lua can hold exactly become integers (5.3+); "-0" and
 * every literal with a fraction or an exponent become floats. */
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "error.h"
#include "json.h"
#include "options.h"

typedef unsigned char uchar;

/* Scratch buffers above this size are given back after the call. */
#define SCRATCH_KEEP 4096
#define SCRATCH_SHRINK_ABOVE (256 * 1024)

/* Table presizing remembers the size of the last container closed at each
 * of the first HINT_LEVELS depths: arrays of same-shaped objects (the usual
 * API answer) then skip every rehash. Capped, and replaced by the size of
 * the very next container, so a hostile text cannot make many small tables
 * inherit one huge size. */
#define HINT_LEVELS 16
#define HINT_MAX 64

/* Object keys repeat: every SIM in a page has the same thirty names, and
 * every page the same names again. Each lua_pushlstring of a short string
 * hashes every byte and walks the string table, which was the largest cost
 * of decoding a page. So keys are remembered across calls in a two-way
 * set-associative cache (KEY_SETS sets of 2), their bytes in C, their Lua
 * strings in a table, and pushed from there after one memcmp. Keys longer
 * than KEY_MAX are pushed as before. */
#define KEY_SETS 256
#define KEY_SET_BITS 8
#define KEY_MAX 32

typedef struct key_cache {
    uchar len[KEY_SETS * 2]; /* 0 = empty */
    uchar bytes[KEY_SETS * 2][KEY_MAX];
} key_cache;

#define EXCERPT_BEFORE 10
#define EXCERPT_AFTER 10

enum { BIG_FLOAT, BIG_STRING, BIG_ERROR };

typedef struct decoder {
    lua_State *L;
    const uchar *start;
    const uchar *end; /* the NUL Lua keeps after the text */
    fx_buffer *scratch;
    fx_buffer *levels;
    int max_depth;
    int null_as_nil;
    int big;
    int mt; /* stack index of the array metatable */
    int keys;         /* stack index of the key cache's strings */
    key_cache *cache;
    const uchar *err_at;
    char err[96];
} decoder;

/* Byte classes inside a string: 0 = copied as is. */
enum { S_PLAIN = 0, S_QUOTE, S_ESCAPE, S_CONTROL, S_UTF8 };

static const uchar str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

static inline int is_ws(uchar c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int is_digit(uchar c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline uint64_t load64(const uchar *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define SPACES8 UINT64_C(0x2020202020202020)

/* Pretty-printed answers indent with runs of spaces, eaten 8 at a time. */
static inline const uchar *skip_ws(const decoder *d, const uchar *p)
{
    if (*p > ' ')
        return p;
    for (;;) {
        if (*p == ' ') {
            while (d->end - p >= 8 && load64(p) == SPACES8)
                p += 8;
            while (*p == ' ')
                p++;
        }
        if (!is_ws(*p))
            return p;
        p++;
    }
}

static const uchar *fail(decoder *d, const uchar *at, const char *msg)
{
    d->err_at = at;
    snprintf(d->err, sizeof d->err, "%s", msg);
    return NULL;
}

/* "unexpected character 'x'", or "unexpected end of input" at the end. */
static const uchar *fail_char(decoder *d, const uchar *at, const char *what)
{
    d->err_at = at;
    if (at >= d->end)
        snprintf(d->err, sizeof d->err, "unexpected end of input");
    else if (*at >= 0x20 && *at < 0x7f)
        snprintf(d->err, sizeof d->err, "%s '%c'", what, *at);
    else
        snprintf(d->err, sizeof d->err, "%s '\\x%02X'", what, *at);
    return NULL;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0.
 * Rejects overlongs, encoded surrogates, code points above U+10FFFF and
 * truncated sequences; each byte is read only after the previous one
 * matched, so the NUL sentinel ends a truncated sequence safely. */
static inline int utf8_len(const uchar *p)
{
    uchar c = p[0];
    uchar lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Advances over plain bytes and well-formed UTF-8; stops on a quote, a
 * backslash, a control byte (the sentinel included) or bad UTF-8 (*bad).
 * (Eight bytes at a time, SWAR, measured slower: API strings are short.) */
static inline const uchar *scan_run(const uchar *p, int *bad)
{
    for (;;) {
        while (str_class[*p] == S_PLAIN) {
            if (str_class[p[1]] != S_PLAIN) {
                p++;
                break;
            }
            if (str_class[p[2]] != S_PLAIN) {
                p += 2;
                break;
            }
            if (str_class[p[3]] != S_PLAIN) {
                p += 3;
                break;
            }
            p += 4;
        }
        if (str_class[*p] == S_UTF8) {
            int n = utf8_len(p);
            if (n == 0) {
                *bad = 1;
                return p;
            }
            p += n;
            continue;
        }
        return p;
    }
}

static int hex4(const uchar *p)
{
    int v = 0, i;
    for (i = 0; i < 4; i++) {
        uchar c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (c | 0x20) - 'a' + 10;
        else
            return -1; /* the sentinel NUL lands here before any over-read */
    }
    return v;
}

static void add_utf8(lua_State *L, fx_buffer *b, unsigned cp)
{
    char *o;
    fx_buffer_reserve(L, b, 4);
    o = b->data + b->len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        b->len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        b->len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        b->len += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        b->len += 4;
    }
}

/* Where a run stopped on something other than a quote or a backslash. */
static const uchar *string_stop(decoder *d, const uchar *open, const uchar *p, int bad)
{
    if (bad)
        return fail(d, p, "invalid UTF-8 in string");
    if (p >= d->end)
        return fail(d, open, "unterminated string");
    return fail_char(d, p, "control character in string");
}

/* The slow path, once a backslash shows up: the string is rebuilt in the
 * scratch buffer. p is at the backslash; [run, p) is already scanned. */
static const uchar *string_escaped(decoder *d, const uchar *open, const uchar *run, const uchar *p)
{
    lua_State *L = d->L;
    fx_buffer *b = d->scratch;
    int bad = 0;
    b->len = 0;
    /* reserve first: the buffer may never have been allocated, and adding
     * 0 bytes to a NULL buffer is undefined behaviour */
    fx_buffer_reserve(L, b, (size_t)(p - run) + 16);
    fx_buffer_add(L, b, (const char *)run, (size_t)(p - run));
    for (;;) {
        if (*p == '"') {
            lua_pushlstring(L, b->data, b->len);
            return p + 1;
        }
        if (*p != '\\')
            return string_stop(d, open, p, bad);
        switch (p[1]) {
        case '"': fx_buffer_addchar(L, b, '"'); break;
        case '\\': fx_buffer_addchar(L, b, '\\'); break;
        case '/': fx_buffer_addchar(L, b, '/'); break;
        case 'b': fx_buffer_addchar(L, b, '\b'); break;
        case 'f': fx_buffer_addchar(L, b, '\f'); break;
        case 'n': fx_buffer_addchar(L, b, '\n'); break;
        case 'r': fx_buffer_addchar(L, b, '\r'); break;
        case 't': fx_buffer_addchar(L, b, '\t'); break;
        case 'u': {
            int cp = hex4(p + 2);
            if (cp < 0)
                return fail(d, p, "invalid \\u escape");
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                int lo = -1;
                if (cp <= 0xDBFF && p[6] == '\\' && p[7] == 'u')
                    lo = hex4(p + 8);
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    d->err_at = p;
                    snprintf(d->err, sizeof d->err, "lone surrogate \\u%04x", (unsigned)cp);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            add_utf8(L, b, (unsigned)cp);
            p += 4;
            break;
        }
        default:
            if (p + 1 >= d->end)
                return fail(d, open, "unterminated string");
            return fail_char(d, p + 1, "invalid escape");
        }
        p += 2;
        run = p;
        p = scan_run(p, &bad);
        fx_buffer_add(L, b, (const char *)run, (size_t)(p - run));
    }
}

/* p is just past the opening quote. Strings without escapes, the common
 * case, are pushed straight from the input. */
static inline const uchar *parse_string(decoder *d, const uchar *p)
{
    const uchar *run = p;
    int bad = 0;
    p = scan_run(p, &bad);
    if (*p == '"') {
        lua_pushlstring(d->L, (const char *)run, (size_t)(p - run));
        return p + 1;
    }
    if (*p == '\\' && !bad)
        return string_escaped(d, run - 1, run, p);
    return string_stop(d, run - 1, p, bad);
}

/* Which set a key belongs to. Any function of the bytes would be correct
 * (a hit is confirmed byte for byte); this one is cheap. On a big-endian
 * machine the mask below keeps the word's last bytes, not its first: for a
 * key under 8 bytes partly (under 5 bytes wholly) the bytes after the key.
 * Such keys then spread worse and hit less, and still never mix. */
static inline unsigned key_set(const decoder *d, const uchar *p, size_t len)
{
    uint64_t h = len;
    if (len >= 8) {
        h ^= load64(p) ^ (load64(p + len - 8) * UINT64_C(0xff51afd7ed558ccd));
    } else if (d->end - p >= 8) {
        h ^= load64(p) & ((UINT64_C(1) << (len * 8)) - 1);
    } else {
        uint64_t v = 0;
        memcpy(&v, p, len);
        h ^= v;
    }
    return (unsigned)((h * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - KEY_SET_BITS));
}

/* The key cache lives in upvalue 2: a table whose array holds the strings
 * and whose field "c" holds the key_cache userdata. Like the scratch
 * buffers it is taken out for the call (a decode run by a finalizer in the
 * middle of this one makes its own) and given back after; the stack slot
 * d->keys holds it meanwhile. It is made at the first key a state decodes,
 * so a state that never decodes an object never pays for it. */
static void key_cache_take(decoder *d)
{
    lua_State *L = d->L;
    lua_pushvalue(L, lua_upvalueindex(2));
    d->keys = lua_gettop(L);
    d->cache = NULL;
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_replace(L, lua_upvalueindex(2));
        lua_getfield(L, -1, "c");
        d->cache = (key_cache *)lua_touserdata(L, -1);
        lua_pop(L, 1);
    }
}

static void key_cache_make(decoder *d)
{
    lua_State *L = d->L;
    key_cache *c;
    lua_createtable(L, KEY_SETS * 2, 1);
    c = (key_cache *)fx_newuserdata(L, sizeof *c);
    memset(c->len, 0, sizeof c->len);
    lua_setfield(L, -2, "c");
    lua_replace(L, d->keys);
    d->cache = c;
}

static void key_cache_give_back(decoder *d)
{
    if (d->cache == NULL)
        return;
    lua_pushvalue(d->L, d->keys);
    lua_replace(d->L, lua_upvalueindex(2));
}

/* An object key: parse_string, through the key cache. A miss goes into
 * way 0 and moves what was there to way 1, so two keys that share a set
 * (and alternate, as keys of one object do) both stay. */
static inline const uchar *parse_key(decoder *d, const uchar *p)
{
    lua_State *L = d->L;
    key_cache *c;
    const uchar *run = p;
    size_t len;
    unsigned way0;
    int bad = 0;
    p = scan_run(p, &bad);
    if (*p != '"')
        return *p == '\\' && !bad ? string_escaped(d, run - 1, run, p) : string_stop(d, run - 1, p, bad);
    len = (size_t)(p - run);
    if (len == 0 || len > KEY_MAX) {
        lua_pushlstring(L, (const char *)run, len);
        return p + 1;
    }
    if (d->cache == NULL)
        key_cache_make(d);
    c = d->cache;
    way0 = key_set(d, run, len) * 2;
    if (c->len[way0] == len && memcmp(c->bytes[way0], run, len) == 0) {
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 1);
        return p + 1;
    }
    if (c->len[way0 + 1] == len && memcmp(c->bytes[way0 + 1], run, len) == 0) {
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 2);
        return p + 1;
    }
    if (c->len[way0]) {
        c->len[way0 + 1] = c->len[way0];
        memcpy(c->bytes[way0 + 1], c->bytes[way0], c->len[way0]);
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 1);
        lua_rawseti(L, d->keys, (lua_Integer)way0 + 2);
    }
    lua_pushlstring(L, (const char *)run, len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->keys, (lua_Integer)way0 + 1);
    c->len[way0] = (uchar)len;
    memcpy(c->bytes[way0], run, len);
    return p + 1;
}

/* The locale's decimal point may not be '.', and strtod follows it. */
static const uchar *number_strtod(decoder *d, const uchar *start, const uchar *stop, double *out)
{
    const char *dp = localeconv()->decimal_point;
    size_t dplen = (dp && *dp) ? strlen(dp) : 1;
    size_t n = (size_t)(stop - start);
    char small[64] = {0};
    char *buf = small, *o, *endp;
    const uchar *q;
    if (n + dplen + 1 > sizeof small) {
        fx_buffer *b = d->scratch;
        b->len = 0;
        fx_buffer_reserve(d->L, b, n + dplen + 1);
        buf = b->data;
    }
    o = buf;
    for (q = start; q < stop; q++) {
        if (*q == '.' && dp && *dp) {
            memcpy(o, dp, dplen);
            o += dplen;
        } else {
            *o++ = (char)*q;
        }
    }
    *o = '\0';
    *out = strtod(buf, &endp);
    if (endp != o)
        return fail(d, start, "invalid number");
    if (isinf(*out))
        return fail(d, start, "number out of range");
    return stop;
}

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Integer literals that Lua can hold exactly: int64 on 5.3+. On 5.1/LuaJIT
 * numbers are doubles, exact only up to 2^53, so there that is the limit
 * past which big_integers applies (float, string or error). */
#if FX_HAS_INTEGERS
#define EXACT_POS ((uint64_t)LUA_MAXINTEGER)
#define EXACT_NEG ((uint64_t)LUA_MAXINTEGER + 1u)
#else
#define EXACT_POS (UINT64_C(1) << 53)
#define EXACT_NEG (UINT64_C(1) << 53)
#endif

static const uchar *parse_number(decoder *d, const uchar *p)
{
    lua_State *L = d->L;
    const uchar *start = p;
    uint64_t m = 0;
    int nd = 0;     /* digits held in m */
    int trunc = 0;  /* m and exp10 are not exact: leave it to strtod */
    int exp10 = 0;
    int isfloat = 0;
    int neg = 0;
    double v;

    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p == '0') {
        p++;
        if (is_digit(*p))
            return fail(d, p - 1, "leading zeros are not allowed");
    } else if (is_digit(*p)) {
        do {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
            } else {
                trunc = 1; /* exp10 only matters when nothing was dropped */
            }
            p++;
        } while (is_digit(*p));
    } else {
        return fail(d, start, "invalid number");
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return fail(d, p, "invalid number: digit expected after '.'");
        isfloat = 1;
        do {
            if (m == 0 && *p == '0') {
                if (exp10 > -1000)
                    exp10--;
                else
                    trunc = 1; /* bounds exp10; strtod reads the zeros */
            } else if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
                exp10--;
            } else {
                trunc = 1;
            }
            p++;
        } while (is_digit(*p));
    }
    if ((*p | 0x20) == 'e') {
        int eneg = 0, e = 0;
        p++;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        if (!is_digit(*p))
            return fail(d, p, "invalid number: digit expected in exponent");
        isfloat = 1;
        do {
            if (e < 100000) /* far past any double; stops int overflow */
                e = e * 10 + (*p - '0');
            p++;
        } while (is_digit(*p));
        exp10 += eneg ? -e : e;
    }

    if (!isfloat) {
        if (!trunc && m <= (neg ? EXACT_NEG : EXACT_POS)) {
            if (m == 0 && neg) {
                lua_pushnumber(L, -0.0);
            } else {
#if FX_HAS_INTEGERS
                lua_pushinteger(L, neg ? -(lua_Integer)(m - 1) - 1 : (lua_Integer)m);
#else
                lua_pushnumber(L, neg ? -(double)m : (double)m);
#endif
            }
            return p;
        }
        if (d->big == BIG_STRING) {
            lua_pushlstring(L, (const char *)start, (size_t)(p - start));
            return p;
        }
        if (d->big == BIG_ERROR)
            return fail(d, start, "integer out of range");
        if (!number_strtod(d, start, p, &v))
            return NULL;
        lua_pushnumber(L, v);
        return p;
    }

    /* Clinger's fast path: both factors are exact doubles, so one IEEE
     * operation gives the correctly rounded result. Needs plain double
     * arithmetic (no x87 excess precision). */
#if FLT_EVAL_METHOD == 0
    if (!trunc) {
        if (m == 0) {
            lua_pushnumber(L, neg ? -0.0 : 0.0);
            return p;
        }
        if (m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
            v = (double)m;
            v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
            lua_pushnumber(L, neg ? -v : v);
            return p;
        }
    }
#endif
    if (!number_strtod(d, start, p, &v))
        return NULL;
    lua_pushnumber(L, v);
    return p;
}

static inline const uchar *parse_literal(decoder *d, const uchar *p, const char *word, size_t n)
{
    if ((size_t)(d->end - p) >= n && memcmp(p, word, n) == 0)
        return p + n;
    return fail(d, p, "invalid literal");
}

/* Saves the enclosing container's state while a nested one is parsed. */
static inline void push_level(decoder *d, size_t state)
{
    fx_buffer *b = d->levels;
    fx_buffer_reserve(d->L, b, sizeof state);
    memcpy(b->data + b->len, &state, sizeof state);
    b->len += sizeof state;
}

static inline size_t pop_level(decoder *d)
{
    size_t state;
    fx_buffer *b = d->levels;
    b->len -= sizeof state;
    memcpy(&state, b->data + b->len, sizeof state);
    return state;
}

/* Parses the whole text; leaves the value on the stack and returns 1, or
 * returns 0 with d->err set. */
static int decode_text(decoder *d)
{
    lua_State *L = d->L;
    const uchar *p = skip_ws(d, d->start);
    size_t count = 0; /* elements (or keys) so far in the open container */
    int in_object = 0;
    int depth = 0;
    unsigned char array_hint[HINT_LEVELS + 1] = {0};
    unsigned char object_hint[HINT_LEVELS + 1] = {0};

    if (p == d->end) {
        fail(d, p, "empty input");
        return 0;
    }

value:
    switch (*p) {
    case '{':
    case '[':
        if (depth >= d->max_depth) {
            d->err_at = p;
            snprintf(d->err, sizeof d->err, "nesting deeper than %d", d->max_depth);
            return 0;
        }
        if (!lua_checkstack(L, 4)) {
            fail(d, p, "nesting too deep for the Lua stack");
            return 0;
        }
        push_level(d, count << 1 | (size_t)in_object);
        depth++;
        count = 0;
        if (*p == '{') {
            in_object = 1;
            lua_createtable(L, 0, depth <= HINT_LEVELS ? object_hint[depth] : 0);
            p = skip_ws(d, p + 1);
            if (*p == '}') {
                p++;
                goto close;
            }
            goto key;
        }
        in_object = 0;
        lua_createtable(L, depth <= HINT_LEVELS ? array_hint[depth] : 0, 0);
        lua_pushvalue(L, d->mt);
        lua_setmetatable(L, -2);
        p = skip_ws(d, p + 1);
        if (*p == ']') {
            p++;
            goto close;
        }
        goto value;
    case '"':
        p = parse_string(d, p + 1);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = parse_number(d, p);
        break;
    case 't':
        p = parse_literal(d, p, "true", 4);
        if (p)
            lua_pushboolean(L, 1);
        break;
    case 'f':
        p = parse_literal(d, p, "false", 5);
        if (p)
            lua_pushboolean(L, 0);
        break;
    case 'n':
        p = parse_literal(d, p, "null", 4);
        if (p == NULL)
            return 0;
        if (d->null_as_nil) {
            if (depth == 0) {
                lua_pushnil(L);
                goto done;
            }
            if (!in_object) {
                count++; /* leaves a hole: t[count] stays nil */
                goto next;
            }
            lua_pushnil(L); /* rawset of nil drops any earlier duplicate */
        } else {
            fx_json_pushnull(L);
        }
        break;
    default:
        fail_char(d, p, "unexpected character");
        return 0;
    }
    if (p == NULL)
        return 0;

stored:
    if (depth == 0)
        goto done;
    if (in_object)
        lua_rawset(L, -3);
    else
        lua_rawseti(L, -2, (lua_Integer)++count);

next:
    p = skip_ws(d, p);
    if (*p == ',') {
        p = skip_ws(d, p + 1);
        if (!in_object)
            goto value;
        goto key;
    }
    if (*p == (in_object ? '}' : ']')) {
        p++;
        goto close;
    }
    fail_char(d, p, in_object ? "expected ',' or '}' but found" : "expected ',' or ']' but found");
    return 0;

key:
    if (*p != '"') {
        fail_char(d, p, "expected string key but found");
        return 0;
    }
    p = parse_key(d, p + 1);
    if (p == NULL)
        return 0;
    count++;
    p = skip_ws(d, p);
    if (*p != ':') {
        fail_char(d, p, "expected ':' but found");
        return 0;
    }
    p = skip_ws(d, p + 1);
    goto value;

close:
    if (depth <= HINT_LEVELS)
        (in_object ? object_hint : array_hint)[depth] = (unsigned char)(count < HINT_MAX ? count : HINT_MAX);
    depth--;
    {
        size_t state = pop_level(d);
        in_object = (int)(state & 1);
        count = state >> 1;
    }
    goto stored;

done:
    p = skip_ws(d, p);
    if (p != d->end) {
        fail(d, p, "trailing characters after JSON value");
        return 0;
    }
    return 1;
}

/* Pushes nil and the decode error for d; returns 2. */
static int push_error(decoder *d, int base)
{
    lua_State *L = d->L;
    size_t len = (size_t)(d->end - d->start);
    size_t off = (size_t)(d->err_at - d->start);
    size_t from = off > EXCERPT_BEFORE ? off - EXCERPT_BEFORE : 0;
    size_t to = off + EXCERPT_AFTER < len ? off + EXCERPT_AFTER : len;
    char excerpt[(EXCERPT_BEFORE + EXCERPT_AFTER) * 4 + 1];
    char *o = excerpt;
    size_t i;
    for (i = from; i < to; i++) {
        uchar c = d->start[i];
        if (c >= 0x20 && c < 0x7f) {
            *o++ = (char)c;
        } else {
            snprintf(o, 5, "\\x%02X", c);
            o += 4;
        }
    }
    lua_settop(L, base);
    fx_error_return(L, "decode", d->err);
    lua_pushinteger(L, (lua_Integer)off + 1);
    lua_setfield(L, -2, "offset");
    lua_pushlstring(L, excerpt, (size_t)(o - excerpt));
    lua_setfield(L, -2, "excerpt");
    return 2;
}

static void read_opts(lua_State *L, decoder *d)
{
    static const char *const big_names[] = {"float", "string", "error", NULL};
    d->max_depth = FX_JSON_DEFAULT_MAX_DEPTH;
    d->null_as_nil = 0;
    d->big = BIG_FLOAT;
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);

    d->max_depth = (int)fx_opt_integer(L, 2, "max_depth", d->max_depth, 1, INT_MAX);
    d->null_as_nil = fx_opt_boolean(L, 2, "null_as_nil", d->null_as_nil);
    d->big = fx_opt_choice(L, 2, "big_integers", big_names, d->big);
}

/* Upvalue 1 holds the two shared scratch buffers, taken for the call and
 * given back after it (see fx_buffers_take): a decode run by a __gc
 * finalizer in the middle of this one gets fresh ones. Upvalue 2 holds the
 * key cache, taken and given back the same way (key_cache_take). */
static int json_decode(lua_State *L)
{
    decoder d;
    size_t len;
    int ok, base;

    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_argerror(L, 1, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
    d.start = (const uchar *)lua_tolstring(L, 1, &len);
    d.end = d.start + len;
    d.L = L;
    read_opts(L, &d);
    lua_settop(L, 2);
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    d.mt = 3;
    d.scratch = fx_buffers_take(L, lua_upvalueindex(1), 2);
    d.levels = d.scratch + 1;
    d.levels->len = 0;
    key_cache_take(&d);
    base = lua_gettop(L);

    ok = decode_text(&d);

    if (d.scratch->cap > SCRATCH_SHRINK_ABOVE)
        fx_buffer_shrink(d.scratch, SCRATCH_KEEP);
    if (d.levels->cap > SCRATCH_SHRINK_ABOVE)
        fx_buffer_shrink(d.levels, SCRATCH_KEEP);
    fx_buffers_give_back(L, 4, lua_upvalueindex(1));
    key_cache_give_back(&d);
    if (!ok)
        return push_error(&d, base);
    return 1;
}

void fx_json_decode_register(lua_State *L, int module)
{
    fx_buffers_push(L, 2);
    lua_pushnil(L); /* the key cache, made at the first key decoded */
    lua_pushcclosure(L, json_decode, 2);
    lua_setfield(L, module, "decode");
}
