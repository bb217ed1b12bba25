-- luacheck: std luajit+ngx_lua
--- The storefront's install page: what a customer opens to install the
-- eSIM they bought (storefront.install() serves it with the storefront's
-- client).
--
--   GET /install/<iccid>       a small HTML page: the QR code (inline SVG),
--                              the iOS install button, the details to type
--                              by hand with copy buttons, the plan and its validity
--   GET /install/<iccid>.png   the QR code as a PNG (to download, or to mail)
--   (each with ?e=<expiry>&t=<token>: a link signed by install_token.lua)
--
-- A link is signed with STOREFRONT_SECRET (nginx.conf's `env`): a missing,
-- wrong, expired or other ICCID's token answers 404 like an unknown ICCID,
-- before any API call, and so does a SIM nobody bought (free stock): an
-- ICCID alone is guessable, the page's activation code installs the eSIM.
-- Without the secret (or one under 32 bytes) every install link answers
-- 503 and the log says why. A malformed ICCID answers 400, one the API
-- does not know (or a physical SIM) 404, the API's own trouble 502/503/504. The page loads nothing from
-- anywhere: its one style sheet and its one script are inline and allowed
-- by their SHA-256 in a Content-Security-Policy that allows nothing else,
-- every value from the API is HTML-escaped, and the install links are
-- rebuilt from checked parts (flexiroam.install). It holds the activation
-- code, which installs the eSIM on any phone: never cached, never sent
-- on as a referrer.
local flexiroam = require "flexiroam"
local digest = require "flexiroam.digest"
local token = require "install_token"

local esim = flexiroam.esim

local page = {}

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- Text made safe for HTML, in an element or an attribute value.
function page.escape(value)
  return (tostring(value):gsub("[&<>\"']", ESCAPES))
end
local escape = page.escape

local STYLE = [[
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #f6f7f9; }
main { max-width: 36rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
section { background: #fff; border: 1px solid #d5d9e0; border-radius: .5rem; padding: 1rem; }
section p { margin: 0 0 .5rem; }
figure { margin: 0; text-align: center; }
.qr svg { width: 100%; max-width: 320px; height: auto; }
figcaption, .note { color: #4a5160; font-size: .9rem; }
.button { display: inline-block; padding: .7rem 1.2rem; border-radius: .4rem; background: #0b57d0; color: #fff;
  font-weight: 600; text-decoration: none; }
.button:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #f29900; outline-offset: 2px; }
dl { margin: 0; }
dt { font-weight: 600; margin-top: .75rem; }
dd { margin: .25rem 0 0; display: flex; gap: .5rem; }
input { flex: 1; min-width: 0; font: 15px ui-monospace, monospace; padding: .45rem; border: 1px solid #9aa1ad;
  border-radius: .3rem; background: #fbfbfc; color: #1b1b1b; }
button { font: inherit; padding: .45rem .9rem; border: 1px solid #0b57d0; border-radius: .3rem; background: #fff;
  color: #0b57d0; cursor: pointer; }
.status { min-height: 1.5rem; color: #146c2e; }
]]

-- Copy buttons: shown only where the script runs and the clipboard exists
-- (a secure context); without it the fields stay selectable by hand.
local SCRIPT = [[
(function () {
  var status = document.getElementById("copy-status");
  var buttons = document.querySelectorAll("button[data-copy]");
  for (var i = 0; i < buttons.length; i++) {
    (function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          status.textContent = "Copied: " + button.getAttribute("data-label");
        }, function () {
          field.select();
          status.textContent = "Select the text and copy it";
        });
      });
    })(buttons[i]);
  }
})();
]]

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- A hex digest as base64, for a CSP hash source (RFC 4648, padded).
local function hex_to_base64(hex)
  local out = {}
  for i = 1, #hex, 6 do
    local chunk = hex:sub(i, i + 5)
    local n = tonumber(chunk, 16) * 16 ^ (6 - #chunk)
    local chars = #chunk / 2 + 1
    for k = 1, 4 do
      local v = math.floor(n / 64 ^ (4 - k)) % 64
      out[#out + 1] = k <= chars and B64:sub(v + 1, v + 1) or "="
    end
  end
  return table.concat(out)
end
page.hex_to_base64 = hex_to_base64

local function hash_source(text)
  return "'sha256-" .. hex_to_base64(digest.sha256(text)) .. "'"
end

--- The policy of every answer: nothing but the inline style and script
-- whose hashes it names; no frames, forms, base URL or plugins.
page.CSP = table.concat({
  "default-src 'none'", "script-src " .. hash_source(SCRIPT), "style-src " .. hash_source(STYLE),
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
}, "; ")

local function document(title, body, with_script)
  return table.concat {
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    "<title>", escape(title), "</title>\n<style>", STYLE, "</style>\n</head>\n<body>\n<main>\n",
    body, "</main>\n", with_script and ("<script>" .. SCRIPT .. "</script>\n") or "", "</body>\n</html>\n",
  }
end

-- One manual-entry field: label, read-only input, copy button.
local function field(id, label, value)
  return ('<dt><label for="%s">%s</label></dt>\n<dd><input id="%s" readonly value="%s"> '
    .. '<button type="button" data-copy="%s" data-label="%s" aria-label="Copy %s" hidden>Copy</button></dd>\n')
    :format(id, escape(label), id, escape(value), id, escape(label), escape(label))
end

-- "3.00 GB for 7 days": what the plan gives and for how long, from the
-- usage when the validity has started.
local function plan_section(plan, usage)
  if not plan then
    return '<p class="note">The plan on this eSIM cannot be shown right now; it does not affect installing.</p>\n'
  end
  local parts = { ('<h2 id="plan">Your plan</h2>\n<section aria-labelledby="plan">\n<p><strong>%s</strong><br>')
    :format(escape(plan.name)) }
  if type(plan.data_bytes) == "number" then parts[#parts + 1] = escape(esim.format_bytes(plan.data_bytes)) .. ", " end
  if usage and usage.status == "active" and type(usage.expires_at) == "string" then
    parts[#parts + 1] = ("valid until %s UTC"):format(escape(usage.expires_at))
  elseif usage and (usage.status == "expired" or usage.status == "depleted") then
    parts[#parts + 1] = ("%s (%s)"):format(escape(usage.status), "buy a new plan to use it again")
  else
    parts[#parts + 1] = ("valid for %s days from the first use"):format(escape(plan.validity_days))
  end
  parts[#parts + 1] = "</p>\n</section>\n"
  return table.concat(parts)
end

--- page.render{iccid =, links = (flexiroam.install.links), svg = (the QR
-- code), plan = (a Plan or nil), usage = (a Usage or nil), png_url =}
-- -> the HTML page. Every value is escaped here.
function page.render(view)
  local links = view.links
  local body = {
    "<h1>Install your eSIM</h1>\n",
    ('<p class="note">eSIM %s</p>\n'):format(escape(view.iccid)),
    plan_section(view.plan, view.usage),
    '<h2 id="scan">Scan the code</h2>\n<section aria-labelledby="scan">\n<figure>\n',
    '<div class="qr" role="img" aria-label="QR code of the eSIM activation code">', view.svg, "</div>\n",
    "<figcaption>On the phone that gets the eSIM: iPhone: Settings, Mobile Service, Add eSIM, Use QR Code. ",
    "Android: Settings, Network &amp; internet, SIMs, Add eSIM. Scan it from another screen, or from a print.",
    "</figcaption>\n</figure>\n",
    ('<p><a href="%s" download="esim-%s.png">Download the QR code (PNG)</a></p>\n</section>\n')
      :format(escape(view.png_url), escape(view.iccid)),
    '<h2 id="iphone">On this iPhone</h2>\n<section aria-labelledby="iphone">\n',
    ('<p><a class="button" href="%s">Install on this iPhone</a></p>\n'):format(escape(links.ios)),
    '<p class="note">iOS 17.4 or later, tapped on the iPhone itself. Elsewhere the link installs nothing: ',
    "scan the code or enter the details below.</p>\n</section>\n",
    '<h2 id="manual">Enter the details by hand</h2>\n<section aria-labelledby="manual">\n<dl>\n',
    field("smdp", "SM-DP+ address", links.smdp_address),
    field("activation-code", "Activation code", links.activation_code),
    links.confirmation_code and field("confirmation-code", "Confirmation code", links.confirmation_code) or "",
    field("lpa", "Whole activation code (Android)", links.lpa),
    "</dl>\n",
    links.confirmation_code_required and not links.confirmation_code
      and '<p class="note">Your phone will ask for a confirmation code: your seller sends it separately.</p>\n'
      or "",
    '<p class="status" id="copy-status" role="status" aria-live="polite"></p>\n</section>\n',
  }
  return document("Install your eSIM", table.concat(body), true)
end

--- page.error_page(message) -> a small HTML page saying it (no script).
function page.error_page(message)
  return document("eSIM installation", ("<h1>eSIM installation</h1>\n<p>%s</p>\n"):format(escape(message)), false)
end

-- ngx side ----------------------------------------------------------------

local function answer(status, content_type, body)
  ngx.status = status
  ngx.header["Content-Type"] = content_type
  ngx.header["Content-Security-Policy"] = page.CSP
  ngx.header["X-Content-Type-Options"] = "nosniff"
  ngx.header["Referrer-Policy"] = "no-referrer"
  ngx.header["Cache-Control"] = "no-store"
  ngx.print(body)
  return ngx.exit(status)
end

local function fail(status, message)
  return answer(status, "text/html; charset=utf-8", page.error_page(message))
end

-- The API's trouble, as the customer sees it: never their fault.
local function api_failure(err)
  ngx.log(ngx.ERR, "flexiroam: ", tostring(err)) -- names the call, never the key
  if err.kind == "rate_limited" then return fail(503, "Too many requests right now: try again in a minute.") end
  if err.kind == "timeout" then return fail(504, "The eSIM service is slow to answer: try again shortly.") end
  return fail(502, "The eSIM service cannot be reached right now: try again shortly.")
end

-- The plan of that id in the catalogue: the page names the plan on the
-- SIM, and the API has no call for one plan. The storefront's client has
-- the shared store, so list_plans comes from the catalogue cache (one
-- request per ttl for every worker), not from the API on each page view.
local function plan_named(client, plan_id)
  if type(plan_id) ~= "string" then return nil end
  -- collect, not the iterator: a failed page answers nil, err rather than raising.
  local plans = client:collect("list_plans", { chip_type = "esim" }, { max_items = 1000 })
  if not plans then return nil end -- the page goes on without the plan
  for _, plan in ipairs(plans) do
    if plan.id == plan_id then return plan end
  end
  return nil
end

--- The secret install links are signed with (nginx.conf: env STOREFRONT_SECRET).
function page.secret() return os.getenv("STOREFRONT_SECRET") end

local NOT_FOUND = "No eSIM with this ICCID, or this link has expired: ask your seller for a new one."

--- page.serve(client): answers GET /install/<iccid>[.png]?e=&t= with `client`.
function page.serve(client)
  local secret = page.secret()
  local usable, why = token.secret_ok(secret)
  if not usable then
    ngx.log(ngx.ERR, "install page disabled: ", why)
    return fail(503, "eSIM installation is not available right now: please contact us.")
  end
  local rest = ngx.var.uri:sub(#"/install/" + 1)
  local iccid, png = rest:match("^(.*)(%.png)$")
  iccid = iccid or rest
  local _, bad = esim.check_iccid(iccid)
  if bad then return fail(400, "This link does not name an eSIM: the ICCID " .. bad.fields.iccid .. ".") end
  -- The token before any API call: a wrong one learns nothing, not even
  -- whether the ICCID exists (the same 404 as an unknown one).
  local e, t = ngx.var.arg_e, ngx.var.arg_t
  if not token.verify(secret, iccid, e, t, ngx.time()) then return fail(404, NOT_FOUND) end

  -- The SIM (sold?), the activation and the usage (for the plan) at once,
  -- on light threads.
  local results = client:batch({
    { "get_activation", { iccid = iccid } }, { "get_usage", { iccid = iccid } },
    { "get_sim", { iccid = iccid } },
  })
  local sim = results[3]
  if not sim.ok and sim.err.kind ~= "not_found" then return api_failure(sim.err) end
  if not sim.ok or sim.value:is_free() then return fail(404, NOT_FOUND) end -- unknown, or unsold stock
  local got = results[1]
  if not got.ok then
    local kind = got.err.kind
    if kind == "not_found" then return fail(404, NOT_FOUND) end
    if kind == "validation" then return fail(404, "This SIM is not an eSIM: there is nothing to install.") end
    return api_failure(got.err)
  end
  local activation = got.value
  -- Activation data the API sent that cannot be installed: no page, no
  -- link built from it; the log says which part (never the key).
  local links, invalid = activation:install_links()
  local code
  if links then code, invalid = activation:qr() end
  if not code then
    ngx.log(ngx.ERR, "flexiroam: eSIM ", iccid, ": ", tostring(invalid))
    return fail(502, "This eSIM's activation details are not valid: please contact us.")
  end
  if png then
    ngx.header["Content-Disposition"] = ('inline; filename="esim-%s.png"'):format(iccid)
    return answer(200, "image/png", code:png { scale = 8 })
  end
  local usage = results[2].ok and results[2].value or nil
  return answer(200, "text/html; charset=utf-8", page.render {
    iccid = iccid, links = links, svg = code:svg { module = 8 },
    png_url = ("/install/%s.png?e=%s&t=%s"):format(iccid, e, t:lower()), -- the same token: it names the ICCID
    usage = usage, plan = usage and plan_named(client, usage.plan_id),
  })
end

return page
