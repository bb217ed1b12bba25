/* The matrix as text: m:terminal{scheme =} for a person at a terminal,
 * m:text{dark =, light =} for tests and logs. Both draw the quiet zone. */
#include "buffer.h"
#include "options.h"
#include "qr.h"

/* Half blocks: one character cell holds two modules, one above the other,
 * and a cell is about twice as tall as it is wide, so modules come out
 * square. The "ink" of a cell is the terminal's foreground colour. */
static const char *const HALVES[4] = {
    " ",            /* neither half inked */
    "\xe2\x96\x84", /* U+2584 lower half block: the lower module */
    "\xe2\x96\x80", /* U+2580 upper half block: the upper module */
    "\xe2\x96\x88", /* U+2588 full block: both */
};

/* Explicit colours for scheme "ansi": 256-colour white ink on black, then
 * a reset, so the code reads the same on any background. */
#define ANSI_ON "\x1b[38;5;231;48;5;16m"
#define ANSI_OFF "\x1b[0m"

enum { SCHEME_DARK, SCHEME_LIGHT, SCHEME_ANSI };

/* m:terminal{scheme = "dark" | "light" | "ansi"} -> string of lines.
 * A scanner wants dark modules on a light ground. On a terminal with
 * light text on a dark background ("dark", the default) the light modules
 * and the quiet zone are inked and the dark ones left as background; on a
 * dark-on-light terminal ("light") the dark modules are inked; "ansi" sets
 * white ink on black itself and so works on either. */
int fx_qr_terminal(lua_State *L)
{
    static const char *const known[] = {"scheme", NULL};
    static const char *const schemes[] = {"dark", "light", "ansi", NULL};
    fx_qr *q = fx_qr_check(L, 1);
    int scheme = SCHEME_DARK, n, x, y;
    fx_buffer *b;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        fx_opt_check_keys(L, 2, known);
        scheme = fx_opt_choice(L, 2, "scheme", schemes, SCHEME_DARK);
    }
    n = fx_qr_extent(q);
    b = fx_buffer_push(L);
    for (y = 0; y < n; y += 2) {
        if (scheme == SCHEME_ANSI)
            fx_buffer_add(L, b, ANSI_ON, sizeof ANSI_ON - 1);
        for (x = 0; x < n; x++) {
            int top = fx_qr_dark_at(q, x, y), bottom = y + 1 < n ? fx_qr_dark_at(q, x, y + 1) : -1;
            int ink_top, ink_bottom;
            if (scheme == SCHEME_LIGHT) {
                ink_top = top;
                ink_bottom = bottom == 1;
            } else {
                ink_top = !top;
                ink_bottom = bottom == 0; /* below an odd last row: background */
            }
            fx_buffer_add(L, b, HALVES[ink_top * 2 + ink_bottom], ink_top || ink_bottom ? 3 : 1);
        }
        if (scheme == SCHEME_ANSI)
            fx_buffer_add(L, b, ANSI_OFF, sizeof ANSI_OFF - 1);
        fx_buffer_addchar(L, b, '\n');
    }
    lua_pushlstring(L, b->data, b->len);
    return 1;
}

static const char *glyph(lua_State *L, const char *field, const char *def, size_t *len)
{
    const char *s = fx_opt_string(L, 2, field);
    if (s == NULL)
        s = def;
    *len = strlen(s);
    if (*len == 0 || *len > 16 || strchr(s, '\n') != NULL)
        luaL_argerror(L, 2, lua_pushfstring(L, "%s must be 1 to 16 bytes without a newline", field));
    return s;
}

/* m:text{dark = "#", light = "."} -> one line per row of modules, quiet
 * zone included, each ending in "\n". */
int fx_qr_text(lua_State *L)
{
    static const char *const known[] = {"dark", "light", NULL};
    fx_qr *q = fx_qr_check(L, 1);
    const char *dark = "#", *light = ".";
    size_t dark_len = 1, light_len = 1;
    int n, x, y;
    fx_buffer *b;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        fx_opt_check_keys(L, 2, known);
        dark = glyph(L, "dark", dark, &dark_len);
        light = glyph(L, "light", light, &light_len);
    }
    n = fx_qr_extent(q);
    b = fx_buffer_push(L);
    for (y = 0; y < n; y++) {
        for (x = 0; x < n; x++) {
            if (fx_qr_dark_at(q, x, y))
                fx_buffer_add(L, b, dark, dark_len);
            else
                fx_buffer_add(L, b, light, light_len);
        }
        fx_buffer_addchar(L, b, '\n');
    }
    lua_pushlstring(L, b->data, b->len);
    return 1;
}
