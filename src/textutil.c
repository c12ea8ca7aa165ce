/*
 * textutil.c: text helpers shared by the payload parser, the store and the
 * MCP tools: phone numbers reduced to matching digits, ISO 8601 times to and
 * from Unix milliseconds, and UTF-8 validation and repair.
 *
 * Ownership: every function writes into a caller-provided buffer except
 * utf8_sanitize(), whose result belongs to the caller (free()). Nothing here
 * keeps state, so all of it is safe to call from any thread.
 *
 * The calendar math is done here (proleptic Gregorian, days from 1970-01-01)
 * rather than with timegm()/mktime(), which depend on the C library, the TZ
 * environment and the range of time_t.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "textutil.h"
#include "xmalloc.h"

#define PHONE_MIN_DIGITS 3
#define PHONE_MAX_DIGITS 15 /* E.164 */

#define MS_PER_SEC  INT64_C(1000)
#define MS_PER_MIN  (60 * MS_PER_SEC)
#define MS_PER_HOUR (60 * MS_PER_MIN)
#define MS_PER_DAY  (24 * MS_PER_HOUR)

/*
 * Reduce a phone number to its matching digits (see textutil.h). A "+"
 * before the first digit marks the digits as international already; without
 * it a "00" prefix is an international dialling prefix and is removed, and a
 * bare 10-digit number is North American and gains a leading "1". Returns
 * the digit count, or 0 (with out empty) when the result has fewer than 3 or
 * more than 15 digits or does not fit in outsz.
 */
size_t phone_normalize(const char *in, char *out, size_t outsz)
{
    char digits[PHONE_MAX_DIGITS + 3]; /* room for "00" + 15 + NUL */
    size_t n = 0, total = 0, skip = 0;
    bool plus = false;

    if (out != NULL && outsz > 0)
        out[0] = '\0';
    if (in == NULL || out == NULL || outsz == 0)
        return 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n < sizeof digits - 1)
                digits[n++] = *p;
            total++;
        } else if (*p == '+' && total == 0) {
            plus = true;
        }
    }
    digits[n] = '\0';
    if (total > PHONE_MAX_DIGITS + 2) /* too long even after removing "00" */
        return 0;

    if (!plus && total >= 2 && digits[0] == '0' && digits[1] == '0')
        skip = 2;
    total -= skip;
    bool nanp = !plus && skip == 0 && total == 10;
    size_t outlen = total + (nanp ? 1 : 0);
    if (outlen < PHONE_MIN_DIGITS || outlen > PHONE_MAX_DIGITS || outlen + 1 > outsz)
        return 0;
    if (nanp) {
        out[0] = '1';
        memcpy(out + 1, digits, total);
    } else {
        memcpy(out, digits + skip, total);
    }
    out[outlen] = '\0';
    return outlen;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. The
 * year is shifted to start in March so the leap day falls at the end; the
 * count then splits into 400-year eras of 146097 days each.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                         /* [0, 399] */
    int64_t mp = m > 2 ? m - 3 : m + 9;                  /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;                  /* 719468: 0000-03-01 to 1970 */
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Read exactly n decimal digits at *p; advances *p. Returns -1 when absent. */
static int64_t read_digits(const char **p, int n)
{
    int64_t v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

/* Parse "Z", "±HH:MM", "±HHMM" or "±HH" at p into minutes east of UTC. */
static int parse_offset(const char **pp, int64_t *minutes)
{
    const char *p = *pp;
    int64_t hh, mm = 0;
    int sign;

    if (*p == 'Z' || *p == 'z') {
        *minutes = 0;
        *pp = p + 1;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p == '-' ? -1 : 1;
    p++;
    if ((hh = read_digits(&p, 2)) < 0 || hh > 23)
        return -1;
    if (*p == ':') {
        p++;
        if ((mm = read_digits(&p, 2)) < 0)
            return -1;
    } else if (*p >= '0' && *p <= '9') {
        if ((mm = read_digits(&p, 2)) < 0)
            return -1;
    }
    if (mm > 59)
        return -1;
    *minutes = sign * (hh * 60 + mm);
    *pp = p;
    return 0;
}

/*
 * Parse an ISO 8601 / RFC 3339 date or date-time into Unix ms (see
 * textutil.h). Also accepts a lowercase "t"/"z", a space as the separator,
 * a time without seconds, a fraction of any length (',' or '.'; digits past
 * the millisecond are dropped, not rounded) and "±HH" offsets. Leap second
 * 60 is accepted and lands on the next minute. Returns -1, leaving *out_ms
 * alone, for anything else, including surrounding whitespace.
 */
int time_parse_iso8601(const char *in, int64_t *out_ms)
{
    const char *p = in;
    int64_t y, mo, d, hh = 0, mi = 0, ss = 0, ms = 0, off = 0;

    if (in == NULL || out_ms == NULL)
        return -1;
    if ((y = read_digits(&p, 4)) < 0 || *p++ != '-')
        return -1;
    if ((mo = read_digits(&p, 2)) < 1 || mo > 12 || *p++ != '-')
        return -1;
    if ((d = read_digits(&p, 2)) < 1 || d > days_in_month(y, (int)mo))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if ((hh = read_digits(&p, 2)) < 0 || hh > 23 || *p++ != ':')
            return -1;
        if ((mi = read_digits(&p, 2)) < 0 || mi > 59)
            return -1;
        if (*p == ':') {
            p++;
            if ((ss = read_digits(&p, 2)) < 0 || ss > 60)
                return -1;
            if (*p == '.' || *p == ',') {
                int n = 0;
                p++;
                for (; *p >= '0' && *p <= '9'; p++, n++) {
                    if (n < 3)
                        ms = ms * 10 + (*p - '0');
                }
                if (n == 0)
                    return -1;
                for (; n < 3; n++)
                    ms *= 10;
            }
        }
        if (*p != '\0' && parse_offset(&p, &off) < 0)
            return -1;
    }
    if (*p != '\0')
        return -1;
    *out_ms = days_from_civil(y, (int)mo, (int)d) * MS_PER_DAY + hh * MS_PER_HOUR +
              mi * MS_PER_MIN + ss * MS_PER_SEC + ms - off * MS_PER_MIN;
    return 0;
}

/*
 * Format Unix ms as "YYYY-MM-DDTHH:MM:SS.mmmZ", leaving out ".mmm" when the
 * millisecond part is zero. Output is truncated (and NUL-terminated) to fit
 * outsz; 25 bytes always suffice for years 0000 to 9999.
 */
void time_format_iso8601(int64_t ms, char *out, size_t outsz)
{
    int64_t days, rem, y;
    int m, d;

    if (out == NULL || outsz == 0)
        return;
    days = ms / MS_PER_DAY;
    rem = ms % MS_PER_DAY;
    if (rem < 0) { /* floor, not truncation, for times before 1970 */
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / MS_PER_HOUR);
    int mi = (int)(rem / MS_PER_MIN % 60);
    int ss = (int)(rem / MS_PER_SEC % 60);
    int frac = (int)(rem % MS_PER_SEC);
    if (frac != 0)
        snprintf(out, outsz, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, hh, mi,
                 ss, frac);
    else
        snprintf(out, outsz, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, hh, mi, ss);
}

/* The current wall-clock time in Unix milliseconds. */
int64_t time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * MS_PER_SEC + ts.tv_nsec / 1000000;
}

