/* libFuzzer target for the encoder's UTF-8 check (src/utf8_check.c): the
 * input is a string. The 16-byte table lookup and the character-at-a-time
 * reference must agree on it, and json.encode must accept it exactly when
 * they say it is UTF-8 (then decoding the result gives the string back),
 * and otherwise answer nil and an encode error naming the first bad byte,
 * as the decoder's scanner finds it. Anything else aborts, so libFuzzer
 * keeps the input. Built by .ci/fuzz with every C source of src/ compiled
 * in, so all of it is instrumented. */
#include "fuzz_core_state.h"
#include "utf8_check.h"

int fx_utf8_valid_scalar(const unsigned char *p, size_t n);

/* Returns function(text, valid): raises on a wrong answer. */
static const char checker[] =
    "local json = require('flexiroam.core').json\n"
    "return function(text, valid)\n"
    "  local out, err = json.encode(text)\n"
    "  if valid then\n"
    "    if not out then error('a valid string refused: ' .. tostring(err), 0) end\n"
    "    if json.decode(out) ~= text then error('the string did not come back', 0) end\n"
    "  elseif out or type(err) ~= 'table' or err.kind ~= 'encode'\n"
    "         or not tostring(err.message):find('^invalid UTF%-8 in string %(byte %d+%)$') then\n"
    "    error('an invalid string was not refused with its byte: ' .. tostring(out or err.message), 0)\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    int fast, slow, status;
    if (L == NULL) {
        L = fuzz_core_state();
        lua_settop(L, 0);
        if (luaL_loadstring(L, checker) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
            abort();
    }
    fast = fx_utf8_valid(data, size);
    slow = fx_utf8_valid_scalar(data, size);
    if (fast != slow) {
        fprintf(stderr, "utf8_check: lookup says %d, reference says %d (input of %zu bytes)\n", fast, slow, size);
        abort();
    }
    lua_pushvalue(L, 1);
    lua_pushlstring(L, (const char *)data, size);
    lua_pushboolean(L, slow);
    status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK && status != LUA_ERRMEM) {
        fprintf(stderr, "utf8_check: %s (input of %zu bytes)\n", lua_tostring(L, -1), size);
        abort();
    }
    lua_settop(L, 1);
    return 0;
}
