/* json.decode(str [, opts]): a strict RFC 8259 decoder.
 *
 * Bad input never raises: it returns nil plus a "decode" error carrying the
 * 1-based byte offset of the problem and a printable excerpt around it. Only
 * misuse (a non-string text, a malformed opts table) and memory errors raise.
 *
 * The parser is iterative, not recursive: a caller may raise max_depth far
 * beyond what the C stack would survive, and the only per-level cost is one
 * Lua stack slot (two for objects) plus one saved word in `levels` (and an
 * open array's first elements, while the stack is short: see PENDING_MAX).
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
 *   select       a table {name = true | {subname = true | ...}}: with
 *   select_at    "items" or "item" (both or neither), keeps only the named
 *                fields of the records of an API answer (the objects in
 *                the top-level "items" array, or the top-level "item"
 *                object) and skips the rest without building it, while
 *                checking it as strictly as ever: see SELECT below.
 *                json.can_select is true in a build that has them.
 *   select_meta  with select: a table {[tree] = metatable}, keyed by the
 *                select table itself or any table inside it: each object
 *                kept under that (sub)tree gets the metatable (the records
 *                for the select table; under a subtree, its object or
 *                every object in its array). What turns records into
 *                models that refuse an unselected field, made while
 *                decoding instead of by a second walk in Lua.
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
#include "json_scan.h"
#include "options.h"

/* Scratch buffers above this size are given back after the call. */
#define SCRATCH_KEEP 4096
#define SCRATCH_SHRINK_ABOVE (256 * 1024)

/* Table presizing: each container is made with the size of the last one
 * closed in the same place, and a place is named by the key the container
 * is the value of ("balances", "replies"), or, for an element of an array,
 * by the key of that array; containers under no cached key fall back to
 * their depth (the first HINT_LEVELS of them). Arrays of same-shaped
 * objects (the usual API answer) then skip every rehash, and so do the
 * small objects of differing sizes nested in them. The sizes live with the
 * key cache but start afresh at every call, so a text decodes to the same
 * tables whatever was decoded before (kept from call to call, they made the
 * first objects of a small page presized too, but then the same text could
 * give tables of other sizes, and another pairs() order). Capped, and
 * replaced by the size of the very next container, so a hostile text
 * cannot make many small tables inherit one huge size. */
#define HINT_LEVELS 16
#define HINT_MAX 64

/* An array longer than PENDING_MAX (a page of 10000 SIMs) is made, when
 * it outgrows the stack, at the length the last such array in its place
 * had, up to LONG_HINT_MAX: each doubling of a big array part costs a
 * large allocation, and glibc answers those by first consolidating every
 * small free chunk. This one is kept from call to call: an array's size
 * changes no pairs() order (its elements go in order), and it is not used
 * with null_as_nil, where the size of an array with holes would show in #. */
#define LONG_HINT_MAX (1 << 16)

/* Object keys repeat: every SIM in a page has the same thirty names, and
 * every page the same names again. Each lua_pushlstring of a short string
 * hashes every byte and walks the string table, which was the largest cost
 * of decoding a page. So keys are remembered across calls in a two-way
 * set-associative cache (KEY_SETS sets of 2), their bytes in C, their Lua
 * strings in a table, and pushed from there after one compare. Keys longer
 * than KEY_MAX are pushed as before. */
#define KEY_SETS 256
#define KEY_SET_BITS 8
#define KEY_MAX 32

/* Objects of one kind spell their keys in one order. So the cache also
 * remembers which key came after which (and which came first in an object
 * of a given place), and the next key is first compared with that guess,
 * byte for byte, closing quote included: a hit skips the scan and the
 * hash. A wrong guess costs one compare. The guesses only ever pick which
 * cached string to compare with, so they carry over from call to call. */
#define NO_GUESS 0xFFFF
#define KEY_FIRST (-1) /* no key yet in the open object */
#define KEY_NONE (-2)  /* its last key was not a cached one */

#define KEY_SLOTS (KEY_SETS * 2)

/* Hint slots: [0, KEY_SLOTS) the value of the key in that cache slot,
 * [KEY_SLOTS, 2 KEY_SLOTS) an element of the array that is that value,
 * then two per depth (array, object) for containers under no cached key. */
#define HINT_ELEM KEY_SLOTS
#define HINT_DEPTH (2 * KEY_SLOTS)
#define HINT_SLOTS (HINT_DEPTH + 2 * (HINT_LEVELS + 1))
#define NO_KEY (-1)

/* String values repeat too ("active", the same user id on every SIM), but
 * many are unique (ids, timestamps), and a cache that took every one would
 * churn. So a value string enters its cache only when it missed twice in a
 * row in its set: `seen` keeps a fingerprint of the last miss of each set.
 * Its strings follow the keys' in the same table. */
#define VAL_SETS 256
#define VAL_MAX 40
#define VAL_SLOTS (VAL_SETS * 2)

typedef struct key_cache {
    uchar len[KEY_SLOTS]; /* 0 = empty */
    uchar bytes[KEY_SLOTS][KEY_MAX];
    uchar hint[HINT_SLOTS];
    uint32_t long_hint[HINT_SLOTS]; /* long arrays: see LONG_HINT_MAX */
    uchar vlen[VAL_SLOTS];
    uchar vbytes[VAL_SLOTS][VAL_MAX];
    uint32_t seen[VAL_SETS];
    uint16_t next_key[KEY_SLOTS];  /* the key that followed this one last time */
    uint16_t first_key[HINT_SLOTS]; /* the first key of an object in this place */
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
    int key_slot;     /* cache slot of the key just parsed, or NO_KEY */
    key_cache *cache;
    const uchar *sel; /* the compiled opts.select (see SELECT), or NULL */
    struct sel_memo *memo; /* SEL_MEMO entries after it (see sel_recall) */
    struct value_memo *values; /* SEL_MEMO entries after those (see skip_object_memo) */
    int metas;        /* stack index of the select_meta metatables by number, or 0 */
    const char *at_name; /* opts.select_at: "items" or "item" */
    size_t at_len;
    int at_vk;        /* what the value under that key becomes (V_ITEMS, V_REC) */
    const uchar *err_at;
    char err[96];
} decoder;

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

/* A container opened past max_depth (at its '{' or '['). */
static const uchar *too_deep(decoder *d, const uchar *at)
{
    d->err_at = at;
    snprintf(d->err, sizeof d->err, "nesting deeper than %d", d->max_depth);
    return NULL;
}

/* A hex digit's value already in its place of a \\u escape's four: one
 * table a place, 0x10000 marking anything else (the NUL sentinel too), so
 * that the four digits are three ORs and a compare (with one table of
 * values, shifting and checking them took twice the instructions). */
#define HX(c) ((c) >= '0' && (c) <= '9' ? (c) - '0' : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 \
               : (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10 : 0x100)
#define HXS(c, shift) (HX(c) > 15 ? 0x10000 : HX(c) << (shift))
#define HX4(c, s) HXS(c, s), HXS((c) + 1, s), HXS((c) + 2, s), HXS((c) + 3, s)
#define HX16(c, s) HX4(c, s), HX4((c) + 4, s), HX4((c) + 8, s), HX4((c) + 12, s)
#define HX256(s) { HX16(0, s), HX16(16, s), HX16(32, s), HX16(48, s), HX16(64, s), HX16(80, s), HX16(96, s), \
                   HX16(112, s), HX16(128, s), HX16(144, s), HX16(160, s), HX16(176, s), HX16(192, s),      \
                   HX16(208, s), HX16(224, s), HX16(240, s) }
static const int32_t hex_at[4][256] = { HX256(12), HX256(8), HX256(4), HX256(0) };

/* The 4 hex digits at p, or -1 (also when fewer than 4 bytes are left). */
static inline int hex4(const uchar *p, const uchar *end)
{
    int32_t v;
    if (end - p < 4)
        return -1;
    v = hex_at[0][p[0]] | hex_at[1][p[1]] | hex_at[2][p[2]] | hex_at[3][p[3]];
    return v > 0xFFFF ? -1 : (int)v;
}

/* Writes code point cp (< 0x110000) as UTF-8 at o, which has room for 4
 * bytes; returns the end. A branch per length, each writing only its own
 * bytes: written without branches (all four forms made, one picked by
 * masks) it was 1.1x slower on escaped text and 2x on one character
 * repeated, the next escape's output waiting on this one's length. */
