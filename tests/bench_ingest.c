/*
 * bench_ingest.c: durable webhook ingest throughput and latency. Starts the
 * real daemon (release build, default durable settings: WAL flushed to the
 * disk before each 200, full-text index) on loopback and drives it with
 * threads that each keep one HTTP/1.1 connection alive and POST generated
 * calls (bench_gen.c, ~5 KB, unique ULID call ids) one after another: at 1, 8,
 * 32 and 128 connections with commit grouping, then the same with one
 * commit per request (commit_grouping no). Each point lasts SECONDS.
 *
 * Figures (bench_gen.h): ingest.{grouped,single}.cN.{rps,p50,p99,errors},
 * ingest.gain.cN (grouped/single requests/s), the daemon's resident memory
 * idle and under the grouped load, and the database's bytes per call once
 * the grouped run is over. With a PostgreSQL cluster (make bench
 * BENCH_PG=1): ingest.pg1.c32.* (one daemon) and ingest.pg2.c32.* (two
 * daemons on one database, 16 connections each) and an erasure under load
 * (erase_figures). Numbers are printed, never asserted.
 *
 * usage: bench_ingest [SECONDS] [CONNECTIONS...]   (default 5 s; 1 8 32 128)
 * With PHONELY_BENCH_PORT set, drives the daemon already listening there
 * (e.g. under perf) and prints only the load figures.
 *
 * Ownership: main makes the pool of bodies once; worker threads only read
 * it. Each worker owns its request buffer and latencies; run_level frees them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "bench_gen.h"
#include "harness.h"
#include "log.h"
#include "textutil.h"
#include "xmalloc.h"

#define POOL      512 /* distinct bodies, reused with fresh call ids */
#define MAX_CONNS 1024
/* "call_" and a ULID, as Phonely's call ids are: fixed width, so an id is patched in place. */
#define ID_LEN (5 + 26)

/* "2026-05-24T18:02:14Z": whole seconds, as Phonely sends them; fixed width. */
#define WHEN_LEN 20

/* The generated bodies, where their call id sits, and where their times do. */
struct pool {
    struct buf body[POOL];
    size_t id_off; /* offset of the id's first byte in every body */
    size_t started_off[POOL], ended_off[POOL];
    int duration_s[POOL];
    unsigned long run;
};

struct worker {
    const struct pool *pool;
    uint16_t port;
    unsigned id; /* unique across every level of a run, so no request is a duplicate */
    double seconds;
    uint64_t done, errors, bytes;
    double *lat; /* ms */
    size_t nlat, caplat;
};

/* Offset of the WHEN_LEN-character time after key in a body. */
static size_t time_offset(const struct buf *body, const char *key)
{
    const char *at = strstr(body->data, key);

    if (at == NULL || strlen(at + strlen(key)) < WHEN_LEN || at[strlen(key) + WHEN_LEN] != '"')
        fatalx("bench body without a %s time of %d characters", key, WHEN_LEN);
    return (size_t)(at - body->data) + strlen(key);
}

/*
 * The id of request seq of worker in run: a ULID whose 48-bit time is the
 * call's start (so, like Phonely's, ids of calls that end at about the same
 * time sort together) and whose 80 other bits, instead of random ones, are
 * 24 bits of the run, 16 of the worker and 40 of the sequence: unique
 * across a run. Crockford base32, ID_LEN characters and a NUL.
 */
static void id_make(char *out, int64_t started_ms, unsigned long run, unsigned worker, uint64_t seq)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t t = (uint64_t)started_ms, hi = ((uint64_t)(run & 0xFFFFFF) << 16) | (worker & 0xFFFF),
             lo = seq & UINT64_C(0xFFFFFFFFFF);

    memcpy(out, "call_", 5);
    for (int i = 9; i >= 0; i--, t >>= 5)
        out[5 + i] = b32[t & 31];
    for (int i = 7; i >= 0; i--, hi >>= 5)
        out[15 + i] = b32[hi & 31];
    for (int i = 7; i >= 0; i--, lo >>= 5)
        out[23 + i] = b32[lo & 31];
    out[ID_LEN] = '\0';
}

