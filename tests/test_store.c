/*
 * test_store.c: unit tests for store.c and callfmt.c against real SQLite
 * files in a temporary directory.
 *
 * Calls are built by hand from static strings and never passed to
 * payload_call_free(). A second, raw sqlite3 connection looks at what the
 * store wrote. To inspect per-connection settings (synchronous, defensive)
 * and to provoke a real SQLITE_FULL, an SQLite auto-extension records the
 * handle of every connection opened, so the test can reach the store's own
 * connection without widening store.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "callfmt.h"
#include "check.h"
#include "harness.h"
#include "store.h"
#include "xmalloc.h"

/* The connection opened most recently in this process (see capture_db). */
static sqlite3 *last_db;

static int capture_db(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api)
{
    (void)errmsg;
    (void)api;
    last_db = db;
    return SQLITE_OK;
}

/* A temporary directory and the database path in it. */
struct fx {
    char *dir;
    char *path;
};

static void fx_init(struct fx *f, const char *tag)
{
    f->dir = tmpdir_make(tag);
    f->path = xasprintf("%s/calls.db", f->dir);
}

static void fx_done(struct fx *f)
{
    tmpdir_remove(f->dir);
    free(f->dir);
    free(f->path);
}

static struct store *open_opts(const char *path, bool ro, unsigned busy_ms, uint64_t min_free)
{
    struct store_options o = {
        .read_only = ro, .busy_timeout_ms = busy_ms, .min_free_bytes = min_free};
    struct err err = {0};
    struct store *st = store_open(path, &o, &err);

    if (st == NULL)
        fprintf(stderr, "store_open %s: %s\n", path, err.msg);
    return st;
}

static struct store *open_rw(const char *path)
{
    return open_opts(path, false, 2000, 0);
}

/* An empty call with every optional field absent. */
static void call_init(struct call *c, char *call_id)
{
    memset(c, 0, sizeof *c);
    c->call_id = call_id;
    c->started_ms = PAYLOAD_TIME_UNKNOWN;
    c->ended_ms = PAYLOAD_TIME_UNKNOWN;
    c->duration_s = -1;
    c->follow_up = TRI_UNKNOWN;
    c->ai_success = TRI_UNKNOWN;
    c->call_transferred = TRI_UNKNOWN;
    c->workflow_triggered = TRI_UNKNOWN;
}

static struct delivery delivery_for(const struct call *c, const char *body, const char *sha,
                                    int64_t received_ms)
{
    struct delivery d;

    memset(&d, 0, sizeof d);
    d.received_ms = received_ms;
    d.source = "webhook";
    d.peer = "127.0.0.1:50000";
    d.body = body;
    d.body_len = body != NULL ? strlen(body) : 0;
    d.body_size = d.body_len;
    d.body_sha256 = sha;
    d.call = c;
    return d;
}

static struct delivery rejected_for(const char *body, int status, const char *reason,
                                    int64_t received_ms)
{
    struct delivery d = delivery_for(NULL, body, "sha-rejected", received_ms);

    d.status = status;
    d.reason = reason;
    return d;
}

static int put1(struct store *st, struct delivery *d, struct err *err)
{
    struct delivery *items[1] = {d};

    return store_put_deliveries(st, items, 1, err);
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        abort();
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* First column of the first row of sql with ?1 bound to param (if any); INT64_MIN on error. */
static int64_t raw_int_p(sqlite3 *db, const char *sql, const char *param)
{
    sqlite3_stmt *s = NULL;
    int64_t v = INT64_MIN;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
        return v;
    }
    if (param != NULL)
        sqlite3_bind_text(s, 1, param, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -999 : sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "step %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    return raw_int_p(db, sql, NULL);
}

/* First column of the first row as a new string; NULL for SQL NULL or no row. */
static char *raw_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
        return NULL;
    }
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        fprintf(stderr, "exec %s: %s\n", sql, sqlite3_errmsg(db));
    return rc;
}

/* Compare a text column from sql with want (NULL means SQL NULL). */
#define CHECK_SQL_TEXT(db, sql, want)                                                              \
    do {                                                                                           \
        char *got_ = raw_text((db), (sql));                                                        \
        CHECK_STR_EQ(got_, (want));                                                                \
        free(got_);                                                                                \
    } while (0)

#define FTS_COLS                                                                                   \
    "transcript, summary, purpose, topic, key_points, action_items, unanswered_questions, names"

static int64_t fts_hits(sqlite3 *db, const char *match)
{
    return raw_int_p(db, "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH ?1", match);
}

static int fts_integrity(sqlite3 *db)
{
    return sqlite3_exec(db, "INSERT INTO calls_fts (calls_fts) VALUES ('integrity-check')", NULL,
                        NULL, NULL);
}

/*
 * How far calls_fts has drifted from its content: the number of token
 * instances (term, row, column, offset) that differ between it and an index
 * built afresh from call_search. SQLite 3.40's integrity-check does not
 * compare an external-content index with its content, so this is the oracle
 * for keeping the index in sync. -1 on error.
 */
static int64_t fts_drift(sqlite3 *db)
{
    int64_t n;

    if (raw_exec(db, "CREATE VIRTUAL TABLE temp.fts_fresh USING fts5(" FTS_COLS ","
                     " tokenize='unicode61 remove_diacritics 2');"
                     "INSERT INTO temp.fts_fresh (rowid, " FTS_COLS ")"
                     " SELECT id, " FTS_COLS " FROM main.call_search;"
                     "CREATE VIRTUAL TABLE temp.vocab_kept USING fts5vocab(main, calls_fts,"
                     " instance);"
                     "CREATE VIRTUAL TABLE temp.vocab_fresh USING fts5vocab(temp, fts_fresh,"
                     " instance);") != SQLITE_OK)
        return -1;
    n = raw_int(db, "SELECT (SELECT count(*) FROM (SELECT * FROM temp.vocab_kept"
                    " EXCEPT SELECT * FROM temp.vocab_fresh))"
                    " + (SELECT count(*) FROM (SELECT * FROM temp.vocab_fresh"
                    " EXCEPT SELECT * FROM temp.vocab_kept))");
    raw_exec(db, "DROP TABLE temp.vocab_kept; DROP TABLE temp.vocab_fresh;"
                 " DROP TABLE temp.fts_fresh;");
    return n;
}

