--- A batch's journal: one JSON object a line, appended and flushed as
-- items start and finish, so a rerun of a job that crashed skips what is
-- done and sends a purchase again only under the reference it carried.
--   {"journal": "flexiroam", "version": 2, "job": J, "sdk": V, "operations": [...], "calls": N}
--                                                   the first line: whose job this is
--   {"state": "run", "mode": M, "job": J}           every run that opened it
--   {"key": K, "state": "started", "reference": R, "operation": O, "iccid": I, "plan_id": P}
--                                                   before R is first sent
--   {"key": K, "state": "done", "value": V}         the item succeeded (or its lookup found it)
--   {"key": K, "state": "absent", "reference": R}   a lookup proved R bought nothing
--   {"key": K, "state": "failed", "kind": ..., "message": ..., "reference": R}
--
-- A job is its call list: J hashes every item's key (position, operation,
-- parameters, or the caller's own key), the set of operations and the SDK
-- version. A journal belongs to one job: opened for another list it
-- refuses (mode "resume"), unless the caller accepts the change ("extend":
-- then a purchase of the new list that is one the journal shows done or
-- unsettled under a key no longer in it, same operation, ICCID and plan,
-- refuses the job: the default key holds the position, so an item that
-- only moved would otherwise be bought again under a new reference);
-- mode "new" refuses any journal that exists. One process at a time holds
-- it (an flock, dropped by the kernel however the process dies).
--
-- Nothing is ever skipped silently: a line cut short by a crash (the last,
-- without its newline) is an error unless `repair` drops it, and any other
-- line that is not one of the records above, exactly (known states, each
-- with its fields and their types, nothing else; a header of this format
-- and version), is an error naming it. A line half understood could lose a
-- started purchase's reference, and a rerun would buy it again.
--
-- Every line is flushed; a started line is also synced (fsync) before its
-- purchase is sent, and a new journal's header with its directory, so not
-- even a power cut loses a reference that went out. Other lines are only
-- flushed: one lost to a power cut costs a lookup or a repeated read, never
-- a charge.
local json = require("flexiroam.json")
local core = require("flexiroam.core")
local errors = require("flexiroam.errors")

local journal = {}

local Journal = {}
Journal.__index = Journal

local FORMAT, VERSION = "flexiroam", 2

--- journal.fsync(file_or_path) -> true | nil, message, reason: how the
-- journal makes its lines durable (core.fsync). Called through this field,
-- so a spec can watch (or fail) it.
journal.fsync = core.fsync
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

-- What each record may hold: the shapes the writer below writes (the
-- header and run lines of journal.open, and Journal:started, done, absent
-- and failed), each field with its type and whether it must be there.
local function nonempty(v) return type(v) == "string" and v ~= "" end
local function is_string(v) return type(v) == "string" end
local function scalar(v) return type(v) == "string" or type(v) == "number" end
local function any() return true end
local function count(v) return type(v) == "number" and v >= 0 and v == math.floor(v) end
local function strings(v)
  if type(v) ~= "table" then return false end
  local n = #v
  for k, x in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) or type(x) ~= "string" then return false end
  end
  return true
end

local KEY = { nonempty, "a non-empty string", true }
local STATE = { is_string, "a string", true }
local REFERENCE = { nonempty, "a non-empty string", true }
local MODES = { resume = true, extend = true, new = true }
journal.MODES = MODES
local SHAPES = {
  header = { journal = { is_string, "a string", true }, version = { count, "a whole number", true },
    job = { nonempty, "a non-empty string", true }, sdk = { is_string, "a string" },
    operations = { strings, "a list of strings" }, calls = { count, "a whole number" } },
  run = { state = STATE, mode = { function(v) return MODES[v] ~= nil end, '"resume", "extend" or "new"' },
    job = { is_string, "a string" } },
  started = { key = KEY, state = STATE, reference = REFERENCE, operation = { is_string, "a string" },
    iccid = { scalar, "a string or a number" }, plan_id = { scalar, "a string or a number" } },
  done = { key = KEY, state = STATE, value = { any, "any value" } },
  absent = { key = KEY, state = STATE, reference = REFERENCE },
  failed = { key = KEY, state = STATE, kind = { nonempty, "a non-empty string", true },
    message = { is_string, "a string" }, reference = { nonempty, "a non-empty string" } },
}

