--- Option tables, read in one place: copies, splitting a function's own
-- options from those it passes on, and the checks of numbers and of the
-- per-call options (retries, deadline_ms, timeout_ms, correlation_id) that
-- flexiroam.new, every operation, the iterators and the batch accept.
-- Misuse raises at the caller's line (flexiroam.misuse).
local raise = require("flexiroam.misuse").raise

local options = {}

--- A shallow copy; nil stays nil.
function options.copy(t)
  if t == nil then return nil end
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- `base` with `over` laid on top, as a new table (either may be nil).
function options.merge(base, over)
  local c = options.copy(base) or {}
  for k, v in pairs(over or {}) do c[k] = v end
  return c
end

-- Edit distance with transpositions (optimal string alignment): "retires"
-- is one step from "retries".
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

--- The name in `known` (a set) nearest to `key`, when one is near enough
-- to be a typo (at most 2 edits, and fewer than half its letters), or
-- else the shortest name that begins the key or that the key begins
-- ("timeout" -> "timeout_ms", "below_percentage" -> "below_percent"); nil.
function options.nearest(key, known)
  if type(key) ~= "string" then return nil end
  key = key:lower()
  local best, best_d, prefixed
  for name in pairs(known) do
    local d = distance(key, name)
    if d <= 2 and d < #name / 2 and (not best_d or d < best_d or (d == best_d and name < best)) then
      best, best_d = name, d
    end
    local begins = name:sub(1, #key) == key or key:sub(1, #name) == name
    if #key >= 3 and #name >= 3 and begins and (not prefixed or #name < #prefixed) then prefixed = name end
  end
  return best or prefixed
end

--- Raises `<where>: unknown <what> "key" (did you mean "name"?)`.
function options.unknown(where, what, key, known)
  local near = options.nearest(key, known)
  if near then raise('%s: unknown %s "%s" (did you mean "%s"?)', where, what, tostring(key), near) end
  raise('%s: unknown %s "%s"', where, what, tostring(key))
end

--- Raises on any key of `opts` that `known` (a set) does not hold.
function options.check_keys(where, opts, known)
  for k in pairs(opts) do
    if not known[k] then options.unknown(where, "option", k, known) end
  end
end

--- The union of sets, as a new set.
function options.union(...)
  local all = {}
  for i = 1, select("#", ...) do
    for k in pairs((select(i, ...))) do all[k] = true end
  end
  return all
end

--- split(where, opts, own) -> mine, rest: the keys `own` names (a set),
-- and the others (nil when there are none), which the caller passes on.
function options.split(where, opts, own)
  local mine, rest = {}, nil
  if opts == nil then return mine, nil end
  if type(opts) ~= "table" then raise("%s: options must be a table (got %s)", where, type(opts)) end
  for k, v in pairs(opts) do
    if own[k] then
      mine[k] = v
    else
      rest = rest or {}
      rest[k] = v
    end
  end
  return mine, rest
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

--- A number >= min (and <= max when given); `integer` demands a whole one.
function options.number(where, name, value, min, max, integer)
  if not finite(value) or value < min or (max and value > max) or (integer and value ~= math.floor(value)) then
    raise("%s: %s must be %s %s (got %s)", where, name, integer and "an integer" or "a number",
      max and string.format("from %s to %s", tostring(min), tostring(max)) or (">= " .. tostring(min)),
      type(value) == "string" and string.format("the string %q", value) or tostring(value))
  end
  return value
end

--- A function, or nil.
function options.callable(where, name, value, shape)
  if value ~= nil and type(value) ~= "function" then raise("%s: %s must be %s", where, name, shape) end
  return value
end

-- Retry and time options, client-wide and per call: the smallest value, and
-- whether it must be an integer (timeout_ms goes to libcurl as one).
local POLICY = {
  retries = { min = 0, integer = true },
  deadline_ms = { min = 1 },
  timeout_ms = { min = 1, integer = true },
  retry_base_ms = { min = 0 },
  retry_cap_ms = { min = 0 },
  max_retry_after_ms = { min = 0 },
}
options.POLICY = POLICY

--- The options a single call takes.
options.PER_CALL = {
  retries = true, deadline_ms = true, timeout_ms = true, correlation_id = true, request_id = true, headers = true,
  fields = true, cache = true,
}

local function check_policy(where, name, value)
  local rule = POLICY[name]
  return options.number(where, name, value, rule.min, nil, rule.integer)
end

--- The client's policy: `defaults` with the retry and time options of
-- flexiroam.new's `opts` laid over.
function options.policy(defaults, opts)
  local policy = options.copy(defaults)
  for name in pairs(POLICY) do
    if opts[name] ~= nil then policy[name] = check_policy("flexiroam.new", name, opts[name]) end
  end
  return policy
end

local function id_string(where, name, v)
  if type(v) ~= "string" or v == "" or #v > 128 or v:find("[^%w%-%._:/]") then
    raise("%s: %s must be 1-128 letters, digits or -._:/ (got %s)", where, name, type(v) == "string" and
      string.format("%q", v:sub(1, 40)) or type(v))
  end
  return v
end

--- per_call(where, opts, policy [, extra]) -> policy, own: a call's policy
-- (the client's, copied only when the call changes it) and its other
-- options ({correlation_id =, request_id =, headers =, fields =, cache =},
-- checked but fields and cache; nil when none). `extra` is a set of further
-- keys the caller handles; any other key raises, naming the nearest valid one.
function options.per_call(where, opts, policy, extra)
  if opts == nil then return policy, nil end
  if type(opts) ~= "table" then raise("%s: options must be a table (got %s)", where, type(opts)) end
  local call_policy, own = policy, nil
  for k, v in pairs(opts) do
    if POLICY[k] and options.PER_CALL[k] then
      if call_policy == policy then call_policy = options.copy(policy) end
      call_policy[k] = check_policy(where, k, v)
    elseif k == "correlation_id" or k == "request_id" then
      own = own or {}
      own[k] = id_string(where, k, v)
    elseif k == "headers" then
      if type(v) ~= "table" then raise("%s: headers must be a table of name = value strings", where) end
      own = own or {}
      own.headers = v
    elseif k == "fields" or k == "cache" then -- checked by the pipeline, which knows the operation
      own = own or {}
      own[k] = v
    elseif not (extra and extra[k]) then
      options.unknown(where, "option", k, extra and options.union(options.PER_CALL, extra) or options.PER_CALL)
    end
  end
  return call_policy, own
end

return options
