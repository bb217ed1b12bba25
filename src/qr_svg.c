/* m:svg{module = 8, fg = "#000000", bg = "#ffffff"} -> an SVG document:
 * a background rect and ONE <path> holding every dark module, drawn row by
 * row as runs. Coordinates are in modules (viewBox) and the size in pixels
 * is module * modules-across, so it scales crisply when inlined in a page. */
#include <math.h>
#include <stdio.h>

#include "buffer.h"
#include "options.h"
#include "qr.h"

/* "#rgb" or "#rrggbb" into 0-255 channels; 0 when it is neither. Only
 * these two forms are taken: the colour is copied into the document as it
 * is, so nothing else may get through (no quotes, no url(), no names). */
static int parse_colour(const char *s, double rgb[3])
{
    size_t len = strlen(s), i, digits;
    int v[6];
    if (s[0] != '#' || (len != 4 && len != 7))
        return 0;
    digits = len - 1;
    for (i = 0; i < digits; i++) {
        char c = s[i + 1];
        if (c >= '0' && c <= '9')
            v[i] = c - '0';
        else if (c >= 'a' && c <= 'f')
            v[i] = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v[i] = c - 'A' + 10;
        else
            return 0;
    }
    for (i = 0; i < 3; i++)
        rgb[i] = digits == 3 ? v[i] * 17 : v[2 * i] * 16 + v[2 * i + 1];
    return 1;
}

/* WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white). */
static double luminance(const double rgb[3])
{
    static const double weight[3] = {0.2126, 0.7152, 0.0722};
    double l = 0;
    int i;
    for (i = 0; i < 3; i++) {
        double c = rgb[i] / 255.0;
        c = c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
        l += weight[i] * c;
    }
    return l;
}

static const char *colour(lua_State *L, const char *field, const char *def, double rgb[3])
{
    const char *s = fx_opt_string(L, 2, field);
    if (s == NULL)
        s = def;
    if (!parse_colour(s, rgb))
        luaL_argerror(L, 2, lua_pushfstring(L, "%s must be a colour as \"#rgb\" or \"#rrggbb\"", field));
    return s;
}

/* Scanners read dark modules on a light ground, and need the two told
 * apart: fg darker than bg by at least WCAG's 3:1 for graphics. */
#define MIN_CONTRAST 3.0

int fx_qr_svg(lua_State *L)
{
    static const char *const known[] = {"module", "fg", "bg", NULL};
    fx_qr *q = fx_qr_check(L, 1);
    const char *fg = "#000000", *bg = "#ffffff";
    double fg_rgb[3] = {0, 0, 0}, bg_rgb[3] = {255, 255, 255};
    int module = 8, n, x, y;
    char num[96];
    fx_buffer *b;
    if (!lua_isnoneornil(L, 2)) {
        double lf, lb;
        luaL_checktype(L, 2, LUA_TTABLE);
        fx_opt_check_keys(L, 2, known);
        module = (int)fx_opt_integer(L, 2, "module", 8, 1, 64);
        fg = colour(L, "fg", fg, fg_rgb);
        bg = colour(L, "bg", bg, bg_rgb);
        lf = luminance(fg_rgb);
        lb = luminance(bg_rgb);
        if (!(lf < lb && (lb + 0.05) / (lf + 0.05) >= MIN_CONTRAST))
            luaL_argerror(L, 2, "fg must be darker than bg, with a contrast of at least 3:1 (scanners read dark "
                                "modules on a light ground)");
    }
    n = fx_qr_extent(q);
    b = fx_buffer_push(L);
    snprintf(num, sizeof num, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" ",
             n * module, n * module);
    fx_buffer_add(L, b, num, strlen(num));
    snprintf(num, sizeof num, "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">", n, n);
    fx_buffer_add(L, b, num, strlen(num));
    snprintf(num, sizeof num, "<rect width=\"%d\" height=\"%d\" fill=\"", n, n);
    fx_buffer_add(L, b, num, strlen(num));
    fx_buffer_add(L, b, bg, strlen(bg));
    fx_buffer_add(L, b, "\"/><path fill=\"", 15);
    fx_buffer_add(L, b, fg, strlen(fg));
    fx_buffer_add(L, b, "\" d=\"", 5);
    for (y = q->margin; y < n - q->margin; y++) {
        x = q->margin;
        while (x < n - q->margin) {
            int start;
            if (!fx_qr_dark_at(q, x, y)) {
                x++;
                continue;
            }
            start = x;
            while (x < n - q->margin && fx_qr_dark_at(q, x, y))
                x++;
            /* a unit-high rectangle: the run's top left, across, down, back */
            snprintf(num, sizeof num, "M%d %dh%dv1h-%dz", start, y, x - start, x - start);
            fx_buffer_add(L, b, num, strlen(num));
        }
    }
    fx_buffer_add(L, b, "\"/></svg>\n", 10);
    lua_pushlstring(L, b->data, b->len);
    return 1;
}
