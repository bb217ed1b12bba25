--- flexiroam plans: the catalogue, and one plan.
local reads = require("flexiroam.cli.reads")
local checks = require("flexiroam.cli.checks")
local catalogue = require("flexiroam.cli.catalogue")

local function list(ctx, args)
  reads.stream(ctx, "list_plans", { chip_type = args.chip_type, type = args.type,
    country = args.country and args.country:upper(), limit = args.limit or 100 }, { max_pages = args.max_pages })
end

local function show(ctx, args)
  local client = ctx:client()
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:list_plans { limit = 100 } end,
      { "the catalogue is read page after page until plan " .. args.plan_id })
  end
  ctx:item(catalogue.find(client, args.plan_id, ctx.fields or false), { model = "Plan" })
end

return {
  name = "plans",
  summary = "list the plan catalogue, show one plan",
  description = "`plans` alone lists the catalogue, like `plans list`.",
  default = "list",
  commands = {
    {
      name = "list", summary = "the plans on sale, streamed",
      options = {
        { "--country", arg = "ISO3", description = "plans covering this country (ISO 3166-1 alpha-3: FRA, JPN)" },
        { "--type", arg = "TYPE", choices = { "one_time", "recurring" }, description = "one_time or recurring" },
        { "--chip-type", arg = "TYPE", choices = { "esim", "psim" }, description = "plans sold for this chip" },
        { "--limit", arg = "N", convert = checks.count, description = "plans a page (1-100; default 100)" },
        reads.max_pages_option(),
      },
      examples = { "flexiroam plans list --country FRA --type one_time" },
      run = list,
    },
    {
      name = "show", summary = "one plan, by id",
      arguments = { { "plan_id", description = "the plan's id (FRA-3GB-7D)" } },
      examples = { "flexiroam plans show FRA-3GB-7D -o json" },
      run = show,
    },
  },
}
