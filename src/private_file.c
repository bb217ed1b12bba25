/* core.read_private_file(path [, max_bytes]) -> text | nil, message, reason
 *
 * Reads a file that holds a secret (the command line's API key file) only
 * when nobody else can: a regular file owned by this user, with no
 * permission bit for the group or others (0600, 0400). The checks are made
 * with fstat on the descriptor that is then read, so the file checked is
 * the file read, whatever is renamed in between. reason: "missing", "type"
 * (not a regular file), "owner", "mode", "too_large" or "io". */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handle.h"
#include "private_file.h"

#define DEFAULT_MAX_BYTES 65536

/* nil, "<path>: <why>", reason; the descriptor (if any) closed. The path is
 * the caller's own words; nothing of the file's content is ever quoted. */
static int refuse(lua_State *L, int fd, const char *path, const char *reason, const char *why)
{
    if (fd >= 0)
        (void)close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, why);
    lua_pushstring(L, reason);
    return 3;
}

static int read_private_file(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    lua_Integer max = luaL_optinteger(L, 2, DEFAULT_MAX_BYTES);
    char why[160];
    struct stat st;
    luaL_Buffer b;
    size_t total = 0;
    int fd;
    if (len == 0 || strlen(path) != len)
        return luaL_argerror(L, 1, "a file path without NUL bytes");
    if (max < 1 || max > 16 * 1024 * 1024)
        return luaL_argerror(L, 2, "a size from 1 to 16 MiB");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return refuse(L, -1, path, errno == ENOENT ? "missing" : "io", strerror(errno));
    if (fstat(fd, &st) != 0)
        return refuse(L, fd, path, "io", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return refuse(L, fd, path, "type", "not a regular file");
    if (st.st_uid != geteuid()) {
        snprintf(why, sizeof why, "belongs to uid %lu, not to this user: a key file must be your own",
                 (unsigned long)st.st_uid);
        return refuse(L, fd, path, "owner", why);
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(why, sizeof why, "mode %04o lets others read or change it: a key file must be 0600 (chmod 600)",
                 (unsigned)(st.st_mode & 07777));
        return refuse(L, fd, path, "mode", why);
    }
    if (st.st_size > max) {
        snprintf(why, sizeof why, "larger than %ld bytes: not a key file", (long)max);
        return refuse(L, fd, path, "too_large", why);
    }
    luaL_buffinit(L, &b);
    for (;;) {
        char *chunk = luaL_prepbuffer(&b);
        ssize_t n = read(fd, chunk, LUAL_BUFFERSIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return refuse(L, fd, path, "io", strerror(errno));
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > (size_t)max) {
            snprintf(why, sizeof why, "larger than %ld bytes: not a key file", (long)max);
            return refuse(L, fd, path, "too_large", why);
        }
        luaL_addsize(&b, (size_t)n);
    }
    (void)close(fd);
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg private_file_functions[] = {{"read_private_file", read_private_file}, {NULL, NULL}};

void fx_private_file_register(lua_State *L, int module)
{
    fx_set_functions(L, module, private_file_functions);
}
