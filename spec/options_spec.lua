-- Options are checked (issue 14, part 3): every options table — flexiroam.new,
-- per-call options, batch options, iterator options — raises on an unknown
-- key, naming the nearest valid one, and on a wrong type or range; every
-- option the README documents is accepted.
local flexiroam = require "flexiroam"
local options = require "flexiroam.options"
local fake_transport = require "spec.support.fake_transport"

local ICCID = "89852350824010131081"

local function new(opts)
  opts.api_key = opts.api_key or "sk_OPTIONS_SPEC_3b8e"
  opts.base_url = opts.base_url or "https://api.example.test"
  opts.transport = opts.transport or fake_transport.new({})
  return flexiroam.new(opts)
end

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a raise matching " .. pattern)
  assert.matches(pattern, tostring(err), 1, true)
end

describe("options", function()
  it("flexiroam.new refuses a misspelt option, naming the right one", function()
    raises('flexiroam.new: unknown option "retires" (did you mean "retries"?)', new, { retires = 5 })
    raises('unknown option "timeout" (did you mean "timeout_ms"?)', new, { timeout = 5 })
    raises('unknown option "on_requests" (did you mean "on_request"?)', new, { on_requests = print })
    raises('unknown option "baseurl" (did you mean "base_url"?)', new, { baseurl = "https://x.test" })
  end)

  it("names no suggestion when nothing is near", function()
    local ok, err = pcall(new, { colour_scheme = "dark" })
    assert.is_false(ok)
    assert.matches('unknown option "colour_scheme"$', tostring(err))
  end)

  it("flexiroam.new checks the types nothing further down checks", function()
    raises("check_iccid must be a boolean", new, { check_iccid = "no" })
    raises("allow_insecure_http must be a boolean", new, { allow_insecure_http = 1 })
    raises("user_agent must be a string without control characters", new, { user_agent = "shop\r\nX-Evil: 1" })
    raises("operations must be a table", new, { operations = "list_plans" })
    raises("retries must be an integer >= 0", new, { retries = 1.5 })
  end)

  it("per-call options refuse a misspelt key and a bad value", function()
    local client = new {}
    raises('list_inventory: unknown option "retires" (did you mean "retries"?)',
      client.list_inventory, client, nil, { retires = 1 })
    raises('unknown option "dead_line_ms" (did you mean "deadline_ms"?)',
      client.get_sim, client, { iccid = ICCID }, { dead_line_ms = 10 })
    raises("timeout_ms must be an integer >= 1", client.list_inventory, client, nil, { timeout_ms = 0 })
    raises("request_id must be 1-128 letters", client.list_inventory, client, nil, { request_id = "has space" })
    raises("headers must be a table", client.list_inventory, client, nil, { headers = "x: 1" })
  end)

  it("batch and iterator options do too", function()
    local client = new {}
    raises('batch: unknown option "concurency" (did you mean "concurrency"?)',
      client.batch, client, {}, { concurency = 4 })
    raises('unknown option "jornal" (did you mean "journal"?)', client.usage_many, client, { ICCID }, { jornal = "x" })
    raises('inventory: unknown option "max_page" (did you mean "max_pages"?)',
      client.inventory, client, nil, { max_page = 2 })
    raises('collect: unknown option "max_item" (did you mean "max_items"?)',
      client.collect, client, "list_plans", nil, { max_item = 2 })
    raises("max_pages must be an integer >= 0", client.inventory, client, nil, { max_pages = "2" })
    raises("concurrency must be an integer from 1 to 4096", client.batch, client, {}, { concurrency = 0 })
  end)

  it("parameters and job arguments name the nearest one too", function()
    local client = new {}
    raises("purchase_plan: unknown parameter 'plan' (did you mean 'plan_id'?)",
      client.purchase_plan, client, { iccid = ICCID, plan = "p" })
    raises('sell_plan: unknown argument "refrence" (did you mean "reference"?)',
      client.sell_plan, client, { plan_id = "p", refrence = "r" })
    raises('low_data: unknown argument "below_percentage" (did you mean "below_percent"?)',
      client.low_data, client, { below_percentage = 5 })
  end)

  it("accepts every option the README's client tables document", function()
    local f = assert(io.open("README.md", "rb"), "run from the repository root")
    local text = f:read("*a")
    f:close()
    local section = text:match("\n## The client\n(.-)\n## API\n")
    assert.is_string(section, "the README has no client section")
    local names, in_options = {}, false
    for line in (section .. "\n"):gmatch("(.-)\n") do -- one line each, on 5.1 as on 5.4
      if line:find("^| option") then
        in_options = true
      elseif not line:find("^|") then
        in_options = false
      elseif in_options then
        local first = line:match("^| ([^|]+) |")
        if first and not first:find("per call") then
          for name in first:gmatch("`([%w_]+)`") do names[#names + 1] = name end
        end
      end
    end
    assert.is_true(#names >= 20, "found only " .. #names .. " documented options")
    for _, name in ipairs(names) do
      -- A value of the wrong type on purpose: whatever it raises, it must
      -- not be "unknown option".
      local ok, err = pcall(new, { [name] = {} })
      if not ok then assert.is_nil(tostring(err):find("unknown option", 1, true), name .. ": " .. tostring(err)) end
    end
  end)

  it("finds the nearest name by edits, transpositions counting one", function()
    local known = { retries = true, deadline_ms = true, timeout_ms = true }
    assert.equals("retries", options.nearest("retires", known))
    assert.equals("retries", options.nearest("RETRIES", known))
    assert.equals("timeout_ms", options.nearest("timeout_m", known))
    assert.is_nil(options.nearest("xyz", known))
    assert.is_nil(options.nearest(42, known))
  end)
end)
