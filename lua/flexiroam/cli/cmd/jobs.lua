--- flexiroam jobs run|resume|inspect FILE: bulk calls from a file, through
-- client:batch with a journal (FILE.journal unless --journal): each item's
-- reference is recorded before it is first sent, and a run that stopped
-- half-way (Ctrl-C, a crash, a lost connection) is run again with `jobs
-- resume FILE`: what is done is skipped, purchases whose outcome is
-- unknown are looked up by their reference before anything is sent, and
-- nothing is ever bought twice.
local json = require("flexiroam.json")
local journal = require("flexiroam.journal")
local reference = require("flexiroam.reference")
local flexiroam_jobs = require("flexiroam.jobs")
local operations = require("flexiroam.operations")
local pipeline = require("flexiroam.pipeline")
local errors = require("flexiroam.errors")
local models = require("flexiroam.models")
local checks = require("flexiroam.cli.checks")
local job_file = require("flexiroam.cli.job_file")
local catalogue = require("flexiroam.cli.catalogue")
local prompt = require("flexiroam.cli.prompt")
local dry_run = require("flexiroam.cli.dry_run")

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function journal_of(args)
  return args.journal or (args.file .. ".journal")
end

local function is_money(name)
  return pipeline.mode_of(operations[name]) == "reference"
end

-- What a journal records, by key, read without the SDK's lock (before the
-- batch opens it): {done =, reference =, operation =, iccid =, plan_id =,
-- absent =, failed = kind}. nil when there is no journal.
local function journal_records(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local records, salt = {}, nil
  for line in f:lines() do
    local rec = json.decode(line)
    if type(rec) == "table" and type(rec.key) == "string" and type(rec.state) == "string" then
      local known = records[rec.key] or {}
      records[rec.key] = known
      if rec.state == "done" then
        known.done = true
      elseif rec.state == "started" and type(rec.reference) == "string" then
        known.reference = known.reference or rec.reference
        known.operation, known.iccid, known.plan_id = rec.operation, rec.iccid, rec.plan_id
        known.absent, known.failed = nil, nil
        salt = salt or rec.reference:match("^job%-(%x%x%x%x%x%x%x%x)%-%x+%-%d+$")
      elseif rec.state == "absent" then
        known.absent = true
      elseif rec.state == "failed" then
        known.failed = tostring(rec.kind)
      end
    end
  end
  f:close()
  return records, salt
end

-- Whether a purchase may have gone through: done, or started and never
-- settled.
local function maybe_bought(known)
  if known.done then return true end
  if not known.reference or known.absent then return false end
  return known.failed == nil or known.failed == "indeterminate"
end

-- Each call's key and, for a purchase without its own reference, its
-- reference, both from its content alone (operation, canonical parameters
-- and how many identical records come before it), never from its
-- position or the file's name: a record added above others changes no
-- key, and the same file run again (its journal lost, or another
-- --journal) sends the same references, which the API answers with the
-- first orders (replayed) instead of charging again. `salt` (--new-job)
-- makes the references new, for a deliberate repeat purchase.
-- A key the journal already holds keeps the reference it was sent under.
local function identify(calls, salt, records)
  local seen = {}
  for _, c in ipairs(calls) do
    local fp = journal.fingerprint(c.name, c.params)
    local n = (seen[c.name .. ":" .. fp] or 0) + 1
    seen[c.name .. ":" .. fp] = n
    c.key = c.key or string.format("%s:%s#%d", c.name, fp, n)
    local param = operations[c.name].reference or "reference"
    local known = records and records[c.key]
    if is_money(c.name) and c.params[param] == nil and known and known.reference then
      c.params[param] = known.reference
    elseif is_money(c.name) and c.params[param] == nil then
      c.params[param] = salt and string.format("job-%s-%s-%d", salt, fp, n) or string.format("job-%s-%d", fp, n)
      c.derived = true
    end
  end
end

-- --extend: a purchase the journal does not know that matches (operation,
-- ICCID, plan) one it shows done or unclear under a key no longer in the
-- file is refused, before anything is sent: it is likely the same order
-- under a changed key, and buying it would charge twice.
local function refuse_rebuys(ctx, calls, records, journal_path)
  local current = {}
  for _, c in ipairs(calls) do current[c.key] = true end
  local orphans = {}
  for key, known in pairs(records) do
    if not current[key] and known.operation and maybe_bought(known) then
      orphans[string.format("%s|%s|%s", known.operation, tostring(known.iccid), tostring(known.plan_id))] =
        { key = key, known = known }
    end
  end
  local clashes = {}
  for _, c in ipairs(calls) do
    local o = is_money(c.name) and not records[c.key] and
      orphans[string.format("%s|%s|%s", c.name, tostring(c.params.iccid), tostring(c.params.plan_id))]
    -- Given the old entry's own reference (a `reference` column, as the
    -- refusal suggests), it is that order: the API answers with it
    -- (replayed) and charges nothing again.
    if o and not c.derived and c.params[operations[c.name].reference or "reference"] == o.known.reference then
      o = nil
    end
    if o then
      clashes[#clashes + 1] = string.format("%s:%d (%s %s onto %s) matches journal entry %s, %s under reference %s",
        ctx.args.file, c.line, c.name, tostring(c.params.plan_id), tostring(c.params.iccid), o.key,
        o.known.done and "done" or "whose outcome is unknown", tostring(o.known.reference))
    end
  end
  if #clashes > 0 then
    error({ kind = "conflict", message = string.format("--extend refuses to buy again what %s shows bought or " ..
      "maybe bought under a key no longer in the file: %s. Nothing was sent. Remove those records from the " ..
      "file, or give each its old `key` (or `reference`) column", journal_path, table.concat(clashes, "; ")) }, 0)
  end
