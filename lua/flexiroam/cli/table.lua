--- A table for a person: a header and aligned columns, cut to the width of
-- the terminal. Rows come one at a time; the first `sample` rows (or all,
-- when fewer come) set the column widths, and later rows are cut to them,
-- so a long listing prints as its pages arrive instead of at the end.
local terminal = require("flexiroam.cli.terminal")

local Table = {}
Table.__index = Table

local GAP = "  "
local MIN_WIDTH = 4
local ELLIPSIS = "\226\128\166" -- …

local tables = {}

--- tables.new{headers =, write = function(text), width = n | nil, sample = 100}
function tables.new(opts)
  return setmetatable({
    headers = opts.headers, write = opts.write, width = opts.width, sample = opts.sample or 100,
    pending = {}, widths = nil, numeric = {},
  }, Table)
end

-- Widths from the header and the sampled rows, shrunk (widest first) until
-- the whole line fits the terminal.
function Table:_layout()
  local n = #self.headers
  local widths, numeric = {}, {}
  -- A column of numbers (and blanks, "-") is aligned right.
  local texts = {}
  for i = 1, n do widths[i] = terminal.length(self.headers[i]) end
  for _, row in ipairs(self.pending) do
    for i = 1, n do
      local len = terminal.length(row[i])
      if len > widths[i] then widths[i] = len end
      if row.numbers and row.numbers[i] then
        if numeric[i] == nil then numeric[i] = true end
      elseif row[i] ~= "-" then
        texts[i] = true
      end
    end
  end
  for i = 1, n do numeric[i] = numeric[i] == true and not texts[i] end
  if self.width then
    local total = #GAP * (n - 1)
    for i = 1, n do total = total + widths[i] end
    while total > self.width do
      local widest = 1
      for i = 2, n do if widths[i] > widths[widest] then widest = i end end
      if widths[widest] <= MIN_WIDTH then break end
      widths[widest] = widths[widest] - 1
      total = total - 1
    end
  end
  self.widths, self.numeric = widths, numeric
end

local function fit(text, width, right)
  local len = terminal.length(text)
  if len > width then
    return terminal.cut(text, width - 1) .. ELLIPSIS
  end
  local pad = string.rep(" ", width - len)
  return right and pad .. text or text .. pad
end

function Table:_line(cells)
  local out, n = {}, #self.widths
  for i = 1, n do
    local text = fit(cells[i] or "", self.widths[i], self.numeric[i])
    if i == n and not self.numeric[i] then text = text:gsub("%s+$", "") end
    out[i] = text
  end
  self.write(table.concat(out, GAP) .. "\n")
end

function Table:_flush()
  self:_layout()
  local header = {}
  for i, h in ipairs(self.headers) do header[i] = h:upper() end
  self:_line(header)
  for _, row in ipairs(self.pending) do self:_line(row) end
  self.pending = nil
end

--- t:add(cells): a row of texts (one per header); cells.numbers[i] true
-- for a number (a column of numbers is aligned right).
function Table:add(cells)
  if self.pending then
    self.pending[#self.pending + 1] = cells
    if #self.pending >= self.sample then self:_flush() end
  else
    self:_line(cells)
  end
end

--- t:finish(): prints what is still held (the header, at least).
function Table:finish()
  if self.pending then self:_flush() end
end

return tables
