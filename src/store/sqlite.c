/*
 * sqlite.c: the SQLite backend of the storage layer (backend.h), the
 * embedded default, and the only file that includes <sqlite3.h>.
 *
 * A struct sq_store owns one connection and every statement prepared on it.
 * Statements are prepared on first use from the static table below, kept
 * for the life of the store, and reset (bindings cleared) right after each
 * use, so no statement ever holds a read snapshot or a borrowed pointer
 * between calls. SQL takes values only through bound parameters. Searches
 * are assembled from the fixed fragments in this file (which filters are
 * present decides which fragments, never what they contain) and kept in a
 * small cache keyed by their text; the only other text formatted into SQL
 * is the schema version number.
 *
 * Search: every call carries a search_rowid whose order is (sort_ms, id)
 * order, and calls_fts is keyed by it, so full-text results come newest
 * first straight off the FTS5 doclists, and times and keysets become rowid
 * bounds by one index lookup each. store_search_calls() picks the index to
 * walk per query (text, phone number, compact filter index, or plain
 * SQL); reads that take several statements run in one read transaction.
 *
 * Durability: WAL with synchronous=FULL (set and read back at open; the
 * ingest writer trades it for NORMAL plus its own flushes, store_wal_open),
 * every write in one BEGIN IMMEDIATE transaction, and a free-space check
 * before a write starts so that SQLite never has to run the disk dry.
 *
 * Backup: store_backup() copies with SQLite's online backup API (one step,
 * so one read snapshot while writers go on) into a temporary file beside
 * the destination, checks the copy, syncs it and renames it into place.
 *
 * Ownership: strings in struct delivery and struct call are borrowed for the
 * duration of the call. Bodies handed out by store_delivery_body() and
 * store_call_raw(), page->calls and every cJSON tree or string returned by
 * the reading functions belong to the caller. Strings in struct
 * delivery_row are borrowed for the callback's duration.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "auth.h"
#include "backend.h"
#include "callfmt.h"
#include "log.h"
#include "search.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

/*
 * search_rowid = slot << SEARCH_SLOT_BITS | n: the call's sort time in ms
 * (clamped to 0..SEARCH_SLOT_MAX, so it stays far below 2^63) and a number
 * within that millisecond, chosen so that search_rowid order is always
 * (sort_ms, id) order. FTS5 keeps its doclists in rowid order, so newest
 * first is a backward walk with no sort and a date range is a rowid range.
 */
#define SEARCH_SLOT_BITS 12
#define SEARCH_SLOT_MAX  ((INT64_C(1) << 50) - 1)

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
    /* Small columns first, long text last, so that reading a filter column
     * rarely has to follow a row onto its overflow pages. */
    "CREATE TABLE calls ("
    "  id INTEGER PRIMARY KEY,"
    "  call_id TEXT NOT NULL UNIQUE,"
    "  delivery_id INTEGER NOT NULL REFERENCES deliveries (id),"
    "  first_seen_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  sort_ms INTEGER NOT NULL,"
    "  search_rowid INTEGER NOT NULL UNIQUE,"
    "  started_ms INTEGER,"
    "  ended_ms INTEGER,"
    "  started_at TEXT,"
    "  ended_at TEXT,"
    "  duration_s REAL,"
    "  direction TEXT,"
    "  agent_id TEXT,"
    "  agent_name TEXT,"
    "  caller_name TEXT,"
    "  business_phone TEXT,"
    "  business_digits TEXT,"
    "  customer_phone TEXT,"
    "  customer_digits TEXT,"
    "  topic TEXT,"
    "  sentiment TEXT,"
    "  follow_up INTEGER,"
    "  follow_up_status TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (follow_up_status IN ('none', 'pending', 'resolved')),"
    "  resolved_ms INTEGER,"
    "  resolved_by TEXT,"
    "  resolution_note TEXT,"
    "  ai_success INTEGER,"
    "  call_transferred INTEGER,"
    "  workflow_triggered INTEGER,"
    "  ended_reason TEXT,"
    "  call_outcome TEXT,"
    "  mentioned_email TEXT,"
    "  mentioned_date TEXT,"
    "  mentioned_time TEXT,"
    "  recording_url TEXT,"
    "  dashboard_url TEXT,"
    "  follow_up_reason TEXT,"
    "  action_items TEXT,"
    "  unanswered_questions TEXT,"
    "  key_points TEXT,"
    "  purpose TEXT,"
    "  summary TEXT,"
    "  long_summary TEXT,"
    "  transcript TEXT,"
    "  turns TEXT"
    ");"
    /* Each filter index ends in sort_ms (and the implicit id), so it hands
     * rows over newest first without sorting. */
    "CREATE INDEX calls_recent ON calls (sort_ms);"
    "CREATE INDEX calls_customer ON calls (customer_digits, sort_ms);"
    "CREATE INDEX calls_business ON calls (business_digits, sort_ms);"
    "CREATE INDEX calls_follow_up ON calls (follow_up_status, sort_ms);"
    "CREATE INDEX calls_direction ON calls (direction COLLATE NOCASE, sort_ms);"
    "CREATE INDEX calls_sentiment ON calls (sentiment COLLATE NOCASE, sort_ms);"
    "CREATE INDEX calls_topic ON calls (topic COLLATE NOCASE, sort_ms);"
    "CREATE INDEX calls_agent ON calls (agent_name COLLATE NOCASE, sort_ms);"
    /* Every filterable column in search_rowid (= recency) order: searches
     * with several filters, full-text joins and statistics read this
     * compact index instead of the wide rows. */
    "CREATE INDEX calls_scan ON calls (search_rowid, sort_ms, follow_up_status, follow_up,"
    "  direction, sentiment, topic, agent_name, duration_s, customer_digits, business_digits);"
    /* What the index sees: lists as one item per line, names together. */
    "CREATE VIEW call_search AS SELECT c.id, c.search_rowid, c.transcript,"
    "  trim(coalesce(c.summary, '') || ' ' || coalesce(c.long_summary, '')) AS summary,"
    "  c.purpose, c.topic,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.key_points) j) AS key_points,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.action_items) j)"
    "    AS action_items,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.unanswered_questions) j)"
    "    AS unanswered_questions,"
    "  trim(coalesce(c.caller_name, '') || ' ' || coalesce(c.agent_name, '')) AS names"
    "  FROM calls c;"
    "CREATE VIRTUAL TABLE calls_fts USING fts5("
    "  transcript, summary, purpose, topic, key_points, action_items,"
    "  unanswered_questions, names,"
    "  content='call_search', content_rowid='search_rowid',"
    "  tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
    /*
     * 2: a call with turns no longer keeps a second, plain copy of its
     * transcript: the view derives it from the turns (the content of each,
     * one per line; json_tree parses the turns once, where json_extract
     * per turn would parse each again). calls.transcript is written only
     * for calls whose text came without turns; rows written before keep
     * theirs, which the view still prefers, so the index needs no rebuild.
     */
    "DROP VIEW call_search;"
    "CREATE VIEW call_search AS SELECT c.id, c.search_rowid,"
    "  CASE WHEN c.transcript IS NOT NULL THEN c.transcript ELSE"
    "    (SELECT group_concat(j.value, char(10)) FROM json_tree(c.turns) j"
    "     WHERE j.key = 'content') END AS transcript,"
    "  trim(coalesce(c.summary, '') || ' ' || coalesce(c.long_summary, '')) AS summary,"
    "  c.purpose, c.topic,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.key_points) j) AS key_points,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.action_items) j)"
    "    AS action_items,"
    "  (SELECT group_concat(j.value, char(10)) FROM json_each(c.unanswered_questions) j)"
    "    AS unanswered_questions,"
    "  trim(coalesce(c.caller_name, '') || ' ' || coalesce(c.agent_name, '')) AS names"
    "  FROM calls c;",
    /*
     * 3: the members of a body that have no column, kept with the call
     * (extra: a JSON object's text, NULL for none) so that reading a call
     * need not parse its raw body. Rows written before have extra_known 0
     * and are read from their body as before; adding the columns rewrites
     * nothing.
     */
    ("ALTER TABLE calls ADD COLUMN extra_known INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE calls ADD COLUMN extra TEXT;"),
    /*
     * 4: no query looks deliveries up by body hash (a repeated body is
     * found through its call), and the index cost every delivery a write
     * at a random place.
     */
    "DROP INDEX IF EXISTS deliveries_sha;",
    /*
     * 5: a call whose turns have text keeps them as plain text, the
     * contents one per line in calls.transcript (what the search index
     * reads, without parsing JSON for every row it indexes or quotes), and
     * calls.turn_index, [["role",bytes],...], which cuts that text back
     * into turns; calls.turns is then NULL. Rows written before keep their
     * turns JSON and are read as before.
     */
    "ALTER TABLE calls ADD COLUMN turn_index TEXT;",
    /*
     * 6: the records personal-data duties keep. erasures: one row per
     * erasure (the identifier only as a keyed hash). audit: one row per
     * MCP tool call or resource read, and audit_calls the call ids each
     * returned, to list who read a call.
     */
    "CREATE TABLE erasures ("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('phone', 'email', 'call')),"
    "  identifier_hash TEXT NOT NULL,"
    "  calls INTEGER NOT NULL,"
    "  deliveries INTEGER NOT NULL"
    ");"
    "CREATE INDEX erasures_hash ON erasures (identifier_hash);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  transport TEXT NOT NULL,"
    "  client_name TEXT,"
    "  client_version TEXT,"
    "  session_id TEXT,"
    "  kind TEXT NOT NULL CHECK (kind IN ('tool', 'resource')),"
    "  name TEXT NOT NULL,"
    "  error INTEGER NOT NULL DEFAULT 0,"
    "  call_ids TEXT"
    ");"
    "CREATE INDEX audit_at ON audit (at_ms);"
    "CREATE TABLE audit_calls ("
    "  call_id TEXT NOT NULL,"
    "  audit_id INTEGER NOT NULL,"
    "  PRIMARY KEY (call_id, audit_id)"
    ") WITHOUT ROWID;",
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
    ":workflow_triggered, :recording_url, :dashboard_url, :ended_reason, :call_outcome, 1, "       \
    ":extra, "                                                                                     \
    ":turn_index"
#define CALL_COLUMNS_INSERT                                                                        \
    "started_ms, ended_ms, started_at, ended_at, duration_s, direction, agent_id, agent_name, "    \
    "caller_name, business_phone, business_digits, customer_phone, customer_digits, "              \
    "mentioned_email, mentioned_date, mentioned_time, transcript, turns, summary, long_summary, "  \
    "purpose, topic, sentiment, key_points, action_items, unanswered_questions, follow_up, "       \
    "follow_up_reason, ai_success, call_transferred, workflow_triggered, recording_url, "          \
    "dashboard_url, ended_reason, call_outcome, extra_known, extra, turn_index"

/*
 * The columns a listed call is built from (alias o), in enum out_col order,
 * and the further ones store_get_call() reads (enum full_col order).
 */
#define OUT_COLUMNS                                                                                \
    "o.id, o.sort_ms, o.search_rowid, o.call_id, o.started_ms, o.started_at, o.ended_ms, "         \
    "o.ended_at, o.direction, o.caller_name, o.customer_phone, o.business_phone, o.agent_name, "   \
    "o.duration_s, o.summary, o.sentiment, o.topic, o.follow_up, o.follow_up_status, "             \
    "o.follow_up_reason, o.resolved_ms, o.resolved_by, o.resolution_note, o.action_items, "        \
    "o.unanswered_questions, o.mentioned_email, o.mentioned_date, o.mentioned_time, "              \
    "o.dashboard_url, o.recording_url"
#define OUT_COLUMNS_FULL                                                                           \
    "o.agent_id, o.long_summary, o.purpose, o.key_points, o.ai_success, o.call_transferred, "      \
    "o.workflow_triggered, o.ended_reason, o.call_outcome,"                                        \
    " CASE WHEN json_valid(o.turns) THEN o.turns END, o.transcript"

/*
 * store_get_call()'s query: OUT_COLUMNS, OUT_COLUMNS_FULL, then the enum
 * full_col columns the schema may lack (FC_EXTRA_KNOWN, FC_EXTRA,
 * FC_TURN_INDEX), given as SQL.
 */
#define CALL_BODY     "(SELECT body FROM deliveries WHERE id = o.delivery_id)"
#define EXTRA_OR_BODY "CASE WHEN o.extra_known THEN o.extra ELSE " CALL_BODY " END"
#define GET_CALL(extra_known, extra, turn_index)                                                   \
    "SELECT " OUT_COLUMNS ", " OUT_COLUMNS_FULL ", " extra_known ", " extra ", " turn_index        \
    " FROM calls o WHERE o.call_id = ?1"

#define LIST_ROWS(col)                                                                             \
    "SELECT c.id, c.call_id, c.sort_ms, c." col " FROM calls c"                                    \
    " WHERE c.sort_ms >= ?1 AND c.sort_ms < ?2 AND c." col " IS NOT NULL"                          \
    " AND (?3 = 0 OR c.follow_up_status <> 'resolved')"
/* Customer digits in [?1, ?2) or [?3, ?4). */
#define PHONE_PREFIX                                                                               \
    "((customer_digits >= ?1 AND customer_digits < ?2)"                                            \
    " OR (customer_digits >= ?3 AND customer_digits < ?4))"

/* The audit's listed columns (alias a), and its oldest rows before ?1, at most ?2. */
#define AUDIT_COLUMNS                                                                              \
    "a.id, a.at_ms, a.transport, a.client_name, a.client_version, a.session_id, a.kind, a.name,"   \
    " a.error, a.call_ids"
