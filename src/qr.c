/* core.qr.encode(text [, {ec =, version =, margin =}]) -> matrix | nil, err
 *
 * The text is encoded as it is, byte for byte, in 8-bit mode (an LPA
 * string must come back from a scanner exactly as it went in: no case
 * folding, no guessed character set). What is wrong with the call (types,
 * option names and values) raises at the caller's line; what is wrong with
 * the text (empty, longer than the chosen level holds) answers nil and a
 * "validation" error, since a program cannot always know beforehand. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "handle.h"
#include "options.h"
#include "qr.h"

static const char *const LEVEL_NAMES[] = {"L", "M", "Q", "H", NULL};

/* Bytes a version 40 symbol holds in 8-bit mode, by level (ISO/IEC 18004
 * table 7): known here so "too long" can say how long is allowed. */
static const int MAX_BYTES[] = {2953, 2331, 1663, 1273};

static int qr_release(lua_State *L)
{
    fx_qr *q = (fx_qr *)luaL_checkudata(L, 1, FX_QR_MT);
    if (q->code != NULL) {
        QRcode_free(q->code);
        q->code = NULL;
    }
    return 0;
}

fx_qr *fx_qr_check(lua_State *L, int idx)
{
    fx_qr *q = (fx_qr *)luaL_checkudata(L, idx, FX_QR_MT);
    if (q->code == NULL)
        luaL_error(L, "qr matrix is closed");
    return q;
}

static int text_error(lua_State *L, const char *why)
{
    fx_error_return(L, "validation", lua_pushfstring(L, "qr: the text %s", why));
    lua_remove(L, -3); /* the message, below nil and the error */
    lua_createtable(L, 0, 1);
    lua_pushstring(L, why);
    lua_setfield(L, -2, "text");
    lua_setfield(L, -2, "fields");
    return 2;
}

static int qr_encode(lua_State *L)
{
    static const char *const known[] = {"ec", "version", "margin", NULL};
    size_t len;
    const char *text;
    int level = QR_ECLEVEL_M, version = 0, margin = 4;
    fx_qr *q;

    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_argerror(L, 1, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
    text = lua_tolstring(L, 1, &len);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        fx_opt_check_keys(L, 2, known);
        level = fx_opt_choice(L, 2, "ec", LEVEL_NAMES, QR_ECLEVEL_M);
        version = (int)fx_opt_integer(L, 2, "version", 0, 1, 40);
        margin = (int)fx_opt_integer(L, 2, "margin", 4, 0, FX_QR_MAX_MARGIN);
    }
    lua_settop(L, 1);

    if (len == 0)
        return text_error(L, "is empty: there is nothing to encode");
    if (len > (size_t)MAX_BYTES[level]) {
        char why[128]; /* %zu: lua_pushfstring has no size_t format on 5.1 */
        snprintf(why, sizeof why, "is %zu bytes; a QR code holds at most %d at level %s (version 40)", len,
                 MAX_BYTES[level], LEVEL_NAMES[level]);
        return text_error(L, why);
    }

    /* The userdata first: its __gc owns the code from the moment it exists. */
    q = (fx_qr *)fx_handle_new(L, sizeof *q, FX_QR_MT);
    q->margin = margin;
    q->level = level;
    errno = 0;
    q->code = QRcode_encodeData((int)len, (const unsigned char *)text, version, (QRecLevel)level);
    if (q->code == NULL) {
        if (errno == ERANGE)
            return text_error(L, lua_pushfstring(L, "is %d bytes: too long for a QR code at level %s", (int)len,
                                                 LEVEL_NAMES[level]));
        if (errno == ENOMEM)
            return luaL_error(L, "not enough memory");
        return luaL_error(L, "qr: libqrencode failed: %s", strerror(errno));
    }
    /* libqrencode takes `version` as the smallest to use; asked for one,
     * the caller gets that size or an answer saying it does not fit. */
    if (version != 0 && q->code->version != version) {
        int needed = q->code->version;
        QRcode_free(q->code);
        q->code = NULL;
        return text_error(L, lua_pushfstring(L, "does not fit version %d at level %s: it needs version %d", version,
                                             LEVEL_NAMES[level], needed));
    }
    return 1;
}

/* m:get(x, y) -> true (dark) | false: x and y from 0 (top left) to
 * size - 1, as ISO/IEC 18004 numbers the modules; the quiet zone is not
 * part of the symbol. */
static int qr_get(lua_State *L)
{
    fx_qr *q = fx_qr_check(L, 1);
    int w = q->code->width, c[2], i;
    for (i = 0; i < 2; i++) {
        lua_Number n = luaL_checknumber(L, i + 2);
        if (!(n >= 0 && n < w) || (lua_Number)(int)n != n)
            return luaL_argerror(L, i + 2, lua_pushfstring(L, "an integer from 0 to %d (size - 1)", w - 1));
        c[i] = (int)n;
    }
    lua_pushboolean(L, q->code->data[(size_t)c[1] * (size_t)w + (size_t)c[0]] & 1);
    return 1;
}

static int qr_close(lua_State *L)
{
    luaL_checkudata(L, 1, FX_QR_MT);
    return qr_release(L);
}

static int qr_tostring(lua_State *L)
{
    fx_qr *q = (fx_qr *)luaL_checkudata(L, 1, FX_QR_MT);
    if (q->code == NULL)
        lua_pushliteral(L, "flexiroam.qr.matrix (closed)");
    else
        lua_pushfstring(L, "flexiroam.qr.matrix %dx%d (version %d, level %s, margin %d)", q->code->width,
                        q->code->width, q->code->version, LEVEL_NAMES[q->level], q->margin);
    return 1;
}

/* __index: the methods (upvalue 1), then the read-only properties size
 * (modules across the symbol, quiet zone excluded), version, ec, margin. */
static int qr_index(lua_State *L)
{
    const char *key;
    fx_qr *q;
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1))
        return 1;
    if (lua_type(L, 2) != LUA_TSTRING)
        return 1;
    key = lua_tostring(L, 2);
    q = (fx_qr *)luaL_checkudata(L, 1, FX_QR_MT);
    if (strcmp(key, "size") == 0 || strcmp(key, "version") == 0 || strcmp(key, "ec") == 0 ||
        strcmp(key, "margin") == 0) {
        if (q->code == NULL)
            return luaL_error(L, "qr matrix is closed");
        if (key[0] == 's')
            lua_pushinteger(L, q->code->width);
        else if (key[0] == 'v')
            lua_pushinteger(L, q->code->version);
        else if (key[0] == 'e')
            lua_pushstring(L, LEVEL_NAMES[q->level]);
        else
            lua_pushinteger(L, q->margin);
    }
    return 1;
}

static const luaL_Reg qr_methods[] = {
    {"get", qr_get},   {"svg", fx_qr_svg},       {"png", fx_qr_png}, {"terminal", fx_qr_terminal},
    {"text", fx_qr_text}, {"close", qr_close}, {NULL, NULL},
};

static const luaL_Reg qr_functions[] = {{"encode", qr_encode}, {NULL, NULL}};

void fx_qr_register(lua_State *L, int module)
{
    fx_handle_type(L, FX_QR_MT, NULL, qr_release, qr_tostring);
    luaL_getmetatable(L, FX_QR_MT);
    lua_newtable(L);
    luaL_setfuncs(L, qr_methods, 0);
    lua_pushcclosure(L, qr_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_createtable(L, 0, 2);
    fx_set_functions(L, lua_gettop(L), qr_functions);
    lua_pushstring(L, QRcode_APIVersionString());
    lua_setfield(L, -2, "libqrencode");
    lua_setfield(L, module, "qr");
}
