-- Helpers for specs that need real servers: start a process that prints its
-- port, start `openssl s_server`, wait until a server listens, stop them,
-- speak HTTP/1.1 to them, make a throwaway certificate.
-- Children run without LD_PRELOAD so `make asan` sanitizes only the module.
local socket = require "socket"

local M = {}

-- os.execute: true on 5.2+, 0 on 5.1/LuaJIT when the command succeeded.
local function succeeded(r)
  return r == true or r == 0
end

--- A word for sh: single-quoted, any single quote in it escaped.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = M.quote

--- A file's whole content, or "" when it cannot be read.
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("*a") or ""
  f:close()
  return text
end

--- spawn(command) -> {handle =, pid =}: `command` (sh, without LD_PRELOAD)
-- started without waiting. `sh -c` prints its own pid and then execs the
-- command, so the pid we read is the server's and `kill` reaches it.
function M.spawn(command)
  local handle = assert(io.popen("echo $$; exec env -u LD_PRELOAD " .. command, "r"))
  local pid = tonumber(handle:read("*l"))
  assert(pid, "could not start: " .. command)
  return { handle = handle, pid = pid }
end
local spawn = M.spawn

--- Whether the process `pid` still runs (not gone, not a zombie).
function M.alive(pid)
  local state = M.slurp("/proc/" .. pid .. "/stat"):match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

--- stop(proc [, signal]): sends `signal` ("TERM"; nginx stops gracefully on
-- "QUIT") to a process from spawn, KILL when it is still there 5 s later,
-- then reaps it. A second call does nothing.
function M.stop(proc, signal)
  if not (proc and proc.pid) then return end
  local pid = proc.pid
  proc.pid = nil
  os.execute(("kill -%s %d 2>/dev/null"):format(signal or "TERM", pid))
  local deadline = socket.gettime() + 5
  while M.alive(pid) and socket.gettime() < deadline do socket.sleep(0.01) end
  if M.alive(pid) then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
  proc.handle:close()
end

-- Defined in every lua_child script: caps the child's own address space at
-- what it uses now plus extra_kb (prlimit on its own pid), so a later
-- allocation of more than that fails the way it would on a full machine.
local CHILD_PRELUDE = [[
local function limit_memory(extra_kb)
  local size
  for line in io.lines("/proc/self/status") do
    size = size or tonumber(line:match("^VmSize:%s*(%d+)"))
  end
  local pid = assert(tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)")))
  local cmd = ("prlimit --pid %d --as=%d"):format(pid, (size + extra_kb) * 1024)
  local r = os.execute(cmd)
  assert(r == true or r == 0, cmd .. " failed")
end
]]

-- The interpreter running the specs, as a command: "luajit" or "lua5.4".
function M.interpreter()
  return rawget(_G, "jit") and "luajit" or "lua5.4"
end

-- Lua source that gives a child script the specs' own package paths, so a
-- child of M.interpreter() loads the same Lua layer and core build.
function M.paths_prelude()
  return ("package.path = %q\npackage.cpath = %q\n"):format(package.path, package.cpath)
end

-- Runs `code` in a fresh interpreter of the kind running the specs (lua5.4
-- or luajit), with the same package paths and working directory; returns
-- everything it printed (stdout and stderr). Returns nil and a reason when
-- that cannot work: limit_memory under a sanitizer runtime (ASan reserves
-- terabytes of address space up front), or without prlimit.
-- True when the specs run on the ASan build of the core (`make asan`).
local function asan_build()
  local module = package.searchpath("flexiroam.core", package.cpath) or ""
  return module:find("/asan/", 1, true) ~= nil
end

--- The shell command that runs the Lua file `file` in a fresh interpreter of
-- the specs' kind. An ASan build of the core needs its runtimes preloaded, as
-- the specs themselves have them; any other child runs without LD_PRELOAD.
function M.lua_command(file)
  local env = asan_build() and "" or "env -u LD_PRELOAD "
  return env .. M.interpreter() .. " " .. quote(file)
end

--- lua_spawn(code) -> child: `code` started in a fresh interpreter of the
-- specs' kind, with their package paths, without waiting for it;
-- lua_collect(child) -> everything it printed (stdout and stderr), once it ended.
function M.lua_spawn(code)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(M.paths_prelude(), code)
  f:close()
  return { handle = assert(io.popen(M.lua_command(file) .. " 2>&1", "r")), file = file }
end

function M.lua_collect(child)
  local out = child.handle:read("*a")
  child.handle:close()
  os.remove(child.file)
  return out
end

function M.lua_child(code, uses_limit)
  local asan = asan_build()
  if uses_limit and asan then return nil, "address-space limits do not work under ASan" end
  if uses_limit and not M.have("prlimit") then return nil, "prlimit not installed" end
  return M.lua_collect(M.lua_spawn(CHILD_PRELUDE .. code))
end

