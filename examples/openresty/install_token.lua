--- Signed, expiring install links (plain Lua: no ngx here, so the same
-- code runs under nginx and in a Lua 5.4 spec).
--
--   /install/<iccid>?e=<unix expiry>&t=<64 hex digits>     (and .png likewise)
--
-- t is the HMAC-SHA256 (flexiroam.digest) of "install" NUL iccid NUL expiry
-- under the storefront's secret (STOREFRONT_SECRET): without the secret
-- nobody can make a link for an ICCID, and an ICCID is no secret (they run
-- in sequence and are printed on receipts), while the page shows the
-- activation code, which installs the eSIM on any phone. One token serves
-- the page and its PNG of the same ICCID; it names the ICCID, so it opens
-- no other SIM's page.
local digest = require "flexiroam.digest"

local token = {}

token.MIN_SECRET = 32 -- bytes
token.DEFAULT_TTL = 7 * 24 * 3600 -- seconds a link from /buy stays valid

--- token.secret_ok(secret) -> true, or nil and why (unset, too short).
function token.secret_ok(secret)
  if type(secret) ~= "string" or secret == "" then return nil, "STOREFRONT_SECRET is not set" end
  if #secret < token.MIN_SECRET then
    return nil, ("STOREFRONT_SECRET is %d bytes, shorter than %d"):format(#secret, token.MIN_SECRET)
  end
  return true
end

local function message(iccid, expiry)
  return "install\0" .. iccid .. "\0" .. expiry
end

--- token.sign(secret, iccid, expiry) -> the hex MAC of (iccid, expiry).
function token.sign(secret, iccid, expiry)
  return digest.hmac_sha256(secret, message(iccid, ("%d"):format(expiry)))
end

--- token.equal(a, b) -> whether two strings are equal, in a time that
-- does not depend on where they differ (only on their lengths).
function token.equal(a, b)
  if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

--- token.verify(secret, iccid, e, t, now) -> whether t is the MAC of
-- (iccid, e) and e (a string of digits, as in the query) is not past now.
function token.verify(secret, iccid, e, t, now)
  if type(e) ~= "string" or not e:match("^%d+$") or #e > 12 or type(t) ~= "string" then return false end
  local expiry = tonumber(e)
  -- e is checked as sent: "0100" is not "100", so a link is one exact string.
  local good = token.equal(t:lower(), digest.hmac_sha256(secret, message(iccid, e)))
  return good and expiry >= now
end

--- token.path(secret, iccid, expiry[, png]) -> "/install/<iccid>[.png]?e=..&t=..".
function token.path(secret, iccid, expiry, png)
  return ("/install/%s%s?e=%d&t=%s"):format(iccid, png and ".png" or "", expiry, token.sign(secret, iccid, expiry))
end

return token
