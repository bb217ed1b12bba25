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

local install, qr, esim = flexiroam.install, flexiroam.qr, flexiroam.esim
local HOSTILE_ID = '"><img/src=x/onerror=alert(1)>'

-- One request on a fresh connection -> status, headers (lower-case names), body.
local function fetch(port, method, path)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send(processes.http_request(method, path)))
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

  local sb, srv, client, sold, activation

  lazy_setup(function()
    sb = sandbox.start { sims = 12, seed = 17 }
    client = flexiroam.new { api_key = "sandbox-key", base_url = sb.url }
    srv = nginx.example { env = { FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = sb.url } }
    local plan = assert(client:collect("list_plans", { chip_type = "esim", type = "one_time" }, { max_items = 1 }))[1]
    sold = assert(client:sell_plan { plan_id = plan.id, reference = "install-page-1" })
    sold.plan = plan
    activation = assert(client:get_activation { iccid = sold.order.iccid })
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if client then client:close() end
    if sb then sb:stop() end
  end)

  it("answers the page with the install details of the eSIM and a strict policy", function()
    local status, headers, body = fetch(srv.port, "GET", "/install/" .. sold.order.iccid)
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
    assert.matches(page.escape(sold.plan.name), body, nil, true)
    assert.matches("valid for " .. sold.plan.validity_days .. " days from the first use", body, nil, true)
    assert.is_nil(body:find("sandbox-key", 1, true))
  end)

  it("serves QR codes that read back to the exact activation code: the page's SVG and the PNG", function()
    local why = scan.missing("zbarimg") or scan.missing("rsvg-convert")
    if why then return pending("skipped: " .. why) end
    local _, _, body = fetch(srv.port, "GET", "/install/" .. sold.order.iccid)
    local svg = assert(body:match("(<svg .-</svg>)"))
    assert.same({ activation.lpa }, scan.decode_png(scan.svg_to_png(svg)))
    local status, headers, png = fetch(srv.port, "GET", "/install/" .. sold.order.iccid .. ".png")
    assert.equals(200, status)
    assert.equals("image/png", headers["content-type"])
    assert.equals(page.CSP, headers["content-security-policy"])
    assert.same({ activation.lpa }, scan.decode_png(png))
  end)

  it("opens in headless Chromium, runs only its own hashed script, and its screenshot's code scans", function()
    local why = scan.missing("browser") or scan.missing("zbarimg")
    if why then return pending("skipped: " .. why) end
    local url = srv.url .. "/install/" .. sold.order.iccid
    local shot = assert(scan.screenshot(url, { width = 800, height = 1400 }))
    assert.same({ activation.lpa }, scan.decode_png(shot))
    -- The copy buttons start hidden and only the script shows them: shown,
    -- the policy let the hashed script run (127.0.0.1 is a secure context,
    -- so the clipboard is there).
    local dom = assert(scan.dump_dom(url))
    local _, buttons = dom:gsub("<button [^>]*data%-copy", "")
    local _, hidden = dom:gsub("<button [^>]*hidden", "")
    assert.equals(3, buttons)
    assert.equals(0, hidden)
  end)

  it("answers 400 for a malformed ICCID, 404 for an unknown one or a physical SIM, 403 for other methods", function()
    local iccid = sold.order.iccid
    local status, headers, body = fetch(srv.port, "GET", "/install/123")
    assert.equals(400, status)
    assert.equals(page.CSP, headers["content-security-policy"])
    assert.matches("does not name an eSIM", body, nil, true)
    assert.equals(400, (fetch(srv.port, "GET", "/install/" .. iccid:sub(1, -2) .. (iccid:byte(-1) - 47) % 10)))
    assert.equals(400, (fetch(srv.port, "GET", "/install/%3Cscript%3E")))
    local unknown = "8999999999999999999" .. esim.luhn_digit("8999999999999999999") -- not of the sandbox's range
    status, headers, body = fetch(srv.port, "GET", "/install/" .. unknown)
    assert.equals("text/html; charset=utf-8", headers["content-type"])
    assert.equals(404, status)
    assert.matches("No eSIM with this ICCID", body, nil, true)
    local psim = assert(client:collect("list_inventory", { chip_type = "psim" }, { max_items = 1 }))[1]
    if psim then assert.equals(404, (fetch(srv.port, "GET", "/install/" .. psim.iccid))) end
    assert.equals(403, (fetch(srv.port, "POST", "/install/" .. iccid)))
    assert.equals(404, (fetch(srv.port, "GET", "/install/" .. unknown .. ".png")))
  end)

  it("encodes what the SDK encodes: the page's code is the activation's own", function()
    local _, _, body = fetch(srv.port, "GET", "/install/" .. sold.order.iccid)
    local m = assert(activation:qr())
    assert.equals(m:svg { module = 8 }, body:match("(<svg .-</svg>)") .. "\n")
    assert.is_true(qr.encode(activation.lpa) ~= nil)
  end)
end)
