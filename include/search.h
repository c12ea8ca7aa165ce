/* search.h: backend-neutral pieces of search: literal text queries and cursors. */
#ifndef PHONELY_SEARCH_H
#define PHONELY_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * The words of a text query, each a literal: what a user typed split on
 * white space (control characters count as white space), empty words
 * dropped, every other byte kept as typed. So docker-compose, caller:Maria,
 * ", NEAR(, OR, * and ^ are searched as plain text, never as syntax, and a
 * calls matches only when it holds every word. Each storage backend renders
 * the words into its own full-text language.
 */
struct search_terms {
    size_t n;
    char **words; /* n NUL-terminated UTF-8 words */
};

/*
 * Parse text into *out. Returns -1 with ERR_INVALID (a message meant for
 * the model that wrote the query) when the text is not UTF-8, is over 1000
 * bytes or over max_words words (0: no limit), or holds no searchable
 * word (only spaces, punctuation or symbols): "query has no words to
 * search for". Free *out with search_terms_free() after success.
 */
int search_terms_parse(const char *text, unsigned max_words, struct search_terms *out,
                       struct err *err);
void search_terms_free(struct search_terms *t);

/*
 * Opaque, tamper-evident continuation tokens: state (an object, not taken
 * over) serialised, bound to kind (e.g. "search_calls:" + a digest of the
 * query's filters) and authenticated with HMAC-SHA256 under key, then
 * base64url encoded. cursor_decode returns the state (caller owns) or NULL
 * with ERR_INVALID ("the cursor is not valid for this query; start again
 * without a cursor") for any change, truncation or other kind.
 */
char *cursor_encode(const unsigned char key[32], const char *kind, const cJSON *state);
cJSON *cursor_decode(const unsigned char key[32], const char *kind, const char *cursor,
                     struct err *err);

#endif
