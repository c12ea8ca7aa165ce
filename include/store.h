/*
 * store.h: durable storage of deliveries and calls, the one interface the
 * rest of the program stores through. Two backends implement it (src/store/:
 * SQLite files, the embedded default, and PostgreSQL databases, for several
 * daemons on one database); nothing here names a database, its types or its
 * query language, and every function means the same on both.
 */
#ifndef PHONELY_STORE_H
#define PHONELY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "callfmt.h"
#include "err.h"
#include "payload.h"

struct store;
struct search_terms;

struct store_options {
    bool read_only;           /* open for reading only (MCP readers) */
    unsigned busy_timeout_ms; /* wait this long for a lock, then ERR_BUSY */
    uint64_t min_free_bytes;  /* refuse writes with ERR_FULL below this free space (0: off) */
    const char *password;     /* a PostgreSQL password beside the URI's (borrowed), or NULL */
};

/*
 * Open the database db names (creating it when missing, unless read-only)
 * and bring its schema to the current version: an SQLite file's path, or
 * a postgresql:// or postgres:// URI (a PostgreSQL connection URI). Commits are
 * durable when they return (or, for a writer, when store_wal_sync says so).
 * The caller owns the result (store_close). A store is used by one thread
 * at a time.
 */
struct store *store_open(const char *db, const struct store_options *opt, struct err *err);
void store_close(struct store *st);

/* Whether db names a PostgreSQL database (a postgresql:// or postgres:// URI). */
bool store_is_postgres_uri(const char *db);

/* db as logs and messages may show it: a URI's passwords hidden. Caller frees. */
char *store_db_display(const char *db);

/* The backend an open store uses ("sqlite", "postgresql") and its schema version. */
const char *store_backend_name(const struct store *st);
int store_backend_schema(const struct store *st);
/*
 * Whether several connections writing at once make ingest faster (a
 * database server with its own locking: PostgreSQL), rather than queueing
 * behind one another (SQLite's single writer).
 */
bool store_parallel_writes(const struct store *st);

/*
 * Background checkpoints for a writer (SQLite files; NULL with ERR_CONFIG
 * on a backend that needs none): a thread with its own connection to
 * st's file copies committed pages from the WAL into the database each
 * time STORE_CKPT_PAGES more have been committed, while st goes on
 * writing. st then checkpoints itself only when its WAL reaches
 * STORE_CKPT_BACKSTOP pages (the thread cannot keep up, or readers hold
 * old pages), which also bounds the WAL: it restarts from its beginning
 * after a checkpoint that caught up. Start and stop it while no other
 * thread uses st. NULL, with st checkpointing itself as before, when st
 * is not a file or the thread cannot start.
 */
#define STORE_CKPT_PAGES    1000
#define STORE_CKPT_BACKSTOP 8000
struct store_checkpointer;
struct store_checkpointer *store_checkpointer_start(struct store *st, struct err *err);
/* Checkpoints the thread has run (for tests and logs). */
uint64_t store_checkpointer_runs(struct store_checkpointer *c);
/* Stop the thread, close its connection, give checkpoints back to st. NULL is fine. */
void store_checkpointer_stop(struct store_checkpointer *c);

/*
 * Commits made durable by another thread (SQLite files; NULL with
 * ERR_CONFIG on a backend whose commits are durable when they return).
 * store_wal_open() switches st's
 * connection to synchronous=NORMAL, so that a commit returns once the WAL
 * holds the transaction without waiting for the disk, and opens a
 * descriptor of its own on st's WAL file. store_wal_sync() (from any
 * thread, while st goes on writing) flushes that file to the disk: every
 * transaction st committed before the call is then durable, as if it had
 * committed with synchronous=FULL. A failed sync is final: the kernel may
 * have dropped the pages it could not write, so every later sync fails
 * too with the first error. store_wal_close() gives st synchronous=FULL
 * back; call it while no other thread uses st. Open it while no other
 * thread uses st; NULL when st is not a writable file.
 */
struct store_wal;
struct store_wal *store_wal_open(struct store *st, struct err *err);
int store_wal_sync(struct store_wal *w, struct err *err);
void store_wal_close(struct store_wal *w);

