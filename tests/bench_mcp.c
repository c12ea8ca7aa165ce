/*
 * bench_mcp.c: MCP throughput, search latency, memory and start-up on large
 * databases of generated calls (bench_gen.c).
 *
 * For each CALLS it builds, once, DIR/bench-<100k|1m|N>.db through the
 * store API in large transactions (generation and parsing on a second
 * thread), and keeps it while the generator version, seed, count and
 * schema version in its side file DIR/bench-<...>.db.gen match. Then, on
 * the first database:
 *   - over stdio (`phonely-mcp stdio`): get_call and search_calls,
 *     sequentially and with 16 requests in flight, and the child's
 *     resident memory idle after initialize and at its peak under that load;
 *   - over Streamable HTTP (`phonely-mcp serve`, /mcp with a bearer
 *     token): get_call from 32 clients with their own sessions, and the
 *     daemon's memory before and after;
 * and on every database: bytes per call, the document frequency of the
 * queried terms (SQL), the time from spawn to the initialize answer of
 * `phonely-mcp stdio` (cold start), and search_calls latency for rare
 * terms, common terms, two common terms, a phone number, a one-week range
 * and their combinations (newest first, sequential over stdio).
 *
 * usage: bench_mcp [DIR [SECONDS [CALLS...]]]   (default ., 5, 100000)
 * With PHONELY_BENCH_DB set (a file or a postgresql:// URI holding calls
 * made by this generator), runs only the search points on it, e.g. while
 * a query plan is being studied.
 * Figures as in bench_gen.h; numbers only, no assertions.
 *
 * Ownership: the call ids get_call asks for are loaded once into a static
 * list freed at exit; everything else is freed by the function that made it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "bench_gen.h"
#include "harness.h"
#include "log.h"
#include "payload.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

extern char **environ;

#define BENCH_TOKEN   "bench_token_0123456789abcdefghijklmn"
#define BATCH         2500 /* calls per transaction while building */
#define MAX_LAT       4000000
#define SEARCH_MAX    300 /* queries per search point, at most */
#define START_RUNS    50  /* cold starts measured, at most */
#define WEEK_MS       (INT64_C(7) * 86400 * 1000)
#define WATCH_BUILD_S 7200
#define WATCH_POINT_S 120

static double seconds = 5;
static const char *phonely_bin = "./phonely-mcp"; /* PHONELY_TEST_BIN, as the harness */

/* ---- small helpers ---- */

static long long file_bytes(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* "100k", "1m" or the number itself: the database's name in figures. */
static void calls_label(long long calls, char *out, size_t outsz)
{
    if (calls >= 1000000 && calls % 1000000 == 0)
        snprintf(out, outsz, "%lldm", calls / 1000000);
    else if (calls >= 1000 && calls % 1000 == 0)
        snprintf(out, outsz, "%lldk", calls / 1000);
    else
        snprintf(out, outsz, "%lld", calls);
}

static void date_text(int64_t ms, char *out, size_t outsz)
{
    char iso[40];

    time_format_iso8601(ms, iso, sizeof iso);
    snprintf(out, outsz, "%.10s", iso);
}

/* p50 and p99 (ms) of n latencies in seconds, as figures prefix.p50 and prefix.p99. */
static void latency_figures(const char *prefix, double *lat, size_t n)
{
    double p50, p99;

    bench_percentiles(lat, n, &p50, &p99);
    bench_figuref(p50 * 1000, "ms", "%s.p50", prefix);
    bench_figuref(p99 * 1000, "ms", "%s.p99", prefix);
}

/* ---- the database ---- */

struct db_info {
    long long calls;
    long long raw_bytes; /* the generated bodies, in total */
    double build_s;      /* 0 when reused */
};

static char *marker_path(const char *db)
{
    return xasprintf("%s.gen", db);
}

/* True when db exists and its side file says it holds exactly what we would build. */
static bool db_reusable(const char *db, long long calls, struct db_info *info)
{
    char *path = marker_path(db);
    FILE *f = fopen(path, "r");
    int version = 0, schema = 0;
    unsigned long long seed = 0;
    long long n = 0, raw = 0;
    double build_s = 0;
    bool ok = false;

    if (f != NULL) {
        ok = fscanf(f,
                    "phonely-bench-db generator=%d seed=%llu calls=%lld schema=%d raw_bytes=%lld "
                    "build_s=%lf",
                    &version, &seed, &n, &schema, &raw, &build_s) == 6 &&
             version == BENCH_GEN_VERSION && seed == BENCH_GEN_SEED && n == calls &&
             schema == store_schema_version() && file_bytes(db) > 0;
        fclose(f);
    }
    free(path);
    if (ok)
        *info = (struct db_info){.calls = n, .raw_bytes = raw, .build_s = build_s};
    return ok;
}

static void db_remove(const char *db)
{
    const char *suffix[] = {"", "-wal", "-shm", "-journal", ".gen"};

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = xasprintf("%s%s", db, suffix[i]);
        unlink(p);
        free(p);
    }
}

