/*
 * retention.h: keeping calls no longer than the operator decided. A sweep
 * removes, in small batches, the calls older than retention_days (with
 * their deliveries, history and follow-up state) and the rejected
 * deliveries older than retention_rejected_days. `serve` sweeps at start
 * and then every retention_interval seconds in a thread of its own;
 * `phonely-mcp purge` runs one sweep by hand.
 */
#ifndef PHONELY_RETENTION_H
#define PHONELY_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "store.h"

/* Calls (and, separately, rejected deliveries) removed per transaction. */
#define RETENTION_BATCH 20

/* Whether the settings ask for any retention at all. */
bool retention_enabled(const struct config *cfg);

/*
 * The times before which calls and rejected deliveries go, for a sweep at
 * now_ms (INT64_MIN for a kind that is kept forever).
 */
void retention_cutoffs(const struct config *cfg, int64_t now_ms, int64_t *calls_before,
                       int64_t *rejected_before);

/* What sweeps removed, for logs and /metrics. */
struct retention_stats {
    uint64_t sweeps;
    uint64_t failures;
    uint64_t calls;
    uint64_t deliveries;
    double longest_batch_s; /* the longest one transaction of removal took */
};

/*
 * One whole sweep on st at now_ms: batch after batch until nothing older
 * remains, pausing pause_ms between batches so that webhook commits go
 * first. *out gets what was removed (with dry_run: what would be, nothing
 * removed). stop (may be NULL) ends the sweep early between batches.
 */
int retention_sweep(struct store *st, const struct config *cfg, int64_t now_ms, bool dry_run,
                    unsigned pause_ms, const volatile bool *stop, struct store_removed *out,
                    struct retention_stats *stats, struct err *err);

/*
 * The sweeper of `serve`: a thread with its own read-write connection to
 * cfg->db_path that sweeps at once and then every retention_interval
 * seconds. NULL with err set when it cannot start (no retention asked:
 * NULL and no error).
 */
struct retention;
struct retention *retention_start(const struct config *cfg, struct err *err);
void retention_get_stats(struct retention *r, struct retention_stats *out);
/* Stop the thread (a sweep under way stops after its batch) and close its store. NULL is fine. */
void retention_stop(struct retention *r);

#endif
