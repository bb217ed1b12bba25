--- Model objects: SIM, Plan, Order, Usage, Subscription, Activation.
--
-- A model IS the decoded table of the API's answer, with a metatable that
-- adds methods: every field reads as a plain field (sim.iccid,
-- sim.balances.main_data), fields the SDK does not know are kept as they
-- came, pairs() walks the data only, and flexiroam.json.encode(sim) gives
-- the same JSON as encode(sim:raw()). sim:raw() is a plain shallow copy
-- without methods, for code that must not meet a metatable.
--
-- Methods that call the API use the client whose answer made the model
-- (held in the model's metatable: never a field, never encoded) and follow
-- the SDK's convention: a result, or nil and the error object. Methods
-- that change a model's record on the server (update, set_auto_topup,
-- refresh, cancel) also update the model in place and return it.
--
-- A field wins over a method of the same name (sim.usage would be data if
-- the API ever sent one); models.SIM.usage(sim) still reaches the method.
-- @module flexiroam.models
local compat = require("flexiroam.compat")
local json = require("flexiroam.json")
local esim = require("flexiroam.esim")
local install = require("flexiroam.install")
local options = require("flexiroam.options")
local raise = require("flexiroam.misuse").raise
local fields = require("flexiroam.fields")

local models = {}

local NULL = json.null
-- Per client, one metatable per model class, carrying the client: binding
-- an item is then a single setmetatable (a page of 20 SIMs is on every
-- list call's hot path), not an insert into a weak table per item. They are
-- kept on the client itself, under a key only this module holds: in a table
-- with weak keys, a value that refers to its own key (a metatable carrying
-- the client) keeps that key alive for ever on Lua 5.1 and LuaJIT, which
-- have no ephemerons, and every client that ever made a model leaked
-- (spec/scale_spec.lua).
local BOUND = {}

local function class(name)
  local c = { __name = "flexiroam." .. name, _model = name }
  c.__index = c
  models[name] = c
  return c
end

local SIM, Plan, Order = class("SIM"), class("Plan"), class("Order")
local Usage, Subscription, Activation = class("Usage"), class("Subscription"), class("Activation")

local CLASSES = { SIM = SIM, Plan = Plan, Order = Order, Usage = Usage, Subscription = Subscription,
  Activation = Activation }

-- The metatable of class `c` for models made by `client`: the class's
-- metamethods, methods through __index, and the client.
local function bound_class(client, c)
  local classes = rawget(client, BOUND)
  if not classes then
    classes = {}
    rawset(client, BOUND, classes)
  end
  local b = classes[c]
  if not b then
    b = {}
    for k, v in pairs(c) do
      if type(k) == "string" and k:sub(1, 2) == "__" then b[k] = v end
    end
    b.__index, b._model, b._base, b._client = c, c._model, c, client
    classes[c] = b
  end
  return b
end

-- The metatable of class `c` for models of `client` decoded with only the
-- fields of `selection`: methods as usual, and a field outside the
-- selection raises instead of reading as nil. One per (client, class,
-- selection), kept with the others on the client.
local function selected_class(client, c, selection)
  local base = bound_class(client, c)
  local classes = rawget(client, BOUND)
  -- keyed by the selection itself (compiled once per list of fields), then
  -- by class: no key string to build on every call
  local of_selection = classes[selection]
  if not of_selection then
    of_selection = {}
    classes[selection] = of_selection
  end
  local b = of_selection[c]
  if not b then
    local tree = selection.tree
    b = {}
    for k, v in pairs(base) do b[k] = v end
    b._selection = selection
    b.__index = function(_, k)
      local method = c[k]
      if method ~= nil then return method end
      if type(k) == "string" and tree[k] == nil then fields.not_selected(c._model, k, selection) end
      return nil
    end
    of_selection[c] = b
  end
  return b
end

-- The class a metatable stands for (a class itself, or one bound to a client).
local function class_of(mt)
  if type(mt) ~= "table" then return nil end
  local c = rawget(mt, "_base") or mt
  if CLASSES[rawget(c, "_model")] == c then return c end
  return nil
end

--- Makes a table a model bound to a client (also one you decoded yourself, e.g. from a cache).
-- @tparam flexiroam.client client the client its methods call
-- @string name "SIM", "Plan", "Order", "Usage", "Subscription" or "Activation"
-- @tparam table data the record, without a metatable
-- @treturn table data, now a model
-- @raise an unknown name, data that is not a table or already has another metatable
function models.new(client, name, data)
  local c = CLASSES[name]
  if type(client) ~= "table" then raise("models.new: client must be a client (got %s)", type(client)) end
  if not c then raise("models.new: unknown model '%s'", tostring(name)) end
  if type(data) ~= "table" then raise("models.new: data must be a table") end
  local mt = getmetatable(data)
  if mt ~= nil and class_of(mt) ~= c then raise("models.new: the table already has a metatable") end
  setmetatable(data, bound_class(client, c))
  return data
end

-- Records a call found already made under its reference (the API answered
-- the original, or a lookup found it): weak, never a field of the data.
local replayed = setmetatable({}, { __mode = "k" })

--- Marks a value as the answer of a replayed reference (flexiroam.pipeline).
-- @local
function models.mark_replayed(value)
  if type(value) == "table" then replayed[value] = true end
  return value
end

--- Whether a purchase or subscription came back as the ORIGINAL record of
-- its reference (made by an earlier call, nothing charged again), rather
-- than a new one. Also order:is_replayed().
-- @param value an Order or Subscription
-- @treturn boolean
function models.is_replayed(value)
  return replayed[value] == true
end

--- The model name of a value ("SIM", ...), or nil for anything else.
-- @param value anything
-- @treturn string|nil
function models.kind(value)
  local c = class_of(getmetatable(value))
  return c and c._model or nil
end

--- What client:call answers, as models when the operation names one
-- (op.model): an item, or every item of a page. Data the API shaped
-- unexpectedly (an item that is not an object) is passed through as is.
-- (An answer decoded with only some fields is made of models already: see
-- models.select_meta.)
-- @local
function models.wrap(client, op, data)
  local name = op.model
  if data == nil or not name or not CLASSES[name] then return data end
  local mt = bound_class(client, CLASSES[name])
  local items = data.items
  if op.answer == "list" and type(items) == "table" then
    for i = 1, #items do -- a numeric loop: this runs for every item of every page
      local item = items[i]
      if type(item) == "table" and getmetatable(item) == nil then setmetatable(item, mt) end
    end
  elseif type(data) == "table" and getmetatable(data) == nil then
    setmetatable(data, mt)
  end
  return data
end

--- The metatables json.decode sets while decoding `op`'s answer with only
-- the fields of `selection` (its select_meta, flexiroam.fields.metatables):
-- the records become models of `client` that raise on an unselected field,
-- and so do the objects selected in part below them. One per (client,
-- model, selection), kept with the model's metatable.
-- @local
function models.select_meta(client, op, selection)
  local mt = selected_class(client, CLASSES[op.model], selection)
  local metas = rawget(mt, "_select_meta")
  if not metas then
    metas = fields.metatables(selection, op.model, mt)
    mt._select_meta = metas
  end
  return metas
end

-- model:fields() -> the field paths a model was decoded with ({"iccid",
-- "plan.name"}, sorted), or nil when it holds every field.
local function selected_fields(self)
  local mt = getmetatable(self)
  local selection = type(mt) == "table" and rawget(mt, "_selection")
  if not selection then return nil end
  local out = {}
  for i, path in ipairs(selection.paths) do out[i] = path end
  return out
end

local function present(v)
  return v ~= nil and v ~= NULL
end

-- The client behind a model: raises when there is none (a model built by
-- hand without models.new), which is a programming error.
local function client(self)
  local mt = getmetatable(self)
  local c = type(mt) == "table" and rawget(mt, "_client")
  if not c then
    raise("this %s has no client: make it with flexiroam.models.new", tostring(models.kind(self)))
  end
  return c
end

-- Replaces every field of `self` by those of `fresh` (the answer of a
-- call that returned the record anew): the object the caller holds stays
-- the same one.
local function replace(self, fresh)
  for k in pairs(self) do self[k] = nil end
  for k, v in pairs(fresh) do self[k] = v end
  return self
end

-- Folds the answer of a call that returns the record anew into self:
-- self | nil, err.
local function refreshed(self, answer, err)
  if answer == nil then return nil, err end
  return replace(self, answer)
end

-- Splits {reference=, retries=, ...} into the parameter and the call options.
local function split_reference(where, opts)
  local own, call_opts = options.split(where, opts, { reference = true })
  return own.reference, call_opts
end

local function plan_id_of(where, plan_or_id)
  if type(plan_or_id) == "table" then plan_or_id = plan_or_id.id end
  if type(plan_or_id) ~= "string" or plan_or_id == "" then
    raise("%s: expects a Plan or a plan id (got %s)", where, type(plan_or_id))
  end
  return plan_or_id
end

local function with_iccid(self, params)
  local p = options.copy(params) or {}
  if p.iccid ~= nil and p.iccid ~= self.iccid then raise("the iccid is this SIM's own") end
  p.iccid = self.iccid
  return p
end

-- Every model: sim:raw() -> a plain table of the same fields.
local function raw(self)
  local t = {}
  for k, v in pairs(self) do t[k] = v end
  return t
end

local function client_method(self)
  local mt = getmetatable(self)
  return type(mt) == "table" and rawget(mt, "_client") or nil
end

for _, c in pairs(CLASSES) do
  c.raw = raw
  c.client = client_method
  c.fields = selected_fields
end

local function money(price)
  if type(price) ~= "table" or compat.math_type(price.amount_minor) ~= "integer"
      or type(price.currency) ~= "string" then
    return nil
  end
  -- minor units are hundredths in every currency Flexiroam prices in
  local a = price.amount_minor
  return string.format("%s%d.%02d %s", a < 0 and "-" or "", math.floor(math.abs(a) / 100), math.abs(a) % 100,
    price.currency)
end
--- "12.99 USD" of a price {amount_minor =, currency =}, or nil.
-- @function money
-- @local
models.money = money

local function field(v)
  if not present(v) then return "-" end
  return tostring(v)
end

local function gb(bytes)
  if compat.math_type(bytes) == nil then return "?" end
  return esim.format_bytes(bytes)
end

--- What every model has.
-- @type Model

--- A plain shallow copy of the model's fields, without methods.
-- @function Model:raw
-- @treturn table

--- The client whose answer made the model, or nil.
-- @function Model:client
-- @treturn flexiroam.client|nil

--- The field paths a model was decoded with (fields =, sorted), or nil when it holds every field.
-- @function Model:fields
-- @treturn table|nil {"iccid", "plan.name", ...}

-- SIM ------------------------------------------------------------------

--- A SIM of the inventory (list_inventory, get_sim): iccid, status, chip_type, availability_sku,
-- subscribed, balances.main_data, auto_topup_settings, device_info, ...
-- @type SIM

--- The SIM's data usage (get_usage).
-- @tparam[opt] table opts per-call options
-- @treturn Usage
-- @return[2] nil
-- @return[2] an error object
function SIM:usage(opts) return client(self):get_usage({ iccid = self.iccid }, opts) end

--- The SIM's activation code (get_activation); its `lpa` is the install string.
-- @tparam[opt] table opts per-call options
-- @treturn Activation
-- @return[2] nil
-- @return[2] an error object
function SIM:activation(opts) return client(self):get_activation({ iccid = self.iccid }, opts) end

--- Buys a one-time plan onto the SIM (purchase_plan).
-- @param plan a Plan or a plan id
-- @tparam[opt] table opts reference, and the per-call options
-- @treturn Order
-- @return[2] nil
-- @return[2] an error object
function SIM:purchase(plan, opts)
  local reference, call_opts = split_reference("sim:purchase", opts)
  return client(self):purchase_plan(
    { iccid = self.iccid, plan_id = plan_id_of("sim:purchase", plan), reference = reference }, call_opts)
end

--- Subscribes the SIM to a recurring plan (create_subscription).
-- @param plan a Plan or a plan id
-- @tparam[opt] table opts reference, and the per-call options
-- @treturn Subscription
-- @return[2] nil
-- @return[2] an error object
function SIM:subscribe(plan, opts)
  local reference, call_opts = split_reference("sim:subscribe", opts)
  return client(self):create_subscription(
    { iccid = self.iccid, plan_id = plan_id_of("sim:subscribe", plan), reference = reference }, call_opts)
end

--- Sets the SIM's automatic top-up (update_auto_topup), and the model in place.
-- @tparam table settings enabled, threshold, threshold_in_percentage, quantity
-- @tparam[opt] table opts per-call options
-- @treturn SIM self, as the API answered
-- @return[2] nil
-- @return[2] an error object
function SIM:set_auto_topup(settings, opts)
  if type(settings) ~= "table" then raise("set_auto_topup: expects a table of settings") end
  return refreshed(self, client(self):update_auto_topup(with_iccid(self, settings), opts))
end

--- Sets the SIM's device and user fields (update_sim), and the model in place.
-- @tparam table changes device_info, user_info
-- @tparam[opt] table opts per-call options
-- @treturn SIM self, as the API answered
-- @return[2] nil
-- @return[2] an error object
function SIM:update(changes, opts)
  if type(changes) ~= "table" then raise("update: expects a table of changes") end
  return refreshed(self, client(self):update_sim(with_iccid(self, changes), opts))
end

--- Reads the SIM again (get_sim), into the model in place.
-- @tparam[opt] table opts per-call options
-- @treturn SIM self, as the API has it now
-- @return[2] nil
-- @return[2] an error object
function SIM:refresh(opts)
  return refreshed(self, client(self):get_sim({ iccid = self.iccid }, opts))
end

--- An iterator over this SIM's orders (see Client:orders).
-- @tparam[opt] table params list_orders's other parameters
-- @tparam[opt] table opts per-call options
-- @treturn function
function SIM:orders(params, opts) return client(self):orders(with_iccid(self, params), opts) end
--- An iterator over this SIM's subscriptions (see Client:subscriptions).
-- @tparam[opt] table params list_subscriptions's other parameters
-- @tparam[opt] table opts per-call options
-- @treturn function
function SIM:subscriptions(params, opts) return client(self):subscriptions(with_iccid(self, params), opts) end

local function key_state(value)
  return type(value) == "string" and value:match("^(.-)___") or nil
end

--- Whether nobody has bought a plan onto the SIM yet (availability "free").
-- @treturn boolean
function SIM:is_free() return key_state(self.availability_sku) == "free" end
--- Whether the SIM has a subscription.
-- @treturn boolean
function SIM:is_subscribed() return key_state(self.subscribed) == "1" end
--- Whether the SIM is an eSIM.
-- @treturn boolean
function SIM:is_esim() return self.chip_type == "esim" end

--- The data left on the SIM, in bytes (balances.main_data), or nil.
-- @treturn integer|nil
function SIM:remaining_bytes()
  local b = type(self.balances) == "table" and self.balances.main_data
  return compat.math_type(b) and b or nil
end

function SIM:__tostring()
  local availability = key_state(self.availability_sku) or "?"
  local left = SIM.remaining_bytes(self)
  return string.format("SIM %s (%s, %s, %s%s, sku %s, %s left)", field(self.iccid), field(self.chip_type),
    field(self.status), availability, SIM.is_subscribed(self) and ", subscribed" or "", field(self.sku),
    left and gb(left) or "?")
end

-- Plan -----------------------------------------------------------------

--- A plan of the catalogue (list_plans): id, name, type, coverage, data_bytes, validity_days, price.
-- @type Plan

--- The plan's data in (binary) GB: 3 for a "3 GB" plan (an integer when
-- whole, so that it prints "3", not "3.0"; 0.5 for half a GB).
-- @treturn number|nil
function Plan:data_gb()
  if compat.math_type(self.data_bytes) == nil then return nil end
  local amount = esim.bytes_to_gb(self.data_bytes)
  return math.tointeger and math.tointeger(amount) or amount -- 5.3+; LuaJIT prints 3 anyway
