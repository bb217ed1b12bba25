/* PLACEHOLDER until the decode branch lands: raises when called. */
#include "json.h"

static int not_yet(lua_State *L)
{
    return luaL_error(L, "json.decode: not implemented yet");
}

void fx_json_decode_register(lua_State *L, int module)
{
    lua_pushcfunction(L, not_yet);
    lua_setfield(L, module, "decode");
}