-- A value in a message: a short string as itself (the journal's own
-- words: states, modes, references), anything else by its type.
-- A string with control characters (a newline would split the message's
-- line) or longer than a word is only counted.
local function shown(v)
  if v == json.null then return "null" end
  if type(v) == "string" then
    if #v <= 40 and not v:find("%c") then return string.format("%q", v) end
    return string.format("a string of %d bytes", #v)
  end
  return "a " .. type(v)
end

-- The first thing wrong with a decoded line, as words, or nil when it is
-- one of the records the writer writes. Fields it does not know come
-- first: a misspelled name ("ref") says more than the field it misses.
local function problem(rec, n)
  if type(rec) ~= "table" then return "the file is corrupt or not a journal" end
  local shape, what
  if rec.journal ~= nil then
    if rec.journal ~= FORMAT then
      return string.format('its "journal" is %s, not "%s": not this SDK\'s journal', shown(rec.journal), FORMAT)
    end
    if n ~= 1 then return "it starts a second job (a header belongs on line 1 only)" end
    if rec.version ~= VERSION then
      return string.format("it is a journal of version %s, and this SDK reads version %d (another SDK's?)",
        type(rec.version) == "number" and tostring(rec.version) or shown(rec.version), VERSION)
    end
    shape, what = SHAPES.header, "header"
  else
    local state = rec.state
    if state == nil then return 'it has no "state"' end
    if type(state) ~= "string" then return string.format('its "state" is %s, not a string', shown(state)) end
    shape = SHAPES[state]
    if not shape or state == "header" then
      return string.format('its state %q is none the journal writes (started, done, failed, absent, run)', state)
    end
    what = string.format("%q record", state)
  end
  for k, v in pairs(rec) do
    local field = type(k) == "string" and shape[k]
    if not field then return string.format("a %s has no field %s", what, shown(k)) end
    if not field[1](v) then
      return string.format("in a %s, %s must be %s, not %s", what, shown(k), field[2], shown(v))
    end
  end
  for name, field in pairs(shape) do
    if field[3] and rec[name] == nil then
      return string.format('a %s needs "%s" (%s)', what, name, field[2])
    end
  end
  return nil
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
      local wrong = problem(rec, n)
      if wrong then
        return fail(path, string.format("line %d is not a journal record: %s. Nothing was sent; a journal " ..
          "holds the references of purchases, and one it cannot read whole is not guessed at", n, wrong),
          { line = n })
      end
      stats.lines = stats.lines + 1
      if rec.journal ~= nil then
        header = rec
      elseif rec.state == "run" then
        stats.runs = stats.runs + 1
      else
        local known = records[rec.key]
        if not known then
          known = {}
          records[rec.key] = known
        end
        if rec.state == "done" then
          known.done, known.value = true, rec.value
          if known.value == json.null then known.value = nil end
        elseif rec.state == "started" then
          known.reference = known.reference or rec.reference
          known.operation, known.iccid, known.plan_id = rec.operation, rec.iccid, rec.plan_id
          known.absent, known.failed = nil, nil
        elseif rec.state == "absent" then
          known.absent = true
        else -- failed
          known.failed = { kind = rec.kind, message = rec.message }
        end
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
          "continue that job with a changed list, pass journal_mode = \"extend\": entries no longer in the list " ..
          "are reported and never sent again under their keys, their unknown outcomes are looked up first, and a " ..
          "purchase of the list that is one of them (same operation, ICCID and plan) done or unsettled is refused " ..
          "before anything is bought; to start a new job, use a new journal file", t.total, t.matching, t.other,
          t.done, t.started_unknown),
          { matching = t.matching, other = t.other, done = t.done, started_unknown = t.started_unknown,
            other_job = true })
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
  local ok, werr, created = true, nil, job and not header
  if created then
    ok, werr = self:_append { journal = FORMAT, version = VERSION, job = job.id, sdk = core.VERSION,
      operations = json.array(job.operations), calls = job.calls }
  end
  if ok then ok, werr = self:_append { state = "run", mode = mode, job = job and job.id or nil } end
  if not ok then
    self:close()
    return fail(path, "cannot be written (" .. tostring(werr) .. "); nothing was sent")
  end
  -- A new journal's header, and its name in the directory, on the disk
  -- before any started line: a power cut must not leave started lines in
  -- a file the directory has lost. A filesystem that cannot sync a
  -- directory ("unsupported") has nothing more to give.
  if created or stats.torn then
    local serr, sreason
    ok, serr = journal.fsync(file)
    if ok and created then
      local dir = path:match("^(.*)/[^/]*$") or "."
      ok, serr, sreason = journal.fsync(dir == "" and "/" or dir)
      if not ok and sreason == "unsupported" then ok = true end
    end
    if not ok then
      self:close()
      return fail(path, "cannot be synced to disk (" .. tostring(serr) .. "); nothing was sent")
    end
  end
  return self
