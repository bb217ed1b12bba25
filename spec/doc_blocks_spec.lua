-- Docs that run: every ```lua block of README.md, CONTRIBUTING.md and
-- docs/*.md is executed against a sandbox, and every relative link between
-- those documents (and every #anchor) resolves. The convention is written at
-- the top of CONTRIBUTING.md:
--   * each block runs alone, in a fresh Lua 5.4 process (procs.lua_command,
--     so `make asan` keeps its runtimes), with the specs' package paths made
--     absolute, FLEXIROAM_API_KEY and FLEXIROAM_BASE_URL naming a sandbox
--     started here (reset to its initial state before each block), the
--     working directory a fresh temporary directory, and at most 60 s;
--   * a block right after an HTML comment `<!-- fragment: why -->` is not
--     run (nginx-only or Redis-host snippets); there are few;
--   * a block fails when its process exits non-zero, and the failure names
--     the document and the line of the block's opening fence;
--     DOC_BLOCKS_VERBOSE=1 prints what every block printed.
local procs = require "spec.support.test_processes"
local sandbox = require "spec.support.sandbox"

local DOCS_GLOB = "README.md CONTRIBUTING.md docs/*.md"
local BLOCK_SECONDS = 60

local function documents()
  local p = assert(io.popen("ls -1 " .. DOCS_GLOB .. " 2>/dev/null"))
  local out = {}
  for path in p:lines() do out[#out + 1] = path end
  p:close()
  return out
end

local function lines_of(path)
  local lines = {}
  for line in (procs.slurp(path) .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  return lines
end

--- The fenced code blocks of a Markdown file: {lang, line (of the opening
-- fence), code, fragment (the reason given, or nil)}.
local function blocks(path)
  local out, lines, i = {}, lines_of(path), 1
  while i <= #lines do
    local fence, lang = lines[i]:match("^(```+)%s*(%S*)")
    if fence then
      local start, body = i, {}
      i = i + 1
      while i <= #lines and not lines[i]:match("^" .. fence .. "%s*$") do
        body[#body + 1] = lines[i]
        i = i + 1
      end
      local before = start - 1
      while before > 0 and lines[before]:match("^%s*$") do before = before - 1 end
      local fragment = before > 0 and lines[before]:match("^<!%-%- fragment: (.-) %-%->$") or nil
      out[#out + 1] = { lang = lang, line = start, code = table.concat(body, "\n") .. "\n", fragment = fragment }
    end
    i = i + 1
  end
  return out
end

-- The repository root, so the child's package paths can be made absolute.
local ROOT = (function()
  local p = assert(io.popen("pwd"))
  local dir = p:read("*l")
  p:close()
  return dir
end)()

local function absolute(paths)
  return (paths:gsub("%f[^;%z]%./", ROOT .. "/"))
end

--- Runs a block in a child Lua in a fresh temporary directory; -> ok, output.
local function run_block(code, env)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. procs.quote(dir)))
  local file = dir .. "/block.lua"
  local f = assert(io.open(file, "w"))
  f:write(("package.path = %q\npackage.cpath = %q\n"):format(absolute(package.path), absolute(package.cpath)),
    code)
  f:close()
  local vars = {}
  for k, v in pairs(env) do vars[#vars + 1] = k .. "=" .. procs.quote(v) end
  table.sort(vars)
  local command = ("cd %s && env %s timeout %d %s 2>&1; echo \"exit status $?\""):format(
    procs.quote(dir), table.concat(vars, " "), BLOCK_SECONDS, procs.lua_command(file))
  local p = assert(io.popen(command))
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. procs.quote(dir))
  local status = tonumber(out:match("exit status (%d+)\n$"))
  return status == 0, out, status
end

