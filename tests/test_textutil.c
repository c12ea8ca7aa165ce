/*
 * test_textutil.c: unit tests for phone_normalize, the ISO 8601 parser and
 * formatter, the UTF-8 validator and sanitiser, and the JSON string
 * quoting of struct buf. Every string the tests allocate is freed before
 * the test returns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "harness.h"
#include "textutil.h"
#include "xmalloc.h"

/* phone_normalize() into a static buffer, for compact assertions. */
static const char *phone(const char *in)
{
    static char out[32];
    phone_normalize(in, out, sizeof out);
    return out;
}

static void test_phone_header_examples(void)
{
    CHECK_STR_EQ(phone("+1 (415) 555-7777"), "14155557777");
    CHECK_STR_EQ(phone("415-555-7777"), "14155557777");
    CHECK_STR_EQ(phone("4155557777"), "14155557777");
    CHECK_STR_EQ(phone("001 415 555 7777"), "14155557777");
    CHECK_STR_EQ(phone("+14155557777"), "14155557777");
    CHECK_STR_EQ(phone("14155557777"), "14155557777");
    CHECK_STR_EQ(phone("1-415-555-7777"), "14155557777");
    CHECK_STR_EQ(phone("(415) 555.7777"), "14155557777");
    CHECK_STR_EQ(phone("  415 555 7777  "), "14155557777");
}

static void test_phone_international(void)
{
    CHECK_STR_EQ(phone("+44 20 7946 0958"), "442079460958");
    CHECK_STR_EQ(phone("0044 20 7946 0958"), "442079460958");
    CHECK_STR_EQ(phone("+81-3-1234-5678"), "81312345678");
    /* A "+" with 10 digits is already international: no NANP "1". */
    CHECK_STR_EQ(phone("+3361234567"), "3361234567");
    /* 15 digits is the E.164 maximum; "00" does not count toward it. */
    CHECK_STR_EQ(phone("+123456789012345"), "123456789012345");
    CHECK_STR_EQ(phone("00123456789012345"), "123456789012345");
    /* "+" counts only before the first digit. */
    CHECK_STR_EQ(phone("415+555+7777"), "14155557777");
    /* A "+" after some text but before digits still marks it international. */
    CHECK_STR_EQ(phone("tel:+4155557777"), "4155557777");
}

static void test_phone_short_and_odd(void)
{
    char out[32];

    CHECK_STR_EQ(phone("911"), "911");
    CHECK_STR_EQ(phone("555-7777"), "5557777");
    CHECK_STR_EQ(phone("12"), "");
    CHECK_INT_EQ(phone_normalize("12", out, sizeof out), 0);
    CHECK_INT_EQ(phone_normalize("123", out, sizeof out), 3);
    CHECK_INT_EQ(phone_normalize("+1 (415) 555-7777", out, sizeof out), 11);
    /* 11 digits not starting with 1 are kept as they are. */
    CHECK_STR_EQ(phone("44207946095"), "44207946095");
    /* "00" alone leaves nothing. */
    CHECK_STR_EQ(phone("00"), "");
    CHECK_STR_EQ(phone("0012"), "");
}

static void test_phone_garbage(void)
{
    char out[32];

    CHECK_STR_EQ(phone(""), "");
    CHECK_STR_EQ(phone("anonymous"), "");
    CHECK_STR_EQ(phone("+"), "");
    CHECK_STR_EQ(phone("---"), "");
    CHECK_STR_EQ(phone("+1234567890123456"), "");  /* 16 digits */
    CHECK_STR_EQ(phone("1234567890123456"), "");   /* 16 digits */
    CHECK_STR_EQ(phone("001234567890123456"), ""); /* 16 after "00" */
    CHECK_STR_EQ(phone("12345678901234567890123456789012345678901234567890"), "");
    CHECK_STR_EQ(phone("\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93"), ""); /* fullwidth digits */
    CHECK_INT_EQ(phone_normalize(NULL, out, sizeof out), 0);
    CHECK_STR_EQ(out, "");
    CHECK_INT_EQ(phone_normalize("4155557777", NULL, 0), 0);
}

static void test_phone_small_buffer(void)
{
    char out[8];

    memset(out, 'x', sizeof out);
    CHECK_INT_EQ(phone_normalize("4155557777", out, sizeof out), 0);
    CHECK_STR_EQ(out, "");
    CHECK_INT_EQ(phone_normalize("5557777", out, sizeof out), 7);
    CHECK_STR_EQ(out, "5557777");
    CHECK_INT_EQ(phone_normalize("55577777", out, sizeof out), 0);
    CHECK_INT_EQ(phone_normalize("5557777", out, 1), 0);
    CHECK_STR_EQ(out, "");
}

