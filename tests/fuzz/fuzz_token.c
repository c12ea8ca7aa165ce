/*
 * fuzz_token.c: where a webhook request's token comes from
 * (webhook_token_candidates: URL path, ?token=, Authorization: Bearer,
 * X-Webhook-Token) and how it is compared (auth_token_match), plus the
 * configured-token shape check (auth_token_validate).
 *
 * The input is a flags byte, then lines: url, query token, Authorization,
 * X-Webhook-Token, first configured token, second configured token. Flags
 * leave any of the four request values out (NULL) and choose how many
 * tokens are configured. Oracles, written out here: the candidates are
 * exactly the expected pointers in order; a candidate matches exactly when
 * it is non-empty and byte-equal to a non-empty configured token (also for
 * raw bytes holding NULs); a token validates exactly when it is 22..512
 * characters of [A-Za-z0-9._~-].
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "fuzz.h"
#include "webhook.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static bool oracle_match(const char *given, size_t len, const char *const *tokens, size_t n)
{
    bool ok = false;

    for (size_t i = 0; i < n; i++)
        if (len > 0 && tokens[i] != NULL && tokens[i][0] != '\0' && strlen(tokens[i]) == len &&
            memcmp(tokens[i], given, len) == 0)
            ok = true;
    return ok;
}

static bool oracle_valid(const char *t)
{
    size_t n = strlen(t);

    if (n < 22 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-'))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t flags = fuzz_byte(&in);
    char *f[6];
    size_t flen[6];
    const char *url, *query, *authz, *xtok, *tokens[2], *got[4] = {NULL}, *want[4];
    size_t ngot, nwant = 0, ntokens = (flags >> 4) & 3;

    for (int i = 0; i < 6; i++) {
        flen[i] = 0;
        f[i] = fuzz_field(&in, '\n', &flen[i]);
    }
    url = (flags & 1) ? NULL : f[0];
    query = (flags & 2) ? NULL : f[1];
    authz = (flags & 4) ? NULL : f[2];
    xtok = (flags & 8) ? NULL : f[3];
    tokens[0] = f[4];
    tokens[1] = f[5];
    if (ntokens > 2)
        ntokens = 2;

    ngot = webhook_token_candidates(url, query, authz, xtok, got);
    if (url != NULL && strncmp(url, "/phonely/webhook/", 17) == 0)
        want[nwant++] = url + 17;
    if (query != NULL)
        want[nwant++] = query;
    if (authz != NULL && strlen(authz) >= 7 && strncasecmp(authz, "bearer ", 7) == 0) {
        const char *v = authz + 7;
        while (*v == ' ')
            v++;
        want[nwant++] = v;
    }
    if (xtok != NULL)
        want[nwant++] = xtok;
    FUZZ_CHECK(ngot == nwant);
    for (size_t i = 0; i < ngot; i++) {
        FUZZ_CHECK(got[i] == want[i]);
        FUZZ_CHECK(auth_token_match(got[i], strlen(got[i]), tokens, ntokens) ==
                   oracle_match(got[i], strlen(got[i]), tokens, ntokens));
    }

    /* Raw bytes, NULs included, against the tokens. */
    for (int i = 0; i < 4; i++)
        if (f[i] != NULL)
            FUZZ_CHECK(auth_token_match(f[i], flen[i], tokens, ntokens) ==
                       oracle_match(f[i], flen[i], tokens, ntokens));
    FUZZ_CHECK(!auth_token_match(NULL, 0, tokens, ntokens));

    for (int i = 4; i < 6; i++)
        if (f[i] != NULL) {
            struct err err = {0};
            bool valid = auth_token_validate(f[i], &err) == 0;
            FUZZ_CHECK(valid == oracle_valid(f[i]));
            if (!valid) {
                FUZZ_CHECK(err.code == ERR_CONFIG);
                if (fuzz_quotable(f[i], "._~-"))
                    FUZZ_CHECK(strstr(err.msg, f[i]) == NULL);
            }
        }

    for (int i = 0; i < 6; i++)
        free(f[i]);
    return 0;
}
