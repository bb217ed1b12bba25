/* PLACEHOLDER until the encode branch lands: raises when called. */
#include "json.h"

static int not_yet(lua_State *L)
{
    return luaL_error(L, "json.encode: not implemented yet");
}

void fx_json_encode_register(lua_State *L, int module)
{
    lua_pushcfunction(L, not_yet);
    lua_setfield(L, module, "encode");
}