end

--- Whether the plan is a recurring (subscription) plan.
-- @treturn boolean
function Plan:is_recurring() return self.type == "recurring" end

--- Whether the plan covers a country.
-- @string country ISO 3166-1 alpha-3, either case ("FRA")
-- @treturn boolean
function Plan:covers(country)
  if type(country) ~= "string" or type(self.coverage) ~= "table" then return false end
  country = country:upper()
  for _, c in ipairs(self.coverage) do
    if c == country then return true end
  end
  return false
end

--- The price for people: "12.99 USD", or nil when the price is missing.
-- @treturn string|nil
function Plan:price_text() return money(self.price) end

function Plan:__tostring()
  return string.format("Plan %s (%s, %s, %s days, %s)", field(self.id), field(self.type), gb(self.data_bytes),
    field(self.validity_days), money(self.price) or "no price")
end

-- Order ----------------------------------------------------------------

--- An order (purchase_plan, list_orders): id, iccid, plan_id, reference, status, price, created_at.
-- @type Order

--- The SIM the order was sold onto (get_sim).
-- @tparam[opt] table opts per-call options
-- @treturn SIM
-- @return[2] nil
-- @return[2] an error object
function Order:sim(opts) return client(self):get_sim({ iccid = self.iccid }, opts) end
--- Whether the order is completed.
-- @treturn boolean
function Order:is_completed() return self.status == "completed" end
--- Whether this order was already made under its reference before the call that returned it.
-- @treturn boolean
function Order:is_replayed() return models.is_replayed(self) end
--- The price for people: "3.99 USD", or nil.
-- @treturn string|nil
function Order:price_text() return money(self.price) end

