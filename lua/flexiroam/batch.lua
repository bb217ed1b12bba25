--- Many calls at once: client:batch(calls, opts), client:map(name, list,
-- opts) and the bulk helpers (usage_many, purchase_many, auto_topup_many).
--
-- Each item is an ordinary client:call (its retries, its deadline, its
-- reference and reconciliation, its hooks) run in a coroutine of its own
-- through a copy of the client whose transport and clock yield to the
-- scheduler here: a request goes to a core.multi (libcurl's multi
-- interface: many transfers in flight over reused connections), a retry's
-- wait becomes a timer. So one item's backoff never holds up the others,
-- and the batch needs no threads.
--
-- Another transport runs the items one request at a time (the waits still
-- overlap), unless it offers :multi{max_connections =} returning an object
-- with the core.multi methods, as nginx's cosocket transport does
-- (flexiroam.transport.ngx_multi: a light thread a request).
local core = require "flexiroam.core"
local errors = require "flexiroam.errors"
local retry = require "flexiroam.retry"
local reference = require "flexiroam.reference"
local limiter = require "flexiroam.limiter"
local journal = require "flexiroam.journal"
local progress = require "flexiroam.progress"
local models = require "flexiroam.models"

local batch = {}

local DEFAULT_CONCURRENCY = 16
local MAX_CONCURRENCY = 4096
-- The longest single wait on the transfers: how late a timer may be
-- noticed if the transfers stay silent.
local MAX_WAIT_MS = 1000

local BATCH_KEYS = { concurrency = true, on_progress = true, rate = true, journal = true, progress = true }