static void test_callfmt(void)
{
    char *kp[] = {"first", "say \"hi\"", NULL};
    struct strlist list = {kp, 2}, empty = {NULL, 0}, only_null = {kp + 2, 1};
    struct turn turns[] = {
        {TURN_AGENT, "assistant", "Hello,\nhow can I help?"},
        {TURN_CALLER, "user", "Caf\xc3\xa9 booking"},
        {TURN_OTHER, "system", "transfer"},
        {TURN_OTHER, NULL, NULL},
        {TURN_OTHER, NULL, "x"},
    };
    struct call c;
    char *s;

    s = callfmt_strlist_json(&list);
    CHECK_STR_EQ(s, "[\"first\",\"say \\\"hi\\\"\"]");
    free(s);
    CHECK(callfmt_strlist_json(&empty) == NULL);
    CHECK(callfmt_strlist_json(&only_null) == NULL);
    CHECK(callfmt_strlist_json(NULL) == NULL);

    call_init(&c, "c1");
    CHECK(callfmt_turns_json(&c) == NULL);
    CHECK(callfmt_transcript_plain(&c) == NULL);
    c.transcript_text = "raw transcript";
    s = callfmt_transcript_plain(&c);
    CHECK_STR_EQ(s, "raw transcript");
    free(s);

    c.turns = turns;
    c.nturns = sizeof turns / sizeof turns[0];
    s = callfmt_turns_json(&c);
    CHECK_STR_EQ(s, "[{\"role\":\"agent\",\"content\":\"Hello,\\nhow can I help?\"},"
                    "{\"role\":\"caller\",\"content\":\"Caf\xc3\xa9 booking\"},"
                    "{\"role\":\"system\",\"content\":\"transfer\"},"
                    "{\"role\":\"other\",\"content\":\"\"},"
                    "{\"role\":\"other\",\"content\":\"x\"}]");
    free(s);
    s = callfmt_transcript_plain(&c);
    CHECK_STR_EQ(s, "Hello,\nhow can I help?\nCaf\xc3\xa9 booking\ntransfer\nx");
    free(s);

    /* Turns that all lack content fall back to transcript_text. */
    c.turns = turns + 3;
    c.nturns = 1;
    s = callfmt_transcript_plain(&c);
    CHECK_STR_EQ(s, "raw transcript");
    free(s);
}

