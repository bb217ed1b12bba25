--- The client a command talks through: the profile's base URL and key
-- (flexiroam.cli.config, flexiroam.cli.keys), the command line's timeout
-- and retries, --verbose/--debug hooks, and under --dry-run a transport
-- that sends nothing. Made on first use: `help`, `config path` or
-- `completion` never need a key.
local flexiroam = require("flexiroam")
local errors = require("flexiroam.errors")
local digest = require("flexiroam.digest")
local config = require("flexiroam.cli.config")
local keys = require("flexiroam.cli.keys")
local trace = require("flexiroam.cli.trace")
local dry_run = require("flexiroam.cli.dry_run")

local connect = {}

local VERSION_AGENT = "flexiroam-cli"

--- connect.settings(ctx) -> the resolved settings (config.resolve) | raises err
function connect.settings(ctx)
  if not ctx._settings then
    local s, err = config.resolve { profile = ctx.args.profile, base_url = ctx.args.base_url }
    if not s then error(err, 0) end
    ctx._settings = s
  end
  return ctx._settings
end

--- connect.key(ctx) -> the key | raises an auth error
function connect.key(ctx)
  local s = connect.settings(ctx)
  if not s.key_source then
    error({ kind = "auth", message = "no API key: " .. s.no_key_source ..
      " (the key is never taken on the command line; see `flexiroam help config`)" }, 0)
  end
  local key, err = keys.load(s.key_source)
  if not key then error(err, 0) end
  ctx.redact = errors.redactor(key)
  -- The key typed as a word of the command (a value of some option):
  -- stop before it is sent anywhere, and say it is exposed.
  if #key >= 8 then
    for _, word in ipairs(ctx.argv or {}) do
      if word:find(key, 1, true) then
        error({ kind = "usage", key_on_command_line = true,
          message = "a word of this command line holds the API key: nothing was sent; " ..
          "it is in the shell's history now, so consider it exposed" }, 0)
      end
    end
  end
  return key
end

-- Whether text holds 8 bytes in a row of some word of argv that has 8 or
-- more: a key (8 bytes or more) typed into the command line and quoted
-- by a message shares at least that much with the word that holds it.
local function quotes_a_word(text, argv)
  for _, word in ipairs(argv) do
    for i = 1, #word - 7 do
      if text:find(word:sub(i, i + 7), 1, true) then return true end
    end
  end
  return false
end

-- The options that pick the key, read off argv when it did not parse.
local function args_of_argv(argv)
  local args = {}
  for i, word in ipairs(argv) do
    local flag, value = word:match("^(%-%-[%w%-]+)=(.*)$")
    if not flag then flag, value = word, argv[i + 1] end
    if flag == "-p" or flag == "--profile" then args.profile = value end
    if flag == "--base-url" then args.base_url = value end
  end
  return args
end

--- connect.refusal(ctx, argv, text) -> the key's refusal (an error table) | nil
-- A message made before the key was loaded (argparse reads the options and
-- a command checks its words before anything connects) may quote a word of
-- the command line that holds the key. When text shares 8 bytes with such
-- a word, the key is loaded as the command would have loaded it (ctx's
-- profile, or the one argv names when ctx is nil), and connect.key's
-- refusal, if the key is there, is what to report instead; ctx (or
-- `probe`, returned second) then has the redactor. Any other failure to
-- load the key: nothing known to hide.
function connect.refusal(ctx, argv, text)
  if (ctx and ctx.redact) or type(text) ~= "string" or not quotes_a_word(text, argv) then return nil, ctx end
  local probe = ctx or { args = args_of_argv(argv), argv = argv }
  if not probe.argv then probe.argv = argv end
  local ok, err = pcall(connect.key, probe)
  if not ok and type(err) == "table" and err.key_on_command_line then return err, probe end
  return nil, probe
end

--- A short, one-way fingerprint of the key (the first 12 hex digits of a
-- SHA-256): tells two keys apart in `config show` without showing either.
function connect.fingerprint(key)
  return digest.sha256("flexiroam-cli key fingerprint\0" .. key):sub(1, 12)
end

--- connect.client(ctx) -> client (made once per run) | raises
function connect.client(ctx)
  if ctx._client then return ctx._client end
  local s = connect.settings(ctx)
  local key = connect.key(ctx)
  local args = ctx.args
  local opts = trace.hooks(ctx.say, args.verbose, args.debug)
  -- Every purchase's reference, printed before it is first sent (a bulk
  -- job's too, as each item starts): the operator holds it whatever
  -- happens next.
  local traced = opts.on_request
  opts.on_request = function(e)
    if ctx.announce_references and e.reference and e.attempt == 1 and e.purpose == nil then
      ctx.say(string.format("sending %s under reference %s", tostring(e.operation), e.reference))
    end
    if traced then traced(e) end
  end
  opts.api_key = key
  opts.base_url = s.base_url
  opts.allow_insecure_http = s.allow_insecure_http
  opts.user_agent = VERSION_AGENT
  local timeout = args.timeout or s.timeout
  if timeout then opts.timeout_ms = math.floor(timeout * 1000 + 0.5) end
  local retries = args.retries or s.retries
  if retries then opts.retries = math.floor(retries) end
  if args.dry_run then
    -- Each command checks the ICCIDs it takes itself, so a dry run can
    -- show a sale's purchase onto the eSIM it would pick ("<picked eSIM>").
    opts.transport = dry_run.transport(ctx)
    opts.retries = 0
    opts.check_iccid = false
  end
  -- A base URL the SDK refuses is the profile's (or --base-url's) fault.
  local ok, client = pcall(flexiroam.new, opts)
  if not ok then
    error({ kind = "config", message = (tostring(client):gsub("^[^\n]-:%d+: ", "")) ..
      " (base URL from " .. tostring(s.base_url_from) .. ")" }, 0)
  end
  ctx._client = client
  return client
end

return connect
