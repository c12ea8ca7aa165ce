/*
 * test_mcp_stdio.c: mcp_stdio_run driven over pipes with a fake registry:
 * framing (one message per line out, blank lines and CRLF in, lines split
 * across writes or several in one write, 5 MB lines, an invalid line
 * answered with -32700 while the session goes on), a clean return at end
 * of input with the requests in flight finished, concurrency (16 requests
 * served at once), queueing, cancellation of running and queued requests,
 * a store that cannot be opened, keyed calls answered by the reader only
 * while the workers are idle, and a client that stops reading.
 *
 * The server runs on its own thread; the test writes its input pipe and
 * reads its output pipe with a timeout, so a bug fails instead of hanging.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "mcp_stdio.h"
#include "xmalloc.h"

#define READ_TIMEOUT_MS 20000

/* ---- the fake registry ---- */

static atomic_int gather_target, gather_arrived, gather_active, gather_max;
static atomic_int block_cancelled;
static atomic_int store_seen;

static int echo_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(args, "text");
    cJSON *s = cJSON_CreateObject();

    (void)err;
    if (mcp_call_store(c) != NULL)
        atomic_store(&store_seen, 1);
    cJSON_AddStringToObject(s, "text", cJSON_IsString(t) ? t->valuestring : "");
    mcp_result_structured(result, s, NULL);
    return 0;
}

/* Wait until gather_target calls are inside at once (or 10 s), then return. */
static int gather_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    int now;

    (void)c, (void)args, (void)err;
    atomic_fetch_add(&gather_arrived, 1);
    now = atomic_fetch_add(&gather_active, 1) + 1;
    for (int m = atomic_load(&gather_max); now > m;)
        if (atomic_compare_exchange_weak(&gather_max, &m, now))
            break;
    for (int i = 0; i < 2000 && atomic_load(&gather_arrived) < atomic_load(&gather_target); i++)
        sleep_ms(5);
    atomic_fetch_sub(&gather_active, 1);
    mcp_result_text(result, "gathered");
    return 0;
}

static int block_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)args;
    mcp_call_progress(c, 1, 0, "started");
    for (int i = 0; i < 2000 && !mcp_call_cancelled(c); i++)
        sleep_ms(5);
    if (mcp_call_cancelled(c)) {
        atomic_fetch_add(&block_cancelled, 1);
        return err_set(err, ERR_CANCELLED, "cancelled");
    }
    mcp_result_text(result, "not cancelled");
    return 0;
}

static int slow_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    sleep_ms(40);
    mcp_result_text(result, "slow done");
    return 0;
}

/* Which thread served each slot of the keyed tool, and whether it had a store. */
static pthread_t keyed_thread[4];
static atomic_int keyed_store[4];

static int keyed_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    const cJSON *slot = cJSON_GetObjectItemCaseSensitive(args, "slot");

    (void)err;
    if (cJSON_IsNumber(slot) && slot->valueint >= 0 && slot->valueint < 4) {
        keyed_thread[slot->valueint] = pthread_self();
        atomic_store(&keyed_store[slot->valueint], mcp_call_store(c) != NULL);
    }
    mcp_result_text(result, "looked up");
    return 0;
}

static const struct mcp_tool fake_tools[] = {
    {"echo", "Echo", "Say it back.",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}", NULL, true, false,
     true, false, false, echo_call},
    {"gather", "Gather", "Wait for the others.", "{\"type\":\"object\"}", NULL, true, false, true,
     false, false, gather_call},
    {"block", "Block", "Wait to be cancelled.", "{\"type\":\"object\"}", NULL, true, false, true,
     false, false, block_call},
    {"slow", "Slow", "Take a moment.", "{\"type\":\"object\"}", NULL, true, false, true, false,
     false, slow_call},
    {"lookup", "Lookup", "One keyed read.", "{\"type\":\"object\"}", NULL, true, false, true, false,
     true, keyed_call},
};

static const struct mcp_registry fake_registry = {
    .tools = fake_tools,
    .ntools = sizeof fake_tools / sizeof fake_tools[0],
};

