/*
 * test_redact.c: the card and SSN scanner on transcript-like spellings
 * (grouped, dashed, unseparated, Amex, 19 digits) and on what it must
 * leave alone (phone numbers, with and without digits after them, Luhn
 * failures, dates, ids, decimals, impossible SSNs); the JSON pass (string
 * values only, escapes decoded and replaced whole, identifiers kept, the
 * result still parses) checked against the text pass on random strings;
 * then end to end through the real webhook and `import`, with redact on
 * and off, on SQLite and on the throwaway PostgreSQL cluster: the stored
 * call, the stored delivery body and what `tool get_call` shows hold no
 * original digits, and the stored digest is the stored body's.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "payload.h"
#include "redact.h"
#include "store.h"
#include "xmalloc.h"

#define CARD REDACT_CARD_MASK
#define SSN  REDACT_SSN_MASK

/* redact_text() of s, as a string the caller frees. */
static char *text(const char *s, size_t *masks)
{
    struct buf out = {0};
    size_t n = redact_text(s, strlen(s), &out, NULL);

    if (masks != NULL)
        *masks = n;
    return buf_steal(&out, NULL);
}

/* What make (text or json) gives for in must be want. */
#define CHECK_MADE(make, in, want)                                                                 \
    do {                                                                                           \
        char *got_ = make(in, NULL);                                                               \
        CHECK_STR_EQ(got_, want);                                                                  \
        free(got_);                                                                                \
    } while (0)

#define CHECK_TEXT(in, want) CHECK_MADE(text, in, want)

#define CHECK_KEPT(in) CHECK_TEXT(in, in)

static void test_cards(void)
{
    CHECK_TEXT("4111 1111 1111 1111", CARD);
    CHECK_TEXT("my card is 4111-1111-1111-1111.", "my card is " CARD ".");
    CHECK_TEXT("4111111111111111", CARD);
    CHECK_TEXT("it's 5555 5555 5555 4444, expiry 12/29", "it's " CARD ", expiry 12/29");
    CHECK_TEXT("Amex 3782 822463 10005 please", "Amex " CARD " please");
    CHECK_TEXT("378282246310005", CARD);
    CHECK_TEXT("4520 0000 0000 0000 003", CARD); /* 19 digits */
    CHECK_TEXT("4520000000000000003", CARD);
    CHECK_TEXT("(4111 1111 1111 1111)", "(" CARD ")");
    CHECK_TEXT("card:4111111111111111;", "card:" CARD ";");
    CHECK_TEXT("4111 1111 1111 1111\nthanks", CARD "\nthanks");
    CHECK_TEXT("two: 4111111111111111 and 5555-5555-5555-4444", "two: " CARD " and " CARD);
    CHECK_TEXT("4111 1111 1111 1111 - that one", CARD " - that one");
    /* Digits right after a card: an expiry date, a security code, another number. */
    CHECK_TEXT("4111 1111 1111 1111 12/29", CARD " 12/29");
    CHECK_TEXT("4111-1111-1111-1111-123", CARD "-123");
    CHECK_TEXT("card 4111111111111111 123 ok", "card " CARD " 123 ok");
    CHECK_TEXT("3782 822463 10005 0427", CARD " 0427");
    CHECK_TEXT("5555 5555 5555 4444 415-555-0100", CARD " 415-555-0100");
}

static void test_ssns(void)
{
    CHECK_TEXT("123-45-6789", SSN);
    CHECK_TEXT("social is 123 45 6789, ok", "social is " SSN ", ok");
    CHECK_TEXT("SSN: 078-05-1120.", "SSN: " SSN ".");
    CHECK_TEXT("899-99-9999", SSN);
    CHECK_TEXT("123-45-6789 4111111111111111", SSN " " CARD);
    CHECK_TEXT("123 45 6789 and 078-05-1120", SSN " and " SSN);
    /* Impossible ones: area 000, 666, 9xx; group 00; serial 0000. */
    CHECK_KEPT("000-12-3456");
    CHECK_KEPT("666-12-3456");
    CHECK_KEPT("900-12-3456");
    CHECK_KEPT("987-65-4321");
    CHECK_KEPT("123-00-4567");
    CHECK_KEPT("123-45-0000");
    /* Not the shape: mixed separators, nine digits in a row, other groupings. */
    CHECK_KEPT("123-45 6789");
    CHECK_KEPT("123456789");
    CHECK_KEPT("1234-56-789");
    CHECK_KEPT("123-45-67890");
    CHECK_KEPT("0123-45-6789");
}