#define AUDIT_OLDEST "SELECT id, call_ids FROM audit WHERE at_ms < ?1 ORDER BY at_ms, id LIMIT ?2"
#define AUDIT_SCHEMA 6 /* the schema version that made the audit's tables */

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
    STMT_CALL_KEY,
    STMT_PLACE_PRED,
    STMT_PLACE_SUCC,
    STMT_PLACE_GAP,
    STMT_PLACE_RUN,
    STMT_SET_ROWID,
    STMT_BEGIN_READ,
    STMT_BOUND_GE,
    STMT_BOUND_LT,
    STMT_PHONE_COUNT,
    STMT_FTS_COUNT,
    STMT_SNIPPET,
    STMT_GET_CALL,
    STMT_GET_CALL_V4,
    STMT_GET_CALL_V2,
    STMT_CALL_DELIVERIES,
    STMT_TRANSCRIPT,
    STMT_TRANSCRIPT_V4,
    STMT_FOLLOW_UP_GET,
    STMT_FOLLOW_UP_SET,
    STMT_STATS_ROWS,
    STMT_LIST_ACTION_ITEMS,
    STMT_LIST_UNANSWERED,
    STMT_COMPLETE_ID_COUNT,
    STMT_COMPLETE_ID_RANGE,
    STMT_COMPLETE_ID_SCAN,
    STMT_COMPLETE_PHONE_COUNT,
    STMT_COMPLETE_PHONE_RANGE,
    STMT_COMPLETE_PHONE_SCAN,
    STMT_CHECK,
    STMT_COUNTS,
    STMT_LIST_ALL,
    STMT_LIST_OUTCOME,
    STMT_DELIVERY_BODY,
    STMT_CALL_RAW,
    STMT_DUMP_DELIVERIES,
    STMT_DUMP_CALLS,
    STMT_SIZE_DELIVERIES,
    STMT_SIZE_CALLS,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_CALL_INSERT,
    STMT_AUDIT_LIST,
    STMT_AUDIT_LIST_CALL,
    STMT_AUDIT_PURGE_CALLS,
    STMT_AUDIT_PURGE,
    STMT_DUMP_AUDIT,
    STMT_SIZE_AUDIT,
    STMT_DUMP_ERASURES,
    STMT_SIZE_ERASURES,
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
        " search_rowid, follow_up_status, " CALL_COLUMNS_INSERT ")"
        " VALUES (:call_id, :delivery_id, :received_ms, :received_ms, :sort_ms, :search_rowid,"
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
        " call_outcome = :call_outcome, extra_known = 1, extra = :extra,"
        " turn_index = :turn_index WHERE id = :id",
    [STMT_FTS_DELETE] =
        "INSERT INTO calls_fts (calls_fts, rowid, " FTS_COLUMNS ")"
        " SELECT 'delete', search_rowid, " FTS_COLUMNS " FROM call_search WHERE id = ?1",
    /* ?1: a JSON array of call ids (see fts_flush). */
    [STMT_FTS_INSERT] = "INSERT INTO calls_fts (rowid, " FTS_COLUMNS ")"
                        " SELECT search_rowid, " FTS_COLUMNS " FROM call_search"
                        " WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY search_rowid",
    [STMT_CALL_KEY] = "SELECT sort_ms, search_rowid FROM calls WHERE id = ?1",
    /*
     * The neighbours of key (?1, ?2) in (sort_ms, id) order. Written as two
     * index probes (same millisecond, then the ones around it) rather than
     * one row-value comparison, which SQLite 3.40 turns into a range on
     * sort_ms alone and then walks every call of that millisecond.
     */
    [STMT_PLACE_PRED] = "SELECT r FROM (SELECT search_rowid AS r FROM calls"
                        " WHERE sort_ms = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1)"
                        " UNION ALL SELECT r FROM (SELECT search_rowid AS r FROM calls"
                        " WHERE sort_ms < ?1 ORDER BY sort_ms DESC, id DESC LIMIT 1) LIMIT 1",
    [STMT_PLACE_SUCC] = "SELECT r FROM (SELECT search_rowid AS r FROM calls"
                        " WHERE sort_ms = ?1 AND id > ?2 ORDER BY id LIMIT 1)"
                        " UNION ALL SELECT r FROM (SELECT search_rowid AS r FROM calls"
                        " WHERE sort_ms > ?1 ORDER BY sort_ms, id LIMIT 1) LIMIT 1",
    /* The first free number above the unbroken run of numbers that starts at ?1. */
    [STMT_PLACE_GAP] = "SELECT a.search_rowid + 1 FROM calls a WHERE a.search_rowid >= ?1"
                       " AND NOT EXISTS (SELECT 1 FROM calls b"
                       " WHERE b.search_rowid = a.search_rowid + 1)"
                       " ORDER BY a.search_rowid LIMIT 1",
    [STMT_PLACE_RUN] = "SELECT id FROM calls WHERE search_rowid >= ?1"
                       " AND search_rowid < ?2 ORDER BY search_rowid DESC",
    [STMT_SET_ROWID] = "UPDATE calls SET search_rowid = ?2 WHERE id = ?1",
    [STMT_BEGIN_READ] = "BEGIN",
    /* Times to search numbers: exact, because number order is (sort_ms, id) order. */
    [STMT_BOUND_GE] = "SELECT search_rowid FROM calls WHERE sort_ms >= ?1"
                      " ORDER BY sort_ms, id LIMIT 1",
    [STMT_BOUND_LT] = "SELECT search_rowid FROM calls WHERE sort_ms < ?1"
                      " ORDER BY sort_ms DESC, id DESC LIMIT 1",
    [STMT_PHONE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM calls"
                         " WHERE customer_digits = ?1 OR business_digits = ?1 LIMIT ?2)",
    [STMT_FTS_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM calls_fts"
                       " WHERE calls_fts MATCH ?1 LIMIT ?2)",
    [STMT_SNIPPET] = "SELECT snippet(calls_fts, -1, '[', ']', '\xe2\x80\xa6', 12) FROM calls_fts"
                     " WHERE calls_fts MATCH ?1 AND rowid >= ?2 AND rowid <= ?2",
    [STMT_GET_CALL] = GET_CALL("o.extra_known", EXTRA_OR_BODY, "o.turn_index"),
    /* The same on older schemas (read-only): 3 and 4 have no turn_index, 2 no extra either. */
    [STMT_GET_CALL_V4] = GET_CALL("o.extra_known", EXTRA_OR_BODY, "NULL"),
    [STMT_GET_CALL_V2] = GET_CALL("0", CALL_BODY, "NULL"),
    [STMT_CALL_DELIVERIES] = "SELECT id, received_ms, source, status, outcome FROM deliveries"
                             " WHERE call_id = ?1 ORDER BY id",
    [STMT_TRANSCRIPT] = "SELECT turns, transcript, turn_index FROM calls WHERE call_id = ?1",
    [STMT_TRANSCRIPT_V4] = "SELECT turns, transcript, NULL FROM calls WHERE call_id = ?1",
    [STMT_FOLLOW_UP_GET] = "SELECT id, follow_up, follow_up_status, follow_up_reason,"
                           " resolved_ms, resolved_by, resolution_note FROM calls"
                           " WHERE call_id = ?1",
    [STMT_FOLLOW_UP_SET] = "UPDATE calls SET follow_up_status = ?2, resolved_ms = ?3,"
                           " resolved_by = ?4, resolution_note = ?5 WHERE id = ?1",
    /* Statistics read the compact calls_scan index over a search-number range,
     * in (sort_ms, id) order, and add up in C: one pass, no sorting. */
    [STMT_STATS_ROWS] = "SELECT c.sort_ms, c.direction, c.sentiment, c.topic, c.agent_name,"
                        " c.duration_s, c.follow_up, c.follow_up_status"
                        " FROM calls c INDEXED BY calls_scan"
                        " WHERE c.search_rowid >= ?1 AND c.search_rowid <= ?2",
    /* The list column of each call in [?1, ?2); with ?3 only unresolved ones. */
    [STMT_LIST_ACTION_ITEMS] = LIST_ROWS("action_items"),
    [STMT_LIST_UNANSWERED] = LIST_ROWS("unanswered_questions"),
    /* Completion: a range on an index when it is small, else newest calls first. */
    [STMT_COMPLETE_ID_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM calls"
                               " WHERE call_id >= ?1 AND call_id < ?2 LIMIT ?3)",
    [STMT_COMPLETE_ID_RANGE] = "SELECT call_id FROM calls WHERE call_id >= ?1 AND call_id < ?2"
                               " ORDER BY sort_ms DESC, id DESC LIMIT ?3",
    [STMT_COMPLETE_ID_SCAN] = "SELECT call_id FROM calls INDEXED BY calls_recent"
                              " WHERE call_id >= ?1 AND call_id < ?2"
                              " ORDER BY sort_ms DESC, id DESC LIMIT ?3",
    [STMT_COMPLETE_PHONE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM calls"
                                  " WHERE " PHONE_PREFIX " LIMIT ?5)",
    [STMT_COMPLETE_PHONE_RANGE] =
        "SELECT customer_digits, customer_phone, max(sort_ms) AS last"
        " FROM calls WHERE " PHONE_PREFIX " GROUP BY customer_digits ORDER BY last DESC LIMIT ?5",
    [STMT_COMPLETE_PHONE_SCAN] =
        "SELECT customer_digits, customer_phone FROM calls"
        " INDEXED BY calls_recent WHERE " PHONE_PREFIX " ORDER BY sort_ms DESC, id DESC",
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
    /* Copies: every column, in id order (sq_dump leaves out search_rowid). */
    [STMT_DUMP_DELIVERIES] = "SELECT * FROM deliveries WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_DUMP_CALLS] = "SELECT * FROM calls WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_SIZE_DELIVERIES] = "SELECT count(*), coalesce(max(id), 0) FROM deliveries",
    [STMT_SIZE_CALLS] = "SELECT count(*), coalesce(max(id), 0) FROM calls",
    [STMT_CALL_RAW] = "SELECT d.body FROM calls c JOIN deliveries d ON d.id = c.delivery_id"
                      " WHERE c.call_id = ?1",
    /* The access audit (see the section of that name below). */
    [STMT_AUDIT_INSERT] =
        "INSERT INTO audit (at_ms, transport, client_name, client_version, session_id, kind,"
        " name, error, call_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [STMT_AUDIT_CALL_INSERT] =
        "INSERT OR IGNORE INTO audit_calls (call_id, audit_id) VALUES (?1, ?2)",
    [STMT_AUDIT_LIST] = "SELECT " AUDIT_COLUMNS " FROM audit a WHERE a.at_ms >= ?1"
                        " ORDER BY a.at_ms DESC, a.id DESC LIMIT ?2",
    [STMT_AUDIT_LIST_CALL] = "SELECT " AUDIT_COLUMNS " FROM audit_calls c"
                             " JOIN audit a ON a.id = c.audit_id"
                             " WHERE c.call_id = ?3 AND a.at_ms >= ?1"
                             " ORDER BY a.at_ms DESC, a.id DESC LIMIT ?2",
    /* audit_calls has no foreign key here: its rows go by their key, from the call ids. */
    [STMT_AUDIT_PURGE_CALLS] = "DELETE FROM audit_calls WHERE (call_id, audit_id) IN"
                               " (SELECT j.value, o.id FROM (" AUDIT_OLDEST ") o,"
                               " json_each(o.call_ids) j)",
    [STMT_AUDIT_PURGE] = "DELETE FROM audit WHERE id IN (SELECT id FROM (" AUDIT_OLDEST "))",
    [STMT_DUMP_AUDIT] = "SELECT * FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_SIZE_AUDIT] = "SELECT count(*), coalesce(max(id), 0) FROM audit",
    [STMT_DUMP_ERASURES] = "SELECT * FROM erasures WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_SIZE_ERASURES] = "SELECT count(*), coalesce(max(id), 0) FROM erasures",
};

/* Search statements, built from fragments, kept by their SQL text. */
#define QUERY_CACHE_SIZE 24

struct cached_query {
    char *sql;
    sqlite3_stmt *stmt;
};

struct sq_store {
    struct store base; /* first: a struct store * is a struct sq_store * */
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT_];
    struct cached_query cache[QUERY_CACHE_SIZE];
    unsigned cache_next; /* the slot to reuse next, round robin */
    bool (*interrupt_fn)(void *arg);
    void *interrupt_arg;
    int version; /* schema version at open (a read-only store may find an older one) */
    unsigned busy_timeout_ms;
    uint64_t min_free_bytes;
    char *file; /* absolute database file name; NULL for in-memory databases */
    char *dir;  /* its directory, for statvfs */
    dev_t dev;  /* identity of the file at open, to notice it being replaced */
    ino_t ino;
    /*
     * Calls written in the open write transaction whose index entries are
     * still to be made: fts_flush indexes them all with one statement just
     * before COMMIT (see fts_index_later). Empty outside store_put_deliveries.
     */
    int64_t *fts_pending;
    size_t fts_npending, fts_cap;
};

static void sq_free(struct sq_store *st);
static void sq_wal_close(struct store_wal *base);

static struct sq_store *sq(struct store *base)
{
    return (struct sq_store *)(void *)base;
}

/* Fill err from an SQLite result code and the connection's message; returns -1. */
static int db_fail(struct sq_store *st, struct err *err, int rc, const char *what)
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
    case SQLITE_INTERRUPT:
        return err_set(err, ERR_CANCELLED, "%s: cancelled", what);
    case SQLITE_ERROR:
        /* Not reachable with an expression store_sqlite_match() made. */
        if (strncmp(sqlite3_errmsg(st->db), "fts5:", 5) == 0 ||
            strcmp(sqlite3_errmsg(st->db), "unterminated string") == 0)
            return err_set(err, ERR_INVALID, "%s: the text query is not valid", what);
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
static sqlite3_stmt *stmt_get(struct sq_store *st, enum stmt_id id, struct err *err)
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
static int stmt_run(struct sq_store *st, sqlite3_stmt *s, const char *what, struct err *err)
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
static int stmt_exec(struct sq_store *st, enum stmt_id id, const char *what, struct err *err)
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

/*
 * Bind the columns that INSERT and UPDATE share: everything extracted from
 * the call, the delivery it now comes from and the time it arrived.
 */
static int bind_call(sqlite3_stmt *s, const struct call *c, const struct call_forms *forms,
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
        {":transcript", forms->transcript},
        {":turns", forms->turns},
        {":turn_index", forms->turn_index},
        {":summary", c->summary},
        {":long_summary", c->long_summary},
        {":purpose", c->purpose},
        {":topic", c->topic},
        {":sentiment", c->sentiment},
        {":key_points", forms->key_points},
        {":action_items", forms->action_items},
        {":unanswered_questions", forms->unanswered_questions},
        {":follow_up_reason", c->follow_up_reason},
        {":recording_url", c->recording_url},
        {":dashboard_url", c->dashboard_url},
        {":ended_reason", c->ended_reason},
        {":call_outcome", c->call_outcome},
        {":extra", c->extra},
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
static int store_space_check(struct sq_store *st, struct err *err)
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
static int delivery_insert(struct sq_store *st, const struct delivery *d, enum delivery_outcome oc,
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
        rc = sqlite3_bind_text(s, 5, delivery_outcome_name(oc), -1, SQLITE_STATIC);
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

static bool fts_is_pending(const struct sq_store *st, int64_t call_rowid)
{
    for (size_t i = 0; i < st->fts_npending; i++)
        if (st->fts_pending[i] == call_rowid)
            return true;
    return false;
}

/*
 * Take the call with rowid call_rowid out of the index, at once, under the
 * text and number it has now; a call still waiting for its entry (see
 * fts_index_later) has none to take out.
 */
static int fts_unindex(struct sq_store *st, int64_t call_rowid, struct err *err)
{
    sqlite3_stmt *s;

    if (fts_is_pending(st, call_rowid))
        return 0;
    if ((s = stmt_get(st, STMT_FTS_DELETE, err)) == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, call_rowid);
    return stmt_run(st, s, "unindex call", err);
}

/*
 * Mark the call with rowid call_rowid to be indexed by fts_flush at the
 * end of the transaction, under its final text and number. Indexing once
 * per transaction keeps FTS5 from writing a segment per call: it flushes
 * its pending terms at every statement savepoint and whenever rowids stop
 * ascending.
 */
static void fts_index_later(struct sq_store *st, int64_t call_rowid)
{
    if (fts_is_pending(st, call_rowid))
        return;
    if (st->fts_npending == st->fts_cap) {
        st->fts_cap = st->fts_cap ? st->fts_cap * 2 : 64;
        st->fts_pending = xreallocarray(st->fts_pending, st->fts_cap, sizeof *st->fts_pending);
    }
    st->fts_pending[st->fts_npending++] = call_rowid;
}

/* Index every pending call in one statement, in search number order; empties the list. */
static int fts_flush(struct sq_store *st, struct err *err)
{
    struct buf ids = {0};
    sqlite3_stmt *s;
    int rc;

    if (st->fts_npending == 0)
        return 0;
    buf_append(&ids, "[", 1);
    for (size_t i = 0; i < st->fts_npending; i++)
        buf_printf(&ids, "%s%lld", i ? "," : "", (long long)st->fts_pending[i]);
    buf_append(&ids, "]", 1);
    st->fts_npending = 0;
    if ((s = stmt_get(st, STMT_FTS_INSERT, err)) == NULL) {
        buf_free(&ids);
        return -1;
    }
    rc = sqlite3_bind_text(s, 1, ids.data, (int)ids.len, SQLITE_TRANSIENT);
    buf_free(&ids);
    if (rc != SQLITE_OK) {
        db_fail(st, err, rc, "index calls");
        stmt_release(s);
        return -1;
    }
    return stmt_run(st, s, "index calls", err);
}

/*
 * Step s once and release it: 1 with *out set to column 0 when there is a
 * row (and the column is not NULL), 0 when there is none, -1 on error.
 */
static int step_int64(struct sq_store *st, sqlite3_stmt *s, const char *what, int64_t *out,
                      struct err *err)
{
    int rc = sqlite3_step(s), found = 0;

    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(s, 0);
        found = 1;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(st, err, rc, what);
        found = -1;
    }
    stmt_release(s);
    return found;
}

/* Run a kept statement with two integer parameters that returns at most one integer. */
static int query_int64(struct sq_store *st, enum stmt_id id, int64_t a, int64_t b, const char *what,
                       int64_t *out, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);

    if (s == NULL)
        return -1;
    if (sqlite3_bind_parameter_count(s) >= 1)
        sqlite3_bind_int64(s, 1, a);
    if (sqlite3_bind_parameter_count(s) >= 2)
        sqlite3_bind_int64(s, 2, b);
    return step_int64(st, s, what, out, err);
}

/* The millisecond slot of a sort time in search_rowid: clamped to 0..SLOT_MAX. */
static int64_t search_slot(int64_t sort_ms)
{
    return sort_ms < 0 ? 0 : sort_ms > SEARCH_SLOT_MAX ? SEARCH_SLOT_MAX : sort_ms;
}

/* Give call id the search number rowid (its index entry must be out at the time). */
static int search_set(struct sq_store *st, int64_t id, int64_t rowid, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_SET_ROWID, err);

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, rowid);
    return stmt_run(st, s, "place call", err);
}

/*
 * Move the unbroken run of search numbers that starts at from up by one, so
 * that from becomes free. Each moved call is taken out of the index under
 * its old number and put back under the new one, top first so numbers
 * never collide. Order is kept. A call can be pushed past the end of its
 * millisecond's numbers (only when more than 4096 calls share one); that
 * is harmless, because readers turn times into numbers by looking the
 * numbers up (see search_bound), never by arithmetic.
 */
