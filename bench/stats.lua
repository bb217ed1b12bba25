--- What the benchmarks make of their rounds.
local stats = {}

--- The median of a list of numbers (the list itself is left as it is).
function stats.median(list)
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  local n = #sorted
  if n % 2 == 1 then return sorted[(n + 1) / 2] end
  return (sorted[n / 2] + sorted[n / 2 + 1]) / 2
end

return stats