static void test_open_schema(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct store_options o = {0};
    sqlite3 *db;
    int64_t objects;

    fx_init(&f, "store-open");
    CHECK_INT_EQ(store_schema_version(), 1);
    st = open_rw(f.path);
    CHECK(st != NULL);
    CHECK(access(f.path, F_OK) == 0);
    CHECK_INT_EQ(store_check(st, &err), 0);
    store_close(st);

    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "PRAGMA user_version"), store_schema_version());
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                             " ('deliveries', 'calls', 'calls_fts', 'meta')"),
                 4);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"
                             " AND name = 'call_search'"),
                 1);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                             " AND name NOT LIKE 'sqlite_autoindex%'"),
                 12);
    objects = raw_int(db, "SELECT count(*) FROM sqlite_schema");
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

    /* Reopening changes nothing. */
    st = open_rw(f.path);
    CHECK(st != NULL);
    store_close(st);
    CHECK_INT_EQ(raw_int(db, "PRAGMA user_version"), store_schema_version());
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema"), objects);
    sqlite3_close(db);

    store_close(NULL);
    CHECK(store_open(NULL, &o, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    {
        char *bad = xasprintf("%s/no/such/dir/x.db", f.dir);
        CHECK(store_open(bad, &o, &err) == NULL);
        CHECK_INT_EQ(err.code, ERR_STORAGE);
        CHECK_STR_CONTAINS(err.msg, "cannot open database");
        free(bad);
    }
    fx_done(&f);
}

static void test_pragmas(void)
{
    struct fx f;
    struct store *st, *ro;
    sqlite3 *sdb, *rdb, *db;
    int defensive = -1;
    char *mode;

    fx_init(&f, "store-pragmas");
    st = open_rw(f.path);
    sdb = last_db;
    CHECK(st != NULL);
    CHECK_INT_EQ(raw_int(sdb, "PRAGMA synchronous"), 2);
    CHECK_INT_EQ(raw_int(sdb, "PRAGMA foreign_keys"), 1);
    CHECK_INT_EQ(raw_int(sdb, "PRAGMA journal_size_limit"), 64 * 1024 * 1024);
    CHECK_INT_EQ(raw_int(sdb, "PRAGMA busy_timeout"), 2000);
    sqlite3_db_config(sdb, SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive);
    CHECK_INT_EQ(defensive, 1);
    mode = raw_text(sdb, "PRAGMA journal_mode");
    CHECK_STR_EQ(mode, "wal");
    free(mode);

    ro = open_opts(f.path, true, 300, 0);
    rdb = last_db;
    CHECK(ro != NULL);
    CHECK_INT_EQ(raw_int(rdb, "PRAGMA synchronous"), 2);
    CHECK_INT_EQ(raw_int(rdb, "PRAGMA busy_timeout"), 300);
    CHECK(sqlite3_db_readonly(rdb, "main") == 1);

    /* WAL is a property of the file: a fresh connection sees it too. */
    db = raw_open(f.path);
    mode = raw_text(db, "PRAGMA journal_mode");
    CHECK_STR_EQ(mode, "wal");
    free(mode);
    sqlite3_close(db);
    store_close(ro);
    store_close(st);
    fx_done(&f);
}

static void test_outcomes(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct store_counts n;
    struct call c1, c1b;
    struct delivery d1, d2, d3, d4, d5;
    sqlite3 *db;
    char *body = NULL;
    size_t len = 0;

    fx_init(&f, "store-outcomes");
    st = open_rw(f.path);
    db = raw_open(f.path);

    call_init(&c1, "call-1");
    c1.summary = "first version";
    d1 = delivery_for(&c1, "{\"callId\":\"call-1\",\"v\":1}", "sha-1", 1000);
    d1.webhook_id = "msg_1";
    CHECK_INT_EQ(put1(st, &d1, &err), 0);
    CHECK_INT_EQ(d1.outcome, DELIVERY_STORED);
    CHECK(d1.delivery_id > 0);
    CHECK_SQL_TEXT(db,
                   "SELECT outcome || ' ' || status || ' ' || call_id || ' ' || webhook_id"
                   " || ' ' || body_sha256 || ' ' || body_size || ' ' || source || ' ' || peer"
                   " FROM deliveries WHERE id = 1",
                   "stored 200 call-1 msg_1 sha-1 25 webhook 127.0.0.1:50000");
    CHECK_INT_EQ(raw_int(db, "SELECT delivery_id FROM calls WHERE call_id = 'call-1'"),
                 d1.delivery_id);
    CHECK_INT_EQ(raw_int(db, "SELECT first_seen_ms FROM calls"), 1000);
    CHECK_INT_EQ(raw_int(db, "SELECT updated_ms FROM calls"), 1000);
    CHECK_INT_EQ(raw_int(db, "SELECT sort_ms FROM calls"), 1000);

    /* The same bytes again: a duplicate row without a body; the call is untouched. */
    d2 = delivery_for(&c1, "{\"callId\":\"call-1\",\"v\":1}", "sha-1", 2000);
    CHECK_INT_EQ(put1(st, &d2, &err), 0);
    CHECK_INT_EQ(d2.outcome, DELIVERY_DUPLICATE);
    CHECK(d2.delivery_id > d1.delivery_id);
    CHECK_SQL_TEXT(db,
                   "SELECT outcome || ' ' || status || ' ' || call_id || ' ' || body_size"
                   " || ' ' || (body IS NULL) FROM deliveries WHERE id = 2",
                   "duplicate 200 call-1 25 1");
    CHECK_INT_EQ(raw_int(db, "SELECT delivery_id FROM calls"), d1.delivery_id);
    CHECK_INT_EQ(raw_int(db, "SELECT updated_ms FROM calls"), 1000);
    CHECK_INT_EQ(store_delivery_body(st, d2.delivery_id, &body, &len, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK(body == NULL);

    /* Different content for the same call id: updated, with the body kept. */
    call_init(&c1b, "call-1");
    c1b.summary = "second version";
    d3 = delivery_for(&c1b, "{\"callId\":\"call-1\",\"v\":2}", "sha-2", 3000);
    d3.status = 202;
    CHECK_INT_EQ(put1(st, &d3, &err), 0);
    CHECK_INT_EQ(d3.outcome, DELIVERY_UPDATED);
    CHECK_SQL_TEXT(db,
                   "SELECT outcome || ' ' || status || ' ' || length(body)"
                   " FROM deliveries WHERE id = 3",
                   "updated 202 25");
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls"), 1);
    CHECK_INT_EQ(raw_int(db, "SELECT delivery_id FROM calls"), d3.delivery_id);
    CHECK_INT_EQ(raw_int(db, "SELECT first_seen_ms FROM calls"), 1000);
    CHECK_INT_EQ(raw_int(db, "SELECT updated_ms FROM calls"), 3000);
    CHECK_INT_EQ(raw_int(db, "SELECT sort_ms FROM calls"), 1000);
    CHECK_SQL_TEXT(db, "SELECT summary FROM calls", "second version");

    /* Back to the first content: the digest differs from the current one, so update. */
    d4 = delivery_for(&c1, "{\"callId\":\"call-1\",\"v\":1}", "sha-1", 4000);
    CHECK_INT_EQ(put1(st, &d4, &err), 0);
    CHECK_INT_EQ(d4.outcome, DELIVERY_UPDATED);
    CHECK_SQL_TEXT(db, "SELECT summary FROM calls", "first version");

    /* Rejected: kept with its status, reason and (already truncated) body. */
    d5 = rejected_for("not json", 400, "malformed JSON at byte 0", 5000);
    CHECK_INT_EQ(put1(st, &d5, &err), 0);
    CHECK_INT_EQ(d5.outcome, DELIVERY_REJECTED);
    CHECK_SQL_TEXT(db,
                   "SELECT outcome || ' ' || status || ' ' || reason || ' ' ||"
                   " coalesce(call_id, '-') || ' ' || body FROM deliveries WHERE id = 5",
                   "rejected 400 malformed JSON at byte 0 - not json");

    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 1);
    CHECK_INT_EQ(n.deliveries, 5);
    CHECK_INT_EQ(n.rejected, 1);
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0);
    CHECK_SQL_TEXT(db, "PRAGMA integrity_check", "ok");

    CHECK_STR_EQ(delivery_outcome_name(DELIVERY_STORED), "stored");
    CHECK_STR_EQ(delivery_outcome_name(DELIVERY_UPDATED), "updated");
    CHECK_STR_EQ(delivery_outcome_name(DELIVERY_DUPLICATE), "duplicate");
    CHECK_STR_EQ(delivery_outcome_name(DELIVERY_REJECTED), "rejected");
    CHECK_STR_EQ(delivery_outcome_name((enum delivery_outcome)42), "unknown");

    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_columns(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    char *kp[] = {"wants a refund"}, *ai[] = {"call back", "send invoice"}, *uq[] = {"fee?"};
    struct turn turns[] = {{TURN_AGENT, "assistant", "Hello"}, {TURN_CALLER, "user", "Hi"}};
    struct call full, bare, ended_only;
    struct delivery d1, d2, d3;
    struct delivery *items[3] = {&d1, &d2, &d3};
    sqlite3 *db;

    fx_init(&f, "store-columns");
    st = open_rw(f.path);
    db = raw_open(f.path);

    call_init(&full, "full");
    full.agent_id = "ag_1";
    full.agent_name = "Ava";
    full.caller_name = "Maria";
    full.direction = "inbound";
    full.started_at = "2026-05-24T18:00:00Z";
    full.started_ms = 1779645600000;
    full.ended_at = "2026-05-24T18:02:14Z";
    full.ended_ms = 1779645734000;
    full.duration_s = 134.5;
    full.business_phone = "+1 (415) 555-0000";
    full.business_digits = "14155550000";
    full.customer_phone = "415-555-7777";
    full.customer_digits = "14155557777";
    full.mentioned_email = "maria@example.com";
    full.mentioned_date = "2026-05-30";
    full.mentioned_time = "3pm";
    full.turns = turns;
    full.nturns = 2;
    full.summary = "short";
    full.long_summary = "long";
    full.purpose = "refund";
    full.topic = "billing";
    full.sentiment = "negative";
    full.key_points = (struct strlist){kp, 1};
    full.action_items = (struct strlist){ai, 2};
    full.unanswered_questions = (struct strlist){uq, 1};
    full.follow_up = TRI_TRUE;
    full.follow_up_reason = "promised a call";
    full.ai_success = TRI_FALSE;
    full.call_transferred = TRI_TRUE;
    full.workflow_triggered = TRI_FALSE;
    full.recording_url = "https://rec.example/1";
    full.dashboard_url = "https://dash.example/1";
    full.ended_reason = "customer-ended-call";
    full.call_outcome = "resolved";

    call_init(&bare, "bare");
    call_init(&ended_only, "ended-only");
    ended_only.ended_ms = 5555;

    d1 = delivery_for(&full, "{}", "s1", 100);
    d2 = delivery_for(&bare, "{}", "s2", 200);
    d3 = delivery_for(&ended_only, "{}", "s3", 300);
    CHECK_INT_EQ(store_put_deliveries(st, items, 3, &err), 0);

    CHECK_SQL_TEXT(
        db,
        "SELECT agent_id || '|' || agent_name || '|' || caller_name || '|' || direction || '|' ||"
        " started_at || '|' || started_ms || '|' || ended_at || '|' || ended_ms || '|' ||"
        " sort_ms || '|' || duration_s || '|' || business_phone || '|' || business_digits ||"
        " '|' || customer_phone || '|' || customer_digits || '|' || mentioned_email || '|' ||"
        " mentioned_date || '|' || mentioned_time FROM calls WHERE call_id = 'full'",
        "ag_1|Ava|Maria|inbound|2026-05-24T18:00:00Z|1779645600000|2026-05-24T18:02:14Z|"
        "1779645734000|1779645600000|134.5|+1 (415) 555-0000|14155550000|415-555-7777|"
        "14155557777|maria@example.com|2026-05-30|3pm");
    CHECK_SQL_TEXT(db, "SELECT transcript FROM calls WHERE call_id = 'full'", "Hello\nHi");
    CHECK_SQL_TEXT(
        db, "SELECT turns FROM calls WHERE call_id = 'full'",
        "[{\"role\":\"agent\",\"content\":\"Hello\"},{\"role\":\"caller\",\"content\":\"Hi\"}]");
    CHECK_SQL_TEXT(
        db,
        "SELECT summary || '|' || long_summary || '|' || purpose || '|' || topic || '|' ||"
        " sentiment || '|' || key_points || '|' || action_items || '|' || unanswered_questions"
        " FROM calls WHERE call_id = 'full'",
        "short|long|refund|billing|negative|[\"wants a refund\"]|[\"call back\",\"send "
        "invoice\"]|[\"fee?\"]");
    CHECK_SQL_TEXT(
        db,
        "SELECT follow_up || '|' || follow_up_reason || '|' || ai_success || '|' ||"
        " call_transferred || '|' || workflow_triggered || '|' || recording_url || '|' ||"
        " dashboard_url || '|' || ended_reason || '|' || call_outcome || '|' || follow_up_status"
        " FROM calls WHERE call_id = 'full'",
        "1|promised a call|0|1|0|https://rec.example/1|https://dash.example/1|"
        "customer-ended-call|resolved|pending");

    /* Absent values are NULL; sort_ms falls back to ended_ms, then the arrival time. */
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE call_id = 'bare' AND"
                             " coalesce(started_ms, ended_ms, duration_s, direction, transcript,"
                             " turns, key_points, action_items, unanswered_questions, follow_up,"
                             " ai_success, call_transferred, workflow_triggered) IS NULL"
                             " AND follow_up_status = 'none'"),
                 1);
    CHECK_INT_EQ(raw_int(db, "SELECT sort_ms FROM calls WHERE call_id = 'bare'"), 200);
    CHECK_INT_EQ(raw_int(db, "SELECT sort_ms FROM calls WHERE call_id = 'ended-only'"), 5555);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE follow_up_status = 'pending'"), 1);

    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_follow_up(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call a, a2, b, b2;
    struct delivery d;
    sqlite3 *db;

    fx_init(&f, "store-followup");
    st = open_rw(f.path);
    db = raw_open(f.path);

    call_init(&a, "a");
    a.follow_up = TRI_TRUE;
    a.follow_up_reason = "call back";
    d = delivery_for(&a, "a1", "a1", 10);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_SQL_TEXT(db, "SELECT follow_up_status FROM calls WHERE call_id = 'a'", "pending");

    /* An operator resolves it (resolve_follow_up will do this through the store). */
    CHECK_INT_EQ(raw_exec(db, "UPDATE calls SET follow_up_status = 'resolved',"
                              " resolved_ms = 99, resolved_by = 'ann', resolution_note = 'done'"
                              " WHERE call_id = 'a'"),
                 SQLITE_OK);

    /* A re-delivery with new content does not reopen it or lose the resolution. */
    call_init(&a2, "a");
    a2.follow_up = TRI_TRUE;
    a2.follow_up_reason = "call back soon";
    d = delivery_for(&a2, "a2", "a2", 20);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, DELIVERY_UPDATED);
    CHECK_SQL_TEXT(db,
                   "SELECT follow_up_status || '|' || resolved_ms || '|' || resolved_by || '|' ||"
                   " resolution_note || '|' || follow_up_reason FROM calls WHERE call_id = 'a'",
                   "resolved|99|ann|done|call back soon");

    /* Not flagged, then flagged by an update: none, then pending. */
    call_init(&b, "b");
    b.follow_up = TRI_FALSE;
    d = delivery_for(&b, "b1", "b1", 30);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_SQL_TEXT(db, "SELECT follow_up_status FROM calls WHERE call_id = 'b'", "none");
    call_init(&b2, "b");
    b2.follow_up = TRI_TRUE;
    d = delivery_for(&b2, "b2", "b2", 40);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_SQL_TEXT(db, "SELECT follow_up_status FROM calls WHERE call_id = 'b'", "pending");
    /* ... and unflagged again: back to none. */
    d = delivery_for(&b, "b1", "b1", 50);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_SQL_TEXT(db, "SELECT follow_up_status FROM calls WHERE call_id = 'b'", "none");

    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_fts(void)
{
    static const char *const words[] = {
        "zebra",       /* transcript */
        "quokka",      /* summary */
        "narwhal",     /* long_summary, indexed under summary */
        "pelican",     /* purpose */
        "walrus",      /* topic */
        "axolotl",     /* key_points */
        "ocelot",      /* action_items */
        "tapir",       /* unanswered_questions */
        "bartholomew", /* caller_name, under names */
        "genevieve",   /* agent_name, under names */
        "cafe",        /* diacritics removed from "Café" */
    };
    struct fx f;
    struct store *st;
    struct err err = {0};
    char *kp[] = {"the axolotl question"}, *ai[] = {"ring the ocelot"}, *uq[] = {"tapir?"};
    struct turn turns[] = {{TURN_CALLER, "user", "I saw a zebra at the Caf\xc3\xa9"}};
    struct call c, c2, t;
    struct delivery d;
    sqlite3 *db;
    size_t i;

    fx_init(&f, "store-fts");
    st = open_rw(f.path);
    db = raw_open(f.path);

    call_init(&c, "fts-1");
    c.turns = turns;
    c.nturns = 1;
    c.summary = "A quokka called";
    c.long_summary = "About a narwhal";
    c.purpose = "pelican";
    c.topic = "walrus";
    c.key_points = (struct strlist){kp, 1};
    c.action_items = (struct strlist){ai, 1};
    c.unanswered_questions = (struct strlist){uq, 1};
    c.caller_name = "Bartholomew";
    c.agent_name = "Genevieve";
    d = delivery_for(&c, "{}", "f1", 1);
    CHECK_INT_EQ(put1(st, &d, &err), 0);

    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        int64_t hits = fts_hits(db, words[i]);
        if (hits != 1)
            fprintf(stderr, "word %s\n", words[i]);
        CHECK_INT_EQ(hits, 1);
    }
    CHECK_INT_EQ(fts_hits(db, "summary:narwhal"), 1);
    CHECK_INT_EQ(fts_hits(db, "names:genevieve"), 1);
    CHECK_INT_EQ(fts_hits(db, "topic:zebra"), 0);
    CHECK_INT_EQ(fts_hits(db, "transcript:caller"), 0); /* speaker labels are not indexed */
    CHECK_INT_EQ(raw_int(db, "SELECT rowid FROM calls_fts WHERE calls_fts MATCH 'zebra'"),
                 raw_int(db, "SELECT id FROM calls WHERE call_id = 'fts-1'"));

    /* After an update, old words are gone and new ones are found. */
    call_init(&c2, "fts-1");
    c2.transcript_text = "a yak wandered in";
    c2.summary = "A quokka called back";
    d = delivery_for(&c2, "{ }", "f2", 2);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, DELIVERY_UPDATED);
    CHECK_INT_EQ(fts_hits(db, "zebra"), 0);
    CHECK_INT_EQ(fts_hits(db, "walrus"), 0);
    CHECK_INT_EQ(fts_hits(db, "genevieve"), 0);
    CHECK_INT_EQ(fts_hits(db, "yak"), 1);
    CHECK_INT_EQ(fts_hits(db, "quokka"), 1);
    CHECK_INT_EQ(fts_hits(db, "\"called back\""), 1);
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0);

    /* A second call is indexed separately. */
    call_init(&t, "fts-2");
    t.transcript_text = "another yak";
    d = delivery_for(&t, "{}", "f3", 3);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(fts_hits(db, "yak"), 2);
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0);

    /* The drift oracle notices a call changed behind the index's back. */
    CHECK_INT_EQ(raw_exec(db, "UPDATE calls SET topic = 'unindexed' WHERE call_id = 'fts-2'"),
                 SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 1);

    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_batch(void)
{
    enum { N = 100 };
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call calls[N];
    struct delivery ds[N];
    struct delivery *items[N];
    char ids[N][16], shas[N][16];
    struct store_counts n;
    sqlite3 *db;
    size_t i;

    fx_init(&f, "store-batch");
    st = open_rw(f.path);
    /* 80 new calls, 10 repeats of earlier ones in the same batch, 10 rejected. */
    for (i = 0; i < N; i++) {
        size_t k = i < 80 ? i : i - 80;

        snprintf(ids[i], sizeof ids[i], "batch-%zu", k);
        snprintf(shas[i], sizeof shas[i], "sha-%zu", k);
        call_init(&calls[i], ids[i]);
        calls[i].transcript_text = "batch words";
        if (i < 90)
            ds[i] = delivery_for(&calls[i], "{}", shas[i], (int64_t)i);
        else
            ds[i] = rejected_for("junk", 422, "no call id", (int64_t)i);
        items[i] = &ds[i];
    }
    CHECK_INT_EQ(store_put_deliveries(st, items, N, &err), 0);
    for (i = 0; i < N; i++) {
        enum delivery_outcome want = i < 80   ? DELIVERY_STORED
                                     : i < 90 ? DELIVERY_DUPLICATE
                                              : DELIVERY_REJECTED;
        CHECK_INT_EQ(ds[i].outcome, want);
        CHECK_INT_EQ(ds[i].delivery_id, (int64_t)i + 1);
    }
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 80);
    CHECK_INT_EQ(n.deliveries, 100);
    CHECK_INT_EQ(n.rejected, 10);
    db = raw_open(f.path);
    CHECK_INT_EQ(fts_hits(db, "batch"), 80);
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_read_only(void)
{
    struct fx f;
    struct store *rw, *ro;
    struct err err = {0};
    struct store_counts n;
    struct call c, c2;
    struct delivery d, d2;
    sqlite3 *db;
    char *missing;

    fx_init(&f, "store-ro");
    missing = xasprintf("%s/missing.db", f.dir);
    {
        struct store_options o = {.read_only = true};
        CHECK(store_open(missing, &o, &err) == NULL);
        CHECK_INT_EQ(err.code, ERR_STORAGE);
        CHECK_STR_CONTAINS(err.msg, "read-only");
    }
    CHECK(access(missing, F_OK) != 0); /* read-only never creates */

    rw = open_rw(f.path);
    call_init(&c, "ro-1");
    d = delivery_for(&c, "{}", "r1", 1);
    CHECK_INT_EQ(put1(rw, &d, &err), 0);

    ro = open_opts(f.path, true, 1000, 0);
    CHECK(ro != NULL);
    CHECK_INT_EQ(store_check(ro, &err), 0);
    CHECK_INT_EQ(store_counts(ro, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 1);

    /* Later writes are visible to the reader's next query. */
    call_init(&c2, "ro-2");
    d2 = delivery_for(&c2, "{}", "r2", 2);
    CHECK_INT_EQ(put1(rw, &d2, &err), 0);
    CHECK_INT_EQ(store_counts(ro, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 2);
    CHECK_INT_EQ(n.deliveries, 2);

    /* The reader cannot write. */
    d = delivery_for(&c, "{}", "r3", 3);
    CHECK_INT_EQ(put1(ro, &d, &err), -1);
    CHECK_INT_EQ(err.code, ERR_STORAGE);
    CHECK_INT_EQ(d.delivery_id, 0);
    CHECK_INT_EQ(store_counts(rw, &n, &err), 0);
    CHECK_INT_EQ(n.deliveries, 2);
    store_close(ro);
    store_close(rw);

    /* A reader alone, after the writer closed and removed its WAL. */
    CHECK(access(f.path, F_OK) == 0);
    ro = open_opts(f.path, true, 1000, 0);
    CHECK(ro != NULL);
    CHECK_INT_EQ(store_counts(ro, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 2);
    store_close(ro);

    /* A file the daemon never initialised. */
    {
        char *blank = xasprintf("%s/blank.db", f.dir);
        sqlite3 *bdb = NULL;

        CHECK_INT_EQ(sqlite3_open(blank, &bdb), SQLITE_OK);
        CHECK_INT_EQ(raw_exec(bdb, "CREATE TABLE other (x)"), SQLITE_OK);
        sqlite3_close(bdb);
        {
            struct store_options o = {.read_only = true};
            CHECK(store_open(blank, &o, &err) == NULL);
            CHECK_STR_CONTAINS(err.msg, "not initialised");
        }
        free(blank);
    }

    /* A schema from a newer build: refused read-only and read-write. */
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_exec(db, "PRAGMA user_version = 99"), SQLITE_OK);
    sqlite3_close(db);
    {
        struct store_options o = {.read_only = true};
        CHECK(store_open(f.path, &o, &err) == NULL);
        CHECK_STR_CONTAINS(err.msg, "newer than this build");
        o.read_only = false;
        CHECK(store_open(f.path, &o, &err) == NULL);
        CHECK_STR_CONTAINS(err.msg, "newer than this build");
    }
    free(missing);
    fx_done(&f);
}

static void test_full_statvfs(void)
{
    struct fx f;
    struct store *st, *ok;
    struct err err = {0};
    struct store_counts n;
    struct call c;
    struct delivery d;

    fx_init(&f, "store-full");
    st = open_opts(f.path, false, 1000, UINT64_MAX / 2);
    CHECK(st != NULL);
    call_init(&c, "full-1");
    d = delivery_for(&c, "{}", "x", 1);
    CHECK_INT_EQ(put1(st, &d, &err), -1);
    CHECK_INT_EQ(err.code, ERR_FULL);
    CHECK_STR_CONTAINS(err.msg, "bytes free on the database volume");
    CHECK_INT_EQ(d.delivery_id, 0);
    /* Reads still work, and nothing was written. */
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.deliveries, 0);
    store_close(st);

    /* A modest threshold passes on any test machine. */
    ok = open_opts(f.path, false, 1000, 4096);
    CHECK_INT_EQ(put1(ok, &d, &err), 0);
    store_close(ok);
    fx_done(&f);
}

static void test_full_sqlite(void)
{
    static char big[256 * 1024];
    struct fx f;
    struct store *st;
    sqlite3 *sdb;
    struct err err = {0};
    struct store_counts n;
    struct call c1, c2, c3;
    struct delivery d1, d2, d3;
    struct delivery *items[2] = {&d1, &d2};
    int64_t pages;
    char limit_sql[64];

    memset(big, 'x', sizeof big - 1);
    fx_init(&f, "store-fullsql");
    st = open_rw(f.path);
    sdb = last_db;

    /* Cap the store's own connection a few pages above the current size: a real
     * SQLITE_FULL, as a full disk would give. */
    pages = raw_int(sdb, "PRAGMA page_count");
    snprintf(limit_sql, sizeof limit_sql, "PRAGMA max_page_count = %lld", (long long)pages + 8);
    CHECK_INT_EQ(raw_exec(sdb, limit_sql), SQLITE_OK);

    call_init(&c1, "small");
    call_init(&c2, "big");
    d1 = delivery_for(&c1, "{}", "s", 1);
    d2 = delivery_for(&c2, big, "b", 2);
    CHECK_INT_EQ(store_put_deliveries(st, items, 2, &err), -1);
    CHECK_INT_EQ(err.code, ERR_FULL);
    CHECK_STR_CONTAINS(err.msg, "full");
    CHECK_INT_EQ(d1.delivery_id, 0); /* the first item was rolled back with the rest */
    CHECK_INT_EQ(d2.delivery_id, 0);
    CHECK(sqlite3_get_autocommit(sdb));
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.deliveries, 0);

    /* Small writes still fit; then space "returns" and the big one goes through
     * on the same connection. */
    call_init(&c3, "small-2");
    d3 = delivery_for(&c3, "{}", "s3", 3);
    CHECK_INT_EQ(put1(st, &d3, &err), 0);
    CHECK_INT_EQ(raw_exec(sdb, "PRAGMA max_page_count = 1073741823"), SQLITE_OK);
    CHECK_INT_EQ(store_put_deliveries(st, items, 2, &err), 0);
    CHECK_INT_EQ(d1.outcome, DELIVERY_STORED);
    CHECK_INT_EQ(d2.outcome, DELIVERY_STORED);
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 3);
    {
        sqlite3 *db = raw_open(f.path);
        CHECK_SQL_TEXT(db, "PRAGMA integrity_check", "ok");
        CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
        CHECK_INT_EQ(fts_drift(db), 0);
        sqlite3_close(db);
    }
    store_close(st);
    fx_done(&f);
}

