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
#include "json_scan.h"
#include "options.h"
#include "utf8_check.h"
#include "utf8_lookup.h"

/* C recursion follows the nesting, so max_depth also bounds the C stack
 * (a few hundred bytes a level, more under sanitizers). */
#define ENC_DEPTH_CEILING 10000

/* The scratch buffers are kept between calls (fx_scratch_should_shrink);
 * above this much they are given back once calls stop using them. */
#define ENC_KEEP_BYTES (64 * 1024)

/* Upvalue 2: how many calls in a row left the buffers mostly unused. */
typedef struct enc_state {
    unsigned idle;
} enc_state;

#define ENC_FAIL (-1)

/* Lua stack room for this many levels of nesting is made once per call. */
#define ENC_STACK_LEVELS 16

/* Failure paths stay out of line: their message buffers must not weigh on
 * every level of the recursion. */
#if defined(__GNUC__)
#define ENC_COLD __attribute__((noinline, cold))
#define ENC_NOINLINE __attribute__((noinline))
#define ENC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ENC_COLD
#define ENC_NOINLINE
#define ENC_PRINTF(f, a)
#endif

#define PATH_BUCKETS 1024 /* a power of 2, at most 1024 (path_buckets' 10 bits) */

typedef struct enc {
    lua_State *L;
    fx_buffer *out;
    fx_buffer *path;   /* const void *: the tables being encoded, outermost first */
    fx_buffer *sort;   /* member records of the sort_keys objects in progress */
    const void *array_mt;
    int depth;
    int stack_ok;      /* depths below this have their Lua stack slots already */
    int max_depth;
    int sort_keys;
    int simd;          /* fx_utf8_have_ssse3(), asked once a call */
    /* How many tables of the path fall in each bucket, each table counted
     * in two (path_buckets): a table one of whose buckets is empty is not
     * on the path, and only the others are looked for in it (a walk of the
     * whole path for every table was 14% of encoding comment threads 40
     * deep; with one bucket of 256, a third of the tables of a thread 80
     * tables deep still walked it, 4% of encoding them). */
    uint16_t on_path[PATH_BUCKETS];
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

/* ---- strings --------------------------------------------------------------- */

/* Short escapes; 0 means \u00XX. */
static const char short_escape[256] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    ['"'] = '"', ['\\'] = '\\',
};

static const char hex_digits[] = "0123456789abcdef";

/* Writes byte c (a quote, a backslash or a control byte) escaped at out:
 * 2 bytes, or 6 for a control byte with no short form. Returns the end. */
static inline char *put_escape(char *out, unsigned c)
{
    *out++ = '\\';
    if (short_escape[c]) {
        *out++ = short_escape[c];
        return out;
    }
    memcpy(out, "u00", 3);
    out[3] = hex_digits[c >> 4];
    out[4] = hex_digits[c & 15];
    return out + 5;
}

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Eight bytes at once: nonzero when a byte must be escaped (< 0x20, '"'
 * or '\\'). Borrows only run upwards from a flagged byte, so a clean word
 * always gives 0, which is all it is asked. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t escape_bytes(uint64_t w)
{
    uint64_t lt = (w - ONES * 0x20) & ~w;
    uint64_t q = w ^ (ONES * '"');
    uint64_t bs = w ^ (ONES * '\\');
    q = (q - ONES) & ~q;
    bs = (bs - ONES) & ~bs;
    return (lt | q | bs) & HIGHS;
}

/* A string of under 16 bytes as words (two that overlap from 8 bytes on,
 * two halves from 4, its first, middle and last bytes below that, padded
 * with 'a'): nonzero when a byte must be escaped or, with `high`, is >= 0x80. */
static inline uint64_t short_flags(const char *s, size_t len, int high)
{
    uint64_t a, b;
    if (len >= 8) {
        a = load64(s);
        b = load64(s + len - 8);
    } else {
        if (len >= 4)
            a = (uint64_t)load32(s) << 32 | load32(s + len - 4);
        else if (len > 0)
            a = UINT64_C(0x6161616161000000) | (uint64_t)(uchar)s[0] | (uint64_t)(uchar)s[len >> 1] << 8 |
                (uint64_t)(uchar)s[len - 1] << 16;
        else
            return 0;
        b = a; /* not 0: a NUL byte is one to escape */
    }
    return escape_bytes(a) | escape_bytes(b) | (high ? (a | b) & HIGHS : 0);
}

#if FX_JSON_SSE2
/* Sixteen bytes at once: a bit per byte to escape (bytes >= 0x80 are
 * UTF-8 to check, not flagged). */
static inline unsigned escape_flags(__m128i v)
{
    __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))), control));
}
#endif

