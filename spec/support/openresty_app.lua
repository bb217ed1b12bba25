-- luacheck: std luajit+ngx_lua
--- The handlers spec/openresty_spec.lua runs inside nginx (LuaJIT, ngx_lua):
-- the SDK against the sandbox, and the cosocket transport on its own
-- against spec/support/http_test_server.lua. Each answers JSON.
-- nginx variables carry the addresses: $sandbox_url, $test_server_url,
-- $closed_port, $tls_port, $wrong_name_tls_port.
local flexiroam = require "flexiroam"
local ngx_transport = require "flexiroam.transport.ngx"

local json = flexiroam.json
local KEY = "sandbox-key"
local P = "/v1/public-v2/"

local app = {}

local function reply(value, status)
  ngx.status = status or 200
  ngx.header["Content-Type"] = "application/json"
  ngx.say(assert(json.encode(value)))
end

local function error_fields(err)
  if err == nil then return nil end
  return {
    kind = err.kind, message = err.message, status = err.status, sent = err.sent, method = err.method,
    path = err.path, url = err.url, text = tostring(err),
  }
end

local function now()
  ngx.update_time()
  return ngx.now()
end

-- The User-Agent of the last request a client made here began (on_request
-- sees it before the transport sends): it names the transport chosen.
local last_user_agent

local function new_client(opts)
  opts = opts or {}
  local own = opts.on_request
  opts.on_request = function(e)
    last_user_agent = e.headers["User-Agent"]
    if own then own(e) end
  end
  opts.api_key = opts.api_key or KEY
  opts.base_url = opts.base_url or ngx.var.sandbox_url
  return flexiroam.new(opts)
end

-- One client for every request of the worker, as an application would
-- keep it: a transport holds no socket between requests.
local shared_client
local function client()
  shared_client = shared_client or new_client()
  return shared_client
end

local handlers = {}

function handlers.list()
  local c = client()
  local page, err = c:list_inventory { chip_type = "esim", search_by = "availability", search = "free", limit = 5 }
  if not page then return reply({ error = error_fields(err) }, 502) end
  local free = true
  for _, sim in ipairs(page.items) do
    free = free and sim.chip_type == "esim" and sim.availability_sku:find("^free___") ~= nil
  end
  reply {
    count = #page.items, page_key = page.page_key, all_free_esims = free,
    sku_type = type(page.items[1] and page.items[1].sku),
    user_agent = last_user_agent,
  }
end

function handlers.iterate()
  local seen, count, duplicates = {}, 0, 0
  for sim in client():inventory { chip_type = "esim", limit = 7 } do
    if seen[sim.iccid] then duplicates = duplicates + 1 end
    seen[sim.iccid] = true
    count = count + 1
  end
  reply { count = count, duplicates = duplicates }
end

function handlers.auth()
  local wrong = "sk_wrong_key_for_nginx_51e2"
  local page, err = new_client({ api_key = wrong }):list_inventory { limit = 1 }
  reply { page = page ~= nil, error = error_fields(err), leaked = tostring(err):find(wrong, 1, true) ~= nil }
end

function handlers.refused()
  local c = new_client { base_url = "http://127.0.0.1:" .. ngx.var.closed_port }
  local page, err = c:list_inventory { limit = 1 }
  reply { page = page ~= nil, error = error_fields(err) }
end

-- The storefront's flow: a free eSIM, a one-time plan for it, the purchase
-- (a reference makes it safe to repeat), the activation code.
function handlers.purchase()
  local c = client()
  local sims = assert(c:list_inventory { chip_type = "esim", search_by = "availability", search = "free", limit = 1 })
  local sim = assert(sims.items[1], "no free eSIM")
  local plans = assert(c:list_plans { chip_type = "esim", type = "one_time", limit = 1 })
  local plan = assert(plans.items[1], "no plan")
  local reference = "nginx-" .. ngx.var.request_id
  local order, err = c:purchase_plan { iccid = sim.iccid, plan_id = plan.id, reference = reference }
  if not order then return reply({ error = error_fields(err) }, 502) end
  local again = assert(c:purchase_plan { iccid = sim.iccid, plan_id = plan.id, reference = reference })
  local activation = assert(c:get_activation { iccid = sim.iccid })
  reply {
    iccid = sim.iccid, plan_id = plan.id, order_id = order.id, order_iccid = order.iccid,
    replay_order_id = again.id, lpa = activation.lpa,
  }
