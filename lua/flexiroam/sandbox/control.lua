--- The sandbox's own endpoints under /__sandbox/ (no key): stats, reset,
-- simulated data use and the sandbox clock.
local input = require("flexiroam.sandbox.input")
local ledger = require("flexiroam.sandbox.ledger")
local subscriptions = require("flexiroam.sandbox.subscriptions")

local control = {}

--- GET /__sandbox/stats -> {requests, connections, orders, subscriptions,
-- charges = {reference = times charged}}. Requests and connections count
-- since start; the rest is state, which reset clears.
function control.stats(h)
  local state = h.state
  return h:json(200, {
    requests = h.stats.requests, connections = h.stats.connections,
    orders = #state.orders, subscriptions = #state.subscriptions, charges = state.charges,
  })
end

--- POST /__sandbox/reset: the initial state again.
function control.reset(h)
  h:reset()
  return h:json(200, { reset = true })
end

local function clock_answer(h, renewed)
  return h:json(200, { now = ledger.timestamp(ledger.now(h.state)), renewed = renewed })
end

function control.clock(h)
  return clock_answer(h, 0)
end

local MAX_ADVANCE = 3650 * ledger.DAY

--- POST /__sandbox/clock {"advance_seconds": N}: moves the clock forward,
-- running the subscription renewals that fall due on the way.
function control.advance(h, req)
  local body, bad = input.body(h, req)
  if not body then return bad end
  local check = input.checker()
  local seconds = check:integer("advance_seconds", body.advance_seconds, 0, MAX_ADVANCE, true)
  if check:failed() then return check:answer(h) end
  local target = ledger.now(h.state) + seconds
  local renewed = subscriptions.renew_until(h, target)
  h.state.clock = target
  return clock_answer(h, renewed)
end

return control
