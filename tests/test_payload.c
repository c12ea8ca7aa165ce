/*
 * test_payload.c: unit tests for payload_parse() and payload_call_free():
 * the fixtures under tests/fixtures (which the integration tests also POST)
 * and in-code bodies for the edge cases. Bodies built here are copied into
 * buffers of exactly their length, with no NUL terminator, so AddressSanitizer
 * catches any read past the end. Every call parsed is freed.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "payload.h"
#include "textutil.h"
#include "xmalloc.h"

#define FFFD "\xEF\xBF\xBD"

/* Parse len bytes of body from an exact-size copy. */
static int parse_bytes(const char *body, size_t len, struct call *call, struct err *err)
{
    char *copy = xmalloc(len);
    int rc;

    if (len > 0)
        memcpy(copy, body, len);
    rc = payload_parse(copy, len, call, err);
    free(copy);
    return rc;
}

static int parse_str(const char *json, struct call *call, struct err *err)
{
    return parse_bytes(json, strlen(json), call, err);
}

static int parse_fixture(const char *name, struct call *call, struct err *err)
{
    size_t len;
    char *body = fixture_read(name, &len);
    int rc = parse_bytes(body, len, call, err);
    free(body);
    return rc;
}

/* True when every byte of the struct is zero. */
static bool call_is_zero(const struct call *call)
{
    const unsigned char *p = (const unsigned char *)call;
    for (size_t i = 0; i < sizeof *call; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

/* Every string the struct holds is valid UTF-8 with no NUL inside. */
static bool call_strings_valid(const struct call *c)
{
    const char *const s[] = {
        c->call_id,          c->agent_id,       c->agent_name,      c->caller_name,
        c->direction,        c->started_at,     c->ended_at,        c->business_phone,
        c->business_digits,  c->customer_phone, c->customer_digits, c->mentioned_email,
        c->mentioned_date,   c->mentioned_time, c->transcript_text, c->summary,
        c->long_summary,     c->purpose,        c->topic,           c->sentiment,
        c->follow_up_reason, c->recording_url,  c->dashboard_url,   c->ended_reason,
        c->call_outcome};
    const struct strlist *lists[] = {&c->key_points, &c->action_items, &c->unanswered_questions};

    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (s[i] != NULL && (s[i][0] == '\0' || !utf8_valid(s[i], strlen(s[i]))))
            return false;
    }
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        for (size_t j = 0; j < lists[i]->len; j++) {
            const char *t = lists[i]->items[j];
            if (t == NULL || t[0] == '\0' || !utf8_valid(t, strlen(t)))
                return false;
        }
    }
    for (size_t i = 0; i < c->nturns; i++) {
        const char *t = c->turns[i].content;
        if (t == NULL || t[0] == '\0' || !utf8_valid(t, strlen(t)))
            return false;
    }
    return true;
}

/* Expect ERR_INVALID / ERR_NOT_A_CALL and a zeroed struct. */
static void expect_fail(const char *json, size_t len, enum err_code code)
{
    struct call c;
    struct err e;

    memset(&c, 0xAB, sizeof c);
    CHECK_INT_EQ(parse_bytes(json, len, &c, &e), -1);
    CHECK_INT_EQ(e.code, code);
    CHECK(e.msg[0] != '\0');
    CHECK(call_is_zero(&c));
    payload_call_free(&c);
}

#define EXPECT_FAIL(lit, code) expect_fail(lit, sizeof(lit) - 1, code)

static void test_sample_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("sample-call.json", &c, &e), 0);
    CHECK_INT_EQ(e.code, ERR_NONE);
    CHECK_STR_EQ(c.call_id, "call_01HXY8ZZB6Q4DR9SS6S5KEM3CK");
    CHECK_STR_EQ(c.agent_id, NULL);
    CHECK_STR_EQ(c.agent_name, "Front Desk Assistant");
    CHECK_STR_EQ(c.caller_name, "Maria Hernandez");
    CHECK_STR_EQ(c.direction, "inbound");
    CHECK_STR_EQ(c.started_at, "2026-05-24T18:02:14Z");
    CHECK_INT_EQ(c.started_ms, INT64_C(1779645734000));
    CHECK_STR_EQ(c.ended_at, "2026-05-24T18:05:51Z");
    CHECK_INT_EQ(c.ended_ms, INT64_C(1779645951000));
    CHECK_DBL_NEAR(c.duration_s, 217.0, 1e-9);
    CHECK_STR_EQ(c.business_phone, "+14155551212");
    CHECK_STR_EQ(c.business_digits, "14155551212");
    CHECK_STR_EQ(c.customer_phone, "+14155557777");
    CHECK_STR_EQ(c.customer_digits, "14155557777");
    CHECK_STR_EQ(c.mentioned_email, "maria.h@example.com");
    CHECK_STR_EQ(c.mentioned_date, "2026-05-29");
    CHECK_STR_EQ(c.mentioned_time, "10:30");
    CHECK_STR_EQ(
        c.transcript_text,
        "Agent: Hello, you've reached Phonely Dental \xE2\x80\x94 how can I help you today?\n"
        "User: Hi, I'd like to schedule a cleaning. ...");

    CHECK_INT_EQ(c.nturns, 6);
    if (c.nturns == 6) {
        static const char *const content[6] = {
            "Hello, you've reached Phonely Dental \xE2\x80\x94 how can I help you today?",
            "Hi, I'd like to schedule a cleaning.",
            ("Of course \xE2\x80\x94 could I get your name and a good email to send the "
             "confirmation to?"),
            "Maria Hernandez, maria dot h at example dot com.",
            "Great. I have an opening Friday May twenty-ninth at ten thirty A M. Does that work?",
            "Yes that works, thank you.",
        };
        for (size_t i = 0; i < 6; i++) {
            CHECK_INT_EQ(c.turns[i].role, i % 2 == 0 ? TURN_AGENT : TURN_CALLER);
            CHECK_STR_EQ(c.turns[i].role_text, i % 2 == 0 ? "agent" : "user");
            CHECK_STR_EQ(c.turns[i].content, content[i]);
        }
    }

    CHECK_STR_EQ(c.summary, "Maria Hernandez booked a dental cleaning appointment for May 29 at "
                            "10:30 AM and provided her email for confirmation.");
    CHECK_STR_EQ(
        c.long_summary,
        "Maria Hernandez called Phonely Dental to schedule a routine cleaning. The agent "
        "collected her name and email address (maria.h@example.com), offered an available "
        "appointment slot on Friday May 29 at 10:30 AM, and confirmed the booking. The caller "
        "agreed and the call ended cordially.");
    CHECK_STR_EQ(c.purpose, "Schedule a dental cleaning appointment");
    CHECK_STR_EQ(c.topic, "Appointment Scheduling");
    CHECK_STR_EQ(c.sentiment, "positive");
    CHECK_INT_EQ(c.key_points.len, 3);
    if (c.key_points.len == 3) {
        CHECK_STR_EQ(c.key_points.items[0],
                     "Caller is an existing patient asking for a routine cleaning");
        CHECK_STR_EQ(c.key_points.items[1], "Appointment confirmed for 2026-05-29 at 10:30 AM");
        CHECK_STR_EQ(c.key_points.items[2], "Confirmation email to be sent to maria.h@example.com");
    }
    CHECK_INT_EQ(c.unanswered_questions.len, 0);
    CHECK(c.unanswered_questions.items == NULL);
    CHECK_INT_EQ(c.action_items.len, 2);
    if (c.action_items.len == 2) {
        CHECK_STR_EQ(c.action_items.items[0],
                     "Send appointment confirmation email to maria.h@example.com");
        CHECK_STR_EQ(c.action_items.items[1],
                     "Create calendar event for 2026-05-29 10:30 AM cleaning with Maria Hernandez");
    }
    CHECK_INT_EQ(c.follow_up, TRI_FALSE);
    CHECK_STR_EQ(c.follow_up_reason, NULL);
    CHECK_INT_EQ(c.ai_success, TRI_TRUE);
    CHECK_INT_EQ(c.call_transferred, TRI_UNKNOWN);
    CHECK_INT_EQ(c.workflow_triggered, TRI_UNKNOWN);
    CHECK_STR_EQ(c.recording_url,
                 "https://app.phonely.ai/recordings/call_01HXY8ZZB6Q4DR9SS6S5KEM3CK.mp3");
    CHECK_STR_EQ(c.dashboard_url, "https://app.phonely.ai/calls/call_01HXY8ZZB6Q4DR9SS6S5KEM3CK");
    CHECK_STR_EQ(c.ended_reason, "caller_hangup");
    CHECK_STR_EQ(c.call_outcome, NULL);
    CHECK(call_strings_valid(&c));

    payload_call_free(&c);
    CHECK(call_is_zero(&c));
}

