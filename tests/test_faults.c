/*
 * test_faults.c: the storage promises of docs/reliability.md under faults,
 * through the real binary on loopback.
 *
 *   crash        SIGKILL at random moments during a webhook load, restart on
 *                the same file: every 2xx is stored, nothing twice, integrity ok
 *   disk full    a 2 MiB tmpfs (when the test may mount one): 503 and never a
 *                2xx for a call not stored, nothing partial, ingestion resumes
 *                when space returns; always also the free-space threshold and
 *                SQLite's page limit through the writer
 *   busy         another process holds the write lock past busy_timeout: 503
 *                with Retry-After, then 200 once it lets go
 *   backup       `phonely-mcp backup` during a load: a checked copy with every
 *                call acknowledged before it started, and a restore that
 *                serves the same calls
 *
 * Bounded in count and time (the whole program takes well under two minutes
 * with sanitizers); every test stops the daemons, threads, processes and
 * mounts it started. PHONELY_FAULT_SEED=N repeats a run's random choices.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "ingest.h"
#include "payload.h"
#include "store.h"
#include "xmalloc.h"

extern char **environ;

#define CRASH_ROUNDS     20
#define CRASH_WORKERS    8
#define LOAD_WORKERS_MAX 8
#define LOAD_SEQ_MAX     4096
#define WEBHOOK          "/phonely/webhook"
#define MIB              (1024ULL * 1024ULL)
#define LAT_BUCKETS      10001 /* answer times in whole ms; the last bucket is 10 s or more */

static uint64_t seed;
static char id_prefix[64]; /* "bench_<run>_": bench_call_body's ids without worker and seq */

/* ---- small helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
    return (unsigned)(rng_next(s) % n);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The body of call (worker, seq): the same bytes every time, so a re-send is a duplicate. */
static void call_body(struct buf *b, int worker, uint32_t seq)
{
    bench_call_body(b, worker, seq, 0);
}

static void call_id(int worker, uint32_t seq, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%d_%u", id_prefix, worker, seq);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static uint64_t free_bytes(const char *dir)
{
    struct statvfs sv;

    if (statvfs(dir, &sv) == -1)
        return 0;
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* POST one body to the webhook; returns the status, or -1 when nothing came back. */
static int post(uint16_t port, const char *body, size_t len, struct http_resp *keep)
{
    struct http_resp r;
    int status;

    if (http_post(port, WEBHOOK, NULL, body, len, &r) != 0)
        return -1;
    status = r.status;
    if (keep != NULL)
        *keep = r;
    else
        http_resp_free(&r);
    return status;
}

static int post_call(uint16_t port, int worker, uint32_t seq)
{
    struct buf b = {0};
    int status;

    call_body(&b, worker, seq);
    status = post(port, b.data, b.len, NULL);
    buf_free(&b);
    return status;
}

/* Files in dir that a backup should not leave behind: temporary copies and journals. */
static int leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".tmp-") != NULL || strstr(de->d_name, "copy.db-") != NULL) {
            fprintf(stderr, "left behind: %s/%s\n", dir, de->d_name);
            n++;
        }
    }
    if (d != NULL)
        closedir(d);
    return n;
}

/* ---- looking at a database file directly ---- */

static sqlite3 *db_open(const char *path, bool rw)
{
    sqlite3 *h = NULL;

    if (sqlite3_open_v2(path, &h, rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, h ? sqlite3_errmsg(h) : "cannot open");
        abort();
    }
    sqlite3_busy_timeout(h, 5000);
    return h;
}

static long long db_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(h));
    sqlite3_finalize(s);
    return v;
}

/* PRAGMA integrity_check as one string: "ok", or the problems joined by "; ". */
static char *db_integrity(sqlite3 *h)
{
    sqlite3_stmt *s = NULL;
    struct buf b = {0};
    int rc;

    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
        return xstrdup(sqlite3_errmsg(h));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        buf_printf(&b, "%s%s", b.len ? "; " : "", (const char *)sqlite3_column_text(s, 0));
    if (rc != SQLITE_DONE)
        buf_printf(&b, "%s%s", b.len ? "; " : "", sqlite3_errmsg(h));
    sqlite3_finalize(s);
    return b.len ? buf_steal(&b, NULL) : xstrdup("(no rows)");
}

struct db_counts {
    long long calls;
    long long deliveries;
    long long duplicates;
};

/*
 * The invariants every test ends with: integrity_check ok, the search index
 * matching the calls (rw only: FTS5's check is an INSERT), each call with
 * exactly one 'stored' delivery and pointing at it, no delivery naming a
 * call that is not there (a partial write), no call id twice, and no
 * rejected or updated rows (the tests send every id with the same bytes).
 */
