--- SHA-1 and SHA-256 in Lua, alike on Lua 5.4, 5.3, 5.1 and LuaJIT (and so
-- inside nginx): the same text gives the same hex digest in every process of
-- a fleet. The shared store names its keys by a hash of the API key
-- (digest.sha256) and runs its Redis scripts by their SHA-1 (EVALSHA).
--   digest.sha256(text) -> 64 hex digits;  digest.sha1(text) -> 40 hex digits
--   digest.hmac_sha256(key, message) -> 64 hex digits (RFC 2104)
--
-- Why by hand: no runtime the SDK runs on has SHA-256 built in (plain Lua
-- has no hash; nginx has ngx.sha1_bin and ngx.md5 only; resty.sha256 needs
-- lua-resty-string and LuaJIT's FFI), and a namespace computed two ways (a
-- Lua 5.4 process, an nginx worker) must never differ, or one API key gets
-- two limits. One implementation in Lua is the same everywhere, needs no
-- dependency, and costs little where it runs. Measured (os.clock, the best
-- of 15 batches of 2000 calls, 200 for the scripts, an idle AMD EPYC core):
--   store.namespace(api_key), once per flexiroam.new with `shared` (two
--   64-byte blocks): 140 us on Lua 5.4, 59 us on LuaJIT; flexiroam.new
--   itself is 19 us without `shared`, 167 us (5.4) and 88 us (LuaJIT) with.
--   The 9 Redis scripts' SHA-1 (2 KB), once per process, when
--   flexiroam.store.redis loads: 1.1 ms on Lua 5.4, 0.11 ms on LuaJIT.
-- So: a client made once per process or worker pays it once; one made per
-- request would pay it per request. Not for bulk data (about 70 us a block
-- on 5.4, 30 us on LuaJIT).
local digest = {}

-- 32-bit words as non-negative integers (doubles on LuaJIT/5.1). The bit
-- operations come from the runtime: LuaJIT's `bit` library, or the 5.3+
-- operators (compiled from a string, so this file still parses on 5.1).
local band, bor, bxor, shr, shl
local bit = rawget(_G, "bit") or (rawget(_G, "jit") and require("bit"))
if bit then
  local M32 = 4294967296
  local function u(x) return x % M32 end -- bit's results are signed
  band = function(a, b) return u(bit.band(a, b)) end
  bor = function(a, b) return u(bit.bor(a, b)) end
  bxor = function(a, b, c) return u(c and bit.bxor(a, b, c) or bit.bxor(a, b)) end
  shr = function(a, n) return u(bit.rshift(a, n)) end
  shl = function(a, n) return u(bit.lshift(a, n)) end
elseif _VERSION ~= "Lua 5.1" then
  local ops = assert(load([[
    local M = 0xffffffff
    return function(a, b) return a & b end, function(a, b) return a | b end,
      function(a, b, c) return a ~ b ~ (c or 0) end,
      function(a, n) return a >> n end, function(a, n) return (a << n) & M end
  ]]))
  band, bor, bxor, shr, shl = ops()
else -- PUC Lua 5.1 without a bit library: bit by bit, slow but exact
  local M32 = 4294967296
  local function each_bit(a, b, keep)
    local r, p = 0, 1
    for _ = 1, 32 do
      local x, y = a % 2, b % 2
      if keep(x, y) then r = r + p end
      a, b, p = (a - x) / 2, (b - y) / 2, p * 2
    end
    return r
  end
  band = function(a, b) return each_bit(a, b, function(x, y) return x + y == 2 end) end
  bor = function(a, b) return each_bit(a, b, function(x, y) return x + y >= 1 end) end
  local function xor2(a, b) return each_bit(a, b, function(x, y) return x + y == 1 end) end
  bxor = function(a, b, c) return c and xor2(xor2(a, b), c) or xor2(a, b) end
  shr = function(a, n) return math.floor(a / 2 ^ n) end
  shl = function(a, n) return (a * 2 ^ n) % M32 end
end

-- What needs no bit operation, the same in every runtime (exact: integers
-- on 5.3+, doubles elsewhere, where five words sum far below 2^53): the
-- sum of up to five words mod 2^32, and the complement of a word.
local function add(a, b, c, d, e)
  return (a + b + (c or 0) + (d or 0) + (e or 0)) % 4294967296
end
local function bnot(a) return 4294967295 - a end

local function rotr(x, n) return bor(shr(x, n), shl(x, 32 - n)) end
local function rotl(x, n) return bor(shl(x, n), shr(x, 32 - n)) end

