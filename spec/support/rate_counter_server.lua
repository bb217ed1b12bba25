-- The API as a rate-limit spec needs it: answers every /v1/ request at once
-- and records when it arrived, by its own clock, so a spec can count what
-- the server saw in each second. Run as its own process from the checkout
-- (test_processes.lua_server: any Lua with LuaSocket); prints its port as
-- its first line and serves until killed.
-- Connections are served together (non-blocking sockets, one select loop),
-- kept alive as HTTP/1.1 clients expect.
--
--   /v1/...                    200 {"items": [], "page_key": null, "item": {}} (fits a list or an item),
--                              or the next queued fault; the arrival is recorded either way
--   POST /__counter/fault?status=429&retry_after=2&times=1   queue a fault for the next /v1/ requests
--   POST /__counter/delay?ms=50   answer every /v1/ request that much later (others are served meanwhile)
--   GET  /__counter/arrivals   one line per /v1/ request: "<arrival time> <status>", in order
--   POST /__counter/reset      forget arrivals, faults and the delay
local socket = require "socket"

local server = require("spec.support.test_processes").announce()

local arrivals, faults = {}, {}
local conns = {} -- socket -> { buf = string }
local delay = 0 -- seconds before a /v1/ answer goes out
local later = {} -- answers held back by the delay: { due =, sock =, data = }, in order

local OK_BODY = '{"items": [], "page_key": null, "item": {}}'

local function query(target)
  local q = {}
  for k, v in (target:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do q[k] = v end
  return q
end

-- `api`: an answer to a /v1/ request, which the delay holds back.
local function respond(sock, status, body, extra, api)
  local head = { "HTTP/1.1 " .. status .. " X", "Content-Type: application/json",
    "Content-Length: " .. #body }
  for _, h in ipairs(extra or {}) do head[#head + 1] = h end
  local data = table.concat(head, "\r\n") .. "\r\n\r\n" .. body
  if api and delay > 0 then
    later[#later + 1] = { due = socket.gettime() + delay, sock = sock, data = data }
    conns[sock].held = conns[sock].held + 1
    return
  end
  sock:settimeout(2)
  sock:send(data)
  sock:settimeout(0)
end

local function handle(sock, method, target)
  local path = target:match("^[^?]*")
  if path:sub(1, 4) == "/v1/" then
    local fault = faults[1]
    local status = 200
    if fault then
      fault.times = fault.times - 1
      if fault.times <= 0 then table.remove(faults, 1) end
      status = fault.status
    end
    arrivals[#arrivals + 1] = string.format("%.6f %d", socket.gettime(), status)
    if status == 200 then return respond(sock, 200, OK_BODY, nil, true) end
    local extra = fault.retry_after and { "Retry-After: " .. fault.retry_after } or nil
    return respond(sock, status, '{"message": "slow down", "code": "rate_limited"}', extra, true)
  elseif path == "/__counter/fault" and method == "POST" then
    local q = query(target)
    faults[#faults + 1] = { status = tonumber(q.status) or 429, retry_after = q.retry_after,
      times = tonumber(q.times) or 1 }
    return respond(sock, 201, "{}")
  elseif path == "/__counter/delay" and method == "POST" then
    delay = (tonumber(query(target).ms) or 0) / 1000
    return respond(sock, 201, "{}")
  elseif path == "/__counter/arrivals" then
    local body = table.concat(arrivals, "\n")
    return respond(sock, 200, body)
  elseif path == "/__counter/reset" and method == "POST" then
    arrivals, faults, delay = {}, {}, 0
    return respond(sock, 200, "{}")
  end
  return respond(sock, 404, "{}")
end

-- Every whole request in the connection's buffer, answered in order.
local function serve(sock, c)
  while true do
    local head_end = c.buf:find("\r\n\r\n", 1, true)
    if not head_end then return end
    local head = c.buf:sub(1, head_end - 1)
    local length = tonumber(head:lower():match("\r\ncontent%-length:%s*(%d+)")) or 0
    if #c.buf < head_end + 3 + length then return end
    c.buf = c.buf:sub(head_end + 4 + length)
    local method, target = head:match("^(%u+) (%S+)")
    if method then handle(sock, method, target) end
    if head:lower():find("\r\nconnection:%s*close") then
      c.closing = true
      return
    end
  end
end

-- Sends the held-back answers that are due; -> seconds until the next one (or 1).
local function send_due()
  local now, wait = socket.gettime(), 1
  while later[1] and later[1].due <= now do
    local a = table.remove(later, 1)
    local c = conns[a.sock]
    if c then
      a.sock:settimeout(2)
      a.sock:send(a.data)
      a.sock:settimeout(0)
      c.held = c.held - 1
      if c.held == 0 and c.closing then
        a.sock:close()
        conns[a.sock] = nil
      end
    end
  end
  if later[1] then wait = math.max(0, later[1].due - now) end
  return wait
end

while true do
  local watch = { server }
  for sock, c in pairs(conns) do
    if not c.closing then watch[#watch + 1] = sock end
  end
  local readable = socket.select(watch, nil, send_due())
  for _, sock in ipairs(readable) do
    if sock == server then
      local client = server:accept()
      while client do
        client:settimeout(0)
        client:setoption("tcp-nodelay", true)
        conns[client] = { buf = "", held = 0 }
        client = server:accept()
      end
    else
      local c = conns[sock]
      local data, err, partial = sock:receive(65536)
      c.buf = c.buf .. (data or partial or "")
      serve(sock, c)
      if err and err ~= "timeout" then c.closing = true end
      if c.closing and c.held == 0 then -- else closed once its held-back answers are out
        sock:close()
        conns[sock] = nil
      end
    end
  end
end
