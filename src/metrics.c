/*
 * metrics.c: the daemon's Prometheus metrics. Series are kept in a small
 * table under one mutex (updates are a lookup and an add; the traffic of a
 * call log is modest). Each metric keeps at most METRIC_SERIES_MAX label
 * sets, so a client sending made-up tool names cannot grow it without
 * bound: further label sets are counted under "other".
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "metrics.h"
#include "xmalloc.h"

#define METRIC_SERIES_MAX 64
#define LABELS_MAX        192

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

enum metric_id {
    M_WEBHOOK_REQUESTS,
    M_WEBHOOK_SECONDS,
    M_MCP_REQUESTS,
    M_MCP_SECONDS,
    M_TOOL_SECONDS,
    M_PRIVATE_REQUESTS,
    M_COUNT
};

static const struct {
    const char *name;
    const char *help;
    bool histogram;
} metric_defs[M_COUNT] = {
    [M_WEBHOOK_REQUESTS] = {"phonely_webhook_requests_total",
                            "Webhook requests answered, by HTTP status and outcome.", false},
    [M_WEBHOOK_SECONDS] = {"phonely_webhook_ack_seconds",
                           "Time from a webhook request's arrival to its answer.", true},
    [M_MCP_REQUESTS] = {"phonely_mcp_requests_total",
                        "MCP requests served, by method, tool and outcome.", false},
    [M_MCP_SECONDS] = {"phonely_mcp_request_seconds", "Time to serve an MCP request, by method.",
                       true},
    [M_TOOL_SECONDS] = {"phonely_mcp_tool_seconds", "Time to run an MCP tool call, by tool.", true},
    [M_PRIVATE_REQUESTS] = {"phonely_private_requests_total",
                            "Requests the private listener refused (status) or routed (0).", false},
};

struct series {
    char labels[LABELS_MAX];
    uint64_t count;
    double sum;
    uint64_t buckets[NBOUNDS]; /* not cumulative; summed when rendered */
};

struct metrics {
    pthread_mutex_t lock;
    struct series series[M_COUNT][METRIC_SERIES_MAX];
    size_t nseries[M_COUNT];
};

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof *m);

    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Append name="value" to a label list, escaping as the text format requires. */
static void label_add(char *out, size_t outsz, const char *name, const char *value)
{
    size_t o = strlen(out);
    int n = snprintf(out + o, outsz - o, "%s%s=\"", o > 0 ? "," : "", name);

    if (n < 0 || (size_t)n >= outsz - o)
        return;
    o += (size_t)n;
    for (const char *p = value != NULL ? value : ""; *p != '\0' && o + 4 < outsz; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if ((unsigned char)*p >= 0x20) {
            out[o++] = *p;
        }
    }
    if (o + 2 <= outsz)
        out[o++] = '"';
    out[o] = '\0';
}

/* The series with these labels; once the table is full, the shared "other" one. */
static struct series *series_get(struct metrics *m, enum metric_id id, const char *labels)
{
    size_t n = m->nseries[id];
    struct series *other = &m->series[id][METRIC_SERIES_MAX - 1];

    for (size_t i = 0; i < n; i++)
        if (strcmp(m->series[id][i].labels, labels) == 0)
            return &m->series[id][i];
    if (n < METRIC_SERIES_MAX - 1) {
        snprintf(m->series[id][n].labels, LABELS_MAX, "%s", labels);
        m->nseries[id] = n + 1;
        return &m->series[id][n];
    }
    if (n == METRIC_SERIES_MAX - 1) {
        snprintf(other->labels, LABELS_MAX, "overflow=\"other\"");
        m->nseries[id] = METRIC_SERIES_MAX;
    }
    return other;
}

static void observe(struct metrics *m, enum metric_id id, const char *labels, double value)
{
    struct series *s;

    pthread_mutex_lock(&m->lock);
    s = series_get(m, id, labels);
    s->count++;
    s->sum += value;
    if (metric_defs[id].histogram) {
        for (size_t i = 0; i < NBOUNDS; i++) {
            if (value <= latency_bounds[i]) {
                s->buckets[i]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_webhook(struct metrics *m, unsigned status, const char *outcome, double seconds)
{
    char labels[LABELS_MAX] = "", code[8];

    if (m == NULL)
        return;
    snprintf(code, sizeof code, "%u", status);
    label_add(labels, sizeof labels, "status", code);
    label_add(labels, sizeof labels, "outcome", outcome);
    observe(m, M_WEBHOOK_REQUESTS, labels, 1);
    if (status >= 200 && status < 300)
        observe(m, M_WEBHOOK_SECONDS, "", seconds);
}

void metrics_mcp(void *arg, const char *method, const char *tool, const char *outcome,
                 double seconds)
{
    struct metrics *m = arg;
    char labels[LABELS_MAX] = "", by_method[LABELS_MAX] = "", by_tool[LABELS_MAX] = "";

    if (m == NULL)
        return;
    label_add(labels, sizeof labels, "method", method);
    label_add(labels, sizeof labels, "tool", tool != NULL ? tool : "");
    label_add(labels, sizeof labels, "outcome", outcome);
    observe(m, M_MCP_REQUESTS, labels, 1);
    label_add(by_method, sizeof by_method, "method", method);
    observe(m, M_MCP_SECONDS, by_method, seconds);
    if (tool != NULL) {
        label_add(by_tool, sizeof by_tool, "tool", tool);
        observe(m, M_TOOL_SECONDS, by_tool, seconds);
    }
}

void metrics_private(void *arg, const char *route, unsigned status)
{
    struct metrics *m = arg;
    char labels[LABELS_MAX] = "", code[8];

    if (m == NULL)
        return;
    snprintf(code, sizeof code, "%u", status);
    label_add(labels, sizeof labels, "route", route);
    label_add(labels, sizeof labels, "status", code);
    observe(m, M_PRIVATE_REQUESTS, labels, 1);
}

static void render_series(struct buf *b, enum metric_id id, const struct series *s)
{
    const char *name = metric_defs[id].name;
    const char *sep = s->labels[0] != '\0' ? "," : "";

    if (!metric_defs[id].histogram) {
        buf_printf(b, "%s{%s} %llu\n", name, s->labels, (unsigned long long)s->count);
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += s->buckets[i];
        buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, s->labels, sep, latency_bounds[i],
                   (unsigned long long)cum);
    }
    buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep,
               (unsigned long long)s->count);
    if (s->labels[0] == '\0')
        buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, s->sum, name,
                   (unsigned long long)s->count);
    else
        buf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, s->labels, s->sum, name,
                   s->labels, (unsigned long long)s->count);
}

