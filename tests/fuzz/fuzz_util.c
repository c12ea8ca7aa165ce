/*
 * fuzz_util.c: helpers shared by the fuzz targets (see fuzz.h). The hash,
 * base64 and UTF-8 code here is deliberately written from the standards
 * rather than borrowed from libsodium or textutil.c, so that a target can
 * use it to check those.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz.h"
#include "log.h"
#include "xmalloc.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

void fuzz_init(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    xmalloc_init_json();
    if (auth_init() == -1) {
        fprintf(stderr, "libsodium did not initialise\n");
        abort();
    }
    log_level = LOG_LEVEL_ERROR;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1);

    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

uint8_t fuzz_byte(struct fuzz_in *in)
{
    uint8_t b;

    if (in->n == 0)
        return 0;
    b = in->p[0];
    in->p++;
    in->n--;
    return b;
}

char *fuzz_field(struct fuzz_in *in, char sep, size_t *len)
{
    const uint8_t *end;
    size_t n;
    char *s;

    if (in->p == NULL)
        return NULL;
    end = in->n > 0 ? memchr(in->p, (unsigned char)sep, in->n) : NULL;
    n = end != NULL ? (size_t)(end - in->p) : in->n;
    s = fuzz_strndup(in->p, n);
    if (len != NULL)
        *len = n;
    if (end != NULL) {
        in->p += n + 1;
        in->n -= n + 1;
    } else {
        in->p = NULL; /* used up: the last field may be empty, the next is NULL */
        in->n = 0;
    }
    return s;
}

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct fuzz_sha256 *c, const uint8_t *p)
{
    uint32_t w[64], a, b, d, e, f, g, h, cc;

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g, g = f, f = e, e = d + t1;
        d = cc, cc = b, b = a, a = t1 + t2;
    }
    c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
    c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

void fuzz_sha256_init(struct fuzz_sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

    memcpy(c->h, iv, sizeof iv);
    c->bytes = 0;
    c->used = 0;
}

void fuzz_sha256_update(struct fuzz_sha256 *c, const void *data, size_t len)
{
    const uint8_t *p = data;

    c->bytes += len;
    while (len > 0) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used == 64) {
            sha256_block(c, c->block);
            c->used = 0;
        }
    }
}

void fuzz_sha256_final(struct fuzz_sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->bytes * 8;
    uint8_t pad = 0x80, zero = 0, len[8];

    fuzz_sha256_update(c, &pad, 1);
    while (c->used != 56)
        fuzz_sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    fuzz_sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void fuzz_hmac_init(struct fuzz_hmac *h, const void *key, size_t keylen)
{
    uint8_t k[64] = {0}, ipad[64], opad[64];

    if (keylen > 64) {
        struct fuzz_sha256 c;
        fuzz_sha256_init(&c);
        fuzz_sha256_update(&c, key, keylen);
        fuzz_sha256_final(&c, k);
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (int i = 0; i < 64; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }
    fuzz_sha256_init(&h->inner);
    fuzz_sha256_update(&h->inner, ipad, 64);
    fuzz_sha256_init(&h->outer);
    fuzz_sha256_update(&h->outer, opad, 64);
}

void fuzz_hmac_update(struct fuzz_hmac *h, const void *data, size_t len)
{
    fuzz_sha256_update(&h->inner, data, len);
}

void fuzz_hmac_final(struct fuzz_hmac *h, uint8_t out[32])
{
    uint8_t inner[32];

    fuzz_sha256_final(&h->inner, inner);
    fuzz_sha256_update(&h->outer, inner, 32);
    fuzz_sha256_final(&h->outer, out);
}

/* ---- base64 (RFC 4648 sections 4 and 5) ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t fuzz_b64_encode(const uint8_t *in, size_t len, bool url, char *out)
{
    const char *al = url ? b64_url : b64_std;
    size_t o = 0, i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
        out[o++] = al[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        if (!url) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    if ((p = strchr(b64_std, c)) != NULL)
        return (int)(p - b64_std);
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long fuzz_b64_decode(const char *text, size_t len, uint8_t *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

/* ---- UTF-8 (RFC 3629, section 4) ---- */

bool fuzz_utf8_ok(const void *s, size_t len)
{
    const uint8_t *p = s, *end = p + len;

    while (p < end) {
        uint8_t c = *p;
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if ((size_t)(end - p) <= need)
            return false;
        for (size_t i = 1; i <= need; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += need + 1;
    }
    return true;
}

bool fuzz_quotable(const char *s, const char *extra)
{
    bool digit = false, upper = false;
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c >= 'A' && c <= 'Z')
            upper = true;
        else if (!(c >= 'a' && c <= 'z') && strchr(extra, c) == NULL)
            return false;
    }
    return n >= 12 && digit && upper;
}

/* ---- a private temporary directory ---- */

static char tmp_path[4096];

static void tmpdir_cleanup(void)
{
    DIR *d;
    struct dirent *e;

    if (tmp_path[0] == '\0')
        return;
    if ((d = opendir(tmp_path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[4096 + 256];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", tmp_path, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(tmp_path);
    tmp_path[0] = '\0';
}

const char *fuzz_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (tmp_path[0] != '\0')
        return tmp_path;
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(tmp_path, sizeof tmp_path, "%s/phonely-fuzz-%s-XXXXXX", base, tag);
    if (mkdtemp(tmp_path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    atexit(tmpdir_cleanup);
    return tmp_path;
}
