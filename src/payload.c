/*
 * payload.c: turn one post-call webhook body into a struct call.
 *
 * Phonely's payload is loosely typed and partly undocumented (see
 * WEBHOOK-NOTES.md 3.2), and in "custom call data" mode it can be any JSON
 * object at all, so this module is strict about JSON syntax but forgiving
 * about content: a field of the wrong type is absent, not an error, and the
 * only thing a call must have is an id. The raw body is the store's record;
 * the struct is a derived, searchable view of it.
 *
 * Ownership: payload_parse() fills a caller-provided struct call whose
 * strings and arrays it allocates (xmalloc family, abort on OOM); the caller
 * releases them with payload_call_free(). The cJSON tree and any rewritten
 * copy of the body live only for the duration of payload_parse().
 *
 * Messages in struct err name fields but never quote the body.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "log.h"
#include "payload.h"
#include "redact.h"
#include "textutil.h"
#include "xmalloc.h"

#define TEXT_MAX       ((size_t)1024 * 1024) /* bytes per extracted text field */
#define ID_NUMBER_MAX  9007199254740992.0    /* 2^53: larger ids lose digits */
#define TIME_MIN_MS    (-62167219200000.0)   /* 0000-01-01T00:00:00Z */
#define TIME_MAX_MS    253402300799999.0     /* 9999-12-31T23:59:59.999Z */
#define TIME_MS_CUTOFF 1e11                  /* numbers above this are ms, below seconds */
#define MAX_ALIASES    4

/* Plain text fields: the struct member and the keys that feed it, in order. */
static const struct text_field {
    size_t off;
    bool lower; /* ASCII lower-case the value */
    const char *names[MAX_ALIASES];
} text_fields[] = {
    {offsetof(struct call, agent_id), false, {"agentId", "agent_id"}},
    {offsetof(struct call, agent_name), false, {"agentName", "agent_name"}},
    {offsetof(struct call, caller_name), false, {"callerName", "caller_name"}},
    {offsetof(struct call, direction), true, {"callDirection", "call_direction", "direction"}},
    {offsetof(struct call, mentioned_email), false, {"mentionedEmail", "mentioned_email"}},
    {offsetof(struct call, mentioned_date), false, {"mentionedDate", "mentioned_date"}},
    {offsetof(struct call, mentioned_time), false, {"mentionedTime", "mentioned_time"}},
    {offsetof(struct call, transcript_text), false, {"transcriptText", "transcript_text"}},
    {offsetof(struct call, summary), false, {"summary"}},
    {offsetof(struct call, long_summary), false, {"longSummary", "long_summary"}},
    {offsetof(struct call, purpose), false, {"purpose"}},
    {offsetof(struct call, topic), false, {"topic"}},
    {offsetof(struct call, sentiment), true, {"sentiment"}},
    {offsetof(struct call, follow_up_reason), false, {"followUpReason", "follow_up_reason"}},
    {offsetof(struct call, recording_url), false, {"recordingUrl", "recording_url"}},
    {offsetof(struct call, dashboard_url), false, {"dashboardUrl", "dashboard_url"}},
    {offsetof(struct call, ended_reason), false, {"endedReason", "ended_reason"}},
    {offsetof(struct call, call_outcome), false, {"callOutcome", "call_outcome", "outcome"}},
};

/* Phone numbers: the text as sent plus its phone_normalize() digits. */
static const struct phone_field {
    size_t off;
    size_t digits_off;
    const char *names[MAX_ALIASES];
} phone_fields[] = {
    {offsetof(struct call, business_phone),
     offsetof(struct call, business_digits),
     {"businessPhoneNumber", "business_phone_number", "business_phone"}},
    {offsetof(struct call, customer_phone),
     offsetof(struct call, customer_digits),
     {"customerPhoneNumber", "customer_phone_number", "customer_phone"}},
};

/* Timestamps: the text as sent plus Unix ms. */
static const struct time_field {
    size_t off;
    size_t ms_off;
    const char *names[MAX_ALIASES];
} time_fields[] = {
    {offsetof(struct call, started_at),
     offsetof(struct call, started_ms),
     {"callStarted", "call_started"}},
    {offsetof(struct call, ended_at), offsetof(struct call, ended_ms), {"callEnded", "call_ended"}},
};