/* The first byte of [p, end) to escape, or end; *high gets a nonzero bit
 * when a byte >= 0x80 came before it. `s` is where the string starts: its
 * last 16 bytes may be read, nothing past end. */
static inline const uchar *next_escape(const uchar *p, const uchar *s, const uchar *end, unsigned *high)
{
#if FX_JSON_SSE2
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = escape_flags(v), hi = (unsigned)_mm_movemask_epi8(v);
        if (m != 0) {
            unsigned at = (unsigned)__builtin_ctz(m);
            *high |= hi & ((1u << at) - 1);
            return p + at;
        }
        *high |= hi;
        p += 16;
    }
    if (p < end && end - s >= 16) {
        const uchar *q = end - 16;
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned keep = (0xFFFFu << (p - q)) & 0xFFFF;
        unsigned m = escape_flags(v) & keep, hi = (unsigned)_mm_movemask_epi8(v) & keep;
        if (m != 0) {
            unsigned at = (unsigned)__builtin_ctz(m);
            *high |= hi & ((1u << at) - 1);
            return q + at;
        }
        *high |= hi;
        return end;
    }
#else
    (void)s;
#endif
    for (; p < end; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\')
            return p;
        *high |= *p >= 0x80;
    }
    return end;
}

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
        if (c < 0x20 || c == '"' || c == '\\')
            len = (size_t)(put_escape(tmp, c) - tmp);
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

static const uint64_t pow10_u64[20] = {
    UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000), UINT64_C(100000),
    UINT64_C(1000000), UINT64_C(10000000), UINT64_C(100000000), UINT64_C(1000000000),
    UINT64_C(10000000000), UINT64_C(100000000000), UINT64_C(1000000000000), UINT64_C(10000000000000),
    UINT64_C(100000000000000), UINT64_C(1000000000000000), UINT64_C(10000000000000000),
    UINT64_C(100000000000000000), UINT64_C(1000000000000000000), UINT64_C(10000000000000000000),
};

/* Written in place, right to left, two digits at a time. */
static void put_integer(enc *e, long long v)
{
    /* unsigned negation keeps LLONG_MIN exact */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = 1;
    char *p;
    while (n < 20 && u >= pow10_u64[n])
        n++;
    n += v < 0;
    fx_buffer_reserve(e->L, e->out, (size_t)n);
    p = e->out->data + e->out->len + n;
    e->out->len += (size_t)n;
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
}

/* ---- floats without printf ------------------------------------------------
 *
 * put_float's text is "%.Pg" for the first P of 15, 16, 17 whose text
 * strtod reads back as the same double. That is computed here without
 * printf or strtod, exactly, with 128-bit integers, for the doubles most
 * data holds: normal, not integral, about 1e-39 <= |d| < 2^53. Then
 * d = f * 2^-s (f < 2^53) and N = d * 10^k (k = 16 - X, X the decimal
 * exponent of d) is f * 5^k / 2^t with t = s - k: q = floor(N),
 * 10^16 <= q < 10^17, and the remainder r below 2^t are exact (f * 5^k
 * takes up to 181 bits, q and r fit in 64 and 128). The P-digit rounding of d is q / 10^(17 - P)
 * rounded half to even (printf's rounding), and it reads back as d when it
 * lies within half the gap between d and its neighbours: scaled by 10^k
 * that half gap is 5^k / 2^(t + 1) (half of that below d when f = 2^52: the
 * double below d is nearer), and a tie goes to the even f, as strtod's
 * rounding does. The text then follows printf's %g: fixed notation when
 * -4 <= exponent < P, else d.ddde+XX, trailing zeros dropped. Integral
 * doubles up to 2^64 are done the same way on their integer (see
 * float_text_integral). Anything else (subnormals, tinier or huger numbers)
 * is left to printf and strtod. */
#if defined(__SIZEOF_INT128__) && FLT_RADIX == 2 && DBL_MANT_DIG == 53 && DBL_MAX_EXP == 1024
#define ENC_FAST_FLOAT 1
typedef unsigned __int128 u128;

static const uint64_t pow5_u64[28] = {
    UINT64_C(1), UINT64_C(5), UINT64_C(25), UINT64_C(125), UINT64_C(625), UINT64_C(3125), UINT64_C(15625),
    UINT64_C(78125), UINT64_C(390625), UINT64_C(1953125), UINT64_C(9765625), UINT64_C(48828125),
    UINT64_C(244140625), UINT64_C(1220703125), UINT64_C(6103515625), UINT64_C(30517578125),
    UINT64_C(152587890625), UINT64_C(762939453125), UINT64_C(3814697265625), UINT64_C(19073486328125),
    UINT64_C(95367431640625), UINT64_C(476837158203125), UINT64_C(2384185791015625),
    UINT64_C(11920928955078125), UINT64_C(59604644775390625), UINT64_C(298023223876953125),
    UINT64_C(1490116119384765625), UINT64_C(7450580596923828125),
};

