/*
 * test_migrate.c: `phonely-mcp migrate --from FILE --to URI` copies an
 * SQLite database into a PostgreSQL one (on the throwaway cluster CTest
 * starts) and checks the copy.
 *
 *   - every call, delivery (with its body, rejected ones too), history and
 *     follow-up state arrives: the two stores answer get_call, searches,
 *     statistics and the deliveries log the same;
 *   - a copy that stopped part way (some batches in) goes on where it
 *     stopped, and calls stored after a first copy come over on a second;
 *   - a row changed on one side afterwards makes the check fail (exit 1);
 *   - wrong arguments are usage errors (exit 2), a missing file exit 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "payload.h"
#include "search.h"
#include "store.h"
#include "xmalloc.h"

#define T0 INT64_C(1780000000000)

static void put_body(struct store *st, const char *body, int64_t received_ms)
{
    struct call call;
    struct delivery d = {0}, *items[1] = {&d};
    struct err err = {0};
    char sha[65];
    bool parsed;

    snprintf(sha, sizeof sha, "%016llx%08llx", (unsigned long long)strlen(body),
             (unsigned long long)received_ms);
    d.received_ms = received_ms;
    d.source = "webhook";
    d.peer = "127.0.0.1:40000";
    d.body = body;
    d.body_len = strlen(body);
    d.body_size = d.body_len;
    d.body_sha256 = sha;
    parsed = payload_parse(body, strlen(body), &call, &err) == 0;
    if (parsed) {
        d.call = &call;
    } else {
        d.status = 422;
        d.reason = "not a call";
    }
    CHECK_INT_EQ(store_put_deliveries(st, items, 1, &err), 0);
    if (parsed)
        payload_call_free(&call);
}

/* Calls first..first+n-1, a rejected body, some follow-ups resolved. */
static void fill(const char *db, int first, int n)
{
    struct store *st = store_open_or_die(db);
    struct buf body = {0};
    struct err err = {0};

    for (int i = first; i < first + n; i++) {
        bench_call_body(&body, 3, (uint64_t)i, T0 - (int64_t)(1000 - i) * 60000);
        put_body(st, body.data, T0 + i);
        if (i % 9 == 0) {
            char id[64];
            const char *ids[] = {id};
            struct store_audit_entry e = {T0 + i, "http", "migrate-client", i % 2 ? "1" : NULL,
                                          "s-1",  "tool", "get_call",       i % 4 == 0,
                                          ids,    1};

            sscanf(body.data, "{\"callId\":\"%63[^\"]", id);
            CHECK_INT_EQ(store_audit_add(st, &e, 1, &err), 0); /* the audit goes along */
            CHECK_INT_EQ(
                store_set_follow_up(st, id, true, "called back", "ops", T0 + 5000 + i, NULL, &err),
                0);
        }
    }
    put_body(st, "{\"not\": \"a call\"}", T0 + first + n);
    store_close(st);
    buf_free(&body);
}

static int audit_line(const struct store_audit_row *r, void *arg)
{
    buf_printf(arg, "audit %" PRId64 " %" PRId64 " %s %s %s %d %s\n", r->id, r->at_ms,
               r->client_name, r->client_version ? r->client_version : "-", r->name, r->error,
               r->call_ids);
    return 0;
}

/* Everything a client could ask both stores, as text. */
static char *answers(const char *db)
{
    struct store *st = store_open_or_die(db);
    struct buf out = {0}, body = {0};
    struct err err = {0};
    struct search_terms w = {0};
    struct call_query q;
    struct call_page page;
    cJSON *v;
    char *text, id[64];

    for (int i = 0; i < 300; i += 37) {
        bench_call_body(&body, 3, (uint64_t)i, 0);
        sscanf(body.data, "{\"callId\":\"%63[^\"]", id);
        v = store_get_call(st, id, true, &err);
        if (v == NULL)
            buf_printf(&out, "%s: %s\n", id, err.msg);
        text = cJSON_PrintUnformatted(v);
        buf_printf(&out, "%s\n", text != NULL ? text : "-");
        free(text);
        cJSON_Delete(v);
        CHECK_INT_EQ(store_audit_list(st, id, INT64_MIN, 10, audit_line, &out, &err), 0);
    }
    memset(&q, 0, sizeof q);
    q.follow_up = -1;
    q.from_ms = INT64_MIN;
    q.to_ms = INT64_MAX;
    q.min_duration_s = q.max_duration_s = -1;
    q.limit = 50;
    q.follow_up_status = "resolved";
    CHECK_INT_EQ(search_terms_parse("insurance", 8, &w, &err), 0);
    q.words = &w;
    CHECK_INT_EQ(store_search_calls(st, &q, T0, &page, &err), 0);
    for (v = page.calls->child; v != NULL; v = v->next)
        cJSON_DeleteItemFromObjectCaseSensitive(v, "snippet");
    text = cJSON_PrintUnformatted(page.calls);
    buf_printf(&out, "%" PRId64 " %s\n", page.total, text);
    free(text);
    cJSON_Delete(page.calls);
    search_terms_free(&w);
    v = store_call_stats(st, INT64_MIN, INT64_MAX, 5, &err);
    text = cJSON_PrintUnformatted(v);
    buf_printf(&out, "%s\n", text);
    free(text);
    cJSON_Delete(v);
    store_close(st);
    buf_free(&body);
    return buf_steal(&out, NULL);
}

