/*
 * audit.h: the access audit's writer. MCP requests hand it entries
 * (audit_record, which never waits on the database); one thread with its
 * own store connection commits them in batches, and removes entries older
 * than the retention.
 */
#ifndef PHONELY_AUDIT_H
#define PHONELY_AUDIT_H

#include <stdint.h>

#include "err.h"
#include "store.h"

#define AUDIT_QUEUE_DEFAULT    10000 /* entries waiting for the writer */
#define AUDIT_BATCH_MAX        5000  /* entries committed in one transaction */
#define AUDIT_PURGE_BATCH      500   /* old entries removed in one transaction */
#define AUDIT_PURGE_INTERVAL_S 3600  /* how often old entries are looked for */

struct audit_opts {
    const char *db;             /* the database the entries go to (borrowed) */
    struct store_options store; /* read_only is ignored: the writer's connection writes */
    unsigned queue_max;         /* 0: AUDIT_QUEUE_DEFAULT */
    unsigned retention_days;    /* remove entries older than this; 0 keeps them all */
    unsigned purge_interval_ms; /* 0: AUDIT_PURGE_INTERVAL_S */
    unsigned purge_batch;       /* 0: AUDIT_PURGE_BATCH */
};

/* What the writer has done so far. */
struct audit_stats {
    uint64_t recorded; /* entries handed to audit_record */
    uint64_t written;  /* entries committed */
    uint64_t dropped;  /* entries refused because the queue was full */
    uint64_t failed;   /* entries lost in a commit that failed */
    uint64_t purged;   /* old entries removed */
    uint64_t commits;  /* batches committed */
    unsigned queued;   /* entries waiting now */
};

struct audit;

/*
 * Open a read-write connection to o->db and start the writer thread; it
 * removes old entries (when retention_days is set) at once and then every
 * purge interval. NULL with err set when the database cannot be opened
 * for writing. The caller owns the result (audit_stop).
 */
struct audit *audit_start(const struct audit_opts *o, struct err *err);

/*
 * Queue a copy of e for the writer (e and its strings stay the caller's).
 * Never waits for the database: when the queue is full the entry is
 * dropped and counted. a is a struct audit *, so that this function can be
 * mcp_server_opts.audit itself. Safe from any thread.
 */
void audit_record(void *a, const struct store_audit_entry *e);

void audit_get_stats(struct audit *a, struct audit_stats *out);

struct config;
/*
 * The audit cfg asks for (settings audit, audit_retention_days, the
 * database's): started, or NULL when audit is off or there is no database
 * yet (an SQLite file that does not exist: the audit never makes one), or, with a warning
 * saying that MCP access goes unrecorded and why, when the database cannot
 * be opened for writing.
 */
struct audit *audit_start_config(const struct config *cfg);

/* Commit everything queued, stop the thread, close its connection. NULL is fine. */
void audit_stop(struct audit *a);

#endif
