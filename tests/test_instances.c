/*
 * test_instances.c: several `serve` daemons on one PostgreSQL database,
 * as behind a load balancer, on the throwaway cluster CTest starts.
 *
 *   - two daemons started at the same moment on a new database: the schema
 *     is made once and both serve;
 *   - the same call ids delivered to both at once: every request is
 *     answered 200, one call per id is stored, every delivery is logged;
 *   - a call received by one daemon is found at once by search on the other;
 *   - an MCP session opened on one daemon goes on on the other; a forged
 *     session id is 404 on both, an ended one stays ended where it ended;
 *   - the example HAProxy configuration (config/haproxy.cfg) in front of
 *     both: an MCP session through it is served by both daemons in turn;
 *   - SIGKILL of one daemon under load through HAProxy: every webhook is
 *     answered 200 (the balancer sends what the dead daemon did not answer
 *     to the other) and every call answered 200 is stored;
 *   - a restart of PostgreSQL under load: every answer is 200 or 503, never
 *     another, the daemon serves again by itself, and every call answered
 *     200 is stored.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "harness.h"
#include "textutil.h"
#include "xmalloc.h"

#define TOKEN "instances-test-token-0123456789abcdef"

static const char *const env[] = {
    "PHONELY_MCP_TOKEN=" TOKEN,
    "PHONELY_MCP_PRIVATE_AUTH=yes",
    "PHONELY_MCP_LOG_LEVEL=info",
    NULL,
};

/* POST a webhook body; the HTTP status, or -1 when the connection failed. */
static int post_call(uint16_t port, const char *body)
{
    struct http_resp r = {0};
    int status;

    if (http_post(port, "/phonely/webhook", NULL, body, strlen(body), &r) != 0) {
        http_resp_free(&r);
        return -1;
    }
    status = r.status;
    http_resp_free(&r);
    return status;
}

static char *call_body(const char *id, const char *word)
{
    return xasprintf(
        "{\"callId\":\"%s\",\"callerName\":\"Test Caller\","
        "\"customerPhoneNumber\":\"+1 (415) 555-0134\",\"callDirection\":\"inbound\","
        "\"summary\":\"The caller asked about %s.\",\"transcript\":[{\"role\":\"user\","
        "\"content\":\"Tell me about %s please\"}]}",
        id, word, word);
}

/* One MCP message over HTTP to daemon port; the response (caller frees) and its status. */
static cJSON *mcp_post(uint16_t port, const char *session, const char *json, int *status,
                       char *sid_out, size_t sid_size)
{
    return mcp_http_post(port, TOKEN, session, json, status, sid_out, sid_size);
}

/* The structured result of search_calls for query through session on port. */
static cJSON *search(uint16_t port, const char *session, const char *query, int *status)
{
    char *json = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"search_calls\",\"arguments\":{\"query\":\"%s\"}}}",
                           query);
    cJSON *resp = mcp_post(port, session, json, status, NULL, 0), *sc;

    free(json);
    sc = cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "result"),
                                                 "structuredContent");
    cJSON_Delete(resp);
    return sc;
}

static double total_of(cJSON *sc)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sc, "total"));
}

/* ---- load: threads posting new calls, recording which were answered 200 ---- */

struct load {
    uint16_t ports[2];
    atomic_int stop;
    atomic_int next;
    int worker;
    pthread_mutex_t lock;
    char **acked;
    size_t nacked, cap;
    atomic_int s200, s503, other, failed;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    int w;

    pthread_mutex_lock(&l->lock);
    w = l->worker++;
    pthread_mutex_unlock(&l->lock);
    while (!atomic_load(&l->stop)) {
        int n = atomic_fetch_add(&l->next, 1);
        char id[48];
        char *body;
        int status;

        snprintf(id, sizeof id, "load-%d-%06d", w, n);
        body = call_body(id, "loadword");
        status = post_call(l->ports[n % 2], body);
        free(body);
        if (status == 200) {
            atomic_fetch_add(&l->s200, 1);
            pthread_mutex_lock(&l->lock);
            if (l->nacked == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 256;
                l->acked = xreallocarray(l->acked, l->cap, sizeof *l->acked);
            }
            l->acked[l->nacked++] = xstrdup(id);
            pthread_mutex_unlock(&l->lock);
        } else if (status == 503) {
            atomic_fetch_add(&l->s503, 1);
        } else if (status == -1) {
            atomic_fetch_add(&l->failed, 1); /* a daemon killed mid-request */
            sleep_ms(5);
        } else {
            atomic_fetch_add(&l->other, 1);
            fprintf(stderr, "load: status %d\n", status);
        }
    }
    return NULL;
}

static void load_start(struct load *l, pthread_t *th, int n, uint16_t a, uint16_t b)
{
    memset(l, 0, sizeof *l);
    l->ports[0] = a;
    l->ports[1] = b;
    pthread_mutex_init(&l->lock, NULL);
    for (int i = 0; i < n; i++)
        CHECK_INT_EQ(pthread_create(&th[i], NULL, load_main, l), 0);
}

