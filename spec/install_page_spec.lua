-- The storefront's install page (examples/openresty/install_page.lua): its
-- HTML on hostile data, then the shipped nginx.conf under a real nginx
-- against the sandbox, checked by real tools: every QR code it serves read
-- back by zbarimg, the page opened in headless Chromium on 127.0.0.1,
-- screenshotted, and the screenshot's QR code read back. Skips, saying
-- why, without nginx (or the LuaJIT build), the scanner or the browser.
package.path = "examples/openresty/?.lua;" .. package.path

local socket = require "socket"
local flexiroam = require "flexiroam"
local nginx = require "spec.support.nginx"
local processes = require "spec.support.test_processes"
local sandbox = require "spec.support.sandbox"
local scan = require "spec.support.scan"
local page = require "install_page"
local token = require "install_token"
local digest = require "flexiroam.digest"
local json = flexiroam.json

local install, qr, esim = flexiroam.install, flexiroam.qr, flexiroam.esim
local HOSTILE_ID = '"><img/src=x/onerror=alert(1)>'

-- One request on a fresh connection -> status, headers (lower-case names), body.
local function fetch(port, method, path, request_body)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send(processes.http_request(method, path, request_body)))
  local raw, err, partial = c:receive("*a")
  c:close()
  raw = raw or (err == "closed" and partial) or error("no answer: " .. tostring(err))
  local status, body = processes.http_answer(raw)
  local headers = {}
  for name, value in raw:match("^(.-)\r\n\r\n"):gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return status, headers, body
end

local function hostile_view()
  local links = assert(install.links {
    lpa = "LPA:1$smdp.example.com$" .. HOSTILE_ID, confirmation_code = "<b>1234</b>",
  })
  return {
    iccid = "8901260882310000005", links = links, png_url = "/install/8901260882310000005.png",
    svg = assert(install.qr(links)):svg(),
    plan = { name = "<script>alert(2)</script>", data_bytes = 3 * esim.GB, validity_days = 7 },
    usage = { status = "not_started" },
  }
end

