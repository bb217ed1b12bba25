---@meta flexiroam
-- LuaLS annotations of flexiroam-lua: the client, the models, the errors and
-- the modules of require "flexiroam". Each operation's method and parameters,
-- flexiroam.new's options and the error kinds are in generated.lua (make types).
-- To use them, add this folder to your editor's workspace.library (see
-- luarc.example.json, where ROCK_DIR is what `luarocks show --rock-dir flexiroam` prints); from
-- a checkout, it is this folder.

---A record's device fields (update_sim): a string each, or json.null to clear it.
---@class (exact) flexiroam.DeviceInfo
---@field name? string|lightuserdata
---@field imei? string|lightuserdata
---@field id? string|lightuserdata
---@field email? string|lightuserdata

---A record's user fields (update_sim): a string each, or json.null to clear it.
---@class (exact) flexiroam.UserInfo
---@field username? string|lightuserdata
---@field department? string|lightuserdata

---An entry of flexiroam.operations (or of flexiroam.new's operations).
---@class flexiroam.Operation
---@field method "GET"|"POST"|string
---@field path string
---@field params string[] every accepted parameter, in query-string order
---@field required string[] the parameters that must be present
---@field answer "list"|"item"
---@field model? "SIM"|"Plan"|"Order"|"Usage"|"Subscription"|"Activation"|false
---@field mode? "read"|"idempotent"|"reference"|"unsafe" how a failed request may be sent again
---@field reference? string the parameter a "reference" write is deduplicated by
---@field reconcile? string the list operation that looks such a reference up
---@field cache? number seconds a read may be answered from the catalogue cache
---@field live? boolean never cached
---@field documented? boolean

---Options of one call (any operation method, client:call, client:request, iterators).
---@class flexiroam.CallOptions
---@field retries? integer attempts after the first
---@field deadline_ms? number one bound on every attempt, wait and lookup of this call
---@field timeout_ms? integer one attempt
---@field correlation_id? string sent in the correlation header
---@field request_id? string sent as x-request-id on every attempt
---@field headers? table<string, string> sent on every attempt
---@field fields? string[] reads only: keep only these fields of each record ("iccid", "plan.name")
---@field cache? boolean|number reads only: false asks the API; n accepts an answer at most n s old

---An error object: what a failed call answers after nil. tostring(err) is one line.
---@class flexiroam.Error
---@field kind flexiroam.ErrorKind
---@field message string
---@field status? integer the HTTP status, when an answer came
---@field code? string the API's or the SDK's code ("sim_taken", "out_of_stock", ...)
---@field fields? table<string, string> a validation error's reason per parameter
---@field request_id? string
---@field method? string
---@field path? string
---@field attempts? integer
---@field retry_after? number seconds a 429 or 503 asked to wait
---@field reference? string
---@field retryable? boolean whether the same request, sent again, may succeed
---@field safe_to_retry? boolean whether sending it again cannot cause a second effect
---@field sent? boolean false when nothing can have reached the server
---@field body_excerpt? string
---@field existing? table the record a reused reference names (reference_reused)
---@field cause? flexiroam.Error
---@field items? table the items collect gathered before the failure
---@field order? flexiroam.Order sell_plan: the order made before the failure
---@field sim? flexiroam.SIM sell_plan: the SIM sold

---Price: minor units (hundredths) and a currency.
---@class flexiroam.Money
---@field amount_minor integer
---@field currency string

---What every model has. A model IS the decoded record: fields read as fields.
---@class flexiroam.Model
local Model = {}
---A plain shallow copy of the fields, without methods.
---@return table
function Model:raw() end
---The client whose answer made the model.
---@return flexiroam.Client|nil
function Model:client() end
---The field paths it was decoded with (fields =), or nil when it holds every field.
---@return string[]|nil
function Model:fields() end

---A SIM of the inventory.
---@class flexiroam.SIM: flexiroam.Model
---@field iccid string
---@field id string
---@field sku integer
---@field status string
---@field state string
---@field chip_type "esim"|"psim"
---@field availability_sku string "free___<sku>" or "used___<sku>"
---@field subscribed string "0___<sku>" or "1___<sku>"
---@field balances { main_data: integer, billing_cycle_id: any }
---@field paused_balances { main_data: integer, billing_cycle_id: any }
---@field auto_topup_settings { enabled: boolean, threshold: integer, threshold_in_percentage: boolean, quantity: integer }
---@field device_info flexiroam.DeviceInfo
---@field user_info_username? string
---@field user_info_department? string
---@field creation_date string
---@field first_billed_date? string
local SIM = {}
---@param opts? flexiroam.CallOptions
---@return flexiroam.Usage|nil usage
---@return flexiroam.Error|nil err
function SIM:usage(opts) end
---@param opts? flexiroam.CallOptions
---@return flexiroam.Activation|nil activation
---@return flexiroam.Error|nil err
function SIM:activation(opts) end
---@param plan flexiroam.Plan|string
---@param opts? flexiroam.CallOptions|{reference: string}
---@return flexiroam.Order|nil order
---@return flexiroam.Error|nil err
function SIM:purchase(plan, opts) end
---@param plan flexiroam.Plan|string
---@param opts? flexiroam.CallOptions|{reference: string}
---@return flexiroam.Subscription|nil subscription
---@return flexiroam.Error|nil err
function SIM:subscribe(plan, opts) end
---@param settings { enabled: boolean, threshold?: integer, threshold_in_percentage?: boolean, quantity?: integer }
---@param opts? flexiroam.CallOptions
---@return flexiroam.SIM|nil self
---@return flexiroam.Error|nil err
function SIM:set_auto_topup(settings, opts) end
---@param changes { device_info?: flexiroam.DeviceInfo, user_info?: flexiroam.UserInfo }
---@param opts? flexiroam.CallOptions
---@return flexiroam.SIM|nil self
---@return flexiroam.Error|nil err
function SIM:update(changes, opts) end
---@param opts? flexiroam.CallOptions
---@return flexiroam.SIM|nil self
---@return flexiroam.Error|nil err
function SIM:refresh(opts) end
---@param params? flexiroam.params.list_orders
---@param opts? flexiroam.CallOptions
---@return fun(): flexiroam.Order
function SIM:orders(params, opts) end
---@param params? flexiroam.params.list_subscriptions
---@param opts? flexiroam.CallOptions
---@return fun(): flexiroam.Subscription
function SIM:subscriptions(params, opts) end
---@return boolean
function SIM:is_free() end
---@return boolean
function SIM:is_subscribed() end
---@return boolean
function SIM:is_esim() end
---@return integer|nil
function SIM:remaining_bytes() end

---A plan of the catalogue.
---@class flexiroam.Plan: flexiroam.Model
---@field id string "FRA-3GB-7D"
---@field name string
---@field type "one_time"|"recurring"
---@field coverage string[] ISO 3166-1 alpha-3 codes
---@field data_bytes integer
---@field validity_days integer
---@field price flexiroam.Money
local Plan = {}
---@return number|nil
function Plan:data_gb() end
---@return boolean
function Plan:is_recurring() end
---@param country string
---@return boolean
function Plan:covers(country) end
---@return string|nil
function Plan:price_text() end

---An order.
---@class flexiroam.Order: flexiroam.Model
---@field id string
---@field iccid string
---@field plan_id string
---@field reference string
---@field status string
---@field price flexiroam.Money
---@field created_at string
local Order = {}
---@param opts? flexiroam.CallOptions
---@return flexiroam.SIM|nil sim
---@return flexiroam.Error|nil err
function Order:sim(opts) end
---@return boolean
function Order:is_completed() end
---@return boolean
function Order:is_replayed() end
---@return string|nil
function Order:price_text() end

---A SIM's data usage.
---@class flexiroam.Usage: flexiroam.Model
---@field iccid string
---@field plan_id string
---@field status "not_started"|"active"|"depleted"|"expired"
---@field data_total_bytes integer
---@field data_used_bytes integer
---@field data_remaining_bytes integer
---@field started_at? string
---@field expires_at? string
---@field updated_at string
local Usage = {}
---@return number|nil
function Usage:percent_used() end
---@return number|nil
function Usage:percent_remaining() end
---@return integer|nil
function Usage:remaining_bytes() end
---@return boolean
function Usage:is_active() end

---A subscription.
---@class flexiroam.Subscription: flexiroam.Model
---@field id string
---@field iccid string
---@field plan_id string
---@field reference string
---@field status "active"|"cancelled"
---@field cycle string
---@field created_at string
---@field renews_at string
local Subscription = {}
---@param opts? flexiroam.CallOptions
---@return flexiroam.Subscription|nil self
---@return flexiroam.Error|nil err
function Subscription:cancel(opts) end
---@return boolean
function Subscription:is_active() end
---@return boolean
function Subscription:is_replayed() end

---An eSIM's activation code.
---@class flexiroam.Activation: flexiroam.Model
---@field iccid string
---@field lpa string "LPA:1$<SM-DP+ address>$<matching id>"
---@field smdp_address string
---@field matching_id string
local Activation = {}
---@return string|nil
function Activation:install_string() end
---@return flexiroam.LPA|nil parts
---@return flexiroam.Error|nil err
function Activation:parse() end
---The install string and the manual-entry fields, rebuilt from checked parts.
---@return flexiroam.InstallLinks|nil links
---@return flexiroam.Error|nil err
function Activation:install_links() end
---The QR code of the install string.
---@param opts? flexiroam.QROptions
---@return flexiroam.QRMatrix|nil matrix
---@return flexiroam.Error|nil err
function Activation:qr(opts) end

---What installs an eSIM (activation:install_links()).
---@class flexiroam.InstallLinks
---@field lpa string "LPA:1$<SM-DP+ address>$<matching id>" (what the QR code holds)
---@field smdp_address string manual entry: SM-DP+ Address
---@field activation_code string manual entry: Activation Code
---@field confirmation_code? string
---@field confirmation_code_required boolean
---@field ios string the iOS 17.4+ universal install link

---Options of flexiroam.qr.encode.
---@class flexiroam.QROptions
---@field ec? "L"|"M"|"Q"|"H" error correction (default "M")
---@field version? integer 1 to 40, exact (default: the smallest that fits)
---@field margin? integer quiet zone in modules (default 4)

---A QR code (flexiroam.qr.encode).
---@class flexiroam.QRMatrix
---@field size integer modules per side, the margin included
---@field version integer
---@field ec "L"|"M"|"Q"|"H"
---@field margin integer
local QRMatrix = {}
---Whether the module at (x, y), 0-based, is dark.
---@param x integer
---@param y integer
---@return boolean
function QRMatrix:get(x, y) end
---@param opts? {module?: integer, fg?: string, bg?: string}
---@return string svg one <path>
function QRMatrix:svg(opts) end
---@param opts? {scale?: integer}
---@return string png
function QRMatrix:png(opts) end
---@param opts? {scheme?: "dark"|"light"|"ansi"}
---@return string text UTF-8 half blocks
function QRMatrix:terminal(opts) end
---@param opts? {dark?: string, light?: string}
---@return string
function QRMatrix:text(opts) end
function QRMatrix:close() end

---The parts of an LPA string (flexiroam.esim.parse_lpa).
---@class flexiroam.LPA
---@field smdp_address string
---@field matching_id string
---@field oid? string
---@field confirmation_code_required boolean
---@field format integer

---One call's outcome in a batch.
---@class flexiroam.BatchResult
---@field ok boolean
---@field value? any
---@field err? flexiroam.Error
---@field journaled? boolean

---A batch's summary.
---@class flexiroam.BatchSummary
---@field total integer
---@field ok integer
---@field failed integer
---@field cancelled integer
---@field skipped integer
---@field elapsed number

---What sell_plan answers.
---@class flexiroam.Sale
---@field sim flexiroam.SIM
---@field order flexiroam.Order
---@field activation flexiroam.Activation
---@field replayed boolean

---A client: flexiroam.new(opts). Its operation methods are in generated.lua.
---@class flexiroam.Client
---@field base_url string
local Client = {}
---@param opts? flexiroam.Options
---@return flexiroam.Client
function Client.new(opts) end
---Any operation by name.
---@param name string
---@param params table
---@param opts? flexiroam.CallOptions
---@return any|nil result
---@return flexiroam.Error|nil err
function Client:call(name, params, opts) end
---The raw escape hatch, through the same pipeline.
---@param method string
---@param path string
---@param opts? flexiroam.CallOptions|{query?: table, json?: any, idempotent?: boolean}
---@return any|nil result
---@return flexiroam.Error|nil err
function Client:request(method, path, opts) end
---Every item of a list operation; a failed page raises its error.
---@param name string
---@param params? table
---@param opts? flexiroam.CallOptions|{max_pages?: integer}
---@return fun(): any
function Client:each(name, params, opts) end
---@param params? flexiroam.params.list_inventory
---@param opts? flexiroam.CallOptions|{max_pages?: integer}
---@return fun(): flexiroam.SIM
function Client:inventory(params, opts) end
---@param params? flexiroam.params.list_plans
---@param opts? flexiroam.CallOptions|{max_pages?: integer}
---@return fun(): flexiroam.Plan
function Client:plans(params, opts) end
---@param params? flexiroam.params.list_orders
---@param opts? flexiroam.CallOptions|{max_pages?: integer}
---@return fun(): flexiroam.Order
function Client:orders(params, opts) end
---@param params? flexiroam.params.list_subscriptions
---@param opts? flexiroam.CallOptions|{max_pages?: integer}
---@return fun(): flexiroam.Subscription
function Client:subscriptions(params, opts) end
---Every item of a list operation in one array.
---@param name string
---@param params? table
---@param opts? flexiroam.CallOptions|{max_items?: integer, max_pages?: integer}
---@return any[]|nil items
---@return flexiroam.Error|nil err
function Client:collect(name, params, opts) end
---Many calls at once.
---@param calls table[] {name, params [, opts]} or {name =, params =, opts =, key =}
---@param opts? table concurrency, rate, on_progress, journal, journal_mode, journal_repair, progress, call options
---@return flexiroam.BatchResult[] results
---@return flexiroam.BatchSummary summary
function Client:batch(calls, opts) end
---@param name string
---@param list table[]
---@param opts? table
---@return flexiroam.BatchResult[] results
---@return flexiroam.BatchSummary summary
function Client:map(name, list, opts) end
---@param iccids (string|table)[]
---@param opts? table
---@return flexiroam.BatchResult[] results
---@return flexiroam.BatchSummary summary
function Client:usage_many(iccids, opts) end
---@param purchases { iccid: string, plan_id: string, reference?: string }[]
---@param opts? table
---@return flexiroam.BatchResult[] results
---@return flexiroam.BatchSummary summary
function Client:purchase_many(purchases, opts) end
---@param iccids (string|table)[]
---@param settings { enabled: boolean, threshold?: integer, threshold_in_percentage?: boolean, quantity?: integer }
---@param opts? table
---@return flexiroam.BatchResult[] results
---@return flexiroam.BatchSummary summary
function Client:auto_topup_many(iccids, settings, opts) end
---A free eSIM, the purchase and the activation, in one call.
---@param args { plan_id: string|flexiroam.Plan, reference?: string, iccid?: string }
---@param opts? flexiroam.CallOptions
---@return flexiroam.Sale|nil sale
---@return flexiroam.Error|nil err
function Client:sell_plan(args, opts) end
---The SIMs in use whose remaining data is under a threshold.
---@param args { below_percent?: number, below_bytes?: integer, chip_type?: string, statuses?: string[], max_pages?: integer }
---@param opts? flexiroam.CallOptions
---@return fun(): flexiroam.SIM, flexiroam.Usage
function Client:low_data(args, opts) end
---Releases the connection now.
function Client:close() end

---The JSON codec (flexiroam.json).
---@class flexiroam.jsonlib
---@field null lightuserdata JSON null (the same value as cjson.null)
---@field empty_array userdata always encodes as []
---@field array_mt table the metatable of decoded arrays
---@field can_select boolean
local json = {}
---@param text string
---@param opts? { null_as_nil?: boolean, big_integers?: "float"|"string"|"error", max_depth?: integer, select?: table, select_at?: "items"|"item", select_meta?: table<table, table> }
---@return any value
---@return flexiroam.Error|nil err
function json.decode(text, opts) end
---@param value any
---@param opts? { sort_keys?: boolean, max_depth?: integer }
---@return string|nil text
---@return flexiroam.Error|nil err
function json.encode(value, opts) end
---@param t? table
---@return table
function json.array(t) end
---@param t any
---@return boolean
function json.is_array(t) end
---@param list table
---@return integer|nil index
function json.first_non_object(list) end

---The error type (flexiroam.errors).
---@class flexiroam.errorslib
---@field KINDS table<flexiroam.ErrorKind, string>
---@field mt table the metatable of every error object
local errors = {}
---@param kind flexiroam.ErrorKind
---@param message string
---@param fields? table
---@return flexiroam.Error
function errors.new(kind, message, fields) end
---@param value any
---@return boolean
function errors.is_error(value) end

---The model classes (flexiroam.models).
---@class flexiroam.modelslib
---@field SIM flexiroam.SIM
---@field Plan flexiroam.Plan
---@field Order flexiroam.Order
---@field Usage flexiroam.Usage
---@field Subscription flexiroam.Subscription
---@field Activation flexiroam.Activation
local models = {}
---@param client flexiroam.Client
---@param name "SIM"|"Plan"|"Order"|"Usage"|"Subscription"|"Activation"
---@param data table
---@return flexiroam.Model
function models.new(client, name, data) end
---@param value any
---@return boolean
function models.is_replayed(value) end
---@param value any
---@return string|nil
function models.kind(value) end

---ICCIDs, activation codes and data sizes (flexiroam.esim).
---@class flexiroam.esimlib
---@field KB integer
---@field MB integer
---@field GB integer
local esim = {}
---@param digits string
---@return integer
function esim.luhn_digit(digits) end
---@param value any
---@return string|nil problem
function esim.iccid_problem(value) end
---@param value any
---@return boolean
function esim.is_iccid(value) end
---@param value any
---@param name? string
---@return string|nil iccid
---@return flexiroam.Error|nil err
function esim.check_iccid(value, name) end
---@param iccid string
---@param n? integer
---@return string
function esim.short_iccid(iccid, n) end
---@param text string
---@return flexiroam.LPA|nil parts
---@return flexiroam.Error|nil err
function esim.parse_lpa(text) end
---@param parts { smdp_address: string, matching_id: string, oid?: string, confirmation_code_required?: boolean }
---@return string
function esim.build_lpa(parts) end
---@param bytes number
---@return number
function esim.bytes_to_gb(bytes) end
---@param bytes number
---@return number
function esim.bytes_to_mb(bytes) end
---@param gb number
---@return integer
function esim.gb_to_bytes(gb) end
---@param mb number
---@return integer
function esim.mb_to_bytes(mb) end
---@param bytes number
---@return string
function esim.format_bytes(bytes) end

---The jobs the API exists for (flexiroam.jobs).
---@class flexiroam.jobslib
local jobs = {}
---@param client flexiroam.Client
---@param args { plan_id: string|flexiroam.Plan, reference?: string, iccid?: string }
---@param opts? flexiroam.CallOptions
---@return flexiroam.Sale|nil sale
---@return flexiroam.Error|nil err
function jobs.sell_plan(client, args, opts) end
---@param client flexiroam.Client
---@param args { below_percent?: number, below_bytes?: integer, chip_type?: string, statuses?: string[], max_pages?: integer }
---@param opts? flexiroam.CallOptions
---@return fun(): flexiroam.SIM, flexiroam.Usage
function jobs.low_data(client, args, opts) end
---What a batch's journal records, without sending anything.
---@param path string
---@return table|nil report
---@return flexiroam.Error|nil err
function jobs.inspect(path) end

---A store shared by a fleet (flexiroam.store): ngx.shared or Redis.
---@class flexiroam.Store
---@field kind "ngx_shared"|"redis"|string

---State shared by a fleet (flexiroam.store).
---@class flexiroam.storelib
---@field METHODS string[]
local store = {}
---@param api_key string
---@return string
function store.namespace(api_key) end
---@param dict string|table a lua_shared_dict's name (inside nginx) or the dict
---@param opts? table
---@param where? string
---@return flexiroam.Store
function store.ngx_shared(dict, opts, where) end
---@param conn table|fun(): table a lua-resty-redis or redis-lua connection, or a function returning one
---@param opts? { timeout_ms?: number, down_ms?: number, release?: fun(conn: table) }
---@return flexiroam.Store
function store.redis(conn, opts) end
---@param value any
---@return boolean
function store.is_store(value) end

---QR codes (flexiroam.qr).
---@class flexiroam.qrlib
local qr = {}
---The QR code of `text`, byte for byte; nil and a validation error when it is empty or too long.
---@param text string
---@param opts? flexiroam.QROptions
---@return flexiroam.QRMatrix|nil matrix
---@return flexiroam.Error|nil err
function qr.encode(text, opts) end

---What installs an eSIM (flexiroam.install).
---@class flexiroam.installlib
---@field IOS_LINK string
local install = {}
---@param activation flexiroam.Activation|table
---@return flexiroam.InstallLinks|nil links
---@return flexiroam.Error|nil err
function install.links(activation) end
---@param activation flexiroam.Activation|table
---@param opts? flexiroam.QROptions
---@param where? string
---@return flexiroam.QRMatrix|nil matrix
---@return flexiroam.Error|nil err
function install.qr(activation, opts, where) end

---The module: require "flexiroam".
---@class flexiroam.lib
---@field VERSION string MAJOR.MINOR.PATCH
---@field json flexiroam.jsonlib
---@field errors flexiroam.errorslib
---@field operations table<string, flexiroam.Operation>
---@field models flexiroam.modelslib
---@field esim flexiroam.esimlib
---@field jobs flexiroam.jobslib
---@field store flexiroam.storelib
---@field qr flexiroam.qrlib
---@field install flexiroam.installlib
local flexiroam = {}
---A new client.
---@param opts? flexiroam.Options
---@return flexiroam.Client
function flexiroam.new(opts) end

return flexiroam