static void load_stop(struct load *l, pthread_t *th, int n)
{
    atomic_store(&l->stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* Every call l acknowledged is stored: get_call on port finds each one. */
static void load_check_stored(struct load *l, uint16_t port, const char *session)
{
    size_t missing = 0;

    for (size_t i = 0; i < l->nacked; i++) {
        char *json = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                               "{\"name\":\"get_call\",\"arguments\":{\"call_id\":\"%s\","
                               "\"include_transcript\":false}}}",
                               l->acked[i]);
        int status;
        cJSON *resp = mcp_post(port, session, json, &status, NULL, 0);
        cJSON *res = cJSON_GetObjectItemCaseSensitive(resp, "result");

        if (status != 200 || res == NULL ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "isError"))) {
            if (missing++ < 5) {
                char *text = resp != NULL ? cJSON_PrintUnformatted(resp) : NULL;

                fprintf(stderr, "acknowledged call %s is not stored (HTTP %d: %.300s)\n",
                        l->acked[i], status, text != NULL ? text : "no JSON");
                free(text);
            }
        }
        cJSON_Delete(resp);
        free(json);
        free(l->acked[i]);
    }
    CHECK_INT_EQ(missing, 0);
    free(l->acked);
    pthread_mutex_destroy(&l->lock);
}

/* ---- HAProxy in front ---- */

/* A port the kernel has free on 127.0.0.1 now. */
static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK_INT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_INT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct balancer {
    pid_t pid;
    uint16_t webhook_port, mcp_port;
};

/* Start haproxy with config/haproxy.cfg in front of daemons a and b; wait until it answers. */
static void balancer_start(struct balancer *lb, const struct daemon *a, const struct daemon *b)
{
    const char *fixtures = getenv("PHONELY_TEST_FIXTURES");
    char *cfg = xasprintf("%s/../../config/haproxy.cfg", fixtures ? fixtures : "tests/fixtures");
    char v[6][64];

    lb->webhook_port = free_port();
    lb->mcp_port = free_port();
    snprintf(v[0], sizeof v[0], "127.0.0.1:%u", lb->webhook_port);
    snprintf(v[1], sizeof v[1], "127.0.0.1:%u", lb->mcp_port);
    snprintf(v[2], sizeof v[2], "127.0.0.1:%u", a->webhook_port);
    snprintf(v[3], sizeof v[3], "127.0.0.1:%u", a->private_port);
    snprintf(v[4], sizeof v[4], "127.0.0.1:%u", b->webhook_port);
    snprintf(v[5], sizeof v[5], "127.0.0.1:%u", b->private_port);
    lb->pid = fork();
    CHECK(lb->pid != -1);
    if (lb->pid == 0) {
        setenv("PHONELY_LB_WEBHOOK", v[0], 1);
        setenv("PHONELY_LB_MCP", v[1], 1);
        setenv("PHONELY_A_WEBHOOK", v[2], 1);
        setenv("PHONELY_A_PRIVATE", v[3], 1);
        setenv("PHONELY_B_WEBHOOK", v[4], 1);
        setenv("PHONELY_B_PRIVATE", v[5], 1);
        execlp("haproxy", "haproxy", "-q", "-db", "-f", cfg, (char *)NULL);
        perror("haproxy (Debian package haproxy)");
        _exit(127);
    }
    free(cfg);
    for (int i = 0; i < 500; i++) {
        struct http_resp r = {0};
        bool up = http_get(lb->webhook_port, "/healthz", &r) == 0 && r.status == 200;

        http_resp_free(&r);
        if (up)
            return;
        sleep_ms(20);
    }
    CHECK(!"haproxy did not start");
}

static void balancer_stop(struct balancer *lb)
{
    if (lb->pid > 0) {
        kill(lb->pid, SIGTERM);
        waitpid(lb->pid, NULL, 0);
        lb->pid = 0;
    }
}

/* ---- duplicates: each id sent to both daemons at the same moment ---- */

struct dup_arg {
    uint16_t port;
    int first, count;
    pthread_barrier_t *go;
    int bad;
};

static void *dup_main(void *arg)
{
    struct dup_arg *a = arg;

    pthread_barrier_wait(a->go);
    for (int i = a->first; i < a->first + a->count; i++) {
        char id[32];
        char *body;

        snprintf(id, sizeof id, "dup-%04d", i);
        body = call_body(id, "duplicateword");
        if (post_call(a->port, body) != 200)
            a->bad++;
        free(body);
    }
    return NULL;
}

static char *initialize(uint16_t port)
{
    char sid[128] = "";
    int status;
    cJSON *r = mcp_post(port, NULL,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                        "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                        "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}",
                        &status, sid, sizeof sid);

    CHECK_INT_EQ(status, 200);
    cJSON_Delete(r);
    CHECK(sid[0] != '\0');
    return xstrdup(sid);
}

