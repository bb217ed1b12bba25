--- A transport that records every request and answers from a script of
-- canned responses, for client specs that need no sockets.
local fake = {}
fake.__index = fake

--- fake.new{ responses... }: each entry is a response table
-- ({status=, headers=, body=}), an error pair {nil, err}, or a function(req).
function fake.new(responses)
  return setmetatable({ requests = {}, responses = responses or {}, closed = false }, fake)
end

function fake:request(req)
  self.requests[#self.requests + 1] = req
  local next_answer = table.remove(self.responses, 1)
  if next_answer == nil then error("fake transport: no response scripted for " .. req.method .. " " .. req.url) end
  if type(next_answer) == "function" then return next_answer(req) end
  if next_answer.status == nil then return nil, next_answer[2] end
  next_answer.headers = next_answer.headers or { ["content-type"] = "application/json" }
  return next_answer
end

function fake:close()
  self.closed = true
end

return fake
