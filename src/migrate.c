/*
 * migrate.c: a whole database copied through the storage interface, from
 * one backend to another, and checked.
 *
 * Rows travel as store_dump() gives them: objects of columns by name, the
 * same text whichever backend printed them. A copy is resumable because
 * it moves rows in id order in batches that each commit alone, and
 * store_load() keeps ids and leaves rows already there alone. The check
 * reads both sides again and folds every row, keys in order and nulls left
 * out (a column one schema lacks reads as null in the other), into a
 * chained SHA-256.
 *
 * Ownership: nothing is kept; the stores stay the caller's.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "migrate.h"
#include "xmalloc.h"

#define VERIFY_BATCH 1000

static int compare_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

    return strcmp(x->string, y->string);
}

/* The row's columns as "name=value" lines in name order, nulls left out, appended to out. */
static void canonical_row(const cJSON *row, struct buf *out)
{
    const cJSON *c;
    const cJSON **cols;
    size_t n = 0, i;

    cJSON_ArrayForEach(c, row)
    {
        n++;
    }
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    cols = xcalloc(n + 1, sizeof *cols);
    n = 0;
    cJSON_ArrayForEach(c, row)
    {
        if (!cJSON_IsNull(c))
            cols[n++] = c;
    }
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    qsort(cols, n, sizeof *cols, compare_keys);
    for (i = 0; i < n; i++) {
        char *v = cJSON_PrintUnformatted(cols[i]);

        if (v == NULL)
            fatalx("out of memory printing a row");
        buf_printf(out, "%s=%s\n", cols[i]->string, v);
        free(v);
    }
    free(cols);
}

/* Fold every row of table t on st into a digest (hex), counting them. */
static int table_digest(struct store *st, enum store_table t, char digest[65], int64_t *rows,
                        struct err *err)
{
    int64_t after = 0;
    struct buf b = {0};

    *rows = 0;
    memset(digest, '0', 64);
    digest[64] = '\0';
    for (;;) {
        cJSON *batch = cJSON_CreateArray(), *row;
        int n = 0;

        if (batch == NULL)
            fatalx("out of memory reading rows");
        if (store_dump(st, t, after, VERIFY_BATCH, batch, err) == -1) {
            cJSON_Delete(batch);
            buf_free(&b);
            return -1;
        }
        cJSON_ArrayForEach(row, batch)
        {
            buf_reset(&b);
            buf_append(&b, digest, 64);
            canonical_row(row, &b);
            auth_sha256_hex(b.data, b.len, digest);
            after = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "id"));
            n++;
        }
        cJSON_Delete(batch);
        *rows += n;
        if (n < VERIFY_BATCH)
            break;
    }
    buf_free(&b);
    return 0;
}

/* Copy the rows of t that to does not hold yet. */
static int copy_table(struct store *from, struct store *to, enum store_table t, unsigned batch,
                      migrate_progress_fn progress, void *arg, struct migrate_table *r,
                      struct err *err)
{
    int64_t total, max_from, have, after;

    if (store_table_size(from, t, &total, &max_from, err) == -1 ||
        store_table_size(to, t, &have, &after, err) == -1)
        return -1;
    r->skipped = have;
    if (progress != NULL)
        progress(t, have, total, arg);
    while (after < max_from) {
        cJSON *rows = cJSON_CreateArray(), *last;
        int n;

        if (rows == NULL)
            fatalx("out of memory reading rows");
        if (store_dump(from, t, after, batch, rows, err) == -1 ||
            store_load(to, t, rows, err) == -1) {
            cJSON_Delete(rows);
            return -1;
        }
        n = cJSON_GetArraySize(rows);
        if (n == 0) {
            cJSON_Delete(rows);
            break;
        }
        last = cJSON_GetArrayItem(rows, n - 1);
        after = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "id"));
        cJSON_Delete(rows);
        r->copied += n;
        if (progress != NULL)
            progress(t, have + r->copied, total, arg);
    }
    return 0;
}

int migrate_run(struct store *from, struct store *to, unsigned batch, migrate_progress_fn progress,
                void *arg, struct migrate_report *report, struct err *err)
{
    struct migrate_table *r;
    int t;

    memset(report, 0, sizeof *report);
    if (batch == 0)
        batch = 500;
    for (t = 0; t < STORE_TABLE_COUNT_; t++)
        if (copy_table(from, to, (enum store_table)t, batch, progress, arg, &report->tables[t],
                       err) == -1)
            return -1;
    if (store_copy_erasure_key(from, to, err) == -1 || store_load_done(to, err) == -1)
        return -1;
    for (t = 0; t < STORE_TABLE_COUNT_; t++) {
        r = &report->tables[t];
        if (table_digest(from, (enum store_table)t, r->digest_from, &r->rows_from, err) == -1 ||
            table_digest(to, (enum store_table)t, r->digest_to, &r->rows_to, err) == -1)
            return -1;
        r->same = r->rows_from == r->rows_to && strcmp(r->digest_from, r->digest_to) == 0;
    }
    for (t = 0; t < STORE_TABLE_COUNT_; t++)
        if (!report->tables[t].same)
            return err_set(err, ERR_STORAGE,
                           "the copy of %s differs from the original (%lld rows and %lld); see "
                           "docs/scaling.md",
                           store_table_name((enum store_table)t),
                           (long long)report->tables[t].rows_from,
                           (long long)report->tables[t].rows_to);
    return 0;
}
