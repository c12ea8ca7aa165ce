/*
 * test_hostile.c: S3/S4 hostile clients against a real `serve` with small
 * limits. Oversized headers, a missing Host, slow senders (headers and body
 * one byte a second), a connection flood from one address, an endless
 * chunked body, hostile JSON bodies with a valid token, and the stdio
 * transport's framing with control characters. Loopback only; every loop is
 * bounded; the daemon is stopped at the end. Prints what it observed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "check.h"
#include "harness.h"
#include "xmalloc.h"

#define TOKEN "tok_H0st1leCl1entsAreWelc0meHere42"
#define PATH  "/phonely/webhook/" TOKEN

#define CONNECTION_TIMEOUT 2
#define REQUEST_DEADLINE   3
#define PER_IP_LIMIT       8

static struct daemon d;
static const char *const env[] = {
    "PHONELY_MCP_WEBHOOK_TOKEN=" TOKEN, "PHONELY_MCP_CONNECTION_TIMEOUT=2",
    "PHONELY_MCP_REQUEST_DEADLINE=3",   "PHONELY_MCP_PER_IP_LIMIT=8",
    "PHONELY_MCP_CONNECTION_LIMIT=32",  "PHONELY_MCP_HEADER_MAX=8K",
    "PHONELY_MCP_BODY_MAX=1M",          NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long db_int(const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open_v2(d.db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "db_int(%s): %s\n", sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static long long calls(void)
{
    return db_int("SELECT count(*) FROM calls");
}

static int post_status(const char *path, const char *body, size_t len)
{
    struct http_resp r;
    int status = -1;

    if (http_post(d.webhook_port, path, NULL, body, len, &r) == 0)
        status = r.status;
    http_resp_free(&r);
    return status;
}

static bool daemon_alive(void)
{
    struct http_resp r;
    int status = -1;

    if (http_get(d.webhook_port, "/healthz", &r) == 0)
        status = r.status;
    http_resp_free(&r);
    return kill(d.pid, 0) == 0 && status == 200;
}

static long rss_kb(void)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* Wait up to ms for the peer to close fd (EOF or reset); true when it did. */
static bool closed_within(int fd, long ms)
{
    double end = now_s() + (double)ms / 1000;
    char buf[4096];

    while (now_s() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)((end - now_s()) * 1000) + 1;
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

/* ---- oversized headers ---- */

static void test_oversized_headers(void)
{
    struct buf b = {0};
    struct http_resp r;
    const char *body = "{\"callId\":\"hostile-big-headers\"}";
    long long before = calls();
    int rc;

    buf_printf(&b,
               "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nContent-Length: %zu\r\n",
               strlen(body));
    for (int i = 0; b.len < 64 * 1024; i++)
        buf_printf(&b, "X-Pad-%d: %0200d\r\n", i, 0);
    buf_puts(&b, "\r\n");
    buf_puts(&b, body);
    rc = http_raw(d.webhook_port, b.data, b.len, &r);
    printf("oversized headers (%zu bytes, header_max 8K): rc %d status %d\n", b.len, rc,
           rc == 0 ? r.status : -1);
    /* A refusal: 431 from libmicrohttpd, or a close without any answer. */
    CHECK(rc == -1 || r.status == 431);
    CHECK(rc == -1 || r.status < 200 || r.status >= 300);
    http_resp_free(&r);
    buf_free(&b);
    CHECK_INT_EQ(db_int("SELECT count(*) FROM calls WHERE call_id = 'hostile-big-headers'"), 0);
    CHECK_INT_EQ(calls(), before);
    CHECK(daemon_alive());
}

/* ---- missing Host ---- */

static int raw_status(uint16_t port, const char *req, size_t len)
{
    struct http_resp r;
    int status = -1;

    if (http_raw(port, req, len, &r) == 0)
        status = r.status;
    http_resp_free(&r);
    return status;
}

static void test_missing_host(void)
{
    const char get[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
    const char body[] = "{\"callId\":\"hostile-no-host\"}";
    char *with_token, *without_token;
    int s_priv, s_tok, s_notok;

    s_priv = raw_status(d.private_port, get, strlen(get));
    CHECK_INT_EQ(s_priv, 400);

    without_token = xasprintf("POST /phonely/webhook HTTP/1.1\r\nConnection: close\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                              strlen(body), body);
    s_notok = raw_status(d.webhook_port, without_token, strlen(without_token));
    CHECK(s_notok < 200 || s_notok >= 300);
    with_token = xasprintf("POST " PATH " HTTP/1.1\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(body), body);
    s_tok = raw_status(d.webhook_port, with_token, strlen(with_token));
    printf("no Host on HTTP/1.1: private /healthz %d, webhook without token %d, webhook with "
           "token %d\n",
           s_priv, s_notok, s_tok);
    /* Whatever libmicrohttpd decides, never stored without a 2xx. */
    CHECK(s_tok == 400 || s_tok == 200);
    CHECK_INT_EQ(db_int("SELECT count(*) FROM calls WHERE call_id = 'hostile-no-host'"),
                 s_tok == 200 ? 1 : 0);
    free(with_token);
    free(without_token);
}

/* ---- slow clients ---- */

struct slow {
    const char *what;
    bool body; /* headers sent at once, then the body one byte a second */
    double cut_after;
    bool cut;
    size_t sent;
};

static void *slow_main(void *arg)
{
    struct slow *s = arg;
    char head[512];
    const char *body = "{\"callId\":\"hostile-slow-body\",\"summary\":\"0123456789abcdef\"}";
    const char *p;
    size_t len;
    int fd = tcp_connect(d.webhook_port);
    double t0 = now_s();

    if (fd == -1)
        return NULL;
    snprintf(head, sizeof head,
             "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
             strlen(body));
    if (s->body) {
        if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0) {
            close(fd);
            return NULL;
        }
        p = body;
    } else {
        p = head;
    }
    len = strlen(p);
    /* One byte a second, at most 30 of them (the limits are 2 s and 3 s). */
    for (size_t i = 0; i < len && i < 30; i++) {
        if (send(fd, p + i, 1, MSG_NOSIGNAL) != 1 || closed_within(fd, 1000)) {
            s->cut = true;
            break;
        }
        s->sent++;
    }
    s->cut_after = now_s() - t0;
    close(fd);
    return NULL;
}

static void test_slow_clients(void)
{
    struct slow sh = {"headers", false, 0, false, 0}, sb = {"body", true, 0, false, 0};
    pthread_t th, tb;
    double worst = 0;
    int served = 0;

    pthread_create(&th, NULL, slow_main, &sh);
    pthread_create(&tb, NULL, slow_main, &sb);
    sleep_ms(500);
    /* Normal posts while the slow ones trickle. */
    for (int i = 0; i < 5; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"callId\":\"hostile-normal-%d\"}", i);
        double t0 = now_s();
        int st = post_status(PATH, body, strlen(body));
        double dt = now_s() - t0;
        if (dt > worst)
            worst = dt;
        served += st == 200;
        sleep_ms(500);
    }
    pthread_join(th, NULL);
    pthread_join(tb, NULL);
    printf("slow headers (1 B/s): cut %s after %.1f s, %zu bytes; slow body (1 B/s): cut %s "
           "after %.1f s, %zu bytes; normal posts meanwhile: %d/5 200, slowest %.3f s\n",
           sh.cut ? "yes" : "NO", sh.cut_after, sh.sent, sb.cut ? "yes" : "NO", sb.cut_after,
           sb.sent, served, worst);
    CHECK_INT_EQ(served, 5);
    CHECK(worst < 2.0);
    CHECK(sb.cut);
    CHECK(sb.cut_after < REQUEST_DEADLINE + CONNECTION_TIMEOUT + 3);
    CHECK(sh.cut);
    CHECK(sh.cut_after < REQUEST_DEADLINE + CONNECTION_TIMEOUT + 3);
    CHECK_INT_EQ(db_int("SELECT count(*) FROM calls WHERE call_id = 'hostile-slow-body'"), 0);
}

/* ---- connection flood ---- */

static void test_flood(void)
{
    enum { N = PER_IP_LIMIT + 10 };
    int fds[N], opened = 0, refused = 0, alive = 0;
    long rss0 = rss_kb(), rss1;
    const char *body = "{\"callId\":\"hostile-after-flood\"}";

    for (int i = 0; i < N; i++) {
        fds[i] = tcp_connect(d.webhook_port);
        opened += fds[i] != -1;
    }
    for (int i = 0; i < N; i++) {
        if (fds[i] == -1)
            refused++;
        else if (closed_within(fds[i], 300))
            refused++, close(fds[i]), fds[i] = -1;
        else
            alive++;
    }
    rss1 = rss_kb();
    printf("flood: %d connections from 127.0.0.1 (per_ip_limit %d): %d held, %d refused/closed; "
           "VmRSS %ld kB -> %ld kB\n",
           N, PER_IP_LIMIT, alive, refused, rss0, rss1);
    CHECK(alive <= PER_IP_LIMIT);
    CHECK(refused >= N - PER_IP_LIMIT);
    for (int i = 0; i < N; i++)
        if (fds[i] != -1)
            close(fds[i]);
    sleep_ms(200);
    CHECK_INT_EQ(post_status(PATH, body, strlen(body)), 200);
    CHECK(rss1 > 0 && rss1 < 200 * 1024);
}

/* ---- endless chunked body ---- */

static void test_endless_chunked(void)
{
    char head[256], chunk[65536 + 16];
    size_t total = 0;
    long long before = calls();
    int fd = tcp_connect(d.webhook_port);
    double t0 = now_s(), dt;
    bool cut = false;
    int n;

    CHECK(fd != -1);
    if (fd == -1)
        return;
    snprintf(head, sizeof head,
             "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    n = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + n, 'a', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* At most 256 MiB or 30 s: the daemon must stop first (16 x 1 MiB, or 3 s). */
    while (total < 256u * 1024 * 1024 && now_s() - t0 < 30) {
        struct pollfd p = {fd, POLLOUT | POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[512];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0 && !(r == -1 && errno == EAGAIN)) {
                cut = true;
                break;
            }
        }
        if (p.revents & POLLOUT) {
            ssize_t w = send(fd, chunk, (size_t)n + 65538, MSG_NOSIGNAL);
            if (w == -1 && errno != EAGAIN && errno != EINTR) {
                cut = true;
                break;
            }
            if (w > 0)
                total += (size_t)w;
        }
    }
    dt = now_s() - t0;
    close(fd);
    printf("endless chunked body: cut %s after %.1f s and %.1f MiB sent (body_max 1 MiB)\n",
           cut ? "yes" : "NO", dt, (double)total / 1048576);
    CHECK(cut);
    CHECK(total <= 16u * 1024 * 1024 + 8u * 1024 * 1024); /* plus socket buffers */
    CHECK_INT_EQ(calls(), before);
    CHECK(daemon_alive());
}

/* ---- hostile JSON ---- */

static char *nested(int depth)
{
    struct buf b = {0};
    buf_puts(&b, "{\"callId\":\"hostile-deep\",\"x\":");
    for (int i = 0; i < depth; i++)
        buf_puts(&b, "[");
    for (int i = 0; i < depth; i++)
        buf_puts(&b, "]");
    buf_puts(&b, "}");
    return buf_steal(&b, NULL);
}

static char *big_array(int n)
{
    struct buf b = {0};
    buf_puts(&b, "{\"callId\":\"hostile-array\",\"x\":[");
    for (int i = 0; i < n; i++)
        buf_puts(&b, i ? ",0" : "0");
    buf_puts(&b, "]}");
    return buf_steal(&b, NULL);
}

static char *long_string(size_t n)
{
    struct buf b = {0};
    buf_puts(&b, "{\"callId\":\"hostile-long\",\"summary\":\"");
    for (size_t i = 0; i < n; i++)
        buf_append(&b, "abcdefgh ij" + (i % 11), 1);
    buf_puts(&b, "\"}");
    return buf_steal(&b, NULL);
}

static void test_hostile_json(void)
{
    struct {
        const char *name;
        char *body;
        size_t len;
        int st;
    } cases[] = {
        {"trailing data", xstrdup("{\"callId\":\"hostile-trailing\"} {\"x\":1}"), 0, 0},
        {"invalid UTF-8", xstrdup("{\"callId\":\"hostile-utf8\",\"summary\":\"a\xff\xfe\xc3(\"}"),
         0, 0},
        {"\\u0000", xstrdup("{\"callId\":\"hostile-nul\",\"summary\":\"a\\u0000b\"}"), 0, 0},
        {"1e999", xstrdup("{\"callId\":\"hostile-inf\",\"durationSeconds\":1e999}"), 0, 0},
        {"depth 1001", nested(1001), 0, 0},
        {"200k-element array", big_array(200000), 0, 0},
        {"duplicate keys", xstrdup("{\"callId\":\"hostile-dup-a\",\"callId\":\"hostile-dup-b\"}"),
         0, 0},
        {"raw control characters",
         xstrdup("{\"callId\":\"hostile-ctl\",\"summary\":\"a\x01\x1b[31m\tb\rc\"}"), 0, 0},
        {"escaped control characters",
         xstrdup("{\"callId\":\"hostile-esc\",\"summary\":\"zebra\\u0001\\u001b[31m\\n"
                 "\\r\\u2028 giraffe\"}"),
         0, 0},
        {"100 KB single-line string", long_string(100000), 0, 0},
    };
    size_t n = sizeof cases / sizeof cases[0];

    for (size_t i = 0; i < n; i++) {
        cases[i].len = strlen(cases[i].body);
        /* "\u0000" and raw bytes are sent as they are; the NUL case is escaped text. */
        cases[i].st = post_status(PATH, cases[i].body, cases[i].len);
        printf("hostile JSON %-28s (%7zu bytes): %d\n", cases[i].name, cases[i].len, cases[i].st);
        CHECK(cases[i].st == 200 || cases[i].st == 400 || cases[i].st == 422);
        CHECK(daemon_alive());
        free(cases[i].body);
    }
    CHECK_INT_EQ(cases[0].st, 400); /* trailing data */
    CHECK_INT_EQ(cases[4].st != 200, 1);
    CHECK_INT_EQ(db_int("SELECT count(*) FROM calls WHERE call_id = 'hostile-trailing'"), 0);
}

/* The log after all of the above: no raw control characters, short lines. */
static void test_log_clean(void)
{
    size_t len, line = 0, longest = 0, ctl = 0;
    char *log = file_read(d.log, &len);

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)log[i];
        if (c == '\n') {
            if (line > longest)
                longest = line;
            line = 0;
            continue;
        }
        line++;
        if (c < 0x20 || c == 0x7f) {
            if (ctl++ < 3)
                fprintf(stderr, "control byte 0x%02x at offset %zu\n", c, i);
        }
    }
    if (line > longest)
        longest = line;
    printf("daemon log: %zu bytes, longest line %zu bytes, %zu control bytes\n", len, longest, ctl);
    CHECK_INT_EQ(ctl, 0);
    CHECK(longest < 4096);
    CHECK(strstr(log, TOKEN) == NULL);
    free(log);
}

