/*
 * store.c: the SQLite implementation of store.h, and the only file that
 * includes <sqlite3.h>.
 *
 * A struct store owns one connection and every statement prepared on it.
 * Statements are prepared on first use from the static table below, kept
 * for the life of the store, and reset (bindings cleared) right after each
 * use, so no statement ever holds a read snapshot or a borrowed pointer
 * between calls. SQL takes values only through bound parameters; the
 * only text ever formatted into SQL is the schema version number.
 *
 * Durability: WAL with synchronous=FULL (set and read back at open), every
 * write in one BEGIN IMMEDIATE transaction, and a free-space check before a
 * write starts so that SQLite never has to run the disk dry.
 *
 * Ownership: strings in struct delivery and struct call are borrowed for the
 * duration of the call. Bodies handed out by store_delivery_body() and
 * store_call_raw() belong to the caller. Strings in struct delivery_row are
 * borrowed for the callback's duration.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <sqlite3.h>

#include "callfmt.h"
#include "store.h"
#include "xmalloc.h"

/* Truncate the WAL to at most 64 MiB after a checkpoint. */
#define STORE_JOURNAL_LIMIT_SQL "PRAGMA journal_size_limit = 67108864"

/*
 * Schema migrations: migrations[i] takes user_version i to i + 1. Append new
 * scripts; never edit one that has shipped.
 */
static const char *const migrations[] = {
    /* 1: deliveries, calls, the search view and its FTS5 index. */
    "CREATE TABLE deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  received_ms INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  peer TEXT,"
    "  status INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL"
    "    CHECK (outcome IN ('stored', 'updated', 'duplicate', 'rejected')),"
    "  reason TEXT,"
    "  call_id TEXT,"
    "  webhook_id TEXT,"
    "  body_size INTEGER NOT NULL,"
    "  body_sha256 TEXT,"
    "  body BLOB"
    ");"
    "CREATE INDEX deliveries_received ON deliveries (received_ms);"
    "CREATE INDEX deliveries_outcome ON deliveries (outcome, received_ms);"
    "CREATE INDEX deliveries_call ON deliveries (call_id);"
    "CREATE INDEX deliveries_sha ON deliveries (body_sha256);"
    "CREATE TABLE calls ("
    "  id INTEGER PRIMARY KEY,"
    "  call_id TEXT NOT NULL UNIQUE,"
    "  delivery_id INTEGER NOT NULL REFERENCES deliveries (id),"
    "  first_seen_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  started_ms INTEGER,"
    "  ended_ms INTEGER,"
    "  started_at TEXT,"
    "  ended_at TEXT,"
    "  sort_ms INTEGER NOT NULL,"
    "  duration_s REAL,"
    "  direction TEXT,"
    "  agent_id TEXT,"
    "  agent_name TEXT,"
    "  caller_name TEXT,"
    "  business_phone TEXT,"
    "  business_digits TEXT,"
    "  customer_phone TEXT,"
    "  customer_digits TEXT,"
    "  mentioned_email TEXT,"
    "  mentioned_date TEXT,"
    "  mentioned_time TEXT,"
    "  transcript TEXT,"
    "  turns TEXT,"
    "  summary TEXT,"
    "  long_summary TEXT,"
    "  purpose TEXT,"
    "  topic TEXT,"
    "  sentiment TEXT,"
    "  key_points TEXT,"
    "  action_items TEXT,"
    "  unanswered_questions TEXT,"
    "  follow_up INTEGER,"
    "  follow_up_reason TEXT,"
    "  ai_success INTEGER,"
    "  call_transferred INTEGER,"
    "  workflow_triggered INTEGER,"
    "  recording_url TEXT,"
    "  dashboard_url TEXT,"
    "  ended_reason TEXT,"
    "  call_outcome TEXT,"
    "  follow_up_status TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (follow_up_status IN ('none', 'pending', 'resolved')),"
    "  resolved_ms INTEGER,"
    "  resolved_by TEXT,"
    "  resolution_note TEXT"
    ");"
    "CREATE INDEX calls_recent ON calls (sort_ms DESC, id DESC);"
    "CREATE INDEX calls_customer ON calls (customer_digits, sort_ms);"
    "CREATE INDEX calls_business ON calls (business_digits, sort_ms);"
    "CREATE INDEX calls_follow_up ON calls (follow_up_status, sort_ms);"
    "CREATE INDEX calls_direction ON calls (direction, sort_ms);"
    "CREATE INDEX calls_sentiment ON calls (sentiment);"
    "CREATE INDEX calls_topic ON calls (topic);"
    "CREATE INDEX calls_agent ON calls (agent_name);"
    "CREATE VIEW call_search AS SELECT id, transcript,"
    "  trim(coalesce(summary, '') || ' ' || coalesce(long_summary, '')) AS summary,"
    "  purpose, topic, key_points, action_items, unanswered_questions,"
    "  trim(coalesce(caller_name, '') || ' ' || coalesce(agent_name, '')) AS names"
    "  FROM calls;"
    "CREATE VIRTUAL TABLE calls_fts USING fts5("
    "  transcript, summary, purpose, topic, key_points, action_items,"
    "  unanswered_questions, names,"
    "  content='call_search', content_rowid='id',"
    "  tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The columns of calls_fts, in order, as the view call_search names them. */
#define FTS_COLUMNS                                                                                \
    "transcript, summary, purpose, topic, key_points, action_items, unanswered_questions, names"

/* Columns extracted from a call; the same named parameters serve INSERT and UPDATE. */
#define CALL_PARAMS_INSERT                                                                         \
    ":started_ms, :ended_ms, :started_at, :ended_at, :duration_s, :direction, :agent_id, "         \
    ":agent_name, :caller_name, :business_phone, :business_digits, :customer_phone, "              \
    ":customer_digits, :mentioned_email, :mentioned_date, :mentioned_time, :transcript, :turns, "  \
    ":summary, :long_summary, :purpose, :topic, :sentiment, :key_points, :action_items, "          \
    ":unanswered_questions, :follow_up, :follow_up_reason, :ai_success, :call_transferred, "       \
    ":workflow_triggered, :recording_url, :dashboard_url, :ended_reason, :call_outcome"
#define CALL_COLUMNS_INSERT                                                                        \
    "started_ms, ended_ms, started_at, ended_at, duration_s, direction, agent_id, agent_name, "    \
    "caller_name, business_phone, business_digits, customer_phone, customer_digits, "              \
    "mentioned_email, mentioned_date, mentioned_time, transcript, turns, summary, long_summary, "  \
    "purpose, topic, sentiment, key_points, action_items, unanswered_questions, follow_up, "       \
    "follow_up_reason, ai_success, call_transferred, workflow_triggered, recording_url, "          \
    "dashboard_url, ended_reason, call_outcome"

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_CALL_FIND,
    STMT_DELIVERY_INSERT,
    STMT_CALL_INSERT,
    STMT_CALL_UPDATE,
    STMT_FTS_DELETE,
    STMT_FTS_INSERT,
    STMT_CHECK,
    STMT_COUNTS,
    STMT_LIST_ALL,
    STMT_LIST_OUTCOME,
    STMT_DELIVERY_BODY,
    STMT_CALL_RAW,
    STMT_COUNT_ /* number of statements */
};

