--- flexiroam.json: the C core's JSON codec.
-- decode(str [, opts]) -> value | nil, err
-- encode(value [, opts]) -> string | nil, err
-- null, array([t]), is_array(t), array_mt, empty_array
return require("flexiroam.core").json
