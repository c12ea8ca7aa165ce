/*
 * fuzz_cursor.c: pagination cursors (cursor_decode, cursor_encode).
 * The first byte picks the mode; the rest is the cursor text (mode even)
 * or a JSON state to seal (mode odd).
 *
 * Decoding arbitrary text must not crash; it may succeed only for a cursor
 * that really is authentic: decoded here with an independent base64 and
 * HMAC-SHA256, it must be version 1, carry the first 16 bytes of
 * HMAC(key, version | kind | NUL | json), and hold the JSON object that was
 * returned. A failure says ERR_INVALID with the one fixed message.
 *
 * A round trip must hold: an object state seals into URL-safe base64 of at
 * most 2048 characters (or is refused only when it would be longer), opens
 * again to the same value as the state printed and re-read, and does not
 * open for another kind, another key, or with one character changed.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "search.h"

static const unsigned char key[32] = "fuzz-cursor-key-0123456789abcdef";
static const unsigned char other_key[32] = "fuzz-cursor-key-0123456789abcdeF";
static const char kind[] = "search_calls:0f1e2d3c";
static const char other_kind[] = "search_calls:0f1e2d3d";
static const char invalid_msg[] =
    "the cursor is not valid for this query; start again without a cursor";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

/* Same value, compared as printed (cJSON_Compare mismatches objects with duplicate names). */
static bool same_json(const cJSON *a, const cJSON *b)
{
    char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
    bool same = ta != NULL && tb != NULL && strcmp(ta, tb) == 0;

    free(ta);
    free(tb);
    return same;
}

static void check_refusal(cJSON *got, const struct err *err)
{
    FUZZ_CHECK(got == NULL);
    FUZZ_CHECK(err->code == ERR_INVALID);
    FUZZ_CHECK(strcmp(err->msg, invalid_msg) == 0);
}

/* A decoded state must come from an authentic cursor (independent check). */
static void check_authentic(const char *text, const cJSON *state)
{
    size_t len = strlen(text);
    uint8_t *raw = malloc(len * 3 / 4 + 3), mac[32], version = 1;
    struct fuzz_hmac h;
    long n = fuzz_b64_decode(text, len, raw);
    cJSON *again;

    FUZZ_CHECK(raw != NULL);
    FUZZ_CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               len);
    FUZZ_CHECK(len <= 2048);
    FUZZ_CHECK(n >= 1 + 2 + 16);
    FUZZ_CHECK(raw[0] == 1);
    fuzz_hmac_init(&h, key, sizeof key);
    fuzz_hmac_update(&h, &version, 1);
    fuzz_hmac_update(&h, kind, sizeof kind); /* with the NUL */
    fuzz_hmac_update(&h, raw + 1, (size_t)n - 1 - 16);
    fuzz_hmac_final(&h, mac);
    FUZZ_CHECK(memcmp(mac, raw + n - 16, 16) == 0);
    again = cJSON_ParseWithLength((const char *)raw + 1, (size_t)n - 1 - 16);
    FUZZ_CHECK(cJSON_IsObject(again));
    FUZZ_CHECK(same_json(again, state));
    cJSON_Delete(again);
    free(raw);
}

static void decode_text(const char *text)
{
    struct err err = {0};
    cJSON *state = cursor_decode(key, kind, text, &err);

    if (state == NULL) {
        check_refusal(state, &err);
        return;
    }
    FUZZ_CHECK(cJSON_IsObject(state));
    check_authentic(text, state);
    check_refusal(cursor_decode(key, other_kind, text, &err), &err);
    check_refusal(cursor_decode(other_key, kind, text, &err), &err);
    cJSON_Delete(state);
}

static void round_trip(const uint8_t *data, size_t size)
{
    cJSON *state = cJSON_ParseWithLength((const char *)data, size), *want, *got;
    struct err err = {0};
    char *c, *printed;
    size_t len;

    if (state == NULL)
        return;
    c = cursor_encode(key, kind, state);
    if (!cJSON_IsObject(state)) {
        FUZZ_CHECK(c == NULL);
        cJSON_Delete(state);
        return;
    }
    printed = cJSON_PrintUnformatted(state);
    FUZZ_CHECK(printed != NULL);
    if (c == NULL) {
        /* Refused only when the cursor would not fit. */
        FUZZ_CHECK((1 + strlen(printed) + 16 + 2) / 3 * 4 > 2048);
        free(printed);
        cJSON_Delete(state);
        return;
    }
    len = strlen(c);
    FUZZ_CHECK(len > 0 && len <= 2048);
    FUZZ_CHECK(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               len);
    want = cJSON_Parse(printed);
    got = cursor_decode(key, kind, c, &err);
    FUZZ_CHECK(got != NULL);
    FUZZ_CHECK(want != NULL);
    FUZZ_CHECK(same_json(got, want));
    check_authentic(c, got);
    check_refusal(cursor_decode(key, other_kind, c, &err), &err);
    check_refusal(cursor_decode(other_key, kind, c, &err), &err);
    {
        /* One character changed, at a place and to a value the input picks. */
        size_t at = (size_t)data[0] % len;
        char was = c[at];
        c[at] = was == 'A' ? 'B' : 'A';
        check_refusal(cursor_decode(key, kind, c, &err), &err);
    }
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(printed);
    free(c);
    cJSON_Delete(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_byte(&in);

    if (mode & 1) {
        round_trip(in.p, in.n);
    } else {
        char *text = fuzz_strndup(in.p, in.n);
        decode_text(text);
        free(text);
    }
    return 0;
}
