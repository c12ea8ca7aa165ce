/*
 * answers.c: the backend-neutral half of storage: the JSON answers built
 * from a backend's rows (calls, history, transcripts), the follow-up
 * rules, statistics and list items added up in C, and the checks every
 * query passes before a backend sees it.
 *
 * Nothing here knows a database: rows come through struct store_row, whose
 * columns are numbered as backend.h says. Out-of-memory is fatal, like
 * every other allocation.
 *
 * Ownership: every cJSON tree or string returned belongs to the caller;
 * row values are borrowed for the call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "callfmt.h"
#include "log.h"
#include "payload.h"
#include "textutil.h"
#include "xmalloc.h"

#define MS_PER_DAY INT64_C(86400000)

/* An upper bound above every valid UTF-8 string (no lead byte exceeds 0xF4). */
#define TEXT_TOP "\xF4\x90"

static bool row_null(const struct store_row *r, int col)
{
    return r->ops->is_null(r, r->base + col);
}

static const char *row_text(const struct store_row *r, int col)
{
    return r->ops->text(r, r->base + col, NULL);
}

static int64_t row_int64(const struct store_row *r, int col)
{
    return r->ops->int64(r, r->base + col);
}

static double row_real(const struct store_row *r, int col)
{
    return r->ops->real(r, r->base + col);
}

/* ---- JSON building ---- */

cJSON *store_json_new(cJSON *item)
{
    if (item == NULL)
        fatalx("out of memory building JSON");
    return item;
}

void store_json_put(cJSON *obj, const char *name, cJSON *item)
{
    if (!cJSON_AddItemToObject(obj, name, store_json_new(item)))
        fatalx("out of memory building JSON");
}

void store_json_push(cJSON *arr, cJSON *item)
{
    if (!cJSON_AddItemToArray(arr, store_json_new(item)))
        fatalx("out of memory building JSON");
}

void store_json_put_string(cJSON *obj, const char *name, const char *value)
{
    if (value != NULL && value[0] != '\0')
        store_json_put(obj, name, cJSON_CreateString(value));
}

void store_json_put_iso(cJSON *obj, const char *name, int64_t ms)
{
    char iso[40];

    time_format_iso8601(ms, iso, sizeof iso);
    store_json_put(obj, name, cJSON_CreateString(iso));
}

/* ---- calls ---- */

static void put_text(cJSON *obj, const char *name, const struct store_row *r, int col)
{
    store_json_put_string(obj, name, row_text(r, col));
}

/* A time as ISO 8601 from its milliseconds, else the text as sent, else nothing. */
static void put_time(cJSON *obj, const char *name, const struct store_row *r, int ms_col,
                     int text_col)
{
    if (!row_null(r, ms_col))
        store_json_put_iso(obj, name, row_int64(r, ms_col));
    else
        put_text(obj, name, r, text_col);
}

static void put_number(cJSON *obj, const char *name, const struct store_row *r, int col)
{
    if (!row_null(r, col))
        store_json_put(obj, name, cJSON_CreateNumber(row_real(r, col)));
}

static void put_bool(cJSON *obj, const char *name, const struct store_row *r, int col)
{
    if (!row_null(r, col))
        store_json_put(obj, name, cJSON_CreateBool((int)row_int64(r, col) != 0));
}

/* A column holding a JSON array written by callfmt.c. */
static void put_json_array(cJSON *obj, const char *name, const struct store_row *r, int col)
{
    const char *text = row_text(r, col);
    cJSON *arr;

    if (text == NULL)
        return;
    arr = cJSON_Parse(text);
    if (cJSON_IsArray(arr))
        store_json_put(obj, name, arr);
    else
        cJSON_Delete(arr);
}

/*
 * The same for a column that SQL has checked with json_valid(): the text
 * goes out as it is stored, without building and printing it again.
 */
static void put_raw_array(cJSON *obj, const char *name, const struct store_row *r, int col)
{
    const char *text = row_text(r, col), *p = text;

    if (text == NULL)
        return;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p == '[')
        store_json_put(obj, name, store_json_new(cJSON_CreateRaw(text)));
}

