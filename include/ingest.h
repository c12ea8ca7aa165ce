/*
 * ingest.h: the single writer. Deliveries from any thread are queued and
 * committed in groups: while one transaction commits, the next ones queue,
 * so many requests share one fsync and each is told its result only after
 * its own transaction committed and reached the disk.
 */
#ifndef PHONELY_INGEST_H
#define PHONELY_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct ingest;

struct ingest_job;
typedef void (*ingest_done_fn)(struct ingest_job *job, void *arg);

/*
 * One queued delivery. The submitter owns the job and everything d points
 * to until done() runs (on the writer or the syncer thread) with result 0
 * (committed and on the disk, d.outcome and d.delivery_id set) or -1 (not
 * to be acknowledged, err says why: nothing was stored, or the commit
 * happened but the flush that would have made it durable failed).
 */
struct ingest_job {
    struct delivery d;
    int result;
    struct err err;
    ingest_done_fn done;
    void *arg;
    struct ingest_job *next; /* queue link, owned by the ingest */
};

/* Batch-size buckets: up to 1, 2, 4, ... 256 deliveries, then more. */
#define INGEST_BATCH_BUCKETS 10
extern const unsigned ingest_batch_bounds[INGEST_BATCH_BUCKETS];

struct ingest_stats {
    uint64_t commits;
    uint64_t deliveries;
    uint64_t failed_commits;
    uint64_t syncs; /* WAL flushes (writer or syncer), each for one or more commits */
    /*
     * Flushes that failed: their deliveries were reported failed, and after
     * the first nothing more is acknowledged until a restart.
     */
    uint64_t failed_syncs;
    bool last_failed;         /* the latest commit or flush failed ... */
    enum err_code last_error; /* ... with this error (ERR_NONE when it did not) */
    uint64_t max_batch;
    uint64_t batch_hist[INGEST_BATCH_BUCKETS]; /* committed batches per size bucket */
};

/*
 * Start one writer thread per store of stores[0..n), which the ingest then
 * owns and closes in ingest_free; n > 1 only when store_parallel_writes()
 * says the database takes it. batch_max bounds deliveries per transaction
 * (1 gives one commit per delivery).
 */
struct ingest *ingest_new(struct store *const *stores, size_t n, unsigned batch_max,
                          struct err *err);

/* Commit what is queued, stop the writer thread and close the store. NULL is fine. */
void ingest_free(struct ingest *in);

/* Queue job; job->done runs later on the writer or the syncer thread. */
void ingest_submit(struct ingest *in, struct ingest_job *job);

/* Queue job and wait for its result (for callers that can block). */
int ingest_submit_wait(struct ingest *in, struct ingest_job *job);

void ingest_get_stats(struct ingest *in, struct ingest_stats *out);

#endif
