--- The eSIM install kit: what a customer needs to install an eSIM from an
-- activation (the Activation model's qr() and install_links() use it).
--
--   local links = install.links(activation)   --> table | nil, err
--   links.lpa                   "LPA:1$<SM-DP+ address>$<matching id>[$$1]": what the QR code holds;
--                               on Android, also what "enter the activation code" takes, whole
--   links.smdp_address          iOS "Enter Details Manually": SM-DP+ Address
--   links.activation_code       iOS "Enter Details Manually": Activation Code (the matching id)
--   links.confirmation_code     the code to type when asked, when the activation carries one (as
--                               text: a number would have lost a leading zero), else nil
--   links.confirmation_code_required  whether the phone will ask for one
--   links.ios                   https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=<LPA, URL-encoded>
--
-- Platform limits: the iOS link installs only when tapped ON the iPhone,
-- on iOS 17.4 or later (older versions and other devices open Apple's web
-- page, which installs nothing). Android has no such link: a customer
-- scans the QR code from another screen, or types `lpa`. A phone cannot
-- scan a QR code shown on its own screen (iOS 17.2+ can read it from a
-- saved picture: "Open Photos"). The confirmation code is never in the QR
-- code or the links: SGP.22 keeps it apart, so a leaked code alone
-- cannot install the eSIM; show it separately, or send it another way.
--
-- Everything is rebuilt from parts that were checked (flexiroam.esim):
-- an activation whose `lpa` does not parse, or disagrees with its own
-- smdp_address / matching_id, answers nil and a "validation" error: data
-- from the API that cannot be installed, never a link built from it.
-- @module flexiroam.install
local errors = require("flexiroam.errors")
local esim = require("flexiroam.esim")
local json = require("flexiroam.json")
local qr = require("flexiroam.qr")
local raise = require("flexiroam.misuse").raise
local url = require("flexiroam.url")

local install = {}

--- The iOS 17.4+ universal install link, before the URL-encoded LPA string.
install.IOS_LINK = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="

local function invalid(field, why)
  return nil, errors.new("validation", "this activation cannot be installed: " .. field .. " " .. why,
    { fields = { [field] = why } })
end

local function present(v)
  return type(v) == "string" and v ~= ""
end

-- A confirmation code is typed by hand on the phone: short, printable,
-- without spaces (SGP.22 leaves its form to the operator; they are digits
-- in practice).
local function confirmation_problem(code)
  if #code > 64 then return "is longer than 64 characters" end
  if code:find("[^\33-\126]") then return "has spaces or characters that cannot be typed" end
  return nil
end

--- The install string, the manual-entry fields and the iOS link of an
-- activation, rebuilt from checked parts (see above).
-- @tparam table activation an Activation model, or any table with its fields (lpa, smdp_address,
-- matching_id, confirmation_code)
-- @treturn table {lpa =, smdp_address =, activation_code =, confirmation_code =,
-- confirmation_code_required =, ios =}
-- @return[2] nil
-- @return[2] a validation error naming the part that does not check
function install.links(activation)
  if type(activation) ~= "table" then raise("install.links: expects an activation (got %s)", type(activation)) end
  local lpa, smdp, matching_id = activation.lpa, activation.smdp_address, activation.matching_id
  local parts, err
  if present(lpa) then
    parts, err = esim.parse_lpa(lpa)
    if not parts then return invalid("lpa", err.fields.lpa) end
    if present(smdp) and smdp:lower() ~= parts.smdp_address:lower() then
      return invalid("smdp_address", "differs from the SM-DP+ address in lpa")
    end
    if type(matching_id) == "string" and matching_id ~= parts.matching_id then
      return invalid("matching_id", "differs from the matching id in lpa")
    end
  elseif present(smdp) and type(matching_id) == "string" then
    -- No lpa: the same rules, through the same parser.
    if matching_id:find("$", 1, true) then return invalid("matching_id", "contains $") end
    parts, err = esim.parse_lpa("LPA:1$" .. smdp .. "$" .. matching_id)
    if not parts then return invalid("lpa", err.fields.lpa) end
  else
    return invalid("lpa", "is missing (and so are smdp_address and matching_id)")
  end

  local code = activation.confirmation_code
  if code == "" or code == json.null then code = nil end
  if code ~= nil and type(code) ~= "string" then
    -- A number would have lost any leading zero: the code typed would be wrong.
    return invalid("confirmation_code", "must be text (got a " .. type(code) .. ")")
  end
  if code then
    local why = confirmation_problem(code)
    if why then return invalid("confirmation_code", why) end
  end
  local required = parts.confirmation_code_required or code ~= nil
  local text = esim.build_lpa {
    smdp_address = parts.smdp_address, matching_id = parts.matching_id, oid = parts.oid,
    confirmation_code_required = required,
  }
  return {
    lpa = text,
    smdp_address = parts.smdp_address,
    activation_code = parts.matching_id,
    confirmation_code = code,
    confirmation_code_required = required,
    ios = install.IOS_LINK .. url.encode(text),
  }
end

--- The QR code of links(activation).lpa. A bad option raises at the
-- caller's line, named `where`.
-- @tparam table activation as install.links takes it
-- @tparam[opt] table opts as flexiroam.qr.encode's (ec, version, margin)
-- @tparam[opt] string where the name misuse is reported under ("install.qr")
-- @treturn userdata the QR matrix (flexiroam.qr)
-- @return[2] nil
-- @return[2] a validation error
function install.qr(activation, opts, where)
  local links, err = install.links(activation)
  if not links then return nil, err end
  -- The encoder's own checks, raised again at the caller's line (a C
  -- function's error names the line that called it: this one).
  local ok, m, encode_err = pcall(qr.encode, links.lpa, opts)
  if not ok then
    raise("%s: %s", where or "install.qr", (tostring(m):gsub("^bad argument #%d+ to '[^']*' %((.*)%)$", "%1")))
  end
  return m, encode_err
end

return install
