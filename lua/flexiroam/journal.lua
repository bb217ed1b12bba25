--- A batch's journal: one JSON object a line, appended and flushed as
-- items finish, so a rerun of a job that crashed skips what is done and
-- sends a purchase again only under the reference it already carried.
--   {"key": K, "state": "started", "reference": R}   before R is first sent
--   {"key": K, "state": "done", "value": V}          the item succeeded
--   {"key": K, "state": "failed", "kind": ..., "message": ...}  (a rerun runs it again)
-- A line cut short by a crash (the last one) is skipped when read back.
-- Flushed is not synced: a process crash loses nothing written, a power
-- cut may lose the last lines (a rerun then redoes those items, under the
-- same references).
local json = require("flexiroam.json")

local journal = {}

local Journal = {}
Journal.__index = Journal

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

local function read_records(path)
  local records, bad = {}, 0
  local f = io.open(path, "rb")
  if not f then return records, 0 end
  for line in f:lines() do
    if line ~= "" then
      local rec = json.decode(line)
      if type(rec) == "table" and type(rec.key) == "string" and type(rec.state) == "string" then
        local known = records[rec.key]
        if not known then
          known = {}
          records[rec.key] = known
        end
        if rec.state == "done" then
          known.done, known.value = true, rec.value
          if known.value == json.null then known.value = nil end
        elseif rec.state == "started" and type(rec.reference) == "string" and known.reference == nil then
          known.reference = rec.reference
        end
      else
        bad = bad + 1
      end
    end
  end
  f:close()
  return records, bad
end

--- journal.open(path) -> journal | nil, message. Reads what an earlier
-- run recorded, then appends.
function journal.open(path)
  local records, bad = read_records(path)
  local f, err = io.open(path, "ab")
  if not f then return nil, err end
  return setmetatable({ path = path, file = f, records = records, unreadable = bad }, Journal)
end

--- What an earlier run recorded under `key`: {done =, value =, reference =} or nil.
function Journal:lookup(key)
  return self.records[key]
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

function Journal:started(key, ref)
  return self:_append { key = key, state = "started", reference = ref }
end

function Journal:done(key, value)
  return self:_append { key = key, state = "done", value = value }
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
end

return journal