-- The message padded to whole 64-byte blocks, its bit length at the end
-- (big-endian, 64 bits).
local function padded(text)
  local bits = #text * 8
  local tail = {}
  for i = 7, 0, -1 do tail[#tail + 1] = string.char(math.floor(bits / 2 ^ (8 * i)) % 256) end
  local zeros = (55 - #text) % 64
  return text .. "\128" .. string.rep("\0", zeros) .. table.concat(tail)
end

local function words(block, offset, w)
  for i = 0, 15 do
    local a, b, c, d = block:byte(offset + 4 * i, offset + 4 * i + 3)
    w[i] = ((a * 256 + b) * 256 + c) * 256 + d
  end
end

local function hex(state, n)
  local out = {}
  for i = 1, n do out[i] = string.format("%08x", state[i]) end
  return table.concat(out)
end

local K256 = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

--- digest.sha256(text) -> the SHA-256 of text, 64 lowercase hex digits.
function digest.sha256(text)
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local msg, w = padded(text), {}
  for offset = 1, #msg, 64 do
    words(msg, offset, w)
    for i = 16, 63 do
      local s0 = bxor(rotr(w[i - 15], 7), rotr(w[i - 15], 18), shr(w[i - 15], 3))
      local s1 = bxor(rotr(w[i - 2], 17), rotr(w[i - 2], 19), shr(w[i - 2], 10))
      w[i] = add(w[i - 16], s0, w[i - 7], s1)
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local s1 = bxor(rotr(e, 6), rotr(e, 11), rotr(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = add(hh, s1, ch, K256[i + 1], w[i])
      local s0 = bxor(rotr(a, 2), rotr(a, 13), rotr(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = add(s0, maj)
      hh, g, f, e, d, c, b, a = g, f, e, add(d, t1), c, b, a, add(t1, t2)
    end
    h[1], h[2], h[3], h[4] = add(h[1], a), add(h[2], b), add(h[3], c), add(h[4], d)
    h[5], h[6], h[7], h[8] = add(h[5], e), add(h[6], f), add(h[7], g), add(h[8], hh)
  end
  return hex(h, 8)
end

local function from_hex(digits)
  return (digits:gsub("%x%x", function(pair) return string.char(tonumber(pair, 16)) end))
end

local function xor_pad(key, byte)
  local out = {}
  for i = 1, 64 do
    local k = key:byte(i) or 0
    -- k XOR byte, bit by bit: the same on every runtime, 64 bytes once per call
    local r, p, a, b = 0, 1, k, byte
    for _ = 1, 8 do
      if a % 2 ~= b % 2 then r = r + p end
      a, b, p = (a - a % 2) / 2, (b - b % 2) / 2, p * 2
    end
    out[i] = string.char(r)
  end
  return table.concat(out)
end

--- digest.hmac_sha256(key, message) -> the HMAC-SHA256 (RFC 2104) of
-- message under key, 64 lowercase hex digits. nginx has only ngx.hmac_sha1:
-- this one runs the same in nginx and in plain Lua (a signed link made by
-- one, checked by the other). Four SHA-256 blocks for a short message.
function digest.hmac_sha256(key, message)
  if #key > 64 then key = from_hex(digest.sha256(key)) end
  local inner = from_hex(digest.sha256(xor_pad(key, 0x36) .. message))
  return digest.sha256(xor_pad(key, 0x5c) .. inner)
end

--- digest.sha1(text) -> the SHA-1 of text, 40 lowercase hex digits (what
-- Redis names a script by).
function digest.sha1(text)
  local h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 }
  local msg, w = padded(text), {}
  for offset = 1, #msg, 64 do
    words(msg, offset, w)
    for i = 16, 79 do w[i] = rotl(bxor(w[i - 3], w[i - 8], bxor(w[i - 14], w[i - 16])), 1) end
    local a, b, c, d, e = h[1], h[2], h[3], h[4], h[5]
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = bor(band(b, c), band(bnot(b), d)), 0x5a827999
      elseif i < 40 then
        f, k = bxor(b, c, d), 0x6ed9eba1
      elseif i < 60 then
        f, k = bor(bor(band(b, c), band(b, d)), band(c, d)), 0x8f1bbcdc
      else
        f, k = bxor(b, c, d), 0xca62c1d6
      end
      local t = add(rotl(a, 5), f, e, k, w[i])
      e, d, c, b, a = d, c, rotl(b, 30), a, t
    end
    h[1], h[2], h[3], h[4], h[5] = add(h[1], a), add(h[2], b), add(h[3], c), add(h[4], d), add(h[5], e)
  end
  return hex(h, 5)
end

return digest
