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
#include <string.h>

#include <cjson/cJSON.h>

#include "http.h"
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
    struct http_listener *webhook_listener;
    struct http_listener *private_listener;
};

/* GET /healthz: the process answers and the database can be read. */
static enum MHD_Result serve_healthz(void *arg, struct MHD_Connection *conn)
{
    struct serve *s = arg;
    struct store_counts counts;
    struct err err = {0};
    char json[256];
    int rc;

    pthread_mutex_lock(&s->reader_lock);
    rc = store_counts(s->reader, &counts, &err);
    pthread_mutex_unlock(&s->reader_lock);
    if (rc == -1) {
        log_warnx("health check: %s", err.msg);
        snprintf(json, sizeof json, "{\"status\":\"error\",\"database\":\"%s\"}\n",
                 err_code_name(err.code));
        return http_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE, json, NULL, NULL);
    }
    snprintf(json, sizeof json,
             "{\"status\":\"ok\",\"database\":\"ok\",\"calls\":%lld,\"deliveries\":%lld,"
             "\"rejected\":%lld}\n",
             (long long)counts.calls, (long long)counts.deliveries, (long long)counts.rejected);
    return http_reply_json(conn, MHD_HTTP_OK, json, NULL, NULL);
}

/* The private listener: /healthz for now; MCP and the REST API come here. */
static enum MHD_Result serve_private(void *arg, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *upload, size_t *upload_size,
                                     void **req_cls)
{
    (void)upload;
    (void)upload_size;
    (void)req_cls;
    if (strcmp(url, "/healthz") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return http_reply_error_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                          "use GET", "GET, HEAD");
        return serve_healthz(arg, conn);
    }
    return http_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
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
    webhook_quiesce(&s->webhook);
    http_listener_stop(s->webhook_listener);
    http_listener_stop(s->private_listener);
    ingest_free(s->ingest);
    store_close(s->reader);
    auth_secrets_free(s->secrets);
    webhook_ctx_destroy(&s->webhook);
    pthread_mutex_destroy(&s->reader_lock);
}

int serve_run(const struct config *cfg)
{
    struct serve s = {.cfg = cfg};
    struct store_options wopt = {
        .busy_timeout_ms = cfg->busy_timeout_ms,
        .min_free_bytes = cfg->min_free_bytes,
    };
    struct store_options ropt = {.read_only = true, .busy_timeout_ms = cfg->busy_timeout_ms};
    struct store *writer;
    struct err err = {0};
    sigset_t set;
    int sig = 0;

    pthread_mutex_init(&s.reader_lock, NULL);
    webhook_ctx_init(&s.webhook);
    /* Block the stop signals in every thread; this one waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((writer = store_open(cfg->db_path, &wopt, &err)) == NULL)
        goto fail;
    if ((s.ingest = ingest_new(writer, cfg->commit_grouping ? cfg->commit_batch_max : 1, &err)) ==
        NULL) {
        store_close(writer);
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
    s.private_listener =
        serve_listen(&s, "private", &cfg->private_listen, serve_private, NULL, &s, &err);
    if (s.private_listener == NULL)
        goto fail;
    log_info("storing calls in %s (schema %d, commit grouping %s)", cfg->db_path,
             store_schema_version(), cfg->commit_grouping ? "on" : "off");

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