static void test_left_alone(void)
{
    CHECK_KEPT("+1 (415) 555-0100");
    CHECK_KEPT("+14155550100");
    CHECK_KEPT("415-555-0100");
    CHECK_KEPT("1-800-555-0100");
    CHECK_KEPT("call me at 415 555 0100 tomorrow");
    /* The same phone with digits after it, passing Luhn as a whole: one run, not a card. */
    CHECK_KEPT("+1 415 555 0100 0007");
    CHECK_KEPT("1 415 555 0100 0007");
    CHECK_KEPT("415-555-0100-0007");
    CHECK_KEPT("14155550100000 7");
    /* A 13-digit international number that passes Luhn, after its '+'. */
    CHECK_KEPT("+4930123456703");
    /* Order numbers that fail Luhn, grouped or not. */
    CHECK_KEPT("order 7700123456789012");
    CHECK_KEPT("order 7700 1234 5678 9012");
    CHECK_KEPT("4111111111111112");
    /* Lengths outside 13..19, and groupings no card uses. */
    CHECK_KEPT("411111111111");
    CHECK_KEPT("41111111111111111110");
    CHECK_KEPT("41 11 11 11 11 11 11 11");
    CHECK_KEPT("4111  1111 1111 1111"); /* a double space ends the run */
    /* Dates, times, durations, ids. */
    CHECK_KEPT("2026-05-24");
    CHECK_KEPT("2026-05-24T18:02:14Z");
    CHECK_KEPT("on 05/29/2026 at 10:30");
    CHECK_KEPT("call_01HXY8ZZB6Q4DR9SS6S5KEM3CK");
    CHECK_KEPT("550e8400-e29b-41d4-a716-446655440000");
    CHECK_KEPT("call_4111111111111111");
    CHECK_KEPT("x4111111111111111");
    CHECK_KEPT("4111111111111111abc");
    CHECK_KEPT("https://example.com/rec/4111111111111111/audio");
    CHECK_KEPT("4111111111111111@example.com");
    CHECK_KEPT("3.4111111111111111");
    CHECK_KEPT("4111111111111111.5");
    CHECK_KEPT("four one one one, one one one one");
    CHECK_KEPT("");
}

static void test_counts(void)
{
    struct redact_counts c = {0};
    struct buf out = {0};
    const char *s = "4111111111111111 123-45-6789 5555555555554444 nothing 415-555-0100";

    CHECK_INT_EQ(redact_text(s, strlen(s), &out, &c), 3);
    CHECK_INT_EQ(c.cards, 2);
    CHECK_INT_EQ(c.ssns, 1);
    CHECK_INT_EQ(redact_text("none", 4, &out, &c), 0);
    CHECK_INT_EQ(c.cards, 2);
    buf_free(&out);
}

/* redact_json() of body with payload_key_verbatim, as a string the caller frees. */
static char *json(const char *body, size_t *masks)
{
    struct buf out = {0};
    size_t n = redact_json(body, strlen(body), payload_key_verbatim, &out, NULL);

    if (masks != NULL)
        *masks = n;
    return buf_steal(&out, NULL);
}

#define CHECK_JSON(in, want) CHECK_MADE(json, in, want)

