--- The shared store's interface (flexiroam.store) in memory, on a clock
-- the spec moves (a fake clock's `t`), for the pipeline's side of the
-- shared state, exact and without a server:
--   local s = require("spec.support.memory_store").new(function() return clk.t end)
--   s.fail = "Redis: connection refused"   -- every call answers nil, err of kind store
--   s.log                                  -- the methods called, in order
--   s.values[key], s.expires[key]          -- what it holds, and until when
local store = require "flexiroam.store"

local M = {}

function M.new(now)
  local s = { kind = "memory", values = {}, expires = {}, tat = {}, pauses = {}, log = {}, fail = nil }

  -- Logs the call; -> the error to answer when the store is to fail.
  local function failing(name)
    s.log[#s.log + 1] = name
    if s.fail then return store.error(s.fail) end
  end

  local function live(key)
    local until_ = s.expires[key]
    if until_ and until_ <= now() then
      s.values[key], s.expires[key] = nil, nil
    end
    return s.values[key]
  end

  local function put(key, value, ttl)
    s.values[key], s.expires[key] = value, now() + ttl
  end

  function s.rate_take(_, key, interval, max_wait)
    local e = failing("rate_take")
    if e then return nil, e end
    local t = now()
    local slot = math.max(t, s.tat[key] or t, s.pauses[key] or t)
    local wait = slot - t
    if max_wait and wait > max_wait then return false, wait end
    s.tat[key] = slot + interval
    return wait
  end

  function s.rate_pause(_, key, seconds)
    local e = failing("rate_pause")
    if e then return nil, e end
    s.pauses[key] = math.max(s.pauses[key] or 0, now() + seconds)
    return true
  end

  function s.rate_paused(_, key)
    local e = failing("rate_paused")
    if e then return nil, e end
    return math.max(0, (s.pauses[key] or 0) - now())
  end

  function s.get(_, key)
    local e = failing("get")
    if e then return nil, e end
    return live(key)
  end

  function s.set(_, key, value, ttl, droppable)
    local e = failing(droppable and "set droppable" or "set")
    if e then return nil, e end
    put(key, value, ttl)
    return true
  end

  function s.add(_, key, value, ttl)
    local e = failing("add")
    if e then return nil, e end
    local current = live(key)
    if current ~= nil then return false, current end
    put(key, value, ttl)
    return true
  end

  function s.renew_if(_, key, value, ttl)
    local e = failing("renew_if")
    if e then return nil, e end
    if live(key) ~= value then return false end
    put(key, value, ttl)
    return true
  end

  function s.delete_if(_, key, value)
    local e = failing("delete_if")
    if e then return nil, e end
    if live(key) ~= value then return false end
    s.values[key], s.expires[key] = nil, nil
    return true
  end

  function s.delete(_, key)
    local e = failing("delete")
    if e then return nil, e end
    s.values[key], s.expires[key] = nil, nil
    return true
  end

  --- The keys it holds now (expired ones dropped), sorted.
  function s.keys()
    local out = {}
    for k in pairs(s.values) do
      if live(k) ~= nil then out[#out + 1] = k end
    end
    table.sort(out)
    return out
  end

  return s
end

return M
