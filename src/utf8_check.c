/* fx_utf8_valid: see utf8_check.h.
 *
 * Why a checker of its own: the encoder checked strings with the scanner
 * it shares with the decoder (json_scan.h), which must say where a string
 * stops and so walks multi-byte text a block at a time, restarting at any
 * character cut by the block's end. On the benchmark's text in many
 * scripts that check was a third of json.encode's time (measured: with no
 * check at all, 0.67x the time). Debian 12 packages no C library for this
 * (simdutf is not there; only a Rust crate's sources), hence this file.
 *
 * The method (after Keiser and Lemire, "Validating UTF-8 in less than one
 * instruction per byte", 2021): every wrong pair of neighbouring bytes is
 * told by three facts, the high and low halves of the first byte and the
 * high half of the second. Each of three 16-entry tables maps one of them
 * to the set of error classes it allows, one bit per class; a pair is wrong
 * when some class is in all three sets. SSSE3's byte shuffle looks up 16
 * bytes' entries at once. A continuation byte after a continuation is
 * right exactly where a 3- or 4-byte lead two or three bytes back needs it,
 * which the last step compares. The run's end is checked by one more block
 * of zero bytes: a sequence cut short there fails like one cut by ASCII. */
#include <stdint.h>

#include "json_scan.h"
#include "utf8_check.h"

/* One character at a time, by the decoder's own rules (json_scan.h's
 * utf8_len, which stops at the byte after the run: a string's NUL): the
 * path for short runs and without SSSE3, and the fuzz target's reference. */
int fx_utf8_valid_scalar(const unsigned char *p, size_t n);

int fx_utf8_valid_scalar(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    while (p < end) {
        int len;
        if (*p < 0x80) {
            p++;
            continue;
        }
        len = utf8_len(p);
        if (len == 0 || len > end - p)
            return 0;
        p += len;
    }
    return 1;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <tmmintrin.h>

/* The error classes. */
#define TOO_SHORT 0x01    /* a lead not followed by a continuation */
#define TOO_LONG 0x02     /* a continuation after an ASCII byte */
#define OVERLONG_3 0x04   /* E0 80..9F */
#define TOO_LARGE 0x08    /* F4 90..BF, F5..FF 90..BF */
#define SURROGATE 0x10    /* ED A0..BF */
#define OVERLONG_2 0x20   /* C0, C1 then a continuation */
#define TOO_LARGE_8 0x40  /* F5..FF 80..8F, and F0 80..8F (overlong) */
#define TWO_CONTS 0x80    /* a continuation after a continuation */
#define ANY_LOW (TOO_SHORT | TOO_LONG | TWO_CONTS)
#define CONT (TOO_LONG | TWO_CONTS | OVERLONG_2)
#define B(x) ((char)(x))

/* 0: not asked yet, 1: this CPU has SSSE3, 2: it has not. */
static int ssse3_state;

static int have_ssse3(void)
{
    int s = __atomic_load_n(&ssse3_state, __ATOMIC_RELAXED);
    if (s == 0) {
        __builtin_cpu_init();
        s = __builtin_cpu_supports("ssse3") ? 1 : 2;
        __atomic_store_n(&ssse3_state, s, __ATOMIC_RELAXED);
    }
    return s == 1;
}

/* The errors of block `cur`, whose 16 bytes follow those of `prev`: zero
 * when every byte of cur is right after the bytes before it. */
__attribute__((target("ssse3"))) static inline __m128i block_errors(__m128i cur, __m128i prev)
{
    const __m128i first_high = _mm_setr_epi8(
        /* 0..7: ASCII */ TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
        /* 8..B: continuations */ B(TWO_CONTS), B(TWO_CONTS), B(TWO_CONTS), B(TWO_CONTS),
        /* C */ TOO_SHORT | OVERLONG_2, /* D */ TOO_SHORT,
        /* E */ TOO_SHORT | OVERLONG_3 | SURROGATE, /* F */ TOO_SHORT | TOO_LARGE | TOO_LARGE_8);
    const __m128i first_low = _mm_setr_epi8(
        /* 0 */ B(ANY_LOW | OVERLONG_2 | OVERLONG_3 | TOO_LARGE_8), /* 1 */ B(ANY_LOW | OVERLONG_2),
        /* 2, 3 */ B(ANY_LOW), B(ANY_LOW), /* 4 */ B(ANY_LOW | TOO_LARGE),
        /* 5..C */ B(ANY_LOW | TOO_LARGE | TOO_LARGE_8), B(ANY_LOW | TOO_LARGE | TOO_LARGE_8),
        B(ANY_LOW | TOO_LARGE | TOO_LARGE_8), B(ANY_LOW | TOO_LARGE | TOO_LARGE_8),
        B(ANY_LOW | TOO_LARGE | TOO_LARGE_8), B(ANY_LOW | TOO_LARGE | TOO_LARGE_8),
        B(ANY_LOW | TOO_LARGE | TOO_LARGE_8), B(ANY_LOW | TOO_LARGE | TOO_LARGE_8),
        /* D */ B(ANY_LOW | TOO_LARGE | TOO_LARGE_8 | SURROGATE),
        /* E, F */ B(ANY_LOW | TOO_LARGE | TOO_LARGE_8), B(ANY_LOW | TOO_LARGE | TOO_LARGE_8));
    const __m128i second_high = _mm_setr_epi8(
        /* 0..7: ASCII */ TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
        /* 8 */ B(CONT | OVERLONG_3 | TOO_LARGE_8), /* 9 */ B(CONT | OVERLONG_3 | TOO_LARGE),
        /* A, B */ B(CONT | SURROGATE | TOO_LARGE), B(CONT | SURROGATE | TOO_LARGE),
        /* C..F: leads */ TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    __m128i prev1 = _mm_alignr_epi8(cur, prev, 15);
    __m128i pair = _mm_and_si128(
        _mm_and_si128(_mm_shuffle_epi8(first_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), nibble)),
                      _mm_shuffle_epi8(first_low, _mm_and_si128(prev1, nibble))),
        _mm_shuffle_epi8(second_high, _mm_and_si128(_mm_srli_epi16(cur, 4), nibble)));
    /* 0x80 where a 3-byte lead (>= E0) is two bytes back or a 4-byte lead
     * (>= F0) three bytes back: saturating subtraction leaves the top bit
     * exactly there. */
    __m128i third = _mm_subs_epu8(_mm_alignr_epi8(cur, prev, 14), _mm_set1_epi8(B(0xE0 - 0x80)));
    __m128i fourth = _mm_subs_epu8(_mm_alignr_epi8(cur, prev, 13), _mm_set1_epi8(B(0xF0 - 0x80)));
    __m128i must = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8(B(0x80)));
    return _mm_xor_si128(pair, must);
}

