/*
 * test_backends.c: the same answers from every storage backend. One
 * scenario runs through store.h alone (real webhook bodies, re-deliveries,
 * a rejected body, follow-ups resolved and reopened) on a fresh SQLite
 * file and on a fresh PostgreSQL database (on the throwaway cluster CTest
 * starts, see pg_newdb), and every answer is
 * written down as text: calls with transcripts and history, searches by
 * word, phrase-like word lists, phone numbers in other spellings, filters,
 * every sort and every page of a cursor walk, statistics, list items,
 * completion, the deliveries log and kept bodies. The two transcripts must
 * be equal byte for byte, snippets included (each must bracket a hit),
 * except for the order of relevance ranks, which each backend decides for
 * itself (both must hold the same calls). A second scenario has
 * words on more calls than a backend may sort at once (PostgreSQL's
 * PG_FEW_MATCHES), so that pages come from walking the newest calls, from
 * the matches past a walk that found too few, and from both at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "backend.h"
#include "check.h"
#include "harness.h"
#include "payload.h"
#include "search.h"
#include "store.h"
#include "xmalloc.h"

#define CALLS 240
#define T0    INT64_C(1780000000000) /* 2026-05-28 */

/* Store one body as a webhook delivery; returns its outcome. */
static enum delivery_outcome put_body(struct store *st, const char *body, int64_t received_ms)
{
    struct call call;
    struct delivery d = {0}, *items[1] = {&d};
    struct err err = {0};
    char sha[24];
    uint64_t h = 14695981039346656037u;

    for (const char *p = body; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    snprintf(sha, sizeof sha, "%016" PRIx64, h);
    d.received_ms = received_ms;
    d.source = "webhook";
    d.peer = "127.0.0.1:40000";
    d.body = body;
    d.body_len = strlen(body);
    d.body_size = d.body_len;
    d.body_sha256 = sha;
    if (payload_parse(body, strlen(body), &call, &err) == 0) {
        d.call = &call;
    } else {
        d.status = 422;
        d.reason = err.msg;
    }
    CHECK_INT_EQ(store_put_deliveries(st, items, 1, &err), 0);
    if (d.call != NULL)
        payload_call_free(&call);
    return d.outcome;
}

/* A tree's text; with snippets, the array's every "snippet" checked (a bracketed hit). */
static void put_json(struct buf *out, cJSON *item, bool snippets)
{
    char *text;

    if (snippets) {
        cJSON *c;

        cJSON_ArrayForEach(c, item)
        {
            cJSON *snip = cJSON_GetObjectItemCaseSensitive(c, "snippet");

            if (snip != NULL)
                CHECK(strchr(cJSON_GetStringValue(snip), '[') != NULL);
        }
    }
    text = cJSON_PrintUnformatted(item);
    buf_puts(out, text);
    buf_puts(out, "\n");
    free(text);
}

static void q_init(struct call_query *q)
{
    memset(q, 0, sizeof *q);
    q->follow_up = -1;
    q->from_ms = INT64_MIN;
    q->to_ms = INT64_MAX;
    q->min_duration_s = -1;
    q->max_duration_s = -1;
    q->limit = 7;
}

/* Every page of q, as a tool walks them. Relevance: the set of calls only. */
static void put_search(struct buf *out, struct store *st, struct call_query *q, const char *text)
{
    struct search_terms words = {0};
    struct err err = {0};
    cJSON *all = cJSON_CreateArray();
    int pages = 0;

    if (text != NULL) {
        CHECK_INT_EQ(search_terms_parse(text, 32, &words, &err), 0);
        q->words = &words;
    }
    buf_printf(out, "search %s sort=%d:\n", text != NULL ? text : "-", (int)q->sort);
    for (;;) {
        struct call_page page;
        cJSON *c;

        CHECK_INT_EQ(store_search_calls(st, q, T0, &page, &err), 0);
        buf_printf(out, " total=%" PRId64 " exact=%d more=%d\n", page.total, page.total_exact,
                   page.more);
        if (q->sort == CALL_SORT_RELEVANCE) {
            while ((c = cJSON_DetachItemFromArray(page.calls, 0)) != NULL)
                cJSON_AddItemToArray(all, c);
        } else {
            put_json(out, page.calls, true);
        }
        cJSON_Delete(page.calls);
        if (!page.more || ++pages == 40)
            break;
        if (q->sort == CALL_SORT_RELEVANCE) {
            q->offset += q->limit;
        } else {
            q->has_after = true;
            q->after_sort_ms = page.last_sort_ms;
            q->after_id = page.last_id;
        }
    }
    if (q->sort == CALL_SORT_RELEVANCE) {
        /* The same calls, in call id order. */
        struct buf ids = {0};
        char **v = xcalloc((size_t)cJSON_GetArraySize(all) + 1, sizeof *v);
        size_t n = 0, i, j;
        cJSON *c;

        cJSON_ArrayForEach(c, all)
        {
            v[n++] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "callId"));
        }
        for (i = 1; i < n; i++)
            for (j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
                char *t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        for (i = 0; i < n; i++)
            buf_printf(&ids, "%s ", v[i]);
        buf_printf(out, " ranked: %s\n", ids.data != NULL ? ids.data : "");
        buf_free(&ids);
        free(v);
    }
    cJSON_Delete(all);
    search_terms_free(&words);
    q->words = NULL;
}

