-- A TCP forwarder on 127.0.0.1 that plays a far-away server: every byte
-- takes ONE_WAY_MS to cross, each way, so a round trip costs 2 * ONE_WAY_MS.
-- A connection's setup costs a round trip too: what the client sends is
-- held as if the TCP handshake (SYN, SYN-ACK) had had to cross first, since
-- here the kernel completes that handshake locally at once. A close crosses
-- like a byte, after what was sent before it.
--
--   lua5.4 bench/delay_proxy.lua TARGET_PORT ONE_WAY_MS
--
-- prints "PORT CONTROL_PORT" (both bound on 127.0.0.1) and forwards until
-- killed. A connection to CONTROL_PORT is answered "accepted=N\n": the
-- connections the proxy has accepted so far. bench/write_rtt_bench.lua runs it.
local socket = require "socket"

local TARGET = assert(tonumber(arg[1]), "usage: delay_proxy.lua TARGET_PORT ONE_WAY_MS")
local DELAY = assert(tonumber(arg[2]), "usage: delay_proxy.lua TARGET_PORT ONE_WAY_MS") / 1000

local listener = assert(socket.bind("127.0.0.1", 0))
local control = assert(socket.bind("127.0.0.1", 0))
listener:settimeout(0)
control:settimeout(0)
io.stdout:write(select(2, listener:getsockname()), " ", select(2, control:getsockname()), "\n")
io.stdout:flush()

local now = socket.gettime
local accepted = 0
local CLOSE = {} -- the marker a close travels as

-- One direction of a connection: bytes read from `from`, each piece due on
-- `to` at its time.
local function new_leg(from, to, ready_at)
  return { from = from, to = to, queue = {}, head = 1, tail = 0, ready_at = ready_at }
end

local pairs_of = {}  -- socket -> its leg that reads it
local legs = {}

local function close_pair(leg)
  for _, l in ipairs { leg, leg.peer } do
    l.done = true
    pairs_of[l.from] = nil
    l.from:close()
  end
end

local function on_accept()
  local c = listener:accept()
  if not c then return end
  local u = socket.tcp()
  if not u:connect("127.0.0.1", TARGET) then
    c:close()
    return
  end
  accepted = accepted + 1
  c:settimeout(0)
  u:settimeout(0)
  c:setoption("tcp-nodelay", true)
  u:setoption("tcp-nodelay", true)
  local t = now()
  -- the client's first bytes wait for the emulated handshake's round trip
  local up = new_leg(c, u, t + 2 * DELAY)
  local down = new_leg(u, c, t)
  up.peer, down.peer = down, up
  pairs_of[c], pairs_of[u] = up, down
  legs[#legs + 1] = up
  legs[#legs + 1] = down
end

local function read_from(leg)
  local data, err, partial = leg.from:receive(65536)
  data = data or (partial ~= "" and partial) or nil
  local due = math.max(now(), leg.ready_at) + DELAY
  local function push(piece)
    leg.tail = leg.tail + 1
    leg.queue[leg.tail] = piece
  end
  if data then push { due = due, data = data } end
  if err == "closed" then
    push { due = due, data = CLOSE }
    pairs_of[leg.from] = nil -- nothing more to read from it
  end
end

-- Sends what is due; returns the time the next piece falls due, if any.
local function deliver(leg)
  while leg.queue[leg.head] do
    local piece = leg.queue[leg.head]
    if piece.due > now() then return piece.due end
    if piece.data == CLOSE then
      close_pair(leg)
      return nil
    end
    local last, err, partial_last = leg.to:send(piece.data)
    local sent = last or partial_last or 0
    if sent < #piece.data then
      if err == "closed" then
        close_pair(leg)
        return nil
      end
      piece.data = piece.data:sub(sent + 1)
      return now() + 0.001
    end
    leg.queue[leg.head] = nil
    leg.head = leg.head + 1
  end
  return nil
end

while true do
  local wake = now() + 1
  local alive = {}
  for _, leg in ipairs(legs) do
    if not leg.done then
      local due = deliver(leg)
      if due and due < wake then wake = due end
      if not leg.done then alive[#alive + 1] = leg end
    end
  end
  legs = alive
  local readers = { listener, control }
  for sock in pairs(pairs_of) do readers[#readers + 1] = sock end
  local ready = socket.select(readers, nil, math.max(0, wake - now()))
  for _, sock in ipairs(ready) do
    if sock == listener then
      on_accept()
    elseif sock == control then
      local c = control:accept()
      if c then
        c:settimeout(1)
        c:send(("accepted=%d\n"):format(accepted))
        c:close()
      end
    elseif pairs_of[sock] then
      read_from(pairs_of[sock])
    end
  end
end