static inline char *put_utf8(char *o, uint32_t cp)
{
    uchar *u = (uchar *)o;
    if (cp < 0x80) {
        u[0] = (uchar)cp;
        return o + 1;
    }
    if (cp < 0x800) {
        u[0] = (uchar)(0xC0 | cp >> 6);
        u[1] = (uchar)(0x80 | (cp & 0x3F));
        return o + 2;
    }
    if (cp < 0x10000) {
        u[0] = (uchar)(0xE0 | cp >> 12);
        u[1] = (uchar)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (uchar)(0x80 | (cp & 0x3F));
        return o + 3;
    }
    u[0] = (uchar)(0xF0 | cp >> 18);
    u[1] = (uchar)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (uchar)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (uchar)(0x80 | (cp & 0x3F));
    return o + 4;
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

/* Single-character escapes: what \x stands for, 0 when \x is not one. */
static const char escape_char[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* Forces a template's inlining, so each of its constant-argument uses
 * (build or only check) compiles to its own straight code. */
#if defined(__GNUC__)
#define FX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FX_ALWAYS_INLINE inline
#endif

/* The slow path, once a backslash shows up: the string is rebuilt in the
 * scratch buffer. p is at the backslash; [run, p) is already scanned.
 * Nothing decodes longer than its source (an escape of 2, 6 or 12 bytes
 * gives at most 1, 3 or 4), so room for what is left of the text up to
 * the next stop is all a write needs: it is made per run and per escape,
 * and `o` then writes without checks. Without `build` (a skipped value)
 * the same checks run in the same order and nothing is written. */
static FX_ALWAYS_INLINE const uchar *escaped_at(decoder *d, const uchar *open, const uchar *run, const uchar *p,
                                               int build)
{
    lua_State *L = d->L;
    fx_buffer *b = d->scratch;
    const uchar *end = d->end;
    /* o and limit live in registers: every write through o is a char
     * store, which may alias *b, so b->data + b->cap would be read again
     * after each one */
    char *o = NULL, *limit = NULL;
    int bad = 0;
    if (build) {
        /* reserve first: the buffer may never have been allocated, and
         * adding 0 bytes to a NULL buffer is undefined behaviour */
        b->len = 0;
        fx_buffer_reserve(L, b, (size_t)(p - run) + 64);
        o = b->data;
        limit = b->data + b->cap;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
    }
#define FX_ROOM(n)                                          \
    do {                                                    \
        if (build && (size_t)(limit - o) < (n)) {           \
            b->len = (size_t)(o - b->data);                 \
            fx_buffer_reserve(L, b, (n) + 64);              \
            o = b->data + b->len;                           \
            limit = b->data + b->cap;                       \
        }                                                   \
    } while (0)
    for (;;) {
        size_t n;
        if (*p == '\\') {
            if (p[1] == 'u') {
                /* text in a non-Latin script escapes every character:
                 * runs of \uXXXX, decoded here without going round the
                 * outer loop's tests */
                do {
                    int cp = hex4(p + 2, end);
                    FX_ROOM(8);
                    if (cp < 0)
                        return fail(d, p, "invalid \\u escape");
                    if ((unsigned)(cp - 0xD800) < 0x800u) {
                        int lo = -1;
                        if (cp <= 0xDBFF && p[6] == '\\' && p[7] == 'u')
                            lo = hex4(p + 8, end);
                        if (lo < 0xDC00 || lo > 0xDFFF) {
                            d->err_at = p;
                            snprintf(d->err, sizeof d->err, "lone surrogate \\u%04x", (unsigned)cp);
                            return NULL;
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                    if (build)
                        o = put_utf8(o, (uint32_t)cp);
                    p += 6;
                } while (p[0] == '\\' && p[1] == 'u');
                continue;
            }
            if (escape_char[p[1]]) {
                FX_ROOM(8);
                if (build)
                    *o++ = escape_char[p[1]];
                p += 2;
                continue;
            }
            if (p + 1 >= end)
                return fail(d, open, "unterminated string");
            return fail_char(d, p + 1, "invalid escape");
        }
        if (*p == '"') {
            if (build)
                lua_pushlstring(L, b->data, (size_t)(o - b->data));
            return p + 1;
        }
        run = p;
        p = scan_run(p, d->start, end, &bad);
        if (p == run)
            return string_stop(d, open, p, bad);
        if (!build)
            continue;
        n = (size_t)(p - run);
        FX_ROOM(n + 16);
#if FX_JSON_SSE2
        if (n <= 16 && end - run >= 16) /* short runs, the usual between escapes: one 16-byte copy */
            _mm_storeu_si128((__m128i *)(void *)o, _mm_loadu_si128((const __m128i *)(const void *)run));
        else
#endif
            memcpy(o, run, n);
        o += n;
    }
#undef FX_ROOM
}

static const uchar *string_escaped(decoder *d, const uchar *open, const uchar *run, const uchar *p)
{
    return escaped_at(d, open, run, p, 1);
}

static const uchar *skip_escaped(decoder *d, const uchar *open, const uchar *run, const uchar *p)
{
    return escaped_at(d, open, run, p, 0);
}

static inline uint32_t load32u(const uchar *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* a[0, n) == b[0, n) for 0 < n <= 40, reading nothing outside either:
 * words that overlap at the end instead of a call to memcmp. */
static inline int same_bytes(const uchar *a, const uchar *b, size_t n)
{
    if (n >= 8) {
        size_t i;
        for (i = 0; i + 8 < n; i += 8)
            if (load64(a + i) != load64(b + i))
                return 0;
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4)
        return load32u(a) == load32u(b) && load32u(a + n - 4) == load32u(b + n - 4);
    return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1];
}

/* Which set a key belongs to. Any function of the bytes would be correct
 * (a hit is confirmed byte for byte); this one is cheap. On a big-endian
 * machine the mask below keeps the word's last bytes, not its first: for a
 * key under 8 bytes partly (under 5 bytes wholly) the bytes after the key.
 * Such keys then spread worse and hit less, and still never mix. */
static inline uint64_t key_hash(const decoder *d, const uchar *p, size_t len)
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
    return h * UINT64_C(0x9e3779b97f4a7c15);
}

static inline unsigned key_set(const decoder *d, const uchar *p, size_t len)
{
    return (unsigned)(key_hash(d, p, len) >> (64 - KEY_SET_BITS));
}

/* Pushes the value string [p, p + len), through the value cache. */
static inline void push_value_string(decoder *d, const uchar *p, size_t len)
{
    lua_State *L = d->L;
    key_cache *c = d->cache;
    uint64_t h;
    unsigned set, way0;
    uint32_t fp;
    if (len == 0 || len > VAL_MAX || c == NULL) {
        lua_pushlstring(L, (const char *)p, len);
        return;
    }
    h = key_hash(d, p, len);
    set = (unsigned)(h >> (64 - KEY_SET_BITS));
    way0 = set * 2;
    if (c->vlen[way0] == len && same_bytes(c->vbytes[way0], p, len)) {
        lua_rawgeti(L, d->keys, (lua_Integer)(KEY_SLOTS + way0 + 1));
        return;
    }
    if (c->vlen[way0 + 1] == len && same_bytes(c->vbytes[way0 + 1], p, len)) {
        lua_rawgeti(L, d->keys, (lua_Integer)(KEY_SLOTS + way0 + 2));
        return;
    }
    fp = (uint32_t)(h >> 32) | 1; /* the bits that every byte of the value reaches */
    if (c->seen[set] != fp) {
        c->seen[set] = fp;
        lua_pushlstring(L, (const char *)p, len);
        return;
    }
    if (c->vlen[way0]) {
        c->vlen[way0 + 1] = c->vlen[way0];
        memcpy(c->vbytes[way0 + 1], c->vbytes[way0], c->vlen[way0]);
        lua_rawgeti(L, d->keys, (lua_Integer)(KEY_SLOTS + way0 + 1));
        lua_rawseti(L, d->keys, (lua_Integer)(KEY_SLOTS + way0 + 2));
    }
    lua_pushlstring(L, (const char *)p, len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->keys, (lua_Integer)(KEY_SLOTS + way0 + 1));
    c->vlen[way0] = (uchar)len;
    memcpy(c->vbytes[way0], p, len);
}

/* p is just past the opening quote. Strings without escapes, the common
 * case, are pushed straight from the input. */
static inline const uchar *parse_string(decoder *d, const uchar *p)
{
    const uchar *run = p;
    int bad = 0;
    p = scan_run(p, d->start, d->end, &bad);
    if (*p == '"') {
        push_value_string(d, run, (size_t)(p - run));
        return p + 1;
    }
    if (*p == '\\' && !bad)
        return string_escaped(d, run - 1, run, p);
    return string_stop(d, run - 1, p, bad);
}

/* parse_string for a skipped value: the same checks, nothing pushed. */
static inline const uchar *skip_string(decoder *d, const uchar *p)
{
    const uchar *run = p;
    int bad = 0;
    p = scan_run(p, d->start, d->end, &bad);
    if (*p == '"')
        return p + 1;
    if (*p == '\\' && !bad)
        return skip_escaped(d, run - 1, run, p);
    return string_stop(d, run - 1, p, bad);
}

/* The key cache lives in upvalue 2: a table whose array holds the strings
 * and whose field "c" holds the key_cache userdata. Like the scratch
 * buffers it is taken out for the call (a decode run by a finalizer in the
 * middle of this one makes its own) and given back after; the stack slot
 * d->keys holds it meanwhile. It is made at the first container a state
 * decodes, so a state that only ever decodes scalars never pays for it. */
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
    lua_createtable(L, KEY_SLOTS + VAL_SLOTS, 1);
    c = (key_cache *)fx_newuserdata(L, sizeof *c);
    memset(c->len, 0, sizeof c->len);
    memset(c->hint, 0, sizeof c->hint);
    memset(c->long_hint, 0, sizeof c->long_hint);
    memset(c->vlen, 0, sizeof c->vlen);
    memset(c->seen, 0, sizeof c->seen);
    memset(c->next_key, 0xFF, sizeof c->next_key);
    memset(c->first_key, 0xFF, sizeof c->first_key);
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
    p = scan_run(p, d->start, d->end, &bad);
    if (*p != '"') {
        d->key_slot = NO_KEY;
        return *p == '\\' && !bad ? string_escaped(d, run - 1, run, p) : string_stop(d, run - 1, p, bad);
    }
    len = (size_t)(p - run);
    if (len == 0 || len > KEY_MAX) {
        d->key_slot = NO_KEY;
        lua_pushlstring(L, (const char *)run, len);
        return p + 1;
    }
    c = d->cache;
    way0 = key_set(d, run, len) * 2;
    if (c->len[way0] == len && same_bytes(c->bytes[way0], run, len)) {
        d->key_slot = (int)way0;
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 1);
        return p + 1;
    }
    if (c->len[way0 + 1] == len && same_bytes(c->bytes[way0 + 1], run, len)) {
        d->key_slot = (int)way0 + 1;
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 2);
        return p + 1;
    }
    if (c->len[way0]) {
        c->len[way0 + 1] = c->len[way0];
        memcpy(c->bytes[way0 + 1], c->bytes[way0], c->len[way0]);
        c->hint[way0 + 1] = c->hint[way0];
        c->hint[HINT_ELEM + way0 + 1] = c->hint[HINT_ELEM + way0];
        lua_rawgeti(L, d->keys, (lua_Integer)way0 + 1);
        lua_rawseti(L, d->keys, (lua_Integer)way0 + 2);
    }
    lua_pushlstring(L, (const char *)run, len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->keys, (lua_Integer)way0 + 1);
    c->len[way0] = (uchar)len;
    memcpy(c->bytes[way0], run, len);
    c->hint[way0] = 0;
    c->hint[HINT_ELEM + way0] = 0;
    d->key_slot = (int)way0;
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

/* Clinger's fast path (number_at) needs plain double arithmetic: on x87
 * (32-bit x86 without SSE2) it is left out, and so is its table, which
 * -Werror would otherwise refuse as unused. */
#if FLT_EVAL_METHOD == 0
static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
#endif

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
/* Integer literals of up to this many digits are always within them:
 * 18 for int64, 15 for doubles (2^53 has 16), 9 for a 32-bit lua_Integer. */
#define EXACT_DIGITS (EXACT_POS >= UINT64_C(999999999999999999) ? 18 : EXACT_POS >= UINT64_C(999999999999999) ? 15 \
                      : EXACT_POS >= UINT64_C(999999999) ? 9 : 0)

