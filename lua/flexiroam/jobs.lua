--- Helpers for the jobs the API exists for, as client methods:
--   client:sell_plan{plan_id =, reference =}  -> {sim =, order =, activation =} | nil, err
--   for sim, usage in client:low_data{below_percent = 10} do ... end
-- flexiroam.client makes them methods of every client; they use the
-- client's public methods, and its SIM claims (client._claims, a
-- flexiroam.claims made when the client has a shared store).
-- @module flexiroam.jobs
local errors = require("flexiroam.errors")
local models = require("flexiroam.models")
local dates = require("flexiroam.dates")
local journal = require("flexiroam.journal")
local options = require("flexiroam.options")
local retry = require("flexiroam.retry")
local raise = require("flexiroam.misuse").raise

local jobs = {}

local SIM = models.SIM
local PICK_FROM = 50

-- SIMs a client has picked for a sale, per client, with when: a loop or
-- coroutines selling through one client never pick the same free SIM twice
-- while the inventory may still list it as free (PICKED_FOR, the rival
-- check's window). Older picks are forgotten, so a long-lived worker's set
-- stays small and a SIM the API puts back in stock can be sold again.
local claimed = setmetatable({}, { __mode = "k" })
local PICKED_FOR = 15 * 60
local PRUNE_EVERY = 256

local function claims(client)
  local set = claimed[client]
  if not set then
    set = { n = 0, at = {} }
    claimed[client] = set
  end
  return set
end

local function picked_lately(set, iccid)
  local at = set.at[iccid]
  return at ~= nil and os.time() - at < PICKED_FOR
end

local function pick(set, iccid)
  set.at[iccid] = os.time()
  set.n = set.n + 1
  if set.n % PRUNE_EVERY == 0 then
    local now = os.time()
    for k, at in pairs(set.at) do
      if now - at >= PICKED_FOR then set.at[k] = nil end
    end
  end
end

-- A page of the inventory's free eSIMs that this client has not picked
-- itself: -> candidates, the next page's key | nil, err
local function free_candidates(client, call_opts, page_key)
  local page, err = client:list_inventory({ chip_type = "esim", search_by = "availability", search = "free",
    limit = PICK_FROM, page_key = page_key }, call_opts)
  if not page then return nil, err end
  local mine, candidates = claims(client), {}
  for _, sim in ipairs(page.items) do
    if type(sim) == "table" and type(sim.iccid) == "string" and not picked_lately(mine, sim.iccid)
      and SIM.is_free(sim) then
      candidates[#candidates + 1] = sim
    end
  end
  return candidates, page.page_key
end

local function out_of_stock()
  return errors.new("not_found", "sell_plan: no free eSIM in the inventory", { code = "out_of_stock" })
end

-- A free eSIM, at random among the first PICK_FROM the inventory lists:
-- two processes selling at once then rarely reach for the same one. With
-- a shared store, `sale` (flexiroam.claims) claims it, so they never do.
local function pick_free_sim(client, call_opts, sale)
  if sale then
    return sale:pick(function(page_key) return free_candidates(client, call_opts, page_key) end, out_of_stock())
  end
  local candidates, err = free_candidates(client, call_opts)
  if not candidates then return nil, err end
  if #candidates == 0 then return nil, out_of_stock() end
  return candidates[math.random(#candidates)]
end

-- A SIM the caller named: claimed too while it is free (a picker could be
-- reaching for it), unless the claim holding it is this very sale under
-- the same reference (a double click: the API's reference rule makes the
-- two purchases one). A used SIM (a top-up) is nobody's pick: no claim.
-- -> true | nil, err
local function claim_named_sim(sale, sim)
  if not SIM.is_free(sim) then return true end
  local ok, holder = sale:take(sim.iccid)
  if ok ~= false then return ok, holder end
  if sale.reference and holder == sale.reference then return true end
  return nil, errors.new("conflict", string.format("sell_plan: SIM %s is being sold by another sale right now" ..
    " (claimed in the shared store); nothing was bought", tostring(sim.iccid)),
    { code = "sim_claimed", sim = sim, safe_to_retry = true })
end

local utc_seconds = dates.api
--- "YYYY-MM-DD HH:MM:SS" (UTC) -> seconds since 1970, or nil.
-- @function utc_seconds
-- @local
jobs.utc_seconds = utc_seconds

-- How close two orders on one "free" SIM must be to count as a race; an
-- older order is history (a SIM the API put back in stock), not a rival.
local RACE_WINDOW = 15 * 60

--- The rival among `orders` (the SIM's orders, as the API listed them) of
-- `order`, ours: an order sold on the same SIM shortly before ours. The SIM
-- was sold to someone else between our look at the inventory and our
-- purchase, which the API cannot prevent (it has no reservation); of two
-- such sales the later one must see the earlier one, and only that one.
-- "Before" is by created_at, whichever order the API lists in; two orders
-- of the same second are told apart by the API's listing, which both
-- sellers see alike. An unreadable time counts as a race: a customer left
-- with an eSIM that will not install is worse than a sale made again.
-- -> the rival order, or nil
-- @local
function jobs.rival_order(order, orders)
  local function is_ours(o) return o.id == order.id or o.reference == order.reference end
  local mine = utc_seconds(order.created_at)
  local my_place
  for i, o in ipairs(orders) do
    if is_ours(o) then
      my_place = i
      break
    end
  end
  for i, other in ipairs(orders) do
    if not is_ours(other) then
      local at = utc_seconds(other.created_at)
      local before
      if at == nil or mine == nil then
        before = true
      elseif at ~= mine then
        before = at < mine and mine - at <= RACE_WINDOW
      else
        before = my_place == nil or i < my_place
      end
      if before then return other end
    end
  end
  return nil
end

local function earlier_order(client, order, call_opts)
  local page, err = client:list_orders({ iccid = order.iccid, limit = 100 }, call_opts)
  if not page then return nil, err end
  return jobs.rival_order(order, page.items)
end

local function finish(client, sim, order, replayed, picked, call_opts)
  local function failed(err, step)
    -- the plan is bought: say so, and how to finish without buying again
    err.order, err.sim = order, sim
    err.message = string.format("sell_plan: order %s is placed but %s failed (%s); calling sell_plan again with " ..
      "reference %s finishes the sale without buying again", tostring(order.id), step, tostring(err.message),
      tostring(order.reference))
    return nil, err
  end
  if picked then
    local other, err = earlier_order(client, order, call_opts)
    if err then return failed(err, "checking the SIM's earlier orders") end
    if other then
      return nil, errors.new("conflict", string.format("sell_plan: SIM %s was sold to someone else (order %s) " ..
        "just before order %s: sell this customer another eSIM with a new reference", tostring(order.iccid),
        tostring(other.id), tostring(order.id)), { code = "sim_taken", order = order, other = other, sim = sim })
    end
  end
  -- The sale's own reads come from the API, never from a catalogue cache
  -- (a client may cache get_activation): an answer kept from before the sale
  -- would be another state of this SIM.
  local read_opts = options.merge(call_opts, { cache = false })
  local activation, err = client:get_activation({ iccid = order.iccid }, read_opts)
  if not activation then return failed(err, "fetching the activation") end
  local fresh
  fresh, err = client:get_sim({ iccid = order.iccid }, read_opts)
  if not fresh then return failed(err, "reading the SIM back") end
  return { sim = fresh, order = order, activation = activation, replayed = replayed or false }
end

local SELL_ARGUMENTS = { plan_id = true, reference = true, iccid = true }

-- Whether a failed purchase provably bought nothing: the rule every write
-- follows (flexiroam.retry), or the API's own refusal inside a 200 (an
-- error envelope).
local function nothing_bought(err)
  if err.kind == "indeterminate" then return false end
  return retry.nothing_done(err) or (err.status ~= nil and err.kind == "api")
end

--- Sells a one-time plan: client:sell_plan{plan_id =, reference = [, iccid =]} [, call opts].
--
-- Takes a free eSIM, buys the one-time plan onto it (purchase_plan), and
-- fetches its activation (activation.lpa is the install string). `plan_id`
-- may be a Plan; `iccid` sells onto that SIM instead of a free one.
--
-- Pass `reference` (your order number): a sale is then safe to repeat.
-- Called again with a reference that already bought, it finds that order
-- and finishes the sale (replayed = true) instead of buying twice; a
-- reference that bought another plan is a "conflict" error. Without one,
-- the client's pipeline makes one up per call (order.reference).
--
-- Failures: before the purchase, nothing is bought and the error is
-- returned as is. After it, err.order and err.sim are set and the message
-- says to call again with the same reference. If the SIM turns out to
-- have been sold to someone else first (two sellers raced for it), the
-- answer is a "conflict" error with code "sim_taken", err.order (this
-- sale's order, paid) and err.other (the earlier one): sell this customer
-- another eSIM with a NEW reference, and settle the order with Flexiroam.
--
-- With a shared store (flexiroam.new{shared = ...}) a free SIM is claimed
-- in the store before the purchase (flexiroam.claims), and a SIM another
-- sale claimed is never picked: "conflict" with code "sims_claimed" when
-- every candidate is held, "sim_claimed" for a named SIM another sale
-- holds. A store that cannot answer is an error of kind "store", and no
-- purchase is sent. A replay by reference buys nothing and claims nothing.
-- @tparam flexiroam.client client the client (client:sell_plan passes itself)
-- @tparam table args plan_id (required), reference, iccid
-- @tparam[opt] table opts per-call options for each call of the sale
-- @treturn table {sim = SIM, order = Order, activation = Activation, replayed = bool}
-- @return[2] nil
-- @return[2] an error object (err.order and err.sim set when the purchase was made)
function jobs.sell_plan(client, args, opts)
  if type(args) ~= "table" then raise("sell_plan: expects a table {plan_id =, reference =}") end
  for k in pairs(args) do
    if not SELL_ARGUMENTS[k] then options.unknown("sell_plan", "argument", k, SELL_ARGUMENTS) end
  end
  local plan_id = args.plan_id
  if type(plan_id) == "table" then plan_id = plan_id.id end
  if type(plan_id) ~= "string" or plan_id == "" then raise("sell_plan: plan_id must be a plan id or a Plan") end
  local reference = args.reference
  if reference ~= nil and (type(reference) ~= "string" or reference == "") then
    raise("sell_plan: reference must be a non-empty string")
  end
  if opts ~= nil and type(opts) ~= "table" then raise("sell_plan: options must be a table") end

  if reference then
    local page, err = client:list_orders({ reference = reference }, opts)
    if not page then return nil, err end
    local prior = page.items[1]
    if prior then
      if prior.plan_id ~= plan_id or (args.iccid and prior.iccid ~= args.iccid) then
        return nil, errors.new("conflict", string.format(
          "sell_plan: reference %s already bought plan %s on SIM %s", reference, tostring(prior.plan_id),
          tostring(prior.iccid)), { order = prior, safe_to_retry = false })
      end
      return finish(client, nil, prior, true, not args.iccid, opts)
    end
  end

  -- With a store, this sale's claim (taken below); its purchase is sent
  -- with the deadline the claim's lease is sized to.
  local sale = client._claims and client._claims:sale(reference, opts)
  local sim, err
  if args.iccid then
    sim, err = client:get_sim({ iccid = args.iccid }, opts)
    if sim and sale then
      local ok
      ok, err = claim_named_sim(sale, sim)
      if not ok then return nil, err end
    end
  else
    sim, err = pick_free_sim(client, opts, sale)
  end
  if not sim then return nil, err end
  local mine = claims(client)
  pick(mine, sim.iccid)
  -- Nothing bought: the SIM is free again, for this client and the fleet.
  local function release()
    mine.at[sim.iccid] = nil
    if sale then sale:release() end
  end
  local order
  order, err = client:purchase_plan({ iccid = sim.iccid, plan_id = plan_id, reference = reference },
    sale and sale.key and sale.purchase_opts or opts)
  if not order then
    local existing = err.kind == "reference_reused" and err.existing
    if existing and not args.iccid and existing.plan_id == plan_id then
      -- A double click: another call with this reference bought this plan
      -- first, on the SIM it picked. That sale is this one.
      release()
      return finish(client, nil, existing, true, true, opts)
    end
    -- The SIM is free again only on proof that nothing was bought: the
    -- request never left, or the API refused it (a 4xx, an error envelope).
    -- Anything else (indeterminate, or a failure the pipeline could not
    -- classify) keeps it claimed, so neither this client nor the fleet
    -- sells it meanwhile.
    if nothing_bought(err) then
      release()
    elseif sale then
      sale:keep_unknown()
    end
    return nil, err
  end
  if order.status == "failed" then
    release()
    return nil, errors.new("api", string.format("sell_plan: order %s failed", tostring(order.id)),
      { order = order, sim = sim })
  end
  -- Bought: the claim stays until its lease ends (the inventory may list
  -- the SIM as free a moment longer).
  return finish(client, sim, order, models.is_replayed(order), not args.iccid, opts)
end

local USAGE_OPTIONS = { below_percent = true, below_bytes = true, chip_type = true, statuses = true, max_pages = true }

--- The SIMs running low on data: client:low_data{below_percent = p | below_bytes = n}.
--
-- The SIMs in use (availability "used") whose remaining data is under the
-- threshold: below_percent of the data they were given (0-100), or
-- below_bytes. Only usage in one of `statuses` counts (default "active"
-- and "depleted": a plan not started or expired is not running low). One
-- get_usage per SIM; with below_bytes, SIMs whose balance already shows
-- enough are skipped without one. Like every iterator, a failure RAISES
-- the error object.
-- @tparam flexiroam.client client the client (client:low_data passes itself)
-- @tparam table args below_percent or below_bytes; chip_type, statuses, max_pages
-- @tparam[opt] table opts per-call options
-- @treturn function an iterator of sim, usage
-- @raise the error object of a failed call, while iterating
function jobs.low_data(client, args, opts)
  if type(args) ~= "table" then raise("low_data: expects a table {below_percent = | below_bytes =}") end
  local own, extra = options.split("low_data", args, USAGE_OPTIONS)
  if extra then options.unknown("low_data", "argument", next(extra), USAGE_OPTIONS) end
  local pct, bytes = own.below_percent, own.below_bytes
  if (pct == nil) == (bytes == nil) then raise("low_data: give exactly one of below_percent and below_bytes") end
  if pct ~= nil and (type(pct) ~= "number" or pct < 0 or pct > 100) then
    raise("low_data: below_percent must be a number from 0 to 100")
  end
  if bytes ~= nil and (type(bytes) ~= "number" or bytes < 0) then
    raise("low_data: below_bytes must be a number >= 0")
  end
  local statuses = { active = true, depleted = true }
  if own.statuses ~= nil then
    if type(own.statuses) ~= "table" then raise("low_data: statuses must be a list") end
    statuses = {}
    for _, s in ipairs(own.statuses) do statuses[s] = true end
  end
  if opts ~= nil and type(opts) ~= "table" then raise("low_data: options must be a table") end
  local each_opts = options.merge(opts, { max_pages = own.max_pages })
  local sims = client:inventory({ chip_type = own.chip_type, search_by = "availability", search = "used" }, each_opts)
  return function()
    for sim in sims do
      local balance = SIM.remaining_bytes(sim)
      if not (bytes and balance and balance >= bytes) then
        local usage, err = client:get_usage({ iccid = sim.iccid }, opts)
        if not usage then error(err, 0) end
        if statuses[usage.status] then
          local low
          if pct then
            local left = models.Usage.percent_remaining(usage)
            low = left ~= nil and left < pct
          else
            low = (models.Usage.remaining_bytes(usage) or 0) < bytes
          end
          if low then return sim, usage end
        end
      end
    end
    return nil
  end
end

--- What a batch's journal records, without sending anything or taking its lock.
-- Done, failed, started with an unknown outcome, the money committed by currency.
-- @function inspect
-- @string path the journal's file
-- @treturn table {job =, sdk =, calls =, runs =, total =, done =, failed =, absent =, started_unknown =,
-- unsettled = {{key, reference, ...}}, committed = {[currency] = amount_minor}, torn = bool}
-- @return[2] nil
-- @return[2] an error object of kind journal
jobs.inspect = journal.inspect

return jobs