static void test_json_values_only(void)
{
    size_t masks;
    char *out;

    CHECK_JSON("{\"transcriptText\": \"card 4111 1111 1111 1111\", \"duration\": 4111111111111111}",
               "{\"transcriptText\": \"card " CARD "\", \"duration\": 4111111111111111}");
    /* Keys are not values; identifiers and phone numbers are kept as sent. */
    CHECK_JSON("{\"4111111111111111\":\"123-45-6789\"}", "{\"4111111111111111\":\"" SSN "\"}");
    CHECK_JSON("{\"callId\":\"4111111111111111\",\"summary\":\"4111111111111111\"}",
               "{\"callId\":\"4111111111111111\",\"summary\":\"" CARD "\"}");
    CHECK_JSON("{\"customerPhoneNumber\" : \"4930123456703\", \"callStarted\":\"1780000000006\"}",
               "{\"customerPhoneNumber\" : \"4930123456703\", \"callStarted\":\"1780000000006\"}");
    /* Only the top-level members are identifiers: deeper ones are text. */
    CHECK_JSON("{\"storedVariables\":{\"id\":\"4111111111111111\"},\"x\":[\"callId\","
               "\"5555555555554444\"]}",
               "{\"storedVariables\":{\"id\":\"" CARD "\"},\"x\":[\"callId\",\"" CARD "\"]}");
    CHECK_JSON("[\"4111111111111111\",{\"callId\":\"4111111111111111\"}]",
               "[\"" CARD "\",{\"callId\":\"" CARD "\"}]"); /* an array is not a call */
    /* Transcript turns. */
    CHECK_JSON("{\"transcript\":[{\"role\":\"user\",\"content\":\"it is 123 45 6789\"}]}",
               "{\"transcript\":[{\"role\":\"user\",\"content\":\"it is " SSN "\"}]}");
    /* Nothing to mask: the same bytes, and none counted. */
    out = json("{ \"a\" : \"415-555-0100\" ,\n \"b\":[1, 2.5e3, true] }", &masks);
    CHECK_STR_EQ(out, "{ \"a\" : \"415-555-0100\" ,\n \"b\":[1, 2.5e3, true] }");
    CHECK_INT_EQ(masks, 0);
    free(out);
}

static void test_json_escapes(void)
{
    /* Escaped digits and separators match; the match's escapes go with it. */
    CHECK_JSON("{\"s\":\"\\u0034111 1111 1111 1111\"}", "{\"s\":\"" CARD "\"}");
    CHECK_JSON("{\"s\":\"4111\\u00201111\\u002d1111 1111!\"}", "{\"s\":\"" CARD "!\"}");
    CHECK_JSON("{\"s\":\"a\\n4111111111111111\\n\\\"b\\\"\"}",
               "{\"s\":\"a\\n" CARD "\\n\\\"b\\\"\"}");
    CHECK_JSON("{\"s\":\"\\\"4111111111111111\\\\\"}", "{\"s\":\"\\\"" CARD "\\\\\"}");
    /* An escaped letter or slash next to the digits still joins them. */
    CHECK_JSON("{\"s\":\"\\u00784111111111111111\"}", "{\"s\":\"\\u00784111111111111111\"}");
    CHECK_JSON("{\"s\":\"\\/4111111111111111\"}", "{\"s\":\"\\/4111111111111111\"}");
    /* A key spelled with escapes is still the call id. */
    CHECK_JSON("{\"call\\u0049d\":\"4111111111111111\"}",
               "{\"call\\u0049d\":\"4111111111111111\"}");
    /* Not JSON: scanned as far as strings go, never read past the end. */
    CHECK_JSON("{\"a\":\"4111 1111 1111 1111", "{\"a\":\"" CARD);
    CHECK_JSON("{\"a\":\"\\", "{\"a\":\"\\");
    CHECK_JSON("{\"a\":\"\\u00", "{\"a\":\"\\u00");
    CHECK_JSON("\"", "\"");
    CHECK_JSON("}}]]{\"a\":1", "}}]]{\"a\":1");
}

/* A deterministic pseudo-random generator (xorshift64*) for the property test. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717u;
}

/*
 * For random texts made of digits, separators, letters, quotes, slashes,
 * control characters and non-ASCII: the text put in a JSON string
 * (escaped the way cJSON does) and redacted as JSON still parses, and its
 * value is exactly what redact_text makes of the text.
 */
