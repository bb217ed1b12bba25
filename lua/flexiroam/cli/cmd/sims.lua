--- flexiroam sims: the inventory, and one SIM.
local reads = require("flexiroam.cli.reads")
local checks = require("flexiroam.cli.checks")
local qr_code = require("flexiroam.cli.qr_code")

local function list(ctx, args)
  local params = { chip_type = args.chip_type, limit = args.limit or 100 }
  if args.free then params.search_by, params.search = "availability", "free" end
  if args.used then params.search_by, params.search = "availability", "used" end
  if args.search_by then params.search_by, params.search = args.search_by, args.search end
  if args.free and args.used then error({ kind = "usage", message = "--free and --used: choose one" }, 0) end
  if (params.search_by == nil) ~= (params.search == nil) then
    error({ kind = "usage", message = "--search-by and --search go together" }, 0)
  end
  reads.stream(ctx, "list_inventory", params, { max_pages = args.max_pages })
end

local function show(ctx, args)
  checks.iccid(args.iccid)
  if args.qr then qr_code.available() end -- before any request: a build without it says so at once
  local sim = reads.get(ctx, "get_sim", { iccid = args.iccid })
  if args.qr and not ctx.args.dry_run and sim then
    local activation, err = ctx:client():get_activation { iccid = args.iccid }
    if not activation then error(err, 0) end
    qr_code.show(ctx, activation)
  end
end

return {
  name = "sims",
  summary = "list the SIM inventory, show one SIM (and its install QR code)",
  description = "`sims` alone lists the inventory, like `sims list`.",
  default = "list",
  commands = {
    {
      name = "list", summary = "every SIM of the inventory, streamed page after page",
      description = "Filters: --free or --used (availability), --chip-type, or any --search-by/--search pair " ..
        "the API takes (iccid, sku, subscribed).",
      options = {
        { "--free", description = "only SIMs nobody bought a plan onto yet" },
        { "--used", description = "only SIMs in use" },
        { "--chip-type", arg = "TYPE", choices = { "esim", "psim" }, description = "esim or psim" },
        { "--search-by", arg = "FIELD", choices = { "availability", "iccid", "sku", "subscribed" },
          description = "the field --search matches" },
        { "--search", arg = "VALUE", description = "the value of --search-by" },
        { "--limit", arg = "N", convert = checks.count, description = "SIMs a page (1-100; default 100)" },
        reads.max_pages_option(),
      },
      examples = { "flexiroam sims list --free --chip-type esim", "flexiroam sims list --used -o csv > used.csv" },
      run = list,
    },
    {
      name = "show", summary = "one SIM; --qr draws its install QR code",
      arguments = { { "iccid", description = "the SIM's ICCID (19-20 digits)" } },
      options = {
        { "--qr", description = "also draw the eSIM's install QR code (on stdout after a table, else on stderr)" },
        { "--qr-scheme", arg = "SCHEME", choices = qr_code.SCHEMES,
          description = "dark (light text on a dark terminal; default), light, or ansi (its own colours)" },
      },
      examples = { "flexiroam sims show 8910300000000000018", "flexiroam sims show 8910300000000000018 --qr" },
      run = show,
    },
  },
}
