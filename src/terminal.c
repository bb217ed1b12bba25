/* core.isatty(fd) -> boolean: a progress bar redrawn with carriage returns
 * belongs on a terminal, never in a log file or a pipe. */
#include <unistd.h>

#include "handle.h"
#include "terminal.h"

static int terminal_isatty(lua_State *L)
{
    lua_Number fd = luaL_checknumber(L, 1);
    if (!(fd >= 0 && fd <= 1024) || (lua_Number)(int)fd != fd)
        return luaL_argerror(L, 1, "a file descriptor from 0 to 1024");
    lua_pushboolean(L, isatty((int)fd) == 1);
    return 1;
}

static const luaL_Reg terminal_functions[] = {{"isatty", terminal_isatty}, {NULL, NULL}};

void fx_terminal_register(lua_State *L, int module)
{
    fx_set_functions(L, module, terminal_functions);
}