static void test_loose_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("loose-call.json", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "call_loose_0001");
    CHECK_STR_EQ(c.agent_id, "agent_7f3a9c");
    CHECK_STR_EQ(c.agent_name, "After Hours Line");
    CHECK_STR_EQ(c.caller_name, NULL);
    CHECK_STR_EQ(c.direction, "outbound");
    CHECK_STR_EQ(c.started_at, "2026-05-25 09:15:00.250+02:00");
    CHECK_INT_EQ(c.started_ms, INT64_C(1779693300250));
    CHECK_STR_EQ(c.ended_at, "2026-05-25t07:16:35z");
    CHECK_INT_EQ(c.ended_ms, INT64_C(1779693395000));
    CHECK_DBL_NEAR(c.duration_s, 95.25, 1e-9);
    CHECK_STR_EQ(c.business_phone, "(415) 555-1212");
    CHECK_STR_EQ(c.business_digits, "14155551212");
    CHECK_STR_EQ(c.customer_phone, "001 212 555 1234");
    CHECK_STR_EQ(c.customer_digits, "12125551234");
    CHECK_STR_EQ(c.mentioned_email, NULL);
    CHECK_STR_EQ(c.mentioned_date, NULL);
    CHECK_STR_EQ(c.mentioned_time, NULL);
    CHECK_STR_EQ(c.transcript_text, NULL);

    CHECK_INT_EQ(c.nturns, 4);
    if (c.nturns == 4) {
        CHECK_INT_EQ(c.turns[0].role, TURN_AGENT);
        CHECK_STR_EQ(c.turns[0].role_text, "assistant");
        CHECK_STR_EQ(c.turns[0].content, "Thanks for calling, how can I help?");
        CHECK_INT_EQ(c.turns[1].role, TURN_CALLER);
        CHECK_STR_EQ(c.turns[1].role_text, "customer");
        CHECK_STR_EQ(c.turns[1].content, "Is the office open on Saturday?");
        CHECK_INT_EQ(c.turns[2].role, TURN_OTHER);
        CHECK_STR_EQ(c.turns[2].role_text, "system");
        CHECK_STR_EQ(c.turns[2].content, "caller placed on hold");
        CHECK_INT_EQ(c.turns[3].role, TURN_AGENT);
        CHECK_STR_EQ(c.turns[3].role_text, "BOT");
        CHECK_STR_EQ(c.turns[3].content, "We are open from nine to one on Saturdays.");
    }

    CHECK_STR_EQ(c.summary, "Caller asked about Saturday hours.");
    CHECK_STR_EQ(c.long_summary, NULL);
    CHECK_STR_EQ(c.purpose, "Office hours");
    CHECK_STR_EQ(c.topic, "42");
    CHECK_STR_EQ(c.sentiment, "neutral");
    CHECK_INT_EQ(c.key_points.len, 1);
    if (c.key_points.len == 1)
        CHECK_STR_EQ(c.key_points.items[0], "Open Saturday 9-1");
    CHECK_INT_EQ(c.action_items.len, 1);
    if (c.action_items.len == 1)
        CHECK_STR_EQ(c.action_items.items[0], "Update website hours");
    CHECK_INT_EQ(c.unanswered_questions.len, 0);
    CHECK_INT_EQ(c.follow_up, TRI_TRUE);
    CHECK_STR_EQ(c.follow_up_reason, "Caller wants a callback on Monday");
    CHECK_INT_EQ(c.ai_success, TRI_TRUE);
    CHECK_INT_EQ(c.call_transferred, TRI_FALSE);
    CHECK_INT_EQ(c.workflow_triggered, TRI_UNKNOWN);
    CHECK_STR_EQ(c.recording_url, NULL);
    CHECK_STR_EQ(c.dashboard_url, "https://app.phonely.ai/calls/call_loose_0001");
    CHECK_STR_EQ(c.ended_reason, "assistant_hangup");
    CHECK_STR_EQ(c.call_outcome, "Information provided");
    CHECK(call_strings_valid(&c));
    payload_call_free(&c);
}

static void test_minimal_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("minimal-call.json", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "call_minimal_0001");
    CHECK_STR_EQ(c.agent_name, NULL);
    CHECK_STR_EQ(c.caller_name, NULL);
    CHECK_STR_EQ(c.direction, NULL);
    CHECK_STR_EQ(c.started_at, NULL);
    CHECK_INT_EQ(c.started_ms, PAYLOAD_TIME_UNKNOWN);
    CHECK_STR_EQ(c.ended_at, NULL);
    CHECK_INT_EQ(c.ended_ms, PAYLOAD_TIME_UNKNOWN);
    CHECK(c.duration_s < 0);
    CHECK_STR_EQ(c.business_phone, NULL);
    CHECK_STR_EQ(c.business_digits, NULL);
    CHECK_STR_EQ(c.customer_phone, NULL);
    CHECK_STR_EQ(c.customer_digits, NULL);
    CHECK_STR_EQ(c.transcript_text, NULL);
    CHECK_INT_EQ(c.nturns, 0);
    CHECK(c.turns == NULL);
    CHECK_STR_EQ(c.summary, NULL);
    CHECK_STR_EQ(c.sentiment, NULL);
    CHECK_INT_EQ(c.key_points.len, 0);
    CHECK_INT_EQ(c.action_items.len, 0);
    CHECK_INT_EQ(c.unanswered_questions.len, 0);
    CHECK_INT_EQ(c.follow_up, TRI_UNKNOWN);
    CHECK_INT_EQ(c.ai_success, TRI_UNKNOWN);
    CHECK_INT_EQ(c.call_transferred, TRI_UNKNOWN);
    CHECK_INT_EQ(c.workflow_triggered, TRI_UNKNOWN);
    CHECK_STR_EQ(c.call_outcome, NULL);
    payload_call_free(&c);
}

static void test_custom_body_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("custom-body.json", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "550e8400-e29b-41d4-a716-446655440000");
    CHECK_STR_EQ(c.customer_phone, "+12125551234");
    CHECK_STR_EQ(c.customer_digits, "12125551234");
    CHECK_STR_EQ(c.call_outcome, "Appointment booked");
    CHECK_STR_EQ(c.business_phone, NULL);
    CHECK_STR_EQ(c.summary, NULL);
    CHECK_INT_EQ(c.started_ms, PAYLOAD_TIME_UNKNOWN);
    payload_call_free(&c);
}

