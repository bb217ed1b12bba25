--- Many calls at once: client:batch(calls, opts), client:map(name, list,
-- opts) and the bulk helpers (usage_many, purchase_many, auto_topup_many).
--
-- Each item is an ordinary call of the client's pipeline (flexiroam.pipeline:
-- its retries, its deadline, its reference and reconciliation, its hooks)
-- run in a coroutine of its own under a scheduler of the batch's: a request
-- goes to the transport's multi (docs/transport.md: libcurl's multi
-- interface, many transfers over reused connections; inside nginx a light
-- thread a request; for a transport with only :request, one at a time), and
-- a retry's wait becomes a timer. So one item's backoff never holds up the
-- others, and the batch needs no threads.
local errors = require("flexiroam.errors")
local limiter = require("flexiroam.limiter")
local journal = require("flexiroam.journal")
local progress = require("flexiroam.progress")
local models = require("flexiroam.models")
local options = require("flexiroam.options")
local pipeline = require("flexiroam.pipeline")
local raise = require("flexiroam.misuse").raise

local batch = {}

local DEFAULT_CONCURRENCY = 16
local MAX_CONCURRENCY = 4096
-- The longest single wait on the transfers: how late a timer may be
-- noticed if the transfers stay silent.
local MAX_WAIT_MS = 1000

local BATCH_KEYS = {
  concurrency = true, on_progress = true, rate = true, journal = true, progress = true, journal_mode = true,
  journal_repair = true,
}

-- What an item's coroutine yields to the scheduler: a transfer to wait
-- for, or a time to sleep.
local WAIT, SLEEP = {}, {}

-- A raise from deeper down, without the position it was raised at.
local function message_of(why)
  if type(why) == "string" then return (why:gsub("^[^\n]-:%d+: ", "")) end
  return tostring(why)
end

-- Batch options, and the per-call options every item gets (retries,
-- deadline_ms, ...).
local function read_options(opts)
  if type(opts) == "table" then options.check_keys("batch", opts, options.union(options.PER_CALL, BATCH_KEYS)) end
  local o, call_opts = options.split("batch", opts, BATCH_KEYS)
  o.call_opts = call_opts
  o.concurrency = o.concurrency or DEFAULT_CONCURRENCY
  options.number("batch", "concurrency", o.concurrency, 1, MAX_CONCURRENCY, true)
  options.callable("batch", "on_progress", o.on_progress, "a function(done, failed, total, rate)")
  if o.journal ~= nil and (type(o.journal) ~= "string" or o.journal == "") then
    raise("batch: journal must be a file path")
  end
  if o.progress ~= nil and type(o.progress) ~= "boolean" then raise("batch: progress must be a boolean") end
  if o.journal_mode ~= nil and not journal.MODES[o.journal_mode] then
    raise('batch: journal_mode must be "resume", "extend" or "new" (got %s)', tostring(o.journal_mode))
  end
  if o.journal_repair ~= nil and type(o.journal_repair) ~= "boolean" then
    raise("batch: journal_repair must be a boolean")
  end
  if (o.journal_mode ~= nil or o.journal_repair ~= nil) and o.journal == nil then
    raise("batch: journal_mode and journal_repair need a journal")
  end
  if o.rate ~= nil and not (type(o.rate) == "number" and o.rate > 0 and o.rate < math.huge) then
    raise("batch: rate must be a number of requests a second, more than 0")
  end
  return o
end

-- Every item checked before anything is sent: misuse raises here, not
-- half-way through a job. -> items {index, name, params, key, call}
local function read_calls(client, pipe, calls, o)
  if type(calls) ~= "table" then raise("batch: calls must be a list of {name, params [, opts]}") end
  local items, keys = {}, {}
  for i = 1, #calls do
    local c = calls[i]
    if type(c) ~= "table" then raise("batch: call %d must be a table {name, params [, opts]}", i) end
    local name, params, opts = c.name or c[1], c.params or c[2], c.opts or c[3]
    if type(name) ~= "string" then raise("batch: call %d has no operation name", i) end
    if opts ~= nil and type(opts) ~= "table" then raise("batch: call %d: options must be a table", i) end
    if o.call_opts then opts = options.merge(o.call_opts, opts) end
    local ok, call = pcall(pipe.prepare, pipe, client, name, params, opts)
    if not ok then raise("batch: call %d: %s", i, message_of(call)) end
    local key = c.key
    if key ~= nil then
      if type(key) ~= "string" or key == "" then raise("batch: call %d: key must be a string", i) end
      if keys[key] then raise("batch: calls %d and %d have the same key %q", keys[key], i, key) end
      keys[key] = i
    end
    items[i] = { index = i, name = name, params = params, key = key, call = call }
  end
  return items