static const struct tristate_field {
    size_t off;
    const char *names[MAX_ALIASES];
} tristate_fields[] = {
    {offsetof(struct call, follow_up), {"followUp", "follow_up"}},
    {offsetof(struct call, ai_success), {"ai_success", "aiSuccess"}},
    {offsetof(struct call, call_transferred), {"callTransferred", "call_transferred"}},
    {offsetof(struct call, workflow_triggered), {"workflowTriggered", "workflow_triggered"}},
};

static const struct strlist_field {
    size_t off;
    const char *names[MAX_ALIASES];
} strlist_fields[] = {
    {offsetof(struct call, key_points), {"keyPoints", "key_points"}},
    {offsetof(struct call, action_items), {"actionItems", "action_items"}},
    {offsetof(struct call, unanswered_questions), {"unansweredQuestions", "unanswered_questions"}},
};

static const char *const duration_names[] = {"duration", "callDuration", "call_duration"};
static const char *const id_names[] = {"callId", "call_id", "id"};
static const char *const content_names[] = {"content", "text", "message"};

static const struct role_name {
    const char *name;
    enum turn_role role;
} role_names[] = {
    {"agent", TURN_AGENT},   {"assistant", TURN_AGENT}, {"ai", TURN_AGENT},
    {"bot", TURN_AGENT},     {"user", TURN_CALLER},     {"customer", TURN_CALLER},
    {"caller", TURN_CALLER}, {"human", TURN_CALLER},
};

static const struct bool_word {
    const char *word;
    enum tristate value;
} bool_words[] = {
    {"yes", TRI_TRUE}, {"y", TRI_TRUE},  {"true", TRI_TRUE},   {"1", TRI_TRUE},
    {"no", TRI_FALSE}, {"n", TRI_FALSE}, {"false", TRI_FALSE}, {"0", TRI_FALSE},
};

#define NELEM(a)                (sizeof(a) / sizeof((a)[0]))
#define MEMBER(call, off, type) ((type *)(void *)((char *)(call) + (off)))

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char ascii_lower(char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static bool ascii_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);

    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    }
    return true;
}

/* Trim ASCII whitespace from both ends of s; returns the start, sets *len. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n > 0 && is_space(*s))
        s++, n--;
    while (n > 0 && is_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* A finite cJSON number's value; false for anything else. */
static bool finite_number(const cJSON *item, double *v)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return false;
    *v = item->valuedouble == 0 ? 0.0 : item->valuedouble; /* no "-0" */
    return true;
}

/*
 * Render a finite number as text: integral values without decimals (so a
 * phone number sent as 14155557777 stays those digits), others with the
 * fewest significant digits that read back as the same double.
 */
