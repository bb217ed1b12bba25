/* m:png{scale = 8} -> the bytes of a PNG (1-bit greyscale, black modules
 * on white, quiet zone included), written by libpng into memory: no file,
 * no temporary file.
 *
 * libpng reports errors by longjmp. Everything it and we allocate for one
 * image (its write and info structs, the row, the output) belongs to a
 * "job" userdata whose __gc frees it, so neither its longjmp nor a Lua
 * error on the way can leak: the error path only has to return. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"
#include "options.h"
#include "qr.h"

#define PNG_JOB_MT "flexiroam.qr.png_job"

typedef struct png_job {
    png_structp png;
    png_infop info;
    png_bytep row;
    unsigned char *out;
    size_t len, cap;
    char why[128]; /* libpng's message when it failed */
} png_job;

static int job_release(lua_State *L)
{
    png_job *job = (png_job *)luaL_checkudata(L, 1, PNG_JOB_MT);
    if (job->png != NULL)
        png_destroy_write_struct(&job->png, job->info != NULL ? &job->info : NULL);
    job->png = NULL;
    job->info = NULL;
    free(job->row);
    job->row = NULL;
    free(job->out);
    job->out = NULL;
    job->len = job->cap = 0;
    return 0;
}

/* libpng's error handler must not return: keep the message, jump back. */
static void on_error(png_structp png, png_const_charp message)
{
    png_job *job = (png_job *)png_get_error_ptr(png);
    snprintf(job->why, sizeof job->why, "%s", message != NULL ? message : "unknown error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message; /* nothing it warns about changes the image we asked for */
}

/* The output grows with realloc, never through Lua: a Lua error thrown
 * from inside libpng would skip its own unwinding. */
static void on_write(png_structp png, png_bytep data, png_size_t length)
{
    png_job *job = (png_job *)png_get_io_ptr(png);
    if (length > job->cap - job->len) {
        size_t cap = job->cap ? job->cap : 1024;
        unsigned char *out;
        while (cap - job->len < length) {
            if (cap > ((size_t)-1) / 2)
                png_error(png, "image too large");
            cap *= 2;
        }
        out = (unsigned char *)realloc(job->out, cap);
        if (out == NULL)
            png_error(png, "not enough memory");
        job->out = out;
        job->cap = cap;
    }
    memcpy(job->out + job->len, data, length);
    job->len += length;
}

static void on_flush(png_structp png)
{
    (void)png;
}

static void write_rows(png_job *job, const fx_qr *q, int scale, png_uint_32 side)
{
    int n = fx_qr_extent(q), x, y, s;
    size_t row_bytes = ((size_t)side + 7) / 8;
    png_set_IHDR(job->png, job->info, side, side, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* zlib's level 6, not 9: on an LPA code at scale 8, 9 took 0.72 ms for
     * 444 bytes and 6 takes 0.11 ms for 431 (long match chains over rows
     * that repeat `scale` times gain nothing). */
    png_set_compression_level(job->png, 6);
    png_write_info(job->png, job->info);
    for (y = 0; y < n; y++) {
        size_t px = 0;
        /* 1-bit greyscale: a set bit is white, so start white and clear the dark. */
        memset(job->row, 0xff, row_bytes);
        for (x = 0; x < n; x++) {
            int dark = fx_qr_dark_at(q, x, y);
            for (s = 0; s < scale; s++, px++)
                if (dark)
                    job->row[px >> 3] &= (png_byte) ~(0x80u >> (px & 7));
        }
        for (s = 0; s < scale; s++)
            png_write_row(job->png, job->row);
    }
    png_write_end(job->png, job->info);
}

/* 1 when the image was written, 0 when libpng jumped back with an error.
 * Nothing here lives across the setjmp but `job`, which does not change. */
static int write_png(png_job *job, const fx_qr *q, int scale, png_uint_32 side)
{
    if (setjmp(png_jmpbuf(job->png)))
        return 0;
    png_set_write_fn(job->png, job, on_write, on_flush);
    write_rows(job, q, scale, side);
    return 1;
}

int fx_qr_png(lua_State *L)
{
    static const char *const known[] = {"scale", NULL};
    fx_qr *q = fx_qr_check(L, 1);
    int scale = 8;
    png_uint_32 side;
    png_job *job;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        fx_opt_check_keys(L, 2, known);
        scale = (int)fx_opt_integer(L, 2, "scale", 8, 1, 64);
    }
    side = (png_uint_32)fx_qr_extent(q) * (png_uint_32)scale;

    fx_handle_type(L, PNG_JOB_MT, NULL, job_release, NULL);
    job = (png_job *)fx_handle_new(L, sizeof *job, PNG_JOB_MT);
    job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
    if (job->png != NULL)
        job->info = png_create_info_struct(job->png);
    if (job->info != NULL)
        job->row = (png_bytep)malloc(((size_t)side + 7) / 8);
    if (job->row == NULL)
        return luaL_error(L, "not enough memory");
    if (!write_png(job, q, scale, side))
        return luaL_error(L, "qr: png: %s", job->why);
    lua_pushlstring(L, (const char *)job->out, job->len);
    /* Free the image's memory now rather than at the next collection. */
    lua_pushcfunction(L, job_release);
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    return 1;
}
