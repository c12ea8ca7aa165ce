/*
 * private_http.c: the private listener (default 127.0.0.1:9090): MCP over
 * Streamable HTTP at /mcp, the stored events at /phonely/events/{callId},
 * /metrics and /healthz. Every request passes the same guard first: Host
 * and Origin against DNS rebinding, then the bearer token. Nothing here
 * owns state; the routes' owners do.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "log.h"
#include "private_http.h"

#define EVENTS_PATH "/phonely/events/"

static bool is_loopback_name(const char *host, size_t len)
{
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (len == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
           (len == 5 && strncmp(host, "[::1]", 5) == 0) ||
           (len == 3 && strncmp(host, "::1", 3) == 0);
}

/* True when name[0..len) is one of the space-separated entries of list (case-insensitive). */
static bool in_list(const char *list, const char *name, size_t len)
{
    const char *p = list;

    while (p != NULL && *p != '\0') {
        size_t n;
        p += strspn(p, " \t,");
        n = strcspn(p, " \t,");
        if (n == len && n > 0 && strncasecmp(p, name, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The host part of "host", "host:port" or "[v6]:port". */
static size_t host_part(const char *s)
{
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        return end != NULL ? (size_t)(end - s + 1) : strlen(s);
    }
    return strcspn(s, ":");
}

unsigned private_check_host(const struct config *cfg, const char *host)
{
    size_t n;

    if (host == NULL || host[0] == '\0')
        return MHD_HTTP_BAD_REQUEST;
    n = host_part(host);
    if (is_loopback_name(host, n) || in_list(cfg->allowed_hosts, host, n))
        return 0;
    /* The address the listener is bound to, when it is a specific one. */
    if (strcmp(cfg->private_listen.host, "0.0.0.0") != 0 &&
        strcmp(cfg->private_listen.host, "::") != 0 && strlen(cfg->private_listen.host) == n &&
        strncasecmp(cfg->private_listen.host, host, n) == 0)
        return 0;
    return MHD_HTTP_FORBIDDEN;
}

unsigned private_check_origin(const struct config *cfg, const char *origin)
{
    const char *h;

    if (origin == NULL)
        return 0; /* not a browser, or a same-origin request */
    if (in_list(cfg->allowed_origins, origin, strlen(origin)))
        return 0;
    if (strncasecmp(origin, "http://", 7) == 0)
        h = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        h = origin + 8;
    else
        return MHD_HTTP_FORBIDDEN; /* "null", file://, other schemes */
    if (strchr(h, '/') != NULL)
        return MHD_HTTP_FORBIDDEN;
    return is_loopback_name(h, host_part(h)) ? 0 : MHD_HTTP_FORBIDDEN;
}

static enum MHD_Result private_refuse(struct private_ctx *ctx, struct MHD_Connection *conn,
                                      const char *route, unsigned status, const char *code,
                                      const char *message)
{
    if (ctx->observe != NULL)
        ctx->observe(ctx->arg, route, status);
    if (status == MHD_HTTP_UNAUTHORIZED)
        return http_reply_json(conn, status,
                               "{\"error\":\"unauthorized\",\"message\":\"send Authorization: "
                               "Bearer <token>\"}\n",
                               MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"phonely-mcp\"");
    return http_reply_error_allow(conn, status, code, message, "GET");
}

static bool private_authorized(struct private_ctx *ctx, struct MHD_Connection *conn)
{
    const char *v = http_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tokens[1] = {ctx->cfg->token};

    if (!ctx->cfg->private_auth)
        return true;
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    while (*v == ' ')
        v++;
    return auth_token_match(v, strlen(v), tokens, 1);
}

static const char *route_of(const char *url)
{
    if (strcmp(url, "/mcp") == 0)
        return "mcp";
    if (strncmp(url, EVENTS_PATH, sizeof EVENTS_PATH - 1) == 0)
        return "event";
    if (strcmp(url, "/metrics") == 0)
        return "metrics";
    if (strcmp(url, "/healthz") == 0)
        return "healthz";
    return "other";
}

enum MHD_Result private_handle(void *arg, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *upload, size_t *upload_size,
                               void **req_cls)
{
    struct private_ctx *ctx = arg;
    const char *route = route_of(url);
    bool get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    unsigned status;

    if (*req_cls != NULL) /* a /mcp request in progress */
        return mcp_http_handle(ctx->mcp, conn, method, upload, upload_size, req_cls);

    if ((status = private_check_host(ctx->cfg, http_header(conn, MHD_HTTP_HEADER_HOST))) != 0)
        return private_refuse(ctx, conn, route, status, "forbidden_host",
                              "the Host header is not one this server answers to");
    if ((status = private_check_origin(ctx->cfg, http_header(conn, "Origin"))) != 0)
        return private_refuse(ctx, conn, route, status, "forbidden_origin",
                              "requests from this Origin are not allowed");
    if (strcmp(route, "healthz") == 0 && ctx->healthz != NULL) {
        if (!get)
            return private_refuse(ctx, conn, route, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method_not_allowed", "use GET");
        return ctx->healthz(ctx->arg, conn);
    }
    if (!private_authorized(ctx, conn))
        return private_refuse(ctx, conn, route, MHD_HTTP_UNAUTHORIZED, NULL, NULL);

    if (strcmp(route, "mcp") == 0 && ctx->mcp != NULL) {
        if (ctx->observe != NULL)
            ctx->observe(ctx->arg, route, 0);
        return mcp_http_handle(ctx->mcp, conn, method, upload, upload_size, req_cls);
    }
    if (strcmp(route, "event") == 0 && ctx->event != NULL) {
        if (!get)
            return private_refuse(ctx, conn, route, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method_not_allowed", "use GET");
        return ctx->event(ctx->arg, conn, url + sizeof EVENTS_PATH - 1);
    }
    if (strcmp(route, "metrics") == 0 && ctx->metrics != NULL) {
        if (!get)
            return private_refuse(ctx, conn, route, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method_not_allowed", "use GET");
        return ctx->metrics(ctx->arg, conn);
    }
    return private_refuse(ctx, conn, route, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

void private_completed(void *arg, void *req)
{
    struct private_ctx *ctx = arg;

    mcp_http_completed(ctx->mcp, req);
}