/* The turns JSON of a row that keeps them as text and index (schema 5); NULL if they disagree. */
static char *indexed_turns(const struct store_row *r, int text_col, int index_col)
{
    size_t len = 0;
    const char *text = r->ops->text(r, r->base + text_col, &len);

    return callfmt_turns_from_index(text != NULL ? text : "", len, row_text(r, index_col));
}

/* followUp: {flagged, status, reason} and, with detail, {resolvedAt, resolvedBy, note}. */
cJSON *store_follow_up_json(const struct store_follow_up *f, bool detail)
{
    cJSON *obj = store_json_new(cJSON_CreateObject());

    store_json_put(obj, "flagged", cJSON_CreateBool(f->flagged));
    store_json_put_string(obj, "status", f->status);
    store_json_put_string(obj, "reason", f->reason);
    if (detail) {
        if (f->resolved_known)
            store_json_put_iso(obj, "resolvedAt", f->resolved_ms);
        store_json_put_string(obj, "resolvedBy", f->by);
        store_json_put_string(obj, "note", f->note);
    }
    return obj;
}

/*
 * One call as JSON from a row of OUT_COLUMNS (plus OUT_COLUMNS_FULL when
 * full): the compact fields, the follow-up ones for CALL_DETAIL_FOLLOW_UP
 * or full, and everything else stored when full. ageSeconds is relative
 * to now_ms and only listed calls carry it.
 */
cJSON *store_call_json(const struct store_row *r, enum call_detail detail, bool full,
                       int64_t now_ms)
{
    bool more = full || detail == CALL_DETAIL_FOLLOW_UP;
    struct store_follow_up fu = {
        .flagged = (int)row_int64(r, OC_FOLLOW_UP) == 1,
        .status = row_text(r, OC_FOLLOW_UP_STATUS),
        .reason = row_text(r, OC_FOLLOW_UP_REASON),
        .resolved_known = !row_null(r, OC_RESOLVED_MS),
        .resolved_ms = row_int64(r, OC_RESOLVED_MS),
        .by = row_text(r, OC_RESOLVED_BY),
        .note = row_text(r, OC_RESOLUTION_NOTE),
    };
    cJSON *obj = store_json_new(cJSON_CreateObject());

    put_text(obj, "callId", r, OC_CALL_ID);
    put_time(obj, "startedAt", r, OC_STARTED_MS, OC_STARTED_AT);
    put_time(obj, "endedAt", r, OC_ENDED_MS, OC_ENDED_AT);
    put_text(obj, "direction", r, OC_DIRECTION);
    put_text(obj, "callerName", r, OC_CALLER_NAME);
    put_text(obj, "customerPhone", r, OC_CUSTOMER_PHONE);
    put_text(obj, "businessPhone", r, OC_BUSINESS_PHONE);
    put_text(obj, "agentName", r, OC_AGENT_NAME);
    if (full)
        put_text(obj, "agentId", r, FC_AGENT_ID);
    put_number(obj, "durationSeconds", r, OC_DURATION_S);
    put_text(obj, "summary", r, OC_SUMMARY);
    if (full) {
        put_text(obj, "longSummary", r, FC_LONG_SUMMARY);
        put_text(obj, "purpose", r, FC_PURPOSE);
    }
    put_text(obj, "sentiment", r, OC_SENTIMENT);
    put_text(obj, "topic", r, OC_TOPIC);
    if (full)
        put_json_array(obj, "keyPoints", r, FC_KEY_POINTS);
    store_json_put(obj, "followUp", store_follow_up_json(&fu, more));
    if (more) {
        put_json_array(obj, "actionItems", r, OC_ACTION_ITEMS);
        put_json_array(obj, "unansweredQuestions", r, OC_UNANSWERED_QUESTIONS);
        put_text(obj, "mentionedEmail", r, OC_MENTIONED_EMAIL);
        put_text(obj, "mentionedDate", r, OC_MENTIONED_DATE);
        put_text(obj, "mentionedTime", r, OC_MENTIONED_TIME);
    }
    if (full) {
        put_bool(obj, "aiSuccess", r, FC_AI_SUCCESS);
        put_bool(obj, "callTransferred", r, FC_CALL_TRANSFERRED);
        put_bool(obj, "workflowTriggered", r, FC_WORKFLOW_TRIGGERED);
        put_text(obj, "endedReason", r, FC_ENDED_REASON);
        put_text(obj, "callOutcome", r, FC_CALL_OUTCOME);
    }
    if (more) {
        put_text(obj, "dashboardUrl", r, OC_DASHBOARD_URL);
        put_text(obj, "recordingUrl", r, OC_RECORDING_URL);
    }
    if (!full && detail == CALL_DETAIL_FOLLOW_UP) {
        int64_t age = (now_ms - row_int64(r, OC_SORT_MS)) / 1000;
        store_json_put(obj, "ageSeconds", cJSON_CreateNumber((double)(age > 0 ? age : 0)));
    }
    return obj;
}

