/*
 * test_ingest.c: the group-commit writer against a real SQLite file:
 * callbacks run only after the commit and the flush that made it durable,
 * concurrent submitters share transactions and flushes, batch_max bounds
 * them, failures (of a commit or of a flush) reach every job, and
 * ingest_free commits what is still queued. On the throwaway PostgreSQL
 * cluster: several writers, each on its own connection, commit one
 * queue in parallel, and deliveries of one call id racing on two writers
 * store the call once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "ingest.h"
#include "xmalloc.h"

struct probe {
    struct ingest_job job;
    struct call call;
    char id[32];
    char sha[65];
    struct store *reader; /* checks the row is visible when done() runs */
    int visible;
    struct ingest *in; /* when set, done() notes the flushes made so far */
    uint64_t syncs_seen;
};

static void probe_init(struct probe *p, int n)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "ingest-%d", n);
    snprintf(p->sha, sizeof p->sha, "%064d", n);
    p->call.call_id = p->id;
    p->call.started_ms = PAYLOAD_TIME_UNKNOWN;
    p->call.ended_ms = PAYLOAD_TIME_UNKNOWN;
    p->call.duration_s = -1;
    p->call.follow_up = p->call.ai_success = TRI_UNKNOWN;
    p->call.call_transferred = p->call.workflow_triggered = TRI_UNKNOWN;
    p->job.d = (struct delivery){.received_ms = 1000 + n,
                                 .source = "webhook",
                                 .status = 200,
                                 .body = "{}",
                                 .body_len = 2,
                                 .body_size = 2,
                                 .body_sha256 = p->sha,
                                 .call = &p->call};
}

/* The committed row must already be readable from another connection. */
static void probe_done(struct ingest_job *job, void *arg)
{
    struct probe *p = arg;
    char *body = NULL;
    size_t len = 0;
    struct err err;

    (void)job;
    if (job->result == 0 && store_call_raw(p->reader, p->id, &body, &len, &err) == 0)
        p->visible = 1;
    free(body);
    if (p->in != NULL) {
        struct ingest_stats stats;
        ingest_get_stats(p->in, &stats);
        p->syncs_seen = stats.syncs;
    }
}

static struct store *open_store(const char *path, bool ro, uint64_t min_free)
{
    struct store_options o = {.read_only = ro, .busy_timeout_ms = 2000, .min_free_bytes = min_free};
    struct err err = {0};
    struct store *st = store_open(path, &o, &err);
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err.msg);
    return st;
}

static char *dir;

/* The ingest of one writer on st. */
static struct ingest *ingest_one(struct store *st, unsigned batch_max, struct err *err)
{
    return ingest_new(&st, 1, batch_max, err);
}

static void test_done_after_commit(void)
{
    char *path = xasprintf("%s/a.db", dir);
    struct err err = {0};
    struct ingest *in = ingest_one(open_store(path, false, 0), 64, &err);
    struct store *reader = open_store(path, true, 0);
    struct probe p;

    CHECK(in != NULL);
    probe_init(&p, 1);
    p.reader = reader;
    CHECK_INT_EQ(ingest_submit_wait(in, &p.job), 0);
    CHECK_INT_EQ(p.job.d.outcome, DELIVERY_STORED);
    CHECK(p.job.d.delivery_id > 0);
    /* submit_wait replaced done(); use the async path to observe visibility. */
    probe_init(&p, 2);
    p.reader = reader;
    p.in = in;
    p.job.done = probe_done;
    p.job.arg = &p;
    ingest_submit(in, &p.job);
    ingest_free(in); /* drains the queue */
    CHECK_INT_EQ(p.job.result, 0);
    CHECK_INT_EQ(p.visible, 1);
    /* Reported after a flush of the WAL of its own, the first one being the first job's. */
    CHECK_INT_EQ((int)p.syncs_seen, 2);
    store_close(reader);
    free(path);
}

struct submitter {
    struct ingest *in;
    int base;
    int fails;
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    for (int i = 0; i < 50; i++) {
        struct probe p;
        probe_init(&p, s->base + i);
        if (ingest_submit_wait(s->in, &p.job) != 0 || p.job.d.outcome != DELIVERY_STORED)
            s->fails++;
    }
    return NULL;
}