/* A number literal at p: pushed, or (without `push`, a skipped value) only
 * checked, the same checks in the same order. */
static FX_ALWAYS_INLINE const uchar *number_at(decoder *d, const uchar *p, int push)
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
            if (!push) {
                return p;
            } else if (m == 0 && neg) {
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
            if (push)
                lua_pushlstring(L, (const char *)start, (size_t)(p - start));
            return p;
        }
        if (d->big == BIG_ERROR)
            return fail(d, start, "integer out of range");
        if (!number_strtod(d, start, p, &v))
            return NULL;
        if (push)
            lua_pushnumber(L, v);
        return p;
    }

    /* Clinger's fast path: both factors are exact doubles, so one IEEE
     * operation gives the correctly rounded result. Needs plain double
     * arithmetic (no x87 excess precision). */
#if FLT_EVAL_METHOD == 0
    if (!trunc) {
        if (m == 0) {
            if (push)
                lua_pushnumber(L, neg ? -0.0 : 0.0);
            return p;
        }
        if (m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
            if (!push)
                return p;
            v = (double)m;
            v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
            lua_pushnumber(L, neg ? -v : v);
            return p;
        }
    }
#endif
    if (!number_strtod(d, start, p, &v))
        return NULL;
    if (push)
        lua_pushnumber(L, v);
    return p;
}

static const uchar *parse_number(decoder *d, const uchar *p)
{
    return number_at(d, p, 1);
}

static const uchar *skip_number(decoder *d, const uchar *p)
{
    return number_at(d, p, 0);
}

/* skip_number for the usual skipped number, an integer of up to
 * EXACT_DIGITS digits (exact in this build: no big_integers rule applies),
 * checked without number_at's arithmetic; anything else (a fraction, an
 * exponent, more digits, a leading zero, no digit) goes to skip_number,
 * which takes or refuses it as it always has. */
static inline const uchar *skip_integer(decoder *d, const uchar *p)
{
    const uchar *q = p + (*p == '-'), *digits = q;
    if (*q >= '1' && *q <= '9') {
        do
            q++;
        while (is_digit(*q));
        if (q - digits > EXACT_DIGITS)
            return skip_number(d, p);
    } else if (*q == '0') {
        q++;
        if (is_digit(*q))
            return skip_number(d, p);
    } else {
        return skip_number(d, p);
    }
    if (*q == '.' || (*q | 0x20) == 'e')
        return skip_number(d, p);
    return q;
}

static inline const uchar *parse_literal(decoder *d, const uchar *p, const char *word, size_t n)
{
    if ((size_t)(d->end - p) >= n && memcmp(p, word, n) == 0)
        return p + n;
    return fail(d, p, "invalid literal");
}

/* Saves the enclosing container's state while a nested one is parsed:
 * count << LEVEL_SHIFT | (last key's slot + 2) << 13 | hint slot << 2 |
 * pending << 1 | in_object. */
#define LEVEL_SHIFT 24
#if HINT_SLOTS >= (1 << 11) || KEY_SLOTS + 2 >= (1 << 11)
#error "hint or key slots do not fit in a level word"
#endif

/* An array keeps its first PENDING_MAX elements on the Lua stack, and its
 * table is made when it closes, at its exact size (no rehash, no slot to
 * spare, whatever the hint said). A longer one is moved into a table then
 * and goes on as a table. Only while the stack holds under PENDING_TOP
 * slots: past that, arrays are tables from the start (one slot a level, as
 * objects), so elements held this way take at most some PENDING_TOP slots
 * from the room a deep text has to nest in (LuaJIT allows C functions about
 * 8000; the default max_depth of 1000 needs at most 2000). */
#define PENDING_MAX 64
#define PENDING_TOP 1024

/* The levels buffer is a stack of 64-bit words (a container's level word,
 * the selection's words above it) and, in skip_value, of bytes. */
static inline void levels_push(decoder *d, uint64_t word)
{
    fx_buffer *b = d->levels;
    fx_buffer_reserve(d->L, b, sizeof word);
    memcpy(b->data + b->len, &word, sizeof word);
    b->len += sizeof word;
}

static inline uint64_t levels_pop(decoder *d)
{
    uint64_t word;
    fx_buffer *b = d->levels;
    b->len -= sizeof word;
    memcpy(&word, b->data + b->len, sizeof word);
    return word;
}

/* The n elements on top of the stack become a new array table of size
 * `size` (>= n), left on top in their place. */
static void make_array(decoder *d, int n, int size)
{
    lua_State *L = d->L;
    int t, i;
    lua_createtable(L, size, 0);
    lua_pushvalue(L, d->mt);
    lua_setmetatable(L, -2);
    if (n == 0)
        return;
    lua_insert(L, -(n + 1));
    t = lua_gettop(L) - n;
    for (i = n; i > 0; i--)
        lua_rawseti(L, t, (lua_Integer)i);
}

