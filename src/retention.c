/*
 * retention.c: retention sweeps (retention.h). The removal itself is the
 * store's (store_purge, one short transaction per batch); this file
 * decides the cut-off times, paces the batches and runs them in a thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "retention.h"
#include "textutil.h"
#include "xmalloc.h"

#define DAY_MS (86400LL * 1000LL)

bool retention_enabled(const struct config *cfg)
{
    return cfg->retention_days > 0 || cfg->retention_rejected_days > 0;
}

void retention_cutoffs(const struct config *cfg, int64_t now_ms, int64_t *calls_before,
                       int64_t *rejected_before)
{
    *calls_before =
        cfg->retention_days > 0 ? now_ms - (int64_t)cfg->retention_days * DAY_MS : INT64_MIN;
    *rejected_before = cfg->retention_rejected_days > 0
                           ? now_ms - (int64_t)cfg->retention_rejected_days * DAY_MS
                           : INT64_MIN;
}

int retention_sweep(struct store *st, const struct config *cfg, int64_t now_ms, bool dry_run,
                    unsigned pause_ms, const volatile bool *stop, struct store_removed *out,
                    struct retention_stats *stats, struct err *err)
{
    int64_t calls_before, rejected_before;
    int rc;

    retention_cutoffs(cfg, now_ms, &calls_before, &rejected_before);
    if (calls_before == INT64_MIN && rejected_before == INT64_MIN)
        return 0;
    do {
        struct store_removed batch = {0};
        double t0 = time_mono(), took;

        rc = store_purge(st, calls_before, rejected_before, RETENTION_BATCH, dry_run, &batch, err);
        took = time_mono() - t0;
        if (rc == -1)
            return -1;
        out->calls += batch.calls;
        out->deliveries += batch.deliveries;
        if (stats != NULL && !dry_run) {
            stats->calls += (uint64_t)batch.calls;
            stats->deliveries += (uint64_t)batch.deliveries;
            if (took > stats->longest_batch_s)
                stats->longest_batch_s = took;
        }
        if (rc == 1 && pause_ms > 0)
            nanosleep(&(struct timespec){pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L},
                      NULL);
    } while (rc == 1 && (stop == NULL || !*stop));
    return 0;
}

/* Milliseconds between batches of the daemon's sweeps: room for webhook commits. */
#define SWEEP_PAUSE_MS 20

struct retention {
    const struct config *cfg;
    struct store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    volatile bool stop;
    struct retention_stats stats; /* under lock */
};

static void sweep_once(struct retention *r)
{
    struct store_removed removed = {0};
    struct retention_stats stats = {0};
    struct err err = {0};
    double t0 = time_mono();
    int rc = retention_sweep(r->st, r->cfg, time_now_ms(), false, SWEEP_PAUSE_MS, &r->stop,
                             &removed, &stats, &err);

    pthread_mutex_lock(&r->lock);
    r->stats.sweeps++;
    r->stats.failures += rc == -1;
    r->stats.calls += stats.calls;
    r->stats.deliveries += stats.deliveries;
    if (stats.longest_batch_s > r->stats.longest_batch_s)
        r->stats.longest_batch_s = stats.longest_batch_s;
    pthread_mutex_unlock(&r->lock);
    if (rc == -1)
        log_warnx("retention sweep: %s (removed %lld calls and %lld deliveries before it)", err.msg,
                  (long long)stats.calls, (long long)stats.deliveries);
    else if (removed.calls > 0 || removed.deliveries > 0)
        log_info("retention sweep: removed %lld calls and %lld deliveries in %.1f s (longest"
                 " batch %.0f ms)",
                 (long long)removed.calls, (long long)removed.deliveries, time_mono() - t0,
                 stats.longest_batch_s * 1000.0);
}

static void *sweeper_main(void *arg)
{
    struct retention *r = arg;

    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct timespec until;

        pthread_mutex_unlock(&r->lock);
        sweep_once(r);
        pthread_mutex_lock(&r->lock);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)r->cfg->retention_interval;
        while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct retention *retention_start(const struct config *cfg, struct err *err)
{
    struct store_options o = {
        .busy_timeout_ms = cfg->busy_timeout_ms,
        .password = cfg->db_password,
    };
    struct retention *r;

    if (!retention_enabled(cfg))
        return NULL;
    r = xcalloc(1, sizeof *r);
    r->cfg = cfg;
    if ((r->st = store_open(cfg->db_path, &o, err)) == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, sweeper_main, r) != 0) {
        err_set(err, ERR_INTERNAL, "cannot start the retention thread");
        store_close(r->st);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
        return NULL;
    }
    log_info("retention: calls kept %u days, rejected deliveries %u days (0: forever); sweeping"
             " every %u s",
             cfg->retention_days, cfg->retention_rejected_days, cfg->retention_interval);
    return r;
}

void retention_get_stats(struct retention *r, struct retention_stats *out)
{
    if (r == NULL) {
        *out = (struct retention_stats){0};
        return;
    }
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->lock);
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    store_close(r->st);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}
