/* A blocking sleep that does not spin (nanosleep, resumed after signals)
 * and a clock that never jumps (CLOCK_MONOTONIC), for deadlines that must
 * not stretch or shrink when the wall clock is set; and the wall clock to
 * the microsecond (CLOCK_REALTIME), for times several hosts compare (a
 * cache entry's age), where os.time's whole seconds are too coarse. */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "handle.h"

/* A day: longer waits are a caller's bug, and time_t conversion stays safe. */
#define MAX_SLEEP_SECONDS 86400.0

/* core.sleep(seconds): returns after at least that long; 0, negative and
 * NaN return at once. */
static int clock_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec req, rem;
    if (!(s > 0))
        return 0;
    if (s > MAX_SLEEP_SECONDS)
        s = MAX_SLEEP_SECONDS;
    req.tv_sec = (time_t)s;
    req.tv_nsec = (long)((s - (lua_Number)req.tv_sec) * 1e9);
    if (req.tv_nsec > 999999999L)
        req.tv_nsec = 999999999L;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
    return 0;
}

/* Pushes clock `id`'s time in seconds, as a number. */
static int push_clock(lua_State *L, clockid_t id, const char *name)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return luaL_error(L, "clock_gettime(%s) failed", name);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.monotonic() -> seconds from an arbitrary origin, as a number. */
static int clock_monotonic(lua_State *L)
{
    return push_clock(L, CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
}

/* core.realtime() -> seconds since 1970 (UTC), as a number. */
static int clock_realtime(lua_State *L)
{
    return push_clock(L, CLOCK_REALTIME, "CLOCK_REALTIME");
}

static const luaL_Reg clock_functions[] = {
    {"sleep", clock_sleep}, {"monotonic", clock_monotonic}, {"realtime", clock_realtime}, {NULL, NULL}};

void fx_clock_register(lua_State *L, int module)
{
    fx_set_functions(L, module, clock_functions);
}