/* ---- a server on pipes ---- */

struct pipe_srv {
    int in[2];  /* test writes in[1]; the server reads in[0] */
    int out[2]; /* the server writes out[1]; the test reads out[0] */
    struct mcp_server *srv;
    struct mcp_stdio_opts opts;
    pthread_t tid;
    int rc;
    bool joined;
    char *buf; /* bytes read from out[0] not yet returned as lines */
    size_t len, cap;
};

static void *run_main(void *arg)
{
    struct pipe_srv *p = arg;

    p->rc = mcp_stdio_run(p->srv, &p->opts);
    return NULL;
}

static void ps_start(struct pipe_srv *p, unsigned workers, const char *db, bool read_only)
{
    struct mcp_server_opts so = {
        .name = "phonely-mcp-test",
        .version = "1.0",
        .registry = &fake_registry,
        .read_only = read_only,
    };

    memset(p, 0, sizeof *p);
    if (pipe(p->in) != 0 || pipe(p->out) != 0)
        abort();
    p->srv = mcp_server_new(&so);
    p->opts = (struct mcp_stdio_opts){
        .db_path = db,
        .store = {.read_only = read_only, .busy_timeout_ms = 1000},
        .workers = workers,
        .in_fd = p->in[0],
        .out_fd = p->out[1],
    };
    pthread_create(&p->tid, NULL, run_main, p);
}

