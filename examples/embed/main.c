/* embed: a host program with Lua 5.4 and the flexiroam C core linked in
 * (libflexiroam_core.a): no flexiroam/core.so on disk, nothing for
 * package.cpath to find. The Lua layer (the .lua files under lua/) still comes
 * from package.path, i.e. LUA_PATH_5_4 or the host's own setting.
 *
 *   embed [--preload] [--threads N] script.lua [args...]
 *
 * The script runs in a fresh Lua state with `...` = thread number (0 when
 * alone), then the args; what it returns is printed. With --threads N it
 * runs in N states on N threads at once, as a multi-threaded host would.
 * The exit status is 0 only when every run succeeded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_flexiroam_core(lua_State *L);

#define MAX_THREADS 64

struct run {
    const char *script;
    int argc;
    char **argv;
    int id;
    int failed;
    char result[1024];
};

static int use_preload;

/* Two ways to hand a linked-in module to `require`. */
static void register_core(lua_State *L)
{
    if (use_preload) {
        /* package.preload: opened on the first require; also how a Lua 5.1
         * or LuaJIT host does it (they have no luaL_requiref). */
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "preload");
        lua_pushcfunction(L, luaopen_flexiroam_core);
        lua_setfield(L, -2, "flexiroam.core");
        lua_pop(L, 2);
    } else {
        /* luaL_requiref: opened now, recorded in package.loaded. */
        luaL_requiref(L, "flexiroam.core", luaopen_flexiroam_core, 0);
        lua_pop(L, 1);
    }
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = luaL_tolstring(L, 1, NULL); /* an error object with __tostring */
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static void *run_script(void *data)
{
    struct run *r = (struct run *)data;
    lua_State *L = luaL_newstate();
    int i, status;
    if (L == NULL) {
        snprintf(r->result, sizeof r->result, "cannot create a Lua state");
        r->failed = 1;
        return NULL;
    }
    luaL_openlibs(L);
    register_core(L);

    lua_createtable(L, r->argc, 1);
    lua_pushstring(L, r->script);
    lua_rawseti(L, -2, 0);
    for (i = 0; i < r->argc; i++) {
        lua_pushstring(L, r->argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");

    lua_pushcfunction(L, traceback);
    status = luaL_loadfile(L, r->script);
    if (status == LUA_OK) {
        lua_pushinteger(L, r->id);
        for (i = 0; i < r->argc; i++)
            lua_pushstring(L, r->argv[i]);
        status = lua_pcall(L, r->argc + 1, 1, 1);
    }
    snprintf(r->result, sizeof r->result, "%s", luaL_tolstring(L, -1, NULL));
    r->failed = status != LUA_OK;
    lua_close(L);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: embed [--preload] [--threads N] script.lua [args...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct run runs[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    int threads_n = 0, i = 1, n, failed = 0;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--preload") == 0) {
            use_preload = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads_n = atoi(argv[++i]);
            if (threads_n < 1 || threads_n > MAX_THREADS)
                return usage();
        } else {
            return usage();
        }
    }
    if (i >= argc)
        return usage();

    n = threads_n ? threads_n : 1;
    for (int t = 0; t < n; t++) {
        runs[t].script = argv[i];
        runs[t].argc = argc - i - 1;
        runs[t].argv = argv + i + 1;
        runs[t].id = threads_n ? t + 1 : 0;
    }
    if (threads_n == 0) {
        run_script(&runs[0]);
    } else {
        for (int t = 0; t < n; t++) {
            if (pthread_create(&threads[t], NULL, run_script, &runs[t]) != 0) {
                fprintf(stderr, "embed: cannot start thread %d\n", t + 1);
                return 1;
            }
        }
        for (int t = 0; t < n; t++)
            pthread_join(threads[t], NULL);
    }
    for (int t = 0; t < n; t++) {
        FILE *out = runs[t].failed ? stderr : stdout;
        if (threads_n)
            fprintf(out, "thread %d: ", runs[t].id);
        fprintf(out, "%s\n", runs[t].result);
        failed |= runs[t].failed;
    }
    return failed ? 1 : 0;
}
