/* m:png() when libpng fails: every failure libpng can report, made to
 * happen at each step (no write struct, no info struct, an error at each
 * row, at the end), each time through the same error path (longjmp back
 * into src/qr_png.c, a Lua error out of it). Built by spec/qr_png_faults_spec.lua
 * with the QR sources and AddressSanitizer's leak checker, linked with
 * -Wl,--wrap for the libpng calls below so that they fail when told to.
 *
 *   qr_png_faults   -> one line per case, then "ok N" and exit 0; LSan
 *                      exits non-zero if anything the failures left is leaked */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "error.h"
#include "qr.h"

png_structp __real_png_create_write_struct(png_const_charp v, png_voidp e, png_error_ptr f, png_error_ptr w);
png_structp __wrap_png_create_write_struct(png_const_charp v, png_voidp e, png_error_ptr f, png_error_ptr w);
png_infop __real_png_create_info_struct(png_const_structrp png);
png_infop __wrap_png_create_info_struct(png_const_structrp png);
void __real_png_write_row(png_structrp png, png_const_bytep row);
void __wrap_png_write_row(png_structrp png, png_const_bytep row);
void __real_png_write_end(png_structrp png, png_inforp info);
void __wrap_png_write_end(png_structrp png, png_inforp info);

/* What to break: this test program's own switches, set from Lua. */
enum { NONE, NO_WRITE_STRUCT, NO_INFO_STRUCT, AT_ROW, AT_END };
static int fault = NONE, fault_row, rows;

png_structp __wrap_png_create_write_struct(png_const_charp v, png_voidp e, png_error_ptr f, png_error_ptr w)
{
    rows = 0;
    return fault == NO_WRITE_STRUCT ? NULL : __real_png_create_write_struct(v, e, f, w);
}

png_infop __wrap_png_create_info_struct(png_const_structrp png)
{
    return fault == NO_INFO_STRUCT ? NULL : __real_png_create_info_struct(png);
}

void __wrap_png_write_row(png_structrp png, png_const_bytep row)
{
    if (fault == AT_ROW && rows++ == fault_row)
        png_error(png, "injected failure at a row");
    __real_png_write_row(png, row);
}

void __wrap_png_write_end(png_structrp png, png_inforp info)
{
    if (fault == AT_END)
        png_error(png, "injected failure at the end");
    __real_png_write_end(png, info);
}

/* inject(kind, row): kind 0 none, 1 no write struct, 2 no info struct,
 * 3 an error at row `row`, 4 an error at the end. */
static int inject(lua_State *L)
{
    fault = (int)luaL_checkinteger(L, 1);
    fault_row = (int)luaL_optinteger(L, 2, 0);
    return 0;
}

static const char script[] =
    "local m = assert(qr.encode('LPA:1$smdp.example.com$K2M4P-7QX9Z-AB3CD-EF5GH'))\n"
    "local side = (m.size + 2 * m.margin) * 2\n"
    "local cases = { { 1, 0, 'not enough memory' }, { 2, 0, 'not enough memory' },\n"
    "  { 4, 0, 'qr: png: injected failure at the end' } }\n"
    "for row = 0, side - 1, 7 do cases[#cases + 1] = { 3, row, 'qr: png: injected failure at a row' } end\n"
    "for _, c in ipairs(cases) do\n"
    "  inject(c[1], c[2])\n"
    "  local ok, err = pcall(m.png, m, { scale = 2 })\n"
    "  assert(not ok and tostring(err):find(c[3], 1, true), 'case ' .. c[1] .. '/' .. c[2] .. ': ' .. tostring(err))\n"
    "  print(('fault %d row %d: %s'):format(c[1], c[2], tostring(err)))\n"
    "end\n"
    "inject(0)\n"
    "local png = m:png { scale = 2 }\n"
    "assert(png:sub(2, 4) == 'PNG', 'no PNG after the failures')\n"
    "collectgarbage() collectgarbage()\n"
    "print('ok ' .. #cases)\n";

int main(void)
{
    lua_State *L = luaL_newstate();
    int status;
    if (L == NULL)
        return 2;
    luaL_openlibs(L);
    fx_error_register(L);
    lua_newtable(L);
    fx_qr_register(L, lua_gettop(L));
    lua_getfield(L, -1, "qr");
    lua_setglobal(L, "qr");
    lua_pop(L, 1);
    lua_register(L, "inject", inject);
    status = luaL_dostring(L, script);
    if (status != LUA_OK)
        fprintf(stderr, "qr_png_faults: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