static void check_db(const char *path, bool rw, struct db_counts *out)
{
    sqlite3 *h = db_open(path, rw);
    char *ic = db_integrity(h);

    CHECK_STR_EQ(ic, "ok");
    free(ic);
    if (rw)
        CHECK_INT_EQ(sqlite3_exec(h, "INSERT INTO calls_fts (calls_fts) VALUES ('integrity-check')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    CHECK_INT_EQ(db_int(h, "SELECT count(*) - count(DISTINCT call_id) FROM calls"), 0);
    CHECK_INT_EQ(db_int(h, "SELECT count(*) FROM calls c WHERE (SELECT count(*) FROM deliveries d"
                           " WHERE d.call_id = c.call_id AND d.outcome = 'stored') <> 1"),
                 0);
    CHECK_INT_EQ(db_int(h, "SELECT count(*) FROM calls c LEFT JOIN deliveries d"
                           " ON d.id = c.delivery_id WHERE d.id IS NULL"
                           " OR d.call_id IS NOT c.call_id OR d.outcome <> 'stored'"),
                 0);
    CHECK_INT_EQ(db_int(h, "SELECT count(*) FROM deliveries d WHERE d.call_id IS NOT NULL"
                           " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.call_id = d.call_id)"),
                 0);
    CHECK_INT_EQ(db_int(h, "SELECT count(*) FROM deliveries WHERE outcome IN ('updated', "
                           "'rejected')"),
                 0);
    out->calls = db_int(h, "SELECT count(*) FROM calls");
    out->deliveries = db_int(h, "SELECT count(*) FROM deliveries");
    out->duplicates = db_int(h, "SELECT count(*) FROM deliveries WHERE outcome = 'duplicate'");
    sqlite3_close(h);
}

/* ---- a webhook load that remembers the answer to every call it sent ---- */

enum { ST_SENT = 1, ST_ACKED = 2, ST_REFUSED = 4, ST_OTHER = 8 };

struct load;

struct load_worker {
    struct load *l;
    int w;
    uint64_t rng;
};

struct load {
    uint16_t port;
    int nworkers;
    int base;                /* bench worker number of worker 0, to keep tests' ids apart */
    unsigned resend_pct;     /* share of posts that re-send an id this worker sent before */
    unsigned max_posts;      /* per worker and run; 0: until stopped */
    unsigned stop_after_503; /* a worker stops after this many 503s in a row; 0: never */
    atomic_bool stop;
    atomic_uchar state[LOAD_WORKERS_MAX][LOAD_SEQ_MAX];
    atomic_uint next[LOAD_WORKERS_MAX]; /* the next fresh seq of each worker */
    atomic_uint posts, acked, refused, other, no_retry_after, lost;
    atomic_uint refused_full;     /* 503s that said "storage_full" */
    atomic_uint lat[LAT_BUCKETS]; /* how long each 2xx took, by ms */
    pthread_t th[LOAD_WORKERS_MAX];
    struct load_worker wk[LOAD_WORKERS_MAX];
};

static void *load_main(void *arg)
{
    struct load_worker *wk = arg;
    struct load *l = wk->l;
    struct buf b = {0};
    unsigned posts = 0, run503 = 0;

    while (!atomic_load(&l->stop) && (l->max_posts == 0 || posts < l->max_posts)) {
        unsigned next = atomic_load(&l->next[wk->w]);
        struct http_resp r;
        char retry[16];
        uint32_t seq;
        int64_t t0;

        if (next > 0 && rng_below(&wk->rng, 100) < l->resend_pct)
            seq = rng_below(&wk->rng, next);
        else if (next < LOAD_SEQ_MAX)
            atomic_store(&l->next[wk->w], (seq = next) + 1);
        else
            break;
        call_body(&b, l->base + wk->w, seq);
        atomic_fetch_or(&l->state[wk->w][seq], ST_SENT);
        posts++;
        atomic_fetch_add(&l->posts, 1);
        t0 = mono_ms();
        if (post(l->port, b.data, b.len, &r) == -1) {
            atomic_fetch_add(&l->lost, 1);
            break; /* no answer: the daemon is gone */
        }
        if (r.status != 200 && r.body_len == 0) {
            /* Every answer but a 200 carries a JSON body: this one was cut short by a kill
             * (even "HTTP/1.1 20" parses as a status). No answer either. */
            http_resp_free(&r);
            atomic_fetch_add(&l->lost, 1);
            break;
        }
        if (r.status == 200) {
            int64_t ms = mono_ms() - t0;
            atomic_fetch_add(&l->lat[ms < LAT_BUCKETS - 1 ? ms : LAT_BUCKETS - 1], 1);
            atomic_fetch_or(&l->state[wk->w][seq], ST_ACKED);
            atomic_fetch_add(&l->acked, 1);
            run503 = 0;
        } else if (r.status == 503) {
            atomic_fetch_or(&l->state[wk->w][seq], ST_REFUSED);
            atomic_fetch_add(&l->refused, 1);
            if (http_resp_header(&r, "Retry-After", retry, sizeof retry) == NULL)
                atomic_fetch_add(&l->no_retry_after, 1);
            if (strstr(r.body, "\"error\":\"storage_full\"") != NULL)
                atomic_fetch_add(&l->refused_full, 1);
            run503++;
        } else {
            atomic_fetch_or(&l->state[wk->w][seq], ST_OTHER);
            atomic_fetch_add(&l->other, 1);
            fprintf(stderr, "load: unexpected status %d: %.200s\n", r.status, r.body);
        }
        http_resp_free(&r);
        if (l->stop_after_503 != 0 && run503 >= l->stop_after_503)
            break;
    }
    buf_free(&b);
    return NULL;
}

static struct load *load_new(int nworkers, int base, unsigned resend_pct)
{
    struct load *l = xcalloc(1, sizeof *l);

    l->nworkers = nworkers;
    l->base = base;
    l->resend_pct = resend_pct;
    return l;
}

static void load_start(struct load *l, uint16_t port, unsigned round)
{
    l->port = port;
    atomic_store(&l->stop, false);
    for (int w = 0; w < l->nworkers; w++) {
        l->wk[w] = (struct load_worker){.l = l, .w = w};
        l->wk[w].rng = seed ^ ((uint64_t)(l->base + w + 1) << 32) ^ ((uint64_t)round << 8) ^ 1;
        rng_next(&l->wk[w].rng);
        if (pthread_create(&l->th[w], NULL, load_main, &l->wk[w]) != 0)
            abort();
    }
}

/* Wait for every worker to finish on its own (max_posts, stop_after_503, a lost daemon). */
static void load_wait(struct load *l)
{
    for (int w = 0; w < l->nworkers; w++)
        pthread_join(l->th[w], NULL);
}

/* Tell the workers to stop after their current post, and wait for them. */
static void load_stop(struct load *l)
{
    atomic_store(&l->stop, true);
    load_wait(l);
}

/* The answer time (ms) that fraction q of the 2xx answers did not exceed. */
static unsigned load_latency(struct load *l, double q)
{
    uint64_t total = 0, seen = 0;

    for (unsigned i = 0; i < LAT_BUCKETS; i++)
        total += atomic_load(&l->lat[i]);
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += atomic_load(&l->lat[i]);
        if (total > 0 && (double)seen >= q * (double)total)
            return i;
    }
    return 0;
}

struct oracle {
    unsigned sent, acked, stored, missing, stored_unacked, refused_only, refused_stored;
};

/*
 * Compare what the load was told with what the file holds: an id that got
 * a 2xx must be there (missing counts those that are not); one only ever
 * answered 503 (refused_only) must not be, unless it was committed after
 * all (refused_stored: possible only when the commit's outcome is unknown).
 */
static void load_oracle(struct load *l, const char *db, struct oracle *o)
{
    sqlite3 *h = db_open(db, false);
    sqlite3_stmt *q = NULL;
    char id[96];

    memset(o, 0, sizeof *o);
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM calls WHERE call_id = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        abort();
    for (int w = 0; w < l->nworkers; w++) {
        unsigned next = atomic_load(&l->next[w]);
        for (unsigned seq = 0; seq < next; seq++) {
            unsigned char st = atomic_load(&l->state[w][seq]);
            bool stored;

            if (!(st & ST_SENT))
                continue;
            call_id(l->base + w, seq, id, sizeof id);
            sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
            stored = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1;
            sqlite3_reset(q);
            o->sent++;
            o->acked += (st & ST_ACKED) != 0;
            o->stored += stored;
            if ((st & ST_ACKED) && !stored && o->missing++ < 10)
                fprintf(stderr, "acknowledged but not stored: %s\n", id);
            o->stored_unacked += stored && !(st & ST_ACKED);
            if ((st & ST_REFUSED) && !(st & ST_ACKED)) {
                o->refused_only++;
                o->refused_stored += stored;
            }
        }
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
}

/* ---- running the CLI while threads run ---- */

/*
 * Run `phonely-mcp ARGS...` and capture its output. posix_spawn rather than
 * the harness's fork(): this runs while load threads are busy, and a forked
 * child of a threaded process must not allocate before exec.
 */
static int spawn_cli(const char *const *args, char **out, char **errout)
{
    const char *bin = getenv("PHONELY_TEST_BIN") ? getenv("PHONELY_TEST_BIN") : "./phonely-mcp";
    char *dir = tmpdir_make("spawn");
    char *outp = xasprintf("%s/out", dir), *errp = xasprintf("%s/err", dir);
    char *argv[16];
    posix_spawn_file_actions_t fa;
    size_t n = 0;
    pid_t pid;
    int status = 0;

    argv[n++] = (char *)"phonely-mcp";
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
        abort();
    posix_spawn_file_actions_destroy(&fa);
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    *out = file_read(outp, NULL);
    if (errout != NULL)
        *errout = file_read(errp, NULL);
    tmpdir_remove(dir);
    free(dir);
    free(outp);
    free(errp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- crash ---- */

/*
 * CRASH_ROUNDS times: start serve on one file, CRASH_WORKERS threads post
 * fresh calls and (one in ten) re-send earlier ones, SIGKILL after a random
 * 50-400 ms, restart. Then every id that got a 2xx must be stored, once,
 * with consistent deliveries, and the file must pass integrity_check.
 */
static void test_crash(void)
{
    char *dir = tmpdir_make("crash"), *db = xasprintf("%s/calls.db", dir);
    char *copy = xasprintf("%s/after-crash.db", dir);
    const char *env[] = {"PHONELY_MCP_MIN_FREE_BYTES=1M", NULL};
    struct load *l = load_new(CRASH_WORKERS, 100, 10);
    uint64_t rng = seed ^ 0xC4A5;
    struct daemon d;
    struct oracle o;
    struct db_counts n;
    unsigned kills = 0, prev_posts = 0, prev_acked = 0;
    int64_t t0 = mono_ms();

    l->max_posts = 2000;
    for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
        long delay = (50 + (long)rng_below(&rng, 351)) * time_scale();

        daemon_start_db(&d, db, env);
        load_start(l, d.webhook_port, round);
        sleep_ms(delay);
        daemon_kill(&d);
        kills++;
        load_stop(l);
        daemon_cleanup(&d);
        printf("crash: round %2u killed after %3ld ms: %4u posts, %4u acknowledged\n", round, delay,
               atomic_load(&l->posts) - prev_posts, atomic_load(&l->acked) - prev_acked);
        prev_posts = atomic_load(&l->posts);
        prev_acked = atomic_load(&l->acked);
    }

    /* `backup` straight after the last kill (the WAL still needs recovery) loses nothing. */
    {
        const char *args[] = {"backup", "--db", db, copy, NULL};
        char *out = NULL, *errout = NULL;
        struct oracle oc;

        CHECK_INT_EQ(spawn_cli(args, &out, &errout), 0);
        load_oracle(l, copy, &oc);
        CHECK(oc.acked > 0);
        CHECK_INT_EQ(oc.missing, 0);
        printf("crash: backup of the killed database: %s", out);
        free(out);
        free(errout);
    }

    /* After the last kill the daemon starts on the same file and serves what it acknowledged. */
    daemon_start_db(&d, db, env);
    {
        unsigned checked = 0;
        for (int w = 0; w < l->nworkers && checked < 8; w++) {
            for (unsigned seq = 0; seq < atomic_load(&l->next[w]) && checked < 8; seq++) {
                char id[96], path[160];
                struct http_resp r;
                struct buf b = {0};

                if (!(atomic_load(&l->state[w][seq]) & ST_ACKED))
                    continue;
                call_id(l->base + w, seq, id, sizeof id);
                call_body(&b, l->base + w, seq);
                snprintf(path, sizeof path, "/phonely/events/%s", id);
                CHECK_INT_EQ(http_get(d.private_port, path, &r), 0);
                CHECK_INT_EQ(r.status, 200);
                CHECK(r.body_len == b.len && memcmp(r.body, b.data, b.len) == 0);
                http_resp_free(&r);
                buf_free(&b);
                checked++;
                seq += 97; /* spread the sample */
            }
        }
        CHECK_INT_EQ(checked, 8);
    }
    CHECK_INT_EQ(post_call(d.webhook_port, 199, 0), 200);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);

    load_oracle(l, db, &o);
    check_db(db, true, &n);
    CHECK_INT_EQ(kills, CRASH_ROUNDS);
    CHECK(o.acked > 0);
    CHECK_INT_EQ(o.missing, 0);
    CHECK_INT_EQ(atomic_load(&l->other), 0);
    CHECK_INT_EQ(n.calls, o.stored + 1); /* + the call posted after the last restart */
    /* R4: well under the strictest sender timeout (GitHub: 10 s), even with sanitizers. */
    CHECK(load_latency(l, 1.0) < 5000 * time_scale());
    printf("crash: %u kills, %u posts (%u ids), %u ids acknowledged, %u stored, %u stored without "
           "an ack (committed just before a kill), %lld duplicate deliveries, acknowledged but "
           "missing %u, integrity ok; 2xx answer time p50 %u ms, p99 %u ms, max %u ms; %.1f s\n",
           kills, atomic_load(&l->posts), o.sent, o.acked, o.stored, o.stored_unacked, n.duplicates,
           o.missing, load_latency(l, 0.5), load_latency(l, 0.99), load_latency(l, 1.0),
           (double)(mono_ms() - t0) / 1000.0);
    free(l);
    tmpdir_remove(dir);
    free(dir);
    free(db);
    free(copy);
}

/* ---- disk full ---- */

/* Write a ballast file of want bytes (fewer when the disk fills first); returns its size. */
static uint64_t ballast_write(const char *path, uint64_t want)
{
    static char chunk[64 * 1024];
    uint64_t done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd == -1)
        abort();
    while (done < want) {
        size_t n = want - done < sizeof chunk ? (size_t)(want - done) : sizeof chunk;
        ssize_t w = write(fd, chunk, n);
        if (w <= 0)
            break;
        done += (uint64_t)w;
    }
    fsync(fd);
    close(fd);
    return done;
}

/*
 * Wait (up to 10 s) until dir has at least want bytes free. A journalling
 * filesystem may count a deleted file's blocks free only once its journal
 * commits; syncing the directory asks for that commit.
 */
static bool wait_free(const char *dir, uint64_t want)
{
    for (int i = 0; i < 1000; i++) {
        int fd;

        if (free_bytes(dir) >= want)
            return true;
        if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) != -1) {
            fsync(fd);
            close(fd);
        }
        sleep_ms(10);
    }
    return false;
}

