/* The string scanner the JSON decoder and encoder share: it walks plain
 * bytes and well-formed UTF-8 and stops on what either of them must look
 * at (a quote, a backslash, a control byte) or on bad UTF-8. It leans on
 * the NUL byte Lua keeps after every string: the byte-wise loops stop on
 * it, and the 16-byte loads never reach past `end`. */
#ifndef FLEXIROAM_JSON_SCAN_H
#define FLEXIROAM_JSON_SCAN_H

#include <stdint.h>
#include <string.h>

#include "utf8_check.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define FX_JSON_SSE2 1
#else
#define FX_JSON_SSE2 0
#endif

typedef unsigned char uchar;

#if defined(__GNUC__)
#define FX_NOINLINE __attribute__((noinline))
#else
#define FX_NOINLINE
#endif

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

/* The careful scan: byte by byte, each multi-byte character through
 * utf8_len. Stops exactly where scan_run must. */
static const uchar *scan_slow(const uchar *p, int *bad)
{
    for (;;) {
        while (str_class[*p] == S_PLAIN)
            p++;
        if (str_class[*p] != S_UTF8)
            return p;
        {
            int n = utf8_len(p);
            if (n == 0) {
                *bad = 1;
                return p;
            }
            p += n;
        }
    }
}

/* Advances over plain bytes and well-formed UTF-8 from p; stops on a
 * quote, a backslash, a control byte (the NUL after `end` too) or bad UTF-8
 * (*bad). `start` is where the text begins: the bytes before p are known to
 * be plain text and whole characters.
 *
 * Sixteen bytes at a time with SSE2 (every x86-64 has it). A block of
 * ASCII costs a few instructions. A block with bytes >= 0x80 is checked as
 * a whole, without a branch per character: from the masks of its lead
 * bytes (>= 0xC0, >= 0xE0, >= 0xF0) follow the positions that must hold
 * continuation bytes, and those must be exactly the continuation bytes
 * there are; the byte after E0, ED, F0 and F4 is held to its narrower
 * range, and C0, C1 and F5..FF never lead. A character that runs past the
 * block is left to the next block, which starts at its first byte. The
 * last bytes of the text are checked as the 16 bytes that end it (when it
 * has 16), the part already scanned masked off. Anything found wrong sends
 * the block to scan_slow, which says where. Other machines, and texts
 * under 16 bytes, go to scan_slow. (Eight bytes at a time in plain C,
 * SWAR, measured slower than the byte loop for the decoder; a walk of
 * mixed blocks one character at a time, branch-free, was no faster than
 * scan_slow: it waits on a load per character.) */
#if FX_JSON_SSE2

#define FX_MASK(x) ((unsigned)_mm_movemask_epi8(x))
#define FX_SPLAT(c) _mm_set1_epi8((char)(c))

/* What stops the scan, and every byte >= 0x80. One signed compare flags
 * the quote with them: XOR with 2 swaps 0x22 ('"') and 0x20, and keeps
 * 0x00..0x1F among themselves and 0x80..0xFF negative, so below 0x21
 * stand exactly the control bytes, the quote and the bytes >= 0x80. */
static inline unsigned scan_flags(__m128i v)
{
    return FX_MASK(_mm_or_si128(_mm_cmplt_epi8(_mm_xor_si128(v, FX_SPLAT(0x02)), FX_SPLAT(0x21)),
                                _mm_cmpeq_epi8(v, FX_SPLAT('\\'))));
}

/* scan_run's blocks that hold bytes >= 0x80 (out of line: API strings are
 * ASCII, and the short inline loop serves them best). */