static int search_shift(struct sq_store *st, int64_t from, struct err *err)
{
    sqlite3_stmt *s;
    int64_t *run = NULL;
    size_t n = 0, cap = 0, i;
    int64_t gap = 0;
    int rc;

    rc = query_int64(st, STMT_PLACE_GAP, from, 0, "place call", &gap, err);
    if (rc != 1)
        return rc == -1 ? -1 : err_set(err, ERR_INTERNAL, "no search number to move");
    if ((s = stmt_get(st, STMT_PLACE_RUN, err)) == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, gap);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            run = xreallocarray(run, cap, sizeof *run);
        }
        run[n++] = sqlite3_column_int64(s, 0); /* highest number first */
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, "place call");
        stmt_release(s);
        goto fail;
    }
    stmt_release(s);
    for (i = 0; i < n; i++) {
        if (fts_unindex(st, run[i], err) == -1 ||
            search_set(st, run[i], gap - (int64_t)i, err) == -1)
            goto fail;
        fts_index_later(st, run[i]);
    }
    free(run);
    return 0;

fail:
    free(run);
    return -1;
}

/*
 * Choose the search number of the call with key (sort_ms, id) so that
 * number order stays (sort_ms, id) order: the smallest number that is at
 * least the call's slot base and above its predecessor's number, moving the
 * following run up by one when that number is taken. cur is the call's
 * number now (-1 for a call not yet inserted; id is then INT64_MAX, as a
 * new row's id is larger than every other). A current number that already
 * fits is kept. The call's own index entry must be out when this runs.
 */
static int search_place(struct sq_store *st, int64_t sort_ms, int64_t id, int64_t cur, int64_t *out,
                        struct err *err)
{
    int64_t base = search_slot(sort_ms) << SEARCH_SLOT_BITS, pred = 0, succ = 0, r;
    int has_pred, has_succ;

    has_pred = query_int64(st, STMT_PLACE_PRED, sort_ms, id, "place call", &pred, err);
    if (has_pred == -1)
        return -1;
    has_succ = query_int64(st, STMT_PLACE_SUCC, sort_ms, id, "place call", &succ, err);
    if (has_succ == -1)
        return -1;
    r = has_pred && pred + 1 > base ? pred + 1 : base;
    if (cur >= r && (!has_succ || cur < succ)) {
        *out = cur;
        return 0;
    }
    /* Park a row being moved below every real number, so the shift never meets it. */
    if (cur >= 0 && search_set(st, id, -1, err) == -1)
        return -1;
    if (has_succ && succ == r && search_shift(st, r, err) == -1)
        return -1;
    *out = r;
    return 0;
}

/*
 * Look up call_id: 1 and *rowid set when the call exists (*same set when its
 * current delivery has the digest sha), 0 when unknown, -1 on error.
 */
static int call_find(struct sq_store *st, const char *call_id, const char *sha, int64_t *rowid,
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

/* The time a call sorts by: when it started, else when it ended, else when it arrived. */
static int64_t call_sort_ms(const struct call *c, int64_t received_ms)
{
    if (c->started_ms != PAYLOAD_TIME_UNKNOWN)
        return c->started_ms;
    if (c->ended_ms != PAYLOAD_TIME_UNKNOWN)
        return c->ended_ms;
    return received_ms;
}

/* Insert a new call row from d, coming from delivery delivery_id; *rowid gets its id. */
static int call_insert(struct sq_store *st, const struct delivery *d,
                       const struct call_forms *forms, int64_t delivery_id, int64_t *rowid,
                       struct err *err)
{
    sqlite3_stmt *s;
    int64_t sort_ms = call_sort_ms(d->call, d->received_ms), search_rowid;

    if (search_place(st, sort_ms, INT64_MAX, -1, &search_rowid, err) == -1)
        return -1;
    if ((s = stmt_get(st, STMT_CALL_INSERT, err)) == NULL)
        return -1;
    if (bind_call(s, d->call, forms, delivery_id, d->received_ms, err) == -1 ||
        bind_text(s, ":call_id", d->call->call_id, err) == -1 ||
        bind_int64(s, ":sort_ms", sort_ms, err) == -1 ||
        bind_int64(s, ":search_rowid", search_rowid, err) == -1) {
        stmt_release(s);
        return -1;
    }
    if (stmt_run(st, s, "insert call", err) == -1)
        return -1;
    *rowid = sqlite3_last_insert_rowid(st->db);
    return 0;
}

/* Replace the extracted columns of call rowid with those of d. */
static int call_update(struct sq_store *st, const struct delivery *d,
                       const struct call_forms *forms, int64_t delivery_id, int64_t rowid,
                       struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_UPDATE, err);

    if (s == NULL)
        return -1;
    if (bind_call(s, d->call, forms, delivery_id, d->received_ms, err) == -1 ||
        bind_int64(s, ":id", rowid, err) == -1) {
        stmt_release(s);
        return -1;
    }
    return stmt_run(st, s, "update call", err);
}

/* After an update (index entry out): renumber the call if its sort time moved it. */
static int call_replace(struct sq_store *st, int64_t rowid, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_KEY, err);
    int64_t sort_ms, cur, want;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, rowid);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "place call");
        stmt_release(s);
        return -1;
    }
    sort_ms = sqlite3_column_int64(s, 0);
    cur = sqlite3_column_int64(s, 1);
    stmt_release(s);
    if (search_place(st, sort_ms, rowid, cur, &want, err) == -1)
        return -1;
    if (want != cur && search_set(st, rowid, want, err) == -1)
        return -1;
    return 0;
}

/* Record one delivery inside the open transaction and set its outcome and id. */
static int put_one(struct sq_store *st, struct delivery *d, struct err *err)
{
    struct call_forms own = {0};
    const struct call_forms *forms = d->forms;
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
    if (forms == NULL) {
        callfmt_forms(d->call, &own);
        forms = &own;
    }
    if (found) {
        /* Out of the index under the old text and number, then back in under the new. */
        if (fts_unindex(st, rowid, err) == -1 ||
            call_update(st, d, forms, d->delivery_id, rowid, err) == -1 ||
            call_replace(st, rowid, err) == -1)
            goto fail;
    } else if (call_insert(st, d, forms, d->delivery_id, &rowid, err) == -1) {
        goto fail;
    }
    fts_index_later(st, rowid);
    callfmt_forms_free(&own);
    return 0;

fail:
    callfmt_forms_free(&own);
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
static int sq_put_deliveries(struct store *base, struct delivery *const *items, size_t n,
                             struct err *err)
{
    struct sq_store *st = sq(base);
    size_t i;

    if (st->base.read_only)
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
    if (fts_flush(st, err) == -1 || stmt_exec(st, STMT_COMMIT, "commit", err) == -1)
        goto fail;
    return 0;

fail:
    st->fts_npending = 0;
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
static int pragma_text(struct sq_store *st, const char *sql, char *out, size_t outsz,
                       struct err *err)
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

static int pragma_int(struct sq_store *st, const char *sql, int *out, struct err *err)
{
    char text[32];

    if (pragma_text(st, sql, text, sizeof text, err) == -1)
        return -1;
    /* NOLINTNEXTLINE(cert-err34-c): text is an integer SQLite itself printed */
    *out = atoi(text);
    return 0;
}

/* Run one statement or script outside the kept set (open and migrations only). */
static int exec_script(struct sq_store *st, const char *sql, const char *what, struct err *err)
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
static int store_migrate(struct sq_store *st, struct err *err)
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
    st->version = STORE_SCHEMA_VERSION;
    return exec_script(st, "COMMIT", "migrate: commit", err);

fail:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* A read-only store cannot migrate: accept only an initialised, known schema. */
static int store_check_version(struct sq_store *st, struct err *err)
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
    st->version = version;
    return 0;
}

/* Per-connection settings: defensive mode, busy timeout, WAL, FULL sync, foreign keys. */
static int store_configure(struct sq_store *st, struct err *err)
{
    char mode[32];
    int on = 0, sync = -1;
    unsigned ms = st->busy_timeout_ms;

    if (sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK || on != 1)
        return err_set(err, ERR_STORAGE, "cannot enable defensive mode");
    sqlite3_busy_timeout(st->db, ms > INT_MAX ? INT_MAX : (int)ms);
    if (!st->base.read_only) {
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
    /* What a retention sweep or an erasure deletes is overwritten, not left in free space. */
    if (!st->base.read_only &&
        pragma_text(st, "PRAGMA secure_delete = ON", mode, sizeof mode, err) == -1)
        return -1;
    if (pragma_text(st, "PRAGMA foreign_keys = ON", mode, sizeof mode, err) == -1 ||
        pragma_text(st, STORE_JOURNAL_LIMIT_SQL, mode, sizeof mode, err) == -1)
        return -1;
    return 0;
}

/* Remember the file's name, directory and identity; in-memory databases have none. */
/*
 * The process creates its files 0600 (main.c), and SQLite gives the -wal
 * and -shm files the mode of the database; a database made earlier, or by
 * hand, may still be open to other local users. Say so, once per file.
 */
static void warn_if_shared(const char *file)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    struct stat sb;

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *name = xasprintf("%s%s", file, suffix[i]);
        if (stat(name, &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0)
            log_warnx("%s holds callers' numbers and transcripts and is open to other local "
                      "users (mode %04o); chmod 600 it",
                      name, (unsigned)(sb.st_mode & 07777));
        free(name);
    }
}

static int store_note_file(struct sq_store *st, struct err *err)
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
    if (!st->base.read_only)
        warn_if_shared(st->file);
    return 0;
}

/*
 * Open the database at path (see store.h). A read-write store creates the
 * file, switches it to WAL and applies missing migrations; a read-only store
 * changes nothing and refuses an uninitialised or newer schema. Errors are
 * ERR_STORAGE (ERR_BUSY when a lock could not be had). The caller owns the
 * result and releases it with sq_free().
 */
static struct sq_store *sq_open_file(const char *path, const struct store_options *opt,
                                     struct err *err)
{
    static const struct store_options defaults = {0};
    struct sq_store *st = NULL;
    int flags, rc;

    if (opt == NULL)
        opt = &defaults;
    if (path == NULL || path[0] == '\0') {
        err_set(err, ERR_CONFIG, "no database path");
        return NULL;
    }
    st = xcalloc(1, sizeof *st);
    st->base.be = &store_sqlite_backend;
    st->base.read_only = opt->read_only;
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
    if (st->base.read_only ? store_check_version(st, err) == -1 : store_migrate(st, err) == -1)
        goto fail;
    return st;

fail:
    sq_free(st);
    return NULL;
}

/* Finalize every kept statement and close the connection; accepts NULL. */
static void sq_free(struct sq_store *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < STMT_COUNT_; i++)
        sqlite3_finalize(st->stmt[i]);
    for (i = 0; i < QUERY_CACHE_SIZE; i++) {
        sqlite3_finalize(st->cache[i].stmt);
        free(st->cache[i].sql);
    }
    sqlite3_close(st->db);
    free(st->fts_pending);
    free(st->file);
    free(st->dir);
    free(st);
}

/* ---- background checkpoints ---- */

struct sq_checkpointer {
    struct store_checkpointer base;
    struct sq_store *writer; /* its WAL hook signals the thread */
    struct sq_store *own;    /* the thread's connection */
    pthread_t thread;
    pthread_mutex_t lock; /* guards pending, stopping, runs */
    pthread_cond_t wake;
    bool pending, stopping;
    uint64_t runs;
    int signalled_at; /* WAL pages when the thread was last asked (writer thread only) */
};

