--- What the command line knows about where it writes: whether a stream is
-- a terminal (a person reads it: tables, prompts, a progress bar) and how
-- wide that terminal is (tables are cut to fit it).
local core = require("flexiroam.core")

local terminal = {}

local FD = { stdin = 0, stdout = 1, stderr = 2 }

--- terminal.isatty("stdin" | "stdout" | "stderr") -> boolean
function terminal.isatty(stream)
  return core.isatty(FD[stream]) == true
end

--- The columns a table printed on stdout may use: the terminal's width when
-- stdout is one, else $COLUMNS when it is a number, else nil (no limit: a
-- table written to a file or a pipe keeps every character).
function terminal.width()
  if terminal.isatty("stdout") and core.terminal_size then
    local columns = core.terminal_size(1)
    if columns then return columns end
  end
  local env = tonumber(os.getenv("COLUMNS") or "")
  if env and env >= 20 and env == math.floor(env) then return env end
  return nil
end

--- Characters a string shows as on a terminal: UTF-8 sequences count once
-- (every character is taken as one column wide).
function terminal.length(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

--- The first `n` characters of s (UTF-8 aware).
function terminal.cut(s, n)
  if n <= 0 then return "" end
  local count, stop = 0, #s
  for pos in s:gmatch("()[^\128-\191]") do
    count = count + 1
    if count > n then
      stop = pos - 1
      break
    end
  end
  return s:sub(1, stop)
end

return terminal
