/* payload.h: parse and normalise one post-call webhook body into a call. */
#ifndef PHONELY_PAYLOAD_H
#define PHONELY_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

#define PAYLOAD_CALL_ID_MAX  256 /* bytes; longer ids are not a call */
#define PAYLOAD_TIME_UNKNOWN INT64_MIN

/* A boolean that may be absent from the payload. */
enum tristate { TRI_UNKNOWN = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

enum turn_role { TURN_AGENT, TURN_CALLER, TURN_OTHER };

struct turn {
    enum turn_role role;
    char *role_text; /* the role as sent, e.g. "assistant" */
    char *content;
};

/* A string list (keyPoints, actionItems, unansweredQuestions). */
struct strlist {
    char **items;
    size_t len;
};

/*
 * The normalised call. Every char * is either NULL (absent or empty in the
 * payload) or a NUL-terminated, valid UTF-8 string owned by the struct.
 * Text fields had invalid UTF-8 replaced with U+FFFD and NUL bytes removed.
 */
struct call {
    char *call_id;
    char *agent_id;
    char *agent_name;
    char *caller_name;
    char *direction;    /* "inbound", "outbound", or the value as sent (lower case) */
    char *started_at;   /* original text */
    int64_t started_ms; /* Unix ms, or PAYLOAD_TIME_UNKNOWN */
    char *ended_at;
    int64_t ended_ms;
    double duration_s;     /* from duration or callDuration; < 0 when absent */
    char *business_phone;  /* as sent */
    char *business_digits; /* phone_normalize() form, NULL when no digits */
    char *customer_phone;
    char *customer_digits;
    char *mentioned_email;
    char *mentioned_date;
    char *mentioned_time;
    char *transcript_text; /* transcriptText as sent */
    struct turn *turns;
    size_t nturns;
    char *summary;
    char *long_summary;
    char *purpose;
    char *topic;
    char *sentiment; /* lower case */
    struct strlist key_points;
    struct strlist action_items;
    struct strlist unanswered_questions;
    enum tristate follow_up;
    char *follow_up_reason;
    enum tristate ai_success;
    enum tristate call_transferred;
    enum tristate workflow_triggered;
    char *recording_url;
    char *dashboard_url;
    char *ended_reason;
    char *call_outcome;
    char *extra; /* the body's other top-level members as a JSON object's text, or NULL */
};

/*
 * Parse body (len bytes, need not be NUL-terminated) into *call, which the
 * function zeroes first. JSON syntax errors, trailing data after the value,
 * NUL bytes and an empty body give ERR_INVALID (HTTP 400); non-finite
 * numbers (1e999) in extracted fields count as absent; a JSON value that is
 * not an object, or an object with no usable call id under callId, call_id
 * or id, gives ERR_NOT_A_CALL (HTTP 422). On failure *call holds nothing.
 * On success the caller owns *call and releases it with payload_call_free().
 * err->msg never quotes the input.
 */
int payload_parse(const char *body, size_t len, struct call *call, struct err *err);
void payload_call_free(struct call *call);

/* True when key is a top-level member payload_parse() reads (and so not in extra). */
bool payload_key_known(const char *key);
/*
 * True when key is a top-level member payload_parse() reads as a call id,
 * a phone number or a timestamp: identifiers, not text, which redaction
 * leaves as sent.
 */
bool payload_key_verbatim(const char *key);
/*
 * The body with payment card and social security numbers in its text
 * masked (redact_json, the payload_key_verbatim() members left alone):
 * a new NUL-terminated copy the caller frees, its length in *outlen; NULL
 * when nothing was masked. counts (may be NULL) adds what was masked.
 */
struct redact_counts;
char *payload_redact(const char *body, size_t len, size_t *outlen, struct redact_counts *counts);
/*
 * Move the members of the object root that payload_parse() does not read
 * into a new object (the caller's), as sent; NULL when there are none.
 */
cJSON *payload_extra_take(cJSON *root);

#endif
