/* The floor of any JSON codec that works through Lua's public C API, for
 * bench/json_bench.lua: how fast a decoder could be that did no parsing at
 * all, only the API calls that building the value takes, and an encoder
 * that did no writing, only the calls that reading the value takes. cjson's
 * time over the floor's is then the most any such codec could reach
 * against cjson on that input (issue 15 asks for 2x on every input; on
 * some the floor itself is under it).
 *
 *   tape(value, array_mt) -> tape, slots  the value flattened (not timed)
 *   build(tape, slots, array_mt) -> value  the decode floor: each table
 *       made at its final size; a string met more than once (a key, a
 *       repeated value) made from its bytes once, then pushed from a stack
 *       slot (as if telling a repeat cost nothing), any other string made
 *       from its bytes; arrays given the array metatable json.decode gives
 *       them; nothing checked
 *   walk(value, array_mt, out_len) -> string  the encode floor: every
 *       member visited with lua_next (arrays by index), every key and
 *       string value fetched with lua_tolstring, numbers with lua_tointegerx;
 *       nothing written but a string of out_len bytes at the end (the real
 *       output's length: making the result string is part of any encode),
 *       copied from a buffer kept from call to call, as json.encode keeps its.
 *
 * Built by `make bench` into build/bench/api_floor.so; bench-only code. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if LUA_VERSION_NUM < 503
#error "api_floor is built for Lua 5.3 and later (the benchmark runs on 5.4)"
#endif

typedef struct {
    char *data;
    size_t len, cap;
} tape_buf;

/* A userdata owns the tape while it is made: an error on the way (a value
 * the tape cannot hold) leaves nothing behind. */
static int tape_buf_gc(lua_State *L)
{
    tape_buf *b = (tape_buf *)lua_touserdata(L, 1);
    free(b->data);
    b->data = NULL;
    return 0;
}

static void put(lua_State *L, tape_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = (b->len + n) * 2 + 64;
        char *d = (char *)realloc(b->data, cap);
        if (d == NULL)
            luaL_error(L, "api_floor: out of memory");
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_tag(lua_State *L, tape_buf *b, char tag, uint32_t n)
{
    put(L, b, &tag, 1);
    put(L, b, &n, sizeof n);
}

/* Stack while flattening: 1 value, 2 array_mt, 3 string -> count (the
 * first pass) or slot (the second), 4 the number of slots given, 5 the
 * tape_buf. A string met more than once (a key, a repeated value) gets a
 * slot: its first occurrence is made from its bytes and kept there ('T'),
 * the others pushed from it ('S'); a string met once is made from its
 * bytes ('s'). The floor so assumes telling a repeat costs nothing. */
static void count_strings(lua_State *L, int array_mt)
{
    int t = lua_gettop(L);
    luaL_checkstack(L, 8, "api_floor: too deep");
    if (lua_type(L, t) == LUA_TSTRING) {
        lua_pushvalue(L, t);
        lua_pushvalue(L, t);
        lua_rawget(L, 3);
        lua_pushinteger(L, lua_tointeger(L, -1) + 1);
        lua_remove(L, -2);
        lua_rawset(L, 3);
        return;
    }
    if (lua_type(L, t) != LUA_TTABLE)
        return;
    (void)array_mt;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            lua_pushvalue(L, -2);
            count_strings(L, array_mt);
            lua_pop(L, 1);
        }
        count_strings(L, array_mt);
        lua_pop(L, 1);
    }
}

static void put_string(lua_State *L, tape_buf *b, int idx)
{
    size_t n;
    const char *s;
    lua_Integer mark;
    lua_pushvalue(L, idx);
    lua_rawget(L, 3);
    mark = lua_tointeger(L, -1);
    lua_pop(L, 1);
    s = lua_tolstring(L, idx, &n);
    if (mark == 1) { /* met once */
        put_tag(L, b, 's', (uint32_t)n);
        put(L, b, s, n);
    } else if (mark > 1) { /* a repeat, met now for the first time: a slot */
        lua_Integer slot = lua_tointeger(L, 4) + 1;
        lua_pushinteger(L, slot);
        lua_replace(L, 4);
        lua_pushvalue(L, idx);
        lua_pushinteger(L, -slot);
        lua_rawset(L, 3);
        uint32_t n32 = (uint32_t)n;
        put_tag(L, b, 'T', (uint32_t)slot);
        put(L, b, &n32, sizeof n32);
        put(L, b, s, n);
    } else { /* its slot */
        put_tag(L, b, 'S', (uint32_t)-mark);
    }
}

