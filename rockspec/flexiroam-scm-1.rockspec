rockspec_format = "3.0"
package = "flexiroam"
version = "scm-1"
-- The development rockspec: `luarocks make` from a checkout. The release's
-- rockspec (flexiroam-VERSION-1.rockspec) is made from this one by
-- `make rockspec`: edit this file, never that one.
source = { url = "git+https://github.com/flexiroam-lua/flexiroam-lua.git" }
description = {
  summary = "Lua SDK for the Flexiroam Solutions API V3 (eSIMs, data plans, subscriptions)",
  detailed = "A C core (libcurl HTTP, a JSON codec that keeps integers exact) under a thin Lua layer.",
  homepage = "https://github.com/flexiroam-lua/flexiroam-lua",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  -- The sandbox (bin/flexiroam-sandbox) listens with LuaSocket (Debian: lua-socket).
  "luasocket",
}
external_dependencies = {
  -- Only the library: Debian keeps curl.h under a multiarch directory that
  -- luarocks does not search, while the compiler finds it on its own.
  CURL = { library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["flexiroam.core"] = {
      sources = {
        "src/buffer.c", "src/clock.c", "src/core.c", "src/curl_global.c", "src/error.c", "src/handle.c", "src/json.c",
        "src/json_decode.c", "src/json_encode.c", "src/lock.c", "src/multi.c", "src/options.c", "src/session.c",
        "src/session_response.c", "src/terminal.c",
      },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    ["flexiroam"] = "lua/flexiroam/init.lua",
    ["flexiroam.batch"] = "lua/flexiroam/batch.lua",
    ["flexiroam.cache"] = "lua/flexiroam/cache.lua",
    ["flexiroam.client"] = "lua/flexiroam/client.lua",
    ["flexiroam.clock"] = "lua/flexiroam/clock.lua",
    ["flexiroam.claims"] = "lua/flexiroam/claims.lua",
    ["flexiroam.compat"] = "lua/flexiroam/compat.lua",
    ["flexiroam.dates"] = "lua/flexiroam/dates.lua",
    ["flexiroam.dependencies"] = "lua/flexiroam/dependencies.lua",
    ["flexiroam.digest"] = "lua/flexiroam/digest.lua",
    ["flexiroam.errors"] = "lua/flexiroam/errors.lua",
    ["flexiroam.fields"] = "lua/flexiroam/fields.lua",
    ["flexiroam.esim"] = "lua/flexiroam/esim.lua",
    ["flexiroam.http_head"] = "lua/flexiroam/http_head.lua",
    ["flexiroam.jobs"] = "lua/flexiroam/jobs.lua",
    ["flexiroam.models"] = "lua/flexiroam/models.lua",
    ["flexiroam.journal"] = "lua/flexiroam/journal.lua",
    ["flexiroam.json"] = "lua/flexiroam/json.lua",
    ["flexiroam.limiter"] = "lua/flexiroam/limiter.lua",
    ["flexiroam.misuse"] = "lua/flexiroam/misuse.lua",
    ["flexiroam.observe"] = "lua/flexiroam/observe.lua",
    ["flexiroam.operations"] = "lua/flexiroam/operations.lua",
    ["flexiroam.options"] = "lua/flexiroam/options.lua",
    ["flexiroam.pipeline"] = "lua/flexiroam/pipeline.lua",
    ["flexiroam.progress"] = "lua/flexiroam/progress.lua",
    ["flexiroam.reference"] = "lua/flexiroam/reference.lua",
    ["flexiroam.response"] = "lua/flexiroam/response.lua",
    ["flexiroam.retry"] = "lua/flexiroam/retry.lua",
    ["flexiroam.store"] = "lua/flexiroam/store.lua",
    ["flexiroam.store.ngx_shared"] = "lua/flexiroam/store/ngx_shared.lua",
    ["flexiroam.store.redis"] = "lua/flexiroam/store/redis.lua",
    ["flexiroam.transport"] = "lua/flexiroam/transport/init.lua",
    ["flexiroam.transport.curl"] = "lua/flexiroam/transport/curl.lua",
    ["flexiroam.transport.ngx"] = "lua/flexiroam/transport/ngx.lua",
    ["flexiroam.transport.ngx_multi"] = "lua/flexiroam/transport/ngx_multi.lua",
    ["flexiroam.url"] = "lua/flexiroam/url.lua",
    ["flexiroam.sandbox.catalogue"] = "lua/flexiroam/sandbox/catalogue.lua",
    ["flexiroam.sandbox.control"] = "lua/flexiroam/sandbox/control.lua",
    ["flexiroam.sandbox.cursor"] = "lua/flexiroam/sandbox/cursor.lua",
    ["flexiroam.sandbox.fault_routes"] = "lua/flexiroam/sandbox/fault_routes.lua",
    ["flexiroam.sandbox.faults"] = "lua/flexiroam/sandbox/faults.lua",
    ["flexiroam.sandbox.handler"] = "lua/flexiroam/sandbox/handler.lua",
    ["flexiroam.sandbox.http1"] = "lua/flexiroam/sandbox/http1.lua",
    ["flexiroam.sandbox.input"] = "lua/flexiroam/sandbox/input.lua",
    ["flexiroam.sandbox.inventory"] = "lua/flexiroam/sandbox/inventory.lua",
    ["flexiroam.sandbox.keys"] = "lua/flexiroam/sandbox/keys.lua",
    ["flexiroam.sandbox.ledger"] = "lua/flexiroam/sandbox/ledger.lua",
    ["flexiroam.sandbox.list_inventory"] = "lua/flexiroam/sandbox/list_inventory.lua",
    ["flexiroam.sandbox.orders"] = "lua/flexiroam/sandbox/orders.lua",
    ["flexiroam.sandbox.paging"] = "lua/flexiroam/sandbox/paging.lua",
    ["flexiroam.sandbox.plans"] = "lua/flexiroam/sandbox/plans.lua",
    ["flexiroam.sandbox.query"] = "lua/flexiroam/sandbox/query.lua",
    ["flexiroam.sandbox.ratelimit"] = "lua/flexiroam/sandbox/ratelimit.lua",
    ["flexiroam.sandbox.routes"] = "lua/flexiroam/sandbox/routes.lua",
    ["flexiroam.sandbox.sales"] = "lua/flexiroam/sandbox/sales.lua",
    ["flexiroam.sandbox.server"] = "lua/flexiroam/sandbox/server.lua",
    ["flexiroam.sandbox.sims"] = "lua/flexiroam/sandbox/sims.lua",
    ["flexiroam.sandbox.subscriptions"] = "lua/flexiroam/sandbox/subscriptions.lua",
    ["flexiroam.sandbox.transport"] = "lua/flexiroam/sandbox/transport.lua",
    ["flexiroam.sandbox.usage"] = "lua/flexiroam/sandbox/usage.lua",
  },
  install = { bin = { ["flexiroam-sandbox"] = "bin/flexiroam-sandbox" } },
  -- Into the rock's own folder: the manual and guides, the examples, and the
  -- editor types (LuaLS: point workspace.library at library/).
  copy_directories = { "docs", "examples", "library" },
}