static void pool_make(struct pool *p)
{
    char id[ID_LEN + 1];

    p->run = (unsigned long)time(NULL);
    id_make(id, 0, p->run, 0, 0);
    for (unsigned i = 0; i < POOL; i++) {
        int64_t now = time_now_ms();
        const char *d;

        memset(&p->body[i], 0, sizeof p->body[i]);
        bench_gen_call(&p->body[i], BENCH_GEN_SEED, i, id, now - now % 1000);
        p->started_off[i] = time_offset(&p->body[i], "\"callStarted\":\"");
        p->ended_off[i] = time_offset(&p->body[i], "\"callEnded\":\"");
        d = strstr(p->body[i].data, "\"duration\":");
        p->duration_s[i] = d != NULL ? atoi(d + 11) : 0;
    }
    p->id_off = (size_t)(strstr(p->body[0].data, id) - p->body[0].data);
}

/*
 * Date a pooled body's call as one that has just ended, as a post-call
 * webhook's is: every request of a run carries the time it is sent.
 * Returns the start written (ms).
 */
/* How long ago the calls sent ended (0: now); the retention figures send old calls. */
static int64_t calls_age_ms;

static int64_t stamp_times(const struct pool *p, size_t i, char *body)
{
    char when[32];
    int64_t now = time_now_ms() - calls_age_ms, started;

    now -= now % 1000;
    started = now - (int64_t)p->duration_s[i] * 1000;
    time_format_iso8601(started, when, sizeof when);
    memcpy(body + p->started_off[i], when, WHEN_LEN);
    time_format_iso8601(now, when, sizeof when);
    memcpy(body + p->ended_off[i], when, WHEN_LEN);
    return started;
}

static void pool_free(struct pool *p)
{
    for (unsigned i = 0; i < POOL; i++)
        buf_free(&p->body[i]);
}

