-- The README's command-line session is what the commands print today:
-- examples/cli_session.lua runs it again (each command for real, against
-- a sandbox of its own, on a pseudo-terminal) and the README must hold
-- exactly that, with the exit statuses of flexiroam.cli.exit_codes.
local cli = require("spec.support.cli")
local procs = require("spec.support.test_processes")

describe("README: Command line", function()
  local readme = procs.slurp("README.md")

  it("shows the session the commands print now (else: make cli-docs)", function()
    if not cli.have_pty() then return pending("util-linux script is not installed") end
    local p = assert(io.popen("env -u LD_PRELOAD -u FLEXIROAM_PROFILE -u FLEXIROAM_API_KEY lua5.4 " ..
      "examples/cli_session.lua 2>&1"))
    local transcript = p:read("*a")
    p:close()
    local shown = readme:match("<!%-%- cli:session %-%->\n```console\n(.-)```\n<!%-%- /cli:session %-%->")
    assert.truthy(shown, "no session block in the README")
    assert.equals(transcript, shown, "the README's session is stale: run `make cli-docs`")
  end)

  it("documents every exit status the command line uses", function()
    for _, row in ipairs(require("flexiroam.cli.exit_codes").TABLE) do
      assert.truthy(readme:find(string.format("| %d | %s | ", row[1], row[2]), 1, true), row[2])
    end
  end)
end)