static const char *disk_full_mode = "not run";

/*
 * A real full disk: the database on a 2 MiB tmpfs nearly filled by a
 * ballast file, min_free_bytes 0 so SQLite itself runs into ENOSPC. Four
 * writers post until each has seen five 503s in a row. Then: every 2xx
 * stored, no 503-only id stored, nothing partial, integrity ok, reads still
 * served. Deleting the ballast lets the next posts through without a
 * restart; a remount to 64 MiB then takes every refused id again and a
 * load long enough to checkpoint the WAL into the database file.
 */
static void test_disk_full_tmpfs(void)
{
    char *mnt = tmpdir_make("tmpfs");
    char *db = xasprintf("%s/calls.db", mnt), *wal = xasprintf("%s/calls.db-wal", mnt);
    char *ballast = xasprintf("%s/ballast", mnt);
    const char *env[] = {"PHONELY_MCP_MIN_FREE_BYTES=0", NULL};
    struct load *l = load_new(4, 300, 0);
    struct daemon d;
    struct oracle o;
    struct db_counts n;
    struct http_resp r;
    uint64_t size, db_before;
    unsigned resumed = 0, retried = 0, refused;

    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") == -1) {
        printf("disk-full: cannot mount a tmpfs here (%s; needs root): the real full-disk case "
               "does not run; the free-space threshold and page-limit cases cover 503, nothing "
               "partial and recovery\n",
               strerror(errno));
        disk_full_mode = "fallback (no tmpfs)";
        goto out;
    }
    disk_full_mode = "tmpfs";
    daemon_start_db(&d, db, env);
    CHECK_INT_EQ(post_call(d.webhook_port, 399, 0), 200);
    size = free_bytes(mnt);
    size = ballast_write(ballast, size > 512 * 1024 ? size - 512 * 1024 : 0);
    printf("disk-full: 2 MiB tmpfs, ballast %llu KiB, %llu KiB left for the database\n",
           (unsigned long long)(size / 1024), (unsigned long long)(free_bytes(mnt) / 1024));

    /* Fill: each writer stops after five 503s in a row. */
    l->max_posts = 300;
    l->stop_after_503 = 5;
    load_start(l, d.webhook_port, 0);
    load_wait(l);
    refused = atomic_load(&l->refused);
    CHECK(refused >= 4 * 5);
    CHECK_INT_EQ(atomic_load(&l->refused_full), refused); /* SQLITE_FULL became ERR_FULL */
    CHECK_INT_EQ(atomic_load(&l->other), 0);
    CHECK_INT_EQ(atomic_load(&l->lost), 0);
    CHECK_INT_EQ(atomic_load(&l->no_retry_after), 0);

    /* While full: reads are served, and the file holds exactly what was acknowledged. */
    CHECK_INT_EQ(http_get(d.webhook_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"writer\":\"failing\",\"writerError\":\"storage_full\"");
    http_resp_free(&r);
    load_oracle(l, db, &o);
    CHECK(o.acked > 0);
    CHECK_INT_EQ(o.missing, 0);
    CHECK(o.refused_only > 0);
    CHECK_INT_EQ(o.refused_stored, 0);
    check_db(db, false, &n);
    printf("disk-full: %u posts while filling: %u acknowledged (all stored), %u answered 503 "
           "(none stored), WAL %llu KiB, database file %llu KiB, integrity ok\n",
           atomic_load(&l->posts), atomic_load(&l->acked), refused,
           (unsigned long long)(file_size(wal) / 1024), (unsigned long long)(file_size(db) / 1024));

    /* A crash while full, and a restart on the still-full disk: serve starts (WAL recovery
     * needs no new space) and answers 503 or, where a commit still fits, 200 and stores it. */
    daemon_kill(&d);
    daemon_cleanup(&d);
    daemon_start_db(&d, db, env);
    atomic_store(&l->acked, 0);
    atomic_store(&l->refused, 0);
    l->max_posts = 30;
    l->stop_after_503 = 2;
    load_start(l, d.webhook_port, 2);
    load_wait(l);
    CHECK(atomic_load(&l->refused) >= 4 * 2);
    CHECK_INT_EQ(atomic_load(&l->other), 0);
    CHECK_INT_EQ(atomic_load(&l->lost), 0);
    load_oracle(l, db, &o);
    CHECK_INT_EQ(o.missing, 0);
    CHECK_INT_EQ(o.refused_stored, 0);
    check_db(db, false, &n);
    printf("disk-full: killed while full and restarted on the full disk: %u acknowledged, %u "
           "answered 503, nothing acknowledged missing, integrity ok\n",
           atomic_load(&l->acked), atomic_load(&l->refused));

    /* Space returns (the ballast goes): the next posts are stored, no restart. */
    unlink(ballast);
    for (uint32_t i = 1; i <= 3; i++)
        resumed += post_call(d.webhook_port, 399, i) == 200;
    CHECK_INT_EQ(resumed, 3);

    /* More space (remount at 64 MiB): the sender's retries of every refused id go through,
     * and a longer load makes the WAL checkpoint into the database file. */
    CHECK_INT_EQ(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=64m"), 0);
    for (int w = 0; w < l->nworkers; w++) {
        for (unsigned seq = 0; seq < atomic_load(&l->next[w]); seq++) {
            unsigned char st = atomic_load(&l->state[w][seq]);
            if (!(st & ST_REFUSED) || (st & ST_ACKED))
                continue;
            CHECK_INT_EQ(post_call(d.webhook_port, l->base + w, seq), 200);
            atomic_fetch_or(&l->state[w][seq], ST_ACKED);
            retried++;
        }
    }
    db_before = file_size(db);
    l->max_posts = 150;
    l->stop_after_503 = 0;
    atomic_store(&l->refused, 0);
    load_start(l, d.webhook_port, 1);
    load_wait(l);
    CHECK_INT_EQ(atomic_load(&l->refused), 0);
    CHECK_INT_EQ(atomic_load(&l->other), 0);
    CHECK(file_size(db) > db_before);
    printf("disk-full: space back: %u/3 next posts stored at once, %u refused ids re-sent and "
           "stored, %u more posts all stored; database file %llu -> %llu KiB (checkpointed)\n",
           resumed, retried, l->nworkers * l->max_posts, (unsigned long long)(db_before / 1024),
           (unsigned long long)(file_size(db) / 1024));
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);

    load_oracle(l, db, &o);
    CHECK_INT_EQ(o.missing, 0);
    CHECK_INT_EQ(o.stored, o.sent);
    check_db(db, true, &n);
    CHECK_INT_EQ(n.calls, o.stored + 4);
    if (umount2(mnt, MNT_DETACH) == -1)
        CHECK_FAIL_("umount %s: %s", mnt, strerror(errno));
out:
    free(l);
    rmdir(mnt);
    free(mnt);
    free(db);
    free(wal);
    free(ballast);
}

