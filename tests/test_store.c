/*
 * test_store.c: unit tests for store.c and callfmt.c against real SQLite
 * files in a temporary directory.
 *
 * The reading functions run against seeded databases: a small hand-made one
 * whose expected answers are written out below, and generated ones where
 * an oracle (the same query in the plainest SQL, on a second connection)
 * checks every page of hundreds of random searches, whichever index the
 * store chose to walk.
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
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "backend.h"
#include "callfmt.h"
#include "check.h"
#include "harness.h"
#include "search.h"
#include "store.h"
#include "textutil.h"
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

/* Store call id with turns[0..n) in a transaction of its own. */
static void put_turns(struct store *st, char *id, struct turn *turns, size_t n, const char *sha,
                      int64_t received_ms)
{
    struct call c;
    struct delivery d;
    struct err err = {0};

    call_init(&c, id);
    c.turns = turns;
    c.nturns = n;
    d = delivery_for(&c, "{}", sha, received_ms);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
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
                     " SELECT search_rowid, " FTS_COLS " FROM main.call_search;"
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

/* The index passes FTS5's own check and matches what call_search would index today. */
#define CHECK_INDEX_SOUND(db)                                                                      \
    do {                                                                                           \
        CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);                                                \
        CHECK_INT_EQ(fts_drift(db), 0);                                                            \
    } while (0)

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

    /* Text and index: the same JSON back, byte for byte (escapes as cJSON writes them). */
    {
        char *text, *index = callfmt_turn_index(&c, &text), *json = callfmt_turns_json(&c), *back;
        struct turn odd[] = {{TURN_OTHER, "q\"r\\s", "tab\there \x01 \x1f \"/\\ \r\b\f"}};
        const char *const damaged[] = {
            "[[\"agent\",22],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",2]]",
            "[[\"agent\",22],[\"caller\",13],[\"system\",8],[\"other\",0]]",
            "[[\"agent\",23],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]",
            "[[\"agent\",22],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",-1]]",
            "[[\"agent\",22],[\"caller\",4],[\"system\",16],[\"other\",0],[\"other\",1]]",
            "[[\"agent\",22.5],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]",
            "[[\"agent\",1e300],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]",
            "[[1,22],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]",
            "[[\"agent\"],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]",
            "[]",
            "{}",
            "not json",
            "",
        };

        CHECK_STR_EQ(index,
                     "[[\"agent\",22],[\"caller\",13],[\"system\",8],[\"other\",0],[\"other\",1]]");
        CHECK_STR_EQ(text, "Hello,\nhow can I help?\nCaf\xc3\xa9 booking\ntransfer\n\nx");
        back = callfmt_turns_from_index(text, strlen(text), index);
        CHECK_STR_EQ(back, json);
        free(back);
        /* Any JSON spelling of the same index reads the same (through cJSON). */
        back = callfmt_turns_from_index(text, strlen(text),
                                        " [ [\"agent\", 22], [\"caller\", 13], [\"system\", 8], "
                                        "[\"other\", 0], [\"other\", 1.0] ] ");
        CHECK_STR_EQ(back, json);
        free(back);
        /* A damaged row (lengths, separators, types, UTF-8) gives NULL, never a bad read. */
        for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++)
            CHECK(callfmt_turns_from_index(text, strlen(text), damaged[i]) == NULL);
        CHECK(callfmt_turns_from_index(text, strlen(text), NULL) == NULL);
        CHECK(callfmt_turns_from_index(text, 20, index) == NULL); /* cuts "\xc3\xa9" too */
        CHECK(callfmt_turns_from_index("Hello,\nhow can I help?\nCaf\xc3", 27,
                                       "[[\"agent\",22],[\"caller\",4]]") == NULL);
        free(text);
        free(index);
        free(json);

        c.turns = odd;
        c.nturns = 1;
        index = callfmt_turn_index(&c, &text);
        json = callfmt_turns_json(&c);
        back = callfmt_turns_from_index(text, strlen(text), index);
        CHECK_STR_EQ(back, json);
        free(back);
        free(text);
        free(index);
        free(json);
        c.turns = turns;
        c.nturns = sizeof turns / sizeof turns[0];
    }

    /* Turns that all lack content fall back to transcript_text. */
    c.turns = turns + 3;
    c.nturns = 1;
    s = callfmt_transcript_plain(&c);
    CHECK_STR_EQ(s, "raw transcript");
    free(s);
    {
        char *text = (char *)"unset", *index;
        call_init(&c, "c2");
        index = callfmt_turn_index(&c, &text);
        CHECK(index == NULL);
        CHECK(text == NULL);
    }
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
    CHECK_INT_EQ(store_schema_version(), 6);
    st = open_rw(f.path);
    CHECK(st != NULL);
    CHECK(access(f.path, F_OK) == 0);
    CHECK_INT_EQ(store_check(st, &err), 0);
    store_close(st);

    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "PRAGMA user_version"), store_schema_version());
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                             " ('deliveries', 'calls', 'calls_fts', 'meta', 'erasures', 'audit',"
                             " 'audit_calls')"),
                 7);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"
                             " AND name = 'call_search'"),
                 1);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                             " AND name NOT LIKE 'sqlite_autoindex%'"),
                 14);
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

    /* Flushes by another thread: NORMAL while they are on, FULL again after; none read-only. */
    {
        struct err err = {0};
        struct store_wal *w = store_wal_open(st, &err);
        CHECK(w != NULL);
        CHECK_INT_EQ(raw_int(sdb, "PRAGMA synchronous"), 1);
        CHECK_INT_EQ(store_wal_sync(w, &err), 0);
        store_wal_close(w);
        CHECK_INT_EQ(raw_int(sdb, "PRAGMA synchronous"), 2);
        CHECK(store_wal_open(ro, &err) == NULL);
        CHECK_INT_EQ(err.code, ERR_CONFIG);
    }
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
    CHECK_INDEX_SOUND(db);
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
    /* Turns are kept once, as the plain text the search view reads and an index into it. */
    CHECK_SQL_TEXT(db, "SELECT transcript FROM calls WHERE call_id = 'full'", "Hello\nHi");
    CHECK_SQL_TEXT(db,
                   "SELECT s.transcript FROM call_search s JOIN calls c ON c.id = s.id"
                   " WHERE c.call_id = 'full'",
                   "Hello\nHi");
    CHECK_SQL_TEXT(db, "SELECT coalesce(turns, 'none') FROM calls WHERE call_id = 'full'", "none");
    CHECK_SQL_TEXT(db, "SELECT turn_index FROM calls WHERE call_id = 'full'",
                   "[[\"agent\",5],[\"caller\",2]]");
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
                 raw_int(db, "SELECT search_rowid FROM calls WHERE call_id = 'fts-1'"));
    CHECK_INT_EQ(raw_int(db, "SELECT search_rowid FROM calls WHERE call_id = 'fts-1'"),
                 (int64_t)1 << 12); /* sort_ms 1 (arrival time), first in its millisecond */

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
    CHECK_INDEX_SOUND(db);

    /* A second call is indexed separately. */
    call_init(&t, "fts-2");
    t.transcript_text = "another yak";
    d = delivery_for(&t, "{}", "f3", 3);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(fts_hits(db, "yak"), 2);
    CHECK_INDEX_SOUND(db);

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
    CHECK_INDEX_SOUND(db);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

/*
 * One batch that stores a call, changes it (new text, a new start time that
 * moves it in search order) and stores calls around it in the same
 * millisecond: calls wait for their index entries until the end of the
 * transaction, so each must be indexed once, under its final text and number.
 */
static void test_batch_updates_within(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call c[6];
    struct delivery ds[6];
    struct delivery *items[6];
    char ids[6][16];
    const char *texts[6] = {"alpha original", "alpha changed", "beta",
                            "gamma",          "delta",         "alpha last"};
    sqlite3 *db;

    fx_init(&f, "store-batch-update");
    st = open_rw(f.path);
    for (int i = 0; i < 6; i++) {
        char sha[16];
        snprintf(ids[i], sizeof ids[i], "%s", i == 0 || i == 1 || i == 5 ? "same" : texts[i]);
        call_init(&c[i], ids[i]);
        c[i].transcript_text = (char *)texts[i];
        c[i].started_ms = i == 1 ? 5000 : 1000; /* the update moves "same" after the others */
        snprintf(sha, sizeof sha, "sha-%d", i);
        ds[i] = delivery_for(&c[i], "{}", xstrdup(sha), (int64_t)i);
        items[i] = &ds[i];
    }
    CHECK_INT_EQ(store_put_deliveries(st, items, 6, &err), 0);
    CHECK_INT_EQ(ds[0].outcome, DELIVERY_STORED);
    CHECK_INT_EQ(ds[1].outcome, DELIVERY_UPDATED);
    CHECK_INT_EQ(ds[2].outcome, DELIVERY_STORED);
    CHECK_INT_EQ(ds[5].outcome, DELIVERY_UPDATED);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls"), 4);
    CHECK_INT_EQ(fts_hits(db, "alpha"), 1);
    CHECK_INT_EQ(fts_hits(db, "last"), 1);
    CHECK_INT_EQ(fts_hits(db, "original OR changed"), 0);
    CHECK_INDEX_SOUND(db);
    sqlite3_close(db);
    /* A second batch changes the call again: its entry from the first batch comes out. */
    c[0].transcript_text = "omega";
    free((char *)ds[0].body_sha256);
    ds[0] = delivery_for(&c[0], "{}", xstrdup("sha-again"), 9);
    CHECK_INT_EQ(store_put_deliveries(st, items, 1, &err), 0);
    CHECK_INT_EQ(ds[0].outcome, DELIVERY_UPDATED);
    db = raw_open(f.path);
    CHECK_INT_EQ(fts_hits(db, "alpha"), 0);
    CHECK_INT_EQ(fts_hits(db, "omega"), 1);
    CHECK_INT_EQ(fts_drift(db), 0);
    sqlite3_close(db);
    for (int i = 0; i < 6; i++)
        free((char *)ds[i].body_sha256);
    store_close(st);
    fx_done(&f);
}

/*
 * A version 1 database (each call's plain transcript stored beside its
 * turns, the view reading it) opens as version 2 with its index intact, and
 * the calls written since are indexed from their turns.
 */
static void test_upgrade_from_1(void)
{
    struct fx f;
    struct store *st;
    struct turn turns[] = {{TURN_AGENT, "assistant", "Welcome back"},
                           {TURN_CALLER, "user", "about the refund"}};
    sqlite3 *db;

    fx_init(&f, "store-upgrade");
    st = open_rw(f.path);
    put_turns(st, "old", turns, 2, "sha-old", 1);
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_exec(db,
                          "UPDATE calls SET transcript = 'Welcome back' || char(10) ||"
                          " 'about the refund', turns = '[{\"role\":\"agent\",\"content\":"
                          "\"Welcome back\"},{\"role\":\"caller\",\"content\":\"about the"
                          " refund\"}]';"
                          "DROP VIEW call_search;"
                          "CREATE VIEW call_search AS SELECT c.id, c.search_rowid, c.transcript,"
                          "  trim(coalesce(c.summary, '') || ' ' || coalesce(c.long_summary,"
                          "  '')) AS summary, c.purpose, c.topic,"
                          "  (SELECT group_concat(j.value, char(10)) FROM"
                          "  json_each(c.key_points) j) AS key_points,"
                          "  (SELECT group_concat(j.value, char(10)) FROM"
                          "  json_each(c.action_items) j) AS action_items,"
                          "  (SELECT group_concat(j.value, char(10)) FROM"
                          "  json_each(c.unanswered_questions) j) AS unanswered_questions,"
                          "  trim(coalesce(c.caller_name, '') || ' ' || coalesce(c.agent_name,"
                          "  '')) AS names FROM calls c;"
                          "ALTER TABLE calls DROP COLUMN extra;"
                          "ALTER TABLE calls DROP COLUMN extra_known;"
                          "ALTER TABLE calls DROP COLUMN turn_index;"
                          "CREATE INDEX deliveries_sha ON deliveries (body_sha256);"
                          "DROP TABLE erasures; DROP TABLE audit; DROP TABLE audit_calls;"
                          "PRAGMA user_version = 1;"),
                 SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0);
    sqlite3_close(db);

    st = open_rw(f.path);
    put_turns(st, "new", turns, 2, "sha-new", 2);
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "PRAGMA user_version"), store_schema_version());
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE turns IS NOT NULL"), 1);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE turn_index IS NOT NULL"), 1);
    CHECK_INT_EQ(fts_hits(db, "refund"), 2);
    CHECK_INDEX_SOUND(db);
    sqlite3_close(db);
    fx_done(&f);
}

static off_t file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Store call "ckpt-<i>" with body, in a transaction of its own. */
static void put_numbered(struct store *st, int i, const char *body)
{
    char id[32], sha[32];
    struct call call;
    struct delivery d;
    struct err err = {0};

    snprintf(id, sizeof id, "ckpt-%d", i);
    snprintf(sha, sizeof sha, "sha-%d", i);
    call_init(&call, id);
    d = delivery_for(&call, body, sha, i);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
}

