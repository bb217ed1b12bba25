--- One purchase from the command line (buy, topup, subscriptions create,
-- and the generated purchase-plan / create-subscription): the plan and
-- the SIM are read and shown with the price, the operator confirms, and
-- the purchase goes out under a reference printed before it is sent. The
-- pipeline never sends it twice (a failure is looked up by that reference
-- before anything is sent again); the same command with `--reference R`
-- finishes a purchase whose outcome was unclear without buying twice.
local reference = require("flexiroam.reference")
local models = require("flexiroam.models")
local checks = require("flexiroam.cli.checks")
local catalogue = require("flexiroam.cli.catalogue")
local prompt = require("flexiroam.cli.prompt")

local purchase = {}

--- The reference to use: the operator's (checked), else a new one.
-- -> reference, minted (boolean)
function purchase.reference(given)
  if given then return checks.reference(given), false end
  return reference.uuid4(), true
end

--- purchase.one(ctx, p): p = {operation =, iccid =, plan_id =, reference =
-- (given or nil), sim = (a SIM already read, or nil), verb = "buy",
-- question = "Buy it?", again = function(ref) -> the command line that
-- repeats it}
function purchase.one(ctx, p)
  local client = ctx:client()
  checks.iccid(p.iccid)
  local ref, minted = purchase.reference(p.reference)
  local params = { iccid = p.iccid, plan_id = p.plan_id, reference = ref }
  local again = p.again(ref)
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:call(p.operation, params) end, minted and {
      "reference " .. ref .. " was minted for this dry run; `" .. again .. "` sends exactly this request" } or nil)
  end
  local plan = catalogue.find(client, p.plan_id)
  local sim = p.sim
  if not sim then
    local err
    sim, err = client:get_sim { iccid = p.iccid }
    if not sim then error(err, 0) end
  end
  local ok, err = prompt.confirm(ctx, {
    string.format("about to %s plan %s", p.verb, catalogue.describe(plan)),
    "  onto " .. tostring(sim),
    "  under reference " .. ref .. " (if the outcome is unclear, `" .. again .. "` finishes it without buying twice)",
  }, p.question or "Buy it?")
  if not ok then error(err, 0) end
  ctx.retry_hint = "`" .. again .. "` finishes it without buying twice"
  -- Ctrl-C while it is out: the purchase may have gone through.
  ctx.interrupt_hint = "the purchase may have gone through; " .. ctx.retry_hint
  ctx.announce_references = true
  local value
  value, err = client:call(p.operation, params)
  if value == nil then error(err, 0) end
  if models.is_replayed(value) then
    ctx.say("reference " .. ref .. " had already made this purchase: nothing was charged again")
  end
  ctx:item(value)
  return value
end

return purchase