-- The base64 SHA-256 of `text` as openssl computes it.
local function openssl_sha256(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local ok, out = processes.run("openssl dgst -sha256 -binary " .. processes.quote(path) .. " | base64")
  os.remove(path)
  assert(ok, out)
  return (out:gsub("%s+$", ""))
end

local SECRET = "0123456789abcdef0123456789abcdef-install"

describe("install links (install_token.lua)", function()
  local iccid, other = "8901260882310000005", "8901260882310000013"

  it("signs (iccid, expiry) with HMAC-SHA256 and checks it back, in constant time", function()
    local t = token.sign(SECRET, iccid, 2000000000)
    assert.matches("^" .. ("%x"):rep(64) .. "$", t)
    assert.equals(digest.hmac_sha256(SECRET, "install\0" .. iccid .. "\0" .. "2000000000"), t)
    assert.is_true(token.verify(SECRET, iccid, "2000000000", t, 1999999999))
    assert.is_true(token.verify(SECRET, iccid, "2000000000", t, 2000000000))
    assert.is_true(token.verify(SECRET, iccid, "2000000000", t:upper(), 1999999999))
    assert.equals("/install/" .. iccid .. "?e=2000000000&t=" .. t, token.path(SECRET, iccid, 2000000000))
    assert.equals("/install/" .. iccid .. ".png?e=2000000000&t=" .. t, token.path(SECRET, iccid, 2000000000, true))
  end)

  it("refuses an expired, altered, missing or other ICCID's token, or another secret's", function()
    local t = token.sign(SECRET, iccid, 2000000000)
    assert.is_false(token.verify(SECRET, iccid, "2000000000", t, 2000000001)) -- expired
    assert.is_false(token.verify(SECRET, other, "2000000000", t, 0))
    assert.is_false(token.verify(SECRET, iccid, "2000000001", t, 0))
    assert.is_false(token.verify(SECRET, iccid, "02000000000", t, 0))
    assert.is_false(token.verify(SECRET, iccid, "2000000000", t:sub(1, -2) .. (t:sub(-1) == "0" and "1" or "0"), 0))
    assert.is_false(token.verify(SECRET, iccid, "2000000000", t:sub(1, 32), 0))
    assert.is_false(token.verify(SECRET, iccid, "2000000000", nil, 0))
    assert.is_false(token.verify(SECRET, iccid, nil, t, 0))
    assert.is_false(token.verify(SECRET, iccid, "2e9", t, 0))
    assert.is_false(token.verify(SECRET .. "x", iccid, "2000000000", t, 0))
    assert.is_true(token.equal("abc", "abc"))
    assert.is_false(token.equal("abc", "abd"))
    assert.is_false(token.equal("abc", "ab"))
    assert.is_false(token.equal("abc", nil))
  end)

  it("wants a secret of 32 bytes or more", function()
    assert.is_true(token.secret_ok(SECRET))
    assert.is_true(token.secret_ok(("k"):rep(32)))
    local ok, why = token.secret_ok(("k"):rep(31))
    assert.is_nil(ok)
    assert.matches("31 bytes", why, nil, true)
    assert.matches("not set", select(2, token.secret_ok(nil)), nil, true)
    assert.matches("not set", select(2, token.secret_ok("")), nil, true)
  end)
end)

describe("the install page's HTML", function()
  it("escapes every value from the API and rebuilds the links from checked parts", function()
    local html = page.render(hostile_view())
    assert.is_nil(html:find("<img", 1, true))
    assert.is_nil(html:find("<script>alert", 1, true))
    assert.is_nil(html:find("<b>", 1, true))
    assert.matches('value="LPA:1$smdp.example.com$&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;$$1"', html, nil, true)
    assert.matches('value="&lt;b&gt;1234&lt;/b&gt;"', html, nil, true)
    assert.matches("&lt;script&gt;alert(2)&lt;/script&gt;", html, nil, true)
    -- the iOS link carries the LPA percent-encoded: nothing of it survives as markup
    assert.matches('href="https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24smdp.example.com'
      .. '%24%22%3E%3Cimg%2Fsrc%3Dx%2Fonerror%3Dalert%281%29%3E%24%241"', html, nil, true)
  end)

  it("allows its one script and its one style by their SHA-256, as openssl computes them, and nothing else", function()
    if not processes.have("openssl") then return pending("skipped: openssl is not installed") end
    local html = page.render(hostile_view())
    local script = assert(html:match("<script>(.-)</script>"))
    local style = assert(html:match("<style>(.-)</style>"))
    local _, scripts = html:gsub("<script", "")
    assert.equals(1, scripts)
    assert.equals("default-src 'none'; script-src 'sha256-" .. openssl_sha256(script) .. "'; style-src 'sha256-"
      .. openssl_sha256(style) .. "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", page.CSP)
    assert.is_nil(html:find(" on%a+="), "an inline event handler")
    assert.is_nil(html:find(" style=", 1, true), "an inline style attribute")
  end)

  it("stays inert in a real browser: no element made from the data", function()
    local why = scan.missing("browser")
    if why then return pending("skipped: " .. why) end
    local path = processes.unused_path() .. ".html"
    local f = assert(io.open(path, "wb"))
    f:write(page.render(hostile_view()))
    f:close()
    local dom = assert(scan.dump_dom("file://" .. path))
    os.remove(path)
    assert.is_nil(dom:find("<img", 1, true))
    assert.is_nil(dom:find("<b>", 1, true))
    assert.matches("<h1>Install your eSIM</h1>", dom, nil, true)
  end)
end)

describe("the install page under nginx", function()
  local missing = nginx.missing()
  if missing then
    it("serves the install page", function() pending("skipped: " .. missing) end)
    return
  end

  local sb, srv, client, sold, activation, url, png_url

  lazy_setup(function()
    sb = sandbox.start { sims = 12, seed = 17 }
    client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
    srv = nginx.example { env = {
      FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = sb.url, STOREFRONT_SECRET = SECRET,
    } }
    local plan = assert(client:collect("list_plans", { chip_type = "esim", type = "one_time" }, { max_items = 1 }))[1]
    -- Sold through the storefront: its /buy answers the signed link.
    local status, _, body = fetch(srv.port, "POST", "/buy",
      json.encode { plan_id = plan.id, reference = "install-page-1" })
    assert.equals(201, status, body)
    sold = json.decode(body)
    sold.plan = plan
    url = sold.install_url
    png_url = url:gsub("^(/install/%d+)", "%1.png")
    activation = assert(client:get_activation { iccid = sold.iccid })
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if client then client:close() end
    if sb then sb:stop() end
  end)

  it("answers /buy with a link signed for the eSIM, valid 7 days", function()
    local e, t = url:match("^/install/" .. sold.iccid .. "%?e=(%d+)&t=(%x+)$")
    assert.truthy(e, url)
    assert.is_true(math.abs(tonumber(e) - os.time() - token.DEFAULT_TTL) < 60)
    assert.equals(token.sign(SECRET, sold.iccid, tonumber(e)), t)
  end)

  it("answers the page with the install details of the eSIM and a strict policy", function()
    local status, headers, body = fetch(srv.port, "GET", url)
    assert.equals(200, status, body)
    assert.equals("text/html; charset=utf-8", headers["content-type"])
    assert.equals(page.CSP, headers["content-security-policy"])
    assert.equals("no-store", headers["cache-control"])
    assert.equals("no-referrer", headers["referrer-policy"])
    assert.equals("nosniff", headers["x-content-type-options"])
    local links = assert(activation:install_links())
    for _, value in ipairs { links.smdp_address, links.activation_code, links.lpa } do
      assert.matches('value="' .. page.escape(value) .. '"', body, nil, true)
    end
    assert.matches('href="' .. page.escape(links.ios) .. '"', body, nil, true)
    assert.matches('href="' .. page.escape(png_url) .. '"', body, nil, true) -- the PNG link carries the token
    assert.matches(page.escape(sold.plan.name), body, nil, true)
    assert.matches("valid for " .. sold.plan.validity_days .. " days from the first use", body, nil, true)
    assert.is_nil(body:find("sandbox-key", 1, true))
    assert.is_nil(body:find(SECRET, 1, true))
  end)

  it("serves QR codes that read back to the exact activation code: the page's SVG and the PNG", function()
    local why = scan.missing("zbarimg") or scan.missing("rsvg-convert")
    if why then return pending("skipped: " .. why) end
    local _, _, body = fetch(srv.port, "GET", url)
    local svg = assert(body:match("(<svg .-</svg>)"))
    assert.same({ activation.lpa }, scan.decode_png(scan.svg_to_png(svg)))
    -- the PNG from the page's own link
    local link = assert(body:match('href="(/install/[^"]+%.png[^"]*)"')):gsub("&amp;", "&")
    local status, headers, png = fetch(srv.port, "GET", link)
    assert.equals(200, status)
    assert.equals("image/png", headers["content-type"])
    assert.equals(page.CSP, headers["content-security-policy"])
    assert.same({ activation.lpa }, scan.decode_png(png))
  end)

  it("opens in headless Chromium, runs only its own hashed script, and its screenshot's code scans", function()
    local why = scan.missing("browser") or scan.missing("zbarimg")
    if why then return pending("skipped: " .. why) end
    local shot = assert(scan.screenshot(srv.url .. url, { width = 800, height = 1400 }))
    assert.same({ activation.lpa }, scan.decode_png(shot))
    -- The copy buttons start hidden and only the script shows them: shown,
    -- the policy let the hashed script run (127.0.0.1 is a secure context,
    -- so the clipboard is there).
    local dom = assert(scan.dump_dom(srv.url .. url))
    local _, buttons = dom:gsub("<button [^>]*data%-copy", "")
    local _, hidden = dom:gsub("<button [^>]*hidden", "")
    assert.equals(3, buttons)
    assert.equals(0, hidden)
  end)

  it("answers 404 without asking the API for a missing, bad, expired or other ICCID's token", function()
    local iccid = sold.iccid
    local e, t = url:match("%?e=(%d+)&t=(%x+)$")
    local other = sandbox.free_esims(client, 1)[1]
    local flipped = t:sub(1, -2) .. (t:sub(-1) == "0" and "1" or "0")
    local past = os.time() - 1
    local refused = {
      "/install/" .. iccid, "/install/" .. iccid .. ".png", "/install/" .. iccid .. "?e=" .. e,
      "/install/" .. iccid .. "?t=" .. t, "/install/" .. iccid .. "?e=" .. e .. "&t=" .. flipped,
      "/install/" .. iccid .. "?e=" .. (e + 1) .. "&t=" .. t,
      token.path(SECRET, iccid, past), token.path(SECRET, iccid, past, true), -- expired, well signed
      token.path(("x"):rep(40), iccid, e), -- another secret
      "/install/" .. other .. "?e=" .. e .. "&t=" .. t, -- this eSIM's token on another ICCID
      "/install/" .. other .. ".png?e=" .. e .. "&t=" .. t, -- its .png token likewise
    }
    -- The sandbox counts the requests it answers: two stats calls in a row
    -- differ by what one stats call adds; the refused pages add nothing.
    local function requests() return sandbox.stats(client).requests end
    local before = requests()
    local step = requests() - before
    before = before + step
    for _, path in ipairs(refused) do
      local status, headers, body = fetch(srv.port, "GET", path)
      assert.equals(404, status, path)
      assert.equals(page.CSP, headers["content-security-policy"])
      assert.matches("No eSIM with this ICCID, or this link has expired", body, nil, true)
    end
    assert.equals(before + step, requests())
    -- and the count does move for a good link: it asks the API
    assert.equals(200, (fetch(srv.port, "GET", url)))
    assert.is_true(requests() > before + 2 * step)
  end)

  it("answers 404 for a SIM nobody bought, even with a good token", function()
    local free = sandbox.free_esims(client, 1)[1]
    assert.truthy(client:get_activation { iccid = free }) -- the API would answer its activation
    local status, _, body = fetch(srv.port, "GET", token.path(SECRET, free, os.time() + 60))
    assert.equals(404, status)
    assert.matches("No eSIM with this ICCID, or this link has expired", body, nil, true)
    assert.is_nil(body:find("LPA:", 1, true))
    assert.equals(404, (fetch(srv.port, "GET", token.path(SECRET, free, os.time() + 60, true))))
  end)

  it("answers 400 for a malformed ICCID, 404 for an unknown one or a physical SIM, 403 for other methods", function()
    local iccid = sold.iccid
    local status, headers, body = fetch(srv.port, "GET", "/install/123")
    assert.equals(400, status)
    assert.equals(page.CSP, headers["content-security-policy"])
    assert.matches("does not name an eSIM", body, nil, true)
    assert.equals(400, (fetch(srv.port, "GET", "/install/" .. iccid:sub(1, -2) .. (iccid:byte(-1) - 47) % 10)))
    assert.equals(400, (fetch(srv.port, "GET", "/install/%3Cscript%3E")))
    local unknown = "8999999999999999999" .. esim.luhn_digit("8999999999999999999") -- not of the sandbox's range
    status, headers, body = fetch(srv.port, "GET", token.path(SECRET, unknown, os.time() + 60))
    assert.equals("text/html; charset=utf-8", headers["content-type"])
    assert.equals(404, status)
    assert.matches("No eSIM with this ICCID", body, nil, true)
    local psim = assert(client:collect("list_inventory", { chip_type = "psim" }, { max_items = 1 }))[1]
    if psim then assert.equals(404, (fetch(srv.port, "GET", token.path(SECRET, psim.iccid, os.time() + 60)))) end
    assert.equals(403, (fetch(srv.port, "POST", url)))
    assert.equals(404, (fetch(srv.port, "GET", token.path(SECRET, unknown, os.time() + 60, true))))
  end)

  it("encodes what the SDK encodes: the page's code is the activation's own", function()
    local _, _, body = fetch(srv.port, "GET", url)
    local m = assert(activation:qr())
    assert.equals(m:svg { module = 8 }, body:match("(<svg .-</svg>)") .. "\n")
    assert.is_true(qr.encode(activation.lpa) ~= nil)
  end)

  it("answers 503, and logs why, without the secret; /buy then sells with no link", function()
    local bare = nginx.example { env = { FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = sb.url } }
    local ok, err = pcall(function()
      local status, _, body = fetch(bare.port, "GET", url)
      assert.equals(503, status)
      assert.matches("not available", body, nil, true)
      assert.is_nil(body:find("LPA:", 1, true))
      status, _, body = fetch(bare.port, "POST", "/buy",
        json.encode { plan_id = sold.plan_id, reference = "install-page-1" }) -- the same sale, replayed
      assert.equals(201, status, body)
      assert.equals(json.null, json.decode(body).install_url)
      assert.matches("install page disabled: STOREFRONT_SECRET is not set", bare:error_log(), nil, true)
    end)
    bare:stop()
    assert(ok, err)
  end)
end)
