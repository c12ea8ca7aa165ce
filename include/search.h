/* search.h: backend-neutral pieces of search: literal text queries and cursors. */
#ifndef PHONELY_SEARCH_H
#define PHONELY_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * Turn what a user typed into a full-text expression in which every word
 * is a literal: split on white space, drop empty words, double any '"'
 * inside a word and wrap each in double quotes, joined by spaces (all
 * words must match). So docker-compose, caller:Maria, ", NEAR(, OR, * and
 * ^ are searched as plain text, never as syntax. The same quoted phrases
 * read the same in PostgreSQL's websearch_to_tsquery. Returns NULL (with
 * ERR_INVALID) when nothing searchable remains or the text is over
 * max_words words / 1000 bytes. Caller frees.
 */
char *search_fts_query(const char *text, unsigned max_words, struct err *err);

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
