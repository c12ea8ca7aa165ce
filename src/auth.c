/*
 * auth.c: bearer tokens, SHA-256 digests and Standard Webhooks (v1,
 * HMAC-SHA256) signatures. This is the only file that includes <sodium.h>.
 *
 * Ownership: struct auth_secrets lives in one sodium_malloc() block (guard
 * pages, mlock, wiped by sodium_free) and is read-only once parsed; it
 * belongs to whoever called auth_secrets_parse() and dies in
 * auth_secrets_free(). Every other function borrows its arguments and keeps
 * nothing. Decoded key bytes that pass through the stack are wiped with
 * sodium_memzero before returning.
 *
 * Error messages describe what is wrong without quoting the token, the
 * secret or any header value: they end up in logs and HTTP replies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "log.h"
#include "xmalloc.h"

#define SECRETS_MAX      8
#define SECRET_KEY_MIN   24
#define SECRET_KEY_MAX   64
#define SECRET_TEXT_MAX  256 /* base64 characters of one secret, before decoding */
#define SECRET_PREFIX    "whsec_"
#define MAC_LEN          crypto_auth_hmacsha256_BYTES /* 32 */
#define MAC_B64_LEN      44                           /* padded base64 of 32 bytes */
#define WEBHOOK_ID_MAX   255
#define WEBHOOK_TS_MAX   19
#define SIG_HEADER_MAX   4096
#define SIG_ENTRIES_MAX  16
#define TOKEN_HASH_BYTES 32

struct auth_secret {
    size_t len;
    unsigned char key[SECRET_KEY_MAX];
};

struct auth_secrets {
    size_t n;
    struct auth_secret keys[SECRETS_MAX];
};

/* True for the bytes a bearer token may hold: RFC 3986 "unreserved". */
static bool token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* True for the bytes a webhook-id may hold; '.' would make the signed content ambiguous. */
static bool webhook_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/*
 * Initialise libsodium (cheap and thread-safe when already done). Returns -1
 * only when the library cannot be used at all.
 */
int auth_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/*
 * Fill out with a new token: 32 bytes from the system CSPRNG in URL-safe
 * base64 without padding, i.e. exactly AUTH_TOKEN_LEN characters plus NUL.
 */
void auth_token_generate(char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char raw[32];

    if (sodium_init() < 0)
        fatalx("libsodium cannot be initialised");
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

/*
 * Check that a configured token is AUTH_TOKEN_MIN..AUTH_TOKEN_MAX characters
 * of [A-Za-z0-9._~-], so it can sit in a URL path or query unescaped.
 * Returns 0, or -1 with ERR_CONFIG; the message never contains the token.
 */
int auth_token_validate(const char *token, struct err *err)
{
    size_t len;

    if (token == NULL || token[0] == '\0')
        return err_set(err, ERR_CONFIG, "token is empty");
    len = strnlen(token, AUTH_TOKEN_MAX + 1);
    if (len < AUTH_TOKEN_MIN)
        return err_set(err, ERR_CONFIG, "token is shorter than %d characters", AUTH_TOKEN_MIN);
    if (len > AUTH_TOKEN_MAX)
        return err_set(err, ERR_CONFIG, "token is longer than %d characters", AUTH_TOKEN_MAX);
    for (size_t i = 0; i < len; i++) {
        if (!token_char((unsigned char)token[i]))
            return err_set(err, ERR_CONFIG,
                           "token has a character outside [A-Za-z0-9._~-] at position %zu", i + 1);
    }
    return 0;
}

/*
 * Compare the len bytes at given with every token. Both sides are reduced to
 * a 32-byte BLAKE2b digest and compared with sodium_memcmp, so the time does
 * not depend on where (or whether) the bytes differ, nor on len matching;
 * every token is hashed and compared even after a match. NULL and empty
 * tokens are skipped, and an empty given never matches.
 */
bool auth_token_match(const char *given, size_t len, const char *const *tokens, size_t ntokens)
{
    unsigned char want[TOKEN_HASH_BYTES], have[TOKEN_HASH_BYTES];
    int matched = 0;

    if (given == NULL || len == 0 || tokens == NULL)
        return false;
    crypto_generichash(have, sizeof have, (const unsigned char *)given, len, NULL, 0);
    for (size_t i = 0; i < ntokens; i++) {
        const char *t = tokens[i];

        if (t == NULL || t[0] == '\0')
            continue;
        crypto_generichash(want, sizeof want, (const unsigned char *)t, strlen(t), NULL, 0);
        matched |= sodium_memcmp(want, have, sizeof want) == 0;
    }
    sodium_memzero(want, sizeof want);
    sodium_memzero(have, sizeof have);
    return matched != 0;
}

/* Write the lower-case hex SHA-256 of len bytes at data (NULL allowed when len is 0). */
void auth_sha256_hex(const void *data, size_t len, char out[AUTH_SHA256_HEX])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    if (data == NULL)
        data = "";
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, AUTH_SHA256_HEX, digest, sizeof digest);
}