static char *number_text(double v)
{
    char tmp[64];

    if (v == floor(v) && fabs(v) < 1e17) {
        snprintf(tmp, sizeof tmp, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    return xstrdup(tmp);
}

/*
 * The text of a string or number item: trimmed, sanitised to valid UTF-8,
 * capped at TEXT_MAX bytes on a character boundary. NULL when the item is
 * missing, empty, or of another type (objects and arrays stay in the raw
 * body only). Caller frees.
 */
static char *item_text(const cJSON *item)
{
    const char *s;
    char *out;
    size_t n;
    double v;

    if (finite_number(item, &v))
        return number_text(v);
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return NULL;
    s = trim(item->valuestring, &n);
    if (n == 0)
        return NULL;
    out = utf8_sanitize(s, n);
    n = strlen(out);
    if (n > TEXT_MAX) {
        n = TEXT_MAX;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
        out[n] = '\0';
    }
    if (n == 0) { /* only NUL bytes */
        free(out);
        return NULL;
    }
    return out;
}

/* The first usable text among obj's keys names[] (a NULL-padded list). */
static char *lookup_text(const cJSON *obj, const char *const *names, size_t nnames)
{
    for (size_t i = 0; i < nnames && names[i] != NULL; i++) {
        char *s = item_text(cJSON_GetObjectItemCaseSensitive(obj, names[i]));
        if (s != NULL)
            return s;
    }
    return NULL;
}

static void lower_in_place(char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        *s = ascii_lower(*s);
}

/*
 * Why the item cannot be a call id, or NULL when it can; then *out holds
 * the id (trimmed string, or an integral number without decimals).
 */
static const char *id_from_item(const cJSON *item, char **out)
{
    const unsigned char *u;
    const char *s;
    size_t n;
    double v;

    *out = NULL;
    if (cJSON_IsNumber(item)) {
        if (!finite_number(item, &v) || v != floor(v))
            return "is not an integral number";
        if (fabs(v) > ID_NUMBER_MAX)
            return "is a number too large to keep exactly";
        *out = number_text(v);
        return NULL;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return "is not a string or number";
    s = trim(item->valuestring, &n);
    if (n == 0)
        return "is empty";
    if (n > PAYLOAD_CALL_ID_MAX)
        return "is too long";
    if (!utf8_valid(s, n))
        return "is not valid UTF-8";
    u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        /* C0, DEL, and C1 (U+0080..U+009F, encoded C2 80..C2 9F) */
        if (u[i] < 0x20 || u[i] == 0x7F || (u[i] == 0xC2 && i + 1 < n && u[i + 1] < 0xA0))
            return "contains control characters";
    }
    *out = xstrndup(s, n);
    return NULL;
}

/*
 * Find the call id: the first of callId, call_id, id that is present and
 * usable. Fills err (ERR_NOT_A_CALL) and returns NULL when there is none.
 */
static char *find_call_id(const cJSON *root, struct err *err)
{
    const char *why = NULL, *why_name = NULL;

    for (size_t i = 0; i < NELEM(id_names); i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, id_names[i]);
        char *id;
        const char *w;

        if (item == NULL || cJSON_IsNull(item))
            continue;
        if ((w = id_from_item(item, &id)) == NULL)
            return id;
        if (why == NULL) {
            why = w;
            why_name = id_names[i];
        }
    }
    if (why != NULL)
        err_set(err, ERR_NOT_A_CALL,
                "no usable call id: %s %s (expected a non-empty string of at most %d bytes, "
                "or an integer, under callId, call_id or id)",
                why_name, why, PAYLOAD_CALL_ID_MAX);
    else
        err_set(err, ERR_NOT_A_CALL,
                "no call id: expected a non-empty string under callId, call_id or id");
    return NULL;
}

/* A boolean-ish item as a tristate (see payload.h). */
static enum tristate item_tristate(const cJSON *item)
{
    const char *s;
    size_t n;
    double v;

    if (cJSON_IsTrue(item))
        return TRI_TRUE;
    if (cJSON_IsFalse(item))
        return TRI_FALSE;
    if (finite_number(item, &v))
        return v == 1 ? TRI_TRUE : v == 0 ? TRI_FALSE : TRI_UNKNOWN;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return TRI_UNKNOWN;
    s = trim(item->valuestring, &n);
    for (size_t i = 0; i < NELEM(bool_words); i++) {
        if (ascii_ieq(s, n, bool_words[i].word))
            return bool_words[i].value;
    }
    return TRI_UNKNOWN;
}

/*
 * A non-negative finite number of seconds from a JSON number or a decimal
 * string ("217", "12.5", "1e2"); -1 for anything else.
 */
static double item_duration(const cJSON *item)
{
    const char *s;
    char *end;
    size_t n;
    double v;

    if (finite_number(item, &v))
        return v >= 0 ? v : -1;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return -1;
    s = trim(item->valuestring, &n);
    if (n == 0 || n > 64)
        return -1;
    /* strtod alone would also take "inf", "nan" and hex; allow decimals only. */
    for (size_t i = 0; i < n; i++) {
        if (strchr("0123456789.eE+-", s[i]) == NULL)
            return -1;
    }
    char tmp[65];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v) || v < 0)
        return -1;
    return v == 0 ? 0.0 : v;
}

/* Fill the text and ms members of one time field from the first usable key. */
static void extract_time(const cJSON *root, const struct time_field *f, struct call *call)
{
    char **text = MEMBER(call, f->off, char *);
    int64_t *ms = MEMBER(call, f->ms_off, int64_t);

    for (size_t i = 0; i < MAX_ALIASES && f->names[i] != NULL; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, f->names[i]);
        double v;

        if ((*text = item_text(item)) == NULL)
            continue;
        if (finite_number(item, &v)) {
            /* Unix seconds, or ms when too large to be seconds in our range. */
            double t = v > TIME_MS_CUTOFF ? v : v * 1000.0;
            if (t >= TIME_MIN_MS && t <= TIME_MAX_MS)
                *ms = (int64_t)llround(t);
        } else if (time_parse_iso8601(*text, ms) < 0) {
            *ms = PAYLOAD_TIME_UNKNOWN;
        }
        return;
    }
}

