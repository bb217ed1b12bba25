--- flexiroam usage: the data use of SIMs, or the SIMs running low.
local reads = require("flexiroam.cli.reads")
local checks = require("flexiroam.cli.checks")

-- Many SIMs at once (client:usage_many, 16 at a time); a SIM that fails is
-- said on stderr and the command ends with the partial status.
local function many(ctx, iccids)
  local client = ctx:client()
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:get_usage { iccid = iccids[1] } end,
      { "and the same for each of the " .. #iccids .. " SIMs, 16 at a time" })
  end
  local results, summary = client:usage_many(iccids, { fields = reads.selection(ctx, "get_usage") })
  local w = ctx:list { model = "Usage" }
  for i, r in ipairs(results) do
    if r.ok then
      w:add(r.value)
    else
      ctx.say(string.format("%s: %s: %s", iccids[i], tostring(r.err.kind), tostring(r.err.message)))
    end
  end
  w:finish()
  if summary.failed + summary.cancelled > 0 then
    error({ kind = "partial", message = string.format("%d of %d SIMs could not be read", summary.failed +
      summary.cancelled, summary.total) }, 0)
  end
end

local function low(ctx, args)
  local client = ctx:client()
  local query = { below_percent = args.below_percent, below_bytes = args.below_bytes, chip_type = args.chip_type }
  if ctx.args.dry_run then
    return ctx:dry_run(function() return client:list_inventory { chip_type = args.chip_type,
      search_by = "availability", search = "used" } end, { "then get-usage for each SIM in use" })
  end
  local w = ctx:list { model = "Usage" }
  for _, usage in client:low_data(query) do w:add(usage) end
  w:finish()
end

local function run(ctx, args)
  local iccids = args.iccid or {}
  local below = args.below_percent or args.below_bytes
  if (#iccids > 0) == (below ~= nil) then
    error({ kind = "usage", message = "name SIMs, or ask for those running low (--below-percent or " ..
      "--below-bytes), not both and not neither" }, 0)
  end
  if args.below_percent and args.below_bytes then
    error({ kind = "usage", message = "--below-percent or --below-bytes: one of them" }, 0)
  end
  if below then return low(ctx, args) end
  for _, iccid in ipairs(iccids) do checks.iccid(iccid) end
  if #iccids == 1 then return reads.get(ctx, "get_usage", { iccid = iccids[1] }) end
  return many(ctx, iccids)
end

local function percent(text)
  local n = tonumber(text)
  if not n or n < 0 or n > 100 then return nil, "must be a number from 0 to 100" end
  return n
end

return {
  name = "usage",
  summary = "data use of one or more SIMs, or the SIMs running low",
  description = "With one ICCID: its usage record. With several: one row each (read 16 at a time). With " ..
    "--below-percent or --below-bytes: every SIM in use whose remaining data is under it, streamed.",
  arguments = { { "iccid", args = "*", description = "the SIMs' ICCIDs" } },
  options = {
    { "--below-percent", arg = "P", convert = percent, description = "SIMs with less than P % of their data left" },
    { "--below-bytes", arg = "N", convert = checks.whole, description = "SIMs with less than N bytes left" },
    { "--chip-type", arg = "TYPE", choices = { "esim", "psim" }, description = "with --below-*: only this chip" },
  },
  examples = { "flexiroam usage 8910300000000000018", "flexiroam usage --below-percent 10 -o csv" },
  run = run,
}
