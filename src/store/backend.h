/*
 * backend.h: what every storage backend implements, and the backend-neutral
 * pieces they share. Included only by src/store/; the rest of the program
 * sees include/store.h alone.
 *
 * A backend is a table of functions (struct store_backend) whose entries
 * have the meaning of the store.h function of the same name. Each backend's
 * own struct begins with a struct store, so that store.c can hand the same
 * pointer to the backend's functions, which cast it back.
 *
 * The answers are built here, not in the backends: a backend reads rows
 * (columns in the orders given below) and hands each to the shared
 * builders through struct store_row, so that a call, a statistic or a
 * list item reads the same whichever database it came from.
 */
#ifndef PHONELY_STORE_BACKEND_H
#define PHONELY_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "search.h"
#include "store.h"

struct store_backend;

/* The part of every open store that store.c reads. */
struct store {
    const struct store_backend *be;
    bool read_only;
};

/* The same for the optional helpers of a writer. */
struct store_checkpointer {
    const struct store_backend *be;
};
struct store_wal {
    const struct store_backend *be;
};

struct store_backend {
    const char *name; /* "sqlite", "postgresql": for messages and /metrics */
    int schema_version;
    bool parallel_writes; /* see store_parallel_writes() */
    void (*close)(struct store *st);
    /* Optional (NULL: commits are durable when COMMIT returns, nothing to run beside). */
    struct store_checkpointer *(*checkpointer_start)(struct store *st, struct err *err);
    uint64_t (*checkpointer_runs)(struct store_checkpointer *c);
    void (*checkpointer_stop)(struct store_checkpointer *c);
    struct store_wal *(*wal_open)(struct store *st, struct err *err);
    int (*wal_sync)(struct store_wal *w, struct err *err);
    void (*wal_close)(struct store_wal *w);