/* Strings of an array (or one string) as a list; skips empties and non-strings. */
static void item_strlist(const cJSON *item, struct strlist *list)
{
    const cJSON *child;
    size_t cap = 0;

    if (cJSON_IsString(item)) {
        char *s = item_text(item);
        if (s != NULL) {
            list->items = xmalloc(sizeof *list->items);
            list->items[0] = s;
            list->len = 1;
        }
        return;
    }
    if (!cJSON_IsArray(item))
        return;
    for (child = item->child; child != NULL; child = child->next) {
        char *s;
        if (!cJSON_IsString(child) || (s = item_text(child)) == NULL)
            continue;
        if (list->len == cap) {
            cap = cap ? cap * 2 : 4;
            list->items = xreallocarray(list->items, cap, sizeof *list->items);
        }
        list->items[list->len++] = s;
    }
}

static void strlist_free(struct strlist *list)
{
    for (size_t i = 0; i < list->len; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->len = 0;
}

/* One transcript turn from an object item; false when it has no content. */
static bool item_turn(const cJSON *item, struct turn *turn)
{
    size_t n;

    if (!cJSON_IsObject(item))
        return false;
    turn->content = lookup_text(item, content_names, NELEM(content_names));
    if (turn->content == NULL)
        return false;
    turn->role = TURN_OTHER;
    turn->role_text = item_text(cJSON_GetObjectItemCaseSensitive(item, "role"));
    if (turn->role_text != NULL) {
        const char *r = trim(turn->role_text, &n);
        for (size_t i = 0; i < NELEM(role_names); i++) {
            if (ascii_ieq(r, n, role_names[i].name)) {
                turn->role = role_names[i].role;
                break;
            }
        }
    }
    return true;
}

/* The structured transcript; a string transcript stands in for transcriptText. */
static void extract_transcript(const cJSON *root, struct call *call)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "transcript");
    const cJSON *child;
    size_t cap = 0;

    if (cJSON_IsString(item)) {
        if (call->transcript_text == NULL)
            call->transcript_text = item_text(item);
        return;
    }
    if (!cJSON_IsArray(item))
        return;
    for (child = item->child; child != NULL; child = child->next) {
        struct turn t = {TURN_OTHER, NULL, NULL};
        if (!item_turn(child, &t))
            continue;
        if (call->nturns == cap) {
            cap = cap ? cap * 2 : 16;
            call->turns = xreallocarray(call->turns, cap, sizeof *call->turns);
        }
        call->turns[call->nturns++] = t;
    }
}

/*
 * Top-level keys this file reads, one field's names per line: every other
 * member of a body is kept in call->extra.
 */
/* clang-format off */
static const char *const known_keys[] = {
    "callId", "call_id", "id",
    "agentId", "agent_id",
    "agentName", "agent_name",
    "callerName", "caller_name",
    "callDirection", "call_direction", "direction",
    "callStarted", "call_started",
    "callEnded", "call_ended",
    "duration", "callDuration", "call_duration",
    "businessPhoneNumber", "business_phone_number", "business_phone",
    "customerPhoneNumber", "customer_phone_number", "customer_phone",
    "mentionedEmail", "mentioned_email",
    "mentionedDate", "mentioned_date",
    "mentionedTime", "mentioned_time",
    "transcript", "transcriptText", "transcript_text",
    "summary",
    "longSummary", "long_summary",
    "purpose",
    "topic",
    "sentiment",
    "keyPoints", "key_points",
    "actionItems", "action_items",
    "unansweredQuestions", "unanswered_questions",
    "followUp", "follow_up",
    "followUpReason", "follow_up_reason",
    "ai_success", "aiSuccess",
    "callTransferred", "call_transferred",
    "workflowTriggered", "workflow_triggered",
    "recordingUrl", "recording_url",
    "dashboardUrl", "dashboard_url",
    "endedReason", "ended_reason",
    "callOutcome", "call_outcome", "outcome",
};
/* clang-format on */

bool payload_key_known(const char *key)
{
    for (size_t i = 0; i < NELEM(known_keys); i++)
        if (strcmp(key, known_keys[i]) == 0)
            return true;
    return false;
}

