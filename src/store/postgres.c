/*
 * postgres.c: the PostgreSQL backend of the storage layer (backend.h), for
 * several daemons on one database, and the only file that includes
 * <libpq-fe.h>.
 *
 * A struct pg_store owns one libpq connection. The fixed statements below
 * are prepared on first use on that connection and kept; searches are
 * assembled from the fixed fragments in this file (which filters are
 * present decides which fragments, never what they contain) and sent as
 * unnamed statements. Every value travels as a parameter; the only numbers
 * formatted into SQL are parameter numbers ($3) and the schema version.
 *
 * Schema: tables calls, deliveries, call_search and meta (schema_version),
 * made by migration transactions under pg_advisory_xact_lock
 * (PG_MIGRATE_LOCK), so that daemons starting together migrate once. calls
 * has the columns of the SQLite backend; call_search holds each call's
 * search vector (a tsvector, GIN-indexed) over the same fields as SQLite's
 * FTS index (names, summaries, purpose, topic, key points, transcript,
 * action items, unanswered questions, with weights after SQLite's bm25
 * ones). The vector is made here, from the words SQLite's tokenizer finds
 * (store_words), and written with the call in one statement; queries and
 * snippets use the same words, so both backends match and quote alike.
 * Phone numbers are matched on their normalised digits (customer_digits,
 * business_digits), as in SQLite.
 *
 * Several writers: put_deliveries() takes a transaction-scoped advisory
 * lock on every call id of the batch (sorted, so two batches never wait on
 * each other in a cycle) before it looks a call up, so one call id is
 * stored once and its outcome (stored, updated, duplicate) is decided by
 * one writer at a time. Commits are durable when COMMIT returns
 * (synchronous_commit = on, set on every connection).
 *
 * Connection loss: a failed call reports ERR_BUSY; the next call finds the
 * connection bad, resets it (PQreset), sets the session up again and
 * prepares statements anew, so the daemon reconnects by itself.
 *
 * Interrupts: queries are sent asynchronously and waited for with poll();
 * while an interrupt function is installed it is asked every
 * PG_POLL_MS, and true sends a cancel request (PQcancel), so a long query
 * fails with ERR_CANCELLED. It is also asked before each query.
 *
 * Ownership: strings in struct delivery and struct call are borrowed for the
 * duration of the call. Bodies handed out, page->calls and every cJSON
 * tree or string returned belong to the caller. Strings in struct
 * delivery_row are borrowed for the callback's duration.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "auth.h"
#include "backend.h"
#include "callfmt.h"
#include "log.h"
#include "search.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

#define PG_SCHEMA_VERSION 5
/*
 * Advisory lock keys: migrations and table rewrites (one bigint key each),
 * call ids (this class and hashtext).
 */
#define PG_MIGRATE_LOCK       "7203341101"
#define PG_REWRITE_LOCK       "7203341102"
#define PG_CALL_LOCK          "18682"
#define PG_POLL_MS            100   /* how often a running query asks the interrupt function */
#define PG_CHUNK              5000  /* rows per read of statistics, list items and scans */
#define PG_COUNT_MS           "250" /* a search's count gives up after this long (a lower bound) */
#define PG_COMPLETE_RANGE_MAX 2000
#define PG_QUEUE_CHUNK        64 /* queued deliveries moved per transaction */
/* A number's digits in a statement's text. */
#define PG_TEXT_(x)       #x
#define PG_TEXT(x)        PG_TEXT_(x)
#define PG_QUEUE_CHECK_MS 60000 /* how often a writer looks for rows others queued */

/*
 * A call's search vector in its triggers (NEW the calls row). Weights:
 * names A, summaries, purpose and topic B, key points C, the rest D.
 */
#define CALL_VECTOR                                                                                \
    " setweight(phonely_tsv(concat_ws(' ', NEW.caller_name, NEW.agent_name)), 'A') ||"             \
    " setweight(phonely_tsv(concat_ws(' ', NEW.summary, NEW.long_summary)), 'B') ||"               \
    " setweight(phonely_tsv(NEW.purpose), 'B') ||"                                                 \
    " setweight(phonely_tsv(NEW.topic), 'B') ||"                                                   \
    " setweight(phonely_tsv(phonely_lines(NEW.key_points)), 'C') ||"                               \
    " phonely_tsv(phonely_transcript(NEW.transcript, NEW.turns)) ||"                               \
    " phonely_tsv(phonely_lines(NEW.action_items)) ||"                                             \
    " phonely_tsv(phonely_lines(NEW.unanswered_questions))"

/*
 * Migration 1, in parts (each one script): the tables, then the functions
 * that keep the search column. Each later schema appends a migration
 * (migrations[] below) and bumps PG_SCHEMA_VERSION.
 */
static const char *const migration_1[] = {
    "CREATE TABLE deliveries ("
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  received_ms bigint NOT NULL,"
    "  source text NOT NULL,"
    "  peer text,"
    "  status integer NOT NULL,"
    "  outcome text NOT NULL"
    "    CHECK (outcome IN ('stored', 'updated', 'duplicate', 'rejected')),"
    "  reason text,"
    "  call_id text COLLATE \"C\","
    "  webhook_id text,"
    "  body_size bigint NOT NULL,"
    "  body_sha256 text,"
    "  body bytea"
    ");"
    "CREATE INDEX deliveries_received ON deliveries (received_ms, id);"
    "CREATE INDEX deliveries_outcome ON deliveries (outcome, received_ms, id);"
    "CREATE INDEX deliveries_call ON deliveries (call_id);"
    "CREATE TABLE calls ("
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  call_id text COLLATE \"C\" NOT NULL UNIQUE,"
    "  delivery_id bigint NOT NULL REFERENCES deliveries (id),"
    "  first_seen_ms bigint NOT NULL,"
    "  updated_ms bigint NOT NULL,"
    "  sort_ms bigint NOT NULL,"
    "  started_ms bigint,"
    "  ended_ms bigint,"
    "  started_at text,"
    "  ended_at text,"
    "  duration_s double precision,"
    "  direction text,"
    "  agent_id text,"
    "  agent_name text,"
    "  caller_name text,"
    "  business_phone text,"
    "  business_digits text COLLATE \"C\","
    "  customer_phone text,"
    "  customer_digits text COLLATE \"C\","
    "  topic text,"
    "  sentiment text,"
    "  follow_up integer,"
    "  follow_up_status text NOT NULL DEFAULT 'none'"
    "    CHECK (follow_up_status IN ('none', 'pending', 'resolved')),"
    "  resolved_ms bigint,"
    "  resolved_by text,"
    "  resolution_note text,"
    "  ai_success integer,"
    "  call_transferred integer,"
    "  workflow_triggered integer,"
    "  ended_reason text,"
    "  call_outcome text,"
    "  mentioned_email text,"
    "  mentioned_date text,"
    "  mentioned_time text,"
    "  recording_url text,"
    "  dashboard_url text,"
    "  follow_up_reason text,"
    "  action_items text,"
    "  unanswered_questions text,"
    "  key_points text,"
    "  purpose text,"
    "  summary text,"
    "  long_summary text,"
    "  transcript text,"
    "  turns text,"
    "  extra_known integer NOT NULL DEFAULT 0,"
    "  extra text,"
    "  turn_index text,"
    "  search tsvector NOT NULL DEFAULT ''::tsvector"
    ");"
    /* Each filter index ends in (sort_ms, id): rows come newest first without a sort. */
    "CREATE INDEX calls_recent ON calls (sort_ms, id);"
    "CREATE INDEX calls_customer ON calls (customer_digits, sort_ms, id);"
    "CREATE INDEX calls_business ON calls (business_digits, sort_ms, id);"
    "CREATE INDEX calls_follow_up ON calls (follow_up_status, sort_ms, id);"
    "CREATE INDEX calls_direction ON calls (lower(direction), sort_ms, id);"
    "CREATE INDEX calls_sentiment ON calls (lower(sentiment), sort_ms, id);"
    "CREATE INDEX calls_topic ON calls (lower(topic), sort_ms, id);"
    "CREATE INDEX calls_agent ON calls (lower(agent_name), sort_ms, id);"
    "CREATE INDEX calls_search ON calls USING gin (search);"
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);",
    /* A JSON array of strings as one item per line (NULL stays NULL). */
    "CREATE FUNCTION phonely_lines(t text) RETURNS text LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT string_agg(v, E'\\n') FROM jsonb_array_elements_text(t::jsonb) v$$;"
    /* The searchable transcript: the text, else the contents of the turns (older rows). */
    "CREATE FUNCTION phonely_transcript(t text, turns text) RETURNS text"
    "  LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT CASE WHEN t IS NOT NULL THEN t WHEN turns IS NULL THEN NULL ELSE"
    "    (SELECT string_agg(e->>'content', E'\\n') FROM jsonb_array_elements(turns::jsonb) e)"
    "    END$$;"
    /* Text as it is indexed and searched: accents dropped (cafe, café and Cafe\u0301 alike). */
    "CREATE FUNCTION phonely_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS"
    "  $$SELECT regexp_replace(normalize(t, NFD), '[\\u0300-\\u036f]', '', 'g')$$;"
    /*
     * Pictographs and other symbols (emoji, arrows, dingbats), which the
     * text search parser drops but SQLite's tokenizer keeps as words.
     */
    "CREATE FUNCTION phonely_symbols(t text) RETURNS text[] LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT coalesce(array_agg(DISTINCT m[1]), '{}') FROM"
    "    regexp_matches(coalesce(t, ''), '([\\u2190-\\u2bff\\U0001f000-\\U0001faff])', 'g') m$$;"
    /* The lexemes of a text as search sees them. */
    "CREATE FUNCTION phonely_tsv(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT to_tsvector('simple', coalesce(phonely_fold(t), '')) ||"
    "    array_to_tsvector(phonely_symbols(t))$$;"
    /* One search word as a query: its words as a phrase, and its symbols. */
    "CREATE FUNCTION phonely_word(w text) RETURNS tsquery LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT CASE WHEN cardinality(s) = 0 THEN q"
    "    ELSE q && (SELECT string_agg(quote_literal(x), ' & ') FROM unnest(s) x)::tsquery END"
    "    FROM (SELECT phraseto_tsquery('simple', phonely_fold(w)) AS q,"
    "      phonely_symbols(w) AS s) p$$;"
    "CREATE FUNCTION phonely_calls_search() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  NEW.search := " CALL_VECTOR ";"
    "  RETURN NEW;"
    "END $$;"
    "CREATE TRIGGER calls_search BEFORE INSERT OR UPDATE OF caller_name, agent_name, summary,"
    "  long_summary, purpose, topic, key_points, transcript, turns, action_items,"
    "  unanswered_questions ON calls FOR EACH ROW EXECUTE FUNCTION phonely_calls_search();",
};

/*
 * Migration 2: the search vector moves to a narrow table of its own,
 * call_search (id, sort_ms, search): counting a word's calls, or walking
 * them newest first, reads its pages instead of the wide calls rows (a
 * vector over about 2 KB is kept out of line, leaving a 58-byte row;
 * toast_tuple_target 128 keeps it short when PostgreSQL does move it). An AFTER trigger on calls
 * keeps it (a call's text changed: the vector again; only its time: sort_ms). Text that is all
 * ASCII skips the accent folding and the symbol scan, which cannot change it.
 */
static const char *const migration_2[] = {
    "CREATE TABLE call_search ("
    "  id bigint PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,"
    "  sort_ms bigint NOT NULL,"
    "  search tsvector NOT NULL"
    ") WITH (toast_tuple_target = 128);"
    "INSERT INTO call_search SELECT id, sort_ms, search FROM calls;"
    "CREATE INDEX call_search_recent ON call_search (sort_ms, id);"
    "CREATE INDEX call_search_words ON call_search USING gin (search);"
    "DROP TRIGGER calls_search ON calls;"
    "DROP INDEX calls_search;"
    "ALTER TABLE calls DROP COLUMN search;",
    /* not STRICT, so that it is inlined (NULL still gives NULL) */
    "CREATE OR REPLACE FUNCTION phonely_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT CASE WHEN octet_length(t) = length(t) THEN t"
    "    ELSE regexp_replace(normalize(t, NFD), '[\\u0300-\\u036f]', '', 'g') END$$;"
    "CREATE OR REPLACE FUNCTION phonely_symbols(t text) RETURNS text[] LANGUAGE sql IMMUTABLE AS"
    "  $$SELECT CASE WHEN t IS NULL OR octet_length(t) = length(t) THEN '{}'::text[] ELSE"
    "    (SELECT coalesce(array_agg(DISTINCT m[1]), '{}') FROM"
    "      regexp_matches(t, '([\\u2190-\\u2bff\\U0001f000-\\U0001faff])', 'g') m) END$$;"
    /*
     * The helpers the trigger calls are PL/pgSQL from here on: an SQL
     * function that cannot be inlined is parsed again in every transaction
     * that calls it, a PL/pgSQL one keeps its plans for the connection's
     * life. phonely_fold stays SQL, which is inlined where it is called.
     */
    "CREATE OR REPLACE FUNCTION phonely_tsv(t text) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE"
    "  AS $$"
    "BEGIN"
    "  IF t IS NULL THEN RETURN ''::tsvector; END IF;"
    "  IF octet_length(t) = length(t) THEN RETURN to_tsvector('simple', t); END IF;"
    "  RETURN to_tsvector('simple', phonely_fold(t)) || array_to_tsvector(phonely_symbols(t));"
    "END $$;"
    "CREATE OR REPLACE FUNCTION phonely_lines(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$"
    "DECLARE r text;"
    "BEGIN"
    "  IF t IS NULL THEN RETURN NULL; END IF;"
    "  SELECT string_agg(v, E'\\n') INTO r FROM jsonb_array_elements_text(t::jsonb) v;"
    "  RETURN r;"
    "END $$;"
    "CREATE OR REPLACE FUNCTION phonely_transcript(t text, turns text) RETURNS text"
    "  LANGUAGE plpgsql IMMUTABLE AS $$"
    "DECLARE r text;"
    "BEGIN"
    "  IF t IS NOT NULL OR turns IS NULL THEN RETURN t; END IF;"
    "  SELECT string_agg(e->>'content', E'\\n') INTO r FROM jsonb_array_elements(turns::jsonb) e;"
    "  RETURN r;"
    "END $$;"
    "CREATE OR REPLACE FUNCTION phonely_calls_search() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  IF TG_OP = 'UPDATE' AND (OLD.caller_name, OLD.agent_name, OLD.summary, OLD.long_summary,"
    "      OLD.purpose, OLD.topic, OLD.key_points, OLD.transcript, OLD.turns, OLD.action_items,"
    "      OLD.unanswered_questions) IS NOT DISTINCT FROM (NEW.caller_name, NEW.agent_name,"
    "      NEW.summary, NEW.long_summary, NEW.purpose, NEW.topic, NEW.key_points, NEW.transcript,"
    "      NEW.turns, NEW.action_items, NEW.unanswered_questions) THEN"
    "    UPDATE call_search SET sort_ms = NEW.sort_ms WHERE id = NEW.id AND sort_ms <> NEW.sort_ms;"
    "    RETURN NULL;"
    "  END IF;"
    "  INSERT INTO call_search VALUES (NEW.id, NEW.sort_ms, " CALL_VECTOR ")"
    "    ON CONFLICT (id) DO UPDATE SET sort_ms = EXCLUDED.sort_ms, search = EXCLUDED.search;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER calls_search AFTER INSERT OR UPDATE OF sort_ms, caller_name, agent_name,"
    "  summary, long_summary, purpose, topic, key_points, transcript, turns, action_items,"
    "  unanswered_questions ON calls FOR EACH ROW EXECUTE FUNCTION phonely_calls_search();",
};

/*
 * Migration 3: the daemon makes the search vectors (call_vector below,
 * from the words SQLite's tokenizer finds) and writes them with each
 * call, in transactions that say so (SET LOCAL phonely.vectors, see
 * pg_begin). The trigger stays for the others: a daemon of an older
 * version, still running during a rolling upgrade, keeps its calls
 * searchable the way it did. Before this, index_calls makes every
 * existing call's vector again, in the same transaction, so that the
 * lock on calls the trigger change takes is held only for its commit.
 */
static const char *const migration_3[] = {
    "DROP TRIGGER calls_search ON calls;"
    "CREATE TRIGGER calls_search AFTER INSERT OR UPDATE OF sort_ms, caller_name, agent_name,"
    "  summary, long_summary, purpose, topic, key_points, transcript, turns, action_items,"
    "  unanswered_questions ON calls FOR EACH ROW"
    "  WHEN (current_setting('phonely.vectors', true) IS DISTINCT FROM 'on')"
    "  EXECUTE FUNCTION phonely_calls_search();",
};

/*
 * 4: erasures and the access audit (as SQLite's schema 6). Retention and
 * erasure delete deliveries, and the foreign key from calls would make each
 * deleted delivery a scan of calls (no index leads from a delivery to the
 * call that names it): it goes. The store keeps the rule itself: a call's
 * delivery is written before the call and removed after it.
 */
static const char *const migration_4[] = {
    "ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_delivery_id_fkey;"
    "CREATE TABLE erasures ("
    "  id bigserial PRIMARY KEY,"
    "  at_ms bigint NOT NULL,"
    "  kind text NOT NULL CHECK (kind IN ('phone', 'email', 'call')),"
    "  identifier_hash text NOT NULL,"
    "  calls bigint NOT NULL,"
    "  deliveries bigint NOT NULL"
    ");"
    "CREATE INDEX erasures_hash ON erasures (identifier_hash);"
    "CREATE TABLE audit ("
    "  id bigserial PRIMARY KEY,"
    "  at_ms bigint NOT NULL,"
    "  transport text NOT NULL,"
    "  client_name text,"
    "  client_version text,"
    "  session_id text,"
    "  kind text NOT NULL CHECK (kind IN ('tool', 'resource')),"
    "  name text NOT NULL,"
    "  error boolean NOT NULL DEFAULT false,"
    "  call_ids text"
    ");"
    "CREATE INDEX audit_at ON audit (at_ms, id);"
    "CREATE TABLE audit_calls ("
    "  call_id text NOT NULL,"
    "  audit_id bigint NOT NULL REFERENCES audit (id) ON DELETE CASCADE,"
    "  PRIMARY KEY (call_id, audit_id)"
    ");"
    /* What the cascade from a removed audit row looks up. */
    "CREATE INDEX audit_calls_audit ON audit_calls (audit_id);",
};

/*
 * 5: the queue of deliveries acknowledged while a rewrite holds the tables
 * (see pg_scrub). A row is everything store_put_deliveries was given: the
 * whole body of an accepted delivery, parsed again when it is moved.
 */
static const char *const migration_5[] = {
    "CREATE TABLE queued ("
    "  seq bigserial PRIMARY KEY,"
    "  received_ms bigint NOT NULL,"
    "  source text NOT NULL,"
    "  peer text,"
    "  status integer NOT NULL,"
    "  reason text,"
    "  webhook_id text,"
    "  body_size bigint NOT NULL,"
    "  body_sha256 text,"
    "  body bytea,"
    "  accepted boolean NOT NULL"
    ");",
};

struct pg_store;
static int index_calls(struct pg_store *st, int64_t after, int64_t last, struct err *err);
static int index_all_calls(struct pg_store *st, struct err *err)
{
    return index_calls(st, 0, INT64_MAX, err);
}

/*
 * Every migration in order: migrations[v - 1] takes a schema from version
 * v - 1 to v: its step in C, when it has one, then its SQL parts.
 */
static const struct {
    const char *const *parts;
    size_t n;
    int (*first)(struct pg_store *st, struct err *err);
} migrations[PG_SCHEMA_VERSION] = {
    {migration_1, sizeof migration_1 / sizeof migration_1[0], NULL},
    {migration_2, sizeof migration_2 / sizeof migration_2[0], NULL},
    {migration_3, sizeof migration_3 / sizeof migration_3[0], index_all_calls},
    {migration_4, sizeof migration_4 / sizeof migration_4[0], NULL},
    {migration_5, sizeof migration_5 / sizeof migration_5[0], NULL},
};

/* ts_rank weights {D, C, B, A}: SQLite's bm25 weights 1, 1.5, 2, 3 scaled to 1. */
#define RANK_WEIGHTS "'{0.333, 0.5, 0.667, 1.0}'::float4[]"

/*
 * The columns a listed call is built from (alias c), in enum out_col order,
 * and the further ones store_get_call() reads (enum full_col order).
 * OC_SEARCH_ROWID is the row id again: this backend needs no second key.
 */
#define OUT_COLUMNS                                                                                \
    "c.id, c.sort_ms, c.id, c.call_id, c.started_ms, c.started_at, c.ended_ms, "                   \
    "c.ended_at, c.direction, c.caller_name, c.customer_phone, c.business_phone, c.agent_name, "   \
    "c.duration_s, c.summary, c.sentiment, c.topic, c.follow_up, c.follow_up_status, "             \
    "c.follow_up_reason, c.resolved_ms, c.resolved_by, c.resolution_note, c.action_items, "        \
    "c.unanswered_questions, c.mentioned_email, c.mentioned_date, c.mentioned_time, "              \
    "c.dashboard_url, c.recording_url"
#define OUT_COLUMNS_FULL                                                                           \
    "c.agent_id, c.long_summary, c.purpose, c.key_points, c.ai_success, c.call_transferred, "      \
    "c.workflow_triggered, c.ended_reason, c.call_outcome, c.turns, c.transcript, "                \
    "c.extra_known, CASE WHEN c.extra_known = 1 THEN c.extra END, c.turn_index"
/* After the enum full_col columns: the raw body, for rows whose extra is not kept. */
#define FC_BODY FC_COUNT_

/* The parameters every call INSERT and UPDATE binds, $1..$39, in bind_call() order. */
#define CALL_SET_COLUMNS                                                                           \
    "started_ms = $3, ended_ms = $4, started_at = $5, ended_at = $6, duration_s = $7,"             \
    " direction = $8, agent_id = $9, agent_name = $10, caller_name = $11,"                         \
    " business_phone = $12, business_digits = $13, customer_phone = $14,"                          \
    " customer_digits = $15, mentioned_email = $16, mentioned_date = $17,"                         \
    " mentioned_time = $18, transcript = $19, turns = $20, summary = $21, long_summary = $22,"     \
    " purpose = $23, topic = $24, sentiment = $25, key_points = $26, action_items = $27,"          \
    " unanswered_questions = $28, follow_up = $29, follow_up_reason = $30, ai_success = $31,"      \
    " call_transferred = $32, workflow_triggered = $33, recording_url = $34,"                      \
    " dashboard_url = $35, ended_reason = $36, call_outcome = $37, extra_known = 1,"               \
    " extra = $38, turn_index = $39"
