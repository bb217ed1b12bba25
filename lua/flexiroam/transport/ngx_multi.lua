-- luacheck: std luajit+ngx_lua
--- flexiroam.transport.ngx_multi: many requests in flight inside nginx, with
-- the methods of core.multi that flexiroam.batch uses:
--
--   local m = transport:multi { max_connections = 16 }
--   local id = m:add { method =, url =, headers =, body =, timeout_ms = }
--   for _, r in ipairs(m:perform(wait_ms)) do ... r.id, r.res, r.err end
--   m:pending()  -- added and not yet returned by perform
--   m:close()
--
-- Each request runs on an ngx.thread light thread of its own, through the
-- cosocket transport; perform waits on a semaphore the threads post when
-- they end, which yields to nginx, so a batch in a handler never holds the
-- worker. Only the coroutine that spawned a light thread may wait for it or
-- kill it, so add() only checks and queues: perform() spawns, and reaps a
-- thread only once it has ended. (ngx.thread.wait on several threads at
-- once is not used: ngx_lua 0.10.x leaves the threads that did not end first
-- marked as waited for, and each of them later resumes the parent wherever
-- it is suspended, e.g. in a hook's own ngx.sleep.)
--
-- A raise inside the transport is a bug, not an answer: perform raises it,
-- then and on every later call; close the multi.
local semaphore = require("ngx.semaphore")
local now = require("flexiroam.transport.ngx").now
local raise = require("flexiroam.misuse").raise

local M = {}

local Multi = {}
Multi.__index = Multi

local function misuse(message)
  raise("%s%s", "flexiroam.transport.ngx multi: ", message)
end

--- new(transport, {max_connections =}) -> multi. max_connections bounds
-- how many requests run at once (the rest wait in the queue); nil: no bound
-- beyond the batch's own concurrency.
function M.new(transport, opts)
  opts = opts or {}
  if type(opts) ~= "table" then misuse("options must be a table") end
  local max = opts.max_connections
  if max ~= nil and (type(max) ~= "number" or max < 1 or max ~= math.floor(max)) then
    misuse("max_connections must be a positive integer")
  end
  local sema, err = semaphore.new()
  if not sema then error("flexiroam: ngx.semaphore.new failed: " .. tostring(err), 2) end
  return setmetatable({
    transport = transport,
    sema = sema,   -- posted once by every request that ends
    owner = nil,   -- the coroutine that spawns, waits and kills (the first perform's)
    max = max or math.huge,
    queued = {},   -- {id =, r = prepared request}, in order
    running = {},  -- thread -> entry
    finished = {}, -- entries whose request has ended: {id =, res =, err =, thread =}
    last_id = 0,
    closed = false,
  }, Multi)
end

--- m:add(req) -> id. Raises on a malformed request or outside a phase with
-- cosockets, as transport:request does; sends nothing yet.
function Multi:add(req)
  if self.closed then misuse("multi is closed") end
  local r = self.transport:_prepare(req)
  self.last_id = self.last_id + 1
  self.queued[#self.queued + 1] = { id = self.last_id, r = r }
  return self.last_id
end

-- A raise in the transport is a bug, not an answer: perform raises it
-- rather than leave the request unfinished for ever. The entry is filed as
-- finished; its thread (known only once spawn has returned, which may be
-- after this ran to its end) is reaped by perform.
local function run(self, entry)
  local ok, res, err = pcall(self.transport._send, self.transport, entry.r)
  entry.r = nil
  if ok then
    entry.res, entry.err = res, err
  else
    self.raised = self.raised or res
  end
  self.finished[#self.finished + 1] = entry
  self.sema:post(1)
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Spawns what the queue holds, up to max at once; each entry leaves the
-- queue before its spawn, so a spawn that raises never starts one twice. A
-- request that fails at once (a refused connection) is finished before
-- spawn returns.
local function start_queued(self)
  local running = count(self.running)
  while running < self.max and #self.queued > 0 do
    local entry = table.remove(self.queued, 1)
    entry.thread = ngx.thread.spawn(run, self, entry)
    running = running + 1
    self.running[entry.thread] = entry
  end
end

-- The threads of entries that have ended are dead: waiting on one returns
-- at once and only reaps it. -> the answers {id =, res =, err =}
local function reap(self, entries)
  local out = {}
  for i, entry in ipairs(entries) do
    if self.running[entry.thread] then
      self.running[entry.thread] = nil
      ngx.thread.wait(entry.thread)
    end
    out[i] = { id = entry.id, res = entry.res, err = entry.err }
  end
  return out
end

local function check_owner(self)
  local co = coroutine.running()
  if self.owner == nil then self.owner = co end
  if self.owner ~= co then
    misuse("perform and close must run in the coroutine that first called perform (it owns the threads)")
  end
end

--- m:perform(wait_ms) -> { {id =, res =, err =}, ... }: starts what was
-- added, then waits up to wait_ms for at least one request to finish
-- (yielding to nginx meanwhile) and returns those that have.
function Multi:perform(wait_ms)
  if self.closed then misuse("multi is closed") end
  if type(wait_ms) ~= "number" or wait_ms < 0 then misuse("wait_ms must be a number >= 0") end
  check_owner(self)
  start_queued(self)
  -- A post may outlive its entry (collected by an earlier perform): wait
  -- until something has ended or the time is up.
  local deadline = now() + wait_ms / 1000
  while #self.finished == 0 and next(self.running) ~= nil do
    local left = deadline - now()
    if left <= 0 then break end
    self.sema:wait(left)
  end
  local done = reap(self, self.finished)
  self.finished = {}
  if self.raised then error(self.raised, 0) end
  return done
end

--- m:pending() -> how many requests were added and not yet returned by
-- perform: queued, running, or ended and waiting to be collected (what
-- core.multi's pending counts).
function Multi:pending()
  if self.closed then misuse("multi is closed") end
  -- An ended request stays in `running` until perform reaps it.
  return #self.queued + count(self.running)
end

--- Stops every request still running (their connections are closed, not
-- pooled) and forgets the queue. Idempotent.
function Multi:close()
  if self.closed then return end
  if next(self.running) ~= nil then check_owner(self) end
  self.closed = true
  for thread in pairs(self.running) do ngx.thread.kill(thread) end
  self.running, self.queued, self.finished = {}, {}, {}
end

function Multi:__tostring()
  return "flexiroam.transport.ngx multi: " .. count(self.running) .. " running, " .. #self.queued .. " queued"
end

return M