function Order:__tostring()
  return string.format("Order %s (%s, plan %s on SIM %s, %s, reference %s)", field(self.id), field(self.status),
    field(self.plan_id), field(self.iccid), money(self.price) or "no price", field(self.reference))
end

-- Usage ----------------------------------------------------------------

--- A SIM's data usage (get_usage): iccid, plan_id, status, data_total_bytes, data_used_bytes,
-- data_remaining_bytes, started_at, expires_at, updated_at.
-- @type Usage

local function counts(self)
  local total, used = self.data_total_bytes, self.data_used_bytes
  if compat.math_type(total) == nil or compat.math_type(used) == nil or total <= 0 then return nil end
  return total, used
end

--- The share of the data used, 0 to 100, or nil when no data was ever added
-- (no plan yet: a percentage of nothing means nothing).
-- @treturn number|nil
function Usage:percent_used()
  local total, used = counts(self)
  if not total then return nil end
  return used * 100 / total
end

--- The share of the data left, 0 to 100, or nil as percent_used.
-- @treturn number|nil
function Usage:percent_remaining()
  local total, used = counts(self)
  if not total then return nil end
  return (total - used) * 100 / total
end

--- The data left in bytes (data_remaining_bytes), or nil.
-- @treturn integer|nil
function Usage:remaining_bytes()
  local r = self.data_remaining_bytes
  return compat.math_type(r) and r or nil
