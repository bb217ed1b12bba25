--- What the reference manual and the editor types say about each operation
-- of flexiroam.operations: a sentence per operation and per parameter (the
-- things the table does not hold), and the facts drawn from the table
-- itself (parameter types, required parameters, answer, model, retry mode,
-- error kinds). tools/ldoc_operations.lua and tools/types.lua both read it,
-- so the manual and the editor say the same thing.
--
-- An operation or a parameter added to the table without its entry here
-- stops both generators with a message naming it.
local M = {}

--- One sentence per operation: what it does.
M.SUMMARIES = {
  list_inventory = "One page of the SIM inventory, filtered by chip type and one search.",
  get_sim = "One SIM, by its ICCID.",
  update_sim = "Sets a SIM's device and user fields (only the fields given; json.null clears one).",
  get_activation = "The activation code of an eSIM: the LPA string its QR code encodes (a physical SIM is a 422).",
  list_plans = "One page of the plan catalogue, filtered by chip type, plan type and country.",
  purchase_plan = "Buys a one-time plan onto a SIM, charged once per reference.",
  list_orders = "One page of the orders, filtered by SIM or reference.",
  get_usage = "A SIM's data usage on its current plan.",
  create_subscription = "Subscribes a SIM to a recurring plan, charged once per reference.",
  list_subscriptions = "One page of the subscriptions, filtered by SIM and status.",
  cancel_subscription = "Cancels a subscription (cancelling twice answers the same record).",
  update_auto_topup = "Sets a SIM's automatic top-up (fields left out keep their value).",
}

--- Per parameter name: what it is, and where the table's type (an
-- operation's `types`; a string when it names none) is not all an editor
-- should know, the finer type in LuaLS syntax: the values a string takes,
-- an object's class. A boolean or an integer is the table's alone.
M.PARAMS = {
  iccid = { doc = "the SIM's ICCID: 19 or 20 digits with a valid Luhn check digit, as a string" ..
    " (a number loses leading zeros); checked before anything is sent" },
  chip_type = { type = '"esim"|"psim"', doc = "only eSIMs or only physical SIMs" },
  search_by = { type = '"availability"|"iccid"|"sku"|"subscribed"', doc = "what `search` matches" },
  search = { doc = 'the value search_by matches: "free"/"used", an ICCID, a SKU, "0"/"1"' },
  page_key = { doc = "the page_key of the previous page, for the next one" },
  limit = { doc = "items per page, 1 to 100 (default 20)" },
  device_info = { type = "flexiroam.DeviceInfo", doc = "the device's fields to set: name, imei, id, email" },
  user_info = { type = "flexiroam.UserInfo", doc = "the user's fields to set: username, department" },
  type = { type = '"one_time"|"recurring"', doc = "one-time plans or recurring (subscription) plans" },
  country = { doc = 'a country the plan covers, ISO 3166-1 alpha-3 ("FRA")' },
  plan_id = { doc = 'the plan\'s id ("FRA-3GB-7D")' },
  reference = { doc = "your id of this sale: the API charges once per reference, and a call" ..
    " sent again under it answers the original record (default: a random one)" },
  status = { type = '"active"|"cancelled"', doc = "only subscriptions in this status" },
  subscription_id = { doc = "the subscription's id" },
  enabled = { doc = "whether the automatic top-up is on" },
  threshold = { doc = "top up when the balance falls under this: a percentage (0-100) or bytes" },
  threshold_in_percentage = { doc = "whether threshold is a percentage (else bytes)" },
  quantity = { doc = "how many of the current plan's data each top-up adds (1-10)" },
}

--- What each retry mode means for a caller (see flexiroam.operations).
M.MODES = {
  read = "a read: sent again after any failure a retry may fix",
  idempotent = "a write whose repeat leaves the same state: sent again like a read",
  reference = "a write the API charges once per reference: after an unclear failure the SDK looks the" ..
    " reference up before sending again, under the same reference",
  unsafe = "a write sent again only when it provably never left",
}

--- The kinds of error every call may answer (flexiroam.errors.KINDS).
M.COMMON_KINDS = { "network", "timeout", "tls", "too_large", "http", "auth", "forbidden", "validation",
  "rate_limited", "server", "decode", "api" }

local function fail(message) error("tools/operation_docs: " .. message, 0) end

--- The LuaLS type of parameter `p` of operation `name`: the table's, or
-- PARAMS's finer one (`entry`), which must agree with it.
function M.param_type(name, op, p, entry)
  local table_type = (op.types or {})[p] or "string"
  if table_type == "object" then
    return entry.type or fail("parameter '" .. p .. "' of " .. name .. " is an object: PARAMS names its class")
  end
  if entry.type == nil then return table_type end
  if table_type ~= "string" or not entry.type:find('^"') then
    fail("parameter '" .. p .. "' of " .. name .. " has the type " .. table_type .. " in flexiroam.operations:" ..
      " PARAMS may only list the values a string takes (\"a\"|\"b\") or an object's class")
  end
  return entry.type
end

--- The operation's parameters, each {name =, type =, doc =, required =}, in
-- the table's order.
function M.params(name, op)
  local required = {}
  for _, p in ipairs(op.required or {}) do required[p] = true end
  local out = {}
  for _, p in ipairs(op.params or {}) do
    local entry = M.PARAMS[p] or fail("parameter '" .. p .. "' of " .. name .. " has no entry in PARAMS")
    out[#out + 1] = { name = p, type = M.param_type(name, op, p, entry), doc = entry.doc,
      required = required[p] == true }
  end
  return out
end

--- The sentence saying what the operation does.
function M.summary(name)
  return M.SUMMARIES[name] or fail("operation '" .. name .. "' has no entry in SUMMARIES")
end

--- The type of an answered record: "flexiroam.SIM", ..., or "table".
function M.record_type(op)
  return op.model and ("flexiroam." .. op.model) or "table"
end

--- What a successful call answers, in words.
function M.answer(op)
  local record = op.model and ((op.model:match("^[AEIOU]") and "an " or "a ") .. op.model .. " model") or
    "a plain table"
  if op.answer == "list" then
    return "a page {items = {...}, page_key = string|nil}: items are each " .. record ..
      "; page_key, when present, asks for the next page"
  end
  return record
end

--- The error kinds the operation may answer: the common ones, plus
-- not_found where it names a record, conflict and reference_reused for a
-- charged write, indeterminate for a write whose outcome may stay unknown.
function M.error_kinds(op)
  local kinds = {}
  for i, k in ipairs(M.COMMON_KINDS) do kinds[i] = k end
  local names = {}
  for _, p in ipairs(op.required or {}) do names[p] = true end
  if names.iccid or names.subscription_id then kinds[#kinds + 1] = "not_found" end
  if op.mode == "reference" then
    for _, k in ipairs { "conflict", "reference_reused", "indeterminate" } do kinds[#kinds + 1] = k end
  end
  return kinds
end

--- The request and how a failed one is sent again:
-- "`GET /path`; retry mode read, ...".
function M.request(op)
  return "`" .. op.method .. " " .. op.path .. "`; retry mode " .. M.mode(op) .. "."
end

--- The retry mode's sentence ("read: ...").
function M.mode(op)
  local mode = op.mode or fail("an operation without a mode")
  return mode .. ", " .. (M.MODES[mode] or fail("unknown mode " .. mode))
end

--- The operation names, sorted.
function M.names(operations)
  local names = {}
  for name in pairs(operations) do names[#names + 1] = name end
  table.sort(names)
  return names
end

return M