/*
 * Background checkpoints: the thread copies pages into the database while
 * the writer commits, the WAL stays within the backstop, nothing is lost,
 * and stopping hands checkpoints back to the writer.
 */
static void test_checkpointer(void)
{
    enum { CALLS = 900, BODY = 40000 };
    struct fx f;
    struct store *st;
    struct store_checkpointer *c;
    struct err err = {0};
    char *body = xmalloc(BODY + 1), *wal;
    off_t wal_max = 0, wal_bound;
    double deadline;
    sqlite3 *db;

    fx_init(&f, "store-ckpt");
    wal = xasprintf("%s-wal", f.path);
    memset(body, 'x', BODY);
    body[BODY] = '\0';
    st = open_rw(f.path);
    c = store_checkpointer_start(st, &err);
    CHECK(c != NULL);
    for (int i = 0; i < CALLS; i++) {
        put_numbered(st, i, body);
        if (file_size(wal) > wal_max)
            wal_max = file_size(wal);
    }
    /* About 10 pages a call: the backstop was passed, the thread ran. */
    deadline = time_mono() + 10 * time_scale();
    while (store_checkpointer_runs(c) == 0 && time_mono() < deadline)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    CHECK(store_checkpointer_runs(c) >= 1);
    /* Past the backstop by at most one commit (a call: under 64 pages). */
    wal_bound = (off_t)(STORE_CKPT_BACKSTOP + 64) * (4096 + 24) + 32;
    CHECK(wal_max > 0);
    CHECK(wal_max <= wal_bound);
    CHECK(file_size(f.path) > (off_t)CALLS * BODY / 2); /* pages reached the database */
    store_checkpointer_stop(c);

    /* The writer checkpoints itself again (every 1000 pages): the WAL file, reused from its
     * start after each checkpoint, does not grow. */
    for (int i = CALLS; i < CALLS + 300; i++) {
        put_numbered(st, i, body);
        CHECK(file_size(wal) <= wal_bound);
    }
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls"), CALLS + 300);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM deliveries WHERE length(body) = 40000"),
                 CALLS + 300);
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    sqlite3_close(db);

    /* Not for a read-only store. */
    {
        struct store *ro = open_opts(f.path, true, 1000, 0);
        CHECK(store_checkpointer_start(ro, &err) == NULL);
        CHECK_STR_CONTAINS(err.msg, "writable");
        store_close(ro);
    }
    store_checkpointer_stop(NULL);
    free(body);
    free(wal);
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
        CHECK_INDEX_SOUND(db);
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

/* ---- reading calls ---- */

static int64_t iso_ms(const char *iso)
{
    int64_t ms = 0;

    if (time_parse_iso8601(iso, &ms) != 0) {
        fprintf(stderr, "bad test time %s\n", iso);
        abort();
    }
    return ms;
}

static void q_init(struct call_query *q)
{
    memset(q, 0, sizeof *q);
    q->follow_up = -1;
    q->from_ms = INT64_MIN;
    q->to_ms = INT64_MAX;
    q->min_duration_s = -1;
    q->max_duration_s = -1;
    q->limit = 20;
}

/* phone_normalize() into a static buffer, as the tools will. */
static const char *digits_of(const char *phone)
{
    static char out[4][32];
    static int next;
    char *d = out[next++ % 4];

    phone_normalize(phone, d, 32);
    return d;
}

/* Append the callIds of a page's calls to b, space separated. */
static void ids_append(struct buf *b, const cJSON *calls)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, calls)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "callId"));

        if (b->len > 0)
            buf_puts(b, " ");
        buf_puts(b, id != NULL ? id : "?");
    }
}

/* One page's callIds ("" when none, "ERR:<code>" on failure); *page_out keeps the page if given. */
static char *search_page(struct store *st, const struct call_query *q, struct call_page *page_out)
{
    struct call_page page;
    struct err err = {0};
    struct buf b = {0};

    if (store_search_calls(st, q, 0, &page, &err) == -1) {
        buf_printf(&b, "ERR:%s %s", err_code_name(err.code), err.msg);
        return buf_steal(&b, NULL);
    }
    ids_append(&b, page.calls);
    if (page_out != NULL)
        *page_out = page;
    else
        cJSON_Delete(page.calls);
    return buf_steal(&b, NULL);
}

#define CHECK_SEARCH(st, q, want)                                                                  \
    do {                                                                                           \
        char *got_ = search_page((st), (q), NULL);                                                 \
        CHECK_STR_EQ(got_, (want));                                                                \
        free(got_);                                                                                \
    } while (0)

/*
 * Every page of q, following the continuation the way a tool would: the
 * keyset for newest/oldest, the offset for relevance. Checks that no call
 * appears twice, that every page but the last is full, and that total
 * agrees on each page; *total gets the first page's total.
 */
static char *search_all(struct store *st, const struct call_query *q0, int64_t *total, bool *exact)
{
    struct call_query q = *q0;
    struct buf b = {0};
    struct err err = {0};
    int pages = 0;

    *total = -1;
    for (;;) {
        struct call_page page;

        if (store_search_calls(st, &q, 0, &page, &err) == -1) {
            fprintf(stderr, "search: %s\n", err.msg);
            buf_free(&b);
            return xstrdup("ERR");
        }
        ids_append(&b, page.calls);
        if (*total == -1) {
            *total = page.total;
            *exact = page.total_exact;
        } else if (page.total != *total || page.total_exact != *exact) {
            CHECK_INT_EQ(page.total, *total);
            CHECK_INT_EQ(page.total_exact, *exact);
        }
        if (page.more)
            CHECK_INT_EQ(cJSON_GetArraySize(page.calls), q.limit);
        cJSON_Delete(page.calls);
        if (!page.more || ++pages > 1000)
            break;
        q.has_after = true;
        q.after_sort_ms = page.last_sort_ms;
        q.after_id = page.last_id;
        q.offset += q.limit;
    }
    {
        /* No call listed twice. */
        char *all = buf_steal(&b, NULL), *copy = xstrdup(all), *tok, *save = NULL;
        char **seen = NULL;
        size_t n = 0, i;

        for (tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
            for (i = 0; i < n; i++)
                if (strcmp(seen[i], tok) == 0)
                    break;
            if (i < n)
                fprintf(stderr, "call %s listed twice\n", tok);
            CHECK(i == n);
            seen = xreallocarray(seen, n + 1, sizeof *seen);
            seen[n++] = tok;
        }
        free(seen);
        free(copy);
        return all;
    }
}

struct seed_call {
    const char *id;
    const char *started; /* ISO, or NULL */
    const char *ended;
    const char *direction;
    const char *sentiment;
    const char *topic;
    const char *agent;
    const char *caller;
    const char *customer;
    const char *business;
    enum tristate follow_up;
    const char *reason;
    double duration;
    const char *agent_line; /* a turn by the agent */
    const char *caller_line;
    const char *text; /* transcriptText */
    const char *summary;
    const char *actions[3];
    const char *questions[3];
};

/*
 * The hand-made dataset, newest first by start time: h07 h06 h05 h04 h03
 * h02 h01. h06 has only an end time; h05 has almost nothing; h07's
 * customer and business numbers are the same.
 */
static const struct seed_call hand[] = {
    {"h01",
     "2026-05-01T09:00:00Z",
     NULL,
     "inbound",
     "positive",
     "Appointment Scheduling",
     "Ava",
     "Maria",
     "+1 (415) 555-7777",
     "+1 415 555 0000",
     TRI_FALSE,
     NULL,
     120,
     "Hello, you reached Phonely Dental",
     "I need a cleaning appointment next week",
     NULL,
     "Booked a cleaning",
     {"Send confirmation email"},
     {NULL}},
    {"h02",
     "2026-05-01T10:00:00Z",
     NULL,
     "inbound",
     "negative",
     "Billing",
     "Max",
     "Bob",
     "415-555-8888",
     "+14155550000",
     TRI_TRUE,
     "wants a refund",
     300,
     NULL,
     NULL,
     "The cancellation fee is too high, I saw docker-compose in the bill",
     "Angry about the cancellation fee",
     {"Refund the cancellation fee", "Call back"},
     {"What is the cancellation fee?"}},
    {"h03",
     "2026-05-02T00:00:00Z",
     NULL,
     "outbound",
     "neutral",
     "billing",
     "ava",
     NULL,
     "4155557777",
     "+14155550000",
     TRI_TRUE,
     "call back",
     60,
     NULL,
     NULL,
     "Calling about your invoice and the cancellation fee",
     NULL,
     {"call back  "},
     {"what is the cancellation fee? "}},
    {"h04",
     "2026-05-02T23:59:59.999Z",
     NULL,
     "inbound",
     "positive",
     "Hours",
     "Luna",
     "Jos\xc3\xa9",
     "+44 20 7946 0958",
     "+14155550001",
     TRI_FALSE,
     NULL,
     30,
     NULL,
     "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
     "question",
     NULL,
     "Asked about hours",
     {NULL},
     {NULL}},
    {"h05",
     "2026-05-03T12:00:00Z",
     NULL,
     "inbound",
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     "+1 415 555 0000",
     TRI_UNKNOWN,
     NULL,
     -1,
     NULL,
     NULL,
     NULL,
     "Voicemail left",
     {NULL},
     {NULL}},
    {"h06",
     NULL,
     "2026-05-03T13:00:00Z",
     "outbound",
     "positive",
     "Hours",
     "Max",
     NULL,
     "+1 212 555 1234",
     NULL,
     TRI_TRUE,
     "send brochure",
     45,
     NULL,
     NULL,
     "brochure request",
     NULL,
     {NULL},
     {NULL}},
    {"h07",
     "2026-05-04T08:00:00Z",
     NULL,
     "inbound",
     "neutral",
     "Billing",
     "Max",
     NULL,
     "+14155550000",
     "+14155550000",
     TRI_FALSE,
     NULL,
     90,
     NULL,
     NULL,
     "internal test call",
     NULL,
     {NULL},
     {NULL}},
};

/* Owned pieces of a call built from a seed (digits, turns, lists). */
struct seeded {
    struct call c;
    char cust[32], biz[32];
    struct turn turns[2];
    char *actions[3], *questions[3];
};

static void seed_build(struct seeded *sd, const struct seed_call *h)
{
    size_t n;

    memset(sd, 0, sizeof *sd);
    call_init(&sd->c, (char *)h->id);
    if (h->started != NULL) {
        sd->c.started_at = (char *)h->started;
        sd->c.started_ms = iso_ms(h->started);
    }
    if (h->ended != NULL) {
        sd->c.ended_at = (char *)h->ended;
        sd->c.ended_ms = iso_ms(h->ended);
    }
    sd->c.direction = (char *)h->direction;
    sd->c.sentiment = (char *)h->sentiment;
    sd->c.topic = (char *)h->topic;
    sd->c.agent_name = (char *)h->agent;
    sd->c.caller_name = (char *)h->caller;
    sd->c.customer_phone = (char *)h->customer;
    if (h->customer != NULL && phone_normalize(h->customer, sd->cust, sizeof sd->cust) > 0)
        sd->c.customer_digits = sd->cust;
    sd->c.business_phone = (char *)h->business;
    if (h->business != NULL && phone_normalize(h->business, sd->biz, sizeof sd->biz) > 0)
        sd->c.business_digits = sd->biz;
    sd->c.follow_up = h->follow_up;
    sd->c.follow_up_reason = (char *)h->reason;
    sd->c.duration_s = h->duration;
    n = 0;
    if (h->agent_line != NULL)
        sd->turns[n++] = (struct turn){TURN_AGENT, "agent", (char *)h->agent_line};
    if (h->caller_line != NULL)
        sd->turns[n++] = (struct turn){TURN_CALLER, "user", (char *)h->caller_line};
    sd->c.turns = n > 0 ? sd->turns : NULL;
    sd->c.nturns = n;
    sd->c.transcript_text = (char *)h->text;
    sd->c.summary = (char *)h->summary;
    for (n = 0; n < 3 && h->actions[n] != NULL; n++)
        sd->actions[n] = (char *)h->actions[n];
    sd->c.action_items = (struct strlist){sd->actions, n};
    for (n = 0; n < 3 && h->questions[n] != NULL; n++)
        sd->questions[n] = (char *)h->questions[n];
    sd->c.unanswered_questions = (struct strlist){sd->questions, n};
}

/* A store at f->path holding the hand-made dataset. */
static struct store *hand_store(struct fx *f, const char *tag)
{
    struct store *st;
    struct err err = {0};
    size_t i;

    fx_init(f, tag);
    st = open_rw(f->path);
    for (i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        struct seeded sd;
        struct delivery d;
        char sha[16];

        seed_build(&sd, &hand[i]);
        snprintf(sha, sizeof sha, "sha-%s", hand[i].id);
        d = delivery_for(&sd.c, "{}", sha, iso_ms("2026-06-01T00:00:00Z") + (int64_t)i);
        CHECK_INT_EQ(put1(st, &d, &err), 0);
    }
    return st;
}

