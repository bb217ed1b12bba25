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
      tostring(value))
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
options.PER_CALL = { retries = true, deadline_ms = true, timeout_ms = true, correlation_id = true }

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

--- per_call(where, opts, policy [, extra]) -> policy, correlation_id: a
-- call's policy (the client's, copied only when the call changes it) and
-- its correlation id. `extra` is a set of further keys the caller handles;
-- any other key raises.
function options.per_call(where, opts, policy, extra)
  if opts == nil then return policy, nil end
  if type(opts) ~= "table" then raise("%s: options must be a table (got %s)", where, type(opts)) end
  local own, correlation_id = policy, nil
  for k, v in pairs(opts) do
    if k == "correlation_id" then
      if type(v) ~= "string" or v == "" then raise("%s: correlation_id must be a string", where) end
      correlation_id = v
    elseif options.PER_CALL[k] then
      if own == policy then own = options.copy(policy) end
      own[k] = check_policy(where, k, v)
    elseif not (extra and extra[k]) then
      raise("%s: unknown option '%s'", where, tostring(k))
    end
  end
  return own, correlation_id
end

return options