/* One transaction's worth of calls, generated and parsed off the main thread. */
struct batch {
    long long first, n, total;
    int64_t now;
    struct buf bodies[BATCH];
    struct call calls[BATCH];
    char sha[BATCH][AUTH_SHA256_HEX];
    struct delivery d[BATCH];
    struct delivery *items[BATCH];
    long long raw;
};

static void *batch_make(void *arg)
{
    struct batch *b = arg;
    struct err err = {0};

    b->raw = 0;
    for (long long k = 0; k < b->n; k++) {
        long long j = b->first + k;
        int64_t started = bench_gen_started_ms(BENCH_GEN_SEED, (uint64_t)j, (uint64_t)b->total);
        bench_gen_call(&b->bodies[k], BENCH_GEN_SEED, (uint64_t)j, NULL, started);
        if (payload_parse(b->bodies[k].data, b->bodies[k].len, &b->calls[k], &err) == -1)
            fatalx("bench: generated body %lld: %s", j, err.msg);
        auth_sha256_hex(b->bodies[k].data, b->bodies[k].len, b->sha[k]);
        b->raw += (long long)b->bodies[k].len;
        b->d[k] = (struct delivery){.received_ms = b->calls[k].ended_ms != PAYLOAD_TIME_UNKNOWN
                                                       ? b->calls[k].ended_ms
                                                       : started,
                                    .source = "import",
                                    .body = b->bodies[k].data,
                                    .body_len = b->bodies[k].len,
                                    .body_size = b->bodies[k].len,
                                    .body_sha256 = b->sha[k],
                                    .call = &b->calls[k]};
        b->items[k] = &b->d[k];
    }
    return NULL;
}

static void batch_release(struct batch *b)
{
    for (long long k = 0; k < b->n; k++)
        payload_call_free(&b->calls[k]);
}

/* Build db from nothing with calls generated calls; then write its side file. */
static void db_build(const char *db, long long calls, struct db_info *info)
{
    struct store_options o = {.busy_timeout_ms = 5000};
    struct err err = {0};
    struct store *st;
    struct batch *b[2];
    pthread_t th;
    double t0 = time_mono();
    long long raw = 0;
    sqlite3 *h = NULL;
    char *marker, *tmp;
    FILE *f;

    db_remove(db);
    if ((st = store_open(db, &o, &err)) == NULL)
        fatalx("bench: %s: %s", db, err.msg);
    b[0] = xcalloc(1, sizeof *b[0]);
    b[1] = xcalloc(1, sizeof *b[1]);
    /* Double buffering: the next batch is generated and parsed while this one is stored. */
    *b[0] = (struct batch){.first = 0, .n = calls < BATCH ? calls : BATCH, .total = calls};
    pthread_create(&th, NULL, batch_make, b[0]);
    for (long long i = 0, cur = 0; i < calls; i += BATCH, cur ^= 1) {
        struct batch *now = b[cur], *next = b[cur ^ 1];
        pthread_join(th, NULL);
        if (i + BATCH < calls) {
            next->first = i + BATCH;
            next->n = calls - next->first < BATCH ? calls - next->first : BATCH;
            next->total = calls;
            pthread_create(&th, NULL, batch_make, next);
        }
        if (store_put_deliveries(st, now->items, (size_t)now->n, &err) == -1)
            fatalx("bench: %s: %s", db, err.msg);
        raw += now->raw;
        batch_release(now);
        if ((i / BATCH) % 4 == 3 || i + BATCH >= calls) {
            double el = time_mono() - t0;
            fprintf(stderr, "\rbuilding %s: %lld/%lld calls, %.0f calls/s, %.0f s", db, i + now->n,
                    calls, (double)(i + now->n) / el, el);
        }
    }
    fprintf(stderr, "\n");
    store_close(st);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < BATCH; j++)
            buf_free(&b[k]->bodies[j]);
        free(b[k]);
    }
    /* Fold the WAL into the database file, so its size is the database's. */
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
        sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(h);
    *info = (struct db_info){.calls = calls, .raw_bytes = raw, .build_s = time_mono() - t0};
    marker = marker_path(db);
    tmp = xasprintf("%s.tmp", marker);
    if ((f = fopen(tmp, "w")) == NULL)
        fatal("bench: %s", tmp);
    fprintf(f,
            "phonely-bench-db generator=%d seed=%u calls=%lld schema=%d raw_bytes=%lld "
            "build_s=%.1f\n",
            BENCH_GEN_VERSION, BENCH_GEN_SEED, calls, store_schema_version(), raw, info->build_s);
    if (fclose(f) != 0 || rename(tmp, marker) != 0)
        fatal("bench: %s", marker);
    free(tmp);
    free(marker);
}

