/*
 * test_cli.c: the command line through the real binary: token, import,
 * deliveries, check-config, serve's refusal to start unsafely, signed
 * webhooks, and 503 (never 2xx) when storage refuses a write.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "xmalloc.h"

static char *dir;

static long long db_count(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void test_token(void)
{
    const char *argv[] = {"token", NULL};
    char *out, *err, *out2;

    CHECK_INT_EQ(run_cli(argv, NULL, NULL, &out, &err), 0);
    CHECK_INT_EQ(strlen(out), 44); /* 43 characters and a newline */
    CHECK_INT_EQ(strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);
    CHECK_INT_EQ(run_cli(argv, NULL, NULL, &out2, NULL), 0);
    CHECK(strcmp(out, out2) != 0);
    free(out);
    free(out2);
    free(err);
}

static void test_help(void)
{
    const char *cmds[] = {"serve", "import", "token", "check-config", "deliveries"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *argv[] = {cmds[i], "--help", NULL};
        char *out;
        CHECK_INT_EQ(run_cli(argv, NULL, NULL, &out, NULL), 0);
        CHECK_STR_CONTAINS(out, "usage: phonely-mcp");
        free(out);
    }
    const char *bad[] = {"frobnicate", NULL};
    char *out, *err;
    CHECK_INT_EQ(run_cli(bad, NULL, NULL, &out, &err), 1);
    CHECK_STR_CONTAINS(err, "unknown command");
    free(out);
    free(err);
}