/*
 * The writer's WAL hook, after each commit: pages is the number of frames
 * in the WAL. Ask the thread for a checkpoint every STORE_CKPT_PAGES;
 * checkpoint here at the backstop.
 */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sq_checkpointer *c = arg;

    if (pages < c->signalled_at) /* the WAL restarted */
        c->signalled_at = 0;
    if (pages >= STORE_CKPT_BACKSTOP) {
        /* Busy when the thread is checkpointing: then the next commit tries again. */
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    if (pages - c->signalled_at >= STORE_CKPT_PAGES) {
        c->signalled_at = pages;
        pthread_mutex_lock(&c->lock);
        c->pending = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct sq_checkpointer *c = arg;
    bool warned = false;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        int rc;

        while (!c->pending && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping)
            break;
        c->pending = false;
        pthread_mutex_unlock(&c->lock);
        /* PASSIVE: copies what no reader still needs, never waits for the writer. */
        rc = sqlite3_wal_checkpoint_v2(c->own->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && !warned) {
            log_warnx("background checkpoint of %s: %s (the writer checkpoints at %d pages)",
                      c->own->file, sqlite3_errmsg(c->own->db), STORE_CKPT_BACKSTOP);
            warned = true;
        }
        pthread_mutex_lock(&c->lock);
        c->runs++;
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static struct store_checkpointer *sq_checkpointer_start(struct store *base, struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_options o = {.busy_timeout_ms = st->busy_timeout_ms};
    struct sq_checkpointer *c;

    if (st->base.read_only || st->file == NULL) {
        err_set(err, ERR_CONFIG, "background checkpoints need a writable database file");
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    c->base.be = &store_sqlite_backend;
    c->writer = st;
    if ((c->own = sq_open_file(st->file, &o, err)) == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        err_set(err, ERR_SYSTEM, "cannot start the checkpoint thread");
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sq_free(c->own);
        free(c);
        return NULL;
    }
    sqlite3_wal_hook(st->db, ckpt_hook, c); /* replaces the automatic checkpoint */
    return &c->base;
}

static uint64_t sq_checkpointer_runs(struct store_checkpointer *base)
{
    struct sq_checkpointer *c = (struct sq_checkpointer *)(void *)base;
    uint64_t n;

    pthread_mutex_lock(&c->lock);
    n = c->runs;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void sq_checkpointer_stop(struct store_checkpointer *base)
{
    struct sq_checkpointer *c = (struct sq_checkpointer *)(void *)base;
    if (c == NULL)
        return;
    sqlite3_wal_autocheckpoint(c->writer->db, 1000); /* SQLite's default, as before */
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sq_free(c->own);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- commits synced by another thread ---- */

static int sync_path(const char *path, bool dir, struct err *err);

struct sq_wal {
    struct store_wal base;
    struct sq_store *st;
    char *path;           /* st's WAL file */
    int fd;               /* open on path, -1 before it is */
    pthread_mutex_t lock; /* one sync at a time; guards fd and failed */
    char *failed;         /* the first failure, repeated from then on */
};

/*
 * Open the WAL file that st writes (SQLite keeps it while st is open) and
 * sync its directory, so that the name survives a crash too.
 */
static int wal_open_fd(struct sq_wal *w, struct err *err)
{
    if ((w->fd = open(w->path, O_RDONLY | O_CLOEXEC)) == -1)
        return err_set(err, ERR_STORAGE, "%s: %s", w->path, strerror(errno));
    return sync_path(w->st->dir, true, err);
}

/*
 * Whether fd still names the file at path (same device and inode, still
 * linked). When it does not, st's commits go to a file that is no longer
 * the WAL: flushing whatever now has that name would prove nothing.
 */
static bool wal_same_file(const struct sq_wal *w)
{
    struct stat a, b;

    return fstat(w->fd, &a) == 0 && a.st_nlink > 0 && stat(w->path, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static struct store_wal *sq_wal_open(struct store *base, struct err *err)
{
    struct sq_store *st = sq(base);
    struct sq_wal *w;
    char mode[32];
    int sync = -1, version;

    if (st->base.read_only || st->file == NULL) {
        err_set(err, ERR_CONFIG, "deferred syncs need a writable database file");
        return NULL;
    }
    w = xcalloc(1, sizeof *w);
    w->base.be = &store_sqlite_backend;
    w->st = st;
    w->fd = -1;
    w->path = xasprintf("%s-wal", st->file);
    pthread_mutex_init(&w->lock, NULL);
    /* A read makes SQLite create the WAL file if this connection has not yet. */
    if (pragma_int(st, "PRAGMA user_version", &version, err) == -1 || wal_open_fd(w, err) == -1)
        goto fail;
    if (pragma_text(st, "PRAGMA synchronous = NORMAL", mode, sizeof mode, err) == -1 ||
        pragma_int(st, "PRAGMA synchronous", &sync, err) == -1)
        goto fail;
    if (sync != 1) {
        err_set(err, ERR_STORAGE, "synchronous is %d after setting NORMAL (1)", sync);
        goto fail;
    }
    return &w->base;

fail:
    sq_wal_close(&w->base);
    return NULL;
}

static int sq_wal_sync(struct store_wal *base, struct err *err)
{
    struct sq_wal *w = (struct sq_wal *)(void *)base;
    struct err e = {0};
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    if (w->failed == NULL) {
        if (!wal_same_file(w))
            rc = err_set(&e, ERR_STORAGE, "%s was removed or replaced while in use", w->path);
        else if (fdatasync(w->fd) == -1)
            rc = err_set(&e, ERR_STORAGE, "%s: cannot sync: %s", w->path, strerror(errno));
        if (rc == -1) {
            w->failed = xstrdup(e.msg);
            log_warnx("%s; acknowledgements stop until the daemon restarts", e.msg);
        }
    }
    if (w->failed != NULL)
        rc = err_set(err, ERR_STORAGE, "%s", w->failed);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static void sq_wal_close(struct store_wal *base)
{
    struct sq_wal *w = (struct sq_wal *)(void *)base;
    char mode[32];
    int sync = -1;

    if (w == NULL)
        return;
    if (pragma_text(w->st, "PRAGMA synchronous = FULL", mode, sizeof mode, NULL) == -1 ||
        pragma_int(w->st, "PRAGMA synchronous", &sync, NULL) == -1 || sync != 2)
        log_warnx("%s: synchronous stays %d after setting FULL", w->st->file, sync);
    if (w->fd != -1)
        close(w->fd);
    pthread_mutex_destroy(&w->lock);
    free(w->failed);
    free(w->path);
    free(w);
}

/* The name stored in deliveries.outcome; "unknown" for values outside the enum. */

/*
 * Prove the database answers: the file opened is still the one at its path
 * (not removed or replaced underneath the daemon), and a read of the
 * deliveries table succeeds. ERR_STORAGE (or ERR_BUSY) otherwise.
 */
static int sq_check(struct store *base, struct err *err)
{
    struct sq_store *st = sq(base);
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
static int sq_counts(struct store *base, struct store_counts *out, struct err *err)
{
    struct sq_store *st = sq(base);
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

/* ---- online backup ---- */

/* How long the copy sleeps before trying a locked database again. */
#define BACKUP_WAIT_MS 20

/* Fill err from result code rc on a connection that is not a store's; returns -1. */
static int handle_fail(sqlite3 *h, int rc, const char *what, struct err *err)
{
    enum err_code code = ERR_STORAGE;
    const char *msg = sqlite3_errstr(rc);

    if (h != NULL && (sqlite3_extended_errcode(h) & 0xff) == (rc & 0xff))
        msg = sqlite3_errmsg(h);
    switch (rc & 0xff) {
    case SQLITE_FULL:
        code = ERR_FULL;
        break;
    case SQLITE_IOERR:
        if (h != NULL && (sqlite3_system_errno(h) == ENOSPC || sqlite3_system_errno(h) == EDQUOT))
            code = ERR_FULL;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = ERR_BUSY;
        break;
    default:
        break;
    }
    return err_set(err, code, "%s: %s", what, msg);
}

/* fsync the file, or with dir the directory, at path. */
static int sync_path(const char *path, bool dir, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0)), e;

    if (fd == -1)
        return err_set(err, ERR_SYSTEM, "open %s: %s", path, strerror(errno));
    if (fsync(fd) == -1) {
        e = errno;
        close(fd);
        return err_set(err, e == ENOSPC || e == EDQUOT ? ERR_FULL : ERR_SYSTEM, "fsync %s: %s",
                       path, strerror(e));
    }
    close(fd);
    return 0;
}

/* The directory part of path ("." when it has none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Remove a temporary copy and whatever journal SQLite left beside it. */
static void backup_unlink(const char *tmp)
{
    static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
    size_t i;

    for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = xasprintf("%s%s", tmp, suffix[i]);
        unlink(p);
        free(p);
    }
}

/* sqlite3_exec callback: copy the first column of the first row to arg (32 bytes). */
static int backup_first_text(void *arg, int ncol, char **val, char **name)
{
    char *out = arg;

    (void)name;
    if (out[0] == '\0' && ncol > 0 && val[0] != NULL)
        snprintf(out, 32, "%s", val[0]);
    return 0;
}

/*
 * Copy every page of st's database into the empty file tmp with one
 * sqlite3_backup_step(-1): the whole copy runs under one read transaction,
 * so it is a snapshot whatever writers do meanwhile (WAL lets them go on).
 * A locked source is tried again every BACKUP_WAIT_MS up to busy_timeout.
 * The copy is then switched to rollback-journal mode so that it is one
 * self-contained file; it is synced later, once, after its check.
 */
static int backup_copy(struct sq_store *st, const char *tmp, unsigned *waits, struct err *err)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *bk;
    unsigned waited = 0;
    char mode[32] = "";
    int rc, done;

    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(dst, 1);
    if ((rc = sqlite3_exec(dst, "PRAGMA synchronous = OFF", NULL, NULL, NULL)) != SQLITE_OK)
        goto fail;
    if ((bk = sqlite3_backup_init(dst, "main", st->db, "main")) == NULL) {
        rc = sqlite3_extended_errcode(dst);
        goto fail;
    }
    for (;;) {
        done = sqlite3_backup_step(bk, -1);
        if (done == SQLITE_DONE)
            break;
        if (((done & 0xff) != SQLITE_BUSY && (done & 0xff) != SQLITE_LOCKED) ||
            waited >= st->busy_timeout_ms)
            break;
        nanosleep(&(struct timespec){0, BACKUP_WAIT_MS * 1000000L}, NULL);
        waited += BACKUP_WAIT_MS;
        (*waits)++;
    }
    rc = sqlite3_backup_finish(bk);
    if (done != SQLITE_DONE) {
        if ((done & 0xff) == SQLITE_BUSY || (done & 0xff) == SQLITE_LOCKED)
            err_set(err, ERR_BUSY, "copy: the database stayed locked for %u ms", waited);
        else
            handle_fail(dst, done, "copy", err);
        sqlite3_close(dst);
        return -1;
    }
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", backup_first_text, mode, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if (strcmp(mode, "delete") != 0) {
        sqlite3_close(dst);
        return err_set(err, ERR_STORAGE, "copy: journal mode stayed %s", mode);
    }
    if ((rc = sqlite3_close(dst)) != SQLITE_OK)
        return handle_fail(NULL, rc, "copy: close", err);
    return 0;

fail:
    handle_fail(dst, rc, "copy", err);
    sqlite3_close(dst);
    return -1;
}

/*
 * Check the copy at tmp as a restore would meet it: PRAGMA integrity_check
 * must say exactly "ok", the full-text index must match the calls (FTS5's
 * own integrity-check, which PRAGMA integrity_check does not run), and the
 * schema must be one this build knows. Counts what it holds into info.
 */
static int backup_verify(const char *tmp, struct store_backup_info *info, struct err *err)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    char first[200] = "";
    int rc, rows = 0, version = -1;

    rc = sqlite3_open_v2(tmp, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(h, 1);
    if ((rc = sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL)) != SQLITE_OK)
        goto fail;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        if (rows++ == 0)
            snprintf(first, sizeof first, "%s", v != NULL ? (const char *)v : "");
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_DONE)
        goto fail;
    if (rows != 1 || strcmp(first, "ok") != 0) {
        sqlite3_close(h);
        return err_set(err, ERR_STORAGE, "check: integrity_check found %d problem%s, first: %s",
                       rows, rows == 1 ? "" : "s", first);
    }
    rc = sqlite3_prepare_v2(h,
                            "SELECT (SELECT user_version FROM pragma_user_version),"
                            " (SELECT count(*) FROM calls), (SELECT count(*) FROM deliveries)",
                            -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if ((rc = sqlite3_step(s)) != SQLITE_ROW)
        goto fail;
    version = sqlite3_column_int(s, 0);
    info->calls = sqlite3_column_int64(s, 1);
    info->deliveries = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    s = NULL;
    if (version < 1 || version > STORE_SCHEMA_VERSION) {
        sqlite3_close(h);
        return err_set(err, ERR_STORAGE, "check: schema version %d is not one this build knows",
                       version);
    }
    rc = sqlite3_exec(h, "INSERT INTO calls_fts (calls_fts) VALUES ('integrity-check')", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        handle_fail(h, rc, "check: the search index does not match the calls", err);
        sqlite3_close(h);
        return -1;
    }
    if ((rc = sqlite3_close(h)) != SQLITE_OK)
        return handle_fail(NULL, rc, "check: close", err);
    return 0;

fail:
    handle_fail(h, rc, "check", err);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return -1;
}

/*
 * Put the checked copy tmp in place as dest. Without replace a hard link
 * does it, so an existing dest (even one created meanwhile) is never
 * overwritten; filesystems without hard links fall back to a check and a
 * rename. On success tmp no longer exists.
 */
static int backup_install(const char *tmp, const char *dest, bool replace, struct err *err)
{
    struct stat sb;

    if (!replace) {
        if (link(tmp, dest) == 0) {
            unlink(tmp);
            return 0;
        }
        if (errno == EEXIST)
            return err_set(err, ERR_INVALID, "%s already exists", dest);
        /* NOLINTNEXTLINE(misc-redundant-expression): ENOTSUP, EOPNOTSUPP differ on some systems */
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS)
            return err_set(err, ERR_SYSTEM, "link %s: %s", dest, strerror(errno));
        if (lstat(dest, &sb) == 0)
            return err_set(err, ERR_INVALID, "%s already exists", dest);
    }
    if (rename(tmp, dest) == -1)
        return err_set(err, ERR_SYSTEM, "rename to %s: %s", dest, strerror(errno));
    return 0;
}

/*
 * Write a verified snapshot of the database to dest (see store.h): the
 * SQLite online backup API into dest.tmp-XXXXXX beside dest, the check,
 * fsync of the copy, rename (or link) to dest, fsync of the directory.
 * dest is refused when it is the database itself, when it is not a regular
 * file, and when dest-wal exists (SQLite would replay that stale log over
 * the copy the next time dest is opened). Works from a read-only store.
 * If only the final directory sync fails, dest is in place but -1 says its
 * name may not survive a power loss.
 */
static int sq_backup(struct store *base, const char *dest, bool replace,
                     struct store_backup_info *info, struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_backup_info got = {0};
    char *tmp = NULL, *dir = NULL, *wal = NULL;
    struct stat sb;
    int fd, rc = -1;

    if (dest == NULL || dest[0] == '\0')
        return err_set(err, ERR_INVALID, "no backup file name");
    if (lstat(dest, &sb) == 0) {
        if (!replace) {
            err_set(err, ERR_INVALID, "%s already exists", dest);
            goto done;
        }
        if (!S_ISREG(sb.st_mode)) {
            err_set(err, ERR_INVALID, "%s is not a regular file", dest);
            goto done;
        }
        if (st->file != NULL && sb.st_dev == st->dev && sb.st_ino == st->ino) {
            err_set(err, ERR_INVALID, "%s is the database itself", dest);
            goto done;
        }
    } else if (errno != ENOENT) {
        err_set(err, ERR_SYSTEM, "%s: %s", dest, strerror(errno));
        goto done;
    }
    wal = xasprintf("%s-wal", dest);
    if (lstat(wal, &sb) == 0) {
        err_set(err, ERR_INVALID,
                "%s exists: %s is or was open in WAL mode; stop what uses it and remove its -wal "
                "and -shm files first",
                wal, dest);
        goto done;
    }
    dir = dir_of(dest);
    tmp = xasprintf("%s.tmp-XXXXXX", dest);
    if ((fd = mkstemp(tmp)) == -1) {
        err_set(err, errno == ENOSPC || errno == EDQUOT ? ERR_FULL : ERR_SYSTEM,
                "cannot create a file in %s: %s", dir, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    close(fd);
    if (backup_copy(st, tmp, &got.waits, err) == -1 || backup_verify(tmp, &got, err) == -1 ||
        sync_path(tmp, false, err) == -1)
        goto done;
    if (stat(tmp, &sb) == -1) {
        err_set(err, ERR_SYSTEM, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    got.bytes = (uint64_t)sb.st_size;
    if (backup_install(tmp, dest, replace, err) == -1)
        goto done;
    free(tmp);
    tmp = NULL;
    if (sync_path(dir, true, err) == -1)
        goto done;
    if (info != NULL)
        *info = got;
    rc = 0;
done:
    if (tmp != NULL)
        backup_unlink(tmp);
    free(tmp);
    free(dir);
    free(wal);
    return rc;
}

/*
 * Call fn for at most limit deliveries, newest (by received time, then id)
 * first, optionally only those with the given outcome; ERR_INVALID for an
 * unknown outcome name. fn must not call back into this store's listing.
 * A non-zero return from fn stops the listing early; that is not an error.
 */
static int sq_list_deliveries(struct store *base, const char *outcome, unsigned limit,
                              int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                              struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    struct delivery_row row;
    int rc;

    if (outcome != NULL && !store_outcome_known(outcome))
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
static int fetch_body(struct sq_store *st, sqlite3_stmt *s, const char *what_missing, char **body,
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
static int sq_delivery_body(struct store *base, int64_t delivery_id, char **body, size_t *len,
                            struct err *err)
{
    struct sq_store *st = sq(base);
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
static int sq_call_raw(struct store *base, const char *call_id, char **body, size_t *len,
                       struct err *err)
{
    struct sq_store *st = sq(base);
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

/* ---- reading calls (MCP tools) ---- */

/*
 * How a search with a phone number is driven. Measured on 100k generated
 * calls: probing the text index for one call costs 70-250 us, walking text
 * matches and checking the number in calls_scan ~1 us a match. A number
 * with few calls is cheapest walked and probed; a number on many calls is
 * cheapest checked as a column.
 */
#define PHONE_FEW       50   /* at most this many calls: walk them, probe the text */
#define PHONE_PROBE_MAX 1000 /* ... or this many when the text matches most calls */
#define PHONE_MANY      2500 /* above this, with other filters: check it in calls_scan */
/*
 * Counting stops after examining this many rows of the driving index
 * (about 5 ms each at 100k calls); total is then a lower bound
 * (total_exact false).
 */
#define COUNT_WORK_JOIN  5000             /* text matches checked against calls_scan */
#define COUNT_WORK_SCAN  25000            /* calls_scan entries */
#define COUNT_WORK_PROBE (PHONE_FEW + 1)  /* text probes of a number's calls */
#define COUNT_WORK_PHONE (PHONE_MANY + 1) /* a number's calls checked in the table */
/* Relevance ranks at most this many text matches, the newest (bm25 costs ~2.5 us each). */
#define RELEVANCE_WINDOW   STORE_TOTAL_CAP
#define COMPLETE_RANGE_MAX 2000 /* a prefix range this small is sorted; larger ones are scanned */
#define PROGRESS_OPS       4000 /* SQLite VM steps between interrupt checks */

/* bm25 weights in column order: transcript, summary, purpose, topic, key
 * points, action items, unanswered questions, names. */
#define BM25_WEIGHTS "1.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.0, 3.0"

/* ---- rows read through the shared answer builders (backend.h) ---- */

static const char *col_text(sqlite3_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(s, col);
}

/* A copy of a text column; NULL for NULL. */
static char *col_dup(sqlite3_stmt *s, int col)
{
    const char *text = col_text(s, col);

    return text != NULL ? xstrdup(text) : NULL;
}

static bool row_is_null(const struct store_row *r, int col)
{
    return sqlite3_column_type(r->impl, col) == SQLITE_NULL;
}

static const char *row_text(const struct store_row *r, int col, size_t *len)
{
    const char *text = col_text(r->impl, col);

    if (len != NULL)
        *len = (size_t)sqlite3_column_bytes(r->impl, col);
    return text;
}

static int64_t row_int64(const struct store_row *r, int col)
{
    return sqlite3_column_int64(r->impl, col);
}

static double row_real(const struct store_row *r, int col)
{
    return sqlite3_column_double(r->impl, col);
}

static const struct store_row_ops row_ops = {row_is_null, row_text, row_int64, row_real};

/* The current row of s, its columns from base on. */
static struct store_row stmt_row(sqlite3_stmt *s, int base)
{
    struct store_row r = {.ops = &row_ops, .impl = s, .base = base};

    return r;
}

/* ---- read transactions ---- */

/* One snapshot for every statement of a read (totals agree with the page). */
static int read_begin(struct sq_store *st, struct err *err)
{
    return stmt_exec(st, STMT_BEGIN_READ, "begin read", err);
}

static int read_end(struct sq_store *st, struct err *err)
{
    return stmt_exec(st, STMT_COMMIT, "end read", err);
}

static void read_abort(struct sq_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        stmt_exec(st, STMT_ROLLBACK, "rollback", NULL);
}

/* Run a kept count statement: ?1 text, ?2 the cap. */
static int capped_count(struct sq_store *st, enum stmt_id id, const char *text, int64_t cap,
                        int64_t *out, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);

    *out = 0;
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, cap);
    return step_int64(st, s, "count", out, err) == -1 ? -1 : 0;
}

/*
 * The FTS5 expression of a query's words: each word a double-quoted string
 * (a '"' inside doubled), joined by spaces, so that every word must match
 * and none is read as syntax. Caller frees.
 */
char *store_sqlite_match(const struct search_terms *t)
{
    struct buf b = {0};
    size_t i;

    for (i = 0; i < t->n; i++) {
        const char *p;

        buf_puts(&b, i > 0 ? " \"" : "\"");
        for (p = t->words[i]; *p != '\0'; p++)
            buf_append(&b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
        buf_puts(&b, "\"");
    }
    return buf_steal(&b, NULL);
}

/* ---- search statements built from fragments ---- */

enum param_type { PARAM_TEXT, PARAM_INT, PARAM_REAL };

struct param {
    const char *name;
    enum param_type type;
    const char *text;
    int64_t i;
    double d;
};

/* SQL made only of the fixed fragments below, and the values for its parameters. */
struct sql_build {
    const char *match; /* the FTS5 expression of the query's words, or NULL */
    struct buf sql;
    struct param params[24];
    size_t n;
};

static void sb_add(struct sql_build *b, const char *fragment)
{
    buf_puts(&b->sql, fragment);
}

static struct param *sb_param(struct sql_build *b, const char *name, enum param_type type)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (strcmp(b->params[i].name, name) == 0)
            break;
    if (i == b->n) {
        if (b->n == sizeof b->params / sizeof b->params[0])
            fatalx("store: too many search parameters");
        b->n++;
    }
    b->params[i].name = name;
    b->params[i].type = type;
    return &b->params[i];
}

static void sb_text(struct sql_build *b, const char *name, const char *value)
{
    sb_param(b, name, PARAM_TEXT)->text = value;
}

static void sb_int(struct sql_build *b, const char *name, int64_t value)
{
    sb_param(b, name, PARAM_INT)->i = value;
}

static void sb_real(struct sql_build *b, const char *name, double value)
{
    sb_param(b, name, PARAM_REAL)->d = value;
}

/*
 * The statement for sql, from the cache of built searches or freshly
 * prepared into the next slot (round robin). Reset after every use, like
 * the kept statements.
 */
static sqlite3_stmt *query_get(struct sq_store *st, const char *sql, struct err *err)
{
    struct cached_query *slot;
    size_t i;
    int rc;

    for (i = 0; i < QUERY_CACHE_SIZE; i++)
        if (st->cache[i].sql != NULL && strcmp(st->cache[i].sql, sql) == 0)
            return st->cache[i].stmt;
    slot = &st->cache[st->cache_next];
    st->cache_next = (st->cache_next + 1) % QUERY_CACHE_SIZE;
    sqlite3_finalize(slot->stmt);
    free(slot->sql);
    slot->stmt = NULL;
    slot->sql = NULL;
    rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(slot->stmt);
        slot->stmt = NULL;
        db_fail(st, err, rc, "prepare search");
        return NULL;
    }
    slot->sql = xstrdup(sql);
    return slot->stmt;
}

/* Prepare (or reuse) b's statement and bind every parameter its fragments named. */
static sqlite3_stmt *sb_statement(struct sq_store *st, const struct sql_build *b, struct err *err)
{
    sqlite3_stmt *s = query_get(st, b->sql.data, err);
    size_t i;
    int rc = SQLITE_OK;

    if (s == NULL)
        return NULL;
    for (i = 0; i < b->n && rc == SQLITE_OK; i++) {
        const struct param *p = &b->params[i];
        int idx = sqlite3_bind_parameter_index(s, p->name);

        if (idx == 0) {
            stmt_release(s);
            err_set(err, ERR_INTERNAL, "search has no parameter %s", p->name);
            return NULL;
        }
        if (p->type == PARAM_TEXT)
            rc = sqlite3_bind_text(s, idx, p->text, -1, SQLITE_STATIC);
        else if (p->type == PARAM_INT)
            rc = sqlite3_bind_int64(s, idx, p->i);
        else
            rc = sqlite3_bind_double(s, idx, p->d);
    }
    if (rc != SQLITE_OK) {
        db_fail(st, err, rc, "bind search");
        stmt_release(s);
        return NULL;
    }
    return s;
}

/* Which index a search walks. */
enum drive {
    DRIVE_FTS,   /* calls_fts in rowid (= recency) or rank order, filters in calls_scan */
    DRIVE_PHONE, /* the customer and business number indexes, merged newest first */
    DRIVE_SCAN,  /* calls_scan in recency order, every filter checked in the index */
    DRIVE_INDEX  /* plain SQL on calls: SQLite picks calls_recent or one filter's index */
};

/* An inclusive search_rowid range; empty when no call can match. */
struct rowid_range {
    bool empty;
    bool has_lo, has_hi;
    int64_t lo, hi;
};

struct plan {
    enum drive drive;
    bool newest;                    /* newest first (and relevance ties) rather than oldest */
    bool relevance;                 /* bm25 order with offset paging */
    bool probe_fts;                 /* DRIVE_PHONE: each call must also match the text */
    bool phone_filter;              /* DRIVE_FTS, DRIVE_SCAN: the number is checked as a column */
    bool column_filter;             /* DRIVE_FTS: some filter needs calls_scan */
    bool column_other;              /* DRIVE_PHONE: filters besides the number */
    struct rowid_range count_range; /* the dates */
    struct rowid_range page_range;  /* the dates and the continuation keyset */
    const char *match;              /* the words as an FTS5 expression (fts_match), or NULL */
};

/* Filters on columns other than the phone numbers and the time. */
static unsigned column_filters(const struct call_query *q, bool *unindexed)
{
    unsigned n = (q->direction != NULL) + (q->sentiment != NULL) + (q->topic != NULL) +
                 (q->agent != NULL) + (q->follow_up_status != NULL);

    *unindexed = q->follow_up != -1 || q->min_duration_s >= 0 || q->max_duration_s >= 0;
    return n;
}

/* AND the column filters (and the number, with phone) on alias c. */
static void add_filters(struct sql_build *b, const struct call_query *q, bool phone)
{
    if (q->direction != NULL) {
        sb_add(b, " AND c.direction = :direction COLLATE NOCASE");
        sb_text(b, ":direction", q->direction);
    }
    if (q->sentiment != NULL) {
        sb_add(b, " AND c.sentiment = :sentiment COLLATE NOCASE");
        sb_text(b, ":sentiment", q->sentiment);
    }
    if (q->topic != NULL) {
        sb_add(b, " AND c.topic = :topic COLLATE NOCASE");
        sb_text(b, ":topic", q->topic);
    }
    if (q->agent != NULL) {
        sb_add(b, " AND c.agent_name = :agent COLLATE NOCASE");
        sb_text(b, ":agent", q->agent);
    }
    if (q->follow_up == 1)
        sb_add(b, " AND c.follow_up = 1");
    else if (q->follow_up == 0)
        sb_add(b, " AND coalesce(c.follow_up, 0) = 0");
    if (q->follow_up_status != NULL) {
        sb_add(b, " AND c.follow_up_status = :status");
        sb_text(b, ":status", q->follow_up_status);
    }
    if (q->min_duration_s >= 0) {
        sb_add(b, " AND c.duration_s >= :min_duration");
        sb_real(b, ":min_duration", q->min_duration_s);
    }
    if (q->max_duration_s >= 0) {
        sb_add(b, " AND c.duration_s <= :max_duration");
        sb_real(b, ":max_duration", q->max_duration_s);
    }
    if (phone && q->phone_digits != NULL) {
        sb_add(b, " AND (c.customer_digits = :phone OR c.business_digits = :phone)");
        sb_text(b, ":phone", q->phone_digits);
    }
}

/* AND the date range on c.sort_ms (drivers that walk sort_ms). */
static void add_times(struct sql_build *b, const struct call_query *q)
{
    if (q->from_ms != INT64_MIN) {
        sb_add(b, " AND c.sort_ms >= :from_ms");
        sb_int(b, ":from_ms", q->from_ms);
    }
    if (q->to_ms != INT64_MAX) {
        sb_add(b, " AND c.sort_ms < :to_ms");
        sb_int(b, ":to_ms", q->to_ms);
    }
}

/* AND "after the previous page's last row" on (sort_ms, id). */
static void add_keyset(struct sql_build *b, const struct call_query *q, bool newest)
{
    if (!q->has_after)
        return;
    sb_add(b, newest ? " AND (c.sort_ms, c.id) < (:after_sort_ms, :after_id)"
                     : " AND (c.sort_ms, c.id) > (:after_sort_ms, :after_id)");
    sb_int(b, ":after_sort_ms", q->after_sort_ms);
    sb_int(b, ":after_id", q->after_id);
}

/* AND a search_rowid range on col ("f.rowid" or "c.search_rowid"). */
static void add_range(struct sql_build *b, const char *col, const struct rowid_range *r)
{
    if (r->has_lo) {
        sb_add(b, " AND ");
        sb_add(b, col);
        sb_add(b, " >= :lo");
        sb_int(b, ":lo", r->lo);
    }
    if (r->has_hi) {
        sb_add(b, " AND ");
        sb_add(b, col);
        sb_add(b, " <= :hi");
        sb_int(b, ":hi", r->hi);
    }
}

/*
 * AND "the call matches the text", one probe of calls_fts. FTS5 serves a
 * rowid range about twice as fast as rowid equality (measured), hence >=
 * and <= on the same value.
 */
static void add_fts_probe(struct sql_build *b)
{
    sb_add(b, " AND EXISTS (SELECT 1 FROM calls_fts WHERE calls_fts MATCH :fts"
              " AND rowid >= c.search_rowid AND rowid <= c.search_rowid)");
    sb_text(b, ":fts", b->match);
}

/* The rows of calls_fts that match, joined to calls_scan when a filter needs it. */
static void add_fts_source(struct sql_build *b, const struct call_query *q, const struct plan *pl,
                           const struct rowid_range *r)
{
    sb_add(b, " FROM calls_fts f");
    if (pl->column_filter)
        sb_add(b, " CROSS JOIN calls c INDEXED BY calls_scan ON c.search_rowid = f.rowid");
    sb_add(b, " WHERE f.calls_fts MATCH :fts");
    sb_text(b, ":fts", b->match);
    add_range(b, "f.rowid", r);
    if (pl->column_filter)
        add_filters(b, q, pl->phone_filter);
}

/* The two number indexes as one walk: a call on both sides is taken from the first. */
static void add_phone_branch(struct sql_build *b, const struct call_query *q, int branch)
{
    sb_add(b, branch == 0 ? " FROM calls c INDEXED BY calls_customer"
                            " WHERE c.customer_digits = :phone"
                          : " FROM calls c INDEXED BY calls_business"
                            " WHERE c.business_digits = :phone"
                            " AND c.customer_digits IS NOT :phone");
    sb_text(b, ":phone", q->phone_digits);
}

/* The snippet: the best passage of the best matching column, hits in [brackets]. */
#define SNIPPET(fts) "snippet(" fts ", -1, '[', ']', '\xe2\x80\xa6', 12)"

/*
 * The page: an inner query walks the chosen index and yields at most
 * limit + 1 keys; the outer one reads the wide rows of those calls only.
 * Walking calls_fts in rowid order, the inner query also makes each
 * snippet, for the returned rows only.
 */
static void build_page(struct sql_build *b, const struct call_query *q, const struct plan *pl)
{
    b->match = pl->match;
    const char *desc = pl->newest ? " DESC" : "";
    bool inline_snippet = pl->drive == DRIVE_FTS && !pl->relevance;
    int branch;

    sb_add(b, "SELECT " OUT_COLUMNS);
    sb_add(b, inline_snippet ? ", p.snip FROM (" : ", NULL FROM (");
    switch (pl->drive) {
    case DRIVE_FTS:
        sb_add(b, pl->relevance ? "SELECT f.rowid AS r, bm25(f.calls_fts, " BM25_WEIGHTS
                                  ") AS score"
                                : "SELECT f.rowid AS r, " SNIPPET("f.calls_fts") " AS snip");
        add_fts_source(b, q, pl, &pl->page_range);
        sb_add(b, pl->relevance ? " ORDER BY score, f.rowid DESC LIMIT :limit OFFSET :offset"
                  : pl->newest  ? " ORDER BY f.rowid DESC LIMIT :limit"
                                : " ORDER BY f.rowid LIMIT :limit");
        if (pl->relevance)
            sb_int(b, ":offset", q->offset);
        sb_add(b, ") AS p CROSS JOIN calls o ON o.search_rowid = p.r");
        break;
    case DRIVE_SCAN:
        sb_add(b, "SELECT c.id AS i FROM calls c INDEXED BY calls_scan WHERE 1");
        add_range(b, "c.search_rowid", &pl->page_range);
        add_filters(b, q, pl->phone_filter);
        sb_add(b, " ORDER BY c.search_rowid");
        sb_add(b, desc);
        sb_add(b, " LIMIT :limit) AS p CROSS JOIN calls o ON o.id = p.i");
        break;
    case DRIVE_INDEX:
        sb_add(b, "SELECT c.id AS i FROM calls c WHERE 1");
        add_filters(b, q, false);
        add_times(b, q);
        add_keyset(b, q, pl->newest);
        sb_add(b, pl->newest ? " ORDER BY c.sort_ms DESC, c.id DESC" : " ORDER BY c.sort_ms, c.id");
        sb_add(b, " LIMIT :limit) AS p CROSS JOIN calls o ON o.id = p.i");
        break;
    case DRIVE_PHONE:
        /* Two ordered index walks merged by the compound's ORDER BY. */
        for (branch = 0; branch < 2; branch++) {
            sb_add(b, branch == 0 ? "SELECT c.id AS i, c.sort_ms AS s"
                                  : " UNION ALL SELECT c.id, c.sort_ms");
            add_phone_branch(b, q, branch);
            add_filters(b, q, false);
            add_times(b, q);
            add_keyset(b, q, pl->newest);
            if (pl->probe_fts)
                add_fts_probe(b);
        }
        sb_add(b, pl->newest ? " ORDER BY 2 DESC, 1 DESC" : " ORDER BY 2, 1");
        sb_add(b, " LIMIT :limit) AS p CROSS JOIN calls o ON o.id = p.i");
        break;
    }
    sb_int(b, ":limit", (int64_t)q->limit + 1);
    sb_add(b, pl->relevance ? " ORDER BY p.score, o.sort_ms DESC, o.id DESC"
              : pl->newest  ? " ORDER BY o.sort_ms DESC, o.id DESC"
                            : " ORDER BY o.sort_ms, o.id");
}

/* The per-row test of a budgeted count: 1 when the examined row matches. */
static void add_hit(struct sql_build *b, const struct call_query *q, bool phone, bool probe)
{
    sb_add(b, "SELECT (1");
    add_filters(b, q, phone);
    if (probe)
        add_fts_probe(b);
    sb_add(b, ") AS hit");
}

/*
 * The total: SELECT examined, matched. Drivers whose index answers the
 * query alone count matches up to the cap plus one. Drivers that must
 * check each row examine at most a work budget of rows, testing each in
 * the select list; if the budget runs out the count is a lower bound.
 * Returns the number of rows the count may examine.
 */
static int64_t build_count(struct sql_build *b, const struct call_query *q, const struct plan *pl)
{
    b->match = pl->match;
    int64_t work = STORE_TOTAL_CAP + 1;
    int branch;

    sb_add(b, "SELECT count(*), coalesce(sum(hit), 0) FROM (");
    switch (pl->drive) {
    case DRIVE_FTS:
        if (pl->column_filter) {
            add_hit(b, q, pl->phone_filter, false);
            work = COUNT_WORK_JOIN;
        } else {
            sb_add(b, "SELECT 1 AS hit");
        }
        sb_add(b, " FROM calls_fts f");
        if (pl->column_filter)
            sb_add(b, " CROSS JOIN calls c INDEXED BY calls_scan ON c.search_rowid = f.rowid");
        sb_add(b, " WHERE f.calls_fts MATCH :fts");
        sb_text(b, ":fts", b->match);
        add_range(b, "f.rowid", &pl->count_range);
        break;
    case DRIVE_SCAN:
        add_hit(b, q, pl->phone_filter, false);
        sb_add(b, " FROM calls c INDEXED BY calls_scan WHERE 1");
        add_range(b, "c.search_rowid", &pl->count_range);
        work = COUNT_WORK_SCAN;
        break;
    case DRIVE_INDEX:
        sb_add(b, "SELECT 1 AS hit FROM calls c WHERE 1");
        add_filters(b, q, false);
        add_times(b, q);
        break;
    case DRIVE_PHONE:
        if (!pl->probe_fts && !pl->column_other) {
            /* The two number indexes OR-ed answer it alone. */
            sb_add(b, "SELECT 1 AS hit FROM calls c WHERE 1");
            add_filters(b, q, true);
            add_times(b, q);
            break;
        }
        for (branch = 0; branch < 2; branch++) {
            if (branch == 1)
                sb_add(b, " UNION ALL ");
            add_hit(b, q, false, pl->probe_fts);
            add_phone_branch(b, q, branch);
            add_times(b, q);
        }
        /* Only numbers with few calls get here (see plan_choose). */
        work = pl->probe_fts ? COUNT_WORK_PROBE : COUNT_WORK_PHONE;
        break;
    }
    sb_add(b, " LIMIT :work)");
    sb_int(b, ":work", work);
    return work;
}

/* Narrow r to search numbers >= lo (has = 1) or note that nothing qualifies (has = 0). */
static void range_lo(struct rowid_range *r, int has, int64_t lo)
{
    if (has == 0)
        r->empty = true;
    else if (!r->has_lo || lo > r->lo) {
        r->has_lo = true;
        r->lo = lo;
    }
}

static void range_hi(struct rowid_range *r, int has, int64_t hi)
{
    if (has == 0)
        r->empty = true;
    else if (!r->has_hi || hi < r->hi) {
        r->has_hi = true;
        r->hi = hi;
    }
}

/*
 * Turn the dates and the keyset into search_rowid ranges for the drivers
 * that walk search numbers. Each bound is the number of the first or last
 * call on the right side of it, found on calls_recent: exact, because
 * number order is (sort_ms, id) order, however numbers were assigned.
 */
static int plan_ranges(struct sq_store *st, const struct call_query *q, struct plan *pl,
                       struct err *err)
{
    struct rowid_range *r = &pl->count_range;
    int64_t v = 0;
    int has;

    if (q->from_ms != INT64_MIN) {
        if ((has = query_int64(st, STMT_BOUND_GE, q->from_ms, 0, "search", &v, err)) == -1)
            return -1;
        range_lo(r, has, v);
    }
    if (q->to_ms != INT64_MAX) {
        if ((has = query_int64(st, STMT_BOUND_LT, q->to_ms, 0, "search", &v, err)) == -1)
            return -1;
        range_hi(r, has, v);
    }
    pl->page_range = *r;
    r = &pl->page_range;
    if (q->has_after && !pl->relevance) {
        has = query_int64(st, pl->newest ? STMT_PLACE_PRED : STMT_PLACE_SUCC, q->after_sort_ms,
                          q->after_id, "search", &v, err);
        if (has == -1)
            return -1;
        if (pl->newest)
            range_hi(r, has, v);
        else
            range_lo(r, has, v);
    }
    if (pl->count_range.has_lo && pl->count_range.has_hi && pl->count_range.lo > pl->count_range.hi)
        pl->count_range.empty = true;
    if (r->has_lo && r->has_hi && r->lo > r->hi)
        r->empty = true;
    if (pl->count_range.empty)
        r->empty = true;
    return 0;
}

/*
 * Relevance ranks the newest RELEVANCE_WINDOW text matches at most, so its
 * cost does not grow with the database: narrow the page range to start at
 * the oldest of them. Fewer matches leave the range as it is.
 */
static int plan_relevance_window(struct sq_store *st, struct plan *pl, struct err *err)
{
    struct sql_build b = {0};
    sqlite3_stmt *s;
    int64_t v = 0;
    int has;

    if (!pl->relevance || pl->page_range.empty)
        return 0;
    sb_add(&b, "SELECT f.rowid FROM calls_fts f WHERE f.calls_fts MATCH :fts");
    sb_text(&b, ":fts", pl->match);
    add_range(&b, "f.rowid", &pl->page_range);
    sb_add(&b, " ORDER BY f.rowid DESC LIMIT 1 OFFSET :skip");
    sb_int(&b, ":skip", RELEVANCE_WINDOW - 1);
    s = sb_statement(st, &b, err);
    buf_free(&b.sql);
    if (s == NULL || (has = step_int64(st, s, "search", &v, err)) == -1)
        return -1;
    if (has == 1)
        range_lo(&pl->page_range, 1, v);
    return 0;
}

/*
 * Choose the driver. Text drives unless a phone number with few calls
 * (or a common text with a number that is not on most calls) makes the
 * number's own calls the shorter walk; see PHONE_FEW and PHONE_MANY.
 */
static int plan_choose(struct sq_store *st, const struct call_query *q, const char *match,
                       struct plan *pl, struct err *err)
{
    bool unindexed;
    unsigned indexed = column_filters(q, &unindexed);
    int64_t phones = 0, matches = 0;

    memset(pl, 0, sizeof *pl);
    pl->match = match;
    pl->newest = q->sort != CALL_SORT_OLDEST;
    pl->relevance = q->sort == CALL_SORT_RELEVANCE;
    if (match != NULL) {
        pl->drive = DRIVE_FTS;
        pl->phone_filter = q->phone_digits != NULL;
        pl->column_filter = indexed > 0 || unindexed || pl->phone_filter;
        if (q->phone_digits == NULL || pl->relevance)
            return 0;
        if (capped_count(st, STMT_PHONE_COUNT, q->phone_digits, PHONE_MANY + 1, &phones, err) == -1)
            return -1;
        if (phones > PHONE_FEW) {
            if (capped_count(st, STMT_FTS_COUNT, match, STORE_TOTAL_CAP + 1, &matches, err) == -1)
                return -1;
            if (matches <= STORE_TOTAL_CAP || phones > PHONE_PROBE_MAX)
                return 0;
        }
        pl->drive = DRIVE_PHONE;
        pl->probe_fts = true;
        pl->phone_filter = false;
        pl->column_other = indexed > 0 || unindexed;
        return 0;
    }
    if (q->phone_digits != NULL) {
        pl->drive = DRIVE_PHONE;
        pl->column_other = indexed > 0 || unindexed;
        if (!pl->column_other)
            return 0;
        if (capped_count(st, STMT_PHONE_COUNT, q->phone_digits, PHONE_MANY + 1, &phones, err) == -1)
            return -1;
        if (phones > PHONE_MANY) {
            pl->drive = DRIVE_SCAN;
            pl->phone_filter = true;
        }
        return 0;
    }
    pl->drive = indexed <= 1 && !unindexed ? DRIVE_INDEX : DRIVE_SCAN;
    return 0;
}

/* Add the snippet of each listed call: the best matching passage, hits in [brackets]. */
static int add_snippets(struct sq_store *st, const char *fts, cJSON *calls, const int64_t *rowids,
                        size_t n, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_SNIPPET, err);
    cJSON *item = calls->child;
    size_t i;
    int rc;

    if (s == NULL)
        return -1;
    for (i = 0; i < n && item != NULL; i++, item = item->next) {
        sqlite3_bind_text(s, 1, fts, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, rowids[i]);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            store_json_put_string(item, "snippet", col_text(s, 0));
        else if (rc != SQLITE_DONE) {
            db_fail(st, err, rc, "snippet");
            stmt_release(s);
            return -1;
        }
        stmt_release(s);
    }
    return 0;
}

/*
 * One page of calls matching q (see store.h). The search runs in one read
 * snapshot: choose a driver, turn dates and keyset into bounds, read at
 * most limit + 1 calls, add snippets, then count (skipped when the first
 * page already holds everything; within a work budget when every examined
 * row needs a check, see build_count). page->calls belongs to the caller. On -1
 * page->calls is NULL: ERR_INVALID for a query no tool should build,
 * ERR_CANCELLED when interrupted, ERR_BUSY or ERR_STORAGE otherwise.
 */
static int sq_search_calls(struct store *base, const struct call_query *q, int64_t now_ms,
                           struct call_page *page, struct err *err)
{
    struct sq_store *st = sq(base);
    struct sql_build b = {0};
    struct plan pl;
    sqlite3_stmt *s = NULL;
    int64_t rowids[STORE_SEARCH_LIMIT_MAX], n = 0, work;
    size_t rows = 0;
    bool exact;
    struct store_row row;
    char *match = q->words != NULL ? store_sqlite_match(q->words) : NULL;
    cJSON *item;
    int rc;

    memset(page, 0, sizeof *page);
    page->calls = store_json_new(cJSON_CreateArray());
    if (read_begin(st, err) == -1)
        goto fail;
    if (plan_choose(st, q, match, &pl, err) == -1 || plan_ranges(st, q, &pl, err) == -1 ||
        plan_relevance_window(st, &pl, err) == -1)
        goto fail;
    if (!pl.page_range.empty) {
        build_page(&b, q, &pl);
        if ((s = sb_statement(st, &b, err)) == NULL)
            goto fail;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (rows == q->limit) {
                page->more = true;
                break;
            }
            row = stmt_row(s, 0);
            item = store_page_add(page, &row, q->detail, now_ms);
            store_json_put_string(item, "snippet", col_text(s, OC_COUNT_));
            rowids[rows++] = sqlite3_column_int64(s, OC_SEARCH_ROWID);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            db_fail(st, err, rc, "search");
            goto fail;
        }
        stmt_release(s);
        s = NULL;
        buf_free(&b.sql);
        memset(&b, 0, sizeof b);
    }
    /* Pages not walked in text order get their snippets one probe per call. */
    if (match != NULL && (pl.relevance || pl.drive != DRIVE_FTS) &&
        add_snippets(st, match, page->calls, rowids, rows, err) == -1)
        goto fail;
    exact = true;
    if (pl.count_range.empty) {
        n = 0;
    } else if (!store_page_needs_count(q, page)) {
        n = (int64_t)rows;
    } else {
        work = build_count(&b, q, &pl);
        if ((s = sb_statement(st, &b, err)) == NULL)
            goto fail;
        if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
            db_fail(st, err, rc, "count");
            goto fail;
        }
        n = sqlite3_column_int64(s, 1);
        exact = sqlite3_column_int64(s, 0) < work;
        stmt_release(s);
        s = NULL;
    }
    store_page_total(page, n, exact);
    buf_free(&b.sql);
    if (read_end(st, err) == -1)
        goto fail;
    free(match);
    return 0;

fail:
    if (s != NULL)
        stmt_release(s);
    buf_free(&b.sql);
    read_abort(st);
    cJSON_Delete(page->calls);
    memset(page, 0, sizeof *page);
    free(match);
    return -1;
}

/* deliveries: [{id, receivedAt, source, status, outcome}] for call_id, oldest first. */
static cJSON *call_deliveries(struct sq_store *st, const char *call_id, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_CALL_DELIVERIES, err);
    cJSON *arr;
    int rc;

    if (s == NULL)
        return NULL;
    arr = store_json_new(cJSON_CreateArray());
    sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_row r = stmt_row(s, 0);

        store_json_push(arr, store_history_json(&r));
    }
    stmt_release(s);
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, "read deliveries");
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

/*
 * Everything stored about call_id (see store.h), read in one snapshot:
 * the call's columns, its transcript (turns, else the text) when asked,
 * the unextracted fields of its current raw body under "extra", and its
 * delivery history. NULL with ERR_NOT_FOUND (the message does not repeat
 * the id) or a storage error. The caller owns the result.
 */
static cJSON *sq_get_call(struct store *base, const char *call_id, bool with_transcript,
                          struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = NULL;
    struct store_row row;
    cJSON *obj = NULL, *deliveries;
    int rc;

    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    if (read_begin(st, err) == -1)
        return NULL;
    if ((s = stmt_get(st,
                      st->version >= 5   ? STMT_GET_CALL
                      : st->version >= 3 ? STMT_GET_CALL_V4
                                         : STMT_GET_CALL_V2,
                      err)) == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        goto fail;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, err, rc, "read call");
        goto fail;
    }
    row = stmt_row(s, 0);
    obj = store_call_json(&row, CALL_DETAIL_FOLLOW_UP, true, 0);
    store_call_json_full(obj, &row, with_transcript);
    stmt_release(s);
    s = NULL;
    if ((deliveries = call_deliveries(st, call_id, err)) == NULL)
        goto fail;
    store_json_put(obj, "deliveries", deliveries);
    if (read_end(st, err) == -1)
        goto fail;
    return obj;

fail:
    if (s != NULL)
        stmt_release(s);
    read_abort(st);
    cJSON_Delete(obj);
    return NULL;
}

/*
 * A readable transcript of call_id (see store.h): one "Speaker: words"
 * line per turn, else the transcript text as sent. The caller frees it.
 * NULL with ERR_NOT_FOUND for an unknown call or one without a transcript.
 */
static char *sq_call_transcript_text(struct store *base, const char *call_id, struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = stmt_get(st, st->version >= 5 ? STMT_TRANSCRIPT : STMT_TRANSCRIPT_V4, err);
    char *text = NULL;
    int rc;

    if (s == NULL)
        return NULL;
    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        struct store_row r = stmt_row(s, 0);

        text = store_transcript_text(&r);
        if (text == NULL)
            err_set(err, ERR_NOT_FOUND, "that call has no transcript");
    } else if (rc == SQLITE_DONE) {
        err_set(err, ERR_NOT_FOUND, "no such call");
    } else {
        db_fail(st, err, rc, "read transcript");
    }
    stmt_release(s);
    return text;
}

/*
 * Resolve (or reopen) call_id's follow-up (see store.h and
 * store_follow_up_next) in one write transaction. *out gets the followUp
 * object afterwards.
 */
static int sq_set_follow_up(struct store *base, const char *call_id, bool resolved,
                            const char *note, const char *by, int64_t now_ms, cJSON **out,
                            struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    struct store_follow_up cur = {0}, next;
    char *cur_status = NULL, *cur_by = NULL, *cur_note = NULL, *reason = NULL;
    int64_t id;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (st->base.read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (store_space_check(st, err) == -1)
        return -1;
    if (stmt_exec(st, STMT_BEGIN, "begin", err) == -1)
        goto fail;
    if ((s = stmt_get(st, STMT_FOLLOW_UP_GET, err)) == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            err_set(err, ERR_NOT_FOUND, "no such call");
        else
            db_fail(st, err, rc, "read follow-up");
        stmt_release(s);
        goto fail;
    }
    id = sqlite3_column_int64(s, 0);
    cur.flagged = sqlite3_column_int(s, 1) == 1;
    cur.status = cur_status = xstrdup(col_text(s, 2));
    cur.reason = reason = col_dup(s, 3);
    cur.resolved_known = sqlite3_column_type(s, 4) != SQLITE_NULL;
    cur.resolved_ms = sqlite3_column_int64(s, 4);
    cur.by = cur_by = col_dup(s, 5);
    cur.note = cur_note = col_dup(s, 6);
    stmt_release(s);

    if (store_follow_up_next(&cur, resolved, note, by, now_ms, &next)) {
        if ((s = stmt_get(st, STMT_FOLLOW_UP_SET, err)) == NULL)
            goto fail;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, next.status, -1, SQLITE_STATIC);
        if (next.resolved_known)
            sqlite3_bind_int64(s, 3, next.resolved_ms);
        sqlite3_bind_text(s, 4, next.by, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, next.note, -1, SQLITE_STATIC);
        if (stmt_run(st, s, "set follow-up", err) == -1)
            goto fail;
    }
    if (stmt_exec(st, STMT_COMMIT, "commit", err) == -1)
        goto fail;
    if (out != NULL)
        *out = store_follow_up_json(&next, true);
    free(cur_status);
    free(cur_by);
    free(cur_note);
    free(reason);
    return 0;

fail:
    if (!sqlite3_get_autocommit(st->db))
        stmt_exec(st, STMT_ROLLBACK, "rollback", NULL);
    free(cur_status);
    free(cur_by);
    free(cur_note);
    free(reason);
    return -1;
}

/* The inclusive search_rowid range of calls with sort_ms in [from_ms, to_ms); lo > hi if none. */
static int time_range(struct sq_store *st, int64_t from_ms, int64_t to_ms, int64_t *lo, int64_t *hi,
                      struct err *err)
{
    int a, b;

    *lo = 1;
    *hi = 0;
    if ((a = query_int64(st, STMT_BOUND_GE, from_ms, 0, "range", lo, err)) == -1 ||
        (b = query_int64(st, STMT_BOUND_LT, to_ms, 0, "range", hi, err)) == -1)
        return -1;
    if (a == 0 || b == 0) {
        *lo = 1;
        *hi = 0;
    }
    return 0;
}

/*
 * Statistics over calls with sort_ms in [from_ms, to_ms) (see store.h):
 * one pass over the compact calls_scan index in one snapshot, in search
 * number (= (sort_ms, id)) order, added up by store_stats_add(). The
 * caller owns the result.
 */
static cJSON *sq_call_stats(struct store *base, int64_t from_ms, int64_t to_ms, unsigned top_n,
                            struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_stats *stats = NULL;
    sqlite3_stmt *s = NULL;
    int64_t lo, hi;
    int rc;

    if (read_begin(st, err) == -1)
        return NULL;
    if (time_range(st, from_ms, to_ms, &lo, &hi, err) == -1)
        goto fail;
    if ((s = stmt_get(st, STMT_STATS_ROWS, err)) == NULL)
        goto fail;
    sqlite3_bind_int64(s, 1, lo);
    sqlite3_bind_int64(s, 2, hi);
    stats = store_stats_new();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_row r = stmt_row(s, 0);

        store_stats_add(stats, &r);
    }
    stmt_release(s);
    s = NULL;
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, "statistics");
        goto fail;
    }
    if (read_end(st, err) == -1)
        goto fail;
    return store_stats_finish(stats, top_n);