static void test_unicode_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("unicode-call.json", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "call_unicode_0001");
    CHECK_STR_EQ(c.agent_name, "Zo\xC3\xAB the Receptionist \xF0\x9F\xA4\x96");
    CHECK_STR_EQ(c.caller_name, "Jos\xC3\xA9 \xC3\x91\xC3\xBA\xC3\xB1"
                                "ez-\xC3\x98verg\xC3\xA5rd");
    CHECK_STR_EQ(c.customer_digits, "442079460958");
    CHECK_STR_EQ(c.business_digits, "81312345678");
    CHECK_INT_EQ(c.started_ms, INT64_C(1779804000000));
    CHECK_INT_EQ(c.ended_ms, INT64_C(1779804200000));
    CHECK_INT_EQ(c.nturns, 5);
    if (c.nturns == 5) {
        CHECK_STR_EQ(c.turns[0].content, "Bonjour, \xC3\xA7"
                                         "a va? \xF0\x9F\x98\x80");
        CHECK_STR_EQ(c.turns[1].content, "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7\xD8\x8C "
                                         "\xD8\xA3\xD8\xB1\xD9\x8A\xD8\xAF \xD8\xAD\xD8\xAC"
                                         "\xD8\xB2 \xD9\x85\xD9\x88\xD8\xB9\xD8\xAF");
        CHECK_INT_EQ(c.turns[1].role, TURN_CALLER);
        /* Escapes: a combining acute, BMP escapes, a surrogate pair, CJK. */
        CHECK_STR_EQ(c.turns[3].content, "Cafe\xCC\x81 \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 "
                                         "\xE6\x97\xA5\xE6\x9C\xAC");
        CHECK(c.turns[4].content != NULL && strlen(c.turns[4].content) > 20);
    }
    CHECK_STR_EQ(c.topic, "Citas \xE2\x80\x94 Espa\xC3\xB1ol");
    CHECK_STR_EQ(c.sentiment, "positive");
    CHECK_INT_EQ(c.key_points.len, 3);
    if (c.key_points.len == 3) {
        CHECK_STR_EQ(c.key_points.items[0], "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE"
                                            "\xE3\x83\xA1\xE3\x83\xA2");
        CHECK_STR_EQ(c.key_points.items[2], "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D");
    }
    CHECK_INT_EQ(c.follow_up, TRI_FALSE);
    CHECK_INT_EQ(c.ai_success, TRI_TRUE);
    CHECK(call_strings_valid(&c));
    payload_call_free(&c);
}

