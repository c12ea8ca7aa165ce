/* mcp_http.h: MCP over Streamable HTTP at /mcp (HTTP layer, private). */
#ifndef PHONELY_MCP_HTTP_H
#define PHONELY_MCP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "mcp.h"
#include "store.h"

struct mcp_http_opts {
    struct mcp_server *srv;
    const char *db_path;
    struct store_options store; /* each worker opens its own connection */
    unsigned workers;           /* requests served at once */
    unsigned max_sessions;
    unsigned session_idle_s; /* sessions unused this long are dropped */
    size_t body_max;
};

struct mcp_http;

/* Start the workers (each opens its store). The caller owns the result. */
struct mcp_http *mcp_http_new(const struct mcp_http_opts *opts, struct err *err);
/*
 * Stop taking requests, let the running ones finish and resume their
 * connections; then the listener may be stopped and mcp_http_free called.
 */
void mcp_http_quiesce(struct mcp_http *h);
void mcp_http_free(struct mcp_http *h);

/*
 * Serve one request to /mcp (authentication, Host and Origin are checked
 * by the caller). Same contract as an http_handler_fn; the caller's
 * completed callback must call mcp_http_completed for *req_cls.
 */
enum MHD_Result mcp_http_handle(struct mcp_http *h, struct MHD_Connection *conn, const char *method,
                                const char *upload, size_t *upload_size, void **req_cls);
void mcp_http_completed(struct mcp_http *h, void *req);

struct mcp_http_stats {
    unsigned sessions;
    unsigned long long requests;
};
void mcp_http_get_stats(struct mcp_http *h, struct mcp_http_stats *out);

#endif