int main(void)
{
    char *uri = pg_newdb(), *sa, *sb, *forged;
    struct daemon a, b;
    struct dup_arg da[2];
    pthread_t th[2], load_th[8];
    pthread_barrier_t go;
    struct load l;
    struct balancer lb = {0};
    cJSON *sc, *r;
    int status;

    /* Two daemons on a new database at the same moment: one migration, both serve. */
    daemon_spawn(&a, uri, env);
    daemon_spawn(&b, uri, env);
    daemon_wait_ready(&a);
    daemon_wait_ready(&b);

    /* The same 100 call ids to both at once. */
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        da[i] =
            (struct dup_arg){.port = i ? b.webhook_port : a.webhook_port, .count = 100, .go = &go};
        CHECK_INT_EQ(pthread_create(&th[i], NULL, dup_main, &da[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    CHECK_INT_EQ(da[0].bad + da[1].bad, 0);

    /* An MCP session opened on A goes on on B; search on B sees A's calls. */
    sa = initialize(a.private_port);
    r = mcp_post(b.private_port, sa,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &status, NULL,
                 0);
    CHECK_INT_EQ(status, 202);
    cJSON_Delete(r);
    sc = search(b.private_port, sa, "duplicateword", &status);
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ((int)total_of(sc), 100);
    cJSON_Delete(sc);
    {
        char *body = call_body("fresh-0001", "narwhalword");

        CHECK_INT_EQ(post_call(a.webhook_port, body), 200);
        free(body);
        sc = search(b.private_port, sa, "narwhalword", &status);
        CHECK_INT_EQ((int)total_of(sc), 1);
        cJSON_Delete(sc);
    }
    /* A forged id (one character changed) is refused by both. */
    forged = xstrdup(sa);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    sc = search(a.private_port, forged, "narwhalword", &status);
    CHECK_INT_EQ(status, 404);
    cJSON_Delete(sc);
    sc = search(b.private_port, forged, "narwhalword", &status);
    CHECK_INT_EQ(status, 404);
    cJSON_Delete(sc);
    free(forged);
    /* Ended on B: it stays ended on B. */
    sb = initialize(b.private_port);
    {
        struct http_resp dr = {0};
        char *req = xasprintf("DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                              "Authorization: Bearer " TOKEN "\r\nMcp-Session-Id: %s\r\n\r\n",
                              sa);

        CHECK_INT_EQ(http_raw(b.private_port, req, strlen(req), &dr), 0);
        CHECK_INT_EQ(dr.status, 200);
        http_resp_free(&dr);
        free(req);
    }
    sc = search(b.private_port, sa, "narwhalword", &status);
    CHECK_INT_EQ(status, 404);
    cJSON_Delete(sc);

    /* Through HAProxy: one MCP session, served by both daemons in turn. */
    balancer_start(&lb, &a, &b);
    free(sb);
    sb = initialize(lb.mcp_port);
    for (int i = 0; i < 6; i++) {
        sc = search(lb.mcp_port, sb, "narwhalword", &status);
        CHECK_INT_EQ(status, 200);
        CHECK_INT_EQ((int)total_of(sc), 1);
        cJSON_Delete(sc);
    }

    /* SIGKILL of A under load through HAProxy: every webhook answered 200, and stored. */
    load_start(&l, load_th, 8, lb.webhook_port, lb.webhook_port);
    sleep_ms(1500);
    daemon_kill(&a);
    sleep_ms(1500);
    load_stop(&l, load_th, 8);
    fprintf(stderr, "kill: %d answered 200, %d answered 503, %d failed connections, %d other\n",
            atomic_load(&l.s200), atomic_load(&l.s503), atomic_load(&l.failed),
            atomic_load(&l.other));
    CHECK(atomic_load(&l.s200) > 100);
    CHECK_INT_EQ(atomic_load(&l.s503) + atomic_load(&l.failed) + atomic_load(&l.other), 0);
    load_check_stored(&l, b.private_port, sb);
    balancer_stop(&lb);

    /* PostgreSQL restarted under load: 200 or 503 only, then 200 again by itself. */
    load_start(&l, load_th, 4, b.webhook_port, b.webhook_port);
    sleep_ms(1000);
    CHECK_INT_EQ(pg_restart(), 0);
    sleep_ms(2000);
    load_stop(&l, load_th, 4);
    fprintf(stderr, "restart: %d answered 200, %d answered 503, %d other\n", atomic_load(&l.s200),
            atomic_load(&l.s503), atomic_load(&l.other));
    CHECK_INT_EQ(atomic_load(&l.other), 0);
    CHECK_INT_EQ(atomic_load(&l.failed), 0);
    {
        char *body = call_body("after-restart", "phoenixword");

        CHECK_INT_EQ(post_call(b.webhook_port, body), 200);
        free(body);
    }
    load_check_stored(&l, b.private_port, sb);

    daemon_cleanup(&a);
    daemon_cleanup(&b);
    free(sa);
    free(sb);
    free(uri);
    return check_report();
}
