/*
 * search.c: the backend-neutral halves of search: turning what a user typed
 * into a list of literal words, and sealing pagination state into opaque,
 * tamper-evident cursors.
 *
 * Nothing here knows a database or its query language: each storage
 * backend renders the words itself, as literals of its full-text search,
 * so that no user byte can become an operator.
 *
 * A cursor is base64url(version | json | mac), where mac is the first 16
 * bytes of HMAC-SHA256(key, version | kind | NUL | json). Binding kind (the
 * tool and a digest of its filters) makes a cursor from one query useless
 * for another. The key comes from the caller (auth.c does the hashing), so
 * this file includes no crypto library.
 *
 * Ownership: every returned string or cJSON tree belongs to the caller;
 * arguments are only read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "search.h"
#include "textutil.h"
#include "xmalloc.h"

#define QUERY_MAX_BYTES  1000
#define CURSOR_MAX_CHARS 2048
#define CURSOR_VERSION   1
#define CURSOR_MAC_BYTES 16

static const char cursor_invalid[] =
    "the cursor is not valid for this query; start again without a cursor";

/* Decode the UTF-8 sequence at s (already validated); *len gets its length. */
static uint32_t utf8_decode(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xE0) {
        *len = 2;
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (s[0] < 0xF0) {
        *len = 3;
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    *len = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
           (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* White space and control characters separate words and are dropped. */
static bool is_separator(uint32_t cp)
{
    if (cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0)) /* C0, space, DEL, C1, NBSP */
        return true;
    return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/*
 * Whether a character can be part of a search token. ASCII letters and
 * digits can; ASCII punctuation and the common Unicode punctuation blocks
 * cannot; anything else non-ASCII is assumed to be a letter, which is what
 * full-text tokenizers do with most of it. Only used to tell a
 * query of pure punctuation ("*", "--") from one with words in it.
 */
static bool is_token_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
    if (cp <= 0xBF) /* Latin-1 symbols, except the letters and numbers among them */
        return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
               cp == 0xBC || cp == 0xBD || cp == 0xBE;
    if (cp == 0xD7 || cp == 0xF7) /* multiplication and division signs */
        return false;
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF01 && cp <= 0xFF0F))
        return false;
    return true;
}

static void terms_push(struct search_terms *t, const unsigned char *start, size_t len)
{
    t->words = xreallocarray(t->words, t->n + 1, sizeof *t->words);
    t->words[t->n++] = xstrndup((const char *)start, len);
}

void search_terms_free(struct search_terms *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->words[i]);
    free(t->words);
    t->words = NULL;
    t->n = 0;
}

/*
 * Split text into literal words (see search.h): each run of
 * non-separators is one word, kept byte for byte. max_words 0 means no
 * word limit. Errors are ERR_INVALID with a message meant for the model
 * that wrote the query.
 */
int search_terms_parse(const char *text, unsigned max_words, struct search_terms *out,
                       struct err *err)
{
    const unsigned char *p, *start = NULL;
    size_t len, n;
    bool searchable = false;

    out->n = 0;
    out->words = NULL;
    if (text == NULL)
        return err_set(err, ERR_INVALID, "query has no words to search for");
    len = strlen(text);
    if (len > QUERY_MAX_BYTES)
        return err_set(err, ERR_INVALID, "query is longer than %d bytes; use fewer words",
                       QUERY_MAX_BYTES);
    if (!utf8_valid(text, len))
        return err_set(err, ERR_INVALID, "query is not valid UTF-8 text");
    for (p = (const unsigned char *)text;; p += n) {
        uint32_t cp = *p != '\0' ? utf8_decode(p, &n) : 0;

        if (*p == '\0' || is_separator(cp)) {
            if (start != NULL)
                terms_push(out, start, (size_t)(p - start));
            start = NULL;
            if (*p == '\0')
                break;
            continue;
        }
        if (start == NULL) {
            if (max_words != 0 && out->n == max_words) {
                search_terms_free(out);
                return err_set(err, ERR_INVALID, "query has more than %u words; use fewer words",
                               max_words);
            }
            start = p;
        }
        if (is_token_char(cp))
            searchable = true;
    }
    if (!searchable) {
        search_terms_free(out);
        return err_set(err, ERR_INVALID, "query has no words to search for");
    }
    return 0;
}