/* 5^k for k <= 55 (< 2^128) */
static inline u128 pow5_u128(int k)
{
    if (k <= 27)
        return pow5_u64[k];
    return (u128)pow5_u64[27] * pow5_u64[k - 27];
}

/* Writes the digits of m (which has exactly n of them) to o. */
static inline void put_digits(char *o, uint64_t m, int n)
{
    char *p = o + n;
    while (n >= 2) {
        unsigned d = (unsigned)(m % 100) * 2;
        m /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
        n -= 2;
    }
    if (n == 1)
        *--p = (char)('0' + m);
}

/* %.Pg of the decimal m * 10^(x - P + 1) (m has P digits), into o; returns
 * the length. Adds ".0" when the text would read as an integer, as
 * put_float does. */
static int format_g(char *o, int neg, uint64_t m, int P, int x)
{
    char digits[20];
    char *start = o;
    int nd = P, i;
    while (nd > 1 && m % 10 == 0) {
        m /= 10;
        nd--;
    }
    put_digits(digits, m, nd);
    if (neg)
        *o++ = '-';
    if (x >= -4 && x < P) {
        if (x >= 0) {
            if (nd <= x + 1) {
                memcpy(o, digits, (size_t)nd);
                o += nd;
                for (i = nd; i <= x; i++)
                    *o++ = '0';
                *o++ = '.';
                *o++ = '0';
            } else {
                memcpy(o, digits, (size_t)x + 1);
                o += x + 1;
                *o++ = '.';
                memcpy(o, digits + x + 1, (size_t)(nd - x - 1));
                o += nd - x - 1;
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (i = -1; i > x; i--)
                *o++ = '0';
            memcpy(o, digits, (size_t)nd);
            o += nd;
        }
    } else {
        int ax = x < 0 ? -x : x;
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        if (ax >= 100) {
            *o++ = (char)('0' + ax / 100);
            ax %= 100;
        }
        *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    }
    return (int)(o - start);
}

/* The same for an integral d, 1e15 <= |d| < 2^64: its digits are those of
 * the integer v, and the gap to its neighbours is 2^e2 (e2 <= 0: every
 * integer there is a double, so only v itself reads back as d). */
static int float_text_integral(char *o, int neg, uint64_t v, uint64_t f, int be)
{
    int e2 = be - 1075, ndig = 16, P, x, up, ok;
    uint64_t pj, a, b, m, err, half;
    while (ndig < 20 && v >= pow10_u64[ndig])
        ndig++;
    for (P = 15; P <= 17; P++) {
        x = ndig - 1;
        if (ndig <= P)
            return format_g(o, neg, v * pow10_u64[P - ndig], P, x);
        pj = pow10_u64[ndig - P];
        a = v / pj;
        b = v % pj;
        up = b > pj - b || (b == pj - b && (a & 1));
        m = a + (uint64_t)up;
        err = up ? pj - b : b;
        if (e2 <= 0) {
            ok = err == 0;
        } else {
            half = UINT64_C(1) << (e2 - 1);
            if (!up && f == UINT64_C(1) << 52)
                ok = 2 * err <= half;
            else
                ok = err < half || (err == half && !(f & 1));
        }
        if (ok) {
            if (m == pow10_u64[P]) {
                m = pow10_u64[P - 1];
                x++;
            }
            return format_g(o, neg, m, P, x);
        }
    }
    return 0;
}

/* put_float's text for d (finite, nonzero, and not integral under 1e15)
 * into o (room for 32), or 0 when d is outside what this computes. */
static int float_text_fast(char *o, double d)
{
    uint64_t bits, f, q, pj, a, b, m, p5hi, p5lo;
    int neg, be, s, x, k, t, P, up, ok, mx;
    u128 nlo, nhi, lo, hi, r, p5, ed, e, half;
    memcpy(&bits, &d, sizeof bits);
    neg = (int)(bits >> 63);
    be = (int)(bits >> 52 & 0x7FF);
    if (be == 0 || be == 0x7FF)
        return 0; /* subnormal (or zero, inf, NaN) */
    f = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
    if (d == floor(d)) {
        double ad = fabs(d);
        if (ad < 18446744073709551616.0)
            return float_text_integral(o, neg, (uint64_t)ad, f, be);
        return 0;
    }
    s = 1075 - be; /* |d| = f * 2^-s, s > 0 since d is not integral */
    x = (int)floor((be - 1023) * 0.30102999566398119521); /* the decimal exponent, or one below */
    for (;;) {
        k = 16 - x;
        t = s - k;
        if (k < 0 || k > 55 || t < 1 || t > 120)
            return 0;
        /* n = f * 5^k, up to 181 bits: nhi:nlo, 64 bits above 128 */
        p5 = pow5_u128(k);
        p5lo = (uint64_t)p5;
        p5hi = (uint64_t)(p5 >> 64);
        lo = (u128)f * p5lo;
        hi = (u128)f * p5hi;
        nlo = lo + (hi << 64);
        nhi = (hi >> 64) + (nlo < lo);
        q = (uint64_t)((nlo >> t) | (nhi << (128 - t)));
        if (q < pow10_u64[16]) {
            x--;
            continue;
        }
        if (q >= pow10_u64[17]) {
            x++;
            continue;
        }
        break;
    }
    r = nlo & (((u128)1 << t) - 1);
    for (P = 15; P <= 17; P++) {
        /* constant divisors: the compiler multiplies instead */
        if (P == 15) {
            pj = 100;
            a = q / 100;
        } else if (P == 16) {
            pj = 10;
            a = q / 10;
        } else {
            pj = 1;
            a = q;
        }
        b = q - a * pj;
        ed = ((u128)b << t) + r; /* how far d is above a * pj, times 2^t */
        half = (u128)pj << t;    /* pj, times 2^t */
        up = 2 * ed > half || (2 * ed == half && (a & 1));
        m = a + (uint64_t)up;
        e = up ? half - ed : ed; /* |rounded - d|, times 2^t */
        if (!up && f == UINT64_C(1) << 52 && be > 1)
            ok = 4 * e <= p5;
        else
            ok = 2 * e < p5 || (2 * e == p5 && !(f & 1));
        if (ok) {
            mx = x;
            if (m == pow10_u64[P]) { /* rounded up to the next power of ten */
                m = pow10_u64[P - 1];
                mx++;
            }
            return format_g(o, neg, m, P, mx);
        }
    }
    return 0;
}
#endif

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
#if ENC_FAST_FLOAT
    n = float_text_fast(tmp, d);
    if (n > 0) {
        put_lit(e, tmp, (size_t)n);
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

/* Copies n bytes (n <= 16 asks no call) to o, which has 16 bytes of room
 * past n: overlapping word moves, reading nothing outside [s, s + n). */
static inline void copy_short(char *o, const char *s, size_t n)
{
    if (n >= 8) {
        if (n > 16) {
            memcpy(o, s, n);
            return;
        }
        memcpy(o, s, 8);
        memcpy(o + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(o, s, 4);
        memcpy(o + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        o[0] = s[0];
        o[n >> 1] = s[n >> 1];
        o[n - 1] = s[n - 1];
    }
}

/* Where the first byte of bad UTF-8 in a string is: the decoder's scanner
 * (json_scan.h) stops on it, and on the bytes to escape, stepped over. */
static ENC_COLD size_t first_bad_utf8(const uchar *start, const uchar *end)
{
    const uchar *p = start;
    for (;;) {
        int bad = 0;
        p = scan_run(p, start, end, &bad);
        if (bad || p >= end)
            return (size_t)(p - start);
        p++;
    }
}

/* The UTF-8 fault of a string: a key's names the key (the one at -2, from
 * lua_next, in both object loops), a value's the byte. */
static ENC_COLD int fail_utf8(enc *e, const uchar *start, const uchar *end, int is_key)
{
    unsigned long at = (unsigned long)first_bad_utf8(start, end) + 1;
    if (is_key)
        return fail_key(e, -2, "invalid UTF-8 in ", "", at);
    return fail(e, "invalid UTF-8 in string (byte %lu)", at);
}

#if FX_UTF8_LOOKUP
/* Indices for the byte shuffle: from offset k (< 16), the first k bytes of
 * a block moved to its back, zeros before them: the 16 bytes before a
 * place k bytes into a string, zeros standing for those before it. */
static const unsigned char first_bytes[32] = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

/* A string of 1 to 15 bytes as one block, zeros after it: loaded as
 * put_string's words (nothing read outside [s, s + len)) and moved into
 * place by a shuffle whose indices are worked out, not looked up. */
__attribute__((target("ssse3"))) static inline __m128i short_block(const uchar *s, size_t len)
{
    const __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i v, idx;
    int half, shift;
    if (len >= 8) {
        v = _mm_set_epi64x((long long)load64((const char *)s + len - 8), (long long)load64((const char *)s));
        half = 8; /* bytes from 8 on come from the second word, which starts at len - 8 */
        shift = 16 - (int)len;
    } else if (len >= 4) {
        v = _mm_set_epi32(0, 0, (int)load32((const char *)s + len - 4), (int)load32((const char *)s));
        half = 4;
        shift = 8 - (int)len;
    } else {
        uint32_t w = s[0];
        if (len > 1)
            w |= (uint32_t)s[1] << 8;
        if (len > 2)
            w |= (uint32_t)s[2] << 16;
        return _mm_cvtsi32_si128((int)w);
    }
    idx = _mm_add_epi8(iota, _mm_andnot_si128(_mm_cmplt_epi8(iota, _mm_set1_epi8((char)half)),
                                              _mm_set1_epi8((char)shift)));
    idx = _mm_or_si128(idx, _mm_andnot_si128(_mm_cmplt_epi8(iota, _mm_set1_epi8((char)len)),
                                             _mm_set1_epi8((char)0x80)));
    return _mm_shuffle_epi8(v, idx);
}

/* Strings of 1 to 15 bytes that put_string sends on (a byte >= 0x80 or
 * one to escape), where the CPU has SSSE3. Those with nothing to escape (a
 * name, a word in another script) are checked as one block (the zeros
 * after the string end any character it cuts short) and stored whole at
 * out, which has 16 bytes of room; put_string_scan's character-at-a-time
 * check took three times as long on the benchmark's strings. Returns 1
 * when the string has bytes to escape (put_string_scan goes on), else 0 or
 * put_string_scan's UTF-8 failure. */
__attribute__((target("ssse3"))) static int put_short_ssse3(enc *e, const uchar *s, size_t len, int is_key, char *out)
{
    __m128i v = short_block(s, len);
    if ((escape_flags(v) & ((1u << len) - 1)) != 0)
        return 1;
    if (fx_utf8_error_bits(block_errors(v, _mm_setzero_si128())) != 0)
        return fail_utf8(e, s, s + len, is_key);
    _mm_storeu_si128((__m128i *)(void *)out, v);
    out[len] = '"';
    e->out->len = (size_t)(out + len + 1 - e->out->data);
    return 0;
}

/* Strings of 16 bytes and more where the CPU has SSSE3: copied, escaped
 * and checked as UTF-8 in one pass, 16 bytes at a time (utf8_lookup.h),
 * where put_string_scan read each such string three times (to find what
 * to escape, to copy it, to check it): on the benchmark's text in many
 * scripts that was a third of encoding it. Each block is stored whole and
 * the output moves on to the first byte to escape; after an escape the
 * next block starts right behind it, the lookup told what came before it
 * (bytes it checked already are checked again, to the same answer). The
 * last bytes are a block of their own with zeros after them, so a
 * character the end cuts short fails as one cut by ASCII. Two blocks in a
 * row of ASCII need no lookup. Output and errors are put_string_scan's.
 * len >= 16: the first and last 16 bytes are loaded whole. */
__attribute__((target("ssse3"))) static int put_long_ssse3(enc *e, const uchar *s, size_t len, int is_key)
{
    lua_State *L = e->L;
    fx_buffer *b = e->out;
    const uchar *p = s, *end = s + len;
    const __m128i zero = _mm_setzero_si128();
    __m128i prev = zero, errors = zero, v;
    char *out, *limit;
    /* the string, its quotes, a byte to spare (a key's ':') and 16 for a
     * block stored whole; each escape asks for its own room */
    fx_buffer_reserve(L, b, len + 19);
    out = b->data + b->len;
    limit = b->data + b->cap;
    *out++ = '"';
    for (;;) {
        size_t rest = (size_t)(end - p);
        unsigned flags, at, c;
        if (rest >= 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)p);
            flags = escape_flags(v);
        } else if (rest > 0) {
            v = fx_utf8_tail_block(end, rest);
            flags = escape_flags(v) & ((1u << rest) - 1); /* the zeros after the end are not the string's */
        } else {
            errors = _mm_or_si128(errors, block_errors(zero, prev));
            break;
        }
        _mm_storeu_si128((__m128i *)(void *)out, v);
        if ((_mm_movemask_epi8(v) | _mm_movemask_epi8(prev)) != 0)
            errors = _mm_or_si128(errors, block_errors(v, prev));
        if (flags == 0) {
            if (rest < 16) {
                out += rest;
                break;
            }
            out += 16;
            p += 16;
            prev = v;
            continue;
        }
        at = (unsigned)__builtin_ctz(flags);
        out += at;
        p += at;
        c = *p++;
        /* this escape (6 bytes at most), what is left, the closing quote,
         * the spare byte and a block store */
        if ((size_t)(limit - out) < (size_t)(end - p) + 25) {
            b->len = (size_t)(out - b->data);
            fx_buffer_reserve(L, b, (size_t)(end - p) + 25);
            out = b->data + b->len;
            limit = b->data + b->cap;
        }
        out = put_escape(out, c);
        /* the 16 bytes before p, zeros standing for any before the string */
        if (p - s >= 16)
            prev = _mm_loadu_si128((const __m128i *)(const void *)(p - 16));
        else
            prev = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)s),
                                    _mm_loadu_si128((const __m128i *)(const void *)(first_bytes + (p - s))));
    }
    if (fx_utf8_error_bits(errors) != 0)
        return fail_utf8(e, s, end, is_key);
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return 0;
}
#endif

