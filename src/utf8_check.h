/* Whole runs of bytes checked as UTF-8 at once, for the encoder's strings:
 * on x86 with SSSE3 sixteen bytes at a time by table lookup, elsewhere one
 * character at a time. Only says yes or no: where a run goes wrong, and so
 * the byte an error names, is found by json_scan.h's scan_run, which the
 * encoder then runs over that run alone. */
#ifndef FLEXIROAM_UTF8_CHECK_H
#define FLEXIROAM_UTF8_CHECK_H

#include <stddef.h>

/* 1 when [p, p + n) is well-formed UTF-8 (no overlong form, no encoded
 * surrogate, nothing above U+10FFFF, no sequence cut short by the end),
 * else 0. The byte after the run must be readable and no continuation
 * byte (a Lua string's NUL): the character-at-a-time path shares the
 * decoder's utf8_len, which stops there. */
int fx_utf8_valid(const unsigned char *p, size_t n);

/* 1 when this CPU runs utf8_lookup.h's SSSE3 code (asked once), else 0. */
int fx_utf8_have_ssse3(void);

/* The decoder's long runs of multi-byte text (json_scan.h's scan_mixed):
 * from *pp, which follows whole characters, sixteen bytes at a time with
 * the same table lookup, looks for the first quote, backslash or control
 * byte. Returns 1 with *pp there when every byte before it is well-formed
 * UTF-8; -1 when some byte before it is not (the caller walks from where
 * it began, one character at a time, to find and name the fault); 0 when
 * it cannot tell: no SSSE3, or fewer than 16 bytes left before `end` with
 * no stop found, *pp then moved to the first character not yet checked
 * (the caller's own scan goes on from there). Never reads past `end`. */
int fx_utf8_scan(const unsigned char **pp, const unsigned char *end);

#endif
