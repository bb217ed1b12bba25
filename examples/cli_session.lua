--- An operator's short session with the `flexiroam` command line, run for
-- real against a sandbox it starts (`flexiroam sandbox start`), each
-- command on a pseudo-terminal 100 columns wide (util-linux `script`), as
-- a person at a terminal sees it: tables, the purchase's prompt answered.
--   lua5.4 examples/cli_session.lua                 prints the transcript
--   lua5.4 examples/cli_session.lua --readme README.md
--                       writes it between <!-- cli:session --> and <!-- /cli:session -->,
--                       and the exit statuses (flexiroam.cli.exit_codes) between
--                       <!-- cli:exit-codes --> and <!-- /cli:exit-codes -->
-- (`make cli-docs`). What changes from run to run and says nothing about
-- the command line is written in a fixed form: the sandbox's port, the
-- temporary HOME, its pid, the random half of request ids, and the order
-- of a request body's keys (a Lua table's, which varies with the hash seed).
pcall(dofile, (arg and arg[0] or ""):gsub("[^/]*$", "") .. "_path.lua")
local json = require("flexiroam.json")
local esim = require("flexiroam.esim")

local root = ((arg and arg[0] or ""):match("^(.*)/examples/[^/]*$") or ".")
local COLUMNS = 100

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("*a") or ""
  f:close()
  return text
end

local home = io.popen("mktemp -d"):read("*l")
assert(home and home:find("^/tmp/"), "mktemp -d failed")

-- One command on a terminal: -> what it showed, its exit status.
local function on_terminal(words, input)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = quote(w) end
  local inner = "stty cols " .. COLUMNS .. " rows 50; env -u FLEXIROAM_API_KEY -u FLEXIROAM_BASE_URL " ..
    "-u FLEXIROAM_CONFIG -u XDG_CONFIG_HOME -u XDG_STATE_HOME HOME=" .. quote(home) ..
    " FLEXIROAM_PROFILE=sandbox lua5.4 " .. quote(root .. "/bin/flexiroam") .. " " .. table.concat(quoted, " ")
  local input_path, out_path = home .. "/input", home .. "/output"
  local f = assert(io.open(input_path, "wb"))
  f:write(input or "")
  f:close()
  os.execute("script -q -e -c " .. quote(inner) .. " /dev/null <" .. quote(input_path) .. " >" ..
    quote(out_path) .. " 2>&1; echo $? >" .. quote(home .. "/status"))
  local text = slurp(out_path):gsub("\r\n", "\n"):gsub("\27%[K", ""):gsub("\r", "")
  if input and input ~= "" then
    -- The terminal echoes what is typed as soon as it is typed: shown here
    -- where the operator typed it, after the question.
    local typed = input:gsub("\n$", "")
    text = text:gsub("^" .. typed:gsub("%p", "%%%0") .. "\n", "", 1)
    text = text:gsub("(%[y/N%] )", "%1" .. typed .. "\n", 1)
  end
  return text, tonumber(slurp(home .. "/status"):match("%d+"))
end

local transcript, url = {}, nil

local function step(display, words, input)
  local text, status = on_terminal(words, input)
  url = url or text:match("(http://127%.0%.0%.1:%d+)")
  transcript[#transcript + 1] = "$ " .. display
  transcript[#transcript + 1] = (text:gsub("\n+$", ""))
  if status ~= 0 then transcript[#transcript + 1] = "[exit status " .. tostring(status) .. "]" end
  return text, status
end

local ok, why = pcall(function()
  local started, status = step("flexiroam sandbox start", { "sandbox", "start", "--sims", "40" })
  assert(status == 0, "the sandbox did not start: " .. started)
  transcript[#transcript + 1] = "$ export FLEXIROAM_PROFILE=sandbox     # the sandbox it started, with its own key"
  local free = step("flexiroam sims list --free --limit 4 --max-pages 1",
    { "sims", "list", "--free", "--limit", "4", "--max-pages", "1" })
  local iccid = assert(free:match("\n(%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d?) "), "no free SIM listed: " .. free)
  step("flexiroam plans --country JPN --type one_time", { "plans", "--country", "JPN", "--type", "one_time" })
  step("flexiroam buy " .. iccid .. " JPN-3GB-7D --reference order-1042",
    { "buy", iccid, "JPN-3GB-7D", "--reference", "order-1042" }, "y\n")
  step("flexiroam usage " .. iccid, { "usage", iccid })
  step("flexiroam sims list --used -o csv --fields iccid,sku,balances.main_data",
    { "sims", "list", "--used", "-o", "csv", "--fields", "iccid,sku,balances.main_data" })
  step("flexiroam topup " .. iccid .. " JPN-1GB-7D --reference order-1043 --dry-run",
    { "topup", iccid, "JPN-1GB-7D", "--reference", "order-1043", "--dry-run" })
  local unknown = "8985235082000099999" .. esim.luhn_digit("8985235082000099999")
  step("flexiroam sims show " .. unknown, { "sims", "show", unknown })
  step("flexiroam sandbox stop", { "sandbox", "stop" })
end)
os.execute("rm -rf " .. quote(home))
if not ok then error(why, 0) end

local text = table.concat(transcript, "\n") .. "\n"
if url then text = text:gsub(url:gsub("%p", "%%%0"), "http://127.0.0.1:41234") end
text = text:gsub(home:gsub("%p", "%%%0"), "~"):gsub("(pid%s+)%d+", "%112345")
  :gsub("(request[%- ]id: )%x+(%-%d+)", "%10123456789abcdef%2")
  :gsub("(%(request )%x+(%-%d+)", "%10123456789abcdef%2")
  :gsub("(%-%-data%-raw ')([^']+)(')", function(a, body, b)
    return a .. assert(json.encode(assert(json.decode(body)), { sort_keys = true })) .. b
  end)

local readme_at = arg[1] == "--readme" and arg[2]
if not readme_at then
  io.write(text)
  return
end
local readme = assert(io.open(readme_at, "rb")):read("*a")

-- readme with the block `name` replaced by `body`.
local function put(name, body)
  local open, close = "<!-- cli:" .. name .. " -->\n", "<!-- /cli:" .. name .. " -->"
  local a, b = readme:find(open, 1, true), readme:find(close, 1, true)
  assert(a and b and a < b, readme_at .. " has no <!-- cli:" .. name .. " --> ... " .. close .. " block")
  readme = readme:sub(1, a - 1) .. open .. body .. readme:sub(b)
end

put("session", "```console\n" .. text .. "```\n")
local rows = { "| status | name | when |", "|---|---|---|" }
for _, row in ipairs(require("flexiroam.cli.exit_codes").TABLE) do
  rows[#rows + 1] = string.format("| %d | %s | %s |", row[1], row[2], row[3])
end
put("exit-codes", table.concat(rows, "\n") .. "\n")
local f = assert(io.open(readme_at, "wb"))
f:write(readme)
f:close()
print("examples/cli_session.lua: the session and the exit statuses in " .. readme_at .. " regenerated")