/* A string, quoted and escaped, the general case (strings of 16 bytes and more
 * go to put_long_ssse3 where the CPU has SSSE3): the runs between bytes
 * to escape are copied whole, and when any byte was >= 0x80 the whole
 * string is checked as UTF-8 once (utf8_check.c; the escaped bytes are
 * ASCII, so the runs are valid exactly when the string is). A string that
 * fails leaves its output behind to be thrown away with the call's. */
static ENC_NOINLINE int put_string_scan(enc *e, const char *s, size_t len, int is_key)
{
    fx_buffer *b = e->out;
    const uchar *start = (const uchar *)s, *p = start, *end = p + len;
    unsigned high = 0;
    char *out;
    /* one output byte per input byte, the quotes and one to spare (a key's
     * ':'), and at least the 51 bytes the three 16-byte stores below need;
     * escapes ask for more */
    fx_buffer_reserve(e->L, b, len + 3 > 51 ? len + 3 : 51);
    out = b->data + b->len;
    *out++ = '"';
#if FX_JSON_SSE2
    if (len >= 16 && len <= 48) {
        /* put_string's words again: text with bytes >= 0x80 and nothing to
         * escape (a name, a word in another script) is copied at once */
        __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(s + len - 16));
        __m128i v1 = len > 32 ? _mm_loadu_si128((const __m128i *)(const void *)(s + 16)) : v0;
        if ((escape_flags(v0) | escape_flags(v1) | escape_flags(v2)) == 0) {
            _mm_storeu_si128((__m128i *)(void *)out, v0);
            _mm_storeu_si128((__m128i *)(void *)(out + 16), v1);
            _mm_storeu_si128((__m128i *)(void *)(out + len - 16), v2);
            out += len;
            p = end;
            high = 1;
        }
    }