/* The schema version this build writes to SQLite files. */
int store_schema_version(void);

enum delivery_outcome {
    DELIVERY_STORED = 0, /* a new call */
    DELIVERY_UPDATED,    /* a known call id with different content */
    DELIVERY_DUPLICATE,  /* the same content again: nothing changed */
    DELIVERY_REJECTED,   /* not stored as a call; reason says why */
    DELIVERY_QUEUED      /* durable, waiting for a table rewrite to end (store_drain_queued) */
};

const char *delivery_outcome_name(enum delivery_outcome outcome);

/* One received request, in or out. */
struct delivery {
    /* in */
    int64_t received_ms;
    const char *source;      /* "webhook", "import" */
    const char *peer;        /* "127.0.0.1:51234", a file name, or NULL */
    int status;              /* HTTP status answered for rejected ones (0 for import) */
    const char *reason;      /* why rejected; NULL for accepted */
    const char *webhook_id;  /* Standard Webhooks id, or NULL */
    const void *body;        /* raw bytes kept (may be a truncated prefix), or NULL */
    size_t body_len;         /* bytes at body */
    uint64_t body_size;      /* size as received */
    const char *body_sha256; /* hex digest of the whole body, or NULL */
    const struct call *call; /* the normalised call, NULL when rejected */
    /* call's stored forms made beforehand (callfmt_forms), or NULL to make them here */
    const struct call_forms *forms;
    /* out */
    enum delivery_outcome outcome;
    int64_t delivery_id;
};

/*
 * Record n deliveries in one transaction and, for those with a call,
 * insert or update the call and its search index. Returns 0 only after
 * the commit succeeded, with every item's outcome and delivery_id set. On
 * -1 nothing was stored: ERR_FULL (disk full or below min_free_bytes),
 * ERR_BUSY (lock timeout, or the database unreachable for now), ERR_STORAGE
 * (anything else). Several writers on one database (PostgreSQL) store one
 * call per call id however their deliveries interleave.
 */
int store_put_deliveries(struct store *st, struct delivery *const *items, size_t n,
                         struct err *err);

/*
 * While an erasure rewrites a PostgreSQL database's tables (store_erase),
 * store_put_deliveries does not wait for them: it commits the batch to a
 * durable queue and answers DELIVERY_QUEUED (no delivery_id yet), so that
 * every webhook is still acknowledged at once. Queued deliveries are moved
 * into the tables, with the outcome they would have had, once the rewrite
 * is over: one chunk before each later batch, and by store_drain_queued,
 * which moves them all (oldest first, in chunks) and says how many it
 * moved (0 while the rewrite runs or none wait). store_queue_pending tells, without a
 * round trip, whether some may wait (this store queued, or has not looked
 * for others' lately). An SQLite store never queues: both are no-ops.
 */
int store_drain_queued(struct store *st, size_t *moved, struct err *err);
bool store_queue_pending(struct store *st);

/* What store_backup() wrote. */
struct store_backup_info {
    int64_t calls;      /* calls in the copy */
    int64_t deliveries; /* deliveries in the copy */
    uint64_t bytes;     /* size of the copy */
    unsigned waits;     /* times the copy waited for a lock */
};

/*
 * Write a consistent snapshot of an SQLite database to dest while other
 * connections go on writing (a PostgreSQL store answers ERR_UNSUPPORTED:
 * its backups are pg_dump's): copied under one read transaction into a
 * temporary file beside dest, checked (integrity and search index), synced,
 * then renamed into place. An existing dest is refused (ERR_INVALID) unless
 * replace; dest's own -wal beside it always is. On -1 dest is untouched and
 * nothing is left behind: ERR_FULL, ERR_BUSY, ERR_SYSTEM, ERR_STORAGE.
 */
int store_backup(struct store *st, const char *dest, bool replace, struct store_backup_info *info,
                 struct err *err);

/* The bytes the database takes (an SQLite file and its WAL; a PostgreSQL database). */
int store_size(struct store *st, uint64_t *bytes, struct err *err);

/* Cheap read to prove the database answers (healthz). */
int store_check(struct store *st, struct err *err);

struct store_counts {
    int64_t calls;
    int64_t deliveries;
    int64_t rejected;
};
int store_counts(struct store *st, struct store_counts *out, struct err *err);