/* time_parse_iso8601() result, or INT64_MIN when it fails. */
static int64_t tparse(const char *in)
{
    int64_t ms = 12345;
    if (time_parse_iso8601(in, &ms) < 0) {
        CHECK_INT_EQ(ms, 12345); /* untouched on failure */
        return INT64_MIN;
    }
    return ms;
}

static void test_time_basic(void)
{
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14Z"), INT64_C(1779645734000));
    CHECK_INT_EQ(tparse("2026-05-24T18:05:51Z"), INT64_C(1779645951000));
    CHECK_INT_EQ(tparse("2026-05-24"), INT64_C(1779580800000));
    CHECK_INT_EQ(tparse("2026-05-24 18:02:14"), INT64_C(1779645734000));
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14"), INT64_C(1779645734000));
    CHECK_INT_EQ(tparse("2026-05-24t18:02:14z"), INT64_C(1779645734000));
    CHECK_INT_EQ(tparse("2026-05-24T18:02"), INT64_C(1779645720000));
    CHECK_INT_EQ(tparse("2026-05-24T18:02Z"), INT64_C(1779645720000));
    CHECK_INT_EQ(tparse("1970-01-01T00:00:00Z"), 0);
    CHECK_INT_EQ(tparse("1970-01-01"), 0);
    CHECK_INT_EQ(tparse("1969-12-31T23:59:59Z"), -1000);
}

static void test_time_offsets(void)
{
    int64_t base = INT64_C(1779645734000); /* 2026-05-24T18:02:14Z */

    CHECK_INT_EQ(tparse("2026-05-24T20:02:14+02:00"), base);
    CHECK_INT_EQ(tparse("2026-05-24T20:02:14+0200"), base);
    CHECK_INT_EQ(tparse("2026-05-24T20:02:14+02"), base);
    CHECK_INT_EQ(tparse("2026-05-24T13:02:14-05:00"), base);
    CHECK_INT_EQ(tparse("2026-05-24T13:02:14-0500"), base);
    CHECK_INT_EQ(tparse("2026-05-24T13:02:14-05"), base);
    CHECK_INT_EQ(tparse("2026-05-24T23:32:14+05:30"), base);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+00:00"), base);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14-00:00"), base);
    CHECK_INT_EQ(tparse("2026-05-24T20:02+02:00"), base - 14000);
    /* An offset that crosses midnight and the year. */
    CHECK_INT_EQ(tparse("2027-01-01T01:00:00+02:00"), tparse("2026-12-31T23:00:00Z"));
    CHECK_INT_EQ(tparse("2026-05-25 09:15:00.250+02:00"), INT64_C(1779693300250));

    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+24:00"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+02:60"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+2"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+02:"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+02:0"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+020"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14+02:00:00"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14 +02:00"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14UTC"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24Z"), INT64_MIN); /* no offset on a bare date */
}

static void test_time_fractions(void)
{
    int64_t base = INT64_C(1779645734000);

    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.5Z"), base + 500);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.12Z"), base + 120);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.123Z"), base + 123);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.123456Z"), base + 123);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.999999999Z"), base + 999); /* truncated */
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.000000000000000000001Z"), base);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14,250Z"), base + 250);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.250"), base + 250);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.250-01:00"), base + 250 + 3600000);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14.Z"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:14."), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02.5Z"), INT64_MIN);
}