static const char *const stmt_sql[STMT_COUNT_] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_CALL_FIND] = "SELECT c.id, d.body_sha256 FROM calls c"
                       " JOIN deliveries d ON d.id = c.delivery_id WHERE c.call_id = ?1",
    [STMT_DELIVERY_INSERT] =
        "INSERT INTO deliveries (received_ms, source, peer, status, outcome, reason, call_id,"
        " webhook_id, body_size, body_sha256, body)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STMT_CALL_INSERT] =
        "INSERT INTO calls (call_id, delivery_id, first_seen_ms, updated_ms, sort_ms,"
        " follow_up_status, " CALL_COLUMNS_INSERT ")"
        " VALUES (:call_id, :delivery_id, :received_ms, :received_ms,"
        " coalesce(:started_ms, :ended_ms, :received_ms),"
        " CASE WHEN :follow_up = 1 THEN 'pending' ELSE 'none' END, " CALL_PARAMS_INSERT ")",
    /* first_seen_ms and the resolution fields stay; a resolved follow-up stays resolved. */
    [STMT_CALL_UPDATE] =
        "UPDATE calls SET delivery_id = :delivery_id, updated_ms = :received_ms,"
        " sort_ms = coalesce(:started_ms, :ended_ms, first_seen_ms),"
        " follow_up_status = CASE WHEN follow_up_status = 'resolved' THEN 'resolved'"
        " WHEN :follow_up = 1 THEN 'pending' ELSE 'none' END,"
        " started_ms = :started_ms, ended_ms = :ended_ms, started_at = :started_at,"
        " ended_at = :ended_at, duration_s = :duration_s, direction = :direction,"
        " agent_id = :agent_id, agent_name = :agent_name, caller_name = :caller_name,"
        " business_phone = :business_phone, business_digits = :business_digits,"
        " customer_phone = :customer_phone, customer_digits = :customer_digits,"
        " mentioned_email = :mentioned_email, mentioned_date = :mentioned_date,"
        " mentioned_time = :mentioned_time, transcript = :transcript, turns = :turns,"
        " summary = :summary, long_summary = :long_summary, purpose = :purpose,"
        " topic = :topic, sentiment = :sentiment, key_points = :key_points,"
        " action_items = :action_items, unanswered_questions = :unanswered_questions,"
        " follow_up = :follow_up, follow_up_reason = :follow_up_reason,"
        " ai_success = :ai_success, call_transferred = :call_transferred,"
        " workflow_triggered = :workflow_triggered, recording_url = :recording_url,"
        " dashboard_url = :dashboard_url, ended_reason = :ended_reason,"
        " call_outcome = :call_outcome"
        " WHERE id = :id",
    [STMT_FTS_DELETE] = "INSERT INTO calls_fts (calls_fts, rowid, " FTS_COLUMNS ")"
                        " SELECT 'delete', id, " FTS_COLUMNS " FROM call_search WHERE id = ?1",
    [STMT_FTS_INSERT] = "INSERT INTO calls_fts (rowid, " FTS_COLUMNS ")"
                        " SELECT id, " FTS_COLUMNS " FROM call_search WHERE id = ?1",
    [STMT_CHECK] = "SELECT max(id) FROM deliveries",
    [STMT_COUNTS] = "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM deliveries),"
                    " (SELECT count(*) FROM deliveries WHERE outcome = 'rejected')",
    [STMT_LIST_ALL] = "SELECT id, received_ms, source, peer, status, outcome, reason, call_id,"
                      " body_size, coalesce(length(body), 0), body_sha256 FROM deliveries"
                      " ORDER BY received_ms DESC, id DESC LIMIT ?1",
    [STMT_LIST_OUTCOME] = "SELECT id, received_ms, source, peer, status, outcome, reason,"
                          " call_id, body_size, coalesce(length(body), 0), body_sha256"
                          " FROM deliveries WHERE outcome = ?2"
                          " ORDER BY received_ms DESC, id DESC LIMIT ?1",
    [STMT_DELIVERY_BODY] = "SELECT body FROM deliveries WHERE id = ?1",
    [STMT_CALL_RAW] = "SELECT d.body FROM calls c JOIN deliveries d ON d.id = c.delivery_id"
                      " WHERE c.call_id = ?1",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT_];
    bool read_only;
    unsigned busy_timeout_ms;
    uint64_t min_free_bytes;
    char *file; /* absolute database file name; NULL for in-memory databases */
    char *dir;  /* its directory, for statvfs */
    dev_t dev;  /* identity of the file at open, to notice it being replaced */
    ino_t ino;
};