-- What an item's coroutine yields to the scheduler: a transfer to wait
-- for, or a time to sleep.
local WAIT, SLEEP = {}, {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- A raise from deeper down, without the position it was raised at.
local function message_of(why)
  if type(why) == "string" then return (why:gsub("^[^\n]-:%d+: ", "")) end
  return tostring(why)
end

-- Batch options, and the per-call options every item gets (retries,
-- deadline_ms, ...). `level` is the caller's, for error positions.
local function read_options(opts, level)
  local o = { concurrency = DEFAULT_CONCURRENCY }
  if opts == nil then return o end
  if type(opts) ~= "table" then error("batch: options must be a table", level + 1) end
  for k, v in pairs(opts) do
    if BATCH_KEYS[k] then
      o[k] = v
    else
      o.call_opts = o.call_opts or {}
      o.call_opts[k] = v
    end
  end
  local c = o.concurrency
  if type(c) ~= "number" or c ~= math.floor(c) or c < 1 or c > MAX_CONCURRENCY then
    error("batch: concurrency must be an integer from 1 to " .. MAX_CONCURRENCY .. " (got " .. tostring(c) .. ")",
      level + 1)
  end
  if o.on_progress ~= nil and type(o.on_progress) ~= "function" then
    error("batch: on_progress must be a function(done, failed, total, rate)", level + 1)
  end
  if o.journal ~= nil and (type(o.journal) ~= "string" or o.journal == "") then
    error("batch: journal must be a file path", level + 1)
  end
  if o.progress ~= nil and type(o.progress) ~= "boolean" then
    error("batch: progress must be a boolean", level + 1)
  end
  if o.rate ~= nil then
    if type(o.rate) ~= "number" or o.rate ~= o.rate or o.rate <= 0 or o.rate == math.huge then
      error("batch: rate must be a number of requests a second, more than 0", level + 1)
    end
  end
  return o
end

-- Every item checked before anything is sent: misuse raises here, not
-- half-way through a job. -> items {index, name, params, opts, key, mode}
local function read_calls(client, calls, o, level)
  if type(calls) ~= "table" then error("batch: calls must be a list of {name, params [, opts]}", level + 1) end
  local items, keys = {}, {}
  for i = 1, #calls do
    local c = calls[i]
    if type(c) ~= "table" then
      error(("batch: call %d must be a table {name, params [, opts]}"):format(i), level + 1)
    end
    local name, params, opts = c.name or c[1], c.params or c[2], c.opts or c[3]
    if type(name) ~= "string" then error(("batch: call %d has no operation name"):format(i), level + 1) end
    if opts ~= nil and type(opts) ~= "table" then
      error(("batch: call %d: options must be a table"):format(i), level + 1)
    end
    if o.call_opts then
      local merged = copy(o.call_opts)
      for k, v in pairs(opts or {}) do merged[k] = v end
      opts = merged
    end
    local ok, op = pcall(client._validate, client, name, params, opts)
    if not ok then error(("batch: call %d: %s"):format(i, message_of(op)), level + 1) end
    local key = c.key
    if key ~= nil then
      if type(key) ~= "string" or key == "" then
        error(("batch: call %d: key must be a string"):format(i), level + 1)
      end
      if keys[key] then error(("batch: calls %d and %d have the same key %q"):format(keys[key], i, key), level + 1) end
      keys[key] = i
    end
    items[i] = { index = i, name = name, params = params, opts = opts, key = key, op = op,
      mode = (retry.mode(name, op)) }
  end
  return items
end

-- Models answer to the caller's client, not to the batch's copy of it;
-- values read back from a journal become models as a call's would.
local function bind(client, op, value)
  if type(value) ~= "table" then return value end
  local function rebind(v)
    local kind = models.kind(v)
    if kind then models.new(client, kind, v) end
  end
  if op.answer == "list" and type(value.items) == "table" then
    for _, v in ipairs(value.items) do rebind(v) end
  else
    rebind(value)
  end
  return (models.wrap(client, op, value))
end

-- Journal lookups, and a reference for every write that needs one: minted
-- now, or the one an earlier run of the job recorded.
local function settle_items(client, items, results, j)
  local skipped = 0
  for _, item in ipairs(items) do
    local known
    if j then
      item.key = item.key or journal.key(item.index, item.name, item.params)
      known = j:lookup(item.key)
    end
    if known and known.done then
      results[item.index] = { ok = true, value = bind(client, item.op, known.value), journaled = true }
      item.skip = true
      skipped = skipped + 1
    elseif item.mode == "reference" and (item.params == nil or item.params.reference == nil) then
      item.params = copy(item.params or {})
      item.params.reference = known and known.reference or reference.uuid4()
    end
  end
  return skipped
end

-- A core.multi with the client's session options, when the client sends
-- through the default session; a transport's own multi; or nil.
local function open_multi(client, concurrency)
  if client._session_opts and core.multi then
    local opts = copy(client._session_opts)
    opts.max_connections = concurrency
    return core.multi(opts)
  end
  local t = client._transport
  local kind = type(t)
  if (kind == "table" or kind == "userdata") and type(t.multi) == "function" then
    return t:multi { max_connections = concurrency }
  end
  return nil
end

local function run(client, items, results, o, j, skipped)
  local clock = client._clock
  local now = clock.now
  local total = #items
  local multi = open_multi(client, o.concurrency)
  local bar = o.progress and progress.available() and progress.new(now) or nil

  local transport
  if multi then
    transport = { request = function(_, req) return coroutine.yield(WAIT, multi:add(req)) end }
  else
    local inner = client._transport
    transport = { request = function(_, req) return inner:request(req) end }
  end
  local limiters = client._limiters
  if o.rate then
    limiters = limiters and copy(limiters) or {}
    limiters[#limiters + 1] = limiter.new(o.rate, nil, "batch: rate")
  end
  local view = client:_with {
    _transport = transport,
    _clock = { now = now, random = clock.random, time = clock.time,
      sleep = function(seconds) coroutine.yield(SLEEP, seconds) end },
    _limiters = limiters,
  }

  local started_at = now()
  local done, failed, running, next_index = skipped, 0, 0, 1
  local cancelled, why_cancelled = false, "the batch was cancelled before this call started"
  local waiting, timers = {}, {}

  local function stop(why)
    cancelled = true
    why_cancelled = why
  end

  local function report()
    local elapsed = now() - started_at
    local rate = elapsed > 0 and (done - skipped) / elapsed or 0
    if bar then bar:update(done, failed, total, rate) end
    if o.on_progress and o.on_progress(done, failed, total, rate) == false and not cancelled then
      stop("on_progress cancelled the batch before this call started")
    end
  end

  local function record(ok, why)
    if not ok then stop("the journal could not be written (" .. tostring(why) .. "); this call was not started") end
  end

  local function finish(item, value, err)
    running = running - 1
    done = done + 1
    if value ~= nil then
      value = bind(client, item.op, value)
      results[item.index] = { ok = true, value = value }
      if j then record(j:done(item.key, value)) end
    else
      if not errors.is_error(err) then err = errors.new("api", tostring(err)) end
      results[item.index] = { ok = false, err = err }
      failed = failed + 1
      if j then record(j:failed(item.key, err)) end
    end
    report()
  end

  local function resume(state, ...)
    local ok, what, arg = coroutine.resume(state.co, ...)
    if not ok then error(("batch: call %d: %s"):format(state.item.index, message_of(what)), 0) end
    if coroutine.status(state.co) == "dead" then return finish(state.item, what, arg) end
    if what == WAIT then
      waiting[arg] = state
    elseif what == SLEEP then
      timers[#timers + 1] = { wake = now() + arg, state = state }
    else
      error(("batch: call %d yielded outside the SDK (a hook that yields?)"):format(state.item.index), 0)
    end
  end

  local function start(item)
    -- Recorded before it is first sent: a crash from here on leaves the
    -- reference for the rerun, which looks it up or sends it again.
    if j and item.mode == "reference" then
      local ok, why = j:started(item.key, item.params.reference)
      if not ok then return record(ok, why) end
    end
    running = running + 1
    local state = { item = item }
    state.co = coroutine.create(function() return view:call(item.name, item.params, item.opts) end)
    resume(state)
  end

  local function wake_due()
    local t, due, earliest = now(), nil, nil
    for k = #timers, 1, -1 do
      local timer = timers[k]
      if timer.wake <= t then
        due = due or {}
        due[#due + 1] = table.remove(timers, k)
      elseif not earliest or timer.wake < earliest then
        earliest = timer.wake
      end
    end
    if due then
      table.sort(due, function(a, b) return a.wake < b.wake end)
      for _, timer in ipairs(due) do resume(timer.state) end
      return true
    end
    return false, earliest, t
  end

  local function loop()
    while true do
      while not cancelled and running < o.concurrency and next_index <= total do
        local item = items[next_index]
        next_index = next_index + 1
        if not item.skip then start(item) end
      end
      if running == 0 then return end
      local woke, earliest, t = wake_due()
      if not woke then
        if next(waiting) ~= nil then
          local wait_ms = MAX_WAIT_MS
          if earliest then wait_ms = math.max(0, math.min(MAX_WAIT_MS, math.ceil((earliest - t) * 1000))) end
          for _, r in ipairs(multi:perform(wait_ms)) do
            local state = waiting[r.id]
            if state then
              waiting[r.id] = nil
              resume(state, r.res, r.err)
            end
          end
        elseif earliest then
          -- Nothing in flight: the client's own sleep. The earliest timer
          -- is due afterwards even under a scripted clock that stood still.
          if clock.sleep then clock.sleep(earliest - t) end
          local first = 1
          for k = 2, #timers do if timers[k].wake < timers[first].wake then first = k end end
          resume(table.remove(timers, first).state)
        else
          error("batch: internal error: calls running but none waiting", 0)
        end
      end
    end
  end

  local ok, why = pcall(loop)
  if multi then multi:close() end
  if bar then bar:finish() end
  -- A value kept from the batch (a model holding its client) must not
  -- yield to a scheduler that is gone.
  view._transport, view._clock, view._limiters = client._transport, client._clock, client._limiters
  if not ok then error(why, 0) end

  local summary = { total = total, ok = 0, failed = failed, cancelled = 0, skipped = skipped,
    elapsed = now() - started_at }
  for i = 1, total do
    if results[i] == nil then
      results[i] = { ok = false, err = errors.new("cancelled", why_cancelled) }
      summary.cancelled = summary.cancelled + 1
    elseif results[i].ok then
      summary.ok = summary.ok + 1
    end
  end
  return results, summary
end

-- `level`: where the caller is, seen from here (the public functions
-- tail-call this, so 2).
local function execute(client, calls, opts, level)
  local o = read_options(opts, level)
  local items = read_calls(client, calls, o, level)
  local j
  if o.journal then
    local why
    j, why = journal.open(o.journal)
    if not j then error("batch: cannot open the journal " .. o.journal .. ": " .. tostring(why), level) end
  end
  local results = {}
  local ok, res, summary = pcall(function()
    local skipped = settle_items(client, items, results, j)
    return run(client, items, results, o, j, skipped)
  end)
  if j then j:close() end
  if not ok then error(res, 0) end
  return res, summary
end

--- client:batch(calls [, opts]) -> results, summary
-- calls: { {name, params [, opts]}, ... } (or {name =, params =, opts =,
-- key =}); results[i] = {ok = true, value = ...} | {ok = false, err = ...},
-- in the order of `calls`, one for every call. opts: concurrency (16),
-- rate (requests a second, on top of the client's rate_limit),
-- on_progress(done, failed, total, rate) (false cancels what has not
-- started), journal (a path), progress (a bar on stderr when it is a
-- terminal), and any call option (retries, deadline_ms, timeout_ms) for
-- every item. summary: {total, ok, failed, cancelled, skipped, elapsed}.
function batch.batch(client, calls, opts)
  return execute(client, calls, opts, 2)
end

--- client:map(name, list_of_params [, opts]): one `name` call a parameter table.
function batch.map(client, name, list, opts)
  if type(name) ~= "string" then error("map: the operation name must be a string", 2) end
  if type(list) ~= "table" then error("map: parameters must be a list of tables", 2) end
  local calls = {}
  for i = 1, #list do calls[i] = { name, list[i] } end
  return execute(client, calls, opts, 2)
end

-- A list of ICCIDs or of parameter tables -> parameter tables, `defaults`
-- filling in what an entry leaves out.
local function per_sim(where, list, defaults)
  if type(list) ~= "table" then error(where .. ": expected a list of ICCIDs or parameter tables", 3) end
  if defaults ~= nil and type(defaults) ~= "table" then error(where .. ": settings must be a table", 3) end
  local out = {}
  for i = 1, #list do
    local entry = list[i]
    local params = defaults and copy(defaults) or {}
    if type(entry) == "string" then
      params.iccid = entry
    elseif type(entry) == "table" then
      for k, v in pairs(entry) do params[k] = v end
    else
      error(("%s: entry %d must be an ICCID or a table"):format(where, i), 3)
    end
    out[i] = params
  end
  return out
end

--- client:usage_many(iccids [, opts]) -> results (values are get_usage's).
function batch.usage_many(client, iccids, opts)
  return batch.map(client, "get_usage", per_sim("usage_many", iccids), opts)
end

--- client:purchase_many({ {iccid =, plan_id = [, reference =]}, ... } [, opts])
-- One order a SIM, each under a reference of its own, minted before the
-- batch starts (and, with a journal, recorded before it is first sent: a
-- rerun after a crash sends or looks up that same reference).
function batch.purchase_many(client, purchases, opts)
  return batch.map(client, "purchase_plan", per_sim("purchase_many", purchases), opts)
end

--- client:auto_topup_many(iccids, settings [, opts]): update_auto_topup for
-- every SIM with the same settings ({enabled =, threshold =, quantity =,
-- ...}); an entry may be a table of its own that overrides them.
function batch.auto_topup_many(client, iccids, settings, opts)
  return batch.map(client, "update_auto_topup", per_sim("auto_topup_many", iccids, settings), opts)
end

return batch