    int (*put_deliveries)(struct store *st, struct delivery *const *items, size_t n,
                          struct err *err);
    int (*backup)(struct store *st, const char *dest, bool replace, struct store_backup_info *info,
                  struct err *err);
    int (*check)(struct store *st, struct err *err);
    int (*size)(struct store *st, uint64_t *bytes, struct err *err);
    int (*counts)(struct store *st, struct store_counts *out, struct err *err);
    int (*list_deliveries)(struct store *st, const char *outcome, unsigned limit,
                           int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                           struct err *err);
    int (*delivery_body)(struct store *st, int64_t delivery_id, char **body, size_t *len,
                         struct err *err);
    int (*call_raw)(struct store *st, const char *call_id, char **body, size_t *len,
                    struct err *err);
    /* q has passed store_query_check(). */
    int (*search_calls)(struct store *st, const struct call_query *q, int64_t now_ms,
                        struct call_page *page, struct err *err);
    cJSON *(*get_call)(struct store *st, const char *call_id, bool with_transcript,
                       struct err *err);
    char *(*call_transcript_text)(struct store *st, const char *call_id, struct err *err);
    int (*set_follow_up)(struct store *st, const char *call_id, bool resolved, const char *note,
                         const char *by, int64_t now_ms, cJSON **out, struct err *err);
    cJSON *(*call_stats)(struct store *st, int64_t from_ms, int64_t to_ms, unsigned top_n,
                         struct err *err);
    /* column is already checked: STORE_LIST_UNANSWERED or STORE_LIST_ACTION_ITEMS. */
    cJSON *(*top_list_items)(struct store *st, int column, int64_t from_ms, int64_t to_ms,
                             bool open_only, unsigned limit, struct err *err);
    int (*complete)(struct store *st, const char *field, const char *prefix, unsigned limit,
                    cJSON *values, bool *has_more, struct err *err);
    void (*set_interrupt)(struct store *st, bool (*fn)(void *arg), void *arg);
    /* Copies (t is checked; load is NULL on a backend copies do not go to). */
    int (*dump)(struct store *st, enum store_table t, int64_t after_id, unsigned limit, cJSON *rows,
                struct err *err);
    int (*load)(struct store *st, enum store_table t, const cJSON *rows, struct err *err);
    int (*load_done)(struct store *st, struct err *err); /* optional */
    int (*table_size)(struct store *st, enum store_table t, int64_t *rows, int64_t *max_id,
                      struct err *err);
    /* Personal data (store.c runs erasures from these). */
    int (*purge)(struct store *st, int64_t calls_before_ms, int64_t rejected_before_ms,
                 unsigned limit, bool dry_run, struct store_removed *out, struct err *err);
    /* key: store_person_key(p). */
    int (*person_calls)(struct store *st, const struct store_person *p, const char *key, cJSON *ids,
                        struct err *err);
    /* Remove the calls of ids (strings) and every delivery naming them, in one transaction. */
    int (*remove_calls)(struct store *st, const cJSON *ids, bool dry_run, struct store_removed *out,
                        struct err *err);
    /* Up to limit rejected deliveries kept with a body, ids above after_id, in id order. */
    int (*loose_bodies)(struct store *st, int64_t after_id, unsigned limit,
                        int (*fn)(int64_t id, const char *body, size_t len, void *arg,
                                  struct err *err),
                        void *arg, int64_t *last_id, struct err *err);
    int (*remove_deliveries)(struct store *st, const int64_t *ids, size_t n, int64_t *removed,
                             struct err *err);
    /* Make removed rows unreadable in the files (see store_erase). */
    int (*scrub)(struct store *st, struct err *err);
    /* Optional (NULL: this backend never queues deliveries; see store_drain_queued). */
    int (*drain_queued)(struct store *st, size_t *moved, struct err *err);
    bool (*queue_pending)(struct store *st);
    /* A random 32-byte key kept under name in the database, made when missing. */
    int (*meta_key)(struct store *st, const char *name, unsigned char key[32], struct err *err);
    /* Keep key under name unless one is there; optional (NULL: not a destination of copies). */
    int (*put_meta_key)(struct store *st, const char *name, const unsigned char key[32],
                        struct err *err);
    int (*add_erasure)(struct store *st, struct store_erasure *e, struct err *err);
    int (*list_erasures)(struct store *st, const char *hash,
                         int (*fn)(const struct store_erasure *e, void *arg), void *arg,
                         struct err *err);
    /* The access audit (entries and arguments checked by store.c). */
    int (*audit_add)(struct store *st, const struct store_audit_entry *entries, size_t n,
                     struct err *err);
    int (*audit_list)(struct store *st, const char *call_id, int64_t since_ms, unsigned limit,
                      int (*fn)(const struct store_audit_row *row, void *arg), void *arg,
                      struct err *err);
    int (*audit_purge)(struct store *st, int64_t before_ms, unsigned batch_limit, int64_t *removed,
                       struct err *err);
};

/* The backends. Each open takes the --db value as given (a path, or a URI). */
extern const struct store_backend store_sqlite_backend;
struct store *store_sqlite_open(const char *path, const struct store_options *opt, struct err *err);
/* The FTS5 expression of a query's words (for tests of it). Caller frees. */
char *store_sqlite_match(const struct search_terms *t);

/*
 * The words of a text as SQLite's full-text index sees them: FTS5's
 * unicode61 tokenizer with remove_diacritics 2, so case-folded and with
 * accents dropped (Café and cafe are one word). The PostgreSQL backend
 * indexes and searches these same words, so both backends match a query
 * alike. A store_words serves one thread at a time.
 */
struct store_words;
struct store_words *store_words_new(struct err *err);
void store_words_free(struct store_words *w);
/*
 * A word of a text: its folded form (n bytes, not NUL-terminated) and
 * where it stands in the text (bytes start..end, as written there).
 */
struct store_word {
    const char *w;
    size_t n, start, end;
};
/*
 * Call fn with each word of text[0..len) in order. Returns 0, or -1 with
 * err set when the tokenizer fails.
 */
int store_words_each(struct store_words *w, const char *text, size_t len,
                     void (*fn)(void *ctx, const struct store_word *word), void *ctx,
                     struct err *err);

extern const struct store_backend store_postgres_backend;
struct store *store_postgres_open(const char *uri, const struct store_options *opt,
                                  struct err *err);