/* SELECT: opts.select, a tree {name = true | subtree}, with opts.select_at
 * "items" or "item", keeps only some fields of the records of an answer.
 * The records are the objects that are elements of the top-level object's
 * "items" array, or that object's "item" object. A record keeps the keys
 * of the tree; a key with `true` keeps its whole value; a key with a
 * subtree keeps, of an object, the subtree's keys (the same way down), of
 * an array, each element so restricted (objects restricted, arrays walked
 * again, anything else kept), and any other value as it is. Everything
 * else decodes as without select. The result equals the full decode then
 * restricted (fields.restrict, spec/selective_decode_spec.lua's oracle).
 *
 * A key outside the tree is not decoded: skip_value walks its value,
 * building nothing, but with the very checks the decoder makes, in the
 * same order, through the same code (escaped_at, number_at,
 * parse_literal), so a text is accepted or refused exactly as without
 * select, with the same error at the same offset, max_depth counted the
 * same. (The one limit that cannot be the same is the Lua stack's: a
 * skipped value takes none of it, so "nesting too deep for the Lua stack",
 * reached only with a max_depth raised past some 4000 on LuaJIT, does not
 * happen inside one.)
 *
 * While decoding, each open container that has a place in the selection
 * (the top-level object, "items", a record, a selected object or array in
 * it) saves one more word on the levels buffer: the place around it.
 *
 * The tree is compiled at each call into the third scratch buffer (owned
 * by the buffers' userdata, freed by its __gc), as 32-bit words: a node is
 * [n, mask, meta, n children of 3 words (name offset, name length, node
 * offset of its subtree or SEL_WHOLE), then, when mask != 0, mask + 1 words
 * of hash table (child index + 1, or 0)]; meta is the number of the node's
 * select_meta metatable in the call's list of them (d->metas), or 0; names
 * are copied after their node's children, each padded to 4 bytes. Offsets are in bytes from the start of
 * the buffer; the root node is at 0. Names are copied, not pointed to: a
 * finalizer run during the decode could change the tree. */
#define SEL_WHOLE UINT32_MAX
#define SEL_HEAD 3          /* a node's words before its children: n, mask, meta */
#define SEL_LINEAR 8        /* nodes with more children get a hash table */
#define SEL_MAX_LEVELS 64   /* a deeper tree is refused (a cycle, likely) */
#define SEL_MAX_CHILDREN (1u << 24)

/* The records of a list spell the same keys in the same order, and a
 * selective decode skips most of them: looking each one up (its end found,
 * then its name in the node) was a third of skipping a page. So each key of
 * an object with a place in the selection is remembered for this call by
 * its node and position: where its bytes are in the text (a key with no
 * escape), and what it became. The next object's key in that position is
 * first compared with those bytes, closing quote included; the same bytes
 * are the same key, as valid as before and looked up to the same answer.
 * A wrong guess costs one compare. Kept after the compiled tree, afresh at
 * every call: the pointers are into this call's text. */
#define SEL_MEMO 128
typedef struct sel_memo {
    const uchar *key; /* the key's first byte in the text, or NULL */
    size_t len;       /* whole: a key may be longer than 4 GiB */
    uint32_t node, pos;
    int vk;      /* what its value becomes (V_*), or MEMO_SKIP */
    uint32_t vn; /* and at which node */
    int member;  /* a skipped key written ,"key": with nothing between (see skip_members) */
} sel_memo;

/* The last object skipped as the value of member (node, pos): its bytes in
 * this call's text and the depth it was skipped at (see skip_object_memo). */
typedef struct value_memo {
    const uchar *bytes; /* or NULL */
    size_t len;
    uint32_t node, pos;
    int depth;
} value_memo;
#define MEMO_SKIP (-1)
#define MEMBER_MAX 28 /* a key whose ,"key": fits 32 bytes */

/* Where the open container stands in the selection. */
enum { C_NONE, C_ROOT, C_OBJ, C_ARR, C_ITEMS };

/* What a value becomes by where it stands: decoded whole (V_FULL), the
 * top-level value (V_ROOT), under a subtree (V_SUB), a record (V_REC: an
 * element of "items", or the value of "item"), the value of "items". */
enum { V_FULL, V_ROOT, V_SUB, V_REC, V_ITEMS };

/* The place a container opened as a V_* value takes: [vk][is_object]. */
static const uchar open_ctx[5][2] = {
    [V_FULL] = {C_NONE, C_NONE},
    [V_ROOT] = {C_NONE, C_ROOT},
    [V_SUB] = {C_ARR, C_OBJ},
    [V_REC] = {C_NONE, C_OBJ},
    [V_ITEMS] = {C_ITEMS, C_NONE},
};

static inline uint32_t sel_hash(const uchar *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n-- > 0)
        h = (h ^ *p++) * 16777619u;
    return h;
}

static inline int sel_same(const uchar *a, const uchar *b, size_t n)
{
    if (n == 0)
        return 1;
    if (n <= 40)
        return same_bytes(a, b, n);
    return memcmp(a, b, n) == 0;
}

static inline uint32_t *sel_words(const fx_buffer *out, uint32_t off)
{
    return (uint32_t *)(void *)(out->data + off);
}

/* The words of the compiled node at offset `node` (n, mask, meta, ...). */
static inline const uint32_t *sel_node(const uchar *base, uint32_t node)
{
    return (const uint32_t *)(const void *)(base + node);
}

/* The child of node `node` named [name, name + len), or NULL: its 3 words. */
static inline const uint32_t *sel_find(const uchar *base, uint32_t node, const uchar *name, size_t len)
{
    const uint32_t *w = sel_node(base, node);
    const uint32_t *kids = w + SEL_HEAD;
    uint32_t n = w[0], mask = w[1], i;
    if (mask == 0) {
        for (i = 0; i < n; i++, kids += 3)
            if (kids[1] == len && sel_same(base + kids[0], name, len))
                return kids;
        return NULL;
    }
    {
        const uint32_t *table = kids + 3 * (size_t)n;
        uint32_t h = sel_hash(name, len) & mask, k;
        while ((k = table[h]) != 0) {
            const uint32_t *kid = kids + 3 * (size_t)(k - 1);
            if (kid[1] == len && sel_same(base + kid[0], name, len))
                return kid;
            h = (h + 1) & mask;
        }
        return NULL;
    }
}

/* Raises "bad argument #2 to 'decode' (select.a.b: msg)": path[0, level)
 * are the names down to the table at fault. */
static int sel_error(lua_State *L, const char *const *path, int level, const char *msg)
{
    int i;
    luaL_Buffer b;
    luaL_checkstack(L, 4, NULL);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "select");
    for (i = 0; i < level && i < SEL_MAX_LEVELS; i++) {
        luaL_addchar(&b, '.');
        luaL_addstring(&b, path[i]);
    }
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, msg);
    luaL_pushresult(&b);
    return luaL_argerror(L, 2, lua_tostring(L, -1));
}

/* Checks the entry lua_next left on top (key at -2, value at -1). */
static void sel_check_entry(lua_State *L, const char **path, int level)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        sel_error(L, path, level,
                  lua_pushfstring(L, "field names must be strings, found a %s key", luaL_typename(L, -2)));
    if (!lua_istable(L, -1) && !(lua_type(L, -1) == LUA_TBOOLEAN && lua_toboolean(L, -1))) {
        path[level] = lua_tostring(L, -2);
        sel_error(L, path, level + 1,
                  lua_pushfstring(L, "must be true (the whole field) or a table of its fields, got %s",
                                  lua_type(L, -1) == LUA_TBOOLEAN ? "false" : luaL_typename(L, -1)));
    }
}

/* opts.select_meta while compiling: the map at stack index `map`; the list
 * at `list` holds the metatables found so far (1..found) and, by table,
 * the number each (sub)tree got: a subtree that stands under two names is
 * one entry. */
typedef struct sel_meta {
    int map, list;
    uint32_t found;
} sel_meta;

/* The number of the metatable select_meta gives the table at t (copied
 * into meta->list), or 0. The value is checked here, where it is taken: an
 * __index on opts or a finalizer may have changed the map since read_opts
 * looked at it, and anything but a table would reach lua_setmetatable. */
static uint32_t sel_meta_of(lua_State *L, int t, sel_meta *meta)
{
    uint32_t n;
    if (meta == NULL)
        return 0;
    lua_pushvalue(L, t);
    lua_rawget(L, meta->list);
    n = (uint32_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (n != 0)
        return n;
    lua_pushvalue(L, t);
    lua_rawget(L, meta->map);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "select_meta's values must be metatables, found a %s",
                                               luaL_typename(L, -1)));
    n = ++meta->found;
    lua_rawseti(L, meta->list, (lua_Integer)n);
    lua_pushvalue(L, t);
    lua_pushinteger(L, (lua_Integer)n);
    lua_rawset(L, meta->list);
    return n;
}

