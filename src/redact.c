/*
 * redact.c: find payment card numbers and US social security numbers in
 * text and replace each with a fixed mask that says what was there but
 * nothing about it (not its length, not its last digits).
 *
 * A candidate is a maximal run of ASCII digit groups joined by single
 * spaces or dashes, so that a phone number followed by other digits is
 * judged as one run, never split into a card. It must not start next to a
 * letter, a digit, '_', '/' or '@' (ids, paths and addresses), after a '+'
 * (an international phone number) or inside a decimal number. A run that
 * also ends apart from such characters is judged whole:
 *  - SSN: NNN-NN-NNNN or NNN NN NNNN (one separator throughout), area not
 *    000, 666 or 9xx, group not 00, serial not 0000;
 *  - card: 13 to 19 digits that pass the Luhn check, either unseparated or
 *    in groups of 4 to 6 digits but the last (4-4-4-4, 4-6-5, 4-4-4-4-3).
 * When it is neither, its longest leading groups that are one are masked
 * and the rest is scanned again: "4111 1111 1111 1111 12/29" keeps its
 * expiry date, and a card right after an SSN is found. Only leading
 * groups count, and a card's groups but the last have 4 to 6 digits, so
 * the digits after a phone number ("1 415 555 0100 0007") stay a phone.
 *
 * Text is read through a cursor that decodes JSON string escapes when
 * asked to, so "4111\u00201111..." matches like "4111 1111...", and a
 * match always covers whole escapes. Nothing is allocated beyond the
 * output buffer, which belongs to the caller.
 */
#include <stdint.h>
#include <string.h>

#include "redact.h"
#include "textutil.h"

#define RUN_GROUPS_MAX 8  /* more groups than this is neither a card nor an SSN */
#define KEY_MAX        64 /* longest top-level key compared with keep() */

enum kind { KIND_NONE, KIND_CARD, KIND_SSN };

/* Text s[0..n), raw or the inside of a JSON string (escapes decoded). */
struct cursor {
    const char *s;
    size_t n;
    bool json;
};

/* One run of digit groups, as read by run_read. */
struct run {
    char digits[20]; /* the first 20 digits */
    size_t ndigits;
    size_t groups[RUN_GROUPS_MAX]; /* digits per group, the first RUN_GROUPS_MAX groups */
    size_t ends[RUN_GROUPS_MAX];   /* offset after each of those groups */
    unsigned char seps[RUN_GROUPS_MAX];
    size_t ngroups;
    unsigned char after, after2; /* the two characters after the run, 0 past the end */
};

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * The character at offset pos (< c->n) in *ch and the offset after it.
 * Bytes and code points outside ASCII read as 0x80: they are never digits
 * or separators.
 */
static size_t char_at(const struct cursor *c, size_t pos, unsigned char *ch)
{
    unsigned char b = (unsigned char)c->s[pos];
    unsigned code = 0;

    if (!c->json || b != '\\' || pos + 1 >= c->n) {
        *ch = b < 0x80 ? b : 0x80;
        return pos + 1;
    }
    switch (c->s[pos + 1]) {
    case 'u':
        if (pos + 6 > c->n)
            break;
        for (size_t i = 2; i < 6; i++) {
            int h = text_hex_value(c->s[pos + i]);
            if (h < 0)
                goto other;
            code = code * 16 + (unsigned)h;
        }
        *ch = code < 0x80 ? (unsigned char)code : 0x80;
        return pos + 6;
    case 'n':
        *ch = '\n';
        return pos + 2;
    case 't':
        *ch = '\t';
        return pos + 2;
    case 'r':
        *ch = '\r';
        return pos + 2;
    case 'b':
        *ch = '\b';
        return pos + 2;
    case 'f':
        *ch = '\f';
        return pos + 2;
    default:
        break;
    }
other:
    *ch = (unsigned char)c->s[pos + 1]; /* \" \\ \/, or a broken escape */
    return pos + 2;
}

