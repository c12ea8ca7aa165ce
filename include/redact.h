/* redact.h: mask payment card and US social security numbers in text and in JSON strings. */
#ifndef PHONELY_REDACT_H
#define PHONELY_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "xmalloc.h"

#define REDACT_CARD_MASK "[redacted card]"
#define REDACT_SSN_MASK  "[redacted SSN]"

/* What one pass masked. */
struct redact_counts {
    size_t cards;
    size_t ssns;
};

/*
 * Append s[0..len) to out with every card and SSN number replaced by its
 * mask; add what was masked to *counts (NULL: not counted). Returns the
 * number of masks written.
 */
size_t redact_text(const char *s, size_t len, struct buf *out, struct redact_counts *counts);

/* Decides whether the string value of a top-level member is left as sent. */
typedef bool (*redact_keep_fn)(const char *key);

/*
 * Append the JSON text body[0..len) to out with card and SSN numbers in
 * string values masked; everything else (keys, numbers, whitespace, the
 * string values of top-level members keep() names) is copied byte for
 * byte. Escapes are decoded for matching and a match's escapes are replaced
 * whole, so valid JSON stays valid. Text that is not valid JSON is scanned
 * as far as its strings can be told apart. Returns the number of masks.
 */
size_t redact_json(const char *body, size_t len, redact_keep_fn keep, struct buf *out,
                   struct redact_counts *counts);

#endif