static void test_numeric_id_fixture(void)
{
    struct call c;
    struct err e;

    CHECK_INT_EQ(parse_fixture("numeric-id-call.json", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "987654321");
    CHECK_STR_EQ(c.caller_name, "Numeric Id Caller");
    CHECK_STR_EQ(c.started_at, "1779645734");
    CHECK_INT_EQ(c.started_ms, INT64_C(1779645734000));
    CHECK_STR_EQ(c.ended_at, "1779645851500");
    CHECK_INT_EQ(c.ended_ms, INT64_C(1779645851500));
    CHECK_DBL_NEAR(c.duration_s, 117.5, 1e-9);
    CHECK_STR_EQ(c.customer_phone, "14155550123");
    CHECK_STR_EQ(c.customer_digits, "14155550123");
    payload_call_free(&c);
}

static void test_rejected_fixtures(void)
{
    static const struct {
        const char *name;
        enum err_code code;
        const char *msg_part;
    } cases[] = {
        {"no-id.json", ERR_NOT_A_CALL, "call id"},
        {"array-body.json", ERR_NOT_A_CALL, "object"},
        {"trailing-garbage.txt", ERR_INVALID, "trailing"},
        {"malformed.txt", ERR_INVALID, "JSON"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct call c;
        struct err e;
        check_current = cases[i].name;
        CHECK_INT_EQ(parse_fixture(cases[i].name, &c, &e), -1);
        CHECK_INT_EQ(e.code, cases[i].code);
        CHECK_STR_CONTAINS(e.msg, cases[i].msg_part);
        CHECK(call_is_zero(&c));
    }
    check_current = "test_rejected_fixtures";
}

static void test_json_framing(void)
{
    struct call c;
    struct err e;

    expect_fail("", 0, ERR_INVALID);
    CHECK_INT_EQ(payload_parse(NULL, 0, &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    EXPECT_FAIL(" \n\t\r ", ERR_INVALID);
    EXPECT_FAIL("{", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\"", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\",}", ERR_INVALID);
    EXPECT_FAIL("{'callId':'x'}", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\"}}", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\"} {\"callId\":\"y\"}", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\"}x", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\"}\n\f", ERR_INVALID); /* form feed is not JSON space */
    EXPECT_FAIL("[1,2] x", ERR_INVALID);
    /* A NUL byte anywhere, even after the value, is invalid. */
    EXPECT_FAIL("{\"callId\":\"x\"}\0", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"x\0y\"}", ERR_INVALID);
    EXPECT_FAIL("\0{\"callId\":\"x\"}", ERR_INVALID);

    /* Well-formed JSON that is not an object is not a call. */
    EXPECT_FAIL("[]", ERR_NOT_A_CALL);
    EXPECT_FAIL("42", ERR_NOT_A_CALL);
    EXPECT_FAIL("\"call_123\"", ERR_NOT_A_CALL);
    EXPECT_FAIL("null", ERR_NOT_A_CALL);
    EXPECT_FAIL("true", ERR_NOT_A_CALL);
    EXPECT_FAIL("{}", ERR_NOT_A_CALL);
    EXPECT_FAIL(" [ {\"callId\":\"x\"} ] ", ERR_NOT_A_CALL);

    /* JSON whitespace around the value is fine. */
    CHECK_INT_EQ(parse_str(" \r\n\t{\"callId\":\"x\"} \r\n\t", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "x");
    payload_call_free(&c);
}

static void test_err_may_be_null(void)
{
    struct call c;

    CHECK_INT_EQ(parse_str("{\"callId\":\"x\"}", &c, NULL), 0);
    CHECK_STR_EQ(c.call_id, "x");
    payload_call_free(&c);
    CHECK_INT_EQ(parse_str("{\"callId\":\"\"}", &c, NULL), -1);
    CHECK_INT_EQ(parse_str("{", &c, NULL), -1);
}

/* The id chosen for a body, or NULL (with *code set) when there is none. */
static char *id_of(const char *json, enum err_code *code)
{
    struct call c;
    struct err e;
    char *id = NULL;

    *code = ERR_NONE;
    if (parse_str(json, &c, &e) == 0) {
        id = xstrdup(c.call_id);
        payload_call_free(&c);
    } else {
        *code = e.code;
    }
    return id;
}

#define CHECK_ID(json, want)                                                                       \
    do {                                                                                           \
        enum err_code code_;                                                                       \
        char *id_ = id_of(json, &code_);                                                           \
        CHECK_STR_EQ(id_, want);                                                                   \
        CHECK_INT_EQ(code_, (want) == NULL ? ERR_NOT_A_CALL : ERR_NONE);                           \
        free(id_);                                                                                 \
    } while (0)

static void test_call_id_rules(void)
{
    CHECK_ID("{\"callId\":\"abc\"}", "abc");
    CHECK_ID("{\"call_id\":\"abc\"}", "abc");
    CHECK_ID("{\"id\":\"abc\"}", "abc");
    CHECK_ID("{\"id\":\"c\",\"call_id\":\"b\",\"callId\":\"a\"}", "a");
    CHECK_ID("{\"id\":\"c\",\"call_id\":\"b\"}", "b");
    CHECK_ID("{\"callId\":\"  padded\\t\\n\"}", "padded");
    /* Present but unusable falls through to the next key. */
    CHECK_ID("{\"callId\":\"\",\"call_id\":\"b\"}", "b");
    CHECK_ID("{\"callId\":\"   \",\"id\":\"c\"}", "c");
    CHECK_ID("{\"callId\":null,\"id\":\"c\"}", "c");
    CHECK_ID("{\"callId\":{\"v\":1},\"id\":\"c\"}", "c");
    CHECK_ID("{\"callId\":1.5,\"id\":\"c\"}", "c");
    CHECK_ID("{\"callId\":1e999,\"id\":\"c\"}", "c");
    /* Duplicate keys: the first wins. */
    CHECK_ID("{\"callId\":\"first\",\"callId\":\"second\"}", "first");
    /* Key names are case-sensitive. */
    CHECK_ID("{\"CALLID\":\"a\"}", NULL);
    CHECK_ID("{\"callid\":\"a\"}", NULL);

    /* Numbers: integral and finite, rendered without decimals. */
    CHECK_ID("{\"id\":12345}", "12345");
    CHECK_ID("{\"callId\":0}", "0");
    CHECK_ID("{\"callId\":-0}", "0");
    CHECK_ID("{\"callId\":-7}", "-7");
    CHECK_ID("{\"callId\":12345.0}", "12345");
    CHECK_ID("{\"callId\":1e3}", "1000");
    CHECK_ID("{\"callId\":9007199254740992}", "9007199254740992");
    CHECK_ID("{\"callId\":9007199254740993000}", NULL);
    CHECK_ID("{\"callId\":1e20}", NULL);
    CHECK_ID("{\"callId\":12.5}", NULL);
    CHECK_ID("{\"callId\":1e999}", NULL);
    CHECK_ID("{\"callId\":-1e999}", NULL);

    /* Strings that are not ids. */
    CHECK_ID("{\"callId\":\"\"}", NULL);
    CHECK_ID("{\"callId\":\" \\t\\r\\n \"}", NULL);
    CHECK_ID("{\"callId\":true}", NULL);
    CHECK_ID("{\"callId\":false}", NULL);
    CHECK_ID("{\"callId\":null}", NULL);
    CHECK_ID("{\"callId\":[\"a\"]}", NULL);
    CHECK_ID("{\"callId\":\"a\\u0001b\"}", NULL);
    CHECK_ID("{\"callId\":\"a\\tb\"}", NULL);
    CHECK_ID("{\"callId\":\"a\x7f"
             "b\"}",
             NULL);
    CHECK_ID("{\"callId\":\"a\\u0085b\"}", NULL); /* C1 NEL */
    CHECK_ID("{\"callId\":\"a\xC3\"}", NULL);     /* invalid UTF-8 */
    CHECK_ID("{\"callId\":\"\xED\xA0\x80\"}", NULL);
    CHECK_ID("{\"callId\":\"caf\xC3\xA9\"}", "caf\xC3\xA9");
    CHECK_ID("{\"callId\":\"\\u00a0x\"}", "\xC2\xA0x"); /* NBSP is not ASCII space */
}

static void test_call_id_length(void)
{
    char id[PAYLOAD_CALL_ID_MAX + 2];
    char json[PAYLOAD_CALL_ID_MAX + 64];
    enum err_code code;
    char *got;

    memset(id, 'a', PAYLOAD_CALL_ID_MAX);
    id[PAYLOAD_CALL_ID_MAX] = '\0';
    snprintf(json, sizeof json, "{\"callId\":\"%s\"}", id);
    got = id_of(json, &code);
    CHECK_STR_EQ(got, id);
    free(got);

    /* Surrounding blanks do not count toward the limit. */
    snprintf(json, sizeof json, "{\"callId\":\"  %s  \"}", id);
    got = id_of(json, &code);
    CHECK_STR_EQ(got, id);
    free(got);

    id[PAYLOAD_CALL_ID_MAX] = 'a';
    id[PAYLOAD_CALL_ID_MAX + 1] = '\0';
    snprintf(json, sizeof json, "{\"callId\":\"%s\"}", id);
    got = id_of(json, &code);
    CHECK_STR_EQ(got, NULL);
    CHECK_INT_EQ(code, ERR_NOT_A_CALL);

    snprintf(json, sizeof json, "{\"callId\":\"%s\",\"id\":\"short\"}", id);
    got = id_of(json, &code);
    CHECK_STR_EQ(got, "short");
    free(got);
}

static void test_error_messages_do_not_quote(void)
{
    static const char *const bodies[] = {
        "{\"callId\":\"SECRET-TOKEN-\\u0001\"}",
        "{\"callId\":\"SECRET-TOKEN-\xff\"}",
        "{\"summary\":\"SECRET-TOKEN\"}",
        "[\"SECRET-TOKEN\"]",
        "{\"callId\":\"SECRET-TOKEN\"} SECRET-TOKEN",
        "{\"callId\":\"SECRET-TOKEN",
        "{\"SECRET-TOKEN\":1,",
    };

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct call c;
        struct err e;
        CHECK_INT_EQ(parse_str(bodies[i], &c, &e), -1);
        CHECK(e.code == ERR_INVALID || e.code == ERR_NOT_A_CALL);
        CHECK(strstr(e.msg, "SECRET") == NULL);
        CHECK(e.msg[0] != '\0');
    }
    {
        struct call c;
        struct err e;
        CHECK_INT_EQ(parse_str("{\"callId\":\"\",\"x\":1}", &c, &e), -1);
        CHECK_STR_CONTAINS(e.msg, "callId");
        CHECK_INT_EQ(parse_str("{\"x\":1}", &c, &e), -1);
        CHECK_STR_CONTAINS(e.msg, "no call id");
        CHECK_STR_CONTAINS(e.msg, "call_id");
    }
}

/* Parse a body that must succeed; the caller frees *c. */
static void parse_ok(const char *json, struct call *c)
{
    struct err e;

    if (parse_str(json, c, &e) != 0) {
        check_failures++;
        fprintf(stderr, "%s: parse failed: %s\n", check_current, e.msg);
    }
    check_count++;
}

static void test_invalid_utf8_in_strings(void)
{
    struct call c;

    parse_ok("{\"callId\":\"u1\",\"callerName\":\"Jos\xE9\",\"summary\":\"a\xC0\x80z\","
             "\"topic\":\"\xED\xA0\x80\",\"purpose\":\"ok \xF4\x90\x80\x80\","
             "\"keyPoints\":[\"\xE2\x82\"],\"transcript\":[{\"role\":\"\xFF\","
             "\"content\":\"hi \xF0\x9F\x98\"}]}",
             &c);
    CHECK_STR_EQ(c.caller_name, "Jos" FFFD);
    CHECK_STR_EQ(c.summary, "a" FFFD FFFD "z");
    CHECK_STR_EQ(c.topic, FFFD FFFD FFFD);
    CHECK_STR_EQ(c.purpose, "ok " FFFD FFFD FFFD FFFD);
    CHECK_INT_EQ(c.key_points.len, 1);
    if (c.key_points.len == 1)
        CHECK_STR_EQ(c.key_points.items[0], FFFD);
    CHECK_INT_EQ(c.nturns, 1);
    if (c.nturns == 1) {
        CHECK_INT_EQ(c.turns[0].role, TURN_OTHER);
        CHECK_STR_EQ(c.turns[0].role_text, FFFD);
        CHECK_STR_EQ(c.turns[0].content, "hi " FFFD);
    }
    CHECK(call_strings_valid(&c));
    payload_call_free(&c);
}

static void test_nul_escape(void)
{
    struct call c;
    struct err e;

    parse_ok("{\"callId\":\"n1\",\"callerName\":\"ab\\u0000cd\",\"summary\":\"\\u0000\","
             "\"topic\":\"\\u0000\\u0000x\\u0000\",\"purpose\":\"a\\\\u0000b\","
             "\"keyPoints\":[\"\\u0000\",\"k\\u0000\"],\"sentiment\":\"\\\\\\u0000\"}",
             &c);
    CHECK_STR_EQ(c.caller_name, "abcd");
    CHECK_STR_EQ(c.summary, NULL);
    CHECK_STR_EQ(c.topic, "x");
    /* An escaped backslash followed by "u0000" is literal text, not a NUL. */
    CHECK_STR_EQ(c.purpose, "a\\u0000b");
    CHECK_STR_EQ(c.sentiment, "\\");
    CHECK_INT_EQ(c.key_points.len, 1);
    if (c.key_points.len == 1)
        CHECK_STR_EQ(c.key_points.items[0], "k");
    payload_call_free(&c);

    /* \u0000 in a key and in the id. */
    parse_ok("{\"call\\u0000Id\":\"n2\\u0000x\"}", &c);
    CHECK_STR_EQ(c.call_id, "n2x");
    payload_call_free(&c);
    /* An id made only of NULs is empty. */
    CHECK_INT_EQ(parse_str("{\"callId\":\"\\u0000\"}", &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_NOT_A_CALL);
    /* A high surrogate followed by \u0000 stays an invalid pair. */
    CHECK_INT_EQ(parse_str("{\"callId\":\"s\",\"x\":\"\\ud83d\\u0000\\ude00\"}", &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    CHECK_INT_EQ(parse_str("{\"callId\":\"s\",\"x\":\"\\uD83D\\u0000\\uDE00\"}", &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    /* But a proper pair next to a \u0000 is fine. */
    parse_ok("{\"callId\":\"s\",\"summary\":\"\\ud83d\\ude00\\u0000!\"}", &c);
    CHECK_STR_EQ(c.summary, "\xF0\x9F\x98\x80!");
    payload_call_free(&c);
    /* \u0000 does not hide syntax errors or trailing data. */
    EXPECT_FAIL("{\"callId\":\"s\\u0000\"} x", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"s\\u0000", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"s\",\\u0000:1}", ERR_INVALID);
    EXPECT_FAIL("{\"callId\":\"s\\u000", ERR_INVALID);
}

static void test_non_finite_numbers(void)
{
    struct call c;

    parse_ok("{\"callId\":\"f1\",\"duration\":1e999}", &c);
    CHECK(c.duration_s < 0);
    payload_call_free(&c);

    parse_ok("{\"callId\":\"f2\",\"duration\":1e999,\"callDuration\":30}", &c);
    CHECK_DBL_NEAR(c.duration_s, 30.0, 1e-9);
    payload_call_free(&c);

    parse_ok("{\"callId\":\"f3\",\"duration\":-1e999,\"topic\":1e999,\"callStarted\":1e999,"
             "\"followUp\":1e999,\"customerPhoneNumber\":-1e999,\"keyPoints\":[1e999]}",
             &c);
    CHECK(c.duration_s < 0);
    CHECK_STR_EQ(c.topic, NULL);
    CHECK_STR_EQ(c.started_at, NULL);
    CHECK_INT_EQ(c.started_ms, PAYLOAD_TIME_UNKNOWN);
    CHECK_INT_EQ(c.follow_up, TRI_UNKNOWN);
    CHECK_STR_EQ(c.customer_phone, NULL);
    CHECK_INT_EQ(c.key_points.len, 0);
    payload_call_free(&c);

    /* A non-finite number somewhere we do not look is simply ignored. */
    parse_ok("{\"callId\":\"f4\",\"storedVariables\":{\"x\":[1e999,-1e999]}}", &c);
    CHECK_STR_EQ(c.call_id, "f4");
    payload_call_free(&c);
}

/* {"callId":"deep","d": followed by n nested arrays. */
static char *nested(int n, size_t *len)
{
    struct buf b = {0};

    buf_puts(&b, "{\"callId\":\"deep\",\"d\":");
    for (int i = 0; i < n; i++)
        buf_puts(&b, "[");
    for (int i = 0; i < n; i++)
        buf_puts(&b, "]");
    buf_puts(&b, "}");
    return buf_steal(&b, len);
}

static void test_nesting_depth(void)
{
    struct call c;
    struct err e;
    size_t len;
    char *body;

    /* The object plus 999 arrays is depth 1000: the most cJSON accepts. */
    body = nested(999, &len);
    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "deep");
    payload_call_free(&c);
    free(body);

    body = nested(1000, &len); /* depth 1001 */
    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    CHECK(call_is_zero(&c));
    free(body);

    body = nested(5000, &len);
    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    free(body);
}

static void test_long_transcript(void)
{
    struct buf b = {0};
    struct call c;
    struct err e;
    size_t len;
    char *body;
    int bad = 0;

    buf_puts(&b, "{\"callId\":\"call_long_0001\",\"transcript\":[");
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "%s{\"role\":\"%s\",\"content\":\"turn %d says something\"}", i ? "," : "",
                   i % 3 == 0   ? "assistant"
                   : i % 3 == 1 ? "user"
                                : "tool",
                   i);
    buf_puts(&b, "]}");
    body = buf_steal(&b, &len);

    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), 0);
    CHECK_INT_EQ(c.nturns, 300);
    for (size_t i = 0; i < c.nturns; i++) {
        char want[64];
        snprintf(want, sizeof want, "turn %zu says something", i);
        enum turn_role role = i % 3 == 0 ? TURN_AGENT : i % 3 == 1 ? TURN_CALLER : TURN_OTHER;
        if (strcmp(c.turns[i].content, want) != 0 || c.turns[i].role != role)
            bad++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_STR_EQ(c.turns[297].role_text, "assistant");
    CHECK_STR_EQ(c.turns[299].role_text, "tool");
    CHECK_STR_EQ(c.turns[2].role_text, "tool");
    payload_call_free(&c);
    free(body);
}

static void test_transcript_shapes(void)
{
    struct call c;

    /* Role names, any case, with blanks; text/message stand in for content. */
    parse_ok("{\"callId\":\"t1\",\"transcript\":["
             "{\"role\":\"AI\",\"content\":\"a\"},"
             "{\"role\":\" Human \",\"text\":\"b\"},"
             "{\"role\":\"Caller\",\"message\":\"c\"},"
             "{\"role\":\"bot\",\"content\":\"\",\"text\":\"d\"},"
             "{\"content\":\"e\"},"
             "{\"role\":7,\"content\":\"f\"},"
             "{\"role\":\"agent\",\"content\":{\"x\":1}},"
             "{\"role\":\"agent\"},"
             "[\"agent\",\"g\"],null,42,"
             "{\"role\":\"agent\",\"content\":\"  h  \"}]}",
             &c);
    CHECK_INT_EQ(c.nturns, 7);
    if (c.nturns == 7) {
        CHECK_INT_EQ(c.turns[0].role, TURN_AGENT);
        CHECK_STR_EQ(c.turns[0].role_text, "AI");
        CHECK_INT_EQ(c.turns[1].role, TURN_CALLER);
        CHECK_STR_EQ(c.turns[1].role_text, "Human");
        CHECK_STR_EQ(c.turns[1].content, "b");
        CHECK_INT_EQ(c.turns[2].role, TURN_CALLER);
        CHECK_STR_EQ(c.turns[2].content, "c");
        CHECK_INT_EQ(c.turns[3].role, TURN_AGENT);
        CHECK_STR_EQ(c.turns[3].content, "d");
        CHECK_INT_EQ(c.turns[4].role, TURN_OTHER);
        CHECK_STR_EQ(c.turns[4].role_text, NULL);
        CHECK_STR_EQ(c.turns[4].content, "e");
        CHECK_INT_EQ(c.turns[5].role, TURN_OTHER);
        CHECK_STR_EQ(c.turns[5].role_text, "7");
        CHECK_STR_EQ(c.turns[6].content, "h");
    }
    payload_call_free(&c);

    /* A string transcript stands in for transcriptText ... */
    parse_ok("{\"callId\":\"t2\",\"transcript\":\"Agent: hi\\nUser: hello\"}", &c);
    CHECK_STR_EQ(c.transcript_text, "Agent: hi\nUser: hello");
    CHECK_INT_EQ(c.nturns, 0);
    payload_call_free(&c);
    /* ... but not over it. */
    parse_ok("{\"callId\":\"t3\",\"transcriptText\":\"real\",\"transcript\":\"other\"}", &c);
    CHECK_STR_EQ(c.transcript_text, "real");
    payload_call_free(&c);
    parse_ok("{\"callId\":\"t4\",\"transcriptText\":\"\",\"transcript\":\"fallback\"}", &c);
    CHECK_STR_EQ(c.transcript_text, "fallback");
    payload_call_free(&c);
    /* Other shapes are ignored. */
    parse_ok("{\"callId\":\"t5\",\"transcript\":{\"role\":\"agent\",\"content\":\"x\"}}", &c);
    CHECK_INT_EQ(c.nturns, 0);
    CHECK_STR_EQ(c.transcript_text, NULL);
    payload_call_free(&c);
    parse_ok("{\"callId\":\"t6\",\"transcript\":[]}", &c);
    CHECK_INT_EQ(c.nturns, 0);
    CHECK(c.turns == NULL);
    payload_call_free(&c);
}

/* The tristate a followUp value gives. */
static enum tristate follow_up_of(const char *value_json)
{
    struct call c;
    struct err e;
    enum tristate t;
    char json[256];

    snprintf(json, sizeof json, "{\"callId\":\"b\",\"followUp\":%s}", value_json);
    if (parse_str(json, &c, &e) != 0)
        return (enum tristate)99;
    t = c.follow_up;
    payload_call_free(&c);
    return t;
}

static void test_tristates(void)
{
    static const struct {
        const char *json;
        enum tristate want;
    } cases[] = {
        {"true", TRI_TRUE},        {"false", TRI_FALSE},     {"\"yes\"", TRI_TRUE},
        {"\"YES\"", TRI_TRUE},     {"\"Yes\"", TRI_TRUE},    {"\"y\"", TRI_TRUE},
        {"\"Y\"", TRI_TRUE},       {"\"true\"", TRI_TRUE},   {"\"True\"", TRI_TRUE},
        {"\"1\"", TRI_TRUE},       {"\" yes \"", TRI_TRUE},  {"\"no\"", TRI_FALSE},
        {"\"NO\"", TRI_FALSE},     {"\"n\"", TRI_FALSE},     {"\"false\"", TRI_FALSE},
        {"\"FALSE\"", TRI_FALSE},  {"\"0\"", TRI_FALSE},     {"1", TRI_TRUE},
        {"0", TRI_FALSE},          {"1.0", TRI_TRUE},        {"-0", TRI_FALSE},
        {"2", TRI_UNKNOWN},        {"0.5", TRI_UNKNOWN},     {"-1", TRI_UNKNOWN},
        {"\"\"", TRI_UNKNOWN},     {"\"   \"", TRI_UNKNOWN}, {"\"maybe\"", TRI_UNKNOWN},
        {"\"yess\"", TRI_UNKNOWN}, {"\"ye\"", TRI_UNKNOWN},  {"\"2\"", TRI_UNKNOWN},
        {"\"on\"", TRI_UNKNOWN},   {"null", TRI_UNKNOWN},    {"[]", TRI_UNKNOWN},
        {"{}", TRI_UNKNOWN},       {"[true]", TRI_UNKNOWN},  {"1e999", TRI_UNKNOWN},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum tristate got = follow_up_of(cases[i].json);
        check_count++;
        if (got != cases[i].want) {
            check_failures++;
            fprintf(stderr, "%s: followUp %s gave %d, want %d\n", check_current, cases[i].json,
                    (int)got, (int)cases[i].want);
        }
    }

    struct call c;
    parse_ok("{\"callId\":\"b2\",\"followUp\":false,\"ai_success\":\"no\","
             "\"callTransferred\":true,\"workflowTriggered\":\"Y\"}",
             &c);
    CHECK_INT_EQ(c.follow_up, TRI_FALSE);
    CHECK_INT_EQ(c.ai_success, TRI_FALSE);
    CHECK_INT_EQ(c.call_transferred, TRI_TRUE);
    CHECK_INT_EQ(c.workflow_triggered, TRI_TRUE);
    payload_call_free(&c);
    /* Aliases; an unknown value falls through to the next key. */
    parse_ok("{\"callId\":\"b3\",\"follow_up\":\"yes\",\"aiSuccess\":0,"
             "\"callTransferred\":\"\",\"call_transferred\":\"true\","
             "\"workflow_triggered\":false}",
             &c);
    CHECK_INT_EQ(c.follow_up, TRI_TRUE);
    CHECK_INT_EQ(c.ai_success, TRI_FALSE);
    CHECK_INT_EQ(c.call_transferred, TRI_TRUE);
    CHECK_INT_EQ(c.workflow_triggered, TRI_FALSE);
    payload_call_free(&c);
}

/* The duration a body gives (< 0 when absent). */
static double duration_of(const char *fields)
{
    struct call c;
    struct err e;
    char json[256];
    double d;

    snprintf(json, sizeof json, "{\"callId\":\"d\"%s}", fields);
    if (parse_str(json, &c, &e) != 0)
        return -99;
    d = c.duration_s;
    payload_call_free(&c);
    return d;
}

static void test_durations(void)
{
    CHECK_DBL_NEAR(duration_of(",\"duration\":217"), 217, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":0"), 0, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":12.75"), 12.75, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"callDuration\":95"), 95, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"call_duration\":9"), 9, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":10,\"callDuration\":20"), 10, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":\"217\""), 217, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":\" 95.25 \""), 95.25, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":\"1e2\""), 100, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":\"+5\""), 5, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":\".5\""), 0.5, 1e-9);

    CHECK(duration_of("") < 0);
    CHECK(duration_of(",\"duration\":-1") < 0);
    CHECK(duration_of(",\"duration\":\"-1\"") < 0);
    CHECK(duration_of(",\"duration\":null") < 0);
    CHECK(duration_of(",\"duration\":true") < 0);
    CHECK(duration_of(",\"duration\":[5]") < 0);
    CHECK(duration_of(",\"duration\":\"\"") < 0);
    CHECK(duration_of(",\"duration\":\"abc\"") < 0);
    CHECK(duration_of(",\"duration\":\"12s\"") < 0);
    CHECK(duration_of(",\"duration\":\"3:37\"") < 0);
    CHECK(duration_of(",\"duration\":\"inf\"") < 0);
    CHECK(duration_of(",\"duration\":\"nan\"") < 0);
    CHECK(duration_of(",\"duration\":\"0x10\"") < 0);
    CHECK(duration_of(",\"duration\":\"1e999\"") < 0);
    CHECK(duration_of(",\"duration\":\"1.2.3\"") < 0);
    CHECK(duration_of(",\"duration\":\"-\"") < 0);
    /* An unusable duration falls back to callDuration. */
    CHECK_DBL_NEAR(duration_of(",\"duration\":\"n/a\",\"callDuration\":\"42\""), 42, 1e-9);
    CHECK_DBL_NEAR(duration_of(",\"duration\":-5,\"callDuration\":42"), 42, 1e-9);
}