end

-- A purchase's identity across keys: its operation, ICCID and plan (what
-- a started line records, and what the command line's --extend matches).
local function identity(operation, iccid, plan_id)
  return string.format("%s|%s|%s", tostring(operation), tostring(iccid), tostring(plan_id))
end

local MAX_LISTED = 10

--- Journal:refuse_rebuys(items) -> true | nil, err (kind "journal"): in
-- "extend" mode, after the unknown outcomes are looked up and before
-- anything is bought. The default key holds an item's position, so a
-- purchase that only moved in the list comes under a new key, with a new
-- reference the server would charge again. Each purchase of the list
-- whose key the journal does not know, and that is the same purchase
-- (operation, ICCID, plan) as an entry no longer in the list that is done
-- or still unsettled, refuses the whole job, naming both, unless it
-- carries that entry's reference (the server then answers the first
-- order). items: {{index =, key =, operation =, iccid =, plan_id =,
-- reference = (the caller's own, or nil)}}, the list's purchases.
function Journal:refuse_rebuys(items)
  local bought = {}
  for _, key in ipairs(self.orphans) do
    local known = self.records[key]
    if known and known.reference and (known.done or unsettled(known)) then
      -- Journals of 0.2.0's first days held no operation: the key has it.
      local id = identity(known.operation or key:match("^%d+:([%w_]+):"), known.iccid, known.plan_id)
      bought[id] = bought[id] or { key = key, known = known }
    end
  end
  if next(bought) == nil then return true end
  local clashes, refused = {}, {}
  for _, item in ipairs(items) do
    local old = not self.records[item.key] and bought[identity(item.operation, item.iccid, item.plan_id)]
    if old and item.reference ~= old.known.reference then
      refused[#refused + 1] = { index = item.index, key = old.key, reference = old.known.reference }
      if #clashes < MAX_LISTED then
        clashes[#clashes + 1] = string.format("item %d (%s of %s onto %s) is journal entry %s, %s under " ..
          "reference %s", item.index, tostring(item.operation), tostring(item.plan_id), tostring(item.iccid),
          old.key, old.known.done and "done" or "whose outcome is unknown", old.known.reference)
      end
    end
  end
  if #refused == 0 then return true end
  if #refused > #clashes then clashes[#clashes + 1] = string.format("and %d more", #refused - #clashes) end
  return fail(self.path, string.format("journal_mode = \"extend\" refuses to buy again what the journal shows " ..
    "bought or maybe bought under a key no longer in the list: %s. Nothing was bought. Pass each its old " ..
    "reference (the server answers the first order and charges nothing), give it its old key (client:batch's " ..
    "`key`), or leave it out; to buy it again on purpose, use a new journal", table.concat(clashes, "; ")),
    { refused = refused })
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

-- Only what a started line may hold (journal.read refuses anything else):
-- an ICCID or plan the API would refuse anyway is left out, not written.
local function scalar_or_nil(v)
  if scalar(v) then return v end
  return nil
end

--- Recorded before the first send: whatever happens next, a rerun knows
-- the reference (and how to look it up). Flushed, not yet synced: the
-- caller calls Journal:sync() before sending (one sync for every item it
-- starts at once).
function Journal:started(key, ref, operation, params)
  params = params or {}
  local iccid, plan_id = scalar_or_nil(params.iccid), scalar_or_nil(params.plan_id)
  local known = self.records[key] or {}
  self.records[key] = known
  known.reference, known.operation, known.iccid, known.plan_id = ref, operation, iccid, plan_id
  self.unsynced = true
  return self:_append { key = key, state = "started", reference = ref, operation = operation,
    iccid = iccid, plan_id = plan_id }
end

--- Journal:sync() -> true | nil, err, why: the started lines written so far
-- on the disk (fsync), so not even a power cut loses a reference that is
-- about to be sent. Nothing to do when none was written since the last.
-- err is the journal error each call started with them ends with (none of
-- them is sent); why, the disk's own words.
function Journal:sync()
  if not self.unsynced then return true end
  local ok, why = journal.fsync(self.file)
  if not ok then
    local _, err = fail(self.path, "cannot be synced to disk (" .. tostring(why) .. "); this call was not sent",
      { safe_to_retry = true, sent = false })
    return nil, err, why
  end
  self.unsynced = false
  return true
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