#endif
#if FX_UTF8_LOOKUP
    if (len > 0 && len < 16 && e->simd) {
        int rc = put_short_ssse3(e, start, len, is_key, out);
        if (rc != 1)
            return rc;
    }
#endif
    if (len < 16 && short_flags(s, len, 0) == 0) {
        copy_short(out, s, len);
        out += len;
        p = end;
        high = 1;
    }
    while (p < end) {
        const uchar *q = next_escape(p, start, end, &high);
        unsigned c;
        copy_short(out, (const char *)p, (size_t)(q - p));
        out += q - p;
        if (q >= end)
            break;
        /* a quote, a backslash or a control byte (NUL too): 6 bytes at most,
         * then room for the rest, the closing quote and one to spare */
        if ((size_t)(b->data + b->cap - out) < (size_t)(end - q) + 9) {
            b->len = (size_t)(out - b->data);
            fx_buffer_reserve(e->L, b, (size_t)(end - q) + 9);
            out = b->data + b->len;
        }
        c = *q;
        p = q + 1;
        out = put_escape(out, c);
    }
    if (high != 0 && !fx_utf8_valid(start, len))
        return fail_utf8(e, start, end, is_key);
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return 0;
}

/* Strings of 16 bytes and more that put_string does not write inline. */
static inline int put_string_long(enc *e, const char *s, size_t len, int is_key)
{
#if FX_UTF8_LOOKUP
    if (e->simd)
        return put_long_ssse3(e, (const uchar *)s, len, is_key);
#endif
    return put_string_scan(e, s, len, is_key);
}

