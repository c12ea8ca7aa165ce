/* textutil.h: backend-neutral text helpers: phone numbers, times, UTF-8. */
#ifndef PHONELY_TEXTUTIL_H
#define PHONELY_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reduce a phone number in any common format to the digits used for
 * matching: "+1 (415) 555-7777", "415-555-7777", "4155557777",
 * "001 415 555 7777" all give "14155557777". A bare 10-digit number is
 * taken as North American (country code 1). Returns the number of digits
 * written (0 when the input holds fewer than 3 digits, or more than 15);
 * out is always NUL-terminated. outsz should be at least 16.
 */
size_t phone_normalize(const char *in, char *out, size_t outsz);

/*
 * Parse an ISO 8601 / RFC 3339 date or date-time into Unix milliseconds.
 * Accepts "2026-05-24", "2026-05-24T18:02:14Z", "2026-05-24 18:02:14",
 * fractional seconds, "+02:00"/"+0200"/"Z" offsets; a date-time without an
 * offset is taken as UTC. Returns 0 on success, -1 when the text is not a
 * valid date (also for out-of-range fields such as month 13).
 */
int time_parse_iso8601(const char *in, int64_t *out_ms);
/* Format Unix ms as "2026-05-24T18:02:14.000Z" (or without millis when 0). */
void time_format_iso8601(int64_t ms, char *out, size_t outsz);
int64_t time_now_ms(void);
/* Seconds on a monotonic clock, for measuring durations. */
double time_mono(void);

/* True when s[0..len) is valid UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);
/*
 * Copy s[0..len) into a new NUL-terminated string with invalid UTF-8
 * sequences replaced by U+FFFD and NUL bytes dropped. Caller frees.
 */
char *utf8_sanitize(const char *s, size_t len);

/* The value of one hexadecimal digit (either case), or -1. */
int text_hex_value(char c);

/*
 * s quoted for an error message, so that a message never echoes long or raw
 * input: between qc quotes, at most max bytes of s cut on a character
 * boundary (then "..."), control characters shown as '?'. With escape, qc
 * and backslash are escaped with a backslash; without, qc is shown as '?'.
 * Writes at most outsz bytes (nothing useful below 16); returns out.
 */
const char *text_quote(const char *s, char qc, size_t max, bool escape, char *out, size_t outsz);

#endif