end

-- Journal lookups, and the reference of every write that takes one: the
-- one an earlier run of the job recorded, or minted now.
local function settle_items(client, items, results, j)
  local skipped = 0
  for _, item in ipairs(items) do
    local known, call = nil, item.call
    if j then known = j:lookup(item.key) end
    if known and known.done then
      -- Values read back from a journal become models as a call's would.
      results[item.index] = { ok = true, value = (models.wrap(client, call.op, known.value)), journaled = true }
      item.skip = true
      skipped = skipped + 1
    else
      if known and known.reference and call.reference_param and call.params[call.reference_param] == nil then
        pipeline.set_reference(call, known.reference)
      end
      pipeline.reference(call)
    end
  end
  return skipped
end

local function run(pipe, items, results, o, j, skipped)
  local clock = pipe.clock
  local now = clock.now
  local total = #items
  local multi = pipe:multi(o.concurrency)
  local bar = o.progress and progress.available() and progress.new(now) or nil
  local sched = pipe:scheduler {
    send = function(req) return coroutine.yield(WAIT, multi:add(req)) end,
    sleep = function(seconds) coroutine.yield(SLEEP, seconds) end,
    rate_limiter = o.rate and limiter.new(o.rate, nil, "batch: rate") or nil,
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

  local function start(item, starting)
    -- Recorded before it is first sent: a crash from here on leaves the
    -- reference for the rerun, which looks it up or sends it again.
    local ref = item.call.reference
    if j and ref then
      local ok, why = j:started(item.key, ref, item.name, item.call.params)
      if not ok then return record(ok, why) end
    end
    starting[#starting + 1] = item
  end

  -- Sends what start() took on: first their started lines go to the disk
  -- (Journal:sync, one fsync for all of them, not one an item); a sync the
  -- disk refuses fails those items with a journal error, unsent, and
  -- cancels the rest.
  local function launch(starting)
    if j then
      local ok, err, why = j:sync()
      if not ok then
        for _, item in ipairs(starting) do
          results[item.index] = { ok = false, err = err }
          done, failed = done + 1, failed + 1
        end
        stop("the journal could not be synced to disk (" .. tostring(why) .. "); this call was not started")
        return report()
      end
    end
    for _, item in ipairs(starting) do
      -- on_progress may cancel as an earlier one ends at once: the rest
      -- were never sent (a rerun looks their started lines up first).
      if cancelled then break end
      running = running + 1
      local state = { item = item }
      state.co = coroutine.create(function() return pipe:run(item.call, sched) end)
      resume(state)
    end
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
      -- Again while there is room: a call may end as it starts (a
      -- validation error), freeing its place at once.
      repeat
        local starting = {}
        while not cancelled and running + #starting < o.concurrency and next_index <= total do
          local item = items[next_index]
          next_index = next_index + 1
          if not item.skip then start(item, starting) end
        end
        if #starting > 0 then launch(starting) end
      until cancelled or running >= o.concurrency or next_index > total
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
          clock.sleep(earliest - t)
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
  multi:close()
  if bar then bar:finish() end
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

-- The journal of this job: its identity from the items' keys, opened
-- (and locked) in the caller's mode. -> journal | nil, err
local function open_journal(items, o)
  local keys, names = {}, {}
  for i, item in ipairs(items) do
    item.key = item.key or journal.key(item.index, item.name, item.params)
    keys[i], names[i] = item.key, item.name
  end
  return journal.open(o.journal, { mode = o.journal_mode, repair = o.journal_repair,
    job = journal.job(keys, names) })
end

-- Every purchase the journal shows started but never settled (the process
-- died with it in flight), looked up by its reference before anything is
-- sent, whether or not this list still holds it: found, it is recorded
-- done; proven absent, recorded so (a rerun may send it again, under the
-- same reference). -> count | nil, err (nothing sent)
local function reconcile_unsettled(client, pipe, j)
  local n = 0
  for _, entry in ipairs(j:unsettled()) do
    local operation = entry.operation or entry.key:match("^%d+:([%w_]+):")
    local op = operation and pipe.operations[operation]
    if not (op and op.reconcile) then
      return nil, errors.new("journal", string.format("journal %s: the purchase started under reference %s " ..
        "(%s) cannot be looked up: no operation to reconcile it; nothing was sent", j.path, entry.reference,
        tostring(operation)))
    end
    local call = pipe:prepare(client, operation, { iccid = entry.iccid, plan_id = entry.plan_id,
      reference = entry.reference })
    pipeline.reference(call)
    local found, outcome, err = pipe:reconcile(call, pipe.direct)
    if outcome == "found" then
      local ok, why = j:done(entry.key, found)
      if not ok then
        return nil, errors.new("journal", "journal " .. j.path .. ": cannot be written: " .. tostring(why))
      end
    elseif outcome == "absent" then
      j:absent(entry.key, entry.reference)
    else
      return nil, errors.new("indeterminate", string.format("journal %s: the purchase started under reference %s " ..
        "could not be settled (%s); nothing was sent: run the job again", j.path, entry.reference,
        err and tostring(err.message) or outcome), { cause = err, reference = entry.reference, safe_to_retry = true })
    end
    n = n + 1
  end
  return n
end

-- "extend": a purchase of the new list that is one the journal shows
-- done or unsettled under a key no longer in the list (it only moved, and
-- the default key holds its position) is refused before anything is
-- bought (Journal:refuse_rebuys). -> true | nil, err
local function refuse_rebuys(items, j)
  if #j.orphans == 0 then return true end
  local purchases = {}
  for _, item in ipairs(items) do
    local call = item.call
    if call.reference_param then
      purchases[#purchases + 1] = { index = item.index, key = item.key, operation = item.name,
        iccid = call.params.iccid, plan_id = call.params.plan_id, reference = call.params[call.reference_param] }
    end
  end
  return j:refuse_rebuys(purchases)
end

local function execute(client, pipe, calls, opts)
  local o = read_options(opts)
  local items = read_calls(client, pipe, calls, o)
  local j, reconciled
  if o.journal then
    local err
    j, err = open_journal(items, o)
    if not j then return nil, err end
    reconciled, err = reconcile_unsettled(client, pipe, j)
    local ok
    if reconciled then ok, err = refuse_rebuys(items, j) end
    if not (reconciled and ok) then
      j:close()
      return nil, err
    end
  end
  local results = {}
  local ok, res, summary = pcall(function()
    local skipped = settle_items(client, items, results, j)
    return run(pipe, items, results, o, j, skipped)
  end)
  if j then
    j:close()
    if ok then
      summary.reconciled = reconciled
      -- In the journal, no longer in the list ("extend"): reported, never
      -- sent again under their keys (and refuse_rebuys kept the list from
      -- buying them again under new ones).
      summary.orphaned = j.orphans
      summary.repaired = j.repaired
    end
  end
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
function batch.batch(client, pipe, calls, opts)
  return execute(client, pipe, calls, opts)
end

--- client:map(name, list_of_params [, opts]): one `name` call a parameter table.
function batch.map(client, pipe, name, list, opts)
  if type(name) ~= "string" then raise("map: the operation name must be a string") end
  if type(list) ~= "table" then raise("map: parameters must be a list of tables") end
  local calls = {}
  for i = 1, #list do calls[i] = { name, list[i] } end
  return execute(client, pipe, calls, opts)
end

-- A list of ICCIDs or of parameter tables -> parameter tables, `defaults`
-- filling in what an entry leaves out.
local function per_sim(where, list, defaults)
  if type(list) ~= "table" then raise("%s: expected a list of ICCIDs or parameter tables", where) end
  if defaults ~= nil and type(defaults) ~= "table" then raise("%s: settings must be a table", where) end
  local out = {}
  for i = 1, #list do
    local entry = list[i]
    local params = options.copy(defaults) or {}
    if type(entry) == "string" then
      params.iccid = entry
    elseif type(entry) == "table" then
      for k, v in pairs(entry) do params[k] = v end
    else
      raise("%s: entry %d must be an ICCID or a table", where, i)
    end
    out[i] = params
  end
  return out
end

--- client:usage_many(iccids [, opts]) -> results (values are get_usage's).
function batch.usage_many(client, pipe, iccids, opts)
  return batch.map(client, pipe, "get_usage", per_sim("usage_many", iccids), opts)
end

--- client:purchase_many({ {iccid =, plan_id = [, reference =]}, ... } [, opts])
-- One order a SIM, each under a reference of its own, minted before the
-- batch starts (and, with a journal, recorded before it is first sent: a
-- rerun after a crash sends or looks up that same reference).
function batch.purchase_many(client, pipe, purchases, opts)
  return batch.map(client, pipe, "purchase_plan", per_sim("purchase_many", purchases), opts)
end

--- client:auto_topup_many(iccids, settings [, opts]): update_auto_topup for
-- every SIM with the same settings ({enabled =, threshold =, quantity =,
-- ...}); an entry may be a table of its own that overrides them.
function batch.auto_topup_many(client, pipe, iccids, settings, opts)
  return batch.map(client, pipe, "update_auto_topup", per_sim("auto_topup_many", iccids, settings), opts)
end

return batch