/* A string, quoted and escaped. Strings of up to 48 bytes with nothing to
 * look at (most keys and values of an API answer: plain ASCII) are checked
 * as words that overlap (16 bytes with SSE2, 8 without) and copied as such,
 * here, inline; the rest (escapes, bytes >= 0x80) go to put_string_long
 * (16 bytes and more) or put_string_scan.
 * Either leaves a byte to spare after the closing quote, for a key's ':'. */
static inline int put_string(enc *e, const char *s, size_t len, int is_key)
{
    fx_buffer *b = e->out;
    char *out;
#if FX_JSON_SSE2
    __m128i v0, v1, v2;
    if (len >= 16) {
        if (len > 48)
            return put_string_long(e, s, len, is_key);
        v0 = _mm_loadu_si128((const __m128i *)(const void *)s);
        v2 = _mm_loadu_si128((const __m128i *)(const void *)(s + len - 16));
        v1 = len > 32 ? _mm_loadu_si128((const __m128i *)(const void *)(s + 16)) : v0;
        if ((scan_flags(v0) | scan_flags(v1) | scan_flags(v2)) != 0)
            return put_string_long(e, s, len, is_key);
        fx_buffer_reserve(e->L, b, 51);
        out = b->data + b->len;
        *out++ = '"';
        _mm_storeu_si128((__m128i *)(void *)out, v0);
        _mm_storeu_si128((__m128i *)(void *)(out + 16), v1);
        _mm_storeu_si128((__m128i *)(void *)(out + len - 16), v2);
        out += len;
        *out++ = '"';
        b->len = (size_t)(out - b->data);
        return 0;
    }
#else
    if (len >= 16)
        return put_string_scan(e, s, len, is_key);
#endif
    if (short_flags(s, len, 1) != 0)
        return put_string_scan(e, s, len, is_key);
    fx_buffer_reserve(e->L, b, 18);
    out = b->data + b->len;
    *out++ = '"';
    copy_short(out, s, len);
    out += len;
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return 0;
}

