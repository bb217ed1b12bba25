--- CSV as RFC 4180 has it: a field with a comma, a double quote, a line
-- break or leading/trailing spaces is quoted, quotes doubled. Written with
-- "\n" line ends; read with either.
local csv = {}

-- Text a spreadsheet opens as a formula: its first character is one of
-- these (OWASP, "CSV Injection").
local FORMULA_START = "^[=+%-@\t\r]"

-- "-5", "+3", "-0.25", "-.5", "-7.": a sign, digits and at most one point.
local function is_signed_number(text)
  return text:find("^[-+]%d+%.?%d*$") ~= nil or text:find("^[-+]%.%d+$") ~= nil
end

--- csv.guard_formula(text) -> text a spreadsheet shows and never runs.
-- A server-supplied string or a SIM's label such as `=HYPERLINK(...)` would
-- otherwise run when an operator opens the export, so text that starts
-- like a formula gets a leading single quote, which spreadsheets read as
-- "this cell is text" (OWASP's recommendation). Text that is only a number
-- ("-5", "+3", "-0.25") is left exact: a spreadsheet reads it as that
-- number, never as a formula, and quoting it would turn the number into
-- text. A Lua number is never passed here (it is the number it is).
function csv.guard_formula(text)
  if not text:find(FORMULA_START) then return text end
  if is_signed_number(text) then return text end
  return "'" .. text
end

local function field(value)
  if value:find('[,"\r\n]') or value:find("^%s") or value:find("%s$") then
    return '"' .. value:gsub('"', '""') .. '"'
  end
  return value
end

--- csv.line(values) -> one line (with its "\n") of the strings in `values`.
function csv.line(values)
  local out = {}
  for i = 1, #values do out[i] = field(values[i]) end
  return table.concat(out, ",") .. "\n"
end

--- csv.parse(text) -> rows (lists of strings, each with .line, the line it
-- starts on), or nil, message, line number.
-- Quoted fields may hold commas, doubled quotes and line breaks; blank
-- lines are skipped.
function csv.parse(text)
  local rows, row, pos, n, line = {}, { line = 1 }, 1, #text, 1
  local function finish_row()
    if not (#row == 1 and row[1] == "") then rows[#rows + 1] = row end
    row = { line = line }
  end
  if text:sub(1, 3) == "\239\187\191" then pos = 4 end -- a spreadsheet's byte order mark
  while pos <= n do
    local c = text:sub(pos, pos)
    if c == '"' then
      local parts, start = {}, pos + 1
      while true do
        local q = text:find('"', start, true)
        if not q then return nil, "a quoted field is never closed", line end
        parts[#parts + 1] = text:sub(start, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          start = q + 2
        else
          pos = q + 1
          break
        end
      end
      local value = table.concat(parts)
      local _, breaks = value:gsub("\n", "")
      line = line + breaks
      row[#row + 1] = value
      local after = text:sub(pos, pos)
      if after == "," then
        pos = pos + 1
        if pos > n then row[#row + 1] = "" end
      elseif after == "\r" or after == "\n" then
        pos = pos + ((text:sub(pos, pos + 1) == "\r\n") and 2 or 1)
        line = line + 1
        finish_row()
      elseif after ~= "" then
        return nil, "text after a closing quote", line
      end
    else
      local stop = text:find("[,\r\n]", pos)
      local value = text:sub(pos, (stop or n + 1) - 1)
      if value:find('"', 1, true) then return nil, "a quote inside an unquoted field", line end
      row[#row + 1] = value
      if not stop then
        pos = n + 1
      elseif text:sub(stop, stop) == "," then
        pos = stop + 1
        if pos > n then row[#row + 1] = "" end
      else
        pos = stop + ((text:sub(stop, stop + 1) == "\r\n") and 2 or 1)
        line = line + 1
        finish_row()
      end
    end
  end
  if #row > 0 then finish_row() end
  return rows
end

return csv