static FX_NOINLINE const uchar *scan_mixed(const uchar *p, const uchar *start, const uchar *end, int *bad)
{
    /* Long runs by table lookup where the CPU has SSSE3 (utf8_check.c):
     * blocks without overlap and half the instructions of the loop below,
     * which is left the ends of runs and the machines without it. */
    if (end - p >= 32) {
        const uchar *from = p;
        int found = fx_utf8_scan(&p, end);
        if (found > 0)
            return p;
        if (found < 0)
            return scan_slow(from, bad);
    }
    for (;;) {
        const uchar *q = p; /* the block: 16 readable bytes */
        unsigned keep = 0xFFFF; /* its bytes that are still to check */
        __m128i v, prev, cont_v, below_a0, below_90, errs;
        unsigned flagged, hi, first, stop, lead2, lead3, lead4, cont, need, wrong, tail;
        if (end - p < 16) {
            if (p >= end || end - start < 16)
                return scan_slow(p, bad);
            q = end - 16;
            keep = (0xFFFFu << (p - q)) & 0xFFFF;
        }
        v = _mm_loadu_si128((const __m128i *)(const void *)q);
        flagged = scan_flags(v) & keep;
        if (flagged == 0) {
            p = q + 16;
            continue;
        }
        hi = FX_MASK(v) & keep;
        first = (unsigned)__builtin_ctz(flagged);
        if (!(hi >> first & 1))
            return q + first; /* a stop before any byte >= 0x80 */
        stop = flagged & ~hi;
        /* signed bytes: 0x80..0xBF are -128..-65, 0xC0.. are -64.. */
        lead2 = FX_MASK(_mm_cmpgt_epi8(v, FX_SPLAT(0xBF))) & hi; /* >= C0 */
        lead3 = FX_MASK(_mm_cmpgt_epi8(v, FX_SPLAT(0xDF))) & hi; /* >= E0 */
        lead4 = FX_MASK(_mm_cmpgt_epi8(v, FX_SPLAT(0xEF))) & hi; /* >= F0 */
        cont = hi & ~lead2;
        need = lead2 << 1 | lead3 << 2 | lead4 << 3;
        /* each byte against the one before it (a byte before p is the last
         * of a whole character: never one of these leads) */
        prev = _mm_slli_si128(v, 1);
        cont_v = _mm_cmplt_epi8(v, FX_SPLAT(0xC0));   /* 80..BF */
        below_a0 = _mm_cmplt_epi8(v, FX_SPLAT(0xA0)); /* 80..9F */
        below_90 = _mm_cmplt_epi8(v, FX_SPLAT(0x90)); /* 80..8F */
        errs = _mm_or_si128(
            _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(prev, FX_SPLAT(0xE0)), below_a0),
                         _mm_and_si128(_mm_cmpeq_epi8(prev, FX_SPLAT(0xED)), _mm_andnot_si128(below_a0, cont_v))),
            _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(prev, FX_SPLAT(0xF0)), below_90),
                         _mm_and_si128(_mm_cmpeq_epi8(prev, FX_SPLAT(0xF4)), _mm_andnot_si128(below_90, cont_v))));
        /* F5..FF, and C0, C1 */
        errs = _mm_or_si128(errs, _mm_or_si128(_mm_cmpgt_epi8(v, FX_SPLAT(0xF4)),
                                               _mm_cmpeq_epi8(_mm_and_si128(v, FX_SPLAT(0xFE)), FX_SPLAT(0xC0))));
        wrong = (need ^ cont) | (FX_MASK(errs) & hi);
        if (stop != 0) {
            /* all before the stop, and the stop itself no continuation */
            unsigned at = (unsigned)__builtin_ctz(stop);
            if (wrong & ((2u << at) - 1))
                return scan_slow(p, bad);
            return q + at;
        }
        if (wrong & 0xFFFF)
            return scan_slow(p, bad);
        tail = (lead2 & 0x8000) | (lead3 & 0xC000) | (lead4 & 0xE000);
        if (tail == 0) {
            p = q + 16;
        } else {
            if (q + 16 >= end) /* cut short by the end of the text */
                return scan_slow(p, bad);
            p = q + __builtin_ctz(tail);
        }
    }
}
#endif

static inline const uchar *scan_run(const uchar *p, const uchar *start, const uchar *end, int *bad)
{
#if FX_JSON_SSE2
    unsigned flagged;
    while (end - p >= 16) {
        flagged = scan_flags(_mm_loadu_si128((const __m128i *)(const void *)p));
        if (flagged != 0) {
            p += __builtin_ctz(flagged);
            if (*p < 0x80)
                return p;
            return scan_mixed(p, start, end, bad);
        }
        p += 16;
    }
    if (p < end && end - start >= 16) {
        const uchar *q = end - 16;
        flagged = scan_flags(_mm_loadu_si128((const __m128i *)(const void *)q)) & (0xFFFFu << (p - q));
        if (flagged == 0)
            return end;
        p = q + __builtin_ctz(flagged);
        if (*p < 0x80)
            return p;
        return scan_mixed(p, start, end, bad);
    }
#endif
    (void)start;
    (void)end;
    return scan_slow(p, bad);
}

#endif
