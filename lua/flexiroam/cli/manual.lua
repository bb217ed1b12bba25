--- `flexiroam help [COMMAND...]`: a manual page per command, made from the
-- same specs as the parser (flexiroam.cli.parser), so a page never
-- describes an option the command does not take.
local exit_codes = require("flexiroam.cli.exit_codes")

local manual = {}

local INDENT = "       "
local WIDTH = 80

-- Words of `text` wrapped to `width`, each line after `indent`; blank lines
-- between paragraphs kept.
local function wrap(text, indent, width)
  local out = {}
  for paragraph in (text .. "\n\n"):gmatch("(.-)\n\n") do
    local line = ""
    for word in paragraph:gmatch("%S+") do
      if line ~= "" and #indent + #line + 1 + #word > width then
        out[#out + 1] = indent .. line
        line = word
      else
        line = line == "" and word or (line .. " " .. word)
      end
    end
    if line ~= "" then out[#out + 1] = indent .. line end
    out[#out + 1] = ""
  end
  while out[#out] == "" do out[#out] = nil end
  return table.concat(out, "\n")
end

local function option_label(o)
  local label = table.concat(o, ", ")
  if o.arg then label = label .. " " .. o.arg end
  return label
end

-- "  label\n        description" entries, as man(1) sets them.
local function entries(items, label, describe)
  local out = {}
  for _, item in ipairs(items) do
    out[#out + 1] = INDENT .. label(item)
    out[#out + 1] = wrap(describe(item), INDENT .. "       ", WIDTH)
  end
  return table.concat(out, "\n")
end

local function option_text(o)
  local text = o.description or ""
  if o.choices then text = text .. " (one of: " .. table.concat(o.choices, ", ") .. ")" end
  return text
end

local function synopsis(spec)
  local parts = { "flexiroam [GLOBAL OPTIONS]", spec.path }
  for _, o in ipairs(spec.options or {}) do parts[#parts + 1] = "[" .. option_label({ o[#o], arg = o.arg }) .. "]" end
  for _, a in ipairs(spec.arguments or {}) do
    local name = a[1]:upper()
    if a.args == "?" then name = "[" .. name .. "]"
    elseif a.args == "*" then name = "[" .. name .. "...]"
    elseif a.args == "+" then name = name .. "..." end
    parts[#parts + 1] = name
  end
  if spec.commands then parts[#parts + 1] = spec.default and "[COMMAND]" or "COMMAND" end
  return wrap(table.concat(parts, " "), INDENT, WIDTH)
end

local function section(out, title, body)
  if body and body ~= "" then
    out[#out + 1] = title
    out[#out + 1] = body
    out[#out + 1] = ""
  end
end

--- The EXIT STATUS section: the documented table.
function manual.exit_status()
  return entries(exit_codes.TABLE, function(row) return tostring(row[1]) .. "  " .. row[2] end,
    function(row) return row[3] end)
end

--- manual.page(spec, root) -> the page of a command.
function manual.page(spec, root)
  local out = {}
  local title = ("flexiroam " .. spec.path):upper():gsub(" ", "-") .. "(1)"
  out[#out + 1] = title
  out[#out + 1] = ""
  section(out, "NAME", INDENT .. "flexiroam " .. spec.path .. " - " .. spec.summary)
  section(out, "SYNOPSIS", synopsis(spec))
  section(out, "DESCRIPTION", wrap(spec.summary:gsub("^%l", string.upper) .. "." ..
    (spec.description and ("\n\n" .. spec.description) or ""), INDENT, WIDTH))
  section(out, "ARGUMENTS", entries(spec.arguments or {}, function(a) return a[1]:upper() end, option_text))
  section(out, "OPTIONS", entries(spec.options or {}, option_label, option_text))
  if spec.commands then
    section(out, "COMMANDS", entries(spec.commands, function(s) return s.name end, function(s)
      return s.summary .. (spec.default == s.name and " (the default)" or "")
    end) .. "\n\n" .. INDENT .. "flexiroam help " .. spec.path .. " COMMAND: its own page.")
  end
  section(out, "GLOBAL OPTIONS", wrap("Every command takes the options `flexiroam help` lists: --output, " ..
    "--fields, --profile, --yes, --dry-run, --verbose, --debug, --timeout, --retries.", INDENT, WIDTH))
  local examples = {}
  for _, e in ipairs(spec.examples or {}) do examples[#examples + 1] = INDENT .. "$ " .. e end
  section(out, "EXAMPLES", table.concat(examples, "\n"))
  section(out, "EXIT STATUS", manual.exit_status())
  section(out, "SEE ALSO", INDENT .. "flexiroam help, flexiroam help " .. (root and "exit-codes" or "config"))
  return table.concat(out, "\n")
end

--- manual.root_page(root) -> the page of `flexiroam` itself.
function manual.root_page(root)
  local out = { "FLEXIROAM(1)", "" }
  section(out, "NAME", INDENT .. "flexiroam - " .. root.summary)
  section(out, "SYNOPSIS", INDENT .. "flexiroam [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n" ..
    INDENT .. "flexiroam help [COMMAND...]")
  section(out, "DESCRIPTION", wrap(root.description, INDENT, WIDTH))
  for _, group in ipairs(root.groups) do
    section(out, group[1]:upper(), entries(group[2], function(s) return s.name end, function(s) return s.summary end))
  end
  section(out, "GLOBAL OPTIONS", entries(root.options, option_label, option_text))
  section(out, "ENVIRONMENT", entries({
    { "FLEXIROAM_PROFILE", "the profile, when --profile is not given" },
    { "FLEXIROAM_API_KEY", "the key, when no profile is used (a profile names its own key source)" },
    { "FLEXIROAM_BASE_URL", "the API's address, when no profile is used" },
    { "FLEXIROAM_CONFIG", "the config file, instead of ${XDG_CONFIG_HOME:-~/.config}/flexiroam/config" },
    { "XDG_STATE_HOME", "where `sandbox start` remembers its sandbox (default ~/.local/state)" },
  }, function(e) return e[1] end, function(e) return e[2] end))
  section(out, "OUTPUT", wrap("A table on a terminal (sized to it; bytes as GB, money as 4.99 USD), JSON " ..
    "anywhere else; --output json, ndjson or csv write the API's exact values (integers as sent). Listings " ..
    "stream: each page is written as it arrives. Errors go to stderr, one line each, with the request id.",
    INDENT, WIDTH))
  section(out, "EXIT STATUS", manual.exit_status())
  return table.concat(out, "\n")
end

return manual
