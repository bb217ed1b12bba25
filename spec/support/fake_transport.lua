--- A transport that records every request and answers from a script of
-- canned responses, for client specs that need no sockets.
local errors = require "flexiroam.errors"

local fake = {}
fake.__index = fake

--- fake.new({ responses... } [, clock]): each entry is a response table
-- ({status=, headers=, body=, elapsed=}), an error pair {nil, err, elapsed=},
-- or a function(req, transport). `elapsed` (seconds) advances the fake
-- clock, as if the attempt took that long.
function fake.new(responses, clock)
  return setmetatable({ requests = {}, responses = responses or {}, closed = false, clock = clock }, fake)
end

--- A transport error as the session makes them: fake.error("timeout", {sent = true}).
function fake.error(kind, fields)
  local copy, elapsed = {}, nil
  for k, v in pairs(fields or {}) do
    if k == "elapsed" then elapsed = v else copy[k] = v end
  end
  return { nil, errors.new(kind, copy.message or ("simulated " .. kind), copy), elapsed = elapsed }
end

function fake:request(req)
  self.requests[#self.requests + 1] = req
  local next_answer = table.remove(self.responses, 1)
  if next_answer == nil then error("fake transport: no response scripted for " .. req.method .. " " .. req.url) end
  if type(next_answer) == "function" then return next_answer(req, self) end
  if self.clock and next_answer.elapsed then self.clock:advance(next_answer.elapsed) end
  if next_answer.status == nil then return nil, next_answer[2] end
  next_answer.headers = next_answer.headers or { ["content-type"] = "application/json" }
  return next_answer
end

function fake:close()
  self.closed = true
end

return fake
