--- describe_with(missing, name, body): busted's describe(name, body) where
-- what the tests need (servers, tools) is here; else (`missing` says why)
-- one pending test that says so. Busted's describe, it and pending belong
-- to each spec file, out of reach of a support module, so a spec makes its
-- own:
--   local describe_with = require("spec.support.describe_with")(describe, it, pending)
return function(describe, it, pending)
  return function(missing, name, body)
    describe(name, function()
      if not missing then return body() end
      it("needs what is missing here", function() pending("skipped: " .. missing) end)
    end)
  end
end