static void db_prepare(const char *db, long long calls, const char *label, struct db_info *info)
{
    bench_watchdog(WATCH_BUILD_S);
    if (db_reusable(db, calls, info)) {
        fprintf(stderr, "using %s (%lld calls, generator v%d)\n", db, calls, BENCH_GEN_VERSION);
        bench_note("reused", "db.%s built by an earlier run; its build figures are that run's",
                   label);
    } else {
        db_build(db, calls, info);
    }
    bench_figuref(info->build_s, "s", "db.%s.build", label);
    bench_figuref((double)calls / info->build_s, "calls/s", "db.%s.build_rate", label);
    bench_watchdog(WATCH_POINT_S);
}

/* Storage figures: database + WAL bytes per call, and over the raw body size. */
static void db_size_figures(const char *db, const char *label, const struct db_info *info)
{
    char *wal = xasprintf("%s-wal", db);
    double per_call = (double)(file_bytes(db) + file_bytes(wal)) / (double)info->calls;
    double raw = (double)info->raw_bytes / (double)info->calls;

    bench_figuref((double)info->calls, "count", "db.%s.calls", label);
    bench_figuref(per_call, "bytes", "db.%s.bytes_per_call", label);
    bench_figuref(raw, "bytes", "db.%s.raw_bytes_per_call", label);
    bench_figuref(per_call / raw, "x", "db.%s.ratio_raw", label);
    free(wal);
}

/* A count from SQL with up to two bound values (text or int), or -1. */
static long long sql_count(sqlite3 *h, const char *sql, const char *text, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(h));
        return -1;
    }
    if (text != NULL)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    else {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static char **ids;
static size_t nids;

static void load_ids(const char *path)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;

    sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
    if (sqlite3_prepare_v2(h, "SELECT call_id FROM calls ORDER BY random() LIMIT 20000", -1, &st,
                           NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (nids == cap) {
                cap = cap ? cap * 2 : 1024;
                ids = xreallocarray(ids, cap, sizeof *ids);
            }
            ids[nids++] = xstrdup((const char *)sqlite3_column_text(st, 0));
        }
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* ---- search_calls arguments ---- */

enum search_class {
    Q_RARE,
    Q_COMMON,
    Q_TWO_COMMON,
    Q_PHONE,
    Q_WEEK,
    Q_COMMON_WEEK,
    Q_COMMON_PHONE,
    Q_RARE_WEEK,
    Q_CLASSES
};

static const char *const class_names[Q_CLASSES] = {
    "rare", "common", "two_common", "phone", "week", "common_week", "common_phone", "rare_week"};

/* The arguments of the seq-th query of class c: terms, numbers and weeks vary. */
static char *search_args(enum search_class c, unsigned seq)
{
    struct bench_rng r;
    const char *rare, *common, *common2;
    char phone[24], from[16], to[16];
    int64_t start;

    bench_rng_seed(&r, 77, (uint64_t)c << 32 | seq);
    rare = bench_gen_rare[seq % bench_gen_nrare].word;
    common = bench_gen_common[seq % bench_gen_ncommon].word;
    common2 = bench_gen_common[(seq + 1 + seq / bench_gen_ncommon % (bench_gen_ncommon - 1)) %
                               bench_gen_ncommon]
                  .word;
    bench_gen_repeat_phone(BENCH_GEN_SEED, bench_rng_below(&r, BENCH_GEN_REPEAT_CALLERS), phone,
                           sizeof phone);
    start = BENCH_GEN_END_MS - BENCH_GEN_SPAN_MS + (int64_t)bench_rng_below(&r, 358) * 86400 * 1000;
    date_text(start, from, sizeof from);
    date_text(start + WEEK_MS, to, sizeof to);
    switch (c) {
    case Q_RARE:
        return xasprintf("{\"query\":\"%s\"}", rare);
    case Q_COMMON:
        return xasprintf("{\"query\":\"%s\"}", common);
    case Q_TWO_COMMON:
        return xasprintf("{\"query\":\"%s %s\"}", common, common2);
    case Q_PHONE:
        return xasprintf("{\"phone\":\"%s\"}", phone);
    case Q_WEEK:
        return xasprintf("{\"from\":\"%s\",\"to\":\"%s\"}", from, to);
    case Q_COMMON_WEEK:
        return xasprintf("{\"query\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", common, from, to);
    case Q_COMMON_PHONE:
        return xasprintf("{\"query\":\"%s\",\"phone\":\"%s\"}", common, phone);
    case Q_RARE_WEEK:
    default:
        return xasprintf("{\"query\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", rare, from, to);
    }
}

/*
 * How often what the queries look for occurs, counted with SQL: each term
 * and the pairs of common terms in % of calls, calls per queried phone
 * number and per one-week range (averages over the values the queries use).
 */
static void df_figures(const char *db, const char *label, long long calls)
{
    sqlite3 *h = NULL;
    const char *fts = "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH ?1";
    double phone_sum = 0, week_sum = 0, pair_sum = 0;
    unsigned samples = 64;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return;
    }
    for (size_t i = 0; i < bench_gen_ncommon + bench_gen_nrare; i++) {
        const char *w = i < bench_gen_ncommon ? bench_gen_common[i].word
                                              : bench_gen_rare[i - bench_gen_ncommon].word;
        char *q = xasprintf("\"%s\"", w);
        long long n = sql_count(h, fts, q, 0, 0);
        if (n >= 0)
            bench_figuref(100.0 * (double)n / (double)calls, "%", "df.%s.%s", label, w);
        free(q);
    }
    for (unsigned s = 0; s < samples; s++) {
        char *args = search_args(Q_TWO_COMMON, s), *a, *b, *q;
        /* {"query":"a b"} */
        a = strchr(args + 9, '"') + 1;
        b = strchr(a, ' ');
        *b++ = '\0';
        *strchr(b, '"') = '\0';
        q = xasprintf("\"%s\" \"%s\"", a, b);
        pair_sum += (double)sql_count(h, fts, q, 0, 0);
        free(q);
        free(args);
    }
    for (unsigned s = 0; s < samples; s++) {
        char *args = search_args(Q_PHONE, s), digits[32];
        size_t n = 0;
        for (const char *p = args; *p != '\0' && n + 1 < sizeof digits; p++)
            if (*p >= '0' && *p <= '9')
                digits[n++] = *p;
        digits[n] = '\0';
        phone_sum += (double)sql_count(h, "SELECT count(*) FROM calls WHERE customer_digits = ?1",
                                       digits, 0, 0);
        free(args);
    }
    for (unsigned s = 0; s < samples; s++) {
        char *args = search_args(Q_WEEK, s);
        int64_t from, to;
        char day[16];
        snprintf(day, sizeof day, "%.10s", strstr(args, "from") + 7);
        time_parse_iso8601(day, &from);
        snprintf(day, sizeof day, "%.10s", strstr(args, "\"to\"") + 6);
        time_parse_iso8601(day, &to);
        week_sum += (double)sql_count(
            h, "SELECT count(*) FROM calls WHERE sort_ms >= ?1 AND sort_ms < ?2", NULL, from, to);
        free(args);
    }
    bench_figuref(100.0 * pair_sum / samples / (double)calls, "%", "df.%s.two_common", label);
    bench_figuref(phone_sum / samples, "calls", "df.%s.phone", label);
    bench_figuref(week_sum / samples, "calls", "df.%s.week", label);
    sqlite3_close(h);
}

/*
 * Read the database file once, so that the throughput figures measure the
 * daemon and the page cache rather than the disk: a database just built
 * by another run may have been pushed out of the cache since.
 */
static void page_cache_warm(const char *db)
{
    static char chunk[1 << 20];
    double t0 = time_mono();
    long long total = 0;
    ssize_t n;
    int fd = open(db, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        fatal("bench: open %s", db);
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        total += n;
    close(fd);
    bench_note("warm", "read %lld MB of %s in %.1f s before measuring", total >> 20, db,
               time_mono() - t0);
}

/* ---- requests ---- */

static char *request_json(long long id, bool search, unsigned seq)
{
    if (search) {
        char *args = search_args((enum search_class)(seq % Q_CLASSES), seq / Q_CLASSES);
        char *r = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":"
                            "{\"name\":\"search_calls\",\"arguments\":%s}}",
                            id, args);
        free(args);
        return r;
    }
    return xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"get_call\",\"arguments\":{\"call_id\":\"%s\"}}}",
                     id, ids[(size_t)seq * 7919 % nids]);
}