fail:
    if (s != NULL)
        stmt_release(s);
    read_abort(st);
    store_stats_free(stats);
    return NULL;
}

/*
 * The most frequent entries of a list column over [from_ms, to_ms) (see
 * store.h): each call's list, added up by store_items_add(). Caller owns
 * the result.
 */
static cJSON *sq_top_list_items(struct store *base, int column, int64_t from_ms, int64_t to_ms,
                                bool open_only, unsigned limit, struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_items *items;
    sqlite3_stmt *s;
    int rc;

    s = stmt_get(
        st, column == STORE_LIST_UNANSWERED ? STMT_LIST_UNANSWERED : STMT_LIST_ACTION_ITEMS, err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_int64(s, 1, from_ms);
    sqlite3_bind_int64(s, 2, to_ms);
    sqlite3_bind_int(s, 3, open_only);
    items = store_items_new();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_row r = stmt_row(s, 0);

        store_items_add(items, &r);
    }
    stmt_release(s);
    if (rc != SQLITE_DONE) {
        db_fail(st, err, rc, "list items");
        store_items_free(items);
        return NULL;
    }
    return store_items_finish(items, limit);
}

/* Call ids starting with prefix, newest first: sort a small range, else scan by recency. */
static int complete_ids(struct sq_store *st, const char *prefix, unsigned limit, cJSON *values,
                        bool *has_more, struct err *err)
{
    char *end = store_prefix_end(prefix);
    sqlite3_stmt *s = stmt_get(st, STMT_COMPLETE_ID_COUNT, err);
    int64_t n = 0;
    unsigned got = 0;
    int rc = SQLITE_DONE;

    if (s == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, COMPLETE_RANGE_MAX + 1);
    if (step_int64(st, s, "complete", &n, err) == -1)
        goto fail;
    s = stmt_get(st, n <= COMPLETE_RANGE_MAX ? STMT_COMPLETE_ID_RANGE : STMT_COMPLETE_ID_SCAN, err);
    if (s == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)limit + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == limit) {
            *has_more = true;
            break;
        }
        store_json_push(values, cJSON_CreateString(col_text(s, 0)));
        got++;
    }
    stmt_release(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(st, err, rc, "complete");
        goto fail;
    }
    free(end);
    return 0;