/* HMAC over version | kind | NUL | json, truncated to CURSOR_MAC_BYTES. */
static void cursor_mac(const unsigned char key[32], const char *kind, const void *json,
                       size_t json_len, unsigned char out[CURSOR_MAC_BYTES])
{
    struct buf b = {0};
    unsigned char mac[32];
    unsigned char version = CURSOR_VERSION;

    buf_append(&b, &version, 1);
    buf_append(&b, kind, strlen(kind) + 1); /* with its NUL, so kind and json cannot blur */
    buf_append(&b, json, json_len);
    auth_mac(key, b.data, b.len, mac);
    memcpy(out, mac, CURSOR_MAC_BYTES);
    buf_free(&b);
}

/*
 * Seal state (an object, only read) into a cursor string for kind under
 * key (see search.h). Returns NULL when state is not an object or the
 * cursor would be longer than CURSOR_MAX_CHARS. Caller frees.
 */
char *cursor_encode(const unsigned char key[32], const char *kind, const cJSON *state)
{
    unsigned char mac[CURSOR_MAC_BYTES];
    unsigned char version = CURSOR_VERSION;
    struct buf b = {0};
    char *json, *out;
    size_t json_len;

    if (key == NULL || kind == NULL || !cJSON_IsObject(state))
        return NULL;
    json = cJSON_PrintUnformatted(state);
    if (json == NULL)
        return NULL;
    json_len = strlen(json);
    /* base64 grows 3 bytes into 4 characters: refuse before encoding. */
    if ((1 + json_len + CURSOR_MAC_BYTES + 2) / 3 * 4 > CURSOR_MAX_CHARS) {
        free(json);
        return NULL;
    }
    cursor_mac(key, kind, json, json_len, mac);
    buf_append(&b, &version, 1);
    buf_append(&b, json, json_len);
    buf_append(&b, mac, sizeof mac);
    out = auth_b64url_encode(b.data, b.len);
    buf_free(&b);
    free(json);
    return out;
}

/*
 * Open a cursor made by cursor_encode() for the same kind and key. Any
 * other input (too long, not base64url, wrong version, wrong MAC, other
 * kind, not a JSON object) gives NULL with ERR_INVALID and one message that
 * tells the model what to do. Caller owns the result.
 */
cJSON *cursor_decode(const unsigned char key[32], const char *kind, const char *cursor,
                     struct err *err)
{
    unsigned char want[CURSOR_MAC_BYTES];
    unsigned char *raw = NULL;
    const char *json, *end = NULL;
    size_t len = 0, json_len;
    cJSON *state = NULL;

    if (key == NULL || kind == NULL || cursor == NULL || cursor[0] == '\0' ||
        strnlen(cursor, CURSOR_MAX_CHARS + 1) > CURSOR_MAX_CHARS)
        goto fail;
    if (auth_b64url_decode(cursor, &raw, &len) == -1)
        goto fail;
    if (len < 1 + 2 + CURSOR_MAC_BYTES || raw[0] != CURSOR_VERSION)
        goto fail;
    json = (const char *)raw + 1;
    json_len = len - 1 - CURSOR_MAC_BYTES;
    cursor_mac(key, kind, json, json_len, want);
    if (!auth_equal(want, raw + 1 + json_len, CURSOR_MAC_BYTES))
        goto fail;
    if (memchr(json, '\0', json_len) != NULL)
        goto fail;
    state = cJSON_ParseWithLengthOpts(json, json_len, &end, false);
    if (state == NULL || end != json + json_len || !cJSON_IsObject(state))
        goto fail;
    free(raw);
    return state;

fail:
    cJSON_Delete(state);
    free(raw);
    err_set(err, ERR_INVALID, "%s", cursor_invalid);
    return NULL;
}