/* The id of a JSON-RPC answer line ({"jsonrpc":"2.0","id":N,...}), or 0. */
static long long answer_id(const char *line)
{
    const char *p = strstr(line, "\"id\":");

    return p != NULL && p - line < 40 ? atoll(p + 5) : 0;
}

/* True when an answer reports a failure (a JSON-RPC error or a tool error). */
static bool answer_failed(const char *line)
{
    return strncmp(line, "{\"jsonrpc\":\"2.0\",\"id\":", 22) != 0 ||
           strstr(line, "\"isError\":true") != NULL ||
           (strstr(line, "\"error\":{") != NULL && strstr(line, "\"result\":") == NULL);
}

/* ---- stdio ---- */

struct child {
    pid_t pid;
    FILE *in;  /* its stdin */
    FILE *out; /* its stdout */
};

static const char initialize[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n";

/*
 * Start `phonely-mcp stdio` on db and send initialize (its answer is left to
 * read). posix_spawn (a vfork underneath) does not copy this large process's
 * page tables, so a cold start measures phonely-mcp's own start-up.
 */
static void child_start(struct child *c, const char *db)
{
    char *argv[] = {"phonely-mcp", "stdio", "--db", (char *)db, "--log-level", "warn", NULL};
    posix_spawn_file_actions_t fa;
    int to[2], from[2], rc;

    if (pipe(to) == -1 || pipe(from) == -1)
        fatal("pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    posix_spawn_file_actions_addclose(&fa, to[1]);
    posix_spawn_file_actions_addclose(&fa, from[0]);
    rc = posix_spawn(&c->pid, phonely_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        fatal("spawn");
    }
    bench_watch(c->pid);
    close(to[0]);
    close(from[1]);
    c->in = fdopen(to[1], "w");
    c->out = fdopen(from[0], "r");
    fputs(initialize, c->in);
    fflush(c->in);
}

static void child_initialized(struct child *c)
{
    fputs("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n", c->in);
    fflush(c->in);
}

static void child_stop(struct child *c)
{
    if (c->in != NULL)
        fclose(c->in);
    if (c->out != NULL)
        fclose(c->out);
    waitpid(c->pid, NULL, 0);
    bench_unwatch(c->pid);
}

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;

    if (getline(&line, &cap, f) == -1) {
        free(line);
        return NULL;
    }
    return line;
}

/* Read lines until the answer to id; NULL at end of file. */
static char *read_answer(FILE *f, long long id)
{
    char *line;

    while ((line = read_line(f)) != NULL) {
        if (answer_id(line) == id)
            return line;
        free(line);
    }
    return NULL;
}

/* Peak resident memory seen across the stdio load runs. */
static long stdio_peak_kb;

static void stdio_sequential(const char *db, bool search, const char *name)
{
    struct child c;
    double *lat = xcalloc(MAX_LAT, sizeof *lat), t_end, t0;
    size_t n = 0, errors = 0;
    char *line, prefix[96];

    child_start(&c, db);
    free(read_answer(c.out, 0));
    child_initialized(&c);
    if (!search)
        bench_figure("mem.stdio.idle", (double)bench_proc_kb(c.pid, "VmRSS"), "kB");
    t0 = time_mono();
    t_end = t0 + seconds;
    while (time_mono() < t_end && n < MAX_LAT) {
        char *req = request_json((long long)n + 1, search, (unsigned)n);
        double s = time_mono();
        fprintf(c.in, "%s\n", req);
        fflush(c.in);
        free(req);
        if ((line = read_answer(c.out, (long long)n + 1)) == NULL)
            break;
        errors += answer_failed(line);
        free(line);
        lat[n++] = time_mono() - s;
    }
    double elapsed = time_mono() - t0;
    long hwm = bench_proc_kb(c.pid, "VmHWM");
    if (hwm > stdio_peak_kb)
        stdio_peak_kb = hwm;
    child_stop(&c);
    snprintf(prefix, sizeof prefix, "mcp.stdio.%s.seq", name);
    bench_figuref((double)n / elapsed, "calls/s", "%s.cps", prefix);
    latency_figures(prefix, lat, n);
    if (errors > 0)
        bench_figuref((double)errors, "count", "%s.errors", prefix);
    free(lat);
}

struct inflight {
    struct child c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double *sent; /* send time by id */
    double *lat;
    size_t max, done, errors;
    bool eof;
};

static void *stdio_reader(void *arg)
{
    struct inflight *f = arg;
    char *line;

    while ((line = read_line(f->c.out)) != NULL) {
        long long id = answer_id(line);
        bool failed = answer_failed(line);
        double now = time_mono();
        free(line);
        if (id <= 0 || (size_t)id > f->max)
            continue;
        pthread_mutex_lock(&f->mu);
        f->lat[f->done++] = now - f->sent[id - 1];
        f->errors += failed;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_lock(&f->mu);
    f->eof = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Keep depth requests outstanding: send one each time one is answered. */
static void stdio_inflight(const char *db, bool search, unsigned depth, const char *name)
{
    struct inflight f = {.max = MAX_LAT};
    pthread_t th;
    size_t sent = 0;
    double t0, t_end;
    char prefix[96];

    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    f.sent = xcalloc(f.max, sizeof *f.sent);
    f.lat = xcalloc(f.max, sizeof *f.lat);
    child_start(&f.c, db);
    free(read_answer(f.c.out, 0));
    child_initialized(&f.c);
    pthread_create(&th, NULL, stdio_reader, &f);
    t0 = time_mono();
    t_end = t0 + seconds;
    while (time_mono() < t_end && sent < f.max) {
        pthread_mutex_lock(&f.mu);
        while (sent - f.done >= depth && !f.eof) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&f.cv, &f.mu, &ts);
            if (time_mono() >= t_end)
                break;
        }
        bool stop = f.eof || sent - f.done >= depth;
        pthread_mutex_unlock(&f.mu);
        if (stop)
            break;
        char *req = request_json((long long)sent + 1, search, (unsigned)sent);
        f.sent[sent] = time_mono();
        sent++;
        fprintf(f.c.in, "%s\n", req);
        fflush(f.c.in);
        free(req);
    }
    pthread_mutex_lock(&f.mu);
    double elapsed = time_mono() - t0;
    size_t done = f.done;
    pthread_mutex_unlock(&f.mu);
    long hwm = bench_proc_kb(f.c.pid, "VmHWM");
    if (hwm > stdio_peak_kb)
        stdio_peak_kb = hwm;
    fclose(f.c.in);
    f.c.in = NULL;
    pthread_join(th, NULL);
    fclose(f.c.out);
    f.c.out = NULL;
    child_stop(&f.c);
    snprintf(prefix, sizeof prefix, "mcp.stdio.%s.if%u", name, depth);
    bench_figuref((double)done / elapsed, "calls/s", "%s.cps", prefix);
    latency_figures(prefix, f.lat, done);
    if (f.errors > 0)
        bench_figuref((double)f.errors, "count", "%s.errors", prefix);
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cv);
    free(f.sent);
    free(f.lat);
}