/* Compiles the tree at stack index t (a table) into `out` and returns its
 * node's offset; with out == NULL only checks it (raising as misuse). */
static uint32_t sel_compile(lua_State *L, int t, int level, const char **path, fx_buffer *out, sel_meta *meta)
{
    size_t n = 0, i = 0, size;
    uint32_t off, mask = 0, *w;
    if (level >= SEL_MAX_LEVELS)
        sel_error(L, path, level, "nested deeper than 64 levels (is a table inside itself?)");
    luaL_checkstack(L, 4, NULL);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        sel_check_entry(L, path, level);
        if (++n > SEL_MAX_CHILDREN)
            sel_error(L, path, level, "too many fields");
        lua_pop(L, 1);
    }
    if (out == NULL) {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_istable(L, -1)) {
                path[level] = lua_tostring(L, -2);
                sel_compile(L, lua_gettop(L), level + 1, path, NULL, NULL);
            }
            lua_pop(L, 1);
        }
        return 0;
    }
    if (n > SEL_LINEAR)
        for (mask = 15; mask + 1 < 2 * n; mask = mask * 2 + 1)
            ;
    size = (SEL_HEAD + 3 * n + (mask ? (size_t)mask + 1 : 0)) * sizeof(uint32_t);
    if (out->len > UINT32_MAX / 2)
        sel_error(L, path, level, "too large");
    off = (uint32_t)out->len;
    fx_buffer_reserve(L, out, size);
    memset(out->data + off, 0, size);
    out->len += size;
    w = sel_words(out, off);
    w[0] = (uint32_t)n;
    w[1] = mask;
    w[2] = sel_meta_of(L, t, meta);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        static const char zeros[4] = {0, 0, 0, 0};
        size_t len;
        const char *name;
        uint32_t name_off, sub = SEL_WHOLE;
        sel_check_entry(L, path, level);
        if (i >= n)
            sel_error(L, path, level, "changed while it was read");
        name = lua_tolstring(L, -2, &len);
        if (len > UINT32_MAX / 2 || out->len > UINT32_MAX / 2)
            sel_error(L, path, level, "too large");
        name_off = (uint32_t)out->len;
        fx_buffer_add(L, out, name, len);
        fx_buffer_add(L, out, zeros, (4 - len % 4) % 4);
        if (lua_istable(L, -1)) {
            path[level] = name;
            sub = sel_compile(L, lua_gettop(L), level + 1, path, out, meta);
        }
        w = sel_words(out, off) + SEL_HEAD + 3 * i; /* the buffer may have moved */
        w[0] = name_off;
        w[1] = (uint32_t)len;
        w[2] = sub;
        i++;
        lua_pop(L, 1);
    }
    if (i != n)
        sel_error(L, path, level, "changed while it was read");
    if (mask != 0) {
        const uint32_t *kids;
        uint32_t *table;
        w = sel_words(out, off);
        kids = w + SEL_HEAD;
        table = w + SEL_HEAD + 3 * n;
        for (i = 0; i < n; i++) {
            uint32_t h = sel_hash((const uchar *)out->data + kids[3 * i], kids[3 * i + 1]) & mask;
            while (table[h] != 0)
                h = (h + 1) & mask;
            table[h] = (uint32_t)i + 1;
        }
    }
    return off;
}

/* The selection's own words on the levels buffer, above the level word of
 * the container they belong to: the place and node of the one around it,
 * and how many keys of that one came before (see sel_memo). */
static inline void push_sel(decoder *d, int ctx, uint32_t node, uint32_t pos)
{
    /* pos, a key's position (sel_memo), only names a memo entry: past 2^24
     * it may stand for another, which then only misses more */
    levels_push(d, (uint64_t)(pos < 0xFFFFFF ? pos : 0xFFFFFF) << 40 | (uint64_t)node << 8 | (uint64_t)ctx);
}

/* Checks the value at p as decode_text would parse it, building nothing:
 * the same checks in the same order (see SELECT), so the same error at the
 * same offset. `depth` containers are open around it. Whether each
 * container it opens is an object is kept on the levels buffer, above the
 * words of the open ones, and taken off again. Returns the end of the
 * value, or NULL with d->err set. */
static const uchar *skip_value(decoder *d, const uchar *p, int depth)
{
    fx_buffer *b = d->levels;
    size_t base = b->len;
    int level = depth; /* containers open, the skipped ones included */
    int in_object = 0;

value:
    switch (*p) {
    case '{':
    case '[':
        if (level >= d->max_depth)
            return too_deep(d, p);
        if (level > depth)
            fx_buffer_addchar(d->L, b, (char)in_object);
        level++;
        in_object = *p == '{';
        p = skip_ws(d, p + 1);
        if (*p == (in_object ? '}' : ']')) {
            p++;
            goto close;
        }
        if (in_object)
            goto key;
        goto value;
    case '"':
        p = skip_string(d, p + 1);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = skip_integer(d, p);
        break;
    case 't':
        p = parse_literal(d, p, "true", 4);
        break;
    case 'f':
        p = parse_literal(d, p, "false", 5);
        break;
    case 'n':
        p = parse_literal(d, p, "null", 4);
        break;
    default:
        return fail_char(d, p, "unexpected character");
    }
    if (p == NULL)
        return NULL;

next:
    if (level == depth) {
        b->len = base;
        return p;
    }
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
    return fail_char(d, p, in_object ? "expected ',' or '}' but found" : "expected ',' or ']' but found");

key:
    if (*p != '"')
        return fail_char(d, p, "expected string key but found");
    p = skip_string(d, p + 1);
    if (p == NULL)
        return NULL;
    p = skip_ws(d, p);
    if (*p != ':')
        return fail_char(d, p, "expected ':' but found");
    p = skip_ws(d, p + 1);
    goto value;

close:
    level--;
    if (level > depth)
        in_object = b->data[--b->len];
    goto next;
}

enum { SK_ERROR, SK_PLAIN, SK_PUSHED, SK_SKIP, SK_MISS };

static inline sel_memo *sel_memo_at(const decoder *d, uint32_t node, uint32_t pos)
{
    return d->memo + (((node >> 2) * 7u + pos) & (SEL_MEMO - 1));
}

#if FX_JSON_SSE2
/* Whether the first n bytes (n <= 32) at p and at q are the same, as two
 * 16-byte blocks each: 32 bytes are readable at both. */
static inline int same_head32(const uchar *p, const uchar *q, size_t n)
{
    uint32_t same = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p),
                                                               _mm_loadu_si128((const __m128i *)(const void *)q))) |
                    (uint32_t)_mm_movemask_epi8(
                        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)),
                                       _mm_loadu_si128((const __m128i *)(const void *)(q + 16))))
                        << 16;
    uint32_t wanted = (uint32_t)((UINT64_C(1) << n) - 1);
    return (same & wanted) == wanted;
}
#endif

/* The key at *pp (its opening quote), position pos of an object at node, if
 * it is the key remembered there (see sel_memo): SK_SKIP (*pp past it) or
 * SK_PLAIN (*vk, *vn set, *pp unchanged), as select_key would answer; else
 * SK_MISS. */
static inline int sel_recall(const decoder *d, const uchar **pp, uint32_t node, uint32_t pos, int *vk, uint32_t *vn)
{
    const sel_memo *m = sel_memo_at(d, node, pos);
    const uchar *p = *pp;
    size_t n = m->len;
    if (m->key == NULL || m->node != node || m->pos != pos)
        return SK_MISS;
#if FX_JSON_SSE2
    if (n <= 30 && d->end - p >= 32) {
        /* the key and its quotes against the remembered one's, which
         * stands before p in the same text */
        if (!same_head32(p, m->key - 1, n + 2))
            return SK_MISS;
    } else
#endif
    if ((size_t)(d->end - p) <= n + 1 || p[n + 1] != '"' || !sel_same(m->key, p + 1, n))
        return SK_MISS;
    if (m->vk == MEMO_SKIP) {
        *pp = p + n + 2;
        return SK_SKIP;
    }
    *vk = m->vk;
    *vn = m->vn;
    return SK_PLAIN;
}

#if FX_JSON_SSE2
/* The key at position pos of an object at node, p at the ',' before it,
 * when the memo's entry there is a skipped key spelled ,"key": (its
 * `member`): the bytes ,"key": against the remembered ones, which stand
 * before p in the same text. Equal bytes are the same ',', the same key,
 * as valid as before and as skipped, and the ':' after it: what the
 * separate checks would have found. Returns past the ':', or NULL
 * (another key, other bytes, or too near the end to compare at once) for
 * those checks to decide. */