end

--- Whether the plan is running (started, not depleted or expired).
-- @treturn boolean
function Usage:is_active() return self.status == "active" end

function Usage:__tostring()
  local pct = Usage.percent_used(self)
  return string.format("Usage %s (%s, plan %s, %s of %s used%s)", field(self.iccid), field(self.status),
    field(self.plan_id), gb(self.data_used_bytes), gb(self.data_total_bytes),
    pct and string.format(", %.1f%%", pct) or "")
end

-- Subscription ---------------------------------------------------------

--- A subscription (create_subscription, list_subscriptions): id, iccid, plan_id, reference, status,
-- cycle, created_at, renews_at.
-- @type Subscription

--- Cancels the subscription (cancel_subscription), and the model in place.
-- Cancelling twice is not an error.
-- @tparam[opt] table opts per-call options
-- @treturn Subscription self, status "cancelled"
-- @return[2] nil
-- @return[2] an error object
function Subscription:cancel(opts)
  return refreshed(self, client(self):cancel_subscription({ subscription_id = self.id }, opts))
end

--- Whether the subscription is active.
-- @treturn boolean
function Subscription:is_active() return self.status == "active" end
--- Whether this subscription was already made under its reference before the call that returned it.
-- @treturn boolean
function Subscription:is_replayed() return models.is_replayed(self) end

