--- Every command of `flexiroam`, and the options every command takes.
-- Each command's spec lives in its module under flexiroam.cli.cmd (see
-- flexiroam.cli.parser for the spec's fields); the API's operations are
-- generated from the operations table (flexiroam.cli.cmd.operations).
local output = require("flexiroam.cli.output")
local checks = require("flexiroam.cli.checks")

local commands = {}

commands.GLOBAL_OPTIONS = {
  { "-o", "--output", arg = "FORMAT", choices = output.FORMATS,
    description = "table, json, ndjson or csv (default: a table on a terminal, json otherwise)" },
  { "--csv-raw", description = "CSV: every cell exactly as the data has it. Without it, text a spreadsheet " ..
    "would run as a formula (=, +, -, @, a tab or CR first; not a plain number such as -5) starts with a " ..
    "single quote (')" },
  { "--fields", arg = "LIST", convert = checks.fields,
    description = "the fields to show, comma-separated paths (iccid,balances.main_data); reads decode only these" },
  { "-p", "--profile", arg = "NAME", description = "the config profile to use (default: $FLEXIROAM_PROFILE, " ..
    "else the config's default)" },
  { "--base-url", arg = "URL", description = "the API's address: with FLEXIROAM_API_KEY and no profile " ..
    "selected, or the selected profile's own (a profile's key is never sent elsewhere)" },
  { "-y", "--yes", description = "do it without asking (scripts): purchases, cancellations, bulk jobs" },
  { "-n", "--dry-run", description = "print the requests as curl commands (key redacted) and send nothing" },
  { "-v", "--verbose", description = "a line per request on stderr: status, phase timings, request id" },
  { "--debug", description = "every request and answer on stderr, headers too (the key redacted)" },
  { "--timeout", arg = "SECONDS", convert = checks.positive_number,
    description = "the longest one request may take (default 60)" },
  { "--retries", arg = "N", convert = checks.whole, description = "retries of a failed request (default 2)" },
  { "--no-progress", description = "no progress bar for bulk jobs" },
  { "--version", description = "the version of the command line, the SDK and libcurl, and exit",
    action = function()
      local core = require("flexiroam.core")
      io.stdout:write(string.format("flexiroam %s (%s; libcurl/%s)\n", core.VERSION, _VERSION,
        core.curl_version and core.curl_version() or "?"))
      os.exit(0)
    end },
}

--- The groups of commands, in the order `flexiroam --help` lists them.
function commands.groups()
  return {
    { "Everyday commands", {
      require("flexiroam.cli.cmd.sims"), require("flexiroam.cli.cmd.plans"), require("flexiroam.cli.cmd.usage"),
      (require("flexiroam.cli.cmd.subscriptions")),
    } },
    { "Commands that spend money (they ask first; --yes for scripts, --dry-run to see the requests)", (function()
      local money = require("flexiroam.cli.cmd.money")
      return { money[1], money[2], money[3], (require("flexiroam.cli.cmd.jobs")) }
    end)() },
    { "Setting up", {
      require("flexiroam.cli.cmd.config"), require("flexiroam.cli.cmd.sandbox"),
      require("flexiroam.cli.cmd.completion"), (require("flexiroam.cli.cmd.help")),
    } },
    { "API operations (one per operation of the API; generated)", (require("flexiroam.cli.cmd.operations")) },
  }
end

commands.ROOT = {
  name = "flexiroam",
  summary = "the Flexiroam Solutions API from the command line",
  description = "Look up SIMs, sell and top up plans, export the inventory, run bulk purchases with a " ..
    "journal. `flexiroam help COMMAND` explains a command; `flexiroam help exit-codes` the exit statuses.",
}

--- The root spec with its groups (made once per run).
function commands.root()
  local root = {}
  for k, v in pairs(commands.ROOT) do root[k] = v end
  root.options = commands.GLOBAL_OPTIONS
  root.groups = commands.groups()
  return root
end

--- commands.find(root, words) -> the spec `words` name ({"sims", "show"}),
-- or nil and the first word not found.
function commands.find(root, words)
  local list, spec = {}, nil
  for _, group in ipairs(root.groups) do
    for _, s in ipairs(group[2]) do list[#list + 1] = s end
  end
  for _, word in ipairs(words) do
    local found
    for _, s in ipairs(list) do
      if s.name == word or s.name == word:gsub("_", "-") then found = s end
    end
    if not found then return nil, word end
    spec, list = found, found.commands or {}
  end
  return spec
end

return commands