static int put_delivery(const struct delivery_row *r, void *arg)
{
    struct buf *out = arg;

    buf_printf(out,
               "delivery %" PRId64 " %" PRId64 " %s %s %d %s %s %s %" PRIu64 " %" PRIu64 " %s\n",
               r->id, r->received_ms, r->source, r->peer ? r->peer : "-", r->status, r->outcome,
               r->reason ? r->reason : "-", r->call_id ? r->call_id : "-", r->body_size,
               r->body_kept, r->body_sha256 ? r->body_sha256 : "-");
    return 0;
}

/* The whole scenario on db; returns the transcript of every answer. */
static char *scenario(const char *db)
{
    static const char *const fixtures[] = {"sample-call.json", "unicode-call.json",
                                           "minimal-call.json", "loose-call.json",
                                           "numeric-id-call.json"};
    static const char *const words[] = {
        "cancellation fee", "insurance", "Thursday", "reschedule", "Maria", "docker-compose",
        "NEAR(", "caf\xc3\xa9", "ten thirty", "\"fee\"",
        /* words a text parser could split otherwise: an address, a time, an emoji, letters
         * with strokes and rings (Øvergård), and a run of ideographs (日本) */
        "maria.h@example.com", "10:30", "\xf0\x9f\x98\x80", "\xc3\x98verg\xc3\xa5rd",
        "\xe6\x97\xa5\xe6\x9c\xac"};
    struct store *st = store_open_or_die(db);
    struct buf out = {0}, body = {0};
    struct err err = {0};
    struct store_counts counts;
    struct call_query q;
    char first_id[64] = "", *raw;
    size_t len;
    bool more;
    cJSON *v;
    int i;

    for (i = 0; i < (int)(sizeof fixtures / sizeof fixtures[0]); i++) {
        char *text = fixture_read(fixtures[i], &len);

        buf_printf(&out, "put %s -> %s\n", fixtures[i],
                   delivery_outcome_name(put_body(st, text, T0 + i)));
        free(text);
    }
    for (i = 0; i < CALLS; i++) {
        bench_call_body(&body, 1, (uint64_t)i, T0 - (int64_t)(CALLS - i) * 3600000);
        if (i == 0)
            sscanf(body.data, "{\"callId\":\"%63[^\"]", first_id);
        buf_printf(&out, "put %d -> %s\n", i,
                   delivery_outcome_name(put_body(st, body.data, T0 + 100 + i)));
    }
    /* The same body again, a changed one, a body that is not a call. */
    bench_call_body(&body, 1, 5, T0 - (int64_t)(CALLS - 5) * 3600000);
    buf_printf(&out, "again -> %s\n", delivery_outcome_name(put_body(st, body.data, T0 + 900)));
    bench_call_body(&body, 1, 5, T0 + 7200000);
    buf_printf(&out, "moved -> %s\n", delivery_outcome_name(put_body(st, body.data, T0 + 901)));
    buf_printf(&out, "array -> %s\n", delivery_outcome_name(put_body(st, "[1, 2]", T0 + 902)));

    /* Follow-ups: resolve, resolve again with a note, reopen. */
    CHECK_INT_EQ(store_set_follow_up(st, first_id, true, NULL, "ops", T0 + 1000, &v, &err), 0);
    put_json(&out, v, false);
    cJSON_Delete(v);
    CHECK_INT_EQ(store_set_follow_up(st, first_id, true, "called back", NULL, T0 + 2000, &v, &err),
                 0);
    put_json(&out, v, false);
    cJSON_Delete(v);
    bench_call_body(&body, 1, 3, 0);
    {
        char id[64];

        sscanf(body.data, "{\"callId\":\"%63[^\"]", id);
        CHECK_INT_EQ(store_set_follow_up(st, id, true, "done", "a", T0 + 3000, NULL, &err), 0);
        CHECK_INT_EQ(store_set_follow_up(st, id, false, "again", NULL, T0 + 4000, &v, &err), 0);
        put_json(&out, v, false);
        cJSON_Delete(v);
        /* Whole calls, with and without transcript, and text transcripts. */
        v = store_get_call(st, id, true, &err);
        CHECK(v != NULL);
        put_json(&out, v, false);
        cJSON_Delete(v);
        raw = store_call_transcript_text(st, id, &err);
        CHECK(raw != NULL);
        buf_printf(&out, "%s\n", raw);
        free(raw);
        CHECK_INT_EQ(store_call_raw(st, id, &raw, &len, &err), 0);
        buf_append(&out, raw, len);
        free(raw);
    }
    CHECK(store_set_follow_up(st, "no-such-call", true, NULL, NULL, T0, NULL, &err) == -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    for (i = 0; i < 2; i++) {
        static const char *const ids[] = {"call_01HXY8ZZB6Q4DR9SS6S5KEM3CK", "call_unicode_0001"};

        v = store_get_call(st, ids[i], i == 0, &err);
        CHECK(v != NULL);
        put_json(&out, v, false);
        cJSON_Delete(v);
    }
    CHECK(store_get_call(st, "nope", false, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);

    /* Searches: words, phones, filters, each sort, every page. */
    for (i = 0; i < (int)(sizeof words / sizeof words[0]); i++) {
        q_init(&q);
        put_search(&out, st, &q, words[i]);
        q_init(&q);
        q.sort = CALL_SORT_OLDEST;
        q.limit = 50;
        put_search(&out, st, &q, words[i]);
        q_init(&q);
        q.sort = CALL_SORT_RELEVANCE;
        q.limit = 20;
        put_search(&out, st, &q, words[i]);
    }
    q_init(&q);
    q.phone_digits = "14155550007";
    put_search(&out, st, &q, NULL);
    q_init(&q);
    q.phone_digits = "14155551212";
    q.direction = "OUTBOUND";
    q.limit = 25;
    put_search(&out, st, &q, "fee");
    q_init(&q);
    q.sentiment = "negative";
    q.topic = "billing";
    q.follow_up = 1;
    q.min_duration_s = 100;
    q.max_duration_s = 500;
    q.detail = CALL_DETAIL_FOLLOW_UP;
    put_search(&out, st, &q, NULL);
    q_init(&q);
    q.follow_up_status = "pending";
    q.from_ms = T0 - 100 * 3600000;
    q.to_ms = T0 - 20 * 3600000;
    q.agent = "front desk";
    q.limit = 30;
    put_search(&out, st, &q, NULL);
    q_init(&q);
    q.follow_up_status = "resolved";
    q.detail = CALL_DETAIL_FOLLOW_UP;
    put_search(&out, st, &q, NULL);

    /* Statistics, list items, completion. */
    v = store_call_stats(st, INT64_MIN, INT64_MAX, 3, &err);
    put_json(&out, v, false);
    cJSON_Delete(v);
    v = store_call_stats(st, T0 - 50 * 3600000, T0, 10, &err);
    put_json(&out, v, false);
    cJSON_Delete(v);
    v = store_top_list_items(st, "unanswered_questions", INT64_MIN, INT64_MAX, true, 5, &err);
    put_json(&out, v, false);
    cJSON_Delete(v);
    v = store_top_list_items(st, "action_items", T0 - 10 * 3600000, INT64_MAX, false, 5, &err);
    put_json(&out, v, false);
    cJSON_Delete(v);
    CHECK(store_top_list_items(st, "summary", INT64_MIN, INT64_MAX, false, 5, &err) == NULL);
    v = cJSON_CreateArray();
    CHECK_INT_EQ(store_complete(st, "call_id", "call_", 10, v, &more, &err), 0);
    buf_printf(&out, "complete more=%d ", more);
    put_json(&out, v, false);
    cJSON_Delete(v);
    v = cJSON_CreateArray();
    CHECK_INT_EQ(store_complete(st, "phone", "(415) 555-00", 8, v, &more, &err), 0);
    buf_printf(&out, "complete more=%d ", more);
    put_json(&out, v, false);
    cJSON_Delete(v);

    /* The deliveries log, kept bodies, counts. */
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 12, put_delivery, &out, &err), 0);
    CHECK_INT_EQ(store_list_deliveries(st, "rejected", 5, put_delivery, &out, &err), 0);
    CHECK_INT_EQ(store_delivery_body(st, 3, &raw, &len, &err), 0);
    buf_append(&out, raw, len);
    free(raw);
    CHECK_INT_EQ(store_counts(st, &counts, &err), 0);
    buf_printf(&out, "counts %" PRId64 " %" PRId64 " %" PRId64 "\n", counts.calls,
               counts.deliveries, counts.rejected);
    CHECK_INT_EQ(store_check(st, &err), 0);
    store_close(st);
    buf_free(&body);
    return buf_steal(&out, NULL);
}

