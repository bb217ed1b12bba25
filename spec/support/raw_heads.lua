--- Response header blocks a lenient or broken server might send, shared by
-- spec/support/http_test_server.lua (which sends them as they are, each
-- line ending in CRLF) and spec/transport_contract_spec.lua (which expects
-- every transport to read them alike). Plain Lua 5.1 to 5.4.
local M = {}

--- Named blocks: /raw-head?case=<name>.
M.FIXED = {
  -- whitespace before the colon (RFC 9112: reject), then a folded line after it
  space_before_colon = { "X-Before: 1", "X-Sp : spaced", " folded-after-bad", "X-After: 2" },
  -- a name that is not a token, then a folded line after it
  bad_name = { "X-Before: 1", "X(bad)@: v", " folded-after-bad-name", "X-After: 2" },
  -- an obsolete fold of a valid header
  folded = { "X-Fold: a", "  b ", "\tc", "X-After: 2" },
  -- empty values next to others
  empty_values = { "X-Empty:", "X-Empty: late", "X-Late: a", "X-Late:", "X-Fold-Empty:", "  folded", "X-None:" },
  -- one name in several spellings, repeated, a fold of a repeated header, tabs as whitespace
  mixed = { "X-Dup: a", "x-dup: b", "X-DUP:  c  ", "Set-Cookie: s1=1", "set-cookie: s2=2", " more",
    "X-Tab:\tt\t", "X-Mixed-Case: Yes" },
}

local PIECES = { "X-A", "x-a", "X-B", "a", "b", " ", "\t", ":", "(", "", "Set-Cookie", "v,w", "  ", "X-Dup",
  "x-dup", "@" }

--- A block made from `seed` (/raw-head?seed=<n>): 1 to 8 lines of random
-- pieces, every line a field (it has a colon) or a fold of the line
-- before, never a fold first: what any HTTP/1.1 client must take (libcurl
-- refuses the others outright). Park-Miller, exact in doubles, so Lua 5.4
-- and LuaJIT make the same blocks.
function M.random(seed)
  local state = seed % 2147483646 + 1
  local function pick(n)
    state = (state * 48271) % 2147483647
    return state % n + 1
  end
  local lines = {}
  for i = 1, pick(8) do
    local parts = {}
    for j = 1, pick(5) do parts[j] = PIECES[pick(#PIECES)] end
    local line = table.concat(parts)
    if line:find("^[ \t]*$") then line = "X-Z: z" end
    if i == 1 and line:find("^[ \t]") then line = "X-F" .. line end
    if not line:find(":", 1, true) and not line:find("^[ \t]") then line = line .. ":" .. PIECES[pick(#PIECES)] end
    lines[i] = line
  end
  return lines
end

return M
