--- A load generator for specs: `clients` concurrent HTTP/1.1 clients in this
-- process (spec.support.coop: non-blocking sockets, one select loop), each
-- sending GET `path` to 127.0.0.1:`port` on a fresh connection, again and
-- again, until `seconds` have passed or `requests` have been sent in all;
-- then it waits for the requests in flight, at most `grace` seconds more
-- (10), and abandons what is left. `rate` paces the starts: at most that
-- many a second, all clients together (page views arriving over time, not
-- all at once).
--   local load = require "spec.support.load"
--   local r = load.run { port = ngx_server.port, path = "/call", clients = 16, seconds = 3 }
--   local r = load.run { port = ngx_server.port, path = function(n) return "/sell?ref=" .. n end,
--                        clients = 200, requests = 200, seconds = 60 }   -- each client once, at once
--   local r = load.run { port = ngx_server.port, path = "/plans", clients = 16, requests = 1000, rate = 250 }
--   r.answers  -- { {status =, body =}, ... } in the order they ended
--   r.failed   -- connections that failed or were abandoned
local socket = require "socket"
local coop = require "spec.support.coop"
local processes = require "spec.support.test_processes"

local M = {}

--- run{port =, path = (a string, or function(n) -> the n-th request's), clients = 8,
-- seconds = 2 (60 with requests), requests = (no limit), rate = (no pacing), grace = 10}
-- -> {answers =, failed =, elapsed =}
function M.run(o)
  local started = socket.gettime()
  local stop = started + (o.seconds or (o.requests and 60 or 2))
  local result = { answers = {}, failed = 0 }
  local sent, limit = 0, o.requests or math.huge
  local function next_path()
    sent = sent + 1
    if type(o.path) == "function" then return o.path(sent) end
    return o.path
  end
  local clients = {}
  for i = 1, o.clients or 8 do
    clients[i] = function()
      while socket.gettime() < stop and sent < limit do
        local path = next_path()
        if o.rate then coop.sleep_until(started + (sent - 1) / o.rate) end
        local raw = coop.exchange("127.0.0.1", o.port, processes.http_request("GET", path))
        local status, body = nil, nil
        if raw then status, body = processes.http_answer(raw) end
        if status then
          result.answers[#result.answers + 1] = { status = status, body = body }
        else
          result.failed = result.failed + 1
        end
      end
    end
  end
  local _, abandoned = coop.run(clients, { hard_stop = stop + (o.grace or 10) })
  result.failed = result.failed + abandoned
  result.elapsed = socket.gettime() - started
  return result
end

return M