/* The first line where a and b differ, for the failure message. */
/* Replace every `from` in b by `to` (the same length). */
static void replace_all(struct buf *b, const char *from, const char *to)
{
    char *p = b->data;

    while ((p = strstr(p, from)) != NULL) {
        memcpy(p, to, strlen(to));
        p += strlen(to);
    }
}

#define WALK_OLD 1100 /* calls with the word, the older ones */
#define WALK_NEW 600  /* newer calls, the word only on every 200th */

/* The searches of words on many calls; returns the transcript of every answer. */
static char *scenario_walks(const char *db)
{
    static const char *const words[] = {"insurance", "assurance", "insurance thursday",
                                        "assurance cancellation"};
    struct store *st = store_open_or_die(db);
    struct buf out = {0}, body = {0};
    struct call_query q;
    int i;

    for (i = 0; i < WALK_OLD + WALK_NEW; i++) {
        bench_call_body(&body, 2, (uint64_t)i, T0 - (int64_t)(WALK_OLD + WALK_NEW - i) * 600000);
        if (i >= WALK_OLD && (i - WALK_OLD) % 200 != 0)
            replace_all(&body, "insurance", "assurance");
        CHECK_INT_EQ((int)put_body(st, body.data, T0 + i), (int)DELIVERY_STORED);
    }
    for (i = 0; i < (int)(sizeof words / sizeof words[0]); i++) {
        for (int sort = CALL_SORT_NEWEST; sort <= CALL_SORT_OLDEST; sort++) {
            q_init(&q);
            q.sort = (enum call_sort)sort;
            q.limit = 40;
            put_search(&out, st, &q, words[i]);
        }
        /* With a filter on calls, and within dates. */
        q_init(&q);
        q.direction = "inbound";
        q.limit = 40;
        put_search(&out, st, &q, words[i]);
        for (int sort = CALL_SORT_NEWEST; sort <= CALL_SORT_OLDEST; sort++) {
            q_init(&q);
            q.sort = (enum call_sort)sort;
            q.from_ms = T0 - (int64_t)(WALK_NEW + 300) * 600000;
            q.to_ms = T0 - (int64_t)100 * 600000;
            q.limit = 40;
            put_search(&out, st, &q, words[i]);
        }
    }
    buf_free(&body);
    store_close(st);
    return out.data;
}

