/* The 16-byte UTF-8 check by table lookup (after Keiser and Lemire,
 * "Validating UTF-8 in less than one instruction per byte", 2021), shared by
 * utf8_check.c (whole runs; the decoder's long runs, fx_utf8_scan) and
 * json_encode.c (long strings copied, escaped and checked in one pass).
 *
 * Every wrong pair of neighbouring bytes is told by three facts, the high
 * and low halves of the first byte and the high half of the second. Each
 * of three 16-entry tables maps one of them to the set of error classes it
 * allows, one bit per class; a pair is wrong when some class is in all
 * three sets. SSSE3's byte shuffle looks up 16 bytes' entries at once. A
 * continuation byte after a continuation is right exactly where a 3- or
 * 4-byte lead two or three bytes back needs it, which the last step
 * compares. A run's end is checked by one more block of zero bytes: a
 * sequence cut short there fails like one cut by ASCII.
 *
 * x86 with GCC or clang, built with SSE2 (every x86-64), only
 * (FX_UTF8_LOOKUP); the functions carry target("ssse3") and run only where
 * fx_utf8_have_ssse3() says yes. */
#ifndef FLEXIROAM_UTF8_LOOKUP_H
#define FLEXIROAM_UTF8_LOOKUP_H

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
#define FX_UTF8_LOOKUP 1
#include <tmmintrin.h>

/* The error classes (names undefined again below the function). */
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
#undef TOO_SHORT
#undef TOO_LONG
#undef OVERLONG_3
#undef TOO_LARGE
#undef SURROGATE
#undef OVERLONG_2
#undef TOO_LARGE_8
#undef TWO_CONTS
#undef ANY_LOW
#undef CONT
#undef B

/* Indices for the byte shuffle: from offset 16 - r, the last r bytes of a
 * block moved to its front, zeros after them (an index with its top bit
 * set gives 0). */
static const unsigned char fx_utf8_last_bytes[32] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
};

/* The last `rest` (< 16) bytes before `end` as a block of their own, zeros
 * after them: a sequence the end cuts short fails there as one cut short
 * by ASCII. The 16 bytes before `end` must be readable. (Moved by a
 * shuffle, not copied through memory: a load right after byte-wise stores
 * of the same bytes waits for them.) */
__attribute__((target("ssse3"))) static inline __m128i fx_utf8_tail_block(const unsigned char *end, size_t rest)
{
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(end - 16)),
                            _mm_loadu_si128((const __m128i *)(const void *)(fx_utf8_last_bytes + 16 - rest)));
}

/* A bit for each byte of block_errors' results that is not zero. */
static inline unsigned fx_utf8_error_bits(__m128i errors)
{
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(errors, _mm_setzero_si128())) ^ 0xFFFFu;
}

#else
#define FX_UTF8_LOOKUP 0
#endif

#endif
