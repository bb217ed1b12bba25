/* libFuzzer target for the UTF-8 checks (src/utf8_check.c): the input is a
 * string. The 16-byte table lookup and the character-at-a-time reference
 * must agree on it; the decoder's scanner (json_scan.h's scan_run, whose
 * long multi-byte runs go to fx_utf8_scan) must stop where and as its
 * byte-at-a-time walk stops (the same byte, the same bad flag); and
 * json.encode must accept it exactly when
 * they say it is UTF-8 (then decoding the result gives the string back),
 * and otherwise answer nil and an encode error naming the first byte of
 * the first sequence that is not a character (first_bad, below). Anything else aborts, so libFuzzer
 * keeps the input. Built by .ci/fuzz with every C source of src/ compiled
 * in, so all of it is instrumented. */
#include "fuzz_core_state.h"
#include "json_scan.h"
#include "utf8_check.h"

int fx_utf8_valid_scalar(const unsigned char *p, size_t n); /* utf8_check.c: also wants the NUL after */

/* The 1-based position of the lead of the first ill-formed sequence (RFC
 * 3629's table, written out again here), or 0 for well-formed text. */
static size_t first_bad(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], lo = 0x80, hi = 0xBF;
        size_t more, k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            more = 1;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else
            return i + 1;
        if (n - i <= more || p[i + 1] < lo || p[i + 1] > hi)
            return i + 1;
        for (k = 2; k <= more; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return i + 1;
        i += more + 1;
    }
    return 0;
}

/* Returns function(text, bad): raises on a wrong answer (bad: the
 * position first_bad gives, 0 for a valid string). */
static const char checker[] =
    "local json = require('flexiroam.core').json\n"
    "return function(text, bad)\n"
    "  local out, err = json.encode(text)\n"
    "  if bad == 0 then\n"
    "    if not out then error('a valid string refused: ' .. tostring(err), 0) end\n"
    "    if json.decode(out) ~= text then error('the string did not come back', 0) end\n"
    "  elseif out or type(err) ~= 'table' or err.kind ~= 'encode'\n"
    "         or err.message ~= ('invalid UTF-8 in string (byte %d)'):format(bad) then\n"
    "    error('not refused at byte ' .. bad .. ': ' .. tostring(out or err.message), 0)\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    int fast, slow, status;
    size_t bad;
    const uint8_t *text;
    if (L == NULL) {
        L = fuzz_core_state();
        lua_settop(L, 0);
        if (luaL_loadstring(L, checker) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
            abort();
    }
    lua_pushvalue(L, 1);
    lua_pushlstring(L, (const char *)data, size);
    /* the copy in a Lua string has the NUL after it that fx_utf8_valid asks */
    text = (const uint8_t *)lua_tostring(L, -1);
    fast = fx_utf8_valid(text, size);
    slow = fx_utf8_valid_scalar(text, size);
    bad = first_bad(text, size);
    if (fast != slow || slow != (bad == 0)) {
        fprintf(stderr, "utf8_check: lookup says %d, scalar says %d, first bad byte %zu (input of %zu bytes)\n", fast,
                slow, bad, size);
        abort();
    }
    {
        /* every run of the input, stepping over each stop as the encoder's
         * first_bad_utf8 does, so that runs start after a quote too */
        const uchar *p = text, *end = text + size;
        for (;;) {
            int bad_run = 0, bad_walk = 0;
            const uchar *run = scan_run(p, text, end, &bad_run);
            const uchar *walk = scan_slow(p, &bad_walk);
            if (run != walk || bad_run != bad_walk) {
                fprintf(stderr,
                        "utf8_check: from %zu scan_run stops at %zu (bad %d), the walk at %zu (bad %d) (input of %zu "
                        "bytes)\n",
                        (size_t)(p - text), (size_t)(run - text), bad_run, (size_t)(walk - text), bad_walk, size);
                abort();
            }
            if (bad_run || run >= end)
                break;
            p = run + 1;
        }
    }
    lua_pushinteger(L, (lua_Integer)bad);
    status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK && status != LUA_ERRMEM) {
        fprintf(stderr, "utf8_check: %s (input of %zu bytes)\n", lua_tostring(L, -1), size);
        abort();
    }
    lua_settop(L, 1);
    return 0;
}