#define CALL_NPARAMS 39

/* Customer digits in [$1, $2) or [$3, $4). */
#define PHONE_PREFIX                                                                               \
    "((customer_digits >= $1 AND customer_digits < $2)"                                            \
    " OR (customer_digits >= $3 AND customer_digits < $4))"

/* The columns of a copy (store_dump), in the SQLite backend's column order. */
enum col_type { COL_INT, COL_REAL, COL_TEXT, COL_BYTES, COL_BOOL /* 0 or 1, as SQLite keeps it */ };
struct copy_col {
    const char *name;
    enum col_type type;
};

static const struct copy_col delivery_cols[] = {
    {"id", COL_INT},        {"received_ms", COL_INT},  {"source", COL_TEXT},
    {"peer", COL_TEXT},     {"status", COL_INT},       {"outcome", COL_TEXT},
    {"reason", COL_TEXT},   {"call_id", COL_TEXT},     {"webhook_id", COL_TEXT},
    {"body_size", COL_INT}, {"body_sha256", COL_TEXT}, {"body", COL_BYTES},
};

static const struct copy_col call_cols[] = {
    {"id", COL_INT},
    {"call_id", COL_TEXT},
    {"delivery_id", COL_INT},
    {"first_seen_ms", COL_INT},
    {"updated_ms", COL_INT},
    {"sort_ms", COL_INT},
    {"started_ms", COL_INT},
    {"ended_ms", COL_INT},
    {"started_at", COL_TEXT},
    {"ended_at", COL_TEXT},
    {"duration_s", COL_REAL},
    {"direction", COL_TEXT},
    {"agent_id", COL_TEXT},
    {"agent_name", COL_TEXT},
    {"caller_name", COL_TEXT},
    {"business_phone", COL_TEXT},
    {"business_digits", COL_TEXT},
    {"customer_phone", COL_TEXT},
    {"customer_digits", COL_TEXT},
    {"topic", COL_TEXT},
    {"sentiment", COL_TEXT},
    {"follow_up", COL_INT},
    {"follow_up_status", COL_TEXT},
    {"resolved_ms", COL_INT},
    {"resolved_by", COL_TEXT},
    {"resolution_note", COL_TEXT},
    {"ai_success", COL_INT},
    {"call_transferred", COL_INT},
    {"workflow_triggered", COL_INT},
    {"ended_reason", COL_TEXT},
    {"call_outcome", COL_TEXT},
    {"mentioned_email", COL_TEXT},
    {"mentioned_date", COL_TEXT},
    {"mentioned_time", COL_TEXT},
    {"recording_url", COL_TEXT},
    {"dashboard_url", COL_TEXT},
    {"follow_up_reason", COL_TEXT},
    {"action_items", COL_TEXT},
    {"unanswered_questions", COL_TEXT},
    {"key_points", COL_TEXT},
    {"purpose", COL_TEXT},
    {"summary", COL_TEXT},
    {"long_summary", COL_TEXT},
    {"transcript", COL_TEXT},
    {"turns", COL_TEXT},
    {"extra_known", COL_INT},
    {"extra", COL_TEXT},
    {"turn_index", COL_TEXT},
};

static const struct copy_col erasure_cols[] = {
    {"id", COL_INT},    {"at_ms", COL_INT},      {"kind", COL_TEXT}, {"identifier_hash", COL_TEXT},
    {"calls", COL_INT}, {"deliveries", COL_INT},
};

static const struct copy_col audit_cols[] = {
    {"id", COL_INT},           {"at_ms", COL_INT},           {"transport", COL_TEXT},
    {"client_name", COL_TEXT}, {"client_version", COL_TEXT}, {"session_id", COL_TEXT},
    {"kind", COL_TEXT},        {"name", COL_TEXT},           {"error", COL_BOOL},
    {"call_ids", COL_TEXT},
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

enum stmt_id {
    STMT_GATE_LOCK,
    STMT_QUEUE_PUT,
    STMT_QUEUE_TAKE,
    STMT_CALL_FIND,
    STMT_DELIVERY_INSERT,
    STMT_CALL_INSERT,
    STMT_CALL_UPDATE,
    STMT_VECTOR_PUT,
    STMT_VECTOR_TEXTS,
    STMT_SNIPPET_TEXTS,
    STMT_CHECK,
    STMT_COUNTS,
    STMT_LIST_ALL,
    STMT_LIST_OUTCOME,
    STMT_DELIVERY_BODY,
    STMT_CALL_RAW,
    STMT_GET_CALL,
    STMT_CALL_DELIVERIES,
    STMT_TRANSCRIPT,
    STMT_FOLLOW_UP_GET,
    STMT_FOLLOW_UP_SET,
    STMT_STATS_ROWS,
    STMT_LIST_ACTION_ITEMS,
    STMT_LIST_UNANSWERED,
    STMT_COMPLETE_ID,
    STMT_COMPLETE_PHONE_COUNT,
    STMT_COMPLETE_PHONE_RANGE,
    STMT_COMPLETE_PHONE_SCAN,
    STMT_SIZE_DELIVERIES,
    STMT_SIZE_CALLS,
    STMT_AUDIT_ADD,
    STMT_AUDIT_LIST,
    STMT_AUDIT_LIST_CALL,
    STMT_AUDIT_PURGE,
    STMT_SIZE_AUDIT,
    STMT_SIZE_ERASURES,
    STMT_COUNT_
};

/* The audit's listed columns (alias a). */
#define AUDIT_COLUMNS                                                                              \
    "a.id, a.at_ms, a.transport, a.client_name, a.client_version, a.session_id, a.kind, a.name,"   \
    " a.error::int, a.call_ids"

#define LIST_ROWS(col)                                                                             \
    "SELECT c.id, c.call_id, c.sort_ms, c." col " FROM calls c"                                    \
    " WHERE c.sort_ms >= $1 AND c.sort_ms < $2 AND c." col " IS NOT NULL"                          \
    " AND ($3::int = 0 OR c.follow_up_status <> 'resolved')"                                       \
    " AND (c.sort_ms, c.id) > ($4::bigint, $5::bigint)"                                            \
    " ORDER BY c.sort_ms, c.id LIMIT " PG_CHUNK_TEXT
#define PG_CHUNK_TEXT  "5000"
#define PG_INDEX_ROWS  1000   /* calls read at a time to make their vectors again */
#define PG_INDEX_CHUNK "1000" /* the same, in SQL */

/* The columns of struct call_texts, in its order (alias c). */
#define CALL_TEXT_COLUMNS                                                                          \
    "c.caller_name, c.agent_name, c.summary, c.long_summary, c.purpose, c.topic, c.key_points,"    \
    " c.transcript, c.turns, c.action_items, c.unanswered_questions"

/* Keep the search vector of rows (id, sort_ms, search). */
#define VECTOR_UPSERT(rows)                                                                        \
    "INSERT INTO call_search " rows " ON CONFLICT (id) DO UPDATE SET sort_ms = EXCLUDED.sort_ms,"  \
    " search = EXCLUDED.search"

static const char *const stmt_sql[STMT_COUNT_] = {
    /* $1: a JSON array of call ids. Sorted, so that two batches never wait in a cycle. */
    /*
     * Whether no rewrite holds the tables (a shared hold on the rewrite
     * key, kept to the commit, which a rewrite waits for; with $2 the hold
     * waits for a rewrite to end), and then every call id of $1 locked, in
     * one order so that writers never deadlock. Ids of one hash share a lock.
     */
    [STMT_GATE_LOCK] =
        "SELECT g.open, (SELECT count(pg_advisory_xact_lock(" PG_CALL_LOCK ", h)) FROM"
        " (SELECT DISTINCT hashtext(x) AS h FROM jsonb_array_elements_text($1::jsonb) x"
        " ORDER BY 1) s WHERE g.open)"
        " FROM (SELECT CASE WHEN $2::bool THEN pg_advisory_xact_lock_shared(" PG_REWRITE_LOCK
        ")::text = '' ELSE pg_try_advisory_xact_lock_shared(" PG_REWRITE_LOCK ") END AS open) g",
    [STMT_QUEUE_PUT] =
        "INSERT INTO queued (received_ms, source, peer, status, reason, webhook_id, body_size,"
        " body_sha256, body, accepted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [STMT_QUEUE_TAKE] = "DELETE FROM queued WHERE seq IN"
                        " (SELECT seq FROM queued ORDER BY seq LIMIT " PG_TEXT(
                            PG_QUEUE_CHUNK) " FOR UPDATE SKIP LOCKED)"
                                            " RETURNING seq, received_ms, source, peer, status, "
                                            "reason, webhook_id, body_size,"
                                            " body_sha256, body, accepted",
    [STMT_CALL_FIND] = "SELECT c.id, d.body_sha256 FROM calls c"
                       " JOIN deliveries d ON d.id = c.delivery_id WHERE c.call_id = $1",
    [STMT_DELIVERY_INSERT] =
        "INSERT INTO deliveries (received_ms, source, peer, status, outcome, reason, call_id,"
        " webhook_id, body_size, body_sha256, body)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    /* The call and its search vector ($41, binary) in one statement. */
    [STMT_CALL_INSERT] =
        "WITH c AS (INSERT INTO calls (call_id, delivery_id, first_seen_ms, updated_ms, sort_ms,"
        " follow_up_status, started_ms, ended_ms, started_at, ended_at, duration_s, direction,"
        " agent_id, agent_name, caller_name, business_phone, business_digits, customer_phone,"
        " customer_digits, mentioned_email, mentioned_date, mentioned_time, transcript, turns,"
        " summary, long_summary, purpose, topic, sentiment, key_points, action_items,"
        " unanswered_questions, follow_up, follow_up_reason, ai_success, call_transferred,"
        " workflow_triggered, recording_url, dashboard_url, ended_reason, call_outcome,"
        " extra_known, extra, turn_index)"
        " VALUES ($40, $1, $2::bigint, $2, coalesce($3::bigint, $4::bigint, $2::bigint),"
        " CASE WHEN $29::integer = 1 THEN 'pending' ELSE 'none' END,"
        " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
        " $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37,"
        " 1, $38, $39) RETURNING id, sort_ms)"
        " INSERT INTO call_search SELECT id, sort_ms, $41::tsvector FROM c",
    /* first_seen_ms and the resolution fields stay; a resolved follow-up stays resolved. */
    [STMT_CALL_UPDATE] =
        "WITH c AS (UPDATE calls SET delivery_id = $1, updated_ms = $2::bigint,"
        " sort_ms = coalesce($3::bigint, $4::bigint, first_seen_ms),"
        " follow_up_status = CASE WHEN follow_up_status = 'resolved' THEN 'resolved'"
        " WHEN $29::integer = 1 THEN 'pending' ELSE 'none' END, " CALL_SET_COLUMNS
        " WHERE id = $40 RETURNING id, sort_ms) " VECTOR_UPSERT(
            "SELECT id, sort_ms, $41::tsvector FROM c"),
    [STMT_VECTOR_PUT] = VECTOR_UPSERT("VALUES ($1, $2, $3::tsvector)"),
    /* The texts of call_texts, a chunk of calls at a time after id $1, up to id $2. */
    [STMT_VECTOR_TEXTS] = "SELECT c.id, c.sort_ms, " CALL_TEXT_COLUMNS " FROM calls c"
                          " WHERE c.id > $1 AND c.id <= $2 ORDER BY c.id LIMIT " PG_INDEX_CHUNK,
    /* The texts of the calls $1 (an array of ids), each with its place in $1. */
    [STMT_SNIPPET_TEXTS] = "SELECT k.ord, " CALL_TEXT_COLUMNS
                           " FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, ord)"
                           " JOIN calls c ON c.id = k.id",
    [STMT_CHECK] = "SELECT 1",
    [STMT_COUNTS] = "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM deliveries),"
                    " (SELECT count(*) FROM deliveries WHERE outcome = 'rejected')",
    [STMT_LIST_ALL] = "SELECT id, received_ms, source, peer, status, outcome, reason, call_id,"
                      " body_size, coalesce(octet_length(body), 0), body_sha256 FROM deliveries"
                      " ORDER BY received_ms DESC, id DESC LIMIT $1",
    [STMT_LIST_OUTCOME] = "SELECT id, received_ms, source, peer, status, outcome, reason,"
                          " call_id, body_size, coalesce(octet_length(body), 0), body_sha256"
                          " FROM deliveries WHERE outcome = $2"
                          " ORDER BY received_ms DESC, id DESC LIMIT $1",
    [STMT_DELIVERY_BODY] = "SELECT body FROM deliveries WHERE id = $1",
    [STMT_CALL_RAW] = "SELECT d.body FROM calls c JOIN deliveries d ON d.id = c.delivery_id"
                      " WHERE c.call_id = $1",
    [STMT_GET_CALL] =
        "SELECT " OUT_COLUMNS ", " OUT_COLUMNS_FULL ", CASE WHEN c.extra_known = 1 THEN NULL ELSE"
        " (SELECT d.body FROM deliveries d WHERE d.id = c.delivery_id) END"
        " FROM calls c WHERE c.call_id = $1",
    [STMT_CALL_DELIVERIES] = "SELECT id, received_ms, source, status, outcome FROM deliveries"
                             " WHERE call_id = $1 ORDER BY id",
    [STMT_TRANSCRIPT] = "SELECT turns, transcript, turn_index FROM calls WHERE call_id = $1",
    [STMT_FOLLOW_UP_GET] = "SELECT id, follow_up, follow_up_status, follow_up_reason,"
                           " resolved_ms, resolved_by, resolution_note FROM calls"
                           " WHERE call_id = $1 FOR UPDATE",
    [STMT_FOLLOW_UP_SET] = "UPDATE calls SET follow_up_status = $2, resolved_ms = $3,"
                           " resolved_by = $4, resolution_note = $5 WHERE id = $1",
    /* In (sort_ms, id) order, a chunk at a time after the keyset ($3, $4). */
    [STMT_STATS_ROWS] = "SELECT c.sort_ms, c.direction, c.sentiment, c.topic, c.agent_name,"
                        " c.duration_s, c.follow_up, c.follow_up_status, c.id FROM calls c"
                        " WHERE c.sort_ms >= $1 AND c.sort_ms < $2"
                        " AND (c.sort_ms, c.id) > ($3::bigint, $4::bigint)"
                        " ORDER BY c.sort_ms, c.id LIMIT " PG_CHUNK_TEXT,
    [STMT_LIST_ACTION_ITEMS] = LIST_ROWS("action_items"),
    [STMT_LIST_UNANSWERED] = LIST_ROWS("unanswered_questions"),
    [STMT_COMPLETE_ID] = "SELECT call_id FROM calls WHERE call_id >= $1 AND call_id < $2"
                         " ORDER BY sort_ms DESC, id DESC LIMIT $3",
    [STMT_COMPLETE_PHONE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM calls"
                                  " WHERE " PHONE_PREFIX " LIMIT $5) s",
    [STMT_COMPLETE_PHONE_RANGE] =
        "SELECT customer_digits, (array_agg(customer_phone ORDER BY sort_ms DESC, id DESC))[1],"
        " max(sort_ms) AS last FROM calls WHERE " PHONE_PREFIX
        " GROUP BY customer_digits ORDER BY last DESC LIMIT $5",
    /* Newest first a chunk at a time, before the keyset ($5, $6). */
    [STMT_COMPLETE_PHONE_SCAN] =
        "SELECT customer_digits, customer_phone, sort_ms, id FROM calls WHERE " PHONE_PREFIX
        " AND (sort_ms, id) < ($5::bigint, $6::bigint)"
        " ORDER BY sort_ms DESC, id DESC LIMIT " PG_CHUNK_TEXT,
    [STMT_SIZE_DELIVERIES] = "SELECT count(*), coalesce(max(id), 0) FROM deliveries",
    [STMT_SIZE_CALLS] = "SELECT count(*), coalesce(max(id), 0) FROM calls",
    /*
     * The access audit (see the section of that name below). $1: the
     * entries as a JSON array of objects, each row with its calls in one
     * statement.
     */
    [STMT_AUDIT_ADD] =
        "WITH ins AS (INSERT INTO audit (at_ms, transport, client_name, client_version,"
        " session_id, kind, name, error, call_ids) SELECT r.at_ms, r.transport, r.client_name,"
        " r.client_version, r.session_id, r.kind, r.name, r.error, r.call_ids"
        " FROM jsonb_to_recordset($1::jsonb) AS r(at_ms bigint, transport text,"
        " client_name text, client_version text, session_id text, kind text, name text,"
        " error boolean, call_ids text) RETURNING id, call_ids)"
        " INSERT INTO audit_calls (call_id, audit_id) SELECT DISTINCT x, ins.id FROM ins,"
        " jsonb_array_elements_text(ins.call_ids::jsonb) x ON CONFLICT DO NOTHING",
    [STMT_AUDIT_LIST] = "SELECT " AUDIT_COLUMNS " FROM audit a WHERE a.at_ms >= $1"
                        " ORDER BY a.at_ms DESC, a.id DESC LIMIT $2",
    [STMT_AUDIT_LIST_CALL] = "SELECT " AUDIT_COLUMNS " FROM audit_calls c"
                             " JOIN audit a ON a.id = c.audit_id"
                             " WHERE c.call_id = $3 AND a.at_ms >= $1"
                             " ORDER BY a.at_ms DESC, a.id DESC LIMIT $2",
    /* audit_calls rows go with their audit row (ON DELETE CASCADE). */
    [STMT_AUDIT_PURGE] = "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at_ms < $1"
                         " ORDER BY at_ms, id LIMIT $2)",
    [STMT_SIZE_AUDIT] = "SELECT count(*), coalesce(max(id), 0) FROM audit",
    [STMT_SIZE_ERASURES] = "SELECT count(*), coalesce(max(id), 0) FROM erasures",
};

struct pg_store {
    struct store base; /* first: a struct store * is a struct pg_store * */
    PGconn *conn;
    bool prepared[STMT_COUNT_]; /* on the current connection */
    char where[200];            /* "host:port database NAME", for messages */
    unsigned busy_timeout_ms;
    bool (*interrupt_fn)(void *arg);
    void *interrupt_arg;
    bool cancel_sent;          /* the running query was asked to stop */
    struct store_words *words; /* made on first use */
    bool queue_pending;        /* queued rows may wait (this one queued, or not looked yet) */
    int64_t queue_checked_ms;  /* when this connection last found the queue empty */
};

static struct pg_store *pg(struct store *base)
{
    return (struct pg_store *)(void *)base;
}

/* ---- errors ---- */

/* The first line of s into out (libpq's messages end in newlines, some have several). */
static const char *first_line(const char *s, char *out, size_t outsz)
{
    size_t n;

    if (s == NULL)
        s = "";
    while (*s == ' ' || *s == '\n')
        s++;
    n = strcspn(s, "\n");
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    if (n == 0)
        snprintf(out, outsz, "unknown error");
    return out;
}

/*
 * Fill err from a failed result (or, with res NULL, the connection's
 * message): ERR_FULL for SQLSTATE class 53, ERR_BUSY for lock timeouts,
 * serialization failures, deadlocks and a lost connection, ERR_CANCELLED
 * for a query this store cancelled, ERR_STORAGE otherwise. Returns -1.
 */
static int pg_fail(struct pg_store *st, const PGresult *res, const char *what, struct err *err)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[200];

    first_line(primary != NULL ? primary : PQerrorMessage(st->conn), line, sizeof line);
    if (PQstatus(st->conn) == CONNECTION_BAD || (state != NULL && strncmp(state, "08", 2) == 0) ||
        (state != NULL && strncmp(state, "57P0", 4) == 0))
        return err_set(err, ERR_BUSY, "%s: lost the connection to PostgreSQL at %s: %s", what,
                       st->where, line);
    if (state == NULL)
        return err_set(err, ERR_STORAGE, "%s: %s", what, line);
    if (strncmp(state, "53", 2) == 0)
        return err_set(err, ERR_FULL, "%s: PostgreSQL is out of resources: %s", what, line);
    if (strcmp(state, "57014") == 0 && st->cancel_sent)
        return err_set(err, ERR_CANCELLED, "%s: cancelled", what);
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "57014") == 0)
        return err_set(err, ERR_BUSY, "%s: database is busy (%s): %s", what, state, line);
    return err_set(err, ERR_STORAGE, "%s: %s", what, line);
}

/* Notices (e.g. a query whose words hold no lexemes) go to the debug log, never stderr raw. */
static void pg_notice(void *arg, const char *message)
{
    char line[200];

    (void)arg;
    if (log_level >= LOG_LEVEL_DEBUG)
        log_debug("postgresql: %s", first_line(message, line, sizeof line));
}

/* ---- parameters ---- */

/*
 * Parameter values for one statement (at most cap; more is a bug in this
 * file); numbers are formatted into the struct's own buffers.
 */
struct params {
    const char **v;
    int *len;
    int *fmt; /* 1 binary, 0 text */
    char (*num)[32];
    int n, cap;
};

static void params_init(struct params *p, int cap)
{
    p->v = xcalloc((size_t)cap, sizeof *p->v);
    p->len = xcalloc((size_t)cap, sizeof *p->len);
    p->fmt = xcalloc((size_t)cap, sizeof *p->fmt);
    p->num = xcalloc((size_t)cap, sizeof *p->num);
    p->n = 0;
    p->cap = cap;
}

static void params_free(struct params *p)
{
    free(p->v);
    free(p->len);
    free(p->fmt);
    free(p->num);
    memset(p, 0, sizeof *p);
}

/* The next parameter's slot (text, NULL); its number ($n) is the return value. */
static int p_slot(struct params *p)
{
    if (p->n == p->cap)
        fatalx("store: too many query parameters");
    p->v[p->n] = NULL;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    return ++p->n;
}

static int p_text(struct params *p, const char *value)
{
    int n = p_slot(p);

    p->v[n - 1] = value;
    return n;
}

static int p_int(struct params *p, int64_t value)
{
    int n = p_slot(p);

    snprintf(p->num[n - 1], sizeof p->num[n - 1], "%lld", (long long)value);
    p->v[n - 1] = p->num[n - 1];
    return n;
}

static int p_real(struct params *p, double value)
{
    int n = p_slot(p);

    snprintf(p->num[n - 1], sizeof p->num[n - 1], "%.17g", value);
    p->v[n - 1] = p->num[n - 1];
    return n;
}

/* Binary bytes (a bytea parameter); NULL data is NULL. */
static int p_bytes(struct params *p, const void *data, size_t len)
{
    int n = p_slot(p);

    p->v[n - 1] = data;
    p->len[n - 1] = len > INT_MAX ? INT_MAX : (int)len;
    p->fmt[n - 1] = data != NULL ? 1 : 0;
    return n;
}

