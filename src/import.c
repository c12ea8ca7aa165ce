/*
 * import.c: JSON and JSON Lines backfill. The file is read as a stream of
 * records; records are normalised with payload_parse and committed in
 * batches through store_put_deliveries, the same calls the webhook makes.
 *
 * Deciding the format: a file whose first non-blank line is a whole JSON
 * document is JSON Lines; otherwise the whole file is one document. So a
 * one-line JSON file and a pretty-printed one both work, and so does JSONL.
 *
 * Ownership: records and parsed calls live in a batch until it commits.
 * Each record is allocated on its own and never moves: its delivery points
 * into it (peer, digest, call), so a growing array of records would leave
 * those pointers dangling.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "import.h"
#include "payload.h"
#include "textutil.h"
#include "xmalloc.h"

struct import_rec {
    struct delivery d;
    struct call call;
    char *body;
    size_t len;
    char *reason;
    char peer[300];
    char sha256[AUTH_SHA256_HEX];
};

struct import_batch {
    struct import_rec **recs;
    struct delivery **items;
    size_t n, cap;
};

static void batch_clear(struct import_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        payload_call_free(&b->recs[i]->call);
        free(b->recs[i]->body);
        free(b->recs[i]->reason);
        free(b->recs[i]);
    }
    b->n = 0;
}

static int batch_commit(struct store *st, struct import_batch *b, const char *name,
                        const struct import_opts *opts, struct import_stats *stats, struct err *err)
{
    if (b->n == 0)
        return 0;
    for (size_t i = 0; i < b->n; i++)
        b->items[i] = &b->recs[i]->d;
    if (store_put_deliveries(st, b->items, b->n, err) == -1) {
        batch_clear(b);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        switch (b->recs[i]->d.outcome) {
        case DELIVERY_STORED:
            stats->stored++;
            break;
        case DELIVERY_UPDATED:
            stats->updated++;
            break;
        case DELIVERY_DUPLICATE:
            stats->duplicate++;
            break;
        case DELIVERY_REJECTED:
            stats->rejected++;
            break;
        case DELIVERY_QUEUED:
            stats->queued++;
            break;
        }
    }
    batch_clear(b);
    if (opts->on_progress != NULL)
        opts->on_progress(name, stats, opts->arg);
    return 0;
}

/* Redact (when asked) and parse one record into the batch; body is taken over. */
static void batch_add(struct import_batch *b, const char *name, uint64_t line, char *body,
                      size_t len, uint64_t size, const char *too_large,
                      const struct import_opts *opts)
{
    struct import_rec *r;
    struct err perr = {0};

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        /* NOLINTBEGIN(bugprone-sizeof-expression): arrays of pointers, sizeof(T *) each */
        b->recs = xreallocarray(b->recs, b->cap, sizeof *b->recs);
        b->items = xreallocarray(b->items, b->cap, sizeof *b->items);
        /* NOLINTEND(bugprone-sizeof-expression) */
    }
    if (opts->redact && too_large == NULL) {
        size_t rlen;
        char *red = payload_redact(body, len, &rlen, NULL);
        if (red != NULL) {
            free(body);
            body = red;
            len = size = rlen;
        }
    }
    r = b->recs[b->n++] = xcalloc(1, sizeof *r);
    r->body = body;
    r->len = len;
    snprintf(r->peer, sizeof r->peer, "%s:%llu", name, (unsigned long long)line);
    auth_sha256_hex(body, len, r->sha256);
    r->d = (struct delivery){
        .received_ms = time_now_ms(),
        .source = "import",
        .peer = r->peer,
        .body = body,
        .body_len = len,
        .body_size = size,
        .body_sha256 = r->sha256,
    };
    if (too_large != NULL) {
        r->reason = xstrdup(too_large);
    } else if (payload_parse(body, len, &r->call, &perr) == 0) {
        r->d.call = &r->call;
        return;
    } else {
        r->reason = xstrdup(perr.msg);
    }
    /* Rejected: keep a bounded prefix of the body, as the webhook does. */
    r->d.reason = r->reason;
    r->d.status = perr.code == ERR_NOT_A_CALL ? 422 : too_large != NULL ? 413 : 400;
    if (r->d.body_len > opts->rejected_body_max)
        r->d.body_len = opts->rejected_body_max;
    if (opts->on_reject != NULL)
        opts->on_reject(name, line, r->reason, opts->arg);
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* True when the line holds exactly one complete JSON value. */
static bool whole_json(const char *s, size_t len)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    bool ok = v != NULL && end != NULL && blank(end, len - (size_t)(end - s));

    cJSON_Delete(v);
    return ok;
}

int import_file(struct store *st, FILE *in, const char *name, const struct import_opts *opts,
                struct import_stats *stats, struct err *err)
{
    struct import_batch b = {0};
    struct buf whole = {0};
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    uint64_t lineno = 0, first_line = 0;
    int mode = 0; /* 0 undecided, 1 JSON Lines, 2 one document */
    int rc = 0;
    unsigned batch_max = opts->batch_max ? opts->batch_max : 256;

    while ((n = getline(&line, &linecap, in)) != -1) {
        lineno++;
        stats->bytes += (uint64_t)n;
        if (mode == 0) {
            if (blank(line, (size_t)n))
                continue;
            mode = whole_json(line, (size_t)n) ? 1 : 2;
            first_line = lineno;
        }
        if (mode == 2) {
            if (whole.len + (size_t)n > opts->record_max + 1) {
                uint64_t size = whole.len + (uint64_t)n;
                buf_free(&whole);
                stats->records++;
                batch_add(&b, name, first_line, xstrndup("", 0), 0, size,
                          "the record is larger than body_max", opts);
                mode = 3; /* skip the rest of the oversized document */
            } else {
                buf_append(&whole, line, (size_t)n);
            }
            continue;
        }
        if (mode == 3 || blank(line, (size_t)n))
            continue;
        /* JSON Lines: one record per line. */
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        stats->records++;
        if (len > opts->record_max)
            batch_add(&b, name, lineno, xstrndup("", 0), 0, len,
                      "the record is larger than body_max", opts);
        else
            batch_add(&b, name, lineno, xstrndup(line, len), len, len, NULL, opts);
        if (b.n >= batch_max && (rc = batch_commit(st, &b, name, opts, stats, err)) == -1)
            goto done;
    }
    if (ferror(in)) {
        rc = err_set(err, ERR_SYSTEM, "%s: read error", name);
        goto done;
    }
    if (mode == 2) {
        size_t len = whole.len;
        stats->records++;
        batch_add(&b, name, first_line, buf_steal(&whole, NULL), len, len, NULL, opts);
    }
    rc = batch_commit(st, &b, name, opts, stats, err);
done:
    batch_clear(&b);
    free(b.recs);
    free(b.items);
    buf_free(&whole);
    free(line);
    return rc;
}
