--- flexiroam buy, topup, sell: the commands that spend money. Each shows
-- what it will buy and at what price, asks on a terminal (--yes for
-- scripts), prints the purchase's reference before it is sent, and under
-- --dry-run prints the requests as curl commands and sends nothing.
local json = require("flexiroam.json")
local models = require("flexiroam.models")
local checks = require("flexiroam.cli.checks")
local purchase = require("flexiroam.cli.purchase")
local catalogue = require("flexiroam.cli.catalogue")
local prompt = require("flexiroam.cli.prompt")
local qr_code = require("flexiroam.cli.qr_code")
local columns = require("flexiroam.cli.columns")

local function buy(ctx, args)
  purchase.one(ctx, {
    operation = "purchase_plan", iccid = args.iccid, plan_id = args.plan_id, reference = args.reference,
    verb = "buy",
    again = function(ref) return string.format("flexiroam buy %s %s --reference %s", args.iccid, args.plan_id, ref) end,
  })
end

local function topup(ctx, args)
  checks.iccid(args.iccid)
  local plan_id, sim = args.plan_id, nil
  if ctx.args.dry_run then
    if not plan_id then
      error({ kind = "usage", message = "--dry-run sends nothing, so it cannot read the SIM's current plan: " ..
        "name the PLAN_ID" }, 0)
    end
  else
    local client = ctx:client()
    local err
    sim, err = client:get_sim { iccid = args.iccid }
    if not sim then error(err, 0) end
    if models.SIM.is_free(sim) then
      error({ kind = "usage", message = "SIM " .. args.iccid .. " has no plan yet: a top-up adds data to a SIM " ..
        "in use; `flexiroam buy` or `flexiroam sell` puts its first plan on" }, 0)
    end
    if not plan_id then
      local usage
      usage, err = client:get_usage { iccid = args.iccid }
      if not usage then error(err, 0) end
      plan_id = type(usage.plan_id) == "string" and usage.plan_id or nil
      if not plan_id then
        error({ kind = "usage", message = "SIM " .. args.iccid .. " shows no current plan: name the PLAN_ID" }, 0)
      end
      ctx.say("topping up with the SIM's current plan, " .. plan_id)
    end
  end
  purchase.one(ctx, {
    operation = "purchase_plan", iccid = args.iccid, plan_id = plan_id, reference = args.reference, sim = sim,
    verb = "top up with", question = "Top it up?",
    again = function(ref)
      return string.format("flexiroam topup %s %s --reference %s", args.iccid, plan_id, ref)
    end,
  })
end

-- A sale's dry run: the reads sell_plan makes before its purchase are
-- answered here, not sent, so that the run reaches the purchase it would
-- send (onto a stand-in eSIM: the real one is picked when it runs).
local function sale_answers(iccid)
  local stand_in = { iccid = iccid or "<picked eSIM>", chip_type = "esim", status = "active",
    availability_sku = "free___0", subscribed = "0___0" }
  return function(req)
    if req.url:find("/list%-orders%?") then
      return { body = '{"items":[],"page_key":null}',
        note = "not sent; answered as if no sale used this reference yet:" }
    end
    if req.url:find("/list%-inventory%?") then
      return { body = json.encode { items = { stand_in }, page_key = json.null },
        note = "not sent; a free eSIM is picked at random among the first of this answer's:" }
    end
    if req.url:find("/get%-sim%?") then
      return { body = json.encode { item = stand_in }, note = "not sent; the SIM is read first:" }
    end
    return nil
  end
end

