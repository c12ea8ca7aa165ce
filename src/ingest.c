/*
 * ingest.c: one writer thread that owns the read-write store. Jobs queue
 * under a mutex; the writer takes everything queued (up to batch_max), puts
 * it in one transaction, and only after the commit returns calls each job's
 * done callback. No timer is involved: a batch is whatever arrived while
 * the previous commit was running, so a lone request never waits for
 * company and a busy server shares each fsync among many requests.
 * With grouping on, a commit only writes the WAL (store_wal_open) and the
 * flush is a step of its own: the writer flushes and reports a batch
 * itself when nothing else is queued; when more waits, it hands the batch
 * to a syncer thread, which flushes once for every batch handed over
 * since its last flush, while the writer already puts the next batch in.
 * No job is reported before its commit is on the disk.
 * Checkpoints run on a thread of their own (store_checkpointer_start), so
 * copying pages into the database does not hold up the next batch.
 * A database that takes commits from several connections at once
 * (store_parallel_writes) gets one writer thread per store given: each
 * takes the next batch from the one queue and commits it on its own
 * connection, so that batches overlap on the server's cores. Each such
 * commit is durable when it returns; there is no syncer.
 * A writer whose store may hold queued deliveries (store_queue_pending:
 * acknowledged while an erasure rewrote the tables) wakes every
 * QUEUE_WAKE_MS while idle to move them into the tables (QUEUE_RETRY_MS
 * after a move failed: the database may be down).
 */
#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest.h"
#include "log.h"
#include "xmalloc.h"

#define QUEUE_WAKE_MS  500
#define QUEUE_RETRY_MS 5000

const unsigned ingest_batch_bounds[INGEST_BATCH_BUCKETS] = {1,  2,  4,   8,   16,
                                                            32, 64, 128, 256, UINT32_MAX};

/* Jobs linked by next, in arrival order. */
struct job_queue {
    struct ingest_job *head, *tail;
};

/* Append the chain first..last (last->next is NULL) to q. */
static void queue_append(struct job_queue *q, struct ingest_job *first, struct ingest_job *last)
{
    if (q->tail != NULL)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
}

/* One writer thread and the store it commits on. */
struct writer {
    struct ingest *in;
    struct store *store;
    pthread_t thread;
    bool started;
    unsigned queue_wake_ms; /* QUEUE_WAKE_MS, or QUEUE_RETRY_MS after a failed move */
};

struct ingest {
    struct writer *writers;
    size_t nwriters;
    struct store_checkpointer *ckpt; /* NULL: the writer checkpoints itself */
    struct store_wal *wal;           /* NULL: each commit waits for the disk */
    unsigned batch_max;
    pthread_t syncer;
    pthread_mutex_t lock;
    pthread_cond_t wake, unsynced_wake;
    struct job_queue queue;    /* waiting for the writer */
    struct job_queue unsynced; /* committed, waiting for a flush */
    bool stopping, syncer_stopping;
    struct ingest_stats stats;
};

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

/* Report each job of the list batch with its result; done() may free the job. */
static void report(struct ingest_job *batch, int rc, const struct err *err)
{
    while (batch != NULL) {
        struct ingest_job *next = batch->next;
        batch->result = rc;
        batch->err = *err;
        batch->next = NULL;
        batch->done(batch, batch->arg);
        batch = next;
    }
}

/* Flush the WAL, count the flush, then report batch (committed before the call) with its result. */
static void sync_report(struct ingest *in, struct ingest_job *batch)
{
    struct err err = {0};
    int rc = store_wal_sync(in->wal, &err);

    pthread_mutex_lock(&in->lock);
    if (rc == 0)
        in->stats.syncs++;
    else
        in->stats.failed_syncs++;
    in->stats.last_failed = rc != 0;
    in->stats.last_error = rc != 0 ? err.code : ERR_NONE;
    pthread_mutex_unlock(&in->lock);
    report(batch, rc, &err);
}

/*
 * Commit one batch; report it at once when the commit failed or waited for
 * the disk itself. Else flush the WAL here when nothing else is queued (a
 * hand-over would only add a thread switch), or hand the batch to the
 * syncer and go on with the next one. Runs on writer w's thread.
 */
