--- Writing records in the format asked for (--output): "table" for a
-- person, "json" (one value: an object, or an array of a listing),
-- "ndjson" (one object a line) and "csv" (a header, then a row a record).
-- Without --output: a table on a terminal, JSON anywhere else.
--
-- A listing streams: NDJSON, CSV and JSON write each record as it comes
-- (a page at a time from the API) and flush it; a table holds its first
-- rows to size its columns (flexiroam.cli.table). Numbers are written as
-- the API sent them (integers exact) everywhere but in a table's cells.
-- CSV is read by spreadsheets: a text cell that would open as a formula is
-- written with a leading quote (csv.guard_formula) unless `csv_raw` asks
-- for every cell exactly (--csv-raw).
local json = require("flexiroam.json")
local columns = require("flexiroam.cli.columns")
local cells = require("flexiroam.cli.cells")
local tables = require("flexiroam.cli.table")
local csv = require("flexiroam.cli.csv")
local terminal = require("flexiroam.cli.terminal")

local output = {}

output.FORMATS = { "table", "json", "ndjson", "csv" }

--- The format to use: the one asked for, else a table on a terminal and
-- JSON anywhere else.
function output.format(asked)
  if asked then return asked end
  return terminal.isatty("stdout") and "table" or "json"
end

--- A sink for stdout: writes and flushes (a listing streams); a reader
-- that went away (`| head`) ends the command quietly.
function output.stdout()
  return function(text)
    local ok = io.stdout:write(text)
    if ok then ok = io.stdout:flush() end
    if not ok then error({ broken_pipe = true }, 0) end
  end
end

local function encode(value)
  local text, err = json.encode(value, { sort_keys = true })
  if not text then error("cannot write the answer as JSON: " .. tostring(err), 0) end
  return text
end

-- Only the selected paths of a record, nested as they were ("plan.name"
-- -> {plan = {name = ...}}); a path the record lacks is left out.
local function project(record, paths)
  local out = {}
  for _, path in ipairs(paths) do
    local value = columns.get(record, path)
    if value ~= nil then
      local node, parts = out, {}
      for segment in (path .. "."):gmatch("(.-)%.") do parts[#parts + 1] = segment end
      for i = 1, #parts - 1 do
        node[parts[i]] = node[parts[i]] or {}
        node = node[parts[i]]
      end
      node[parts[#parts]] = value
    end
  end
  return out
end

local function as_json(record, fields)
  if fields then return encode(project(record, fields)) end
  return encode(record)
end

-- A record's table cells, and which of them are numbers (set right).
local function table_cells(cols, record)
  local row, numbers = {}, {}
  for i, c in ipairs(cols) do
    local value = c.get(record)
    row[i] = cells.readable(value, c.format)
    numbers[i] = type(value) == "number" and c.format == nil
  end
  row.numbers = numbers
  return row
end

-- A record's CSV cells. Only string values are guarded: a number, a
-- boolean or an object (written as JSON, "{" or "[" first) is no formula.
local function csv_cells(cols, record, raw)
  local row = {}
  for i, c in ipairs(cols) do
    local value = c.get(record)
    row[i] = cells.exact(value)
    if not raw and type(value) == "string" then row[i] = csv.guard_formula(row[i]) end
  end
  return row
end

local function names(cols)
  local out = {}
  for i, c in ipairs(cols) do out[i] = c.name end
  return out
end

-- The header: column names come from --fields or the record's own keys,
-- which a server chooses, so they are guarded like any text.
local function csv_header(cols, raw)
  local row = names(cols)
  if not raw then
    for i = 1, #row do row[i] = csv.guard_formula(row[i]) end
  end
  return row
end

--- output.list(opts) -> writer with :add(record) and :finish(): a listing.
-- opts: format, write (a sink), width (a table's), model (the records'
-- model name, if known), fields (--fields), cols (columns to use instead
-- of the model's), csv_raw (CSV cells exactly, formulas unguarded).
function output.list(opts)
  local format, write, fields = opts.format, opts.write, opts.fields
  -- --fields wins over a command's own columns.
  local cols = fields and columns.for_model(nil, format, fields) or opts.cols or
    columns.for_model(opts.model, format, nil)
  local w = { count = 0 }
  local sink -- made at the first record (or at the end, for an empty list)

  local function open(first)
    if (format == "table" or format == "csv") and not cols then
      cols = columns.for_model(first and columns.model_of(first), format, fields)
        or columns.from_record(first)
    end
    if format == "table" then
      sink = tables.new { headers = names(cols), write = write, width = opts.width }
    elseif format == "csv" then
      if #cols > 0 then write(csv.line(csv_header(cols, opts.csv_raw))) end
    end
  end

  function w.add(_, record)
    if w.count == 0 then open(record) end
    w.count = w.count + 1
    if format == "table" then
      sink:add(table_cells(cols, record))
    elseif format == "csv" then
      write(csv.line(csv_cells(cols, record, opts.csv_raw)))
    elseif format == "ndjson" then
      write(as_json(record, fields) .. "\n")
    else
      write((w.count == 1 and "[\n" or ",\n") .. as_json(record, fields))
    end
  end

  function w.finish()
    if w.count == 0 then
      if format == "json" then write("[]\n") end
      if format == "table" or format == "csv" then
        if cols then open(nil) end
        if sink then sink:finish() end
      end
      return
    end
    if format == "json" then write("\n]\n") end
    if sink then sink:finish() end
  end

  return w
end

--- output.item(record, opts): one record. A table shows it as field/value
-- lines (every field, or --fields); JSON and NDJSON as one object; CSV as a
-- header and a row. opts as output.list's.
function output.item(record, opts)
  local format, write, fields = opts.format, opts.write, opts.fields
  if format == "json" or format == "ndjson" then
    write(as_json(record, fields) .. "\n")
    return
  end
  local cols = fields and columns.for_model(nil, "csv", fields) or opts.cols
  if not cols then
    local model = opts.model or columns.model_of(record)
    cols = columns.for_model(model, format == "csv" and "csv" or "detail") or columns.from_record(record)
    if model then
      -- Fields the contract does not list yet, after those it does.
      local known = {}
      for _, c in ipairs(cols) do
        for _, path in ipairs(c.needs or { c.name }) do known[path] = true end
      end
      for _, c in ipairs(columns.from_record(record)) do
        local base = c.name:match("^(.*)%.[^.]+$")
        if not known[c.name] and not (base and known[base]) then cols[#cols + 1] = c end
      end
    end
  end
  if format == "csv" then
    write(csv.line(csv_header(cols, opts.csv_raw)))
    write(csv.line(csv_cells(cols, record, opts.csv_raw)))
    return
  end
  local t = tables.new { headers = { "field", "value" }, write = write, width = opts.width, sample = math.huge }
  for _, c in ipairs(cols) do
    local format_of = c.format
    if not format_of and (c.name:find("_bytes$") or c.name:find("main_data$")) then format_of = columns.BYTES end
    t:add { c.name, cells.readable(c.get(record), format_of) }
  end
  t:finish()
end

return output