cJSON *store_page_add(struct call_page *page, const struct store_row *r, enum call_detail detail,
                      int64_t now_ms)
{
    cJSON *item = store_call_json(r, detail, false, now_ms);

    store_json_push(page->calls, item);
    page->last_sort_ms = r->ops->int64(r, OC_SORT_MS);
    page->last_id = r->ops->int64(r, OC_ID);
    return item;
}

bool store_page_needs_count(const struct call_query *q, const struct call_page *page)
{
    bool first = q->sort == CALL_SORT_RELEVANCE ? q->offset == 0 : !q->has_after;

    return !first || page->more;
}

void store_page_total(struct call_page *page, int64_t n, bool exact)
{
    page->total = n > STORE_TOTAL_CAP ? STORE_TOTAL_CAP : n;
    page->total_exact = exact && n <= STORE_TOTAL_CAP;
}

/* calls.extra as JSON; NULL when there is none (or it is not an object). */
static cJSON *stored_extra(const char *text)
{
    cJSON *extra = text != NULL ? cJSON_Parse(text) : NULL;

    if (extra != NULL && !cJSON_IsObject(extra)) {
        cJSON_Delete(extra);
        extra = NULL;
    }
    return extra;
}

/*
 * The top-level members of a raw body that payload.c does not read, as
 * sent; NULL if none. For calls stored before schema 3, which do not keep
 * them in calls.extra.
 */
static cJSON *body_extra(const void *body, size_t len)
{
    cJSON *root, *extra;

    if (body == NULL || len == 0)
        return NULL;
    root = cJSON_ParseWithLength(body, len);
    extra = root != NULL && cJSON_IsObject(root) ? payload_extra_take(root) : NULL;
    cJSON_Delete(root);
    return extra;
}

/* "Agent", "Caller", or the role as sent with its first letter in upper case. */
static void speaker_label(const char *role, struct buf *b)
{
    if (role == NULL || role[0] == '\0' || strcmp(role, "agent") == 0) {
        buf_puts(b, role == NULL || role[0] == '\0' ? "Other" : "Agent");
        return;
    }
    if (strcmp(role, "caller") == 0) {
        buf_puts(b, "Caller");
        return;
    }
    if (role[0] >= 'a' && role[0] <= 'z') {
        char first = (char)(role[0] - 'a' + 'A');
        buf_append(b, &first, 1);
        buf_puts(b, role + 1);
    } else {
        buf_puts(b, role);
    }
}