/* Text that calls.* columns hold in a derived form, made once per item. */
struct call_text {
    char *transcript;
    char *turns;
    char *key_points;
    char *action_items;
    char *unanswered_questions;
};

static const char *const outcome_names[] = {
    [DELIVERY_STORED] = "stored",
    [DELIVERY_UPDATED] = "updated",
    [DELIVERY_DUPLICATE] = "duplicate",
    [DELIVERY_REJECTED] = "rejected",
};

/* Fill err from an SQLite result code and the connection's message; returns -1. */
static int db_fail(struct store *st, struct err *err, int rc, const char *what)
{
    enum err_code code = ERR_STORAGE;

    switch (rc & 0xff) {
    case SQLITE_FULL:
        code = ERR_FULL;
        break;
    case SQLITE_IOERR:
        /* SQLite says SQLITE_FULL only for ENOSPC on a plain write; growing the
         * -shm file or hitting a quota shows up as an I/O error. */
        if (sqlite3_system_errno(st->db) == ENOSPC || sqlite3_system_errno(st->db) == EDQUOT)
            code = ERR_FULL;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return err_set(err, ERR_BUSY, "%s: database is locked (waited %u ms)", what,
                       st->busy_timeout_ms);
    default:
        break;
    }
    return err_set(err, code, "%s: %s", what, sqlite3_errmsg(st->db));
}

/* The statement for id, prepared on first use and kept; NULL with err set on failure. */
static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id, struct err *err)
{
    int rc;

    if (st->stmt[id] != NULL)
        return st->stmt[id];
    rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id],
                            NULL);
    if (rc != SQLITE_OK) {
        st->stmt[id] = NULL;
        db_fail(st, err, rc, "prepare");
        return NULL;
    }
    return st->stmt[id];
}

/* Reset a kept statement and drop its bindings, which may point at borrowed memory. */
static void stmt_release(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Step a statement that returns no rows to completion and release it. */
static int stmt_run(struct store *st, sqlite3_stmt *s, const char *what, struct err *err)
{
    int rc = sqlite3_step(s);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_fail(st, err, rc, what);
        stmt_release(s);
        return -1;
    }
    stmt_release(s);
    return 0;
}

/* Run one of the parameterless kept statements (BEGIN, COMMIT, ROLLBACK). */
static int stmt_exec(struct store *st, enum stmt_id id, const char *what, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);

    if (s == NULL)
        return -1;
    return stmt_run(st, s, what, err);
}

/* Turn a failed bind (a value over SQLite's length limit) into an error. */
static int bind_done(sqlite3_stmt *s, int rc, const char *name, struct err *err)
{
    if (rc == SQLITE_OK)
        return 0;
    return err_set(err, ERR_STORAGE, "bind %s: %s", name, sqlite3_errmsg(sqlite3_db_handle(s)));
}

/* Bind by name; a name missing from the statement is a bug in this file. */
static int bind_index(sqlite3_stmt *s, const char *name, struct err *err)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx == 0)
        err_set(err, ERR_INTERNAL, "statement has no parameter %s", name);
    return idx;
}