/* A failure after earlier items were written rolls all of them back, and the
 * connection takes the next batch. */
static void test_rollback_mid_batch(void)
{
    static char big[4096];
    struct fx f;
    struct store *st;
    sqlite3 *sdb;
    struct err err = {0};
    struct store_counts n;
    struct call c1, c2;
    struct delivery d1, d2;
    struct delivery *items[2] = {&d1, &d2};

    memset(big, 'y', sizeof big - 1);
    fx_init(&f, "store-midbatch");
    st = open_rw(f.path);
    sdb = last_db;
    /* The store's connection refuses values over 2000 bytes: the second body fails to bind. */
    sqlite3_limit(sdb, SQLITE_LIMIT_LENGTH, 2000);
    call_init(&c1, "first");
    call_init(&c2, "second");
    d1 = delivery_for(&c1, "{}", "1", 1);
    d2 = delivery_for(&c2, big, "2", 2);
    CHECK_INT_EQ(store_put_deliveries(st, items, 2, &err), -1);
    CHECK_INT_EQ(err.code, ERR_STORAGE);
    CHECK_INT_EQ(d1.delivery_id, 0);
    CHECK(sqlite3_get_autocommit(sdb));
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.deliveries, 0);

    sqlite3_limit(sdb, SQLITE_LIMIT_LENGTH, 1000000000);
    CHECK_INT_EQ(store_put_deliveries(st, items, 2, &err), 0);
    CHECK_INT_EQ(d1.delivery_id, 1);
    CHECK_INT_EQ(d2.delivery_id, 2);
    store_close(st);
    fx_done(&f);
}

