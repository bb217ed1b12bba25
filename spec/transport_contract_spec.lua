-- The transport contract (docs/transport.md), proven on every transport by
-- one table of rows: each row says how to make its transport and which
-- cases cannot apply to it, and why (printed as pending). A new transport is
-- one more row. Every case sends its requests through
-- spec/support/transport_contract.lua, in this process or inside a real
-- nginx (spec/support/transport_contract_app.lua), against
-- spec/support/http_test_server.lua on 127.0.0.1 (the in-process sandbox
-- transport against a fake handler playing the same routes), or, for the
-- libcurl rows over TLS, against a private nginx serving the same routes as
-- HTTP/1.1 and as HTTP/2 (spec/support/transport_contract_tls.lua). Timing
-- never decides a case: elapsed-time bounds only catch a hang.
local cjson = require "cjson"
local socket = require "socket"
local procs = require "spec.support.test_processes"
local nginx = require "spec.support.nginx"
local tls = require "spec.support.transport_contract_tls"
local contract = require "spec.support.transport_contract"
local mock_ngx = require "spec.support.mock_ngx"
local curl_transport = require "flexiroam.transport.curl"
local ngx_transport = require "flexiroam.transport.ngx"
local sandbox_transport = require "flexiroam.sandbox.transport"
local http_head = require "flexiroam.http_head"
local raw_heads = require "spec.support.raw_heads"
local leaks = require "spec.support.leaks"

-- The API key, as a header value and in the query string of every request.
local KEY = "sk_live_CONTRACT_KEY_5d1c9a"
local QKEY = "qs_CONTRACT_QUERY_77e0b2"
-- Elapsed-time bounds only catch a hang; under valgrind everything is slower.
local MARGIN = os.getenv("FLEXIROAM_UNDER_VALGRIND") and 15 or 3
local WRITES = { "POST", "PUT", "PATCH", "DELETE" }

