/*
 * bench_mcp.c: MCP tools/call throughput and latency on a large database.
 * Builds (once, then reuses) a database of N generated calls, then:
 *   - over stdio (`phonely-mcp stdio`): get_call and search_calls,
 *     sequentially and with 16 requests in flight;
 *   - over Streamable HTTP (`phonely-mcp serve`, /mcp with a bearer
 *     token): get_call from 32 concurrent clients, each with its own
 *     session and keep-alive connection.
 * Prints calls/s and p50/p99 latency per line. Numbers only, no assertions.
 *
 * usage: bench_mcp [DB [CALLS [SECONDS]]]   (default bench-calls.db, 100000, 5)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "harness.h"
#include "log.h"
#include "payload.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

#define BENCH_TOKEN "bench_token_0123456789abcdefghijklmn"

static char **ids;
static size_t nids;

static void report(const char *label, double *lat, size_t n, double seconds)
{
    double p50, p99;

    bench_percentiles(lat, n, &p50, &p99);
    printf("%-44s calls/s=%8.0f p50_ms=%7.3f p99_ms=%7.3f n=%zu\n", label,
           seconds > 0 ? (double)n / seconds : 0, p50 * 1000, p99 * 1000, n);
    fflush(stdout);
}

/* ---- the database ---- */

static long long db_calls(const char *path)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM calls", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void db_build(const char *path, long long want)
{
    struct store_options o = {.busy_timeout_ms = 5000};
    struct err err = {0};
    struct store *st = store_open(path, &o, &err);
    long long have = db_calls(path);
    int64_t now = time_now_ms(), year = 365LL * 86400 * 1000;
    double t0 = time_mono();

    if (st == NULL)
        fatalx("bench: %s", err.msg);
    for (long long i = have < 0 ? 0 : have; i < want; i += 1000) {
        struct buf bodies[1000];
        struct call calls[1000];
        struct delivery d[1000], *items[1000];
        char sha[1000][AUTH_SHA256_HEX];
        size_t n = 0;
        for (long long j = i; j < want && n < 1000; j++, n++) {
            memset(&bodies[n], 0, sizeof bodies[n]);
            /* Spread the calls over the last year, in order. */
            bench_call_body(&bodies[n], 0, (uint64_t)j, now - year + year * j / want);
            if (payload_parse(bodies[n].data, bodies[n].len, &calls[n], &err) == -1)
                fatalx("bench: generated body: %s", err.msg);
            auth_sha256_hex(bodies[n].data, bodies[n].len, sha[n]);
            d[n] = (struct delivery){.received_ms = now,
                                     .source = "import",
                                     .body = bodies[n].data,
                                     .body_len = bodies[n].len,
                                     .body_size = bodies[n].len,
                                     .body_sha256 = sha[n],
                                     .call = &calls[n]};
            items[n] = &d[n];
        }
        if (store_put_deliveries(st, items, n, &err) == -1)
            fatalx("bench: %s", err.msg);
        for (size_t k = 0; k < n; k++) {
            payload_call_free(&calls[k]);
            buf_free(&bodies[k]);
        }
        if ((i / 1000) % 10 == 0)
            fprintf(stderr, "\rbuilding %s: %lld/%lld calls", path, i + (long long)n, want);
    }
    store_close(st);
    if (have < want)
        fprintf(stderr, "\rbuilt %s: %lld calls in %.0f s\n", path, want, time_mono() - t0);
}

static void load_ids(const char *path)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;

    sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(h, "SELECT call_id FROM calls ORDER BY random() LIMIT 20000", -1, &st, NULL);
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

/* ---- requests ---- */

static const char *searches[] = {
    "{\"query\":\"cancellation fee\"}",
    "{\"query\":\"insurance\"}",
    "{\"phone\":\"(415) 555-0042\"}",
    "{\"from\":\"2026-03-01\",\"to\":\"2026-03-08\"}",
    "{\"query\":\"thursday\",\"sentiment\":\"negative\",\"direction\":\"inbound\"}",
};

static char *request_json(long long id, bool search, unsigned seq)
{
    if (search)
        return xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":"
                         "{\"name\":\"search_calls\",\"arguments\":%s}}",
                         id, searches[seq % (sizeof searches / sizeof searches[0])]);
    return xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"get_call\",\"arguments\":{\"call_id\":\"%s\"}}}",
                     id, ids[(size_t)seq * 7919 % nids]);
}

/* ---- stdio ---- */

struct child {
    pid_t pid;
    FILE *in;  /* its stdin */
    FILE *out; /* its stdout */
};

static void child_start(struct child *c, const char *db)
{
    int to[2], from[2];

    if (pipe(to) == -1 || pipe(from) == -1)
        fatal("pipe");
    c->pid = fork();
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(getenv("PHONELY_TEST_BIN"), "phonely-mcp", "stdio", "--db", db, "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->in = fdopen(to[1], "w");
    c->out = fdopen(from[0], "r");
    fputs(
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}"
        "\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n",
        c->in);
    fflush(c->in);
}