/* The words of text, as the search tool parses them. Free with terms_free(). */
static struct search_terms *fts_of(const char *text)
{
    struct err err = {0};
    struct search_terms *t = xcalloc(1, sizeof *t);

    if (search_terms_parse(text, 32, t, &err) == -1) {
        fprintf(stderr, "fts %s: %s\n", text, err.msg);
        abort();
    }
    return t;
}

static void terms_free(struct search_terms *t)
{
    if (t != NULL)
        search_terms_free(t);
    free(t);
}

static void test_search_filters(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "search-filters");
    struct call_query q;
    struct search_terms *fts;

    q_init(&q);
    CHECK_SEARCH(st, &q, "h07 h06 h05 h04 h03 h02 h01");
    q.sort = CALL_SORT_OLDEST;
    CHECK_SEARCH(st, &q, "h01 h02 h03 h04 h05 h06 h07");

    /* Each filter alone; text filters ignore case. */
    q_init(&q);
    q.direction = "inbound";
    CHECK_SEARCH(st, &q, "h07 h05 h04 h02 h01");
    q.direction = "OUTBOUND";
    CHECK_SEARCH(st, &q, "h06 h03");
    q_init(&q);
    q.sentiment = "positive";
    CHECK_SEARCH(st, &q, "h06 h04 h01");
    q.sentiment = "Neutral";
    CHECK_SEARCH(st, &q, "h07 h03");
    q_init(&q);
    q.topic = "BILLING";
    CHECK_SEARCH(st, &q, "h07 h03 h02");
    q.topic = "bill";
    CHECK_SEARCH(st, &q, ""); /* exact, not a prefix */
    q_init(&q);
    q.agent = "AVA";
    CHECK_SEARCH(st, &q, "h03 h01");
    q_init(&q);
    q.follow_up = 1;
    CHECK_SEARCH(st, &q, "h06 h03 h02");
    q.follow_up = 0;
    CHECK_SEARCH(st, &q, "h07 h05 h04 h01"); /* unknown counts as not flagged */
    q_init(&q);
    q.follow_up_status = "pending";
    CHECK_SEARCH(st, &q, "h06 h03 h02");
    q.follow_up_status = "none";
    CHECK_SEARCH(st, &q, "h07 h05 h04 h01");
    q.follow_up_status = "resolved";
    CHECK_SEARCH(st, &q, "");
    q_init(&q);
    q.min_duration_s = 60;
    CHECK_SEARCH(st, &q, "h07 h03 h02 h01");
    q_init(&q);
    q.max_duration_s = 60;
    CHECK_SEARCH(st, &q, "h06 h04 h03");
    q.min_duration_s = 60;
    CHECK_SEARCH(st, &q, "h03");

    /* Phone numbers in any format match the customer or the business number. */
    q_init(&q);
    q.phone_digits = digits_of("(415) 555-7777");
    CHECK_SEARCH(st, &q, "h03 h01");
    q.phone_digits = digits_of("+1 415 555 7777");
    CHECK_SEARCH(st, &q, "h03 h01");
    q.phone_digits = digits_of("001 415 555 7777");
    CHECK_SEARCH(st, &q, "h03 h01");
    q.phone_digits = digits_of("415.555.0000");
    CHECK_SEARCH(st, &q, "h07 h05 h03 h02 h01"); /* h07 has it on both sides: listed once */
    q.sort = CALL_SORT_OLDEST;
    CHECK_SEARCH(st, &q, "h01 h02 h03 h05 h07");
    q_init(&q);
    q.phone_digits = digits_of("+44 20 7946 0958");
    CHECK_SEARCH(st, &q, "h04");
    q.phone_digits = digits_of("+1 999 999 9999");
    CHECK_SEARCH(st, &q, "");

    /* Dates: from inclusive, to exclusive, to the millisecond. */
    q_init(&q);
    q.from_ms = iso_ms("2026-05-02T00:00:00Z");
    CHECK_SEARCH(st, &q, "h07 h06 h05 h04 h03");
    q_init(&q);
    q.to_ms = iso_ms("2026-05-02T00:00:00Z");
    CHECK_SEARCH(st, &q, "h02 h01");
    q.from_ms = iso_ms("2026-05-01T09:00:00.001Z");
    CHECK_SEARCH(st, &q, "h02");
    q_init(&q);
    q.from_ms = iso_ms("2026-05-02T00:00:00Z");
    q.to_ms = iso_ms("2026-05-03T00:00:00Z");
    CHECK_SEARCH(st, &q, "h04 h03");
    q.to_ms = iso_ms("2026-05-02T23:59:59.999Z");
    CHECK_SEARCH(st, &q, "h03");
    q.to_ms = q.from_ms;
    CHECK_SEARCH(st, &q, "");
    q_init(&q);
    q.from_ms = iso_ms("2026-05-03T13:00:00Z"); /* h06 sorts by its end time */
    CHECK_SEARCH(st, &q, "h07 h06");
    q.from_ms = iso_ms("2030-01-01");
    CHECK_SEARCH(st, &q, "");

    /* Combined. */
    q_init(&q);
    q.phone_digits = digits_of("4155550000");
    q.topic = "billing";
    q.agent = "max";
    CHECK_SEARCH(st, &q, "h07 h02");
    q.follow_up = 1;
    CHECK_SEARCH(st, &q, "h02");
    q_init(&q);
    q.direction = "inbound";
    q.sentiment = "positive";
    q.from_ms = iso_ms("2026-05-01T09:00:00Z");
    q.to_ms = iso_ms("2026-05-02T23:59:59.999Z");
    CHECK_SEARCH(st, &q, "h01");
    q.to_ms = INT64_MAX;
    CHECK_SEARCH(st, &q, "h04 h01");

    /* Full text: literal words, diacritics folded, names, combined with filters. */
    q_init(&q);
    fts = fts_of("cancellation fee");
    q.words = fts;
    CHECK_SEARCH(st, &q, "h03 h02");
    q.sort = CALL_SORT_OLDEST;
    CHECK_SEARCH(st, &q, "h02 h03");
    q.sort = CALL_SORT_RELEVANCE;
    CHECK_SEARCH(st, &q, "h02 h03"); /* h02 says it in its summary, lists and transcript */
    q.sort = CALL_SORT_NEWEST;
    q.phone_digits = digits_of("415 555 7777");
    CHECK_SEARCH(st, &q, "h03");
    q.phone_digits = NULL;
    q.direction = "outbound";
    CHECK_SEARCH(st, &q, "h03");
    q.direction = NULL;
    q.to_ms = iso_ms("2026-05-02T00:00:00Z");
    CHECK_SEARCH(st, &q, "h02");
    terms_free(fts);
    q_init(&q);
    fts = fts_of("docker-compose");
    q.words = fts;
    CHECK_SEARCH(st, &q, "h02");
    terms_free(fts);
    fts = fts_of("creme brulee");
    q.words = fts;
    CHECK_SEARCH(st, &q, "h04");
    terms_free(fts);
    fts = fts_of("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    q.words = fts;
    CHECK_SEARCH(st, &q, "h04");
    terms_free(fts);
    fts = fts_of("JOSE");
    q.words = fts;
    CHECK_SEARCH(st, &q, "h04");
    terms_free(fts);
    fts = fts_of("NEAR( OR \"zebra\"");
    q.words = fts;
    CHECK_SEARCH(st, &q, "");
    terms_free(fts);

    store_close(st);
    fx_done(&f);
}

static const char *json_str(const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static double json_num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static bool json_has(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name) != NULL;
}

/* The compact JSON of c, for whole-object comparisons. */
static char *json_text(const cJSON *c)
{
    char *t = cJSON_PrintUnformatted(c);

    return t != NULL ? t : xstrdup("(null)");
}

#define CHECK_JSON(obj, want)                                                                      \
    do {                                                                                           \
        char *t_ = json_text(obj);                                                                 \
        CHECK_STR_EQ(t_, (want));                                                                  \
        free(t_);                                                                                  \
    } while (0)

static void test_search_fields(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "search-fields");
    struct call_query q;
    struct call_page page;
    struct err err = {0};
    struct search_terms *fts;
    char *ids;
    const cJSON *c;

    /* Compact fields: absent values are left out, times are ISO 8601 UTC. */
    q_init(&q);
    q.limit = 7;
    CHECK_INT_EQ(store_search_calls(st, &q, iso_ms("2026-05-05T00:00:00Z"), &page, &err), 0);
    CHECK_INT_EQ(cJSON_GetArraySize(page.calls), 7);
    CHECK_INT_EQ(page.total, 7);
    CHECK(page.total_exact);
    CHECK(!page.more);
    CHECK_JSON(
        cJSON_GetArrayItem(page.calls, 5),
        "{\"callId\":\"h02\",\"startedAt\":\"2026-05-01T10:00:00Z\",\"direction\":\"inbound\","
        "\"callerName\":\"Bob\",\"customerPhone\":\"415-555-8888\","
        "\"businessPhone\":\"+14155550000\",\"agentName\":\"Max\",\"durationSeconds\":300,"
        "\"summary\":\"Angry about the cancellation fee\",\"sentiment\":\"negative\","
        "\"topic\":\"Billing\",\"followUp\":{\"flagged\":true,\"status\":\"pending\","
        "\"reason\":\"wants a refund\"}}");
    CHECK_JSON(
        cJSON_GetArrayItem(page.calls, 2),
        "{\"callId\":\"h05\",\"startedAt\":\"2026-05-03T12:00:00Z\",\"direction\":\"inbound\","
        "\"businessPhone\":\"+1 415 555 0000\",\"summary\":\"Voicemail left\","
        "\"followUp\":{\"flagged\":false,\"status\":\"none\"}}");
    c = cJSON_GetArrayItem(page.calls, 1);
    CHECK_STR_EQ(json_str(c, "endedAt"), "2026-05-03T13:00:00Z");
    CHECK(!json_has(c, "startedAt"));
    c = cJSON_GetArrayItem(page.calls, 3);
    CHECK_STR_EQ(json_str(c, "startedAt"), "2026-05-02T23:59:59.999Z");
    CHECK_STR_EQ(json_str(c, "callerName"), "Jos\xc3\xa9");
    CHECK(!json_has(c, "snippet"));
    CHECK(!json_has(c, "ageSeconds"));
    CHECK(!json_has(c, "actionItems"));
    CHECK_INT_EQ(page.last_id, 1);
    CHECK_INT_EQ(page.last_sort_ms, iso_ms("2026-05-01T09:00:00Z"));
    cJSON_Delete(page.calls);

    /* Follow-up detail: lists, mentions, links and the age at now_ms. */
    q_init(&q);
    q.detail = CALL_DETAIL_FOLLOW_UP;
    q.follow_up_status = "pending";
    CHECK_INT_EQ(store_search_calls(st, &q, iso_ms("2026-05-05T00:00:00Z"), &page, &err), 0);
    CHECK_INT_EQ(cJSON_GetArraySize(page.calls), 3);
    c = cJSON_GetArrayItem(page.calls, 2);
    CHECK_STR_EQ(json_str(c, "callId"), "h02");
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(c, "actionItems"),
               "[\"Refund the cancellation fee\",\"Call back\"]");
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(c, "unansweredQuestions"),
               "[\"What is the cancellation fee?\"]");
    CHECK_DBL_NEAR(json_num(c, "ageSeconds"), 3 * 86400 + 14 * 3600, 0);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(c, "followUp"),
               "{\"flagged\":true,\"status\":\"pending\",\"reason\":\"wants a refund\"}");
    cJSON_Delete(page.calls);

    /* Snippets: the matching passage with the hits in brackets. */
    q_init(&q);
    fts = fts_of("docker-compose");
    q.words = fts;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    c = cJSON_GetArrayItem(page.calls, 0);
    CHECK_STR_CONTAINS(json_str(c, "snippet"), "[docker-compose]"); /* one phrase, one mark */
    CHECK_STR_CONTAINS(json_str(c, "snippet"), "I saw");
    cJSON_Delete(page.calls);
    terms_free(fts);
    fts = fts_of("creme");
    q.words = fts;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_STR_CONTAINS(json_str(cJSON_GetArrayItem(page.calls, 0), "snippet"), "[cr\xc3\xa8me]");
    cJSON_Delete(page.calls);
    terms_free(fts);
    /* A hit in a list shows the item's text, not JSON; relevance and phone-driven pages too. */
    fts = fts_of("refund");
    q.words = fts;
    q.sort = CALL_SORT_RELEVANCE;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_STR_EQ(json_str(cJSON_GetArrayItem(page.calls, 0), "snippet"),
                 "[Refund] the cancellation fee\nCall back");
    cJSON_Delete(page.calls);
    q.sort = CALL_SORT_NEWEST;
    q.phone_digits = digits_of("4155558888");
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_STR_CONTAINS(json_str(cJSON_GetArrayItem(page.calls, 0), "snippet"), "[");
    cJSON_Delete(page.calls);
    terms_free(fts);

    /* A limit of one walks the calls one page at a time. */
    q_init(&q);
    q.limit = 1;
    {
        int64_t total;
        bool exact;

        ids = search_all(st, &q, &total, &exact);
        CHECK_STR_EQ(ids, "h07 h06 h05 h04 h03 h02 h01");
        CHECK_INT_EQ(total, 7);
        CHECK(exact);
        free(ids);
    }
    store_close(st);
    fx_done(&f);
}

