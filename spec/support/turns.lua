--- Runs functions as coroutines taking turns: each is resumed in order,
-- once a round, until every one has ended; a function yields wherever it
-- gives the others a turn (a transport or a store that yields before each
-- request, say).
--   local results = require("spec.support.turns").run { f, g }   -- { {f's answers}, {g's answers} }
local turns = {}

function turns.run(fns)
  local cos, results = {}, {}
  for i, f in ipairs(fns) do cos[i] = coroutine.create(function() results[i] = { f() } end) end
  local alive = #cos
  while alive > 0 do
    alive = 0
    for _, co in ipairs(cos) do
      if coroutine.status(co) ~= "dead" then
        local ok, err = coroutine.resume(co)
        assert(ok, err)
        if coroutine.status(co) ~= "dead" then alive = alive + 1 end
      end
    end
  end
  return results
end

return turns
