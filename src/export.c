/*
 * export.c: a person's data as JSON Lines or CSV (export.h), read through
 * the store's ordinary interface: the person's calls, each call as
 * store_get_call gives it, the bodies of its deliveries, and the rejected
 * bodies that hold the person's identifier.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "export.h"
#include "textutil.h"
#include "xmalloc.h"

int export_format_parse(const char *name)
{
    if (name == NULL || strcmp(name, "jsonl") == 0)
        return EXPORT_JSONL;
    if (strcmp(name, "csv") == 0)
        return EXPORT_CSV;
    return -1;
}

struct exporter {
    struct store *st;
    enum export_format fmt;
    FILE *out;
    const struct store_person *p;
    char *key;
    int64_t deliveries;
};

/* A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
static void csv_field(FILE *out, const char *s, bool last)
{
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
    } else {
        fputc('"', out);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', out);
            fputc(*s, out);
        }
        fputc('"', out);
    }
    fputc(last ? '\n' : ',', out);
}

/*
 * One CSV row per leaf of v, its field the path from the record's root.
 * Recursion is bounded by cJSON's nesting limit (1000) on what it parsed.
 */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by cJSON's nesting limit */
static void csv_leaves(FILE *out, const char *record, const char *call_id, const char *delivery,
                       const char *path, const cJSON *v)
{
    char *text = NULL;
    const cJSON *c;
    int i = 0;

    if (cJSON_IsRaw(v)) {
        cJSON *parsed = cJSON_Parse(v->valuestring);
        if (parsed != NULL) {
            csv_leaves(out, record, call_id, delivery, path, parsed);
            cJSON_Delete(parsed);
            return;
        }
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        cJSON_ArrayForEach(c, v)
        {
            char *sub = cJSON_IsObject(v)
                            ? xasprintf("%s%s%s", path, path[0] != '\0' ? "." : "", c->string)
                            : xasprintf("%s[%d]", path, i);
            csv_leaves(out, record, call_id, delivery, sub, c);
            free(sub);
            i++;
        }
        return;
    }
    if (!cJSON_IsString(v))
        text = cJSON_PrintUnformatted(v);
    csv_field(out, record, false);
    csv_field(out, call_id, false);
    csv_field(out, delivery, false);
    csv_field(out, path, false);
    csv_field(out, cJSON_IsString(v) ? v->valuestring : text, true);
    free(text);
}

/* Write one record (taken over). */
static void emit(struct exporter *x, cJSON *rec)
{
    if (x->fmt == EXPORT_JSONL) {
        char *line = cJSON_PrintUnformatted(rec);
        fputs(line, x->out);
        fputc('\n', x->out);
        free(line);
    } else {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "callId");
        const cJSON *did = cJSON_GetObjectItemCaseSensitive(rec, "deliveryId");
        char num[32] = "";
        if (cJSON_IsNumber(did))
            snprintf(num, sizeof num, "%.0f", did->valuedouble);
        csv_leaves(x->out, cJSON_GetObjectItemCaseSensitive(rec, "record")->valuestring,
                   cJSON_IsString(id) ? id->valuestring : "", num, "", rec);
    }
    cJSON_Delete(rec);
}

/* A delivery record: its metadata (from a call's history, or NULL) and body. */
static int emit_delivery(struct exporter *x, const char *call_id, int64_t id, const cJSON *meta,
                         const char *body, size_t len, struct err *err)
{
    cJSON *rec = cJSON_CreateObject(), *parsed;
    char *owned = NULL;
    size_t n = len;

    cJSON_AddStringToObject(rec, "record", "delivery");
    if (call_id != NULL)
        cJSON_AddStringToObject(rec, "callId", call_id);
    else
        cJSON_AddNullToObject(rec, "callId");
    cJSON_AddNumberToObject(rec, "deliveryId", (double)id);
    if (meta != NULL) {
        const cJSON *m;
        cJSON_ArrayForEach(m, meta)
        {
            if (strcmp(m->string, "id") != 0)
                cJSON_AddItemToObject(rec, m->string, cJSON_Duplicate(m, true));
        }
    } else {
        cJSON_AddStringToObject(rec, "outcome", "rejected");
    }
    if (body == NULL) {
        struct err e = {0};
        if (store_delivery_body(x->st, id, &owned, &n, &e) == -1 && e.code != ERR_NOT_FOUND) {
            cJSON_Delete(rec);
            *err = e;
            return -1;
        }
        body = owned;
    }
    if (body == NULL)
        cJSON_AddNullToObject(rec, "body");
    else if ((parsed = cJSON_ParseWithLength(body, n)) != NULL)
        cJSON_AddItemToObject(rec, "body", parsed);
    else {
        char *text = utf8_sanitize(body, n);
        cJSON_AddStringToObject(rec, "bodyText", text);
        free(text);
    }
    free(owned);
    emit(x, rec);
    x->deliveries++;
    return 0;
}

static int export_loose(int64_t id, const char *body, size_t len, void *arg, struct err *err)
{
    struct exporter *x = arg;

    if (!store_body_holds(body, len, x->p, x->key))
        return 0;
    return emit_delivery(x, NULL, id, NULL, body, len, err);
}

int export_person(struct store *st, const struct store_person *p, enum export_format fmt,
                  int64_t now_ms, FILE *out, int64_t *calls, int64_t *deliveries, struct err *err)
{
    struct exporter x = {.st = st, .fmt = fmt, .out = out, .p = p};
    cJSON *ids = cJSON_CreateArray(), *rec, *id;
    char when[40];
    int rc = -1;

    *calls = *deliveries = 0;
    if ((x.key = store_person_key(p, err)) == NULL || store_person_calls(st, p, ids, err) == -1)
        goto done;
    if (fmt == EXPORT_CSV)
        fputs("record,call_id,delivery_id,field,value\n", out);
    time_format_iso8601(now_ms, when, sizeof when);
    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "record", "export");
    cJSON_AddStringToObject(rec, "kind", store_person_kind_name(p->kind));
    cJSON_AddStringToObject(rec, "identifier", p->value);
    cJSON_AddStringToObject(rec, "generatedAt", when);
    emit(&x, rec);
    cJSON_ArrayForEach(id, ids)
    {
        cJSON *call = store_get_call(st, id->valuestring, true, err), *d;
        if (call == NULL) {
            if (err->code == ERR_NOT_FOUND) /* erased or expired meanwhile */
                continue;
            goto done;
        }
        rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "record", "call");
        cJSON_AddStringToObject(rec, "callId", id->valuestring);
        cJSON_AddItemToObject(rec, "call", cJSON_Duplicate(call, true));
        emit(&x, rec);
        (*calls)++;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(call, "deliveries"))
        {
            const cJSON *did = cJSON_GetObjectItemCaseSensitive(d, "id");
            if (cJSON_IsNumber(did) && emit_delivery(&x, id->valuestring, (int64_t)did->valuedouble,
                                                     d, NULL, 0, err) == -1) {
                cJSON_Delete(call);
                goto done;
            }
        }
        cJSON_Delete(call);
    }
    if (store_loose_bodies(st, export_loose, &x, err) == -1)
        goto done;
    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "record", "summary");
    cJSON_AddNumberToObject(rec, "calls", (double)*calls);
    cJSON_AddNumberToObject(rec, "deliveries", (double)x.deliveries);
    emit(&x, rec);
    *deliveries = x.deliveries;
    if (fflush(out) != 0 || ferror(out)) {
        err_set(err, ERR_SYSTEM, "cannot write the export");
        goto done;
    }
    rc = 0;
done:
    free(x.key);
    cJSON_Delete(ids);
    return rc;
}