static inline const uchar *sel_recall_member(const decoder *d, const uchar *p, uint32_t node, uint32_t pos)
{
    const sel_memo *m = sel_memo_at(d, node, pos);
    if (!m->member || m->node != node || m->pos != pos || d->end - p < 32 || !same_head32(p, m->key - 2, m->len + 4))
        return NULL;
    return p + m->len + 4;
}
#endif

/* Whether the key [name, name + len), skipped, is written ,"key": in the
 * text (the byte before its opening quote is there: a key follows a '{'
 * or a ','; the one after its closing quote too, the NUL at worst). */
static inline int spelled_as_member(const uchar *name, size_t len)
{
    return len <= MEMBER_MAX && name[-2] == ',' && name[len + 1] == ':';
}

/* Remembers the key [name, name + len) of the text, position pos of an
 * object at node, and what its value becomes (kind: V_* or MEMO_SKIP). */
static inline void sel_remember(const decoder *d, uint32_t node, uint32_t pos, const uchar *name, size_t len,
                                int kind, uint32_t vn)
{
    sel_memo *m = sel_memo_at(d, node, pos);
    m->key = name;
    m->len = len;
    m->node = node;
    m->pos = pos;
    m->vk = kind;
    m->vn = vn;
    m->member = kind == MEMO_SKIP && spelled_as_member(name, len);
}

static const uchar *skip_object_memo(decoder *d, const uchar *p, int depth, uint32_t node, uint32_t pos);

/* skip_member_value (below) from just past the ':'. */
static FX_ALWAYS_INLINE const uchar *skip_after_colon(decoder *d, const uchar *p, int depth, int objects,
                                                     uint32_t node, uint32_t pos)
{
    p = skip_ws(d, p);
    if (*p == '"')
        return skip_string(d, p + 1);
    if (*p == 'n')
        return parse_literal(d, p, "null", 4);
    if (*p == '-' || is_digit(*p))
        return skip_integer(d, p);
    if (objects && *p == '{')
        return skip_object_memo(d, p, depth, node, pos);
    if (*p == '[' && p[1] == ']' && depth < d->max_depth)
        return p + 2; /* an empty list, as skip_value takes it */
    return skip_value(d, p, depth);
}

/* A skipped member's ':' and value (p past its key, `depth` containers open
 * around the value): the usual values by a short path (a string, null, an
 * integer, [], and with `objects` an object through skip_object_memo,
 * whose skip_object passes 0 so that nothing recurses), anything else
 * through skip_value; (node, pos) name the member for skip_object_memo.
 * Whitespace is looked for only where the ':' is not there at once. The
 * checks and errors are skip_value's. Returns past the value, or NULL. */
static FX_ALWAYS_INLINE const uchar *skip_member_value(decoder *d, const uchar *p, int depth, int objects,
                                                      uint32_t node, uint32_t pos)
{
    if (*p != ':') {
        p = skip_ws(d, p);
        if (*p != ':')
            return fail_char(d, p, "expected ':' but found");
    }
    return skip_after_colon(d, p + 1, depth, objects, node, pos);
}

/* skip_value for an object (p at its '{', `depth` containers open around
 * it) as a loop of its own: the objects a record skips are mostly flat
 * (a SIM's device_info, balances, auto_topup_settings), and their members
 * need none of skip_value's state. A value that is itself a container (or
 * true, false, anything else) goes to skip_value one level down. The same
 * checks in the same order, so the same errors at the same places. */
static const uchar *skip_object(decoder *d, const uchar *p, int depth)
{
    if (depth >= d->max_depth)
        return too_deep(d, p);
    p = skip_ws(d, p + 1);
    if (*p == '}')
        return p + 1;
    for (;;) {
        if (*p != '"')
            return fail_char(d, p, "expected string key but found");
        p = skip_string(d, p + 1);
        if (p == NULL)
            return NULL;
        p = skip_member_value(d, p, depth + 1, 0, 0, 0);
        if (p == NULL)
            return NULL;
        if (*p != ',') {
            p = skip_ws(d, p);
            if (*p != ',')
                break;
        }
        p = skip_ws(d, p + 1);
    }
    if (*p == '}')
        return p + 1;
    return fail_char(d, p, "expected ',' or '}' but found");
}

/* skip_object for the value of member (node, pos). The objects a record
 * skips whole have the same bytes in record after record, more often than
 * not: a SIM's device_info all null, its balances and auto_topup_settings
 * as the reseller set them, in the published sample as in the sandbox. So
 * the last one skipped at each place is remembered (value_memo, in the
 * slot sel_memo_at gives that place) and the next one is first compared
 * with it: the same bytes, at the same depth, are the same valid object,
 * and skipping them would end just past them (an object ends at its own
 * '}', read from nothing after it). A different object costs a compare
 * that mostly stops in its first bytes. */
static const uchar *skip_object_memo(decoder *d, const uchar *p, int depth, uint32_t node, uint32_t pos)
{
    value_memo *m = d->values + (sel_memo_at(d, node, pos) - d->memo);
    const uchar *end;
    if (m->bytes != NULL && m->node == node && m->pos == pos && m->depth == depth &&
        (size_t)(d->end - p) >= m->len && memcmp(p, m->bytes, m->len) == 0)
        return p + m->len;
    end = skip_object(d, p, depth);
    if (end != NULL) {
        m->bytes = p;
        m->len = (size_t)(end - p);
        m->node = node;
        m->pos = pos;
        m->depth = depth;
    }
    return end;
}

/* decode_text's skip_member, and the members after it for as long as the
 * memo skips their keys: p is past a key outside the selection, in an
 * object at `node` of it, *pos keys of which came before the next one.
 * A list's records spell the same keys in the same order, so most of a
 * record is such a run, and here it runs without going round decode_text's
 * loop, whose many live variables cost more than the checks. Each value is
 * checked by what skip_value would call for it, the same checks in the same
 * order. Returns where decode_text goes on: with *at_key, p at what follows
 * a ',' that is not a key the memo skips (its key path checks it, counts
 * its position and asks the memo again); else p past a value, at what is
 * not a ',' (its `next` path). NULL with d->err set: the error decode_text
 * would have found at the same place. */
static FX_NOINLINE const uchar *skip_members(decoder *d, const uchar *p, uint32_t node, uint32_t *pos, int depth,
                                             int *at_key)
{
    /* Compact text, the usual, meets each expected byte at once: the
     * whitespace is looked for only where that byte is not there. */
    for (;;) {
        const uchar *key;
        int vk;
        uint32_t vn;
        p = skip_member_value(d, p, depth, 1, node, *pos);
        if (p == NULL)
            return NULL;
#if FX_JSON_SSE2
        {
            /* the run itself: ,"key": compared at once with the same bytes
             * where the memo last saw this key (the checks that follow
             * them are for text written otherwise, or another key) */
            const uchar *after;
            while ((after = sel_recall_member(d, p, node, *pos)) != NULL) {
                (*pos)++;
                p = skip_after_colon(d, after, depth, 1, node, *pos);
                if (p == NULL)
                    return NULL;
            }
        }
#endif
        if (*p != ',') {
            p = skip_ws(d, p);
            if (*p != ',') {
                *at_key = 0;
                return p;
            }
        }
        p++;
        if (*p != '"') {
            p = skip_ws(d, p);
            if (*p != '"') {
                *at_key = 1;
                return p;
            }
        }
        key = p;
        if (sel_recall(d, &p, node, *pos, &vk, &vn) != SK_SKIP) {
            *at_key = 1;
            return key;
        }
        (*pos)++;
    }
}

/* A key of an object that has a place in the selection (*pp at its
 * opening quote): sets what its value becomes (*vk, *vn), and returns
 * SK_SKIP when it is not selected (*pp then past the key, nothing
 * pushed), SK_PLAIN when the usual key path is to parse and push it (*pp
 * unchanged), SK_PUSHED when it had escapes and is pushed already (*pp
 * past it), SK_ERROR with d->err set. The key is checked as parse_key
 * checks it. */
static int select_key(decoder *d, const uchar **pp, int ctx, uint32_t node, uint32_t pos, int *vk, uint32_t *vn)
{
    const uchar *p = *pp, *q, *name;
    size_t len;
    int bad = 0, pushed = 0;
    q = scan_run(p + 1, d->start, d->end, &bad);
    if (*q == '"') {
        name = p + 1;
        len = (size_t)(q - name);
        q++;
    } else if (*q == '\\' && !bad) {
        q = string_escaped(d, p, p + 1, q);
        if (q == NULL)
            return SK_ERROR;
        name = (const uchar *)lua_tolstring(d->L, -1, &len);
        pushed = 1;
    } else {
        string_stop(d, p, q, bad);
        return SK_ERROR;
    }
    if (ctx == C_ROOT) {
        *vk = len == d->at_len && memcmp(name, d->at_name, len) == 0 ? d->at_vk : V_FULL;
        *vn = 0;
    } else {
        const uint32_t *kid = sel_find(d->sel, node, name, len);
        int kind = kid == NULL ? MEMO_SKIP : kid[2] == SEL_WHOLE ? V_FULL : V_SUB;
        if (!pushed) /* a key with no escape: its bytes in the text are its name */
            sel_remember(d, node, pos, name, len, kind, kid == NULL ? 0 : kid[2]);
        if (kid == NULL) {
            if (pushed)
                lua_pop(d->L, 1);
            *pp = q;
            return SK_SKIP;
        }
        *vk = kind;
        *vn = kid[2];
    }
    if (!pushed)
        return SK_PLAIN;
    *pp = q;
    d->key_slot = NO_KEY;
    return SK_PUSHED;
}