static void child_stop(struct child *c)
{
    fclose(c->in);
    fclose(c->out);
    waitpid(c->pid, NULL, 0);
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

static void stdio_sequential(const char *db, bool search, double seconds, const char *label)
{
    struct child c;
    double *lat = xcalloc(4000000, sizeof *lat), t_end, t0;
    size_t n = 0;
    char *line;

    child_start(&c, db);
    free(read_line(c.out)); /* initialize's answer */
    t0 = time_mono();
    t_end = t0 + seconds;
    while (time_mono() < t_end && n < 4000000) {
        char *req = request_json((long long)n + 1, search, (unsigned)n);
        double s = time_mono();
        fprintf(c.in, "%s\n", req);
        fflush(c.in);
        free(req);
        if ((line = read_line(c.out)) == NULL)
            break;
        free(line);
        lat[n++] = time_mono() - s;
    }
    report(label, lat, n, time_mono() - t0);
    child_stop(&c);
    free(lat);
}

struct inflight {
    struct child c;
    double *sent; /* send time by id */
    double *lat;
    size_t max, done;
    double t_end;
    bool search;
};

static void *stdio_reader(void *arg)
{
    struct inflight *f = arg;
    char *line;

    while ((line = read_line(f->c.out)) != NULL) {
        const char *p = strstr(line, "\"id\":");
        long long id = p ? atoll(p + 5) : 0;
        free(line);
        if (id > 0 && (size_t)id <= f->max)
            f->lat[f->done++] = time_mono() - f->sent[id - 1];
    }
    return NULL;
}

/* Keep `depth` requests outstanding: send one each time one is answered. */
static void stdio_inflight(const char *db, bool search, double seconds, unsigned depth,
                           const char *label)
{
    struct inflight f = {.max = 4000000, .search = search};
    pthread_t th;
    size_t sent = 0;
    double t0;

    f.sent = xcalloc(f.max, sizeof *f.sent);
    f.lat = xcalloc(f.max, sizeof *f.lat);
    child_start(&f.c, db);
    free(read_line(f.c.out));
    pthread_create(&th, NULL, stdio_reader, &f);
    t0 = time_mono();
    f.t_end = t0 + seconds;
    while (time_mono() < f.t_end && sent < f.max) {
        if (sent - f.done >= depth) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        char *req = request_json((long long)sent + 1, search, (unsigned)sent);
        f.sent[sent] = time_mono();
        sent++;
        fprintf(f.c.in, "%s\n", req);
        fflush(f.c.in);
        free(req);
    }
    double elapsed = time_mono() - t0;
    fclose(f.c.in);
    pthread_join(th, NULL);
    fclose(f.c.out);
    waitpid(f.c.pid, NULL, 0);
    report(label, f.lat, f.done, elapsed);
    free(f.sent);
    free(f.lat);
}

/* ---- HTTP ---- */

struct http_client {
    uint16_t port;
    unsigned index;
    double t_end;
    double *lat;
    size_t n, max;
};

/* POST body to /mcp on fd; returns the status and copies the session header into sid. */
static int mcp_post(int fd, uint16_t port, const char *sid, const char *body, char *sid_out)
{
    struct buf req = {0};
    char resp[1 << 16];
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
        n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
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

    if (fd == -1)
        return NULL;
    mcp_post(
        fd, c->port, NULL,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}"
        "}",
        sid);
    mcp_post(fd, c->port, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
             NULL);
    while (time_mono() < c->t_end && c->n < c->max) {
        char *req = request_json((long long)c->n + 1, false, seq++);
        double s = time_mono();
        int status = mcp_post(fd, c->port, sid, req, NULL);
        free(req);
        if (status != 200)
            break;
        c->lat[c->n++] = time_mono() - s;
    }
    close(fd);
    return NULL;
}

static void http_bench(const char *db, unsigned clients, double seconds)
{
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", db);
    const char *env[] = {dbenv,
                         "PHONELY_MCP_TOKEN=" BENCH_TOKEN,
                         "PHONELY_MCP_PRIVATE_AUTH=yes",
                         "PHONELY_MCP_LOG_LEVEL=info",
                         "PHONELY_MCP_PER_IP_LIMIT=0",
                         NULL};
    struct daemon d;
    struct http_client *c = xcalloc(clients, sizeof *c);
    pthread_t *th = xcalloc(clients, sizeof *th);
    double *all, t0;
    size_t total = 0;
    char label[64];

    daemon_start(&d, env);
    t0 = time_mono();
    for (unsigned i = 0; i < clients; i++) {
        c[i] = (struct http_client){
            .port = d.private_port, .index = i, .t_end = t0 + seconds, .max = 2000000};
        c[i].lat = xcalloc(c[i].max, sizeof *c[i].lat);
        pthread_create(&th[i], NULL, http_client_main, &c[i]);
    }
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].n;
    }
    double elapsed = time_mono() - t0;
    all = xcalloc(total ? total : 1, sizeof *all);
    total = 0;
    for (unsigned i = 0; i < clients; i++) {
        memcpy(all + total, c[i].lat, c[i].n * sizeof *all);
        total += c[i].n;
        free(c[i].lat);
    }
    snprintf(label, sizeof label, "mcp http get_call clients=%u", clients);
    report(label, all, total, elapsed);
    daemon_cleanup(&d);
    free(all);
    free(c);
    free(th);
    free(dbenv);
}

int main(int argc, char **argv)
{
    const char *db = argc > 1 ? argv[1] : "bench-calls.db";
    long long calls = argc > 2 ? atoll(argv[2]) : 100000;
    double seconds = argc > 3 ? atof(argv[3]) : 5;

    xmalloc_init_json();
    auth_init();
    signal(SIGPIPE, SIG_IGN);
    db_build(db, calls);
    load_ids(db);
    if (nids == 0)
        fatalx("bench: no calls in %s", db);
    printf("database %s: %lld calls\n", db, db_calls(db));
    stdio_sequential(db, false, seconds, "mcp stdio get_call sequential");
    stdio_inflight(db, false, seconds, 16, "mcp stdio get_call in_flight=16");
    stdio_sequential(db, true, seconds, "mcp stdio search_calls sequential");
    stdio_inflight(db, true, seconds, 16, "mcp stdio search_calls in_flight=16");
    http_bench(db, 32, seconds);
    return 0;
}