end

-- A call the sandbox holds back (a delay fault queued by the spec).
local function slow(transport)
  local c = new_client { transport = transport }
  local started = now()
  local page, err = c:list_inventory { limit = 1 }
  reply { ok = page ~= nil, error = error_fields(err), elapsed = now() - started }
end

function handlers.slow() slow(nil) end
function handlers.slow_curl() slow("curl") end

-- A call the sandbox answers 503 with Retry-After: 1 first: the client
-- waits a second, then tries again. `blocking` swaps in the core's
-- nanosleep through the clock seam, to show what the default avoids.
-- The worker's own order of events (one worker): what ran before what.
local sequence = 0
local function tick()
  sequence = sequence + 1
  return sequence
end

local function retry_wait(blocking)
  local retries, waiting_from, resumed_at = 0, nil, nil
  local c = new_client {
    retries = 1,
    on_retry = function()
      retries = retries + 1
      waiting_from = tick()
    end,
    on_request = function(event)
      if event.attempt == 2 then resumed_at = tick() end
    end,
    clock = blocking and { sleep = require("flexiroam.core").sleep } or nil,
  }
  local started = now()
  local page, err = c:list_inventory { limit = 1 }
  reply {
    ok = page ~= nil, error = error_fields(err), elapsed = now() - started, retries = retries,
    waiting_from = waiting_from, resumed_at = resumed_at,
  }
end

function handlers.retry_wait() retry_wait(false) end
function handlers.retry_wait_blocking() retry_wait(true) end

-- n list_inventory calls in one client:batch, n at once: through the
-- cosocket transport's multi, each on a light thread.
local function batch(client_opts)
  local n = tonumber(ngx.var.arg_n) or 4
  local calls = {}
  for i = 1, n do calls[i] = { "list_inventory", { limit = 1 } } end
  local started = now()
  local results, summary = new_client(client_opts):batch(calls, { concurrency = n })
  local pages, first_error = 0, nil
  for _, r in ipairs(results) do
    if r.ok and #r.value.items == 1 then pages = pages + 1 end
    if not r.ok then first_error = first_error or error_fields(r.err) end
  end
  reply { ok = summary.ok, failed = summary.failed, pages = pages, error = first_error,
    elapsed = now() - started }
end

function handlers.batch() batch() end

-- Two calls in one batch, for a sandbox that answers one of them 503 with
-- Retry-After: 1 and holds the other back 2.5 s: the retry's wait is a
-- timer of the batch, so the first call ends, retried, while the other is
-- still held back. Answers when each call ended.
function handlers.batch_retry()
  local ended, started = {}, now()
  local _, summary = new_client({ retries = 1 }):batch(
    { { "list_inventory", { limit = 1 } }, { "list_inventory", { limit = 1 } } },
    { concurrency = 2, on_progress = function(done) ended[done] = now() - started end })
  reply { ok = summary.ok, first = ended[1], last = ended[2] }
end

