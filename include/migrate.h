/*
 * migrate.h: copying every stored row from one database to another (an
 * SQLite file into PostgreSQL: `phonely-mcp migrate`), resumable and
 * checked.
 */
#ifndef PHONELY_MIGRATE_H
#define PHONELY_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* What the copy did to one table, and what the check found. */
struct migrate_table {
    int64_t copied;             /* rows copied by this run */
    int64_t skipped;            /* rows the destination held before it (an earlier run) */
    int64_t rows_from, rows_to; /* rows on each side afterwards */
    char digest_from[65];       /* SHA-256 over every row, in id order, as hex */
    char digest_to[65];
    bool same; /* counts and digests agree */
};

struct migrate_report {
    struct migrate_table tables[STORE_TABLE_COUNT_];
};

/*
 * Called after every batch with the table, the rows done and the rows in
 * all (of that table on the source), for progress lines. NULL: silent.
 */
typedef void (*migrate_progress_fn)(enum store_table t, int64_t done, int64_t total, void *arg);

/*
 * Copy every row of from into to, table by table in id order, in batches
 * of batch rows, each its own transaction on to. A run that stopped
 * (killed, a lost connection) leaves whole batches behind, and the next run
 * goes on after the last row to holds. Then every table is read back from
 * both sides and compared: row counts and a digest of every row. Returns 0
 * when the copy is complete and the check found both sides equal; -1 with
 * err otherwise (report holds what was found either way).
 */
int migrate_run(struct store *from, struct store *to, unsigned batch, migrate_progress_fn progress,
                void *arg, struct migrate_report *report, struct err *err);

#endif