/* ---- the connection ---- */

/* Per-connection settings: durable commits, lock waits as long as the busy timeout. */
static int pg_setup(struct pg_store *st, struct err *err)
{
    char sql[160];
    PGresult *res;

    snprintf(sql, sizeof sql,
             "SET synchronous_commit = on; SET lock_timeout = %u;"
             " SET default_transaction_read_only = %s",
             st->busy_timeout_ms, st->base.read_only ? "on" : "off");
    res = PQexec(st->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(st, res, "set up the connection", err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    memset(st->prepared, 0, sizeof st->prepared);
    return 0;
}

/*
 * Reconnect a connection that was lost (its statements are gone with it).
 * An idle connection the server has closed meanwhile (a restart, an idle
 * timeout) has something to read: reading it finds the close, so the next
 * statement goes to a new connection instead of failing.
 */
static int pg_ready(struct pg_store *st, struct err *err)
{
    struct pollfd pfd = {.fd = PQsocket(st->conn), .events = POLLIN};
    char line[200];

    if (PQstatus(st->conn) == CONNECTION_OK && PQtransactionStatus(st->conn) == PQTRANS_IDLE &&
        poll(&pfd, 1, 0) > 0)
        (void)PQconsumeInput(st->conn);
    if (PQstatus(st->conn) != CONNECTION_BAD)
        return 0;
    PQreset(st->conn);
    if (PQstatus(st->conn) == CONNECTION_BAD)
        return err_set(err, ERR_BUSY, "PostgreSQL at %s is unreachable: %s", st->where,
                       first_line(PQerrorMessage(st->conn), line, sizeof line));
    log_info("reconnected to PostgreSQL at %s", st->where);
    return pg_setup(st, err);
}

/* Ask the running query to stop (PQcancel), once. */
static void pg_cancel(struct pg_store *st)
{
    PGcancel *c;
    char buf[256];

    if (st->cancel_sent)
        return;
    st->cancel_sent = true;
    if ((c = PQgetCancel(st->conn)) != NULL) {
        (void)PQcancel(c, buf, sizeof buf);
        PQfreeCancel(c);
    }
}

/* Wait for the query sent to finish; the interrupt function is asked every PG_POLL_MS. */
static void pg_wait(struct pg_store *st)
{
    struct pollfd pfd = {.fd = PQsocket(st->conn), .events = POLLIN};

    while (PQisBusy(st->conn)) {
        int rc = poll(&pfd, 1, st->interrupt_fn != NULL ? PG_POLL_MS : -1);

        if (rc == -1 && errno != EINTR)
            return;
        if (st->interrupt_fn != NULL && st->interrupt_fn(st->interrupt_arg))
            pg_cancel(st);
        if (rc > 0 && !PQconsumeInput(st->conn))
            return;
    }
}

/*
 * Run one statement: the kept statement id (prepared on first use), or
 * with id STMT_COUNT_ the text sql as an unnamed statement. With binary the
 * result comes in binary (bodies). Returns the result (the caller clears
 * it) or NULL with err set.
 */
static PGresult *pg_run(struct pg_store *st, enum stmt_id id, const char *sql, struct params *p,
                        bool binary, const char *what, struct err *err)
{
    PGresult *res, *last = NULL;
    int n = p != NULL ? p->n : 0, ok;
    const char *const *v = p != NULL ? p->v : NULL;
    const int *len = p != NULL ? p->len : NULL, *fmt = p != NULL ? p->fmt : NULL;
    char name[16];
    ExecStatusType s;

    if (pg_ready(st, err) == -1)
        return NULL;
    st->cancel_sent = false;
    if (st->interrupt_fn != NULL && st->interrupt_fn(st->interrupt_arg)) {
        err_set(err, ERR_CANCELLED, "%s: cancelled", what);
        return NULL;
    }
    if (id != STMT_COUNT_) {
        snprintf(name, sizeof name, "phonely_%d", (int)id);
        if (!st->prepared[id]) {
            res = PQprepare(st->conn, name, stmt_sql[id], 0, NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                pg_fail(st, res, what, err);
                PQclear(res);
                return NULL;
            }
            PQclear(res);
            st->prepared[id] = true;
        }
        ok = PQsendQueryPrepared(st->conn, name, n, v, len, fmt, binary);
    } else if (p == NULL && !binary) {
        ok = PQsendQuery(st->conn, sql); /* scripts of several statements (migrations) */
    } else {
        ok = PQsendQueryParams(st->conn, sql, n, NULL, v, len, fmt, binary);
    }
    if (!ok) {
        pg_fail(st, NULL, what, err);
        return NULL;
    }
    pg_wait(st);
    /* Keep the first failure, else the last result. */
    while ((res = PQgetResult(st->conn)) != NULL) {
        if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(res);
        } else {
            PQclear(last);
            last = res;
        }
        if (PQstatus(st->conn) == CONNECTION_BAD)
            break;
    }
    s = last != NULL ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        pg_fail(st, last, what, err);
        PQclear(last);
        return NULL;
    }
    return last;
}

/* Run a statement for its effect only. */
static int pg_do(struct pg_store *st, enum stmt_id id, const char *sql, struct params *p,
                 const char *what, struct err *err)
{
    PGresult *res = pg_run(st, id, sql, p, false, what, err);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/*
 * Begin a transaction: a read-only snapshot, or one that may write, whose
 * calls come with their search vectors (phonely.vectors, which the
 * trigger of migration 3 reads; set in the transaction, not the session,
 * so that a pooler in transaction mode keeps it). A BEGIN that finds the
 * connection closed by the server (a restart) has done nothing, so it is
 * sent once more, on the new connection pg_run() makes. A snapshot locks
 * the tables a rewrite swaps (pg_scrub) before its first query, which is
 * when the snapshot is taken: one taken while a swap holds them would not
 * see the rows the swap's transaction copied.
 */
static int pg_begin(struct pg_store *st, bool snapshot, struct err *err)
{
    const char *sql = snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                                 " LOCK TABLE call_search, calls, deliveries IN ACCESS SHARE MODE"
                               : "BEGIN; SET LOCAL phonely.vectors = 'on'";

    struct err first = {0};

    if (pg_do(st, STMT_COUNT_, sql, NULL, "begin", &first) == 0)
        return 0;
    if (PQstatus(st->conn) == CONNECTION_BAD)
        return pg_do(st, STMT_COUNT_, sql, NULL, "begin", err);
    if (err != NULL)
        *err = first;
    return -1;
}

static int pg_commit(struct pg_store *st, struct err *err)
{
    return pg_do(st, STMT_COUNT_, "COMMIT", NULL, "commit", err);
}

/* Roll back whatever transaction is open (nothing to do on a lost connection). */
static void pg_abort(struct pg_store *st)
{
    PGTransactionStatusType t = PQtransactionStatus(st->conn);

    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) {
        bool (*fn)(void *) = st->interrupt_fn;

        st->interrupt_fn = NULL; /* a rollback is never cancelled */
        pg_do(st, STMT_COUNT_, "ROLLBACK", NULL, "rollback", NULL);
        st->interrupt_fn = fn;
    }
}

/* ---- rows read through the shared answer builders (backend.h) ---- */

static bool res_null(const PGresult *res, int n, int col)
{
    return col >= PQnfields(res) || PQgetisnull(res, n, col);
}

static const char *res_text(const PGresult *res, int n, int col, size_t *len)
{
    if (res_null(res, n, col)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = (size_t)PQgetlength(res, n, col);
    return PQgetvalue(res, n, col);
}

static int64_t res_int64(const PGresult *res, int n, int col)
{
    return res_null(res, n, col) ? 0 : strtoll(PQgetvalue(res, n, col), NULL, 10);
}

static double res_real(const PGresult *res, int n, int col)
{
    return res_null(res, n, col) ? 0 : strtod(PQgetvalue(res, n, col), NULL);
}

static bool row_is_null(const struct store_row *r, int col)
{
    return res_null(r->impl, r->n, col);
}

static const char *row_text(const struct store_row *r, int col, size_t *len)
{
    return res_text(r->impl, r->n, col, len);
}

static int64_t row_int64(const struct store_row *r, int col)
{
    return res_int64(r->impl, r->n, col);
}

static double row_real(const struct store_row *r, int col)
{
    return res_real(r->impl, r->n, col);
}

static const struct store_row_ops row_ops = {row_is_null, row_text, row_int64, row_real};

static struct store_row res_row(PGresult *res, int n)
{
    struct store_row r = {.ops = &row_ops, .impl = res, .base = 0, .n = n};

    return r;
}

/*
 * A whole call's row (STMT_GET_CALL): the same, except that FC_EXTRA of a
 * row whose extra is not kept is the raw body (a bytea, decoded here), and
 * turns that are not valid JSON read as NULL, as SQLite's json_valid() has it.
 */
struct full_row {
    PGresult *res;
    unsigned char *body;
    size_t body_len;
    bool turns_bad;
};

static bool full_is_null(const struct store_row *r, int col)
{
    const struct full_row *f = r->impl;

    if (col == FC_EXTRA && f->body != NULL)
        return false;
    if (col == FC_TURNS && f->turns_bad)
        return true;
    return res_null(f->res, r->n, col);
}

static const char *full_text(const struct store_row *r, int col, size_t *len)
{
    const struct full_row *f = r->impl;

    if (col == FC_EXTRA && f->body != NULL) {
        if (len != NULL)
            *len = f->body_len;
        return (const char *)f->body;
    }
    if (col == FC_TURNS && f->turns_bad) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    return res_text(f->res, r->n, col, len);
}

static int64_t full_int64(const struct store_row *r, int col)
{
    return res_int64(((const struct full_row *)r->impl)->res, r->n, col);
}

static double full_real(const struct store_row *r, int col)
{
    return res_real(((const struct full_row *)r->impl)->res, r->n, col);
}

static const struct store_row_ops full_ops = {full_is_null, full_text, full_int64, full_real};

/* ---- opening ---- */

/* The version in meta, 0 when the schema is missing; -1 on error. */
static int schema_read(struct pg_store *st, int *version, struct err *err)
{
    PGresult *res = pg_run(st, STMT_COUNT_, "SELECT to_regclass('meta') IS NOT NULL", NULL, false,
                           "read the schema version", err);
    bool known;

    if (res == NULL)
        return -1;
    known = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *version = 0;
    if (!known)
        return 0;
    res = pg_run(st, STMT_COUNT_, "SELECT value FROM meta WHERE key = 'schema_version'", NULL,
                 false, "read the schema version", err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1)
        *version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int schema_newer(int version, struct err *err)
{
    return err_set(err, ERR_STORAGE,
                   "database schema %d is newer than this phonely-mcp understands (%d);"
                   " upgrade phonely-mcp",
                   version, PG_SCHEMA_VERSION);
}

/*
 * Make or check the schema in one transaction under the migration lock:
 * a second daemon waits, then finds the schema made. A newer schema is
 * refused.
 */
static int schema_migrate(struct pg_store *st, int target, struct err *err)
{
    char sql[96];
    int version = 0;

    if (pg_begin(st, false, err) == -1 ||
        pg_do(st, STMT_COUNT_, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")", NULL,
              "migrate: lock", err) == -1 ||
        schema_read(st, &version, err) == -1)
        goto fail;
    if (version < 0 || version > PG_SCHEMA_VERSION) {
        schema_newer(version, err);
        goto fail;
    }
    if (version == 0)
        log_info("creating the phonely-mcp schema (version %d) in PostgreSQL at %s", target,
                 st->where);
    else if (version < target)
        log_info("upgrading the phonely-mcp schema in PostgreSQL at %s from version %d to %d",
                 st->where, version, target);
    for (int v = version; v < target; v++) {
        if (migrations[v].first != NULL && migrations[v].first(st, err) == -1)
            goto fail;
        for (size_t i = 0; i < migrations[v].n; i++)
            if (pg_do(st, STMT_COUNT_, migrations[v].parts[i], NULL, "migrate", err) == -1)
                goto fail;
    }
    if (version < target) {
        snprintf(sql, sizeof sql,
                 version == 0 ? "INSERT INTO meta VALUES ('schema_version', '%d')"
                              : "UPDATE meta SET value = '%d' WHERE key = 'schema_version'",
                 target);
        if (pg_do(st, STMT_COUNT_, sql, NULL, "migrate: set version", err) == -1)
            goto fail;
    }
    return pg_commit(st, err);

fail:
    pg_abort(st);
    return -1;
}

/* A read-only store changes nothing: the schema must be there, and known. */
static int schema_check(struct pg_store *st, struct err *err)
{
    int version = 0;

    if (schema_read(st, &version, err) == -1)
        return -1;
    if (version == 0)
        return err_set(err, ERR_STORAGE,
                       "PostgreSQL at %s has no phonely-mcp schema; start the daemon once to"
                       " create it",
                       st->where);
    if (version < 0 || version > PG_SCHEMA_VERSION)
        return schema_newer(version, err);
    if (version < PG_SCHEMA_VERSION)
        return err_set(err, ERR_STORAGE,
                       "PostgreSQL at %s has phonely-mcp schema version %d, older than this"
                       " program's %d; start the daemon once to upgrade it",
                       st->where, version, PG_SCHEMA_VERSION);
    return 0;
}

static void pg_free(struct pg_store *st)
{
    if (st == NULL)
        return;
    PQfinish(st->conn);
    store_words_free(st->words);
    free(st);
}

/*
 * Open the database uri names (see store.h). opt->password, when given,
 * overrides the URI's. A read-write store makes the schema when missing;
 * a read-only one refuses a missing or newer schema, and its sessions are
 * read-only. Errors are one line, ERR_STORAGE (ERR_BUSY when the migration
 * lock was not had in time), and never show the password.
 */
/* A connection to uri, set up, its schema not looked at yet. */
static struct pg_store *pg_connect(const char *uri, const struct store_options *opt,
                                   struct err *err)
{
    static const struct store_options defaults = {0};
    const char *keys[6], *vals[6], *encoding;
    struct pg_store *st;
    char line[200];
    int k = 0;

    if (opt == NULL)
        opt = &defaults;
    if (uri == NULL || uri[0] == '\0') {
        err_set(err, ERR_CONFIG, "no database URI");
        return NULL;
    }
    st = xcalloc(1, sizeof *st);
    st->base.be = &store_postgres_backend;
    st->base.read_only = opt->read_only;
    st->busy_timeout_ms = opt->busy_timeout_ms;
    /* Defaults first: the URI's own settings (expanded from dbname) override them. */
    keys[k] = "connect_timeout";
    vals[k++] = "10";
    keys[k] = "dbname";
    vals[k++] = uri;
    keys[k] = "client_encoding";
    vals[k++] = "UTF8";
    keys[k] = "application_name";
    vals[k++] = "phonely-mcp";
    if (opt->password != NULL) {
        keys[k] = "password";
        vals[k++] = opt->password;
    }
    keys[k] = NULL;
    vals[k] = NULL;
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (st->conn == NULL) {
        err_set(err, ERR_STORAGE, "cannot connect to PostgreSQL: out of memory");
        free(st);
        return NULL;
    }
    snprintf(st->where, sizeof st->where, "%s:%s database %s",
             PQhost(st->conn) != NULL ? PQhost(st->conn) : "?",
             PQport(st->conn) != NULL ? PQport(st->conn) : "?",
             PQdb(st->conn) != NULL ? PQdb(st->conn) : "?");
    if (PQstatus(st->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(st->conn), *reason = strstr(msg, "FATAL:");

        /* "connection to server at ... failed: FATAL:  password ..." keeps its reason */
        if (reason != NULL) {
            msg = reason + 6;
            while (*msg == ' ')
                msg++;
        }
        err_set(err, ERR_STORAGE, "cannot connect to PostgreSQL at %s: %s", st->where,
                first_line(msg, line, sizeof line));
        goto fail;
    }
    PQsetNoticeProcessor(st->conn, pg_notice, NULL);
    /* Bodies and text are UTF-8, and search folds accents with normalize(): UTF8 only. */
    encoding = PQparameterStatus(st->conn, "server_encoding");
    if (encoding == NULL || strcmp(encoding, "UTF8") != 0) {
        err_set(err, ERR_STORAGE,
                "PostgreSQL at %s uses encoding %s; phonely-mcp needs UTF8"
                " (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
                st->where, encoding != NULL ? encoding : "unknown");
        goto fail;
    }
    if (pg_setup(st, err) == -1)
        goto fail;
    return st;

fail:
    pg_free(st);
    return NULL;
}

struct store *store_postgres_open(const char *uri, const struct store_options *opt, struct err *err)
{
    struct pg_store *st = pg_connect(uri, opt, err);

    if (st == NULL)
        return NULL;
    if (st->base.read_only ? schema_check(st, err) == -1
                           : schema_migrate(st, PG_SCHEMA_VERSION, err) == -1) {
        pg_free(st);
        return NULL;
    }
    return &st->base;
}

int store_postgres_make_schema(const char *uri, int version, struct err *err)
{
    struct pg_store *st;
    int rc;

    if (version < 1 || version > PG_SCHEMA_VERSION)
        return err_set(err, ERR_INTERNAL, "no schema version %d", version);
    if ((st = pg_connect(uri, NULL, err)) == NULL)
        return -1;
    rc = schema_migrate(st, version, err);
    pg_free(st);
    return rc;
}

/* ---- personal data: retention and erasure (store.h) ---- */

/* Run sql with p; *out the first column of its one row (0 when none). */
static int pg_int(struct pg_store *st, const char *sql, struct params *p, const char *what,
                  int64_t *out, struct err *err)
{
    PGresult *res = pg_run(st, STMT_COUNT_, sql, p, false, what, err);

    *out = 0;
    if (res == NULL)
        return -1;
    if (PQntuples(res) > 0)
        *out = res_int64(res, 0, 0);
    PQclear(res);
    return 0;
}

/* Run sql with p; add the rows it changed to *changed. */
static int pg_change(struct pg_store *st, const char *sql, struct params *p, const char *what,
                     int64_t *changed, struct err *err)
{
    PGresult *res = pg_run(st, STMT_COUNT_, sql, p, false, what, err);

    if (res == NULL)
        return -1;
    *changed += strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

#define IDS_OF_JSON "(SELECT jsonb_array_elements_text($1::jsonb))"

/* In the open write transaction: the calls of ids (a JSON array text) and their deliveries. */
static int remove_json_calls(struct pg_store *st, const char *ids, struct store_removed *out,
                             struct err *err)
{
    struct params p;
    int rc;

    params_init(&p, 1);
    p_text(&p, ids);
    /* call_search rows go with their calls (ON DELETE CASCADE). */
    rc = pg_change(st, "DELETE FROM calls WHERE call_id IN " IDS_OF_JSON, &p, "remove calls",
                   &out->calls, err);
    if (rc == 0)
        rc = pg_change(st, "DELETE FROM deliveries WHERE call_id IN " IDS_OF_JSON, &p,
                       "remove deliveries", &out->deliveries, err);
    params_free(&p);
    return rc;
}

/*
 * Begin a transaction that writes the tables other than through the queue:
 * it holds the rewrite key shared to its commit, so that a rewrite (see
 * pg_scrub) never copies a table under it, and waits (up to lock_timeout)
 * while one runs.
 */
static int pg_write_begin(struct pg_store *st, struct err *err)
{
    if (st->base.read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (pg_begin(st, false, err) == -1)
        return -1;
    if (pg_do(st, STMT_COUNT_, "SELECT pg_advisory_xact_lock_shared(" PG_REWRITE_LOCK ")", NULL,
              "wait for the tables' rewrite", err) == -1) {
        pg_abort(st);
        return -1;
    }
    return 0;
}

#define PG_OLD_REJECTED "SELECT id FROM deliveries WHERE outcome = 'rejected' AND received_ms < $1"

static int pg_purge_count(struct pg_store *st, int64_t calls_before, int64_t rejected_before,
                          struct store_removed *out, struct err *err)
{
    struct params p;
    int64_t n;
    int rc = 0;

    if (pg_begin(st, true, err) == -1)
        return -1;
    params_init(&p, 2);
    p_int(&p, calls_before);
    p_int(&p, rejected_before);
    if (calls_before != INT64_MIN) {
        rc = pg_int(st, "SELECT count(*) FROM calls WHERE sort_ms < $1 AND $2::bigint IS NOT NULL",
                    &p, "count old calls", &n, err);
        out->calls += n;
        if (rc == 0)
            rc =
                pg_int(st,
                       "SELECT count(*) FROM deliveries WHERE call_id IN"
                       " (SELECT call_id FROM calls WHERE sort_ms < $1) AND $2::bigint IS NOT NULL",
                       &p, "count their deliveries", &n, err);
        out->deliveries += n;
    }
    if (rc == 0 && rejected_before != INT64_MIN) {
        rc = pg_int(st,
                    "SELECT count(*) FROM deliveries WHERE outcome = 'rejected'"
                    " AND received_ms < $2 AND (call_id IS NULL OR call_id NOT IN"
                    " (SELECT call_id FROM calls WHERE sort_ms < $1))",
                    &p, "count old rejected deliveries", &n, err);
        out->deliveries += n;
    }
    params_free(&p);
    if (rc == 0)
        rc = pg_commit(st, err);
    if (rc == -1)
        pg_abort(st);
    return rc;
}

/*
 * One batch. Rows another daemon's sweep has locked are skipped (FOR
 * UPDATE SKIP LOCKED), so that daemons sweeping at once share the work.
 */
static int pg_purge(struct store *base, int64_t calls_before, int64_t rejected_before,
                    unsigned limit, bool dry_run, struct store_removed *out, struct err *err)
{
    struct pg_store *st = pg(base);
    struct params p = {0};
    PGresult *res = NULL;
    bool full = false;
    char *ids = NULL;
    int64_t n = 0;

    if (dry_run)
        return pg_purge_count(st, calls_before, rejected_before, out, err);
    if (pg_write_begin(st, err) == -1)
        return -1;
    if (calls_before != INT64_MIN) {
        params_init(&p, 2);
        p_int(&p, calls_before);
        p_int(&p, limit);
        res = pg_run(st, STMT_COUNT_,
                     "SELECT coalesce(jsonb_agg(call_id), '[]'), count(*) FROM"
                     " (SELECT call_id FROM calls WHERE sort_ms < $1 ORDER BY sort_ms, id"
                     " LIMIT $2 FOR UPDATE SKIP LOCKED) o",
                     &p, false, "find old calls", err);
        params_free(&p);
        if (res == NULL)
            goto fail;
        ids = xstrdup(PQgetvalue(res, 0, 0));
        full = res_int64(res, 0, 1) == (int64_t)limit;
        PQclear(res);
        if (remove_json_calls(st, ids, out, err) == -1)
            goto fail;
    }
    if (rejected_before != INT64_MIN) {
        params_init(&p, 2);
        p_int(&p, rejected_before);
        p_int(&p, limit);
        if (pg_change(st,
                      "DELETE FROM deliveries WHERE id IN (" PG_OLD_REJECTED
                      " ORDER BY received_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)",
                      &p, "remove old rejected deliveries", &n, err) == -1) {
            params_free(&p);
            goto fail;
        }
        params_free(&p);
        out->deliveries += n;
        full = full || n == (int64_t)limit;
    }
    if (pg_commit(st, err) == -1)
        goto fail;
    free(ids);
    return full ? 1 : 0;
fail:
    pg_abort(st);
    free(ids);
    return -1;
}

static int pg_person_calls(struct store *base, const struct store_person *p, const char *key,
                           cJSON *ids, struct err *err)
{
    static const char *const sql[] = {
        [STORE_PERSON_PHONE] =
            "SELECT call_id FROM calls WHERE customer_digits = $1 ORDER BY sort_ms, id",
        [STORE_PERSON_EMAIL] =
            "SELECT call_id FROM calls WHERE lower(mentioned_email) = $1 ORDER BY sort_ms, id",
        [STORE_PERSON_CALL] = "SELECT call_id FROM calls WHERE call_id = $1",
    };
    struct params q;
    PGresult *res;

    params_init(&q, 1);
    p_text(&q, key);
    res = pg_run(pg(base), STMT_COUNT_, sql[p->kind], &q, false, "find the person's calls", err);
    params_free(&q);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(PQgetvalue(res, i, 0)));
    PQclear(res);
    return 0;
}

static int pg_remove_calls(struct store *base, const cJSON *ids, bool dry_run,
                           struct store_removed *out, struct err *err)
{
    struct pg_store *st = pg(base);
    struct store_removed batch = {0};
    char *json = cJSON_PrintUnformatted(ids);
    int rc = -1;

    if (pg_write_begin(st, err) == 0 && remove_json_calls(st, json, &batch, err) == 0)
        rc = dry_run ? pg_do(st, STMT_COUNT_, "ROLLBACK", NULL, "rollback", err)
                     : pg_commit(st, err);
    if (rc == -1)
        pg_abort(st);
    else {
        out->calls += batch.calls;
        out->deliveries += batch.deliveries;
    }
    free(json);
    return rc;
}

static int pg_loose_bodies(struct store *base, int64_t after_id, unsigned limit,
                           int (*fn)(int64_t id, const char *body, size_t len, void *arg,
                                     struct err *err),
                           void *arg, int64_t *last_id, struct err *err)
{
    struct params p;
    PGresult *res;
    int rc = 0;

    params_init(&p, 2);
    p_int(&p, after_id);
    p_int(&p, limit);
    /* Binary, for the bodies: the id comes as text so that it reads the same. */
    res = pg_run(pg(base), STMT_COUNT_,
                 "SELECT id::text, body FROM deliveries WHERE outcome = 'rejected'"
                 " AND body IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                 &p, true, "read rejected bodies", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        *last_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        rc = fn(*last_id, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), arg, err);
    }
    PQclear(res);
    return rc;
}

static int pg_remove_deliveries(struct store *base, const int64_t *ids, size_t n, int64_t *removed,
                                struct err *err)
{
    struct pg_store *st = pg(base);
    cJSON *arr = cJSON_CreateArray();
    struct params p;
    char *json;
    int rc = -1;

    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)ids[i]));
    json = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    params_init(&p, 1);
    p_text(&p, json);
    if (pg_write_begin(st, err) == 0 &&
        pg_change(st,
                  "DELETE FROM deliveries WHERE id IN"
                  " (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
                  &p, "remove deliveries", removed, err) == 0)
        rc = pg_commit(st, err);
    if (rc == -1)
        pg_abort(st);
    params_free(&p);
    free(json);
    return rc;
}

/*
 * A delete leaves the old row versions in the tables' pages (and a GIN
 * index keeps every word it ever saw) until the table is rewritten into new
 * files and the old ones are dropped. VACUUM FULL would do it, but it holds
 * each table exclusively for as long as its copy takes, and every read
 * waits for that. The rewrite below copies instead: while the writers' gate
 * is closed (the rewrite key, taken once the transactions holding it have
 * committed; every daemon's webhooks are then acknowledged from the queue,
 * see pg_put_deliveries, and every other write waits, see pg_write_begin),
 * it builds the tables afresh, with their constraints, indexes, storage
 * options, owner and privileges, in a schema of their own, while readers
 * go on reading the old ones. Only the swap (drop the old tables, move the
 * new ones in, foreign keys and triggers again) holds them exclusively; its
 * lock is asked for 50 ms at a time, so that readers never queue behind it
 * for longer. Every step runs in one transaction: a failure leaves the
 * tables as they were. The copied rows are new row versions, which a
 * snapshot older than the commit does not see; pg_begin makes sure that a
 * reading transaction's snapshot comes after its locks. Foreign keys come
 * back NOT VALID (the copy keeps them) and are validated after the commit,
 * without blocking anyone.
 */
#define REWRITE_SCHEMA "phonely_rewrite"
#define REWRITE_TABLES "ARRAY['deliveries', 'calls', 'call_search']"
static const char *const rewrite_sql[] = {
    "DO $rw$ DECLARE"
    "  s text := current_schema(); w text := '" REWRITE_SCHEMA "';"
    "  tabs text[] := " REWRITE_TABLES ";"
    "  oids oid[]; t text; r record; cols text; x text; lock_wait text;"
    "  fk_drop text[]; fk_add text[]; triggers text[];"
    " BEGIN"
    "  SELECT array_agg(format('%I.%I', s, u)::regclass::oid) INTO oids FROM unnest(tabs) u;"
    "  EXECUTE format('CREATE SCHEMA %I', w);"
    "  FOREACH t IN ARRAY tabs LOOP"
    "   EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL EXCLUDING INDEXES)', w, t, s, "
    "t);"
    "   SELECT c.reloptions, pg_get_userbyid(c.relowner) AS owner INTO r FROM pg_class c"
    "    WHERE c.oid = format('%I.%I', s, t)::regclass;"
    "   IF r.reloptions IS NOT NULL THEN"
    "    EXECUTE format('ALTER TABLE %I.%I SET (%s)', w, t, array_to_string(r.reloptions, ', '));"
    "   END IF;"
    "   IF r.owner <> current_user THEN"
    "    EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', w, t, r.owner);"
    "   END IF;"
    "   FOR r IN SELECT a.privilege_type AS priv, a.is_grantable AS again,"
    "     CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END"
    "     AS who FROM pg_class c, aclexplode(c.relacl) a"
    "     WHERE c.oid = format('%I.%I', s, t)::regclass AND a.grantee <> c.relowner LOOP"
    "    EXECUTE format('GRANT %s ON %I.%I TO %s%s', r.priv, w, t, r.who,"
    "     CASE WHEN r.again THEN ' WITH GRANT OPTION' ELSE '' END);"
    "   END LOOP;"
    "   SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute"
    "    WHERE attrelid = format('%I.%I', s, t)::regclass AND attnum > 0 AND NOT attisdropped"
    "    AND attgenerated = '';"
    "   EXECUTE format('INSERT INTO %I.%I (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %I.%I',"
    "    w, t, cols, cols, s, t);"
    "   FOR r IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
    "     WHERE conrelid = format('%I.%I', s, t)::regclass AND contype IN ('p', 'u', 'x') LOOP"
    "    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', w, t, r.conname, r.def);"
    "   END LOOP;"
    "   FOR r IN SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i"
    "     WHERE i.indrelid = format('%I.%I', s, t)::regclass AND NOT EXISTS"
    "     (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = "
    "i.indrelid)"
    "   LOOP"
    "    x := replace(r.def, format(' ON %I.%I ', s, t), format(' ON %I.%I ', w, t));"
    "    IF x = r.def THEN RAISE EXCEPTION 'cannot place the index %', r.def; END IF;"
    "    EXECUTE x;"
    "   END LOOP;"
    "   EXECUTE format('ANALYZE %I.%I', w, t);"
    "  END LOOP;",
    /* What the drop takes with it: foreign keys from or to the tables, their triggers. */
    "  SELECT coalesce(array_agg(format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass,"
    "    conname)), '{}'), coalesce(array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s%s',"
    "    conrelid::regclass, conname, pg_get_constraintdef(oid),"
    "    CASE WHEN convalidated THEN ' NOT VALID' ELSE '' END)), '{}')"
    "   INTO fk_drop, fk_add FROM pg_constraint"
    "   WHERE contype = 'f' AND (conrelid = ANY (oids) OR confrelid = ANY (oids));"
    "  SELECT coalesce(array_agg(pg_get_triggerdef(oid)), '{}') INTO triggers FROM pg_trigger"
    "   WHERE tgrelid = ANY (oids) AND NOT tgisinternal;"
    "  lock_wait := current_setting('lock_timeout');"
    "  PERFORM set_config('lock_timeout', '50ms', true);"
    "  LOOP"
    "   BEGIN"
    "    EXECUTE format('LOCK TABLE %I.call_search, %I.calls, %I.deliveries"
    " IN ACCESS EXCLUSIVE MODE', s, s, s);"
    "    EXIT;"
    "   EXCEPTION WHEN lock_not_available THEN PERFORM pg_sleep(0.05);"
    "   END;"
    "  END LOOP;"
    "  PERFORM set_config('lock_timeout', lock_wait, true);"
    "  FOREACH t IN ARRAY tabs LOOP"
    "   FOR r IN SELECT pg_get_serial_sequence(format('%I.%I', s, t), attname) AS old,"
    "     pg_get_serial_sequence(format('%I.%I', w, t), attname) AS new FROM pg_attribute"
    "     WHERE attrelid = format('%I.%I', s, t)::regclass AND attnum > 0 AND NOT attisdropped LOOP"
    "    IF r.old IS NOT NULL AND r.new IS NOT NULL THEN"
    "     EXECUTE format('SELECT setval(%L, last_value, is_called) FROM %s', r.new, r.old);"
    "    END IF;"
    "   END LOOP;"
    "  END LOOP;"
    "  FOREACH x IN ARRAY fk_drop LOOP EXECUTE x; END LOOP;"
    "  EXECUTE format('DROP TABLE %I.call_search, %I.calls, %I.deliveries', s, s, s);"
    "  FOREACH t IN ARRAY tabs LOOP"
    "   EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', w, t, s);"
    "  END LOOP;"
    "  EXECUTE format('DROP SCHEMA %I', w);"
    "  FOREACH x IN ARRAY fk_add LOOP EXECUTE x; END LOOP;"
    "  FOREACH x IN ARRAY triggers LOOP EXECUTE x; END LOOP;"
    " END $rw$",
};

/* The foreign keys the rewrite left NOT VALID, checked while reads and writes go on. */
static const char rewrite_validate_sql[] =
    "DO $rw$ DECLARE r record; BEGIN"
    "  FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint,"
    "   (SELECT array_agg(format('%I.%I', current_schema(), u)::regclass::oid) AS oids"
    "   FROM unnest(" REWRITE_TABLES ") u) o"
    "   WHERE contype = 'f' AND NOT convalidated AND (conrelid = ANY (o.oids) OR"
    "   confrelid = ANY (o.oids)) LOOP"
    "   EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', r.t, r.conname);"
    "  END LOOP;"
    " END $rw$";

static int pg_scrub(struct store *base, struct err *err)
{
    struct pg_store *st = pg(base);
    int64_t may_create = 0;
    char *sql;
    bool copy;
    int rc;

    if (pg_int(st, "SELECT has_database_privilege(current_database(), 'CREATE')::int", NULL,
               "check the right to create a schema", &may_create, err) == -1)
        return -1;
    copy = may_create == 1;
    if (!copy)
        log_warnx("the database role may not create a schema: the tables are rewritten with"
                  " VACUUM FULL, which holds reads until it is done (grant CREATE on the database"
                  " to let reads go on)");
    if (pg_do(st, STMT_COUNT_, "SELECT pg_advisory_lock(" PG_REWRITE_LOCK ")", NULL,
              "close the writers' gate", err) == -1)
        return -1;
    sql = copy ? xasprintf("%s%s", rewrite_sql[0], rewrite_sql[1])
               : xstrdup("VACUUM (FULL) call_search, calls, deliveries");
    rc = pg_do(st, STMT_COUNT_, sql, NULL, "rewrite the tables", err);
    free(sql);
    if (pg_do(st, STMT_COUNT_, "SELECT pg_advisory_unlock(" PG_REWRITE_LOCK ")", NULL,
              "open the writers' gate", rc == 0 ? err : NULL) == -1)
        rc = -1;
    /* The new files' visibility map, so that index-only scans stay so. */
    if (rc == 0 && copy &&
        (pg_do(st, STMT_COUNT_, rewrite_validate_sql, NULL, "validate the foreign keys", err) ==
             -1 ||
         pg_do(st, STMT_COUNT_, "VACUUM call_search, calls, deliveries", NULL,
               "vacuum the new tables", err) == -1))
        rc = -1;
    return rc;
}

static int pg_meta_key(struct store *base, const char *name, unsigned char key[32], struct err *err)
{
    struct pg_store *st = pg(base);
    unsigned char fresh[32];
    char hex[65];
    struct params p;
    PGresult *res;
    int rc = 0;

    randombytes_buf(fresh, sizeof fresh);
    sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
    sodium_memzero(fresh, sizeof fresh);
    params_init(&p, 2);
    p_text(&p, name);
    p_text(&p, hex);
    if (!st->base.read_only && pg_do(st, STMT_COUNT_,
                                     "INSERT INTO meta (key, value) VALUES ($1, $2)"
                                     " ON CONFLICT (key) DO NOTHING",
                                     &p, "keep a key", err) == -1) {
        params_free(&p);
        return -1;
    }
    p.n = 1;
    res = pg_run(st, STMT_COUNT_, "SELECT value FROM meta WHERE key = $1", &p, false, "read a key",
                 err);
    params_free(&p);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 64 ||
        sodium_hex2bin(key, 32, PQgetvalue(res, 0, 0), 64, NULL, NULL, NULL) != 0)
        rc = err_set(err, ERR_STORAGE, "the database has no usable %s", name);
    PQclear(res);
    return rc;
}