static int bind_text(sqlite3_stmt *s, const char *name, const char *value, struct err *err)
{
    int idx = bind_index(s, name, err);

    if (idx == 0)
        return -1;
    if (value == NULL)
        return bind_done(s, sqlite3_bind_null(s, idx), name, err);
    return bind_done(s, sqlite3_bind_text(s, idx, value, -1, SQLITE_STATIC), name, err);
}

static int bind_int64(sqlite3_stmt *s, const char *name, int64_t value, struct err *err)
{
    int idx = bind_index(s, name, err);

    if (idx == 0)
        return -1;
    return bind_done(s, sqlite3_bind_int64(s, idx, value), name, err);
}

/* A payload time: PAYLOAD_TIME_UNKNOWN becomes NULL. */
static int bind_time(sqlite3_stmt *s, const char *name, int64_t ms, struct err *err)
{
    int idx = bind_index(s, name, err);

    if (idx == 0)
        return -1;
    if (ms == PAYLOAD_TIME_UNKNOWN)
        return bind_done(s, sqlite3_bind_null(s, idx), name, err);
    return bind_done(s, sqlite3_bind_int64(s, idx, ms), name, err);
}

/* A tristate: TRI_UNKNOWN becomes NULL, the others 0 or 1. */
static int bind_tri(sqlite3_stmt *s, const char *name, enum tristate v, struct err *err)
{
    int idx = bind_index(s, name, err);

    if (idx == 0)
        return -1;
    if (v != TRI_TRUE && v != TRI_FALSE)
        return bind_done(s, sqlite3_bind_null(s, idx), name, err);
    return bind_done(s, sqlite3_bind_int(s, idx, v == TRI_TRUE), name, err);
}

static int bind_duration(sqlite3_stmt *s, const char *name, double secs, struct err *err)
{
    int idx = bind_index(s, name, err);

    if (idx == 0)
        return -1;
    if (!(secs >= 0))
        return bind_done(s, sqlite3_bind_null(s, idx), name, err);
    return bind_done(s, sqlite3_bind_double(s, idx, secs), name, err);
}

static void call_text_make(struct call_text *ct, const struct call *c)
{
    ct->transcript = callfmt_transcript_plain(c);
    ct->turns = callfmt_turns_json(c);
    ct->key_points = callfmt_strlist_json(&c->key_points);
    ct->action_items = callfmt_strlist_json(&c->action_items);
    ct->unanswered_questions = callfmt_strlist_json(&c->unanswered_questions);
}

static void call_text_free(struct call_text *ct)
{
    free(ct->transcript);
    free(ct->turns);
    free(ct->key_points);
    free(ct->action_items);
    free(ct->unanswered_questions);
}

/*
 * Bind the columns that INSERT and UPDATE share: everything extracted from
 * the call, the delivery it now comes from and the time it arrived.
 */
static int bind_call(sqlite3_stmt *s, const struct call *c, const struct call_text *ct,
                     int64_t delivery_id, int64_t received_ms, struct err *err)
{
    const struct {
        const char *name;
        const char *value;
    } texts[] = {
        {":started_at", c->started_at},
        {":ended_at", c->ended_at},
        {":direction", c->direction},
        {":agent_id", c->agent_id},
        {":agent_name", c->agent_name},
        {":caller_name", c->caller_name},
        {":business_phone", c->business_phone},
        {":business_digits", c->business_digits},
        {":customer_phone", c->customer_phone},
        {":customer_digits", c->customer_digits},
        {":mentioned_email", c->mentioned_email},
        {":mentioned_date", c->mentioned_date},
        {":mentioned_time", c->mentioned_time},
        {":transcript", ct->transcript},
        {":turns", ct->turns},
        {":summary", c->summary},
        {":long_summary", c->long_summary},
        {":purpose", c->purpose},
        {":topic", c->topic},
        {":sentiment", c->sentiment},
        {":key_points", ct->key_points},
        {":action_items", ct->action_items},
        {":unanswered_questions", ct->unanswered_questions},
        {":follow_up_reason", c->follow_up_reason},
        {":recording_url", c->recording_url},
        {":dashboard_url", c->dashboard_url},
        {":ended_reason", c->ended_reason},
        {":call_outcome", c->call_outcome},
    };
    const struct {
        const char *name;
        enum tristate value;
    } tris[] = {
        {":follow_up", c->follow_up},
        {":ai_success", c->ai_success},
        {":call_transferred", c->call_transferred},
        {":workflow_triggered", c->workflow_triggered},
    };
    size_t i;

    for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (bind_text(s, texts[i].name, texts[i].value, err) == -1)
            return -1;
    for (i = 0; i < sizeof tris / sizeof tris[0]; i++)
        if (bind_tri(s, tris[i].name, tris[i].value, err) == -1)
            return -1;
    if (bind_time(s, ":started_ms", c->started_ms, err) == -1 ||
        bind_time(s, ":ended_ms", c->ended_ms, err) == -1 ||
        bind_duration(s, ":duration_s", c->duration_s, err) == -1 ||
        bind_int64(s, ":delivery_id", delivery_id, err) == -1 ||
        bind_int64(s, ":received_ms", received_ms, err) == -1)
        return -1;
    return 0;
}

