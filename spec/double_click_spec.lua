-- A double click buys once (issue 14, part 2): the same reference resolves
-- to the same order, whether the two calls race in one process (coroutines,
-- a batch) or in two processes; the same parameters answer the original
-- record (replayed), other parameters a `reference_reused` error naming both.
local flexiroam = require "flexiroam"
local procs = require "spec.support.test_processes"
local turns = require "spec.support.turns"
local sandbox = require "spec.support.sandbox"
local stats, free_esims = sandbox.stats, sandbox.free_esims
local models = flexiroam.models

local KEY = "sandbox-key"
local in_process = _VERSION == "Lua 5.4" -- the sandbox itself is a Lua 5.4 program

local function sandbox_client(extra)
  local transport = require("flexiroam.sandbox.transport").new { sims = 30, seed = 5 }
  local opts = { api_key = KEY, base_url = "http://127.0.0.1", transport = transport }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return flexiroam.new(opts), transport
end


-- Runs the functions as coroutines over a transport that yields before
-- every request, taking turns: each request of one call is followed by one
-- of the other's, the closest interleaving two shoppers' clicks can have.
local function interleaved(transport, ...)
  local inner = transport.request
  transport.request = function(self, req)
    coroutine.yield()
    return inner(self, req)
  end
  local results = turns.run { ... }
  transport.request = inner
  return results
end

describe("a double click buys once", function()
  if not in_process then
    it("in one process", function() pending("skipped: the in-process sandbox runs under Lua 5.4 only") end)
  else
    it("two sell_plan calls with one reference, interleaved, end with one order and one SIM", function()
      for round = 1, 6 do
        local client, transport = sandbox_client()
        local ref = "click-" .. round
        local r = interleaved(transport,
          function() return client:sell_plan { plan_id = "FRA-1GB-7D", reference = ref } end,
          function() return client:sell_plan { plan_id = "FRA-1GB-7D", reference = ref } end)
        local a, b = r[1][1], r[2][1]
        assert(a, "round " .. round .. ": " .. tostring(r[1][2]))
        assert(b, "round " .. round .. ": " .. tostring(r[2][2]))
        assert.equals(a.order.id, b.order.id)
        assert.equals(a.sim.iccid, b.sim.iccid)
        assert.equals(a.activation.lpa, b.activation.lpa)
        assert.is_true(a.replayed ~= b.replayed, "exactly one of the two is the replay")
        local s = stats(client)
        assert.equals(1, s.charges[ref])
        assert.equals(1, s.orders)
      end
    end)

    it("purchase_plan with a repeated reference and the same parameters answers the original, replayed", function()
      local client = sandbox_client()
      local sim = free_esims(client, 1)[1]
      local first = assert(client:purchase_plan { iccid = sim, plan_id = "FRA-1GB-7D", reference = "again-1" })
      local second = assert(client:purchase_plan { iccid = sim, plan_id = "FRA-1GB-7D", reference = "again-1" })
      assert.equals(first.id, second.id)
      assert.is_false(first:is_replayed())
      assert.is_true(second:is_replayed())
      assert.is_true(models.is_replayed(second))
      assert.is_nil(rawget(second, "replayed")) -- never a field of the record
      assert.equals(1, stats(client).charges["again-1"])
    end)

    it("create_subscription likewise", function()
      local client = sandbox_client()
      local sim = free_esims(client, 1)[1]
      local first = assert(client:create_subscription { iccid = sim, plan_id = "DEU-2GB-M", reference = "sub-again" })
      local second = assert(client:create_subscription { iccid = sim, plan_id = "DEU-2GB-M", reference = "sub-again" })
      assert.equals(first.id, second.id)
      assert.is_false(first:is_replayed())
      assert.is_true(second:is_replayed())
    end)

    it("a repeated reference with other parameters is a reference_reused error naming both", function()
      local client = sandbox_client()
      local sims = free_esims(client, 2)
      local first = assert(client:purchase_plan { iccid = sims[1], plan_id = "FRA-1GB-7D", reference = "taken" })
      local order, err = client:purchase_plan { iccid = sims[2], plan_id = "FRA-1GB-7D", reference = "taken" }
      assert.is_nil(order)
      assert.equals("reference_reused", err.kind)
      assert.equals(409, err.status)
      assert.equals(first.id, err.existing.id)
      assert.equals("Order", models.kind(err.existing))
      assert.matches(sims[1], err.message, 1, true)
      assert.matches(sims[2], err.message, 1, true)
      assert.is_true(err.safe_to_retry) -- nothing was done
      assert.is_false(err.retryable)    -- and the same call would be refused again
      assert.equals(1, stats(client).orders)
    end)

    it("a batch holding one reference twice buys once, and both items answer that order", function()
      local client = sandbox_client()
      local sim = free_esims(client, 1)[1]
      local results, summary = client:purchase_many {
        { iccid = sim, plan_id = "FRA-1GB-7D", reference = "batch-twice" },
        { iccid = sim, plan_id = "FRA-1GB-7D", reference = "batch-twice" },
      }
      assert.equals(2, summary.ok)
      assert.equals(results[1].value.id, results[2].value.id)
      assert.equals(1, stats(client).charges["batch-twice"])
    end)
  end
end)

describe("a double click across processes", function()
  local sb
  lazy_setup(function()
    -- Every answer 80 ms late, so both shoppers look before either buys.
    sb = sandbox.start { sims = 30, seed = 9, latency_ms = 80 }
  end)
  lazy_teardown(function() if sb then sb:stop() end end)

  -- One shopper: a child process selling under `ref`; prints the order id
  -- and the SIM, or the error.
  local function shopper(ref, start_at)
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(procs.paths_prelude(), ([[
      local socket = require "socket"
      while socket.gettime() < %f do socket.sleep(0.005) end
      local client = require("flexiroam").new { api_key = %q, base_url = %q }
      local sale, err = client:sell_plan { plan_id = "FRA-1GB-7D", reference = %q }
      if sale then print("ok", sale.order.id, sale.sim.iccid, tostring(sale.replayed))
      else print("err", err.kind, tostring(err)) end
    ]]):format(start_at, KEY, sb.url, ref))
    f:close()
    local p = assert(io.popen(procs.lua_command(file) .. " 2>&1"))
    return p, file
  end

  it("two processes selling under one reference at once end with one order", function()
    local socket = require "socket"
    for round = 1, 4 do
      local ref = "two-procs-" .. round
      local at = socket.gettime() + 0.3
      local p1, f1 = shopper(ref, at)
      local p2, f2 = shopper(ref, at)
      local out1, out2 = p1:read("*a"), p2:read("*a")
      p1:close(); p2:close(); os.remove(f1); os.remove(f2)
      local s1, id1, sim1, rep1 = out1:match("^(%a+)\t(%S+)\t(%S+)\t(%a+)")
      local s2, id2, sim2, rep2 = out2:match("^(%a+)\t(%S+)\t(%S+)\t(%a+)")
      assert.equals("ok", s1, out1)
      assert.equals("ok", s2, out2)
      assert.equals(id1, id2)
      assert.equals(sim1, sim2)
      assert.is_true(rep1 ~= rep2, "exactly one of the two is the replay: " .. out1 .. out2)
      local client = flexiroam.new { api_key = KEY, base_url = sb.url }
      assert.equals(1, assert(client:request("GET", "/__sandbox/stats")).charges[ref])
    end
  end)
end)