static void test_search_invalid(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "search-invalid");
    struct search_terms none = {0}, *words;
    struct call_query q;
    struct call_page page;
    struct err err = {0};

    q_init(&q);
    q.limit = 0;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "limit");
    CHECK(page.calls == NULL);
    q.limit = 101;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    q.limit = 100;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    cJSON_Delete(page.calls);
    q.sort = CALL_SORT_RELEVANCE;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "relevance needs a text query");
    q_init(&q);
    q.follow_up_status = "done";
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    q_init(&q);
    q.phone_digits = "";
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    q_init(&q);
    words = fts_of("x");
    q.words = words;
    q.sort = CALL_SORT_RELEVANCE;
    q.offset = STORE_TOTAL_CAP + 1;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    terms_free(words);
    /* No words at all is refused; words that would be FTS5 syntax are only words. */
    q_init(&q);
    q.words = &none;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    words = fts_of("\"unbalanced AND NEAR( col:x *");
    q.words = words;
    CHECK_SEARCH(st, &q, "");
    terms_free(words);
    /* The store still answers afterwards (no transaction or statement left open). */
    q_init(&q);
    CHECK_SEARCH(st, &q, "h07 h06 h05 h04 h03 h02 h01");
    store_close(st);
    fx_done(&f);
}

static void test_read_empty(void)
{
    struct fx f;
    struct store *st;
    struct call_query q;
    struct call_page page;
    struct err err = {0};
    cJSON *j, *values;
    bool more = true;
    struct search_terms *fts;

    fx_init(&f, "read-empty");
    st = open_rw(f.path);
    q_init(&q);
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_INT_EQ(cJSON_GetArraySize(page.calls), 0);
    CHECK_INT_EQ(page.total, 0);
    CHECK(page.total_exact);
    CHECK(!page.more);
    cJSON_Delete(page.calls);
    fts = fts_of("anything");
    q.words = fts;
    q.from_ms = 0;
    q.to_ms = 1000;
    CHECK_SEARCH(st, &q, "");
    q.sort = CALL_SORT_RELEVANCE;
    CHECK_SEARCH(st, &q, "");
    q_init(&q);
    q.words = fts;
    q.phone_digits = "14155557777";
    CHECK_SEARCH(st, &q, "");
    q_init(&q);
    q.topic = "x";
    q.agent = "y";
    q.has_after = true;
    CHECK_SEARCH(st, &q, "");
    terms_free(fts);

    CHECK(store_get_call(st, "nope", true, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK(store_call_transcript_text(st, "nope", &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK_INT_EQ(store_set_follow_up(st, "nope", true, NULL, NULL, 1, NULL, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    j = store_call_stats(st, INT64_MIN, INT64_MAX, 5, &err);
    CHECK_JSON(j, "{\"calls\":0,\"duration\":{\"totalSeconds\":0},\"followUps\":{\"flagged\":0,"
                  "\"pending\":0,\"resolved\":0,\"rate\":0},\"byDay\":[],\"byDirection\":{},"
                  "\"bySentiment\":{},\"byTopic\":[],\"byAgent\":[]}");
    cJSON_Delete(j);
    j = store_top_list_items(st, "action_items", INT64_MIN, INT64_MAX, false, 5, &err);
    CHECK_JSON(j, "[]");
    cJSON_Delete(j);
    values = cJSON_CreateArray();
    CHECK_INT_EQ(store_complete(st, "call_id", "", 5, values, &more, &err), 0);
    CHECK_INT_EQ(store_complete(st, "phone", "415", 5, values, &more, &err), 0);
    CHECK_JSON(values, "[]");
    CHECK(!more);
    cJSON_Delete(values);
    store_close(st);
    fx_done(&f);
}

/* A deterministic generator for the larger datasets. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static const char *rnd_pick(const char *const *v, size_t n)
{
    return v[rnd() % n];
}

#define PICK(v) rnd_pick((v), sizeof(v) / sizeof((v)[0]))

static const char *const gen_words[] = {"alpha",   "bravo", "charlie", "delta", "echo",
                                        "foxtrot", "golf",  "hotel",   "india", "juliet",
                                        "kilo",    "lima",  "refund",  "fee",   "caf\xc3\xa9"};
static const char *const gen_dirs[] = {"inbound", "outbound", "inbound", NULL};
static const char *const gen_sents[] = {"positive", "negative", "neutral", NULL};
static const char *const gen_topics[] = {"Billing", "billing", "Hours", "Sales", NULL};
static const char *const gen_agents[] = {"Ava", "MAX", "max", "Luna", NULL};
static const char *const gen_items[] = {"Call back", "call back ", "Send invoice", "Refund fee"};

/*
 * Store n generated calls in one batch: ids g0000..; sort times bunched
 * onto few milliseconds (shared_ms of them on one), numbers drawn from
 * few_phones customer numbers plus one heavy one, one of two business
 * numbers. Returns the base time.
 */
static int64_t gen_calls(struct store *st, int n, int shared_ms, uint64_t seed)
{
    const int64_t base = iso_ms("2026-03-01T00:00:00Z");
    struct delivery *ds = xcalloc((size_t)n, sizeof *ds);
    struct delivery **items = xcalloc((size_t)n, sizeof *items);
    struct call *cs = xcalloc((size_t)n, sizeof *cs);
    char **owned = xcalloc((size_t)n * 8, sizeof *owned);
    struct err err = {0};
    int i, k;

    rnd_state = seed;
    for (i = 0; i < n; i++) {
        struct call *c = &cs[i];
        struct buf b = {0};
        int words = 1 + (int)(rnd() % 6);
        char **o = &owned[i * 8];
        int64_t when;

        o[0] = xasprintf("g%05d", i);
        call_init(c, o[0]);
        if (i < shared_ms)
            when = base + 5000; /* many calls in one millisecond */
        else
            when = base + (int64_t)(rnd() % 40) * 1000 + (int64_t)(rnd() % 3);
        switch (rnd() % 8) {
        case 0:
            c->ended_ms = when; /* sorts by its end */
            break;
        case 1:
            break; /* sorts by its arrival: when, below */
        default:
            c->started_ms = when;
        }
        c->direction = (char *)PICK(gen_dirs);
        c->sentiment = (char *)PICK(gen_sents);
        c->topic = (char *)PICK(gen_topics);
        c->agent_name = (char *)PICK(gen_agents);
        if (rnd() % 10 != 0) {
            o[1] = rnd() % 3 == 0 ? xstrdup("14155550123") /* the heavy caller */
                                  : xasprintf("1415555%04d", (int)(rnd() % 30));
            c->customer_phone = o[1];
            c->customer_digits = o[1];
        }
        c->business_phone = c->business_digits =
            (char *)(rnd() % 10 == 0 ? "14155559999" : "14155550000");
        if (rnd() % 50 == 0)
            c->business_digits = c->business_phone = c->customer_digits;
        c->follow_up = (enum tristate)((int)(rnd() % 3) - 1);
        c->duration_s = rnd() % 5 == 0 ? -1 : (double)(rnd() % 600);
        buf_puts(&b, "phonely"); /* in every call */
        for (k = 0; k < words; k++) {
            buf_puts(&b, " ");
            buf_puts(&b, PICK(gen_words));
        }
        o[2] = buf_steal(&b, NULL);
        c->transcript_text = o[2];
        if (rnd() % 2) {
            char **items2 = xcalloc(2, sizeof *items2);
            items2[0] = (char *)PICK(gen_items);
            items2[1] = (char *)PICK(gen_items);
            c->action_items = (struct strlist){items2, 1 + rnd() % 2};
            o[3] = (char *)items2;
        }
        o[4] = xasprintf("g-sha-%d-%llu", i, (unsigned long long)seed);
        ds[i] = delivery_for(c, "{}", o[4], when);
        items[i] = &ds[i];
    }
    CHECK_INT_EQ(store_put_deliveries(st, items, (size_t)n, &err), 0);
    for (i = 0; i < n * 8; i++)
        free(owned[i]);
    free(owned);
    free(cs);
    free(items);
    free(ds);
    return base;
}

/* The oracle: the same query in the plainest SQL, on a separate connection. */
static char *oracle(sqlite3 *db, const struct call_query *q, int64_t *count)
{
    struct buf sql = {0}, out = {0};
    sqlite3_stmt *s = NULL;
    char *part, *match = q->words != NULL ? store_sqlite_match(q->words) : NULL;
    int rc;

    if (q->sort == CALL_SORT_RELEVANCE)
        buf_puts(&sql, "SELECT c.call_id FROM calls_fts f JOIN calls c ON c.search_rowid = f.rowid"
                       " WHERE f.calls_fts MATCH :fts");
    else
        buf_puts(&sql, "SELECT c.call_id FROM calls c WHERE 1");
    if (match != NULL && q->sort != CALL_SORT_RELEVANCE)
        buf_puts(&sql, " AND c.search_rowid IN (SELECT rowid FROM calls_fts"
                       " WHERE calls_fts MATCH :fts)");
#define ORACLE_TEXT(field, col)                                                                    \
    if (q->field != NULL) {                                                                        \
        part = sqlite3_mprintf(" AND lower(c." col ") = lower(%Q)", q->field);                     \
        buf_puts(&sql, part);                                                                      \
        sqlite3_free(part);                                                                        \
    }
    ORACLE_TEXT(direction, "direction")
    ORACLE_TEXT(sentiment, "sentiment")
    ORACLE_TEXT(topic, "topic")
    ORACLE_TEXT(agent, "agent_name")
    ORACLE_TEXT(follow_up_status, "follow_up_status")
    if (q->phone_digits != NULL) {
        part = sqlite3_mprintf(" AND (c.customer_digits = %Q OR c.business_digits = %Q)",
                               q->phone_digits, q->phone_digits);
        buf_puts(&sql, part);
        sqlite3_free(part);
    }
    if (q->follow_up == 1)
        buf_puts(&sql, " AND c.follow_up IS 1");
    if (q->follow_up == 0)
        buf_puts(&sql, " AND c.follow_up IS NOT 1");
    if (q->min_duration_s >= 0)
        buf_printf(&sql, " AND c.duration_s >= %.17g", q->min_duration_s);
    if (q->max_duration_s >= 0)
        buf_printf(&sql, " AND c.duration_s <= %.17g", q->max_duration_s);
    if (q->from_ms != INT64_MIN)
        buf_printf(&sql, " AND c.sort_ms >= %lld", (long long)q->from_ms);
    if (q->to_ms != INT64_MAX)
        buf_printf(&sql, " AND c.sort_ms < %lld", (long long)q->to_ms);
    buf_puts(&sql, q->sort == CALL_SORT_RELEVANCE
                       ? " ORDER BY bm25(f.calls_fts, 1.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.0, 3.0),"
                         " c.sort_ms DESC, c.id DESC"
                   : q->sort == CALL_SORT_OLDEST ? " ORDER BY c.sort_ms, c.id"
                                                 : " ORDER BY c.sort_ms DESC, c.id DESC");
    if (sqlite3_prepare_v2(db, sql.data, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "oracle %s: %s\n", sql.data, sqlite3_errmsg(db));
        abort();
    }
    if (match != NULL)
        sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":fts"), match, -1, SQLITE_STATIC);
    *count = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (out.len > 0)
            buf_puts(&out, " ");
        buf_puts(&out, (const char *)sqlite3_column_text(s, 0));
        (*count)++;
    }
    CHECK_INT_EQ(rc, SQLITE_DONE);
    sqlite3_finalize(s);
    free(match);
    buf_free(&sql);
    return buf_steal(&out, NULL);
}

/* Random queries over a generated dataset, every page compared with the oracle. */
static void test_search_oracle(void)
{
    static const char *const phones[] = {"14155550123", "14155550007", "14155550000", "14155559999",
                                         "14155550029"};
    static const char *const texts[] = {"alpha",     "refund fee",  "CAFE",
                                        "kilo lima", "alpha bravo", "zulu"};
    static const unsigned limits[] = {1, 3, 7, 20, 100};
    static const char *const statuses[] = {"pending", "resolved", "none"};
    struct fx f;
    struct store *st;
    sqlite3 *db;
    struct err err = {0};
    int64_t base, total, want_total;
    bool exact;
    int i, mismatches = 0;
    struct search_terms *fts_exprs[6];

    fx_init(&f, "search-oracle");
    st = open_rw(f.path);
    base = gen_calls(st, 600, 40, 42);
    /* Resolve some follow-ups, and move some calls in time by re-delivering them. */
    for (i = 0; i < 600; i += 7) {
        char id[16];

        snprintf(id, sizeof id, "g%05d", i);
        CHECK_INT_EQ(store_set_follow_up(st, id, true, "done", "test", 1, NULL, &err), 0);
    }
    gen_calls(st, 120, 60, 4242); /* same ids g00000..g00119, new times and content */
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM (SELECT search_rowid,"
                             " lag(search_rowid) OVER (ORDER BY sort_ms, id) AS prev FROM calls)"
                             " WHERE prev >= search_rowid"),
                 0);
    CHECK_INT_EQ(fts_drift(db), 0);
    for (i = 0; i < 6; i++)
        fts_exprs[i] = fts_of(texts[i]);

    rnd_state = 7;
    for (i = 0; i < 400; i++) {
        struct call_query q;
        char *got, *want;

        q_init(&q);
        if (rnd() % 2)
            q.words = fts_exprs[rnd() % 6];
        if (rnd() % 3 == 0)
            q.phone_digits = PICK(phones);
        if (rnd() % 4 == 0)
            q.direction = PICK(gen_dirs);
        if (rnd() % 4 == 0)
            q.sentiment = PICK(gen_sents);
        if (rnd() % 5 == 0)
            q.topic = rnd() % 2 ? "BILLING" : "hours";
        if (rnd() % 5 == 0)
            q.agent = "Max";
        if (rnd() % 5 == 0)
            q.follow_up = (int)(rnd() % 2);
        if (rnd() % 5 == 0)
            q.follow_up_status = PICK(statuses);
        if (rnd() % 6 == 0)
            q.min_duration_s = (double)(rnd() % 300);
        if (rnd() % 6 == 0)
            q.max_duration_s = (double)(rnd() % 600);
        if (rnd() % 3 == 0)
            q.from_ms = base + (int64_t)(rnd() % 42) * 1000 - 1000 + (int64_t)(rnd() % 3);
        if (rnd() % 3 == 0)
            q.to_ms = base + (int64_t)(rnd() % 42) * 1000 + (int64_t)(rnd() % 3);
        q.sort = (enum call_sort)(rnd() % 3);
        if (q.sort == CALL_SORT_RELEVANCE && q.words == NULL)
            q.sort = CALL_SORT_OLDEST;
        q.limit = limits[rnd() % 5];
        got = search_all(st, &q, &total, &exact);
        want = oracle(db, &q, &want_total);
        if (strcmp(got, want) != 0 || total != want_total || !exact) {
            if (mismatches++ < 5)
                fprintf(stderr,
                        "query %d (fts %s phone %s dir %s sort %d limit %u): got %lld%s [%.200s]"
                        " want %lld [%.200s]\n",
                        i, q.words ? q.words->words[0] : "-", q.phone_digits ? q.phone_digits : "-",
                        q.direction ? q.direction : "-", (int)q.sort, q.limit, (long long)total,
                        exact ? "" : "+", got, (long long)want_total, want);
        }
        CHECK_STR_EQ(got, want);
        CHECK_INT_EQ(total, want_total);
        CHECK(exact);
        free(got);
        free(want);
    }
    for (i = 0; i < 6; i++)
        terms_free(fts_exprs[i]);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

/* Hundreds of calls in one millisecond: pages still meet without gaps or repeats. */
static void test_search_same_ms(void)
{
    struct fx f;
    struct store *st;
    sqlite3 *db;
    struct call_query q;
    int64_t total, want_total;
    bool exact;
    struct search_terms *fts;
    char *got, *want;
    enum call_sort sort;

    fx_init(&f, "search-same-ms");
    st = open_rw(f.path);
    gen_calls(st, 300, 300, 99);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT count(DISTINCT sort_ms) FROM calls"), 1);
    fts = fts_of("alpha");
    for (sort = CALL_SORT_NEWEST; sort <= CALL_SORT_OLDEST; sort++) {
        q_init(&q);
        q.sort = sort;
        q.limit = 7;
        got = search_all(st, &q, &total, &exact);
        want = oracle(db, &q, &want_total);
        CHECK_STR_EQ(got, want);
        CHECK_INT_EQ(total, 300);
        free(got);
        free(want);
        q.words = fts; /* walks search numbers */
        got = search_all(st, &q, &total, &exact);
        want = oracle(db, &q, &want_total);
        CHECK_STR_EQ(got, want);
        CHECK_INT_EQ(total, want_total);
        free(got);
        free(want);
        q.words = NULL;
        q.agent = "max";
        q.min_duration_s = 10; /* walks calls_scan */
        got = search_all(st, &q, &total, &exact);
        want = oracle(db, &q, &want_total);
        CHECK_STR_EQ(got, want);
        free(got);
        free(want);
        q.agent = NULL;
        q.min_duration_s = -1;
        q.phone_digits = "14155550123"; /* walks the number indexes */
        got = search_all(st, &q, &total, &exact);
        want = oracle(db, &q, &want_total);
        CHECK_STR_EQ(got, want);
        free(got);
        free(want);
    }
    terms_free(fts);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

/*
 * More calls than STORE_TOTAL_CAP, 4200 of them in one millisecond (more
 * than a millisecond's 4096 search numbers): the cap, the counting budget,
 * search numbers spilling into the next millisecond, the phone strategies
 * that only large data selects, completion by scanning, and interruption.
 */
static int64_t interrupt_left;

static bool interrupt_after(void *arg)
{
    (void)arg;
    return --interrupt_left < 0;
}

static void test_search_large(void)
{
    struct fx f;
    struct store *st;
    sqlite3 *db;
    struct call_query q;
    struct call_page page;
    struct err err = {0};
    int64_t base, total, want_total, crowded;
    bool exact, more;
    struct search_terms *fts;
    char *got, *want;
    cJSON *values, *j;

    fx_init(&f, "search-large");
    st = open_rw(f.path);
    base = gen_calls(st, 10300, 4200, 1234);
    db = raw_open(f.path);
    crowded = raw_int(db, "SELECT count(*) FROM calls WHERE sort_ms = 1772323205000");
    CHECK(crowded >= 4200);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE (search_rowid >> 12) != sort_ms"),
                 crowded - 4096);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM (SELECT search_rowid,"
                             " lag(search_rowid) OVER (ORDER BY sort_ms, id) AS prev FROM calls)"
                             " WHERE prev >= search_rowid"),
                 0);

    /* The cap. */
    q_init(&q);
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_INT_EQ(page.total, STORE_TOTAL_CAP);
    CHECK(!page.total_exact);
    CHECK(page.more);
    cJSON_Delete(page.calls);
    q.to_ms = base + 5001; /* the crowded millisecond and everything before it */
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_INT_EQ(page.total,
                 raw_int(db, "SELECT count(*) FROM calls WHERE sort_ms < 1772323205001"));
    CHECK(page.total_exact);
    cJSON_Delete(page.calls);

    /* Date bounds at the crowded millisecond are exact even for spilled numbers. */
    q_init(&q);
    q.from_ms = base + 5000;
    q.to_ms = base + 5001;
    q.limit = 100;
    fts = fts_of("alpha");
    q.words = fts;
    got = search_all(st, &q, &total, &exact);
    want = oracle(db, &q, &want_total);
    CHECK_STR_EQ(got, want);
    CHECK_INT_EQ(total, want_total);
    CHECK(exact);
    free(got);
    free(want);
    q.from_ms = base + 5001;
    q.to_ms = base + 6001;
    got = search_all(st, &q, &total, &exact);
    want = oracle(db, &q, &want_total);
    CHECK_STR_EQ(got, want);
    free(got);
    free(want);

    /* Text in every call with a filter: counting stops after its budget of text
     * matches, so total is a lower bound; the pages are still complete. */
    terms_free(fts);
    fts = fts_of("phonely");
    q_init(&q);
    q.words = fts;
    q.agent = "luna";
    q.limit = 100;
    got = search_all(st, &q, &total, &exact);
    want = oracle(db, &q, &want_total);
    CHECK_STR_EQ(got, want);
    CHECK(total > 1000 && total < want_total);
    CHECK(!exact);
    free(got);
    free(want);

    /* The same text with a number of a few hundred calls: that number's calls are
     * walked and each probed; counting stops after its budget of probes. */
    q_init(&q);
    q.words = fts;
    q.phone_digits = "14155550007";
    q.limit = 30;
    got = search_all(st, &q, &total, &exact);
    want = oracle(db, &q, &want_total);
    CHECK_STR_EQ(got, want);
    CHECK(want_total > 150);
    CHECK(total > 0 && total < want_total);
    CHECK(!exact);
    free(got);
    free(want);
    /* ... and the first page alone is exact when it holds everything. */
    q.to_ms = base + 1000;
    q.limit = 100;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    want = oracle(db, &q, &want_total);
    CHECK_INT_EQ(page.total, want_total);
    CHECK(page.total_exact);
    cJSON_Delete(page.calls);
    free(want);
    q_init(&q);
    q.phone_digits = "14155550000"; /* on most calls: checked in calls_scan */
    q.direction = "outbound";
    q.sentiment = "negative";
    q.limit = 100;
    q.from_ms = base + 20000;
    got = search_all(st, &q, &total, &exact);
    want = oracle(db, &q, &want_total);
    CHECK_STR_EQ(got, want);
    CHECK_INT_EQ(total, want_total);
    free(got);
    free(want);
    terms_free(fts);

    /* Relevance ranks the newest STORE_TOTAL_CAP text matches when there are more. */
    fts = fts_of("phonely");
    q_init(&q);
    q.words = fts;
    q.sort = CALL_SORT_RELEVANCE;
    q.limit = 100;
    q.offset = 200;
    got = search_page(st, &q, &page);
    CHECK_INT_EQ(page.total, STORE_TOTAL_CAP);
    CHECK(!page.total_exact);
    CHECK(page.more);
    cJSON_Delete(page.calls);
    {
        sqlite3_stmt *rs = NULL;
        struct buf b = {0};

        CHECK_INT_EQ(
            sqlite3_prepare_v2(
                db,
                "SELECT c.call_id FROM calls_fts f JOIN calls c ON c.search_rowid = f.rowid"
                " WHERE f.calls_fts MATCH ?1 AND f.rowid >= (SELECT rowid FROM calls_fts"
                " WHERE calls_fts MATCH ?1 ORDER BY rowid DESC LIMIT 1 OFFSET 9999)"
                " ORDER BY bm25(f.calls_fts, 1.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.0, 3.0),"
                " c.sort_ms DESC, c.id DESC LIMIT 100 OFFSET 200",
                -1, &rs, NULL),
            SQLITE_OK);
        char *match = store_sqlite_match(fts);

        sqlite3_bind_text(rs, 1, match, -1, SQLITE_TRANSIENT);
        free(match);
        while (sqlite3_step(rs) == SQLITE_ROW) {
            if (b.len > 0)
                buf_puts(&b, " ");
            buf_puts(&b, (const char *)sqlite3_column_text(rs, 0));
        }
        sqlite3_finalize(rs);
        want = buf_steal(&b, NULL);
        CHECK_STR_EQ(got, want);
        free(want);
    }
    free(got);
    terms_free(fts);

    /* Relevance pages past a few hundred rows by offset. */
    fts = fts_of("kilo");
    q_init(&q);
    q.words = fts;
    q.sort = CALL_SORT_RELEVANCE;
    q.limit = 100;
    q.offset = 300;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    CHECK_INT_EQ(cJSON_GetArraySize(page.calls), 100);
    cJSON_Delete(page.calls);
    terms_free(fts);

    /* Completion over many candidates scans by recency. */
    values = cJSON_CreateArray();
    CHECK_INT_EQ(store_complete(st, "call_id", "g", 3, values, &more, &err), 0);
    CHECK(more);
    CHECK_INT_EQ(cJSON_GetArraySize(values), 3);
    want = raw_text(db, "SELECT call_id FROM calls ORDER BY sort_ms DESC, id DESC LIMIT 1");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetArrayItem(values, 0)), want);
    free(want);
    cJSON_Delete(values);
    values = cJSON_CreateArray();
    CHECK_INT_EQ(store_complete(st, "phone", "415", 100, values, &more, &err), 0);
    CHECK(!more);
    CHECK_INT_EQ(cJSON_GetArraySize(values), 31); /* 30 numbers and the heavy caller */
    cJSON_Delete(values);

    /* Interruption: a long statistics read is cancelled, then the store works again. */
    interrupt_left = 3;
    store_set_interrupt(st, interrupt_after, NULL);
    j = store_call_stats(st, INT64_MIN, INT64_MAX, 5, &err);
    CHECK(j == NULL);
    CHECK_INT_EQ(err.code, ERR_CANCELLED);
    interrupt_left = 3;
    q_init(&q);
    q.agent = "ava";
    q.min_duration_s = 599; /* a long calls_scan walk */
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CANCELLED);
    CHECK(page.calls == NULL);
    interrupt_left = 1000000000;
    CHECK_INT_EQ(store_search_calls(st, &q, 0, &page, &err), 0);
    cJSON_Delete(page.calls);
    store_set_interrupt(st, NULL, NULL);
    j = store_call_stats(st, INT64_MIN, INT64_MAX, 5, &err);
    CHECK(j != NULL);
    CHECK_DBL_NEAR(json_num(j, "calls"), 10300, 0);
    cJSON_Delete(j);
    /* An interrupted write is rolled back whole and the next one succeeds. */
    {
        enum { LATE = 30 };
        struct call c[LATE];
        struct delivery d[LATE], *items[LATE];
        char ids[LATE][16];
        struct store_counts n;
        int i;

        for (i = 0; i < LATE; i++) {
            snprintf(ids[i], sizeof ids[i], "late-%d", i);
            call_init(&c[i], ids[i]);
            c[i].transcript_text = "late words";
            d[i] = delivery_for(&c[i], "{}", ids[i], base);
            items[i] = &d[i];
        }
        interrupt_left = 1;
        store_set_interrupt(st, interrupt_after, NULL);
        CHECK_INT_EQ(store_put_deliveries(st, items, LATE, &err), -1);
        CHECK_INT_EQ(err.code, ERR_CANCELLED);
        CHECK_INT_EQ(store_counts(st, &n, &err), 0);
        CHECK_INT_EQ(n.calls, 10300);
        store_set_interrupt(st, NULL, NULL);
        CHECK_INT_EQ(store_put_deliveries(st, items, LATE, &err), 0);
        CHECK_INT_EQ(store_counts(st, &n, &err), 0);
        CHECK_INT_EQ(n.calls, 10300 + LATE);
    }
    CHECK_INT_EQ(fts_integrity(db), SQLITE_OK);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