static void show_difference(const char *a, const char *b)
{
    int line = 1;

    while (*a != '\0' && *a == *b) {
        line += *a == '\n';
        a++;
        b++;
    }
    fprintf(stderr, "first difference at line %d:\n sqlite:     %.300s\n postgresql: %.300s\n",
            line, a, b);
}

/* The one value of a query on c (text), or NULL. Caller frees. */
static char *pg_value(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *v = NULL;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = xstrdup(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/*
 * A schema-2 database, whose vectors PostgreSQL's parser made in a trigger,
 * upgraded by opening it: every vector is made again from store_words'
 * words, so a word the old parser kept whole (an address) is found by its
 * parts, with a snippet. Calls the store writes keep its vectors; a call
 * written as a daemon of schema 2 writes it (no vector of its own), as
 * during a rolling upgrade, is still indexed by the trigger.
 */
static void test_pg_upgrade_from_2(void)
{
    char *uri = pg_newdb(), *v;
    struct err err = {0};
    struct search_terms words = {0};
    struct call_query q;
    struct call_page page;
    struct store *st;
    PGconn *c;
    PGresult *r;

    CHECK_INT_EQ(store_postgres_make_schema(uri, 2, &err), 0);
    c = PQconnectdb(uri);
    CHECK(PQstatus(c) == CONNECTION_OK);
    r = PQexec(c, "INSERT INTO deliveries (received_ms, source, status, outcome, call_id,"
                  " body_size) VALUES (1780000000000, 'webhook', 200, 'stored', 'up-1', 2);"
                  "INSERT INTO calls (call_id, delivery_id, first_seen_ms, updated_ms, sort_ms,"
                  " summary) SELECT 'up-1', id, 1780000000000, 1780000000000, 1780000000000,"
                  " 'Send the quote to maria.h@example.com today.' FROM deliveries");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    v = pg_value(c, "SELECT search::text FROM call_search");
    CHECK(v != NULL && strstr(v, "'maria.h@example.com'") != NULL);
    free(v);

    st = store_open_or_die(uri);
    CHECK_INT_EQ(search_terms_parse("example", 32, &words, &err), 0);
    q_init(&q);
    q.words = &words;
    CHECK_INT_EQ(store_search_calls(st, &q, T0, &page, &err), 0);
    CHECK_INT_EQ(page.total, 1);
    CHECK_INT_EQ(cJSON_GetArraySize(page.calls), 1);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetArrayItem(page.calls, 0), "snippet")),
                 "Send the quote to maria.h@[example].com today.");
    cJSON_Delete(page.calls);

    /* One more address, through the store: its parts are words too. */
    CHECK_INT_EQ(put_body(st, "{\"callId\":\"up-2\",\"summary\":\"Mail ana.b@example.org\"}", T0),
                 DELIVERY_STORED);
    CHECK_INT_EQ(store_search_calls(st, &q, T0, &page, &err), 0);
    CHECK_INT_EQ(page.total, 2);
    cJSON_Delete(page.calls);
    search_terms_free(&words);

    /* A call as a schema-2 daemon writes it: the trigger gives it a vector. */
    r = PQexec(c, "INSERT INTO calls (call_id, delivery_id, first_seen_ms, updated_ms, sort_ms,"
                  " summary) SELECT 'up-3', min(id), 1780000000000, 1780000000000, 1780000000000,"
                  " 'An older daemon wrote this' FROM deliveries");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    CHECK_INT_EQ(search_terms_parse("older daemon", 32, &words, &err), 0);
    CHECK_INT_EQ(store_search_calls(st, &q, T0, &page, &err), 0);
    CHECK_INT_EQ(page.total, 1);
    cJSON_Delete(page.calls);
    search_terms_free(&words);
    store_close(st);
    v = pg_value(c, "SELECT value FROM meta WHERE key = 'schema_version'");
    CHECK(v != NULL && atoi(v) == store_postgres_backend.schema_version);
    free(v);
    PQfinish(c);
    free(uri);
}

int main(void)
{
    char *dir = tmpdir_make("backends"), *path = xasprintf("%s/calls.db", dir);
    char *uri = pg_newdb(), *lite, *pg;

    lite = scenario(path);
    pg = scenario(uri);
    if (strcmp(lite, pg) != 0)
        show_difference(lite, pg);
    CHECK(strcmp(lite, pg) == 0);
    free(lite);
    free(pg);
    free(uri);
    uri = pg_newdb();
    CHECK_INT_EQ(unlink(path), 0);
    lite = scenario_walks(path);
    pg = scenario_walks(uri);
    if (strcmp(lite, pg) != 0)
        show_difference(lite, pg);
    CHECK(strcmp(lite, pg) == 0);
    CHECK(strstr(lite, "total=1103 exact=1") != NULL); /* insurance: 1100 + 3 */
    free(lite);
    free(pg);
    free(uri);
    free(path);
    tmpdir_remove(dir);
    free(dir);
    test_pg_upgrade_from_2();
    return check_report();
}
