--- Turns a transport response into decoded data or an error object: where
-- statuses, bodies that are not JSON and error envelopes are told apart.
local json = require("flexiroam.json")
local errors = require("flexiroam.errors")
local compat = require("flexiroam.compat")
local retry = require("flexiroam.retry")
local selective = require("flexiroam.fields")

local response = {}

local NULL = json.null

-- An integer the running Lua cannot hold exactly (past +-2^53 on LuaJIT,
-- past int64 on 5.4) comes back as a string of its exact digits: a SKU or
-- a byte count is never silently rounded to a neighbouring number.
local DECODE_OPTIONS = { big_integers = "string" }

-- With a selection (flexiroam.fields), the decoder skips every field of a
-- record outside it: the records are the elements of "items" (a list) or
-- the value of "item" (a get); and it gives them and the objects below them
-- the metatables of `select_meta` as it builds them (models.select_meta).
-- Options per answer and select_meta, kept while anything uses them and
-- made again after a collection otherwise: weak values too, so that on
-- LuaJIT (whose weak keys are no ephemerons) an entry, which refers to its
-- key, never keeps a client's models alive.
local select_options = { list = setmetatable({}, { __mode = "kv" }), item = setmetatable({}, { __mode = "kv" }) }
local function decode_options(selection, answer, select_meta)
  local cache = select_options[answer]
  local o = select_meta and cache[select_meta]
  if not o then
    o = { big_integers = "string", select = selection.tree, select_at = answer == "list" and "items" or "item",
      select_meta = select_meta }
    if select_meta then cache[select_meta] = o end
  end
  return o
end

-- The human message of an error body, which servers put under one of
-- several names, as a string or as an object with its own message.
local function message_of(body)
  for _, name in ipairs { "message", "msg", "error" } do
    local v = body[name]
    if type(v) == "string" and v ~= "" then return v end
    if type(v) == "table" and type(v.message) == "string" then return v.message end
  end
  return nil
end

local function header(res, name)
  return res.headers and res.headers[name] or nil
end

--- The id the server gave its answer (x-request-id or request-id), if any:
-- what its operators can look up; the SDK's own is the call's request_id.
function response.server_request_id(res)
  return errors.server_text(header(res, "x-request-id") or header(res, "request-id"), 128)
end

local function base_fields(res, ctx)
  return {
    status = res.status,
    method = ctx.method,
    path = ctx.path,
    server_request_id = response.server_request_id(res),
  }
end

-- The body is redacted before it is cut, so a key straddling the cut
-- cannot leave a prefix of itself behind.
local function excerpt(res, ctx)
  return errors.excerpt(ctx.redact(res.body))
end

local function http_error(res, ctx)
  local fields = base_fields(res, ctx)
  local kind = errors.kind_for_status(res.status)
  local body, message = nil, nil
  if res.body ~= "" then
    local decoded = json.decode(res.body, DECODE_OPTIONS)
    if type(decoded) == "table" then body = decoded end
  end
  if body then
    message = message_of(body)
    if type(body.code) == "string" or compat.math_type(body.code) == "integer" then fields.code = body.code end
    if type(body.fields) == "table" then fields.fields = body.fields end
  else
    fields.body_excerpt = excerpt(res, ctx)
  end
  -- Seconds or an HTTP-date; sent with 429 and 503 mostly, kept from any status.
  fields.retry_after = retry.parse_retry_after(header(res, "retry-after"), ctx.time and ctx.time() or os.time())
  message = message or string.format("HTTP %d%s", res.status,
    body and "" or (res.body == "" and " with an empty body" or " with a body that is not JSON"))
  -- redacted before it is cut, so a key across the cut leaves no prefix
  return errors.new(kind, errors.server_text(ctx.redact(message)), fields)
end

--- response.options(ctx) -> the json.decode options of a 2xx answer, and
-- whether the result is still to be restricted to a selection (a decoder
-- that cannot select). What a transport that decodes (docs/transport.md:
-- `decodes`) is asked to decode with.
function response.options(ctx)
  local selection = ctx.selection
  if not selection then return DECODE_OPTIONS, false end
  if not json.can_select then return DECODE_OPTIONS, true end
  return decode_options(selection, ctx.answer, ctx.select_meta), false
end

--- response.decode(res, ctx) -> table | nil, err
-- ctx: {method=, path=, redact=, time=, and with a selection: selection=,
-- answer=, select_meta=} (redact(text) hides the API key in
-- text a server or a proxy echoed back; time() is the wall clock in epoch
-- seconds, for a Retry-After given as a date). A 2xx the transport decoded
-- itself (res.data, with response.options) is taken as it is.
function response.decode(res, ctx)
  if res.status < 200 or res.status > 299 then
    return nil, http_error(res, ctx)
  end
  local options, restrict = response.options(ctx)
  local data, derr = res.data, nil
  if data == nil then data, derr = json.decode(res.body, options) end
  if data == nil then
    local fields = base_fields(res, ctx)
    fields.body_excerpt = excerpt(res, ctx)
    fields.offset = derr and derr.offset
    local why = res.body == "" and "the response body is empty" or
      ("the response body is not valid JSON (" .. tostring(derr and derr.message) .. ")")
    return nil, errors.new("decode", why, fields)
  end
  if type(data) ~= "table" then
    return nil, errors.new("decode", "the response body is JSON but not an object", base_fields(res, ctx))
  end
  -- The older Flexiroam API answers failures as 200 {"success": false, "msg": ...}.
  if data.success == false then
    local fields = base_fields(res, ctx)
    if data.code ~= nil and data.code ~= NULL then fields.code = data.code end
    return nil, errors.new("api", errors.server_text(ctx.redact(message_of(data) or "the API reported a failure")),
      fields)
  end
  if restrict then return selective.restrict(data, ctx.selection, ctx.answer, ctx.select_meta) end
  return data
end

return response