/* Write all of data; false when the pipe fails. No CHECK here: a writer thread calls it. */
static bool ps_write(struct pipe_srv *p, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(p->in[1], data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void ps_puts(struct pipe_srv *p, const char *data)
{
    CHECK(ps_write(p, data, strlen(data)));
}

static void ps_send(struct pipe_srv *p, const char *line)
{
    CHECK(ps_write(p, line, strlen(line)) && ps_write(p, "\n", 1));
}

/* The next line written by the server (caller frees), or NULL at EOF or timeout. */
static char *ps_read(struct pipe_srv *p)
{
    for (;;) {
        char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
        struct pollfd pfd = {.fd = p->out[0], .events = POLLIN};
        ssize_t n;

        if (nl != NULL) {
            size_t k = (size_t)(nl - p->buf);
            char *line = xstrndup(p->buf, k);
            memmove(p->buf, nl + 1, p->len - k - 1);
            p->len -= k + 1;
            return line;
        }
        if (poll(&pfd, 1, READ_TIMEOUT_MS) <= 0) {
            CHECK(!"timed out waiting for the server");
            return NULL;
        }
        if (p->cap - p->len < 65536) {
            p->cap = p->cap ? p->cap * 2 : 131072;
            p->buf = xrealloc(p->buf, p->cap);
        }
        n = read(p->out[0], p->buf + p->len, p->cap - p->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            CHECK_INT_EQ(p->len, 0); /* nothing after the last newline */
            return NULL;
        }
        p->len += (size_t)n;
    }
}

/* The next line, parsed (caller deletes). */
static cJSON *ps_next(struct pipe_srv *p)
{
    char *line = ps_read(p);
    cJSON *v;

    if (line == NULL)
        return NULL;
    v = cJSON_Parse(line);
    CHECK(cJSON_IsObject(v));
    free(line);
    return v;
}

/* End the input, wait for the server to return, and close its output. */
static int ps_finish(struct pipe_srv *p)
{
    if (!p->joined) {
        close(p->in[1]);
        pthread_join(p->tid, NULL);
        close(p->in[0]);
        close(p->out[1]);
        p->joined = true;
    }
    return p->rc;
}

/* Every line left until EOF, after ps_finish (caller frees each and the array). */
static size_t ps_drain(struct pipe_srv *p, char ***lines)
{
    size_t n = 0;
    char *l;

    *lines = NULL;
    while ((l = ps_read(p)) != NULL) {
        *lines = xreallocarray(*lines, n + 1, sizeof **lines);
        (*lines)[n++] = l;
    }
    return n;
}

static void ps_free(struct pipe_srv *p)
{
    ps_finish(p);
    close(p->out[0]);
    mcp_server_free(p->srv);
    free(p->buf);
}

static const cJSON *get(const cJSON *v, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(v, name);
}

static int id_of(const cJSON *msg)
{
    const cJSON *id = get(msg, "id");

    return cJSON_IsNumber(id) ? id->valueint : -1;
}

static const char init_line[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";

static void initialize(struct pipe_srv *p)
{
    cJSON *r;

    ps_send(p, init_line);
    r = ps_next(p);
    CHECK_INT_EQ(id_of(r), 0);
    CHECK(get(r, "result") != NULL);
    cJSON_Delete(r);
    ps_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
}

/* ---- tests ---- */

static void test_framing(void)
{
    struct pipe_srv p;
    cJSON *r;
    char *line, **rest;

    ps_start(&p, 2, NULL, true);
    /* Before initialize: requests are refused in order, unknown methods are -32601. */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":90,\"method\":\"tools/list\"}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 90);
    CHECK_INT_EQ(get(get(r, "error"), "code")->valueint, RPC_INVALID_REQUEST);
    cJSON_Delete(r);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":91,\"method\":\"server/discover\"}");
    r = ps_next(&p);
    CHECK_INT_EQ(get(get(r, "error"), "code")->valueint, RPC_METHOD_NOT_FOUND);
    cJSON_Delete(r);

    /* Blank lines are skipped; CRLF is accepted. */
    ps_puts(&p, "\n\n   \n\t\r\n");
    ps_puts(&p, init_line);
    ps_puts(&p, "\r\n");
    line = ps_read(&p);
    CHECK(line != NULL && strchr(line, '\r') == NULL);
    r = cJSON_Parse(line);
    CHECK_STR_EQ(cJSON_GetStringValue(get(get(r, "result"), "protocolVersion")), "2025-11-25");
    cJSON_Delete(r);
    free(line);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");

    /* An invalid line gets -32700 (without an id), and the session goes on. */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
    r = ps_next(&p);
    CHECK_INT_EQ(get(get(r, "error"), "code")->valueint, RPC_PARSE_ERROR);
    CHECK(get(r, "id") == NULL);
    cJSON_Delete(r);
    ps_send(&p, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    r = ps_next(&p);
    CHECK_INT_EQ(get(get(r, "error"), "code")->valueint, RPC_INVALID_REQUEST);
    cJSON_Delete(r);
    /* Answers to us: nothing comes back; the next ping proves it. */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":77,\"result\":{}}");
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 2);
    CHECK(cJSON_IsObject(get(r, "result")));
    cJSON_Delete(r);

    /* Two messages in one write; one message across several writes. */
    ps_puts(&p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"id\":4,"
                "\"method\":\"ping\"}\n");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 3);
    cJSON_Delete(r);
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 4);
    cJSON_Delete(r);
    ps_puts(&p, "{\"jsonrpc\":\"2.0\",");
    sleep_ms(20);
    ps_puts(&p, "\"id\":5,\"method\":\"tools/list\"}");
    sleep_ms(20);
    ps_puts(&p, "\n");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 5);
    CHECK_INT_EQ(cJSON_GetArraySize(get(get(r, "result"), "tools")), 5);
    cJSON_Delete(r);

    /* A tool result holding newlines is still one line. */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"echo\",\"arguments\":{\"text\":\"a\\nb\\r\\nc\"}}}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 6);
    CHECK_STR_EQ(cJSON_GetStringValue(get(get(get(r, "result"), "structuredContent"), "text")),
                 "a\nb\r\nc");
    cJSON_Delete(r);

    /* The last line may lack its newline. */
    ps_puts(&p, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK_INT_EQ(ps_drain(&p, &rest), 1);
    if (rest != NULL) {
        CHECK_STR_EQ(rest[0], "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
        free(rest[0]);
    }
    free(rest);
    ps_free(&p);
}

struct big_writer {
    struct pipe_srv *p;
    char *text;
    bool ok;
};

static void *big_write_main(void *arg)
{
    struct big_writer *w = arg;

    w->ok = ps_write(w->p, w->text, strlen(w->text)) && ps_write(w->p, "\n", 1);
    return NULL;
}

static void test_long_lines(void)
{
    size_t big = 5u << 20;
    struct pipe_srv p;
    struct big_writer w = {.p = &p};
    pthread_t t;
    char *payload = xmalloc(big + 1);
    cJSON *r;

    for (size_t i = 0; i < big; i++)
        payload[i] = (char)('a' + i % 26);
    payload[big] = '\0';
    ps_start(&p, 2, NULL, true);
    initialize(&p);

    /* A 5 MB request, answered with a 5 MB line (written while we read it). */
    w.text = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"echo\",\"arguments\":{\"text\":\"%s\"}}}",
                       payload);
    pthread_create(&t, NULL, big_write_main, &w);
    r = ps_next(&p);
    pthread_join(t, NULL);
    CHECK(w.ok);
    CHECK_INT_EQ(id_of(r), 1);
    CHECK_INT_EQ(
        strlen(cJSON_GetStringValue(get(get(get(r, "result"), "structuredContent"), "text"))), big);
    cJSON_Delete(r);
    free(w.text);

    /*
     * A line too long to wait parsed, with a NUL byte inside a string:
     * its worker reads all of it, as the reader did, and answers it.
     */
    {
        static const char head[] =
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
            "{\"name\":\"echo\",\"arguments\":{\"text\":\"",
                          tail[] = "\"}}}\n";
        size_t fill = 100000, n = 0;
        char *l = xmalloc(sizeof head + fill + sizeof tail);

        memcpy(l, head, sizeof head - 1);
        n += sizeof head - 1;
        memset(l + n, 'q', fill);
        l[n + 10] = '\0';
        n += fill;
        memcpy(l + n, tail, sizeof tail - 1);
        n += sizeof tail - 1;
        CHECK(ps_write(&p, l, n));
        free(l);
        r = ps_next(&p);
        CHECK_INT_EQ(id_of(r), 3);
        CHECK(get(r, "result") != NULL);
        cJSON_Delete(r);
    }

    /* A 5 MB line that is not JSON: -32700, then the session goes on. */
    w.text = payload;
    pthread_create(&t, NULL, big_write_main, &w);
    r = ps_next(&p);
    pthread_join(t, NULL);
    CHECK(w.ok);
    CHECK_INT_EQ(get(get(r, "error"), "code")->valueint, RPC_PARSE_ERROR);
    CHECK(strlen(cJSON_GetStringValue(get(get(r, "error"), "message"))) < 200);
    cJSON_Delete(r);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 2);
    cJSON_Delete(r);
    CHECK_INT_EQ(ps_finish(&p), 0);
    ps_free(&p);
    free(payload);
}

