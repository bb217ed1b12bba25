--- The options of flexiroam.new, each with its type (LuaLS syntax), its
-- default and what it does, for the reference manual
-- (tools/ldoc_operations.lua) and the editor types (tools/types.lua).
-- spec/docs_spec.lua checks this list against the options flexiroam.new
-- accepts, both ways.
return {
  { "api_key", "string", "$FLEXIROAM_API_KEY", "sent as x-api-key; kept in a closure, never in a field, an error" ..
    " or a tostring" },
  { "base_url", "string", "$FLEXIROAM_BASE_URL, else https://solutions-api.flexiroam.com", "http:// is refused" ..
    " unless the host is loopback or allow_insecure_http is true" },
  { "allow_insecure_http", "boolean", "false", "allow http:// to a host that is not loopback" },
  { "connect_timeout_ms", "integer", "10000", "TCP and TLS connect" },
  { "timeout_ms", "integer", "60000", "one attempt" },
  { "low_speed_bytes", "integer", "1", "once the answer has begun, fewer bytes than this within low_speed_ms" ..
    " is a timeout (0 turns it off)" },
  { "low_speed_ms", "integer", "30000", "the window of low_speed_bytes" },
  { "max_response_bytes", "integer", "32 MiB", "a larger answer is a too_large error" },
  { "ca_file", "string", "the system store", "extra trust anchors, a file" },
  { "ca_path", "string", "the system store", "extra trust anchors, a directory" },
  { "verify", "boolean", "true", "false turns TLS verification off (and logs a warning)" },
  { "proxy", "string", "libcurl's proxy environment variables", 'a proxy URL; "" ignores the environment' },
  { "user_agent", "string", "none", "appended to flexiroam-lua/VERSION (LUA; TRANSPORT)" },
  { "operations", "table<string, flexiroam.Operation>", "none", "operations corrected or added by name, merged" ..
    " field by field over flexiroam.operations" },
  { "check_iccid", "boolean", "true", "false sends any iccid unchecked" },
  { "retries", "integer", "2", "attempts after the first (0: none)" },
  { "deadline_ms", "number", "none", "one bound on every attempt, wait and lookup of a call" },
  { "retry_base_ms", "number", "500", "full-jitter backoff: the first wait's bound" },
  { "retry_cap_ms", "number", "8000", "full-jitter backoff: the largest wait's bound" },
  { "max_retry_after_ms", "number", "60000", "a longer Retry-After ends the call instead of sleeping" },
  { "correlation_header", "string", "none", 'a header ("x-correlation-id") carrying a fresh id per call, the same' ..
    " on every retry" },
  { "logger", "fun(level: string, event: table)", "warnings to stderr", "receives every event" },
  { "log", '"debug"|"info"', "$FLEXIROAM_LOG", "a stderr logger at that level" },
  { "clock", "table", "the real clock", "{now =, sleep =, random =, time =}, for tests" },
  { "on_request", "fun(event: table)", "none", "each attempt, before it is sent" },
  { "on_response", "fun(event: table)", "none", "each answer that arrived (any status)" },
  { "on_retry", "fun(event: table)", "none", "a failed attempt that will be tried again" },
  { "on_error", "fun(event: table)", "none", "each failure; final = true for the error the call returns" },
  { "on_cache", "fun(event: table)", "none", "a call through the catalogue cache: hit, stale, wait, miss, ..." },
  { "rate_limit", "number", "none", "requests a second for the client (with shared: for every client of the key)" },
  { "shared", "string|table", "none", "a store (flexiroam.store) or, inside nginx, a lua_shared_dict's name: one" ..
    " rate limit, catalogue cache and claim per SIM for a fleet" },
  { "n_workers", "integer", "nginx's workers, else 1", "with shared: each process paces itself at rate_limit /" ..
    " n_workers while the store cannot answer" },
  { "cache", "false|table", "with shared: list_plans kept 300 s", "{ttl =, stale =, errors =, lock_ms =, shared =}" ..
    " for the catalogue cache; false turns it off" },
  { "transport", '"curl"|"ngx"|table', '"ngx" inside nginx, else "curl"', "what requests go through: an object" ..
    " with :request keeps the transport contract (docs/transport.md)" },
}
