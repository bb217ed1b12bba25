--- --dry-run: the requests a command would send, printed as curl command
-- lines, and nothing sent. The client is given a transport that keeps each
-- request it is handed (the exact method, URL, headers and body the
-- pipeline built) and stops the call there by raising, unless the command
-- scripted an answer for a read (a sale's dry run is answered "no sale
-- under this reference yet" and "this free eSIM", so that it reaches its
-- purchase). The key's header becomes a reference to $FLEXIROAM_API_KEY:
-- the line runs as it is once that is set, and the key is never printed.
local dry_run = {}

local STOP = {}

--- dry_run.transport(ctx) -> a transport that records into
-- ctx.dry_requests; ctx.dry_answer(req) may return {status, body, note}
-- for a request that is then answered without being sent.
function dry_run.transport(ctx)
  return {
    request = function(_, req)
      local requests = ctx.dry_requests
      requests[#requests + 1] = req
      local answer = ctx.dry_answer and ctx.dry_answer(req)
      if answer then
        req.note = answer.note
        return { status = answer.status or 200, headers = { ["content-type"] = "application/json" },
          body = answer.body, http_version = "1.1", reused = false, timings = {}, url = req.url }
      end
      error({ [STOP] = true }, 0)
    end,
  }
end

--- dry_run.run(ctx, f) -> true, value | false, nil, err: runs f until its
-- first request that is not answered. err: what f returned when it stopped
-- before sending anything (a check failed).
function dry_run.run(ctx, f)
  local ok, value, err = pcall(f)
  if not ok then
    if type(value) == "table" and value[STOP] then return true end
    error(value, 0)
  end
  if value == nil and err ~= nil and #ctx.dry_requests == 0 then return false, nil, err end
  return true, value
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local SECRET_HEADERS = { ["x-api-key"] = true }

--- dry_run.key_variable(source) -> the shell variable the printed commands
-- write for the key, and a note saying where the key really comes from
-- when no such variable holds it (a key file, a key command, the sandbox).
function dry_run.key_variable(source)
  if source and source.kind == "env" then return source.name end
  local what = source and (source.kind == "file" and ("the key in the key file " .. tostring(source.path)) or
    source.kind == "command" and "the key the profile's key_command prints" or source.label)
  return "FLEXIROAM_API_KEY", what and ("$FLEXIROAM_API_KEY stands for " .. what .. " (set it to run these)")
end

--- dry_run.curl(req, redact [, variable]) -> the request as a curl command
-- (lines joined with " \\\n  "), the key written as $variable
-- (FLEXIROAM_API_KEY). `redact` removes the key from anything else that
-- could hold it (nothing should).
function dry_run.curl(req, redact, variable)
  local parts = { "curl -X " .. (req.method or "GET") .. " " .. quote(redact(req.url)) }
  local names = {}
  for name in pairs(req.headers or {}) do names[#names + 1] = name end
  table.sort(names, function(a, b) return a:lower() < b:lower() end)
  for _, name in ipairs(names) do
    if SECRET_HEADERS[name:lower()] then
      parts[#parts + 1] = '-H "' .. name .. ": $" .. (variable or "FLEXIROAM_API_KEY") .. '"'
    else
      parts[#parts + 1] = "-H " .. quote(name .. ": " .. redact(tostring(req.headers[name])))
    end
  end
  if req.body then parts[#parts + 1] = "--data-raw " .. quote(redact(req.body)) end
  return table.concat(parts, " \\\n  ")
end

return dry_run