static void test_eof_finishes_in_flight(void)
{
    struct pipe_srv p;
    char **lines;
    size_t n;
    bool seen[8] = {false};

    ps_start(&p, 3, NULL, true);
    initialize(&p);
    for (int i = 0; i < 8; i++) {
        char *l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                            "\"name\":\"slow\"}}",
                            i);
        ps_send(&p, l);
        free(l);
    }
    /* End of input right away: every request read is still answered. */
    CHECK_INT_EQ(ps_finish(&p), 0);
    n = ps_drain(&p, &lines);
    CHECK_INT_EQ(n, 8);
    for (size_t i = 0; i < n; i++) {
        cJSON *r = cJSON_Parse(lines[i]);
        int id = id_of(r);
        CHECK(id >= 0 && id < 8);
        if (id >= 0 && id < 8)
            seen[id] = true;
        CHECK_STR_CONTAINS(lines[i], "slow done");
        cJSON_Delete(r);
        free(lines[i]);
    }
    free(lines);
    for (int i = 0; i < 8; i++)
        CHECK(seen[i]);
    ps_free(&p);

    /* End of input with nothing sent at all. */
    ps_start(&p, 0, NULL, true);
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK_INT_EQ(ps_drain(&p, &lines), 0);
    free(lines);
    ps_free(&p);
}

