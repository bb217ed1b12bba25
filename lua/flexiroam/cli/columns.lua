--- The columns the command line shows of each kind of record: a compact set
-- for a table a person reads, and every documented field for CSV (the
-- spreadsheet export). `--fields` replaces both with the caller's paths.
-- A column reads its value with rawget, level by level: an absent field is
-- nil, never a method of the model, and never raises (a record decoded
-- with only some fields raises when an unselected one is indexed).
local models = require("flexiroam.models")

local columns = {}

local function split(path)
  local parts = {}
  for segment in (path .. "."):gmatch("(.-)%.") do parts[#parts + 1] = segment end
  return parts
end

--- columns.get(record, path) -> the value at a dotted path, or nil.
function columns.get(record, path)
  local value = record
  for _, name in ipairs(type(path) == "table" and path or split(path)) do
    if type(value) ~= "table" then return nil end
    value = rawget(value, name)
  end
  return value
end

-- The part before "___" of the API's index keys ("free___4024081013108").
local function key_state(value)
  return type(value) == "string" and value:match("^(.-)___") or nil
end

-- A column: header name, the field paths it needs decoded, and how to read
-- its value (a path, or a function of the record for a derived column).
local function path_column(path, format)
  local parts = split(path)
  return { name = path, needs = { path }, format = format, get = function(r) return columns.get(r, parts) end }
end

local function derived(name, needs, get, format)
  return { name = name, needs = needs, get = get, format = format }
end

local BYTES, MONEY = "bytes", "money"

local TABLE = {
  SIM = {
    path_column("iccid"), path_column("sku"), path_column("chip_type"), path_column("status"),
    derived("availability", { "availability_sku" }, function(r) return key_state(rawget(r, "availability_sku")) end),
    derived("subscribed", { "subscribed" }, function(r)
      local s = key_state(rawget(r, "subscribed"))
      return s and (s == "1" and "yes" or "no") or nil
    end),
    derived("data_left", { "balances.main_data" }, function(r) return columns.get(r, "balances.main_data") end,
      BYTES),
  },
  Plan = {
    path_column("id"), path_column("name"), path_column("type"),
    derived("data", { "data_bytes" }, function(r) return rawget(r, "data_bytes") end, BYTES),
    derived("days", { "validity_days" }, function(r) return rawget(r, "validity_days") end),
    path_column("price", MONEY), path_column("coverage"),
  },
  Order = {
    path_column("id"), path_column("iccid"), path_column("plan_id"), path_column("status"),
    path_column("price", MONEY), path_column("created_at"), path_column("reference"),
  },
  Usage = {
    path_column("iccid"), path_column("plan_id"), path_column("status"),
    derived("used", { "data_used_bytes" }, function(r) return rawget(r, "data_used_bytes") end, BYTES),
    derived("total", { "data_total_bytes" }, function(r) return rawget(r, "data_total_bytes") end, BYTES),
    derived("left", { "data_remaining_bytes" }, function(r) return rawget(r, "data_remaining_bytes") end, BYTES),
    path_column("expires_at"),
  },
  Subscription = {
    path_column("id"), path_column("iccid"), path_column("plan_id"), path_column("status"), path_column("cycle"),
    path_column("renews_at"), path_column("reference"),
  },
  Activation = {
    path_column("iccid"), path_column("smdp_address"), path_column("matching_id"), path_column("lpa"),
  },
}

-- Every documented field (docs: the contract), leaves as dotted paths.
local FULL = {
  SIM = {
    "id", "iccid", "sku", "chip_type", "status", "state", "availability_sku", "subscribed", "creation_date",
    "first_billed_date", "invoice_number", "reseller_id", "user_id", "user_info_username", "user_info_department",
    "device_info.name", "device_info.imei", "device_info.id", "device_info.email", "balances.billing_cycle_id",
    "balances.main_data", "auto_topup_settings.enabled", "auto_topup_settings.threshold",
    "auto_topup_settings.threshold_in_percentage", "auto_topup_settings.quantity",
  },
  Plan = { "id", "name", "type", "data_bytes", "validity_days", "coverage", "price.amount_minor", "price.currency" },
  Order = {
    "id", "reference", "iccid", "plan_id", "status", "price.amount_minor", "price.currency", "created_at",
  },
  Usage = {
    "iccid", "plan_id", "status", "data_total_bytes", "data_used_bytes", "data_remaining_bytes", "started_at",
    "expires_at", "updated_at",
  },
  Subscription = { "id", "reference", "iccid", "plan_id", "status", "cycle", "created_at", "renews_at" },
  Activation = { "iccid", "lpa", "smdp_address", "matching_id" },
}

-- A leaf whose name says it counts bytes (shown as GB/MB in a table).
local function is_bytes(path)
  return path:find("_bytes$") ~= nil or path:find("main_data$") ~= nil
end

local function from_paths(paths)
  local out = {}
  for i, path in ipairs(paths) do out[i] = path_column(path, is_bytes(path) and BYTES or nil) end
  return out
end

-- A record's every field for a person: FULL, with a price's two leaves
-- (amount_minor, currency) one money column.
local function detail(paths)
  local out, i = {}, 1
  while i <= #paths do
    local base = paths[i]:match("^(.*)%.amount_minor$")
    if base and paths[i + 1] == base .. ".currency" then
      out[#out + 1] = path_column(base, MONEY)
      i = i + 2
    else
      out[#out + 1] = path_column(paths[i], is_bytes(paths[i]) and BYTES or nil)
      i = i + 1
    end
  end
  return out
end

--- columns.for_model(model, format, fields) -> columns, or nil (the whole
-- record: JSON without --fields, or a record of no known model).
--   format "table": the compact set; "csv": every documented field;
--   "detail": every field for a person (one record as a table);
--   "json"/"ndjson": nil. `fields` (a list of paths) replaces either.
function columns.for_model(model, format, fields)
  if fields then return from_paths(fields) end
  if format == "table" and TABLE[model] then return TABLE[model] end
  if format == "csv" and FULL[model] then return from_paths(FULL[model]) end
  if format == "detail" and FULL[model] then return detail(FULL[model]) end
  return nil
end

--- columns.from_record(record) -> columns of its fields (sorted), nested
-- objects flattened to their leaves: for records of no known model.
function columns.from_record(record)
  local paths = {}
  local function walk(value, prefix, depth)
    local keys = {}
    for k in pairs(value) do
      if type(k) == "string" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v, path = rawget(value, k), prefix .. k
      if type(v) == "table" and depth < 3 and next(v) ~= nil and rawget(v, 1) == nil then
        walk(v, path .. ".", depth + 1)
      else
        paths[#paths + 1] = path
      end
    end
  end
  if type(record) == "table" then walk(record, "", 1) end
  return from_paths(paths)
end

--- columns.needs(cols) -> the field paths to decode for them (selective decode).
function columns.needs(cols)
  local out, seen = {}, {}
  for _, c in ipairs(cols) do
    for _, path in ipairs(c.needs or {}) do
      if not seen[path] then
        seen[path] = true
        out[#out + 1] = path
      end
    end
  end
  return out
end

--- The model name of a record ("SIM", ...), or nil.
columns.model_of = models.kind

columns.BYTES, columns.MONEY = BYTES, MONEY

return columns