-- base (the URL of the current row's test server), plain (the plain HTTP
-- test server's), other, ports, nginx, tls (the TLS servers), fake
local env = {}

local tags = 0
local function new_tag(what)
  tags = tags + 1
  return ("%s_%d_%d"):format(what, os.time(), tags)
end

local function with_key_query(path)
  return path .. (path:find("?", 1, true) and "&" or "?") .. "key=" .. QKEY
end

-- A request to the test server (or to `base`) carrying the key (header and query).
local function R(path, extra, base)
  local req = { url = (base or env.base) .. with_key_query(path), headers = { ["X-Api-Key"] = KEY } }
  for k, v in pairs(extra or {}) do req[k] = v end
  return req
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

------------------------------------------------------------------------
-- Plain HTTP from this process (LuaSocket): hits on the test servers,
-- and POST /contract to nginx.

-- One exchange on a connection of its own; the answer read by
-- Content-Length, chunks or to the close (the test server keeps a
-- connection open whatever Connection says).
local function http(port, method, path, body, timeout)
  local c = assert(socket.tcp())
  c:settimeout(timeout or 10)
  assert(c:connect("127.0.0.1", port))
  local head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"):format(method, path)
  if body then head = head .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n" end
  assert(c:send(head .. "\r\n" .. (body or "")))
  local status = tonumber(assert(c:receive("*l")):match("^HTTP/1%.%d (%d%d%d)"))
  local length, chunked
  while true do
    local line = assert(c:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    name = name and name:lower()
    if name == "content-length" then length = tonumber(value) end
    if name == "transfer-encoding" and value:lower():find("chunked", 1, true) then chunked = true end
  end
  local payload
  if chunked then
    local parts = {}
    while true do
      local size = tonumber(assert(c:receive("*l")):match("^(%x+)"), 16)
      if not size or size == 0 then break end
      parts[#parts + 1] = assert(c:receive(size))
      assert(c:receive("*l"))
    end
    payload = table.concat(parts)
  elseif length then
    payload = length > 0 and assert(c:receive(length)) or ""
  else
    local raw, err, partial = c:receive("*a")
    payload = raw or (err == "closed" and partial) or error("no answer: " .. tostring(err))
  end
  c:close()
  return status, payload
end

local function server_hits(port, tag)
  local status, body = http(port, "GET", "/hits?tag=" .. tag)
  assert.equals(200, status)
  return tonumber(body)
end

------------------------------------------------------------------------
-- The sandbox row's handler: the test server's routes, as answers with
-- fault directives (see flexiroam.sandbox.faults) where the server would
-- misbehave on the wire.

local function query_args(query)
  local args = {}
  for k, v in (query or ""):gmatch("([^&=]+)=([^&]*)") do
    args[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  return args
end

local function fake_handler()
  local h = { hits = {}, other_hits = {}, connections = 0 }
  function h.connection_opened() h.connections = h.connections + 1 end
  local function answer(status, body, headers, fault)
    return { status = status, body = body, headers = headers or {}, fault = fault }
  end
  function h.handle(_, req)
    local a, p = query_args(req.query), req.path
    local function count(list)
      list[a.tag or ""] = (list[a.tag or ""] or 0) + 1
    end
    if p == "/status/200" then
      -- A handler's table holds one value a name: repeated ones come joined.
      return answer(200, "status 200", { ["X-Single"] = "one", ["X-Multi"] = "a, b", ["X-Mixed-Case"] = "Yes",
        ["Set-Cookie"] = "c1=1, c2=2" })
    elseif p == "/vanish" then
      count(h.hits)
      return answer(500, "", {}, { action = "reset", committed = true })
    elseif p == "/count" then
      count(h.hits)
      return answer(200, "counted")
    elseif p == "/hits" then
      return answer(200, tostring(h.hits[a.tag or ""] or 0))
    elseif p == "/stall" then
      return answer(200, "never", {}, { action = "delay", delay_ms = 600000 })
    elseif p == "/think" then
      return answer(200, "thought", {}, { action = "delay", delay_ms = tonumber(a.ms) })
    elseif p == "/drip" then
      return answer(200, ("x"):rep(tonumber(a.n)), {},
        { action = "drip", ms = math.floor(tonumber(a.every) * 1000), bytes = 1 })
    elseif p == "/echo" then
      local lines = { req.method .. " " .. p .. (req.query ~= "" and ("?" .. req.query) or "") .. " HTTP/1.1" }
      for k, v in pairs(req.headers) do lines[#lines + 1] = k .. ": " .. v end
      return answer(200, table.concat(lines, "\r\n") .. "\r\n\r\n" .. req.body)
    elseif p == "/gzip-endless" then
      return answer(200, "\31\139\8\0\0\0\0\0\0\255" .. ("\0"):rep(64), { ["Content-Encoding"] = "gzip" })
    elseif p == "/big" then
      return answer(200, ("x"):rep(tonumber(a.size)))
    elseif p == "/reset" or p == "/lie" then
      return answer(200, ("x"):rep(100), {}, { action = "truncate" })
    elseif p == "/redirect-to" then
      return answer(302, "moved", { Location = a.to })
    end
    return answer(404, "no route")
  end
  return h
end

------------------------------------------------------------------------
-- The rows. run(options, steps) -> records; hits(tag) / other_hits(tag):
-- how many requests the test server (the other origin) counted under tag;
-- na: case id -> why it cannot apply to this transport.

local function local_row(make, mode, wrap)
  return function(options, steps)
    local function go()
      local t = make(options)
      local records = contract.run(t, mode, steps, socket.gettime)
      t:close()
      return records
    end
    if wrap then return wrap(go) end
    return go()
  end
end

local function curl_options(options)
  local o = copy(options)
  o.proxy = "" -- a proxy in the environment must not capture 127.0.0.1
  return o
end

local function nginx_row(mode)
  return function(options, steps)
    local status, body = http(env.nginx.port, "POST", "/contract",
      cjson.encode { mode = mode, options = options, steps = steps }, contract.STEP_LIMIT_S * #steps)
    local ok, out = pcall(cjson.decode, body)
    assert(ok and status == 200, ("nginx answered %s: %s"):format(tostring(status), body))
    return out.records
  end
end

local function network_hits(tag) return server_hits(env.port, tag) end
local function network_other_hits(tag) return server_hits(env.other_port, tag) end

local NO_CONNECTION = "the in-process transport has no connection: nothing is pooled, reused, refused or " ..
  "connected"
local NO_THREADS = "ngx_multi runs requests on ngx.thread light threads and waits on ngx.semaphore, which only " ..
  "a real nginx has (the nginx rows cover it)"
local ACCEPTS_GZIP = "libcurl asks for gzip (Accept-Encoding) and decodes it: gzip_cap applies instead"
local IDENTITY_ONLY = "asks for Accept-Encoding: identity and decodes nothing: identity_only applies instead"
local NO_RAW_HEAD = "its handler answers a table of headers, never a raw head (header names still arrive " ..
  "lowercased: header_names)"

local nginx_missing = nginx.missing()
local tls_missing = tls.missing()

-- The libcurl transport trusting the TLS test servers' certificate.
local function tls_options(options)
  local o = curl_options(options)
  o.ca_file = env.tls.ca_file
  return o
end

local TLS_RAW = "nginx sends well-formed heads only (and HTTP/2 has no raw head: its fields are HPACK-coded)"
local NO_STREAMS = "HTTP/2 only: over HTTP/1.1 (or without a connection) there is no stream for a server to " ..
  "refuse, and no GOAWAY"

-- A libcurl row against the TLS servers: kind "h1" or "h2", mode "request" or "multi".
local function tls_row(name, kind, mode)
  return {
    name = name,
    run = local_row(function(o) return curl_transport.new(tls_options(o)) end, mode),
    base = function() return env.tls:base(kind) end,
    hits = function(tag) return env.tls:hits(tag) end,
    other_hits = network_other_hits,
    accepted = function() return env.tls:accepted(kind) end,
    h2 = kind == "h2" or nil,
    http_version = kind == "h2" and "2" or "1.1",
    skip = tls_missing,
    na = { identity_only = ACCEPTS_GZIP, raw_heads = TLS_RAW },
  }
end

local ROWS = {
  {
    name = "core.session (flexiroam.transport.curl)",
    run = local_row(function(o) return curl_transport.new(curl_options(o)) end, "request"),
    hits = network_hits, other_hits = network_other_hits,
    na = { identity_only = ACCEPTS_GZIP },
  },
  {
    name = "core.multi (add/perform)",
    run = local_row(function(o) return curl_transport.new(curl_options(o)) end, "multi"),
    hits = network_hits, other_hits = network_other_hits,
    na = { identity_only = ACCEPTS_GZIP },
  },
  {
    name = "ngx (cosockets) under a mock ngx",
    run = local_row(function(o) return ngx_transport.new(o) end, "request", function(go)
      local mock = mock_ngx.new()
      local ok, records = pcall(mock.with, go)
      mock.drain()
      if not ok then error(records, 0) end
      return records
    end),
    hits = network_hits, other_hits = network_other_hits,
    na = { gzip_cap = IDENTITY_ONLY, multi_interface = NO_THREADS },
  },
  {
    name = "ngx (cosockets) inside nginx",
    run = nginx_row("request"),
    hits = network_hits, other_hits = network_other_hits,
    skip = nginx_missing,
    na = { gzip_cap = IDENTITY_ONLY },
  },
  {
    name = "ngx_multi (light threads) inside nginx",
    run = nginx_row("multi"),
    hits = network_hits, other_hits = network_other_hits,
    skip = nginx_missing,
    na = { gzip_cap = IDENTITY_ONLY },
  },
  -- A write rides a warm connection here, and libcurl would send it again
  -- if that connection died: these rows prove it never does.
  tls_row("core.session over HTTP/2 (TLS, nginx)", "h2", "request"),
  tls_row("core.multi over HTTP/2 (TLS, nginx)", "h2", "multi"),
  -- https, yet HTTP/1.1: writes keep connections of their own.
  tls_row("core.session over HTTP/1.1 (TLS, nginx)", "h1", "request"),
  tls_row("core.multi over HTTP/1.1 (TLS, nginx)", "h1", "multi"),
  {
    name = "sandbox in-process transport",
    run = local_row(function(o)
      local opts = copy(o)
      opts.handler = env.fake
      opts.sleep = function(ms) socket.sleep(ms / 1000) end
      return sandbox_transport.new(opts)
    end, "request"),
    hits = function(tag) return env.fake.hits[tag] or 0 end,
    other_hits = function(tag) return env.fake.hits[tag] or 0 end,
    na = {
      write_on_dying_pooled_connection = NO_CONNECTION, get_stale_retried = NO_CONNECTION,
      write_connection = NO_CONNECTION,
      connect_timeout = NO_CONNECTION, refused = NO_CONNECTION, gzip_cap = IDENTITY_ONLY,
      raw_heads = NO_RAW_HEAD,
    },
  },
}

------------------------------------------------------------------------
-- Assertions every case shares.

local function assert_no_secret(value)
  leaks.assert_absent(value, { [KEY] = "the API key", [QKEY] = "the query string" })
end

-- An error record: the SDK's error object, a contract kind, consistent
-- sent / safe_to_retry, a scrubbed url, and no key anywhere in it.
local KINDS = { network = true, timeout = true, tls = true, too_large = true }
local function check_error(rec, what)
  local err = rec.error
  assert.is_table(err, (what or "") .. ": expected an error, got " .. cjson.encode(rec))
  assert.is_true(err.is_error, "not the SDK's error object")
  assert.is_true(KINDS[err.kind] == true, "not a transport kind: " .. tostring(err.kind))
  assert.is_boolean(err.sent)
  assert.equals(not err.sent, err.safe_to_retry)
  assert.is_string(err.method)
  assert.is_string(err.url)
  assert.is_nil(err.url:find("[?#@]"), "url not scrubbed: " .. err.url)
  assert_no_secret(err)
  return err
end

local function check_response(rec, what)
  assert.is_nil(rec.error, (what or "") .. ": " .. (rec.error and rec.error.text or ""))
  assert.is_nil(rec.raised, rec.raised)
  assert.is_nil(rec.hang, rec.hang)
  assert.is_number(rec.status, (what or "") .. ": " .. cjson.encode(rec))
  return rec
end

-- Every record of every case (a batch's included): nothing of the key in it.
local function checked(records)
  for _, rec in ipairs(records) do
    if rec.batch then checked(rec.batch) end
    assert.is_nil(rec.hang, rec.hang)
    if rec.error then check_error(rec) end
    assert_no_secret(rec.raised)
  end
  return records
end

------------------------------------------------------------------------
-- The cases: id, what it shows, and run(row) with the assertions.

local RAW_EXPECTED = {
  space_before_colon = { ["x-before"] = "1", ["x-after"] = "2", ["content-length"] = "2" },
  bad_name = { ["x-before"] = "1", ["x-after"] = "2", ["content-length"] = "2" },
  folded = { ["x-fold"] = "a b c", ["x-after"] = "2", ["content-length"] = "2" },
  empty_values = { ["x-empty"] = "late", ["x-late"] = "a", ["x-fold-empty"] = "folded", ["x-none"] = "",
    ["content-length"] = "2" },
  mixed = { ["x-dup"] = "a, b, c", ["set-cookie"] = "s1=1, s2=2 more", ["x-tab"] = "t", ["x-mixed-case"] = "Yes",
    ["content-length"] = "2" },
}
local RAW_LINES = raw_heads.FIXED -- what /raw-head?case= sends
-- /raw-head?seed=<n> for these: random blocks (spec/support/raw_heads.lua),
-- each expected to read as flexiroam.http_head reads it, on every row.
local RANDOM_SEEDS = 40

-- The table a transport must make of a block the test server sends (its
-- Content-Length line included).
local function expected_for(lines)
  local all = copy(lines)
  all[#all + 1] = "Content-Length: 2"
  return (http_head.fields(all))
end
local RAW_CASES = { "space_before_colon", "bad_name", "folded", "empty_values", "mixed" }

local CASES = {
  {
    id = "misuse_raises",
    what = "misuse raises (unknown field, bad types, a body on a GET, a bad timeout), never quoting a header value",
    run = function(row)
      local url = env.base .. "/status/200"
      local records = checked(row.run({}, {
        { req = { url = url, bogus = 1 } },
        { req = { url = 42 } },
        { req = { method = "get", url = url } },
        { req = { url = url, body = "x" } },
        { req = { url = url, headers = { ["X-Api-Key"] = KEY .. "\r\nX-Evil: 1" } } },
        { req = { url = url, timeout_ms = 0 } },
        { req = { url = url } },
      }))
      for i = 1, 6 do assert.is_string(records[i].raised, "step " .. i .. " did not raise") end
      assert.is_nil(records[5].raised:find("Evil", 1, true))
      assert.equals(200, check_response(records[7]).status)
    end,
  },
  {
    id = "response_shape",
    what = "answers {status, lowercased headers, body, http_version, reused, timings, url}; keeps the connection",
    run = function(row)
      local req = R("/status/200")
      local records = checked(row.run({}, { { req = req }, { req = req } }))
      local first, second = check_response(records[1]), check_response(records[2])
      assert.equals(200, first.status)
      assert.equals("status 200", first.body)
      assert.equals(row.http_version or "1.1", first.http_version)
      assert.equals(req.url, first.url)
      for _, k in ipairs { "connect", "first_byte", "tls", "total" } do
        assert.is_truthy(table.concat(first.timing_keys, ","):find(k, 1, true), "no timings." .. k)
      end
      -- nginx's pools outlive a handler: the first may ride an earlier case's connection
      assert.is_boolean(first.reused)
      assert.is_true(second.reused)
      assert.equals(first.headers["x-conn"], second.headers["x-conn"]) -- the test server's connection number
    end,
  },
  {
    id = "write_never_resent",
    what = "a write whose connection dies after the server read it is sent once: sent, not safe to retry " ..
      "(every write method, with a body, an empty one, or none)",
    run = function(row)
      local steps, writes = {}, {}
      local bodies = {}
      for _, method in ipairs(WRITES) do bodies[#bodies + 1] = { method, '{"sku":1}' } end
      -- nothing for libcurl to rewind: a retry would need no rewind either
      bodies[#bodies + 1] = { "POST", "" }
      bodies[#bodies + 1] = { "DELETE", nil }
      for _, b in ipairs(bodies) do
        local method = b[1]
        -- a kept-alive connection waits in the pool, as after a listing
        steps[#steps + 1] = { req = R("/status/200") }
        local tag = new_tag("vanish_" .. method)
        writes[#writes + 1] = { method = method, tag = tag, step = #steps + 1 }
        steps[#steps + 1] = { req = R("/vanish?tag=" .. tag, { method = method, body = b[2] }) }
      end
      local records = checked(row.run({}, steps))
      for _, w in ipairs(writes) do
        local err = check_error(records[w.step], w.method)
        assert.equals("network", err.kind)
        assert.is_true(err.sent)
        assert.is_false(err.safe_to_retry)
        assert.equals(w.method, err.method)
        assert.equals(env.base .. "/vanish", err.url)
        assert.equals(1, row.hits(w.tag), w.method .. " reached the server more than once")
      end
    end,
  },
  {
    id = "write_on_dying_pooled_connection",
    what = "issue 13's story: after a GET pooled its connection, a POST the server reads on a reused " ..
      "connection and drops arrives exactly once (over HTTP/1.1 a write never rides a pooled connection; " ..
      "over HTTP/2 it does, and comes back sent, not safe to retry)",
    run = function(row)
      local tag = new_tag("reused_post")
      local records = checked(row.run({}, {
        { req = R("/status/200") },
        { req = R("/vanish-reused?tag=" .. tag, { method = "POST", body = '{"plan_id":"p1"}' }) },
        { req = R("/status/200") },
      }))
      assert.equals(1, row.hits(tag), "the POST reached the server more than once")
      if row.h2 then
        local err = check_error(records[2], "POST")
        assert.equals("network", err.kind)
        assert.is_true(err.sent)
        assert.is_false(err.safe_to_retry)
      else
        local post = check_response(records[2], "POST")
        assert.equals(200, post.status)
        assert.equals("answered", post.body)
        assert.is_false(post.reused)
      end
      assert.equals(200, check_response(records[3]).status)
    end,
  },
  {
    id = "write_connection",
    what = "a write rides a warm connection only over HTTP/2, where libcurl cannot send it twice; over " ..
      "HTTP/1.1 it opens its own (the server's connection numbers say which)",
    run = function(row)
      local post_tag, delete_tag = new_tag("warm_post"), new_tag("warm_delete")
      local before = row.h2 and row.accepted()
      local records = checked(row.run({}, {
        { req = R("/status/200") },
        { req = R("/count?tag=" .. post_tag, { method = "POST", body = '{"plan_id":"p1"}' }) },
        { req = R("/count?tag=" .. delete_tag, { method = "DELETE" }) },
        { req = R("/status/200") },
      }))
      local get = check_response(records[1], "GET")
      local post, delete = check_response(records[2], "POST"), check_response(records[3], "DELETE")
      assert.equals(200, check_response(records[4], "GET").status)
      assert.equals("counted", post.body)
      assert.equals(1, row.hits(post_tag), "the POST reached the server more than once")
      assert.equals(1, row.hits(delete_tag), "the DELETE reached the server more than once")
      local conn = get.headers["x-conn"] -- the server's connection number
      assert.is_string(conn)
      if row.h2 then
        for _, w in ipairs { post, delete } do
          assert.equals("2", w.http_version)
          assert.is_true(w.reused, "the write opened a connection of its own")
          assert.equals(conn, w.headers["x-conn"])
        end
        assert.equals(1, row.accepted() - before, "the case used more than one connection")
      else
        for _, w in ipairs { post, delete } do
          assert.is_false(w.reused, "the write rode a kept-alive connection")
          assert.not_equals(conn, w.headers["x-conn"])
        end
        assert.not_equals(post.headers["x-conn"], delete.headers["x-conn"])
      end
    end,
  },
  {
    id = "refused_stream",
    h2_only = true,
    what = "a write the server refused unprocessed (REFUSED_STREAM) is the only one sent again; refused on every " ..
      "attempt, it comes back not sent, safe to retry; on a warm connection it goes through once",
    run = function(row)
      -- nginx refuses a stream that carries a body before the client has
      -- acknowledged its SETTINGS: the first one on a new connection.
      local base = env.tls:base("refuse")
      local cold, warm = new_tag("refused_cold"), new_tag("refused_warm")
      local records = checked(row.run({}, {
        { req = R("/count?tag=" .. cold, { method = "POST", body = '{"plan_id":"p1"}' }, base) },
        { req = R("/status/200", nil, base) },
        { req = R("/count?tag=" .. warm, { method = "POST", body = '{"plan_id":"p2"}' }, base) },
      }))
      local hits = row.hits(cold)
      assert.is_true(hits <= 1, "the refused write was processed " .. hits .. " times")
      if records[1].error then
        local err = check_error(records[1], "refused POST")
        assert.equals(0, hits)
        assert.is_false(err.sent, "a write refused unprocessed on every attempt is reported as maybe sent")
        assert.is_true(err.safe_to_retry)
        assert.matches("REFUSED_STREAM", err.message)
      else
        assert.equals(200, check_response(records[1], "cold POST").status)
        assert.equals(1, hits)
      end
      assert.equals(200, check_response(records[2], "GET").status)
      local post = check_response(records[3], "warm POST")
      assert.equals(200, post.status)
      assert.is_true(post.reused)
      assert.equals(1, row.hits(warm))
    end,
  },
  {
    id = "goaway",
    h2_only = true,
    what = "writes around a GOAWAY (the server processes no stream above its last one): each processed at most " ..
      "once; an answer means once, an error is sent (unclear) or refused (not sent)",
    run = function(row)
      -- keepalive_requests 2: the second request on a connection brings a
      -- GOAWAY naming it the last; a stream after it is refused. In a
      -- multi both writes ride the warm connection at once.
      local base = env.tls:base("goaway")
      local goaway_tags = { new_tag("goaway_a"), new_tag("goaway_b") }
      local records = checked(row.run({}, {
        { req = R("/status/200", nil, base) },
        { batch = {
          R("/count?tag=" .. goaway_tags[1], { method = "POST", body = '{"plan_id":"a"}' }, base),
          R("/count?tag=" .. goaway_tags[2], { method = "POST", body = '{"plan_id":"b"}' }, base),
        } },
        { req = R("/status/200", nil, base) },
      }))
      assert.equals(200, check_response(records[1], "GET").status)
      local answered = 0
      for i, rec in ipairs(records[2].batch) do
        local hits = row.hits(goaway_tags[i])
        assert.is_true(hits <= 1, "write " .. i .. " was processed " .. hits .. " times")
        if rec.error then
          local err = check_error(rec, "write " .. i)
          assert.equals("network", err.kind)
          assert.equals(0, hits, "the write was processed, yet came back as an error")
        else
          assert.equals(200, check_response(rec, "write " .. i).status)
          assert.equals(1, hits)
          answered = answered + 1
        end
      end
      assert.is_true(answered >= 1, "no write went through")
      assert.equals(200, check_response(records[3], "GET").status)
    end,
  },
  {
    id = "get_stale_retried",
    what = "a GET on a pooled connection that dies unanswered goes again on a new one, and succeeds",
    run = function(row)
      local tag = new_tag("stale_get")
      local records = checked(row.run({}, {
        { req = R("/status/200") },
        { req = R("/vanish-reused?tag=" .. tag) },
      }))
      local res = check_response(records[2], "GET")
      assert.equals(200, res.status)
      assert.equals("answered", res.body)
      assert.is_false(res.reused)
      -- at least the dying one and the new one (a pool holding several
      -- connections the server dropped may cost a try each)
      assert.is_true(row.hits(tag) >= 2, "the GET was not sent again")
    end,
  },
  {
    id = "connect_timeout",
    what = "connect_timeout_ms bounds the connection's setup: timeout, nothing sent, safe to retry",
    run = function(row)
      local port, close = procs.unaccepting_port()
      local ok, records = pcall(row.run, { connect_timeout_ms = 200, timeout_ms = 30000 }, {
        { req = { method = "POST", url = ("http://127.0.0.1:%d/v1/orders?key=%s"):format(port, QKEY),
          headers = { ["X-Api-Key"] = KEY }, body = "{}" } },
      })
      close()
      assert(ok, records)
      checked(records)
      local err = check_error(records[1])
      assert.equals("timeout", err.kind)
      assert.is_false(err.sent)
      assert.is_true(err.safe_to_retry)
      assert.equals(("http://127.0.0.1:%d/v1/orders"):format(port), err.url)
      assert.is_true(records[1].elapsed < 0.2 + MARGIN, "took " .. records[1].elapsed)
    end,
  },
  {
    id = "total_timeout",
    what = "timeout_ms (per request) bounds the whole exchange, a trickle of bytes included: timeout, sent",
    run = function(row)
      local records = checked(row.run({ timeout_ms = 30000, low_speed_ms = 5000 }, {
        { req = R("/stall", { timeout_ms = 300 }) },
        { req = R("/stall", { method = "POST", body = "{}", timeout_ms = 300 }) },
        -- each byte well within low_speed_ms, the whole answer not within timeout_ms
        { req = R("/drip?n=20&every=0.1", { timeout_ms = 600 }) },
        { req = R("/status/200") },
      }))
      for i = 1, 3 do
        local err = check_error(records[i])
        assert.equals("timeout", err.kind)
        assert.is_true(err.sent)
        assert.is_false(err.safe_to_retry)
        assert.is_true(records[i].elapsed < 0.6 + MARGIN, "took " .. records[i].elapsed)
      end
      assert.equals(200, check_response(records[4]).status)
    end,
  },
  {
    id = "low_speed",
    what = "fewer than low_speed_bytes within low_speed_ms, once the answer has begun, is a timeout; " ..
      "the server's thinking before its first byte is not",
    run = function(row)
      local records = checked(row.run({ low_speed_bytes = 1000, low_speed_ms = 1000, timeout_ms = 60000 }, {
        { req = R("/drip?n=200&every=0.1") },
        { req = R("/think?ms=1500") },
      }))
      local err = check_error(records[1])
      assert.equals("timeout", err.kind)
      assert.is_true(err.sent)
      assert.matches("stalled", err.message)
      assert.is_true(records[1].elapsed < 2 + MARGIN, "took " .. records[1].elapsed)
      local res = check_response(records[2], "think")
      assert.equals("thought", res.body)
    end,
  },
  {
    id = "gzip_cap",
    what = "asks for gzip, caps the decoded body: an endless gzip stream is refused as too_large early",
    run = function(row)
      local records = checked(row.run({ max_response_bytes = 1000000 }, {
        { req = R("/gzip-endless") },
        { req = R("/gzip?size=50000") },
      }))
      local err = check_error(records[1])
      assert.equals("too_large", err.kind)
      assert.is_true(err.sent)
      assert.is_true(records[1].elapsed < 5 + MARGIN, "took " .. records[1].elapsed)
      local res = check_response(records[2])
      assert.equals(("x"):rep(50000), res.body)
    end,
  },
  {
    id = "identity_only",
    what = "sends Accept-Encoding: identity, and refuses an answer in a content-coding it did not ask for",
    run = function(row)
      local records = checked(row.run({ max_response_bytes = 1000000 }, {
        { req = R("/echo") },
        { req = R("/gzip-endless") },
      }))
      local echo = check_response(records[1])
      assert.is_truthy(echo.body:lower():find("\r\naccept%-encoding: identity\r\n"), echo.body)
      local err = check_error(records[2])
      assert.equals("network", err.kind)
      assert.is_true(err.sent)
      assert.matches("content%-coding", err.message)
      assert.is_true(records[2].elapsed < 5 + MARGIN, "took " .. records[2].elapsed)
    end,
  },
  {
    id = "too_large",
    what = "a body past max_response_bytes (Content-Length or chunked) is too_large, not truncated",
    run = function(row)
      local records = checked(row.run({ max_response_bytes = 1000 }, {
        { req = R("/big?size=5000") },
        { req = R("/big?size=5000&chunked=1") },
        { req = R("/big?size=1000") },
      }))
      for i = 1, 2 do assert.equals("too_large", check_error(records[i]).kind) end
      assert.equals(1000, check_response(records[3]).body_length)
    end,
  },
  {
    id = "whole_bodies",
    what = "a body comes whole, by Content-Length or in chunks",
    run = function(row)
      local records = checked(row.run({}, {
        { req = R("/big?size=200000") },
        { req = R("/big?size=200000&chunked=1") },
      }))
      for i = 1, 2 do assert.equals(200000, check_response(records[i]).body_length) end
    end,
  },
  {
    id = "broken_answer",
    what = "an answer cut short (a reset mid-body, a close before Content-Length is met) is a network error, sent",
    run = function(row)
      local records = checked(row.run({}, {
        { req = R("/reset") },
        { req = R("/lie?length=100") },
      }))
      for i = 1, 2 do
        local err = check_error(records[i])
        assert.equals("network", err.kind)
        assert.is_true(err.sent)
        assert.equals("GET", err.method)
      end
      assert.equals(env.base .. "/reset", records[1].error.url)
    end,
  },
  {
    id = "header_names",
    what = "header names lowercased, repeated ones joined with \", \"",
    run = function(row)
      local res = check_response(checked(row.run({}, { { req = R("/status/200") } }))[1])
      assert.equals("one", res.headers["x-single"])
      assert.equals("a, b", res.headers["x-multi"])
      assert.equals("Yes", res.headers["x-mixed-case"])
      assert.equals("c1=1, c2=2", res.headers["set-cookie"])
      for name in pairs(res.headers) do assert.equals(name:lower(), name) end
    end,
  },
  {
    id = "raw_heads",
    what = "duplicate, folded, mixed-case and malformed header lines give the same table on every transport",
    run = function(row)
      local steps = {}
      for i, case in ipairs(RAW_CASES) do steps[i] = { req = R("/raw-head?case=" .. case) } end
      steps[#steps + 1] = { req = R("/interim-raw") }
      local first_random = #steps + 1
      for seed = 1, RANDOM_SEEDS do steps[#steps + 1] = { req = R("/raw-head?seed=" .. seed) } end
      local records = checked(row.run({}, steps))
      for i, case in ipairs(RAW_CASES) do
        local res = check_response(records[i], case)
        assert.equals("ok", res.body)
        assert.same(RAW_EXPECTED[case], res.headers, case)
      end
      -- only the final answer's headers, after a 103
      assert.same(RAW_EXPECTED.mixed, check_response(records[first_random - 1]).headers)
      for seed = 1, RANDOM_SEEDS do
        local lines = raw_heads.random(seed)
        local res = check_response(records[first_random + seed - 1], "seed " .. seed)
        assert.same(expected_for(lines), res.headers, "seed " .. seed .. ": " .. table.concat(lines, " | "))
      end
    end,
  },
  {
    id = "redirect_not_followed",
    what = "a 3xx is returned as it is, never followed: nothing reaches the other origin",
    run = function(row)
      local tag = new_tag("redirect")
      local target = env.other .. "/count?tag=" .. tag
      local to = target:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
      local records = checked(row.run({}, {
        { req = R("/redirect-to?to=" .. to) },
        { req = R("/redirect-to?to=" .. to, { method = "POST", body = "{}" }) },
      }))
      for i = 1, 2 do
        local res = check_response(records[i])
        assert.equals(302, res.status)
        assert.equals(target, res.headers.location)
        assert.equals("moved", res.body)
      end
      assert.equals(0, row.other_hits(tag))
    end,
  },
  {
    id = "key_never_in_errors",
    what = "the key (a header value, and in the query) appears in no error: no field, nested, nor tostring, nor url",
    run = function(row)
      local refused = ("http://127.0.0.1:%d/v1/x?key=%s#frag"):format(procs.free_port(), QKEY)
      local records = checked(row.run({ max_response_bytes = 1000 }, {
        { req = { method = "POST", url = refused, headers = { ["X-Api-Key"] = KEY }, body = "{}" } },
        { req = R("/stall", { timeout_ms = 200 }) },
        { req = R("/reset") },
        { req = R("/vanish?tag=" .. new_tag("leak"), { method = "POST", body = KEY }) },
        { req = R("/big?size=5000") },
        { req = R("/gzip-endless") },
        { req = R("/echo", { headers = { ["X-Api-Key"] = KEY .. "\n" } }) },
      }))
      local errors_seen = 0
      for _, rec in ipairs(records) do
        if rec.error then
          errors_seen = errors_seen + 1
          assert_no_secret(rec.error.text)
          assert.matches("^https?://127%.0%.0%.1:%d+/[^?#@]*$", rec.error.url)
        end
      end
      assert.is_true(errors_seen >= 4, "only " .. errors_seen .. " errors to look at")
      assert.is_string(records[7].raised)
    end,
  },
  {
    id = "refused",
    what = "a refused connection: network, nothing sent, safe to retry",
    run = function(row)
      local port = procs.free_port()
      local records = checked(row.run({}, {
        { req = { method = "POST", url = ("http://127.0.0.1:%d/v1/orders?key=%s"):format(port, QKEY),
          headers = { ["X-Api-Key"] = KEY }, body = "{}" } },
      }))
      local err = check_error(records[1])
      assert.equals("network", err.kind)
      assert.is_false(err.sent)
      assert.is_true(err.safe_to_retry)
      assert.equals("POST", err.method)
      assert.equals(("http://127.0.0.1:%d/v1/orders"):format(port), err.url)
    end,
  },
  {
    id = "multi_interface",
    what = "the multi: add -> id, pending() counts what is not yet answered, perform answers each id once, " ..
      "close is idempotent",
    run = function(row)
      local tag = new_tag("multi")
      local rec = checked(row.run({}, { { multi_case = {
        R("/status/200"), R("/think?ms=100"), R("/count?tag=" .. tag),
      } } }))[1].multi
      assert.equals(3, rec.pending_after_add)
      assert.equals(3, #rec.answers)
      local seen = {}
      for _, a in ipairs(rec.answers) do
        assert.is_nil(seen[a.id], "answered twice: " .. tostring(a.id))
        seen[a.id] = true
        assert.equals(200, a.status, a.error and a.error.text)
      end
      for _, id in ipairs(rec.ids) do assert.is_true(seen[id], "no answer for " .. tostring(id)) end
      assert.equals(0, rec.pending_at_end)
      assert.is_true(rec.close_twice)
      assert.is_string(rec.add_after_close)
      assert.equals(1, row.hits(tag))
    end,
  },
}

describe("the transport contract (docs/transport.md)", function()
  local servers = {}

  lazy_setup(function()
    servers[1], servers[2] = procs.http_server(), procs.http_server()
    env.port, env.other_port = servers[1].port, servers[2].port
    env.plain = "http://127.0.0.1:" .. env.port
    env.base = env.plain
    env.other = "http://127.0.0.1:" .. env.other_port
    env.fake = fake_handler()
    if not nginx_missing then
      env.nginx = nginx.start { http = [[
  server {
    listen 127.0.0.1:${port};
    client_body_buffer_size 1m;
    client_max_body_size 1m;
    location = /contract {
      content_by_lua_block { require("spec.support.transport_contract_app").handle() }
    }
  }]] }
    end
    if not tls_missing then env.tls = tls.start() end
  end)

  lazy_teardown(function()
    if env.nginx then env.nginx:stop() end
    if env.tls then env.tls:stop() end
    for _, s in ipairs(servers) do procs.stop(s) end
  end)

  for _, row in ipairs(ROWS) do
    describe(row.name, function()
      for _, case in ipairs(CASES) do
        local name = case.id .. ": " .. case.what
        local na = row.na[case.id] or (case.h2_only and not row.h2 and NO_STREAMS)
        if row.skip then
          it(name, function() pending("skipped: " .. row.skip) end)
        elseif na then
          it(name, function() pending("not applicable: " .. na) end)
        else
          it(name, function()
            env.base = row.base and row.base() or env.plain
            case.run(row)
          end)
        end
      end
    end)
  end
end)

describe("flexiroam.http_head", function()
  it("reads the test server's raw heads as the C session does (RAW_EXPECTED)", function()
    for _, case in ipairs(RAW_CASES) do assert.same(RAW_EXPECTED[case], expected_for(RAW_LINES[case]), case) end
  end)

  it("counts what a server must refuse: dropped lines and folds", function()
    local _, dropped, folded = http_head.fields(RAW_LINES.space_before_colon)
    assert.equals(2, dropped)
    assert.equals(1, folded)
    local headers
    headers, dropped, folded = http_head.fields { "A: 1", "B: 2\r", "C:\0x" }
    assert.same({ a = "1", b = "2" }, headers)
    assert.equals(1, dropped)
    assert.equals(0, folded)
  end)
end)