function Subscription:__tostring()
  return string.format("Subscription %s (%s, %s, plan %s on SIM %s, renews %s)", field(self.id), field(self.status),
    field(self.cycle), field(self.plan_id), field(self.iccid), field(self.renews_at))
end

-- Activation -----------------------------------------------------------

--- An eSIM's activation code (get_activation): iccid, lpa, smdp_address, matching_id.
-- @type Activation

--- The LPA string a QR code encodes: the answer's `lpa`, else built from
-- smdp_address and matching_id; nil without either.
-- @treturn string|nil
function Activation:install_string()
  if type(self.lpa) == "string" and self.lpa ~= "" then return self.lpa end
  if type(self.smdp_address) == "string" and type(self.matching_id) == "string" then
    return esim.build_lpa { smdp_address = self.smdp_address, matching_id = self.matching_id }
  end
  return nil
end

--- The parts of the install string (flexiroam.esim.parse_lpa).
-- @treturn table {smdp_address =, matching_id =, ...}
-- @return[2] nil
-- @return[2] a validation error
function Activation:parse()
  local s = Activation.install_string(self)
  if not s then return esim.parse_lpa(nil) end
  return esim.parse_lpa(s)
end

--- The install string and the manual-entry fields, rebuilt from checked
-- parts (flexiroam.install says what each is for, and each platform's
-- limits).
-- @treturn table {lpa =, smdp_address =, activation_code =, confirmation_code =,
-- confirmation_code_required =, ios =} (ios: the iOS 17.4+ install link)
-- @return[2] nil
-- @return[2] a validation error: an activation whose parts do not check
function Activation:install_links() return install.links(self) end

