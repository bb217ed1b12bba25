/* luaopen_flexiroam_core: assembles the C core's pieces into one module. */
#include "clock.h"
#include "compat.h"
#include "error.h"
#include "fsync.h"
#include "json.h"
#include "lock.h"
#include "multi.h"
#include "private_file.h"
#include "qr.h"
#include "session.h"
#include "terminal.h"
#include "version.h"

#if defined(__GNUC__)
#define FX_EXPORT __attribute__((visibility("default")))
#else
#define FX_EXPORT
#endif

FX_EXPORT int luaopen_flexiroam_core(lua_State *L);

int luaopen_flexiroam_core(lua_State *L)
{
    int module;
    fx_error_register(L);

    lua_createtable(L, 0, 8);
    module = lua_gettop(L);

    lua_pushliteral(L, FX_VERSION);
    lua_setfield(L, module, "VERSION");
    luaL_getmetatable(L, FX_ERROR_MT);
    lua_setfield(L, module, "error_mt");

    fx_json_open(L);
    lua_setfield(L, module, "json");

    fx_session_register(L, module);
    fx_multi_register(L, module);
    fx_terminal_register(L, module);
    fx_clock_register(L, module);
    fx_lock_register(L, module);
    fx_fsync_register(L, module);
    fx_private_file_register(L, module);
    fx_qr_register(L, module);

    return 1;
}