static void test_concurrency(void)
{
    struct pipe_srv p;
    bool seen[64] = {false};
    int got = 0;

    /* 16 requests served at once by 16 workers. */
    atomic_store(&gather_target, 16);
    atomic_store(&gather_arrived, 0);
    atomic_store(&gather_max, 0);
    ps_start(&p, 16, NULL, true);
    initialize(&p);
    for (int i = 0; i < 16; i++) {
        char *l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                            "\"name\":\"gather\"}}",
                            i);
        ps_send(&p, l);
        free(l);
    }
    for (int i = 0; i < 16; i++) {
        cJSON *r = ps_next(&p);
        int id = id_of(r);
        if (id >= 0 && id < 16 && !seen[id] && get(r, "result") != NULL) {
            seen[id] = true;
            got++;
        }
        cJSON_Delete(r);
    }
    CHECK_INT_EQ(got, 16);
    CHECK_INT_EQ(atomic_load(&gather_max), 16);
    CHECK_INT_EQ(ps_finish(&p), 0);
    ps_free(&p);

    /* 64 requests through 4 workers: they queue, and every one is answered once. */
    memset(seen, 0, sizeof seen);
    got = 0;
    ps_start(&p, 4, NULL, true);
    initialize(&p);
    for (int i = 0; i < 64; i++) {
        char *l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                            "\"name\":\"echo\",\"arguments\":{\"text\":\"n%d\"}}}",
                            i, i);
        ps_send(&p, l);
        free(l);
    }
    for (int i = 0; i < 64; i++) {
        cJSON *r = ps_next(&p);
        int id = id_of(r);
        char want[16];
        snprintf(want, sizeof want, "n%d", id);
        if (id >= 0 && id < 64 && !seen[id] &&
            strcmp(cJSON_GetStringValue(get(get(get(r, "result"), "structuredContent"), "text")),
                   want) == 0) {
            seen[id] = true;
            got++;
        }
        cJSON_Delete(r);
    }
    CHECK_INT_EQ(got, 64);
    CHECK_INT_EQ(ps_finish(&p), 0);
    ps_free(&p);
}

static void test_cancellation(void)
{
    struct pipe_srv p;
    cJSON *r;
    char **lines;
    size_t n;

    /* A running request: its response never comes. */
    atomic_store(&block_cancelled, 0);
    ps_start(&p, 2, NULL, true);
    initialize(&p);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"block\",\"_meta\":{\"progressToken\":\"p5\"}}}");
    r = ps_next(&p);
    CHECK_STR_EQ(cJSON_GetStringValue(get(r, "method")), "notifications/progress");
    CHECK_STR_EQ(cJSON_GetStringValue(get(get(r, "params"), "progressToken")), "p5");
    cJSON_Delete(r);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":5,\"reason\":\"timeout\"}}");
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"echo\"}}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 6);
    cJSON_Delete(r);
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK_INT_EQ(ps_drain(&p, &lines), 0);
    free(lines);
    CHECK_INT_EQ(atomic_load(&block_cancelled), 1);
    ps_free(&p);

    /* A queued request is dropped before it runs; the running one is cancelled too. */
    atomic_store(&block_cancelled, 0);
    ps_start(&p, 1, NULL, true);
    initialize(&p);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"block\",\"_meta\":{\"progressToken\":10}}}");
    r = ps_next(&p);
    CHECK_STR_EQ(cJSON_GetStringValue(get(r, "method")), "notifications/progress");
    cJSON_Delete(r);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"eleven\",\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"echo\",\"arguments\":{\"text\":\"queued\"}}}");
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"echo\",\"arguments\":{\"text\":\"kept\"}}}");
    {
        /* A line too long to wait parsed waits as text, and is dropped all the same. */
        char *filler = xmalloc(100001), *l;
        memset(filler, 'z', 100000);
        filler[100000] = '\0';
        l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":\"big\",\"method\":\"tools/call\",\"params\":{"
                      "\"name\":\"echo\",\"arguments\":{\"text\":\"%s\"}}}",
                      filler);
        ps_send(&p, l);
        free(l);
        free(filler);
    }
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":\"big\"}}");
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":\"eleven\"}}");
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":\"10\"}}"); /* a string: not request 10 */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":10}}");
    /* ping is served by the reader, even while the only worker is busy. */
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"ping\"}");
    r = ps_next(&p);
    CHECK(id_of(r) == 13 || id_of(r) == 12);
    cJSON_Delete(r);
    CHECK_INT_EQ(ps_finish(&p), 0);
    n = ps_drain(&p, &lines);
    CHECK_INT_EQ(n, 1); /* the other of 12 and 13 */
    for (size_t i = 0; i < n; i++) {
        CHECK(strstr(lines[i], "\"id\":10") == NULL);
        CHECK(strstr(lines[i], "eleven") == NULL);
        CHECK(strstr(lines[i], "\"big\"") == NULL);
        free(lines[i]);
    }
    free(lines);
    CHECK_INT_EQ(atomic_load(&block_cancelled), 1);
    ps_free(&p);
}