/* In a NULL-padded list of at most MAX_ALIASES names. */
static bool name_listed(const char *const *names, const char *key)
{
    for (size_t i = 0; i < MAX_ALIASES && names[i] != NULL; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

bool payload_key_verbatim(const char *key)
{
    for (size_t i = 0; i < NELEM(id_names); i++)
        if (strcmp(key, id_names[i]) == 0)
            return true;
    for (size_t i = 0; i < NELEM(phone_fields); i++)
        if (name_listed(phone_fields[i].names, key))
            return true;
    for (size_t i = 0; i < NELEM(time_fields); i++)
        if (name_listed(time_fields[i].names, key))
            return true;
    return false;
}

char *payload_redact(const char *body, size_t len, size_t *outlen, struct redact_counts *counts)
{
    struct buf out = {0};

    if (redact_json(body, len, payload_key_verbatim, &out, counts) == 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out, outlen);
}

cJSON *payload_extra_take(cJSON *root)
{
    cJSON *extra = NULL, *item, *next;

    for (item = root->child; item != NULL; item = next) {
        next = item->next;
        if (item->string == NULL || payload_key_known(item->string))
            continue;
        if (extra == NULL && (extra = cJSON_CreateObject()) == NULL)
            fatalx("out of memory");
        cJSON_AddItemToObject(extra, item->string, cJSON_DetachItemViaPointer(root, item));
    }
    return extra;
}

/* The members of root that extract_fields() does not read, as JSON text; NULL if none. */
static char *extract_extra(cJSON *root)
{
    cJSON *extra = payload_extra_take(root);
    char *text;

    if (extra == NULL)
        return NULL;
    if ((text = cJSON_PrintUnformatted(extra)) == NULL)
        fatalx("out of memory");
    cJSON_Delete(extra);
    return text;
}

/* Everything but the id, from a top-level object. Cannot fail. */
static void extract_fields(const cJSON *root, struct call *call)
{
    for (size_t i = 0; i < NELEM(text_fields); i++) {
        const struct text_field *f = &text_fields[i];
        char **dst = MEMBER(call, f->off, char *);
        *dst = lookup_text(root, f->names, MAX_ALIASES);
        if (f->lower)
            lower_in_place(*dst);
    }

    for (size_t i = 0; i < NELEM(phone_fields); i++) {
        const struct phone_field *f = &phone_fields[i];
        char **dst = MEMBER(call, f->off, char *);
        char digits[32];
        *dst = lookup_text(root, f->names, MAX_ALIASES);
        if (*dst != NULL && phone_normalize(*dst, digits, sizeof digits) > 0)
            *MEMBER(call, f->digits_off, char *) = xstrdup(digits);
    }

    for (size_t i = 0; i < NELEM(time_fields); i++)
        extract_time(root, &time_fields[i], call);

    for (size_t i = 0; i < NELEM(duration_names) && call->duration_s < 0; i++)
        call->duration_s = item_duration(cJSON_GetObjectItemCaseSensitive(root, duration_names[i]));

    for (size_t i = 0; i < NELEM(tristate_fields); i++) {
        const struct tristate_field *f = &tristate_fields[i];
        enum tristate *dst = MEMBER(call, f->off, enum tristate);
        for (size_t j = 0; j < MAX_ALIASES && f->names[j] != NULL && *dst == TRI_UNKNOWN; j++)
            *dst = item_tristate(cJSON_GetObjectItemCaseSensitive(root, f->names[j]));
    }

    for (size_t i = 0; i < NELEM(strlist_fields); i++) {
        const struct strlist_field *f = &strlist_fields[i];
        struct strlist *dst = MEMBER(call, f->off, struct strlist);
        for (size_t j = 0; j < MAX_ALIASES && f->names[j] != NULL && dst->len == 0; j++)
            item_strlist(cJSON_GetObjectItemCaseSensitive(root, f->names[j]), dst);
    }

    extract_transcript(root, call);
}

/* True when a \u0000 escape occurs anywhere in s[0..len). */
static bool has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] == '\\' && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
    }
    return false;
}

/*
 * cJSON decodes \u0000 into a NUL that silently cuts the C string short.
 * To drop the NUL instead (as for every other text), copy the body without
 * the \u0000 escapes found inside strings. One that follows a high
 * surrogate is kept so the pair stays invalid and cJSON still rejects it.
 * Returns a NUL-terminated copy (caller frees) and its length in *outlen.
 */
