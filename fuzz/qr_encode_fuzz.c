/* libFuzzer target for core.qr.encode and the matrix's renderers. The
 * first byte chooses the options (bits 0-1 the level, 2-4 the margin,
 * bits 5-6 the terminal scheme, bit 7 a fixed version: the byte mod 40,
 * plus 1), the rest is the text.
 * Whatever the bytes, encode must answer a matrix of the documented shape
 * or nil and a "validation" error naming the text, and only for a text
 * that is empty, over the level's version 40 capacity, or over a fixed
 * version's; every renderer must then answer well-formed output. A raise
 * (other than out of memory) or a wrong answer is a bug: abort so
 * libFuzzer keeps the input. Built by .ci/fuzz with every C source of
 * src/ compiled in, so all of it is instrumented. */
#include "fuzz_core_state.h"

/* Returns function(text, flags): raises on a wrong answer. */
static const char checker[] =
    "local qr = require('flexiroam.core').qr\n"
    "local LEVELS, SCHEMES = { 'L', 'M', 'Q', 'H' }, { 'dark', 'light', 'ansi', 'dark' }\n"
    "local MAX = { L = 2953, M = 2331, Q = 1663, H = 1273 }\n"
    "local function u32(s, i)\n"
    "  local a, b, c, d = s:byte(i, i + 3)\n"
    "  return ((a * 256 + b) * 256 + c) * 256 + d\n"
    "end\n"
    "return function(text, flags)\n"
    "  local ec, margin = LEVELS[flags % 4 + 1], (flags // 4) % 8\n"
    "  local version = flags >= 128 and flags % 40 + 1 or nil\n"
    "  local m, err = qr.encode(text, { ec = ec, margin = margin, version = version })\n"
    "  if not m then\n"
    "    if type(err) ~= 'table' or err.kind ~= 'validation' or type(err.fields) ~= 'table'\n"
    "       or type(err.fields.text) ~= 'string' or not tostring(err):find('qr: the text', 1, true) then\n"
    "      error('a refusal without its validation error', 0)\n"
    "    end\n"
    "    if #text > 0 and #text <= MAX[ec] and not version then error('refused a text that fits', 0) end\n"
    "    return\n"
    "  end\n"
    "  if #text == 0 or #text > MAX[ec] then error('encoded a text it must refuse', 0) end\n"
    "  if version and m.version ~= version then error('ignored the fixed version', 0) end\n"
    "  if m.size ~= 17 + 4 * m.version or m.ec ~= ec or m.margin ~= margin then error('wrong shape', 0) end\n"
    "  local side = m.size + 2 * margin\n"
    "  local t = m:text()\n"
    "  if #t ~= side * (side + 1) then error('text of the wrong size', 0) end\n"
    "  local row = margin * (side + 1) + margin\n"
    "  for x = 0, m.size - 1 do\n"
    "    local dark = t:byte(row + x + 1) == 35\n"
    "    if dark ~= m:get(x, 0) then error('text and get disagree', 0) end\n"
    "  end\n"
    "  local png = m:png { scale = 1 }\n"
    "  if png:sub(1, 8) ~= '\\137PNG\\r\\n\\26\\n' or u32(png, 17) ~= side or u32(png, 21) ~= side then\n"
    "    error('not the PNG asked for', 0)\n"
    "  end\n"
    "  local svg = m:svg { module = 1 }\n"
    "  local _, paths = svg:gsub('<path ', '')\n"
    "  if paths ~= 1 or not svg:find('viewBox=\"0 0 ' .. side .. ' ' .. side .. '\"', 1, true) then\n"
    "    error('not the SVG asked for', 0)\n"
    "  end\n"
    "  local term = m:terminal { scheme = SCHEMES[(flags // 32) % 4 + 1] }\n"
    "  local _, lines = term:gsub('\\n', '')\n"
    "  if lines ~= (side + 1) // 2 then error('terminal output of the wrong height', 0) end\n"
    "  m:close()\n"
    "end\n";

static lua_State *state(void)
{
    static lua_State *L;
    if (L != NULL)
        return L;
    L = fuzz_core_state();
    lua_settop(L, 0);
    if (luaL_loadstring(L, checker) != LUA_OK) {
        fprintf(stderr, "qr_encode_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_call(L, 0, 1); /* the checker stays at index 1 */
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0)
        fuzz_check_options_and_text(state(), "qr_encode_fuzz", data, size);
    return 0;
}
