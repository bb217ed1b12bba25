-- One version everywhere a user or a registry reads it: flexiroam.VERSION
-- (src/version.h), the release rockspec, the User-Agent every request
-- carries, and the latest release in CHANGELOG.md; and the licence the
-- rockspec declares is the one in LICENSE.
local flexiroam = require "flexiroam"
local fake = require "spec.support.fake_transport"

local slurp = require("spec.support.test_processes").slurp

local function rockspec(path)
  local env = {}
  assert(loadfile(path, "t", env))()
  return env
end

describe("release", function()
  local version = flexiroam.VERSION

  it("has a semantic version", function()
    assert.matches("^%d+%.%d+%.%d+$", version)
  end)

  it("has a release rockspec of that version", function()
    assert.equals(version .. "-1", rockspec("rockspec/flexiroam-" .. version .. "-1.rockspec").version)
  end)

  it("sends it in the User-Agent", function()
    local transport = fake.new { { status = 200, body = '{"items":[]}' } }
    local client = flexiroam.new { api_key = "k", base_url = "https://api.example", transport = transport }
    assert(client:list_plans {})
    local agent = transport.requests[1].headers["User-Agent"]
    assert.equals("flexiroam-lua/" .. version .. " (", agent:sub(1, #version + 16))
  end)

  describe("CHANGELOG.md", function()
    local changelog = slurp("CHANGELOG.md")
    local headings = {}
    for heading in changelog:gmatch("\n## %[([^%]]+)%][^\n]*") do headings[#headings + 1] = heading end

    it("starts with Unreleased, then this version, dated", function()
      assert.equals("Unreleased", headings[1])
      assert.equals(version, headings[2])
      local escaped = version:gsub("%.", "%%.")
      assert.matches("\n## %[" .. escaped .. "%] %- %d%d%d%d%-%d%d%-%d%d\n", changelog)
    end)

    it("lists releases newest first, each once", function()
      local function key(v)
        local a, b, c = v:match("^(%d+)%.(%d+)%.(%d+)$")
        return assert(tonumber(a), "not a version: " .. v) * 1e6 + tonumber(b) * 1e3 + tonumber(c)
      end
      for i = 3, #headings do
        assert.is_true(key(headings[i - 1]) > key(headings[i]), headings[i - 1] .. " before " .. headings[i])
      end
    end)
  end)

  it("is under the licence the rockspec declares", function()
    assert.equals("MIT", rockspec("rockspec/flexiroam-scm-1.rockspec").description.license)
    assert.matches("^MIT License\n\nCopyright %(c%) %d+ the flexiroam%-lua authors\n", slurp("LICENSE"))
  end)
end)