/* True when the first n bytes of s start with the NUL-terminated prefix. */
static bool has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);

    return n >= plen && memcmp(s, prefix, plen) == 0;
}

/*
 * Decode one secret (text, n bytes, no separators) into slot. Returns 0 or
 * -1 with ERR_CONFIG naming the secret by its 1-based position only.
 */
static int secret_decode(const char *text, size_t n, size_t pos, struct auth_secret *slot,
                         struct err *err)
{
    unsigned char bin[SECRET_TEXT_MAX];
    size_t bin_len = 0;
    int rc;

    if (has_prefix(text, n, "whpk_"))
        return err_set(err, ERR_CONFIG,
                       "signing secret %zu is a whpk_ public key; v1 needs a whsec_ shared secret",
                       pos);
    if (has_prefix(text, n, "whsk_"))
        return err_set(err, ERR_CONFIG,
                       "signing secret %zu is a whsk_ signing key; v1 needs a whsec_ shared secret",
                       pos);
    if (has_prefix(text, n, SECRET_PREFIX)) {
        text += strlen(SECRET_PREFIX);
        n -= strlen(SECRET_PREFIX);
    }
    if (n == 0)
        return err_set(err, ERR_CONFIG, "signing secret %zu is empty", pos);
    if (n > SECRET_TEXT_MAX)
        return err_set(err, ERR_CONFIG, "signing secret %zu is longer than %d bytes", pos,
                       SECRET_KEY_MAX);
    /* b64_end NULL: trailing junk is an error, not a silent early stop. */
    rc = sodium_base642bin(bin, sizeof bin, text, n, NULL, &bin_len, NULL,
                           sodium_base64_VARIANT_ORIGINAL);
    if (rc != 0) {
        sodium_memzero(bin, sizeof bin);
        return err_set(err, ERR_CONFIG,
                       "signing secret %zu is not canonical standard base64 (with padding)", pos);
    }
    if (bin_len < SECRET_KEY_MIN || bin_len > SECRET_KEY_MAX) {
        sodium_memzero(bin, sizeof bin);
        return err_set(err, ERR_CONFIG, "signing secret %zu decodes to %zu bytes, not %d to %d",
                       pos, bin_len, SECRET_KEY_MIN, SECRET_KEY_MAX);
    }
    memcpy(slot->key, bin, bin_len);
    slot->len = bin_len;
    sodium_memzero(bin, sizeof bin);
    return 0;
}

/*
 * Parse a list of Standard Webhooks secrets separated by spaces, tabs, line
 * breaks or commas: each "whsec_<base64>" or bare base64 (standard alphabet,
 * padded, canonical), decoding to 24..64 bytes; 1 to 8 of them, in order
 * (the first is the one auth_sign_webhook uses). Returns a new set the
 * caller frees with auth_secrets_free, or NULL with ERR_CONFIG (ERR_SYSTEM
 * if libsodium is unusable). Messages name secrets by position, never by
 * content.
 */
struct auth_secrets *auth_secrets_parse(const char *text, struct err *err)
{
    static const char seps[] = " \t\r\n,";
    struct auth_secrets *s = NULL;
    const char *p = text;

    if (sodium_init() < 0) {
        err_set(err, ERR_SYSTEM, "libsodium cannot be initialised");
        return NULL;
    }
    if (text == NULL) {
        err_set(err, ERR_CONFIG, "no signing secret given");
        return NULL;
    }
    s = sodium_malloc(sizeof *s);
    if (s == NULL)
        fatalx("sodium_malloc: out of memory");
    memset(s, 0, sizeof *s);
    for (;;) {
        size_t n;

        p += strspn(p, seps);
        if (*p == '\0')
            break;
        n = strcspn(p, seps);
        if (s->n == SECRETS_MAX) {
            err_set(err, ERR_CONFIG, "more than %d signing secrets", SECRETS_MAX);
            goto fail;
        }
        if (secret_decode(p, n, s->n + 1, &s->keys[s->n], err) != 0)
            goto fail;
        s->n++;
        p += n;
    }
    if (s->n == 0) {
        err_set(err, ERR_CONFIG, "no signing secret given");
        goto fail;
    }
    sodium_mprotect_readonly(s);
    return s;

fail:
    sodium_free(s); /* wipes the keys decoded so far */
    return NULL;
}

