/*
 * test_webhook.c: the webhook receiver end to end. Starts the real daemon
 * on loopback ports, sends real requests over sockets, and checks both the
 * HTTP answers and what landed in the SQLite file.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "harness.h"
#include "xmalloc.h"

#define TOKEN     "tok_7Qx3vW9pL2mN8rT5yU1iO4aS6dF0gH"
#define TOKEN_OLD "old_Zk4Jm7Np2Qr5St8Vw1Xy3Za6Bc9De"

static struct daemon d;
static const char *const token_env[] = {"PHONELY_MCP_WEBHOOK_TOKEN=" TOKEN,
                                        "PHONELY_MCP_WEBHOOK_TOKEN_PREVIOUS=" TOKEN_OLD,
                                        "PHONELY_MCP_BODY_MAX=256K", NULL};

static long long db_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "db_int(%s): %s\n", sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Refusals are logged without the reply waiting for it: give the writer a moment. */
static long long db_int_wait(const char *db, const char *sql, long long want)
{
    long long v = -1;
    for (int i = 0; i < 500 && (v = db_int(db, sql)) < want; i++)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    return v;
}

static char *db_text(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static int post(const char *path, const char *headers, const char *body, struct http_resp *r)
{
    return http_post(d.webhook_port, path, headers, body, strlen(body), r);
}

static int post_status(const char *path, const char *headers, const char *body)
{
    struct http_resp r;
    int status = -1;

    if (post(path, headers, body, &r) == 0)
        status = r.status;
    http_resp_free(&r);
    return status;
}

static void test_sample_stored_then_duplicate_then_updated(void)
{
    size_t len;
    char *body = fixture_read("sample-call.json", &len);
    struct http_resp r;

    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, body, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"status\":\"stored\"");
    CHECK_STR_CONTAINS(r.body, "call_01HXY8ZZB6Q4DR9SS6S5KEM3CK");
    http_resp_free(&r);

    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, body, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"status\":\"duplicate\"");
    http_resp_free(&r);

    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = "
                              "'call_01HXY8ZZB6Q4DR9SS6S5KEM3CK'"),
                 1);
    CHECK_INT_EQ(db_int(d.db, "SELECT duration_s FROM calls"), 217);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE customer_digits = '14155557777' "
                              "AND caller_name = 'Maria Hernandez' AND follow_up = 0"),
                 1);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH 'cleaning'"),
                 1);

    /* A re-delivery with new content updates the call and keeps both bodies. */
    char *changed = xstrdup(body);
    char *p = strstr(changed, "\"sentiment\": \"positive\"");
    CHECK(p != NULL);
    if (p != NULL)
        memcpy(p, "\"sentiment\": \"negative\"", 23);
    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, changed, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"status\":\"updated\"");
    http_resp_free(&r);
    char *sent = db_text(d.db, "SELECT sentiment FROM calls");
    CHECK_STR_EQ(sent, "negative");
    free(sent);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM deliveries WHERE call_id = "
                              "'call_01HXY8ZZB6Q4DR9SS6S5KEM3CK' AND body IS NOT NULL"),
                 2);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM deliveries WHERE outcome = 'duplicate'"), 1);
    /* The raw body is kept byte for byte. */
    char *raw = db_text(d.db, "SELECT CAST(d.body AS TEXT) FROM calls c JOIN deliveries d ON "
                              "d.id = c.delivery_id");
    CHECK_STR_EQ(raw, changed);
    free(raw);
    free(changed);
    free(body);
}

static void test_token_places_and_rotation(void)
{
    const char *b1 = "{\"callId\":\"tok-path\"}";
    CHECK_INT_EQ(post_status("/phonely/webhook?token=" TOKEN, NULL, "{\"callId\":\"tok-query\"}"),
                 200);
    CHECK_INT_EQ(post_status("/phonely/webhook", "Authorization: Bearer " TOKEN "\r\n",
                             "{\"callId\":\"tok-bearer\"}"),
                 200);
    CHECK_INT_EQ(
        post_status("/phonely/webhook", "X-Webhook-Token: " TOKEN "\r\n", "{\"callId\":\"tok-x\"}"),
        200);
    CHECK_INT_EQ(post_status("/phonely/webhook/" TOKEN_OLD, NULL, b1), 200);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id LIKE 'tok-%'"), 4);
}

