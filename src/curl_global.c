#include <pthread.h>

#include "curl_global.h"

/* curl_global_init is not guaranteed safe to race with itself, and several
 * Lua states (threads of a host program, nginx workers) may load the module.
 * curl_global_cleanup is never called: another state, or the host itself,
 * may still be using libcurl when one Lua state closes. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result = CURLE_FAILED_INIT;
static const curl_version_info_data *version_info;

static void global_init(void)
{
    global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    /* libcurl 7.x rewrites the static answer of curl_version_info on every
     * call, a data race between threads; asked once here, it is only read. */
    version_info = curl_version_info(CURLVERSION_NOW);
}

void fx_curl_global_init(lua_State *L)
{
    if (pthread_once(&global_once, global_init) != 0)
        luaL_error(L, "libcurl global init could not run");
    if (global_result != CURLE_OK)
        luaL_error(L, "libcurl global init failed: %s", curl_easy_strerror(global_result));
}

/* libcurl 7.83.0 (its header API) up to 8.0.x keeps, in each easy handle,
 * a pointer to the last header line it stored, and frees the stored lines
 * when the next transfer starts without clearing it (curl issue 11101,
 * fixed by curl PR 11103 for 8.1.0; the fold handling around it changed
 * again until 8.3.0, curl issues 11605 and 11620). A response whose first
 * header line is folded (starts with whitespace) is then appended to that
 * freed line: a read of freed memory, a realloc of it, a crash. It happens
 * before any callback of ours sees the line, and no option turns the
 * header store off, so on these versions every transfer runs on an easy
 * handle that has never run one (session.c, multi.c). 8.3.0 and later are
 * left alone. */
int fx_curl_keeps_last_header(void)
{
    unsigned int v;
    if (pthread_once(&global_once, global_init) != 0 || version_info == NULL)
        return 1;
    v = version_info->version_num;
    return v >= 0x075300 && v < 0x080300;
}

#define NAME(c) \
    case CURLE_##c: \
        return #c

const char *fx_curl_code_name(CURLcode code)
{
    switch (code) {
        NAME(OK);
        NAME(UNSUPPORTED_PROTOCOL);
        NAME(FAILED_INIT);
        NAME(URL_MALFORMAT);
        NAME(NOT_BUILT_IN);
        NAME(COULDNT_RESOLVE_PROXY);
        NAME(COULDNT_RESOLVE_HOST);
        NAME(COULDNT_CONNECT);
        NAME(WEIRD_SERVER_REPLY);
        NAME(REMOTE_ACCESS_DENIED);
        NAME(HTTP2);
        NAME(PARTIAL_FILE);
        NAME(HTTP_RETURNED_ERROR);
        NAME(WRITE_ERROR);
        NAME(UPLOAD_FAILED);
        NAME(READ_ERROR);
        NAME(OUT_OF_MEMORY);
        NAME(OPERATION_TIMEDOUT);
        NAME(RANGE_ERROR);
        NAME(HTTP_POST_ERROR);
        NAME(SSL_CONNECT_ERROR);
        NAME(BAD_DOWNLOAD_RESUME);
        NAME(FILE_COULDNT_READ_FILE);
        NAME(ABORTED_BY_CALLBACK);
        NAME(BAD_FUNCTION_ARGUMENT);
        NAME(INTERFACE_FAILED);
        NAME(TOO_MANY_REDIRECTS);
        NAME(UNKNOWN_OPTION);
        NAME(SETOPT_OPTION_SYNTAX);
        NAME(GOT_NOTHING);
        NAME(SSL_ENGINE_NOTFOUND);
        NAME(SSL_ENGINE_SETFAILED);
        NAME(SEND_ERROR);
        NAME(RECV_ERROR);
        NAME(SSL_CERTPROBLEM);
        NAME(SSL_CIPHER);
        NAME(PEER_FAILED_VERIFICATION);
        NAME(BAD_CONTENT_ENCODING);
        NAME(FILESIZE_EXCEEDED);
        NAME(USE_SSL_FAILED);
        NAME(SEND_FAIL_REWIND);
        NAME(SSL_ENGINE_INITFAILED);
        NAME(LOGIN_DENIED);
        NAME(SSL_CACERT_BADFILE);
        NAME(SSL_SHUTDOWN_FAILED);
        NAME(AGAIN);
        NAME(SSL_CRL_BADFILE);
        NAME(SSL_ISSUER_ERROR);
        NAME(CHUNK_FAILED);
        NAME(NO_CONNECTION_AVAILABLE);
        NAME(SSL_PINNEDPUBKEYNOTMATCH);
        NAME(SSL_INVALIDCERTSTATUS);
        NAME(HTTP2_STREAM);
        NAME(RECURSIVE_API_CALL);
        NAME(AUTH_ERROR);
        NAME(HTTP3);
        NAME(QUIC_CONNECT_ERROR);
        NAME(PROXY);
        NAME(SSL_CLIENTCERT);
        NAME(UNRECOVERABLE_POLL);
    default:
        return "UNKNOWN";
    }
}

#undef NAME

int fx_curl_version(lua_State *L)
{
    const curl_version_info_data *info;
    fx_curl_global_init(L);
    info = version_info;
    lua_pushstring(L, info->version);
    return 1;
}

int fx_curl_features(lua_State *L)
{
    const curl_version_info_data *info;
    fx_curl_global_init(L);
    info = version_info;
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, (info->features & CURL_VERSION_HTTP2) != 0);
    lua_setfield(L, -2, "http2");
    if (info->ssl_version != NULL)
        lua_pushstring(L, info->ssl_version);
    else
        lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ssl");
    lua_pushboolean(L, info->libz_version != NULL);
    lua_setfield(L, -2, "libz");
    return 1;
}