-- What a sale shows: one flat record, the order's and the activation's
-- fields a support person needs, in this order.
local SALE_COLUMNS = {}
for _, c in ipairs { { "iccid" }, { "plan_id" }, { "order_id" }, { "reference" }, { "status" },
  { "price", columns.MONEY }, { "created_at" }, { "replayed" }, { "lpa" }, { "smdp_address" }, { "matching_id" } } do
  SALE_COLUMNS[#SALE_COLUMNS + 1] = { name = c[1], format = c[2], get = function(r) return r[c[1]] end }
end

local function sell(ctx, args)
  local client = ctx:client()
  if args.iccid then checks.iccid(args.iccid) end
  if args.qr then qr_code.available() end -- never after a purchase: before anything is sent
  local ref, minted = purchase.reference(args.reference)
  local again = string.format("flexiroam sell %s%s --reference %s", args.plan_id,
    args.iccid and (" --iccid " .. args.iccid) or "", ref)
  local sale = { plan_id = args.plan_id, reference = ref, iccid = args.iccid }
  if ctx.args.dry_run then
    ctx.dry_answer = sale_answers(args.iccid)
    return ctx:dry_run(function() return client:sell_plan(sale) end, {
      "then the activation and the SIM are read back (get-activation, get-sim)",
      minted and ("reference " .. ref .. " was minted for this dry run; `" .. again .. "` uses it") or nil,
    })
  end
  local plan = catalogue.find(client, args.plan_id)
  local ok, err = prompt.confirm(ctx, {
    "about to sell plan " .. catalogue.describe(plan),
    "  onto " .. (args.iccid and ("SIM " .. args.iccid) or "a free eSIM of the inventory"),
    "  under reference " .. ref .. " (if the outcome is unclear, `" .. again .. "` finishes it without buying twice)",
  }, "Sell it?")
  if not ok then error(err, 0) end
  ctx.retry_hint = "`" .. again .. "` finishes the sale without buying twice"
  ctx.interrupt_hint = "the sale may have gone through; " .. ctx.retry_hint
  ctx.announce_references = true
  local result
  result, err = client:sell_plan(sale)
  if not result then error(err, 0) end
  if result.replayed then
    ctx.say("reference " .. ref .. " had already made this sale: nothing was charged again")
  end
  local order, activation = result.order, result.activation
  ctx:item({
    iccid = order.iccid, plan_id = order.plan_id, order_id = order.id, reference = order.reference,
    status = order.status, price = order.price, created_at = order.created_at, replayed = result.replayed,
    lpa = activation.lpa, smdp_address = activation.smdp_address, matching_id = activation.matching_id,
  }, { cols = not ctx.fields and SALE_COLUMNS or nil })
  if args.qr then qr_code.show(ctx, activation) end
end

local REFERENCE = { "--reference", arg = "REF", description = "the purchase's reference (your order number; " ..
  "default: a new UUID, printed before it is sent). The same reference never buys twice." }

return {
  {
    name = "buy", summary = "buy a one-time plan onto a SIM (purchase-plan)",
    description = "Reads the plan (its price) and the SIM, shows them, asks, then sends the purchase under its " ..
      "reference. Run again with the same --reference after an unclear failure: the API answers the original " ..
      "order and charges nothing again.",
    arguments = { { "iccid", description = "the SIM's ICCID" }, { "plan_id", description = "the plan's id" } },
    options = { REFERENCE },
    examples = { "flexiroam buy 8910300000000000018 FRA-3GB-7D", "flexiroam buy 8910300000000000018 FRA-3GB-7D " ..
      "--reference order-1042 --yes", "flexiroam buy 8910300000000000018 FRA-3GB-7D --dry-run" },
    run = buy,
  },
  {
    name = "topup", summary = "add data to a SIM in use: its current plan again, or PLAN_ID",
    description = "A SIM nobody bought a plan onto yet is refused (use buy or sell). Without PLAN_ID the SIM's " ..
      "current plan (from its usage) is bought again.",
    arguments = { { "iccid", description = "the SIM's ICCID" },
      { "plan_id", args = "?", description = "the plan to add (default: the SIM's current plan)" } },
    options = { REFERENCE },
    examples = { "flexiroam topup 8910300000000000018", "flexiroam topup 8910300000000000018 EU-10GB-30D --yes" },
    run = topup,
  },
  {
    name = "sell", summary = "sell a plan on a free eSIM: buy it, print the activation (and its QR code)",
    description = "The whole sale (sell_plan): a free eSIM is picked from the inventory (or --iccid), the plan " ..
      "is bought onto it under the reference, then its activation is read. A sale repeated with the same " ..
      "--reference is finished, never bought twice.",
    arguments = { { "plan_id", description = "the plan's id" } },
    options = {
      REFERENCE,
      { "--iccid", arg = "ICCID", description = "sell onto this SIM instead of a free one" },
      { "--qr", description = "draw the install QR code (on stdout after a table, else on stderr)" },
      { "--qr-scheme", arg = "SCHEME", choices = qr_code.SCHEMES, description = "dark (default), light or ansi" },
    },
    examples = { "flexiroam sell FRA-3GB-7D --reference shop-2291 --qr" },
    run = sell,
  },
}
