/* webhook.h: the webhook listener's request handling (HTTP layer). */
#ifndef PHONELY_WEBHOOK_H
#define PHONELY_WEBHOOK_H

#include <pthread.h>
#include <stdbool.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "metrics.h"

#define WEBHOOK_PATH "/phonely/webhook"

struct webhook_ctx {
    const struct config *cfg;
    struct ingest *ingest;
    const struct auth_secrets *secrets; /* NULL: signatures not checked */
    const char *tokens[2];              /* NULL entries: not configured */
    size_t ntokens;
    /* GET /healthz, answered by the owner of the store. */
    enum MHD_Result (*healthz)(void *arg, struct MHD_Connection *conn);
    void *healthz_arg;
    struct metrics *metrics; /* NULL: not counted */
    /* Requests waiting on the writer with a suspended connection; see webhook_quiesce. */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned waiting;
    bool stopping;
};

/* Set up and tear down the shutdown bookkeeping of a context. */
void webhook_ctx_init(struct webhook_ctx *ctx);
void webhook_ctx_destroy(struct webhook_ctx *ctx);

/*
 * Stop handing new bodies to the writer (they are answered 503) and wait
 * until every connection suspended on a commit has been resumed. After
 * this the listener can be stopped safely, then the writer freed.
 */
void webhook_quiesce(struct webhook_ctx *ctx);

/*
 * Where a request may carry its webhook token, in the order tried: the
 * path after WEBHOOK_PATH "/" in url, the "token" query argument, the
 * credentials of an "Authorization: Bearer ..." header and the
 * X-Webhook-Token header (each NULL when absent). Fills out with pointers
 * into those strings and returns how many (0..4). Pure, for testing.
 */
size_t webhook_token_candidates(const char *url, const char *query_token, const char *authorization,
                                const char *x_token, const char *out[4]);

enum MHD_Result webhook_handle(void *ctx, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *upload, size_t *upload_size,
                               void **req_cls);
void webhook_completed(void *ctx, void *req);

#endif
