/*
 * fuzz_sig.c: the Standard Webhooks header parser and verifier
 * (auth_verify_webhook) with an oracle. The input is a flags byte, a clock
 * byte, then webhook-id, webhook-timestamp and webhook-signature lines and
 * the body (the rest, any bytes). A flag can append the right signature,
 * computed here with an HMAC-SHA256 written independently of libsodium, so
 * that the accepting paths are reached too.
 *
 * Oracle: the verifier must accept exactly when every header is present,
 * the id is 1..255 bytes of [A-Za-z0-9_-], the timestamp 1..19 digits
 * within the tolerance of the clock, the signature header at most 4096
 * bytes with at most 16 non-empty space-separated entries, and one entry is
 * "v1," followed by the canonical padded base64 of HMAC(secret, id "." ts
 * "." body) for one of the configured secrets. A refusal carries ERR_AUTH
 * or ERR_INVALID and never quotes the id or a signature.
 * auth_sign_webhook must produce the same text as the oracle.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"

#define NOW_BASE 1614265330 /* the V1 vector's timestamp */

/* The V1 and V2 vector secrets and a 64-byte key (bytes 0..63). */
static const char *const secret_text[] = {
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    ("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
     "PD0+Pw=="),
};
#define NSECRETS (sizeof secret_text / sizeof secret_text[0])

static struct auth_secrets *sets[NSECRETS]; /* sets[i]: secrets 0..i */
static uint8_t keys[NSECRETS][64];
static size_t keylen[NSECRETS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char text[512] = "";

    (void)argc;
    (void)argv;
    fuzz_init();
    for (size_t i = 0; i < NSECRETS; i++) {
        const char *b64 = secret_text[i] + strlen("whsec_");
        struct err err = {0};
        uint8_t raw[128];
        long n = fuzz_b64_decode(b64, strlen(b64), raw);

        FUZZ_CHECK(n >= 24 && n <= 64);
        memcpy(keys[i], raw, (size_t)n);
        keylen[i] = (size_t)n;
        strcat(text, i > 0 ? " " : "");
        strcat(text, secret_text[i]);
        sets[i] = auth_secrets_parse(text, &err);
        FUZZ_CHECK(sets[i] != NULL);
        FUZZ_CHECK(auth_secrets_count(sets[i]) == i + 1);
    }
    return 0;
}

/* "v1," + base64 of the HMAC with key k over id "." ts "." body. */
static void oracle_sig(size_t k, const char *id, const char *ts, const void *body, size_t len,
                       char out[64])
{
    struct fuzz_hmac h;
    uint8_t mac[32];

    fuzz_hmac_init(&h, keys[k], keylen[k]);
    fuzz_hmac_update(&h, id, strlen(id));
    fuzz_hmac_update(&h, ".", 1);
    fuzz_hmac_update(&h, ts, strlen(ts));
    fuzz_hmac_update(&h, ".", 1);
    fuzz_hmac_update(&h, body, len);
    fuzz_hmac_final(&h, mac);
    memcpy(out, "v1,", 3);
    fuzz_b64_encode(mac, sizeof mac, false, out + 3);
}

static bool id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* 1..19 digits within tolerance of now; *value gets the number. */
static bool ts_ok(const char *ts, int64_t now, int64_t tolerance, uint64_t *value)
{
    size_t n = strlen(ts);
    uint64_t v = 0, diff;

    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(ts[i] - '0');
    }
    *value = v;
    if (v > (uint64_t)INT64_MAX)
        return false;
    if (tolerance < 0)
        tolerance = 0;
    diff = (int64_t)v >= now ? v - (uint64_t)now : (uint64_t)now - v;
    return diff <= (uint64_t)tolerance;
}