/*
 * The headroom rule, no SQLite error involved: min_free_bytes set between
 * the free space with and without a ballast file. With the ballast, posts
 * get 503 (ERR_FULL before SQLite writes anything); without it, the same
 * ids are stored, without a restart. On a 64 MiB tmpfs of its own when the
 * test may mount one (nothing else writes there); else in $TMPDIR with a
 * 64 MiB ballast, where other programs writing tens of MiB at the same
 * moment could disturb it.
 */
static void test_disk_full_threshold(void)
{
    char *dir = tmpdir_make("threshold"), *db = xasprintf("%s/calls.db", dir);
    char *ballast = xasprintf("%s/ballast", dir), setting[64];
    bool mounted = mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0700") == 0;
    uint64_t avail = free_bytes(dir), size = mounted ? 32 * MIB : 64 * MIB, threshold;
    const char *env[] = {setting, NULL};
    struct daemon d;
    struct http_resp r;
    struct db_counts n;
    char retry[16];
    int refused = 0, stored = 0;

    if (avail < 4 * size && !mounted)
        size = avail / 4;
    threshold = avail - size / 2;
    snprintf(setting, sizeof setting, "PHONELY_MCP_MIN_FREE_BYTES=%llu",
             (unsigned long long)threshold);
    daemon_start_db(&d, db, env);
    CHECK_INT_EQ(post_call(d.webhook_port, 400, 0), 200);
    CHECK_INT_EQ((long long)ballast_write(ballast, size), (long long)size);
    for (uint32_t seq = 1; seq <= 3; seq++) {
        struct buf b = {0};
        call_body(&b, 400, seq);
        CHECK_INT_EQ(post(d.webhook_port, b.data, b.len, &r), 503);
        CHECK(http_resp_header(&r, "Retry-After", retry, sizeof retry) != NULL);
        CHECK_STR_CONTAINS(r.body, "\"error\":\"storage_full\"");
        refused += r.status == 503;
        http_resp_free(&r);
        buf_free(&b);
    }
    unlink(ballast);
    CHECK(wait_free(dir, threshold + size / 4));
    for (uint32_t seq = 1; seq <= 3; seq++)
        stored += post_call(d.webhook_port, 400, seq) == 200;
    CHECK_INT_EQ(stored, 3);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    check_db(db, true, &n);
    CHECK_INT_EQ(n.calls, 4);
    CHECK_INT_EQ(n.deliveries, 4); /* the refused attempts left nothing behind */
    printf("disk-full: min_free_bytes %llu MiB (%s): %d posts answered 503 with the ballast, the "
           "same %d stored once it was gone, no restart\n",
           (unsigned long long)(threshold / MIB), mounted ? "own 64 MiB tmpfs" : "$TMPDIR", refused,
           stored);
    if (mounted && umount2(dir, MNT_DETACH) == -1)
        CHECK_FAIL_("umount %s: %s", dir, strerror(errno));
    tmpdir_remove(dir);
    free(dir);
    free(db);
    free(ballast);
}

