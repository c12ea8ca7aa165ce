/* private_http.h: the private listener's guard and routes (HTTP layer, private). */
#ifndef PHONELY_PRIVATE_HTTP_H
#define PHONELY_PRIVATE_HTTP_H

#include "config.h"
#include "http.h"
#include "mcp_http.h"

/*
 * What the private listener serves. Handlers left NULL answer 404. The
 * REST and metrics handlers are called only after the guard passed.
 */
struct private_ctx {
    const struct config *cfg; /* token, private_auth, allowed_hosts, allowed_origins */
    struct mcp_http *mcp;     /* /mcp */
    void *arg;                /* first argument of the handlers below */
    enum MHD_Result (*healthz)(void *arg, struct MHD_Connection *conn);
    enum MHD_Result (*event)(void *arg, struct MHD_Connection *conn, const char *call_id);
    enum MHD_Result (*metrics)(void *arg, struct MHD_Connection *conn);
    /* Called once per answered request: route ("mcp", "event", ...) and status class. */
    void (*observe)(void *arg, const char *route, unsigned status);
};

/*
 * Every request: Host must be a loopback name or in allowed_hosts (else
 * 403), an Origin, when sent, must be a loopback origin or in
 * allowed_origins (else 403: DNS rebinding), and, except for /healthz,
 * with private_auth the Authorization: Bearer token must match (else 401
 * with WWW-Authenticate). Tokens in the query string are never looked at.
 */
enum MHD_Result private_handle(void *ctx, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *upload, size_t *upload_size,
                               void **req_cls);
void private_completed(void *ctx, void *req);

/* The checks alone, for tests: 0 when allowed, else the HTTP status to answer. */
unsigned private_check_host(const struct config *cfg, const char *host);
unsigned private_check_origin(const struct config *cfg, const char *origin);

#endif