/* A delivery as listed for the operator. Strings are borrowed for the callback's duration. */
struct delivery_row {
    int64_t id;
    int64_t received_ms;
    const char *source;
    const char *peer;
    int status;
    const char *outcome;
    const char *reason;
    const char *call_id;
    uint64_t body_size;
    uint64_t body_kept;
    const char *body_sha256;
};

/*
 * Call fn for the newest deliveries first, at most limit rows; outcome
 * filters ("rejected", "stored", ... or NULL for all). fn returning non-zero stops.
 */
int store_list_deliveries(struct store *st, const char *outcome, unsigned limit,
                          int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                          struct err *err);

/* The raw body kept for a delivery (for re-import). Caller frees *body. */
int store_delivery_body(struct store *st, int64_t delivery_id, char **body, size_t *len,
                        struct err *err);

/* The raw body of the delivery a call currently comes from. Caller frees *body. */
int store_call_raw(struct store *st, const char *call_id, char **body, size_t *len,
                   struct err *err);

/* ---- reading calls (MCP tools) ---- */

enum call_sort {
    CALL_SORT_NEWEST = 0, /* sort_ms DESC, id DESC */
    CALL_SORT_OLDEST,     /* sort_ms ASC, id ASC */
    CALL_SORT_RELEVANCE   /* the text's relevance rank (needs words), then newest */
};

/* Which fields a listed call carries. */
enum call_detail {
    CALL_DETAIL_COMPACT = 0, /* search results */
    CALL_DETAIL_FOLLOW_UP    /* + reason, action items, unanswered questions, mentions, links */
};

/*
 * A search. Every filter is optional (NULL / -1 / INT64_MIN..INT64_MAX /
 * negative durations mean "any"). Text filters (direction, sentiment,
 * topic, agent) compare exactly but case-insensitively.
 */
struct call_query {
    const struct search_terms *words; /* search_terms_parse() words, all required; or NULL */
    const char *phone_digits;         /* phone_normalize() form; matches customer or business */
    const char *direction;            /* "inbound", "outbound" */
    const char *sentiment;
    const char *topic;
    const char *agent;            /* agent name */
    int follow_up;                /* -1 any, 0 not flagged, 1 flagged */
    const char *follow_up_status; /* "pending", "resolved", "none", or NULL */
    int64_t from_ms;              /* sort_ms >= from_ms (INT64_MIN: open) */
    int64_t to_ms;                /* sort_ms < to_ms (INT64_MAX: open) */
    double min_duration_s;        /* < 0: open */
    double max_duration_s;        /* < 0: open */
    enum call_sort sort;
    enum call_detail detail;
    unsigned limit; /* 1..100 */
    /* Continuation: the keyset of the last row of the previous page
     * (newest/oldest), or a row offset (relevance). */
    bool has_after;
    int64_t after_sort_ms;
    int64_t after_id;
    unsigned offset;
};

/*
 * One page of results. calls is an array of objects (caller owns, cJSON_Delete):
 *   compact: callId, startedAt, endedAt, direction, callerName, customerPhone,
 *     businessPhone, agentName, durationSeconds, summary, sentiment, topic,
 *     followUp {flagged, status, reason}, and snippet (with words: matched text
 *     with the hits in [brackets], from the column that matched best)
 *   follow_up adds: followUp.{reason, resolvedAt, resolvedBy, note},
 *     actionItems, unansweredQuestions, mentionedEmail, mentionedDate,
 *     mentionedTime, dashboardUrl, recordingUrl, ageSeconds (from now_ms)
 * Absent values are left out, not null. total counts every match up to
 * STORE_TOTAL_CAP (total_exact false beyond). A search that must check
 * each candidate (text or a phone number combined with other filters)
 * stops counting after a fixed amount of work; total is then a lower bound
 * and total_exact false too. With more than STORE_TOTAL_CAP text matches,
 * relevance ranks the newest STORE_TOTAL_CAP of them. more says whether a
 * next page exists; last_sort_ms/last_id are the keyset of the page's last
 * row.
 */