static sqlite3 *captured_db;

/* An auto-extension runs on every new connection: it hands the test the store's own. */
static int capture_db(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api)
{
    (void)errmsg;
    (void)api;
    captured_db = db;
    return SQLITE_OK;
}

struct page_job {
    struct ingest_job job;
    struct call call;
    struct buf body;
    char sha[AUTH_SHA256_HEX];
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *pending;
};

static void page_job_done(struct ingest_job *job, void *arg)
{
    struct page_job *pj = arg;

    (void)job;
    pthread_mutex_lock(pj->lock);
    if (--*pj->pending == 0)
        pthread_cond_signal(pj->cond);
    pthread_mutex_unlock(pj->lock);
}

/* Queue every job at once (so the writer groups them) and wait for all. */
static void page_jobs_run(struct ingest *in, struct page_job *jobs, int njobs)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int pending = njobs;

    for (int i = 0; i < njobs; i++) {
        struct page_job *pj = &jobs[i];
        pj->lock = &lock;
        pj->cond = &cond;
        pj->pending = &pending;
        pj->job.d = (struct delivery){
            .received_ms = 1779600000000,
            .source = "webhook",
            .peer = "127.0.0.1:1",
            .status = 200,
            .body = pj->body.data,
            .body_len = pj->body.len,
            .body_size = pj->body.len,
            .body_sha256 = pj->sha,
            .call = &pj->call,
        };
        pj->job.done = page_job_done;
        pj->job.arg = pj;
        ingest_submit(in, &pj->job);
    }
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_destroy(&lock);
    pthread_cond_destroy(&cond);
}

/*
 * SQLITE_FULL without a mount: the writer's own connection capped at the
 * file's current size (PRAGMA max_page_count), eight deliveries queued at
 * once through the same writer serve uses. Each needs new pages (its 11 KB
 * body overflows its page), so however the writer groups them, every job
 * must be told -1 ERR_FULL with nothing stored; after the cap is lifted
 * the same jobs commit on the same connection.
 */
