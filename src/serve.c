/*
 * serve.c: wires the daemon together. One struct serve owns the writer
 * (which owns the read-write store), a read-only store for health checks,
 * the signature secrets and both listeners; serve_run builds it, waits for
 * a signal, and tears it down in reverse order so that every request
 * already accepted is committed before the process exits.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "auth.h"
#include "http.h"
#include "mcp_http.h"
#include "metrics.h"
#include "private_http.h"
#include "retention.h"
#include "tools.h"
#include "log.h"
#include "serve.h"
#include "store.h"
#include "webhook.h"
#include "xmalloc.h"

struct serve {
    const struct config *cfg;
    struct ingest *ingest;
    struct store *reader;
    pthread_mutex_t reader_lock;
    struct auth_secrets *secrets;
    struct webhook_ctx webhook;
    struct metrics *metrics;
    struct audit *audit;
    struct mcp_server *mcp_server;
    struct mcp_http *mcp;
    struct private_ctx priv;
    struct http_listener *webhook_listener;
    struct http_listener *private_listener;
    struct retention *retention;
};

/*
 * GET /healthz: 200 while the process answers, the database can be read
 * and the writer can still acknowledge deliveries. "writer" tells how its
 * latest commit went: "ok", "failing" with the error (a full disk or a
 * lock: it recovers by itself, so the answer stays 200), or
 * "needs_restart" after a failed flush of the WAL (503: nothing is
 * acknowledged any more until the daemon restarts).
 */
static enum MHD_Result serve_healthz(void *arg, struct MHD_Connection *conn)
{
    struct serve *s = arg;
    struct store_counts counts;
    struct ingest_stats is;
    struct err err = {0};
    char json[320], writer[96];
    bool needs_restart;
    int rc;

    ingest_get_stats(s->ingest, &is);
    needs_restart = is.failed_syncs > 0;
    if (needs_restart)
        snprintf(writer, sizeof writer, "\"writer\":\"needs_restart\",\"writerError\":\"%s\"",
                 err_code_name(is.last_error != ERR_NONE ? is.last_error : ERR_STORAGE));
    else if (is.last_failed)
        snprintf(writer, sizeof writer, "\"writer\":\"failing\",\"writerError\":\"%s\"",
                 err_code_name(is.last_error));
    else
        snprintf(writer, sizeof writer, "\"writer\":\"ok\"");
    pthread_mutex_lock(&s->reader_lock);
    rc = store_counts(s->reader, &counts, &err);
    pthread_mutex_unlock(&s->reader_lock);
    if (rc == -1) {
        log_warnx("health check: %s", err.msg);
        snprintf(json, sizeof json, "{\"status\":\"error\",\"database\":\"%s\",%s}\n",
                 err_code_name(err.code), writer);
        return http_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE, json, NULL, NULL);
    }
    snprintf(json, sizeof json,
             "{\"status\":\"%s\",\"database\":\"ok\",%s,\"calls\":%lld,\"deliveries\":%lld,"
             "\"rejected\":%lld}\n",
             needs_restart ? "error" : "ok", writer, (long long)counts.calls,
             (long long)counts.deliveries, (long long)counts.rejected);
    return http_reply_json(conn, needs_restart ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, json,
                           NULL, NULL);
}

/* GET /phonely/events/{callId}: the stored event as delivered (the capability spec's getEvent). */
static enum MHD_Result serve_event(void *arg, struct MHD_Connection *conn, const char *call_id)
{
    struct serve *s = arg;
    struct err err = {0};
    char *body = NULL;
    size_t len = 0;
    struct MHD_Response *resp;
    enum MHD_Result rc;
    int got;

    pthread_mutex_lock(&s->reader_lock);
    got = store_call_raw(s->reader, call_id, &body, &len, &err);
    pthread_mutex_unlock(&s->reader_lock);
    if (got == -1) {
        free(body);
        if (err.code == ERR_NOT_FOUND)
            return http_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no call with that id");
        log_warnx("event lookup: %s", err.msg);
        return http_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, err_code_name(err.code),
                                "the database could not be read");
    }
    resp = mhd.create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    mhd.add_response_header(resp, "Cache-Control", "no-store");
    rc = mhd.queue_response(conn, MHD_HTTP_OK, resp);
    mhd.destroy_response(resp);
    return rc;
}

static void serve_observe_private(void *arg, const char *route, unsigned status)
{
    struct serve *s = arg;

    metrics_private(s->metrics, route, status);
}