/* Fail with ERR_FULL when the database's volume has less than min_free_bytes free. */
static int store_space_check(struct store *st, struct err *err)
{
    struct statvfs sv;
    uint64_t avail;

    if (st->min_free_bytes == 0 || st->dir == NULL)
        return 0;
    if (statvfs(st->dir, &sv) == -1)
        return err_set(err, ERR_STORAGE, "statvfs %s: %s", st->dir, strerror(errno));
    if (sv.f_frsize != 0 && sv.f_bavail > UINT64_MAX / sv.f_frsize)
        avail = UINT64_MAX;
    else
        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail < st->min_free_bytes)
        return err_set(err, ERR_FULL, "less than %llu bytes free on the database volume",
                       (unsigned long long)st->min_free_bytes);
    return 0;
}

/* Insert the deliveries row for d with the given outcome; keep_body false stores no body. */
static int delivery_insert(struct store *st, const struct delivery *d, enum delivery_outcome oc,
                           int status, bool keep_body, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_DELIVERY_INSERT, err);
    const char *call_id = d->call != NULL ? d->call->call_id : NULL;
    uint64_t size = d->body_size > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : d->body_size;
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_bind_int64(s, 1, d->received_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, d->source, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 3, d->peer, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 4, status);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 5, outcome_names[oc], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 6, d->reason, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 7, call_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 8, d->webhook_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 9, (int64_t)size);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 10, d->body_sha256, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && keep_body && d->body != NULL)
        rc = sqlite3_bind_blob64(s, 11, d->body, d->body_len, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        db_fail(st, err, rc, "insert delivery");
        stmt_release(s);
        return -1;
    }
    if (stmt_run(st, s, "insert delivery", err) == -1)
        return -1;
    return 0;
}

/* Run the FTS statement id (delete or insert) for the call with rowid call_rowid. */
static int fts_sync(struct store *st, enum stmt_id id, int64_t call_rowid, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, call_rowid);
    return stmt_run(st, s, id == STMT_FTS_DELETE ? "unindex call" : "index call", err);
}

/*
 * Look up call_id: 1 and *rowid set when the call exists (*same set when its
 * current delivery has the digest sha), 0 when unknown, -1 on error.
 */
static int call_find(struct store *st, const char *call_id, const char *sha, int64_t *rowid,
                     bool *same, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_FIND, err);
    const unsigned char *cur;
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        db_fail(st, err, rc, "find call");
        stmt_release(s);
        return -1;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        stmt_release(s);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc, "find call");
        stmt_release(s);
        return -1;
    }
    *rowid = sqlite3_column_int64(s, 0);
    cur = sqlite3_column_text(s, 1);
    *same = sha != NULL && cur != NULL && strcmp(sha, (const char *)cur) == 0;
    stmt_release(s);
    return 1;
}

/* Insert a new call row from d, coming from delivery delivery_id; *rowid gets its id. */
static int call_insert(struct store *st, const struct delivery *d, const struct call_text *ct,
                       int64_t delivery_id, int64_t *rowid, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_INSERT, err);

    if (s == NULL)
        return -1;
    if (bind_call(s, d->call, ct, delivery_id, d->received_ms, err) == -1 ||
        bind_text(s, ":call_id", d->call->call_id, err) == -1) {
        stmt_release(s);
        return -1;
    }
    if (stmt_run(st, s, "insert call", err) == -1)
        return -1;
    *rowid = sqlite3_last_insert_rowid(st->db);
    return 0;
}

/* Replace the extracted columns of call rowid with those of d. */
static int call_update(struct store *st, const struct delivery *d, const struct call_text *ct,
                       int64_t delivery_id, int64_t rowid, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_UPDATE, err);

    if (s == NULL)
        return -1;
    if (bind_call(s, d->call, ct, delivery_id, d->received_ms, err) == -1 ||
        bind_int64(s, ":id", rowid, err) == -1) {
        stmt_release(s);
        return -1;
    }
    return stmt_run(st, s, "update call", err);
}

/* Record one delivery inside the open transaction and set its outcome and id. */
static int put_one(struct store *st, struct delivery *d, struct err *err)
{
    struct call_text ct = {0};
    int64_t rowid = 0;
    bool same = false;
    int found, status = d->status != 0 ? d->status : 200;

    if (d->call == NULL) {
        if (delivery_insert(st, d, DELIVERY_REJECTED, d->status, true, err) == -1)
            return -1;
        d->outcome = DELIVERY_REJECTED;
        d->delivery_id = sqlite3_last_insert_rowid(st->db);
        return 0;
    }
    found = call_find(st, d->call->call_id, d->body_sha256, &rowid, &same, err);
    if (found == -1)
        return -1;
    if (found && same) {
        if (delivery_insert(st, d, DELIVERY_DUPLICATE, status, false, err) == -1)
            return -1;
        d->outcome = DELIVERY_DUPLICATE;
        d->delivery_id = sqlite3_last_insert_rowid(st->db);
        return 0;
    }
    d->outcome = found ? DELIVERY_UPDATED : DELIVERY_STORED;
    if (delivery_insert(st, d, d->outcome, status, true, err) == -1)
        goto fail;
    d->delivery_id = sqlite3_last_insert_rowid(st->db);
    call_text_make(&ct, d->call);
    if (found) {
        if (fts_sync(st, STMT_FTS_DELETE, rowid, err) == -1 ||
            call_update(st, d, &ct, d->delivery_id, rowid, err) == -1)
            goto fail;
    } else if (call_insert(st, d, &ct, d->delivery_id, &rowid, err) == -1) {
        goto fail;
    }
    if (fts_sync(st, STMT_FTS_INSERT, rowid, err) == -1)
        goto fail;
    call_text_free(&ct);
    return 0;

fail:
    call_text_free(&ct);
    return -1;
}