/* Times before 1970 share search slot 0 and still sort, page and bound exactly. */
static void test_search_old_dates(void)
{
    static const int64_t when[] = {3, -10, 0, -5000, -62135596800000, 4, -10};
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct call_query q;
    int64_t total;
    bool exact;
    struct search_terms *fts;
    char *got;
    size_t i;

    fx_init(&f, "search-old");
    st = open_rw(f.path);
    for (i = 0; i < sizeof when / sizeof when[0]; i++) {
        struct call c;
        struct delivery d;
        char id[8];

        snprintf(id, sizeof id, "o%zu", i);
        call_init(&c, id);
        c.started_ms = when[i];
        c.transcript_text = "ancient words";
        d = delivery_for(&c, "{}", id, 1);
        CHECK_INT_EQ(put1(st, &d, &err), 0);
    }
    fts = fts_of("ancient");
    q_init(&q);
    q.limit = 2;
    got = search_all(st, &q, &total, &exact);
    CHECK_STR_EQ(got, "o5 o0 o2 o6 o1 o3 o4");
    free(got);
    q.words = fts;
    got = search_all(st, &q, &total, &exact);
    CHECK_STR_EQ(got, "o5 o0 o2 o6 o1 o3 o4");
    free(got);
    q.sort = CALL_SORT_OLDEST;
    got = search_all(st, &q, &total, &exact);
    CHECK_STR_EQ(got, "o4 o3 o1 o6 o2 o0 o5");
    free(got);
    q.sort = CALL_SORT_NEWEST;
    q.from_ms = -10;
    q.to_ms = 1;
    CHECK_SEARCH(st, &q, "o2 o6");
    q.limit = 20;
    CHECK_SEARCH(st, &q, "o2 o6 o1");
    q.words = NULL;
    CHECK_SEARCH(st, &q, "o2 o6 o1");
    q.from_ms = INT64_MIN;
    q.to_ms = -10;
    q.words = fts;
    CHECK_SEARCH(st, &q, "o3 o4");
    terms_free(fts);
    store_close(st);
    fx_done(&f);
}