/* Wipe and free a secret set; NULL is fine. */
void auth_secrets_free(struct auth_secrets *secrets)
{
    if (secrets != NULL)
        sodium_free(secrets);
}

/* How many secrets the set holds (0 for NULL). */
size_t auth_secrets_count(const struct auth_secrets *secrets)
{
    return secrets == NULL ? 0 : secrets->n;
}

/*
 * HMAC-SHA256 of id "." ts "." body under key. Uses the init/update/final
 * API because the one-shot crypto_auth_hmacsha256() takes exactly 32-byte
 * keys and Standard Webhooks keys are 24 to 64 bytes.
 */
static void webhook_mac(const struct auth_secret *key, const char *id, size_t idlen, const char *ts,
                        size_t tslen, const void *body, size_t len, unsigned char out[MAC_LEN])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key->key, key->len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, idlen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, tslen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    if (len > 0)
        crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* Check a webhook-id: 1..255 bytes of [A-Za-z0-9_-]. Sets *idlen. */
static int check_webhook_id(const char *id, size_t *idlen, struct err *err)
{
    size_t n = strnlen(id, WEBHOOK_ID_MAX + 1);

    if (n == 0)
        return err_set(err, ERR_INVALID, "webhook-id header is empty");
    if (n > WEBHOOK_ID_MAX)
        return err_set(err, ERR_INVALID, "webhook-id header is longer than %d bytes",
                       WEBHOOK_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!webhook_id_char((unsigned char)id[i]))
            return err_set(err, ERR_INVALID,
                           "webhook-id header has a character outside [A-Za-z0-9_-]");
    }
    *idlen = n;
    return 0;
}

/*
 * Check a webhook-timestamp: 1..19 ASCII digits (no sign, fraction or
 * space) within tolerance seconds of now either way. Sets *tslen.
 */
static int check_webhook_timestamp(const char *ts, int64_t now, int64_t tolerance, size_t *tslen,
                                   struct err *err)
{
    size_t n = strnlen(ts, WEBHOOK_TS_MAX + 1);
    uint64_t v = 0;

    if (n == 0 || n > WEBHOOK_TS_MAX)
        return err_set(err, ERR_INVALID, "webhook-timestamp header is not 1 to %d digits",
                       WEBHOOK_TS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return err_set(err, ERR_INVALID,
                           "webhook-timestamp header is not an integer number of seconds");
        v = v * 10 + (uint64_t)(ts[i] - '0'); /* 19 digits cannot overflow 64 bits */
    }
    /*
     * Subtract the smaller from the larger as unsigned: exact for any now,
     * with no signed overflow.
     */
    if (tolerance < 0)
        tolerance = 0;
    if (v > (uint64_t)INT64_MAX || ((int64_t)v > now && v - (uint64_t)now > (uint64_t)tolerance))
        return err_set(err, ERR_AUTH,
                       "signature timestamp outside the %lld s tolerance (in the future)",
                       (long long)tolerance);
    if ((int64_t)v < now && (uint64_t)now - v > (uint64_t)tolerance)
        return err_set(err, ERR_AUTH, "signature timestamp outside the %lld s tolerance (too old)",
                       (long long)tolerance);
    *tslen = n;
    return 0;
}

/*
 * Verify a Standard Webhooks v1 delivery (see auth.h for the rules). The
 * signature header is capped at 4096 bytes and 16 entries before any MAC is
 * computed; then every entry is checked against every secret's MAC with no
 * early exit. Returns 0 on a match; else -1 with ERR_AUTH (missing header,
 * stale timestamp, no matching signature), ERR_INVALID (malformed header)
 * or ERR_CONFIG (no secrets). Messages never quote header contents.
 */