/* For tests of upgrades: make the schema of an empty database at an older version. */
int store_postgres_make_schema(const char *uri, int version, struct err *err);

/* Whether a --db value names a PostgreSQL database (postgresql:// or postgres://). */
bool store_is_postgres_uri(const char *db);

/* The kind store_person_kind_name() names (as the erasures table keeps it). */
enum store_person_kind store_person_kind_parse(const char *name);

/* The checks every search passes before a backend sees it (ERR_INVALID, a message for a model). */
int store_query_check(const struct call_query *q, struct err *err);

enum { STORE_LIST_UNANSWERED = 0, STORE_LIST_ACTION_ITEMS = 1 };

#define STORE_SEARCH_LIMIT_MAX   100
#define STORE_COMPLETE_LIMIT_MAX 100
#define STORE_STATS_VALUES_MAX   50 /* distinct directions or sentiments listed */

/* ---- rows: a backend's current result row, read by column number ---- */

struct store_row;
struct store_row_ops {
    bool (*is_null)(const struct store_row *r, int col);
    /* The value as text (NULL for NULL); *len its bytes when len is not NULL. */
    const char *(*text)(const struct store_row *r, int col, size_t *len);
    int64_t (*int64)(const struct store_row *r, int col);
    double (*real)(const struct store_row *r, int col);
};

struct store_row {
    const struct store_row_ops *ops;
    void *impl; /* the backend's statement or result */
    int base;   /* column numbers below are relative to this one */
    int n;      /* the row's number within a multi-row result, for backends that need it */
};

/*
 * The columns a listed call is read from, in this order (enum out_col),
 * and for a whole call the further ones of enum full_col after them.
 */
enum out_col {
    OC_ID, /* the backend's row key: with OC_SORT_MS, the keyset of cursors */
    OC_SORT_MS,
    OC_SEARCH_ROWID, /* a backend's own search key (SQLite); any integer elsewhere */
    OC_CALL_ID,
    OC_STARTED_MS,
    OC_STARTED_AT,
    OC_ENDED_MS,
    OC_ENDED_AT,
    OC_DIRECTION,
    OC_CALLER_NAME,
    OC_CUSTOMER_PHONE,
    OC_BUSINESS_PHONE,
    OC_AGENT_NAME,
    OC_DURATION_S,
    OC_SUMMARY,
    OC_SENTIMENT,
    OC_TOPIC,
    OC_FOLLOW_UP,
    OC_FOLLOW_UP_STATUS,
    OC_FOLLOW_UP_REASON,
    OC_RESOLVED_MS,
    OC_RESOLVED_BY,
    OC_RESOLUTION_NOTE,
    OC_ACTION_ITEMS,
    OC_UNANSWERED_QUESTIONS,
    OC_MENTIONED_EMAIL,
    OC_MENTIONED_DATE,
    OC_MENTIONED_TIME,
    OC_DASHBOARD_URL,
    OC_RECORDING_URL,
    OC_COUNT_
};

enum full_col {
    FC_AGENT_ID = OC_COUNT_,
    FC_LONG_SUMMARY,
    FC_PURPOSE,
    FC_KEY_POINTS,
    FC_AI_SUCCESS,
    FC_CALL_TRANSFERRED,
    FC_WORKFLOW_TRIGGERED,
    FC_ENDED_REASON,
    FC_CALL_OUTCOME,
    FC_TURNS,       /* a turns JSON array as sent (older rows), or NULL */
    FC_TRANSCRIPT,  /* the transcript text; with FC_TURN_INDEX, the turns' contents */
    FC_EXTRA_KNOWN, /* 1: FC_EXTRA is the unextracted members' JSON object (or NULL) */
    FC_EXTRA,       /* ... else the raw body they are taken from */
    FC_TURN_INDEX,  /* [["role",bytes],...] cutting FC_TRANSCRIPT into turns, or NULL */
    FC_COUNT_
};

/*
 * A listed call from a row of enum out_col columns (and enum full_col
 * ones when full): see store_search_calls and store_get_call in store.h.
 * ageSeconds (listed follow-ups only) is relative to now_ms.
 */