static void test_times(void)
{
    struct call c;

    parse_ok("{\"callId\":\"tm1\",\"callStarted\":\" 2026-05-24T20:02:14+02:00 \","
             "\"callEnded\":\"yesterday afternoon\"}",
             &c);
    CHECK_STR_EQ(c.started_at, "2026-05-24T20:02:14+02:00");
    CHECK_INT_EQ(c.started_ms, INT64_C(1779645734000));
    CHECK_STR_EQ(c.ended_at, "yesterday afternoon"); /* kept, though unparsed */
    CHECK_INT_EQ(c.ended_ms, PAYLOAD_TIME_UNKNOWN);
    payload_call_free(&c);

    /* Numbers: seconds, fractional seconds, milliseconds. */
    parse_ok("{\"callId\":\"tm2\",\"callStarted\":1779645734.5,\"callEnded\":1779645951000}", &c);
    CHECK_INT_EQ(c.started_ms, INT64_C(1779645734500));
    CHECK_STR_EQ(c.started_at, "1779645734.5");
    CHECK_INT_EQ(c.ended_ms, INT64_C(1779645951000));
    payload_call_free(&c);

    parse_ok("{\"callId\":\"tm3\",\"callStarted\":0,\"callEnded\":1e300}", &c);
    CHECK_INT_EQ(c.started_ms, 0);
    CHECK_STR_EQ(c.started_at, "0");
    CHECK_INT_EQ(c.ended_ms, PAYLOAD_TIME_UNKNOWN); /* out of range */
    CHECK_STR_EQ(c.ended_at, "1e+300");
    payload_call_free(&c);

    /* Aliases, invalid dates, and types that are not times. */
    parse_ok("{\"callId\":\"tm4\",\"call_started\":\"2024-02-29\","
             "\"callEnded\":\"2023-02-29T10:00:00Z\"}",
             &c);
    CHECK_INT_EQ(c.started_ms, INT64_C(1709164800000));
    CHECK_STR_EQ(c.ended_at, "2023-02-29T10:00:00Z");
    CHECK_INT_EQ(c.ended_ms, PAYLOAD_TIME_UNKNOWN);
    payload_call_free(&c);

    parse_ok("{\"callId\":\"tm5\",\"callStarted\":{\"t\":1},\"callEnded\":true}", &c);
    CHECK_STR_EQ(c.started_at, NULL);
    CHECK_INT_EQ(c.started_ms, PAYLOAD_TIME_UNKNOWN);
    CHECK_STR_EQ(c.ended_at, NULL);
    CHECK_INT_EQ(c.ended_ms, PAYLOAD_TIME_UNKNOWN);
    payload_call_free(&c);
}