/* Past 1024 waiting requests, the reader answers "server busy" at once. */
static void test_queue_bound(void)
{
    struct pipe_srv p;
    int busy = 0, answered = 0, total = 1100, waiting = 1024;
    cJSON *r;

    atomic_store(&block_cancelled, 0);
    ps_start(&p, 1, NULL, true);
    initialize(&p);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"blocker\",\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"block\",\"_meta\":{\"progressToken\":1}}}");
    r = ps_next(&p); /* its progress: the only worker is now busy */
    cJSON_Delete(r);
    for (int i = 0; i < total; i++) {
        char *l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                            "\"name\":\"echo\"}}",
                            i);
        ps_send(&p, l);
        free(l);
    }
    for (int i = 0; i < total - waiting; i++) {
        r = ps_next(&p);
        if (get(r, "error") != NULL &&
            get(get(r, "error"), "code")->valueint == RPC_INTERNAL_ERROR &&
            strstr(cJSON_GetStringValue(get(get(r, "error"), "message")), "busy") != NULL &&
            id_of(r) >= waiting)
            busy++;
        cJSON_Delete(r);
    }
    CHECK_INT_EQ(busy, total - waiting);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":\"blocker\"}}");
    for (int i = 0; i < waiting; i++) {
        r = ps_next(&p);
        if (get(r, "result") != NULL && id_of(r) == i)
            answered++;
        cJSON_Delete(r);
    }
    CHECK_INT_EQ(answered, waiting); /* in order: one worker, FIFO */
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK_INT_EQ(atomic_load(&block_cancelled), 1);
    ps_free(&p);
}

static void test_store(void)
{
    char *dir = tmpdir_make("mcp-stdio"), *db = xasprintf("%s/calls.db", dir);
    struct pipe_srv p;
    cJSON *r;

    /* A database that cannot be opened: 1, at once, nothing on the output. */
    ps_start(&p, 2, "/nonexistent-phonely-dir/calls.db", true);
    pthread_join(p.tid, NULL);
    p.joined = true;
    CHECK_INT_EQ(p.rc, 1);
    close(p.in[1]);
    close(p.in[0]);
    close(p.out[1]);
    CHECK(ps_read(&p) == NULL);
    ps_free(&p);

    /* Read-write creates it; each worker has a store. */
    atomic_store(&store_seen, 0);
    ps_start(&p, 2, db, false);
    initialize(&p);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"echo\",\"arguments\":{\"text\":\"x\"}}}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 1);
    cJSON_Delete(r);
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK(atomic_load(&store_seen));
    ps_free(&p);
    CHECK(access(db, F_OK) == 0);

    /* And read-only opens the existing one. */
    atomic_store(&store_seen, 0);
    ps_start(&p, 1, db, true);
    initialize(&p);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"echo\"}}");
    r = ps_next(&p);
    CHECK_INT_EQ(id_of(r), 1);
    cJSON_Delete(r);
    CHECK_INT_EQ(ps_finish(&p), 0);
    CHECK(atomic_load(&store_seen));
    ps_free(&p);

    tmpdir_remove(dir);
    free(dir);
    free(db);
}