cJSON *store_call_json(const struct store_row *r, enum call_detail detail, bool full,
                       int64_t now_ms);

/*
 * A search page's next call from row: its JSON appended to page->calls
 * (returned, for a snippet) and the keyset of the page's end moved to it.
 */
cJSON *store_page_add(struct call_page *page, const struct store_row *r, enum call_detail detail,
                      int64_t now_ms);

/*
 * Whether a search page must count its matches: not on a first page (no
 * offset, no keyset) that nothing follows, where the count is its rows.
 */
bool store_page_needs_count(const struct call_query *q, const struct call_page *page);

/* Set a page's total from n matches counted, capped at STORE_TOTAL_CAP. */
void store_page_total(struct call_page *page, int64_t n, bool exact);

/*
 * The rest of a whole call from the same row: transcript (when asked) and
 * extra, put into obj (from store_call_json(r, CALL_DETAIL_FOLLOW_UP, true, 0)).
 */
void store_call_json_full(cJSON *obj, const struct store_row *r, bool with_transcript);

/* One delivery of a call's history, from columns id, received_ms, source, status, outcome. */
cJSON *store_history_json(const struct store_row *r);

/*
 * A readable transcript from columns turns, transcript, turn_index (as
 * FC_TURNS, FC_TRANSCRIPT, FC_TURN_INDEX); NULL when the call has none.
 * Caller frees.
 */
char *store_transcript_text(const struct store_row *r);

/* ---- follow-ups ---- */

/* A call's follow-up state; strings borrowed. */
struct store_follow_up {
    bool flagged;
    const char *status; /* "none", "pending", "resolved" */
    const char *reason;
    bool resolved_known;
    int64_t resolved_ms;
    const char *by;
    const char *note;
};

/* followUp: {flagged, status, reason} and, with detail, {resolvedAt, resolvedBy, note}. */
cJSON *store_follow_up_json(const struct store_follow_up *f, bool detail);

/*
 * What store_set_follow_up() changes: cur is the stored state, the result
 * (borrowing from cur and the arguments) what to write. Returns whether
 * anything changes (see store.h for the rules).
 */
bool store_follow_up_next(const struct store_follow_up *cur, bool resolved, const char *note,
                          const char *by, int64_t now_ms, struct store_follow_up *next);

/* ---- statistics and list items, added up in C ---- */

struct store_stats;
struct store_stats *store_stats_new(void);
/*
 * Add one call, in (sort_ms, id) order, from columns sort_ms, direction,
 * sentiment, topic, agent_name, duration_s, follow_up, follow_up_status.
 */
void store_stats_add(struct store_stats *s, const struct store_row *r);
/* The answer of store_call_stats() (caller owns); frees s. */
cJSON *store_stats_finish(struct store_stats *s, unsigned top_n);
void store_stats_free(struct store_stats *s);

struct store_items;
struct store_items *store_items_new(void);
/* Add one call from columns row key, call_id, sort_ms, the list's JSON array. */
void store_items_add(struct store_items *t, const struct store_row *r);
/* The answer of store_top_list_items() (caller owns); frees t. */
cJSON *store_items_finish(struct store_items *t, unsigned limit);
void store_items_free(struct store_items *t);

/* ---- small shared helpers ---- */

/* The smallest string above every string that starts with prefix. Caller frees. */
char *store_prefix_end(const char *prefix);

/* JSON building; out-of-memory is fatal, like every other allocation. */
cJSON *store_json_new(cJSON *item);
void store_json_put(cJSON *obj, const char *name, cJSON *item);
void store_json_push(cJSON *arr, cJSON *item);
void store_json_put_string(cJSON *obj, const char *name, const char *value);
void store_json_put_iso(cJSON *obj, const char *name, int64_t ms);

/* The statuses a delivery can be listed by. */
bool store_outcome_known(const char *name);

/* ---- the access audit ---- */

/* An entry's call ids as a JSON array of strings (caller frees), or NULL when it has none. */
char *store_audit_ids_json(const struct store_audit_entry *e);

#endif
