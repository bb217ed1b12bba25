--- The eSIM toolkit: ICCIDs, activation codes (LPA strings) and data sizes.
--   local esim = require "flexiroam.esim"   -- also flexiroam.esim
--   esim.check_iccid("89852350820001310893")  --> the ICCID | nil, err (kind "validation")
--   esim.parse_lpa("LPA:1$smdp.example$ABC-123") --> {smdp_address=, matching_id=, ...}
--   esim.format_bytes(3 * esim.GB)             --> "3.00 GB"
--
-- Sizes are binary: 1 KB = 1024 bytes, 1 MB = 1024 KB, 1 GB = 1024 MB
-- (2^30 bytes). That is what data plans mean by a gigabyte (a "3 GB" plan
-- of the sandbox's catalogue is 3 * 2^30 bytes), and every conversion here
-- uses it; an SI gigabyte (10^9 bytes) is never used.
-- @module flexiroam.esim
local errors = require("flexiroam.errors")
local raise = require("flexiroam.misuse").raise
local options = require("flexiroam.options")

local esim = {}

--- Bytes in a KB (1024).
esim.KB = 1024
--- Bytes in an MB (1024 KB).
esim.MB = 1024 * 1024
--- Bytes in a GB (1024 MB, 2^30 bytes).
esim.GB = 1024 * 1024 * 1024

--- The Luhn check digit (0-9) that completes a string of decimal digits.
-- @string digits decimal digits
-- @treturn integer the check digit
-- @raise digits that are not a string of decimal digits
function esim.luhn_digit(digits)
  if type(digits) ~= "string" or not digits:match("^%d+$") then
    raise("luhn_digit: expects a string of decimal digits")
  end
  local sum, double = 0, true
  for i = #digits, 1, -1 do
    local d = digits:byte(i) - 48
    if double then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
    double = not double
  end
  return (10 - sum % 10) % 10
end

--- Why `value` is not an ICCID, or nil when it is one: 19 or 20 decimal
-- digits whose last is the Luhn check digit of the others (ITU-T E.118).
-- @param value anything
-- @treturn string|nil the reason, or nil for an ICCID
function esim.iccid_problem(value)
  if type(value) ~= "string" then return "must be a string of digits (got a " .. type(value) .. ")" end
  if not value:match("^%d+$") then return "must contain only the digits 0-9" end
  if #value < 19 or #value > 20 then
    return string.format("must be 19 or 20 digits long (got %d)", #value)
  end
  if esim.luhn_digit(value:sub(1, -2)) ~= value:byte(-1) - 48 then
    return "fails the Luhn check digit (a digit is mistyped or missing)"
  end
  return nil
end

--- Whether a value is an ICCID (see iccid_problem).
-- @param value anything
-- @treturn boolean
function esim.is_iccid(value)
  return esim.iccid_problem(value) == nil
end

--- The value when it is an ICCID, else nil and a validation error.
-- @param value the value to check
-- @string[opt] name the parameter's name in the error ("iccid")
-- @return the value
-- @return[2] nil
-- @return[2] an error object: kind "validation", fields = {[name] = reason}, sent = false
function esim.check_iccid(value, name)
  local why = esim.iccid_problem(value)
  if not why then return value end
  name = name or "iccid"
  return nil, errors.new("validation", string.format("%s %s", name, why), {
    fields = { [name] = why }, sent = false,
  })
end

--- The ICCID check the client runs before any request that carries an
-- `iccid` parameter: nil when every such value is valid, else a
-- validation error naming the operation (nothing has been sent).
-- @local
function esim.check_params(name, op, params)
  local v = params.iccid
  if v == nil then return nil end
  if type(v) ~= "string" then
    -- A number loses leading zeros and, at 20 digits, precision: a bug in
    -- the calling code rather than bad data, so it raises like any other
    -- wrong type.
    raise("%s: iccid must be a string (got %s)", name, type(v))
  end
  local _, err = esim.check_iccid(v)
  if err then
    err.message = name .. ": " .. err.message .. "; not sent"
    err.operation, err.method, err.path = name, op.method, op.path
  end
  return err
end

--- The last `n` digits of an ICCID, for logs and summaries.
-- @string iccid the ICCID
-- @int[opt=4] n how many digits
-- @treturn string "...0893"-like
function esim.short_iccid(iccid, n)
  if type(iccid) ~= "string" then return "?" end
  n = n or 4
  if #iccid <= n then return iccid end
  return "..." .. iccid:sub(-n)
end

-- Activation codes (GSMA SGP.22 section 4.1):
--   [LPA:]1$<SM-DP+ address>$<matching id>[$<SM-DP+ OID>[$<confirmation code required: 1>]]
-- The matching id may be empty (the device then asks the SM-DP+ for its
-- default profile); `$` separates the parts and appears in none of them.
local function lpa_error(why)
  return nil, errors.new("validation", "not an eSIM activation code: " .. why, { fields = { lpa = why } })
end

local function valid_host(host)
  -- an FQDN or an IPv4 literal: labels of letters, digits and hyphens
  if #host == 0 or #host > 253 then return false end
  for label in (host .. "."):gmatch("([^.]*)%.") do
    if label == "" or #label > 63 or not label:match("^[%w]([%w-]*)$") or label:match("-$") then
      return false
    end
  end
  return true
end

local function printable(s)
  return not s:find("[^\33-\126]")
end

--- The parts of an activation code (an LPA string, "LPA:1$SM-DP+ address$matching id").
-- @string text the LPA string
-- @treturn table {smdp_address =, matching_id =, oid =, confirmation_code_required =, format = 1}
-- @return[2] nil
-- @return[2] an error object: kind "validation", fields = {lpa = reason}
function esim.parse_lpa(text)
  if type(text) ~= "string" then return lpa_error("expected a string") end
  local code = text:match("^[Ll][Pp][Aa]:(.*)$") or text
  local parts, n = {}, 0
  for part in (code .. "$"):gmatch("([^$]*)%$") do
    n = n + 1
    parts[n] = part
  end
  if parts[1] ~= "1" then return lpa_error("it must start with LPA:1$ (activation code format 1)") end
  if n < 3 then return lpa_error("it needs an SM-DP+ address and a matching id, separated by $") end
  if n > 5 then return lpa_error("it has more than 5 parts") end
  local smdp, matching_id, oid, flag = parts[2], parts[3], parts[4], parts[5]
  if not valid_host(smdp) then return lpa_error("the SM-DP+ address is not a host name") end
  if not printable(matching_id) then return lpa_error("the matching id has spaces or control characters") end
  if oid ~= nil and oid ~= "" and not oid:match("^%d+[%d.]*$") then
    return lpa_error("the SM-DP+ OID must be dotted digits")
  end
  if flag ~= nil and flag ~= "" and flag ~= "1" then
    return lpa_error("the confirmation-code flag must be 1 when present")
  end
  return {
    format = 1, smdp_address = smdp, matching_id = matching_id,
    oid = (oid ~= nil and oid ~= "") and oid or nil,
    confirmation_code_required = flag == "1",
  }
end

-- What build_lpa takes: what parse_lpa answers (format included), so that
-- build_lpa(parse_lpa(s)) is s. Any other key raises: a misspelt `oid`
-- would silently leave the OID out of the code.
local LPA_PARTS = { smdp_address = true, matching_id = true, oid = true, confirmation_code_required = true,
  format = true }

--- The LPA string of its parts: esim.build_lpa{smdp_address =, matching_id =} -> "LPA:1$...".
-- @tparam table parts smdp_address, matching_id, oid, confirmation_code_required (and format, 1, as
-- parse_lpa answers it)
-- @treturn string the LPA string
-- @raise parts that would not parse back, an unknown key
function esim.build_lpa(parts)
  if type(parts) ~= "table" then raise("build_lpa: expects a table") end
  options.check_keys("build_lpa", parts, LPA_PARTS)
  if parts.format ~= nil and parts.format ~= 1 then raise("build_lpa: format must be 1 (the only one there is)") end
  local smdp, matching_id = parts.smdp_address, parts.matching_id or ""
  if type(smdp) ~= "string" or not valid_host(smdp) then raise("build_lpa: smdp_address must be a host name") end
  if type(matching_id) ~= "string" or matching_id:find("$", 1, true) or not printable(matching_id) then
    raise("build_lpa: matching_id must be printable text without $")
  end
  local text = "LPA:1$" .. smdp .. "$" .. matching_id
  local oid = parts.oid
  if oid ~= nil and (type(oid) ~= "string" or not oid:match("^%d+[%d.]*$")) then
    raise("build_lpa: oid must be dotted digits")
  end
  if parts.confirmation_code_required then
    text = text .. "$" .. (oid or "") .. "$1"
  elseif oid then
    text = text .. "$" .. oid
  end
  return text
end

-- Sizes ---------------------------------------------------------------

local function number_arg(where, n)
  if type(n) ~= "number" then raise("%s: expects a number (got %s)", where, type(n)) end
  return n
end

--- Bytes as (binary) gigabytes, a float.
-- @number bytes a byte count
-- @treturn number GB
function esim.bytes_to_gb(bytes) return number_arg("bytes_to_gb", bytes) / esim.GB end
--- Bytes as (binary) megabytes, a float.
-- @number bytes a byte count
-- @treturn number MB
function esim.bytes_to_mb(bytes) return number_arg("bytes_to_mb", bytes) / esim.MB end

-- To whole bytes, rounded to the nearest (a data volume is an integer).
local function to_bytes(where, n, unit)
  local v = number_arg(where, n) * unit
  if v ~= v or v == math.huge or v == -math.huge then raise("%s: not a finite number", where) end
  return math.floor(v + 0.5)
end

--- (Binary) gigabytes as bytes, an integer.
-- @number gb gigabytes
-- @treturn integer bytes
function esim.gb_to_bytes(gb) return to_bytes("gb_to_bytes", gb, esim.GB) end
--- (Binary) megabytes as bytes, an integer.
-- @number mb megabytes
-- @treturn integer bytes
function esim.mb_to_bytes(mb) return to_bytes("mb_to_bytes", mb, esim.MB) end

--- A byte count for people: "812 B", "1.5 KB", "340.0 MB", "2.75 GB".
-- @number bytes a byte count
-- @treturn string
function esim.format_bytes(bytes)
  number_arg("format_bytes", bytes)
  local sign = bytes < 0 and "-" or ""
  local a = math.abs(bytes)
  if a >= esim.GB then return string.format("%s%.2f GB", sign, a / esim.GB) end
  if a >= esim.MB then return string.format("%s%.1f MB", sign, a / esim.MB) end
  if a >= esim.KB then return string.format("%s%.1f KB", sign, a / esim.KB) end
  return string.format("%s%d B", sign, math.floor(a))
end

return esim
