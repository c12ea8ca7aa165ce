/*
 * audit.c: the access audit's queue and its writer thread.
 *
 * MCP requests must not wait for the audit: audit_record copies the entry
 * into one allocation and appends it to a bounded ring under a mutex, and
 * drops it (counted) when the ring is full. One writer thread with its own
 * read-write store takes whatever is queued, up to AUDIT_BATCH_MAX at a
 * time, and commits it in one transaction: batches grow by themselves
 * while requests come faster than commits. Between batches the same
 * thread removes entries older than the retention, AUDIT_PURGE_BATCH per
 * transaction, at start and then every purge interval. audit_stop lets it
 * commit everything queued before it returns.
 *
 * A commit that fails loses its batch (counted in failed): the entries are
 * a record of reads, not data a client waits for, and holding them would
 * only move the loss to the queue. The first failure after a success is
 * logged, and the first success after failures.
 *
 * Ownership: the ring owns its items until the writer takes them; the
 * writer frees each after its commit. The store is the writer's alone.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "log.h"
#include "textutil.h"
#include "xmalloc.h"

#define MS_PER_DAY INT64_C(86400000)
/*
 * The writer commits at most this often (or when a batch is full): each
 * commit to an SQLite file makes every reader's connection drop its page
 * cache at its next transaction, so commits as fast as requests come
 * would slow the reads they record.
 */
#define AUDIT_FLUSH_MS 1000

/* One queued entry: the entry, then its id pointers and every string in the same block. */
struct audit_item {
    struct store_audit_entry e;
};

struct audit {
    struct store *st;
    unsigned retention_days;
    unsigned purge_interval_ms;
    unsigned purge_batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct audit_item **ring;
    unsigned cap, head, len;
    bool stopping;
    bool failing; /* the latest commit failed */
    struct audit_stats stats;
};