static char *drop_nul_escapes(const char *s, size_t len, size_t *outlen)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, o = 0;
    bool in_string = false, after_high = false;

    while (i < len) {
        char c = s[i];
        if (!in_string || c != '\\' || i + 1 >= len) {
            if (c == '"')
                in_string = !in_string;
            out[o++] = c;
            i++;
            after_high = false;
            continue;
        }
        if (s[i + 1] != 'u' || i + 6 > len) {
            out[o++] = s[i++]; /* a two-character escape such as \" or \\ */
            out[o++] = s[i++];
            after_high = false;
            continue;
        }
        if (memcmp(s + i + 2, "0000", 4) == 0 && !after_high) {
            i += 6;
            continue;
        }
        char h = ascii_lower(s[i + 2]), h2 = ascii_lower(s[i + 3]);
        after_high = h == 'd' && ((h2 >= '8' && h2 <= '9') || h2 == 'a' || h2 == 'b');
        memcpy(out + o, s + i, 6);
        o += 6;
        i += 6;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/*
 * Parse one webhook body into *call (see payload.h). The JSON must be one
 * value followed by nothing but JSON whitespace, with no NUL bytes; the
 * value must be an object with a usable id. Every other field is optional
 * and type-tolerant: a value of the wrong type, a non-finite number or an
 * empty string is absent. On failure err says why (ERR_INVALID for bad
 * JSON, ERR_NOT_A_CALL for JSON that is not a call) and *call is zeroed;
 * on success the caller releases *call with payload_call_free().
 */
int payload_parse(const char *body, size_t len, struct call *call, struct err *err)
{
    char *copy = NULL;
    cJSON *root = NULL;
    const char *text = body, *end = NULL;
    size_t textlen = len;

    memset(call, 0, sizeof *call);
    err_clear(err);
    if (body == NULL || len == 0) {
        err_set(err, ERR_INVALID, "empty body");
        goto fail;
    }
    if (memchr(body, '\0', len) != NULL) {
        err_set(err, ERR_INVALID, "body contains a NUL byte");
        goto fail;
    }
    if (has_nul_escape(body, len))
        text = copy = drop_nul_escapes(body, len, &textlen);

    root = cJSON_ParseWithLengthOpts(text, textlen, &end, 0);
    if (root == NULL) {
        size_t i = 0;
        while (i < textlen && json_space(text[i]))
            i++;
        if (i == textlen)
            err_set(err, ERR_INVALID, "empty body");
        else
            err_set(err, ERR_INVALID, "malformed JSON");
        goto fail;
    }
    for (; end < text + textlen; end++) {
        if (!json_space(*end)) {
            err_set(err, ERR_INVALID, "trailing data after the JSON value");
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, ERR_NOT_A_CALL, "not a call: the body is not a JSON object");
        goto fail;
    }

    call->started_ms = call->ended_ms = PAYLOAD_TIME_UNKNOWN;
    call->duration_s = -1;
    call->follow_up = call->ai_success = TRI_UNKNOWN;
    call->call_transferred = call->workflow_triggered = TRI_UNKNOWN;
    if ((call->call_id = find_call_id(root, err)) == NULL)
        goto fail;
    extract_fields(root, call);
    call->extra = extract_extra(root);

    cJSON_Delete(root);
    free(copy);
    return 0;

fail:
    cJSON_Delete(root);
    free(copy);
    payload_call_free(call);
    return -1;
}

/*
 * Free everything *call owns and zero it. Accepts NULL and a zeroed (or
 * already freed) struct.
 */
void payload_call_free(struct call *call)
{
    if (call == NULL)
        return;
    free(call->call_id);
    for (size_t i = 0; i < NELEM(text_fields); i++)
        free(*MEMBER(call, text_fields[i].off, char *));
    for (size_t i = 0; i < NELEM(phone_fields); i++) {
        free(*MEMBER(call, phone_fields[i].off, char *));
        free(*MEMBER(call, phone_fields[i].digits_off, char *));
    }
    for (size_t i = 0; i < NELEM(time_fields); i++)
        free(*MEMBER(call, time_fields[i].off, char *));
    for (size_t i = 0; i < NELEM(strlist_fields); i++)
        strlist_free(MEMBER(call, strlist_fields[i].off, struct strlist));
    for (size_t i = 0; i < call->nturns; i++) {
        free(call->turns[i].role_text);
        free(call->turns[i].content);
    }
    free(call->turns);
    free(call->extra);
    memset(call, 0, sizeof *call);
}
