/* N threads, each with its own Lua 5.4 state, open the statically linked
 * flexiroam core at the same moment and create a libcurl session: libcurl's
 * global init must run exactly once in the process. Linked with
 * -Wl,--wrap=curl_global_init, which routes the core's call through the
 * counter below; the pause inside it keeps the window wide open, so an
 * unguarded "if (!done) init" would be entered by several threads.
 *
 *   curl_init_once N   -> prints "curl_global_init calls: K, states: N", exit 0 iff K == 1 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_flexiroam_core(lua_State *L);
CURLcode __real_curl_global_init(long flags);
CURLcode __wrap_curl_global_init(long flags);

static atomic_int calls;
static atomic_int failures;
static pthread_barrier_t start;

CURLcode __wrap_curl_global_init(long flags)
{
    struct timespec pause = {0, 50 * 1000 * 1000};
    atomic_fetch_add(&calls, 1);
    nanosleep(&pause, NULL);
    return __real_curl_global_init(flags);
}

static const char *const chunk =
    "local core = require 'flexiroam.core'\n"
    "local s = core.session { timeout_ms = 1000 }\n"
    "s:close()\n"
    "return core.curl_version()\n";

static void *open_state(void *unused)
{
    lua_State *L = luaL_newstate();
    (void)unused;
    if (L == NULL) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    luaL_openlibs(L);
    pthread_barrier_wait(&start);
    luaL_requiref(L, "flexiroam.core", luaopen_flexiroam_core, 0);
    lua_pop(L, 1);
    if (luaL_dostring(L, chunk) != LUA_OK) {
        fprintf(stderr, "state failed: %s\n", lua_tostring(L, -1));
        atomic_fetch_add(&failures, 1);
    }
    lua_close(L);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 8;
    pthread_t threads[64];
    if (n < 1 || n > 64) {
        fprintf(stderr, "usage: curl_init_once N (1..64)\n");
        return 2;
    }
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, open_state, NULL) != 0)
            return 1;
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    printf("curl_global_init calls: %d, states: %d, failures: %d\n", atomic_load(&calls), n,
           atomic_load(&failures));
    return atomic_load(&calls) == 1 && atomic_load(&failures) == 0 ? 0 : 1;
}
