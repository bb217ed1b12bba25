--- Cooperative sockets for specs: many HTTP/1.1 exchanges at once in one
-- Lua process, each in a coroutine over a non-blocking LuaSocket, which
-- yields ("r" | "w", sock, deadline) while the socket would block; one
-- select loop resumes each when its socket is ready (with true) or its
-- deadline passed (with false).
--   local coop = require "spec.support.coop"
--   local results = coop.run({ f, g }, { hard_stop = socket.gettime() + 30 })   -- { {f's answers}, ... }
--   flexiroam.new { transport = coop.transport(), ... }   -- a client whose calls yield inside coop.run
-- Each exchange opens its own connection and closes it after the answer.
local socket = require "socket"
local errors = require "flexiroam.errors"
local processes = require "spec.support.test_processes"

local coop = {}

-- Whether the socket is ready before `deadline` (nil: none).
local function ready(mode, sock, deadline)
  return coroutine.yield(mode, sock, deadline)
end

--- sleep_until(time): this coroutine waits until that epoch time, the
-- others run meanwhile.
function coop.sleep_until(due)
  if socket.gettime() < due then coroutine.yield("t", nil, due) end
end

--- exchange(host, port, request_text [, deadline]) -> the raw answer, read
-- until the server closed | nil, why, sent (whether any byte was sent).
function coop.exchange(host, port, request, deadline)
  local c = socket.tcp()
  c:settimeout(0)
  local ok, err = c:connect(host, port)
  if not ok and err ~= "timeout" and err ~= "Operation already in progress" then
    c:close()
    return nil, "connect: " .. tostring(err), false
  end
  if not ok and not ready("w", c, deadline) then
    c:close()
    return nil, "timeout", false
  end
  local i = 1
  while i <= #request do
    local n, e, last = c:send(request, i)
    if n then
      i = n + 1
    elseif e == "timeout" then
      i = last + 1
      if not ready("w", c, deadline) then
        c:close()
        return nil, "timeout", i > 1
      end
    else
      c:close()
      return nil, "send: " .. tostring(e), i > 1
    end
  end
  local parts = {}
  while true do
    local data, e, partial = c:receive(65536)
    if data then
      parts[#parts + 1] = data
    else
      if partial and #partial > 0 then parts[#parts + 1] = partial end
      if e == "closed" then break end
      if e ~= "timeout" then
        c:close()
        return nil, "receive: " .. tostring(e), true
      end
      if not ready("r", c, deadline) then
        c:close()
        return nil, "timeout", true
      end
    end
  end
  c:close()
  return table.concat(parts)
end

--- run(fns [, {hard_stop = epoch seconds}]) -> results ({ {answers}, ... }
-- in the order of fns), abandoned (coroutines still waiting at hard_stop,
-- whose sockets were closed). A function that raises raises here.
function coop.run(fns, o)
  local hard_stop = o and o.hard_stop
  local results, waiting, abandoned = {}, {}, 0
  local function step(co, value)
    local ok, mode, sock, deadline = coroutine.resume(co, value)
    if not ok then error(mode, 0) end
    if coroutine.status(co) == "dead" then
      waiting[co] = nil
    else
      waiting[co] = { mode = mode, sock = sock, deadline = deadline }
    end
  end
  for i, f in ipairs(fns) do
    step(coroutine.create(function() results[i] = { f() } end))
  end
  while next(waiting) do
    local now = socket.gettime()
    if hard_stop and now > hard_stop then
      for co, w in pairs(waiting) do
        if w.sock then w.sock:close() end
        waiting[co] = nil
        abandoned = abandoned + 1
      end
      break
    end
    local r, w, by_sock, late = {}, {}, {}, {}
    for co, entry in pairs(waiting) do
      if entry.deadline and entry.deadline <= now then
        late[#late + 1] = co
      elseif entry.mode ~= "t" then
        by_sock[entry.sock] = co
        if entry.mode == "r" then r[#r + 1] = entry.sock else w[#w + 1] = entry.sock end
      end
    end
    for _, co in ipairs(late) do step(co, false) end
    local readable, writable = socket.select(r, w, 0.05)
    local woken = {}
    for _, s in ipairs(readable) do woken[#woken + 1] = by_sock[s] end
    for _, s in ipairs(writable) do woken[#woken + 1] = by_sock[s] end
    for _, co in ipairs(woken) do
      if waiting[co] then step(co, true) end
    end
  end
  return results, abandoned
end

--- A text request: method, target, Host, the headers given, Connection:
-- close and, with a body, Content-Length.
local function request_text(method, host, target, headers, body)
  local lines = { ("%s %s HTTP/1.1"):format(method, target), "Host: " .. host, "Connection: close" }
  for name, value in pairs(headers or {}) do lines[#lines + 1] = name .. ": " .. value end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

--- The header fields of a raw answer, names lowercased.
local function header_fields(raw)
  local head = raw:match("^(.-)\r\n\r\n") or raw
  local fields = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do fields[name:lower()] = value end
  return fields
end

local Transport = {}
Transport.__index = Transport

--- coop.transport() -> a transport (docs/transport.md, plain http only)
-- whose requests yield to coop.run while they wait.
function coop.transport()
  return setmetatable({}, Transport)
end

function Transport.request(_, req)
  local method, url = req.method or "GET", req.url
  local host, port, target = url:match("^http://([^:/]+):(%d+)(/.*)$")
  assert(host, "coop transport: plain http://host:port/ URLs only")
  local deadline = socket.gettime() + (req.timeout_ms or 60000) / 1000
  local raw, why, sent = coop.exchange(host, tonumber(port), request_text(method, host .. ":" .. port, target,
    req.headers, req.body), deadline)
  if not raw then
    return nil, errors.new(why == "timeout" and "timeout" or "network", "coop transport: " .. why,
      { sent = sent, safe_to_retry = not sent, method = method })
  end
  local status, body = processes.http_answer(raw)
  if not status then return nil, errors.new("network", "coop transport: not an HTTP answer", { sent = true }) end
  return { status = status, headers = header_fields(raw), body = body, http_version = "1.1", reused = false, url = url }
end

function Transport.close() end

return coop
