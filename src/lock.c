/* core.lock(path) -> lock | nil, message, "locked" | "io"
 *
 * Opens (creating it, 0644) the file at `path` and takes an exclusive
 * flock on it without waiting: a second process asking for the same file
 * gets nil and the reason "locked" at once. The lock belongs to a userdata
 * that releases it (closes the descriptor) on lock:close(), __gc and
 * __close alike; the kernel also drops it when the process dies, however
 * it dies, so a killed batch never leaves its journal locked. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "handle.h"
#include "lock.h"

#define LOCK_MT "flexiroam.lock"

typedef struct fx_lock {
    int fd; /* -1 once released */
} fx_lock;

static int lock_release(lua_State *L)
{
    fx_lock *l = (fx_lock *)luaL_checkudata(L, 1, LOCK_MT);
    if (l->fd >= 0) {
        (void)close(l->fd); /* closing the descriptor drops the flock */
        l->fd = -1;
    }
    return 0;
}

static int lock_tostring(lua_State *L)
{
    fx_lock *l = (fx_lock *)luaL_checkudata(L, 1, LOCK_MT);
    lua_pushfstring(L, "flexiroam.lock: %p (%s)", (void *)l, l->fd >= 0 ? "held" : "released");
    return 1;
}

static int lock_held(lua_State *L)
{
    fx_lock *l = (fx_lock *)luaL_checkudata(L, 1, LOCK_MT);
    lua_pushboolean(L, l->fd >= 0);
    return 1;
}

static int lock_new(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    fx_lock *l;
    int fd;
    if (len == 0 || strlen(path) != len)
        return luaL_argerror(L, 1, "a file path without NUL bytes");
    /* The userdata (and its __gc) first: nothing below may leak the fd. */
    l = (fx_lock *)fx_handle_new(L, sizeof *l, LOCK_MT);
    l->fd = -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(e));
        lua_pushliteral(L, "io");
        return 3;
    }
    l->fd = fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        (void)close(fd);
        l->fd = -1;
        lua_pushnil(L);
        if (e == EWOULDBLOCK)
            lua_pushfstring(L, "%s is locked by another process", path);
        else
            lua_pushfstring(L, "cannot lock %s: %s", path, strerror(e));
        lua_pushstring(L, e == EWOULDBLOCK ? "locked" : "io");
        return 3;
    }
    return 1;
}

static const luaL_Reg lock_methods[] = {{"close", lock_release}, {"held", lock_held}, {NULL, NULL}};
static const luaL_Reg lock_functions[] = {{"lock", lock_new}, {NULL, NULL}};

void fx_lock_register(lua_State *L, int module)
{
    fx_handle_type(L, LOCK_MT, lock_methods, lock_release, lock_tostring);
    fx_set_functions(L, module, lock_functions);
}