fail:
    free(end);
    return -1;
}

/*
 * Customer numbers whose digits start with the digits of prefix, newest
 * first, one entry (the newest spelling) per number. A prefix without "+"
 * that does not start with 0 or 1 also matches North American numbers with
 * their leading 1, as phone_normalize() stores them ("415" finds 1415...).
 */
static int complete_phones(struct sq_store *st, const char *prefix, unsigned limit, cJSON *values,
                           bool *has_more, struct err *err)
{
    char d[20], d1[21], *end = NULL, *end1 = NULL, *seen[STORE_COMPLETE_LIMIT_MAX + 1];
    const char *p;
    size_t n = 0, i, nseen = 0;
    int64_t count = 0;
    sqlite3_stmt *s = NULL;
    bool plus = false, scan;
    int rc = SQLITE_DONE;

    for (p = prefix; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n == 15) /* longer than any number: nothing matches */
                return 0;
            d[n++] = *p;
        } else if (*p == '+' && n == 0) {
            plus = true;
        }
    }
    d[n] = '\0';
    end = store_prefix_end(d);
    if (n > 0 && !plus && d[0] != '0' && d[0] != '1') {
        snprintf(d1, sizeof d1, "1%s", d);
        end1 = store_prefix_end(d1);
    } else {
        d1[0] = '\0'; /* an empty range */
        end1 = xstrdup("");
    }
    /* How many calls the prefix covers decides between a sorted range and a scan. */
    if ((s = stmt_get(st, STMT_COMPLETE_PHONE_COUNT, err)) == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, d, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, d1, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, end1, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, COMPLETE_RANGE_MAX + 1);
    if (step_int64(st, s, "complete", &count, err) == -1)
        goto fail;
    scan = count > COMPLETE_RANGE_MAX;
    if ((s = stmt_get(st, scan ? STMT_COMPLETE_PHONE_SCAN : STMT_COMPLETE_PHONE_RANGE, err)) ==
        NULL)
        goto fail;
    sqlite3_bind_text(s, 1, d, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, d1, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, end1, -1, SQLITE_STATIC);
    if (!scan)
        sqlite3_bind_int64(s, 5, (int64_t)limit + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *digits = col_text(s, 0), *shown = col_text(s, 1);

        if (digits == NULL || shown == NULL)
            continue;
        for (i = 0; i < nseen; i++)
            if (strcmp(seen[i], digits) == 0)
                break;
        if (i < nseen)
            continue;
        if (nseen == limit) {
            *has_more = true;
            break;
        }
        seen[nseen++] = xstrdup(digits);
        store_json_push(values, cJSON_CreateString(shown));
    }
    stmt_release(s);
    s = NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(st, err, rc, "complete");
        goto fail;
    }
    for (i = 0; i < nseen; i++)
        free(seen[i]);
    free(end);
    free(end1);
    return 0;