static void test_time_calendar(void)
{
    CHECK_INT_EQ(tparse("2024-02-29T12:00:00Z"), INT64_C(1709208000000));
    CHECK_INT_EQ(tparse("2000-02-29"), INT64_C(951782400000)); /* 400-year leap */
    CHECK_INT_EQ(tparse("1600-03-01"), INT64_C(-11670912000000));
    CHECK_INT_EQ(tparse("2100-03-01"), INT64_C(4107542400000));
    CHECK_INT_EQ(tparse("9999-12-31T23:59:59Z"), INT64_C(253402300799000));
    CHECK_INT_EQ(tparse("0001-01-01"), INT64_C(-62135596800000));
    CHECK(tparse("0000-01-01") != INT64_MIN);
    CHECK_INT_EQ(tparse("2026-12-31"), tparse("2027-01-01") - 86400000);
    CHECK_INT_EQ(tparse("2024-03-01") - tparse("2024-02-28"), 2 * 86400000);
    CHECK_INT_EQ(tparse("2023-03-01") - tparse("2023-02-28"), 86400000);

    CHECK_INT_EQ(tparse("2023-02-29"), INT64_MIN);
    CHECK_INT_EQ(tparse("2100-02-29"), INT64_MIN); /* century, not leap */
    CHECK_INT_EQ(tparse("1900-02-29"), INT64_MIN);
    CHECK_INT_EQ(tparse("2024-02-30"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-04-31"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-06-31"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-09-31"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-11-31"), INT64_MIN);
    CHECK(tparse("2026-01-31") != INT64_MIN);
    CHECK(tparse("2026-12-31") != INT64_MIN);
    CHECK_INT_EQ(tparse("2026-13-01"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-00-01"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-01-00"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-01-32"), INT64_MIN);
}

static void test_time_clock_ranges(void)
{
    CHECK(tparse("2026-05-24T23:59:59Z") != INT64_MIN);
    CHECK(tparse("2026-05-24T00:00:00Z") != INT64_MIN);
    /* A leap second is accepted and lands on the next minute. */
    CHECK_INT_EQ(tparse("2016-12-31T23:59:60Z"), tparse("2017-01-01T00:00:00Z"));
    CHECK_INT_EQ(tparse("2026-05-24T24:00:00Z"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:60:00Z"), INT64_MIN);
    CHECK_INT_EQ(tparse("2026-05-24T18:02:61Z"), INT64_MIN);
}

static void test_time_junk(void)
{
    static const char *const bad[] = {
        "",
        " ",
        "now",
        "2026",
        "2026-05",
        "26-05-24",
        "2026-5-24",
        "2026-05-4",
        "2026/05/24",
        "20260524",
        "2026-05-24T",
        "2026-05-24T18",
        "2026-05-24T18:",
        "2026-05-24T1:02:14Z",
        "2026-05-24T18:2:14Z",
        "2026-05-24T18:02:1Z",
        "2026-05-24X18:02:14Z",
        "2026-05-24T18:02:14Zjunk",
        "2026-05-24T18:02:14Z ",
        " 2026-05-24T18:02:14Z",
        "2026-05-24 ",
        "2026-05-24junk",
        "2026-05-24T18:02:14ZZ",
        "+2026-05-24",
        "-2026-05-24",
        "12026-05-24",
        "2026-05-24T18:02:14.123.456Z",
        "2026-05-24T18:02:14\n",
        "2026-０5-24",
        "May 24, 2026",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 77;
        if (time_parse_iso8601(bad[i], &ms) == 0) {
            check_failures++;
            fprintf(stderr, "%s:%d: accepted bad time \"%s\"\n", __FILE__, __LINE__, bad[i]);
        }
        check_count++;
        CHECK_INT_EQ(ms, 77);
    }
    CHECK_INT_EQ(time_parse_iso8601(NULL, NULL), -1);
}

static void test_time_format(void)
{
    char out[64];

    time_format_iso8601(INT64_C(1779645734000), out, sizeof out);
    CHECK_STR_EQ(out, "2026-05-24T18:02:14Z");
    time_format_iso8601(INT64_C(1779645734123), out, sizeof out);
    CHECK_STR_EQ(out, "2026-05-24T18:02:14.123Z");
    time_format_iso8601(INT64_C(1779645734007), out, sizeof out);
    CHECK_STR_EQ(out, "2026-05-24T18:02:14.007Z");
    time_format_iso8601(0, out, sizeof out);
    CHECK_STR_EQ(out, "1970-01-01T00:00:00Z");
    time_format_iso8601(-1, out, sizeof out);
    CHECK_STR_EQ(out, "1969-12-31T23:59:59.999Z");
    time_format_iso8601(-1000, out, sizeof out);
    CHECK_STR_EQ(out, "1969-12-31T23:59:59Z");
    time_format_iso8601(INT64_C(1709208000000), out, sizeof out);
    CHECK_STR_EQ(out, "2024-02-29T12:00:00Z");
    time_format_iso8601(INT64_C(253402300799999), out, sizeof out);
    CHECK_STR_EQ(out, "9999-12-31T23:59:59.999Z");
    time_format_iso8601(INT64_C(-62135596800000), out, sizeof out);
    CHECK_STR_EQ(out, "0001-01-01T00:00:00Z");
    time_format_iso8601(INT64_C(-11670912000000), out, sizeof out);
    CHECK_STR_EQ(out, "1600-03-01T00:00:00Z");

    /* Truncation keeps the buffer NUL-terminated. */
    time_format_iso8601(INT64_C(1779645734000), out, 11);
    CHECK_STR_EQ(out, "2026-05-24");
    /* Extremes do not crash or overflow. */
    time_format_iso8601(INT64_MIN, out, sizeof out);
    CHECK(strlen(out) > 0);
    time_format_iso8601(INT64_MAX, out, sizeof out);
    CHECK(strlen(out) > 0);
}

/* Every day from 1900 to 2200 survives format then parse. */
static void test_time_round_trip(void)
{
    int64_t start = tparse("1900-01-01T00:00:00Z"), stop = tparse("2200-01-01T00:00:00Z");
    int failures = 0;

    for (int64_t ms = start; ms < stop; ms += 86400000 + 3723001) {
        char out[64];
        int64_t back = 0;
        time_format_iso8601(ms, out, sizeof out);
        if (time_parse_iso8601(out, &back) != 0 || back != ms)
            failures++;
    }
    CHECK_INT_EQ(failures, 0);
    for (int64_t ms = start; ms < stop; ms += 86400000) {
        char out[64];
        int64_t back = 0;
        time_format_iso8601(ms, out, sizeof out);
        out[10] = '\0'; /* the date alone */
        if (time_parse_iso8601(out, &back) != 0 || back != ms)
            failures++;
    }
    CHECK_INT_EQ(failures, 0);
}

static void test_time_now(void)
{
    int64_t a = time_now_ms(), b = time_now_ms();

    CHECK(a > tparse("2024-01-01"));
    CHECK(a < tparse("2200-01-01"));
    CHECK(b >= a);
}

#define VALID(lit) utf8_valid(lit, sizeof(lit) - 1)

static void test_utf8_valid(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid(NULL, 0));
    CHECK(VALID("plain ascii"));
    CHECK(VALID("caf\xC3\xA9"));
    CHECK(VALID("\xE2\x82\xAC"));     /* U+20AC */
    CHECK(VALID("\xF0\x9F\x98\x80")); /* U+1F600 */
    CHECK(VALID("\xC2\x80"));         /* U+0080, smallest 2-byte */
    CHECK(VALID("\xDF\xBF"));         /* U+07FF */
    CHECK(VALID("\xE0\xA0\x80"));     /* U+0800, smallest 3-byte */
    CHECK(VALID("\xED\x9F\xBF"));     /* U+D7FF, just below surrogates */
    CHECK(VALID("\xEE\x80\x80"));     /* U+E000, just above */
    CHECK(VALID("\xEF\xBF\xBF"));     /* U+FFFF */
    CHECK(VALID("\xF0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    CHECK(VALID("\xF4\x8F\xBF\xBF")); /* U+10FFFF, the last code point */
    CHECK(VALID("a\0b"));             /* NUL is valid UTF-8 */

    CHECK(!VALID("\x80")); /* lone continuation */
    CHECK(!VALID("\xBF"));
    CHECK(!VALID("\xC0\x80"));                 /* overlong NUL */
    CHECK(!VALID("\xC1\xBF"));                 /* overlong 2-byte */
    CHECK(!VALID("\xE0\x80\x80"));             /* overlong 3-byte */
    CHECK(!VALID("\xE0\x9F\xBF"));             /* overlong U+07FF */
    CHECK(!VALID("\xF0\x80\x80\x80"));         /* overlong 4-byte */
    CHECK(!VALID("\xF0\x8F\xBF\xBF"));         /* overlong U+FFFF */
    CHECK(!VALID("\xED\xA0\x80"));             /* U+D800 surrogate */
    CHECK(!VALID("\xED\xBF\xBF"));             /* U+DFFF surrogate */
    CHECK(!VALID("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair */
    CHECK(!VALID("\xF4\x90\x80\x80"));         /* U+110000 */
    CHECK(!VALID("\xF5\x80\x80\x80"));
    CHECK(!VALID("\xF8\x88\x80\x80\x80")); /* old 5-byte form */
    CHECK(!VALID("\xFC\x84\x80\x80\x80\x80"));
    CHECK(!VALID("\xFE"));
    CHECK(!VALID("\xFF"));
    CHECK(!VALID("\xC3"));         /* truncated 2-byte */
    CHECK(!VALID("\xE2\x82"));     /* truncated 3-byte */
    CHECK(!VALID("\xF0\x9F\x98")); /* truncated 4-byte */
    CHECK(!VALID("\xC3x"));        /* lead byte then ASCII */
    CHECK(!VALID("\xE2\x82x"));
    CHECK(!VALID("abc\xC3"));
    /* The length bounds the check: a sequence cut by len is invalid. */
    CHECK(!utf8_valid("\xE2\x82\xAC", 2));
    CHECK(utf8_valid("\xE2\x82\xAC", 3));
}

/* utf8_sanitize() of a literal, compared and freed. */
#define CHECK_SANITIZE(lit, want)                                                                  \
    do {                                                                                           \
        char *s_ = utf8_sanitize(lit, sizeof(lit) - 1);                                            \
        CHECK_STR_EQ(s_, want);                                                                    \
        CHECK(utf8_valid(s_, strlen(s_)));                                                         \
        free(s_);                                                                                  \
    } while (0)

#define FFFD "\xEF\xBF\xBD"

static void test_utf8_sanitize(void)
{
    char *s;

    CHECK_SANITIZE("", "");
    CHECK_SANITIZE("hello", "hello");
    CHECK_SANITIZE("caf\xC3\xA9 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xF0\x9F\x98\x80");
    CHECK_SANITIZE("a\0b\0", "ab");
    CHECK_SANITIZE("\0", "");
    CHECK_SANITIZE("a\x80z", "a" FFFD "z");
    CHECK_SANITIZE("a\xFFz", "a" FFFD "z");
    CHECK_SANITIZE("\xC0\x80", FFFD FFFD);                   /* C0 never starts a sequence */
    CHECK_SANITIZE("\xE0\x80\x80", FFFD FFFD FFFD);          /* E0 80: 80 is not a valid second */
    CHECK_SANITIZE("\xED\xA0\x80", FFFD FFFD FFFD);          /* surrogate */
    CHECK_SANITIZE("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* > U+10FFFF */
    /* A truncated sequence (its maximal valid prefix) becomes one U+FFFD. */
    CHECK_SANITIZE("\xE2\x82x", FFFD "x");
    CHECK_SANITIZE("\xF0\x9F\x98x", FFFD "x");
    CHECK_SANITIZE("\xF0\x9F\x98", FFFD);
    CHECK_SANITIZE("x\xC3", "x" FFFD);
    CHECK_SANITIZE("\xE2\x82\xE2\x82\xAC", FFFD "\xE2\x82\xAC");
    CHECK_SANITIZE("\xC3\0\xA9", FFFD FFFD); /* NUL splits the sequence */
    CHECK_SANITIZE(FFFD, FFFD);              /* a real U+FFFD stays */

    s = utf8_sanitize(NULL, 0);
    CHECK_STR_EQ(s, "");
    free(s);
    /* Only len bytes are read. */
    s = utf8_sanitize("abcdef", 3);
    CHECK_STR_EQ(s, "abc");
    free(s);
}

/* Every 1- and 2-byte input is either valid and kept or repaired into valid text. */
/* A NUL, a bad byte or a two-byte letter at every offset of an ASCII run, across word edges. */
static void test_utf8_in_ascii_runs(void)
{
    for (size_t p = 0; p < 20; p++) {
        char s[24], want[32], *got;

        memset(s, 'a', 20);
        s[20] = '\0';
        s[p] = '\0';
        CHECK(utf8_valid(s, 20));
        got = utf8_sanitize(s, 20);
        memset(want, 'a', 19);
        want[19] = '\0';
        CHECK_STR_EQ(got, want);
        free(got);

        s[p] = (char)0xFF;
        CHECK(!utf8_valid(s, 20));
        got = utf8_sanitize(s, 20);
        memset(want, 'a', p);
        memcpy(want + p, "\xef\xbf\xbd", 3);
        memset(want + p + 3, 'a', 19 - p);
        want[22] = '\0';
        CHECK_STR_EQ(got, want);
        free(got);

        memset(s, 'a', 20);
        s[p] = (char)0xC3;
        s[p + 1] = (char)0xA9; /* é, its second byte at p + 1 (up to 20: in the buffer) */
        CHECK(utf8_valid(s, 21));
        CHECK(!utf8_valid(s, p + 1)); /* cut after its first byte */
        got = utf8_sanitize(s, p + 2);
        CHECK(utf8_valid(got, strlen(got)) && strlen(got) == p + 2);
        free(got);
    }
}

static void test_text_quote(void)
{
    char out[64], small[20];

    CHECK_STR_EQ(text_quote("a\"b\\c\x01", '"', 40, true, out, sizeof out), "\"a\\\"b\\\\c?\"");
    CHECK_STR_EQ(text_quote("a\"b\\c\x7f", '"', 40, false, out, sizeof out), "\"a?b\\c?\"");
    CHECK_STR_EQ(text_quote("it's", '\'', 40, true, out, sizeof out), "'it\\'s'");
    /* Cut at max bytes, on a character boundary: never inside "é". */
    CHECK_STR_EQ(text_quote("abcd\xc3\xa9"
                            "fg",
                            '"', 5, false, out, sizeof out),
                 "\"abcd\xc3\xa9...\"");
    CHECK_STR_EQ(text_quote("abcd", '"', 4, false, out, sizeof out), "\"abcd\"");
    /* The buffer bounds the output too. */
    text_quote("0123456789012345678901234567890123456789", '"', 40, false, small, sizeof small);
    CHECK(strlen(small) < sizeof small);
    CHECK_STR_CONTAINS(small, "...");
    CHECK_STR_EQ(text_quote("abc", '"', 40, false, small, 8), "");
}

static void test_utf8_exhaustive_pairs(void)
{
    int bad = 0;

    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            char in[2] = {(char)a, (char)b};
            char *s = utf8_sanitize(in, 2);
            size_t n = strlen(s);
            if (!utf8_valid(s, n))
                bad++;
            if (a != 0 && b != 0 && utf8_valid(in, 2) && (n != 2 || memcmp(s, in, 2) != 0))
                bad++;
            if (!utf8_valid(in, 2) && strstr(s, FFFD) == NULL)
                bad++;
            free(s);
        }
    }
    CHECK_INT_EQ(bad, 0);
}

/* buf_json_string writes every byte as cJSON prints it, whatever the buffer held before. */
static void test_json_string(void)
{
    struct buf b = {0};
    char s[3] = {'a', 0, 'z'};

    for (int c = 1; c < 256; c++) {
        char one[2] = {(char)c, 0};
        cJSON *str = cJSON_CreateString(one);
        char *want = cJSON_PrintUnformatted(str);

        buf_reset(&b);
        buf_puts(&b, "x");
        buf_json_string(&b, one, 1);
        CHECK_STR_EQ(b.data + 1, want);
        cJSON_free(want);
        cJSON_Delete(str);
    }
    /* A NUL inside the bytes, and escapes that outgrow the first reservation. */
    buf_reset(&b);
    buf_json_string(&b, s, sizeof s);
    CHECK_STR_EQ(b.data, "\"a\\u0000z\"");
    buf_free(&b);
    {
        char many[300];
        memset(many, '\n', sizeof many);
        buf_json_string(&b, many, sizeof many);
        CHECK_INT_EQ((int)b.len, 2 + 2 * (int)sizeof many);
        CHECK(b.data[0] == '"' && b.data[b.len - 1] == '"' && b.data[b.len] == '\0');
        CHECK(memcmp(b.data + 1, "\\n\\n", 4) == 0 && memcmp(b.data + b.len - 3, "\\n", 2) == 0);
        buf_free(&b);
        buf_json_string(&b, "", 0);
        CHECK_STR_EQ(b.data, "\"\"");
        buf_free(&b);
    }
}

int main(void)
{
    RUN(test_json_string);
    RUN(test_utf8_in_ascii_runs);
    RUN(test_phone_header_examples);
    RUN(test_phone_international);
    RUN(test_phone_short_and_odd);
    RUN(test_phone_garbage);
    RUN(test_phone_small_buffer);
    RUN(test_time_basic);
    RUN(test_time_offsets);
    RUN(test_time_fractions);
    RUN(test_time_calendar);
    RUN(test_time_clock_ranges);
    RUN(test_time_junk);
    RUN(test_time_format);
    RUN(test_time_round_trip);
    RUN(test_time_now);
    RUN(test_utf8_valid);
    RUN(test_utf8_sanitize);
    RUN(test_utf8_exhaustive_pairs);
    RUN(test_text_quote);
    return check_report();
}