static void test_concurrent_submitters_share_commits(void)
{
    char *path = xasprintf("%s/b.db", dir);
    struct err err = {0};
    struct ingest *in = ingest_one(open_store(path, false, 0), 8, &err);
    pthread_t th[16];
    struct submitter s[16];
    struct ingest_stats stats;
    struct store *reader;
    struct store_counts counts;

    for (int i = 0; i < 16; i++) {
        s[i] = (struct submitter){.in = in, .base = 1000 * (i + 1)};
        pthread_create(&th[i], NULL, submit_many, &s[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(s[i].fails, 0);
    }
    ingest_get_stats(in, &stats);
    CHECK_INT_EQ(stats.deliveries, 800);
    CHECK_INT_EQ(stats.failed_commits, 0);
    CHECK(stats.max_batch <= 8);             /* batch_max holds */
    CHECK(stats.commits < stats.deliveries); /* and transactions were shared */
    CHECK(stats.syncs >= 1 && stats.syncs <= stats.commits);
    CHECK_INT_EQ(stats.failed_syncs, 0);
    ingest_free(in);
    reader = open_store(path, true, 0);
    CHECK_INT_EQ(store_counts(reader, &counts, &err), 0);
    CHECK_INT_EQ(counts.calls, 800);
    store_close(reader);
    free(path);
}

static void test_batch_of_one(void)
{
    char *path = xasprintf("%s/c.db", dir);
    struct err err = {0};
    struct ingest *in = ingest_one(open_store(path, false, 0), 1, &err);
    pthread_t th[4];
    struct submitter s[4];
    struct ingest_stats stats;

    for (int i = 0; i < 4; i++) {
        s[i] = (struct submitter){.in = in, .base = 1000 * (i + 1)};
        pthread_create(&th[i], NULL, submit_many, &s[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ingest_get_stats(in, &stats);
    CHECK_INT_EQ(stats.max_batch, 1);
    CHECK_INT_EQ(stats.commits, 200);
    CHECK_INT_EQ(stats.syncs, 0); /* each COMMIT waited for the disk itself */
    ingest_free(in);
    free(path);
}

static void test_failure_reaches_every_job(void)
{
    char *path = xasprintf("%s/d.db", dir);
    struct err err = {0};
    /* More free space required than any disk has: every commit is refused. */
    struct ingest *in = ingest_one(open_store(path, false, UINT64_MAX / 2), 16, &err);
    struct probe p;
    struct ingest_stats stats;

    probe_init(&p, 7);
    CHECK_INT_EQ(ingest_submit_wait(in, &p.job), -1);
    CHECK_INT_EQ(p.job.err.code, ERR_FULL);
    ingest_get_stats(in, &stats);
    CHECK_INT_EQ(stats.failed_commits, 1);
    CHECK_INT_EQ(stats.deliveries, 0);
    ingest_free(in);
    free(path);
}

/*
 * A WAL that can no longer be flushed (here: unlinked, so whatever is
 * written to it is gone at the next start) fails every job waiting on it,
 * and every later one: the kernel may have dropped what it could not write.
 */
static void test_sync_failure_is_final(void)
{
    char *path = xasprintf("%s/e.db", dir), *wal = xasprintf("%s-wal", path);
    struct err err = {0};
    struct ingest *in = ingest_one(open_store(path, false, 0), 16, &err);
    struct ingest_stats stats;
    struct probe p;
    FILE *f;

    probe_init(&p, 1);
    CHECK_INT_EQ(ingest_submit_wait(in, &p.job), 0);
    CHECK_INT_EQ(unlink(wal), 0);
    probe_init(&p, 2);
    CHECK_INT_EQ(ingest_submit_wait(in, &p.job), -1);
    CHECK_INT_EQ(p.job.err.code, ERR_STORAGE);
    CHECK(strstr(p.job.err.msg, "e.db-wal") != NULL);
    /* A file by that name again does not make the lost pages durable. */
    CHECK((f = fopen(wal, "w")) != NULL);
    if (f != NULL)
        fclose(f);
    probe_init(&p, 3);
    CHECK_INT_EQ(ingest_submit_wait(in, &p.job), -1);
    ingest_get_stats(in, &stats);
    CHECK_INT_EQ(stats.failed_syncs, 2);
    CHECK_INT_EQ(stats.syncs, 1);
    CHECK_INT_EQ(stats.failed_commits, 0);
    ingest_free(in);
    free(wal);
    free(path);
}

/* Each submitter's deliveries: stored ones, and duplicates of a call stored by another. */
struct racer {
    struct ingest *in;
    int base, stored, duplicates, fails;
};

static void *race_many(void *arg)
{
    struct racer *r = arg;

    for (int i = 0; i < 50; i++) {
        struct probe p;
        probe_init(&p, r->base + i);
        if (ingest_submit_wait(r->in, &p.job) != 0)
            r->fails++;
        else if (p.job.d.outcome == DELIVERY_STORED)
            r->stored++;
        else if (p.job.d.outcome == DELIVERY_DUPLICATE)
            r->duplicates++;
        else
            r->fails++;
    }
    return NULL;
}

/* A database with one writer refuses a second: its writers would only queue. */
static void test_one_writer_for_sqlite(void)
{
    char *path = xasprintf("%s/f.db", dir);
    struct store *st[2] = {open_store(path, false, 0), open_store(path, false, 0)};
    struct err err = {0};

    CHECK(!store_parallel_writes(st[0]));
    CHECK(ingest_new(st, 2, 16, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_INTERNAL);
    store_close(st[0]);
    store_close(st[1]);
    free(path);
}

/*
 * Four writers on four PostgreSQL connections drain one queue: every job
 * is reported after its commit, and two submitters sending the same 50
 * calls at once store each call once (one stored, one duplicate).
 */
static void test_parallel_writers_on_postgres(void)
{
    char *uri = pg_newdb();
    struct store *st[4];
    struct racer r[8];
    pthread_t th[8];
    struct ingest_stats stats;
    struct store_counts counts;
    struct store *reader;
    struct err err = {0};
    struct ingest *in;
    int stored = 0, duplicates = 0;

    for (int i = 0; i < 4; i++)
        st[i] = store_open_or_die(uri);
    CHECK(store_parallel_writes(st[0]));
    in = ingest_new(st, 4, 8, &err);
    CHECK(in != NULL);
    if (in == NULL) {
        for (int i = 0; i < 4; i++)
            store_close(st[i]);
        free(uri);
        return;
    }
    for (int i = 0; i < 8; i++) {
        r[i] = (struct racer){.in = in, .base = 1000 * (i / 2 + 1)};
        pthread_create(&th[i], NULL, race_many, &r[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(r[i].fails, 0);
        stored += r[i].stored;
        duplicates += r[i].duplicates;
    }
    CHECK_INT_EQ(stored, 200);
    CHECK_INT_EQ(duplicates, 200);
    ingest_get_stats(in, &stats);
    CHECK_INT_EQ(stats.deliveries, 400);
    CHECK_INT_EQ(stats.failed_commits, 0);
    CHECK_INT_EQ(stats.syncs, 0); /* each commit was durable when it returned */
    ingest_free(in);
    reader = store_open_or_die(uri);
    CHECK_INT_EQ(store_counts(reader, &counts, &err), 0);
    CHECK_INT_EQ(counts.calls, 200);
    CHECK_INT_EQ(counts.deliveries, 400);
    store_close(reader);
    free(uri);
}

int main(void)
{
    dir = tmpdir_make("ingest");
    RUN(test_done_after_commit);
    RUN(test_concurrent_submitters_share_commits);
    RUN(test_batch_of_one);
    RUN(test_failure_reaches_every_job);
    RUN(test_sync_failure_is_final);
    RUN(test_one_writer_for_sqlite);
    RUN(test_parallel_writers_on_postgres);
    tmpdir_remove(dir);
    free(dir);
    return check_report();
}
