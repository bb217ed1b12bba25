--- flexiroam.json: the C core's JSON codec. Integers stay exact, floats
-- round-trip, arrays stay arrays (json.array_mt), strict RFC 8259 both ways,
-- errors instead of crashes. Also flexiroam.json of require "flexiroam".
-- @module flexiroam.json

--- Decodes a JSON text.
-- @function decode
-- @string text the JSON text
-- @tparam[opt] table opts null_as_nil, big_integers ("float", "string" or "error"), max_depth (1000),
-- select (a tree {name = true | subtree} of the fields to keep) and select_at ("items" or "item"),
-- select_meta ({[select or a table in it] = metatable}: set on the records, and on each object kept
-- under that subtree, as they are built)
-- @return the value (objects and arrays as tables; null as json.null)
-- @return[2] nil
-- @return[2] an error object of kind "decode": message, offset, excerpt
-- @raise arguments of the wrong type

--- Encodes a value as JSON.
-- @function encode
-- @param value a table, string, number, boolean, json.null or json.empty_array
-- @tparam[opt] table opts sort_keys, max_depth (1000)
-- @treturn string the JSON text
-- @return[2] nil
-- @return[2] an error object of kind "encode", naming the path of the value it could not encode
-- @raise arguments of the wrong type

--- Marks a table as an array (it encodes as [...] even when empty).
-- @function array
-- @tparam[opt] table t the table (default: a new empty one)
-- @treturn table t, with the metatable json.array_mt

--- Whether a table is marked as an array (decoded from [...] or by json.array).
-- @function is_array
-- @param t anything
-- @treturn boolean

--- The index of the first element of a list that is not a JSON object, or nil: an element that is not a
-- table, or is a table marked as an array. Elements 1 to the list's raw length.
-- @function first_non_object
-- @tparam table list a list (the items of a list answer, say)
-- @treturn ?integer the index of its first element that is no object
-- @raise when list is not a table

--- JSON null: a light userdata NULL, the same value as lua-cjson's cjson.null.
-- @field null

--- A value that always encodes as [].
-- @field empty_array

--- The metatable of every array the decoder makes.
-- @field array_mt

--- Whether decode takes select (selective decode): true in this build.
-- @field can_select

--- Whether strings are scanned, checked and copied 16 bytes at a time with SSSE3 (x86 CPUs that have
-- it); false elsewhere, or with FLEXIROAM_JSON_PORTABLE=1 in the environment. Both ways give the same
-- results.
-- @field simd

return require("flexiroam.core").json