static void test_import(void)
{
    char *db = xasprintf("%s/import.db", dir);
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", db);
    const char *env[] = {dbenv, NULL};
    const char *fx = getenv("PHONELY_TEST_FIXTURES");
    char *sample = xasprintf("%s/sample-call.json", fx);
    char *loose = xasprintf("%s/loose-call.json", fx);
    char *out, *err;

    const char *argv1[] = {"import", sample, loose, NULL};
    CHECK_INT_EQ(run_cli(argv1, env, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "2 records: 2 stored, 0 updated, 0 duplicate, 0 rejected");
    free(out);
    free(err);

    /* Again: duplicates, nothing stored twice. */
    CHECK_INT_EQ(run_cli(argv1, env, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "2 records: 0 stored, 0 updated, 2 duplicate, 0 rejected");
    free(out);
    free(err);

    /* JSON Lines on stdin, with a bad line and a blank line. */
    const char *jsonl = "{\"callId\":\"jl-1\",\"summary\":\"first\"}\n"
                        "\n"
                        "{\"callId\":\"jl-2\",\"followUp\":\"yes\"}\n"
                        "{\"callId\": broken\n"
                        "{\"noid\":true}\n"
                        "{\"callId\":\"jl-1\",\"summary\":\"first, corrected\"}\n";
    const char *argv2[] = {"import", "-", NULL};
    CHECK_INT_EQ(run_cli(argv2, env, jsonl, &out, &err), 2);
    CHECK_STR_CONTAINS(out, "5 records: 2 stored, 1 updated, 0 duplicate, 2 rejected");
    CHECK_STR_CONTAINS(err, "stdin:4: rejected");
    CHECK_STR_CONTAINS(err, "stdin:5: rejected");
    free(out);
    free(err);
    CHECK_INT_EQ(db_count(db, "SELECT count(*) FROM calls"), 4);
    CHECK_INT_EQ(db_count(db, "SELECT count(*) FROM deliveries WHERE source = 'import' AND "
                              "outcome = 'rejected' AND body IS NOT NULL"),
                 2);

    /* The operator lists rejected deliveries and re-imports one body. */
    const char *argv3[] = {"deliveries", "--outcome", "rejected", NULL};
    CHECK_INT_EQ(run_cli(argv3, env, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "rejected");
    CHECK_STR_CONTAINS(out, "stdin:5");
    free(out);
    free(err);
    long long id = db_count(db, "SELECT id FROM deliveries WHERE peer = 'stdin:5'");
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *argv4[] = {"deliveries", "--body", idtext, NULL};
    CHECK_INT_EQ(run_cli(argv4, env, NULL, &out, &err), 0);
    CHECK_STR_EQ(out, "{\"noid\":true}\n");
    free(out);
    free(err);

    const char *argv5[] = {"import", "/nonexistent/file.json", NULL};
    CHECK_INT_EQ(run_cli(argv5, env, NULL, &out, &err), 1);
    CHECK_STR_CONTAINS(err, "/nonexistent/file.json");
    free(out);
    free(err);

    free(sample);
    free(loose);
    free(dbenv);
    free(db);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_check_config(void)
{
    char *good = xasprintf("%s/good.conf", dir);
    char *bad = xasprintf("%s/bad.conf", dir);
    char *out, *err;

    write_file(bad, "db /tmp/x.db\nbody_max lots\nnot_a_setting 1\n");
    /* The private listener needs its token, as serve would insist. */
    write_file(good, "# fine\ndb /tmp/x.db\nbody_max 2M\n");
    const char *argv0[] = {"check-config", "--config", good, NULL};
    CHECK_INT_EQ(run_cli(argv0, NULL, NULL, &out, &err), 1);
    CHECK_STR_CONTAINS(err, "no token is set");
    free(out);
    free(err);
    const char *env1[] = {"PHONELY_MCP_TOKEN=priv_token_abcdefghijklmnopqrstuvwx", NULL};
    const char *argv1[] = {"check-config", "--config", good, NULL};
    CHECK_INT_EQ(run_cli(argv1, env1, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "configuration ok");
    CHECK_STR_CONTAINS(out, "private token   configured");
    free(out);
    free(err);
    const char *argv2[] = {"check-config", "--config", bad, NULL};
    CHECK_INT_EQ(run_cli(argv2, NULL, NULL, &out, &err), 1);
    char *where = xasprintf("%s:2:", bad);
    CHECK_STR_CONTAINS(err, where);
    free(where);
    free(out);
    free(err);
    /* Secrets are refused on the command line. */
    const char *argv3[] = {"check-config", "--webhook-token", "abcdefghijklmnopqrstuvwxyz", NULL};
    CHECK_INT_EQ(run_cli(argv3, NULL, NULL, &out, &err), 1);
    CHECK_STR_CONTAINS(err, "not accepted on the command line");
    free(out);
    free(err);
    free(good);
    free(bad);
}

static void test_refuses_public_listener_without_token(void)
{
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s/refuse.db", dir);
    const char *env[] = {dbenv, "PHONELY_MCP_WEBHOOK_LISTEN=0.0.0.0:0",
                         "PHONELY_MCP_PRIVATE_LISTEN=127.0.0.1:0", NULL};
    const char *argv[] = {"serve", NULL};
    char *out, *err;

    CHECK_INT_EQ(run_cli(argv, env, NULL, &out, &err), 1);
    CHECK_STR_CONTAINS(err, "no webhook_token");
    free(out);
    free(err);
    free(dbenv);
}

static void test_signed_webhooks(void)
{
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *env[] = {
        "PHONELY_MCP_WEBHOOK_TOKEN=sig_token_aaaaaaaaaaaaaaaaaaaaaaaa",
        "PHONELY_MCP_WEBHOOK_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL};
    struct daemon d;
    struct err e;
    struct auth_secrets *s = auth_secrets_parse(secret, &e);
    const char *body = "{\"callId\":\"signed-1\"}";
    char sig[128], headers[512];
    struct http_resp r;
    long long now = (long long)time(NULL);

    CHECK(s != NULL);
    daemon_start(&d, env);
    auth_sign_webhook(s, "msg_signed1", now, body, strlen(body), sig, sizeof sig);
    snprintf(headers, sizeof headers,
             "webhook-id: msg_signed1\r\nwebhook-timestamp: %lld\r\nwebhook-signature: %s\r\n", now,
             sig);
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/sig_token_aaaaaaaaaaaaaaaaaaaaaaaa",
                           headers, body, strlen(body), &r),
                 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    /* Right token, wrong signature (body changed after signing). */
    const char *other = "{\"callId\":\"signed-2\"}";
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/sig_token_aaaaaaaaaaaaaaaaaaaaaaaa",
                           headers, other, strlen(other), &r),
                 0);
    CHECK_INT_EQ(r.status, 401);
    http_resp_free(&r);
    /* Too old. */
    auth_sign_webhook(s, "msg_signed3", now - 400, body, strlen(body), sig, sizeof sig);
    snprintf(headers, sizeof headers,
             "webhook-id: msg_signed3\r\nwebhook-timestamp: %lld\r\nwebhook-signature: %s\r\n",
             now - 400, sig);
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/sig_token_aaaaaaaaaaaaaaaaaaaaaaaa",
                           headers, body, strlen(body), &r),
                 0);
    CHECK_INT_EQ(r.status, 401);
    http_resp_free(&r);
    /* No signature headers at all. */
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook/sig_token_aaaaaaaaaaaaaaaaaaaaaaaa",
                           NULL, other, strlen(other), &r),
                 0);
    CHECK_INT_EQ(r.status, 401);
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    CHECK_INT_EQ(db_count(d.db, "SELECT count(*) FROM calls"), 1);
    CHECK_INT_EQ(db_count(d.db, "SELECT count(*) FROM deliveries WHERE webhook_id = 'msg_signed1'"),
                 1);
    daemon_cleanup(&d);
    auth_secrets_free(s);
}

/* Storage refusing the write (here: less free space than required) gives 503, never 2xx. */
static void test_storage_failure_is_503(void)
{
    const char *env[] = {"PHONELY_MCP_MIN_FREE_BYTES=1T", NULL};
    struct daemon d;
    struct http_resp r;
    const char *body = "{\"callId\":\"no-space\"}";
    char retry[16];

    daemon_start(&d, env);
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook", NULL, body, strlen(body), &r), 0);
    CHECK_INT_EQ(r.status, 503);
    CHECK(http_resp_header(&r, "Retry-After", retry, sizeof retry) != NULL);
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    CHECK_INT_EQ(db_count(d.db, "SELECT count(*) FROM calls"), 0);
    daemon_cleanup(&d);
}