static void flatten(lua_State *L, tape_buf *b)
{
    int t = lua_gettop(L);
    luaL_checkstack(L, 8, "api_floor: too deep");
    switch (lua_type(L, t)) {
    case LUA_TTABLE: {
        int is_array = 0;
        if (lua_getmetatable(L, t)) {
            is_array = lua_rawequal(L, -1, 2);
            lua_pop(L, 1);
        }
        if (is_array) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, t), i;
            put_tag(L, b, 'a', (uint32_t)n);
            for (i = 1; i <= n; i++) {
                lua_rawgeti(L, t, i);
                flatten(L, b);
                lua_pop(L, 1);
            }
        } else {
            uint32_t n = 0;
            lua_pushnil(L);
            while (lua_next(L, t)) {
                n++;
                lua_pop(L, 1);
            }
            put_tag(L, b, 'o', n);
            lua_pushnil(L);
            while (lua_next(L, t)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                    luaL_error(L, "api_floor: a key that is not a string");
                put_string(L, b, lua_gettop(L) - 1);
                flatten(L, b);
                lua_pop(L, 1);
            }
        }
        break;
    }
    case LUA_TSTRING:
        put_string(L, b, t);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, t)) {
            lua_Integer v = lua_tointeger(L, t);
            put(L, b, "i", 1);
            put(L, b, &v, sizeof v);
        } else {
            lua_Number v = lua_tonumber(L, t);
            put(L, b, "d", 1);
            put(L, b, &v, sizeof v);
        }
        break;
    case LUA_TBOOLEAN:
        put(L, b, lua_toboolean(L, t) ? "t" : "f", 1);
        break;
    case LUA_TLIGHTUSERDATA:
        put(L, b, "n", 1);
        break;
    default:
        luaL_error(L, "api_floor: cannot flatten a %s", luaL_typename(L, t));
    }
}

static int l_tape(lua_State *L)
{
    tape_buf *b;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L);      /* 3 */
    lua_pushinteger(L, 0); /* 4 */
    b = (tape_buf *)lua_newuserdata(L, sizeof *b); /* 5 */
    memset(b, 0, sizeof *b);
    lua_newtable(L);
    lua_pushcfunction(L, tape_buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    count_strings(L, 2);
    flatten(L, b);
    lua_pop(L, 1);
    lua_pushlstring(L, b->data, b->len);
    lua_pushvalue(L, 4);
    return 2;
}

typedef struct {
    const char *p, *end;
    int slots;  /* the stack index before the first string slot */
    int nslots; /* how many there are */
    int array_mt;
} reader;

/* The next n bytes of the tape. */
static const char *take(lua_State *L, reader *r, size_t n)
{
    const char *at = r->p;
    if ((size_t)(r->end - r->p) < n)
        luaL_error(L, "api_floor: torn tape");
    r->p += n;
    return at;
}

static uint32_t read_u32(lua_State *L, reader *r)
{
    uint32_t v;
    memcpy(&v, take(L, r, sizeof v), sizeof v);
    return v;
}

/* A string slot from the tape, 1..nslots (a tape not made by tape() is
 * refused, never a write outside the slots). */
static int slot_index(lua_State *L, reader *r)
{
    uint32_t k = read_u32(L, r);
    if (k == 0 || k > (uint32_t)r->nslots)
        luaL_error(L, "api_floor: bad tape");
    return (int)k;
}

static void build(lua_State *L, reader *r)
{
    uint32_t n, i;
    if (r->p >= r->end)
        luaL_error(L, "api_floor: torn tape");
    switch (*r->p++) {
    case 'o':
        /* the stack is checked once a container, as a decoder checks it */
        luaL_checkstack(L, 4, "api_floor: too deep");
        n = read_u32(L, r);
        lua_createtable(L, 0, (int)n);
        for (i = 0; i < n; i++) {
            build(L, r); /* the key */
            build(L, r);
            lua_rawset(L, -3);
        }
        break;
    case 'a':
        luaL_checkstack(L, 4, "api_floor: too deep");
        n = read_u32(L, r);
        lua_createtable(L, (int)n, 0);
        for (i = 1; i <= n; i++) {
            build(L, r);
            lua_rawseti(L, -2, (lua_Integer)i);
        }
        lua_pushvalue(L, r->array_mt);
        lua_setmetatable(L, -2);
        break;
    case 'S':
        lua_pushvalue(L, r->slots + slot_index(L, r));
        break;
    case 'T':
        i = (uint32_t)slot_index(L, r);
        n = read_u32(L, r);
        lua_pushlstring(L, take(L, r, n), n);
        lua_pushvalue(L, -1);
        lua_replace(L, r->slots + (int)i);
        break;
    case 's':
        n = read_u32(L, r);
        lua_pushlstring(L, take(L, r, n), n);
        break;
    case 'i': {
        lua_Integer v;
        memcpy(&v, take(L, r, sizeof v), sizeof v);
        lua_pushinteger(L, v);
        break;
    }
    case 'd': {
        lua_Number v;
        memcpy(&v, take(L, r, sizeof v), sizeof v);
        lua_pushnumber(L, v);
        break;
    }
    case 't':
        lua_pushboolean(L, 1);
        break;
    case 'f':
        lua_pushboolean(L, 0);
        break;
    case 'n':
        lua_pushlightuserdata(L, NULL);
        break;
    default:
        luaL_error(L, "api_floor: bad tape");
    }
}