/*
 * Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629), or 0
 * when it is ill-formed; then *bad is the length of its maximal valid
 * prefix (at least 1), which is what one U+FFFD replaces.
 */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;

    *bad = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0, C1 or F5..FF */
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
        *bad = i + 1;
    }
    return need;
}

/*
 * How many bytes at the start of s[0..len) are ASCII (and not NUL, with
 * nonul), looked at eight at a time: most text is ASCII, and a byte-wise
 * decode of it dominated validating and copying call text.
 */
static size_t ascii_run(const unsigned char *s, size_t len, bool nonul)
{
    const uint64_t high = UINT64_C(0x8080808080808080), ones = UINT64_C(0x0101010101010101);
    size_t i = 0;

    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        /* With no high bit set, (w - ones) & ~w has a high bit exactly where a byte is 0. */
        if ((w & high) != 0 || (nonul && ((w - ones) & ~w & high) != 0))
            break;
        i += 8;
    }
    while (i < len && s[i] < 0x80 && (!nonul || s[i] != 0))
        i++;
    return i;
}

/* True when s[0..len) is valid UTF-8 (see textutil.h). NUL bytes are valid. */
bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;

    while (i < len) {
        size_t n;
        if ((i += ascii_run(u + i, len - i, false)) == len)
            break;
        if ((n = utf8_seq(u + i, len - i, &bad)) == 0)
            return false;
        i += n;
    }
    return true;
}

/*
 * Copy s[0..len) into a new string with NUL bytes dropped and each maximal
 * ill-formed subsequence replaced by U+FFFD (the Unicode "substitution of
 * maximal subparts" practice). The result is valid UTF-8, NUL-terminated
 * and belongs to the caller. s may be NULL when len is 0.
 */
char *utf8_sanitize(const char *s, size_t len)
{
    static const char repl[] = "\xEF\xBF\xBD";
    const unsigned char *u = (const unsigned char *)s;
    size_t i, o = 0, need = 0, bad;
    char *out;

    /* First pass sizes the result exactly, so no 3x worst case is held. */
    for (i = 0; i < len;) {
        size_t run = ascii_run(u + i, len - i, true), n;
        need += run;
        if ((i += run) == len)
            break;
        n = utf8_seq(u + i, len - i, &bad);
        if (n == 0) {
            need += 3;
            i += bad;
        } else {
            need += u[i] == '\0' ? 0 : n;
            i += n;
        }
    }
    out = xmalloc(need + 1);
    for (i = 0; i < len;) {
        size_t run = ascii_run(u + i, len - i, true), n;
        memcpy(out + o, s + i, run);
        o += run;
        if ((i += run) == len)
            break;
        n = utf8_seq(u + i, len - i, &bad);
        if (n == 0) {
            memcpy(out + o, repl, 3);
            o += 3;
            i += bad;
        } else {
            if (u[i] != '\0') {
                memcpy(out + o, s + i, n);
                o += n;
            }
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

double time_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *text_quote(const char *s, char qc, size_t max, bool escape, char *out, size_t outsz)
{
    size_t o = 0, i;

    if (outsz < 16) {
        if (outsz > 0)
            out[0] = '\0';
        return out;
    }
    out[o++] = qc;
    for (i = 0; s[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool lead = (ch & 0xC0) != 0x80;
        /* Cut only before a character, with room for 4 bytes and the ending. */
        if (lead && (i >= max || o + 10 >= outsz))
            break;
        if (!lead && o + 5 >= outsz) /* a run of stray continuation bytes */
            break;
        if (escape && (ch == (unsigned char)qc || ch == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else {
            out[o++] = (char)(ch < 0x20 || ch == 0x7f || ch == (unsigned char)qc ? '?' : ch);
        }
    }
    if (s[i] != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = qc;
    out[o] = '\0';
    return out;
}

int text_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