/* "Speaker: content" lines from a turns JSON array; NULL when it has none. */
static char *turns_text(const char *turns_json)
{
    cJSON *turns = cJSON_Parse(turns_json), *t;
    struct buf b = {0};

    for (t = cJSON_IsArray(turns) ? turns->child : NULL; t != NULL; t = t->next) {
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "role"));
        const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "content"));

        if (b.len > 0)
            buf_puts(&b, "\n");
        speaker_label(role, &b);
        buf_puts(&b, ": ");
        buf_puts(&b, content != NULL ? content : "");
    }
    cJSON_Delete(turns);
    if (b.len == 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static bool text_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* ---- statistics and list items ---- */

/*
 * A tally: counts by text, grouped case-insensitively (ASCII), in a small
 * open-addressing hash table. Each group remembers the spelling and the
 * call of its newest row. Statistics and list items add up in C because
 * SQLite would sort every row of the period to group them.
 */
struct tally_entry {
    char *key;   /* lower-cased text; NULL for the group of missing values */
    char *shown; /* the newest spelling */
    int64_t calls;
    int64_t last_ms, last_id; /* the newest call counted */
    char *last_call;
    int64_t seen; /* the call counted last, to count each call once */
};

struct tally {
    struct tally_entry *v;
    size_t cap, n;
    struct tally_entry missing; /* rows without a value */
};

static uint64_t tally_hash(const char *key)
{
    uint64_t h = 14695981039346656037u;

    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211u;
    return h;
}

static char *ascii_lower_dup(const char *s, size_t len)
{
    char *out = xstrndup(s, len);
    char *p;

    for (p = out; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

/* The group of text[0..len), created when new; NULL text is the missing-value group. */
static struct tally_entry *tally_get(struct tally *t, const char *text, size_t len)
{
    struct tally_entry *e;
    char *key;
    size_t i;

    if (text == NULL)
        return &t->missing;
    if ((t->n + 1) * 10 >= t->cap * 7) {
        struct tally old = *t;

        t->cap = old.cap ? old.cap * 2 : 64;
        t->v = xcalloc(t->cap, sizeof *t->v);
        t->n = 0;
        for (i = 0; i < old.cap; i++) {
            if (old.v[i].key == NULL)
                continue;
            e = &t->v[tally_hash(old.v[i].key) & (t->cap - 1)];
            while (e->key != NULL)
                e = e + 1 < t->v + t->cap ? e + 1 : t->v;
            *e = old.v[i];
            t->n++;
        }
        free(old.v);
    }
    key = ascii_lower_dup(text, len);
    e = &t->v[tally_hash(key) & (t->cap - 1)];
    while (e->key != NULL && strcmp(e->key, key) != 0)
        e = e + 1 < t->v + t->cap ? e + 1 : t->v;
    if (e->key != NULL) {
        free(key);
        return e;
    }
    e->key = key;
    e->last_ms = INT64_MIN;
    t->n++;
    return e;
}

/* Count one call for e; the newest call also sets the spelling shown. */
static void tally_add(struct tally_entry *e, const char *text, size_t len, int64_t sort_ms,
                      int64_t id, const char *call_id)
{
    e->calls++;
    if (sort_ms > e->last_ms || (sort_ms == e->last_ms && id > e->last_id)) {
        e->last_ms = sort_ms;
        e->last_id = id;
        if (text != NULL &&
            (e->shown == NULL || strlen(e->shown) != len || memcmp(e->shown, text, len) != 0)) {
            free(e->shown);
            e->shown = xstrndup(text, len);
        }
        if (call_id != NULL) {
            free(e->last_call);
            e->last_call = xstrdup(call_id);
        }
    }
}

static void tally_free(struct tally *t)
{
    size_t i;

    for (i = 0; i < t->cap; i++) {
        free(t->v[i].key);
        free(t->v[i].shown);
        free(t->v[i].last_call);
    }
    free(t->v);
    free(t->missing.shown);
    free(t->missing.last_call);
    memset(t, 0, sizeof *t);
}

/* Most calls first, then by text; the missing group last among equals. */
static int tally_order(const void *a, const void *b)
{
    const struct tally_entry *x = *(const struct tally_entry *const *)a;
    const struct tally_entry *y = *(const struct tally_entry *const *)b;

    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    if ((x->key == NULL) != (y->key == NULL))
        return x->key == NULL ? 1 : -1;
    return x->key == NULL ? 0 : strcmp(x->key, y->key);
}

/* Most calls first, then the most recently seen, then by text. */
static int tally_order_recent(const void *a, const void *b)
{
    const struct tally_entry *x = *(const struct tally_entry *const *)a;
    const struct tally_entry *y = *(const struct tally_entry *const *)b;

    if (x->calls == y->calls && x->last_ms != y->last_ms)
        return x->last_ms > y->last_ms ? -1 : 1;
    return tally_order(a, b);
}

/* The groups in order (with the missing group if asked); the caller frees the array. */
static struct tally_entry **tally_sorted(struct tally *t, bool with_missing,
                                         int (*order)(const void *, const void *), size_t *n)
{
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    struct tally_entry **out = xcalloc(t->n + 1, sizeof *out);
    size_t i, k = 0;

    for (i = 0; i < t->cap; i++)
        if (t->v[i].key != NULL)
            out[k++] = &t->v[i];
    if (with_missing && t->missing.calls > 0)
        out[k++] = &t->missing;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    qsort(out, k, sizeof *out, order);
    *n = k;
    return out;
}

/* {value: calls} for at most max groups; the missing values count as "unknown". */
static cJSON *tally_object(struct tally *t, size_t max)
{
    cJSON *obj = store_json_new(cJSON_CreateObject());
    size_t n, i;
    struct tally_entry **v = tally_sorted(t, true, tally_order, &n);

    for (i = 0; i < n && i < max; i++)
        store_json_put(obj, v[i]->key != NULL ? v[i]->shown : "unknown",
                       cJSON_CreateNumber((double)v[i]->calls));
    free(v);
    return obj;
}

/* [{<name>: value, calls}] for at most max groups; calls without a value are not listed. */
static cJSON *tally_list(struct tally *t, const char *name, size_t max)
{
    cJSON *arr = store_json_new(cJSON_CreateArray()), *obj;
    size_t n, i;
    struct tally_entry **v = tally_sorted(t, false, tally_order, &n);

    for (i = 0; i < n && i < max; i++) {
        obj = store_json_new(cJSON_CreateObject());
        store_json_put(obj, name, cJSON_CreateString(v[i]->shown));
        store_json_put(obj, "calls", cJSON_CreateNumber((double)v[i]->calls));
        store_json_push(arr, obj);
    }
    free(v);
    return arr;
}

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Add one text column value to a tally (missing values to its missing group). */
static void tally_column(struct tally *t, const struct store_row *r, int col, int64_t sort_ms,
                         int64_t n)
{
    const char *v = row_text(r, col);
    size_t len = v != NULL ? strlen(v) : 0;

    if (len == 0)
        v = NULL;
    tally_add(tally_get(t, v, len), v, len, sort_ms, n, NULL);
}

/* The UTC day a time falls on, as its first millisecond. */
static int64_t day_start(int64_t ms)
{
    int64_t r = ms % MS_PER_DAY;

    return ms - (r < 0 ? r + MS_PER_DAY : r);
}

/* Trim ASCII white space from both ends of s; *len gets what remains. */
static const char *trim_space(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    *len = n;
    return s;
}

/* The smallest string above every string that starts with prefix (the last byte raised). */
char *store_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end;

    while (n > 0 && (unsigned char)prefix[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return xstrdup(TEXT_TOP);
    end = xstrndup(prefix, n);
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    return end;
}
static bool status_known(const char *status)
{
    return strcmp(status, "pending") == 0 || strcmp(status, "resolved") == 0 ||
           strcmp(status, "none") == 0;
}

/* Reject a query the tools should never build, with messages a model can act on. */
int store_query_check(const struct call_query *q, struct err *err)
{
    if (q->limit < 1 || q->limit > STORE_SEARCH_LIMIT_MAX)
        return err_set(err, ERR_INVALID, "limit must be from 1 to %d", STORE_SEARCH_LIMIT_MAX);
    if (q->sort != CALL_SORT_NEWEST && q->sort != CALL_SORT_OLDEST &&
        q->sort != CALL_SORT_RELEVANCE)
        return err_set(err, ERR_INVALID, "sort must be newest, oldest or relevance");
    if (q->detail != CALL_DETAIL_COMPACT && q->detail != CALL_DETAIL_FOLLOW_UP)
        return err_set(err, ERR_INTERNAL, "unknown detail level");
    if (q->words != NULL && q->words->n == 0)
        return err_set(err, ERR_INVALID, "query has no words to search for");
    if (q->sort == CALL_SORT_RELEVANCE && q->words == NULL)
        return err_set(err, ERR_INVALID,
                       "sorting by relevance needs a text query; sort by newest instead");
    if (q->phone_digits != NULL && q->phone_digits[0] == '\0')
        return err_set(err, ERR_INVALID, "phone must contain digits");
    if (q->follow_up < -1 || q->follow_up > 1)
        return err_set(err, ERR_INTERNAL, "follow_up must be -1, 0 or 1");
    if (q->follow_up_status != NULL && !status_known(q->follow_up_status))
        return err_set(err, ERR_INVALID, "follow-up status must be pending, resolved or none");
    if (q->offset > STORE_TOTAL_CAP)
        return err_set(err, ERR_INVALID, "cannot page past the first %d results; narrow the search",
                       STORE_TOTAL_CAP);
    return 0;
}

/*
 * Put a whole call's transcript (with_transcript: the turns, else the
 * text) and its unextracted members ("extra") into obj, from the
 * enum full_col columns of r.
 */
void store_call_json_full(cJSON *obj, const struct store_row *r, bool with_transcript)
{
    cJSON *extra;

    if (with_transcript) {
        char *turns =
            row_null(r, FC_TURN_INDEX) ? NULL : indexed_turns(r, FC_TRANSCRIPT, FC_TURN_INDEX);
        if (turns != NULL)
            store_json_put(obj, "transcript", json_raw_take(turns));
        else if (row_null(r, FC_TURN_INDEX))
            put_raw_array(obj, "transcript", r, FC_TURNS);
        /* No turns, or an index that does not fit the text (a damaged row): the text alone. */
        if (cJSON_GetObjectItemCaseSensitive(obj, "transcript") == NULL)
            put_text(obj, "transcriptText", r, FC_TRANSCRIPT);
    }
    if (row_int64(r, FC_EXTRA_KNOWN)) {
        extra = stored_extra(row_text(r, FC_EXTRA));
    } else {
        size_t len = 0;
        const char *body = r->ops->text(r, r->base + FC_EXTRA, &len);

        extra = body_extra(body, len);
    }
    if (extra != NULL)
        store_json_put(obj, "extra", extra);
}

/* {id, receivedAt, source, status, outcome} from columns in that order. */
cJSON *store_history_json(const struct store_row *r)
{
    cJSON *obj = store_json_new(cJSON_CreateObject());

    store_json_put(obj, "id", cJSON_CreateNumber((double)row_int64(r, 0)));
    store_json_put_iso(obj, "receivedAt", row_int64(r, 1));
    put_text(obj, "source", r, 2);
    store_json_put(obj, "status", cJSON_CreateNumber((double)row_int64(r, 3)));
    put_text(obj, "outcome", r, 4);
    return obj;
}

/*
 * A readable transcript from columns turns, transcript, turn_index: one
 * "Speaker: words" line per turn, else the transcript text as sent; NULL
 * when there is neither. Caller frees.
 */
char *store_transcript_text(const struct store_row *r)
{
    char *turns = row_null(r, 2) ? NULL : indexed_turns(r, 1, 2), *text = NULL;
    const char *plain = row_text(r, 1);

    if (turns != NULL)
        text = turns_text(turns);
    else if (!row_null(r, 0))
        text = turns_text(row_text(r, 0));
    free(turns);
    if (text == NULL && plain != NULL && plain[0] != '\0')
        text = xstrdup(plain);
    return text;
}

/*
 * The follow-up state after store_set_follow_up(resolved, note, by) on
 * cur. Resolving: a call not yet resolved gets now_ms, by and note; a
 * resolved one changes only when a given note or by differs, and then
 * takes now_ms as its resolution time. Reopening makes the call pending
 * and clears the resolution (a given note is kept as the reason it
 * reopened). NULL note or by leaves the stored one.
 */
bool store_follow_up_next(const struct store_follow_up *cur, bool resolved, const char *note,
                          const char *by, int64_t now_ms, struct store_follow_up *next)
{
    bool changed;

    *next = *cur;
    if (resolved && strcmp(cur->status, "resolved") == 0) {
        changed =
            (note != NULL && !text_eq(note, cur->note)) || (by != NULL && !text_eq(by, cur->by));
        if (changed) {
            next->note = note != NULL ? note : cur->note;
            next->by = by != NULL ? by : cur->by;
            next->resolved_ms = now_ms;
        }
    } else if (resolved) {
        changed = true;
        next->status = "resolved";
        next->resolved_ms = now_ms;
        next->resolved_known = true;
        next->by = by;
        next->note = note;
    } else if (strcmp(cur->status, "pending") == 0) {
        changed = note != NULL && !text_eq(note, cur->note);
        if (changed)
            next->note = note;
    } else {
        changed = true;
        next->status = "pending";
        next->resolved_known = false;
        next->by = NULL;
        next->note = note;
    }
    return changed;
}

/* ---- statistics ---- */

struct store_stats {
    struct tally dirs, sents, topics, agents;
    cJSON *days;
    double *durs, total;
    size_t ndur, cap;
    int64_t calls, flagged, pending, resolved, day, day_calls;
};

struct store_stats *store_stats_new(void)
{
    struct store_stats *s = xcalloc(1, sizeof *s);

    s->days = store_json_new(cJSON_CreateArray());
    return s;
}

/* Close the day being counted into s->days. */
static void stats_day_end(struct store_stats *s)
{
    cJSON *obj = store_json_new(cJSON_CreateObject());
    char iso[40];

    time_format_iso8601(s->day, iso, sizeof iso);
    iso[10] = '\0';
    store_json_put(obj, "date", cJSON_CreateString(iso));
    store_json_put(obj, "calls", cJSON_CreateNumber((double)s->day_calls));
    store_json_push(s->days, obj);
}

/*
 * Count one call. Rows come in (sort_ms, id) order, so days close in
 * order; text values group case-insensitively under their newest spelling.
 */
void store_stats_add(struct store_stats *s, const struct store_row *r)
{
    int64_t sort_ms = row_int64(r, 0);
    const char *status = row_text(r, 7);

    if (s->calls == 0 || day_start(sort_ms) != s->day) {
        if (s->calls > 0)
            stats_day_end(s);
        s->day = day_start(sort_ms);
        s->day_calls = 0;
    }
    s->day_calls++;
    s->calls++;
    tally_column(&s->dirs, r, 1, sort_ms, s->calls);
    tally_column(&s->sents, r, 2, sort_ms, s->calls);
    tally_column(&s->topics, r, 3, sort_ms, s->calls);
    tally_column(&s->agents, r, 4, sort_ms, s->calls);
    if (!row_null(r, 5)) {
        if (s->ndur == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 256;
            s->durs = xreallocarray(s->durs, s->cap, sizeof *s->durs);
        }
        s->durs[s->ndur] = row_real(r, 5);
        s->total += s->durs[s->ndur++];
    }
    s->flagged += row_int64(r, 6) == 1;
    s->pending += status != NULL && strcmp(status, "pending") == 0;
    s->resolved += status != NULL && strcmp(status, "resolved") == 0;
}

/*
 * The statistics of every call added (see store_call_stats in store.h):
 * the average and median rounded to 0.1 s, the follow-up rate (flagged /
 * calls) to four places, top lists capped at top_n. Frees s.
 */
cJSON *store_stats_finish(struct store_stats *s, unsigned top_n)
{
    cJSON *out = store_json_new(cJSON_CreateObject()), *dur, *fu;

    if (s->calls > 0)
        stats_day_end(s);
    if (top_n > STORE_SEARCH_LIMIT_MAX)
        top_n = STORE_SEARCH_LIMIT_MAX;
    store_json_put(out, "calls", cJSON_CreateNumber((double)s->calls));
    dur = store_json_new(cJSON_CreateObject());
    store_json_put(dur, "totalSeconds", cJSON_CreateNumber(s->total));
    if (s->ndur > 0) {
        double *d = s->durs;
        size_t n = s->ndur;

        qsort(d, n, sizeof *d, compare_double);
        store_json_put(dur, "average", cJSON_CreateNumber(round_to(s->total / (double)n, 0.1)));
        store_json_put(dur, "min", cJSON_CreateNumber(d[0]));
        store_json_put(dur, "max", cJSON_CreateNumber(d[n - 1]));
        store_json_put(
            dur, "median",
            cJSON_CreateNumber(round_to(n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2, 0.1)));
    }
    store_json_put(out, "duration", dur);
    fu = store_json_new(cJSON_CreateObject());
    store_json_put(fu, "flagged", cJSON_CreateNumber((double)s->flagged));
    store_json_put(fu, "pending", cJSON_CreateNumber((double)s->pending));
    store_json_put(fu, "resolved", cJSON_CreateNumber((double)s->resolved));
    store_json_put(fu, "rate",
                   cJSON_CreateNumber(
                       s->calls > 0 ? round_to((double)s->flagged / (double)s->calls, 0.0001) : 0));
    store_json_put(out, "followUps", fu);
    store_json_put(out, "byDay", s->days);
    s->days = NULL;
    store_json_put(out, "byDirection", tally_object(&s->dirs, STORE_STATS_VALUES_MAX));
    store_json_put(out, "bySentiment", tally_object(&s->sents, STORE_STATS_VALUES_MAX));
    store_json_put(out, "byTopic", tally_list(&s->topics, "topic", top_n));
    store_json_put(out, "byAgent", tally_list(&s->agents, "agent", top_n));
    store_stats_free(s);
    return out;
}

void store_stats_free(struct store_stats *s)
{
    if (s == NULL)
        return;
    cJSON_Delete(s->days);
    free(s->durs);
    tally_free(&s->dirs);
    tally_free(&s->sents);
    tally_free(&s->topics);
    tally_free(&s->agents);
    free(s);
}

/* ---- list items ---- */

struct store_items {
    struct tally t;
};

struct store_items *store_items_new(void)
{
    return xcalloc(1, sizeof(struct store_items));
}

/*
 * Count the entries of one call's list: trimmed, grouped
 * case-insensitively, each entry once per call however often it lists it.
 */
void store_items_add(struct store_items *t, const struct store_row *r)
{
    int64_t call = row_int64(r, 0), sort_ms = row_int64(r, 2);
    const char *call_id = row_text(r, 1);
    cJSON *list = cJSON_Parse(row_text(r, 3)), *item;

    cJSON_ArrayForEach(item, list)
    {
        const char *text;
        size_t len;
        struct tally_entry *e;

        if (!cJSON_IsString(item))
            continue;
        text = trim_space(item->valuestring, &len);
        if (len == 0)
            continue;
        e = tally_get(&t->t, text, len);
        if (e->seen == call)
            continue; /* listed twice by the same call */
        e->seen = call;
        tally_add(e, text, len, sort_ms, call, call_id);
    }
    cJSON_Delete(list);
}

/*
 * [{text, calls, lastCallId, lastAt}], most frequent first, ties to the
 * entry seen more recently; the text shown is the newest call's spelling.
 * At most limit entries. Frees t.
 */
cJSON *store_items_finish(struct store_items *t, unsigned limit)
{
    cJSON *arr = store_json_new(cJSON_CreateArray()), *obj;
    struct tally_entry **v;
    size_t n, i;

    if (limit > STORE_SEARCH_LIMIT_MAX)
        limit = STORE_SEARCH_LIMIT_MAX;
    v = tally_sorted(&t->t, false, tally_order_recent, &n);
    for (i = 0; i < n && i < limit; i++) {
        obj = store_json_new(cJSON_CreateObject());
        store_json_put(obj, "text", cJSON_CreateString(v[i]->shown));
        store_json_put(obj, "calls", cJSON_CreateNumber((double)v[i]->calls));
        store_json_put_string(obj, "lastCallId", v[i]->last_call);
        store_json_put_iso(obj, "lastAt", v[i]->last_ms);
        store_json_push(arr, obj);
    }
    free(v);
    store_items_free(t);
    return arr;
}

void store_items_free(struct store_items *t)
{
    if (t == NULL)
        return;
    tally_free(&t->t);
    free(t);
}