--- The QR code of the install string (flexiroam.qr): render it with
-- m:svg(), m:png(), m:terminal().
-- @tparam[opt] table opts {ec = "M", version =, margin = 4}, as flexiroam.qr.encode's
-- @treturn userdata the QR matrix
-- @return[2] nil
-- @return[2] a validation error: an activation whose parts do not check
function Activation:qr(opts) return install.qr(self, opts, "activation:qr") end

-- The matching id installs the eSIM on any phone: it is a secret, and a
-- summary that may reach a log leaves it out.
function Activation:__tostring()
  return string.format("Activation %s (SM-DP+ %s, matching id hidden)", field(self.iccid), field(self.smdp_address))
end

-- Every method checks its self, by one wrapper made here rather than a line
-- in each: sim.usage() or sim.purchase("FRA-3GB-7D"), a '.' for a ':',
-- would otherwise fail inside the SDK ("this nil has no client") or act on
-- the wrong table. Its self must be a model of the class (bound to a
-- client or not, selected or whole): models.SIM.usage(sim) still works.
-- No method takes more than two arguments besides self: fixed ones, not
-- `...`, which LuaJIT compiles worse. Metamethods are Lua's to call.
for model, c in pairs(CLASSES) do
  local label = model:lower()
  local methods = {}
  for name, f in pairs(c) do
    if type(f) == "function" and name:sub(1, 2) ~= "__" then methods[name] = f end
  end
  for name, f in pairs(methods) do
    c[name] = function(self, a, b)
      local mt = getmetatable(self)
      if mt ~= c and (type(mt) ~= "table" or rawget(mt, "_base") ~= c) then
        raise("%s:%s must be called with ':' (%s:%s(...)), not '.'", label, name, label, name)
      end
      return f(self, a, b)
    end
  end
end

return models