/* A raw body stored the way the webhook stores it. */
static void put_body(struct store *st, const char *body, int64_t received_ms, const char *sha,
                     enum delivery_outcome want)
{
    struct call c;
    struct err err = {0};
    struct delivery d;

    CHECK_INT_EQ(payload_parse(body, strlen(body), &c, &err), 0);
    d = delivery_for(&c, body, sha, received_ms);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    CHECK_INT_EQ(d.outcome, want);
    payload_call_free(&c);
}

/*
 * Schema 4 kept a call's turns as JSON and derived the searchable text in
 * the view: such rows read the same, read-only before the upgrade and
 * after it, and an update stores them as text and index.
 */
static void test_upgrade_from_4(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    struct turn turns[] = {{TURN_AGENT, "assistant", "Line one\nand two"},
                           {TURN_CALLER, "user", "a \"quoted\" refund"}};
    const char *want = "[{\"role\":\"agent\",\"content\":\"Line one\\nand two\"},"
                       "{\"role\":\"caller\",\"content\":\"a \\\"quoted\\\" refund\"}]";
    sqlite3 *db;
    cJSON *j;
    char *text;

    fx_init(&f, "store-upgrade-4");
    st = open_rw(f.path);
    put_turns(st, "c4", turns, 2, "sha-4", 1);
    j = store_get_call(st, "c4", true, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "transcript"), want);
    cJSON_Delete(j);
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(fts_drift(db), 0);
    CHECK_INT_EQ(raw_int_p(db, "UPDATE calls SET turns = ?1, transcript = NULL RETURNING 0", want),
                 0);
    CHECK_INT_EQ(raw_exec(db,
                          "ALTER TABLE calls DROP COLUMN turn_index; DROP TABLE erasures;"
                          " DROP TABLE audit; DROP TABLE audit_calls; PRAGMA user_version = 4;"),
                 SQLITE_OK);
    CHECK_INT_EQ(fts_drift(db), 0); /* the view derives the same text from the JSON */
    sqlite3_close(db);

    /* Read-only on schema 4. */
    st = open_opts(f.path, true, 1000, 0);
    CHECK(st != NULL);
    j = store_get_call(st, "c4", true, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "transcript"), want);
    cJSON_Delete(j);
    text = store_call_transcript_text(st, "c4", &err);
    CHECK_STR_EQ(text, "Agent: Line one\nand two\nCaller: a \"quoted\" refund");
    free(text);
    store_close(st);

    /* Upgraded: the same; an update stores text and index, and the index stays in step. */
    st = open_rw(f.path);
    j = store_get_call(st, "c4", true, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "transcript"), want);
    cJSON_Delete(j);
    turns[1].content = "a \"quoted\" refund, again";
    put_turns(st, "c4", turns, 2, "sha-4b", 2);
    text = store_call_transcript_text(st, "c4", &err);
    CHECK_STR_EQ(text, "Agent: Line one\nand two\nCaller: a \"quoted\" refund, again");
    free(text);
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT turns IS NULL AND turn_index IS NOT NULL FROM calls"), 1);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM deliveries WHERE outcome = 'updated'"), 1);
    CHECK_INT_EQ(fts_hits(db, "again"), 1);
    CHECK_INDEX_SOUND(db);
    sqlite3_close(db);
    turns[1].content = "a \"quoted\" refund";
    fx_done(&f);
}

/*
 * A database from schema 2 keeps no calls.extra: its calls report the extra
 * members of their raw bodies, read-only before the upgrade and after it,
 * until an update stores them with the call.
 */
static void test_upgrade_from_2(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    sqlite3 *db;
    cJSON *j;
    const char *body = "{\"callId\":\"c2\",\"summary\":\"old\",\"vendor\":{\"tier\":2}}";

    fx_init(&f, "store-upgrade-2");
    st = open_rw(f.path);
    put_body(st, body, 1, "sha-1", DELIVERY_STORED);
    store_close(st);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM calls WHERE extra_known = 1 AND"
                             " extra = '{\"vendor\":{\"tier\":2}}'"),
                 1);
    CHECK_INT_EQ(raw_exec(db, "ALTER TABLE calls DROP COLUMN extra;"
                              "ALTER TABLE calls DROP COLUMN extra_known;"
                              "ALTER TABLE calls DROP COLUMN turn_index;"
                              "CREATE INDEX deliveries_sha ON deliveries (body_sha256);"
                              "DROP TABLE erasures; DROP TABLE audit; DROP TABLE audit_calls;"
                              "PRAGMA user_version = 2;"),
                 SQLITE_OK);
    sqlite3_close(db);

    /* Read-only: no migration, the schema 2 query. */
    st = open_opts(f.path, true, 1000, 0);
    CHECK(st != NULL);
    j = store_get_call(st, "c2", true, &err);
    CHECK(j != NULL);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "extra"), "{\"vendor\":{\"tier\":2}}");
    cJSON_Delete(j);
    store_close(st);

    /* Upgraded: the old row is read from its body, an update stores extra. */
    st = open_rw(f.path);
    j = store_get_call(st, "c2", true, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "extra"), "{\"vendor\":{\"tier\":2}}");
    cJSON_Delete(j);
    db = raw_open(f.path);
    CHECK_INT_EQ(raw_int(db, "PRAGMA user_version"), store_schema_version());
    CHECK_INT_EQ(raw_int(db, "SELECT extra_known FROM calls"), 0);
    CHECK_INT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_sha'"),
                 0);
    put_body(st, "{\"callId\":\"c2\",\"summary\":\"new\"}", 2, "sha-2", DELIVERY_UPDATED);
    CHECK_INT_EQ(raw_int(db, "SELECT extra_known FROM calls WHERE extra IS NULL"), 1);
    sqlite3_close(db);
    j = store_get_call(st, "c2", true, &err);
    CHECK(!json_has(j, "extra"));
    CHECK_STR_EQ(json_str(j, "summary"), "new");
    cJSON_Delete(j);
    store_close(st);
    fx_done(&f);
}