/* Send one request and read one response; returns the status or -1. */
static int roundtrip(int fd, const struct buf *req)
{
    char resp[4096];
    size_t got = 0, off = 0;
    ssize_t n;

    while (off < req->len) {
        n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    for (;;) {
        if (got + 1 >= sizeof resp)
            return -1;
        n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strstr(resp, "Content-Length:");
        if (cl == NULL)
            cl = strstr(resp, "content-length:");
        size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if (got >= (size_t)(end + 4 - resp) + want)
            return atoi(resp + 9);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct buf req = {0};
    int fd = tcp_connect(w->port);
    double end = time_mono() + w->seconds;
    char id[ID_LEN + 1];

    while (fd != -1 && time_mono() < end) {
        uint64_t seq = w->done + w->errors;
        size_t pick = (w->id * 7919u + seq) % POOL, head;
        const struct buf *body = &w->pool->body[pick];
        buf_reset(&req);
        buf_printf(&req,
                   "POST /phonely/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\n\r\n",
                   body->len);
        head = req.len;
        buf_append(&req, body->data, body->len);
        id_make(id, stamp_times(w->pool, pick, req.data + head), w->pool->run, w->id, seq);
        memcpy(req.data + head + w->pool->id_off, id, ID_LEN);
        double t0 = time_mono();
        int status = roundtrip(fd, &req);
        double ms = (time_mono() - t0) * 1000.0;
        if (status == 200) {
            w->done++;
            w->bytes += body->len;
            if (w->nlat == w->caplat) {
                w->caplat = w->caplat ? w->caplat * 2 : 4096;
                w->lat = xreallocarray(w->lat, w->caplat, sizeof *w->lat);
            }
            w->lat[w->nlat++] = ms;
        } else {
            w->errors++;
            close(fd);
            fd = tcp_connect(w->port);
        }
    }
    if (fd != -1)
        close(fd);
    buf_free(&req);
    return NULL;
}

struct level_result {
    double rps;
    uint64_t ok, bytes;
};

/* Run one load level of conns connections, spread over nports daemons, for seconds. */
static struct level_result run_level_on(const struct pool *pool, const uint16_t *ports, int nports,
                                        int conns, unsigned first_id, double seconds,
                                        const char *label)
{
    pthread_t *th = xcalloc((size_t)conns, sizeof *th);
    struct worker *w = xcalloc((size_t)conns, sizeof *w);
    struct level_result r = {0};
    double t0 = time_mono(), elapsed, p50, p99, *lat;
    uint64_t errors = 0;
    size_t nlat = 0;
    int started = 0;

    for (int i = 0; i < conns; i++) {
        w[i] = (struct worker){.pool = pool,
                               .port = ports[i % nports],
                               .id = first_id + (unsigned)i,
                               .seconds = seconds};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        r.ok += w[i].done;
        r.bytes += w[i].bytes;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    elapsed = time_mono() - t0;
    lat = xcalloc(nlat ? nlat : 1, sizeof *lat);
    nlat = 0;
    for (int i = 0; i < started; i++) {
        if (w[i].nlat > 0)
            memcpy(lat + nlat, w[i].lat, w[i].nlat * sizeof *lat);
        nlat += w[i].nlat;
        free(w[i].lat);
    }
    bench_percentiles(lat, nlat, &p50, &p99);
    r.rps = (double)r.ok / elapsed;
    bench_figuref(r.rps, "req/s", "ingest.%s.c%d.rps", label, conns);
    bench_figuref(p50, "ms", "ingest.%s.c%d.p50", label, conns);
    bench_figuref(p99, "ms", "ingest.%s.c%d.p99", label, conns);
    bench_figuref(nlat > 0 ? lat[nlat - 1] : 0, "ms", "ingest.%s.c%d.max", label, conns);
    bench_figuref((double)errors + (conns - started), "count", "ingest.%s.c%d.errors", label,
                  conns);
    free(lat);
    free(w);
    free(th);
    return r;
}

/* Run one load level of conns connections to one daemon for seconds; prints its figures. */
static struct level_result run_level(const struct pool *pool, uint16_t port, int conns,
                                     unsigned first_id, double seconds, const char *label)
{
    return run_level_on(pool, &port, 1, conns, first_id, seconds, label);
}

/*
 * PostgreSQL (make bench BENCH_PG=1, which starts a throwaway cluster):
 * durable ingest at 32 connections to one daemon, then to two daemons on
 * one database (16 each), each on a new database.
 */
static void pg_figures(const struct pool *pool, unsigned *next_id, double seconds)
{
    const char *env[] = {"PHONELY_MCP_CONNECTION_LIMIT=1024", "PHONELY_MCP_PER_IP_LIMIT=0", NULL};

    for (int n = 1; n <= 2; n++) {
        char *uri = pg_newdb(), label[16];
        struct daemon d[2];
        uint16_t ports[2];

        for (int i = 0; i < n; i++) {
            daemon_start_db(&d[i], uri, env);
            bench_watch(d[i].pid);
            ports[i] = d[i].webhook_port;
        }
        snprintf(label, sizeof label, "pg%d", n);
        run_level_on(pool, ports, n, 32, *next_id, seconds, label);
        *next_id += 32;
        for (int i = 0; i < n; i++) {
            bench_unwatch(d[i].pid);
            daemon_cleanup(&d[i]);
        }
        free(uri);
    }
}

/* The value of a metric (its first sample) in the daemon's /metrics, or -1. */
static double metric(const struct daemon *d, const char *name)
{
    struct http_resp r;
    double v = -1;
    char *key = xasprintf("\n%s ", name), *at;

    if (http_get(d->private_port, "/metrics", &r) == 0) {
        if ((at = strstr(r.body, key)) != NULL)
            v = atof(at + strlen(key));
        http_resp_free(&r);
    }
    free(key);
    return v;
}

/*
 * Webhook latency while a retention sweep runs: a database filled with
 * calls that ended 400 days ago (32 connections for seconds), then new
 * calls at 32 connections for seconds without retention
 * (ingest.retention_off.c32.*), then the same on a daemon with
 * retention_days 365, whose sweep at start removes the old calls while
 * the load runs (ingest.retention_sweep.c32.*). The longest pause a
 * webhook saw is the .max figure; retention.* are the sweep's own. On
 * PostgreSQL (pg) the same, as ingest.pg_retention_* and retention.pg.*.
 */
static void retention_figures(const struct pool *pool, unsigned *next_id, double seconds, bool pg)
{
    const char *env_off[] = {"PHONELY_MCP_CONNECTION_LIMIT=1024", "PHONELY_MCP_PER_IP_LIMIT=0",
                             NULL};
    const char *env_on[] = {"PHONELY_MCP_CONNECTION_LIMIT=1024", "PHONELY_MCP_PER_IP_LIMIT=0",
                            "PHONELY_MCP_RETENTION_DAYS=365", NULL};
    const char *fig = pg ? "retention.pg" : "retention", *lvl = pg ? "pg_retention" : "retention";
    struct daemon d;
    char *dir = tmpdir_make("bench-retention"),
         *db = pg ? pg_newdb() : xasprintf("%s/calls.db", dir), *name;
    double removed, longest, t0;
    struct level_result old;

    daemon_start_db(&d, db, env_off);
    calls_age_ms = 400LL * 86400 * 1000;
    name = xasprintf("%s_fill", lvl);
    old = run_level(pool, d.webhook_port, 32, *next_id, seconds, name);
    free(name);
    calls_age_ms = 0;
    *next_id += 32;
    daemon_cleanup(&d);
    bench_figuref((double)old.ok, "count", "%s.old_calls", fig);

    daemon_start_db(&d, db, env_off);
    bench_watch(d.pid);
    name = xasprintf("%s_off", lvl);
    run_level(pool, d.webhook_port, 32, *next_id, seconds, name);
    free(name);
    *next_id += 32;
    bench_unwatch(d.pid);
    daemon_cleanup(&d);

    daemon_start_db(&d, db, env_on);
    bench_watch(d.pid);
    t0 = time_mono();
    name = xasprintf("%s_sweep", lvl);
    run_level(pool, d.webhook_port, 32, *next_id, seconds, name);
    free(name);
    *next_id += 32;
    /* The sweep may outlast the load: wait for it, to report all it removed. */
    while ((removed = metric(&d, "phonely_retention_removed_calls_total")) >= 0 &&
           removed < (double)old.ok && time_mono() - t0 < 10 * seconds)
        sleep_ms(100);
    longest = metric(&d, "phonely_retention_longest_batch_seconds");
    bench_figuref(removed, "count", "%s.removed_calls", fig);
    bench_figuref(time_mono() - t0, "s", "%s.sweep_s", fig);
    bench_figuref(longest * 1000.0, "ms", "%s.longest_batch", fig);
    bench_unwatch(d.pid);
    daemon_cleanup(&d);
    tmpdir_remove(dir);
    free(dir);
    free(db);
}

/* One load level on a thread of its own (erase_figures). */
struct background_level {
    const struct pool *pool;
    uint16_t port;
    unsigned first_id;
    double seconds;
    struct level_result result;
};

static void *background_level_main(void *arg)
{
    struct background_level *b = arg;

    b->result = run_level(b->pool, b->port, 8, b->first_id, b->seconds, "pg_erase");
    return NULL;
}

/* Searches through the CLI, one after another, while an erasure runs (erase_figures). */
struct reader {
    const char *const *env;
    volatile bool stop;
    int reads, failed;
    double max_s;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    const char *argv[] = {"tool", "search_calls", "{\"query\": \"refund\", \"limit\": 5}", NULL};

    while (!r->stop) {
        char *out = NULL, *errout = NULL;
        double t0 = time_mono();
        int rc = run_cli(argv, r->env, NULL, &out, &errout);
        double took = time_mono() - t0;

        r->reads++;
        r->failed += rc != 0;
        if (took > r->max_s)
            r->max_s = took;
        free(out);
        free(errout);
        sleep_ms(250);
    }
    return NULL;
}

/* The number after prefix in text, or -1. */
static double number_after(const char *text, const char *prefix)
{
    const char *at = text != NULL ? strstr(text, prefix) : NULL;

    return at != NULL ? atof(at + strlen(prefix)) : -1;
}

/*
 * PostgreSQL: erasing one caller while webhooks come in. One daemon on a
 * new database is filled at 8 connections for 12 x seconds; then 8
 * connections post for 20 x seconds, and `phonely-mcp erase --phone` of
 * the caller of the first generated body (one call in POOL has that
 * number) starts seconds into that load. The rewrite's webhooks are
 * queued: ingest.pg_erase.c8.{max,errors} are what the load saw;
 * erase.pg.* the erasure's own (queued: webhooks answered "queued"), and
 * erase.pg.reads.* what searches made one after another meanwhile saw
 * (reads go on during the copy and wait only for the swap).
 */
static void erase_figures(const struct pool *pool, unsigned *next_id, double seconds)
{
    const char *env[] = {"PHONELY_MCP_CONNECTION_LIMIT=1024", "PHONELY_MCP_PER_IP_LIMIT=0", NULL};
    char *uri = pg_newdb(), *db_env = xasprintf("PHONELY_MCP_DB=%s", uri), *out = NULL,
         *errout = NULL;
    const char *cli_env[] = {db_env, NULL};
    struct background_level load = {.pool = pool, .seconds = 20 * seconds};
    struct level_result fill;
    cJSON *first = cJSON_Parse(pool->body[0].data);
    const cJSON *phone = cJSON_GetObjectItemCaseSensitive(first, "customerPhoneNumber");
    struct reader reader = {.env = cli_env};
    struct daemon d;
    pthread_t th, rth;
    double t0;
    int rc;

    if (!cJSON_IsString(phone))
        fatalx("bench: the first generated body has no customerPhoneNumber");
    const char *argv[] = {"erase", "--phone", phone->valuestring, NULL};
    daemon_start_db(&d, uri, env);
    bench_watch(d.pid);
    fill = run_level(pool, d.webhook_port, 8, *next_id, 12 * seconds, "pg_erase_fill");
    *next_id += 8;
    bench_figure("erase.pg.db_calls", (double)fill.ok, "count");
    load.port = d.webhook_port;
    load.first_id = *next_id;
    *next_id += 8;
    pthread_create(&th, NULL, background_level_main, &load);
    sleep_ms((long)(seconds * 1000));
    pthread_create(&rth, NULL, reader_main, &reader);
    t0 = time_mono();
    rc = run_cli(argv, cli_env, NULL, &out, &errout);
    bench_figure("erase.pg.wall_s", time_mono() - t0, "s");
    reader.stop = true;
    pthread_join(rth, NULL);
    pthread_join(th, NULL);
    bench_figure("erase.pg.reads.count", reader.reads, "count");
    bench_figure("erase.pg.reads.failed", reader.failed, "count");
    bench_figure("erase.pg.reads.max", reader.max_s * 1000.0, "ms");
    if (rc != 0)
        fprintf(stderr, "bench: erase failed (%d): %s\n", rc, errout != NULL ? errout : "");
    bench_figure("erase.pg.erased_calls", number_after(out, "erased "), "count");
    bench_figure("erase.pg.erase_s", number_after(out, " deliveries in "), "s");
    bench_figure("erase.pg.moved_by_erase",
                 number_after(out, "stored ") < 0 ? 0 : number_after(out, "stored "), "count");
    bench_figure("erase.pg.queued",
                 metric(&d, "phonely_webhook_requests_total{status=\"200\",outcome=\"queued\"}"),
                 "count");
    bench_unwatch(d.pid);
    daemon_cleanup(&d);
    cJSON_Delete(first);
    free(out);
    free(errout);
    free(db_env);
    free(uri);
}

/* Bytes of a file, 0 when missing. */
static long long file_bytes(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/*
 * The stopped daemon's database: checkpoint the WAL into it, then
 * (database + WAL bytes) per call, and that over the raw body size.
 */
static void db_size_figures(const char *db, double raw_per_call)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long calls = 0;
    char *wal = xasprintf("%s-wal", db);

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(h, "SELECT count(*) FROM calls", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            calls = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (calls > 0) {
        double per_call = (double)(file_bytes(db) + file_bytes(wal)) / (double)calls;
        bench_figure("db.ingest.calls", (double)calls, "count");
        bench_figure("db.ingest.bytes_per_call", per_call, "bytes");
        bench_figure("db.ingest.raw_bytes_per_call", raw_per_call, "bytes");
        bench_figure("db.ingest.ratio_raw", per_call / raw_per_call, "x");
    }
    sqlite3_close(h);
    free(wal);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int levels[16] = {1, 8, 32, 128}, nlevels = 4;
    struct level_result grouped[16], single[16];
    static struct pool pool;
    unsigned next_id = 0;

    signal(SIGPIPE, SIG_IGN);
    if (seconds <= 0)
        seconds = 5;
    if (argc > 2) {
        nlevels = 0;
        for (int i = 2; i < argc && nlevels < 16; i++)
            if (atoi(argv[i]) > 0 && atoi(argv[i]) <= MAX_CONNS)
                levels[nlevels++] = atoi(argv[i]);
    }
    /* Every point is bounded by seconds; this bounds the whole program. */
    bench_watchdog((unsigned)(2 * nlevels * (seconds + 30) + 120));
    pool_make(&pool);
    /*
     * PHONELY_BENCH_ONLY: one part alone (erase or retention, here) or,
     * naming another program's part, none.
     */
    if (getenv("PHONELY_BENCH_ONLY") != NULL) {
        bool with_pg = getenv("PHONELY_TEST_PG_CLUSTER") != NULL;
        if (strcmp(getenv("PHONELY_BENCH_ONLY"), "erase") == 0) {
            if (!with_pg)
                fatalx("bench: BENCH_ONLY=erase needs BENCH_PG=1");
            erase_figures(&pool, &next_id, seconds);
        } else if (strcmp(getenv("PHONELY_BENCH_ONLY"), "retention") == 0) {
            retention_figures(&pool, &next_id, seconds, false);
            if (with_pg)
                retention_figures(&pool, &next_id, seconds, true);
        }
        pool_free(&pool);
        return 0;
    }
    /* PHONELY_BENCH_PORT: drive a daemon that is already running (e.g. under perf). */
    if (getenv("PHONELY_BENCH_PORT") != NULL) {
        for (int i = 0; i < nlevels; i++) {
            run_level(&pool, (uint16_t)atoi(getenv("PHONELY_BENCH_PORT")), levels[i], next_id,
                      seconds, "external");
            next_id += (unsigned)levels[i];
        }
        pool_free(&pool);
        return 0;
    }
    bench_note("ingest",
               "%g s per point; keep-alive connections on loopback; %d bodies of "
               "generator v%d, seed %u",
               seconds, POOL, BENCH_GEN_VERSION, BENCH_GEN_SEED);
    for (int mode = 0; mode < 2; mode++) {
        const char *env_grouped[] = {"PHONELY_MCP_COMMIT_GROUPING=yes",
                                     "PHONELY_MCP_CONNECTION_LIMIT=1024",
                                     "PHONELY_MCP_PER_IP_LIMIT=0", NULL};
        const char *env_single[] = {"PHONELY_MCP_COMMIT_GROUPING=no",
                                    "PHONELY_MCP_CONNECTION_LIMIT=1024",
                                    "PHONELY_MCP_PER_IP_LIMIT=0", NULL};
        struct level_result *res = mode == 0 ? grouped : single;
        uint64_t ok = 0, bytes = 0;
        struct daemon d;

        daemon_start(&d, mode == 0 ? env_grouped : env_single);
        bench_watch(d.pid);
        if (mode == 0) {
            struct timespec settle = {0, 300 * 1000 * 1000};
            nanosleep(&settle, NULL);
            bench_figure("mem.serve.idle", (double)bench_proc_kb(d.pid, "VmRSS"), "kB");
        }
        for (int i = 0; i < nlevels; i++) {
            res[i] = run_level(&pool, d.webhook_port, levels[i], next_id, seconds,
                               mode == 0 ? "grouped" : "single");
            next_id += (unsigned)levels[i];
            ok += res[i].ok;
            bytes += res[i].bytes;
        }
        if (mode == 0) {
            bench_figure("mem.serve.ingest_peak", (double)bench_proc_kb(d.pid, "VmHWM"), "kB");
            bench_figure("mem.serve.after_ingest", (double)bench_proc_kb(d.pid, "VmRSS"), "kB");
            bench_unwatch(d.pid);
            daemon_stop(&d);
            if (ok > 0)
                db_size_figures(d.db, (double)bytes / (double)ok);
        }
        bench_unwatch(d.pid);
        daemon_cleanup(&d);
    }
    for (int i = 0; i < nlevels; i++)
        bench_figuref(single[i].rps > 0 ? grouped[i].rps / single[i].rps : 0, "x",
                      "ingest.gain.c%d", levels[i]);
    retention_figures(&pool, &next_id, seconds, false);
    if (getenv("PHONELY_TEST_PG_CLUSTER") != NULL) {
        pg_figures(&pool, &next_id, seconds);
        retention_figures(&pool, &next_id, seconds, true);
        erase_figures(&pool, &next_id, seconds);
    }
    pool_free(&pool);
    return 0;
}