static void ingest_commit(struct writer *w, struct ingest_job *batch, size_t n)
{
    struct ingest *in = w->in;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    struct delivery **items = xcalloc(n, sizeof *items);
    struct ingest_job *job, *last = batch;
    struct err err = {0};
    size_t i = 0;
    bool sync_here = false;
    int rc;

    for (job = batch; job != NULL; last = job, job = job->next)
        items[i++] = &job->d;
    rc = store_put_deliveries(w->store, items, n, &err);
    free(items);
    if (rc == -1)
        log_warnx("commit of %zu deliveries failed: %s", n, err.msg);

    pthread_mutex_lock(&in->lock);
    if (rc == 0) {
        in->stats.commits++;
        in->stats.deliveries += n;
        if (n > in->stats.max_batch)
            in->stats.max_batch = n;
        for (size_t b = 0; b < INGEST_BATCH_BUCKETS; b++) {
            if (n <= ingest_batch_bounds[b]) {
                in->stats.batch_hist[b]++;
                break;
            }
        }
    } else {
        in->stats.failed_commits++;
    }
    in->stats.last_failed = rc != 0;
    in->stats.last_error = rc != 0 ? err.code : ERR_NONE;
    if (rc == 0 && in->wal != NULL) {
        if (in->queue.head == NULL) {
            sync_here = true;
        } else {
            queue_append(&in->unsynced, batch, last);
            pthread_cond_signal(&in->unsynced_wake);
            batch = NULL;
        }
    }
    pthread_mutex_unlock(&in->lock);
    if (sync_here)
        sync_report(in, batch);
    else
        report(batch, rc, &err);
}

