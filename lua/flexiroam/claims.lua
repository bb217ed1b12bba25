--- flexiroam.claims: one sale per free SIM across a fleet. A client with
-- a shared store (flexiroam.new{shared = ...}) claims a free SIM in the
-- store before it buys a plan onto it, so two workers, processes or hosts
-- never sell the same SIM: the API itself cannot reserve one, and between a
-- look at the inventory and a purchase any other seller may pick it too.
--
-- A claim is the key "<namespace>claim:<iccid>" (flexiroam.store: a hash of
-- the API key, never the key) added if absent, with a lease, holding
-- "<owner token> <reference>": the token is random per sale (16 bytes of
-- /dev/urandom, nothing to do with the API key), so only the sale that
-- took a claim can release or extend it.
--
-- Its life:
--   taken     before the purchase; a SIM another sale holds is skipped;
--   lease     the purchase's deadline plus SETTLE seconds: the purchase is
--             sent with that deadline (the call's own deadline_ms, else the
--             client's, else twice the attempt timeout: one attempt and the
--             lookup that settles an unclear one), so it has ended, bought
--             or not, before the lease can; nothing needs to renew it
--             while it runs, which no blocking transport could do anyway;
--   failed    nothing bought: released at once (delete_if owner);
--   bought    kept until its lease ends: the inventory may list the SIM as
--             free a moment longer, and a released claim would let another
--             seller take it then;
--   unknown   an indeterminate purchase (it may still land): extended to
--             HOLD_UNKNOWN, the window in which sell_plan's rival check
--             looks for a second order on one SIM;
--   dead      a holder that dies leaves its claim to expire with its lease.
-- A store that cannot answer (Redis down or slow, a full dict) means no
-- claim, and no claim means no purchase: the sale fails with kind "store".
local errors = require("flexiroam.errors")
local options = require("flexiroam.options")
local reference = require("flexiroam.reference")

local claims = {}

claims.SETTLE = 30                   -- seconds a claim outlives its purchase's deadline
claims.HOLD_UNKNOWN = 15 * 60        -- seconds an indeterminate purchase keeps its SIM (jobs' race window)
claims.ATTEMPT_MS = 60000            -- an attempt's timeout when none is set (the transports' default)
claims.PAGES = 4                     -- inventory pages a pick looks through before giving up

local Claims = {}
Claims.__index = Claims

--- claims.new{store =, namespace =, deadline_ms =, timeout_ms = (the client's, or nil), warn = function(message)}
function claims.new(o)
  return setmetatable({
    store = o.store, prefix = o.namespace .. "claim:", deadline_ms = o.deadline_ms, timeout_ms = o.timeout_ms,
    warn = o.warn or function() end,
  }, Claims)
end

--- The deadline (ms) a claimed purchase is sent with, given the call's options.
function Claims:purchase_deadline_ms(opts)
  opts = opts or {}
  local deadline_ms = opts.deadline_ms or self.deadline_ms
  if deadline_ms == nil then
    local timeout_ms = opts.timeout_ms or self.timeout_ms or claims.ATTEMPT_MS
    options.number("sell_plan", "timeout_ms", timeout_ms, 1)
    deadline_ms = 2 * timeout_ms
  end
  return options.number("sell_plan", "deadline_ms", deadline_ms, 1)
end

-- One sale's side of the claims: its token, its lease, the options its
-- purchase is sent with, and the claim it holds (iccid, key), if any.
local Sale = {}
Sale.__index = Sale

--- claims:sale(ref, opts) -> sale. `ref` is the caller's reference or nil;
-- `opts` the call's options.
function Claims:sale(ref, opts)
  local deadline_ms = self:purchase_deadline_ms(opts)
  local token = reference.uuid4()
  return setmetatable({
    claims = self, token = token, value = token .. " " .. (ref or ""), reference = ref,
    lease = deadline_ms / 1000 + claims.SETTLE,
    purchase_opts = options.merge(opts, { deadline_ms = deadline_ms }),
    -- where this sale starts in a page of candidates: random per sale, so
    -- sellers that list the same page at once mostly reach for different SIMs
    offset = tonumber(token:sub(1, 8), 16),
  }, Sale)
end

local function store_error(iccid, err)
  return errors.new("store", string.format("sell_plan: SIM %s cannot be claimed: the shared store did not answer" ..
    " (%s); no purchase was sent: sell again once the store answers", tostring(iccid),
    tostring(err and err.message or err or "no answer")), { cause = err, safe_to_retry = true, retryable = true })
end

--- sale:take(iccid) -> true | false, holder's reference ("" when none) | nil, err (kind "store")
-- Claimed, the sale holds it (sale.key) and its purchase goes with sale.purchase_opts.
function Sale:take(iccid)
  if type(iccid) ~= "string" then -- a record the API sent without one: nothing to claim, nothing to buy
    return nil, errors.new("decode", "sell_plan: the API answered a SIM without an iccid")
  end
  local key = self.claims.prefix .. iccid
  local ok, held = self.claims.store:add(key, self.value, self.lease)
  if ok == true then
    self.iccid, self.key = iccid, key
    return true
  end
  if ok == false then return false, type(held) == "string" and held:match("^%S+ (.*)$") or "" end
  return nil, store_error(iccid, held)
end

--- sale:pick(next_page, out_of_stock) -> sim | nil, err: claims a SIM among
-- the candidates next_page(page_key) -> candidates, next page_key | nil, err
-- lists (free SIMs, not this client's own), up to claims.PAGES pages. Every
-- candidate of a page is tried before the next page, from a random place.
-- No candidate at all: out_of_stock; every one held: "conflict", code
-- "sims_claimed"; the store failing: "store" at once.
function Sale:pick(next_page, out_of_stock)
  local page_key, seen = nil, 0
  for _ = 1, claims.PAGES do
    local candidates, next_key = next_page(page_key)
    if not candidates then return nil, next_key end
    local n = #candidates
    seen = seen + n
    for i = 0, n - 1 do
      local sim = candidates[(self.offset + i) % n + 1]
      local ok, err = self:take(sim.iccid)
      if ok then return sim end
      if ok == nil then return nil, err end
    end
    if next_key == nil then break end
    page_key = next_key
  end
  if seen == 0 then return nil, out_of_stock end
  return nil, errors.new("conflict", string.format("sell_plan: each of the %d free eSIMs the inventory listed first" ..
    " is claimed by another sale (in progress, or just made); nothing was bought: try again in a moment", seen),
    { code = "sims_claimed", safe_to_retry = true, retryable = true })
end

--- Nothing was bought: the SIM is free for others at once. A store that
-- cannot answer leaves the claim to its lease.
function Sale:release()
  if not self.key then return end
  local ok, err = self.claims.store:delete_if(self.key, self.value)
  if ok == nil then
    self.claims.warn(string.format("the claim on SIM %s could not be released (%s): the SIM stays claimed until" ..
      " its lease ends, in at most %.0f s", self.iccid, tostring(err and err.message or err), self.lease))
  end
  self.key = nil
end

--- The purchase may or may not have landed: nobody sells the SIM for
-- HOLD_UNKNOWN seconds. A store that cannot answer leaves the claim to its
-- lease (sell_plan's rival check still sees a second order).
function Sale:keep_unknown()
  if not self.key then return end
  local ok, err = self.claims.store:renew_if(self.key, self.value, claims.HOLD_UNKNOWN)
  if not ok then
    self.claims.warn(string.format("the claim on SIM %s, whose purchase may or may not have landed, could not be" ..
      " extended (%s): it ends with its lease", self.iccid, ok == false and "it is no longer held" or
      tostring(err and err.message or err)))
  end
end

return claims