#define STORE_TOTAL_CAP 10000
struct call_page {
    cJSON *calls;
    int64_t total;
    bool total_exact;
    bool more;
    int64_t last_sort_ms;
    int64_t last_id;
};

int store_search_calls(struct store *st, const struct call_query *q, int64_t now_ms,
                       struct call_page *page, struct err *err);

/*
 * Everything stored about one call, or NULL with ERR_NOT_FOUND: the compact
 * and follow-up fields plus agentId, longSummary, purpose, keyPoints,
 * aiSuccess, callTransferred, workflowTriggered, endedReason, callOutcome,
 * mentioned*, links, transcript (turns [{role, content}], or transcriptText
 * when no turns; left out when !with_transcript), extra (the raw body's
 * fields we do not extract, as sent), and deliveries (history: id,
 * receivedAt, source, status, outcome). Caller owns the result.
 * transcript is a raw item (cJSON_Raw: the stored array's text, checked as
 * JSON when stored), made to be printed; parse its valuestring to inspect it.
 */
cJSON *store_get_call(struct store *st, const char *call_id, bool with_transcript, struct err *err);

/* A readable transcript of a call ("Agent: ..." / "Caller: ..." lines, from the
 * turns; transcriptText when there are none), for text resources. Caller frees;
 * NULL with ERR_NOT_FOUND for an unknown call or one without a transcript. */
char *store_call_transcript_text(struct store *st, const char *call_id, struct err *err);

/*
 * Mark a call's follow-up resolved (resolved = true) or pending again.
 * Idempotent: resolving a resolved call keeps the first resolution time
 * unless note/by change. A call never flagged can be resolved too (it then
 * counts as handled). ERR_NOT_FOUND for an unknown id; needs a read-write
 * store. On success *out (caller owns, may be NULL) is the call's followUp
 * object afterwards.
 */
int store_set_follow_up(struct store *st, const char *call_id, bool resolved, const char *note,
                        const char *by, int64_t now_ms, cJSON **out, struct err *err);

/*
 * Statistics over sort_ms in [from_ms, to_ms): {calls, byDay: [{date,
 * calls}], byDirection: {...}, bySentiment: {...}, byTopic: [{topic,
 * calls}], byAgent: [{agent, calls}], duration: {totalSeconds, average,
 * min, max, median}, followUps: {flagged, pending, resolved, rate}}. Days
 * are UTC. Top lists are capped at top_n. Caller owns the result.
 */
cJSON *store_call_stats(struct store *st, int64_t from_ms, int64_t to_ms, unsigned top_n,
                        struct err *err);

/*
 * The most frequent entries of a list column ("unanswered_questions" or
 * "action_items") over [from_ms, to_ms), grouped case-insensitively after
 * trimming: [{text, calls, lastCallId, lastAt}], most frequent first. With
 * open_only, only calls whose follow-up is not resolved count.
 */
cJSON *store_top_list_items(struct store *st, const char *column, int64_t from_ms, int64_t to_ms,
                            bool open_only, unsigned limit, struct err *err);

/*
 * Values for argument completion: field "call_id" (ids starting with
 * prefix, newest first) or "phone" (customer numbers whose digits start
 * with the digits of prefix, as sent). Appends up to limit strings.
 */
int store_complete(struct store *st, const char *field, const char *prefix, unsigned limit,
                   cJSON *values, bool *has_more, struct err *err);

/* ---- personal data: retention, erasure, export ---- */

/* What a retention sweep or an erasure removed (or, dry run, would remove). */
struct store_removed {
    int64_t calls;
    int64_t deliveries; /* every delivery: the calls' history with its bodies, and rejected ones */
};

/*
 * One batch of retention: remove up to limit calls whose time (started,
 * else received) is before calls_before_ms, each with every delivery that
 * names it (bodies, history), its follow-up state and its search entry,
 * and up to limit rejected deliveries received before rejected_before_ms;
 * INT64_MIN for either removes none of that kind. One short write
 * transaction, so that webhook commits wait at most for one batch. Adds
 * what it removed to *out. Returns 1 when a batch was full (call again), 0
 * when nothing older remains, -1 on error. With dry_run nothing is
 * removed: *out gets everything that would be (every batch), and 0.
 */