static void test_busy(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct store_counts n;
    struct call c;
    struct delivery d;
    sqlite3 *db;

    fx_init(&f, "store-busy");
    st = open_opts(f.path, false, 100, 0);
    db = raw_open(f.path);
    sqlite3_busy_timeout(db, 0);
    CHECK_INT_EQ(raw_exec(db, "BEGIN IMMEDIATE"), SQLITE_OK);

    call_init(&c, "busy-1");
    d = delivery_for(&c, "{}", "b", 1);
    CHECK_INT_EQ(put1(st, &d, &err), -1);
    CHECK_INT_EQ(err.code, ERR_BUSY);
    CHECK_STR_CONTAINS(err.msg, "locked");
    CHECK_INT_EQ(d.delivery_id, 0);

    CHECK_INT_EQ(raw_exec(db, "COMMIT"), SQLITE_OK);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, DELIVERY_STORED);
    CHECK_INT_EQ(store_counts(st, &n, &err), 0);
    CHECK_INT_EQ(n.calls, 1);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

/* Collects listed rows as "id:outcome" words. */
struct listing {
    char text[512];
    int rows;
    int stop_after;
    uint64_t kept_first;
    int status_first;
};

static int collect(const struct delivery_row *row, void *arg)
{
    struct listing *l = arg;
    size_t len = strlen(l->text);

    if (l->rows == 0) {
        l->kept_first = row->body_kept;
        l->status_first = row->status;
    }
    snprintf(l->text + len, sizeof l->text - len, "%s%lld:%s", len ? " " : "", (long long)row->id,
             row->outcome);
    l->rows++;
    return l->stop_after != 0 && l->rows >= l->stop_after;
}

