/* metrics.h: counters and histograms, rendered in the Prometheus text format. */
#ifndef PHONELY_METRICS_H
#define PHONELY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct audit_stats;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One answered webhook request: HTTP status, outcome label, time to the answer. */
void metrics_webhook(struct metrics *m, unsigned status, const char *outcome, double seconds);
/* One MCP request (the signature of mcp_server_opts.observe; m is a struct metrics *). */
void metrics_mcp(void *m, const char *method, const char *tool, const char *outcome,
                 double seconds);
/* One request refused or routed on the private listener (status 0: handed on). */
void metrics_private(void *m, const char *route, unsigned status);

/* Values read at scrape time by the caller. */
struct metrics_gauges {
    uint64_t mcp_sessions;
    uint64_t db_bytes;  /* database file plus its WAL */
    int64_t calls;      /* -1: unknown */
    int64_t deliveries; /* -1: unknown */
    uint64_t commits;
    uint64_t commit_failures;
    uint64_t wal_syncs;         /* WAL flushes, each for one or more grouped commits */
    uint64_t wal_sync_failures; /* flushes that failed: their deliveries were answered 503 */
    uint64_t committed_deliveries;
    uint64_t retention_sweeps;
    uint64_t retention_failures;
    uint64_t retention_calls;      /* calls removed by retention sweeps */
    uint64_t retention_deliveries; /* deliveries removed by retention sweeps */
    double retention_longest_batch_s;
    const uint64_t *batch_hist; /* counts per batch-size bucket, see batch_bounds */
    const unsigned *batch_bounds;
    size_t nbatch;
    const struct audit_stats *audit; /* the access audit's writer, NULL when off */
};

/* The whole exposition (text/plain; version=0.0.4). Caller frees. */
char *metrics_render(struct metrics *m, const struct metrics_gauges *g);

#endif