/* Both stores give the same answers. */
static void check_same_answers(const char *db, const char *uri)
{
    char *a = answers(db), *b = answers(uri);

    CHECK_STR_EQ(a, b);
    free(a);
    free(b);
}

static int migrate(const char *from, const char *to, const char *batch, char **out)
{
    const char *argv[] = {"migrate", "--from", from, "--to", to, "--batch", batch, NULL};
    char *errout = NULL;
    int rc = run_cli(argv, NULL, NULL, out, &errout);

    fprintf(stderr, "%s", errout != NULL ? errout : "");
    free(errout);
    return rc;
}

int main(void)
{
    char *dir = tmpdir_make("migrate"), *db = xasprintf("%s/calls.db", dir);
    char *uri = pg_newdb(), *out = NULL;
    struct store *from, *to;
    struct err err = {0};
    cJSON *rows;

    fill(db, 0, 300);

    /* A copy that stopped after two batches of deliveries. */
    from = store_open_or_die(db);
    to = store_open_or_die(uri);
    for (int64_t after = 0; after < 100; after += 50) {
        rows = cJSON_CreateArray();
        CHECK_INT_EQ(store_dump(from, STORE_TABLE_DELIVERIES, after, 50, rows, &err), 0);
        CHECK_INT_EQ(store_load(to, STORE_TABLE_DELIVERIES, rows, &err), 0);
        cJSON_Delete(rows);
    }
    store_close(from);
    store_close(to);
    CHECK_INT_EQ(migrate(db, uri, "64", &out), 0);
    CHECK_STR_CONTAINS(out, "deliveries 201 rows copied (100 there before)");
    CHECK_STR_CONTAINS(out, "calls      300 rows copied (0 there before)");
    CHECK(strstr(out, "DIFFERENT") == NULL);
    free(out);
    check_same_answers(db, uri);

    /* Calls stored since the first copy come over on a second. */
    fill(db, 300, 40);
    CHECK_INT_EQ(migrate(db, uri, "500", &out), 0);
    CHECK_STR_CONTAINS(out, "deliveries 41 rows copied (301 there before)");
    CHECK_STR_CONTAINS(out, "calls      40 rows copied (300 there before)");
    free(out);
    check_same_answers(db, uri);

    /* A row changed on the PostgreSQL side: the check says so. */
    to = store_open_or_die(uri);
    {
        struct buf body = {0};
        char id[64];

        bench_call_body(&body, 3, 1, 0);
        sscanf(body.data, "{\"callId\":\"%63[^\"]", id);
        CHECK_INT_EQ(store_set_follow_up(to, id, true, "changed", "x", T0, NULL, &err), 0);
        buf_free(&body);
    }
    store_close(to);
    CHECK_INT_EQ(migrate(db, uri, "500", &out), 1);
    CHECK_STR_CONTAINS(out, "DIFFERENT");
    free(out);

    /* Usage errors and a missing file. */
    {
        const char *argv[] = {"migrate", "--from", db, NULL};
        char *errout = NULL;

        CHECK_INT_EQ(run_cli(argv, NULL, NULL, &out, &errout), 2);
        CHECK_STR_CONTAINS(errout, "--to");
        free(out);
        free(errout);
    }
    {
        char *missing = xasprintf("%s/none/calls.db", dir);

        CHECK_INT_EQ(migrate(missing, uri, "500", &out), 1);
        free(out);
        free(missing);
    }
    free(uri);
    free(db);
    tmpdir_remove(dir);
    free(dir);
    return check_report();
}