/* Catch caller bugs before a transaction starts. */
static int check_items(struct delivery *const *items, size_t n, struct err *err)
{
    size_t i;

    if (n > 0 && items == NULL)
        return err_set(err, ERR_INTERNAL, "no deliveries given");
    for (i = 0; i < n; i++) {
        const struct delivery *d = items[i];

        if (d == NULL || d->source == NULL)
            return err_set(err, ERR_INTERNAL, "delivery %zu: no source", i);
        if (d->body == NULL && d->body_len != 0)
            return err_set(err, ERR_INTERNAL, "delivery %zu: body length without body", i);
        if (d->call != NULL && d->call->call_id == NULL)
            return err_set(err, ERR_INTERNAL, "delivery %zu: call without a call id", i);
    }
    return 0;
}

/*
 * Record n deliveries in one BEGIN IMMEDIATE transaction (see store.h). The
 * free-space check runs first so a nearly full volume refuses work before
 * SQLite starts writing. On failure the transaction is rolled back, every
 * item's outcome and delivery_id are zeroed, and the connection stays usable.
 */
int store_put_deliveries(struct store *st, struct delivery *const *items, size_t n, struct err *err)
{
    size_t i;

    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (check_items(items, n, err) == -1)
        return -1;
    if (n == 0)
        return 0;
    if (store_space_check(st, err) == -1)
        return -1;
    if (stmt_exec(st, STMT_BEGIN, "begin", err) == -1)
        goto fail;
    for (i = 0; i < n; i++)
        if (put_one(st, items[i], err) == -1)
            goto fail;
    if (stmt_exec(st, STMT_COMMIT, "commit", err) == -1)
        goto fail;
    return 0;

fail:
    /* SQLite may already have rolled back (e.g. after SQLITE_FULL); then skip it. */
    if (!sqlite3_get_autocommit(st->db))
        stmt_exec(st, STMT_ROLLBACK, "rollback", NULL);
    for (i = 0; i < n; i++) {
        items[i]->outcome = DELIVERY_STORED;
        items[i]->delivery_id = 0;
    }
    return -1;
}

/* Run a PRAGMA (trusted text) and copy the first column of its first row, if any, to out. */
static int pragma_text(struct store *st, const char *sql, char *out, size_t outsz, struct err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    out[0] = '\0';
    rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, err, rc, sql);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        if (v != NULL)
            snprintf(out, outsz, "%s", (const char *)v);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, sql);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}

static int pragma_int(struct store *st, const char *sql, int *out, struct err *err)
{
    char text[32];

    if (pragma_text(st, sql, text, sizeof text, err) == -1)
        return -1;
    *out = atoi(text);
    return 0;
}

/* Run one statement or script outside the kept set (open and migrations only). */
static int exec_script(struct store *st, const char *sql, const char *what, struct err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return db_fail(st, err, rc, what);
    return 0;
}

/*
 * Bring the schema to STORE_SCHEMA_VERSION, one BEGIN IMMEDIATE transaction
 * per step. The version is read again under the write lock, so two
 * processes opening a fresh database at once do not both migrate.
 */