fail:
    for (i = 0; i < nseen; i++)
        free(seen[i]);
    free(end);
    free(end1);
    return -1;
}

/* Completion values for field "call_id" or "phone" (see store.h), appended to values. */
static int sq_complete(struct store *base, const char *field, const char *prefix, unsigned limit,
                       cJSON *values, bool *has_more, struct err *err)
{
    struct sq_store *st = sq(base);

    if (strcmp(field, "call_id") == 0)
        return complete_ids(st, prefix, limit, values, has_more, err);
    return complete_phones(st, prefix, limit, values, has_more, err);
}

/* SQLite's progress callback: non-zero makes the running statement fail with SQLITE_INTERRUPT. */
static int store_progress(void *arg)
{
    struct sq_store *st = arg;

    return st->interrupt_fn != NULL && st->interrupt_fn(st->interrupt_arg);
}

/*
 * Install (or with NULL fn, remove) the check that cancels long queries:
 * fn(arg) runs every PROGRESS_OPS virtual machine steps of any statement
 * on this store, and true makes that statement fail with ERR_CANCELLED.
 * A write it interrupts is rolled back whole.
 */
static void sq_set_interrupt(struct store *base, bool (*fn)(void *arg), void *arg)
{
    struct sq_store *st = sq(base);
    st->interrupt_fn = fn;
    st->interrupt_arg = arg;
    if (fn != NULL)
        sqlite3_progress_handler(st->db, PROGRESS_OPS, store_progress, st);
    else
        sqlite3_progress_handler(st->db, 0, NULL, NULL);
}

/* ---- the words of a text, for every backend (backend.h) ---- */

struct store_words {
    sqlite3 *db; /* in memory: where FTS5 hands out its tokenizers */
    fts5_tokenizer api;
    Fts5Tokenizer *tok;
};

void store_words_free(struct store_words *w)
{
    if (w == NULL)
        return;
    if (w->tok != NULL)
        w->api.xDelete(w->tok);
    sqlite3_close(w->db);
    free(w);
}

struct store_words *store_words_new(struct err *err)
{
    static const char *const args[] = {"remove_diacritics", "2"};
    struct store_words *w = xcalloc(1, sizeof *w);
    fts5_api *fts = NULL;
    sqlite3_stmt *stmt = NULL;
    void *user = NULL;

    if (sqlite3_open_v2(":memory:", &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "SELECT fts5(?1)", -1, &stmt, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_pointer(stmt, 1, (void *)&fts, "fts5_api_ptr", NULL);
    (void)sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (fts == NULL || fts->xFindTokenizer(fts, "unicode61", &user, &w->api) != SQLITE_OK ||
        w->api.xCreate(user, (const char **)args, 2, &w->tok) != SQLITE_OK) {
        w->tok = NULL;
        goto fail;
    }
    return w;

fail:
    err_set(err, ERR_INTERNAL, "SQLite's unicode61 tokenizer is not available: %s",
            w->db != NULL ? sqlite3_errmsg(w->db) : "out of memory");
    store_words_free(w);
    return NULL;
}

struct words_call {
    void (*fn)(void *ctx, const struct store_word *word);
    void *ctx;
};

static int words_token(void *arg, int flags, const char *token, int n, int start, int end)
{
    const struct words_call *c = arg;
    const struct store_word w = {token, (size_t)n, (size_t)start, (size_t)end};

    (void)flags;
    if (n > 0)
        c->fn(c->ctx, &w);
    return SQLITE_OK;
}

int store_words_each(struct store_words *w, const char *text, size_t len,
                     void (*fn)(void *ctx, const struct store_word *word), void *ctx,
                     struct err *err)
{
    struct words_call c = {fn, ctx};
    int rc;

    if (text == NULL || len == 0)
        return 0;
    if (len > INT_MAX)
        return err_set(err, ERR_INVALID, "text of %zu bytes is too long to index", len);
    rc = w->api.xTokenize(w->tok, &c, FTS5_TOKENIZE_DOCUMENT, text, (int)len, words_token);
    if (rc != SQLITE_OK)
        return err_set(err, ERR_INTERNAL, "tokenizer: %s", sqlite3_errstr(rc));
    return 0;
}

/* ---- copies ---- */

/* One row of a copy: each column by name, a blob as {"base64url": ...}; search_rowid left out. */
static cJSON *dump_row(sqlite3_stmt *s)
{
    cJSON *row = store_json_new(cJSON_CreateObject());
    int n = sqlite3_column_count(s);

    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(s, i);
        cJSON *v;

        if (strcmp(name, "search_rowid") == 0)
            continue;
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER:
            v = cJSON_CreateNumber((double)sqlite3_column_int64(s, i));
            break;
        case SQLITE_FLOAT:
            v = cJSON_CreateNumber(sqlite3_column_double(s, i));
            break;
        case SQLITE_TEXT:
            v = cJSON_CreateString(col_text(s, i));
            break;
        case SQLITE_BLOB: {
            char *b64 =
                auth_b64url_encode(sqlite3_column_blob(s, i), (size_t)sqlite3_column_bytes(s, i));

            v = store_json_new(cJSON_CreateObject());
            store_json_put(v, "base64url", cJSON_CreateString(b64));
            free(b64);
            break;
        }
        default:
            v = cJSON_CreateNull();
        }
        store_json_put(row, name, v);
    }
    return row;
}

static int sq_dump(struct store *base, enum store_table t, int64_t after_id, unsigned limit,
                   cJSON *rows, struct err *err)
{
    static const enum stmt_id dump_stmt[STORE_TABLE_COUNT_] = {
        [STORE_TABLE_DELIVERIES] = STMT_DUMP_DELIVERIES,
        [STORE_TABLE_CALLS] = STMT_DUMP_CALLS,
        [STORE_TABLE_AUDIT] = STMT_DUMP_AUDIT,
        [STORE_TABLE_ERASURES] = STMT_DUMP_ERASURES,
    };
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    int rc;

    if ((t == STORE_TABLE_AUDIT || t == STORE_TABLE_ERASURES) && st->version < AUDIT_SCHEMA)
        return 0; /* an older read-only file: nothing audited */
    if ((s = stmt_get(st, dump_stmt[t], err)) == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        store_json_push(rows, dump_row(s));
    stmt_release(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, err, rc, "read rows to copy");
    return 0;
}

static int sq_table_size(struct store *base, enum store_table t, int64_t *rows, int64_t *max_id,
                         struct err *err)
{
    static const enum stmt_id size_stmt[STORE_TABLE_COUNT_] = {
        [STORE_TABLE_DELIVERIES] = STMT_SIZE_DELIVERIES,
        [STORE_TABLE_CALLS] = STMT_SIZE_CALLS,
        [STORE_TABLE_AUDIT] = STMT_SIZE_AUDIT,
        [STORE_TABLE_ERASURES] = STMT_SIZE_ERASURES,
    };
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    int rc;

    *rows = *max_id = 0;
    if ((t == STORE_TABLE_AUDIT || t == STORE_TABLE_ERASURES) && st->version < AUDIT_SCHEMA)
        return 0;
    if ((s = stmt_get(st, size_stmt[t], err)) == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *rows = sqlite3_column_int64(s, 0);
        *max_id = sqlite3_column_int64(s, 1);
    }
    stmt_release(s);
    if (rc != SQLITE_ROW)
        return db_fail(st, err, rc, "count rows");
    return 0;
}

/* The database file and its WAL (0 for an in-memory database). */
static int sq_size(struct store *base, uint64_t *bytes, struct err *err)
{
    struct sq_store *st = sq(base);
    struct stat sb;
    char *wal;

    (void)err;
    *bytes = 0;
    if (st->file == NULL)
        return 0;
    wal = xasprintf("%s-wal", st->file);
    if (stat(st->file, &sb) == 0)
        *bytes += (uint64_t)sb.st_size;
    if (stat(wal, &sb) == 0)
        *bytes += (uint64_t)sb.st_size;
    free(wal);
    return 0;
}

/* ---- personal data: retention and erasure (store.h) ---- */

/* Run sql (from the query cache) with up to two integer parameters; *out its one integer. */
static int query_int(struct sq_store *st, const char *sql, int64_t a, int64_t b, int64_t *out,
                     struct err *err)
{
    sqlite3_stmt *s = query_get(st, sql, err);

    *out = 0;
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    return step_int64(st, s, "count", out, err) == -1 ? -1 : 0;
}

/* Run sql with one text parameter for its effect; *changed the rows it changed. */
static int run_text(struct sq_store *st, const char *sql, const char *text, int64_t *changed,
                    struct err *err)
{
    sqlite3_stmt *s = query_get(st, sql, err);

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    if (stmt_run(st, s, "remove", err) == -1)
        return -1;
    if (changed != NULL)
        *changed += sqlite3_changes(st->db);
    return 0;
}

/*
 * Inside a write transaction: remove the call call_id (if stored) with its
 * index entry, and every delivery naming it.
 */
static int remove_call(struct sq_store *st, const char *call_id, struct store_removed *out,
                       struct err *err)
{
    sqlite3_stmt *s = query_get(st, "SELECT id FROM calls WHERE call_id = ?1", err);
    int64_t id = 0;
    int found;

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, call_id, -1, SQLITE_STATIC);
    if ((found = step_int64(st, s, "find call", &id, err)) == -1)
        return -1;
    if (found == 1) {
        if (fts_unindex(st, id, err) == -1 ||
            run_text(st, "DELETE FROM calls WHERE call_id = ?1", call_id, &out->calls, err) == -1)
            return -1;
    }
    return run_text(st, "DELETE FROM deliveries WHERE call_id = ?1", call_id, &out->deliveries,
                    err);
}

/*
 * A transaction that removes rows. Foreign keys are off meanwhile: with
 * them, each deleted delivery would be a scan of calls (no index leads
 * from a delivery to the call that names it), and a batch would hold the
 * write lock for seconds. The removal keeps the rule itself (a call goes
 * before its deliveries).
 */
