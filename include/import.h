/* import.h: backfill calls from JSON / JSONL files through the webhook's path. */
#ifndef PHONELY_IMPORT_H
#define PHONELY_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

struct import_stats {
    uint64_t records; /* JSON documents read */
    uint64_t stored;
    uint64_t updated;
    uint64_t duplicate;
    uint64_t rejected;
    uint64_t queued; /* acknowledged while an erasure rewrote the tables; moved at the end */
    uint64_t bytes;
};

/* Called for each rejected record: where (name:line) and why. */
typedef void (*import_reject_fn)(const char *name, uint64_t line, const char *reason, void *arg);
/* Called after each committed batch, for progress display. */
typedef void (*import_progress_fn)(const char *name, const struct import_stats *stats, void *arg);

struct import_opts {
    size_t record_max; /* bytes; longer records are rejected (body_max) */
    size_t rejected_body_max;
    unsigned batch_max; /* records per transaction */
    bool redact;        /* mask card and SSN numbers first, as the webhook does (payload_redact) */
    import_reject_fn on_reject;
    import_progress_fn on_progress;
    void *arg;
};

/*
 * Read one file: a single JSON document (possibly spanning lines), or JSON
 * Lines (one document per line; blank lines skipped). Each document goes
 * through payload_parse and store_put_deliveries exactly as a webhook
 * body does, with source "import" and peer "name:line" (redacted first
 * when opts->redact, the digest then the redacted body's). Rejected records
 * are kept in the deliveries log like rejected webhooks. Returns 0, or -1
 * when reading or storing failed (err says why; stats count what was
 * committed before).
 */
int import_file(struct store *st, FILE *in, const char *name, const struct import_opts *opts,
                struct import_stats *stats, struct err *err);

#endif
