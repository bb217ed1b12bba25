--- Peak RSS growth of one call against each hostile answer of
-- spec/support/http_test_server.lua, with max_response_bytes at 1 MiB and at
-- the default 32 MiB: the figures of docs/hostile-servers.md.
--   lua5.4 bench/hostile_memory.lua     (from the repository root, after make build)
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath
local procs = require "spec.support.test_processes"
local flexiroam = require "flexiroam"
local a = procs.http_server()
local memory = require "spec.support.memory"
local kb = memory.kb
local function peak(case, cap)
  collectgarbage("collect")
  memory.reset_peak()
  local before = kb("VmRSS")
  local base = "http://127.0.0.1:" .. a.port .. "/hostile/" .. case
  local c = flexiroam.new { api_key = "sk_bench_hostile", base_url = base, retries = 0, max_response_bytes = cap }
  local _, e = c:get_sim { iccid = "8910300000000000009" }
  collectgarbage("collect")
  return (kb("VmHWM") - before), e and e.kind or "ok"
end
print("| case | cap 1 MiB: outcome, peak growth | cap 32 MiB: outcome, peak growth |")
print("|---|---|---|")
for _, case in ipairs { "gzip_bomb", "gzip_endless", "endless", "huge_string,100", "huge_string,100,chunked",
  "header_line,1048576", "many_headers,100000", "json,huge_array", "json,many_keys", "json,deep_array" } do
  local p1, k1 = peak(case, 1048576)
  local p2, k2 = peak(case, 32 * 1048576)
  print(("| %s | %s, %d KiB | %s, %d KiB |"):format(case, k1, p1, k2, p2))
end
procs.stop(a)