int store_purge(struct store *st, int64_t calls_before_ms, int64_t rejected_before_ms,
                unsigned limit, bool dry_run, struct store_removed *out, struct err *err);

/* Whose data an erasure or an export concerns. */
enum store_person_kind { STORE_PERSON_PHONE = 0, STORE_PERSON_EMAIL, STORE_PERSON_CALL };
struct store_person {
    enum store_person_kind kind;
    /* A phone number in any spelling (matched by its phone_normalize()
     * digits, against the customer's number), an email address (any case,
     * against the mentioned email), or a call id. */
    const char *value;
};

const char *store_person_kind_name(enum store_person_kind kind);

/*
 * The person's identifier as it is matched: phone digits, a lower-cased
 * email, the call id. Caller frees; NULL with ERR_INVALID (a message for
 * the operator) when value is not one.
 */
char *store_person_key(const struct store_person *p, struct err *err);

/* Append the ids of the person's calls to ids (strings), oldest first. */
int store_person_calls(struct store *st, const struct store_person *p, cJSON *ids, struct err *err);

/*
 * Whether a body (of a rejected delivery) holds the person's identifier: the number's digits in any
 * spelling, the email in any case, the call id.
 */
bool store_body_holds(const char *body, size_t len, const struct store_person *p, const char *key);

/*
 * Visit every rejected delivery kept with its body, in id order: fn gets
 * its id and body. fn returns 0 to go on, -1 to stop with an error (err
 * set).
 */
int store_loose_bodies(struct store *st,
                       int (*fn)(int64_t id, const char *body, size_t len, void *arg,
                                 struct err *err),
                       void *arg, struct err *err);

/*
 * Give to the key erasures are hashed under in from (when it has one), so
 * that a copy (migrate) finds the erasures of an identifier as from did.
 * ERR_STORAGE when to has another key already.
 */
int store_copy_erasure_key(struct store *from, struct store *to, struct err *err);

/* One recorded erasure. */
struct store_erasure {
    int64_t id;
    int64_t at_ms;
    enum store_person_kind kind;
    char hash[65]; /* hex keyed BLAKE2b-256 of "kind:key" (see store_person_hash) */
    int64_t calls, deliveries;
};

/*
 * The keyed hash an erasure of p is recorded under: the key is random, made
 * once per database and kept in it, so the same identifier gives the same
 * hash on every daemon of the database, and the hash alone does not tell
 * the number. Needs a read-write store the first time.
 */
int store_person_hash(struct store *st, const struct store_person *p, char hash[65],
                      struct err *err);

/*
 * Erase everything stored about p: each of their calls (a batch of calls
 * per transaction) with every delivery naming it, their search entries
 * and follow-up state; every rejected delivery whose body holds the
 * identifier (store_body_holds); then make what was removed
 * unreadable in the database's files (SQLite: deleted content is zeroed,
 * the search index merged past the removed entries, the WAL checkpointed
 * and truncated; PostgreSQL: the tables concerned rewritten), and record
 * the erasure (*out) with its counts and the identifier's keyed hash, never
 * the identifier. With dry_run only *out's counts are set. Webhooks go on
 * being stored meanwhile.
 */
int store_erase(struct store *st, const struct store_person *p, bool dry_run, int64_t now_ms,
                struct store_erasure *out, struct err *err);

/*
 * The recorded erasures, oldest first; with hash, only those recorded
 * under it. fn returns 0 to go on.
 */
int store_list_erasures(struct store *st, const char *hash,
                        int (*fn)(const struct store_erasure *e, void *arg), void *arg,
                        struct err *err);

/* ---- copying a database (phonely-mcp migrate) ---- */

/*
 * The tables a copy moves, in the order it moves them (calls refer to
 * deliveries). The audit's rows carry their call ids, from which a
 * destination makes its audit_calls again.
 */
enum store_table {
    STORE_TABLE_DELIVERIES = 0,
    STORE_TABLE_CALLS,
    STORE_TABLE_AUDIT,
    STORE_TABLE_ERASURES,
    STORE_TABLE_COUNT_
};

const char *store_table_name(enum store_table t);

