/*
 * test_audit.c: the access audit, on an SQLite file and on a PostgreSQL
 * database (the throwaway cluster CTest starts, see pg_newdb). Through
 * store.h: batches, listings by call and by time, purges in batches.
 * The writer of audit.h: a full queue drops and counts, a stop commits
 * what is queued, old entries go at start. And end to end: a daemon's MCP
 * over HTTP and `phonely-mcp stdio` read calls with a named client, and
 * `phonely-mcp audit --call` shows who read them, while a distinctive
 * search query is nowhere in the audit's rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "audit.h"
#include "check.h"
#include "harness.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

#define TOKEN    "audit-test-token-0123456789abcdefgh"
#define QUERY    "zebracorn quintessa"
#define MS_DAY   INT64_C(86400000)
#define CLIENT   "audit-test-client"
#define CALL_ONE "audit-call-1"
#define CALL_TWO "audit-call-2"

static const char *const env[] = {
    "PHONELY_MCP_TOKEN=" TOKEN,
    "PHONELY_MCP_PRIVATE_AUTH=yes",
    "PHONELY_MCP_LOG_LEVEL=info",
    NULL,
};

/* ---- through store.h ---- */

struct listed {
    size_t n;
    struct buf text; /* "name:call_ids;" per row, in order */
};

static int collect(const struct store_audit_row *r, void *arg)
{
    struct listed *l = arg;

    l->n++;
    buf_printf(&l->text, "%s:%s:%s:%s:%s:%d:%s;", r->transport,
               r->client_name ? r->client_name : "-", r->session_id ? r->session_id : "-", r->kind,
               r->name, r->error, r->call_ids ? r->call_ids : "-");
    return 0;
}

static char *list(struct store *st, const char *call_id, int64_t since, unsigned limit, size_t *n)
{
    struct listed l = {0};
    struct err err = {0};

    CHECK_INT_EQ(store_audit_list(st, call_id, since, limit, collect, &l, &err), 0);
    *n = l.n;
    if (l.text.data == NULL)
        buf_puts(&l.text, "");
    return buf_steal(&l.text, NULL);
}