/* Bytes of s with its NUL (0 for NULL). */
static size_t str_size(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

/* Copy s to *p (moving it on); NULL stays NULL. */
static const char *str_pack(char **p, const char *s)
{
    char *out = *p;
    size_t n = str_size(s);

    if (n == 0)
        return NULL;
    memcpy(out, s, n);
    *p += n;
    return out;
}

/* e and everything it points to, copied into one allocation (freed with free()). */
static struct audit_item *item_copy(const struct store_audit_entry *e)
{
    size_t nids = e->ncall_ids > STORE_AUDIT_IDS_MAX ? STORE_AUDIT_IDS_MAX : e->ncall_ids;
    size_t size = sizeof(struct audit_item) + nids * sizeof(char *);
    struct audit_item *it;
    const char **ids;
    char *p;

    size += str_size(e->transport) + str_size(e->client_name) + str_size(e->client_version) +
            str_size(e->session_id) + str_size(e->kind) + str_size(e->name);
    for (size_t i = 0; i < nids; i++)
        size += str_size(e->call_ids[i]);
    it = xmalloc(size);
    ids = (const char **)(void *)(it + 1);
    p = (char *)(ids + nids);
    it->e = *e;
    it->e.transport = str_pack(&p, e->transport);
    it->e.client_name = str_pack(&p, e->client_name);
    it->e.client_version = str_pack(&p, e->client_version);
    it->e.session_id = str_pack(&p, e->session_id);
    it->e.kind = str_pack(&p, e->kind);
    it->e.name = str_pack(&p, e->name);
    for (size_t i = 0; i < nids; i++)
        ids[i] = str_pack(&p, e->call_ids[i]);
    it->e.call_ids = ids;
    it->e.ncall_ids = nids;
    return it;
}

void audit_record(void *arg, const struct store_audit_entry *e)
{
    struct audit *a = arg;
    struct audit_item *it;

    if (a == NULL)
        return;
    it = item_copy(e);
    pthread_mutex_lock(&a->lock);
    a->stats.recorded++;
    if (a->len == a->cap || a->stopping) {
        a->stats.dropped++;
        pthread_mutex_unlock(&a->lock);
        free(it);
        return;
    }
    a->ring[(a->head + a->len) % a->cap] = it;
    if (++a->len == 1 || a->len == AUDIT_BATCH_MAX || a->len == a->cap)
        pthread_cond_signal(&a->wake); /* the first waits for the flush time, a full batch not */
    pthread_mutex_unlock(&a->lock);
}

void audit_get_stats(struct audit *a, struct audit_stats *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    out->queued = a->len;
    pthread_mutex_unlock(&a->lock);
}

/* Commit n taken items and free them (outside the lock). */
static void write_batch(struct audit *a, struct audit_item **items, size_t n)
{
    struct store_audit_entry *entries = xcalloc(n, sizeof *entries);
    struct err err = {0};
    int rc;

    for (size_t i = 0; i < n; i++)
        entries[i] = items[i]->e;
    rc = store_audit_add(a->st, entries, n, &err);
    free(entries);
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    pthread_mutex_lock(&a->lock);
    if (rc == 0) {
        a->stats.written += n;
        a->stats.commits++;
    } else {
        a->stats.failed += n;
    }
    pthread_mutex_unlock(&a->lock);
    if (rc == -1 && !a->failing)
        log_warnx("audit: %zu entries of MCP access were not recorded: %s", n, err.msg);
    else if (rc == 0 && a->failing)
        log_info("audit: recording MCP access again");
    a->failing = rc == -1;
}

/* Remove one batch of old entries; true when more may be left. */
static bool purge_batch(struct audit *a)
{
    int64_t removed = 0, before = time_now_ms() - (int64_t)a->retention_days * MS_PER_DAY;
    struct err err = {0};

    if (store_audit_purge(a->st, before, a->purge_batch, &removed, &err) == -1) {
        log_warnx("audit: removing entries older than %u days: %s", a->retention_days, err.msg);
        return false;
    }
    pthread_mutex_lock(&a->lock);
    a->stats.purged += (uint64_t)removed;
    pthread_mutex_unlock(&a->lock);
    return removed == (int64_t)a->purge_batch;
}

/* abstime on CLOCK_MONOTONIC (the condition variable's clock) ms from now. */
static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool deadline_passed(const struct timespec *ts)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

static void *writer_main(void *arg)
{
    struct audit *a = arg;
    struct audit_item *batch[AUDIT_BATCH_MAX];
    struct timespec next_purge, flush;
    bool purge_due = a->retention_days > 0;
    unsigned full = a->cap < AUDIT_BATCH_MAX ? a->cap : AUDIT_BATCH_MAX;

    deadline_in(&next_purge, 0);
    pthread_mutex_lock(&a->lock);
    deadline_in(&flush, 0);
    for (;;) {
        size_t n = 0;
        bool stopping;

        /*
         * Gather entries until AUDIT_FLUSH_MS after the last commit, unless
         * a batch is full, the writer stops, or a purge is due.
         */
        for (;;) {
            if (a->stopping || a->len >= full || purge_due ||
                (a->len > 0 && deadline_passed(&flush)))
                break;
            if (a->retention_days > 0 && deadline_passed(&next_purge)) {
                purge_due = true;
                break;
            }
            if (a->len > 0)
                pthread_cond_timedwait(&a->wake, &a->lock, &flush);
            else if (a->retention_days > 0)
                pthread_cond_timedwait(&a->wake, &a->lock, &next_purge);
            else
                pthread_cond_wait(&a->wake, &a->lock);
        }
        if (a->len == 0 && a->stopping)
            break;
        while (n < AUDIT_BATCH_MAX && a->len > 0) {
            batch[n++] = a->ring[a->head];
            a->head = (a->head + 1) % a->cap;
            a->len--;
        }
        stopping = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (n > 0) {
            write_batch(a, batch, n);
            deadline_in(&flush, AUDIT_FLUSH_MS);
        }
        if (purge_due && !stopping) {
            /* One batch at a time, so that queued entries are written in between. */
            purge_due = purge_batch(a);
            if (!purge_due)
                deadline_in(&next_purge, a->purge_interval_ms);
        }
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

struct audit *audit_start(const struct audit_opts *o, struct err *err)
{
    struct store_options so = o->store;
    struct audit *a;
    pthread_condattr_t ca;

    so.read_only = false;
    a = xcalloc(1, sizeof *a);
    if ((a->st = store_open(o->db, &so, err)) == NULL) {
        free(a);
        return NULL;
    }
    a->cap = o->queue_max > 0 ? o->queue_max : AUDIT_QUEUE_DEFAULT;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    a->ring = xcalloc(a->cap, sizeof *a->ring);
    a->retention_days = o->retention_days;
    a->purge_interval_ms =
        o->purge_interval_ms > 0 ? o->purge_interval_ms : AUDIT_PURGE_INTERVAL_S * 1000;
    a->purge_batch = o->purge_batch > 0 ? o->purge_batch : AUDIT_PURGE_BATCH;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&a->wake, &ca) != 0 || pthread_mutex_init(&a->lock, NULL) != 0)
        fatalx("audit: cannot create a lock");
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
        err_set(err, ERR_SYSTEM, "audit: cannot start the writer thread");
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        store_close(a->st);
        free(a->ring);
        free(a);
        return NULL;
    }
    return a;
}

void audit_stop(struct audit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    store_close(a->st);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->ring);
    free(a);
}

struct audit *audit_start_config(const struct config *cfg)
{
    struct audit_opts o = {
        .db = cfg->db_path,
        .store = {.busy_timeout_ms = cfg->busy_timeout_ms,
                  .min_free_bytes = cfg->min_free_bytes,
                  .password = cfg->db_password},
        .retention_days = cfg->audit_retention_days,
    };
    struct err err = {0};
    struct audit *a;

    /* The audit never makes a database: a command that finds none fails on its own. */
    if (!cfg->audit || (!store_is_postgres_uri(cfg->db_path) && access(cfg->db_path, F_OK) != 0))
        return NULL;
    if ((a = audit_start(&o, &err)) == NULL)
        log_warnx("audit: MCP tool calls and resource reads will NOT be recorded: the database "
                  "cannot be opened for writing (%s); make it writable, or set audit no",
                  err.msg);
    return a;
}