/*
 * Append to rows (an array) up to limit rows of table t with ids above
 * after_id, in id order, each an object of its stored columns by name
 * (numbers, strings, null; a body as {"base64url": "..."}), with nothing a
 * backend keeps for itself alone (search numbers, index columns). The same
 * rows read from two backends print the same.
 */
int store_dump(struct store *st, enum store_table t, int64_t after_id, unsigned limit, cJSON *rows,
               struct err *err);

/*
 * Insert rows (as store_dump() gives them) into table t in one
 * transaction, ids kept; a row whose id is there already is left as it
 * is, so a copy that stopped can run again. ERR_UNSUPPORTED on a backend
 * that is not a destination of copies (SQLite).
 */
int store_load(struct store *st, enum store_table t, const cJSON *rows, struct err *err);

/*
 * After a copy into st: bring what the database knows of its tables up to
 * date (PostgreSQL: VACUUM ANALYZE, for statistics and the visibility
 * map), so that the first searches are planned as later ones are. Nothing
 * to do on a backend that takes no copies.
 */
int store_load_done(struct store *st, struct err *err);

/* How many rows table t holds, and the largest id (0 when empty). */
int store_table_size(struct store *st, enum store_table t, int64_t *rows, int64_t *max_id,
                     struct err *err);

/*
 * Interrupt long queries on this store when fn(arg) returns true (checked
 * every few thousand steps of the database's work); the query then fails with
 * ERR_CANCELLED. NULL fn clears it.
 */
void store_set_interrupt(struct store *st, bool (*fn)(void *arg), void *arg);

/* ---- the access audit: which MCP client read which calls ---- */

/*
 * One MCP tool call or resource read. Never the arguments: only what was
 * called and which calls its answer held. Strings are borrowed.
 */
struct store_audit_entry {
    int64_t at_ms;
    const char *transport;       /* "stdio", "http" */
    const char *client_name;     /* initialize's clientInfo.name, or NULL */
    const char *client_version;  /* clientInfo.version, or NULL */
    const char *session_id;      /* the MCP session, or NULL */
    const char *kind;            /* "tool" or "resource" */
    const char *name;            /* the tool's name, or the resource's URI template */
    bool error;                  /* answered with an error (isError or a JSON-RPC error) */
    const char *const *call_ids; /* the calls the answer held, each once */
    size_t ncall_ids;            /* at most STORE_AUDIT_IDS_MAX */
};
#define STORE_AUDIT_IDS_MAX   1000
#define STORE_AUDIT_BATCH_MAX 10000

/*
 * Record n entries in one transaction, each with its call ids (for
 * store_audit_list by call). ERR_INVALID for an entry without transport or
 * name, with a kind other than "tool" and "resource", or with more than
 * STORE_AUDIT_IDS_MAX ids; ERR_STORAGE on a read-only store; else as
 * store_put_deliveries. On -1 nothing was recorded.
 */
int store_audit_add(struct store *st, const struct store_audit_entry *entries, size_t n,
                    struct err *err);

/* A recorded entry as listed. Strings are borrowed for the callback's duration. */
struct store_audit_row {
    int64_t id;
    int64_t at_ms;
    const char *transport;
    const char *client_name; /* NULL when the client gave none */
    const char *client_version;
    const char *session_id;
    const char *kind;
    const char *name;
    bool error;
    const char *call_ids; /* a JSON array of strings, or NULL when the answer held none */
};

/*
 * Call fn for the newest entries first (by time, then id) recorded at or
 * after since_ms, at most limit of them; with call_id, only those whose
 * answer held that call. fn returning non-zero stops the listing.
 * ERR_UNSUPPORTED on an SQLite file whose schema predates the audit.
 */
int store_audit_list(struct store *st, const char *call_id, int64_t since_ms, unsigned limit,
                     int (*fn)(const struct store_audit_row *row, void *arg), void *arg,
                     struct err *err);

/*
 * Remove the oldest entries recorded before before_ms, at most
 * batch_limit of them (1..STORE_AUDIT_BATCH_MAX), with their call ids, in
 * one transaction; *removed says how many. Call it again while *removed is
 * batch_limit. Needs a read-write store.
 */
int store_audit_purge(struct store *st, int64_t before_ms, unsigned batch_limit, int64_t *removed,
                      struct err *err);

#endif
