/* auth.h: tokens, digests and Standard Webhooks signatures (libsodium). */
#ifndef PHONELY_AUTH_H
#define PHONELY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AUTH_TOKEN_LEN     43 /* 32 random bytes, URL-safe base64, no padding */
#define AUTH_TOKEN_MIN     22 /* configured tokens shorter than this (128 bits) are refused */
#define AUTH_TOKEN_MAX     512
#define AUTH_SHA256_HEX    65 /* 64 hex digits + NUL */
#define AUTH_SIG_TOLERANCE 300

/* Initialise libsodium; returns -1 when it cannot be initialised. */
int auth_init(void);

/* Write a fresh random token (AUTH_TOKEN_LEN chars + NUL) into out. */
void auth_token_generate(char out[AUTH_TOKEN_LEN + 1]);

/* Check a configured token's shape (length, URL-safe characters). */
int auth_token_validate(const char *token, struct err *err);

/*
 * True when the len bytes at given equal one of the ntokens tokens. The
 * comparison takes the same time whatever the bytes (both sides are hashed
 * first, then compared with sodium_memcmp), and every token is tried.
 */
bool auth_token_match(const char *given, size_t len, const char *const *tokens, size_t ntokens);

/* Lower-case hex SHA-256 of data. */
void auth_sha256_hex(const void *data, size_t len, char out[AUTH_SHA256_HEX]);

/* Fill buf with len random bytes. */
void auth_random(void *buf, size_t len);
/* HMAC-SHA256 of data under a 32-byte key. */
void auth_mac(const unsigned char key[32], const void *data, size_t len, unsigned char out[32]);
/* A 32-byte key for label derived from secret (the same on every daemon given secret). */
void auth_derive_key(const char *secret, const char *label, unsigned char out[32]);
/* Constant-time equality of two len-byte buffers. */
bool auth_equal(const void *a, const void *b, size_t len);
/* URL-safe base64 without padding; the caller frees the result. */
char *auth_b64url_encode(const void *data, size_t len);
/* Decode URL-safe base64 without padding; NULL when malformed. Caller frees *out. */
int auth_b64url_decode(const char *text, unsigned char **out, size_t *len);

/* A set of Standard Webhooks secrets ("whsec_..." or bare base64), for rotation. */
struct auth_secrets;

/*
 * Parse a space- or comma-separated list of secrets. Each must decode (strict
 * standard base64, optional "whsec_" prefix) to 24..64 bytes. The caller
 * owns the result (auth_secrets_free). Never echoes the secret in err.
 */
struct auth_secrets *auth_secrets_parse(const char *text, struct err *err);
void auth_secrets_free(struct auth_secrets *secrets);
size_t auth_secrets_count(const struct auth_secrets *secrets);

/*
 * Verify a Standard Webhooks v1 signature over "id.timestamp.body".
 * id: 1..255 bytes of [A-Za-z0-9_-]; timestamp: 1..19 ASCII digits within
 * tolerance seconds of now (both directions; AUTH_SIG_TOLERANCE is the usual 300); signature: a
 * space-separated list of "version,base64"; entries other than v1 or not
 * decoding to 32 bytes are skipped. Every secret is tried. Returns 0 when
 * one signature matches, else -1 with ERR_AUTH (or ERR_INVALID for a
 * malformed header) and a reason that does not quote the headers.
 */
int auth_verify_webhook(const struct auth_secrets *secrets, const char *id, const char *timestamp,
                        const char *signature, const void *body, size_t len, int64_t now,
                        int64_t tolerance, struct err *err);

/* Produce "v1,<base64>" for the first secret (tests, and the import tool). */
int auth_sign_webhook(const struct auth_secrets *secrets, const char *id, int64_t timestamp,
                      const void *body, size_t len, char *out, size_t outsz);

#endif
