--- A shared store (flexiroam.store's interface, its argument checks
-- included) whose keys live in memory with leases on a fake clock, for the
-- claim specs:
--   local s = lease_store.new(clk)    -- clk: spec.support.fake_clock
--   s.fail = "Redis: connection refused"   -- every call answers nil, err of kind "store"
--   s.before = function(name) end          -- runs first in every call (a coroutine may yield there)
--   s:ttl(key)  -- seconds the key has left (nil: absent);  s.log: the methods called, in order
local store = require "flexiroam.store"

local lease_store = {}

local Store = {}
Store.__index = Store

function lease_store.new(clk)
  return setmetatable({ kind = "memory", clk = clk, items = {}, log = {}, fail = nil }, Store)
end

-- The key's entry while its lease runs.
function Store:_live(key)
  local it = self.items[key]
  if it and it.expires <= self.clk.t then
    self.items[key] = nil
    return nil
  end
  return it
end

-- Logs the call; -> the error to answer when the store is failing.
function Store:_call(name)
  if self.before then self.before(name) end
  self.log[#self.log + 1] = name
  if self.fail then return store.error(self.fail) end
end

function Store:ttl(key)
  local it = self:_live(key)
  return it and it.expires - self.clk.t
end

function Store:get(key)
  local e = self:_call("get")
  if e then return nil, e end
  local it = self:_live(key)
  return it and it.value
end

function Store:set(key, value, ttl)
  local e = self:_call("set")
  if e then return nil, e end
  self.items[key] = { value = value, expires = self.clk.t + ttl }
  return true
end

function Store:add(key, value, ttl)
  local e = self:_call("add")
  if e then return nil, e end
  local it = self:_live(key)
  if it then return false, it.value end
  self.items[key] = { value = value, expires = self.clk.t + ttl }
  return true
end

function Store:renew_if(key, value, ttl)
  local e = self:_call("renew_if")
  if e then return nil, e end
  local it = self:_live(key)
  if not it or it.value ~= value then return false end
  it.expires = self.clk.t + ttl
  return true
end

function Store:delete_if(key, value)
  local e = self:_call("delete_if")
  if e then return nil, e end
  local it = self:_live(key)
  if not it or it.value ~= value then return false end
  self.items[key] = nil
  return true
end

function Store:delete(key)
  local e = self:_call("delete")
  if e then return nil, e end
  self.items[key] = nil
  return true
end

for _, name in ipairs { "rate_take", "rate_pause", "rate_paused" } do
  Store[name] = function() error("lease_store: " .. name .. " is not used by the claim specs") end
end

store.checked(Store)

return lease_store