static void test_json_matches_text(void)
{
    static const char *const samples[] = {"4111 1111 1111 1111", "123-45-6789", "5555555555554444",
                                          "3782-822463-10005"};
    static const char alphabet[] = "0123456789012345678901234567890123456789    ---a+./_@\"\\\n\t";
    uint64_t seed = 0x9E3779B97F4A7C15u;
    unsigned mismatches = 0, masked = 0;

    for (int iter = 0; iter < 3000; iter++) {
        char s[80];
        size_t n = rng_next(&seed) % (sizeof s - 4);
        struct buf red = {0}, want = {0};
        cJSON *o = cJSON_CreateObject(), *back;
        char *body;

        for (size_t i = 0; i < n; i++)
            s[i] = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
        if (n > 2 && rng_next(&seed) % 4 == 0)
            memcpy(s + rng_next(&seed) % (n - 2), "\xc3\xa9", 2);
        if (n > 20 && rng_next(&seed) % 2 == 0) {
            const char *ex = samples[rng_next(&seed) % (sizeof samples / sizeof samples[0])];
            size_t at = rng_next(&seed) % (n - 19), exlen = strlen(ex);
            memcpy(s + at, ex, at + exlen < n ? exlen : n - at);
        }
        s[n] = '\0';
        cJSON_AddStringToObject(o, "summary", s);
        body = cJSON_PrintUnformatted(o);
        masked += redact_json(body, strlen(body), payload_key_verbatim, &red, NULL) > 0;
        redact_text(s, n, &want, NULL);
        back = cJSON_ParseWithLength(red.data, red.len);
        if (back == NULL || !cJSON_IsString(cJSON_GetObjectItem(back, "summary")) ||
            strcmp(cJSON_GetObjectItem(back, "summary")->valuestring, want.data) != 0) {
            if (mismatches++ < 5)
                fprintf(stderr, "text %s: json %s vs text %s\n", s, red.data, want.data);
        }
        cJSON_Delete(back);
        cJSON_Delete(o);
        free(body);
        buf_free(&red);
        buf_free(&want);
    }
    CHECK_INT_EQ(mismatches, 0);
    CHECK(masked > 50); /* samples often merge with random digits, but enough survive */
}

/* ---- end to end ---- */

/* The spellings a test call carries, all of which must be gone after redaction. */
static const char *const originals[] = {
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5555 5555 5555 4444",
    "5555555555554444",    "3782 822463 10005",   "378282246310005",  "4520000000000000003",
    "123-45-6789",         "123 45 6789",         "078 05 1120",      "078-05-1120",
    "078051120",
};

/* A call with card and SSN numbers in its transcript, summary and a turn's content. */
static char *pii_body(const char *id)
{
    return xasprintf(
        "{\"callId\":\"%s\",\"callerName\":\"Rosalind Quartermaine\","
        "\"customerPhoneNumber\":\"+1 (415) 555-0100\",\"duration\":217,"
        "\"callStarted\":\"2026-05-24T18:02:14Z\",\"mentionedDate\":\"2026-05-29\","
        "\"transcriptText\":\"User: my card is 4111 1111 1111 1111 and my SSN is 123-45-6789.\","
        "\"summary\":\"Paid with 5555 5555 5555 4444 (Amex 3782 822463 10005 declined); "
        "order 7700123456789012.\","
        "\"transcript\":[{\"role\":\"user\",\"content\":\"The other card is 4111-1111-1111-1111,"
        " or 4520000000000000003, and my wife's social is 078 05 1120.\"},"
        "{\"role\":\"agent\",\"content\":\"Thanks, I have 4111111111111111 and "
        "5555555555554444.\"}]}",
        id);
}

/* The first original spelling in text, or NULL. */
static const char *original_in(const char *text)
{
    for (size_t i = 0; i < sizeof originals / sizeof originals[0]; i++)
        if (text != NULL && strstr(text, originals[i]) != NULL)
            return originals[i];
    return NULL;
}

struct seen_delivery {
    const char *call_id;
    int64_t id; /* the delivery that stored the call */
    char sha[AUTH_SHA256_HEX];
    unsigned n, other_digests; /* deliveries of the call, and those with another digest */
};

/* Note the stored delivery of s->call_id; count re-deliveries with another digest. */
static int find_delivery(const struct delivery_row *r, void *arg)
{
    struct seen_delivery *s = arg;

    if (r->call_id == NULL || strcmp(r->call_id, s->call_id) != 0)
        return 0;
    s->n++;
    if (strcmp(r->outcome, "stored") == 0) {
        s->id = r->id;
        snprintf(s->sha, sizeof s->sha, "%s", r->body_sha256 ? r->body_sha256 : "");
    }
    return 0;
}

