/*
 * store.h: durable storage of deliveries and calls. The only module that
 * touches SQL; nothing here names an SQLite type, so another backend can
 * implement the same interface.
 */
#ifndef PHONELY_STORE_H
#define PHONELY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "payload.h"

struct store;

struct store_options {
    bool read_only;           /* open for reading only (MCP readers) */
    unsigned busy_timeout_ms; /* wait this long for a lock, then ERR_BUSY */
    uint64_t min_free_bytes;  /* refuse writes with ERR_FULL below this free space (0: off) */
};

/*
 * Open (creating when missing, unless read-only) the database at path and
 * bring its schema to the current version. Sets WAL, synchronous=FULL,
 * foreign keys, busy timeout. The caller owns the result (store_close).
 * A store is used by one thread at a time.
 */
struct store *store_open(const char *path, const struct store_options *opt, struct err *err);
void store_close(struct store *st);

/* The schema version this build writes. */
int store_schema_version(void);

enum delivery_outcome {
    DELIVERY_STORED = 0, /* a new call */
    DELIVERY_UPDATED,    /* a known call id with different content */
    DELIVERY_DUPLICATE,  /* the same content again: nothing changed */
    DELIVERY_REJECTED    /* not stored as a call; reason says why */
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
    /* out */
    enum delivery_outcome outcome;
    int64_t delivery_id;
};

/*
 * Record n deliveries in one transaction (BEGIN IMMEDIATE ... COMMIT) and,
 * for those with a call, insert or update the call and its search index.
 * Returns 0 only after the commit succeeded, with every item's outcome and
 * delivery_id set. On -1 nothing was stored: ERR_FULL (disk full or below
 * min_free_bytes), ERR_BUSY (lock timeout), ERR_STORAGE (anything else).
 */
int store_put_deliveries(struct store *st, struct delivery *const *items, size_t n,
                         struct err *err);

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

#endif