static void gauge(struct buf *b, const char *name, const char *help, const char *type,
                  long long value)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, value);
}

char *metrics_render(struct metrics *m, const struct metrics_gauges *g)
{
    struct buf b = {0};

    pthread_mutex_lock(&m->lock);
    for (int id = 0; id < M_COUNT; id++) {
        buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", metric_defs[id].name, metric_defs[id].help,
                   metric_defs[id].name, metric_defs[id].histogram ? "histogram" : "counter");
        for (size_t i = 0; i < m->nseries[id]; i++)
            render_series(&b, (enum metric_id)id, &m->series[id][i]);
    }
    pthread_mutex_unlock(&m->lock);

    if (g->nbatch > 0) {
        uint64_t cum = 0;
        buf_puts(&b, "# HELP phonely_commit_batch_size Deliveries committed per transaction.\n"
                     "# TYPE phonely_commit_batch_size histogram\n");
        for (size_t i = 0; i < g->nbatch; i++) {
            cum += g->batch_hist[i];
            if (i + 1 < g->nbatch)
                buf_printf(&b, "phonely_commit_batch_size_bucket{le=\"%u\"} %llu\n",
                           g->batch_bounds[i], (unsigned long long)cum);
        }
        buf_printf(&b, "phonely_commit_batch_size_bucket{le=\"+Inf\"} %llu\n",
                   (unsigned long long)cum);
        buf_printf(&b, "phonely_commit_batch_size_sum %llu\nphonely_commit_batch_size_count %llu\n",
                   (unsigned long long)g->committed_deliveries, (unsigned long long)g->commits);
    }
    gauge(&b, "phonely_commits_total", "Transactions committed by the writer.", "counter",
          (long long)g->commits);
    gauge(&b, "phonely_commit_failures_total",
          "Transactions that failed (the deliveries in them were answered 503).", "counter",
          (long long)g->commit_failures);
    gauge(&b, "phonely_wal_syncs_total",
          "WAL flushes that made grouped commits durable (one may cover several commits).",
          "counter", (long long)g->wal_syncs);
    gauge(&b, "phonely_wal_sync_failures_total",
          "WAL flushes that failed (the deliveries waiting on them were answered 503).", "counter",
          (long long)g->wal_sync_failures);
    gauge(&b, "phonely_retention_sweeps_total", "Retention sweeps run by this daemon.", "counter",
          (long long)g->retention_sweeps);
    gauge(&b, "phonely_retention_failures_total",
          "Retention sweeps that stopped on an error (logged; the next one goes on).", "counter",
          (long long)g->retention_failures);
    gauge(&b, "phonely_retention_removed_calls_total",
          "Calls removed by this daemon's retention sweeps.", "counter",
          (long long)g->retention_calls);
    gauge(&b, "phonely_retention_removed_deliveries_total",
          "Deliveries (with their bodies) removed by this daemon's retention sweeps.", "counter",
          (long long)g->retention_deliveries);
    buf_printf(&b,
               "# HELP phonely_retention_longest_batch_seconds The longest one batch of"
               " retention took (its transaction, and any checkpoint after it).\n"
               "# TYPE phonely_retention_longest_batch_seconds gauge\n"
               "phonely_retention_longest_batch_seconds %.6f\n",
               g->retention_longest_batch_s);
    gauge(&b, "phonely_mcp_sessions", "MCP sessions open over HTTP.", "gauge",
          (long long)g->mcp_sessions);
    gauge(&b, "phonely_database_bytes", "Size of the database file and its WAL.", "gauge",
          (long long)g->db_bytes);
    if (g->calls >= 0)
        gauge(&b, "phonely_calls", "Calls stored.", "gauge", (long long)g->calls);
    if (g->deliveries >= 0)
        gauge(&b, "phonely_deliveries", "Deliveries logged.", "gauge", (long long)g->deliveries);
    if (g->audit != NULL) {
        gauge(&b, "phonely_audit_recorded_total", "MCP tool calls and resource reads audited.",
              "counter", (long long)g->audit->recorded);
        gauge(&b, "phonely_audit_written_total", "Audit entries committed.", "counter",
              (long long)g->audit->written);
        gauge(&b, "phonely_audit_dropped_total",
              "Audit entries lost because the queue to the audit writer was full.", "counter",
              (long long)g->audit->dropped);
        gauge(&b, "phonely_audit_failed_total", "Audit entries lost because their commit failed.",
              "counter", (long long)g->audit->failed);
        gauge(&b, "phonely_audit_purged_total", "Audit entries removed after audit_retention_days.",
              "counter", (long long)g->audit->purged);
        gauge(&b, "phonely_audit_queued", "Audit entries waiting for the audit writer.", "gauge",
              (long long)g->audit->queued);
    }
    return buf_steal(&b, NULL);
}
