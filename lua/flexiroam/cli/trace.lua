--- What --verbose and --debug print on stderr, from the client's hooks
-- (flexiroam.observe). Every event reaches a hook as a redacted copy: the
-- key's header reads "[REDACTED]", and any string that held the key has
-- it replaced. --verbose: a line per answer with its phase timings (DNS,
-- connect, TLS, first byte, total) and the request id; --debug adds each
-- request, the headers both ways, retries and reconciliations.
local observe = require("flexiroam.observe")

local trace = {}

local PHASES = { "dns", "connect", "tls", "first_byte", "total" }

local function ms(seconds)
  if type(seconds) ~= "number" then return "-" end
  return string.format("%.1f ms", seconds * 1000)
end

local function timings_text(t)
  if type(t) ~= "table" then return "" end
  local parts = {}
  for _, phase in ipairs(PHASES) do
    if type(t[phase]) == "number" and (t[phase] > 0 or phase == "total") then
      parts[#parts + 1] = phase:gsub("_", " ") .. " " .. ms(t[phase])
    end
  end
  return table.concat(parts, ", ")
end

local function header_lines(say, prefix, headers)
  if type(headers) ~= "table" then return end
  local names = {}
  for name in pairs(headers) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do say(prefix .. name .. ": " .. tostring(headers[name])) end
end

local function target(event)
  local path = tostring(event.path or "?")
  if type(event.query) == "string" and event.query ~= "" then path = path .. "?" .. event.query end
  return tostring(event.method or "?") .. " " .. path
end

--- trace.hooks(say, verbose, debug) -> the flexiroam.new options that print
-- them (empty when neither is on). `say` writes a line to stderr.
function trace.hooks(say, verbose, debug)
  local hooks = {}
  if not (verbose or debug) then return hooks end
  if debug then
    hooks.on_request = function(e)
      say(string.format("> %s (attempt %s, request %s%s)", target(e), tostring(e.attempt),
        tostring(e.request_id), e.reference and (", reference " .. e.reference) or ""))
      header_lines(say, ">   ", e.headers)
    end
    hooks.on_retry = function(e)
      say(string.format("~ retrying %s in %s: %s", target(e), ms(e.delay), tostring(e.reason)))
    end
    -- What has no hook of its own: a write looked up after an unclear
    -- failure, and the SDK's warnings.
    hooks.logger = function(level, e)
      if e.event == "reconcile" or e.event == "warning" or e.event == "hook_failed" then
        say(observe.format(level, e))
      end
    end
  end
  hooks.on_response = function(e)
    say(string.format("< %s %s in %s (%s; HTTP/%s%s) request %s%s", target(e), tostring(e.status), ms(e.elapsed),
      timings_text(e.timings), tostring(e.http_version), e.reused and ", reused connection" or "",
      tostring(e.request_id), e.server_request_id and (" server " .. e.server_request_id) or ""))
    if debug then header_lines(say, "<   ", e.headers) end
  end
  -- A line per attempt under --verbose too: an attempt that got an answer
  -- has its `<` line, one that got none (a reset, a timeout) only this.
  hooks.on_error = function(e)
    if not (e.final or debug or e.status == nil) then return end
    say(string.format("! %s %s after %s: %s", target(e), tostring(e.kind), ms(e.elapsed),
      tostring(e.error and e.error.message or e.reason)))
  end
  return hooks
end

return trace