/* Read the run of digit groups that starts at pos (a digit) into *r; returns the offset after it.
 */
static size_t run_read(const struct cursor *c, size_t pos, struct run *r)
{
    size_t p = pos;

    for (;;) {
        size_t g = 0, q1;
        unsigned char c1 = 0, c2 = 0;

        while (p < c->n) {
            unsigned char ch;
            size_t q = char_at(c, p, &ch);
            if (!is_digit(ch))
                break;
            if (r->ndigits < sizeof r->digits)
                r->digits[r->ndigits] = (char)ch;
            r->ndigits++;
            g++;
            p = q;
        }
        if (r->ngroups < RUN_GROUPS_MAX) {
            r->groups[r->ngroups] = g;
            r->ends[r->ngroups] = p;
        }
        r->ngroups++;
        q1 = p;
        if (p < c->n) {
            q1 = char_at(c, p, &c1);
            if (q1 < c->n)
                (void)char_at(c, q1, &c2);
        }
        r->after = c1;
        r->after2 = c2;
        if ((c1 != ' ' && c1 != '-') || !is_digit(c2))
            return p;
        if (r->ngroups <= RUN_GROUPS_MAX)
            r->seps[r->ngroups - 1] = c1;
        p = q1;
    }
}

/* True when the digits pass the Luhn check. */
static bool luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(d[n - 1 - i] - '0');
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* An SSN the Social Security Administration can issue: area, group and serial. */
static bool ssn_possible(const char *d)
{
    if (memcmp(d, "000", 3) == 0 || memcmp(d, "666", 3) == 0 || d[0] == '9')
        return false;
    return memcmp(d + 3, "00", 2) != 0 && memcmp(d + 5, "0000", 4) != 0;
}

/* What the first m groups of r are (m <= RUN_GROUPS_MAX). */
static enum kind groups_kind(const struct run *r, size_t m)
{
    size_t digits = 0;

    if (m == 3 && r->groups[0] == 3 && r->groups[1] == 2 && r->groups[2] == 4 &&
        r->seps[0] == r->seps[1])
        return ssn_possible(r->digits) ? KIND_SSN : KIND_NONE;
    for (size_t g = 0; g < m; g++) {
        if (g + 1 < m && (r->groups[g] < 4 || r->groups[g] > 6))
            return KIND_NONE;
        digits += r->groups[g];
    }
    if (digits < 13 || digits > 19)
        return KIND_NONE;
    return luhn_ok(r->digits, digits) ? KIND_CARD : KIND_NONE;
}

/*
 * What r is, judged as a whole when it stands apart (apart: nothing joins
 * its end to a word or a number); else the longest run of its first groups
 * that is a card or an SSN, so that a card followed by an expiry date or a
 * code ("4111 1111 1111 1111 12/29") is still found. A prefix must start
 * the run: what follows a phone number never becomes a card. Sets *m to
 * the groups taken.
 */
static enum kind run_kind(const struct run *r, bool apart, size_t *m)
{
    enum kind k;

    if (apart && r->ngroups <= RUN_GROUPS_MAX) {
        *m = r->ngroups;
        if ((k = groups_kind(r, r->ngroups)) != KIND_NONE)
            return k;
    }
    for (*m = r->ngroups <= RUN_GROUPS_MAX ? r->ngroups - 1 : RUN_GROUPS_MAX; *m > 0; --*m)
        if ((k = groups_kind(r, *m)) != KIND_NONE)
            return k;
    return KIND_NONE;
}

/* A neighbour that makes the digits part of a word, an id, a path or an address. */
static bool joins(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '/' || c == '@';
}

/*
 * Append c's text to out with its matches masked (raw bytes copied as they
 * are between matches); returns the number of masks.
 */