static int pg_put_meta_key(struct store *base, const char *name, const unsigned char key[32],
                           struct err *err)
{
    char hex[65];
    struct params p;
    int rc;

    sodium_bin2hex(hex, sizeof hex, key, 32);
    params_init(&p, 2);
    p_text(&p, name);
    p_text(&p, hex);
    rc = pg_do(pg(base), STMT_COUNT_,
               "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &p,
               "keep a key", err);
    params_free(&p);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

static int pg_add_erasure(struct store *base, struct store_erasure *e, struct err *err)
{
    struct params p;
    int rc;

    params_init(&p, 5);
    p_int(&p, e->at_ms);
    p_text(&p, store_person_kind_name(e->kind));
    p_text(&p, e->hash);
    p_int(&p, e->calls);
    p_int(&p, e->deliveries);
    rc = pg_int(pg(base),
                "INSERT INTO erasures (at_ms, kind, identifier_hash, calls, deliveries)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &p, "record the erasure", &e->id, err);
    params_free(&p);
    return rc;
}

static int pg_list_erasures(struct store *base, const char *hash,
                            int (*fn)(const struct store_erasure *e, void *arg), void *arg,
                            struct err *err)
{
    struct params p;
    PGresult *res;

    params_init(&p, 1);
    p_text(&p, hash);
    res = pg_run(pg(base), STMT_COUNT_,
                 "SELECT id, at_ms, kind, identifier_hash, calls, deliveries FROM erasures"
                 " WHERE $1::text IS NULL OR identifier_hash = $1 ORDER BY id",
                 &p, false, "list erasures", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_erasure e = {
            .id = res_int64(res, i, 0),
            .at_ms = res_int64(res, i, 1),
            .calls = res_int64(res, i, 4),
            .deliveries = res_int64(res, i, 5),
        };
        e.kind = store_person_kind_parse(PQgetvalue(res, i, 2));
        snprintf(e.hash, sizeof e.hash, "%s", PQgetvalue(res, i, 3));
        if (fn(&e, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

static void pg_close(struct store *base)
{
    pg_free(pg(base));
}

/* ---- search vectors and queries, made of store_words' words ---- */

/*
 * A call's search vector is made here, from the words SQLite's tokenizer
 * finds (store_words_each), and sent in tsvector's binary form; a query's
 * words are split the same way. So both backends see the same words, and
 * PostgreSQL's own text parser, the most costly step of a write, never
 * runs. Limits of a tsvector (PostgreSQL's tsvector.h): longer words are
 * not indexed, later positions of a word are dropped, positions past the
 * last one stay on it, and the vector stops growing at its size limit.
 */
#define TSV_WORD_MAX  2047      /* bytes of one lexeme */
#define TSV_NPOS_MAX  256       /* positions kept per lexeme */
#define TSV_POS_MAX   16383     /* the largest position */
#define TSV_BYTES_MAX (1 << 20) /* bytes of every lexeme together */
/*
 * A vector smaller than this (in its binary form) is padded to it: below
 * about 2 KB a row's values stay in the row whatever toast_tuple_target
 * says, and call_search rows that hold their vectors take three times the
 * pages that counting or walking a word's calls then reads.
 */
#define TSV_OUT_OF_LINE 2100

/* Weights as a tsvector stores them (3 is A, 0 is D). */
enum { TSV_D = 0, TSV_C = 1, TSV_B = 2, TSV_A = 3 };

struct tsv_word {
    size_t off;    /* in tsv_build.text */
    const char *p; /* the bytes, once every word is in */
    uint16_t len, pos;
    uint8_t weight;
};

struct tsv_build {
    struct tsv_word *w;
    size_t n, cap;
    struct buf text; /* every word's bytes, one after the other */
    unsigned pos;    /* the last position given */
    uint8_t weight;  /* of the words being added */
    struct err *err; /* the first failure */
    bool failed;
};

static struct store_words *pg_words(struct pg_store *st, struct err *err)
{
    if (st->words == NULL)
        st->words = store_words_new(err);
    return st->words;
}

static void tsv_word(void *arg, const struct store_word *word)
{
    struct tsv_build *b = arg;
    size_t n = word->n;
    struct tsv_word *w;

    if (b->pos < TSV_POS_MAX)
        b->pos++;
    if (n > TSV_WORD_MAX)
        return;
    if (b->n == b->cap) {
        b->cap = b->cap != 0 ? b->cap * 2 : 256;
        b->w = xreallocarray(b->w, b->cap, sizeof *b->w);
    }
    w = &b->w[b->n++];
    w->off = b->text.len;
    w->len = (uint16_t)n;
    w->pos = (uint16_t)b->pos;
    w->weight = b->weight;
    buf_append(&b->text, word->w, n);
}

/*
 * Add a column's text at weight. A column starts two positions after the
 * one before, so that no phrase runs from one column into the next (FTS5
 * keeps columns apart the same way).
 */
static void tsv_add(struct tsv_build *b, struct store_words *words, const char *text,
                    uint8_t weight)
{
    if (b->failed || text == NULL || text[0] == '\0')
        return;
    if (b->pos > 0 && b->pos < TSV_POS_MAX)
        b->pos++;
    b->weight = weight;
    if (store_words_each(words, text, strlen(text), tsv_word, b, b->err) == -1)
        b->failed = true;
}

static int tsv_cmp(const void *x, const void *y)
{
    const struct tsv_word *a = x, *b = y;
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);

    if (c == 0)
        c = (a->len > b->len) - (a->len < b->len);
    return c != 0 ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static void put_u16(struct buf *out, unsigned v)
{
    unsigned char be[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    buf_append(out, be, 2);
}

/*
 * Put padding of at least need bytes first in the binary vector out: up to
 * two fixed lexemes of \x01 bytes (ending \x01 and \x02), which sort
 * before every word and which the tokenizer never makes, so no query
 * names them, each with as many positions as it takes (TSV_NPOS_MAX at
 * most). Returns how many lexemes it added.
 */
static uint32_t tsv_pad(struct buf *out, size_t need)
{
    static const size_t word = 1000; /* bytes of a padding lexeme */
    struct buf padded = {0};
    uint32_t added = 0;
    char lexeme[1000 + 1];

    buf_append(&padded, out->data, 4);
    for (char last = 1; need > 0 && last <= 2; last++) {
        size_t npos = need > word + 3 ? (need - word - 3 + 1) / 2 : 0;

        if (npos > TSV_NPOS_MAX)
            npos = TSV_NPOS_MAX;
        memset(lexeme, 1, word - 1);
        lexeme[word - 1] = last;
        lexeme[word] = '\0';
        buf_append(&padded, lexeme, word + 1);
        put_u16(&padded, (unsigned)npos);
        for (size_t k = 1; k <= npos; k++)
            put_u16(&padded, (unsigned)k);
        need -= need < word + 3 + 2 * npos ? need : word + 3 + 2 * npos;
        added++;
    }
    buf_append(&padded, out->data + 4, out->len - 4);
    buf_free(out);
    *out = padded;
    return added;
}

/*
 * The binary form of the vector (tsvector_recv's input): a 32-bit lexeme
 * count, then per lexeme, in byte order, its bytes with a NUL, a 16-bit
 * position count and the positions (weight in the top two bits).
 */
static void tsv_finish(struct tsv_build *b, struct buf *out)
{
    uint32_t count = 0;
    size_t bytes = 0, i = 0;

    buf_append(out, "\0\0\0\0", 4);
    for (i = 0; i < b->n; i++)
        b->w[i].p = b->text.data + b->w[i].off;
    i = 0;
    if (b->n > 0)
        qsort(b->w, b->n, sizeof *b->w, tsv_cmp);
    while (i < b->n) {
        const struct tsv_word *w = &b->w[i];
        size_t j = i, npos_at;
        unsigned npos = 0, last = 0;

        if (bytes + w->len > TSV_BYTES_MAX)
            break;
        bytes += w->len;
        buf_append(out, w->p, w->len);
        buf_append(out, "", 1);
        npos_at = out->len;
        put_u16(out, 0);
        for (; j < b->n && b->w[j].len == w->len && memcmp(b->w[j].p, w->p, w->len) == 0; j++) {
            if (npos == TSV_NPOS_MAX || b->w[j].pos == last)
                continue;
            last = b->w[j].pos;
            put_u16(out, (unsigned)b->w[j].weight << 14 | last);
            npos++;
        }
        out->data[npos_at] = (char)(npos >> 8);
        out->data[npos_at + 1] = (char)npos;
        count++;
        i = j;
    }
    if (out->len < TSV_OUT_OF_LINE)
        count += tsv_pad(out, TSV_OUT_OF_LINE - out->len);
    out->data[0] = (char)(count >> 24);
    out->data[1] = (char)(count >> 16);
    out->data[2] = (char)(count >> 8);
    out->data[3] = (char)count;
}

/*
 * The texts of a call that search reads, in the forms the calls columns
 * keep them (the lists as JSON arrays; the transcript, else the turns as
 * JSON).
 */
struct call_texts {
    const char *caller_name, *agent_name, *summary, *long_summary, *purpose, *topic;
    const char *key_points, *transcript, *turns, *action_items, *unanswered_questions;
};

/* The texts of call_texts from columns col.. of row i (CALL_TEXT_COLUMNS). */
static struct call_texts texts_of_row(const PGresult *res, int i, int col)
{
    const char *v[11];

    for (int k = 0; k < 11; k++)
        v[k] = res_text(res, i, col + k, NULL);
    return (struct call_texts){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
}

/* The columns of SQLite's calls_fts, in its order. */
enum {
    SC_TRANSCRIPT,
    SC_SUMMARY,
    SC_PURPOSE,
    SC_TOPIC,
    SC_KEY_POINTS,
    SC_ACTIONS,
    SC_UNANSWERED,
    SC_NAMES,
    SC_COLUMNS
};

/* a and b, either NULL, joined by a space and trimmed of spaces (SQLite's trim(a || ' ' || b)). */
static char *join_trimmed(const char *a, const char *b)
{
    char *t = xasprintf("%s %s", a != NULL ? a : "", b != NULL ? b : "");
    size_t start = strspn(t, " "), len = strlen(t);

    while (len > start && t[len - 1] == ' ')
        len--;
    memmove(t, t + start, len - start);
    t[len - start] = '\0';
    return t;
}

/* The strings of a JSON array (or member key of its objects), one a line; NULL when none. */
static char *json_lines(const char *json, const char *key)
{
    struct buf b = {0};
    cJSON *arr, *item;
    bool any = false;

    if (json == NULL || (arr = cJSON_Parse(json)) == NULL)
        return NULL;
    cJSON_ArrayForEach(item, arr)
    {
        const cJSON *v = key != NULL ? cJSON_GetObjectItemCaseSensitive(item, key) : item;

        if (cJSON_IsString(v)) {
            buf_puts(&b, any ? "\n" : "");
            buf_puts(&b, v->valuestring);
            any = true;
        }
    }
    cJSON_Delete(arr);
    return any ? buf_steal(&b, NULL) : (buf_free(&b), NULL);
}

/*
 * The texts of a call that search reads, as SQLite's calls_fts columns
 * hold them (each NULL or malloc'd): the vector is made of their words
 * and snippets are cut from them.
 */
static void search_columns(const struct call_texts *t, char *text[SC_COLUMNS])
{
    text[SC_TRANSCRIPT] =
        t->transcript != NULL ? xstrdup(t->transcript) : json_lines(t->turns, "content");
    text[SC_SUMMARY] = join_trimmed(t->summary, t->long_summary);
    text[SC_PURPOSE] = t->purpose != NULL ? xstrdup(t->purpose) : NULL;
    text[SC_TOPIC] = t->topic != NULL ? xstrdup(t->topic) : NULL;
    text[SC_KEY_POINTS] = json_lines(t->key_points, NULL);
    text[SC_ACTIONS] = json_lines(t->action_items, NULL);
    text[SC_UNANSWERED] = json_lines(t->unanswered_questions, NULL);
    text[SC_NAMES] = join_trimmed(t->caller_name, t->agent_name);
}

/*
 * The vector of t into out (emptied first). Weights: names A, summaries,
 * purpose and topic B, key points C, the rest D; the columns in this
 * order, the transcript late, so that a long one cannot push the others
 * past the last position.
 */
static int call_vector(struct pg_store *st, const struct call_texts *t, struct buf *out,
                       struct err *err)
{
    static const struct {
        int col;
        uint8_t weight;
    } order[] = {{SC_NAMES, TSV_A},   {SC_SUMMARY, TSV_B},    {SC_PURPOSE, TSV_B},
                 {SC_TOPIC, TSV_B},   {SC_KEY_POINTS, TSV_C}, {SC_TRANSCRIPT, TSV_D},
                 {SC_ACTIONS, TSV_D}, {SC_UNANSWERED, TSV_D}};
    struct store_words *words = pg_words(st, err);
    struct tsv_build b = {.err = err};
    char *text[SC_COLUMNS];

    if (words == NULL)
        return -1;
    buf_reset(out);
    search_columns(t, text);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        tsv_add(&b, words, text[order[i].col], order[i].weight);
    if (!b.failed)
        tsv_finish(&b, out);
    for (size_t i = 0; i < SC_COLUMNS; i++)
        free(text[i]);
    free(b.w);
    buf_free(&b.text);
    return b.failed ? -1 : 0;
}

/*
 * A query's words as store_words splits them: each search word a phrase
 * of one or more words (folded), all required. A word that holds none
 * (punctuation alone) drops out.
 */
struct phrase {
    size_t n;
    struct buf *w; /* n words */
};
struct phrases {
    size_t n;
    struct phrase *p;
};

static void phrases_free(struct phrases *ph)
{
    for (size_t i = 0; i < ph->n; i++) {
        for (size_t j = 0; j < ph->p[i].n; j++)
            buf_free(&ph->p[i].w[j]);
        free(ph->p[i].w);
    }
    free(ph->p);
    memset(ph, 0, sizeof *ph);
}

static void phrase_word(void *arg, const struct store_word *word)
{
    struct phrase *p = arg;

    p->w = xreallocarray(p->w, p->n + 1, sizeof *p->w);
    memset(&p->w[p->n], 0, sizeof p->w[p->n]);
    buf_append(&p->w[p->n++], word->w, word->n);
}

static int phrases_make(struct pg_store *st, const struct search_terms *t, struct phrases *out,
                        struct err *err)
{
    struct store_words *words = pg_words(st, err);

    memset(out, 0, sizeof *out);
    if (words == NULL)
        return -1;
    out->p = xcalloc(t->n > 0 ? t->n : 1, sizeof *out->p);
    for (size_t i = 0; i < t->n; i++) {
        struct phrase *p = &out->p[out->n];

        if (store_words_each(words, t->words[i], strlen(t->words[i]), phrase_word, p, err) == -1) {
            out->n++;
            phrases_free(out);
            return -1;
        }
        if (p->n > 0)
            out->n++;
    }
    return 0;
}

/*
 * The tsquery of the phrases, as its text: 'a' for a phrase of one word,
 * ('a' <-> 'b') for more, joined by & (FTS5's phrases of
 * store_sqlite_match, in tsquery's terms). No phrase: the empty text,
 * which matches nothing. Caller frees.
 */
static char *phrases_tsquery(const struct phrases *ph)
{
    struct buf q = {0};

    for (size_t i = 0; i < ph->n; i++) {
        const struct phrase *p = &ph->p[i];

        buf_puts(&q, i > 0 ? " & " : "");
        buf_puts(&q, p->n > 1 ? "(" : "");
        for (size_t j = 0; j < p->n; j++) {
            buf_puts(&q, j > 0 ? " <-> '" : "'");
            for (size_t k = 0; k < p->w[j].len; k++) {
                if (p->w[j].data[k] == '\'' || p->w[j].data[k] == '\\')
                    buf_append(&q, &p->w[j].data[k], 1);
                buf_append(&q, &p->w[j].data[k], 1);
            }
            buf_puts(&q, "'");
        }
        buf_puts(&q, p->n > 1 ? ")" : "");
    }
    return buf_steal(&q, NULL);
}

/*
 * Make the search vectors of the calls with ids in (after, last] again,
 * inside the caller's transaction: after a copy of calls, and when an
 * upgrade changes how vectors are made.
 */
static int index_calls(struct pg_store *st, int64_t after, int64_t last, struct err *err)
{
    struct buf vec = {0};
    struct params p;
    int rc = 0, n;

    do {
        PGresult *res;

        params_init(&p, 2);
        p_int(&p, after);
        p_int(&p, last);
        res = pg_run(st, STMT_VECTOR_TEXTS, NULL, &p, false, "read calls to index", err);
        params_free(&p);
        if (res == NULL) {
            rc = -1;
            break;
        }
        n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            const struct call_texts t = texts_of_row(res, i, 2);

            after = res_int64(res, i, 0);
            if (call_vector(st, &t, &vec, err) == -1) {
                rc = -1;
                break;
            }
            params_init(&p, 3);
            p_int(&p, after);
            p_int(&p, res_int64(res, i, 1));
            p_bytes(&p, vec.data, vec.len);
            rc = pg_do(st, STMT_VECTOR_PUT, NULL, &p, "index call", err);
            params_free(&p);
        }
        PQclear(res);
    } while (rc == 0 && n == PG_INDEX_ROWS);
    buf_free(&vec);
    return rc;
}

/* ---- writing deliveries ---- */

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

/* The first column of a one-row result as an integer. */
static int64_t first_int64(PGresult *res)
{
    return PQntuples(res) > 0 ? res_int64(res, 0, 0) : 0;
}

/* Insert the deliveries row for d with outcome oc; *id gets its id. */
static int delivery_insert(struct pg_store *st, const struct delivery *d, enum delivery_outcome oc,
                           int status, bool keep_body, int64_t *id, struct err *err)
{
    uint64_t size = d->body_size > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : d->body_size;
    struct params p;
    PGresult *res;

    params_init(&p, 12);
    p_int(&p, d->received_ms);
    p_text(&p, d->source);
    p_text(&p, d->peer);
    p_int(&p, status);
    p_text(&p, delivery_outcome_name(oc));
    p_text(&p, d->reason);
    p_text(&p, d->call != NULL ? d->call->call_id : NULL);
    p_text(&p, d->webhook_id);
    p_int(&p, (int64_t)size);
    p_text(&p, d->body_sha256);
    if (keep_body && d->body != NULL)
        p_bytes(&p, d->body, d->body_len);
    else
        p_bytes(&p, NULL, 0);
    res = pg_run(st, STMT_DELIVERY_INSERT, NULL, &p, false, "insert delivery", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    *id = first_int64(res);
    PQclear(res);
    return 0;
}

static const char *tri_text(enum tristate v)
{
    return v == TRI_TRUE ? "1" : v == TRI_FALSE ? "0" : NULL;
}

/*
 * The parameters $1..$39 every call INSERT and UPDATE binds: the delivery
 * it now comes from, the time it arrived, and everything extracted.
 */
static void bind_call(struct params *p, const struct call *c, const struct call_forms *f,
                      int64_t delivery_id, int64_t received_ms)
{
    p_int(p, delivery_id);
    p_int(p, received_ms);
    if (c->started_ms != PAYLOAD_TIME_UNKNOWN)
        p_int(p, c->started_ms);
    else
        p_text(p, NULL);
    if (c->ended_ms != PAYLOAD_TIME_UNKNOWN)
        p_int(p, c->ended_ms);
    else
        p_text(p, NULL);
    p_text(p, c->started_at);
    p_text(p, c->ended_at);
    if (c->duration_s >= 0)
        p_real(p, c->duration_s);
    else
        p_text(p, NULL);
    p_text(p, c->direction);
    p_text(p, c->agent_id);
    p_text(p, c->agent_name);
    p_text(p, c->caller_name);
    p_text(p, c->business_phone);
    p_text(p, c->business_digits);
    p_text(p, c->customer_phone);
    p_text(p, c->customer_digits);
    p_text(p, c->mentioned_email);
    p_text(p, c->mentioned_date);
    p_text(p, c->mentioned_time);
    p_text(p, f->transcript);
    p_text(p, f->turns);
    p_text(p, c->summary);
    p_text(p, c->long_summary);
    p_text(p, c->purpose);
    p_text(p, c->topic);
    p_text(p, c->sentiment);
    p_text(p, f->key_points);
    p_text(p, f->action_items);
    p_text(p, f->unanswered_questions);
    p_text(p, tri_text(c->follow_up));
    p_text(p, c->follow_up_reason);
    p_text(p, tri_text(c->ai_success));
    p_text(p, tri_text(c->call_transferred));
    p_text(p, tri_text(c->workflow_triggered));
    p_text(p, c->recording_url);
    p_text(p, c->dashboard_url);
    p_text(p, c->ended_reason);
    p_text(p, c->call_outcome);
    p_text(p, c->extra);
    p_text(p, f->turn_index);
}

/*
 * Look up call_id (its advisory lock held): 1 and *id set when the call
 * exists (*same when its current delivery has the digest sha), 0 when
 * unknown, -1 on error.
 */
static int call_find(struct pg_store *st, const char *call_id, const char *sha, int64_t *id,
                     bool *same, struct err *err)
{
    struct params p;
    PGresult *res;
    int found;

    params_init(&p, 1);
    p_text(&p, call_id);
    res = pg_run(st, STMT_CALL_FIND, NULL, &p, false, "find call", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    found = PQntuples(res) > 0;
    if (found) {
        const char *cur = res_text(res, 0, 1, NULL);

        *id = res_int64(res, 0, 0);
        *same = sha != NULL && cur != NULL && strcmp(sha, cur) == 0;
    }
    PQclear(res);
    return found;
}

/* Insert or update the call of d (known as id when found), from delivery delivery_id. */
static int call_write(struct pg_store *st, const struct delivery *d, const struct call_forms *forms,
                      int64_t delivery_id, bool found, int64_t id, struct err *err)
{
    const struct call *c = d->call;
    const struct call_texts texts = {c->caller_name,
                                     c->agent_name,
                                     c->summary,
                                     c->long_summary,
                                     c->purpose,
                                     c->topic,
                                     forms->key_points,
                                     forms->transcript,
                                     forms->turns,
                                     forms->action_items,
                                     forms->unanswered_questions};
    struct buf vec = {0};
    struct params p;
    int rc;

    if (call_vector(st, &texts, &vec, err) == -1)
        return -1;
    params_init(&p, CALL_NPARAMS + 2);
    bind_call(&p, c, forms, delivery_id, d->received_ms);
    if (found)
        p_int(&p, id);
    else
        p_text(&p, c->call_id);
    p_bytes(&p, vec.data, vec.len);
    rc = pg_do(st, found ? STMT_CALL_UPDATE : STMT_CALL_INSERT, NULL, &p,
               found ? "update call" : "insert call", err);
    params_free(&p);
    buf_free(&vec);
    return rc;
}

/* Record one delivery inside the open transaction and set its outcome and id. */
static int put_one(struct pg_store *st, struct delivery *d, struct err *err)
{
    struct call_forms own = {0};
    const struct call_forms *forms = d->forms;
    int64_t id = 0;
    bool same = false;
    int found, status = d->status != 0 ? d->status : 200;

    if (d->call == NULL) {
        d->outcome = DELIVERY_REJECTED;
        return delivery_insert(st, d, DELIVERY_REJECTED, d->status, true, &d->delivery_id, err);
    }
    found = call_find(st, d->call->call_id, d->body_sha256, &id, &same, err);
    if (found == -1)
        return -1;
    if (found && same) {
        d->outcome = DELIVERY_DUPLICATE;
        return delivery_insert(st, d, DELIVERY_DUPLICATE, status, false, &d->delivery_id, err);
    }
    d->outcome = found ? DELIVERY_UPDATED : DELIVERY_STORED;
    if (delivery_insert(st, d, d->outcome, status, true, &d->delivery_id, err) == -1)
        return -1;
    if (forms == NULL) {
        callfmt_forms(d->call, &own);
        forms = &own;
    }
    if (call_write(st, d, forms, d->delivery_id, found, id, err) == -1) {
        callfmt_forms_free(&own);
        return -1;
    }
    callfmt_forms_free(&own);
    return 0;
}

/*
 * The gate of every writing transaction (STMT_GATE_LOCK): *open tells
 * whether the tables can be written now, and then the call ids of the
 * batch are locked. Closed, nothing is locked and the batch goes to the
 * queue; with wait, the gate is waited for (up to lock_timeout) and so is
 * always open.
 */
static int gate_lock(struct pg_store *st, struct delivery *const *items, size_t n, bool wait,
                     bool *open, struct err *err)
{
    cJSON *ids = store_json_new(cJSON_CreateArray());
    struct params p;
    PGresult *res;
    char *json;
    size_t i;

    for (i = 0; i < n; i++)
        if (items[i]->call != NULL)
            store_json_push(ids, cJSON_CreateString(items[i]->call->call_id));
    json = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);
    if (json == NULL)
        fatalx("out of memory building JSON");
    params_init(&p, 2);
    p_text(&p, json);
    p_text(&p, wait ? "t" : "f");
    res = pg_run(st, STMT_GATE_LOCK, NULL, &p, false, "lock calls", err);
    params_free(&p);
    free(json);
    if (res == NULL)
        return -1;
    *open = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

/* Whether every item can wait in the queue: an accepted one needs its whole body to be parsed
 * again. */
static bool queueable(struct delivery *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (items[i]->call != NULL &&
            (items[i]->body == NULL || (uint64_t)items[i]->body_len != items[i]->body_size))
            return false;
    return true;
}

/* Queue every item inside the open transaction (outcome DELIVERY_QUEUED, no delivery id yet). */
static int queue_put(struct pg_store *st, struct delivery *const *items, size_t n, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct delivery *d = items[i];
        uint64_t size = d->body_size > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : d->body_size;
        struct params p;
        int rc;

        params_init(&p, 10);
        p_int(&p, d->received_ms);
        p_text(&p, d->source);
        p_text(&p, d->peer);
        p_int(&p, d->status);
        p_text(&p, d->reason);
        p_text(&p, d->webhook_id);
        p_int(&p, (int64_t)size);
        p_text(&p, d->body_sha256);
        p_bytes(&p, d->body, d->body_len);
        p_text(&p, d->call != NULL ? "t" : "f");
        rc = pg_do(st, STMT_QUEUE_PUT, NULL, &p, "queue delivery", err);
        params_free(&p);
        if (rc == -1)
            return -1;
    }
    return 0;
}

/* One queued row, made a delivery again. */
struct queued {
    int64_t seq;
    struct delivery d;
    struct call call;
    struct call_forms forms;
    bool parsed;
    unsigned char *body;
    char reason[sizeof((struct err *)0)->msg];
};

static int queued_order(const void *a, const void *b)
{
    const struct queued *x = a, *y = b;

    return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Row i of a STMT_QUEUE_TAKE result into q (pointing into res, which must
 * outlive it). An accepted body is parsed as when it arrived (bodies are
 * kept redacted, so this gives the call that was acknowledged); one the
 * parser now refuses is kept as a rejected delivery, as it would be today.
 */
static void queued_read(PGresult *res, int i, struct queued *q)
{
    size_t len = 0;
    struct err perr = {0};

    q->seq = res_int64(res, i, 0);
    q->d.received_ms = res_int64(res, i, 1);
    q->d.source = res_text(res, i, 2, NULL);
    q->d.peer = res_text(res, i, 3, NULL);
    q->d.status = (int)res_int64(res, i, 4);
    q->d.reason = res_text(res, i, 5, NULL);
    q->d.webhook_id = res_text(res, i, 6, NULL);
    q->d.body_size = (uint64_t)res_int64(res, i, 7);
    q->d.body_sha256 = res_text(res, i, 8, NULL);
    if (!res_null(res, i, 9)) {
        q->body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 9), &len);
        if (q->body == NULL)
            fatalx("out of memory reading a queued body");
        q->d.body = q->body;
        q->d.body_len = len;
    }
    if (strcmp(res_text(res, i, 10, NULL), "t") != 0)
        return;
    if (payload_parse((const char *)q->body, len, &q->call, &perr) == 0) {
        q->parsed = true;
        callfmt_forms(&q->call, &q->forms);
        q->d.call = &q->call;
        q->d.forms = &q->forms;
    } else {
        snprintf(q->reason, sizeof q->reason, "%s", perr.msg);
        q->d.reason = q->reason;
        q->d.status = perr.code == ERR_NOT_A_CALL ? 422 : 400;
    }
}

static void queued_free(struct queued *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (q[i].parsed) {
            callfmt_forms_free(&q[i].forms);
            payload_call_free(&q[i].call);
        }
        PQfreemem(q[i].body);
    }
    free(q);
}

/*
 * Move up to PG_QUEUE_CHUNK queued deliveries, oldest first, into the
 * tables in one transaction, as put_deliveries stores them; *moved says
 * how many (0 while the gate is closed or nothing waits).
 */
static int pg_drain_queued(struct store *base, size_t *moved, struct err *err)
{
    struct pg_store *st = pg(base);
    struct queued *q = NULL;
    struct delivery **items = NULL;
    PGresult *res = NULL;
    size_t n = 0, i;
    bool open;

    *moved = 0;
    if (st->base.read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (pg_begin(st, false, err) == -1 || gate_lock(st, NULL, 0, false, &open, err) == -1)
        goto fail;
    if (!open) {
        pg_abort(st);
        return 0;
    }
    if ((res = pg_run(st, STMT_QUEUE_TAKE, NULL, NULL, false, "take queued deliveries", err)) ==
        NULL)
        goto fail;
    n = (size_t)PQntuples(res);
    q = xcalloc(n + 1, sizeof *q);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    items = xcalloc(n + 1, sizeof *items);
    for (i = 0; i < n; i++)
        queued_read(res, (int)i, &q[i]);
    qsort(q, n, sizeof *q, queued_order);
    for (i = 0; i < n; i++)
        items[i] = &q[i].d;
    if (gate_lock(st, items, n, true, &open, err) == -1)
        goto fail;
    for (i = 0; i < n; i++)
        if (put_one(st, items[i], err) == -1)
            goto fail;
    if (pg_commit(st, err) == -1)
        goto fail;
    *moved = n;
    if (n < PG_QUEUE_CHUNK) {
        st->queue_pending = false;
        st->queue_checked_ms = time_now_ms();
    }
    if (n > 0)
        log_debug("moved %zu queued deliveries into the tables", n);
    queued_free(q, n);
    free(items);
    PQclear(res);
    return 0;

fail:
    pg_abort(st);
    queued_free(q, n);
    free(items);
    PQclear(res);
    return -1;
}

static bool pg_queue_pending(struct store *base)
{
    struct pg_store *st = pg(base);

    if (!st->queue_pending && time_now_ms() - st->queue_checked_ms >= PG_QUEUE_CHECK_MS)
        st->queue_pending = true;
    return st->queue_pending;
}

/*
 * Record n deliveries in one transaction (see store.h): pass the gate and
 * lock the batch's call ids, then for each delivery decide its outcome and
 * write it. While a rewrite holds the tables (the gate is closed) the batch
 * is queued instead, in the same durable commit, and moved into the tables
 * once the rewrite is over (pg_drain_queued): a webhook is acknowledged
 * whatever a rewrite holds. Queued rows wait first: one chunk of them is
 * moved before each batch. Returns 0 only after COMMIT succeeded. On
 * failure the transaction is rolled back and every item's outcome and
 * delivery_id are zeroed. min_free_bytes does not apply: the server's disk
 * is not ours to measure (a full one answers SQLSTATE 53100, ERR_FULL).
 */
static int pg_put_deliveries(struct store *base, struct delivery *const *items, size_t n,
                             struct err *err)
{
    struct pg_store *st = pg(base);
    size_t i, moved;
    bool open, may_queue;

    if (st->base.read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (check_items(items, n, err) == -1)
        return -1;
    if (n == 0)
        return 0;
    /* A queue that cannot be moved now never costs this batch its commit. */
    if (pg_queue_pending(base)) {
        struct err qerr = {0};

        if (pg_drain_queued(base, &moved, &qerr) == -1) {
            log_warnx("moving queued deliveries failed: %s", qerr.msg);
            st->queue_checked_ms = time_now_ms();
            st->queue_pending = false;
        }
    }
    may_queue = queueable(items, n);
    if (pg_begin(st, false, err) == -1 || gate_lock(st, items, n, !may_queue, &open, err) == -1)
        goto fail;
    if (!open && may_queue) {
        if (queue_put(st, items, n, err) == -1 || pg_commit(st, err) == -1)
            goto fail;
        for (i = 0; i < n; i++) {
            items[i]->outcome = DELIVERY_QUEUED;
            items[i]->delivery_id = 0;
        }
        st->queue_pending = true;
        return 0;
    }
    for (i = 0; i < n; i++)
        if (put_one(st, items[i], err) == -1)
            goto fail;
    if (pg_commit(st, err) == -1)
        goto fail;
    return 0;

fail:
    pg_abort(st);
    for (i = 0; i < n; i++) {
        items[i]->outcome = DELIVERY_STORED;
        items[i]->delivery_id = 0;
    }
    return -1;
}

/* ---- operator reads ---- */

static int pg_backup(struct store *base, const char *dest, bool replace,
                     struct store_backup_info *info, struct err *err)
{
    (void)base;
    (void)dest;
    (void)replace;
    (void)info;
    return err_set(err, ERR_UNSUPPORTED,
                   "backup of a PostgreSQL database: use pg_dump (see docs/scaling.md)");
}

/* Prove the database answers: one cheap round trip (reconnecting first if need be). */
static int pg_check(struct store *base, struct err *err)
{
    return pg_do(pg(base), STMT_CHECK, NULL, NULL, "check", err);
}

/* Count calls, deliveries and rejected deliveries in one statement (one snapshot). */
static int pg_counts(struct store *base, struct store_counts *out, struct err *err)
{
    PGresult *res = pg_run(pg(base), STMT_COUNTS, NULL, NULL, false, "count", err);

    if (res == NULL)
        return -1;
    out->calls = res_int64(res, 0, 0);
    out->deliveries = res_int64(res, 0, 1);
    out->rejected = res_int64(res, 0, 2);
    PQclear(res);
    return 0;
}

/*
 * Call fn for at most limit deliveries, newest (by received time, then id)
 * first, optionally only those with the given outcome; ERR_INVALID for an
 * unknown outcome name. A non-zero return from fn stops the listing.
 */
static int pg_list_deliveries(struct store *base, const char *outcome, unsigned limit,
                              int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                              struct err *err)
{
    struct pg_store *st = pg(base);
    struct delivery_row row;
    struct params p;
    PGresult *res;
    int i;

    if (outcome != NULL && !store_outcome_known(outcome))
        return err_set(err, ERR_INVALID, "unknown delivery outcome");
    params_init(&p, 2);
    p_int(&p, (int64_t)limit);
    if (outcome != NULL)
        p_text(&p, outcome);
    res = pg_run(st, outcome != NULL ? STMT_LIST_OUTCOME : STMT_LIST_ALL, NULL, &p, false,
                 "list deliveries", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        row.id = res_int64(res, i, 0);
        row.received_ms = res_int64(res, i, 1);
        row.source = res_text(res, i, 2, NULL);
        row.peer = res_text(res, i, 3, NULL);
        row.status = (int)res_int64(res, i, 4);
        row.outcome = res_text(res, i, 5, NULL);
        row.reason = res_text(res, i, 6, NULL);
        row.call_id = res_text(res, i, 7, NULL);
        row.body_size = (uint64_t)res_int64(res, i, 8);
        row.body_kept = (uint64_t)res_int64(res, i, 9);
        row.body_sha256 = res_text(res, i, 10, NULL);
        if (fn(&row, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* Copy column 0 of a binary result (a body) to a new buffer with a NUL after it. */
static int fetch_body(PGresult *res, const char *what_missing, char **body, size_t *len,
                      struct err *err)
{
    size_t n;

    if (PQntuples(res) == 0) {
        PQclear(res);
        return err_set(err, ERR_NOT_FOUND, "no such %s", what_missing);
    }
    if (PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return err_set(err, ERR_NOT_FOUND, "no body kept for that %s", what_missing);
    }
    n = (size_t)PQgetlength(res, 0, 0);
    *body = xmalloc(n + 1);
    if (n > 0)
        memcpy(*body, PQgetvalue(res, 0, 0), n);
    (*body)[n] = '\0';
    *len = n;
    PQclear(res);
    return 0;
}

/* The raw body kept for delivery_id (binary-safe, NUL appended); caller frees *body. */
static int pg_delivery_body(struct store *base, int64_t delivery_id, char **body, size_t *len,
                            struct err *err)
{
    struct params p;
    PGresult *res;

    *body = NULL;
    *len = 0;
    params_init(&p, 1);
    p_int(&p, delivery_id);
    res = pg_run(pg(base), STMT_DELIVERY_BODY, NULL, &p, true, "read body", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    return fetch_body(res, "delivery", body, len, err);
}

/* The raw body of the delivery call_id currently comes from; caller frees *body. */
static int pg_call_raw(struct store *base, const char *call_id, char **body, size_t *len,
                       struct err *err)
{
    struct params p;
    PGresult *res;

    *body = NULL;
    *len = 0;
    params_init(&p, 1);
    p_text(&p, call_id);
    res = pg_run(pg(base), STMT_CALL_RAW, NULL, &p, true, "read body", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    return fetch_body(res, "call", body, len, err);
}

/* ---- search ---- */

/* SQL made only of the fixed fragments below, and the values for its parameters. */
struct sql_build {
    struct buf sql;
    struct params p;
    int tsq; /* the parameter holding the query's tsquery text, 0 when no words */
};

static void sb_add(struct sql_build *b, const char *fragment)
{
    buf_puts(&b->sql, fragment);
}

/* A fragment with one parameter number in it ("... = $%d"); a macro, so the format is checked. */
#define sb_addp(b, fmt, param) buf_printf(&(b)->sql, fmt, param)

/* AND the column filters of q, and the number with phone, on alias c. */
static void add_filters(struct sql_build *b, const struct call_query *q)
{
    if (q->direction != NULL)
        sb_addp(b, " AND lower(c.direction) = lower($%d::text)", p_text(&b->p, q->direction));
    if (q->sentiment != NULL)
        sb_addp(b, " AND lower(c.sentiment) = lower($%d::text)", p_text(&b->p, q->sentiment));
    if (q->topic != NULL)
        sb_addp(b, " AND lower(c.topic) = lower($%d::text)", p_text(&b->p, q->topic));
    if (q->agent != NULL)
        sb_addp(b, " AND lower(c.agent_name) = lower($%d::text)", p_text(&b->p, q->agent));
    if (q->follow_up == 1)
        sb_add(b, " AND c.follow_up = 1");
    else if (q->follow_up == 0)
        sb_add(b, " AND coalesce(c.follow_up, 0) = 0");
    if (q->follow_up_status != NULL)
        sb_addp(b, " AND c.follow_up_status = $%d", p_text(&b->p, q->follow_up_status));
    if (q->min_duration_s >= 0)
        sb_addp(b, " AND c.duration_s >= $%d::float8", p_real(&b->p, q->min_duration_s));
    if (q->max_duration_s >= 0)
        sb_addp(b, " AND c.duration_s <= $%d::float8", p_real(&b->p, q->max_duration_s));
    if (q->phone_digits != NULL) {
        int n = p_text(&b->p, q->phone_digits);

        buf_printf(&b->sql, " AND (c.customer_digits = $%d OR c.business_digits = $%d)", n, n);
    }
}

/* AND the date range on alias a's sort_ms. */
static void add_times_as(struct sql_build *b, const char *a, const struct call_query *q,
                         const char *plus)
{
    if (q->from_ms != INT64_MIN)
        buf_printf(&b->sql, " AND %s.sort_ms%s >= $%d::bigint", a, plus, p_int(&b->p, q->from_ms));
    if (q->to_ms != INT64_MAX)
        buf_printf(&b->sql, " AND %s.sort_ms%s < $%d::bigint", a, plus, p_int(&b->p, q->to_ms));
}

static void add_times(struct sql_build *b, const char *a, const struct call_query *q)
{
    add_times_as(b, a, q, "");
}

/*
 * The dates as a test on each row, which no index can answer: beside a
 * word, the word's GIN bitmap then drives. Left to choose, the planner
 * may read the dates' rows from call_search_recent and test the word on
 * each, whose vector is out of line: 20 µs a row, 50 ms for a week of a
 * common word, against 5 ms from the bitmap.
 */
static void add_times_filter(struct sql_build *b, const char *a, const struct call_query *q)
{
    add_times_as(b, a, q, " + 0");
}

/* AND "after the row (ms, id)" on alias a's (sort_ms, id), in the order of the page. */
static void add_after(struct sql_build *b, const char *a, int64_t ms, int64_t id, bool newest)
{
    int pm = p_int(&b->p, ms), pi = p_int(&b->p, id);

    buf_printf(&b->sql, " AND (%s.sort_ms, %s.id) %s ($%d::bigint, $%d::bigint)", a, a,
               newest ? "<" : ">", pm, pi);
}

/* AND "after the previous page's last row". */
static void add_keyset(struct sql_build *b, const char *a, const struct call_query *q, bool newest)
{
    if (q->has_after)
        add_after(b, a, q->after_sort_ms, q->after_id, newest);
}

/* " ORDER BY" alias a's (sort_ms, id) in the order of the page. */
static void add_order(struct sql_build *b, const char *a, bool newest)
{
    buf_printf(&b->sql,
               newest ? " ORDER BY %s.sort_ms DESC, %s.id DESC" : " ORDER BY %s.sort_ms, %s.id", a,
               a);
}

/* Whether q has a filter on a column of calls (beside the dates, which call_search holds). */
static bool has_column_filter(const struct call_query *q)
{
    return q->direction != NULL || q->sentiment != NULL || q->topic != NULL || q->agent != NULL ||
           q->follow_up >= 0 || q->follow_up_status != NULL || q->min_duration_s >= 0 ||
           q->max_duration_s >= 0 || q->phone_digits != NULL;
}

/*
 * How a page of word matches is read. The words' own calls come from the
 * GIN index of call_search; when they are few (at most PG_FEW_MATCHES in
 * the dates) they are all taken and sorted. When there are more, the
 * newest (or oldest) PG_WALK_ROWS calls are walked first, each checked
 * for the words, since a common word is soon found that way; the rest of
 * the page, if the walk did not fill it, comes from the index again,
 * restricted to the calls past the walk. Either step reads a bounded
 * number of rows, so a word that only old calls hold costs no more than
 * a walk and a sort of its matches.
 */
#define PG_FEW_MATCHES 1000
#define PG_WALK_ROWS   500

/* The columns of a page row and the join of call_search m (id, sort_ms) to calls c. */
static void add_page_from(struct sql_build *b)
{
    sb_add(b, "SELECT " OUT_COLUMNS " FROM calls c JOIN (");
}

/*
 * The page's rows among the word matches: every match (in the dates,
 * after the keyset or after (ms, id) when has_from) sorted, the column
 * filters checked on calls; at most want rows.
 */
static void build_sorted(struct sql_build *b, const struct call_query *q, bool has_from, int64_t ms,
                         int64_t id, int64_t want)
{
    bool newest = q->sort != CALL_SORT_OLDEST;

    add_page_from(b);
    buf_printf(&b->sql,
               "SELECT s.id, s.sort_ms FROM (SELECT s.id, s.sort_ms FROM call_search s"
               " WHERE s.search @@ $%d::tsquery",
               b->tsq);
    add_times_filter(b, "s", q);
    if (has_from)
        add_after(b, "s", ms, id, newest);
    else
        add_keyset(b, "s", q, newest);
    /*
     * OFFSET 0: the matches come from the GIN index, never from a walk of
     * call_search_recent the planner may think short. They are sorted
     * before calls is joined, and without other filters cut to the page:
     * only the page's calls are read.
     */
    sb_add(b, " OFFSET 0) s");
    add_order(b, "s", newest);
    if (!has_column_filter(q))
        sb_addp(b, " LIMIT $%d", p_int(&b->p, want));
    sb_add(b, ") m ON c.id = m.id WHERE true");
    add_filters(b, q);
    add_order(b, "m", newest);
    sb_addp(b, " LIMIT $%d", p_int(&b->p, want));
}

/* The page's rows among the PG_WALK_ROWS calls next in the page's order; at most want. */
static void build_walk(struct sql_build *b, const struct call_query *q, int64_t want)
{
    bool newest = q->sort != CALL_SORT_OLDEST;

    add_page_from(b);
    sb_add(b, "SELECT s.id, s.sort_ms, s.search FROM call_search s WHERE true");
    add_times(b, "s", q);
    add_keyset(b, "s", q, newest);
    add_order(b, "s", newest);
    buf_printf(&b->sql, " LIMIT %d) m ON c.id = m.id WHERE m.search @@ $%d::tsquery", PG_WALK_ROWS,
               b->tsq);
    add_filters(b, q);
    add_order(b, "m", newest);
    sb_addp(b, " LIMIT $%d", p_int(&b->p, want));
}

/* The last of the PG_WALK_ROWS calls build_walk() walks: (sort_ms, id), no row when fewer. */
static void build_walk_end(struct sql_build *b, const struct call_query *q)
{
    bool newest = q->sort != CALL_SORT_OLDEST;

    sb_add(b, "SELECT s.sort_ms, s.id FROM call_search s WHERE true");
    add_times(b, "s", q);
    add_keyset(b, "s", q, newest);
    add_order(b, "s", newest);
    buf_printf(&b->sql, " OFFSET %d LIMIT 1", PG_WALK_ROWS - 1);
}

/*
 * The page without words, or by relevance: newest and oldest walk
 * (sort_ms, id) with every filter checked (calls_recent, or a filter's
 * index that ends in the same key); relevance ranks the newest
 * STORE_TOTAL_CAP text matches in the dates, then filters, with offset
 * paging. At most limit + 1 calls.
 */
static void build_page(struct sql_build *b, const struct call_query *q)
{
    bool newest = q->sort != CALL_SORT_OLDEST;

    if (q->sort == CALL_SORT_RELEVANCE) {
        sb_add(b, "SELECT " OUT_COLUMNS);
        buf_printf(&b->sql, ", ts_rank(" RANK_WEIGHTS ", w.search, $%d::tsquery) AS score", b->tsq);
        buf_printf(&b->sql,
                   " FROM (SELECT s.id, s.search FROM call_search s WHERE s.search @@ $%d::tsquery",
                   b->tsq);
        add_times(b, "s", q);
        buf_printf(&b->sql, " ORDER BY s.sort_ms DESC, s.id DESC LIMIT %d) w", STORE_TOTAL_CAP);
        sb_add(b, " JOIN calls c ON c.id = w.id WHERE true");
        add_filters(b, q);
        sb_add(b, " ORDER BY score DESC, c.sort_ms DESC, c.id DESC");
        sb_addp(b, " LIMIT $%d", p_int(&b->p, (int64_t)q->limit + 1));
        sb_addp(b, " OFFSET $%d", p_int(&b->p, q->offset));
        return;
    }
    sb_add(b, "SELECT " OUT_COLUMNS " FROM calls c WHERE true");
    add_filters(b, q);
    add_times(b, "c", q);
    add_keyset(b, "c", q, newest);
    add_order(b, "c", newest);
    sb_addp(b, " LIMIT $%d", p_int(&b->p, (int64_t)q->limit + 1));
}

/*
 * Every match of q (ignoring the continuation), counted up to cap: the
 * words' calls in the dates alone from call_search (with words_only, or
 * when q has no other filter), or joined to calls for its filters.
 */
static void build_count(struct sql_build *b, const struct call_query *q, int64_t cap,
                        bool words_only)
{
    if (b->tsq == 0) {
        sb_add(b, "SELECT count(*) FROM (SELECT 1 FROM calls c WHERE true");
        add_filters(b, q);
        add_times(b, "c", q);
    } else if (words_only || !has_column_filter(q)) {
        buf_printf(
            &b->sql,
            "SELECT count(*) FROM (SELECT 1 FROM call_search s WHERE s.search @@ $%d::tsquery",
            b->tsq);
        add_times_filter(b, "s", q);
    } else {
        buf_printf(&b->sql,
                   "SELECT count(*) FROM (SELECT 1 FROM call_search s JOIN calls c ON c.id = s.id"
                   " WHERE s.search @@ $%d::tsquery",
                   b->tsq);
        add_times(b, "s", q);
        add_filters(b, q);
    }
    buf_printf(&b->sql, " LIMIT %lld) n", (long long)cap);
}

/* Plans that read the words' calls by a bitmap of the GIN index. */
#define PG_BITMAP_ONLY "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off"

/*
 * Run b inside a savepoint, with settings undone after it: with bitmap,
 * plans that read the GIN index by a bitmap (PG_BITMAP_ONLY: the planner
 * cannot know that a word no statistics name is rare, and would walk the
 * table for it); with timed, at most PG_COUNT_MS (statement_timeout).
 * 1 with *res set (the caller clears it), 0 when a timed one ran out of
 * time, -1 on error.
 */
static int run_scoped(struct pg_store *st, struct sql_build *b, bool bitmap, bool timed,
                      PGresult **res, struct err *err)
{
    char set[200];
    struct err e = {0};

    snprintf(set, sizeof set, "SAVEPOINT phonely_scoped%s%s",
             timed ? "; SET LOCAL statement_timeout = " PG_COUNT_MS : "",
             bitmap ? "; " PG_BITMAP_ONLY : "");
    if (pg_do(st, STMT_COUNT_, set, NULL, "search", err) == -1)
        return -1;
    if ((*res = pg_run(st, STMT_COUNT_, b->sql.data, &b->p, false, "search", &e)) == NULL) {
        if (!timed || e.code != ERR_BUSY || PQstatus(st->conn) == CONNECTION_BAD) {
            *err = e;
            return -1;
        }
        /* statement_timeout: undo it */
        return pg_do(st, STMT_COUNT_, "ROLLBACK TO SAVEPOINT phonely_scoped", NULL, "search", err);
    }
    if (pg_do(st, STMT_COUNT_, "ROLLBACK TO SAVEPOINT phonely_scoped", NULL, "search", err) == -1) {
        PQclear(*res);
        *res = NULL;
        return -1;
    }
    return 1;
}

/*
 * A count (run_scoped, timed): 1 with *n set, 0 when it ran out of time
 * (the caller keeps a lower bound), -1 on error.
 */
static int timed_count(struct pg_store *st, struct sql_build *b, bool bitmap, int64_t *n,
                       struct err *err)
{
    PGresult *res = NULL;
    int rc = run_scoped(st, b, bitmap, true, &res, err);

    if (rc == 1) {
        *n = first_int64(res);
        PQclear(res);
    }
    return rc;
}

/*
 * Snippets, made here as SQLite's snippet() makes them from its index: the
 * best passage of about a dozen words from the best column, the hits in
 * [brackets], "…" where the column goes on, over search_columns() split
 * into words by store_words. A hit is a phrase's words in a row; a passage
 * scores 1000 for each phrase it shows and 1 for each repeat, and a
 * passage that starts a sentence (after ". " or ": ") gains 100 (120 at
 * the column's start).
 */
#define SNIPPET_WORDS 12

struct sn_word {
    size_t start, end; /* in the column's text */
    size_t off, n;     /* the folded word, in sn_col.fold */
};

struct sn_hit {
    size_t pos, len, phrase;
};

struct sn_col {
    char *text;
    size_t len;
    struct sn_word *w;
    size_t n, cap;
    struct buf fold;
    struct sn_hit *hit;
    size_t nhit;
};

static void sn_word(void *arg, const struct store_word *word)
{
    struct sn_col *c = arg;

    if (c->n == c->cap) {
        c->cap = c->cap != 0 ? c->cap * 2 : 64;
        c->w = xreallocarray(c->w, c->cap, sizeof *c->w);
    }
    c->w[c->n++] = (struct sn_word){word->start, word->end, c->fold.len, word->n};
    buf_append(&c->fold, word->w, word->n);
}

/* Every hit of a phrase in c, in order of position (then phrase). */
static void sn_find_hits(struct sn_col *c, const struct phrases *ph)
{
    for (size_t pos = 0; pos < c->n; pos++)
        for (size_t k = 0; k < ph->n; k++) {
            const struct phrase *p = &ph->p[k];
            size_t j = 0;

            while (j < p->n && pos + j < c->n && c->w[pos + j].n == p->w[j].len &&
                   memcmp(c->fold.data + c->w[pos + j].off, p->w[j].data, p->w[j].len) == 0)
                j++;
            if (j < p->n)
                continue;
            c->hit = xreallocarray(c->hit, c->nhit + 1, sizeof *c->hit);
            c->hit[c->nhit++] = (struct sn_hit){pos, p->n, k};
        }
}

/*
 * The score of the passage of c that starts at word from; with adj, where
 * the passage should start to centre the hits it holds.
 */
static unsigned sn_score(const struct sn_col *c, size_t from, unsigned char *seen, size_t nphrase,
                         size_t *adj)
{
    size_t first = SIZE_MAX, last = 0;
    unsigned score = 0;

    memset(seen, 0, nphrase);
    for (size_t i = 0; i < c->nhit; i++) {
        const struct sn_hit *h = &c->hit[i];

        if (h->pos < from || h->pos >= from + SNIPPET_WORDS)
            continue;
        score += seen[h->phrase] ? 1 : 1000;
        seen[h->phrase] = 1;
        if (first == SIZE_MAX)
            first = h->pos;
        last = h->pos + h->len;
    }
    if (adj != NULL) {
        long long a = (long long)first - ((long long)SNIPPET_WORDS - (long long)(last - first)) / 2;

        if (a + SNIPPET_WORDS > (long long)c->n)
            a = (long long)c->n - SNIPPET_WORDS;
        *adj = a < 0 ? 0 : (size_t)a;
    }
    return score;
}

/* Whether word i of c starts a sentence: the first word, or one after ". " or ": ". */
static bool sn_sentence_start(const struct sn_col *c, size_t i)
{
    size_t k = c->w[i].start;

    if (i == 0)
        return true;
    while (k > 0 && strchr(" \t\n\r", c->text[k - 1]) != NULL && c->text[k - 1] != '\0')
        k--;
    return k < c->w[i].start && k > 0 && (c->text[k - 1] == '.' || c->text[k - 1] == ':');
}

/*
 * The passage of c from word from, each run of overlapping hits in one
 * pair of brackets.
 */
static char *sn_render(const struct sn_col *c, size_t from)
{
    size_t last = from + SNIPPET_WORDS - 1, copied = from > 0 ? c->w[from].start : 0;
    size_t(*run)[2] = xcalloc(c->nhit > 0 ? c->nhit : 1, sizeof *run), nrun = 0, r = 0;
    bool open = false;
    struct buf out = {0};

    for (size_t k = 0; k < c->nhit; k++) {
        size_t s = c->hit[k].pos, e = s + c->hit[k].len - 1;

        if (nrun > 0 && s <= run[nrun - 1][1]) {
            if (e > run[nrun - 1][1])
                run[nrun - 1][1] = e;
        } else {
            run[nrun][0] = s;
            run[nrun++][1] = e;
        }
    }
    if (last >= c->n)
        last = c->n - 1;
    buf_puts(&out, from > 0 ? "\xe2\x80\xa6" : "");
    for (size_t i = from; i <= last; i++) {
        while (r < nrun && run[r][1] < i)
            r++;
        if (!open && r < nrun && run[r][0] <= i) {
            buf_append(&out, c->text + copied, c->w[i].start - copied);
            buf_puts(&out, "[");
            copied = c->w[i].start;
            open = true;
        }
        if (open && (i == run[r][1] || i == last)) {
            buf_append(&out, c->text + copied, c->w[i].end - copied);
            buf_puts(&out, "]");
            copied = c->w[i].end;
            open = false;
        }
    }
    if (last + 1 >= c->n) {
        buf_append(&out, c->text + copied, c->len - copied);
    } else {
        buf_append(&out, c->text + copied, c->w[last].end - copied);
        buf_puts(&out, "\xe2\x80\xa6");
    }
    free(run);
    return buf_steal(&out, NULL);
}

/* The snippet of a call whose texts are t for the phrases ph; NULL when no column holds a hit. */
static char *call_snippet(struct store_words *words, const struct call_texts *t,
                          const struct phrases *ph, struct err *err, int *rc)
{
    struct sn_col col[SC_COLUMNS] = {{0}};
    char *text[SC_COLUMNS], *out = NULL;
    unsigned char *seen = xcalloc(ph->n > 0 ? ph->n : 1, 1);
    unsigned best = 0;
    size_t best_col = 0, best_from = 0;

    search_columns(t, text);
    for (size_t i = 0; i < SC_COLUMNS && *rc == 0; i++) {
        struct sn_col *c = &col[i];

        c->text = text[i];
        c->len = text[i] != NULL ? strlen(text[i]) : 0;
        if (store_words_each(words, c->text, c->len, sn_word, c, err) == -1) {
            *rc = -1;
            break;
        }
        sn_find_hits(c, ph);
        for (size_t k = 0; k < c->nhit; k++) {
            size_t at = c->hit[k].pos, adj, s = 0;
            unsigned score = sn_score(c, at, seen, ph->n, &adj);

            if (score > best) {
                best = score;
                best_col = i;
                best_from = adj;
            }
            if (c->n <= SNIPPET_WORDS)
                continue;
            for (size_t j = 1; j <= at; j++)
                if (sn_sentence_start(c, j))
                    s = j;
            if (s < at) {
                score = sn_score(c, s, seen, ph->n, NULL) + (s == 0 ? 120 : 100);
                if (score > best) {
                    best = score;
                    best_col = i;
                    best_from = s;
                }
            }
        }
    }
    if (*rc == 0 && best > 0)
        out = sn_render(&col[best_col], best_from);
    for (size_t i = 0; i < SC_COLUMNS; i++) {
        free(col[i].w);
        free(col[i].hit);
        buf_free(&col[i].fold);
        free(text[i]);
    }
    free(seen);
    return out;
}

/* Add each listed call's snippet: their texts in one query, the passages made here. */
static int add_snippets(struct pg_store *st, const struct phrases *ph, cJSON *calls,
                        const int64_t *ids, size_t n, struct err *err)
{
    struct store_words *words = pg_words(st, err);
    struct buf arr = {0};
    struct params p;
    PGresult *res;
    int rc = 0;

    if (n == 0 || ph->n == 0)
        return 0;
    if (words == NULL)
        return -1;
    buf_puts(&arr, "{");
    for (size_t i = 0; i < n; i++)
        buf_printf(&arr, "%s%lld", i > 0 ? "," : "", (long long)ids[i]);
    buf_puts(&arr, "}");
    params_init(&p, 1);
    p_text(&p, arr.data);
    res = pg_run(st, STMT_SNIPPET_TEXTS, NULL, &p, false, "snippet", err);
    params_free(&p);
    buf_free(&arr);
    if (res == NULL)
        return -1;
    /* Each row names its call by its place in the list (1 is the first). */
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        cJSON *item = cJSON_GetArrayItem(calls, (int)res_int64(res, r, 0) - 1);
        const struct call_texts t = texts_of_row(res, r, 1);
        char *snip = item != NULL ? call_snippet(words, &t, ph, err, &rc) : NULL;

        if (snip != NULL)
            store_json_put_string(item, "snippet", snip);
        free(snip);
    }
    PQclear(res);
    return rc;
}

/* The page's rows with a phone number: the planner drives by the number's own index. */
static void build_phone(struct sql_build *b, const struct call_query *q, int64_t want)
{
    bool newest = q->sort != CALL_SORT_OLDEST;

    buf_printf(&b->sql,
               "SELECT " OUT_COLUMNS " FROM calls c JOIN call_search s ON s.id = c.id"
               " WHERE s.search @@ $%d::tsquery",
               b->tsq);
    add_filters(b, q);
    add_times(b, "c", q);
    add_keyset(b, "c", q, newest);
    add_order(b, "c", newest);
    sb_addp(b, " LIMIT $%d", p_int(&b->p, want));
}

/* Start b over for a statement of the search whose tsquery text is tsq (NULL: no words). */
static void sb_reset(struct sql_build *b, const char *tsq)
{
    buf_free(&b->sql);
    params_free(&b->p);
    memset(b, 0, sizeof *b);
    params_init(&b->p, 24);
    if (tsq != NULL)
        b->tsq = p_text(&b->p, tsq);
}

/* What one search has read so far. */
struct search_read {
    struct call_page *page;
    const struct call_query *q;
    int64_t now_ms;
    int64_t ids[STORE_SEARCH_LIMIT_MAX];
    size_t rows; /* on the page */
};

/*
 * Run b and add its rows to the page, up to the limit; a row past it
 * sets page->more. *got (when not NULL) gets how many rows b returned.
 */
static int read_rows(struct pg_store *st, struct sql_build *b, struct search_read *r, int64_t *got,
                     struct err *err)
{
    PGresult *res = pg_run(st, STMT_COUNT_, b->sql.data, &b->p, false, "search", err);
    int i;

    if (res == NULL)
        return -1;
    if (got != NULL)
        *got = PQntuples(res);
    for (i = 0; i < PQntuples(res); i++) {
        struct store_row row = res_row(res, i);

        if (r->rows == r->q->limit) {
            r->page->more = true;
            break;
        }
        store_page_add(r->page, &row, r->q->detail, r->now_ms);
        r->ids[r->rows++] = r->page->last_id;
    }
    PQclear(res);
    return 0;
}

/*
 * The page of a word search in date order (see PG_FEW_MATCHES): few
 * matches sorted, else a walk and, when it falls short, the matches past
 * it sorted. *few gets the words' calls in the dates, up to
 * PG_FEW_MATCHES + 1 (up to STORE_TOTAL_CAP + 1 when q has no other
 * filter: then it is the total), or -1 when they were not counted.
 */
struct match {
    int64_t sort_ms, id;
};

static int match_newest(const void *x, const void *y)
{
    const struct match *a = x, *b = y;

    if (a->sort_ms != b->sort_ms)
        return a->sort_ms < b->sort_ms ? 1 : -1;
    return a->id < b->id ? 1 : a->id > b->id ? -1 : 0;
}

static int match_oldest(const void *x, const void *y)
{
    return -match_newest(x, y);
}

/*
 * Words within dates and no other filter, in one pass over the words' GIN
 * bitmap: their calls in the dates, up to PG_FEW_MATCHES + 1. When that
 * is all of them (1 returned, *few their number, which is the total),
 * they are sorted here, the page's are cut after the keyset and read by
 * id; more of them: 0, and nothing is added. Reading the calls to count
 * them and then again to sort them would pass over the bitmap twice.
 */
static int read_dated_words(struct pg_store *st, struct sql_build *b, const char *tsq,
                            struct search_read *r, int64_t *few, struct err *err)
{
    const struct call_query *q = r->q;
    bool newest = q->sort != CALL_SORT_OLDEST;
    struct match *m;
    struct buf ids = {0};
    PGresult *res;
    int n, rc, taken = 0;

    sb_reset(b, tsq);
    buf_printf(&b->sql, "SELECT s.sort_ms, s.id FROM call_search s WHERE s.search @@ $%d::tsquery",
               b->tsq);
    add_times_filter(b, "s", q);
    buf_printf(&b->sql, " LIMIT %d", PG_FEW_MATCHES + 1);
    if (run_scoped(st, b, true, false, &res, err) == -1)
        return -1;
    if ((n = PQntuples(res)) > PG_FEW_MATCHES) {
        PQclear(res);
        return 0;
    }
    *few = n;
    m = xcalloc(n > 0 ? (size_t)n : 1, sizeof *m);
    for (int i = 0; i < n; i++)
        m[i] = (struct match){res_int64(res, i, 0), res_int64(res, i, 1)};
    PQclear(res);
    qsort(m, (size_t)n, sizeof *m, newest ? match_newest : match_oldest);
    buf_puts(&ids, "{");
    for (int i = 0; i < n && taken <= (int)q->limit; i++) {
        struct match key = {q->after_sort_ms, q->after_id};

        if (q->has_after && (newest ? match_newest : match_oldest)(&m[i], &key) <= 0)
            continue;
        buf_printf(&ids, "%s%lld", taken++ > 0 ? "," : "", (long long)m[i].id);
    }
    buf_puts(&ids, "}");
    free(m);
    sb_reset(b, NULL);
    buf_printf(&b->sql,
               "SELECT " OUT_COLUMNS " FROM unnest($%d::bigint[]) WITH ORDINALITY AS k(id, ord)"
               " JOIN calls c ON c.id = k.id ORDER BY k.ord",
               p_text(&b->p, ids.data));
    rc = taken > 0 ? read_rows(st, b, r, NULL, err) : 0;
    buf_free(&ids);
    return rc == 0 ? 1 : -1;
}

static int read_words(struct pg_store *st, struct sql_build *b, const char *tsq,
                      struct search_read *r, int64_t *few, struct err *err)
{
    const struct call_query *q = r->q;
    int64_t want = (int64_t)q->limit + 1, got = 0;
    PGresult *res;
    int counted;

    if (q->phone_digits != NULL) {
        *few = -1;
        sb_reset(b, tsq);
        build_phone(b, q, want);
        return read_rows(st, b, r, NULL, err);
    }
    if (!has_column_filter(q) && (q->from_ms != INT64_MIN || q->to_ms != INT64_MAX)) {
        int done = read_dated_words(st, b, tsq, r, few, err);

        if (done != 0)
            return done == 1 ? 0 : -1;
        *few = -1;
    }
    /* Without other filters this count is the total as well: up to the cap, then. */
    sb_reset(b, tsq);
    build_count(b, q, has_column_filter(q) ? PG_FEW_MATCHES + 1 : STORE_TOTAL_CAP + 1, true);
    if ((counted = timed_count(st, b, true, few, err)) == -1)
        return -1;
    if (counted == 0)
        *few = -1;
    sb_reset(b, tsq);
    if (*few >= 0 && *few <= PG_FEW_MATCHES) {
        build_sorted(b, q, false, 0, 0, want);
        return read_rows(st, b, r, NULL, err);
    }
    build_walk(b, q, want);
    if (read_rows(st, b, r, &got, err) == -1)
        return -1;
    if (got == want)
        return 0;
    sb_reset(b, NULL);
    build_walk_end(b, q);
    if ((res = pg_run(st, STMT_COUNT_, b->sql.data, &b->p, false, "search", err)) == NULL)
        return -1;
    if (PQntuples(res) > 0) {
        int64_t ms = res_int64(res, 0, 0), id = res_int64(res, 0, 1);

        PQclear(res);
        sb_reset(b, tsq);
        build_sorted(b, q, true, ms, id, want - got);
        return read_rows(st, b, r, NULL, err);
    }
    PQclear(res);
    return 0;
}

/*
 * One page of calls matching q (see store.h), in one read-only snapshot:
 * the page (limit + 1 rows, to know whether there are more), snippets,
 * then the total (skipped when the first page holds every match, or when
 * the words' count already is it; up to STORE_TOTAL_CAP; a lower bound
 * with total_exact false when counting takes over PG_COUNT_MS).
 * page->calls belongs to the caller; on -1 it is NULL.
 */
static int pg_search_calls(struct store *base, const struct call_query *q, int64_t now_ms,
                           struct call_page *page, struct err *err)
{
    struct pg_store *st = pg(base);
    struct sql_build b = {0};
    struct search_read *r = xcalloc(1, sizeof *r);
    struct phrases ph = {0};
    int64_t n = 0, few = -1;
    bool exact = true;
    char *tsq = NULL;
    int counted;

    memset(page, 0, sizeof *page);
    page->calls = store_json_new(cJSON_CreateArray());
    r->page = page;
    r->q = q;
    r->now_ms = now_ms;
    if (pg_begin(st, true, err) == -1)
        goto fail;
    if (q->words != NULL) {
        if (phrases_make(st, q->words, &ph, err) == -1)
            goto fail;
        tsq = phrases_tsquery(&ph);
    }
    if (tsq == NULL || tsq[0] != '\0') {
        if (tsq != NULL && q->sort != CALL_SORT_RELEVANCE) {
            if (read_words(st, &b, tsq, r, &few, err) == -1)
                goto fail;
        } else {
            sb_reset(&b, tsq);
            build_page(&b, q);
            if (read_rows(st, &b, r, NULL, err) == -1)
                goto fail;
        }
        if (tsq != NULL && add_snippets(st, &ph, page->calls, r->ids, r->rows, err) == -1)
            goto fail;
        if (!store_page_needs_count(q, page)) {
            n = (int64_t)r->rows;
        } else if (tsq != NULL && few >= 0 && !has_column_filter(q)) {
            n = few; /* the words' calls in the dates are the matches */
        } else {
            sb_reset(&b, tsq);
            build_count(&b, q, STORE_TOTAL_CAP + 1, false);
            counted = timed_count(st, &b, tsq != NULL && !has_column_filter(q), &n, err);
            if (counted == -1)
                goto fail;
            if (counted == 0) {
                /* out of time: what this page proves there is at least */
                n = (int64_t)r->rows + (page->more ? 1 : 0) +
                    (q->sort == CALL_SORT_RELEVANCE ? (int64_t)q->offset : 0);
                exact = false;
            }
        }
    }
    store_page_total(page, n, exact);
    if (pg_commit(st, err) == -1)
        goto fail;
    buf_free(&b.sql);
    params_free(&b.p);
    phrases_free(&ph);
    free(tsq);
    free(r);
    return 0;

fail:
    buf_free(&b.sql);
    params_free(&b.p);
    pg_abort(st);
    cJSON_Delete(page->calls);
    memset(page, 0, sizeof *page);
    phrases_free(&ph);
    free(tsq);
    free(r);
    return -1;
}

/* ---- one call ---- */

/* deliveries: [{id, receivedAt, source, status, outcome}] for call_id, oldest first. */
static cJSON *call_deliveries(struct pg_store *st, const char *call_id, struct err *err)
{
    struct params p;
    PGresult *res;
    cJSON *arr;
    int i;

    params_init(&p, 1);
    p_text(&p, call_id);
    res = pg_run(st, STMT_CALL_DELIVERIES, NULL, &p, false, "read deliveries", err);
    params_free(&p);
    if (res == NULL)
        return NULL;
    arr = store_json_new(cJSON_CreateArray());
    for (i = 0; i < PQntuples(res); i++) {
        struct store_row r = res_row(res, i);

        store_json_push(arr, store_history_json(&r));
    }
    PQclear(res);
    return arr;
}

/*
 * Everything stored about call_id (see store.h), in one snapshot: the
 * call's columns, its transcript when asked, extra, and its delivery
 * history. NULL with ERR_NOT_FOUND or a storage error; caller owns it.
 */
static cJSON *pg_get_call(struct store *base, const char *call_id, bool with_transcript,
                          struct err *err)
{
    struct pg_store *st = pg(base);
    struct full_row f = {0};
    struct store_row row;
    struct params p;
    cJSON *obj = NULL, *deliveries, *check;

    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    if (pg_begin(st, true, err) == -1)
        return NULL;
    params_init(&p, 1);
    p_text(&p, call_id);
    f.res = pg_run(st, STMT_GET_CALL, NULL, &p, false, "read call", err);
    params_free(&p);
    if (f.res == NULL)
        goto fail;
    if (PQntuples(f.res) == 0) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        goto fail;
    }
    if (!PQgetisnull(f.res, 0, FC_BODY)) {
        f.body = PQunescapeBytea((const unsigned char *)PQgetvalue(f.res, 0, FC_BODY), &f.body_len);
        if (f.body == NULL)
            fatalx("out of memory decoding a body");
    }
    if (!PQgetisnull(f.res, 0, FC_TURNS)) {
        check = cJSON_Parse(PQgetvalue(f.res, 0, FC_TURNS));
        f.turns_bad = check == NULL;
        cJSON_Delete(check);
    }
    row.ops = &full_ops;
    row.impl = &f;
    row.base = 0;
    row.n = 0;
    obj = store_call_json(&row, CALL_DETAIL_FOLLOW_UP, true, 0);
    store_call_json_full(obj, &row, with_transcript);
    if ((deliveries = call_deliveries(st, call_id, err)) == NULL)
        goto fail;
    store_json_put(obj, "deliveries", deliveries);
    if (pg_commit(st, err) == -1)
        goto fail;
    PQfreemem(f.body);
    PQclear(f.res);
    return obj;

fail:
    PQfreemem(f.body);
    PQclear(f.res);
    pg_abort(st);
    cJSON_Delete(obj);
    return NULL;
}

/* A readable transcript of call_id (see store.h); caller frees. */
static char *pg_call_transcript_text(struct store *base, const char *call_id, struct err *err)
{
    struct params p;
    PGresult *res;
    char *text = NULL;

    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    params_init(&p, 1);
    p_text(&p, call_id);
    res = pg_run(pg(base), STMT_TRANSCRIPT, NULL, &p, false, "read transcript", err);
    params_free(&p);
    if (res == NULL)
        return NULL;
    if (PQntuples(res) > 0) {
        struct store_row r = res_row(res, 0);

        text = store_transcript_text(&r);
        if (text == NULL)
            err_set(err, ERR_NOT_FOUND, "that call has no transcript");
    } else {
        err_set(err, ERR_NOT_FOUND, "no such call");
    }
    PQclear(res);
    return text;
}

/*
 * Resolve (or reopen) call_id's follow-up (see store.h and
 * store_follow_up_next) in one transaction, the row locked (FOR UPDATE)
 * from reading it to writing it. *out gets the followUp object afterwards.
 */
static int pg_set_follow_up(struct store *base, const char *call_id, bool resolved,
                            const char *note, const char *by, int64_t now_ms, cJSON **out,
                            struct err *err)
{
    struct pg_store *st = pg(base);
    struct store_follow_up cur = {0}, next;
    struct params p = {0};
    PGresult *res = NULL;
    int64_t id;

    if (out != NULL)
        *out = NULL;
    if (call_id == NULL && !st->base.read_only)
        return err_set(err, ERR_NOT_FOUND, "no such call");
    if (pg_write_begin(st, err) == -1)
        return -1;
    params_init(&p, 5);
    p_text(&p, call_id);
    res = pg_run(st, STMT_FOLLOW_UP_GET, NULL, &p, false, "read follow-up", err);
    params_free(&p);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        goto fail;
    }
    /* cur borrows from res, which lives until the end */
    id = res_int64(res, 0, 0);
    cur.flagged = res_int64(res, 0, 1) == 1;
    cur.status = res_text(res, 0, 2, NULL);
    cur.reason = res_text(res, 0, 3, NULL);
    cur.resolved_known = !res_null(res, 0, 4);
    cur.resolved_ms = res_int64(res, 0, 4);
    cur.by = res_text(res, 0, 5, NULL);
    cur.note = res_text(res, 0, 6, NULL);
    if (store_follow_up_next(&cur, resolved, note, by, now_ms, &next)) {
        params_init(&p, 5);
        p_int(&p, id);
        p_text(&p, next.status);
        if (next.resolved_known)
            p_int(&p, next.resolved_ms);
        else
            p_text(&p, NULL);
        p_text(&p, next.by);
        p_text(&p, next.note);
        if (pg_do(st, STMT_FOLLOW_UP_SET, NULL, &p, "set follow-up", err) == -1) {
            params_free(&p);
            goto fail;
        }
        params_free(&p);
    }
    if (pg_commit(st, err) == -1)
        goto fail;
    if (out != NULL)
        *out = store_follow_up_json(&next, true);
    PQclear(res);
    return 0;

fail:
    PQclear(res);
    pg_abort(st);
    return -1;
}

/* ---- statistics, list items ---- */

/*
 * Run a chunked read of stmt in (sort_ms, id) order: params p_first..
 * come first, then the keyset of the last row read (its columns ms_col,
 * id_col), PG_CHUNK rows at a time, each row handed to fn. In the open
 * snapshot of the caller.
 */
static int chunked(struct pg_store *st, enum stmt_id id, const int64_t *first, int nfirst,
                   int ms_col, int id_col, void (*fn)(void *ctx, const struct store_row *r),
                   void *ctx, const char *what, struct err *err)
{
    int64_t after_ms = INT64_MIN, after_id = INT64_MIN;
    struct params p;
    PGresult *res;
    int i, rows;

    do {
        params_init(&p, nfirst + 2);
        for (i = 0; i < nfirst; i++)
            p_int(&p, first[i]);
        p_int(&p, after_ms);
        p_int(&p, after_id);
        res = pg_run(st, id, NULL, &p, false, what, err);
        params_free(&p);
        if (res == NULL)
            return -1;
        rows = PQntuples(res);
        for (i = 0; i < rows; i++) {
            struct store_row r = res_row(res, i);

            fn(ctx, &r);
        }
        if (rows > 0) {
            after_ms = res_int64(res, rows - 1, ms_col);
            after_id = res_int64(res, rows - 1, id_col);
        }
        PQclear(res);
    } while (rows == PG_CHUNK);
    return 0;
}

static void stats_row(void *ctx, const struct store_row *r)
{
    store_stats_add(ctx, r);
}

static void items_row(void *ctx, const struct store_row *r)
{
    store_items_add(ctx, r);
}

/* Statistics over sort_ms in [from_ms, to_ms) (see store.h), in one snapshot. */
static cJSON *pg_call_stats(struct store *base, int64_t from_ms, int64_t to_ms, unsigned top_n,
                            struct err *err)
{
    struct pg_store *st = pg(base);
    struct store_stats *stats;
    int64_t range[2] = {from_ms, to_ms};

    if (pg_begin(st, true, err) == -1)
        return NULL;
    stats = store_stats_new();
    if (chunked(st, STMT_STATS_ROWS, range, 2, 0, 8, stats_row, stats, "statistics", err) == -1 ||
        pg_commit(st, err) == -1) {
        pg_abort(st);
        store_stats_free(stats);
        return NULL;
    }
    return store_stats_finish(stats, top_n);
}

/* The most frequent entries of a list column over [from_ms, to_ms) (see store.h). */
static cJSON *pg_top_list_items(struct store *base, int column, int64_t from_ms, int64_t to_ms,
                                bool open_only, unsigned limit, struct err *err)
{
    struct pg_store *st = pg(base);
    struct store_items *items;
    int64_t first[3] = {from_ms, to_ms, open_only};

    if (pg_begin(st, true, err) == -1)
        return NULL;
    items = store_items_new();
    if (chunked(st, column == STORE_LIST_UNANSWERED ? STMT_LIST_UNANSWERED : STMT_LIST_ACTION_ITEMS,
                first, 3, 2, 0, items_row, items, "list items", err) == -1 ||
        pg_commit(st, err) == -1) {
        pg_abort(st);
        store_items_free(items);
        return NULL;
    }
    return store_items_finish(items, limit);
}

/* ---- completion ---- */

/* Call ids starting with prefix, newest first. */
static int complete_ids(struct pg_store *st, const char *prefix, unsigned limit, cJSON *values,
                        bool *has_more, struct err *err)
{
    char *end = store_prefix_end(prefix);
    struct params p;
    PGresult *res;
    int i;

    params_init(&p, 3);
    p_text(&p, prefix);
    p_text(&p, end);
    p_int(&p, (int64_t)limit + 1);
    res = pg_run(st, STMT_COMPLETE_ID, NULL, &p, false, "complete", err);
    params_free(&p);
    free(end);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        if ((unsigned)i == limit) {
            *has_more = true;
            break;
        }
        store_json_push(values, cJSON_CreateString(res_text(res, i, 0, NULL)));
    }
    PQclear(res);
    return 0;
}

/* Add digits/shown to values unless seen; false when values is full (then *has_more). */
static bool phone_add(char **seen, size_t *nseen, unsigned limit, const char *digits,
                      const char *shown, cJSON *values, bool *has_more)
{
    size_t i;

    if (digits == NULL || shown == NULL)
        return true;
    for (i = 0; i < *nseen; i++)
        if (strcmp(seen[i], digits) == 0)
            return true;
    if (*nseen == limit) {
        *has_more = true;
        return false;
    }
    seen[(*nseen)++] = xstrdup(digits);
    store_json_push(values, cJSON_CreateString(shown));
    return true;
}

/*
 * Customer numbers whose digits start with the digits of prefix, newest
 * first, one entry (the newest spelling) per number; a prefix without "+"
 * that does not start with 0 or 1 also matches North American numbers with
 * their leading 1. A small range is grouped in SQL; a large one is read
 * newest first a chunk at a time until limit numbers are found.
 */
static int complete_phones(struct pg_store *st, const char *prefix, unsigned limit, cJSON *values,
                           bool *has_more, struct err *err)
{
    char d[20], d1[21], *end = NULL, *end1 = NULL, *seen[STORE_COMPLETE_LIMIT_MAX + 1];
    const char *p;
    size_t n = 0, i, nseen = 0;
    int64_t after_ms = INT64_MAX, after_id = INT64_MAX;
    struct params ps = {0};
    PGresult *res = NULL;
    bool plus = false, going = true;
    int rows, r, rc = -1;

    if (limit > STORE_COMPLETE_LIMIT_MAX)
        limit = STORE_COMPLETE_LIMIT_MAX;
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
    params_init(&ps, 6);
    p_text(&ps, d);
    p_text(&ps, end);
    p_text(&ps, d1);
    p_text(&ps, end1);
    p_int(&ps, PG_COMPLETE_RANGE_MAX + 1);
    res = pg_run(st, STMT_COMPLETE_PHONE_COUNT, NULL, &ps, false, "complete", err);
    if (res == NULL)
        goto done;
    if (first_int64(res) <= PG_COMPLETE_RANGE_MAX) {
        PQclear(res);
        ps.n = 4;
        p_int(&ps, (int64_t)limit + 1);
        if ((res = pg_run(st, STMT_COMPLETE_PHONE_RANGE, NULL, &ps, false, "complete", err)) ==
            NULL)
            goto done;
        for (r = 0; r < PQntuples(res) && going; r++)
            going = phone_add(seen, &nseen, limit, res_text(res, r, 0, NULL),
                              res_text(res, r, 1, NULL), values, has_more);
        rc = 0;
        goto done;
    }
    do {
        PQclear(res);
        ps.n = 4;
        p_int(&ps, after_ms);
        p_int(&ps, after_id);
        if ((res = pg_run(st, STMT_COMPLETE_PHONE_SCAN, NULL, &ps, false, "complete", err)) == NULL)
            goto done;
        rows = PQntuples(res);
        for (r = 0; r < rows && going; r++)
            going = phone_add(seen, &nseen, limit, res_text(res, r, 0, NULL),
                              res_text(res, r, 1, NULL), values, has_more);
        if (rows > 0) {
            after_ms = res_int64(res, rows - 1, 2);
            after_id = res_int64(res, rows - 1, 3);
        }
    } while (going && rows == PG_CHUNK);
    rc = 0;

done:
    PQclear(res);
    params_free(&ps);
    for (i = 0; i < nseen; i++)
        free(seen[i]);
    free(end);
    free(end1);
    return rc;
}

/* Completion values for field "call_id" or "phone" (see store.h), appended to values. */
static int pg_complete(struct store *base, const char *field, const char *prefix, unsigned limit,
                       cJSON *values, bool *has_more, struct err *err)
{
    struct pg_store *st = pg(base);

    if (strcmp(field, "call_id") == 0)
        return complete_ids(st, prefix, limit, values, has_more, err);
    return complete_phones(st, prefix, limit, values, has_more, err);
}

/*
 * Install (or with NULL fn, remove) the check that cancels long queries:
 * fn(arg) is asked before each query and every PG_POLL_MS while one runs;
 * true sends the server a cancel request, and the query fails with
 * ERR_CANCELLED. A write it interrupts is rolled back whole.
 */
static void pg_set_interrupt(struct store *base, bool (*fn)(void *arg), void *arg)
{
    struct pg_store *st = pg(base);

    st->interrupt_fn = fn;
    st->interrupt_arg = arg;
}

/* ---- copies ---- */

static const struct copy_col *table_cols(enum store_table t, size_t *n)
{
    if (t == STORE_TABLE_CALLS) {
        *n = NCOLS(call_cols);
        return call_cols;
    }
    if (t == STORE_TABLE_AUDIT) {
        *n = NCOLS(audit_cols);
        return audit_cols;
    }
    if (t == STORE_TABLE_ERASURES) {
        *n = NCOLS(erasure_cols);
        return erasure_cols;
    }
    *n = NCOLS(delivery_cols);
    return delivery_cols;
}

/* "SELECT col, ... FROM table WHERE id > $1 ORDER BY id LIMIT $2", the copy's columns in order. */
static char *dump_sql(enum store_table t)
{
    size_t n, i;
    const struct copy_col *cols = table_cols(t, &n);
    struct buf b = {0};

    buf_puts(&b, "SELECT ");
    for (i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i > 0 ? ", " : "", cols[i].name);
    buf_printf(&b, " FROM %s WHERE id > $1 ORDER BY id LIMIT $2", store_table_name(t));
    return buf_steal(&b, NULL);
}

/*
 * Append up to limit rows of t with ids above after_id, in id order, each
 * an object of its columns by name in the SQLite backend's order (numbers,
 * strings, null; a body as {"base64url": ...}), so that the same rows read
 * from either backend print the same. The search vector is left out.
 */
static int pg_dump(struct store *base, enum store_table t, int64_t after_id, unsigned limit,
                   cJSON *rows, struct err *err)
{
    struct pg_store *st = pg(base);
    size_t ncols, c;
    const struct copy_col *cols = table_cols(t, &ncols);
    char *sql = dump_sql(t);
    struct params p;
    PGresult *res;
    int i;

    params_init(&p, 2);
    p_int(&p, after_id);
    p_int(&p, (int64_t)limit);
    res = pg_run(st, STMT_COUNT_, sql, &p, false, "read rows to copy", err);
    params_free(&p);
    free(sql);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        cJSON *row = store_json_new(cJSON_CreateObject()), *v;

        for (c = 0; c < ncols; c++) {
            int col = (int)c;

            if (PQgetisnull(res, i, col)) {
                v = cJSON_CreateNull();
            } else if (cols[c].type == COL_INT) {
                v = cJSON_CreateNumber((double)res_int64(res, i, col));
            } else if (cols[c].type == COL_REAL) {
                v = cJSON_CreateNumber(res_real(res, i, col));
            } else if (cols[c].type == COL_TEXT) {
                v = cJSON_CreateString(PQgetvalue(res, i, col));
            } else if (cols[c].type == COL_BOOL) {
                v = cJSON_CreateNumber(PQgetvalue(res, i, col)[0] == 't');
            } else {
                size_t len = 0;
                unsigned char *bytes =
                    PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, col), &len);
                char *b64;

                if (bytes == NULL)
                    fatalx("out of memory decoding a body");
                b64 = auth_b64url_encode(bytes, len);
                PQfreemem(bytes);
                v = store_json_new(cJSON_CreateObject());
                store_json_put(v, "base64url", cJSON_CreateString(b64));
                free(b64);
            }
            store_json_put(row, cols[c].name, v);
        }
        store_json_push(rows, row);
    }
    PQclear(res);
    return 0;
}

/*
 * "INSERT INTO t (cols) SELECT ... FROM jsonb_to_recordset($1) ... ON
 * CONFLICT DO NOTHING": the rows as one JSON parameter, typed by the
 * record definition; a body is decoded from base64url in SQL.
 */
static char *load_sql(enum store_table t)
{
    size_t n, i;
    const struct copy_col *cols = table_cols(t, &n);
    static const char *const types[] = {[COL_INT] = "bigint",
                                        [COL_REAL] = "float8",
                                        [COL_TEXT] = "text",
                                        [COL_BYTES] = "jsonb",
                                        [COL_BOOL] = "bigint"};
    struct buf b = {0};

    buf_printf(&b, "INSERT INTO %s (", store_table_name(t));
    for (i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i > 0 ? ", " : "", cols[i].name);
    buf_puts(&b, ") SELECT ");
    for (i = 0; i < n; i++) {
        const char *name = cols[i].name;

        if (i > 0)
            buf_puts(&b, ", ");
        if (cols[i].type == COL_BYTES)
            buf_printf(&b,
                       "CASE WHEN jsonb_typeof(r.%s) = 'object' THEN decode(rpad(translate("
                       "r.%s->>'base64url', '-_', '+/'), (length(r.%s->>'base64url') + 3) / 4 * 4,"
                       " '='), 'base64') END",
                       name, name, name);
        else if (cols[i].type == COL_BOOL)
            buf_printf(&b, "coalesce(r.%s, 0) <> 0", name);
        else if (strcmp(name, "extra_known") == 0)
            buf_puts(&b, "coalesce(r.extra_known, 0)");
        else if (strcmp(name, "follow_up_status") == 0)
            buf_puts(&b, "coalesce(r.follow_up_status, 'none')");
        else
            buf_printf(&b, "r.%s", name);
    }
    buf_puts(&b, " FROM jsonb_to_recordset($1::jsonb) AS r(");
    for (i = 0; i < n; i++)
        buf_printf(&b, "%s%s %s", i > 0 ? ", " : "", cols[i].name, types[cols[i].type]);
    buf_puts(&b, ") ORDER BY r.id ON CONFLICT DO NOTHING");
    return buf_steal(&b, NULL);
}

/* The smallest and largest "id" of rows; false when none has one. */
static bool rows_id_range(const cJSON *rows, int64_t *lo, int64_t *hi)
{
    const cJSON *row;
    bool any = false;

    cJSON_ArrayForEach(row, rows)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "id");

        if (!cJSON_IsNumber(id))
            continue;
        if (!any || (int64_t)id->valuedouble < *lo)
            *lo = (int64_t)id->valuedouble;
        if (!any || (int64_t)id->valuedouble > *hi)
            *hi = (int64_t)id->valuedouble;
        any = true;
    }
    return any;
}

/* The audit_calls rows of copied audit rows ($1 of p), made from their call ids. */
static int audit_load_calls(struct pg_store *st, struct params *p, struct err *err)
{
    return pg_do(st, STMT_COUNT_,
                 "INSERT INTO audit_calls (call_id, audit_id) SELECT DISTINCT x, r.id"
                 " FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, call_ids text),"
                 " jsonb_array_elements_text(r.call_ids::jsonb) x ON CONFLICT DO NOTHING",
                 p, "copy rows: audit calls", err);
}

/*
 * Insert rows (as store_dump gives them) into t in one transaction, ids
 * kept, rows already there left as they are; then move t's id sequence
 * past the largest id so that new rows never take a copied one's. Copied
 * calls get their search vectors in the same transaction.
 */
static int pg_load(struct store *base, enum store_table t, const cJSON *rows, struct err *err)
{
    struct pg_store *st = pg(base);
    char *sql = load_sql(t), *json = cJSON_PrintUnformatted(rows), seq[200];
    int64_t lo = 0, hi = 0;
    bool index = t == STORE_TABLE_CALLS && rows_id_range(rows, &lo, &hi);
    struct params p;
    int rc = -1;

    if (json == NULL)
        fatalx("out of memory building JSON");
    snprintf(seq, sizeof seq,
             "SELECT setval(pg_get_serial_sequence('%s', 'id'), greatest((SELECT max(id) FROM %s),"
             " (SELECT last_value FROM %s_id_seq)))",
             store_table_name(t), store_table_name(t), store_table_name(t));
    params_init(&p, 1);
    p_text(&p, json);
    if (pg_begin(st, false, err) == 0 && pg_do(st, STMT_COUNT_, sql, &p, "copy rows", err) == 0 &&
        (!index || index_calls(st, lo - 1, hi, err) == 0) &&
        (t != STORE_TABLE_AUDIT || audit_load_calls(st, &p, err) == 0) &&
        pg_do(st, STMT_COUNT_, seq, NULL, "copy rows: ids", err) == 0 && pg_commit(st, err) == 0)
        rc = 0;
    else
        pg_abort(st);
    params_free(&p);
    free(json);
    free(sql);
    return rc;
}

/* How many rows t holds, and its largest id (0 when empty). */
/* Statistics and the visibility map after a bulk copy (VACUUM runs outside a transaction). */
static int pg_load_done(struct store *base, struct err *err)
{
    return pg_do(pg(base), STMT_COUNT_,
                 "VACUUM (ANALYZE) deliveries, calls, call_search, audit, audit_calls, erasures",
                 NULL, "vacuum", err);
}

static int pg_table_size(struct store *base, enum store_table t, int64_t *rows, int64_t *max_id,
                         struct err *err)
{
    static const enum stmt_id size_stmt[STORE_TABLE_COUNT_] = {
        [STORE_TABLE_DELIVERIES] = STMT_SIZE_DELIVERIES,
        [STORE_TABLE_CALLS] = STMT_SIZE_CALLS,
        [STORE_TABLE_AUDIT] = STMT_SIZE_AUDIT,
        [STORE_TABLE_ERASURES] = STMT_SIZE_ERASURES,
    };
    PGresult *res = pg_run(pg(base), size_stmt[t], NULL, NULL, false, "count rows", err);

    if (res == NULL)
        return -1;
    *rows = res_int64(res, 0, 0);
    *max_id = res_int64(res, 0, 1);
    PQclear(res);
    return 0;
}

static int pg_size(struct store *base, uint64_t *bytes, struct err *err)
{
    PGresult *res = pg_run(pg(base), STMT_COUNT_, "SELECT pg_database_size(current_database())",
                           NULL, false, "read the database size", err);
    int64_t n;

    if (res == NULL)
        return -1;
    n = first_int64(res);
    PQclear(res);
    *bytes = n > 0 ? (uint64_t)n : 0;
    return 0;
}

/* ---- the access audit ---- */

/*
 * audit holds one row per MCP tool call or resource read, audit_calls one
 * (call_id, audit_id) row per call id its answer held, which finds the
 * reads of one call; they are removed with their audit row.
 */

/* Record n entries: one statement, so one transaction, for the batch. */
static int pg_audit_add(struct store *base, const struct store_audit_entry *entries, size_t n,
                        struct err *err)
{
    cJSON *rows = store_json_new(cJSON_CreateArray());
    struct params p;
    char *json;
    int rc;

    for (size_t i = 0; i < n; i++) {
        const struct store_audit_entry *e = &entries[i];
        cJSON *row = store_json_new(cJSON_CreateObject());
        char *ids = store_audit_ids_json(e);

        store_json_put(row, "at_ms", cJSON_CreateNumber((double)e->at_ms));
        store_json_put_string(row, "transport", e->transport);
        store_json_put_string(row, "client_name", e->client_name);
        store_json_put_string(row, "client_version", e->client_version);
        store_json_put_string(row, "session_id", e->session_id);
        store_json_put_string(row, "kind", e->kind);
        store_json_put_string(row, "name", e->name);
        store_json_put(row, "error", cJSON_CreateBool(e->error));
        store_json_put_string(row, "call_ids", ids);
        free(ids);
        store_json_push(rows, row);
    }
    json = cJSON_PrintUnformatted(rows);
    cJSON_Delete(rows);
    if (json == NULL)
        fatalx("out of memory building JSON");
    params_init(&p, 1);
    p_text(&p, json);
    rc = pg_do(pg(base), STMT_AUDIT_ADD, NULL, &p, "record audit entries", err);
    params_free(&p);
    free(json);
    return rc;
}

static int pg_audit_list(struct store *base, const char *call_id, int64_t since_ms, unsigned limit,
                         int (*fn)(const struct store_audit_row *row, void *arg), void *arg,
                         struct err *err)
{
    struct store_audit_row row;
    struct params p;
    PGresult *res;

    params_init(&p, 3);
    p_int(&p, since_ms);
    p_int(&p, (int64_t)limit);
    if (call_id != NULL)
        p_text(&p, call_id);
    res = pg_run(pg(base), call_id != NULL ? STMT_AUDIT_LIST_CALL : STMT_AUDIT_LIST, NULL, &p,
                 false, "list the audit", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        row.id = res_int64(res, i, 0);
        row.at_ms = res_int64(res, i, 1);
        row.transport = res_text(res, i, 2, NULL);
        row.client_name = res_text(res, i, 3, NULL);
        row.client_version = res_text(res, i, 4, NULL);
        row.session_id = res_text(res, i, 5, NULL);
        row.kind = res_text(res, i, 6, NULL);
        row.name = res_text(res, i, 7, NULL);
        row.error = res_int64(res, i, 8) != 0;
        row.call_ids = res_text(res, i, 9, NULL);
        if (fn(&row, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

static int pg_audit_purge(struct store *base, int64_t before_ms, unsigned batch_limit,
                          int64_t *removed, struct err *err)
{
    struct params p;
    PGresult *res;

    params_init(&p, 2);
    p_int(&p, before_ms);
    p_int(&p, (int64_t)batch_limit);
    res = pg_run(pg(base), STMT_AUDIT_PURGE, NULL, &p, false, "remove old audit entries", err);
    params_free(&p);
    if (res == NULL)
        return -1;
    *removed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

const struct store_backend store_postgres_backend = {
    .name = "postgresql",
    .schema_version = PG_SCHEMA_VERSION,
    .parallel_writes = true,
    .close = pg_close,
    /* commits are durable at COMMIT: no checkpointer, no deferred syncs */
    .checkpointer_start = NULL,
    .checkpointer_runs = NULL,
    .checkpointer_stop = NULL,
    .wal_open = NULL,
    .wal_sync = NULL,
    .wal_close = NULL,
    .put_deliveries = pg_put_deliveries,
    .backup = pg_backup,
    .check = pg_check,
    .counts = pg_counts,
    .list_deliveries = pg_list_deliveries,
    .delivery_body = pg_delivery_body,
    .call_raw = pg_call_raw,
    .search_calls = pg_search_calls,
    .get_call = pg_get_call,
    .call_transcript_text = pg_call_transcript_text,
    .set_follow_up = pg_set_follow_up,
    .call_stats = pg_call_stats,
    .top_list_items = pg_top_list_items,
    .complete = pg_complete,
    .set_interrupt = pg_set_interrupt,
    .dump = pg_dump,
    .load = pg_load,
    .load_done = pg_load_done,
    .table_size = pg_table_size,
    .size = pg_size,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
    .audit_purge = pg_audit_purge,
    .purge = pg_purge,
    .person_calls = pg_person_calls,
    .remove_calls = pg_remove_calls,
    .loose_bodies = pg_loose_bodies,
    .remove_deliveries = pg_remove_deliveries,
    .scrub = pg_scrub,
    .drain_queued = pg_drain_queued,
    .queue_pending = pg_queue_pending,
    .meta_key = pg_meta_key,
    .put_meta_key = pg_put_meta_key,
    .add_erasure = pg_add_erasure,
    .list_erasures = pg_list_erasures,
};
