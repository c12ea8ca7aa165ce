/*
 * test_auth.c: unit tests for auth.c: tokens, SHA-256, secret parsing and
 * Standard Webhooks v1 signatures, driven by the vectors in
 * shared/design/standard-webhooks-vectors.md (V1, V2, V3 as a v1a-only
 * header, every V4 row that applies to v1, the Svix secret negatives). The
 * clock is passed in, so tolerance tests are exact. Each test owns what it
 * parses and frees it before returning.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "check.h"
#include "xmalloc.h"

/* V1: the canonical vector every reference library uses. */
#define V1_SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define V1_BARE    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define V1_ID      "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define V1_TS      1614265330
#define V1_TS_STR  "1614265330"
#define V1_BODY    "{\"test\": 2432232314}"
#define V1_SIG     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define V1_SIG_B64 "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* V2: the Rust reference library's vector. */
#define V2_SECRET "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
#define V2_ID     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
#define V2_TS     1649367553
#define V2_TS_STR "1649367553"
#define V2_BODY   "{\"email\":\"test@example.com\",\"username\":\"test_user\"}"
#define V2_SIG    "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="

/* V3: the Svix v1a (Ed25519) header over the V1 message. */
#define V3_SIG                                                                                     \
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
#define V3_WHSK                                                                                    \
    "whsk_6Xb/dCcHpPea21PS1N9VY/"                                                                  \
    "NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
#define V3_WHPK "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="

/* V4 wrong signature shared by the Go, JS, PHP, Java and C# suites. */
#define WRONG_SIG "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

/*
 * Computed independently with Python's hmac module (not with this code):
 * V1 key, id and timestamp over an empty body; and a 64-byte key
 * (bytes 0..63) over the V1 message.
 */
#define EMPTY_BODY_SIG "v1,v48jdbgvh29KJz2Qc+ghw8G6vG3nAKnujWBg8oM/62A="
#define KEY64_B64                                                                                  \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define KEY64_SIG "v1,LZ5zuwHTqQH3VM8ERUusjzVQq1FXzemvpR8Mk7Ivp5c="
#define KEY65_B64                                                                                  \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="
#define KEY23_B64 "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo="

#define SIG_BUF 64

static struct auth_secrets *parse_ok(const char *text)
{
    struct err err = {0};
    struct auth_secrets *s = auth_secrets_parse(text, &err);

    if (s == NULL) {
        CHECK_FAIL_("auth_secrets_parse failed: %s", err.msg);
        abort();
    }
    return s;
}

/* Verify the V1 id and body with a given timestamp string, signature and clock. */
static int verify_v1(const struct auth_secrets *s, const char *ts, const char *sig, int64_t now,
                     struct err *err)
{
    return auth_verify_webhook(s, V1_ID, ts, sig, V1_BODY, strlen(V1_BODY), now, AUTH_SIG_TOLERANCE,
                               err);
}

static void test_v1_vector(void)
{
    static const char *const forms[] = {V1_SECRET, V1_BARE};
    struct err err = {0};
    char sig[SIG_BUF];

    for (size_t i = 0; i < 2; i++) {
        struct auth_secrets *s = parse_ok(forms[i]);

        CHECK_INT_EQ(auth_secrets_count(s), 1);
        CHECK_INT_EQ(verify_v1(s, V1_TS_STR, V1_SIG, V1_TS, &err), 0);
        CHECK_INT_EQ(auth_sign_webhook(s, V1_ID, V1_TS, V1_BODY, strlen(V1_BODY), sig, sizeof sig),
                     0);
        CHECK_STR_EQ(sig, V1_SIG);
        auth_secrets_free(s);
    }
}

static void test_v2_vector(void)
{
    struct auth_secrets *s = parse_ok(V2_SECRET);
    struct err err = {0};
    char sig[SIG_BUF];

    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR, V2_SIG, V2_BODY, strlen(V2_BODY), V2_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    CHECK_INT_EQ(auth_sign_webhook(s, V2_ID, V2_TS, V2_BODY, strlen(V2_BODY), sig, sizeof sig), 0);
    CHECK_STR_EQ(sig, V2_SIG);
    /* A body changed by one byte no longer verifies. */
    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR, V2_SIG, V2_BODY, strlen(V2_BODY) - 1,
                                     V2_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    auth_secrets_free(s);
}

