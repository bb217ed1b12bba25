--- The two date formats the SDK reads, as seconds since 1970 (UTC), with
-- arithmetic only: os.time reads local time, and both formats are UTC.
--   dates.http(value)  -- an HTTP-date (Retry-After)
--   dates.api(stamp)   -- the API's "YYYY-MM-DD HH:MM:SS" (orders' created_at)
-- No `//` or bit operators: LuaJIT loads this file too.
local dates = {}

local floor = math.floor

--- Days since 1970-01-01 of a proleptic Gregorian date.
function dates.days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function seconds(y, m, d, hh, mm, ss)
  y, m, d, hh, mm, ss = tonumber(y), tonumber(m), tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
  if m < 1 or m > 12 or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 then return nil end
  return dates.days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

--- An HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and
-- asctime forms recipients must still accept. -> epoch seconds | nil
function dates.http(value)
  if type(value) ~= "string" then return nil end
  local d, mon, y, hh, mm, ss = value:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, hh, mm, ss = value:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then
      y = tonumber(y)
      y = y < 70 and 2000 + y or 1900 + y
    end
  end
  if not d then
    mon, d, hh, mm, ss, y = value:match("^%a%a%a (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  local month = mon and MONTHS[mon]
  if not month then return nil end
  return seconds(y, month, d, hh, mm, ss)
end

--- The API's timestamps, "YYYY-MM-DD HH:MM:SS" (or with a "T"), UTC.
-- -> epoch seconds | nil
function dates.api(stamp)
  local y, m, d, hh, mm, ss = tostring(stamp):match("^(%d%d%d%d)-(%d%d)-(%d%d)[ T](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  return seconds(y, m, d, hh, mm, ss)
end

return dates
