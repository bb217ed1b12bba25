/* core.qr: QR codes on libqrencode. encode() answers a matrix userdata
 * (src/qr.c); its renderers live beside it, one file each: SVG
 * (src/qr_svg.c), PNG through libpng (src/qr_png.c), terminal and text
 * (src/qr_text.c). They share the matrix below and nothing else. */
#ifndef FLEXIROAM_QR_H
#define FLEXIROAM_QR_H

#include <qrencode.h>

#include "compat.h"

#define FX_QR_MT "flexiroam.qr.matrix"

/* The quiet zone a renderer draws is at most this many modules wide: 4 is
 * what ISO/IEC 18004 asks for; more only wastes space. */
#define FX_QR_MAX_MARGIN 32

typedef struct fx_qr {
    QRcode *code; /* owned; NULL once closed */
    int margin;   /* quiet zone, in modules, on every side */
    int level;    /* QRecLevel */
} fx_qr;

/* The open matrix at `idx`; raises when it is not one or is closed. */
fx_qr *fx_qr_check(lua_State *L, int idx);

/* Modules across the whole picture: the symbol and its quiet zone. */
static inline int fx_qr_extent(const fx_qr *q)
{
    return q->code->width + 2 * q->margin;
}

/* Whether the module at (x, y) of the whole picture (quiet zone included,
 * 0-based from the top left) is dark; the quiet zone is light. */
static inline int fx_qr_dark_at(const fx_qr *q, int x, int y)
{
    int w = q->code->width;
    x -= q->margin;
    y -= q->margin;
    if (x < 0 || y < 0 || x >= w || y >= w)
        return 0;
    return q->code->data[(size_t)y * (size_t)w + (size_t)x] & 1;
}

/* The renderers, as methods of the matrix (argument 1 is the matrix). */
int fx_qr_svg(lua_State *L);
int fx_qr_png(lua_State *L);
int fx_qr_terminal(lua_State *L);
int fx_qr_text(lua_State *L);

/* Sets `qr` = {encode = ...} into the table at `module`. */
void fx_qr_register(lua_State *L, int module);

#endif
