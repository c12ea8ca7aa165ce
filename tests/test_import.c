/*
 * test_import.c: import_file() over JSON Lines larger than one growth step
 * of its batch (64 records) and than one batch (batch_max), so that every
 * delivery's peer, digest and call are checked after the batch grew.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "import.h"
#include "store.h"
#include "xmalloc.h"

#define RECORDS 300

static long long q_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static char *q_text(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;

    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_text(s, 0) != NULL)
        v = xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

/* Record i (1-based line): a call, except two lines that are not JSON. */
static void record(struct buf *b, int i)
{
    if (i == 70 || i == 200)
        buf_printf(b, "{\"callId\": broken %d\n", i);
    else
        buf_printf(b, "{\"callId\":\"imp-%d\",\"summary\":\"record %d of the backfill\"}\n", i, i);
}

static void import_text(struct store *st, const struct buf *text, unsigned batch_max,
                        struct import_stats *stats)
{
    struct import_opts o = {
        .record_max = 1 << 20, .rejected_body_max = 1 << 20, .batch_max = batch_max};
    struct err err = {0};
    FILE *f = fmemopen(text->data, text->len, "r");

    memset(stats, 0, sizeof *stats);
    CHECK(f != NULL);
    CHECK_INT_EQ(import_file(st, f, "mem", &o, stats, &err), 0);
    fclose(f);
}

static void test_large_jsonl(void)
{
    char *dir = tmpdir_make("import"), *path = xasprintf("%s/calls.db", dir);
    struct store_options opt = {.busy_timeout_ms = 1000};
    struct import_stats stats;
    struct buf text = {0}, one = {0};
    struct err err = {0};
    char sha[AUTH_SHA256_HEX];
    struct store *st;
    sqlite3 *h;
    char *v;

    for (int i = 1; i <= RECORDS; i++)
        record(&text, i);
    st = store_open(path, &opt, &err);
    CHECK(st != NULL);
    if (st == NULL)
        goto out;
    import_text(st, &text, 256, &stats);
    CHECK_INT_EQ(stats.records, RECORDS);
    CHECK_INT_EQ(stats.stored, RECORDS - 2);
    CHECK_INT_EQ(stats.rejected, 2);
    /* Again, in small batches: every call is a duplicate. */
    import_text(st, &text, 7, &stats);
    CHECK_INT_EQ(stats.duplicate, RECORDS - 2);
    CHECK_INT_EQ(stats.rejected, 2);
    store_close(st);

    CHECK_INT_EQ(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_INT_EQ(q_int(h, "SELECT count(*) FROM calls"), RECORDS - 2);
    CHECK_INT_EQ(q_int(h, "SELECT count(*) FROM deliveries"), 2 * RECORDS);
    /* Each delivery names its own line, and each call comes from the line that sent it. */
    CHECK_INT_EQ(q_int(h, "SELECT count(DISTINCT peer) FROM deliveries"), RECORDS);
    CHECK_INT_EQ(q_int(h, "SELECT count(*) FROM calls c JOIN deliveries d ON d.id = c.delivery_id"
                          " WHERE d.peer = 'mem:' || substr(c.call_id, 5)"),
                 RECORDS - 2);
    CHECK_INT_EQ(q_int(h, "SELECT count(*) FROM calls"
                          " WHERE summary = 'record ' || substr(call_id, 5) || ' of the backfill'"),
                 RECORDS - 2);
    CHECK_INT_EQ(q_int(h, "SELECT count(*) FROM deliveries WHERE outcome = 'rejected'"
                          " AND peer IN ('mem:70', 'mem:200') AND status = 400"),
                 4);
    /* The digest kept is the digest of the line's own bytes. */
    record(&one, 150);
    auth_sha256_hex(one.data, one.len - 1, sha);
    v = q_text(h, "SELECT body_sha256 FROM deliveries WHERE peer = 'mem:150' AND outcome = "
                  "'stored'");
    CHECK_STR_EQ(v, sha);
    free(v);
    sqlite3_close(h);
out:
    buf_free(&text);
    buf_free(&one);
    tmpdir_remove(dir);
    free(dir);
    free(path);
}

int main(void)
{
    xmalloc_init_json();
    auth_init();
    RUN(test_large_jsonl);
    return check_report();
}