static void test_get_call(void)
{
    struct fx f;
    struct store *st;
    struct err err = {0};
    size_t len;
    char *loose = fixture_read("loose-call.json", &len), *sample;
    cJSON *j;

    fx_init(&f, "get-call");
    st = open_rw(f.path);
    put_body(st, loose, 1000, "loose-1", DELIVERY_STORED);
    put_body(st, loose, 2000, "loose-1", DELIVERY_DUPLICATE);

    j = store_get_call(st, "call_loose_0001", true, &err);
    CHECK(j != NULL);
    CHECK_JSON(j, "{\"callId\":\"call_loose_0001\",\"startedAt\":\"2026-05-25T07:15:00.250Z\","
                  "\"endedAt\":\"2026-05-25T07:16:35Z\",\"direction\":\"outbound\","
                  "\"customerPhone\":\"001 212 555 1234\",\"businessPhone\":\"(415) 555-1212\","
                  "\"agentName\":\"After Hours Line\",\"agentId\":\"agent_7f3a9c\","
                  "\"durationSeconds\":95.25,\"summary\":\"Caller asked about Saturday hours.\","
                  "\"purpose\":\"Office hours\",\"sentiment\":\"neutral\",\"topic\":\"42\","
                  "\"keyPoints\":[\"Open Saturday 9-1\"],\"followUp\":{\"flagged\":true,"
                  "\"status\":\"pending\",\"reason\":\"Caller wants a callback on Monday\"},"
                  "\"actionItems\":[\"Update website hours\"],\"aiSuccess\":true,"
                  "\"callTransferred\":false,\"endedReason\":\"assistant_hangup\","
                  "\"callOutcome\":\"Information provided\","
                  "\"dashboardUrl\":\"https://app.phonely.ai/calls/call_loose_0001\","
                  "\"transcript\":[{\"role\":\"agent\",\"content\":\"Thanks for calling, how can I "
                  "help?\"},{\"role\":\"caller\",\"content\":\"Is the office open on Saturday?\"},"
                  "{\"role\":\"system\",\"content\":\"caller placed on hold\"},{\"role\":\"agent\","
                  "\"content\":\"We are open from nine to one on Saturdays.\"}],"
                  "\"extra\":{\"storedVariables\":{\"preferredDay\":\"Monday\",\"vip\":false},"
                  "\"abTestId\":\"ab_12\",\"provider\":\"twilio\"},"
                  "\"deliveries\":[{\"id\":1,\"receivedAt\":\"1970-01-01T00:00:01Z\","
                  "\"source\":\"webhook\",\"status\":200,\"outcome\":\"stored\"},{\"id\":2,"
                  "\"receivedAt\":\"1970-01-01T00:00:02Z\",\"source\":\"webhook\",\"status\":200,"
                  "\"outcome\":\"duplicate\"}]}");
    cJSON_Delete(j);

    /* Without the transcript; after an update the extra fields follow the new body. */
    put_body(st,
             "{\"callId\":\"call_loose_0001\",\"callStarted\":\"2026-05-25T07:15:00Z\","
             "\"transcriptText\":\"Agent: hi\\nCaller: bye\",\"vendor\":{\"x\":[1,2]},"
             "\"call_id\":\"alias-is-known\"}",
             3000, "loose-2", DELIVERY_UPDATED);
    j = store_get_call(st, "call_loose_0001", false, &err);
    CHECK(!json_has(j, "transcript"));
    CHECK(!json_has(j, "transcriptText"));
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "extra"), "{\"vendor\":{\"x\":[1,2]}}");
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "deliveries")), 3);
    CHECK_STR_EQ(json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "deliveries"), 2),
                          "outcome"),
                 "updated");
    cJSON_Delete(j);
    j = store_get_call(st, "call_loose_0001", true, &err);
    CHECK_STR_EQ(json_str(j, "transcriptText"), "Agent: hi\nCaller: bye");
    CHECK(!json_has(j, "transcript"));
    CHECK(!json_has(j, "durationSeconds")); /* the new body has none */
    cJSON_Delete(j);

    /* Every field of the sample; no extra fields at all. */
    sample = fixture_read("sample-call.json", &len);
    put_body(st, sample, 4000, "sample", DELIVERY_STORED);
    j = store_get_call(st, "call_01HXY8ZZB6Q4DR9SS6S5KEM3CK", true, &err);
    CHECK(!json_has(j, "extra"));
    CHECK_STR_EQ(json_str(j, "startedAt"), "2026-05-24T18:02:14Z");
    CHECK_STR_EQ(json_str(j, "mentionedEmail"), "maria.h@example.com");
    CHECK_STR_EQ(json_str(j, "mentionedDate"), "2026-05-29");
    CHECK_STR_EQ(json_str(j, "mentionedTime"), "10:30");
    CHECK_STR_EQ(json_str(j, "longSummary") != NULL ? "yes" : "no", "yes");
    CHECK_STR_EQ(json_str(j, "recordingUrl"),
                 "https://app.phonely.ai/recordings/call_01HXY8ZZB6Q4DR9SS6S5KEM3CK.mp3");
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "keyPoints")), 3);
    {
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(j, "transcript");
        cJSON *turns;

        CHECK(cJSON_IsRaw(raw));
        turns = cJSON_Parse(raw->valuestring);
        CHECK_INT_EQ(cJSON_GetArraySize(turns), 6);
        cJSON_Delete(turns);
    }
    CHECK(!json_has(j, "unansweredQuestions")); /* an empty list is absent */
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "followUp"),
               "{\"flagged\":false,\"status\":\"none\"}");
    cJSON_Delete(j);
    free(sample);

    /* A body that is not JSON any more (a hand-made row) simply has no extra. */
    {
        struct call c;
        struct delivery d;

        call_init(&c, "odd");
        d = delivery_for(&c, "not json", "odd", 5000);
        CHECK_INT_EQ(put1(st, &d, &err), 0);
        j = store_get_call(st, "odd", true, &err);
        CHECK_JSON(j, "{\"callId\":\"odd\",\"followUp\":{\"flagged\":false,\"status\":\"none\"},"
                      "\"deliveries\":[{\"id\":5,\"receivedAt\":\"1970-01-01T00:00:05Z\","
                      "\"source\":\"webhook\",\"status\":200,\"outcome\":\"stored\"}]}");
        cJSON_Delete(j);
    }

    /* Turns that are not a JSON array any more (hand edited) are left out. */
    {
        sqlite3 *db = raw_open(f.path);
        const char *const bad[] = {"[{\"role\":\"agent\",", "{\"role\":\"agent\"}", "[1,]"};

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK_INT_EQ(raw_int_p(db,
                                   "UPDATE calls SET turns = ?1 WHERE call_id = 'odd'"
                                   " RETURNING 0",
                                   bad[i]),
                         0);
            j = store_get_call(st, "odd", true, &err);
            CHECK(j != NULL);
            CHECK(!json_has(j, "transcript"));
            cJSON_Delete(j);
        }
        CHECK_INT_EQ(raw_int_p(db,
                               "UPDATE calls SET turns = ?1 WHERE call_id = 'odd'"
                               " RETURNING 0",
                               " [{\"role\":\"agent\",\"content\":\"ok\"}]"),
                     0);
        j = store_get_call(st, "odd", true, &err);
        CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "transcript"),
                   " [{\"role\":\"agent\",\"content\":\"ok\"}]");
        cJSON_Delete(j);
        sqlite3_close(db);
    }

    /* An index that does not fit the text (hand edited): the text alone, never a bad read. */
    {
        sqlite3 *db = raw_open(f.path);
        struct turn tt[] = {{TURN_AGENT, NULL, "first turn"}, {TURN_CALLER, NULL, "second turn"}};
        char *t;

        put_turns(st, "c-turns", tt, 2, "c-turns", 6000);
        j = store_get_call(st, "c-turns", true, &err);
        CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "transcript"),
                   "[{\"role\":\"agent\",\"content\":\"first turn\"},{\"role\":\"caller\","
                   "\"content\":\"second turn\"}]");
        cJSON_Delete(j);
        CHECK_INT_EQ(raw_int_p(db,
                               "UPDATE calls SET turn_index = ?1 WHERE call_id = 'c-turns'"
                               " RETURNING 0",
                               "[[\"agent\",99999]]"),
                     0);
        j = store_get_call(st, "c-turns", true, &err);
        CHECK(!json_has(j, "transcript"));
        CHECK_STR_EQ(json_str(j, "transcriptText"), "first turn\nsecond turn");
        cJSON_Delete(j);
        t = store_call_transcript_text(st, "c-turns", &err);
        CHECK_STR_EQ(t, "first turn\nsecond turn");
        free(t);
        sqlite3_close(db);
    }

    CHECK(store_get_call(st, "call_missing", true, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "call_missing") == NULL);
    CHECK(store_get_call(st, NULL, true, &err) == NULL);
    free(loose);
    store_close(st);
    fx_done(&f);
}

static void test_transcript_text(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "transcript");
    struct err err = {0};
    struct turn turns[] = {{TURN_AGENT, "assistant", "Hello"},
                           {TURN_OTHER, "system", "on hold"},
                           {TURN_OTHER, "8bit", "x"},
                           {TURN_CALLER, "user", "Line one\nline two"}};
    struct call c;
    struct delivery d;
    char *t;

    t = store_call_transcript_text(st, "h01", &err);
    CHECK_STR_EQ(t, "Agent: Hello, you reached Phonely Dental\n"
                    "Caller: I need a cleaning appointment next week");
    free(t);
    t = store_call_transcript_text(st, "h02", &err);
    CHECK_STR_EQ(t, "The cancellation fee is too high, I saw docker-compose in the bill");
    free(t);
    CHECK(store_call_transcript_text(st, "h05", &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "no transcript");
    CHECK(store_call_transcript_text(st, "zz", &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "no such call");

    call_init(&c, "roles");
    c.turns = turns;
    c.nturns = 4;
    d = delivery_for(&c, "{}", "roles", 1);
    CHECK_INT_EQ(put1(st, &d, &err), 0);
    t = store_call_transcript_text(st, "roles", &err);
    CHECK_STR_EQ(t, "Agent: Hello\nSystem: on hold\n8bit: x\nCaller: Line one\nline two");
    free(t);
    store_close(st);
    fx_done(&f);
}

static void test_set_follow_up(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "set-follow-up"), *ro;
    struct err err = {0};
    struct call_query q;
    cJSON *out = NULL, *j;
    sqlite3 *db = raw_open(f.path);
    const int64_t t1 = iso_ms("2026-06-02T10:00:00Z"), t2 = iso_ms("2026-06-02T11:00:00Z");

    /* Resolve a pending call. */
    CHECK_INT_EQ(store_set_follow_up(st, "h02", true, "refunded", "ann", t1, &out, &err), 0);
    CHECK_JSON(out, "{\"flagged\":true,\"status\":\"resolved\",\"reason\":\"wants a refund\","
                    "\"resolvedAt\":\"2026-06-02T10:00:00Z\",\"resolvedBy\":\"ann\","
                    "\"note\":\"refunded\"}");
    cJSON_Delete(out);
    /* Again, with nothing new: the first resolution stands. */
    CHECK_INT_EQ(store_set_follow_up(st, "h02", true, NULL, NULL, t2, &out, &err), 0);
    CHECK_STR_EQ(json_str(out, "resolvedAt"), "2026-06-02T10:00:00Z");
    cJSON_Delete(out);
    CHECK_INT_EQ(store_set_follow_up(st, "h02", true, "refunded", "ann", t2, &out, &err), 0);
    CHECK_STR_EQ(json_str(out, "resolvedAt"), "2026-06-02T10:00:00Z");
    cJSON_Delete(out);
    /* A different note (by kept) takes the new time. */
    CHECK_INT_EQ(store_set_follow_up(st, "h02", true, "refunded twice", NULL, t2, &out, &err), 0);
    CHECK_JSON(out, "{\"flagged\":true,\"status\":\"resolved\",\"reason\":\"wants a refund\","
                    "\"resolvedAt\":\"2026-06-02T11:00:00Z\",\"resolvedBy\":\"ann\","
                    "\"note\":\"refunded twice\"}");
    cJSON_Delete(out);
    CHECK_SQL_TEXT(db,
                   "SELECT follow_up_status || '|' || resolved_ms || '|' || resolved_by || '|' ||"
                   " resolution_note FROM calls WHERE call_id = 'h02'",
                   "resolved|1780398000000|ann|refunded twice");

    /* The search sees it. */
    q_init(&q);
    q.follow_up_status = "resolved";
    CHECK_SEARCH(st, &q, "h02");
    q.follow_up_status = "pending";
    CHECK_SEARCH(st, &q, "h06 h03");

    /* Reopen: pending again, the resolution cleared; reopening twice changes nothing. */
    CHECK_INT_EQ(store_set_follow_up(st, "h02", false, NULL, "bob", t2, &out, &err), 0);
    CHECK_JSON(out, "{\"flagged\":true,\"status\":\"pending\",\"reason\":\"wants a refund\"}");
    cJSON_Delete(out);
    CHECK_INT_EQ(store_set_follow_up(st, "h02", false, NULL, NULL, t2, NULL, &err), 0);
    CHECK_SQL_TEXT(db,
                   "SELECT follow_up_status || '|' || coalesce(resolved_ms, '-') || '|' ||"
                   " coalesce(resolved_by, '-') || '|' || coalesce(resolution_note, '-')"
                   " FROM calls WHERE call_id = 'h02'",
                   "pending|-|-|-");
    CHECK_INT_EQ(store_set_follow_up(st, "h02", false, "still waiting", NULL, t2, &out, &err), 0);
    CHECK_STR_EQ(json_str(out, "note"), "still waiting");
    cJSON_Delete(out);

    /* A call never flagged can be resolved (handled), and then reopened as pending. */
    CHECK_INT_EQ(store_set_follow_up(st, "h01", true, NULL, NULL, t1, &out, &err), 0);
    CHECK_JSON(out, "{\"flagged\":false,\"status\":\"resolved\","
                    "\"resolvedAt\":\"2026-06-02T10:00:00Z\"}");
    cJSON_Delete(out);
    CHECK_INT_EQ(store_set_follow_up(st, "h01", false, NULL, NULL, t2, &out, &err), 0);
    CHECK_STR_EQ(json_str(out, "status"), "pending");
    cJSON_Delete(out);

    /* get_call shows the resolution fields. */
    CHECK_INT_EQ(store_set_follow_up(st, "h03", true, "called back", "cy", t1, NULL, &err), 0);
    j = store_get_call(st, "h03", false, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "followUp"),
               "{\"flagged\":true,\"status\":\"resolved\",\"reason\":\"call back\","
               "\"resolvedAt\":\"2026-06-02T10:00:00Z\",\"resolvedBy\":\"cy\","
               "\"note\":\"called back\"}");
    cJSON_Delete(j);

    /* Unknown calls, and a read-only store, are refused without a change. */
    out = (cJSON *)&err; /* must be reset to NULL */
    CHECK_INT_EQ(store_set_follow_up(st, "nope", true, NULL, NULL, t1, &out, &err), -1);
    CHECK_INT_EQ(err.code, ERR_NOT_FOUND);
    CHECK(out == NULL);
    ro = open_opts(f.path, true, 1000, 0);
    CHECK_INT_EQ(store_set_follow_up(ro, "h06", true, "x", "y", t1, &out, &err), -1);
    CHECK_INT_EQ(err.code, ERR_STORAGE);
    CHECK_STR_CONTAINS(err.msg, "read-only");
    CHECK_SQL_TEXT(db, "SELECT follow_up_status FROM calls WHERE call_id = 'h06'", "pending");
    /* ... but it reads. */
    q_init(&q);
    q.follow_up_status = "resolved";
    CHECK_SEARCH(ro, &q, "h03");
    store_close(ro);
    sqlite3_close(db);
    store_close(st);
    fx_done(&f);
}