/* The syncer: flush the WAL once for everything committed since the last flush, then report it. */
static void *syncer_main(void *arg)
{
    struct ingest *in = arg;

    pthread_mutex_lock(&in->lock);
    for (;;) {
        struct ingest_job *batch;

        while (in->unsynced.head == NULL && !in->syncer_stopping)
            pthread_cond_wait(&in->unsynced_wake, &in->lock);
        if (in->unsynced.head == NULL)
            break;
        batch = in->unsynced.head;
        in->unsynced = (struct job_queue){0};
        pthread_mutex_unlock(&in->lock);
        sync_report(in, batch);
        pthread_mutex_lock(&in->lock);
    }
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

/* Move what waits in the store's queue; a failure is retried at the next wake. */
static void drain_queued(struct writer *w)
{
    struct err err = {0};
    size_t moved;

    w->queue_wake_ms = QUEUE_WAKE_MS;
    if (store_drain_queued(w->store, &moved, &err) == -1) {
        log_warnx("moving queued deliveries failed: %s", err.msg);
        w->queue_wake_ms = QUEUE_RETRY_MS;
    }
}

static void *ingest_main(void *arg)
{
    struct writer *w = arg;
    struct ingest *in = w->in;

    pthread_mutex_lock(&in->lock);
    for (;;) {
        while (in->queue.head == NULL && !in->stopping) {
            if (!store_queue_pending(w->store)) {
                pthread_cond_wait(&in->wake, &in->lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += w->queue_wake_ms / 1000;
            until.tv_nsec += (long)(w->queue_wake_ms % 1000) * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            if (pthread_cond_timedwait(&in->wake, &in->lock, &until) == 0 ||
                in->queue.head != NULL || in->stopping)
                continue;
            pthread_mutex_unlock(&in->lock);
            drain_queued(w);
            pthread_mutex_lock(&in->lock);
        }
        if (in->queue.head == NULL && in->stopping)
            break;
        /* Detach up to batch_max jobs from the front of the queue. */
        struct ingest_job *batch = in->queue.head, *last = in->queue.head;
        size_t n = 1;
        while (last->next != NULL && n < in->batch_max) {
            last = last->next;
            n++;
        }
        in->queue.head = last->next;
        if (in->queue.head == NULL)
            in->queue.tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&in->lock);
        ingest_commit(w, batch, n);
        pthread_mutex_lock(&in->lock);
    }
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

/* Start the syncer when commits are grouped on one writer; without it each commit syncs. */
static void syncer_start(struct ingest *in)
{
    struct err e = {0};
    int rc;

    if (in->batch_max == 1 || in->nwriters > 1)
        return; /* one commit and one flush per delivery, as asked; or durable commits */
    if ((in->wal = store_wal_open(in->writers[0].store, &e)) == NULL) {
        log_info("each commit waits for the disk: %s", e.msg);
        return;
    }
    if ((rc = pthread_create(&in->syncer, NULL, syncer_main, in)) != 0) {
        log_info("each commit waits for the disk: cannot start the syncer (error %d)", rc);
        store_wal_close(in->wal);
        in->wal = NULL;
    }
}

/* Stop the syncer after it reported everything committed; the writer has stopped. */
static void syncer_stop(struct ingest *in)
{
    if (in->wal == NULL)
        return;
    pthread_mutex_lock(&in->lock);
    in->syncer_stopping = true;
    pthread_cond_signal(&in->unsynced_wake);
    pthread_mutex_unlock(&in->lock);
    pthread_join(in->syncer, NULL);
    store_wal_close(in->wal);
    in->wal = NULL;
}

/* Stop the syncer and the checkpointer and free in; no writer is running. The stores stay open. */
static void ingest_release(struct ingest *in)
{
    syncer_stop(in);
    store_checkpointer_stop(in->ckpt);
    free(in->writers);
    pthread_mutex_destroy(&in->lock);
    pthread_cond_destroy(&in->wake);
    pthread_cond_destroy(&in->unsynced_wake);
    free(in);
}

/* Tell the writers to stop once the queue is empty, and join those that started. */
static void writers_stop(struct ingest *in)
{
    pthread_mutex_lock(&in->lock);
    in->stopping = true;
    pthread_cond_broadcast(&in->wake);
    pthread_mutex_unlock(&in->lock);
    for (size_t i = 0; i < in->nwriters; i++)
        if (in->writers[i].started)
            pthread_join(in->writers[i].thread, NULL);
}

/*
 * Start one writer per store of stores[0..n) (n > 1 only for a database
 * that takes parallel writes; see the top of this file). On success the
 * ingest owns the stores; on failure they are still the caller's.
 */
struct ingest *ingest_new(struct store *const *stores, size_t n, unsigned batch_max,
                          struct err *err)
{
    struct ingest *in = xcalloc(1, sizeof *in);
    int rc = 0;

    if (n == 0 || (n > 1 && !store_parallel_writes(stores[0]))) {
        free(in);
        return err_set(err, ERR_INTERNAL, "%zu writers for a database that takes one", n), NULL;
    }
    in->writers = xcalloc(n, sizeof *in->writers);
    in->nwriters = n;
    for (size_t i = 0; i < n; i++) {
        in->writers[i].in = in;
        in->writers[i].store = stores[i];
        in->writers[i].queue_wake_ms = QUEUE_WAKE_MS;
    }
    in->batch_max = batch_max == 0 ? 1 : batch_max;
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->wake, NULL);
    pthread_cond_init(&in->unsynced_wake, NULL);
    if (n == 1) {
        struct err e = {0};
        if ((in->ckpt = store_checkpointer_start(stores[0], &e)) == NULL)
            log_info("checkpoints stay on the writer thread: %s", e.msg);
    }
    syncer_start(in);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pthread_create(&in->writers[i].thread, NULL, ingest_main, &in->writers[i]);
        in->writers[i].started = rc == 0;
    }
    if (rc != 0) {
        writers_stop(in);
        ingest_release(in);
        return err_set(err, ERR_SYSTEM, "cannot start a writer thread (error %d)", rc), NULL;
    }
    return in;
}

/* Drain the queue, join the writers, report the last syncs and close the stores. */
void ingest_free(struct ingest *in)
{
    struct store **stores;
    size_t n;

    if (in == NULL)
        return;
    writers_stop(in);
    n = in->nwriters;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    stores = xcalloc(n, sizeof *stores);
    for (size_t i = 0; i < n; i++)
        stores[i] = in->writers[i].store;
    ingest_release(in);
    for (size_t i = 0; i < n; i++)
        store_close(stores[i]);
    free(stores);
}

/* Append job to the queue; its done callback runs on the writer or the syncer thread. */
void ingest_submit(struct ingest *in, struct ingest_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&in->lock);
    queue_append(&in->queue, job, job);
    pthread_cond_signal(&in->wake);
    pthread_mutex_unlock(&in->lock);
}

static void ingest_wake_waiter(struct ingest_job *job, void *arg)
{
    struct waiter *w = arg;

    (void)job;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Queue job and block until it committed or failed; returns job->result. */
int ingest_submit_wait(struct ingest *in, struct ingest_job *job)
{
    struct waiter w = {.done = false};

    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    job->done = ingest_wake_waiter;
    /* cppcheck-suppress autoVariables ; done() is the writer's last use, and we wait for it */
    job->arg = &w;
    ingest_submit(in, job);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return job->result;
}

void ingest_get_stats(struct ingest *in, struct ingest_stats *out)
{
    pthread_mutex_lock(&in->lock);
    *out = in->stats;
    pthread_mutex_unlock(&in->lock);
}