static int other_digest(const struct delivery_row *r, void *arg)
{
    struct seen_delivery *s = arg;

    if (r->call_id != NULL && strcmp(r->call_id, s->call_id) == 0 &&
        (r->body_sha256 == NULL || strcmp(r->body_sha256, s->sha) != 0))
        s->other_digests++;
    return 0;
}

/*
 * The stored call id: its raw body, its delivery's kept body and digest,
 * and `tool get_call`. With redacted, none holds an original spelling and
 * the masks are there; without, the bodies are sent byte for byte. Either
 * way the digest is the stored body's, and what is not a card or an SSN
 * (phone, order number, date, duration) is as sent.
 */
static void check_stored(const char *db, const char *id, const char *sent, bool redacted)
{
    struct store *st = store_open_or_die(db);
    struct seen_delivery seen = {.call_id = id};
    struct err err = {0};
    char *raw = NULL, *kept = NULL, *out = NULL, sha[AUTH_SHA256_HEX];
    size_t rawlen = 0, keptlen = 0;
    char *env0 = xasprintf("PHONELY_MCP_DB=%s", db);
    char *args = xasprintf("{\"call_id\":\"%s\"}", id);
    const char *env[] = {env0, NULL};
    const char *argv[] = {"tool", "get_call", args, NULL};
    cJSON *parsed;

    CHECK_INT_EQ(store_call_raw(st, id, &raw, &rawlen, &err), 0);
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 50, find_delivery, &seen, &err), 0);
    CHECK_INT_EQ(store_list_deliveries(st, NULL, 50, other_digest, &seen, &err), 0);
    CHECK(seen.id > 0);
    CHECK_INT_EQ(seen.other_digests, 0);
    CHECK_INT_EQ(store_delivery_body(st, seen.id, &kept, &keptlen, &err), 0);
    store_close(st);
    CHECK_INT_EQ(run_cli(argv, env, NULL, &out, NULL), 0);

    CHECK(raw != NULL && kept != NULL);
    if (raw == NULL || kept == NULL)
        goto done;
    auth_sha256_hex(kept, keptlen, sha);
    CHECK_STR_EQ(seen.sha, sha);
    CHECK_INT_EQ(keptlen, rawlen);
    CHECK(memcmp(kept, raw, rawlen) == 0);
    CHECK_STR_CONTAINS(out, "7700123456789012");
    CHECK_STR_CONTAINS(out, "+1 (415) 555-0100");
    CHECK_STR_CONTAINS(raw, "\"duration\":217");
    CHECK_STR_CONTAINS(raw, "2026-05-24T18:02:14Z");
    if (redacted) {
        CHECK_STR_EQ(original_in(raw), NULL);
        CHECK_STR_EQ(original_in(kept), NULL);
        CHECK_STR_EQ(original_in(out), NULL);
        CHECK_INT_EQ(seen.n, strncmp(id, "redact", 6) == 0 ? 2 : 1);
        CHECK_STR_CONTAINS(raw, "my card is " CARD " and my SSN is " SSN ".");
        CHECK_STR_CONTAINS(out, "Paid with " CARD " (Amex " CARD " declined)");
        CHECK_STR_CONTAINS(out,
                           "The other card is " CARD ", or " CARD ", and my wife's social is " SSN);
        CHECK_STR_CONTAINS(out, "Thanks, I have " CARD " and " CARD ".");
        parsed = cJSON_ParseWithLength(raw, rawlen);
        CHECK(parsed != NULL);
        cJSON_Delete(parsed);
    } else {
        CHECK_INT_EQ(rawlen, strlen(sent));
        CHECK(memcmp(raw, sent, rawlen) == 0);
        CHECK_STR_CONTAINS(out, "Paid with 5555 5555 5555 4444 (Amex 3782 822463 10005");
        auth_sha256_hex(sent, strlen(sent), sha);
        CHECK_STR_EQ(seen.sha, sha);
    }
done:
    free(raw);
    free(kept);
    free(out);
    free(args);
    free(env0);
}

#define SIGNING "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" /* Standard Webhooks test key */

/*
 * POST body to the daemon's webhook, signed with SIGNING over signed (the
 * body itself when NULL); returns the HTTP status.
 */
