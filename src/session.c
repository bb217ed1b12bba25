/* PLACEHOLDER until the session branch lands: raises when called. */
#include "session.h"

static int not_yet(lua_State *L)
{
    return luaL_error(L, "session: not implemented yet");
}

void fx_session_register(lua_State *L, int module)
{
    lua_pushcfunction(L, not_yet);
    lua_setfield(L, module, "session");
}