/* ---- tables ------------------------------------------------------------------ */

static int enc_value(enc *e);
static int enc_table(enc *e, int t);
static inline int enc_value_inline(enc *e);

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
        lua_rawgeti(L, t, (lua_Integer)i);
        if (lua_type(L, -1) == LUA_TNIL)
            return fail(e, "sparse array: nil at index %lld of %lld", i, n);
        if (enc_value(e) != 0)
            return path_index(e, i);
        lua_pop(L, 1);
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
        if (i == n || array_index(L, -2) != i + 1) {
            lua_pop(L, 2);
            goto by_index;
        }
        i++;
        if (enc_value_inline(e) != 0)
            return path_index(e, i);
        lua_pop(L, 1);
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

/* The key of the member on the stack (key at -2, value at -1): NULL, with
 * the error set, for a key that is not a string. */
static const char *member_key(enc *e, size_t *klen)
{
    if (lua_type(e->L, -2) != LUA_TSTRING) {
        (void)fail_key(e, -2, "mixed keys: ", " in a table with string keys", 0);
        return NULL;
    }
    return lua_tolstring(e->L, -2, klen);
}

/* Called with the first key/value pair (string key) on the stack. */
static int enc_object(enc *e, int t)
{
    lua_State *L = e->L;
    fx_buffer *b = e->out;
    fx_buffer_addchar(L, b, '{');
    do {
        size_t klen;
        const char *k = member_key(e, &klen);
        if (k == NULL || put_string(e, k, klen, 1) != 0)
            return ENC_FAIL;
        b->data[b->len++] = ':'; /* put_string leaves room to spare */
        if (enc_value_inline(e) != 0)
            return path_key(e, k, klen);
        lua_pop(L, 1);
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
        const char *k = member_key(e, &klen);
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
        if (enc_value(e) != 0)
            return path_key(e, k, klen);
        m = (member *)(void *)(sb->data + base) + n; /* sb may have moved */
        m->len = b->len - m->off;
        n++;
        lua_pop(L, 1);
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

/* A table's two buckets: two 10-bit pieces of one multiplicative hash. */
static inline void path_buckets(const void *p, unsigned *b1, unsigned *b2)
{
    uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    *b1 = (unsigned)(h >> 54);
    *b2 = (unsigned)(h >> 44) & (PATH_BUCKETS - 1);
}

static int enc_table(enc *e, int t)
{
    lua_State *L = e->L;
    const void *self = lua_topointer(L, t);
    const void **path = (const void **)(void *)e->path->data;
    unsigned b1, b2;
    int i, rc;
    path_buckets(self, &b1, &b2);
    if (e->on_path[b1] != 0 && e->on_path[b2] != 0)
        for (i = 0; i < e->depth; i++)
            if (path[i] == self)
                return fail(e, "cycle: a table contains itself");
    if (e->depth >= e->max_depth)
        return fail(e, "nesting deeper than max_depth (%d)", e->max_depth);
    if (e->depth >= e->stack_ok && !lua_checkstack(L, 4))
        return fail(e, "nesting too deep for the Lua stack");
    e->path->len = (size_t)e->depth * sizeof self;
    fx_buffer_reserve(L, e->path, sizeof self);
    ((const void **)(void *)e->path->data)[e->depth++] = self;
    e->on_path[b1]++;
    e->on_path[b2]++;

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
    e->on_path[b1]--;
    e->on_path[b2]--;
    return rc;
}

/* The value on top of the stack (left there), when it is no string and no
 * table (enc_value's callers test those first, inline). */
static int enc_other(enc *e, int type)
{
    lua_State *L = e->L;
    if (type == LUA_TNUMBER) {
#if FX_HAS_INTEGERS
        if (lua_isinteger(L, -1)) {
            put_integer(e, (long long)lua_tointeger(L, -1));
            return 0;
        }
#endif
        return put_float(e, (double)lua_tonumber(L, -1));
    }
    if (type == LUA_TLIGHTUSERDATA) {
        const void *p = lua_touserdata(L, -1);
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
    if (type == LUA_TBOOLEAN) {
        if (lua_toboolean(L, -1))
            put_lit(e, "true", 4);
        else
            put_lit(e, "false", 5);
        return 0;
    }
    if (type == LUA_TNIL) {
        put_lit(e, "null", 4);
        return 0;
    }
    return fail(e, "cannot encode a %s", lua_typename(L, type));
}

/* The value on top of the stack (left there). Strings and tables, the
 * usual values, are tested first, with plain branches (a switch's jump
 * table mispredicted as often as the type changed); the rest is out of
 * line. */
static inline int enc_value_inline(enc *e)
{
    lua_State *L = e->L;
    int type = lua_type(L, -1);
    if (type == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        return put_string(e, s, n, 0);
    }
    if (type == LUA_TTABLE)
        return enc_table(e, lua_gettop(L));
    return enc_other(e, type);
}

static int enc_value(enc *e)
{
    return enc_value_inline(e);
}

/* ---- entry point --------------------------------------------------------- */

static void read_opts(lua_State *L, enc *e)
{
    static const char *const option_names[] = {"sort_keys", "max_depth", NULL};
    e->max_depth = FX_JSON_DEFAULT_MAX_DEPTH;
    e->sort_keys = 0;
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);
    fx_opt_check_names(L, 2, option_names, "option", "json.encode takes sort_keys and max_depth");

    e->sort_keys = fx_opt_boolean(L, 2, "sort_keys", 0);
    e->max_depth = (int)fx_opt_integer(L, 2, "max_depth", FX_JSON_DEFAULT_MAX_DEPTH, 1, ENC_DEPTH_CEILING);
}

/* Stack slot 3 holds the buffers taken for this call; `used` is how much
 * of the output buffer the call wrote. */
static void release(lua_State *L, enc *e, size_t used)
{
    enc_state *st = (enc_state *)lua_touserdata(L, lua_upvalueindex(2));
    size_t big = e->out->cap;
    if (e->path->cap > big)
        big = e->path->cap;
    if (e->sort->cap > big)
        big = e->sort->cap;
    e->out->len = 0;
    e->path->len = 0;
    e->sort->len = 0;
    if (fx_scratch_should_shrink(&st->idle, big, e->out->cap, used, ENC_KEEP_BYTES)) {
        fx_buffer_shrink(e->out, ENC_KEEP_BYTES);
        fx_buffer_shrink(e->path, ENC_KEEP_BYTES);
        fx_buffer_shrink(e->sort, ENC_KEEP_BYTES);
    }
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
    e.simd = fx_utf8_have_ssse3();
    memset(e.on_path, 0, sizeof e.on_path);
    /* each level holds at most 3 slots: the first levels ask once, here */
    e.stack_ok = lua_checkstack(L, 3 * ENC_STACK_LEVELS + 8) ? ENC_STACK_LEVELS : 0;
    e.msg[0] = '\0';
    luaL_getmetatable(L, FX_JSON_ARRAY_MT);
    e.array_mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    base = lua_gettop(L);

    lua_pushvalue(L, 1);
    if (enc_value(&e) == 0) {
        lua_pushlstring(L, e.out->data, e.out->len);
        release(L, &e, e.out->len);
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
    release(L, &e, 0);
    fx_error_return(L, "encode", e.msg);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "path");
    return 2;
}

void fx_json_encode_register(lua_State *L, int module)
{
    enc_state *st;
    fx_buffers_push(L, 3);
    st = (enc_state *)fx_newuserdata(L, sizeof *st);
    st->idle = 0;
    lua_pushcclosure(L, json_encode, 2);
    lua_setfield(L, module, "encode");
}