/* The signature list's shape, and whether one entry equals a wanted text. */
static bool sig_ok(const char *sig, char want[][64], size_t nwant, bool *matches)
{
    size_t n = strlen(sig), entries = 0;
    const char *p = sig, *end = sig + n;

    *matches = false;
    if (n > 4096)
        return false;
    while (p < end) {
        const char *q = memchr(p, ' ', (size_t)(end - p));
        size_t len;
        if (q == NULL)
            q = end;
        len = (size_t)(q - p);
        if (len > 0)
            entries++;
        for (size_t k = 0; k < nwant; k++)
            if (len == strlen(want[k]) && memcmp(p, want[k], len) == 0)
                *matches = true;
        p = q + 1;
    }
    return entries <= 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t flags = fuzz_byte(&in), clock = fuzz_byte(&in);
    static const int64_t tolerances[] = {300, 0, -7, INT64_MAX};
    int64_t now = NOW_BASE + (int8_t)clock * 4, tolerance = tolerances[(flags >> 6) & 3];
    size_t nsec = 1 + (flags & 1) + ((flags >> 1) & 1), body_len = 0;
    char *id = fuzz_field(&in, '\n', NULL), *ts = fuzz_field(&in, '\n', NULL);
    char *sig = fuzz_field(&in, '\n', NULL), *body;
    char want[NSECRETS][64];
    struct err err = {0};
    bool expect = true, matches = false;
    uint64_t tsv = 0;
    int rc;

    /* The body is everything after the third newline (any bytes). */
    body_len = in.p != NULL ? in.n : 0;
    body = fuzz_strndup(in.p, body_len);
    if (flags & 0x04) {
        free(id);
        id = NULL;
    }
    if (flags & 0x08) {
        free(sig);
        sig = NULL;
    }

    if (id != NULL && ts != NULL)
        for (size_t k = 0; k < nsec; k++)
            oracle_sig(k, id, ts, body, body_len, want[k]);
    /* Append the right signature for one secret, so that acceptance is reachable. */
    if ((flags & 0x10) && id != NULL && ts != NULL && sig != NULL) {
        size_t k = (flags & 0x20) ? nsec - 1 : 0;
        size_t n = strlen(sig);
        sig = realloc(sig, n + 1 + 64);
        FUZZ_CHECK(sig != NULL);
        snprintf(sig + n, 1 + 64, "%s%s", n > 0 ? " " : "", want[k]);
    }

    if (id == NULL || ts == NULL || sig == NULL)
        expect = false;
    else {
        if (!id_ok(id) || !ts_ok(ts, now, tolerance, &tsv))
            expect = false;
        if (!sig_ok(sig, want, nsec, &matches) || !matches)
            expect = false;
    }

    rc = auth_verify_webhook(sets[nsec - 1], id, ts, sig, body, body_len, now, tolerance, &err);
    if (rc == 0 && !expect)
        fuzz_fail(__FILE__, __LINE__, "accepted a delivery the oracle refuses");
    if (rc != 0 && expect)
        fuzz_fail(__FILE__, __LINE__, "refused a delivery the oracle accepts");
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(err.code == ERR_AUTH || err.code == ERR_INVALID);
        FUZZ_CHECK(err.msg[0] != '\0');
        if (id != NULL && fuzz_quotable(id, "-_"))
            FUZZ_CHECK(strstr(err.msg, id) == NULL);
        if (sig != NULL && strncmp(sig, "v1,", 3) == 0) {
            char first[64] = "";
            sscanf(sig + 3, "%63[A-Za-z0-9+/=]", first);
            if (fuzz_quotable(first, "+/="))
                FUZZ_CHECK(strstr(err.msg, first) == NULL);
        }
    }

    /* The signer agrees with the oracle when the timestamp is canonical decimal. */
    if (id != NULL && ts != NULL && tsv <= (uint64_t)INT64_MAX && ts[0] != '\0' &&
        strspn(ts, "0123456789") == strlen(ts) && strlen(ts) <= 19 &&
        (ts[0] != '0' || ts[1] == '\0')) {
        char out[64];
        uint64_t v = 0;
        for (const char *p = ts; *p; p++)
            v = v * 10 + (uint64_t)(*p - '0');
        if (v <= (uint64_t)INT64_MAX) {
            FUZZ_CHECK(auth_sign_webhook(sets[nsec - 1], id, (int64_t)v, body, body_len, out,
                                         sizeof out) == 0);
            FUZZ_CHECK(strcmp(out, want[0]) == 0);
        }
    }

    free(id);
    free(ts);
    free(sig);
    free(body);
    return 0;
}