/* Parses the whole text; leaves the value on the stack and returns 1, or
 * returns 0 with d->err set. */
static int decode_text(decoder *d)
{
    lua_State *L = d->L;
    const uchar *p = skip_ws(d, d->start);
    size_t count = 0; /* elements (or keys) so far in the open container */
    int in_object = 0;
    int pending = 0;  /* the open array's elements are on the stack, no table yet */
    int depth = 0;
    int slot = 0;     /* hint slot of the open container */
    int last_key = KEY_FIRST; /* slot of the open object's last key (or KEY_FIRST, KEY_NONE) */
    key_cache *c;
    /* With select (see SELECT): the open containers that have a place in
     * the selection are the outermost sel_depth ones (never, without it:
     * -1); the innermost of them, when it is the open one, has place `ctx`
     * at node `node`, and key_vk, key_node say what the value of its last
     * key becomes. */
    int sel_depth = d->sel != NULL ? 0 : -1;
    int ctx = C_NONE;
    uint32_t node = 0;
    int key_vk = V_FULL;
    uint32_t key_node = 0;
    uint32_t sel_pos = 0; /* keys so far in the open object at node (sel_memo) */

    if (p == d->end) {
        fail(d, p, "empty input");
        return 0;
    }

value:
    switch (*p) {
    case '{':
    case '[':
        if (depth >= d->max_depth) {
            too_deep(d, p);
            return 0;
        }
        if (!lua_checkstack(L, 4)) {
            fail(d, p, "nesting too deep for the Lua stack");
            return 0;
        }
        if (d->cache == NULL)
            key_cache_make(d);
        {
            int is_obj = *p == '{', inner;
            if (in_object && depth > 0 && d->key_slot != NO_KEY)
                inner = d->key_slot;
            else if (!in_object && depth > 0 && slot < KEY_SLOTS)
                inner = HINT_ELEM + slot;
            else
                inner = HINT_DEPTH + 2 * (depth < HINT_LEVELS ? depth : HINT_LEVELS) + is_obj;
            levels_push(d, count << LEVEL_SHIFT | (size_t)(last_key + 2) << 13 | (size_t)slot << 2 |
                              (size_t)pending << 1 | (size_t)in_object);
            slot = inner;
            if (depth == sel_depth) {
                int vk = depth == 0 ? V_ROOT : in_object ? key_vk : ctx == C_ARR ? V_SUB : V_REC;
                int opened = open_ctx[vk][is_obj];
                if (opened != C_NONE) {
                    push_sel(d, ctx, node, sel_pos);
                    if (depth > 0 && in_object)
                        node = key_node;
                    ctx = opened;
                    sel_pos = 0;
                    sel_depth++;
                }
            }
        }
        depth++;
        count = 0;
        if (*p == '{') {
            in_object = 1;
            pending = 0;
            last_key = KEY_FIRST;
            lua_createtable(L, 0, d->cache->hint[slot]);
            p = skip_ws(d, p + 1);
            if (*p == '}') {
                p++;
                goto close;
            }
            goto key;
        }
        in_object = 0;
        pending = lua_gettop(L) < PENDING_TOP && lua_checkstack(L, PENDING_MAX + 5);
        if (!pending)
            make_array(d, 0, d->cache->hint[slot]);
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
            if (!in_object && !pending) {
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
    if (in_object) {
        lua_rawset(L, -3);
    } else if (pending) {
        if (++count > PENDING_MAX) {
            uint32_t h = d->null_as_nil ? 0 : d->cache->long_hint[slot];
            make_array(d, PENDING_MAX + 1, h > 2 * PENDING_MAX ? (int)h : 2 * PENDING_MAX);
            pending = 0;
        }
    } else {
        lua_rawseti(L, -2, (lua_Integer)++count);
    }

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
    if (depth == sel_depth) {
        uint32_t pos = sel_pos++;
        int sk = ctx == C_OBJ ? sel_recall(d, &p, node, pos, &key_vk, &key_node) : SK_MISS;
        if (sk == SK_MISS)
            sk = select_key(d, &p, ctx, node, pos, &key_vk, &key_node);
        switch (sk) {
        case SK_ERROR:
            return 0;
        case SK_SKIP:
            goto skip_member;
        case SK_PUSHED:
            goto key_pushed;
        default:
            break;
        }
    }
    c = d->cache;
    {
        unsigned guess = last_key >= 0 ? c->next_key[last_key] : last_key == KEY_FIRST ? c->first_key[slot] : NO_GUESS;
        size_t n;
        if (guess != NO_GUESS && (n = c->len[guess]) != 0 && (size_t)(d->end - p) > n + 1 && p[n + 1] == '"' &&
            same_bytes(c->bytes[guess], p + 1, n)) {
            d->key_slot = (int)guess;
            lua_rawgeti(L, d->keys, (lua_Integer)guess + 1);
            p += n + 2;
        } else {
            p = parse_key(d, p + 1);
            if (p == NULL)
                return 0;
            if (d->key_slot != NO_KEY) {
                if (last_key >= 0)
                    c->next_key[last_key] = (uint16_t)d->key_slot;
                else if (last_key == KEY_FIRST)
                    c->first_key[slot] = (uint16_t)d->key_slot;
            }
        }
    }
key_pushed:
    last_key = d->key_slot != NO_KEY ? d->key_slot : KEY_NONE;
    count++;
    p = skip_ws(d, p);
    if (*p != ':') {
        fail_char(d, p, "expected ':' but found");
        return 0;
    }
    p = skip_ws(d, p + 1);
    goto value;

skip_member: /* a key outside the selection (p past it): its value is checked, not kept */
    {
        int at_key;
        p = skip_members(d, p, node, &sel_pos, depth, &at_key);
        if (p == NULL)
            return 0;
        last_key = KEY_NONE; /* learn no "next key" across the skipped ones */
        if (at_key)
            goto key;
    }
    goto next;

close:
    if (pending)
        make_array(d, (int)count, (int)count);
    d->cache->hint[slot] = (uchar)(count < HINT_MAX ? count : HINT_MAX);
    if (!in_object && count > PENDING_MAX)
        d->cache->long_hint[slot] = (uint32_t)(count < LONG_HINT_MAX ? count : LONG_HINT_MAX);
    if (depth == sel_depth) {
        uint64_t saved;
        if (ctx == C_OBJ && d->metas != 0) {
            uint32_t meta = sel_node(d->sel, node)[2];
            if (meta != 0) {
                lua_rawgeti(L, d->metas, (lua_Integer)meta);
                lua_setmetatable(L, -2);
            }
        }
        saved = levels_pop(d);
        ctx = (int)(saved & 0xFF);
        node = (uint32_t)(saved >> 8);
        sel_pos = (uint32_t)(saved >> 40);
        sel_depth--;
    }
    depth--;
    {
        size_t state = (size_t)levels_pop(d);
        in_object = (int)(state & 1);
        pending = (int)(state >> 1) & 1;
        slot = (int)(state >> 2) & 0x7FF;
        last_key = (int)(state >> 13 & 0x7FF) - 2;
        count = state >> LEVEL_SHIFT;
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

/* Checks opts.select_meta (at stack index t): tables for keys and values,
 * for a clear message before anything is taken (sel_meta_of checks each
 * value again where it copies it). */
static void check_select_meta(lua_State *L, int t)
{
    if (!lua_istable(L, t))
        luaL_argerror(L, 2, lua_pushfstring(L, "select_meta must be a table {[select or a table in it] = "
                                               "metatable}, got %s", luaL_typename(L, t)));
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (!lua_istable(L, -2))
            luaL_argerror(L, 2, lua_pushfstring(L, "select_meta's keys must be select or tables in it, found "
                                                   "a %s key", luaL_typename(L, -2)));
        if (!lua_istable(L, -1))
            luaL_argerror(L, 2, lua_pushfstring(L, "select_meta's values must be metatables, found a %s",
                                                   luaL_typename(L, -1)));
        lua_pop(L, 1);
    }
}

/* Reads opts; returns 1 when it has a select (checked, not compiled yet:
 * see compile_select). */
static int read_opts(lua_State *L, decoder *d)
{
    static const char *const big_names[] = {"float", "string", "error", NULL};
    static const char *const at_names[] = {"items", "item", NULL};
    /* big_integers first: the client passes it on every call */
    static const char *const option_names[] = {"big_integers", "select", "select_at", "select_meta",
                                               "null_as_nil", "max_depth", NULL};
    int has_select, at;
    d->max_depth = FX_JSON_DEFAULT_MAX_DEPTH;
    d->null_as_nil = 0;
    d->big = BIG_FLOAT;
    d->sel = NULL;
    d->memo = NULL;
    d->values = NULL;
    d->metas = 0;
    if (lua_isnoneornil(L, 2))
        return 0;
    luaL_checktype(L, 2, LUA_TTABLE);
    fx_opt_check_names(L, 2, option_names, "option",
                       "json.decode takes max_depth, null_as_nil, big_integers, select, select_at and select_meta");

    d->max_depth = (int)fx_opt_integer(L, 2, "max_depth", d->max_depth, 1, INT_MAX);
    d->null_as_nil = fx_opt_boolean(L, 2, "null_as_nil", d->null_as_nil);
    d->big = fx_opt_choice(L, 2, "big_integers", big_names, d->big);

    has_select = fx_opt_push(L, 2, "select");
    if (has_select) {
        const char *path[SEL_MAX_LEVELS];
        if (!lua_istable(L, -1))
            luaL_argerror(L, 2, lua_pushfstring(L, "select must be a table of fields ({name = true, other = "
                                                   "{subfield = true}}), got %s", luaL_typename(L, -1)));
        sel_compile(L, lua_gettop(L), 0, path, NULL, NULL);
        lua_pop(L, 1);
    }
    if (fx_opt_push(L, 2, "select_meta")) {
        if (!has_select)
            luaL_argerror(L, 2, "select_meta without select");
        check_select_meta(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    at = fx_opt_choice(L, 2, "select_at", at_names, -1);
    if (has_select && at < 0)
        luaL_argerror(L, 2, "select needs select_at: \"items\" (the records of a list) or \"item\" (of a get)");
    if (!has_select && at >= 0)
        luaL_argerror(L, 2, "select_at without select");
    d->at_name = at == 0 ? "items" : "item";
    d->at_len = at == 0 ? 5 : 4;
    d->at_vk = at == 0 ? V_ITEMS : V_REC;
    return has_select;
}

/* Compiles opts.select into `out` (read_opts checked it), and with
 * opts.select_meta leaves the list of its metatables on the stack
 * (d->metas). */
static void compile_select(lua_State *L, decoder *d, fx_buffer *out)
{
    const char *path[SEL_MAX_LEVELS];
    sel_meta meta = {0, 0, 0}, *with_meta = NULL;
    int entries = 0;
    d->metas = 0;
    lua_getfield(L, 2, "select_meta");
    if (lua_istable(L, -1)) {
        meta.map = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, meta.map)) {
            entries++;
            lua_pop(L, 1);
        }
        lua_createtable(L, entries, entries);
        meta.list = d->metas = lua_gettop(L);
        with_meta = &meta;
    }
    lua_getfield(L, 2, "select");
    if (!lua_istable(L, -1))
        sel_error(L, path, 0, "changed while it was read");
    out->len = 0;
    sel_compile(L, lua_gettop(L), 0, path, out, with_meta);
    lua_pop(L, 1);
    /* A key that is no table of the tree would be silently unused. */
    if (with_meta != NULL && meta.found < (uint32_t)entries)
        luaL_argerror(L, 2, "select_meta has a key that is neither select nor a table inside it");
    {
        /* the memo after the tree, at a pointer's alignment (the buffer's
         * data is malloc's), empty */
        size_t at = (out->len + 7) & ~(size_t)7, size = SEL_MEMO * (sizeof(sel_memo) + sizeof(value_memo));
        fx_buffer_reserve(L, out, at - out->len + size);
        memset(out->data + out->len, 0, at - out->len + size);
        out->len = at + size;
        d->sel = (const uchar *)out->data;
        d->memo = (sel_memo *)(void *)(out->data + at);
        d->values = (value_memo *)(void *)(d->memo + SEL_MEMO); /* sel_memo's size is a pointer's multiple */
    }
}

/* fx_json_decode_bytes hands json_decode its bytes as this userdata, of a
 * type only C makes (Lua code cannot make a userdata): the text of a
 * buffer that stays put during the call, with its NUL after it. */
#define BYTES_VIEW_MT "flexiroam.json.bytes"
#define DECODE_KEY "flexiroam.json.decode"
typedef struct bytes_view {
    const char *p;
    size_t n;
} bytes_view;

int fx_json_decode_bytes(lua_State *L, const char *p, size_t n, int opts)
{
    bytes_view *view;
    int ok, status;
    luaL_checkstack(L, 5, NULL);
    view = (bytes_view *)fx_newuserdata(L, sizeof *view);
    view->p = p;
    view->n = n;
    luaL_getmetatable(L, BYTES_VIEW_MT);
    lua_setmetatable(L, -2);
    lua_getfield(L, LUA_REGISTRYINDEX, DECODE_KEY);
    lua_pushvalue(L, -2);
    if (opts != 0)
        lua_pushvalue(L, opts);
    else
        lua_pushnil(L);
    status = lua_pcall(L, 2, 2, 0);
    /* Lua code run during the decode (a finalizer, with the debug library)
     * could keep the view: it must not read the buffer afterwards. */
    view->p = NULL;
    view->n = 0;
    if (status != 0) /* LUA_OK, which Lua 5.1 does not name */
        lua_error(L); /* the decode's own raise (misuse of the options), as it was */
    ok = !lua_isnil(L, -2);
    lua_pop(L, 1);
    if (ok)
        lua_remove(L, -2);
    else
        lua_pop(L, 2);
    return ok;
}

/* Upvalue 1 holds the three shared scratch buffers (strings, levels, the
 * compiled select), taken for the call and
 * given back after it (see fx_buffers_take): a decode run by a __gc
 * finalizer in the middle of this one gets fresh ones. Upvalue 2 holds the
 * key cache, taken and given back the same way (key_cache_take). */
static int json_decode(lua_State *L)
{
    decoder d;
    size_t len;
    int ok, base, has_select;
    const bytes_view *view;

    if (lua_type(L, 1) == LUA_TSTRING) {
        d.start = (const uchar *)lua_tolstring(L, 1, &len);
    } else if ((view = (const bytes_view *)luaL_testudata(L, 1, BYTES_VIEW_MT)) != NULL && view->p != NULL) {
        d.start = (const uchar *)view->p;
        len = view->n;
    } else {
        return luaL_argerror(L, 1, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
    }
    d.end = d.start + len;
    d.L = L;
    has_select = read_opts(L, &d);
    lua_settop(L, 2);
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    d.mt = 3;
    d.scratch = fx_buffers_take(L, lua_upvalueindex(1), 3);
    d.levels = d.scratch + 1;
    d.levels->len = 0;
    key_cache_take(&d);
    if (has_select)
        compile_select(L, &d, d.scratch + 2);
    /* the sizes start afresh: the same text always makes the same tables
     * (same sizes, so the same pairs() order), whatever came before */
    if (d.cache != NULL)
        memset(d.cache->hint, 0, sizeof d.cache->hint);
    d.key_slot = NO_KEY;
    base = lua_gettop(L);

    ok = decode_text(&d);

    if (d.scratch->cap > SCRATCH_SHRINK_ABOVE)
        fx_buffer_shrink(d.scratch, SCRATCH_KEEP);
    if (d.levels->cap > SCRATCH_SHRINK_ABOVE)
        fx_buffer_shrink(d.levels, SCRATCH_KEEP);
    if (d.scratch[2].cap > SCRATCH_SHRINK_ABOVE)
        fx_buffer_shrink(d.scratch + 2, SCRATCH_KEEP);
    fx_buffers_give_back(L, 4, lua_upvalueindex(1));
    key_cache_give_back(&d);
    if (!ok)
        return push_error(&d, base);
    return 1;
}

void fx_json_decode_register(lua_State *L, int module)
{
    fx_buffers_push(L, 3);
    lua_pushnil(L); /* the key cache, made at the first key decoded */
    lua_pushcclosure(L, json_decode, 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DECODE_KEY);
    lua_setfield(L, module, "decode");
    luaL_newmetatable(L, BYTES_VIEW_MT);
    lua_pop(L, 1);
}