static char *lookup_line(int id, int slot)
{
    return xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"lookup\",\"arguments\":{\"slot\":%d}}}",
                     id, slot);
}

static void expect_answer(struct pipe_srv *p, int id)
{
    cJSON *r = ps_next(p);

    CHECK_INT_EQ(id_of(r), id);
    CHECK(get(r, "result") != NULL);
    cJSON_Delete(r);
}

/*
 * A keyed call is answered by the reading thread (the one running
 * mcp_stdio_run), on the first worker's store, only while every worker is
 * idle and no more input waits; otherwise a worker serves it.
 */
static void test_keyed_calls(void)
{
    char *dir = tmpdir_make("mcp-stdio"), *db = xasprintf("%s/calls.db", dir);
    struct pipe_srv p;
    char *l, *l2, *two;
    cJSON *r;

    memset(keyed_thread, 0, sizeof keyed_thread);
    ps_start(&p, 2, db, false);
    initialize(&p);

    /* Idle, nothing else waiting: the reader answers, with a store. */
    l = lookup_line(1, 0);
    ps_send(&p, l);
    free(l);
    expect_answer(&p, 1);
    CHECK(pthread_equal(keyed_thread[0], p.tid));
    CHECK_INT_EQ(atomic_load(&keyed_store[0]), 1);

    /* A worker is busy: the call goes to the other one. */
    atomic_store(&block_cancelled, 0);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
                "\"block\",\"_meta\":{\"progressToken\":2}}}");
    r = ps_next(&p);
    CHECK_STR_EQ(cJSON_GetStringValue(get(r, "method")), "notifications/progress");
    cJSON_Delete(r);
    l = lookup_line(3, 1);
    ps_send(&p, l);
    free(l);
    expect_answer(&p, 3);
    CHECK(!pthread_equal(keyed_thread[1], p.tid));
    CHECK_INT_EQ(atomic_load(&keyed_store[1]), 1);
    ps_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                "\"requestId\":2}}");
    for (int i = 0; i < 2000 && atomic_load(&block_cancelled) == 0; i++)
        sleep_ms(5);
    CHECK_INT_EQ(atomic_load(&block_cancelled), 1);

    /* Two calls in one write: the first sees the second waiting and queues. */
    l = lookup_line(4, 2);
    l2 = lookup_line(5, 3);
    two = xasprintf("%s\n%s\n", l, l2); /* one write, under PIPE_BUF: one read takes both */
    free(l);
    free(l2);
    ps_puts(&p, two);
    free(two);
    for (int i = 0; i < 2; i++) {
        r = ps_next(&p);
        CHECK(id_of(r) == 4 || id_of(r) == 5);
        cJSON_Delete(r);
    }
    CHECK(!pthread_equal(keyed_thread[2], p.tid));

    CHECK_INT_EQ(ps_finish(&p), 0);
    ps_free(&p);
    tmpdir_remove(dir);
    free(dir);
    free(db);
}

static void test_client_stops_reading(void)
{
    struct pipe_srv p;

    ps_start(&p, 2, NULL, true);
    close(p.out[0]); /* writes now fail with EPIPE, not SIGPIPE */
    p.out[0] = -1;
    ps_send(&p, init_line);
    for (int i = 0; i < 20; i++) {
        char *l = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{"
                            "\"name\":\"echo\"}}",
                            i);
        ps_send(&p, l);
        free(l);
    }
    CHECK_INT_EQ(ps_finish(&p), 0);
    ps_free(&p);
}

int main(void)
{
    xmalloc_init_json();
    if (auth_init() == -1)
        return 1;
    RUN(test_framing);
    RUN(test_long_lines);
    RUN(test_eof_finishes_in_flight);
    RUN(test_concurrency);
    RUN(test_cancellation);
    RUN(test_queue_bound);
    RUN(test_store);
    RUN(test_keyed_calls);
    RUN(test_client_stops_reading);
    return check_report();
}