static int write_begin(struct sq_store *st, struct err *err)
{
    if (st->base.read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (exec_script(st, "PRAGMA foreign_keys = OFF", "foreign keys", err) == -1)
        return -1;
    return stmt_exec(st, STMT_BEGIN, "begin", err);
}

static int write_end(struct sq_store *st, bool commit, struct err *err)
{
    int rc =
        stmt_exec(st, commit ? STMT_COMMIT : STMT_ROLLBACK, commit ? "commit" : "rollback", err);

    if (rc == 0 && exec_script(st, "PRAGMA foreign_keys = ON", "foreign keys", err) == -1)
        return -1;
    return rc;
}

static void write_abort(struct sq_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        stmt_exec(st, STMT_ROLLBACK, "rollback", NULL);
    exec_script(st, "PRAGMA foreign_keys = ON", "foreign keys", NULL);
}

#define OLD_CALLS    "SELECT call_id FROM calls WHERE sort_ms < ?1"
#define OLD_REJECTED "SELECT id FROM deliveries WHERE outcome = 'rejected' AND received_ms < ?1"

/* What a sweep would remove: every call before calls_before, every old rejected delivery. */
static int purge_count(struct sq_store *st, int64_t calls_before, int64_t rejected_before,
                       struct store_removed *out, struct err *err)
{
    int64_t n;

    if (read_begin(st, err) == -1)
        return -1;
    if (calls_before != INT64_MIN) {
        if (query_int(st, "SELECT count(*) FROM calls WHERE sort_ms < ?1", calls_before, 0, &n,
                      err) == -1)
            goto fail;
        out->calls += n;
        if (query_int(st, "SELECT count(*) FROM deliveries WHERE call_id IN (" OLD_CALLS ")",
                      calls_before, 0, &n, err) == -1)
            goto fail;
        out->deliveries += n;
    }
    if (rejected_before != INT64_MIN) {
        /* Those a removed call takes along are counted with it. */
        if (query_int(st,
                      "SELECT count(*) FROM deliveries WHERE outcome = 'rejected'"
                      " AND received_ms < ?1 AND (call_id IS NULL OR call_id NOT IN"
                      " (SELECT call_id FROM calls WHERE sort_ms < ?2))",
                      rejected_before, calls_before, &n, err) == -1)
            goto fail;
        out->deliveries += n;
    }
    return read_end(st, err);
fail:
    read_abort(st);
    return -1;
}

static int sq_purge(struct store *base, int64_t calls_before, int64_t rejected_before,
                    unsigned limit, bool dry_run, struct store_removed *out, struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    bool full = false;
    char **ids = NULL;
    size_t n = 0;
    int rc;

    if (dry_run)
        return purge_count(st, calls_before, rejected_before, out, err);
    if (write_begin(st, err) == -1)
        return -1;
    if (calls_before != INT64_MIN) {
        if ((s = query_get(st, OLD_CALLS " ORDER BY sort_ms, id LIMIT ?2", err)) == NULL)
            goto fail;
        ids = xcalloc(limit, sizeof *ids);
        sqlite3_bind_int64(s, 1, calls_before);
        sqlite3_bind_int64(s, 2, limit);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            ids[n++] = col_dup(s, 0);
        stmt_release(s);
        if (rc != SQLITE_DONE) {
            db_fail(st, err, rc, "find old calls");
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (remove_call(st, ids[i], out, err) == -1)
                goto fail;
        full = n == limit;
    }
    if (rejected_before != INT64_MIN) {
        if ((s = query_get(st,
                           "DELETE FROM deliveries WHERE id IN (" OLD_REJECTED
                           " ORDER BY received_ms, id LIMIT ?2)",
                           err)) == NULL)
            goto fail;
        sqlite3_bind_int64(s, 1, rejected_before);
        sqlite3_bind_int64(s, 2, limit);
        if (stmt_run(st, s, "remove old rejected deliveries", err) == -1)
            goto fail;
        out->deliveries += sqlite3_changes(st->db);
        full = full || sqlite3_changes(st->db) == (int)limit;
    }
    if (write_end(st, true, err) == -1)
        goto fail;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return full ? 1 : 0;
fail:
    write_abort(st);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return -1;
}

static int sq_person_calls(struct store *base, const struct store_person *p, const char *key,
                           cJSON *ids, struct err *err)
{
    static const char *const sql[] = {
        [STORE_PERSON_PHONE] =
            "SELECT call_id FROM calls WHERE customer_digits = ?1 ORDER BY sort_ms, id",
        [STORE_PERSON_EMAIL] =
            "SELECT call_id FROM calls WHERE lower(mentioned_email) = ?1 ORDER BY sort_ms, id",
        [STORE_PERSON_CALL] = "SELECT call_id FROM calls WHERE call_id = ?1",
    };
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = query_get(st, sql[p->kind], err);
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cJSON_AddItemToArray(ids, cJSON_CreateString(col_text(s, 0)));
    stmt_release(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, rc, "find the person's calls");
}

static int sq_remove_calls(struct store *base, const cJSON *ids, bool dry_run,
                           struct store_removed *out, struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_removed batch = {0};
    const cJSON *id;

    if (write_begin(st, err) == -1)
        return -1;
    cJSON_ArrayForEach(id, ids)
    {
        if (cJSON_IsString(id) && remove_call(st, id->valuestring, &batch, err) == -1) {
            write_abort(st);
            return -1;
        }
    }
    if (write_end(st, !dry_run, err) == -1) {
        write_abort(st);
        return -1;
    }
    out->calls += batch.calls;
    out->deliveries += batch.deliveries;
    return 0;
}

static int sq_loose_bodies(struct store *base, int64_t after_id, unsigned limit,
                           int (*fn)(int64_t id, const char *body, size_t len, void *arg,
                                     struct err *err),
                           void *arg, int64_t *last_id, struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = query_get(st,
                                "SELECT id, body FROM deliveries WHERE outcome = 'rejected'"
                                " AND body IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2",
                                err);
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(s, 0);
        if (fn(*last_id, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), arg, err) ==
            -1) {
            stmt_release(s);
            return -1;
        }
    }
    stmt_release(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, rc, "read rejected bodies");
}

static int sq_remove_deliveries(struct store *base, const int64_t *ids, size_t n, int64_t *removed,
                                struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;

    if (write_begin(st, err) == -1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((s = query_get(st, "DELETE FROM deliveries WHERE id = ?1", err)) == NULL)
            goto fail;
        sqlite3_bind_int64(s, 1, ids[i]);
        if (stmt_run(st, s, "remove delivery", err) == -1)
            goto fail;
        *removed += sqlite3_changes(st->db);
    }
    if (write_end(st, true, err) == 0)
        return 0;
fail:
    write_abort(st);
    return -1;
}

/* Leaf pages of index work per merge step: each its own short transaction. */
#define SCRUB_MERGE_PAGES 2000
#define SCRUB_CKPT_TRIES  100

/*
 * Deleted rows are zeroed as they go (secure_delete, set on every writing
 * connection), but the search index keeps a removed call's words in its
 * older segments until they are merged: merge them all, a step at a time
 * so that webhook commits go on in between, until a step finds nothing to
 * do. Then copy the WAL, whose older frames hold the pages as they were,
 * into the database and truncate it.
 */
static int sq_scrub(struct store *base, struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s;
    int rc, log = 0, done = 0;
    bool first = true;

    for (;;) {
        int64_t before = sqlite3_total_changes64(st->db);
        if (write_begin(st, err) == -1)
            return -1;
        /* The first step gathers every segment into one level; the others go on merging it. */
        if ((s = query_get(st, "INSERT INTO calls_fts (calls_fts, rank) VALUES ('merge', ?1)",
                           err)) == NULL)
            goto fail;
        sqlite3_bind_int(s, 1, first ? -SCRUB_MERGE_PAGES : SCRUB_MERGE_PAGES);
        if (stmt_run(st, s, "merge the search index", err) == -1 || write_end(st, true, err) == -1)
            goto fail;
        first = false;
        if (sqlite3_total_changes64(st->db) - before < 2)
            break;
    }
    if (st->file == NULL)
        return 0;
    for (int i = 0; i < SCRUB_CKPT_TRIES; i++) {
        rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
        if (rc == SQLITE_OK && log == 0)
            return 0;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            return db_fail(st, err, rc, "checkpoint");
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    return err_set(err, ERR_BUSY,
                   "the write-ahead log still holds removed pages: readers kept it busy; run the"
                   " same command again");
fail:
    write_abort(st);
    return -1;
}

static int sq_meta_key(struct store *base, const char *name, unsigned char key[32], struct err *err)
{
    struct sq_store *st = sq(base);
    unsigned char fresh[32];
    char hex[65];
    sqlite3_stmt *s;
    int rc;

    randombytes_buf(fresh, sizeof fresh);
    sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
    sodium_memzero(fresh, sizeof fresh);
    if (!st->base.read_only) {
        if ((s = query_get(st, "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", err)) ==
            NULL)
            return -1;
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, hex, -1, SQLITE_STATIC);
        if (stmt_run(st, s, "keep a key", err) == -1)
            return -1;
    }
    if ((s = query_get(st, "SELECT value FROM meta WHERE key = ?1", err)) == NULL)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(s, 0) != 64 ||
        sodium_hex2bin(key, 32, col_text(s, 0), 64, NULL, NULL, NULL) != 0) {
        stmt_release(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            return err_set(err, ERR_STORAGE, "the database has no usable %s", name);
        return db_fail(st, err, rc, "read a key");
    }
    stmt_release(s);
    return 0;
}

static int sq_add_erasure(struct store *base, struct store_erasure *e, struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = query_get(st,
                                "INSERT INTO erasures (at_ms, kind, identifier_hash, calls,"
                                " deliveries) VALUES (?1, ?2, ?3, ?4, ?5)",
                                err);

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, e->at_ms);
    sqlite3_bind_text(s, 2, store_person_kind_name(e->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, e->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, e->calls);
    sqlite3_bind_int64(s, 5, e->deliveries);
    if (stmt_run(st, s, "record the erasure", err) == -1)
        return -1;
    e->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int sq_list_erasures(struct store *base, const char *hash,
                            int (*fn)(const struct store_erasure *e, void *arg), void *arg,
                            struct err *err)
{
    struct sq_store *st = sq(base);
    sqlite3_stmt *s = query_get(st,
                                "SELECT id, at_ms, kind, identifier_hash, calls, deliveries"
                                " FROM erasures WHERE ?1 IS NULL OR identifier_hash = ?1"
                                " ORDER BY id",
                                err);
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_erasure e = {
            .id = sqlite3_column_int64(s, 0),
            .at_ms = sqlite3_column_int64(s, 1),
            .calls = sqlite3_column_int64(s, 4),
            .deliveries = sqlite3_column_int64(s, 5),
        };
        e.kind = store_person_kind_parse(col_text(s, 2));
        snprintf(e.hash, sizeof e.hash, "%s", col_text(s, 3));
        if (fn(&e, arg) != 0)
            break;
    }
    stmt_release(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(st, err, rc, "list erasures");
}

/* ---- the access audit ---- */

/*
 * audit holds one row per MCP tool call or resource read; audit_calls one
 * (call_id, audit_id) row per call id an answer held, whose key finds the
 * reads of one call. Both are written in the same transaction, and
 * removed together: audit_calls rows by their key, from the call ids the
 * audit row keeps (there is no index by audit_id to find them otherwise).
 */

static int audit_insert(struct sq_store *st, const struct store_audit_entry *e, struct err *err)
{
    sqlite3_stmt *s = stmt_get(st, STMT_AUDIT_INSERT, err);
    char *ids = store_audit_ids_json(e);
    int64_t audit_id;
    int rc = -1;

    if (s == NULL)
        goto done;
    sqlite3_bind_int64(s, 1, e->at_ms);
    sqlite3_bind_text(s, 2, e->transport, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, e->client_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, e->client_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, e->session_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, e->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, e->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 8, e->error);
    sqlite3_bind_text(s, 9, ids, -1, SQLITE_STATIC);
    if (stmt_run(st, s, "record an audit entry", err) == -1)
        goto done;
    audit_id = sqlite3_last_insert_rowid(st->db);
    if ((s = stmt_get(st, STMT_AUDIT_CALL_INSERT, err)) == NULL)
        goto done;
    for (size_t i = 0; i < e->ncall_ids; i++) {
        sqlite3_bind_text(s, 1, e->call_ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, audit_id);
        if (stmt_run(st, s, "record an audit entry's calls", err) == -1)
            goto done;
    }
    rc = 0;
done:
    free(ids);
    return rc;
}

/* Run body(st, ctx) in one BEGIN IMMEDIATE transaction, rolled back when it fails. */
static int audit_write(struct sq_store *st,
                       int (*body)(struct sq_store *st, void *ctx, struct err *err), void *ctx,
                       struct err *err)
{
    if (stmt_exec(st, STMT_BEGIN, "begin", err) == 0 && body(st, ctx, err) == 0 &&
        stmt_exec(st, STMT_COMMIT, "commit", err) == 0)
        return 0;
    read_abort(st);
    return -1;
}

struct audit_batch {
    const struct store_audit_entry *entries;
    size_t n;
};

static int audit_add_all(struct sq_store *st, void *ctx, struct err *err)
{
    const struct audit_batch *b = ctx;

    for (size_t i = 0; i < b->n; i++)
        if (audit_insert(st, &b->entries[i], err) == -1)
            return -1;
    return 0;
}

static int sq_audit_add(struct store *base, const struct store_audit_entry *entries, size_t n,
                        struct err *err)
{
    struct sq_store *st = sq(base);
    struct audit_batch b = {entries, n};

    if (store_space_check(st, err) == -1)
        return -1;
    return audit_write(st, audit_add_all, &b, err);
}

static int sq_audit_list(struct store *base, const char *call_id, int64_t since_ms, unsigned limit,
                         int (*fn)(const struct store_audit_row *row, void *arg), void *arg,
                         struct err *err)
{
    struct sq_store *st = sq(base);
    struct store_audit_row row;
    sqlite3_stmt *s;
    int rc;

    if (st->version < AUDIT_SCHEMA)
        return err_set(err, ERR_UNSUPPORTED,
                       "the database's schema (%d) predates the audit; run `phonely-mcp serve` "
                       "on it once to bring it up to date",
                       st->version);
    if ((s = stmt_get(st, call_id != NULL ? STMT_AUDIT_LIST_CALL : STMT_AUDIT_LIST, err)) == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int64(s, 2, (int64_t)limit);
    if (call_id != NULL)
        sqlite3_bind_text(s, 3, call_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row.id = sqlite3_column_int64(s, 0);
        row.at_ms = sqlite3_column_int64(s, 1);
        row.transport = col_text(s, 2);
        row.client_name = col_text(s, 3);
        row.client_version = col_text(s, 4);
        row.session_id = col_text(s, 5);
        row.kind = col_text(s, 6);
        row.name = col_text(s, 7);
        row.error = sqlite3_column_int(s, 8) != 0;
        row.call_ids = col_text(s, 9);
        if (fn(&row, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    stmt_release(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, err, rc, "list the audit");
    return 0;
}

struct audit_old {
    int64_t before_ms;
    unsigned limit;
    int64_t removed;
};

/* The oldest entries before before_ms and their calls (from their call ids). */
static int audit_remove_old(struct sq_store *st, void *ctx, struct err *err)
{
    static const enum stmt_id steps[] = {STMT_AUDIT_PURGE_CALLS, STMT_AUDIT_PURGE};
    struct audit_old *o = ctx;

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sqlite3_stmt *s = stmt_get(st, steps[i], err);

        if (s == NULL)
            return -1;
        sqlite3_bind_int64(s, 1, o->before_ms);
        sqlite3_bind_int64(s, 2, (int64_t)o->limit);
        if (stmt_run(st, s, "remove old audit entries", err) == -1)
            return -1;
    }
    o->removed = sqlite3_changes(st->db);
    return 0;
}

static int sq_audit_purge(struct store *base, int64_t before_ms, unsigned batch_limit,
                          int64_t *removed, struct err *err)
{
    struct audit_old o = {before_ms, batch_limit, 0};

    if (audit_write(sq(base), audit_remove_old, &o, err) == -1)
        return -1;
    *removed = o.removed;
    return 0;
}

static void sq_close(struct store *base)
{
    sq_free(sq(base));
}

struct store *store_sqlite_open(const char *path, const struct store_options *opt, struct err *err)
{
    struct sq_store *st = sq_open_file(path, opt, err);

    return st != NULL ? &st->base : NULL;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .schema_version = STORE_SCHEMA_VERSION,
    .parallel_writes = false,
    .close = sq_close,
    .checkpointer_start = sq_checkpointer_start,
    .checkpointer_runs = sq_checkpointer_runs,
    .checkpointer_stop = sq_checkpointer_stop,
    .wal_open = sq_wal_open,
    .wal_sync = sq_wal_sync,
    .wal_close = sq_wal_close,
    .put_deliveries = sq_put_deliveries,
    .backup = sq_backup,
    .check = sq_check,
    .size = sq_size,
    .counts = sq_counts,
    .list_deliveries = sq_list_deliveries,
    .delivery_body = sq_delivery_body,
    .call_raw = sq_call_raw,
    .search_calls = sq_search_calls,
    .get_call = sq_get_call,
    .call_transcript_text = sq_call_transcript_text,
    .set_follow_up = sq_set_follow_up,
    .call_stats = sq_call_stats,
    .top_list_items = sq_top_list_items,
    .complete = sq_complete,
    .set_interrupt = sq_set_interrupt,
    .dump = sq_dump,
    .load = NULL, /* copies go into PostgreSQL */
    .table_size = sq_table_size,
    .audit_add = sq_audit_add,
    .audit_list = sq_audit_list,
    .audit_purge = sq_audit_purge,
    .purge = sq_purge,
    .person_calls = sq_person_calls,
    .remove_calls = sq_remove_calls,
    .loose_bodies = sq_loose_bodies,
    .remove_deliveries = sq_remove_deliveries,
    .scrub = sq_scrub,
    .meta_key = sq_meta_key,
    .add_erasure = sq_add_erasure,
    .list_erasures = sq_list_erasures,
};