static int l_build(lua_State *L)
{
    size_t len;
    reader r;
    lua_Integer slots;
    r.p = luaL_checklstring(L, 1, &len);
    r.end = r.p + len;
    slots = luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    r.array_mt = 3;
    luaL_argcheck(L, slots >= 0 && slots < 1000000, 2, "a count of slots");
    luaL_checkstack(L, (int)slots + 8, "api_floor: too many strings");
    r.slots = lua_gettop(L);
    r.nslots = (int)slots;
    lua_settop(L, r.slots + (int)slots);
    build(L, &r);
    return 1;
}

/* Sums what it fetches, so that the fetching cannot be optimised away. */
static size_t visit(lua_State *L, int array_mt)
{
    int t = lua_gettop(L);
    size_t sum = 0, n;
    switch (lua_type(L, t)) {
    case LUA_TTABLE: {
        int is_array = 0;
        luaL_checkstack(L, 4, "api_floor: too deep");
        if (lua_getmetatable(L, t)) {
            is_array = lua_rawequal(L, -1, array_mt);
            lua_pop(L, 1);
        }
        if (is_array) {
            lua_Integer len = (lua_Integer)lua_rawlen(L, t), i;
            for (i = 1; i <= len; i++) {
                lua_rawgeti(L, t, i);
                sum += visit(L, array_mt);
                lua_pop(L, 1);
            }
        } else {
            lua_pushnil(L);
            while (lua_next(L, t)) {
                /* a key that is not a string is left as it is: lua_next needs it */
                if (lua_type(L, -2) == LUA_TSTRING) {
                    (void)lua_tolstring(L, -2, &n);
                    sum += n;
                }
                sum += visit(L, array_mt);
                lua_pop(L, 1);
            }
        }
        break;
    }
    case LUA_TSTRING:
        (void)lua_tolstring(L, t, &n);
        sum += n;
        break;
    case LUA_TNUMBER:
        sum += (size_t)lua_tointegerx(L, t, NULL);
        break;
    default:
        sum++;
    }
    return sum;
}

/* The output buffer lives from call to call (an upvalue), as json.encode's
 * does: set once when it grows, then only copied into the result string. */
static int l_walk(lua_State *L)
{
    lua_Integer out_len = luaL_checkinteger(L, 3);
    tape_buf *out = (tape_buf *)lua_touserdata(L, lua_upvalueindex(1));
    size_t sum;
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, out_len >= 0, 3, "a length");
    lua_settop(L, 3);
    lua_pushvalue(L, 1);
    sum = visit(L, 2);
    lua_pop(L, 1);
    if (out->cap < (size_t)out_len + 1) {
        char *d = (char *)realloc(out->data, (size_t)out_len + 1);
        if (d == NULL)
            return luaL_error(L, "api_floor: out of memory");
        out->data = d;
        out->cap = (size_t)out_len + 1;
        memset(d, ' ', out->cap);
    }
    out->data[0] = (char)(' ' + (sum & 0x3F));
    lua_pushlstring(L, out->data, (size_t)out_len);
    return 1;
}

int luaopen_api_floor(lua_State *L);

int luaopen_api_floor(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_tape);
    lua_setfield(L, -2, "tape");
    lua_pushcfunction(L, l_build);
    lua_setfield(L, -2, "build");
    memset(lua_newuserdata(L, sizeof(tape_buf)), 0, sizeof(tape_buf));
    lua_newtable(L);
    lua_pushcfunction(L, tape_buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, l_walk, 1);
    lua_setfield(L, -2, "walk");
    return 1;
}