static void test_store_api(const char *db)
{
    struct store *st = store_open_or_die(db);
    const char *both[] = {CALL_ONE, CALL_TWO}, *one[] = {CALL_ONE};
    int64_t now = time_now_ms(), removed = -1;
    struct store_audit_entry e[4] = {
        {now - 400 * MS_DAY, "http", "old-client", "1", "s-old", "tool", "get_call", false, one, 1},
        {now - 399 * MS_DAY, "stdio", NULL, NULL, "s-old2", "resource", "phonely://calls/{callId}",
         false, both, 2},
        {now - 1000, "http", CLIENT, "2.0", "s-new", "tool", "search_calls", false, both, 2},
        {now, "stdio", CLIENT, "2.0", "s-new", "tool", "get_call", true, NULL, 0},
    };
    struct store_audit_entry bad = e[0];
    struct err err = {0};
    size_t n;
    char *t;

    CHECK_INT_EQ(store_audit_add(st, e, 4, &err), 0);
    t = list(st, NULL, INT64_MIN, 100, &n);
    CHECK_INT_EQ(n, 4);
    CHECK_STR_EQ(t, "stdio:" CLIENT ":s-new:tool:get_call:1:-;"
                    "http:" CLIENT ":s-new:tool:search_calls:0:[\"" CALL_ONE "\",\"" CALL_TWO "\"];"
                    "stdio:-:s-old2:resource:phonely://calls/{callId}:0:[\"" CALL_ONE
                    "\",\"" CALL_TWO "\"];"
                    "http:old-client:s-old:tool:get_call:0:[\"" CALL_ONE "\"];");
    free(t);
    t = list(st, CALL_TWO, INT64_MIN, 100, &n);
    CHECK_INT_EQ(n, 2);
    free(t);
    t = list(st, CALL_ONE, now - 2000, 100, &n); /* since: only the new read of it */
    CHECK_INT_EQ(n, 1);
    CHECK_STR_CONTAINS(t, "search_calls");
    free(t);
    t = list(st, NULL, INT64_MIN, 1, &n);
    CHECK_INT_EQ(n, 1);
    free(t);

    bad.kind = "prompt";
    CHECK_INT_EQ(store_audit_add(st, &bad, 1, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);

    /* Retention: one batch at a time, the calls of removed rows with them. */
    CHECK_INT_EQ(store_audit_purge(st, now - 365 * MS_DAY, 1, &removed, &err), 0);
    CHECK_INT_EQ(removed, 1);
    CHECK_INT_EQ(store_audit_purge(st, now - 365 * MS_DAY, 100, &removed, &err), 0);
    CHECK_INT_EQ(removed, 1);
    CHECK_INT_EQ(store_audit_purge(st, now - 365 * MS_DAY, 100, &removed, &err), 0);
    CHECK_INT_EQ(removed, 0);
    t = list(st, CALL_ONE, INT64_MIN, 100, &n);
    CHECK_INT_EQ(n, 1);
    CHECK_STR_CONTAINS(t, "s-new");
    free(t);
    t = list(st, NULL, INT64_MIN, 100, &n);
    CHECK_INT_EQ(n, 2);
    free(t);
    store_close(st);
}

/* ---- the writer ---- */

/* A full queue drops and counts; stopping commits everything that was queued. */
static void test_writer_queue(void)
{
    char *dir = tmpdir_make("audit-queue"), *path = xasprintf("%s/calls.db", dir);
    struct store *st = store_open_or_die(path);
    struct audit_opts o = {.db = path, .store = {.busy_timeout_ms = 3000}, .queue_max = 8};
    const char *ids[] = {CALL_ONE};
    struct store_audit_entry e = {time_now_ms(), "http",     CLIENT, "1", "s",
                                  "tool",        "get_call", false,  ids, 1};
    struct audit_stats as;
    struct err err = {0};
    struct audit *a;
    sqlite3 *lock;
    size_t n;
    char *t;

    store_close(st);
    a = audit_start(&o, &err);
    CHECK(a != NULL);
    /* Another connection holds the write lock: the writer waits with what it took. */
    CHECK_INT_EQ(sqlite3_open(path, &lock), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    audit_record(a, &e);
    for (int i = 0; i < 500; i++) {
        audit_get_stats(a, &as);
        if (as.queued == 0)
            break;
        sleep_ms(2);
    }
    CHECK_INT_EQ(as.queued, 0);
    for (int i = 0; i < 8 + 5; i++)
        audit_record(a, &e);
    audit_get_stats(a, &as);
    CHECK_INT_EQ(as.recorded, 14);
    CHECK_INT_EQ(as.queued, 8);
    CHECK_INT_EQ(as.dropped, 5);
    CHECK_INT_EQ(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    audit_stop(a);

    st = store_open_or_die(path);
    t = list(st, CALL_ONE, INT64_MIN, 100, &n);
    CHECK_INT_EQ(n, 9);
    free(t);
    store_close(st);
    free(path);
    tmpdir_remove(dir);
    free(dir);
}

/* Entries older than the retention go when the writer starts; newer ones stay. */
static void test_writer_retention(const char *db)
{
    struct store *st = store_open_or_die(db);
    int64_t now = time_now_ms();
    struct store_audit_entry e[3] = {
        {now - 40 * MS_DAY, "http", NULL, NULL, NULL, "tool", "get_call", false, NULL, 0},
        {now - 31 * MS_DAY, "http", NULL, NULL, NULL, "tool", "get_call", false, NULL, 0},
        {now - 29 * MS_DAY, "http", NULL, NULL, NULL, "tool", "get_call", false, NULL, 0},
    };
    struct audit_opts o = {.db = db, .retention_days = 30, .purge_batch = 1};
    struct audit_stats as = {0};
    struct err err = {0};
    struct audit *a;
    size_t n;

    CHECK_INT_EQ(store_audit_add(st, e, 3, &err), 0);
    a = audit_start(&o, &err);
    CHECK(a != NULL);
    for (int i = 0; i < 1000 && as.purged < 2; i++) {
        sleep_ms(5);
        audit_get_stats(a, &as);
    }
    CHECK_INT_EQ(as.purged, 2);
    audit_stop(a);
    free(list(st, NULL, INT64_MIN, 100, &n));
    CHECK_INT_EQ(n, 1);
    store_close(st);
}

/* ---- end to end ---- */

static int post_call(uint16_t port, const char *id)
{
    char *body = xasprintf("{\"callId\":\"%s\",\"callerName\":\"Ana Audit\","
                           "\"summary\":\"Asked about the invoice.\",\"transcript\":"
                           "[{\"role\":\"user\",\"content\":\"Where is my invoice?\"}]}",
                           id);
    struct http_resp r = {0};
    int status;

    CHECK_INT_EQ(http_post(port, "/phonely/webhook", NULL, body, strlen(body), &r), 0);
    status = r.status;
    http_resp_free(&r);
    free(body);
    return status;
}

static cJSON *mcp_post(uint16_t port, const char *session, const char *json, char *sid_out,
                       size_t sid_size)
{
    int status;
    cJSON *out = mcp_http_post(port, TOKEN, session, json, &status, sid_out, sid_size);

    CHECK_INT_EQ(status, 200);
    if (sid_out != NULL)
        CHECK(sid_out[0] != '\0');
    return out;
}

#define INIT(client)                                                                               \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"     \
    "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"" client "\","                  \
    "\"version\":\"9.8.7\"}}}"
#define GET_CALL(id)                                                                               \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_call\","   \
    "\"arguments\":{\"call_id\":\"" id "\"}}}"
#define SEARCH                                                                                     \
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"                \
    "\"search_calls\",\"arguments\":{\"query\":\"" QUERY "\"}}}"
#define TRANSCRIPT(id)                                                                             \
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":"             \
    "\"phonely://calls/" id "/transcript\"}}"
#define MISSING                                                                                    \
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"get_call\","   \
    "\"arguments\":{\"call_id\":\"no-such-" QUERY "\"}}}"

/* `phonely-mcp audit ARGS... --db db`: its standard output (caller frees). */
static char *audit_cli(const char *db, const char *a1, const char *a2, const char *a3)
{
    const char *argv[] = {"audit", "--db", db, a1, a2, a3, NULL};
    char *out = NULL;

    CHECK_INT_EQ(run_cli(argv, NULL, NULL, &out, NULL), 0);
    return out;
}

/*
 * What the audit's rows are made of, to look for what must not be there:
 * on PostgreSQL every row of its tables as text, of an SQLite database
 * the file and its WAL as bytes (nothing escapes a search there). *len: bytes.
 */
static char *audit_rows(const char *db, size_t *len)
{
    struct buf b = {0};

    if (store_is_postgres_uri(db)) {
        PGconn *c = PQconnectdb(db);
        PGresult *r = PQexec(c, "SELECT a::text FROM audit a UNION ALL"
                                " SELECT c::text FROM audit_calls c");

        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r); i++)
            buf_printf(&b, "%s\n", PQgetvalue(r, i, 0));
        PQclear(r);
        PQfinish(c);
    } else {
        char *wal = xasprintf("%s-wal", db);
        size_t n = 0;
        char *f = file_read(db, &n);

        buf_append(&b, f, n);
        free(f);
        if (access(wal, F_OK) == 0) {
            f = file_read(wal, &n);
            buf_append(&b, f, n);
            free(f);
        }
        free(wal);
    }
    if (b.data == NULL)
        buf_puts(&b, "");
    return buf_steal(&b, len);
}

/* Whether haystack (len bytes, NULs and all) holds needle. */
static bool holds(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static void test_end_to_end(const char *db)
{
    struct daemon d = {0};
    char sid[128] = "", *out, *rows, *line, *stdin_data;
    const char *argv[] = {"stdio", "--db", db, NULL};
    cJSON *r, *one;
    size_t nrows;
    int lines = 0;

    daemon_start_db(&d, db, env);
    CHECK_INT_EQ(post_call(d.webhook_port, CALL_ONE), 200);
    CHECK_INT_EQ(post_call(d.webhook_port, CALL_TWO), 200);
    cJSON_Delete(mcp_post(d.private_port, NULL, INIT(CLIENT), sid, sizeof sid));
    r = mcp_post(d.private_port, sid, GET_CALL(CALL_ONE), NULL, 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(r, "result") != NULL);
    cJSON_Delete(r);
    cJSON_Delete(mcp_post(d.private_port, sid, SEARCH, NULL, 0));
    cJSON_Delete(mcp_post(d.private_port, sid, TRANSCRIPT(CALL_TWO), NULL, 0));
    cJSON_Delete(mcp_post(d.private_port, sid, MISSING, NULL, 0));
    CHECK_INT_EQ(daemon_stop(&d), 0); /* the audit is committed before the exit */

    /* Over stdio, with the store read-only: the audit writes on its own connection. */
    stdin_data = xasprintf("%s\n%s\n", INIT("stdio-client"), GET_CALL(CALL_TWO));
    CHECK_INT_EQ(run_cli(argv, NULL, stdin_data, &out, NULL), 0);
    free(out);
    free(stdin_data);

    out = audit_cli(db, "--call", CALL_ONE, NULL);
    line = strstr(out, "\n") + 1; /* past the header */
    CHECK_STR_CONTAINS(line, " http ");
    CHECK_STR_CONTAINS(line, CLIENT "/9.8.7");
    CHECK_STR_CONTAINS(line, sid);
    CHECK_STR_CONTAINS(line, " tool ");
    CHECK_STR_CONTAINS(line, "get_call");
    CHECK_STR_CONTAINS(line, " ok ");
    CHECK(strstr(out, "stdio") == NULL); /* stdio read the other call */
    for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    CHECK_INT_EQ(lines, 2); /* header and the one read: the search found nothing */
    free(out);

    out = audit_cli(db, "--call", CALL_TWO, "--json");
    /* Newest first: stdio's get_call, then the transcript read over HTTP. */
    line = strtok(out, "\n");
    one = cJSON_Parse(line);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "transport")), "stdio");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "clientName")),
                 "stdio-client");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "name")), "get_call");
    CHECK_INT_EQ(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "sessionId"))),
                 32);
    cJSON_Delete(one);
    one = cJSON_Parse(strtok(NULL, "\n"));
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "kind")), "resource");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "name")),
                 "phonely://calls/{callId}/transcript");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "sessionId")), sid);
    cJSON_Delete(one);
    CHECK(strtok(NULL, "\n") == NULL);
    free(out);

    /* Every request is there, the failed one too, in order. */
    out = audit_cli(db, "--since", "2020-01-01", "--json");
    CHECK_STR_CONTAINS(out, "\"name\":\"search_calls\",\"error\":false,\"callIds\":[]");
    CHECK_STR_CONTAINS(out, "\"name\":\"get_call\",\"error\":true,\"callIds\":[]");
    free(out);
    out = audit_cli(db, "--since", "2100-01-01", NULL);
    CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* the header alone */
    free(out);

    /* The arguments' text is nowhere: not the query, not the id asked for in vain. */
    rows = audit_rows(db, &nrows);
    CHECK(holds(rows, nrows, CLIENT)); /* insurance: the audit's rows are in what was read */
    CHECK(!holds(rows, nrows, "zebracorn"));
    CHECK(!holds(rows, nrows, "quintessa"));
    free(rows);
    daemon_cleanup(&d);
}

int main(void)
{
    char *dir = tmpdir_make("audit"), *path = xasprintf("%s/calls.db", dir);
    char *path2 = xasprintf("%s/retention.db", dir), *path3 = xasprintf("%s/e2e.db", dir);
    char *uri;

    test_store_api(path);
    uri = pg_newdb();
    test_store_api(uri);
    free(uri);
    test_writer_queue();
    test_writer_retention(path2);
    uri = pg_newdb();
    test_writer_retention(uri);
    free(uri);
    test_end_to_end(path3);
    uri = pg_newdb();
    test_end_to_end(uri);
    free(uri);
    free(path);
    free(path2);
    free(path3);
    tmpdir_remove(dir);
    free(dir);
    return check_report();
}