static void test_phones(void)
{
    struct call c;

    parse_ok("{\"callId\":\"p1\",\"businessPhoneNumber\":4155551212,"
             "\"customerPhoneNumber\":\"anonymous\"}",
             &c);
    CHECK_STR_EQ(c.business_phone, "4155551212");
    CHECK_STR_EQ(c.business_digits, "14155551212");
    CHECK_STR_EQ(c.customer_phone, "anonymous");
    CHECK_STR_EQ(c.customer_digits, NULL);
    payload_call_free(&c);

    parse_ok("{\"callId\":\"p2\",\"business_phone\":\"+44 20 7946 0958\","
             "\"customer_phone_number\":\"(212) 555-1234\"}",
             &c);
    CHECK_STR_EQ(c.business_phone, "+44 20 7946 0958");
    CHECK_STR_EQ(c.business_digits, "442079460958");
    CHECK_STR_EQ(c.customer_digits, "12125551234");
    payload_call_free(&c);

    parse_ok("{\"callId\":\"p3\",\"customerPhoneNumber\":\"\",\"customer_phone\":\"911\","
             "\"businessPhoneNumber\":\"12345678901234567890\"}",
             &c);
    CHECK_STR_EQ(c.customer_phone, "911");
    CHECK_STR_EQ(c.customer_digits, "911");
    CHECK_STR_EQ(c.business_phone, "12345678901234567890");
    CHECK_STR_EQ(c.business_digits, NULL);
    payload_call_free(&c);
}

