--- A load generator for specs: `clients` concurrent HTTP/1.1 clients in this
-- process (LuaSocket, non-blocking sockets, one select loop), each sending
-- GET `path` to 127.0.0.1:`port` on a fresh connection, again and again,
-- until `seconds` have passed (or `requests` were sent); then it waits for
-- the requests in flight, at most `grace` seconds more (10), and abandons
-- what is left. `rate` paces the starts: at most that many a second, all
-- clients together (page views arriving over time, not all at once).
--   local load = require "spec.support.load"
--   local r = load.run { port = ngx_server.port, path = "/call", clients = 16, seconds = 3 }
--   local r = load.run { port = ngx_server.port, path = "/plans", clients = 16, requests = 1000, rate = 250 }
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

--- run{port =, path =, clients = 8, seconds = 2 (60 with requests), requests =, rate =, grace = 10}
-- -> {answers =, failed =, elapsed =}
function M.run(o)
  local started = socket.gettime()
  local stop = started + (o.seconds or (o.requests and 60 or 2))
  local hard_stop = stop + (o.grace or 10)
  local result = { answers = {}, failed = 0 }
  local waiting = {} -- coroutine -> { mode, sock } ("r", "w") or { mode = "t", due = time }
  local issued = 0
  local function step(co)
    local ok, mode, sock = coroutine.resume(co)
    if not ok then error(mode, 0) end
    if coroutine.status(co) == "dead" then
      waiting[co] = nil
    elseif mode == "t" then
      waiting[co] = { mode = mode, due = sock }
    else
      waiting[co] = { mode = mode, sock = sock }
    end
  end
  -- Whether a client may start another request (waiting for its turn when paced).
  local function next_turn()
    if socket.gettime() >= stop or (o.requests and issued >= o.requests) then return false end
    issued = issued + 1
    if o.rate then
      local due = started + (issued - 1) / o.rate
      if socket.gettime() < due then coroutine.yield("t", due) end
    end
    return true
  end
  for _ = 1, o.clients or 8 do
    step(coroutine.create(function()
      while next_turn() do
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
        if w.sock then
          w.sock:close()
          result.failed = result.failed + 1
        end
        waiting[co] = nil
      end
      break
    end
    local r, w, by_sock, timeout, ready = {}, {}, {}, 0.2, {}
    local now = socket.gettime()
    for co, entry in pairs(waiting) do
      if entry.mode == "t" then
        if entry.due <= now then ready[#ready + 1] = co else timeout = math.min(timeout, entry.due - now) end
      else
        by_sock[entry.sock] = co
        if entry.mode == "r" then r[#r + 1] = entry.sock else w[#w + 1] = entry.sock end
      end
    end
    if #ready > 0 then timeout = 0 end
    local readable, writable = socket.select(r, w, timeout)
    for _, s in ipairs(readable) do ready[#ready + 1] = by_sock[s] end
    for _, s in ipairs(writable) do ready[#ready + 1] = by_sock[s] end
    for _, co in ipairs(ready) do step(co) end
  end
  result.elapsed = socket.gettime() - started
  return result
end

return M