/* Fork, exec `phonely-mcp stdio`, send initialize, read its answer: how long, p50/p99. */
static void stdio_cold_start(const char *db, const char *label)
{
    double lat[START_RUNS], t_end = time_mono() + 2 * seconds;
    size_t n = 0;
    char prefix[64];

    while (n < START_RUNS && time_mono() < t_end) {
        struct child c;
        double t0 = time_mono();
        child_start(&c, db);
        char *line = read_answer(c.out, 0);
        double t = time_mono() - t0;
        child_stop(&c);
        if (line == NULL)
            break;
        free(line);
        lat[n++] = t;
    }
    snprintf(prefix, sizeof prefix, "start.stdio.%s", label);
    latency_figures(prefix, lat, n);
}

/* search_calls latency for every class, sequentially over one stdio child. */
static void search_matrix(const char *db, const char *label)
{
    struct child c;
    double *lat = xcalloc(SEARCH_MAX, sizeof *lat);
    long long id = 1;
    char *line, prefix[96];

    child_start(&c, db);
    free(read_answer(c.out, 0));
    child_initialized(&c);
    /* Warm up: one query of each class with values the measured ones do not use. */
    for (int k = 0; k < Q_CLASSES; k++) {
        char *args = search_args((enum search_class)k, 100000);
        fprintf(c.in,
                "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"search_calls\",\"arguments\":%s}}\n",
                id, args);
        fflush(c.in);
        free(args);
        free(read_answer(c.out, id++));
    }
    for (int k = 0; k < Q_CLASSES; k++) {
        double t_end = time_mono() + seconds;
        size_t n = 0, errors = 0;
        while (n < SEARCH_MAX && time_mono() < t_end) {
            char *args = search_args((enum search_class)k, (unsigned)n);
            double s = time_mono();
            fprintf(c.in,
                    "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":{"
                    "\"name\":\"search_calls\",\"arguments\":%s}}\n",
                    id, args);
            fflush(c.in);
            if ((line = read_answer(c.out, id++)) == NULL) {
                free(args);
                break;
            }
            lat[n++] = time_mono() - s;
            if (answer_failed(line) && errors++ == 0)
                fprintf(stderr, "bench: search_calls %s: %.300s\n", args, line);
            free(line);
            free(args);
        }
        snprintf(prefix, sizeof prefix, "search.%s.%s", label, class_names[k]);
        latency_figures(prefix, lat, n);
        if (errors > 0)
            bench_figuref((double)errors, "count", "%s.errors", prefix);
    }
    child_stop(&c);
    free(lat);
}

/*
 * PostgreSQL (make bench BENCH_PG=1): the first database copied into a new
 * PostgreSQL one with `phonely-mcp migrate` (timed), then get_call and the
 * search matrix over stdio on it, as on SQLite.
 */
static void pg_figures(const char *db, const char *label, int64_t calls)
{
    char *uri = pg_newdb(), *out = NULL, *err = NULL, pglabel[48], *name;
    const char *argv[] = {"migrate", "--from", db, "--to", uri, "--batch", "2000", NULL};
    double t0 = time_mono();
    int rc;

    bench_watchdog(WATCH_POINT_S * 20);
    rc = run_cli(argv, NULL, NULL, &out, &err);
    if (rc != 0)
        fatalx("bench: migrate exited %d: %s%s", rc, out ? out : "", err ? err : "");
    bench_figuref(time_mono() - t0, "s", "migrate.%s.seconds", label);
    bench_figuref((double)calls / (time_mono() - t0), "calls/s", "migrate.%s.rate", label);
    free(out);
    free(err);
    snprintf(pglabel, sizeof pglabel, "pg%s", label);
    name = xasprintf("%s.get_call", pglabel);
    bench_watchdog(WATCH_POINT_S);
    stdio_sequential(uri, false, name);
    bench_watchdog(WATCH_POINT_S);
    stdio_inflight(uri, false, 16, name);
    free(name);
    bench_watchdog(WATCH_POINT_S + Q_CLASSES * (unsigned)seconds);
    search_matrix(uri, pglabel);
    free(uri);
}

/* ---- HTTP ---- */

#define RESP_MAX (1 << 18)

struct http_client {
    char *resp; /* RESP_MAX bytes for one response */
    uint16_t port;
    unsigned index;
    double t_end;
    double *lat;
    size_t n, max;
    bool failed;
};

/*
 * POST body to /mcp on fd and read the answer into resp (RESP_MAX bytes);
 * returns the status and copies the session header into sid_out.
 */
static int mcp_post(int fd, uint16_t port, const char *sid, const char *body, char *resp,
                    char *sid_out)
{
    struct buf req = {0};
    size_t got = 0;
    ssize_t n;

    buf_printf(&req,
               "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
               "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
               "%s%s%sContent-Length: %zu\r\n\r\n%s",
               port, BENCH_TOKEN, sid ? "Mcp-Session-Id: " : "", sid ? sid : "", sid ? "\r\n" : "",
               strlen(body), body);
    if (send(fd, req.data, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
        buf_free(&req);
        return -1;
    }
    buf_free(&req);
    for (;;) {
        if (got + 1 >= RESP_MAX)
            return -1;
        n = recv(fd, resp + got, RESP_MAX - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strstr(resp, "Content-Length: ");
        size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
        if (got < (size_t)(end + 4 - resp) + want)
            continue;
        if (sid_out != NULL) {
            char *h = strstr(resp, "Mcp-Session-Id: ");
            if (h != NULL)
                sscanf(h + 16, "%63s", sid_out);
        }
        return atoi(resp + 9);
    }
}

static void *http_client_main(void *arg)
{
    struct http_client *c = arg;
    int fd = tcp_connect(c->port);
    char sid[64] = "";
    unsigned seq = c->index * 1000003u;

    if (fd == -1) {
        c->failed = true;
        return NULL;
    }
    mcp_post(fd, c->port, NULL, initialize, c->resp, sid);
    mcp_post(fd, c->port, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
             c->resp, NULL);
    while (time_mono() < c->t_end && c->n < c->max) {
        char *req = request_json((long long)c->n + 1, false, seq++);
        double s = time_mono();
        int status = mcp_post(fd, c->port, sid, req, c->resp, NULL);
        free(req);
        if (status != 200) {
            c->failed = true;
            break;
        }
        c->lat[c->n++] = time_mono() - s;
    }
    close(fd);
    return NULL;
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/*
 * get_call over HTTP from clients clients with their own sessions for the
 * point's seconds; figures under mcp.http.get_call.c<clients><label>. setting
 * is one more PHONELY_MCP_ setting for the daemon (or NULL). Returns the
 * calls/s, and the load generator's own CPU use (this process, % of one
 * core) in *own_cpu when not NULL.
 */
static double http_bench(const char *db, unsigned clients, const char *setting, const char *label,
                         double *own_cpu)
{
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", db);
    const char *env[] = {dbenv,
                         "PHONELY_MCP_TOKEN=" BENCH_TOKEN,
                         "PHONELY_MCP_PRIVATE_AUTH=yes",
                         "PHONELY_MCP_LOG_LEVEL=info", /* the harness waits for "listener ready" */
                         "PHONELY_MCP_PER_IP_LIMIT=0",
                         setting,
                         NULL};
    struct rusage ru0, ru1;
    double cps, cpu;
    struct daemon d;
    struct http_client *c = xcalloc(clients, sizeof *c);
    pthread_t *th = xcalloc(clients, sizeof *th);
    struct timespec settle = {0, 300 * 1000 * 1000};
    double *all, t0;
    size_t total = 0, failed = 0;
    char prefix[64];

    daemon_start(&d, env);
    bench_watch(d.pid);
    nanosleep(&settle, NULL);
    if (label[0] == '\0')
        bench_figure("mem.serve.mcp_idle", (double)bench_proc_kb(d.pid, "VmRSS"), "kB");
    getrusage(RUSAGE_SELF, &ru0);
    t0 = time_mono();
    for (unsigned i = 0; i < clients; i++) {
        c[i] = (struct http_client){
            .port = d.private_port, .index = i, .t_end = t0 + seconds, .max = 2000000};
        c[i].lat = xcalloc(c[i].max, sizeof *c[i].lat);
        c[i].resp = xmalloc(RESP_MAX);
        pthread_create(&th[i], NULL, http_client_main, &c[i]);
    }
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].n;
        failed += c[i].failed;
    }
    double elapsed = time_mono() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    cpu = (tv_seconds(&ru1.ru_utime) + tv_seconds(&ru1.ru_stime) - tv_seconds(&ru0.ru_utime) -
           tv_seconds(&ru0.ru_stime)) /
          elapsed * 100;
    if (label[0] == '\0')
        bench_figure("mem.serve.mcp_peak", (double)bench_proc_kb(d.pid, "VmHWM"), "kB");
    all = xcalloc(total ? total : 1, sizeof *all);
    total = 0;
    for (unsigned i = 0; i < clients; i++) {
        if (c[i].n > 0)
            memcpy(all + total, c[i].lat, c[i].n * sizeof *all);
        total += c[i].n;
        free(c[i].lat);
        free(c[i].resp);
    }
    snprintf(prefix, sizeof prefix, "mcp.http.get_call.c%u%s", clients, label);
    cps = (double)total / elapsed;
    bench_figuref(cps, "calls/s", "%s.cps", prefix);
    latency_figures(prefix, all, total);
    bench_figuref((double)failed, "count", "%s.failed_clients", prefix);
    bench_figuref(cpu, "%", "%s.loadgen_cpu", prefix);
    bench_unwatch(d.pid);
    daemon_cleanup(&d);
    free(all);
    free(c);
    free(th);
    free(dbenv);
    if (own_cpu != NULL)
        *own_cpu = cpu;
    return cps;
}

/*
 * What the access audit costs get_call: the HTTP point with audit off,
 * then on, side by side, and on/off (the goal: at least 0.9). Off and on
 * alternate over two rounds, so that a drift of the machine meets both.
 */
static void audit_bench(const char *db, unsigned clients)
{
    double off = 0, on = 0, cpu;

    for (int round = 0; round < 2; round++) {
        off += http_bench(db, clients, "PHONELY_MCP_AUDIT=no", ".audit_off", &cpu);
        on += http_bench(db, clients, "PHONELY_MCP_AUDIT=yes", ".audit_on", &cpu);
    }
    bench_note("audit",
               "get_call over HTTP, %u clients: %.0f calls/s audit off, %.0f audit on, "
               "ratio %.3f (means of 2 rounds each)",
               clients, off / 2, on / 2, off > 0 ? on / off : 0);
    bench_figure("mcp.audit.get_call_ratio", off > 0 ? on / off : 0, "on/off");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    /* PHONELY_BENCH_ONLY=audit: the audit's get_call points alone, on the first database. */
    const char *only = getenv("PHONELY_BENCH_ONLY");
    bool audit_only = only != NULL && strcmp(only, "audit") == 0;
    long long counts[8] = {100000};
    int ncounts = 1;

    if (argc > 2 && atof(argv[2]) > 0)
        seconds = atof(argv[2]);
    if (argc > 3) {
        ncounts = 0;
        for (int i = 3; i < argc && ncounts < 8; i++)
            if (atoll(argv[i]) > 0)
                counts[ncounts++] = atoll(argv[i]);
    }
    if (only != NULL && !audit_only)
        return 0; /* another program's part */
    if (getenv("PHONELY_TEST_BIN") != NULL)
        phonely_bin = getenv("PHONELY_TEST_BIN");
    if (access(phonely_bin, X_OK) != 0)
        fatal("bench: %s (set PHONELY_TEST_BIN to the phonely-mcp binary)", phonely_bin);
    xmalloc_init_json();
    auth_init();
    signal(SIGPIPE, SIG_IGN);
    if (getenv("PHONELY_BENCH_DB") != NULL) {
        search_matrix(getenv("PHONELY_BENCH_DB"), "external");
        return 0;
    }
    bench_note("sqlite", "%s", sqlite3_libversion());
    bench_note("mcp", "%g s per point; search points at most %d queries; generator v%d, seed %u",
               seconds, SEARCH_MAX, BENCH_GEN_VERSION, BENCH_GEN_SEED);
    for (int i = 0; i < ncounts; i++) {
        struct db_info info;
        char label[32];
        char *db;

        calls_label(counts[i], label, sizeof label);
        db = xasprintf("%s/bench-%s.db", dir, label);
        db_prepare(db, counts[i], label, &info);
        db_size_figures(db, label, &info);
        df_figures(db, label, counts[i]);
        if (i == 0) {
            page_cache_warm(db);
            load_ids(db);
            if (nids == 0)
                fatalx("bench: no calls in %s", db);
        }
        if (i == 0 && !audit_only) {
            stdio_sequential(db, false, "get_call");
            bench_watchdog(WATCH_POINT_S);
            stdio_inflight(db, false, 16, "get_call");
            bench_watchdog(WATCH_POINT_S);
            stdio_sequential(db, true, "search_calls");
            bench_watchdog(WATCH_POINT_S);
            stdio_inflight(db, true, 16, "search_calls");
            bench_figure("mem.stdio.loaded", (double)stdio_peak_kb, "kB");
            bench_watchdog(WATCH_POINT_S);
        }
        if (i == 0) {
            if (!audit_only) {
                http_bench(db, 32, NULL, "", NULL);
                bench_watchdog(WATCH_POINT_S);
            }
            audit_bench(db, 32);
            bench_watchdog(4 * WATCH_POINT_S);
            if (audit_only)
                break;
        }
        stdio_cold_start(db, label);
        bench_watchdog(WATCH_POINT_S + Q_CLASSES * (unsigned)seconds);
        search_matrix(db, label);
        if (i == 0 && getenv("PHONELY_TEST_PG_CLUSTER") != NULL)
            pg_figures(db, label, info.calls);
        free(db);
    }
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    return 0;
}
