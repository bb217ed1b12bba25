--- The pages of a list answer made from one text, for specs and benches that
-- read many pages while only one page's text stays alive:
--   local page_of = require("spec.support.paged_text")(template, pages)
--   page_of(url) -> the text with its "PAGE_KEY" (quotes included) made the
--                   next page's key ("k1", "k2", ...; null on the last page)
-- The url's page_key=kN says which page is asked (none: the first). The
-- text is cut once around the key: a gsub per page would scan the text up to
-- the key whenever the encoder put page_key last (the order of pairs changes
-- from process to process), and its result would be one more page alive.
local MARK = '"PAGE_KEY"'

return function(template, pages)
  local at = assert(template:find(MARK, 1, true), "the template has no " .. MARK)
  local before, after = template:sub(1, at - 1), template:sub(at + #MARK)
  return function(url)
    local p = tonumber(url:match("page_key=k(%d+)") or "0") + 1
    return before .. (p < pages and ('"k' .. p .. '"') or "null") .. after
  end
end
