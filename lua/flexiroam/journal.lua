--- A batch's journal: one JSON object a line, appended and flushed as
-- items start and finish, so a rerun of a job that crashed skips what is
-- done and sends a purchase again only under the reference it carried.
--   {"journal": "flexiroam", "version": 2, "job": J, "sdk": V, "operations": [...], "calls": N}
--                                                   the first line: whose job this is
--   {"state": "run", "mode": M}                     every run that opened it
--   {"key": K, "state": "started", "reference": R, "operation": O, "iccid": I, "plan_id": P}
--                                                   before R is first sent
--   {"key": K, "state": "done", "value": V}         the item succeeded (or its lookup found it)
--   {"key": K, "state": "absent", "reference": R}   a lookup proved R bought nothing
--   {"key": K, "state": "failed", "kind": ..., "message": ..., "reference": R}
--
-- A job is its call list: J hashes every item's key (position, operation,
-- parameters, or the caller's own key), the set of operations and the SDK
-- version. A journal belongs to one job: opened for another list it
-- refuses (mode "resume"), unless the caller accepts the change ("extend");
-- mode "new" refuses any journal that exists. One process at a time holds
-- it (an flock, dropped by the kernel however the process dies).
--
-- Nothing is ever skipped silently: a line cut short by a crash (the last,
-- without its newline) is an error unless `repair` drops it, and any other
-- unreadable line is an error. Flushed is not synced: a process crash loses
-- nothing written, a power cut may lose the last lines (a rerun then looks
-- those purchases up by their references, or sends them again under them).
local json = require("flexiroam.json")
local core = require("flexiroam.core")
local errors = require("flexiroam.errors")

local journal = {}

local Journal = {}
Journal.__index = Journal

local FORMAT, VERSION = "flexiroam", 2
-- Longer than any record the SDK writes (a value is one API record); a
-- longer line is not ours, and reading stops there instead of filling memory.
local MAX_LINE = 4 * 1024 * 1024