/* ---- stdio framing ---- */

static void test_stdio_framing(void)
{
    const char *argv[] = {"stdio", NULL};
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", d.db);
    const char *cenv[] = {dbenv, NULL};
    const char *in =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"search_calls\",\"arguments\":{\"query\":\"zebra\\u0001\\n\\r\\u001b[31m\\u2028"
        "\\u0000 giraffe\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"search_calls\",\"arguments\":{\"query\":\"zebra\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"get_call\",\"arguments\":{\"call_id\":\"hostile-esc\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"search_calls\",\"arguments\":{\"query\":\"a\\nb\\u0007\\\"c\\\\\"}}}\n";
    char *out = NULL, *err = NULL;
    int rc = run_cli(argv, cenv, in, &out, &err);
    size_t lines = 0, bad = 0;
    int ids = 0;

    CHECK_INT_EQ(rc, 0);
    for (char *p = out, *nl; p != NULL && *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        CHECK(nl != NULL); /* every message ends with a newline */
        if (nl == NULL)
            break;
        *nl = '\0';
        lines++;
        cJSON *m = cJSON_Parse(p);
        if (m == NULL || !cJSON_IsObject(m) || cJSON_GetObjectItem(m, "jsonrpc") == NULL) {
            bad++;
            fprintf(stderr, "not one JSON-RPC message: %.200s\n", p);
        } else {
            const cJSON *id = cJSON_GetObjectItem(m, "id");
            if (cJSON_IsNumber(id))
                ids |= 1 << id->valueint;
        }
        for (const char *c = p; *c; c++)
            if ((unsigned char)*c < 0x20)
                bad++;
        cJSON_Delete(m);
    }
    printf("stdio: %zu output lines, %zu not a single JSON message, answered ids mask 0x%x\n",
           lines, bad, ids);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(ids, 0x1f);
    free(out);
    free(err);
    free(dbenv);
}

int main(void)
{
    double t0 = now_s();

    signal(SIGPIPE, SIG_IGN);
    daemon_start(&d, env);
    printf("daemon pid %d, VmRSS at start %ld kB\n", (int)d.pid, rss_kb());
    RUN(test_oversized_headers);
    RUN(test_missing_host);
    RUN(test_slow_clients);
    RUN(test_flood);
    RUN(test_endless_chunked);
    RUN(test_hostile_json);
    printf("VmRSS at end %ld kB\n", rss_kb());
    CHECK_INT_EQ(daemon_stop(&d), 0);
    RUN(test_log_clean);
    RUN(test_stdio_framing);
    daemon_cleanup(&d);
    printf("total %.1f s\n", now_s() - t0);
    return check_report();
}
