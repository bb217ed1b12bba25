/* Terminal helpers for Lua:
 *   core.isatty(fd) -> boolean: a progress bar redrawn with carriage returns
 *     belongs on a terminal, never in a log file or a pipe;
 *   core.terminal_size(fd) -> columns, rows | nil: how wide a table the
 *     command line may print (nil when fd is no terminal or the terminal
 *     does not say). */
#include <sys/ioctl.h>
#include <unistd.h>

#include "handle.h"
#include "terminal.h"

static int check_fd(lua_State *L)
{
    lua_Number fd = luaL_checknumber(L, 1);
    if (!(fd >= 0 && fd <= 1024) || (lua_Number)(int)fd != fd)
        return luaL_argerror(L, 1, "a file descriptor from 0 to 1024");
    return (int)fd;
}

static int terminal_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty(check_fd(L)) == 1);
    return 1;
}

static int terminal_size(lua_State *L)
{
    struct winsize ws;
    int fd = check_fd(L);
    /* A pseudo-terminal nobody sized answers 0 x 0: as good as no answer. */
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, ws.ws_col);
    lua_pushinteger(L, ws.ws_row);
    return 2;
}

static const luaL_Reg terminal_functions[] = {
    {"isatty", terminal_isatty}, {"terminal_size", terminal_size}, {NULL, NULL}};

void fx_terminal_register(lua_State *L, int module)
{
    fx_set_functions(L, module, terminal_functions);
}