static void test_unauthorized(void)
{
    struct http_resp r;
    const char *body = "{\"callId\":\"should-not-store\",\"marker\":\"SECRET-MARKER-123\"}";

    CHECK_INT_EQ(post_status("/phonely/webhook", NULL, body), 401);
    CHECK_INT_EQ(post_status("/phonely/webhook/wrong", NULL, body), 401);
    CHECK_INT_EQ(post_status("/phonely/webhook/" TOKEN "x", NULL, body), 401);
    /* One character off at the end. */
    char almost[] = "/phonely/webhook/" TOKEN;
    almost[strlen(almost) - 1] ^= 1;
    CHECK_INT_EQ(post_status(almost, NULL, body), 401);
    CHECK_INT_EQ(post_status("/phonely/webhook/", NULL, body), 401);
    CHECK_INT_EQ(post_status("/phonely/webhook", "Authorization: Basic " TOKEN "\r\n", body), 401);
    CHECK_INT_EQ(post("/phonely/webhook?token=", NULL, body, &r), 0);
    CHECK_INT_EQ(r.status, 401);
    CHECK(strstr(r.body, "SECRET-MARKER") == NULL);
    CHECK_STR_CONTAINS(r.body, "\"error\":\"unauthorized\"");
    http_resp_free(&r);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = 'should-not-store'"), 0);
    /* Refused requests are in the log, without their bodies. */
    CHECK_INT(
        db_int_wait(d.db, "SELECT count(*) FROM deliveries WHERE status = 401 AND body IS NULL", 7),
        >=, 7);
}

static void test_method_type_size(void)
{
    struct http_resp r;
    char hdr[128];

    CHECK_INT_EQ(http_get(d.webhook_port, "/phonely/webhook/" TOKEN, &r), 0);
    CHECK_INT_EQ(r.status, 405);
    CHECK_STR_EQ(http_resp_header(&r, "Allow", hdr, sizeof hdr), "POST");
    http_resp_free(&r);

    const char *req = "POST /phonely/webhook/" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 15\r\n\r\n{\"callId\":\"t\"}";
    CHECK_INT_EQ(http_raw(d.webhook_port, req, strlen(req), &r), 0);
    CHECK_INT_EQ(r.status, 415);
    http_resp_free(&r);

    /* application/json with parameters, and +json types, are fine. */
    req = "POST /phonely/webhook/" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Type: application/vnd.phonely+json; charset=utf-8\r\nContent-Length: 18\r\n\r\n"
          "{\"callId\":\"ctype\"}";
    CHECK_INT_EQ(http_raw(d.webhook_port, req, strlen(req), &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);

    /* Over the 256 KiB cap, declared. */
    size_t big = 300 * 1024;
    char *body = xmalloc(big + 1);
    memset(body, ' ', big);
    memcpy(body, "{\"callId\":\"big\"}", 16);
    body[big] = '\0';
    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, body, &r), 0);
    CHECK_INT_EQ(r.status, 413);
    http_resp_free(&r);

    /* Over the cap, chunked: no Content-Length to refuse up front. */
    struct buf b = {0};
    buf_printf(&b,
               "POST /phonely/webhook/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
               TOKEN);
    for (size_t off = 0; off < big; off += 16384) {
        buf_printf(&b, "4000\r\n");
        buf_append(&b, body, 16384);
        buf_puts(&b, "\r\n");
    }
    buf_puts(&b, "0\r\n\r\n");
    CHECK_INT_EQ(http_raw(d.webhook_port, b.data, b.len, &r), 0);
    CHECK_INT_EQ(r.status, 413);
    http_resp_free(&r);
    buf_free(&b);
    free(body);

    /* A small chunked body is fine. */
    req = "POST /phonely/webhook/" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
          "a\r\n{\"callId\":\r\n9\r\n\"chunked\"\r\n1\r\n}\r\n0\r\n\r\n";
    CHECK_INT_EQ(http_raw(d.webhook_port, req, strlen(req), &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id IN ('chunked','ctype')"),
                 2);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = 'big'"), 0);
    CHECK_INT(db_int_wait(d.db, "SELECT count(*) FROM deliveries WHERE status = 413", 2), >=, 2);

    CHECK_INT_EQ(http_get(d.webhook_port, "/nope", &r), 0);
    CHECK_INT_EQ(r.status, 404);
    http_resp_free(&r);
}

static void test_framing(void)
{
    struct http_resp r;
    const char *req =
        "POST /phonely/webhook/" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: 18\r\nContent-Length: 5\r\n\r\n"
        "{\"callId\":\"smug1\"}";
    CHECK_INT_EQ(http_raw(d.webhook_port, req, strlen(req), &r), 0);
    CHECK_INT_EQ(r.status, 400);
    http_resp_free(&r);
    req = "POST /phonely/webhook/" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Type: application/json\r\nContent-Length: 18\r\n"
          "Transfer-Encoding: chunked\r\n\r\n12\r\n{\"callId\":\"smug2\"}\r\n0\r\n\r\n";
    CHECK_INT_EQ(http_raw(d.webhook_port, req, strlen(req), &r), 0);
    CHECK_INT_EQ(r.status, 400);
    http_resp_free(&r);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id LIKE 'smug%'"), 0);
}

static void test_malformed_and_not_a_call(void)
{
    struct http_resp r;
    struct {
        const char *fixture;
        int status;
    } cases[] = {
        {"malformed.txt", 400},
        {"trailing-garbage.txt", 400},
        {"no-id.json", 422},
        {"array-body.json", 422},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *body = fixture_read(cases[i].fixture, &len);
        CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/" TOKEN, NULL, body, len, &r), 0);
        CHECK_INT_EQ(r.status, cases[i].status);
        CHECK_STR_CONTAINS(r.body, "\"message\":");
        http_resp_free(&r);
        free(body);
    }
    /* The reply never echoes the input. */
    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, "{\"zzECHOzz\": [1, 2,", &r), 0);
    CHECK_INT_EQ(r.status, 400);
    CHECK(strstr(r.body, "zzECHOzz") == NULL);
    http_resp_free(&r);
    CHECK_INT_EQ(post("/phonely/webhook/" TOKEN, NULL, "", &r), 0);
    CHECK_INT_EQ(r.status, 400);
    http_resp_free(&r);
    /* Rejected bodies are kept verbatim for the operator. */
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM deliveries WHERE outcome = 'rejected' AND "
                              "status IN (400, 422) AND body IS NOT NULL"),
                 5);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM deliveries WHERE status = 400 AND "
                              "CAST(body AS TEXT) = '{\"zzECHOzz\": [1, 2,'"),
                 1);
}