/* GET /metrics: Prometheus text format. */
static enum MHD_Result serve_metrics(void *arg, struct MHD_Connection *conn)
{
    struct serve *s = arg;
    struct ingest_stats is;
    struct retention_stats rs;
    struct mcp_http_stats hs;
    struct audit_stats as = {0};
    struct store_counts counts = {.calls = -1, .deliveries = -1};
    struct err err = {0};
    uint64_t bytes = 0;
    char *text;
    struct MHD_Response *resp;
    enum MHD_Result rc;

    ingest_get_stats(s->ingest, &is);
    mcp_http_get_stats(s->mcp, &hs);
    retention_get_stats(s->retention, &rs);
    if (s->audit != NULL)
        audit_get_stats(s->audit, &as);
    pthread_mutex_lock(&s->reader_lock);
    if (store_counts(s->reader, &counts, &err) == -1)
        counts.calls = counts.deliveries = -1;
    if (store_size(s->reader, &bytes, &err) == -1)
        bytes = 0;
    pthread_mutex_unlock(&s->reader_lock);
    struct metrics_gauges g = {
        .mcp_sessions = hs.sessions,
        .db_bytes = bytes,
        .calls = counts.calls,
        .deliveries = counts.deliveries,
        .commits = is.commits,
        .commit_failures = is.failed_commits,
        .wal_syncs = is.syncs,
        .wal_sync_failures = is.failed_syncs,
        .committed_deliveries = is.deliveries,
        .retention_sweeps = rs.sweeps,
        .retention_failures = rs.failures,
        .retention_calls = rs.calls,
        .retention_deliveries = rs.deliveries,
        .retention_longest_batch_s = rs.longest_batch_s,
        .batch_hist = is.batch_hist,
        .batch_bounds = ingest_batch_bounds,
        .nbatch = INGEST_BATCH_BUCKETS,
        .audit = s->audit != NULL ? &as : NULL,
    };
    text = metrics_render(s->metrics, &g);
    resp = mhd.create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    rc = mhd.queue_response(conn, MHD_HTTP_OK, resp);
    mhd.destroy_response(resp);
    return rc;
}

static struct http_listener *serve_listen(struct serve *s, const char *name,
                                          const struct listen_addr *addr, http_handler_fn handler,
                                          http_completed_fn completed, void *ctx, struct err *err)
{
    const struct config *cfg = s->cfg;
    struct http_listener_opts o = {
        .name = name,
        .addr = *addr,
        .threads = cfg->threads,
        .connection_limit = cfg->connection_limit,
        .per_ip_limit = cfg->per_ip_limit,
        .connection_timeout = cfg->connection_timeout,
        .header_deadline = cfg->request_deadline,
        .header_max = cfg->header_max,
        .handler = handler,
        .completed = completed,
        .ctx = ctx,
    };
    struct http_listener *l = http_listener_start(&o, err);

    if (l != NULL) {
        const char *host = addr->host;
        int v6 = strchr(host, ':') != NULL;
        log_info("%s listener ready on http://%s%s%s:%u", name, v6 ? "[" : "", host, v6 ? "]" : "",
                 http_listener_port(l));
    }
    return l;
}

static void serve_teardown(struct serve *s)
{
    /*
     * Let every request waiting on a commit be answered, then stop the
     * listeners (no new work), then let the writer commit what is left
     * (refusals queued without waiting) and close the store.
     */
    retention_stop(s->retention);
    webhook_quiesce(&s->webhook);
    mcp_http_quiesce(s->mcp);
    http_listener_stop(s->webhook_listener);
    http_listener_stop(s->private_listener);
    mcp_http_free(s->mcp);
    mcp_server_free(s->mcp_server);
    audit_stop(s->audit); /* after the last MCP request: commits every entry queued */
    ingest_free(s->ingest);
    store_close(s->reader);
    auth_secrets_free(s->secrets);
    webhook_ctx_destroy(&s->webhook);
    metrics_free(s->metrics);
    pthread_mutex_destroy(&s->reader_lock);
}