static void test_disk_full_page_limit(void)
{
    enum { NJOBS = 8 };
    char *dir = tmpdir_make("pages"), *db = xasprintf("%s/calls.db", dir), sql[96];
    struct store_options opt = {.busy_timeout_ms = 1000};
    struct page_job *jobs = xcalloc(NJOBS, sizeof *jobs);
    struct ingest_stats stats;
    struct err err = {0};
    struct store *st;
    struct ingest *in;
    struct db_counts n;
    sqlite3 *sdb;
    long long pages;
    int full = 0, ok = 0;

    sqlite3_auto_extension((void (*)(void))capture_db);
    st = store_open(db, &opt, &err);
    sdb = captured_db;
    sqlite3_reset_auto_extension();
    CHECK(st != NULL);
    if (st == NULL)
        goto out;
    for (int i = 0; i < NJOBS; i++) {
        call_body(&jobs[i].body, 500, (uint32_t)i);
        /*
         * 8 KiB of JSON whitespace before the closing brace: a body longer
         * than two pages needs overflow pages, which a database capped at
         * its size cannot give even to a batch of one (the writer may split
         * the eight when it is slow, as under valgrind).
         */
        jobs[i].body.len--;
        for (int k = 0; k < 8192; k++)
            buf_append(&jobs[i].body, " ", 1);
        buf_append(&jobs[i].body, "}", 1);
        auth_sha256_hex(jobs[i].body.data, jobs[i].body.len, jobs[i].sha);
        CHECK_INT_EQ(payload_parse(jobs[i].body.data, jobs[i].body.len, &jobs[i].call, &err), 0);
    }
    in = ingest_new(&st, 1, 64, &err);
    /* The writer is idle between batches: the test may use its connection then. */
    pages = db_int(sdb, "PRAGMA page_count");
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", pages);
    CHECK_INT_EQ(sqlite3_exec(sdb, sql, NULL, NULL, NULL), SQLITE_OK);
    page_jobs_run(in, jobs, NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        full += jobs[i].job.result == -1 && jobs[i].job.err.code == ERR_FULL;
        CHECK_INT_EQ(jobs[i].job.d.delivery_id, 0);
    }
    CHECK_INT_EQ(full, NJOBS);
    CHECK_STR_CONTAINS(jobs[0].job.err.msg, "full");
    CHECK(sqlite3_get_autocommit(sdb));
    /* A batch of one is refused too. */
    page_jobs_run(in, jobs, 1);
    CHECK_INT_EQ(jobs[0].job.result, -1);
    CHECK_INT_EQ(jobs[0].job.err.code, ERR_FULL);
    CHECK_INT_EQ(jobs[0].job.d.delivery_id, 0);

    CHECK_INT_EQ(sqlite3_exec(sdb, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
                 SQLITE_OK);
    page_jobs_run(in, jobs, NJOBS);
    for (int i = 0; i < NJOBS; i++)
        ok += jobs[i].job.result == 0 && jobs[i].job.d.outcome == DELIVERY_STORED;
    CHECK_INT_EQ(ok, NJOBS);
    ingest_get_stats(in, &stats);
    CHECK(stats.failed_commits >= 1);
    ingest_free(in);
    check_db(db, true, &n);
    CHECK_INT_EQ(n.calls, NJOBS);
    CHECK_INT_EQ(n.deliveries, NJOBS);
    printf("disk-full: max_page_count: %d of %d queued deliveries told ERR_FULL (%llu failed "
           "commit%s), all %d stored on the same connection once the cap was lifted\n",
           full, NJOBS, (unsigned long long)stats.failed_commits,
           stats.failed_commits == 1 ? "" : "s", ok);
out:
    for (int i = 0; i < NJOBS; i++) {
        payload_call_free(&jobs[i].call);
        buf_free(&jobs[i].body);
    }
    free(jobs);
    tmpdir_remove(dir);
    free(dir);
    free(db);
}

/* ---- busy ---- */

/* Another process that holds the database's write lock (BEGIN IMMEDIATE) until told. */
struct holder {
    pid_t pid;
    int to_child;
    int from_child;
};

static bool holder_start(struct holder *h, const char *db)
{
    int down[2], up[2];
    char c = 0;

    if (pipe(down) == -1 || pipe(up) == -1)
        abort();
    h->pid = fork();
    if (h->pid == -1)
        abort();
    if (h->pid == 0) {
        sqlite3 *conn = NULL;
        int rc;

        close(down[1]);
        close(up[0]);
        rc = sqlite3_open_v2(db, &conn, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_busy_timeout(conn, 5000);
            rc = sqlite3_exec(conn, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        }
        c = rc == SQLITE_OK ? 'L' : 'E';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) < 0)
            _exit(1);
        sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(conn);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    h->to_child = down[1];
    h->from_child = up[0];
    return read(h->from_child, &c, 1) == 1 && c == 'L';
}

/* Let go of the lock (the child rolls back and exits) and reap it; returns its status. */
static int holder_release(struct holder *h)
{
    int status = 0;

    if (write(h->to_child, "x", 1) != 1)
        kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    close(h->to_child);
    close(h->from_child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct busy_post {
    uint16_t port;
    int status;
};

static void *busy_post_main(void *arg)
{
    struct busy_post *bp = arg;

    bp->status = post_call(bp->port, 600, 9);
    return NULL;
}

/*
 * busy_timeout 200 ms and another process holding the write lock: a post
 * waits about that long and gets 503 with Retry-After (and no ack), reads
 * go on, and once the lock is gone the same ids are stored without a
 * restart. A lock held for less than the timeout costs only a wait.
 */
static void test_busy(void)
{
    const char *env[] = {"PHONELY_MCP_BUSY_TIMEOUT_MS=200", NULL};
    struct daemon d;
    struct holder h;
    struct http_resp r;
    struct db_counts n;
    struct busy_post bp;
    pthread_t th;
    char retry[16];
    int64_t t0, waited;
    int refused = 0, stored = 0;

    daemon_start(&d, env);
    CHECK_INT_EQ(post_call(d.webhook_port, 600, 0), 200);
    CHECK(holder_start(&h, d.db));
    t0 = mono_ms();
    for (uint32_t seq = 1; seq <= 3; seq++) {
        struct buf b = {0};
        call_body(&b, 600, seq);
        CHECK_INT_EQ(post(d.webhook_port, b.data, b.len, &r), 503);
        CHECK(http_resp_header(&r, "Retry-After", retry, sizeof retry) != NULL);
        CHECK_STR_CONTAINS(r.body, "\"error\":\"storage_busy\"");
        refused += r.status == 503;
        http_resp_free(&r);
        buf_free(&b);
    }
    waited = (mono_ms() - t0) / 3;
    CHECK(waited >= 150);
    CHECK(waited < 3000);
    /* Readers do not wait for the writer in WAL mode; health tells the writer is failing. */
    CHECK_INT_EQ(http_get(d.webhook_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"writer\":\"failing\",\"writerError\":\"storage_busy\"");
    http_resp_free(&r);
    {
        char path[160], id[96];
        call_id(600, 0, id, sizeof id);
        snprintf(path, sizeof path, "/phonely/events/%s", id);
        CHECK_INT_EQ(http_get(d.private_port, path, &r), 0);
        CHECK_INT_EQ(r.status, 200);
        http_resp_free(&r);
    }
    CHECK_INT_EQ(holder_release(&h), 0);
    for (uint32_t seq = 1; seq <= 3; seq++)
        stored += post_call(d.webhook_port, 600, seq) == 200;
    CHECK_INT_EQ(stored, 3);
    CHECK_INT_EQ(http_get(d.private_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"writer\":\"ok\"");
    http_resp_free(&r);

    /* A lock shorter than busy_timeout: the post waits, then succeeds. */
    CHECK(holder_start(&h, d.db));
    bp.port = d.webhook_port;
    pthread_create(&th, NULL, busy_post_main, &bp);
    sleep_ms(50);
    CHECK_INT_EQ(holder_release(&h), 0);
    pthread_join(th, NULL);
    CHECK_INT_EQ(bp.status, 200);

    /* The refusals cannot be in the deliveries table (that is what failed): they are in
     * the metrics and the log. */
    CHECK_INT_EQ(http_get(d.private_port, "/metrics", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "storage_busy");
    CHECK(strstr(r.body, "phonely_commit_failures_total 3") != NULL ||
          strstr(r.body, "phonely_commit_failures_total{} 3") != NULL);
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    {
        char *log = file_read(d.log, NULL);
        CHECK_STR_CONTAINS(log, "-> 503");
        free(log);
    }
    check_db(d.db, true, &n);
    CHECK_INT_EQ(n.calls, 5);
    CHECK_INT_EQ(n.deliveries, 5);
    printf("busy: write lock held by another process past busy_timeout 200 ms: %d posts answered "
           "503 with Retry-After after %lld ms each, reads served meanwhile; the same %d stored "
           "once it let go; a 50 ms lock cost only a wait\n",
           refused, (long long)waited, stored);
    daemon_cleanup(&d);
}

/*
 * The WAL unlinked under a running daemon: what is written to it can no
 * longer reach the disk under that name, so the next flush fails. The
 * delivery gets 503, so does every later one (the failure is final), the
 * health check turns 503 "needs_restart" and the metrics count it. After
 * a restart the writer is ok again and the file passes its checks.
 */
static void test_wal_lost(void)
{
    struct daemon d;
    struct http_resp r;
    struct db_counts n;
    char *dir = tmpdir_make("wal"), *db = xasprintf("%s/calls.db", dir), *wal;

    daemon_start_db(&d, db, NULL);
    CHECK_INT_EQ(post_call(d.webhook_port, 700, 0), 200);
    wal = xasprintf("%s-wal", d.db);
    CHECK_INT_EQ(unlink(wal), 0);
    CHECK_INT_EQ(post_call(d.webhook_port, 700, 1), 503);
    CHECK_INT_EQ(post_call(d.webhook_port, 700, 2), 503);
    CHECK_INT_EQ(http_get(d.private_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 503);
    CHECK_STR_CONTAINS(r.body, "\"writer\":\"needs_restart\",\"writerError\":\"storage_error\"");
    http_resp_free(&r);
    CHECK_INT_EQ(http_get(d.private_port, "/metrics", &r), 0);
    CHECK(strstr(r.body, "phonely_wal_sync_failures_total 2") != NULL);
    CHECK(strstr(r.body, "phonely_commit_failures_total 0") != NULL);
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    {
        char *log = file_read(d.log, NULL);
        CHECK_STR_CONTAINS(log, "acknowledgements stop until the daemon restarts");
        free(log);
    }
    daemon_cleanup(&d);
    daemon_start_db(&d, db, NULL);
    CHECK_INT_EQ(post_call(d.webhook_port, 700, 3), 200);
    CHECK_INT_EQ(http_get(d.private_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"writer\":\"ok\"");
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    /*
     * What the lost WAL held and no checkpoint had copied yet is gone with
     * it (call 0 here, acknowledged before the unlink): that is why the
     * daemon stops acknowledging. The file itself is sound.
     */
    check_db(db, true, &n);
    CHECK(n.calls >= 1);
    printf("wal lost: 2 posts after the WAL was unlinked answered 503, health 503 "
           "needs_restart; after a restart: writer ok, integrity ok (%lld calls)\n",
           (long long)n.calls);
    daemon_cleanup(&d);
    tmpdir_remove(dir);
    free(wal);
    free(db);
    free(dir);
}

/* ---- backup ---- */

#define BACKUP_MARKERS 5

static void marker_body(struct buf *b, int i)
{
    buf_reset(b);
    buf_printf(
        b,
        "{\"callId\":\"marker-%d\",\"summary\":\"quokka marker %d before the backup\","
        "\"callStarted\":\"2026-05-2%dT10:00:00Z\",\"customerPhoneNumber\":\"+1415555900%d\"}",
        i, i, i, i);
}

/* How many acknowledged ids of l are missing from the database at path. */
static unsigned missing_in(const unsigned char (*acked)[LOAD_SEQ_MAX], int nworkers, int base,
                           const char *path, unsigned *count)
{
    sqlite3 *h = db_open(path, false);
    sqlite3_stmt *q = NULL;
    unsigned missing = 0;
    char id[96];

    *count = 0;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM calls WHERE call_id = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        abort();
    for (int w = 0; w < nworkers; w++) {
        for (unsigned seq = 0; seq < LOAD_SEQ_MAX; seq++) {
            if (!(acked[w][seq] & ST_ACKED))
                continue;
            (*count)++;
            call_id(base + w, seq, id, sizeof id);
            sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
            if (!(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1) && missing++ < 10)
                fprintf(stderr, "acknowledged before the backup, not in it: %s\n", id);
            sqlite3_reset(q);
        }
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
    return missing;
}

/*
 * `phonely-mcp backup` while four writers post: the copy passes its own and
 * our checks and holds every call acknowledged before it started. An
 * existing DEST is refused without --force. Restore drill: the copy is
 * backed up into an empty directory as the database, serve starts on it
 * and answers the events endpoint byte for byte, and `tool search_calls`
 * finds the marker calls in it.
 */
static void test_backup(void)
{
    char *dir = tmpdir_make("backup"), *db = xasprintf("%s/live.db", dir);
    char *copy = xasprintf("%s/copy.db", dir), *rdir = xasprintf("%s/restore", dir);
    char *restored = xasprintf("%s/calls.db", rdir), *out = NULL, *errout = NULL;
    char *copy2 = xasprintf("%s/copy2.db", dir), want[64];
    const char *env[] = {"PHONELY_MCP_MIN_FREE_BYTES=1M", NULL};
    unsigned char(*before)[LOAD_SEQ_MAX] = xcalloc(LOAD_WORKERS_MAX, sizeof *before);
    struct load *l = load_new(4, 700, 10);
    struct daemon d, r2;
    struct db_counts live, cp;
    struct buf b = {0};
    struct http_resp r;
    long long printed = -1;
    unsigned acked_before = 0, missing, posts_during;
    int64_t t0, ms;
    int rc;

    daemon_start_db(&d, db, env);
    for (int i = 0; i < BACKUP_MARKERS; i++) {
        marker_body(&b, i);
        CHECK_INT_EQ(post(d.webhook_port, b.data, b.len, NULL), 200);
    }
    load_start(l, d.webhook_port, 0);
    for (int i = 0; i < 500 && atomic_load(&l->acked) < 400; i++)
        sleep_ms(10);
    for (int w = 0; w < l->nworkers; w++)
        for (unsigned seq = 0; seq < LOAD_SEQ_MAX; seq++)
            before[w][seq] = atomic_load(&l->state[w][seq]);
    posts_during = atomic_load(&l->posts);
    t0 = mono_ms();
    {
        const char *args[] = {"backup", "--db", db, copy, NULL};
        rc = spawn_cli(args, &out, &errout);
    }
    ms = mono_ms() - t0;
    posts_during = atomic_load(&l->posts) - posts_during;
    sleep_ms(100);
    load_stop(l);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_CONTAINS(out, " calls, ");
    CHECK_STR_CONTAINS(out, "copied and checked");
    if (strstr(out, ": ") != NULL)
        printed = strtoll(strstr(out, ": ") + 2, NULL, 10);
    if (rc != 0)
        fprintf(stderr, "backup: %s\n", errout);
    free(out);
    free(errout);
    CHECK_INT_EQ(atomic_load(&l->other), 0);
    CHECK_INT_EQ(atomic_load(&l->refused), 0);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);

    /* The copy: consistent, complete up to the moment it started. */
    check_db(copy, false, &cp);
    check_db(db, true, &live);
    missing = missing_in((const unsigned char(*)[LOAD_SEQ_MAX])before, l->nworkers, l->base, copy,
                         &acked_before);
    CHECK(acked_before >= 100);
    CHECK_INT_EQ(missing, 0);
    CHECK_INT_EQ(printed, cp.calls);
    CHECK(cp.calls >= acked_before + BACKUP_MARKERS);
    CHECK(cp.calls <= live.calls);
    CHECK_INT_EQ(leftovers(dir), 0);

    /* DEST exists: refused, unless --force (which replaces it with a fresh copy). */
    {
        const char *args[] = {"backup", "--db", db, copy, NULL};
        CHECK_INT_EQ(spawn_cli(args, &out, &errout), 1);
        CHECK_STR_CONTAINS(errout, "already exists");
        free(out);
        free(errout);
        CHECK_INT_EQ(spawn_cli((const char *[]){"backup", "--db", db, copy2, NULL}, &out, &errout),
                     0);
        free(out);
        free(errout);
        CHECK_INT_EQ(spawn_cli((const char *[]){"backup", "--db", db, "--force", copy2, NULL}, &out,
                               &errout),
                     0);
        snprintf(want, sizeof want, ": %lld calls, ", live.calls);
        CHECK_STR_CONTAINS(out, want);
        free(out);
        free(errout);
    }

    /* Restore drill: into an empty directory, then serve and the tools answer from it. */
    CHECK_INT_EQ(mkdir(rdir, 0700), 0);
    {
        const char *args[] = {"backup", "--db", copy, restored, NULL};
        CHECK_INT_EQ(spawn_cli(args, &out, &errout), 0);
        free(out);
        free(errout);
    }
    daemon_start_db(&r2, restored, env);
    for (int i = 0; i < BACKUP_MARKERS; i++) {
        char path[64];
        marker_body(&b, i);
        snprintf(path, sizeof path, "/phonely/events/marker-%d", i);
        CHECK_INT_EQ(http_get(r2.private_port, path, &r), 0);
        CHECK_INT_EQ(r.status, 200);
        CHECK(r.body_len == b.len && memcmp(r.body, b.data, b.len) == 0);
        http_resp_free(&r);
    }
    {
        unsigned sampled = 0;
        for (int w = 0; w < l->nworkers; w++) {
            for (unsigned seq = 0; seq < LOAD_SEQ_MAX && sampled < 2 * (unsigned)(w + 1);
                 seq += 7) {
                char path[160], id[96];
                if (!(before[w][seq] & ST_ACKED))
                    continue;
                call_id(l->base + w, seq, id, sizeof id);
                call_body(&b, l->base + w, seq);
                snprintf(path, sizeof path, "/phonely/events/%s", id);
                CHECK_INT_EQ(http_get(r2.private_port, path, &r), 0);
                CHECK_INT_EQ(r.status, 200);
                CHECK(r.body_len == b.len && memcmp(r.body, b.data, b.len) == 0);
                http_resp_free(&r);
                sampled++;
            }
        }
        CHECK_INT_EQ(sampled, 8);
    }
    CHECK_INT_EQ(http_get(r2.webhook_port, "/healthz", &r), 0);
    snprintf(want, sizeof want, "\"calls\":%lld,", cp.calls);
    CHECK_STR_CONTAINS(r.body, want);
    http_resp_free(&r);
    {
        const char *args[] = {"tool", "--db", restored, "search_calls", "{\"query\":\"quokka\"}",
                              NULL};
        CHECK_INT_EQ(spawn_cli(args, &out, &errout), 0);
        CHECK_STR_CONTAINS(out, "\\\"total\\\":5,");
        for (int i = 0; i < BACKUP_MARKERS; i++) {
            char id[32];
            snprintf(id, sizeof id, "marker-%d", i);
            CHECK_STR_CONTAINS(out, id);
        }
        free(out);
        free(errout);
    }
    CHECK_INT_EQ(daemon_stop(&r2), 0);
    daemon_cleanup(&r2);
    printf("backup: during a load (%u posts while it ran, %lld ms; 2xx p99 %u ms): %lld calls in "
           "the copy, %u acknowledged before it started, missing 0, integrity ok; restored copy "
           "served the same events and search results\n",
           posts_during, (long long)ms, load_latency(l, 0.99), cp.calls, acked_before);
    buf_free(&b);
    free(before);
    free(l);
    tmpdir_remove(rdir);
    tmpdir_remove(dir);
    free(dir);
    free(db);
    free(copy);
    free(copy2);
    free(rdir);
    free(restored);
}

/*
 * What `backup` refuses, and that a refusal leaves nothing behind: usage
 * errors exit 2; an existing DEST, DEST-wal beside it, the database itself,
 * a missing database and a missing directory exit 1.
 */
static void test_backup_refusals(void)
{
    char *dir = tmpdir_make("backup-refusals"), *db = xasprintf("%s/calls.db", dir);
    char *dest = xasprintf("%s/dest.db", dir), *wal = xasprintf("%s/dest.db-wal", dir);
    char *missing_dir = xasprintf("%s/no/such/dir.db", dir), *nodb = xasprintf("%s/none.db", dir);
    char *fresh = xasprintf("%s/fresh.db", dir), *small = xasprintf("%s/small", dir);
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", db), *out, *errout;
    struct {
        const char *args[8];
        int rc;
        const char *says;
    } cases[] = {
        {{"backup", "--db", db, NULL}, 2, "name the DEST"},
        {{"backup", "--db", db, dest, "other.db", NULL}, 2, "one DEST"},
        {{"backup", "--db", db, dest, "--frobnicate", NULL}, 2, "go before DEST"},
        {{"backup", "--db", nodb, fresh, NULL}, 1, "none.db"},
        {{"backup", "--db", db, missing_dir, NULL}, 1, "cannot create a file in"},
        {{"backup", "--db", db, "--force", db, NULL}, 1, "is the database itself"},
        {{"backup", "--db", db, dest, NULL}, 1, "already exists"},
        {{"backup", "--db", db, "--force", dest, NULL}, 1, "dest.db-wal exists"},
    };
    FILE *f;

    /* A database with some calls, closed cleanly (so no -wal of its own beside it). */
    CHECK_INT_EQ(run_cli((const char *[]){"import", "-", NULL}, (const char *[]){dbenv, NULL},
                         "{\"callId\":\"r-1\"}\n", &out, &errout),
                 0);
    free(out);
    free(errout);
    f = fopen(dest, "w");
    fputs("not a database\n", f);
    fclose(f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strstr(cases[i].says, "-wal") != NULL) {
            f = fopen(wal, "w");
            fclose(f);
        }
        CHECK_INT_EQ(spawn_cli(cases[i].args, &out, &errout), cases[i].rc);
        CHECK_STR_CONTAINS(errout, cases[i].says);
        free(out);
        free(errout);
    }
    /* Nothing left behind, and the DEST that was refused is untouched. */
    CHECK_INT_EQ(leftovers(dir), 0);
    CHECK(access(fresh, F_OK) != 0);
    {
        char *text = file_read(dest, NULL);
        CHECK_STR_EQ(text, "not a database\n");
        free(text);
    }
    unlink(wal);
    CHECK_INT_EQ(
        spawn_cli((const char *[]){"backup", "--db", db, "--force", dest, NULL}, &out, &errout), 0);
    CHECK_STR_CONTAINS(out, ": 1 calls, 1 deliveries, ");
    free(out);
    free(errout);
    /* No room for the copy (a 64 KiB tmpfs, when the test may mount one): exit 1, nothing left. */
    CHECK_INT_EQ(mkdir(small, 0700), 0);
    if (mount("tmpfs", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") == 0) {
        char *full = xasprintf("%s/copy.db", small);
        CHECK_INT_EQ(spawn_cli((const char *[]){"backup", "--db", db, full, NULL}, &out, &errout),
                     1);
        CHECK_STR_CONTAINS(errout, "full");
        CHECK_INT_EQ(leftovers(small), 0);
        CHECK(access(full, F_OK) != 0);
        free(out);
        free(errout);
        free(full);
        if (umount2(small, MNT_DETACH) == -1)
            CHECK_FAIL_("umount %s: %s", small, strerror(errno));
    }
    CHECK_INT_EQ(spawn_cli((const char *[]){"backup", "--help", NULL}, &out, &errout), 0);
    CHECK_STR_CONTAINS(out, "usage: phonely-mcp backup");
    free(out);
    free(errout);
    tmpdir_remove(dir);
    free(dir);
    free(db);
    free(dest);
    free(wal);
    free(missing_dir);
    free(nodb);
    free(fresh);
    free(small);
    free(dbenv);
}

int main(void)
{
    const char *s = getenv("PHONELY_FAULT_SEED");
    struct buf b = {0};
    const char *p, *q;

    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the numbers in order with the ok/FAIL lines */
    seed = s != NULL ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (seed == 0)
        seed = 1;
    printf("faults: seed %llu (PHONELY_FAULT_SEED=%llu repeats this run)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    xmalloc_init_json();
    auth_init();
    bench_call_body(&b, 0, 0, 0);
    p = strstr(b.data, "\"callId\":\"") + 10;
    q = strstr(p, "0_0\"");
    snprintf(id_prefix, sizeof id_prefix, "%.*s", (int)(q - p), p);
    buf_free(&b);

    RUN(test_crash);
    RUN(test_disk_full_tmpfs);
    RUN(test_disk_full_threshold);
    RUN(test_disk_full_page_limit);
    RUN(test_busy);
    RUN(test_wal_lost);
    RUN(test_backup);
    RUN(test_backup_refusals);
    printf("faults: disk-full mode: %s\n", disk_full_mode);
    return check_report();
}
