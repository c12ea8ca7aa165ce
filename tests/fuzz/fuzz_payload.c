/*
 * fuzz_payload.c: webhook body normalisation (payload_parse) on arbitrary
 * bytes. Invariants: it never crashes, leaks or hits UB; it fails only with
 * ERR_INVALID or ERR_NOT_A_CALL, a message, and a zeroed call (always for
 * a body holding a NUL byte); on success the call id is 1..PAYLOAD_CALL_ID_MAX
 * bytes without control characters, every string in the call is non-empty
 * valid UTF-8 (utf8_valid), digits are digits, times and durations are in
 * range and tri-states are tri-states. utf8_valid itself is checked
 * against an independent validator on the raw input. Redaction
 * (payload_redact) never crashes on any bytes; a body that is a call
 * stays one with the same id once redacted, and a redacted body has
 * nothing more to mask.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "payload.h"
#include "redact.h"
#include "textutil.h"

/* Years 0000 to 9999, with a day of slack for a time zone offset. */
#define TIME_MIN_MS (-62167219200000LL - 86400000LL)
#define TIME_MAX_MS (253402300799999LL + 86400000LL)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

/* NULL, or a non-empty valid UTF-8 string. */
static void check_text(const char *s)
{
    if (s == NULL)
        return;
    FUZZ_CHECK(s[0] != '\0');
    FUZZ_CHECK(utf8_valid(s, strlen(s)));
}

static void check_digits(const char *text, const char *digits)
{
    size_t n;

    if (digits == NULL)
        return;
    FUZZ_CHECK(text != NULL);
    n = strlen(digits);
    FUZZ_CHECK(n >= 3 && n <= 15);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(digits[i] >= '0' && digits[i] <= '9');
}

static void check_lower(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'));
}

static void check_time(const char *text, int64_t ms)
{
    if (text == NULL)
        FUZZ_CHECK(ms == PAYLOAD_TIME_UNKNOWN);
    if (ms != PAYLOAD_TIME_UNKNOWN)
        FUZZ_CHECK(ms >= TIME_MIN_MS && ms <= TIME_MAX_MS);
}

static void check_tristate(enum tristate t)
{
    FUZZ_CHECK(t == TRI_UNKNOWN || t == TRI_FALSE || t == TRI_TRUE);
}

static void check_list(const struct strlist *l)
{
    FUZZ_CHECK((l->len == 0) == (l->items == NULL));
    for (size_t i = 0; i < l->len; i++) {
        FUZZ_CHECK(l->items[i] != NULL);
        check_text(l->items[i]);
    }
}

static void check_call(const struct call *c)
{
    const unsigned char *id = (const unsigned char *)c->call_id;
    size_t n;

    FUZZ_CHECK(c->call_id != NULL);
    n = strlen(c->call_id);
    FUZZ_CHECK(n >= 1 && n <= PAYLOAD_CALL_ID_MAX);
    FUZZ_CHECK(utf8_valid(c->call_id, n));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(id[i] >= 0x20 && id[i] != 0x7F);

    const char *texts[] = {
        c->agent_id,       c->agent_name,      c->caller_name,     c->direction,
        c->started_at,     c->ended_at,        c->business_phone,  c->business_digits,
        c->customer_phone, c->customer_digits, c->mentioned_email, c->mentioned_date,
        c->mentioned_time, c->transcript_text, c->summary,         c->long_summary,
        c->purpose,        c->topic,           c->sentiment,       c->follow_up_reason,
        c->recording_url,  c->dashboard_url,   c->ended_reason,    c->call_outcome,
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_text(texts[i]);
    check_lower(c->direction);
    check_lower(c->sentiment);
    check_digits(c->business_phone, c->business_digits);
    check_digits(c->customer_phone, c->customer_digits);
    check_time(c->started_at, c->started_ms);
    check_time(c->ended_at, c->ended_ms);
    FUZZ_CHECK(c->duration_s == -1 || (isfinite(c->duration_s) && c->duration_s >= 0));
    check_tristate(c->follow_up);
    check_tristate(c->ai_success);
    check_tristate(c->call_transferred);
    check_tristate(c->workflow_triggered);
    check_list(&c->key_points);
    check_list(&c->action_items);
    check_list(&c->unanswered_questions);
    FUZZ_CHECK((c->nturns == 0) == (c->turns == NULL));
    for (size_t i = 0; i < c->nturns; i++) {
        const struct turn *t = &c->turns[i];
        FUZZ_CHECK(t->content != NULL);
        check_text(t->content);
        check_text(t->role_text);
        FUZZ_CHECK(t->role == TURN_AGENT || t->role == TURN_CALLER || t->role == TURN_OTHER);
        if (t->role_text == NULL)
            FUZZ_CHECK(t->role == TURN_OTHER);
    }
}

/* payload_redact on the body, against the call (or the failure) its parse gave. */
static void check_redact(const char *body, size_t size, int rc, const struct call *call)
{
    struct err err = {0};
    struct call again;
    size_t len = 0, len2 = 0;
    char *red = payload_redact(body, size, &len, NULL), *twice;

    if (red == NULL)
        return;
    twice = payload_redact(red, len, &len2, NULL);
    FUZZ_CHECK(twice == NULL);
    free(twice);
    if (rc == 0) {
        FUZZ_CHECK(payload_parse(red, len, &again, &err) == 0);
        FUZZ_CHECK(again.call_id != NULL && strcmp(again.call_id, call->call_id) == 0);
        payload_call_free(&again);
    }
    free(red);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct call zero;
    struct err err = {0};
    struct call call;
    int rc;

    FUZZ_CHECK(utf8_valid((const char *)data, size) == fuzz_utf8_ok(data, size));

    rc = payload_parse((const char *)data, size, &call, &err);
    check_redact((const char *)data, size, rc, &call);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) {
        FUZZ_CHECK(err.code == ERR_INVALID || err.code == ERR_NOT_A_CALL);
        FUZZ_CHECK(err.msg[0] != '\0');
        FUZZ_CHECK(memcmp(&call, &zero, sizeof call) == 0);
        return 0;
    }
    FUZZ_CHECK(size > 0 && memchr(data, '\0', size) == NULL);
    FUZZ_CHECK(err.code == ERR_NONE);
    check_call(&call);
    payload_call_free(&call);
    FUZZ_CHECK(memcmp(&call, &zero, sizeof call) == 0);
    return 0;
}