-- GitHub's anchor for a heading: lowercase, punctuation dropped (but - and
-- _), spaces become hyphens; a repeated heading gets -1, -2, ...
local function anchors(path)
  local seen, out, in_fence = {}, {}, false
  for _, line in ipairs(lines_of(path)) do
    if line:match("^```") then in_fence = not in_fence end
    local title = not in_fence and line:match("^#+%s+(.-)%s*$")
    if title then
      local slug = title:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-")
      local n = seen[slug]
      seen[slug] = (n or 0) + 1
      out[n and (slug .. "-" .. n) or slug] = true
    end
  end
  return out
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function normalise(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return table.concat(parts, "/")
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("docs that run", function()
  local docs = documents()

  it("finds the documents: README.md, CONTRIBUTING.md and docs/*.md", function()
    local names = table.concat(docs, " ")
    assert.matches("README.md", names, nil, true)
    assert.matches("CONTRIBUTING.md", names, nil, true)
    assert.matches("docs/transport.md", names, nil, true)
  end)

  it("link to each other with links and anchors that resolve", function()
    local broken, checked = {}, 0
    local anchor_cache = {}
    for _, doc in ipairs(docs) do
      local in_fence = false
      for n, line in ipairs(lines_of(doc)) do
        if line:match("^```") then in_fence = not in_fence end
        if not in_fence then
          for target in line:gsub("`[^`]*`", ""):gmatch("%]%(([^)%s]+)%)") do
            if not target:match("^%a[%w+.-]*:") then -- not http:, mailto:, ...
              checked = checked + 1
              local file, anchor = target:match("^([^#]*)#?(.*)$")
              local path = file == "" and doc or normalise(dirname(doc) .. "/" .. file)
              if not exists(path) then
                broken[#broken + 1] = ("%s:%d: %s (no file %s)"):format(doc, n, target, path)
              elseif anchor ~= "" and path:match("%.md$") then
                anchor_cache[path] = anchor_cache[path] or anchors(path)
                if not anchor_cache[path][anchor] then
                  broken[#broken + 1] = ("%s:%d: %s (no heading #%s in %s)"):format(doc, n, target, anchor, path)
                end
              end
            end
          end
        end
      end
    end
    print(("\ndoc links: %d relative links checked"):format(checked))
    assert.is_true(checked > 20)
    assert.are.same({}, broken)
  end)

  it("README.md opens with a table of contents that covers every section", function()
    local lines = lines_of("README.md")
    local text = table.concat(lines, "\n")
    local toc = text:match("\n## Contents\n(.-)\n## ")
    assert.is_string(toc, "README.md has no '## Contents' section before its first other section")
    for _, line in ipairs(lines) do
      local title = line:match("^## (.-)%s*$")
      if title and title ~= "Contents" then
        local slug = title:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-")
        assert.is_truthy(toc:find("(#" .. slug .. ")", 1, true), "the contents do not link '## " .. title .. "'")
      end
    end
  end)

  describe("every ```lua block", function()
    local all, fragments = {}, {}
    for _, doc in ipairs(docs) do
      for _, b in ipairs(blocks(doc)) do
        if b.lang == "lua" then
          b.doc = doc
          if b.fragment then fragments[#fragments + 1] = b else all[#all + 1] = b end
        end
      end
    end

    if _VERSION ~= "Lua 5.4" or rawget(_G, "jit") then
      it("runs under Lua 5.4 only", function()
        pending("skipped: the doc blocks run against the sandbox, a Lua 5.4 program, in lua5.4 children")
      end)
      return
    end

    local sb, control, ran
    lazy_setup(function()
      sb = sandbox.start { seed = 1 }
      control = require("flexiroam").new { api_key = "sandbox-key", base_url = sb.url }
      ran = 0
    end)
    lazy_teardown(function()
      if control then control:close() end
      if sb then sb:stop() end
      print(("\ndoc blocks: %d ran, %d fragments not run (%d documents)"):format(ran or 0, #fragments, #docs))
    end)

    it("are few fragments, each with its reason", function()
      assert.is_true(#all > 0)
      assert.is_true(#fragments <= math.max(3, math.floor(#all / 4)),
        ("%d fragments for %d blocks that run"):format(#fragments, #all))
      for _, b in ipairs(fragments) do assert.is_true(#b.fragment > 3, b.doc .. ":" .. b.line) end
    end)

    for _, b in ipairs(all) do
      it(("runs: %s:%d"):format(b.doc, b.line), function()
        -- the sandbox's initial state again, so no block depends on another
        assert(control:request("POST", "/__sandbox/reset"))
        local ok, out, status = run_block(b.code, {
          FLEXIROAM_API_KEY = "sandbox-key", FLEXIROAM_BASE_URL = sb.url,
        })
        ran = ran + 1
        if os.getenv("DOC_BLOCKS_VERBOSE") then print(("\n== %s:%d\n%s"):format(b.doc, b.line, out)) end
        assert.is_true(ok, ("%s:%d: the block failed (exit status %s%s):\n%s"):format(b.doc, b.line,
          tostring(status), status == 124 and ", timed out after " .. BLOCK_SECONDS .. " s" or "", out))
      end)
    end
  end)
end)