end

-- What the job will do, for the confirmation: counts by operation, the
-- money at catalogue prices, what its journal already holds.
local function summary_lines(ctx, calls, journal_path)
  local counts, names, writes, sums = {}, {}, false, {}
  local prices
  for _, c in ipairs(calls) do
    if not counts[c.name] then names[#names + 1] = c.name end
    counts[c.name] = (counts[c.name] or 0) + 1
    if pipeline.mode_of(operations[c.name]) ~= "read" then writes = true end
    if is_money(c.name) then
      if not prices then
        prices = {}
        for plan in ctx:client():plans({ limit = 100 }, { fields = { "id", "price" } }) do
          prices[rawget(plan, "id")] = rawget(plan, "price")
        end
      end
      local price = prices[c.params.plan_id]
      if not price then
        error(errors.new("not_found", string.format("%s:%d: no plan %q in the catalogue; nothing was sent",
          ctx.args.file, c.line, tostring(c.params.plan_id))), 0)
      end
      sums[price.currency] = (sums[price.currency] or 0) + price.amount_minor
    end
  end
  local parts = {}
  for _, name in ipairs(names) do parts[#parts + 1] = counts[name] .. " " .. name end
  local lines = { string.format("about to run %s: %d calls (%s)", ctx.args.file, #calls, table.concat(parts, ", ")) }
  if prices then lines[#lines + 1] = "  purchases at catalogue prices: " .. catalogue.total_text(sums) end
  if exists(journal_path) then
    local report = flexiroam_jobs.inspect(journal_path)
    if report then
      lines[#lines + 1] = string.format("  journal %s: %d done (skipped, never sent again), %d failed (sent " ..
        "again under the same reference), %d with an unknown outcome (looked up first)", journal_path,
        report.done, report.failed, report.started_unknown)
    end
  else
    lines[#lines + 1] = "  journal " .. journal_path .. ": new; each reference is recorded there before it is sent"
  end
  return lines, writes
end

local RESULT_COLUMNS = {}
for _, name in ipairs { "line", "operation", "iccid", "plan_id", "reference", "status", "id", "error" } do
  RESULT_COLUMNS[#RESULT_COLUMNS + 1] = { name = name, get = function(r) return r[name] end }
end

local function row(call, result)
  local r = { line = call.line, operation = call.name, iccid = call.params.iccid, plan_id = call.params.plan_id }
  if result.ok then
    local v = result.value
    r.status = result.journaled and "done before" or "done"
    -- The API answered an earlier order under this reference: nothing was
    -- charged now (a rerun; --new-job buys again on purpose).
    if not result.journaled and models.is_replayed(v) then r.status = "replayed" end
    if type(v) == "table" then
      r.id = rawget(v, "id")
      r.reference = rawget(v, "reference")
    end
  else
    local err = result.err
    r.status = err.kind == "cancelled" and "not started" or "failed"
    r.reference = err.reference or call.params.reference
    r.error = tostring(err.kind) .. ": " .. tostring(err.message)
  end
  r.reference = r.reference or call.params.reference
  return r
end

local function dry(ctx, calls, journal_path, records)
  local client = ctx:client()
  local skipped = 0
  return ctx:dry_run(function()
    for _, c in ipairs(calls) do
      local known = records and records[c.key]
      if known and known.done then
        skipped = skipped + 1
        ctx.say(string.format("%s:%d: done in %s: skipped, it would not be sent", ctx.args.file, c.line,
          journal_path))
      else
        local ok, _, err = dry_run.run(ctx, function() return client:call(c.name, c.params) end)
        if not ok and err then error(err, 0) end
      end
    end
  end, {
    "references not in the file are derived from each record's content (the same in every run of this file; " ..
      "--new-job makes new ones) and recorded in " .. journal_path .. " before each is sent",
  })
end

local function execute(ctx, args, mode)
  local journal_path = journal_of(args)
  if mode ~= "new-or-resume" and not exists(journal_path) then
    error({ kind = "not_found", message = "no journal " .. journal_path .. " to resume: `flexiroam jobs run " ..
      args.file .. "` starts the job" }, 0)
  end
  local calls = job_file.read(args.file, args.operation and args.operation:gsub("%-", "_"))
  local records, salt = journal_records(journal_path)
  if args.new_job then
    if records then
      error({ kind = "usage", message = "--new-job starts a new job, and " .. journal_path .. " holds one: " ..
        "name a new journal (--journal PATH)" }, 0)
    end
    salt = reference.uuid4():gsub("%-", ""):sub(1, 8)
  end
  identify(calls, salt, records)
  if ctx.args.dry_run then return dry(ctx, calls, journal_path, records) end
  if args.extend and records then refuse_rebuys(ctx, calls, records, journal_path) end
  local lines, writes = summary_lines(ctx, calls, journal_path)
  if writes then
    local ok, err = prompt.confirm(ctx, lines, "Run it?")
    if not ok then error(err, 0) end
  else
    for _, line in ipairs(lines) do ctx.say(line) end
  end
  ctx.announce_references = true
  ctx.interrupt_hint = journal_path .. " keeps what was done: `flexiroam jobs resume " .. args.file ..
    "` goes on without buying anything twice"
  local batch_calls = {}
  for i, c in ipairs(calls) do batch_calls[i] = { name = c.name, params = c.params, key = c.key } end
  local results, summary = ctx:client():batch(batch_calls, {
    journal = journal_path, journal_mode = args.extend and "extend" or "resume", journal_repair = args.repair,
    concurrency = args.concurrency, rate = args.rate, progress = not ctx.args.no_progress,
  })
  if not results then
    local err = summary
    -- The SDK's advice names its options; an operator has flags.
    if type(err) == "table" and err.kind == "journal" and err.other_job then
      err.message = string.format("%s belongs to another job: of its %d entries, %d match %s and %d do not; it " ..
        "shows %d purchases done and %d whose outcome is unknown. Nothing was sent. `flexiroam jobs run %s " ..
        "--extend` goes on with the changed file (what the journal shows bought or unclear is never bought " ..
        "again); `--journal PATH` or `--new-job` starts a new job", journal_path,
        (err.matching or 0) + (err.other or 0), err.matching or 0, args.file, err.other or 0, err.done or 0,
        err.started_unknown or 0, args.file)
    end
    error(err, 0)
  end
  local w = ctx:list { cols = RESULT_COLUMNS }
  for i, c in ipairs(calls) do w:add(row(c, results[i])) end
  w:finish()
  local unfinished = summary.failed + summary.cancelled
  ctx.say(string.format("%s: %d of %d done (%d from the journal), %d failed, %d not started; journal %s",
    args.file, summary.ok, summary.total, summary.skipped, summary.failed, summary.cancelled, journal_path))
  for _, key in ipairs(summary.orphaned or {}) do
    ctx.say("in the journal but no longer in the file (never sent again): " .. key)
  end
  if unfinished > 0 then
    error({ kind = "partial", message = string.format("%d of %d items did not finish; `flexiroam jobs resume %s` " ..
      "sends them again (under the same references) and skips what is done", unfinished, summary.total,
      args.file) }, 0)
  end
end

local INSPECT_COLUMNS = {}
for _, name in ipairs { "journal", "job", "sdk", "calls", "runs", "recorded", "done", "failed", "absent",
  "outcome_unknown", "committed", "torn", "unsettled" } do
  INSPECT_COLUMNS[#INSPECT_COLUMNS + 1] = { name = name, get = function(r) return r[name] end }
end

local function inspect(ctx, args)
  local path = args.journal or args.file
  local f = io.open(path, "rb")
  local first = f and f:read("*l")
  if f then f:close() end
  if not (first and first:find('"journal"', 1, true)) and not args.journal then path = args.file .. ".journal" end
  if not exists(path) then error({ kind = "not_found", message = "no journal " .. path }, 0) end
  local report, err = flexiroam_jobs.inspect(path)
  if not report then error(err, 0) end
  local unsettled = {}
  for i, u in ipairs(report.unsettled) do unsettled[i] = u.reference .. " (" .. tostring(u.iccid) .. ")" end
  ctx:item({
    journal = path, job = report.job, sdk = report.sdk, calls = report.calls, runs = report.runs,
    recorded = report.total, done = report.done, failed = report.failed, absent = report.absent,
    outcome_unknown = report.started_unknown, committed = catalogue.total_text(report.committed),
    torn = report.torn, unsettled = json.array(unsettled),
  }, { cols = not ctx.fields and INSPECT_COLUMNS or nil })
end

local RUN_OPTIONS = {
  { "--journal", arg = "PATH", description = "the job's journal (default: FILE.journal)" },
  { "--operation", arg = "NAME", description = "the operation of records without an `operation` column " ..
    "(default: purchase_plan)" },
  { "--concurrency", arg = "N", convert = checks.count, description = "calls in flight at once (default 16)" },
  { "--rate", arg = "N", convert = checks.positive_number, description = "at most N requests a second" },
  { "--extend", description = "resume a journal whose file changed since (items no longer in it are " ..
    "reported, never sent again)" },
  { "--new-job", description = "buy the file's purchases again, deliberately: new references (salted with a " ..
    "random value, kept in the new journal's references) instead of the ones derived from each record, which " ..
    "a rerun of the same file sends again and the API charges once" },
  { "--repair", description = "drop a journal's last line when a crash cut it short (it was never sent)" },
}

local FILE = { "file", description = "the job: CSV with a header (iccid,plan_id[,reference][,key][,operation]) " ..
  "or NDJSON" }

return {
  name = "jobs",
  summary = "bulk calls from a file, with a journal: run, resume, inspect",
  description = "A job file holds one call a record: CSV with a header row, or NDJSON (one JSON object a line). " ..
    "Columns are an operation's parameters; `operation` (default purchase_plan) and `key` (the item's name in " ..
    "the journal; default: its operation, parameters and how many identical records come before it, never its " ..
    "position) are optional. A purchase without a `reference` column gets one derived the same way: the same " ..
    "file run again, even without its journal, sends the same references and the API charges each once " ..
    "(answering the first order); --new-job buys again on purpose. Every record is checked before anything " ..
    "is sent.\n\nThe journal (FILE.journal) " ..
    "records each purchase's reference before it is sent and each outcome after: `jobs resume FILE` goes on " ..
    "where a run stopped, skipping what is done and looking up what is unclear, and never buys twice.",
  commands = {
    {
      name = "run", summary = "run a job (resumes its journal when one exists)", arguments = { FILE },
      options = RUN_OPTIONS,
      examples = { "flexiroam jobs run march.csv", "flexiroam jobs run march.csv --yes -o csv > march-result.csv" },
      run = function(ctx, args) return execute(ctx, args, "new-or-resume") end,
    },
    {
      name = "resume", summary = "go on with a job whose journal exists", arguments = { FILE },
      options = RUN_OPTIONS,
      run = function(ctx, args) return execute(ctx, args, "resume") end,
    },
    {
      name = "inspect", summary = "what a job's journal records (done, failed, unknown, money), sending nothing",
      arguments = { { "file", description = "the job file (its FILE.journal is read) or a journal" } },
      options = { { "--journal", arg = "PATH", description = "the journal to read" } },
      run = inspect,
    },
  },
}
