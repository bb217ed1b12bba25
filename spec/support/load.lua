--- A load generator for specs: `clients` concurrent HTTP/1.1 clients in this
-- process (LuaSocket, non-blocking sockets, one select loop), each sending
-- GET `path` to 127.0.0.1:`port` on a fresh connection, again and again,
-- until `seconds` have passed; then it waits for the requests in flight, at
-- most `grace` seconds more (10), and abandons what is left.
--   local load = require "spec.support.load"
--   local r = load.run { port = ngx_server.port, path = "/call", clients = 16, seconds = 3 }
--   r.answers  -- { {status =, body =}, ... } in the order they ended
--   r.failed   -- connections that failed or were abandoned
local socket = require "socket"
local processes = require "spec.support.test_processes"

local M = {}

-- One request, yielding ("r"|"w", sock) while it would block -> status, body | nil, why
local function exchange(port, path)
  local c = socket.tcp()
  c:settimeout(0)
  local ok, err = c:connect("127.0.0.1", port)
  if not ok and err ~= "timeout" and err ~= "Operation already in progress" then
    c:close()
    return nil, "connect: " .. tostring(err)
  end
  if not ok then
    coroutine.yield("w", c)
  end
  local req = processes.http_request("GET", path)
  local i = 1
  while i <= #req do
    local n, e, last = c:send(req, i)
    if n then
      i = n + 1
    elseif e == "timeout" then
      i = last + 1
      coroutine.yield("w", c)
    else
      c:close()
      return nil, "send: " .. tostring(e)
    end
  end
  local parts = {}
  while true do
    local data, e, partial = c:receive(65536)
    if data then
      parts[#parts + 1] = data
    else
      if partial and #partial > 0 then parts[#parts + 1] = partial end
      if e == "timeout" then
        coroutine.yield("r", c)
      elseif e == "closed" then
        break
      else
        c:close()
        return nil, "receive: " .. tostring(e)
      end
    end
  end
  c:close()
  return processes.http_answer(table.concat(parts))
end

--- run{port =, path =, clients = 8, seconds = 2, grace = 10} -> {answers =, failed =, elapsed =}
function M.run(o)
  local started = socket.gettime()
  local stop = started + (o.seconds or 2)
  local hard_stop = stop + (o.grace or 10)
  local result = { answers = {}, failed = 0 }
  local waiting = {} -- coroutine -> { mode, sock }
  local function step(co)
    local ok, mode, sock = coroutine.resume(co)
    if not ok then error(mode, 0) end
    if coroutine.status(co) == "dead" then
      waiting[co] = nil
    else
      waiting[co] = { mode = mode, sock = sock }
    end
  end
  for _ = 1, o.clients or 8 do
    step(coroutine.create(function()
      while socket.gettime() < stop do
        local status, body = exchange(o.port, o.path)
        if status then
          result.answers[#result.answers + 1] = { status = status, body = body }
        else
          result.failed = result.failed + 1
        end
      end
    end))
  end
  while next(waiting) do
    if socket.gettime() > hard_stop then
      for co, w in pairs(waiting) do
        w.sock:close()
        waiting[co] = nil
        result.failed = result.failed + 1
      end
      break
    end
    local r, w, by_sock = {}, {}, {}
    for co, entry in pairs(waiting) do
      by_sock[entry.sock] = co
      if entry.mode == "r" then r[#r + 1] = entry.sock else w[#w + 1] = entry.sock end
    end
    local readable, writable = socket.select(r, w, 0.2)
    local ready = {}
    for _, s in ipairs(readable) do ready[#ready + 1] = by_sock[s] end
    for _, s in ipairs(writable) do ready[#ready + 1] = by_sock[s] end
    for _, co in ipairs(ready) do step(co) end
  end
  result.elapsed = socket.gettime() - started
  return result
end

return M