static void test_loose_payloads(void)
{
    const char *fixtures[] = {"loose-call.json", "minimal-call.json", "custom-body.json",
                              "unicode-call.json", "numeric-id-call.json"};

    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        size_t len;
        char *body = fixture_read(fixtures[i], &len);
        struct http_resp r;
        CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/" TOKEN, NULL, body, len, &r), 0);
        CHECK_INT_EQ(r.status, 200);
        if (r.status != 200)
            fprintf(stderr, "%s: %s\n", fixtures[i], r.body);
        http_resp_free(&r);
        free(body);
    }
    /* callDuration as duration, "yes" as true, assistant as agent. */
    CHECK_INT(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = 'call_loose_0001' AND "
                           "duration_s > 0 AND follow_up = 1 AND follow_up_status = 'pending'"),
              ==, 1);
    char *turns = db_text(d.db, "SELECT turn_index FROM calls WHERE call_id = 'call_loose_0001'");
    CHECK_STR_CONTAINS(turns, "[\"agent\",");
    free(turns);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = "
                              "'550e8400-e29b-41d4-a716-446655440000' AND "
                              "customer_digits = '12125551234'"),
                 1);
}

static void test_long_transcript(void)
{
    struct buf b = {0};
    struct http_resp r;

    buf_puts(&b, "{\"callId\":\"call_300_turns\",\"transcript\":[");
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "%s{\"role\":\"%s\",\"content\":\"turn %d about the cancellation fee\"}",
                   i ? "," : "", i % 2 ? "user" : "assistant", i);
    buf_puts(&b, "]}");
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/" TOKEN, NULL, b.data, b.len, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    buf_free(&b);
    CHECK_INT_EQ(db_int(d.db, "SELECT json_array_length(turn_index) FROM calls WHERE call_id = "
                              "'call_300_turns'"),
                 300);
}

struct dup_arg {
    uint16_t port;
    int status;
    char outcome[16];
};

static void *dup_worker(void *p)
{
    struct dup_arg *a = p;
    struct http_resp r;
    const char *body = "{\"callId\":\"call_concurrent\",\"summary\":\"same body\"}";

    if (http_post(a->port, "/phonely/webhook/" TOKEN, NULL, body, strlen(body), &r) == 0) {
        a->status = r.status;
        const char *s = strstr(r.body, "\"status\":\"");
        if (s != NULL)
            snprintf(a->outcome, sizeof a->outcome, "%.*s", (int)strcspn(s + 10, "\""), s + 10);
    }
    http_resp_free(&r);
    return NULL;
}

