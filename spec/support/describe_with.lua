--- describe_with(missing, name, body): busted's describe(name, body) where
-- what the tests need (servers, tools) is here; else (`missing` says why)
-- one pending test that says so (declared pending, so it is counted as
-- skipped: a test that only calls pending() inside it would pass). Busted's describe, it and pending belong
-- to each spec file, out of reach of a support module, so a spec makes its
-- own:
--   local describe_with = require("spec.support.describe_with")(describe, it, pending)
return function(describe, _, pending) -- busted's it is not needed: kept for the callers
  return function(missing, name, body)
    describe(name, function()
      if not missing then return body() end
      pending("skipped: " .. missing)
    end)
  end
end