int auth_verify_webhook(const struct auth_secrets *secrets, const char *id, const char *timestamp,
                        const char *signature, const void *body, size_t len, int64_t now,
                        int64_t tolerance, struct err *err)
{
    unsigned char macs[SECRETS_MAX][MAC_LEN];
    unsigned char cand[MAC_LEN];
    size_t idlen = 0, tslen = 0, siglen, entries = 0;
    const char *p, *end;
    int matched = 0;

    if (secrets == NULL || secrets->n == 0)
        return err_set(err, ERR_CONFIG, "no webhook signing secret configured");
    if (id == NULL)
        return err_set(err, ERR_AUTH, "missing webhook-id header");
    if (timestamp == NULL)
        return err_set(err, ERR_AUTH, "missing webhook-timestamp header");
    if (signature == NULL)
        return err_set(err, ERR_AUTH, "missing webhook-signature header");
    if (body == NULL && len > 0)
        return err_set(err, ERR_INTERNAL, "webhook body is NULL");
    if (check_webhook_id(id, &idlen, err) != 0)
        return -1;
    if (check_webhook_timestamp(timestamp, now, tolerance, &tslen, err) != 0)
        return -1;

    siglen = strnlen(signature, SIG_HEADER_MAX + 1);
    if (siglen > SIG_HEADER_MAX)
        return err_set(err, ERR_INVALID, "webhook-signature header is longer than %d bytes",
                       SIG_HEADER_MAX);
    end = signature + siglen;
    for (p = signature; p < end;) {
        const char *q = memchr(p, ' ', (size_t)(end - p));

        if (q == NULL)
            q = end;
        if (q > p && ++entries > SIG_ENTRIES_MAX)
            return err_set(err, ERR_INVALID, "webhook-signature header has more than %d entries",
                           SIG_ENTRIES_MAX);
        p = q + 1;
    }

    for (size_t k = 0; k < secrets->n; k++)
        webhook_mac(&secrets->keys[k], id, idlen, timestamp, tslen, body, len, macs[k]);

    for (p = signature; p < end;) {
        const char *q = memchr(p, ' ', (size_t)(end - p));
        const char *comma;
        size_t elen, vlen, bin_len = 0;

        if (q == NULL)
            q = end;
        elen = (size_t)(q - p);
        comma = memchr(p, ',', elen);
        if (comma != NULL && comma - p == 2 && memcmp(p, "v1", 2) == 0) {
            /* Padded base64 of 32 bytes is exactly 44 characters; skip others undecoded. */
            vlen = elen - 3;
            if (vlen == MAC_B64_LEN &&
                sodium_base642bin(cand, sizeof cand, comma + 1, vlen, NULL, &bin_len, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0 &&
                bin_len == MAC_LEN) {
                for (size_t k = 0; k < secrets->n; k++)
                    matched |= sodium_memcmp(cand, macs[k], MAC_LEN) == 0;
            }
        }
        p = q + 1;
    }
    sodium_memzero(macs, sizeof macs);
    sodium_memzero(cand, sizeof cand);
    if (!matched)
        return err_set(err, ERR_AUTH, "no valid v1 signature");
    return 0;
}

/*
 * Write "v1,<base64 HMAC>" over id "." timestamp "." body with the first
 * secret into out (48 bytes with the NUL). Returns 0, or -1 when the
 * arguments are unusable or out is too small (out is then left empty).
 */
int auth_sign_webhook(const struct auth_secrets *secrets, const char *id, int64_t timestamp,
                      const void *body, size_t len, char *out, size_t outsz)
{
    unsigned char mac[MAC_LEN];
    char ts[24];
    int tslen;

    if (out != NULL && outsz > 0)
        out[0] = '\0';
    if (secrets == NULL || secrets->n == 0 || id == NULL || timestamp < 0 ||
        (body == NULL && len > 0) || out == NULL || outsz < 3 + MAC_B64_LEN + 1)
        return -1;
    tslen = snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    webhook_mac(&secrets->keys[0], id, strlen(id), ts, (size_t)tslen, body, len, mac);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, outsz - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(mac, sizeof mac);
    return 0;
}

void auth_random(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}

/* HMAC-SHA256 with a 32-byte key (the one-shot API's fixed key size). */
void auth_mac(const unsigned char key[32], const void *data, size_t len, unsigned char out[32])
{
    crypto_auth_hmacsha256(out, data, len, key);
}

/* HMAC-SHA256(SHA-256(secret), label): a key of its own for each use of one secret. */
void auth_derive_key(const char *secret, const char *label, unsigned char out[32])
{
    unsigned char k[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(k, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256(out, (const unsigned char *)label, strlen(label), k);
    sodium_memzero(k, sizeof k);
}

bool auth_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

char *auth_b64url_encode(const void *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = xmalloc(cap);

    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int auth_b64url_decode(const char *text, unsigned char **out, size_t *len)
{
    size_t tlen = strlen(text), cap = tlen * 3 / 4 + 3;
    unsigned char *bin = xmalloc(cap);

    if (sodium_base642bin(bin, cap, text, tlen, NULL, len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(bin);
        *out = NULL;
        return -1;
    }
    *out = bin;
    return 0;
}