/* V4 signature-header rows over the V1 message; each with both secret forms. */
static void test_v4_signature_rows(void)
{
    static const struct {
        const char *name;
        const char *header;
        int want;
    } rows[] = {
        {"wrong signature", WRONG_SIG, -1},
        {"one character changed", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", -1},
        {"truncated / invalid base64", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd", -1},
        {"empty signature", "v1,", -1},
        {"first 8 chars only", "v1,g0hM9", -1},
        {"unknown version with a valid MAC", "v2," V1_SIG_B64, -1},
        {"no separator", "invalid_signature", -1},
        {"not base64", "v1,invalid_signature", -1},
        {"several signatures, one valid",
         WRONG_SIG " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " V1_SIG " " WRONG_SIG, 0},
        {"valid one first", V1_SIG " " WRONG_SIG, 0},
        {"empty header", "", -1},
        {"only spaces", "   ", -1},
        {"extra spaces around the valid one", "  " V1_SIG "  ", 0},
        {"valid MAC without padding", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", -1},
        {"valid MAC with trailing junk", V1_SIG "!", -1},
        {"valid MAC, version upper-case", "V1," V1_SIG_B64, -1},
        {"valid MAC, URL-safe alphabet", "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", -1},
        {"valid MAC, comma-separated list", WRONG_SIG "," V1_SIG, -1},
        {"v1a-only header (V3)", V3_SIG, -1},
    };
    static const char *const forms[] = {V1_SECRET, V1_BARE};

    for (size_t f = 0; f < 2; f++) {
        struct auth_secrets *s = parse_ok(forms[f]);

        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            struct err err = {0};
            int rc = verify_v1(s, V1_TS_STR, rows[i].header, V1_TS, &err);

            if (rc != rows[i].want)
                fprintf(stderr, "  row \"%s\" (secret form %zu)\n", rows[i].name, f);
            CHECK_INT_EQ(rc, rows[i].want);
            if (rows[i].want != 0) {
                CHECK_INT_EQ(err.code, ERR_AUTH);
                CHECK_STR_EQ(err.msg, "no valid v1 signature");
            }
        }
        auth_secrets_free(s);
    }
}

/* V4 rows that use the V2 secret and payload. */
static void test_v4_rust_rows(void)
{
    struct auth_secrets *s = parse_ok(V2_SECRET);
    struct err err = {0};
    const char *none_valid = "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= "
                             "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= "
                             "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=";

    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR, none_valid, V2_BODY, strlen(V2_BODY),
                                     V2_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR,
                                     "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=", V2_BODY,
                                     strlen(V2_BODY), V2_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    /* Partial signature (rust test_verify_partial_signature): the valid one cut short. */
    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR, "v1,tZ1I4", V2_BODY, strlen(V2_BODY),
                                     V2_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    /* Control: the same inputs with the right signature pass. */
    CHECK_INT_EQ(auth_verify_webhook(s, V2_ID, V2_TS_STR, V2_SIG, V2_BODY, strlen(V2_BODY), V2_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    auth_secrets_free(s);
}

static void test_tolerance(void)
{
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};
    char sig[SIG_BUF], ts[32];
    const int64_t now = 1700000000;
    static const struct {
        int64_t offset;
        int want;
        const char *reason;
    } rows[] = {
        {0, 0, NULL},
        {-300, 0, NULL},
        {300, 0, NULL},
        {-301, -1, "too old"},
        {301, -1, "in the future"},
        {-86400, -1, "too old"},
        {86400, -1, "in the future"},
    };

    /* Fixed vector timestamp, moving clock. */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int rc = verify_v1(s, V1_TS_STR, V1_SIG, V1_TS - rows[i].offset, &err);

        CHECK_INT_EQ(rc, rows[i].want);
        if (rows[i].want != 0) {
            CHECK_INT_EQ(err.code, ERR_AUTH);
            CHECK_STR_CONTAINS(err.msg, "signature timestamp outside the 300 s tolerance");
            CHECK_STR_CONTAINS(err.msg, rows[i].reason);
        }
    }
    /* Fixed clock, freshly signed timestamps now +/- offset. */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t t = now + rows[i].offset;

        snprintf(ts, sizeof ts, "%lld", (long long)t);
        CHECK_INT_EQ(auth_sign_webhook(s, V1_ID, t, V1_BODY, strlen(V1_BODY), sig, sizeof sig), 0);
        CHECK_INT_EQ(verify_v1(s, ts, sig, now, &err), rows[i].want);
    }
    /* Extremes do not overflow: the largest 19-digit value, and clocks at the int64 ends. */
    CHECK_INT_EQ(verify_v1(s, "9999999999999999999", V1_SIG, now, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_INT_EQ(verify_v1(s, "9223372036854775807", V1_SIG, INT64_MIN, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_INT_EQ(verify_v1(s, "0", V1_SIG, INT64_MAX, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_INT_EQ(verify_v1(s, "0", V1_SIG, INT64_MIN, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    auth_secrets_free(s);
}

static void test_timestamp_format(void)
{
    static const char *const bad[] = {
        "hello",        "161426533.0",          "invalid timestamp", "-161426533",
        " 1614265330",  "1614265330 ",          "+1614265330",       "",
        "1614265330\n", "16142653300000000000", /* 20 digits */
        "0x60367af2",
    };
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        if (verify_v1(s, bad[i], V1_SIG, V1_TS, &err) != -1)
            fprintf(stderr, "  timestamp row %zu accepted\n", i);
        CHECK_INT_EQ(err.code, ERR_INVALID);
        CHECK_STR_CONTAINS(err.msg, "webhook-timestamp");
        CHECK(bad[i][0] == '\0' || strstr(err.msg, bad[i]) == NULL);
    }
    /* Leading zeros are digits: the value is in range, but the signed text differs. */
    CHECK_INT_EQ(verify_v1(s, "0" V1_TS_STR, V1_SIG, V1_TS, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    auth_secrets_free(s);
}

static void test_missing_headers(void)
{
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};
    const char *b = V1_BODY;
    size_t n = strlen(V1_BODY);

    CHECK_INT_EQ(
        auth_verify_webhook(s, NULL, V1_TS_STR, V1_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_STR_EQ(err.msg, "missing webhook-id header");
    CHECK_INT_EQ(auth_verify_webhook(s, V1_ID, NULL, V1_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_STR_EQ(err.msg, "missing webhook-timestamp header");
    CHECK_INT_EQ(
        auth_verify_webhook(s, V1_ID, V1_TS_STR, NULL, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err), -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    CHECK_STR_EQ(err.msg, "missing webhook-signature header");
    /* No secrets at all is a configuration error, not a pass. */
    CHECK_INT_EQ(
        auth_verify_webhook(NULL, V1_ID, V1_TS_STR, V1_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
        -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    /* err may be NULL. */
    CHECK_INT_EQ(
        auth_verify_webhook(s, V1_ID, V1_TS_STR, WRONG_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, NULL),
        -1);
    auth_secrets_free(s);
}

static void test_webhook_id(void)
{
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};
    char id[300], sig[SIG_BUF];
    const char *b = V1_BODY;
    size_t n = strlen(V1_BODY);

    /* A '.' would make "id.ts.body" ambiguous; the spec forbids it. */
    CHECK_INT_EQ(auth_sign_webhook(s, "msg.1", V1_TS, b, n, sig, sizeof sig), 0);
    CHECK_INT_EQ(
        auth_verify_webhook(s, "msg.1", V1_TS_STR, sig, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "webhook-id");
    CHECK(strstr(err.msg, "msg.1") == NULL);

    CHECK_INT_EQ(
        auth_verify_webhook(s, "", V1_TS_STR, V1_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_INT_EQ(
        auth_verify_webhook(s, "msg 1", V1_TS_STR, V1_SIG, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
        -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_INT_EQ(auth_verify_webhook(s, "msg\xc3\xa9", V1_TS_STR, V1_SIG, b, n, V1_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);

    /* 255 bytes, correctly signed: accepted. 256 bytes: refused before any MAC. */
    memset(id, 'a', 255);
    id[255] = '\0';
    CHECK_INT_EQ(auth_sign_webhook(s, id, V1_TS, b, n, sig, sizeof sig), 0);
    CHECK_INT_EQ(auth_verify_webhook(s, id, V1_TS_STR, sig, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
                 0);
    memset(id, 'a', 256);
    id[256] = '\0';
    CHECK_INT_EQ(auth_sign_webhook(s, id, V1_TS, b, n, sig, sizeof sig), 0);
    CHECK_INT_EQ(auth_verify_webhook(s, id, V1_TS_STR, sig, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "longer than 255");
    /* The V1 id with every allowed punctuation mark still verifies via a round trip. */
    CHECK_INT_EQ(auth_sign_webhook(s, "msg_A-z_0-9", V1_TS, b, n, sig, sizeof sig), 0);
    CHECK_INT_EQ(auth_verify_webhook(s, "msg_A-z_0-9", V1_TS_STR, sig, b, n, V1_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    auth_secrets_free(s);
}

static void test_empty_body(void)
{
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};
    char sig[SIG_BUF];

    /* Signature computed independently (Python hmac) for an empty body. */
    CHECK_INT_EQ(auth_verify_webhook(s, V1_ID, V1_TS_STR, EMPTY_BODY_SIG, "", 0, V1_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    CHECK_INT_EQ(auth_verify_webhook(s, V1_ID, V1_TS_STR, EMPTY_BODY_SIG, NULL, 0, V1_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    CHECK_INT_EQ(auth_sign_webhook(s, V1_ID, V1_TS, NULL, 0, sig, sizeof sig), 0);
    CHECK_STR_EQ(sig, EMPTY_BODY_SIG);
    /* The V1 signature does not cover an empty body. */
    CHECK_INT_EQ(
        auth_verify_webhook(s, V1_ID, V1_TS_STR, V1_SIG, "", 0, V1_TS, AUTH_SIG_TOLERANCE, &err),
        -1);
    CHECK_INT_EQ(err.code, ERR_AUTH);
    auth_secrets_free(s);
}

static void test_header_caps(void)
{
    struct auth_secrets *s = parse_ok(V1_SECRET);
    struct err err = {0};
    char *hdr;
    size_t fill;

    /* 15 wrong entries then the valid one: 16 entries, accepted. */
    hdr = xstrdup("");
    for (int i = 0; i < 15; i++) {
        char *next = xasprintf("%s%s ", hdr, WRONG_SIG);
        free(hdr);
        hdr = next;
    }
    {
        char *next = xasprintf("%s%s", hdr, V1_SIG);
        free(hdr);
        hdr = next;
    }
    CHECK_INT_EQ(verify_v1(s, V1_TS_STR, hdr, V1_TS, &err), 0);
    /* One more entry in front: 17, refused even though one is valid. */
    {
        char *next = xasprintf("%s %s", WRONG_SIG, hdr);
        free(hdr);
        hdr = next;
    }
    CHECK_INT_EQ(verify_v1(s, V1_TS_STR, hdr, V1_TS, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "more than 16 entries");
    free(hdr);

    /* Exactly 4096 bytes (spaces padding the valid entry): accepted; 4097: refused. */
    fill = 4096 - strlen(V1_SIG);
    hdr = xmalloc(4096 + 2);
    memset(hdr, ' ', fill);
    memcpy(hdr + fill, V1_SIG, strlen(V1_SIG) + 1);
    CHECK_INT_EQ((long long)strlen(hdr), 4096);
    CHECK_INT_EQ(verify_v1(s, V1_TS_STR, hdr, V1_TS, &err), 0);
    memmove(hdr + 1, hdr, 4096 + 1);
    hdr[0] = ' ';
    CHECK_INT_EQ(verify_v1(s, V1_TS_STR, hdr, V1_TS, &err), -1);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "longer than 4096");
    free(hdr);
    auth_secrets_free(s);
}

static void test_sign_round_trip(void)
{
    struct auth_secrets *s = parse_ok(V2_SECRET);
    struct err err = {0};
    char sig[SIG_BUF], small[48];
    const char *body = "{\"call\":{\"id\":\"c1\"}}";

    CHECK_INT_EQ(auth_sign_webhook(s, "evt_1", 1700000000, body, strlen(body), sig, sizeof sig), 0);
    CHECK_INT_EQ((long long)strlen(sig), 47);
    CHECK(strncmp(sig, "v1,", 3) == 0);
    CHECK_INT_EQ(auth_verify_webhook(s, "evt_1", "1700000000", sig, body, strlen(body), 1700000000,
                                     AUTH_SIG_TOLERANCE, &err),
                 0);
    /* Any change to id, timestamp or body breaks it. */
    CHECK_INT_EQ(auth_verify_webhook(s, "evt_2", "1700000000", sig, body, strlen(body), 1700000000,
                                     AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(auth_verify_webhook(s, "evt_1", "1700000001", sig, body, strlen(body), 1700000000,
                                     AUTH_SIG_TOLERANCE, &err),
                 -1);
    CHECK_INT_EQ(auth_verify_webhook(s, "evt_1", "1700000000", sig, body, strlen(body) - 1,
                                     1700000000, AUTH_SIG_TOLERANCE, &err),
                 -1);
    /* Output buffer: 48 bytes fit exactly, 47 do not (and leave it empty). */
    CHECK_INT_EQ(auth_sign_webhook(s, "evt_1", 1700000000, body, strlen(body), small, 48), 0);
    CHECK_STR_EQ(small, sig);
    CHECK_INT_EQ(auth_sign_webhook(s, "evt_1", 1700000000, body, strlen(body), small, 47), -1);
    CHECK_STR_EQ(small, "");
    CHECK_INT_EQ(auth_sign_webhook(NULL, "evt_1", 1700000000, body, 1, sig, sizeof sig), -1);
    CHECK_INT_EQ(auth_sign_webhook(s, NULL, 1700000000, body, 1, sig, sizeof sig), -1);
    CHECK_INT_EQ(auth_sign_webhook(s, "evt_1", -1, body, 1, sig, sizeof sig), -1);
    auth_secrets_free(s);
}

static void test_rotation(void)
{
    struct auth_secrets *old = parse_ok(V1_SECRET);
    struct auth_secrets *fresh = parse_ok(V2_SECRET);
    struct auth_secrets *both = parse_ok(V2_SECRET " " V1_SECRET);
    struct err err = {0};
    char sig_old[SIG_BUF], sig_new[SIG_BUF], sig_both[SIG_BUF], pair[2 * SIG_BUF];
    const char *b = V1_BODY;
    size_t n = strlen(V1_BODY);

    CHECK_INT_EQ(auth_secrets_count(both), 2);
    CHECK_INT_EQ(auth_sign_webhook(old, V1_ID, V1_TS, b, n, sig_old, sizeof sig_old), 0);
    CHECK_INT_EQ(auth_sign_webhook(fresh, V1_ID, V1_TS, b, n, sig_new, sizeof sig_new), 0);
    CHECK(strcmp(sig_old, sig_new) != 0);
    /* The receiver holding both secrets takes either signature. */
    CHECK_INT_EQ(
        auth_verify_webhook(both, V1_ID, V1_TS_STR, sig_old, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
        0);
    CHECK_INT_EQ(
        auth_verify_webhook(both, V1_ID, V1_TS_STR, sig_new, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
        0);
    /* The sender signing with both keys: a receiver with either one accepts. */
    snprintf(pair, sizeof pair, "%s %s", sig_new, sig_old);
    CHECK_INT_EQ(
        auth_verify_webhook(old, V1_ID, V1_TS_STR, pair, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err), 0);
    CHECK_INT_EQ(
        auth_verify_webhook(fresh, V1_ID, V1_TS_STR, pair, b, n, V1_TS, AUTH_SIG_TOLERANCE, &err),
        0);
    /* A receiver with only the new secret refuses the old signature. */
    CHECK_INT_EQ(auth_verify_webhook(fresh, V1_ID, V1_TS_STR, sig_old, b, n, V1_TS,
                                     AUTH_SIG_TOLERANCE, &err),
                 -1);
    /* auth_sign_webhook uses the first secret of the list. */
    CHECK_INT_EQ(auth_sign_webhook(both, V1_ID, V1_TS, b, n, sig_both, sizeof sig_both), 0);
    CHECK_STR_EQ(sig_both, sig_new);
    auth_secrets_free(old);
    auth_secrets_free(fresh);
    auth_secrets_free(both);
}

static void test_key_lengths(void)
{
    struct err err = {0};
    struct auth_secrets *s;

    /* 64-byte key (the HMAC block size), signature from an independent HMAC. */
    s = parse_ok("whsec_" KEY64_B64);
    CHECK_INT_EQ(verify_v1(s, V1_TS_STR, KEY64_SIG, V1_TS, &err), 0);
    auth_secrets_free(s);

    /* 65 bytes decoded and 23 bytes decoded: refused, with or without the prefix. */
    CHECK(auth_secrets_parse("whsec_" KEY65_B64, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_CONTAINS(err.msg, "24 to 64");
    CHECK(auth_secrets_parse(KEY65_B64, &err) == NULL);
    CHECK(auth_secrets_parse("whsec_" KEY23_B64, &err) == NULL);
    CHECK_STR_CONTAINS(err.msg, "24 to 64");
    CHECK(auth_secrets_parse(KEY23_B64, &err) == NULL);
}

static void test_secret_parse_negatives(void)
{
    static const struct {
        const char *text;
        const char *reason;
    } rows[] = {
        {"", "no signing secret"},
        {" , ,", "no signing secret"},
        {"whsec_", "is empty"},
        {"w", "base64"},
        {"whsec_%", "base64"},
        {"whsec_wronglength", "base64"},
        {V3_WHPK, "whpk_ public key"},
        {V3_WHSK, "whsk_"},
        {"whsk_6Xb/dCcHpPea21PS1N9VY/"
         "NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kv",
         "whsk_"},
        {"hwsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "base64"},
        {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64"},
        /* Python's reference suite accepts these non-canonical forms; libsodium does not. */
        {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "base64"},
        {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr", "base64"},
        /* URL-safe alphabet, trailing junk. */
        {"whsec_C2FVsBQIhrscChlQIMV-b5sSYspob7oD", "base64"},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw!", "base64"},
        /* One good, one bad: the whole list is refused, naming the second. */
        {V1_SECRET " whsec_%", "signing secret 2"},
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct err err = {0};
        struct auth_secrets *s = auth_secrets_parse(rows[i].text, &err);

        if (s != NULL)
            fprintf(stderr, "  secret row %zu accepted\n", i);
        CHECK(s == NULL);
        auth_secrets_free(s);
        CHECK_INT_EQ(err.code, ERR_CONFIG);
        CHECK_STR_CONTAINS(err.msg, rows[i].reason);
        /* The message never quotes the secret (the "w" row is too short to tell). */
        if (strlen(rows[i].text) > 6)
            CHECK(strstr(err.msg, rows[i].text + 6) == NULL);
    }
    {
        struct err err = {0};
        CHECK(auth_secrets_parse(NULL, &err) == NULL);
        CHECK_INT_EQ(err.code, ERR_CONFIG);
        CHECK(auth_secrets_parse("whsec_%", NULL) == NULL);
    }
}

static void test_secret_lists(void)
{
    struct err err = {0};
    struct auth_secrets *s;
    char *eight = xstrdup(V1_SECRET), *nine;

    s = parse_ok(V1_SECRET "," V2_SECRET);
    CHECK_INT_EQ(auth_secrets_count(s), 2);
    auth_secrets_free(s);
    s = parse_ok("  " V1_BARE " ,\t" V2_SECRET "\n");
    CHECK_INT_EQ(auth_secrets_count(s), 2);
    auth_secrets_free(s);

    for (int i = 1; i < 8; i++) {
        char *next = xasprintf("%s %s", eight, (i % 2) ? V2_SECRET : V1_SECRET);
        free(eight);
        eight = next;
    }
    s = parse_ok(eight);
    CHECK_INT_EQ(auth_secrets_count(s), 8);
    auth_secrets_free(s);
    nine = xasprintf("%s,%s", eight, V1_SECRET);
    CHECK(auth_secrets_parse(nine, &err) == NULL);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_CONTAINS(err.msg, "more than 8");
    free(eight);
    free(nine);

    CHECK_INT_EQ(auth_secrets_count(NULL), 0);
    auth_secrets_free(NULL);
}

static bool url_safe(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void test_token_generate(void)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    struct err err = {0};

    memset(a, 'x', sizeof a);
    auth_token_generate(a);
    auth_token_generate(b);
    CHECK_INT_EQ((long long)strlen(a), 43);
    CHECK_INT_EQ((long long)strlen(b), 43);
    CHECK(url_safe(a));
    CHECK(url_safe(b));
    CHECK(strcmp(a, b) != 0);
    CHECK_INT_EQ(auth_token_validate(a, &err), 0);
}

static void test_token_validate(void)
{
    static const struct {
        size_t len;
        char fill;
        int want;
    } lens[] = {
        {21, 'a', -1}, {22, 'a', 0}, {43, 'Z', 0}, {512, '9', 0}, {513, 'a', -1}, {4000, 'a', -1},
    };
    static const char *const bad[] = {
        "abcdefghijklmnopqrstuvwxyz+",        "abcdefghijklmnopqrstuvwxyz/",
        "abcdefghijklmnopqrstuvwxyz=",        "abcdefghijk lmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxyz\n",       "abcdefghijklm%20nopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxyz\xc3\xa9", "abcdefghijklm\"nopqrstuvwxyz",
    };
    struct err err = {0};
    char buf[4001];

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memset(buf, lens[i].fill, lens[i].len);
        buf[lens[i].len] = '\0';
        CHECK_INT_EQ(auth_token_validate(buf, &err), lens[i].want);
        if (lens[i].want != 0) {
            CHECK_INT_EQ(err.code, ERR_CONFIG);
            CHECK(strstr(err.msg, "aaaaaaaaaaaa") == NULL);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT_EQ(auth_token_validate(bad[i], &err), -1);
        CHECK_INT_EQ(err.code, ERR_CONFIG);
        CHECK(strstr(err.msg, "abcdefghijk") == NULL);
    }
    CHECK_INT_EQ(auth_token_validate("abc.def~ghi_jkl-mno.pqrs", &err), 0);
    CHECK_INT_EQ(auth_token_validate(NULL, &err), -1);
    CHECK_INT_EQ(auth_token_validate("", &err), -1);
    CHECK_INT_EQ(auth_token_validate("short", NULL), -1);
}

static void test_token_match(void)
{
    const char *a = "Zq3_tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *b = "Yp2-tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    const char *const two[] = {a, b};
    const char *const holes[] = {NULL, "", b};
    const char *const empty_only[] = {"", NULL};
    char off[64], longer[64];

    CHECK(auth_token_match(a, strlen(a), two, 2));
    CHECK(auth_token_match(b, strlen(b), two, 2));      /* second of two */
    CHECK(!auth_token_match(a, strlen(a) - 1, two, 2)); /* prefix */
    CHECK(!auth_token_match(a, 1, two, 2));
    snprintf(off, sizeof off, "%s", a);
    off[10] ^= 1;
    CHECK(!auth_token_match(off, strlen(off), two, 2)); /* one character off */
    snprintf(off, sizeof off, "%s", a);
    off[strlen(off) - 1] = 'B';
    CHECK(!auth_token_match(off, strlen(off), two, 2)); /* last character off */
    snprintf(longer, sizeof longer, "%sA", a);
    CHECK(!auth_token_match(longer, strlen(longer), two, 2)); /* longer */
    CHECK(auth_token_match(longer, strlen(a), two, 2));       /* len bounds the bytes read */
    CHECK(!auth_token_match("", 0, two, 2));                  /* empty given */
    CHECK(!auth_token_match("", 0, empty_only, 2));           /* empty never equals empty */
    CHECK(!auth_token_match(NULL, 0, two, 2));
    CHECK(auth_token_match(b, strlen(b), holes, 3)); /* NULL and empty entries skipped */
    CHECK(!auth_token_match(a, strlen(a), holes, 3));
    CHECK(!auth_token_match(a, strlen(a), two, 0));
    CHECK(!auth_token_match(a, strlen(a), NULL, 0));
}

static void test_sha256_hex(void)
{
    char hex[AUTH_SHA256_HEX];

    auth_sha256_hex("", 0, hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    auth_sha256_hex(NULL, 0, hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    auth_sha256_hex("abc", 3, hex);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* Embedded NUL: the length counts, not the terminator. */
    auth_sha256_hex("abc\0def", 3, hex);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    if (auth_init() != 0) {
        fprintf(stderr, "auth_init failed\n");
        return 1;
    }
    CHECK_INT_EQ(auth_init(), 0); /* a second call is harmless */
    RUN(test_v1_vector);
    RUN(test_v2_vector);
    RUN(test_v4_signature_rows);
    RUN(test_v4_rust_rows);
    RUN(test_tolerance);
    RUN(test_timestamp_format);
    RUN(test_missing_headers);
    RUN(test_webhook_id);
    RUN(test_empty_body);
    RUN(test_header_caps);
    RUN(test_sign_round_trip);
    RUN(test_rotation);
    RUN(test_key_lengths);
    RUN(test_secret_parse_negatives);
    RUN(test_secret_lists);
    RUN(test_token_generate);
    RUN(test_token_validate);
    RUN(test_token_match);
    RUN(test_sha256_hex);
    return check_report();
}