-- A stable text for a parameter table: keys sorted, numbers as %.17g, so
-- equal tables hash alike in every run and under LuaJIT too.
local function canonical(value, out, depth)
  local t = type(value)
  if t == "table" and depth < 16 then
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      if ta == "number" or ta == "string" then return a < b end
      return tostring(a) < tostring(b)
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      canonical(k, out, depth + 1)
      out[#out + 1] = "="
      canonical(value[k], out, depth + 1)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "string" then
    out[#out + 1] = string.format("%q", value)
  elseif t == "number" then
    out[#out + 1] = string.format("%.17g", value)
  elseif value == json.null then
    out[#out + 1] = "null"
  else
    out[#out + 1] = tostring(value)
  end
end

-- Two 32-bit multiplicative hashes side by side (arithmetic only: no bit
-- operators, which LuaJIT and Lua 5.4 spell differently); 16 hex digits.
local function hash(text)
  local a, b = 5381, 0
  for i = 1, #text do
    local c = text:byte(i)
    a = (a * 33 + c) % 4294967296
    b = (b * 65599 + c) % 4294967296
  end
  return string.format("%08x%08x", a, b)
end

--- The default key of an item: its position, its operation and a hash of
-- its parameters, so a rerun over a changed list does not mistake one
-- item for another.
function journal.key(index, name, params)
  local out = { tostring(name), ":" }
  canonical(params or {}, out, 0)
  return string.format("%d:%s:%s", index, tostring(name), hash(table.concat(out)))
end

--- journal.fingerprint(name, params) -> 16 hex digits: the operation and
-- its parameters (canonical: keys sorted), alike in every run and under
-- LuaJIT; what the command line's position-independent keys and derived
-- references are made of.
function journal.fingerprint(name, params)
  local out = { tostring(name), ":" }
  canonical(params or {}, out, 0)
  return hash(table.concat(out))
end

--- job(keys, names) -> {id =, keys = set, operations = sorted list, calls = n}:
-- the identity of a call list, from its items' keys (in order) and
-- operation names.
function journal.job(keys, names)
  local set, ops = {}, {}
  for _, name in ipairs(names) do set[name] = true end
  for name in pairs(set) do ops[#ops + 1] = name end
  table.sort(ops)
  local key_set = {}
  for _, k in ipairs(keys) do key_set[k] = true end
  local id = hash(table.concat({ core.VERSION, table.concat(ops, ","), table.concat(keys, "\n") }, "|"))
  return { id = id, keys = key_set, operations = ops, calls = #keys }
end

local function fail(path, what, fields)
  return nil, errors.new("journal", "journal " .. path .. ": " .. what, fields)
end

-- Reads a journal's lines without trusting it: -> header | nil, records
-- {key -> {done =, value =, reference =, operation =, iccid =, plan_id =,
-- absent =, failed =}}, stats | nil, err
local function read(path, repair)
  local f = io.open(path, "rb")
  if not f then return nil, {}, { lines = 0, runs = 0 } end
  local text, rerr = f:read("*a")
  f:close()
  if not text then return fail(path, "cannot be read: " .. tostring(rerr)) end
  local header, records, stats = nil, {}, { lines = 0, runs = 0, torn = false }
  local pos, n = 1, 0
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    n = n + 1
    if not nl then
      -- The last line, without its newline: cut short by a crash.
      if repair then
        stats.torn = true
        break
      end
      return fail(path, string.format("line %d is cut short (%d bytes without an end: the process stopped " ..
        "while writing it). Its item was never sent. Run again with journal_repair = true to drop that line",
        n, #text - pos + 1), { line = n })
    end
    if nl - pos > MAX_LINE then return fail(path, string.format("line %d is longer than any record", n)) end
    local line = text:sub(pos, nl - 1)
    pos = nl + 1
    if line ~= "" then
      local rec = json.decode(line)
      if type(rec) ~= "table" then
        return fail(path, string.format("line %d is not a journal record: the file is corrupt or not a journal", n),
          { line = n })
      end
      stats.lines = stats.lines + 1
      if rec.journal == FORMAT then
        if n ~= 1 then return fail(path, string.format("line %d starts a second job", n), { line = n }) end
        header = rec
      elseif rec.state == "run" then
        stats.runs = stats.runs + 1
      elseif type(rec.key) == "string" and type(rec.state) == "string" then
        local known = records[rec.key]
        if not known then
          known = {}
          records[rec.key] = known
        end
        if rec.state == "done" then
          known.done, known.value = true, rec.value
          if known.value == json.null then known.value = nil end
        elseif rec.state == "started" and type(rec.reference) == "string" then
          known.reference = known.reference or rec.reference
          known.operation, known.iccid, known.plan_id = rec.operation, rec.iccid, rec.plan_id
          known.absent, known.failed = nil, nil
        elseif rec.state == "absent" then
          known.absent = true
        elseif rec.state == "failed" then
          known.failed = { kind = rec.kind, message = rec.message }
        end
      else
        return fail(path, string.format("line %d is not a journal record", n), { line = n })
      end
    end
  end
  return header, records, stats
end

-- Whether a key's outcome is unknown: started, never done, never proven
-- absent, and not failed with an answer that says nothing was done.
local function unsettled(known)
  if not known.reference or known.done or known.absent then return false end
  return not known.failed or known.failed.kind == "indeterminate"
end

-- What the records say, counted (inspect, and the refusal's message).
local function tally(records, keys)
  local t = { total = 0, done = 0, failed = 0, started_unknown = 0, absent = 0, matching = 0, other = 0 }
  for key, known in pairs(records) do
    t.total = t.total + 1
    if known.done then t.done = t.done + 1
    elseif unsettled(known) then t.started_unknown = t.started_unknown + 1
    elseif known.absent then t.absent = t.absent + 1
    elseif known.failed then t.failed = t.failed + 1 end
    if keys then
      if keys[key] then t.matching = t.matching + 1 else t.other = t.other + 1 end
    end
  end
  return t
end

local MODES = { resume = true, extend = true, new = true }
journal.MODES = MODES

--- journal.open(path [, {mode =, repair =, job =}]) -> journal | nil, err.
-- Takes the journal's lock, reads what earlier runs recorded, checks that
-- they were this job's (job: journal.job(...)), then appends. err is the
-- SDK's error object, kind "journal"; nothing has been sent.
function journal.open(path, opts)
  opts = opts or {}
  local mode = opts.mode or "resume"
  if mode == "new" then
    local f = io.open(path, "rb")
    if f then
      local size = f:seek("end")
      f:close()
      if size and size > 0 then
        return fail(path, "exists, and journal_mode = \"new\" starts a job only in a new file")
      end
    end
  end
  local lock, why, reason = core.lock(path)
  if not lock then
    if reason == "locked" then
      return fail(path, "is in use by another process (a batch is running on it); nothing was sent")
    end
    return fail(path, tostring(why))
  end
  local header, records, stats = read(path, opts.repair)
  if not stats then -- unreadable: `records` is the error
    lock:close()
    return nil, records
  end
  local job = opts.job
  local orphans = {}
  if job then
    local same = header ~= nil and header.job == job.id
    local has_records = next(records) ~= nil
    if (header or has_records) and not same then
      local t = tally(records, job.keys)
      if mode ~= "extend" then
        lock:close()
        return fail(path, string.format("belongs to another job: of its %d entries, %d match this list and %d " ..
          "do not; it shows %d purchases done and %d started whose outcome is unknown. Nothing was sent. To " ..
          "continue that job with a changed list (entries no longer in it are reported, never bought again), pass " ..
          "journal_mode = \"extend\"; to start a new job, use a new journal file", t.total, t.matching, t.other,
          t.done, t.started_unknown),
          { matching = t.matching, other = t.other, done = t.done, started_unknown = t.started_unknown })
      end
      for key in pairs(records) do
        if not job.keys[key] then orphans[#orphans + 1] = key end
      end
      table.sort(orphans)
    end
  end
  local file, oerr = io.open(path, "ab")
  if not file then
    lock:close()
    return fail(path, "cannot be written: " .. tostring(oerr))
  end
  if stats.torn then
    -- Drop the torn tail: rewrite the file without it (it was never sent).
    file:close()
    local whole = assert(io.open(path, "rb")):read("*a")
    local keep = whole:match("^(.*\n)") or ""
    file = io.open(path, "wb")
    if not file or not file:write(keep) or not file:flush() then
      lock:close()
      return fail(path, "cannot be repaired: the disk refused the rewrite")
    end
  end
  local self = setmetatable({ path = path, file = file, lock = lock, records = records, orphans = orphans,
    repaired = stats.torn and 1 or 0 }, Journal)
  -- Written now, before anything is sent: a journal the disk refuses
  -- (full, read-only) stops the job here, not after a purchase.
  local ok, werr = true, nil
  if job and not header then
    ok, werr = self:_append { journal = FORMAT, version = VERSION, job = job.id, sdk = core.VERSION,
      operations = json.array(job.operations), calls = job.calls }
  end
  if ok then ok, werr = self:_append { state = "run", mode = mode, job = job and job.id or nil } end
  if not ok then
    self:close()
    return fail(path, "cannot be written (" .. tostring(werr) .. "); nothing was sent")
  end
  return self
end

--- What an earlier run recorded under `key`: {done =, value =, reference =, ...} or nil.
function Journal:lookup(key)
  return self.records[key]
end

--- The entries whose purchase may or may not have happened: {key, reference, operation, iccid, plan_id}.
function Journal:unsettled()
  local out = {}
  for key, known in pairs(self.records) do
    if unsettled(known) then
      out[#out + 1] = { key = key, reference = known.reference, operation = known.operation, iccid = known.iccid,
        plan_id = known.plan_id }
    end
  end
  table.sort(out, function(a, b) return a.key < b.key end)
  return out
end

-- One line, written whole and flushed; nil and a message when the disk
-- refuses it.
function Journal:_append(record)
  local line = json.encode(record)
  if not line then
    -- A value the codec cannot write (a cycle, a function): the item is
    -- still recorded as done, without its value.
    record.value = nil
    local err
    line, err = json.encode(record)
    if not line then return nil, err end
  end
  local ok, werr = self.file:write(line, "\n")
  if ok then ok, werr = self.file:flush() end
  if not ok then return nil, werr end
  return true
end

--- Recorded before the first send: whatever happens next, a rerun knows
-- the reference (and how to look it up).
function Journal:started(key, ref, operation, params)
  params = params or {}
  local known = self.records[key] or {}
  self.records[key] = known
  known.reference, known.operation, known.iccid, known.plan_id = ref, operation, params.iccid, params.plan_id
  return self:_append { key = key, state = "started", reference = ref, operation = operation,
    iccid = params.iccid, plan_id = params.plan_id }
end

function Journal:done(key, value)
  local known = self.records[key] or {}
  self.records[key] = known
  known.done, known.value = true, value
  return self:_append { key = key, state = "done", value = value }
end

function Journal:absent(key, ref)
  local known = self.records[key] or {}
  self.records[key] = known
  known.absent = true
  return self:_append { key = key, state = "absent", reference = ref }
end

function Journal:failed(key, err)
  return self:_append { key = key, state = "failed", kind = err and err.kind, message = err and err.message,
    reference = err and err.reference }
end

function Journal:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
  if self.lock then
    self.lock:close()
    self.lock = nil
  end
end

-- The money of the purchases a journal records as done, by currency.
local function committed(records)
  local sums = {}
  for _, known in pairs(records) do
    local price = known.done and type(known.value) == "table" and known.value.price
    if type(price) == "table" and type(price.amount_minor) == "number" and type(price.currency) == "string" then
      sums[price.currency] = (sums[price.currency] or 0) + price.amount_minor
    end
  end
  return sums
end

--- journal.inspect(path) -> report | nil, err: what a journal records,
-- without sending anything or taking its lock: {job =, sdk =, calls =,
-- runs =, total =, done =, failed =, absent =, started_unknown =,
-- unsettled = {{key, reference, ...}}, committed = {[currency] = amount_minor},
-- torn = bool}.
function journal.inspect(path)
  local f = io.open(path, "rb")
  if not f then return fail(path, "does not exist") end
  f:close()
  local header, records, stats = read(path, true)
  if not stats then return nil, records end
  local t = tally(records)
  local report = setmetatable({ path = path, records = records }, Journal)
  return {
    job = header and header.job, sdk = header and header.sdk, calls = header and header.calls,
    operations = header and header.operations, runs = stats.runs, torn = stats.torn,
    total = t.total, done = t.done, failed = t.failed, absent = t.absent, started_unknown = t.started_unknown,
    unsettled = report:unsettled(), committed = committed(records),
  }
end

return journal