-- A batch whose progress callback itself sleeps through nginx: each sleep
-- must last its full time, whatever the batch's light threads do meanwhile.
function handlers.batch_sleepy_progress()
  local slept = {}
  local calls = {}
  for i = 1, 4 do calls[i] = { "list_inventory", { limit = 1 } } end
  local _, summary = new_client():batch(calls, { concurrency = 4, on_progress = function()
    local t = now()
    ngx.sleep(0.2)
    slept[#slept + 1] = now() - t
  end })
  reply { ok = summary.ok, slept = slept }
end

function handlers.batch_refused()
  batch { base_url = "http://127.0.0.1:" .. ngx.var.closed_port, retries = 0 }
end

function handlers.fast()
  reply { fast = true, seq = tick() }
end

-- What init_worker_by_lua and the timer it started left behind, and what
-- the previous request's log_by_lua saw.
function handlers.phases()
  local d = ngx.shared.results
  reply {
    init_worker = d:get("init_worker"), timer = d:get("timer"), log = d:get("log"),
    user_agent_in_init_worker = d:get("user_agent_in_init_worker"),
  }
end

-- Direct transport cases against the HTTP test server.
local function test_url(path)
  return ngx.var.test_server_url .. path
end

local function request(t, req)
  local res, err = t:request(req)
  if not res then return { error = error_fields(err) } end
  return {
    status = res.status, headers = res.headers, body_length = #res.body, body = #res.body <= 4096 and res.body or nil,
    reused = res.reused, http_version = res.http_version, timings = res.timings,
  }
end

local cases = {}

function cases.status()
  return request(ngx_transport.new(), { url = test_url("/status/200") })
end

function cases.echo()
  return request(ngx_transport.new(), {
    method = "POST", url = test_url("/echo?q=1"), body = '{"a":1}',
    headers = { ["X-Api-Key"] = "k", ["Content-Type"] = "application/json" },
  })
end

function cases.tls_trusted()
  return request(ngx_transport.new(), { url = "https://127.0.0.1:" .. ngx.var.tls_port .. "/" })
end

function cases.tls_wrong_name()
  return request(ngx_transport.new(), { url = "https://127.0.0.1:" .. ngx.var.wrong_name_tls_port .. "/" })
end

function cases.tls_untrusted()
  return request(ngx_transport.new(), { url = "https://127.0.0.1:" .. ngx.var.tls_port .. "/" })
end

-- Many handshakes, as some complete in one go (a path where an older
-- lua-resty-core could report success for a certificate that failed).
function cases.tls_untrusted_many()
  local passed, kinds = 0, {}
  for _ = 1, 30 do
    local res, err = ngx_transport.new():request { url = "https://127.0.0.1:" .. ngx.var.tls_port .. "/" }
    if res then passed = passed + 1 else kinds[err.kind] = (kinds[err.kind] or 0) + 1 end
  end
  return { passed = passed, kinds = kinds }
end

function cases.tls_unverified()
  return request(ngx_transport.new { verify = false }, { url = "https://127.0.0.1:" .. ngx.var.tls_port .. "/" })
end

-- Programmer mistakes raise, as the libcurl session's do.
function cases.misuse()
  local t = ngx_transport.new()
  local function message(req)
    local ok, err = pcall(t.request, t, req)
    return ok and "no error" or tostring(err)
  end
  return {
    injection = message { url = test_url("/echo"), headers = { ["X-A"] = "v\r\nX-Evil: 1" } },
    bad_name = message { url = test_url("/echo"), headers = { ["Bad Name"] = "v" } },
    framing = message { url = test_url("/echo"), headers = { ["Content-Length"] = "5" } },
    get_body = message { url = test_url("/echo"), body = "x" },
    scheme = message { url = "ftp://127.0.0.1/" },
    field = message { url = test_url("/echo"), timeout = 5 },
  }
end

-- A pooled connection the server drops before answering: the request goes
-- again on a new connection. The sandbox's reset fault does the dropping.
function cases.stale()
  local t = ngx_transport.new()
  local base = ngx.var.sandbox_url
  local list = { url = base .. P .. "list-inventory?limit=1", headers = { ["x-api-key"] = KEY } }
  local first = request(t, list)
  local queued = request(t, {
    method = "POST", url = base .. "/__sandbox/faults",
    body = json.encode { path = P .. "list-inventory", fault = "reset" },
  })
  local after = request(t, list)
  local faults = request(t, { url = base .. "/__sandbox/faults" })
  return { first = first, queued = queued, after = after, faults = faults }
end

function handlers.transport()
  local case = cases[ngx.var.arg_case]
  if not case then return reply({ error = "no case " .. tostring(ngx.var.arg_case) }, 404) end
  reply(case())
end

-- The same cases where nginx trusts no certificate at all.
handlers.untrusted = handlers.transport

function app.handle()
  local name = ngx.var.uri:match("^/([%w_]+)$")
  local handler = name and handlers[name]
  if not handler then return reply({ error = "no route" }, 404) end
  handler()
end

-- Phases without cosockets: the SDK must refuse there, loudly.
local function attempt(c)
  local ok, err = pcall(c.list_inventory, c, { limit = 1 })
  return ok and "sent" or tostring(err)
end

function app.log_phase()
  ngx.shared.results:set("log", attempt(client()))
end

function app.init_worker(sandbox_url)
  local d = ngx.shared.results
  local c = new_client { base_url = sandbox_url }
  d:set("init_worker", attempt(c))
  d:set("user_agent_in_init_worker", last_user_agent)
  -- A timer runs where cosockets work: the same client sends from there.
  ngx.timer.at(0, function()
    local page, err = c:list_inventory { limit = 2 }
    d:set("timer", page and ("items " .. #page.items) or tostring(err))
  end)
end

return app