static void test_concurrent_duplicates(void)
{
    enum { N = 50 };
    pthread_t th[N];
    struct dup_arg args[N];
    int ok = 0, stored = 0, dup = 0;

    for (int i = 0; i < N; i++) {
        args[i] = (struct dup_arg){.port = d.webhook_port};
        pthread_create(&th[i], NULL, dup_worker, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].status == 200;
        stored += strcmp(args[i].outcome, "stored") == 0;
        dup += strcmp(args[i].outcome, "duplicate") == 0;
    }
    CHECK_INT_EQ(ok, N);
    CHECK_INT_EQ(stored, 1);
    CHECK_INT_EQ(dup, N - 1);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM calls WHERE call_id = 'call_concurrent'"), 1);
    CHECK_INT_EQ(db_int(d.db, "SELECT count(*) FROM deliveries WHERE call_id = 'call_concurrent'"),
                 N);
}

static void test_healthz(void)
{
    struct http_resp r;

    CHECK_INT_EQ(http_get(d.private_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "\"database\":\"ok\"");
    http_resp_free(&r);
    CHECK_INT_EQ(http_get(d.webhook_port, "/healthz", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    CHECK_INT_EQ(http_get(d.private_port, "/other", &r), 0);
    CHECK_INT_EQ(r.status, 404);
    http_resp_free(&r);
}

/* Run after the daemon stopped: nothing it logged names a token or a caller. */
static void test_no_secret_in_log(void)
{
    size_t len;
    char *log = file_read(d.log, &len);

    CHECK(len > 0);
    CHECK(strstr(log, TOKEN) == NULL);
    CHECK(strstr(log, TOKEN_OLD) == NULL);
    CHECK(strstr(log, "SECRET-MARKER") == NULL);
    CHECK_STR_CONTAINS(log, "webhook listener ready");
    {
        /* The suite-wide check (every daemon_cleanup and run_cli) finds what it looks for. */
        const char *sig_env[] = {
            "PHONELY_MCP_WEBHOOK_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "PHONELY_MCP_WEBHOOK_LISTEN=127.0.0.1:0", NULL};
        char **secrets = secrets_of(token_env), **sig = secrets_of(sig_env);
        char *leaky = xasprintf("%sPOST /phonely/webhook/%s\n", log, TOKEN);
        CHECK(secrets[0] != NULL);
        CHECK(secret_leaked(log, secrets) == NULL);
        CHECK(secret_leaked(leaky, secrets) != NULL);
        CHECK(secret_leaked("key MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sig) != NULL);
        CHECK(secret_leaked("listening on 127.0.0.1:0", sig) == NULL);
        /* Likewise for the personal data of the calls sent (sample-call.json among them). */
        CHECK_STR_EQ(pii_leaked(log), NULL);
        CHECK_STR_EQ(pii_leaked("webhook 127.0.0.1:4000 from Maria Hernandez"), "Maria Hernandez");
        CHECK(pii_leaked("caller 14155557777 ok") != NULL);
        CHECK(pii_leaked("number +14155557777") != NULL);
        CHECK(pii_leaked("mail maria.h@example.com") != NULL);
        CHECK(pii_leaked("said: Hi, I'd like to schedule a cleaning") != NULL);
        CHECK(pii_leaked("Maria Hernandez booked a dental") != NULL);
        CHECK_STR_EQ(pii_leaked("webhook 127.0.0.1:4000 -> 200 stored delivery 1"), NULL);
        secrets_free(secrets);
        secrets_free(sig);
        free(leaky);
    }
    free(log);
}

int main(void)
{
    daemon_start(&d, token_env);
    RUN(test_sample_stored_then_duplicate_then_updated);
    RUN(test_token_places_and_rotation);
    RUN(test_unauthorized);
    RUN(test_method_type_size);
    RUN(test_framing);
    RUN(test_malformed_and_not_a_call);
    RUN(test_loose_payloads);
    RUN(test_long_transcript);
    RUN(test_concurrent_duplicates);
    RUN(test_healthz);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    RUN(test_no_secret_in_log);
    daemon_cleanup(&d);
    return check_report();
}