static void test_text_types_and_aliases(void)
{
    struct call c;

    parse_ok("{\"callId\":\"x1\",\"topic\":3.5,\"purpose\":0.1,\"summary\":{\"a\":1},"
             "\"longSummary\":[\"a\"],\"agentName\":true,\"callerName\":null,"
             "\"mentionedTime\":1030,\"mentionedDate\":-2.5e-7,\"endedReason\":1e300}",
             &c);
    CHECK_STR_EQ(c.topic, "3.5");
    CHECK_STR_EQ(c.purpose, "0.1");
    CHECK_STR_EQ(c.summary, NULL);
    CHECK_STR_EQ(c.long_summary, NULL);
    CHECK_STR_EQ(c.agent_name, NULL);
    CHECK_STR_EQ(c.caller_name, NULL);
    CHECK_STR_EQ(c.mentioned_time, "1030");
    CHECK_STR_EQ(c.mentioned_date, "-2.5e-07");
    CHECK_STR_EQ(c.ended_reason, "1e+300");
    payload_call_free(&c);

    parse_ok("{\"callId\":\"x2\",\"caller_name\":\"Snake Case\",\"agent_name\":\"Agent S\","
             "\"agent_id\":\"a1\",\"call_direction\":\"INBOUND\",\"mentioned_email\":\"e@x\","
             "\"long_summary\":\"long\",\"follow_up_reason\":\"why\","
             "\"recording_url\":\"r\",\"dashboard_url\":\"d\",\"ended_reason\":\"e\","
             "\"call_outcome\":\"o\",\"transcript_text\":\"tt\"}",
             &c);
    CHECK_STR_EQ(c.caller_name, "Snake Case");
    CHECK_STR_EQ(c.agent_name, "Agent S");
    CHECK_STR_EQ(c.agent_id, "a1");
    CHECK_STR_EQ(c.direction, "inbound");
    CHECK_STR_EQ(c.mentioned_email, "e@x");
    CHECK_STR_EQ(c.long_summary, "long");
    CHECK_STR_EQ(c.follow_up_reason, "why");
    CHECK_STR_EQ(c.recording_url, "r");
    CHECK_STR_EQ(c.dashboard_url, "d");
    CHECK_STR_EQ(c.ended_reason, "e");
    CHECK_STR_EQ(c.call_outcome, "o");
    CHECK_STR_EQ(c.transcript_text, "tt");
    payload_call_free(&c);

    /* Phonely's names win over aliases; an empty value falls through. */
    parse_ok("{\"callId\":\"x3\",\"caller_name\":\"snake\",\"callerName\":\"camel\","
             "\"agentName\":\"  \",\"agent_name\":\"fallback\","
             "\"callOutcome\":\"outcome one\",\"outcome\":\"outcome two\","
             "\"sentiment\":\" Very POSITIVE \",\"callDirection\":\"\\u00c9\"}",
             &c);
    CHECK_STR_EQ(c.caller_name, "camel");
    CHECK_STR_EQ(c.agent_name, "fallback");
    CHECK_STR_EQ(c.call_outcome, "outcome one");
    CHECK_STR_EQ(c.sentiment, "very positive");
    CHECK_STR_EQ(c.direction, "\xC3\x89"); /* only ASCII is lower-cased */
    payload_call_free(&c);

    /* Inner whitespace and newlines are kept; outer whitespace is trimmed. */
    parse_ok("{\"callId\":\"x4\",\"summary\":\"\\n  line one\\n\\tline two  \\r\\n\"}", &c);
    CHECK_STR_EQ(c.summary, "line one\n\tline two");
    payload_call_free(&c);
}