static void test_list(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call a, b;
    struct delivery d1, d2, d3, d4, d5;
    struct delivery *items[5] = {&d1, &d2, &d3, &d4, &d5};
    struct listing l;

    fx_init(&f, "store-list");
    st = open_rw(f.path);
    call_init(&a, "list-a");
    call_init(&b, "list-b");
    /* Received times out of id order: listing goes by time, newest first. */
    d1 = delivery_for(&a, "aaaa", "a", 500);
    d2 = rejected_for("r2", 400, "bad", 100);
    d3 = delivery_for(&b, "bb", "b", 300);
    d4 = delivery_for(&a, "aaaa", "a", 400);
    d5 = rejected_for("r5-longer", 413, "too large", 200);
    CHECK_INT_EQ(store_put_deliveries(st, items, 5, &err), 0);

    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 100, collect, &l, &err), 0);
    CHECK_STR_EQ(l.text, "1:stored 4:duplicate 3:stored 5:rejected 2:rejected");
    CHECK_INT_EQ(l.kept_first, 4);

    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, "rejected", 100, collect, &l, &err), 0);
    CHECK_STR_EQ(l.text, "5:rejected 2:rejected");
    CHECK_INT_EQ(l.kept_first, 9);
    CHECK_INT_EQ(l.status_first, 413);

    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, "duplicate", 100, collect, &l, &err), 0);
    CHECK_STR_EQ(l.text, "4:duplicate");
    CHECK_INT_EQ(l.kept_first, 0);

    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 2, collect, &l, &err), 0);
    CHECK_STR_EQ(l.text, "1:stored 4:duplicate");

    memset(&l, 0, sizeof l);
    l.stop_after = 3;
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 100, collect, &l, &err), 0);
    CHECK_INT_EQ(l.rows, 3);

    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, "updated", 100, collect, &l, &err), 0);
    CHECK_INT_EQ(l.rows, 0);

    CHECK_INT_EQ(store_list_deliveries(st, "bogus", 100, collect, &l, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);

    /* Listing again after an early stop still works (the statement was reset). */
    memset(&l, 0, sizeof l);
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 100, collect, &l, &err), 0);
    CHECK_INT_EQ(l.rows, 5);
    store_close(st);
    fx_done(&f);
}