static void test_stats(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "stats");
    struct err err = {0};
    cJSON *j;

    j = store_call_stats(st, INT64_MIN, INT64_MAX, 10, &err);
    CHECK_JSON(j,
               "{\"calls\":7,\"duration\":{\"totalSeconds\":645,\"average\":107.5,\"min\":30,"
               "\"max\":300,\"median\":75},\"followUps\":{\"flagged\":3,\"pending\":3,"
               "\"resolved\":0,\"rate\":0.4286},\"byDay\":[{\"date\":\"2026-05-01\",\"calls\":2},"
               "{\"date\":\"2026-05-02\",\"calls\":2},{\"date\":\"2026-05-03\",\"calls\":2},"
               "{\"date\":\"2026-05-04\",\"calls\":1}],\"byDirection\":{\"inbound\":5,"
               "\"outbound\":2},\"bySentiment\":{\"positive\":3,\"neutral\":2,\"negative\":1,"
               "\"unknown\":1},\"byTopic\":[{\"topic\":\"Billing\",\"calls\":3},"
               "{\"topic\":\"Hours\",\"calls\":2},{\"topic\":\"Appointment Scheduling\","
               "\"calls\":1}],\"byAgent\":[{\"agent\":\"Max\",\"calls\":3},{\"agent\":\"ava\","
               "\"calls\":2},{\"agent\":\"Luna\",\"calls\":1}]}");
    cJSON_Delete(j);

    /* One day, [from, to): h03 at midnight and h04 a millisecond before the next. */
    CHECK_INT_EQ(store_set_follow_up(st, "h03", true, NULL, NULL, 1, NULL, &err), 0);
    j = store_call_stats(st, iso_ms("2026-05-02"), iso_ms("2026-05-03"), 1, &err);
    CHECK_JSON(j, "{\"calls\":2,\"duration\":{\"totalSeconds\":90,\"average\":45,\"min\":30,"
                  "\"max\":60,\"median\":45},\"followUps\":{\"flagged\":1,\"pending\":0,"
                  "\"resolved\":1,\"rate\":0.5},\"byDay\":[{\"date\":\"2026-05-02\",\"calls\":2}],"
                  "\"byDirection\":{\"inbound\":1,\"outbound\":1},\"bySentiment\":{\"neutral\":1,"
                  "\"positive\":1},\"byTopic\":[{\"topic\":\"billing\",\"calls\":1}],"
                  "\"byAgent\":[{\"agent\":\"ava\",\"calls\":1}]}");
    cJSON_Delete(j);

    /* An odd number of durations: the middle one. */
    j = store_call_stats(st, iso_ms("2026-05-01"), iso_ms("2026-05-02T23:00:00Z"), 0, &err);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "duration"),
               "{\"totalSeconds\":480,\"average\":160,\"min\":60,\"max\":300,\"median\":120}");
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "byTopic"), "[]");
    cJSON_Delete(j);

    /* Many distinct values: the busiest first, then by name, capped at top_n. */
    {
        struct call c[150];
        struct delivery d[150], *items[150];
        char ids[150][16], topics[150][16];
        int i;

        for (i = 0; i < 150; i++) {
            snprintf(ids[i], sizeof ids[i], "t%03d", i);
            snprintf(topics[i], sizeof topics[i], "Topic %03d", i < 10 ? 149 : i);
            call_init(&c[i], ids[i]);
            c[i].started_ms = iso_ms("2027-01-02T00:00:00Z") + i;
            c[i].topic = topics[i];
            d[i] = delivery_for(&c[i], "{}", ids[i], 1);
            items[i] = &d[i];
        }
        CHECK_INT_EQ(store_put_deliveries(st, items, 150, &err), 0);
        j = store_call_stats(st, iso_ms("2027-01-01"), iso_ms("2028-01-01"), 3, &err);
        CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "byTopic"),
                   "[{\"topic\":\"Topic 149\",\"calls\":11},{\"topic\":\"Topic 010\",\"calls\":1},"
                   "{\"topic\":\"Topic 011\",\"calls\":1}]");
        CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "byDirection"), "{\"unknown\":150}");
        cJSON_Delete(j);
    }

    /* A period without calls. */
    j = store_call_stats(st, iso_ms("2028-01-01"), iso_ms("2029-01-01"), 5, &err);
    CHECK_DBL_NEAR(json_num(j, "calls"), 0, 0);
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(j, "byDay"), "[]");
    cJSON_Delete(j);
    store_close(st);
    fx_done(&f);
}

static void test_top_items(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "top-items");
    struct err err = {0};
    cJSON *j;

    j = store_top_list_items(st, "action_items", INT64_MIN, INT64_MAX, false, 10, &err);
    CHECK_JSON(j, "[{\"text\":\"call back\",\"calls\":2,\"lastCallId\":\"h03\","
                  "\"lastAt\":\"2026-05-02T00:00:00Z\"},{\"text\":\"Refund the cancellation fee\","
                  "\"calls\":1,\"lastCallId\":\"h02\",\"lastAt\":\"2026-05-01T10:00:00Z\"},"
                  "{\"text\":\"Send confirmation email\",\"calls\":1,\"lastCallId\":\"h01\","
                  "\"lastAt\":\"2026-05-01T09:00:00Z\"}]");
    cJSON_Delete(j);
    j = store_top_list_items(st, "action_items", INT64_MIN, INT64_MAX, false, 1, &err);
    CHECK_INT_EQ(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
    j = store_top_list_items(st, "unanswered_questions", INT64_MIN, INT64_MAX, false, 10, &err);
    CHECK_JSON(j, "[{\"text\":\"what is the cancellation fee?\",\"calls\":2,\"lastCallId\":\"h03\","
                  "\"lastAt\":\"2026-05-02T00:00:00Z\"}]");
    cJSON_Delete(j);
    /* Only open follow-ups; and the period is [from, to). */
    CHECK_INT_EQ(store_set_follow_up(st, "h03", true, NULL, NULL, 1, NULL, &err), 0);
    j = store_top_list_items(st, "unanswered_questions", INT64_MIN, INT64_MAX, true, 10, &err);
    CHECK_JSON(j, "[{\"text\":\"What is the cancellation fee?\",\"calls\":1,\"lastCallId\":\"h02\","
                  "\"lastAt\":\"2026-05-01T10:00:00Z\"}]");
    cJSON_Delete(j);
    j = store_top_list_items(st, "action_items", iso_ms("2026-05-01T09:00:00.001Z"),
                             iso_ms("2026-05-02"), false, 10, &err);
    CHECK_JSON(j, "[{\"text\":\"Call back\",\"calls\":1,\"lastCallId\":\"h02\","
                  "\"lastAt\":\"2026-05-01T10:00:00Z\"},{\"text\":\"Refund the cancellation "
                  "fee\",\"calls\":1,\"lastCallId\":\"h02\",\"lastAt\":\"2026-05-01T10:00:00Z\"}]");
    cJSON_Delete(j);
    /* A call listing the same entry twice counts once; it is the newest now. */
    {
        char *twice[] = {"CALL BACK", " call back\t", "call  back"};
        struct call c;
        struct delivery d;

        call_init(&c, "h08");
        c.started_ms = iso_ms("2026-05-05T00:00:00Z");
        c.action_items = (struct strlist){twice, 3};
        d = delivery_for(&c, "{}", "h08", 1);
        CHECK_INT_EQ(put1(st, &d, &err), 0);
        j = store_top_list_items(st, "action_items", INT64_MIN, INT64_MAX, false, 2, &err);
        CHECK_JSON(j, "[{\"text\":\"CALL BACK\",\"calls\":3,\"lastCallId\":\"h08\","
                      "\"lastAt\":\"2026-05-05T00:00:00Z\"},{\"text\":\"call  back\",\"calls\":1,"
                      "\"lastCallId\":\"h08\",\"lastAt\":\"2026-05-05T00:00:00Z\"}]");
        cJSON_Delete(j);
    }
    CHECK(store_top_list_items(st, "key_points", INT64_MIN, INT64_MAX, false, 10, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK(store_top_list_items(st, "action_items; DROP TABLE calls", 0, 1, false, 1, &err) == NULL);
    store_close(st);
    fx_done(&f);
}

static char *complete(struct store *st, const char *field, const char *prefix, unsigned limit,
                      bool *more)
{
    struct err err = {0};
    cJSON *values = cJSON_CreateArray();
    char *t;

    if (store_complete(st, field, prefix, limit, values, more, &err) == -1) {
        cJSON_Delete(values);
        return xasprintf("ERR:%s", err_code_name(err.code));
    }
    t = json_text(values);
    cJSON_Delete(values);
    return t;
}

#define CHECK_COMPLETE(st, field, prefix, limit, want, want_more)                                  \
    do {                                                                                           \
        bool more_ = !(want_more);                                                                 \
        char *got_ = complete((st), (field), (prefix), (limit), &more_);                           \
        CHECK_STR_EQ(got_, (want));                                                                \
        CHECK_INT_EQ(more_, (want_more));                                                          \
        free(got_);                                                                                \
    } while (0)

static void test_complete(void)
{
    struct fx f;
    struct store *st = hand_store(&f, "complete");

    CHECK_COMPLETE(st, "call_id", "h0", 10,
                   "[\"h07\",\"h06\",\"h05\",\"h04\",\"h03\",\"h02\",\"h01\"]", false);
    CHECK_COMPLETE(st, "call_id", "h0", 3, "[\"h07\",\"h06\",\"h05\"]", true);
    CHECK_COMPLETE(st, "call_id", "", 2, "[\"h07\",\"h06\"]", true);
    CHECK_COMPLETE(st, "call_id", "h03", 10, "[\"h03\"]", false);
    CHECK_COMPLETE(st, "call_id", "H0", 10, "[]", false);
    CHECK_COMPLETE(st, "call_id", "x", 10, "[]", false);
    CHECK_COMPLETE(st, "call_id", "h03\xff", 10, "[]", false);
    CHECK_COMPLETE(st, "call_id", "h0", 0, "[]", true);

    /* Numbers: by digits, North American without the 1, newest spelling, once each. */
    CHECK_COMPLETE(st, "phone", "415", 10, "[\"+14155550000\",\"4155557777\",\"415-555-8888\"]",
                   false);
    CHECK_COMPLETE(st, "phone", "(415) 555-7", 10, "[\"4155557777\"]", false);
    CHECK_COMPLETE(st, "phone", "1415555", 2, "[\"+14155550000\",\"4155557777\"]", true);
    CHECK_COMPLETE(st, "phone", "+44", 10, "[\"+44 20 7946 0958\"]", false);
    CHECK_COMPLETE(st, "phone", "+1 212", 10, "[\"+1 212 555 1234\"]", false);
    CHECK_COMPLETE(st, "phone", "212", 10, "[\"+1 212 555 1234\"]", false);
    CHECK_COMPLETE(st, "phone", "+212", 10, "[]", false);
    CHECK_COMPLETE(st, "phone", "", 10,
                   "[\"+14155550000\",\"+1 212 555 1234\",\"+44 20 7946 0958\",\"4155557777\","
                   "\"415-555-8888\"]",
                   false);
    CHECK_COMPLETE(st, "phone", "1234567890123456", 10, "[]", false);
    CHECK_COMPLETE(st, "agent", "a", 10, "ERR:invalid", false);
    store_close(st);
    fx_done(&f);
}

/* What logs may show of a --db value: every password hidden, the rest as given. */
static void test_db_display(void)
{
    static const struct {
        const char *db, *shown;
    } cases[] = {
        {"/var/lib/phonely-mcp/calls.db", "/var/lib/phonely-mcp/calls.db"},
        {"postgresql://phonely@db:5432/calls", "postgresql://phonely@db:5432/calls"},
        {"postgresql://phonely:s3cret@db/calls", "postgresql://phonely@db/calls"},
        {"postgres://u:p%40ss@h/d?sslmode=require", "postgres://u@h/d?sslmode=require"},
        {"postgresql://h/d?password=s3cret", "postgresql://h/d?password=***"},
        {"postgresql://h/d?sslmode=require&password=s3cret&application_name=x",
         "postgresql://h/d?sslmode=require&password=***&application_name=x"},
        {"postgresql:///d?host=/run/pg&password=a&password=b",
         "postgresql:///d?host=/run/pg&password=***&password=***"},
        {"postgresql://", "postgresql://"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = store_db_display(cases[i].db);

        CHECK_STR_EQ(got, cases[i].shown);
        free(got);
    }
    CHECK(store_is_postgres_uri("postgres://x"));
    CHECK(store_is_postgres_uri("postgresql://x"));
    CHECK(!store_is_postgres_uri("postgresql:/x"));
    CHECK(!store_is_postgres_uri("./postgresql://x"));
    CHECK(!store_is_postgres_uri(NULL));
}

int main(void)
{
    sqlite3_auto_extension((void (*)(void))capture_db);
    RUN(test_db_display);
    xmalloc_init_json();
    RUN(test_callfmt);
    RUN(test_open_schema);
    RUN(test_pragmas);
    RUN(test_outcomes);
    RUN(test_columns);
    RUN(test_follow_up);
    RUN(test_fts);
    RUN(test_batch);
    RUN(test_batch_updates_within);
    RUN(test_upgrade_from_1);
    RUN(test_upgrade_from_4);
    RUN(test_checkpointer);
    RUN(test_read_only);
    RUN(test_full_statvfs);
    RUN(test_full_sqlite);
    RUN(test_rollback_mid_batch);
    RUN(test_busy);
    RUN(test_list);
    RUN(test_bodies);
    RUN(test_check);
    RUN(test_bad_input);
    RUN(test_read_empty);
    RUN(test_search_filters);
    RUN(test_search_fields);
    RUN(test_search_invalid);
    RUN(test_search_oracle);
    RUN(test_search_same_ms);
    RUN(test_search_old_dates);
    RUN(test_search_large);
    RUN(test_get_call);
    RUN(test_upgrade_from_2);
    RUN(test_transcript_text);
    RUN(test_set_follow_up);
    RUN(test_stats);
    RUN(test_top_items);
    RUN(test_complete);
    sqlite3_reset_auto_extension();
    return check_report();
}