/* Indices for the byte shuffle: from offset 16 - r, the last r bytes of a
 * block moved to its front, zeros after them (an index with its top bit
 * set gives 0). */
static const unsigned char last_bytes[32] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
};

/* n >= 16. */
__attribute__((target("ssse3"))) static int valid_ssse3(const unsigned char *p, size_t n)
{
    __m128i prev = _mm_setzero_si128(), errors = _mm_setzero_si128(), cur;
    size_t i, rest;
    for (i = 0; i + 16 <= n; i += 16) {
        cur = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        errors = _mm_or_si128(errors, block_errors(cur, prev));
        prev = cur;
    }
    /* What is left (under 16 bytes), then zeros: the byte after the run is
     * always in this block, so a sequence cut short by the end fails there,
     * as one cut short by an ASCII byte. The bytes are the end of the last
     * 16 of the run, moved to the front (no copy through memory: a load
     * right after a byte-wise store of the same bytes waits for it). */
    rest = n - i;
    cur = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)),
                           _mm_loadu_si128((const __m128i *)(const void *)(last_bytes + 16 - rest)));
    errors = _mm_or_si128(errors, block_errors(cur, prev));
    return _mm_movemask_epi8(_mm_cmpeq_epi8(errors, _mm_setzero_si128())) == 0xFFFF;
}

/* Runs under 16 bytes (a name, a word) one character at a time: cheaper
 * than setting up a block for them. */
int fx_utf8_valid(const unsigned char *p, size_t n)
{
    if (n >= 16 && have_ssse3())
        return valid_ssse3(p, n);
    return fx_utf8_valid_scalar(p, n);
}

/* fx_utf8_scan's loop. Blocks follow each other without overlap (the
 * lookup carries a character cut by a block's end into the next one), so
 * the checker's errors are kept in one register and looked at once, where
 * the run stops: only the errors up to the stop count (one at the stop
 * itself is a character it cuts short: stops are ASCII). */
__attribute__((target("ssse3"))) static int scan_ssse3(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp, *from = p;
    __m128i prev = _mm_setzero_si128(), errors = _mm_setzero_si128(), zero = _mm_setzero_si128();
    while (end - p >= 16) {
        __m128i cur = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i errs = block_errors(cur, prev);
        /* the signed compare with ' ' flags control bytes and bytes >= 0x80 */
        unsigned stops = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                             _mm_or_si128(_mm_cmpeq_epi8(cur, _mm_set1_epi8('"')), _mm_cmpeq_epi8(cur, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(cur, _mm_set1_epi8(' ')))) &
                         ~(unsigned)_mm_movemask_epi8(cur);
        if (stops != 0) {
            unsigned at = (unsigned)__builtin_ctz(stops);
            unsigned wrong = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(errs, zero)) ^ 0xFFFFu;
            if ((wrong & ((2u << at) - 1)) != 0 ||
                _mm_movemask_epi8(_mm_cmpeq_epi8(errors, zero)) != 0xFFFF)
                return -1;
            *pp = p + at;
            return 1;
        }
        errors = _mm_or_si128(errors, errs);
        prev = cur;
        p += 16;
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(errors, zero)) != 0xFFFF)
        return -1;
    /* The last block may end inside a character, whose fault (cut short,
     * say) would only show in the next block: back to the lead of its last
     * character when that is not ASCII, to be checked again whole. */
    {
        const unsigned char *q = p;
        while (q > from && p - q < 3 && (q[-1] & 0xC0) == 0x80)
            q--;
        if (q > from && q[-1] >= 0xC0)
            q--;
        *pp = q;
    }
    return 0;
}

int fx_utf8_scan(const unsigned char **pp, const unsigned char *end)
{
    if (!have_ssse3())
        return 0;
    return scan_ssse3(pp, end);
}
#else
int fx_utf8_valid(const unsigned char *p, size_t n)
{
    return fx_utf8_valid_scalar(p, n);
}

int fx_utf8_scan(const unsigned char **pp, const unsigned char *end)
{
    (void)pp;
    (void)end;
    return 0;
}
#endif
