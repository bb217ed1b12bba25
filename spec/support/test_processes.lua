-- Helpers for specs that need real servers: start a process that prints its
-- port, start `openssl s_server`, stop them, make a throwaway certificate.
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

-- `sh -c` prints its own pid and then execs the command, so the pid we read
-- is the server's and `kill` reaches it.
local function spawn(command)
  local handle = assert(io.popen("echo $$; exec env -u LD_PRELOAD " .. command, "r"))
  local pid = tonumber(handle:read("*l"))
  assert(pid, "could not start: " .. command)
  return { handle = handle, pid = pid }
end

function M.stop(proc)
  if proc and proc.pid then
    os.execute("kill " .. proc.pid .. " 2>/dev/null")
    proc.handle:close()
    proc.pid = nil
  end
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

function M.lua_child(code, uses_limit)
  local asan = asan_build()
  if uses_limit and asan then return nil, "address-space limits do not work under ASan" end
  if uses_limit and not M.have("prlimit") then return nil, "prlimit not installed" end
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(M.paths_prelude(), CHILD_PRELUDE, code)
  f:close()
  local p = assert(io.popen(M.lua_command(file) .. " 2>&1", "r"))
  local out = p:read("*a")
  p:close()
  os.remove(file)
  return out
end

-- The HTTP test server: prints its port as its first line.
function M.http_server()
  local proc = spawn("lua5.4 spec/support/http_test_server.lua")
  proc.port = tonumber(proc.handle:read("*l"))
  if not proc.port then
    M.stop(proc)
    error("http_test_server did not print its port")
  end
  return proc
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

local function wait_listening(port, seconds)
  local deadline = socket.gettime() + seconds
  while socket.gettime() < deadline do
    local c = socket.tcp()
    c:settimeout(0.2)
    if c:connect("127.0.0.1", port) then
      c:close()
      return true
    end
    c:close()
    socket.sleep(0.05)
  end
  return false
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
  if not wait_listening(port, 10) then
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
