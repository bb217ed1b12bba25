/* fx_utf8_valid, fx_utf8_scan: see utf8_check.h.
 *
 * Why a checker of its own: the encoder checked strings with the scanner
 * it shares with the decoder (json_scan.h), which must say where a string
 * stops and so walks multi-byte text a block at a time, restarting at any
 * character cut by the block's end. On the benchmark's text in many
 * scripts that check was a third of json.encode's time (measured: with no
 * check at all, 0.67x the time). Debian 12 packages no C library for this
 * (simdutf is not there; only a Rust crate's sources), hence this file and
 * utf8_lookup.h, which holds the method. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "utf8_check.h"
#include "utf8_lookup.h"

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

#if FX_UTF8_LOOKUP
/* 0: not asked yet, 1: this CPU has SSSE3, 2: it has not. */
static int ssse3_state;

int fx_utf8_have_ssse3(void)
{
    int s = __atomic_load_n(&ssse3_state, __ATOMIC_RELAXED);
    if (s == 0) {
        /* FLEXIROAM_JSON_PORTABLE=1: the paths of machines without SSSE3,
         * for the specs that compare them with these */
        const char *portable = getenv("FLEXIROAM_JSON_PORTABLE");
        __builtin_cpu_init();
        s = __builtin_cpu_supports("ssse3") && !(portable && strcmp(portable, "1") == 0) ? 1 : 2;
        __atomic_store_n(&ssse3_state, s, __ATOMIC_RELAXED);
    }
    return s == 1;
}

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
    /* what is left (under 16 bytes), then zeros: the byte after the run is
     * always in this block */
    rest = n - i;
    cur = fx_utf8_tail_block(p + n, rest);
    errors = _mm_or_si128(errors, block_errors(cur, prev));
    return fx_utf8_error_bits(errors) == 0;
}

/* Runs under 16 bytes (a name, a word) one character at a time: cheaper
 * than setting up a block for them. */
int fx_utf8_valid(const unsigned char *p, size_t n)
{
    if (n >= 16 && fx_utf8_have_ssse3())
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
    __m128i prev = _mm_setzero_si128(), errors = _mm_setzero_si128();
    while (end - p >= 16) {
        __m128i cur = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i errs = block_errors(cur, prev);
        /* scan_flags flags the stops and every byte >= 0x80: the stops only */
        unsigned stops = scan_flags(cur) & ~(unsigned)_mm_movemask_epi8(cur);
        if (stops != 0) {
            unsigned at = (unsigned)__builtin_ctz(stops);
            if ((fx_utf8_error_bits(errs) & ((2u << at) - 1)) != 0 || fx_utf8_error_bits(errors) != 0)
                return -1;
            *pp = p + at;
            return 1;
        }
        errors = _mm_or_si128(errors, errs);
        prev = cur;
        p += 16;
    }
    if (fx_utf8_error_bits(errors) != 0)
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
    if (!fx_utf8_have_ssse3())
        return 0;
    return scan_ssse3(pp, end);
}
#else
int fx_utf8_have_ssse3(void)
{
    return 0;
}

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