static void test_bodies(void)
{
    static const char bin1[] = {'{', '\0', '\xff', '\x01', '}', '\0', 'z'};
    static const char bin2[] = {'\0', '\0', '\x80'};
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call c1, c2;
    struct delivery d1, d2, d3, empty;
    struct call ce;
    char *body = NULL;
    size_t len = 0;

    fx_init(&f, "store-bodies");
    st = open_rw(f.path);
    call_init(&c1, "raw-1");
    d1 = delivery_for(&c1, NULL, "h1", 1);
    d1.body = bin1;
    d1.body_len = d1.body_size = sizeof bin1;
    CHECK_INT_EQ(put1(st, &d1, &err), 0);

    CHECK_INT_EQ(store_delivery_body(st, d1.delivery_id, &body, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof bin1);
    CHECK(body != NULL && memcmp(body, bin1, sizeof bin1) == 0 && body[len] == '\0');
    free(body);
    CHECK_INT_EQ(store_call_raw(st, "raw-1", &body, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof bin1);
    CHECK(body != NULL && memcmp(body, bin1, sizeof bin1) == 0);
    free(body);

    /* A duplicate keeps no body; the call's raw body is still the first. */
    d2 = delivery_for(&c1, NULL, "h1", 2);
    d2.body = bin1;
    d2.body_len = d2.body_size = sizeof bin1;
    CHECK_INT_EQ(put1(st, &d2, &err), 0);
    CHECK_INT_EQ(d2.outcome, DELIVERY_DUPLICATE);
    CHECK_INT_EQ(store_delivery_body(st, d2.delivery_id, &body, &len, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "no body kept");

    /* An update moves the call to the new body; the old one stays with its delivery. */
    call_init(&c2, "raw-1");
    c2.summary = "changed";
    d3 = delivery_for(&c2, NULL, "h2", 3);
    d3.body = bin2;
    d3.body_len = d3.body_size = sizeof bin2;
    CHECK_INT_EQ(put1(st, &d3, &err), 0);
    CHECK_INT_EQ(store_call_raw(st, "raw-1", &body, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof bin2);
    CHECK(body != NULL && memcmp(body, bin2, sizeof bin2) == 0);
    free(body);
    CHECK_INT_EQ(store_delivery_body(st, d1.delivery_id, &body, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof bin1);
    free(body);

    /* An empty body is kept as empty, not as missing. */
    call_init(&ce, "raw-empty");
    empty = delivery_for(&ce, "", "e", 4);
    CHECK_INT_EQ(put1(st, &empty, &err), 0);
    CHECK_INT_EQ(store_delivery_body(st, empty.delivery_id, &body, &len, &err), 0);
    CHECK_INT_EQ(len, 0);
    CHECK(body != NULL && body[0] == '\0');
    free(body);

    body = (char *)"sentinel";
    CHECK_INT_EQ(store_call_raw(st, "no-such-call", &body, &len, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK(body == NULL);
    CHECK(strstr(err.msg, "no-such-call") == NULL); /* never echo input */
    CHECK_INT_EQ(store_delivery_body(st, 12345, &body, &len, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    store_close(st);
    fx_done(&f);
}

static void test_check(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    char *moved;

    fx_init(&f, "store-check");
    st = open_rw(f.path);
    CHECK_INT_EQ(store_check(st, &err), 0);

    /* The file replaced underneath the daemon. */
    moved = xasprintf("%s.moved", f.path);
    CHECK_INT_EQ(rename(f.path, moved), 0);
    CHECK_INT_EQ(store_check(st, &err), -1);
    CHECK_INT_EQ(err.code, ERR_STORAGE);
    CHECK_STR_CONTAINS(err.msg, "No such file");
    {
        FILE *fp = fopen(f.path, "w");
        CHECK(fp != NULL);
        if (fp != NULL)
            fclose(fp);
    }
    CHECK_INT_EQ(store_check(st, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "replaced");
    CHECK_INT_EQ(rename(moved, f.path), 0);
    CHECK_INT_EQ(store_check(st, &err), 0);
    free(moved);
    store_close(st);
    fx_done(&f);
}

static void test_bad_input(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call c;
    struct delivery d;

    fx_init(&f, "store-bad");
    st = open_rw(f.path);
    CHECK_INT_EQ(store_put_deliveries(st, NULL, 0, &err), 0);

    call_init(&c, "x");
    d = delivery_for(&c, "{}", "x", 1);
    d.source = NULL;
    CHECK_INT_EQ(put1(st, &d, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INTERNAL);

    call_init(&c, NULL);
    d = delivery_for(&c, "{}", "x", 1);
    CHECK_INT_EQ(put1(st, &d, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INTERNAL);

    /* A body without a digest is never taken for a duplicate. */
    call_init(&c, "nosha");
    d = delivery_for(&c, "{}", NULL, 1);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, DELIVERY_STORED);
    d = delivery_for(&c, "{}", NULL, 2);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, DELIVERY_UPDATED);
    store_close(st);
    fx_done(&f);
}

int main(void)
{
    sqlite3_auto_extension((void (*)(void))capture_db);
    xmalloc_init_json();
    RUN(test_callfmt);
    RUN(test_open_schema);
    RUN(test_pragmas);
    RUN(test_outcomes);
    RUN(test_columns);
    RUN(test_follow_up);
    RUN(test_fts);
    RUN(test_batch);
    RUN(test_read_only);
    RUN(test_full_statvfs);
    RUN(test_full_sqlite);
    RUN(test_rollback_mid_batch);
    RUN(test_busy);
    RUN(test_list);
    RUN(test_bodies);
    RUN(test_check);
    RUN(test_bad_input);
    sqlite3_reset_auto_extension();
    return check_report();
}
