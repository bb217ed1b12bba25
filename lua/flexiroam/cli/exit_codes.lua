--- The command line's exit status, one per kind of failure, so a script can
-- tell "try again later" from "fix the command" from "find out whether it
-- was bought" without reading the message. The table below is the
-- documented one (`flexiroam help exit-codes`, the README): change both.
local exit_codes = {}

--- {code, name, meaning}, in order.
exit_codes.TABLE = {
  { 0, "ok", "done" },
  { 1, "internal", "a bug in the command line or the SDK (the message says where), or a feature this build lacks" },
  { 2, "usage", "unknown command, option or value; an API key on the command line; a money command off a " ..
    "terminal without --yes" },
  { 3, "auth", "401/403 from the API; no key, or its source refused (a key file readable by others, a " ..
    "key_command that failed)" },
  { 4, "not_found", "404: no such SIM, plan, subscription or journal; no free eSIM to sell" },
  { 5, "rate_limited", "429 after the retries" },
  { 6, "network", "connection failed, timed out, or TLS refused" },
  { 7, "indeterminate", "a purchase may or may not have happened: run the same command again with the " ..
    "reference printed (never a new one), or `flexiroam jobs resume FILE`" },
  { 8, "partial", "a bulk job ended with items failed or not started (its journal knows which)" },
  { 9, "conflict", "409: a reference already used for another purchase, a SIM already subscribed or taken" },
  { 10, "rejected", "422 or another 4xx, or a value the SDK refuses before sending (an ICCID whose check " ..
    "digit is wrong, a malformed reference)" },
  { 11, "server", "5xx, an answer that is not the API's JSON, an error envelope, an answer too large" },
  { 12, "local_state", "a journal or shared store that cannot be used (another job's, locked, torn)" },
  { 13, "config", "the config file or a profile is wrong" },
  { 14, "declined", "the operator answered no at the prompt: nothing was sent" },
  { 130, "interrupted", "Ctrl-C: a bulk job's journal keeps what was done" },
}

local BY_NAME = {}
for _, row in ipairs(exit_codes.TABLE) do BY_NAME[row[2]] = row[1] end

--- exit_codes.code(name) -> the status for a row's name ("usage", ...).
function exit_codes.code(name)
  return BY_NAME[name] or BY_NAME.internal
end

-- Every kind an SDK error can have (flexiroam.errors.KINDS), by row.
local BY_KIND = {
  auth = "auth", forbidden = "auth", not_found = "not_found", rate_limited = "rate_limited",
  network = "network", timeout = "network", tls = "network", indeterminate = "indeterminate",
  cancelled = "partial", conflict = "conflict", reference_reused = "conflict", validation = "rejected",
  http = "rejected", server = "server", decode = "server", api = "server", too_large = "server",
  journal = "local_state", store = "local_state",
}
exit_codes.BY_KIND = BY_KIND

--- exit_codes.for_kind(kind) -> status, row name; an unknown kind is internal.
function exit_codes.for_kind(kind)
  local name = BY_KIND[kind] or "internal"
  return BY_NAME[name], name
end

return exit_codes