--- lua_server(script) -> proc (spawn's, with .port): a server in its own
-- lua5.4 process that prints its port as its first line (see announce).
function M.lua_server(script)
  local proc = spawn("lua5.4 " .. quote(script))
  proc.port = tonumber(proc.handle:read("*l"))
  if not proc.port then
    M.stop(proc)
    error(script .. " did not print its port", 2)
  end
  return proc
end

--- For a server started by lua_server: a non-blocking listener on
-- 127.0.0.1 and a free port, announced as the first line of its output.
-- -> listener, port
function M.announce()
  local listener = assert(socket.bind("127.0.0.1", 0))
  listener:settimeout(0)
  local _, port = listener:getsockname()
  io.stdout:write(port, "\n")
  io.stdout:flush()
  return listener, port
end

-- The HTTP test server: prints its port as its first line.
function M.http_server()
  return M.lua_server("spec/support/http_test_server.lua")
end

-- A port nothing listens on right now (bound, read, released).
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- A port whose listener never accepts, its backlog filled first: the
-- kernel drops further SYNs, so a connect to it can only time out, having
-- sent nothing. -> port, close (a function that lets it all go).
function M.unaccepting_port()
  local listener = assert(socket.tcp())
  assert(listener:bind("127.0.0.1", 0))
  assert(listener:listen(0))
  local _, port = listener:getsockname()
  local fillers = {}
  for i = 1, 3 do
    fillers[i] = socket.tcp()
    fillers[i]:settimeout(0.2)
    fillers[i]:connect("127.0.0.1", port)
  end
  return tonumber(port), function()
    for _, f in ipairs(fillers) do f:close() end
    listener:close()
  end
end

--- Whether something accepts connections on 127.0.0.1:port.
function M.listening(port)
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect("127.0.0.1", port)
  c:close()
  return ok ~= nil
end

--- await_listening(proc, port [, seconds = 10]) -> true once something
-- listens on port; false when proc (from spawn) ended first or time ran out.
function M.await_listening(proc, port, seconds)
  local deadline = socket.gettime() + (seconds or 10)
  while not M.listening(port) do
    if not proc.pid or not M.alive(proc.pid) or socket.gettime() > deadline then return false end
    socket.sleep(0.02)
  end
  return true
end

--- http_request(method, target [, body]) -> the text of an HTTP/1.1 request
-- to 127.0.0.1 that closes its connection (Content-Length only with a body).
function M.http_request(method, target, body)
  local length = body and ("Content-Length: %d\r\n"):format(#body) or ""
  return ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n%s")
    :format(method, target, length, body or "")
end

--- http_answer(raw) -> status, body (a chunked one decoded) of a whole
-- HTTP/1.x answer | nil, "no status line".
function M.http_answer(raw)
  local status = tonumber(raw:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then return nil, "no status line" end
  local head, body = raw:match("^(.-\r\n)\r\n(.*)$")
  if not head then return status, "" end
  if not head:lower():find("\r\ntransfer%-encoding: chunked\r\n") then return status, body end
  local parts, pos = {}, 1
  while true do
    local size, after = body:match("^(%x+)[^\r\n]*\r\n()", pos)
    size = tonumber(size, 16)
    if not size or size == 0 then break end
    parts[#parts + 1] = body:sub(after, after + size - 1)
    pos = after + size + 2
  end
  return status, table.concat(parts)
end

--- http(port, method, target [, body]) -> status, body: one exchange with
-- 127.0.0.1:port on a fresh connection, at most 10 s; raises without an answer.
function M.http(port, method, target, body)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send(M.http_request(method, target, body)))
  local raw, err, partial = c:receive("*a")
  c:close()
  raw = raw or partial or error(("%s %s: no answer from port %d: %s"):format(method, target, port, tostring(err)), 2)
  local status, answer = M.http_answer(raw)
  if not status then error(("%s %s: not an HTTP answer: %q"):format(method, target, raw:sub(1, 200)), 2) end
  return status, answer
end

--- Stops each of the servers a lazy_setup started (nil: not started).
function M.stop_all(...)
  for i = 1, select("#", ...) do
    local server = select(i, ...)
    if server then server:stop() end
  end
end

--- A fresh path in /tmp where nothing exists yet.
function M.unused_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

function M.tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp -d failed")
  return dir
end

function M.rmdir(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. quote(dir)) end
end

--- run(command) -> whether it exited 0, its combined output: a shell
-- command run to its end, without LD_PRELOAD (under `make asan` only the
-- module is sanitized). The status travels in the output: LuaJIT's
-- io.popen close does not report it.
function M.run(command)
  local p = assert(io.popen("(unset LD_PRELOAD; " .. command .. ") 2>&1; echo \"exit status $?\""))
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)exit status (%d+)\n$")
  return status == "0", body or out
end

function M.have(command)
  return succeeded(os.execute("command -v " .. command .. " >/dev/null 2>&1"))
end

-- A self-signed certificate for 127.0.0.1, valid for a day; returns cert, key paths.
function M.self_signed_cert(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local ok = succeeded(os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    .. " -keyout %s -out %s -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    .. " >/dev/null 2>&1"):format(quote(key), quote(cert))))
  assert(ok, "openssl req failed")
  return cert, key
end

-- `openssl s_server -www` on a free port with that certificate.
function M.tls_server(cert, key)
  local port = M.free_port()
  local proc = spawn(("openssl s_server -www -accept 127.0.0.1:%d -cert %s -key %s >/dev/null 2>&1")
    :format(port, quote(cert), quote(key)))
  proc.port = port
  if not M.await_listening(proc, port) then
    M.stop(proc)
    error("openssl s_server did not start listening")
  end
  return proc
end

-- A TLS server with a throwaway self-signed certificate, for specs that
-- check verification: the server (with .port, .cert and .dir), or nil when
-- openssl is not installed. stop_tls removes it all.
function M.self_signed_tls()
  if not M.have("openssl") then return nil end
  local dir = M.tmpdir()
  local cert, key = M.self_signed_cert(dir)
  local server = M.tls_server(cert, key)
  server.cert, server.dir = cert, dir
  return server
end

function M.stop_tls(server)
  if server then
    M.stop(server)
    M.rmdir(server.dir)
  end
end

return M
