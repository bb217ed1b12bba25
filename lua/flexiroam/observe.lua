--- What the SDK tells the outside about its requests: the per-attempt hooks
-- (on_request, on_response, on_retry, on_error), the catalogue cache's
-- on_cache (hit, stale, miss, ...: flexiroam.cache), the `logger(level, event)`
-- option and the stderr logger FLEXIROAM_LOG=debug|info turns on.
--
-- Redaction is by construction: every event is a fresh copy in which header
-- values that carry credentials read "[REDACTED]" and every string has been
-- through the client's redact (the API key, as sent or percent-encoded).
-- Error objects are passed as they are: the client scrubs them first.
local errors = require("flexiroam.errors")
local options = require("flexiroam.options")
local raise = require("flexiroam.misuse").raise

local observe = {}

observe.HOOKS = { "on_request", "on_response", "on_retry", "on_error", "on_cache" }

local LEVELS = { debug = 1, info = 2, warn = 3, error = 4 }
observe.LEVELS = LEVELS

-- Header names whose values are credentials, whoever sends them.
local SENSITIVE = {
  ["x-api-key"] = true, authorization = true, ["proxy-authorization"] = true,
  cookie = true, ["set-cookie"] = true,
}

function observe.is_sensitive(name)
  return type(name) == "string" and SENSITIVE[name:lower()] == true
end

--- A copy of a header table with credential values replaced.
function observe.redact_headers(headers, redact)
  if type(headers) ~= "table" then return nil end
  local out = {}
  for name, value in pairs(headers) do
    if observe.is_sensitive(name) then
      out[name] = "[REDACTED]"
    else
      out[name] = redact(tostring(value))
    end
  end
  return out
end

-- A deep copy with every string redacted; error objects stay themselves.
local function clean(value, redact, depth)
  local t = type(value)
  if t == "string" then return redact(value) end
  if t ~= "table" or errors.is_error(value) then return value end
  if depth > 8 then return nil end
  local out = {}
  for k, v in pairs(value) do out[clean(k, redact, depth + 1)] = clean(v, redact, depth + 1) end
  return out
end

-- The fields a log line shows, in order; nothing else of an event (and so
-- never a header) reaches a line.
local LINE_FIELDS = {
  "operation", "purpose", "method", "path", "attempt", "status", "kind", "reason", "delay", "timeout_ms",
  "elapsed", "outcome", "age", "reference", "correlation_id", "request_id", "hook",
}

local function show(value)
  if type(value) == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return tostring(value) end
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then return string.format("%d", value) end
    return string.format("%.3f", value)
  end
  local s = tostring(value):gsub("[%c]", " ")
  if s:find("[%s\"=]") then s = string.format("%q", s) end
  return s
end

--- One line for a log event: "flexiroam: info retry method=GET ... ".
function observe.format(level, event)
  local parts = { "flexiroam:", level, show(event.event or "event") }
  for _, name in ipairs(LINE_FIELDS) do
    local v = event[name]
    if v ~= nil then parts[#parts + 1] = name .. "=" .. show(v) end
  end
  if event.timings and type(event.timings.total) == "number" then
    parts[#parts + 1] = "total=" .. show(event.timings.total)
  end
  if event.message then parts[#parts + 1] = "message=" .. show(event.message) end
  if event.error then parts[#parts + 1] = "error=" .. show(tostring(event.error)) end
  return table.concat(parts, " ")
end

--- A logger writing lines at `threshold` and above to stderr.
function observe.stderr_logger(threshold, redact)
  local min = LEVELS[threshold] or LEVELS.info
  return function(level, event)
    if (LEVELS[level] or LEVELS.error) < min then return end
    io.stderr:write(redact(observe.format(level, event)), "\n")
  end
end

local Emitter = {}
Emitter.__index = Emitter

--- observe.new(opts, redact): hooks and logger from the client's options;
-- `log` (or FLEXIROAM_LOG) = "debug" | "info" | "warn" | "error" selects the
-- stderr logger when no `logger` function is given.
function observe.new(opts, redact)
  local self = setmetatable({ redact = redact, hooks = {} }, Emitter)
  for _, name in ipairs(observe.HOOKS) do
    local f = opts[name]
    options.callable("flexiroam.new", name, f, "a function")
    self.hooks[name] = f
  end
  if opts.logger ~= nil then
    options.callable("flexiroam.new", "logger", opts.logger, "a function(level, event)")
    self.logger = opts.logger
  else
    local level = opts.log
    if level == nil then level = os.getenv("FLEXIROAM_LOG") end
    if level ~= nil and level ~= "" and level ~= false then
      if not LEVELS[level] then
        if opts.log ~= nil then raise("flexiroam.new: log must be debug, info, warn or error") end
        level = "info" -- an unknown FLEXIROAM_LOG value still means "log"
      end
      self.logger = observe.stderr_logger(level, redact)
    end
  end
  return self
end

-- A hook or logger that raises must not turn a purchase that went through
-- into a failure: its error is reported once per client, and ignored.
function Emitter:_failed(what, why)
  self.failed = self.failed or {}
  if self.failed[what] then return end
  self.failed[what] = true
  local message = self.redact(what .. " raised: " .. tostring(why))
  if what ~= "logger" and self.logger then
    pcall(self.logger, "warn", { event = "hook_failed", hook = what, message = message })
  else
    io.stderr:write("flexiroam: warn ", message, "\n")
  end
end

function Emitter:log(level, event)
  if not self.logger then return end
  local ok, why = pcall(self.logger, level, event)
  if not ok then self:_failed("logger", why) end
end

--- Whether anything listens for `hook` (or logs): events are built, copied
-- and redacted for listeners only, never on the hot path of a quiet client.
function Emitter:wants(hook)
  return self.logger ~= nil or (hook ~= nil and self.hooks[hook] ~= nil)
end

--- emit(hook name or nil, level, event): the hook gets its own copy, then the logger.
function Emitter:emit(hook, level, event)
  local f = hook and self.hooks[hook]
  if not f and not self.logger then return end
  if f then
    local ok, why = pcall(f, clean(event, self.redact, 0))
    if not ok then self:_failed(hook, why) end
  end
  if self.logger then self:log(level, clean(event, self.redact, 0)) end
end

--- A warning: to the logger when there is one, else always to stderr.
function Emitter:warn(message)
  message = self.redact(message)
  if self.logger then
    self:log("warn", { event = "warning", message = message })
  else
    io.stderr:write("flexiroam: warning: ", message, "\n")
  end
end

return observe