static size_t scan(const struct cursor *c, struct buf *out, struct redact_counts *counts)
{
    size_t pos = 0, copied = 0, masks = 0;
    unsigned char prev = 0, prev2 = 0; /* the two characters before pos */

    while (pos < c->n) {
        struct run r = {0};
        unsigned char ch;
        size_t next = char_at(c, pos, &ch), end, m = 0;
        enum kind k = KIND_NONE;

        if (!is_digit(ch)) {
            prev2 = prev;
            prev = ch;
            pos = next;
            continue;
        }
        end = run_read(c, pos, &r);
        if (!joins(prev) && prev != '+' && !(prev == '.' && is_digit(prev2)))
            k = run_kind(&r, !joins(r.after) && !(r.after == '.' && is_digit(r.after2)), &m);
        if (k != KIND_NONE) {
            end = r.ends[m - 1];
            buf_append(out, c->s + copied, pos - copied);
            buf_puts(out, k == KIND_CARD ? REDACT_CARD_MASK : REDACT_SSN_MASK);
            copied = end;
            masks++;
            if (counts != NULL)
                *(k == KIND_CARD ? &counts->cards : &counts->ssns) += 1;
        }
        prev = prev2 = '0';
        pos = end;
    }
    buf_append(out, c->s + copied, c->n - copied);
    return masks;
}

/* Mask card and SSN numbers in s[0..len), appending the result to out (see redact.h). */
size_t redact_text(const char *s, size_t len, struct buf *out, struct redact_counts *counts)
{
    struct cursor c = {s, len, false};

    return scan(&c, out, counts);
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Decode a JSON string's inside into key (NUL bytes dropped, as payload_parse does); false when too
 * long. */
static bool key_decode(const struct cursor *c, char key[KEY_MAX])
{
    size_t pos = 0, k = 0;

    while (pos < c->n) {
        unsigned char ch;
        pos = char_at(c, pos, &ch);
        if (ch == 0)
            continue;
        if (k + 1 >= KEY_MAX)
            return false;
        key[k++] = (char)ch;
    }
    key[k] = '\0';
    return true;
}

/*
 * Mask card and SSN numbers in the string values of a JSON text (see
 * redact.h). Outside strings the bytes are copied in chunks while the
 * nesting depth is followed, so that the values of the top-level object's
 * own members can be told apart for keep().
 */
size_t redact_json(const char *body, size_t len, redact_keep_fn keep, struct buf *out,
                   struct redact_counts *counts)
{
    size_t i = 0, masks = 0, depth = 0;
    bool top_object = false, seen_container = false, have_key = false;
    char key[KEY_MAX] = "";

    while (i < len) {
        const char *q = memchr(body + i, '"', len - i);
        size_t stop = q != NULL ? (size_t)(q - body) : len, j, k;
        struct cursor inside;
        bool closed, is_key;

        for (size_t p = i; p < stop; p++) {
            char c = body[p];
            if (c == '{' || c == '[') {
                if (!seen_container)
                    top_object = c == '{';
                seen_container = true;
                depth++;
            } else if ((c == '}' || c == ']') && depth > 0) {
                depth--;
            }
        }
        buf_append(out, body + i, stop - i);
        if (stop == len)
            break;
        /* A string from stop to its closing quote j (len when it has none). */
        for (j = stop + 1; j < len && body[j] != '"'; j++)
            if (body[j] == '\\')
                j++;
        if (j > len)
            j = len;
        closed = j < len;
        inside = (struct cursor){body + stop + 1, j - stop - 1, true};
        for (k = closed ? j + 1 : len; k < len && json_space(body[k]); k++)
            ;
        is_key = k < len && body[k] == ':';
        if (is_key) {
            buf_append(out, body + stop, (closed ? j + 1 : len) - stop);
            if (depth == 1 && top_object)
                have_key = key_decode(&inside, key);
        } else {
            buf_append(out, "\"", 1);
            if (depth == 1 && top_object && have_key && keep != NULL && keep(key))
                buf_append(out, inside.s, inside.n);
            else
                masks += scan(&inside, out, counts);
            if (closed)
                buf_append(out, "\"", 1);
        }
        i = closed ? j + 1 : len;
    }
    return masks;
}