static int post(const struct daemon *d, const char *body, const char *signed_body)
{
    struct err err = {0};
    struct auth_secrets *secrets = auth_secrets_parse(SIGNING, &err);
    struct http_resp r;
    int64_t now = (int64_t)time(NULL);
    char sig[128];
    char *headers;
    int status = -1;

    if (signed_body == NULL)
        signed_body = body;
    CHECK(secrets != NULL);
    CHECK_INT_EQ(auth_sign_webhook(secrets, "msg_redact", now, signed_body, strlen(signed_body),
                                   sig, sizeof sig),
                 0);
    headers = xasprintf("webhook-id: msg_redact\r\nwebhook-timestamp: %lld\r\n"
                        "webhook-signature: %s\r\n",
                        (long long)now, sig);
    if (http_post(d->webhook_port, "/phonely/webhook", headers, body, strlen(body), &r) == 0) {
        status = r.status;
        http_resp_free(&r);
    }
    auth_secrets_free(secrets);
    free(headers);
    return status;
}

/* `phonely-mcp import` of body from a file, with redact as given. */
static void import_one(const char *db, const char *body, const char *redact)
{
    char *dir = tmpdir_make("redact-import"), *path = xasprintf("%s/calls.jsonl", dir);
    char *env0 = xasprintf("PHONELY_MCP_DB=%s", db),
         *env1 = xasprintf("PHONELY_MCP_REDACT=%s", redact);
    const char *env[] = {env0, env1, NULL};
    const char *argv[] = {"import", path, NULL};
    char *out = NULL;
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    if (f != NULL) {
        fprintf(f, "%s\n", body);
        fclose(f);
    }
    CHECK_INT_EQ(run_cli(argv, env, NULL, &out, NULL), 0);
    CHECK_STR_CONTAINS(out, "1 stored");
    free(out);
    tmpdir_remove(dir);
    free(dir);
    free(path);
    free(env0);
    free(env1);
}

/*
 * One database: a daemon with redact on and one with it off take a signed
 * call each, then `import` does the same; every stored copy is checked.
 * A signature made over the redacted body does not verify: signatures are
 * checked on the bytes as sent.
 */
static void run_backend(const char *db)
{
    const char *on[] = {"PHONELY_MCP_REDACT=yes", "PHONELY_MCP_WEBHOOK_SIGNING_SECRET=" SIGNING,
                        NULL};
    const char *off[] = {"PHONELY_MCP_WEBHOOK_SIGNING_SECRET=" SIGNING, NULL};
    struct daemon d;
    char *a = pii_body("redact-on"), *b = pii_body("redact-off"), *c = pii_body("import-on"),
         *e = pii_body("import-off"), *a_red;
    size_t a_red_len;

    a_red = payload_redact(a, strlen(a), &a_red_len, NULL);
    CHECK(a_red != NULL);
    daemon_start_db(&d, db, on);
    CHECK_INT_EQ(post(&d, a, a_red), 401);
    CHECK_INT_EQ(post(&d, a, NULL), 200);
    CHECK_INT_EQ(post(&d, a, NULL), 200); /* a re-delivery: the same redacted body, a duplicate */
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    daemon_start_db(&d, db, off);
    CHECK_INT_EQ(post(&d, b, NULL), 200);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    check_stored(db, "redact-on", a, true);
    check_stored(db, "redact-off", b, false);
    import_one(db, c, "yes");
    import_one(db, e, "no");
    check_stored(db, "import-on", c, true);
    check_stored(db, "import-off", e, false);
    free(a);
    free(a_red);
    free(b);
    free(c);
    free(e);
}

static void test_end_to_end_sqlite(void)
{
    char *dir = tmpdir_make("redact"), *db = xasprintf("%s/calls.db", dir);

    run_backend(db);
    tmpdir_remove(dir);
    free(dir);
    free(db);
}

static void test_end_to_end_postgres(void)
{
    char *db = pg_newdb();

    run_backend(db);
    free(db);
}

int main(void)
{
    RUN(test_cards);
    RUN(test_ssns);
    RUN(test_left_alone);
    RUN(test_counts);
    RUN(test_json_values_only);
    RUN(test_json_escapes);
    RUN(test_json_matches_text);
    RUN(test_end_to_end_sqlite);
    RUN(test_end_to_end_postgres);
    return check_report();
}
