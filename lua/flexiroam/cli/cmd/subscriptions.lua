--- flexiroam subscriptions: list, create (money: a recurring plan), cancel.
local reads = require("flexiroam.cli.reads")
local checks = require("flexiroam.cli.checks")
local purchase = require("flexiroam.cli.purchase")
local prompt = require("flexiroam.cli.prompt")

local function list(ctx, args)
  if args.iccid then checks.iccid(args.iccid) end
  reads.stream(ctx, "list_subscriptions", { iccid = args.iccid, status = args.status, limit = 100 },
    { max_pages = args.max_pages })
end

local function create(ctx, args)
  purchase.one(ctx, {
    operation = "create_subscription", iccid = args.iccid, plan_id = args.plan_id, reference = args.reference,
    verb = "subscribe to", question = "Subscribe?",
    again = function(ref)
      return string.format("flexiroam subscriptions create %s %s --reference %s", args.iccid, args.plan_id, ref)
    end,
  })
end

local function cancel(ctx, args)
  local client = ctx:client()
  local params = { subscription_id = args.subscription_id }
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:cancel_subscription(params) end)
  end
  local ok, err = prompt.confirm(ctx, { "about to cancel subscription " .. args.subscription_id ..
    " (it will not renew; cancelling twice changes nothing)" }, "Cancel it?")
  if not ok then error(err, 0) end
  local sub
  sub, err = client:cancel_subscription(params)
  if not sub then error(err, 0) end
  ctx:item(sub)
end

return {
  name = "subscriptions",
  summary = "recurring plans: list, create, cancel",
  description = "`subscriptions` alone lists them, like `subscriptions list`.",
  default = "list",
  commands = {
    {
      name = "list", summary = "the subscriptions, streamed",
      options = {
        { "--iccid", arg = "ICCID", description = "only this SIM's" },
        { "--status", arg = "STATUS", choices = { "active", "cancelled" }, description = "active or cancelled" },
        reads.max_pages_option(),
      },
      run = list,
    },
    {
      name = "create", summary = "subscribe a SIM to a recurring plan (money: asks, prints the reference)",
      arguments = { { "iccid", description = "the SIM's ICCID" }, { "plan_id", description = "a recurring plan" } },
      options = { { "--reference", arg = "REF", description = "the subscription's reference (default: a new " ..
        "UUID, printed before it is sent); the same reference never subscribes twice" } },
      examples = { "flexiroam subscriptions create 8910300000000000018 FRA-2GB-M" },
      run = create,
    },
    {
      name = "cancel", summary = "cancel a subscription (asks first)",
      arguments = { { "subscription_id", description = "the subscription's id" } },
      run = cancel,
    },
  },
}
