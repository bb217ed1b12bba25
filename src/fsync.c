/* core.fsync(file | path) -> true | nil, message, reason
 *
 * Lua flushes a file to the kernel (file:flush) but has no way to ask the
 * kernel to put it on the disk; a power cut then loses what is only in the
 * page cache. The batch journal writes a purchase's reference before the
 * purchase is sent, and needs that line to survive anything, so:
 *
 *   core.fsync(file)  an open Lua file handle (io.open): its buffer is
 *                     flushed, then fsync(2) on its descriptor;
 *   core.fsync(path)  a path opened read-only, fsync(2), closed: for a
 *                     directory, this makes a new file's entry durable.
 *
 * A handle that is closed, or anything else, is misuse and raises. reason:
 * "unsupported" (EINVAL, ENOTSUP: a pipe, or a filesystem that cannot sync
 * a directory) or "io" (the disk refused: EIO, ENOSPC, EROFS, ...). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lualib.h> /* LUA_FILEHANDLE on 5.1/LuaJIT (5.2+ has it in lauxlib.h) */

#include "fsync.h"
#include "handle.h"

static int refuse(lua_State *L, const char *what, int e)
{
    lua_pushnil(L);
    lua_pushfstring(L, "cannot sync %s: %s", what, strerror(e));
#if defined(ENOTSUP) && defined(EOPNOTSUPP) && ENOTSUP != EOPNOTSUPP
    lua_pushstring(L, (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP) ? "unsupported" : "io");
#else
    lua_pushstring(L, (e == EINVAL || e == ENOTSUP) ? "unsupported" : "io");
#endif
    return 3;
}

/* The FILE * of an open Lua file handle; raises on anything else. On 5.2+
 * the handle is a luaL_Stream (closef NULL once closed); on 5.1 and
 * LuaJIT a userdata whose first field is the FILE * (NULL once closed). */
static FILE *file_of(lua_State *L, int i)
{
#if LUA_VERSION_NUM >= 502
    luaL_Stream *s = (luaL_Stream *)luaL_testudata(L, i, LUA_FILEHANDLE);
    if (s == NULL)
        luaL_argerror(L, i, "an open file (io.open) or a path");
    if (s->closef == NULL || s->f == NULL)
        luaL_argerror(L, i, "an open file, not a closed one");
    return s->f;
#else
    FILE **p = (FILE **)luaL_testudata(L, i, LUA_FILEHANDLE);
    if (p == NULL)
        luaL_argerror(L, i, "an open file (io.open) or a path");
    if (*p == NULL)
        luaL_argerror(L, i, "an open file, not a closed one");
    return *p;
#endif
}

static int fsync_file(lua_State *L)
{
    FILE *f = file_of(L, 1);
    int fd;
    if (fflush(f) != 0)
        return refuse(L, "the file", errno);
    fd = fileno(f);
    if (fd < 0)
        return refuse(L, "the file", errno);
    if (fsync(fd) != 0)
        return refuse(L, "the file", errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int fsync_path(lua_State *L)
{
    size_t len;
    const char *path = lua_tolstring(L, 1, &len);
    int fd, e;
    if (len == 0 || strlen(path) != len)
        return luaL_argerror(L, 1, "a path without NUL bytes");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return refuse(L, path, errno);
    if (fsync(fd) != 0) {
        e = errno;
        (void)close(fd);
        return refuse(L, path, e);
    }
    (void)close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int fsync_any(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return fsync_path(L);
    return fsync_file(L);
}

static const luaL_Reg fsync_functions[] = {{"fsync", fsync_any}, {NULL, NULL}};

void fx_fsync_register(lua_State *L, int module)
{
    fx_set_functions(L, module, fsync_functions);
}