static unsigned file_mode(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 0;
}

/*
 * Under a umask of 022, the database, its -wal and -shm, and a backup are
 * created 0600; a database left open to other users gets a warning.
 */
static void test_private_files(void)
{
    mode_t old = umask(022);
    char *db = xasprintf("%s/private.db", dir);
    char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
    char *copy = xasprintf("%s/private-copy.db", dir);
    char *dbenv = xasprintf("PHONELY_MCP_DB=%s", db);
    const char *env[] = {dbenv, NULL};
    const char *body = "{\"callId\":\"private-1\",\"summary\":\"card on file\"}";
    struct daemon d;
    struct http_resp r;
    char *out, *err;

    daemon_start_db(&d, db, NULL);
    CHECK_INT_EQ(http_post(d.webhook_port, "/phonely/webhook", NULL, body, strlen(body), &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    CHECK_INT_EQ(file_mode(db), 0600);
    CHECK_INT_EQ(file_mode(wal), 0600);
    CHECK_INT_EQ(file_mode(shm), 0600);

    const char *backup[] = {"backup", copy, NULL};
    CHECK_INT_EQ(run_cli(backup, env, NULL, &out, &err), 0);
    free(out);
    free(err);
    CHECK_INT_EQ(file_mode(copy), 0600);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    char *log = file_read(d.log, NULL);
    CHECK(log != NULL && strstr(log, "open to other local users") == NULL);
    free(log);
    daemon_cleanup(&d);

    /* A database made world-readable by hand: the daemon says so at start. */
    CHECK_INT_EQ(chmod(db, 0644), 0);
    daemon_start_db(&d, db, NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    log = file_read(d.log, NULL);
    CHECK(log != NULL);
    CHECK_STR_CONTAINS(log, "private.db holds callers' numbers and transcripts and is open to "
                            "other local users (mode 0644); chmod 600 it");
    free(log);
    daemon_cleanup(&d);

    /* So does every command about a token file that every user can read. */
    char *tok = xasprintf("%s/token", dir), *tokenv = xasprintf("PHONELY_MCP_TOKEN_FILE=%s", tok);
    const char *tenv[] = {dbenv, tokenv, NULL};
    const char *check[] = {"check-config", NULL};
    write_file(tok, "Wq3e2Jm1r7dKx0XbZPpY6sTQ4uN8vAaLcGhFiOoRwEk\n");
    CHECK_INT_EQ(file_mode(tok), 0644);
    CHECK_INT_EQ(run_cli(check, tenv, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(err, "token holds a secret and is readable by every user; chmod 600 it");
    free(out);
    free(err);
    free(tokenv);
    free(tok);

    umask(old);
    free(dbenv);
    free(copy);
    free(shm);
    free(wal);
    free(db);
}

struct load_arg {
    uint16_t port;
    int worker;
    int acked[200];
    int nacked;
};

static void *load_worker(void *p)
{
    struct load_arg *a = p;
    for (int i = 0; i < 200; i++) {
        char body[128];
        struct http_resp r;
        snprintf(body, sizeof body, "{\"callId\":\"term-%d-%d\",\"summary\":\"load\"}", a->worker,
                 i);
        if (http_post(a->port, "/phonely/webhook", NULL, body, strlen(body), &r) != 0)
            break; /* the listener is gone */
        if (r.status == 200)
            a->acked[a->nacked++] = i;
        http_resp_free(&r);
    }
    return NULL;
}

/* SIGTERM in the middle of a load: a clean exit, and every 200 is stored. */
static void test_sigterm_under_load(void)
{
    struct daemon d;
    enum { N = 16 };
    pthread_t th[N];
    struct load_arg args[N];
    int acked = 0, missing = 0;

    daemon_start(&d, NULL);
    for (int i = 0; i < N; i++) {
        args[i] = (struct load_arg){.port = d.webhook_port, .worker = i};
        pthread_create(&th[i], NULL, load_worker, &args[i]);
    }
    nanosleep(&(struct timespec){0, 300000000L}, NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < args[i].nacked; j++) {
            char sql[128];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM calls WHERE call_id = 'term-%d-%d'", i,
                     args[i].acked[j]);
            acked++;
            missing += db_count(d.db, sql) != 1;
        }
    }
    CHECK(acked > 0);
    CHECK_INT_EQ(missing, 0);
    daemon_cleanup(&d);
}

int main(void)
{
    dir = tmpdir_make("cli");
    auth_init();
    RUN(test_token);
    RUN(test_help);
    RUN(test_import);
    RUN(test_check_config);
    RUN(test_refuses_public_listener_without_token);
    RUN(test_signed_webhooks);
    RUN(test_storage_failure_is_503);
    RUN(test_private_files);
    RUN(test_sigterm_under_load);
    tmpdir_remove(dir);
    free(dir);
    return check_report();
}