static void test_string_lists(void)
{
    struct call c;

    parse_ok("{\"callId\":\"l1\",\"keyPoints\":\"  single  \",\"actionItems\":"
             "[\"a\",\"\",\" \",null,7,true,{\"x\":\"y\"},[\"z\"],\" b \"],"
             "\"unansweredQuestions\":{\"q\":\"?\"}}",
             &c);
    CHECK_INT_EQ(c.key_points.len, 1);
    if (c.key_points.len == 1)
        CHECK_STR_EQ(c.key_points.items[0], "single");
    CHECK_INT_EQ(c.action_items.len, 2);
    if (c.action_items.len == 2) {
        CHECK_STR_EQ(c.action_items.items[0], "a");
        CHECK_STR_EQ(c.action_items.items[1], "b");
    }
    CHECK_INT_EQ(c.unanswered_questions.len, 0);
    payload_call_free(&c);

    parse_ok("{\"callId\":\"l2\",\"keyPoints\":\"\",\"key_points\":[\"from alias\"],"
             "\"actionItems\":[],\"action_items\":\"alias item\","
             "\"unanswered_questions\":[\"q1\",\"q2\"],\"keyPointsExtra\":[\"no\"]}",
             &c);
    CHECK_INT_EQ(c.key_points.len, 1);
    if (c.key_points.len == 1)
        CHECK_STR_EQ(c.key_points.items[0], "from alias");
    CHECK_INT_EQ(c.action_items.len, 1);
    CHECK_INT_EQ(c.unanswered_questions.len, 2);
    payload_call_free(&c);

    /* Many items grow the array. */
    struct buf b = {0};
    size_t len;
    char *body;
    struct err e;
    buf_puts(&b, "{\"callId\":\"l3\",\"keyPoints\":[");
    for (int i = 0; i < 100; i++)
        buf_printf(&b, "%s\"point %d\"", i ? "," : "", i);
    buf_puts(&b, "]}");
    body = buf_steal(&b, &len);
    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), 0);
    CHECK_INT_EQ(c.key_points.len, 100);
    if (c.key_points.len == 100)
        CHECK_STR_EQ(c.key_points.items[99], "point 99");
    payload_call_free(&c);
    free(body);
}

/* A text field longer than 1 MiB is cut on a character boundary. */
static void test_text_cap(void)
{
    struct buf b = {0};
    struct call c;
    struct err e;
    size_t len, n;
    char *body;

    buf_puts(&b, "{\"callId\":\"cap\",\"summary\":\"");
    for (int i = 0; i < 700000; i++)
        buf_puts(&b, "\xC3\xA9"); /* 1.4 MB of two-byte characters */
    buf_puts(&b, "\",\"topic\":\"x");
    for (int i = 0; i < 1024 * 1024 + 10; i++)
        buf_puts(&b, "y");
    buf_puts(&b, "\"}");
    body = buf_steal(&b, &len);

    CHECK_INT_EQ(parse_bytes(body, len, &c, &e), 0);
    n = c.summary ? strlen(c.summary) : 0;
    CHECK_INT_EQ(n, 1024 * 1024);
    CHECK(utf8_valid(c.summary, n));
    n = c.topic ? strlen(c.topic) : 0;
    CHECK_INT_EQ(n, 1024 * 1024);
    payload_call_free(&c);
    free(body);
}

static void test_free(void)
{
    struct call c;

    memset(&c, 0, sizeof c);
    payload_call_free(&c);
    CHECK(call_is_zero(&c));
    payload_call_free(NULL);

    parse_ok("{\"callId\":\"fr\",\"summary\":\"s\",\"keyPoints\":[\"k\"],"
             "\"transcript\":[{\"role\":\"agent\",\"content\":\"c\"}]}",
             &c);
    payload_call_free(&c);
    CHECK(call_is_zero(&c));
    payload_call_free(&c); /* a second free is harmless */
    CHECK(call_is_zero(&c));
}

/* A struct with leftover contents is overwritten, not read. */
static void test_parse_zeroes_first(void)
{
    struct call c;
    struct err e;

    memset(&c, 0x5A, sizeof c);
    CHECK_INT_EQ(parse_str("{\"callId\":\"z\"}", &c, &e), 0);
    CHECK_STR_EQ(c.call_id, "z");
    CHECK_STR_EQ(c.summary, NULL);
    CHECK_INT_EQ(c.nturns, 0);
    payload_call_free(&c);
}

/* The top-level members no field is read from, kept as an object's text. */
static void test_extra(void)
{
    struct call c;

    parse_ok("{\"callId\":\"x\",\"summary\":\"s\",\"call_id\":\"alias\",\"outcome\":\"o\","
             "\"storedVariables\":{\"vip\":true,\"n\":[1,2.5]},\"provider\":\"twilio\","
             "\"flag\":null}",
             &c);
    CHECK_STR_EQ(c.extra, "{\"storedVariables\":{\"vip\":true,\"n\":[1,2.5]},"
                          "\"provider\":\"twilio\",\"flag\":null}");
    payload_call_free(&c);
    CHECK_STR_EQ(c.extra, NULL);

    /* Every member known: none. */
    parse_ok("{\"id\":\"y\",\"transcript\":[],\"followUp\":\"yes\",\"aiSuccess\":true}", &c);
    CHECK_STR_EQ(c.extra, NULL);
    payload_call_free(&c);

    CHECK(payload_key_known("callStarted"));
    CHECK(payload_key_known("customer_phone_number"));
    CHECK(!payload_key_known("storedVariables"));
    CHECK(!payload_key_known("CALLID")); /* names match exactly */
}

int main(void)
{
    xmalloc_init_json();
    RUN(test_sample_fixture);
    RUN(test_extra);
    RUN(test_loose_fixture);
    RUN(test_minimal_fixture);
    RUN(test_custom_body_fixture);
    RUN(test_unicode_fixture);
    RUN(test_numeric_id_fixture);
    RUN(test_rejected_fixtures);
    RUN(test_json_framing);
    RUN(test_err_may_be_null);
    RUN(test_call_id_rules);
    RUN(test_call_id_length);
    RUN(test_error_messages_do_not_quote);
    RUN(test_invalid_utf8_in_strings);
    RUN(test_nul_escape);
    RUN(test_non_finite_numbers);
    RUN(test_nesting_depth);
    RUN(test_long_transcript);
    RUN(test_transcript_shapes);
    RUN(test_tristates);
    RUN(test_durations);
    RUN(test_times);
    RUN(test_phones);
    RUN(test_text_types_and_aliases);
    RUN(test_string_lists);
    RUN(test_text_cap);
    RUN(test_free);
    RUN(test_parse_zeroes_first);
    return check_report();
}