static int store_migrate(struct store *st, struct err *err)
{
    char sql[64];
    int version;

    for (;;) {
        if (exec_script(st, "BEGIN IMMEDIATE", "migrate: begin", err) == -1)
            return -1;
        if (pragma_int(st, "PRAGMA user_version", &version, err) == -1)
            goto fail;
        if (version < 0 || version > STORE_SCHEMA_VERSION) {
            err_set(err, ERR_STORAGE,
                    "%s: schema version %d is newer than this build understands (%d)", st->file,
                    version, STORE_SCHEMA_VERSION);
            goto fail;
        }
        if (version == STORE_SCHEMA_VERSION)
            break;
        if (exec_script(st, migrations[version], "migrate", err) == -1)
            goto fail;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        if (exec_script(st, sql, "migrate: set version", err) == -1 ||
            exec_script(st, "COMMIT", "migrate: commit", err) == -1)
            goto fail;
    }
    return exec_script(st, "COMMIT", "migrate: commit", err);

fail:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* A read-only store cannot migrate: accept only an initialised, known schema. */
static int store_check_version(struct store *st, struct err *err)
{
    int version;

    if (pragma_int(st, "PRAGMA user_version", &version, err) == -1)
        return -1;
    if (version == 0)
        return err_set(err, ERR_STORAGE,
                       "%s: database not initialised; start the daemon once to create it",
                       st->file);
    if (version < 0 || version > STORE_SCHEMA_VERSION)
        return err_set(err, ERR_STORAGE,
                       "%s: schema version %d is newer than this build understands (%d)", st->file,
                       version, STORE_SCHEMA_VERSION);
    return 0;
}

/* Per-connection settings: defensive mode, busy timeout, WAL, FULL sync, foreign keys. */
static int store_configure(struct store *st, struct err *err)
{
    char mode[32];
    int on = 0, sync = -1;
    unsigned ms = st->busy_timeout_ms;

    if (sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK || on != 1)
        return err_set(err, ERR_STORAGE, "cannot enable defensive mode");
    sqlite3_busy_timeout(st->db, ms > INT_MAX ? INT_MAX : (int)ms);
    if (!st->read_only) {
        if (pragma_text(st, "PRAGMA journal_mode = WAL", mode, sizeof mode, err) == -1)
            return -1;
        if (strcmp(mode, "wal") != 0)
            return err_set(err, ERR_STORAGE, "%s: cannot enable WAL (journal mode is %s)", st->file,
                           mode[0] != '\0' ? mode : "unknown");
    }
    if (pragma_text(st, "PRAGMA synchronous = FULL", mode, sizeof mode, err) == -1 ||
        pragma_int(st, "PRAGMA synchronous", &sync, err) == -1)
        return -1;
    if (sync != 2)
        return err_set(err, ERR_STORAGE, "synchronous is %d after setting FULL (2)", sync);
    if (pragma_text(st, "PRAGMA foreign_keys = ON", mode, sizeof mode, err) == -1 ||
        pragma_text(st, STORE_JOURNAL_LIMIT_SQL, mode, sizeof mode, err) == -1)
        return -1;
    return 0;
}

/* Remember the file's name, directory and identity; in-memory databases have none. */
static int store_note_file(struct store *st, struct err *err)
{
    const char *name = sqlite3_db_filename(st->db, "main");
    const char *slash;
    struct stat sb;

    if (name == NULL || name[0] == '\0')
        return 0;
    st->file = xstrdup(name);
    slash = strrchr(name, '/');
    if (slash == NULL)
        st->dir = xstrdup(".");
    else if (slash == name)
        st->dir = xstrdup("/");
    else
        st->dir = xstrndup(name, (size_t)(slash - name));
    if (stat(st->file, &sb) == -1)
        return err_set(err, ERR_STORAGE, "%s: %s", st->file, strerror(errno));
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    return 0;
}

/*
 * Open the database at path (see store.h). A read-write store creates the
 * file, switches it to WAL and applies missing migrations; a read-only store
 * changes nothing and refuses an uninitialised or newer schema. Errors are
 * ERR_STORAGE (ERR_BUSY when a lock could not be had). The caller owns the
 * result and releases it with store_close().
 */
struct store *store_open(const char *path, const struct store_options *opt, struct err *err)
{
    static const struct store_options defaults = {0};
    struct store *st = NULL;
    int flags, rc;

    if (opt == NULL)
        opt = &defaults;
    if (path == NULL || path[0] == '\0') {
        err_set(err, ERR_CONFIG, "no database path");
        return NULL;
    }
    st = xcalloc(1, sizeof *st);
    st->read_only = opt->read_only;
    st->busy_timeout_ms = opt->busy_timeout_ms;
    st->min_free_bytes = opt->min_free_bytes;
    flags = opt->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_STORAGE, "%s: cannot open database%s: %s", path,
                opt->read_only ? " read-only" : "",
                st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (store_note_file(st, err) == -1 || store_configure(st, err) == -1)
        goto fail;
    if (st->read_only ? store_check_version(st, err) == -1 : store_migrate(st, err) == -1)
        goto fail;
    return st;

fail:
    store_close(st);
    return NULL;
}

/* Finalize every kept statement and close the connection; accepts NULL. */
void store_close(struct store *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < STMT_COUNT_; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st->file);
    free(st->dir);
    free(st);
}

/* The schema version this build writes: the number of migrations. */
int store_schema_version(void)
{
    return STORE_SCHEMA_VERSION;
}

/* The name stored in deliveries.outcome; "unknown" for values outside the enum. */
const char *delivery_outcome_name(enum delivery_outcome outcome)
{
    if ((unsigned)outcome < sizeof outcome_names / sizeof outcome_names[0])
        return outcome_names[outcome];
    return "unknown";
}

/*
 * Prove the database answers: the file opened is still the one at its path
 * (not removed or replaced underneath the daemon), and a read of the
 * deliveries table succeeds. ERR_STORAGE (or ERR_BUSY) otherwise.
 */
