--- What a list of orders (each with .iccid) says about the SIMs they were
-- sold on, for the claim specs: every order on a SIM of its own, or not.
--   local distinct, twice = require("spec.support.orders_per_sim").count(orders)
local M = {}

--- count(orders) -> how many distinct SIMs they are on, how many SIMs hold more than one
function M.count(orders)
  local per_sim, distinct, twice = {}, 0, 0
  for _, o in ipairs(orders) do
    local n = (per_sim[o.iccid] or 0) + 1
    per_sim[o.iccid] = n
    if n == 1 then distinct = distinct + 1 elseif n == 2 then twice = twice + 1 end
  end
  return distinct, twice
end

return M
