/*
 * store.c: the backend-neutral entry points of store.h. store_open()
 * chooses the backend from the --db value (a postgresql:// or postgres://
 * URI, else an SQLite file); every other function checks
 * what every backend would check the same way, then calls the backend's
 * entry of the same name through the table in backend.h.
 *
 * Ownership: as in store.h; nothing here keeps a pointer it was given.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "xmalloc.h"

/* What each outcome is called in the deliveries log, listings and /metrics. */
static const char *const outcome_names[] = {
    [DELIVERY_STORED] = "stored",       [DELIVERY_UPDATED] = "updated",
    [DELIVERY_DUPLICATE] = "duplicate", [DELIVERY_REJECTED] = "rejected",
    [DELIVERY_QUEUED] = "queued",
};

const char *delivery_outcome_name(enum delivery_outcome outcome)
{
    if ((unsigned)outcome < sizeof outcome_names / sizeof outcome_names[0])
        return outcome_names[outcome];
    return "unknown";
}

bool store_outcome_known(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof outcome_names / sizeof outcome_names[0]; i++)
        if (strcmp(name, outcome_names[i]) == 0)
            return true;
    return false;
}

bool store_is_postgres_uri(const char *db)
{
    return db != NULL &&
           (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

/*
 * db as it may be shown in logs and messages: a URI loses the password of
 * its user part and any password parameter. Caller frees.
 */
char *store_db_display(const char *db)
{
    const char *at, *colon, *rest, *p;
    struct buf b = {0};

    if (!store_is_postgres_uri(db))
        return xstrdup(db);
    rest = strstr(db, "://") + 3;
    at = strpbrk(rest, "@/?");
    colon = memchr(rest, ':', at != NULL && *at == '@' ? (size_t)(at - rest) : 0);
    if (colon != NULL) {
        buf_append(&b, db, (size_t)(colon - db));
        rest = at;
    } else {
        buf_append(&b, db, (size_t)(rest - db));
    }
    /* Parameters: the value of password=... is hidden. */
    if ((p = strchr(rest, '?')) != NULL) {
        buf_append(&b, rest, (size_t)(p + 1 - rest));
        for (rest = p + 1; *rest != '\0'; rest += *rest == '&') {
            size_t n = strcspn(rest, "&");

            if (b.data[b.len - 1] != '?')
                buf_puts(&b, "&");
            if (strncmp(rest, "password=", 9) == 0)
                buf_puts(&b, "password=***");
            else
                buf_append(&b, rest, n);
            rest += n;
        }
    }
    buf_puts(&b, rest);
    return buf_steal(&b, NULL);
}

struct store *store_open(const char *db, const struct store_options *opt, struct err *err)
{
    static const struct store_options defaults = {0};

    if (opt == NULL)
        opt = &defaults;
    if (db == NULL || db[0] == '\0') {
        err_set(err, ERR_CONFIG, "no database path");
        return NULL;
    }
    if (store_is_postgres_uri(db))
        return store_postgres_open(db, opt, err);
    return store_sqlite_open(db, opt, err);
}

void store_close(struct store *st)
{
    if (st != NULL)
        st->be->close(st);
}

const char *store_backend_name(const struct store *st)
{
    return st->be->name;
}

int store_backend_schema(const struct store *st)
{
    return st->be->schema_version;
}

bool store_parallel_writes(const struct store *st)
{
    return st->be->parallel_writes;
}

int store_schema_version(void)
{
    return store_sqlite_backend.schema_version;
}

struct store_checkpointer *store_checkpointer_start(struct store *st, struct err *err)
{
    if (st->be->checkpointer_start == NULL) {
        err_set(err, ERR_CONFIG, "%s commits need no background checkpoints", st->be->name);
        return NULL;
    }
    return st->be->checkpointer_start(st, err);
}

uint64_t store_checkpointer_runs(struct store_checkpointer *c)
{
    return c->be->checkpointer_runs(c);
}

void store_checkpointer_stop(struct store_checkpointer *c)
{
    if (c != NULL)
        c->be->checkpointer_stop(c);
}

struct store_wal *store_wal_open(struct store *st, struct err *err)
{
    if (st->be->wal_open == NULL) {
        err_set(err, ERR_CONFIG, "%s commits are durable when they return", st->be->name);
        return NULL;
    }
    return st->be->wal_open(st, err);
}

int store_wal_sync(struct store_wal *w, struct err *err)
{
    return w->be->wal_sync(w, err);
}

void store_wal_close(struct store_wal *w)
{
    if (w != NULL)
        w->be->wal_close(w);
}

int store_put_deliveries(struct store *st, struct delivery *const *items, size_t n, struct err *err)
{
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    return st->be->put_deliveries(st, items, n, err);
}

int store_drain_queued(struct store *st, size_t *moved, struct err *err)
{
    *moved = 0;
    if (st->be->drain_queued == NULL)
        return 0;
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    for (;;) {
        size_t n;

        if (st->be->drain_queued(st, &n, err) == -1)
            return -1;
        if (n == 0)
            return 0;
        *moved += n;
    }
}

bool store_queue_pending(struct store *st)
{
    return st->be->queue_pending != NULL && !st->read_only && st->be->queue_pending(st);
}

int store_backup(struct store *st, const char *dest, bool replace, struct store_backup_info *info,
                 struct err *err)
{
    if (dest == NULL || dest[0] == '\0')
        return err_set(err, ERR_INVALID, "no backup file name");
    return st->be->backup(st, dest, replace, info, err);
}

int store_size(struct store *st, uint64_t *bytes, struct err *err)
{
    *bytes = 0;
    if (st->be->size == NULL)
        return err_set(err, ERR_UNSUPPORTED, "%s does not report its size", st->be->name);
    return st->be->size(st, bytes, err);
}

int store_check(struct store *st, struct err *err)
{
    return st->be->check(st, err);
}

int store_counts(struct store *st, struct store_counts *out, struct err *err)
{
    return st->be->counts(st, out, err);
}

int store_list_deliveries(struct store *st, const char *outcome, unsigned limit,
                          int (*fn)(const struct delivery_row *row, void *arg), void *arg,
                          struct err *err)
{
    if (outcome != NULL && !store_outcome_known(outcome))
        return err_set(err, ERR_INVALID, "unknown delivery outcome");
    return st->be->list_deliveries(st, outcome, limit, fn, arg, err);
}

int store_delivery_body(struct store *st, int64_t delivery_id, char **body, size_t *len,
                        struct err *err)
{
    return st->be->delivery_body(st, delivery_id, body, len, err);
}

int store_call_raw(struct store *st, const char *call_id, char **body, size_t *len, struct err *err)
{
    if (call_id == NULL)
        return err_set(err, ERR_NOT_FOUND, "no such call");
    return st->be->call_raw(st, call_id, body, len, err);
}

int store_search_calls(struct store *st, const struct call_query *q, int64_t now_ms,
                       struct call_page *page, struct err *err)
{
    memset(page, 0, sizeof *page);
    if (store_query_check(q, err) == -1)
        return -1;
    return st->be->search_calls(st, q, now_ms, page, err);
}

cJSON *store_get_call(struct store *st, const char *call_id, bool with_transcript, struct err *err)
{
    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    return st->be->get_call(st, call_id, with_transcript, err);
}

char *store_call_transcript_text(struct store *st, const char *call_id, struct err *err)
{
    if (call_id == NULL) {
        err_set(err, ERR_NOT_FOUND, "no such call");
        return NULL;
    }
    return st->be->call_transcript_text(st, call_id, err);
}

int store_set_follow_up(struct store *st, const char *call_id, bool resolved, const char *note,
                        const char *by, int64_t now_ms, cJSON **out, struct err *err)
{
    if (out != NULL)
        *out = NULL;
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (call_id == NULL)
        return err_set(err, ERR_NOT_FOUND, "no such call");
    return st->be->set_follow_up(st, call_id, resolved, note, by, now_ms, out, err);
}

cJSON *store_call_stats(struct store *st, int64_t from_ms, int64_t to_ms, unsigned top_n,
                        struct err *err)
{
    return st->be->call_stats(st, from_ms, to_ms, top_n, err);
}

cJSON *store_top_list_items(struct store *st, const char *column, int64_t from_ms, int64_t to_ms,
                            bool open_only, unsigned limit, struct err *err)
{
    int col;

    if (column != NULL && strcmp(column, "unanswered_questions") == 0) {
        col = STORE_LIST_UNANSWERED;
    } else if (column != NULL && strcmp(column, "action_items") == 0) {
        col = STORE_LIST_ACTION_ITEMS;
    } else {
        err_set(err, ERR_INVALID, "list must be unanswered_questions or action_items");
        return NULL;
    }
    return st->be->top_list_items(st, col, from_ms, to_ms, open_only, limit, err);
}

int store_complete(struct store *st, const char *field, const char *prefix, unsigned limit,
                   cJSON *values, bool *has_more, struct err *err)
{
    *has_more = false;
    if (field == NULL || (strcmp(field, "call_id") != 0 && strcmp(field, "phone") != 0))
        return err_set(err, ERR_INVALID, "cannot complete that argument");
    if (limit > STORE_COMPLETE_LIMIT_MAX)
        limit = STORE_COMPLETE_LIMIT_MAX;
    return st->be->complete(st, field, prefix != NULL ? prefix : "", limit, values, has_more, err);
}

void store_set_interrupt(struct store *st, bool (*fn)(void *arg), void *arg)
{
    st->be->set_interrupt(st, fn, arg);
}

static const char *const table_names[] = {
    [STORE_TABLE_DELIVERIES] = "deliveries",
    [STORE_TABLE_CALLS] = "calls",
    [STORE_TABLE_AUDIT] = "audit",
    [STORE_TABLE_ERASURES] = "erasures",
};

const char *store_table_name(enum store_table t)
{
    return (unsigned)t < STORE_TABLE_COUNT_ ? table_names[t] : "unknown";
}

int store_dump(struct store *st, enum store_table t, int64_t after_id, unsigned limit, cJSON *rows,
               struct err *err)
{
    if ((unsigned)t >= STORE_TABLE_COUNT_)
        return err_set(err, ERR_INVALID, "unknown table");
    return st->be->dump(st, t, after_id, limit, rows, err);
}

int store_load(struct store *st, enum store_table t, const cJSON *rows, struct err *err)
{
    if ((unsigned)t >= STORE_TABLE_COUNT_)
        return err_set(err, ERR_INVALID, "unknown table");
    if (st->be->load == NULL)
        return err_set(err, ERR_UNSUPPORTED, "copies go into PostgreSQL databases, not into %s",
                       st->be->name);
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    return st->be->load(st, t, rows, err);
}

int store_load_done(struct store *st, struct err *err)
{
    if (st->be->load_done == NULL)
        return 0;
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    return st->be->load_done(st, err);
}

int store_table_size(struct store *st, enum store_table t, int64_t *rows, int64_t *max_id,
                     struct err *err)
{
    if ((unsigned)t >= STORE_TABLE_COUNT_)
        return err_set(err, ERR_INVALID, "unknown table");
    return st->be->table_size(st, t, rows, max_id, err);
}

/* ---- the access audit ---- */

char *store_audit_ids_json(const struct store_audit_entry *e)
{
    cJSON *ids;
    char *text;

    if (e->ncall_ids == 0)
        return NULL;
    ids = store_json_new(cJSON_CreateArray());
    for (size_t i = 0; i < e->ncall_ids; i++)
        store_json_push(ids, cJSON_CreateString(e->call_ids[i]));
    text = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);
    if (text == NULL)
        fatalx("out of memory printing call ids");
    return text;
}

static int audit_entry_check(const struct store_audit_entry *e, struct err *err)
{
    if (e->transport == NULL || e->name == NULL)
        return err_set(err, ERR_INVALID, "an audit entry needs a transport and a name");
    if (e->kind == NULL || (strcmp(e->kind, "tool") != 0 && strcmp(e->kind, "resource") != 0))
        return err_set(err, ERR_INVALID, "an audit entry is of kind tool or resource");
    if (e->ncall_ids > STORE_AUDIT_IDS_MAX)
        return err_set(err, ERR_INVALID, "an audit entry holds at most %d call ids",
                       STORE_AUDIT_IDS_MAX);
    for (size_t i = 0; i < e->ncall_ids; i++)
        if (e->call_ids[i] == NULL)
            return err_set(err, ERR_INVALID, "an audit entry's call id is missing");
    return 0;
}

int store_audit_add(struct store *st, const struct store_audit_entry *entries, size_t n,
                    struct err *err)
{
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (n > STORE_AUDIT_BATCH_MAX)
        return err_set(err, ERR_INVALID, "at most %d audit entries at once", STORE_AUDIT_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        if (audit_entry_check(&entries[i], err) == -1)
            return -1;
    if (n == 0)
        return 0;
    return st->be->audit_add(st, entries, n, err);
}

int store_audit_list(struct store *st, const char *call_id, int64_t since_ms, unsigned limit,
                     int (*fn)(const struct store_audit_row *row, void *arg), void *arg,
                     struct err *err)
{
    if (limit == 0)
        return 0;
    return st->be->audit_list(st, call_id, since_ms, limit, fn, arg, err);
}

int store_audit_purge(struct store *st, int64_t before_ms, unsigned batch_limit, int64_t *removed,
                      struct err *err)
{
    *removed = 0;
    if (st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (batch_limit == 0 || batch_limit > STORE_AUDIT_BATCH_MAX)
        return err_set(err, ERR_INVALID, "an audit purge removes 1 to %d entries at once",
                       STORE_AUDIT_BATCH_MAX);
    return st->be->audit_purge(st, before_ms, batch_limit, removed, err);
}