int serve_run(const struct config *cfg)
{
    struct serve s = {.cfg = cfg};
    struct store_options wopt = {
        .busy_timeout_ms = cfg->busy_timeout_ms,
        .min_free_bytes = cfg->min_free_bytes,
        .password = cfg->db_password,
    };
    struct store_options ropt = {
        .read_only = true,
        .busy_timeout_ms = cfg->busy_timeout_ms,
        .password = cfg->db_password,
    };
    struct store *writers[DB_WRITERS_MAX];
    size_t nwriters, n_open = 1;
    struct err err = {0};
    sigset_t set;
    int sig = 0;

    pthread_mutex_init(&s.reader_lock, NULL);
    webhook_ctx_init(&s.webhook);
    s.metrics = metrics_new();
    /* Block the stop signals in every thread; this one waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail for a valid signal */

    if (config_validate_private(cfg, &err) == -1)
        goto fail;
    if ((writers[0] = store_open(cfg->db_path, &wopt, &err)) == NULL)
        goto fail;
    nwriters = store_parallel_writes(writers[0]) ? cfg->db_writers : 1;
    while (n_open < nwriters && (writers[n_open] = store_open(cfg->db_path, &wopt, &err)) != NULL)
        n_open++;
    if (n_open < nwriters ||
        (s.ingest = ingest_new(writers, nwriters, cfg->commit_grouping ? cfg->commit_batch_max : 1,
                               &err)) == NULL) {
        while (n_open > 0)
            store_close(writers[--n_open]);
        goto fail;
    }
    if ((s.reader = store_open(cfg->db_path, &ropt, &err)) == NULL)
        goto fail;
    if (cfg->webhook_signing_secret != NULL &&
        (s.secrets = auth_secrets_parse(cfg->webhook_signing_secret, &err)) == NULL)
        goto fail;

    s.webhook.cfg = cfg;
    s.webhook.ingest = s.ingest;
    s.webhook.secrets = s.secrets;
    s.webhook.healthz = serve_healthz;
    s.webhook.healthz_arg = &s;
    s.webhook.metrics = s.metrics;
    if (cfg->webhook_token != NULL)
        s.webhook.tokens[s.webhook.ntokens++] = cfg->webhook_token;
    if (cfg->webhook_token_previous != NULL)
        s.webhook.tokens[s.webhook.ntokens++] = cfg->webhook_token_previous;
    if (s.webhook.ntokens == 0)
        log_warnx("no webhook_token is set: the loopback webhook listener accepts any request");

    s.webhook_listener = serve_listen(&s, "webhook", &cfg->webhook_listen, webhook_handle,
                                      webhook_completed, &s.webhook, &err);
    if (s.webhook_listener == NULL)
        goto fail;
    {
        struct mcp_server_opts mo = {
            .name = "phonely-mcp",
            .title = "Phonely call log",
            .version = PHONELY_VERSION,
            .instructions = tools_instructions(),
            .registry = tools_registry(),
            .read_only = !cfg->mcp_allow_writes,
            .app = (void *)cfg,
            .observe = metrics_mcp,
            .observe_arg = s.metrics,
        };
        struct mcp_http_opts ho = {
            .db_path = cfg->db_path,
            .store = {.read_only = !cfg->mcp_allow_writes,
                      .busy_timeout_ms = cfg->busy_timeout_ms,
                      .password = cfg->db_password},
            .workers = cfg->mcp_workers,
            .max_sessions = cfg->mcp_sessions_max,
            .session_idle_s = cfg->mcp_session_idle,
            .body_max = cfg->body_max,
        };
        unsigned char key[MCP_CURSOR_KEY_BYTES];

        /* Daemons sharing the token accept each other's cursors and sessions. */
        if (cfg->token != NULL) {
            auth_derive_key(cfg->token, "phonely-mcp sessions and cursors v1", key);
            mo.key = key;
        }
        if ((s.audit = audit_start_config(cfg)) != NULL) {
            mo.audit = audit_record;
            mo.audit_arg = s.audit;
        }
        s.mcp_server = mcp_server_new(&mo);
        ho.srv = s.mcp_server;
        if ((s.mcp = mcp_http_new(&ho, &err)) == NULL)
            goto fail;
    }
    s.priv = (struct private_ctx){
        .cfg = cfg,
        .mcp = s.mcp,
        .arg = &s,
        .healthz = serve_healthz,
        .event = serve_event,
        .metrics = serve_metrics,
        .observe = serve_observe_private,
    };
    s.private_listener = serve_listen(&s, "private", &cfg->private_listen, private_handle,
                                      private_completed, &s.priv, &err);
    if (s.private_listener == NULL)
        goto fail;
    if ((s.retention = retention_start(cfg, &err)) == NULL && err.code != ERR_NONE)
        goto fail;
    {
        char *shown = store_db_display(cfg->db_path);

        log_info("storing calls in %s (%s schema %d, commit grouping %s)", shown,
                 store_backend_name(s.reader), store_backend_schema(s.reader),
                 cfg->commit_grouping ? "on" : "off");
        free(shown);
    }

    while (sigwait(&set, &sig) != 0)
        ;
    log_info("received signal %d, shutting down", sig);
    serve_teardown(&s);
    return 0;

fail:
    log_warnx("serve: %s", err.msg);
    serve_teardown(&s);
    return 1;
}
