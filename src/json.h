/* Shared by the JSON decoder and encoder: how arrays, null and the empty
 * array are represented in Lua. */
#ifndef FLEXIROAM_JSON_H
#define FLEXIROAM_JSON_H

#include "compat.h"

/* Registry key of the metatable every decoded array carries, and that
 * json.array() sets: it is what keeps `[]` and `{}` apart after a decode. */
#define FX_JSON_ARRAY_MT "flexiroam.json.array"

/* JSON null is a light userdata holding NULL, the very value lua-cjson uses
 * as cjson.null, so tables pass between the two codecs unchanged. */
#define fx_json_pushnull(L) lua_pushlightuserdata((L), NULL)

/* json.empty_array: a light userdata whose address is this object's. */
extern const char fx_json_empty_array_tag;
#define fx_json_push_empty_array(L) lua_pushlightuserdata((L), (void *)&fx_json_empty_array_tag)

#define FX_JSON_DEFAULT_MAX_DEPTH 1000

/* Each sets its function(s) into the table at index `module`. */
void fx_json_decode_register(lua_State *L, int module);
void fx_json_encode_register(lua_State *L, int module);

/* Decodes the n bytes at p, which must be followed by a NUL byte and stay
 * put while the decode runs (a buffer a userdata on the stack owns), with
 * the json.decode options at absolute stack index `opts` (0: none), as json.decode
 * would decode them as a string: pushes the value and returns 1, or pushes
 * nothing and returns 0 when the text is not JSON it takes (the caller
 * then hands the bytes over as they are). Raises as json.decode does on
 * misuse of the options. The decode module must have been registered. */
int fx_json_decode_bytes(lua_State *L, const char *p, size_t n, int opts);

/* Pushes the whole `flexiroam.json` table. */
void fx_json_open(lua_State *L);

#endif
