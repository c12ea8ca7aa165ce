/*
 * fuzz.h: what the fuzz targets share: the libFuzzer entry points, an
 * invariant check that aborts (so libFuzzer, or the replay runner under
 * ASan, reports it with the input), and small helpers written independently
 * of the code under test so that they can serve as oracles: SHA-256 and
 * HMAC-SHA256, base64, a UTF-8 validator.
 */
#ifndef PHONELY_FUZZ_H
#define PHONELY_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points; tests/fuzz/replay.c calls them without libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition when an invariant does not hold. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* Once per process: cJSON through xmalloc, libsodium, logging quiet (errors only). */
void fuzz_init(void);

/* A NUL-terminated copy of data[0..size) (which may itself hold NULs). Caller frees. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Input consumed piece by piece. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

/* The next byte, or 0 when the input is used up. */
uint8_t fuzz_byte(struct fuzz_in *in);
/*
 * The bytes up to the next sep (not included, consumed) or to the end, as
 * a NUL-terminated copy (caller frees); *len gets the byte count (the copy
 * may hold NULs). Returns NULL when the input is used up.
 */
char *fuzz_field(struct fuzz_in *in, char sep, size_t *len);

/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), independent of libsodium. */
struct fuzz_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
};
void fuzz_sha256_init(struct fuzz_sha256 *c);
void fuzz_sha256_update(struct fuzz_sha256 *c, const void *data, size_t len);
void fuzz_sha256_final(struct fuzz_sha256 *c, uint8_t out[32]);

struct fuzz_hmac {
    struct fuzz_sha256 inner, outer;
};
void fuzz_hmac_init(struct fuzz_hmac *h, const void *key, size_t keylen);
void fuzz_hmac_update(struct fuzz_hmac *h, const void *data, size_t len);
void fuzz_hmac_final(struct fuzz_hmac *h, uint8_t out[32]);

/*
 * Base64 of in (standard alphabet with padding, or URL-safe without) into
 * out, which needs 4 * ((len + 2) / 3) + 1 bytes. Returns the text length.
 */
size_t fuzz_b64_encode(const uint8_t *in, size_t len, bool url, char *out);
/*
 * Lenient decode of text (either alphabet, padding optional, non-zero
 * trailing bits ignored) into out (room for strlen(text) * 3 / 4 + 3
 * bytes). Returns the byte count, or -1 on a character outside both
 * alphabets or an impossible length.
 */
long fuzz_b64_decode(const char *text, size_t len, uint8_t *out);

/* RFC 3629 UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool fuzz_utf8_ok(const void *s, size_t len);

/*
 * True when s is at least 12 characters, each a letter, a digit or one of
 * extra, with at least one digit and one upper-case letter: text that
 * no fixed message template contains, so a message holding it quotes input.
 */
bool fuzz_quotable(const char *s, const char *extra);

/* A new private directory under $TMPDIR (or /tmp), removed with its files at exit. */
const char *fuzz_tmpdir(const char *tag);

#endif