int store_check(struct store *st, struct err *err)
{
    sqlite3_stmt *s;
    struct stat sb;
    int rc;

    if (st->file != NULL) {
        if (stat(st->file, &sb) == -1)
            return err_set(err, ERR_STORAGE, "database file %s: %s", st->file, strerror(errno));
        if (sb.st_dev != st->dev || sb.st_ino != st->ino)
            return err_set(err, ERR_STORAGE, "database file %s was replaced after it was opened",
                           st->file);
    }
    if ((s = stmt_get(st, STMT_CHECK, err)) == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc, "check");
        stmt_release(s);
        return -1;
    }
    stmt_release(s);
    return 0;
}

/* Count calls, deliveries and rejected deliveries in one snapshot. */
int store_counts(struct store *st, struct store_counts *out, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_COUNTS, err);
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc, "count");
        stmt_release(s);
        return -1;
    }
    out->calls = sqlite3_column_int64(s, 0);
    out->deliveries = sqlite3_column_int64(s, 1);
    out->rejected = sqlite3_column_int64(s, 2);
    stmt_release(s);
    return 0;
}

static bool outcome_known(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof outcome_names / sizeof outcome_names[0]; i++)
        if (strcmp(name, outcome_names[i]) == 0)
            return true;
    return false;
}

/*
 * Call fn for at most limit deliveries, newest (by received time, then id)
 * first, optionally only those with the given outcome; ERR_INVALID for an
 * unknown outcome name. fn must not call back into this store's listing.
 * A non-zero return from fn stops the listing early; that is not an error.
 */
int store_list_deliveries(struct store *st, const char *outcome, unsigned limit,
                          int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                          struct err *err)
{
    sqlite3_stmt *s;
    struct delivery_row row;
    int rc;

    if (outcome != NULL && !outcome_known(outcome))
        return err_set(err, ERR_INVALID, "unknown delivery outcome");
    s = stmt_get(st, outcome != NULL ? STMT_LIST_OUTCOME : STMT_LIST_ALL, err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, (int64_t)limit);
    if (outcome != NULL)
        sqlite3_bind_text(s, 2, outcome, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row.id = sqlite3_column_int64(s, 0);
        row.received_ms = sqlite3_column_int64(s, 1);
        row.source = (const char *)sqlite3_column_text(s, 2);
        row.peer = (const char *)sqlite3_column_text(s, 3);
        row.status = sqlite3_column_int(s, 4);
        row.outcome = (const char *)sqlite3_column_text(s, 5);
        row.reason = (const char *)sqlite3_column_text(s, 6);
        row.call_id = (const char *)sqlite3_column_text(s, 7);
        row.body_size = (uint64_t)sqlite3_column_int64(s, 8);
        row.body_kept = (uint64_t)sqlite3_column_int64(s, 9);
        row.body_sha256 = (const char *)sqlite3_column_text(s, 10);
        if (fn(&row, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, "list deliveries");
        stmt_release(s);
        return -1;
    }
    stmt_release(s);
    return 0;
}

/*
 * Step s (bound to one key) and copy column 0, a body, to a new buffer with a
 * NUL after the last byte. what_missing names the ERR_NOT_FOUND cases.
 */
static int fetch_body(struct store *st, sqlite3_stmt *s, const char *what_missing, char **body,
                      size_t *len, struct err *err)
{
    const void *blob;
    size_t n;
    int rc = sqlite3_step(s);

    if (rc == SQLITE_DONE) {
        stmt_release(s);
        return err_set(err, ERR_NOT_FOUND, "no such %s", what_missing);
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc, "read body");
        stmt_release(s);
        return -1;
    }
    if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
        stmt_release(s);
        return err_set(err, ERR_NOT_FOUND, "no body kept for that %s", what_missing);
    }
    blob = sqlite3_column_blob(s, 0);
    n = (size_t)sqlite3_column_bytes(s, 0);
    *body = xmalloc(n + 1);
    if (n > 0)
        memcpy(*body, blob, n);
    (*body)[n] = '\0';
    *len = n;
    stmt_release(s);
    return 0;
}

/*
 * The raw body kept for delivery_id, exactly as stored (binary-safe, with a
 * NUL appended). ERR_NOT_FOUND when there is no such delivery or it kept no
 * body (duplicates do not). The caller frees *body.
 */
int store_delivery_body(struct store *st, int64_t delivery_id, char **body, size_t *len,
                        struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_DELIVERY_BODY, err);

    *body = NULL;
    *len = 0;
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, delivery_id);
    return fetch_body(st, s, "delivery", body, len, err);
}

/*
 * The raw body of the delivery call_id currently comes from (the newest
 * stored or updated one). ERR_NOT_FOUND when the call is unknown; the
 * message does not repeat the id. The caller frees *body.
 */
int store_call_raw(struct store *st, const char *call_id, char **body, size_t *len, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_RAW, err);

    *body = NULL;
    *len = 0;
    if (s == NULL)
        return -1;
    if (sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC) != SQLITE_OK) {
        stmt_release(s);
        return err_set(err, ERR_NOT_FOUND, "no such call");
    }
    return fetch_body(st, s, "call", body, len, err);
}
