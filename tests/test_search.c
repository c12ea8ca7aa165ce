/*
 * test_search.c: unit tests for search.c and for how the SQLite backend
 * renders its words. The words search_terms_parse() finds, as the FTS5
 * expression store_sqlite_match() makes of them, are run through a real
 * FTS5 MATCH on an in-memory table with the store's tokenizer, which must
 * accept it and find the row that holds the user's text; cursors are
 * round-tripped, tampered with byte by byte, truncated, replayed for
 * another kind and forged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "auth.h"
#include "backend.h"
#include "check.h"
#include "search.h"
#include "xmalloc.h"

/* What the SQLite backend searches for text: its words as an FTS5 expression; NULL on error. */
static char *fts_expression(const char *text, unsigned max_words, struct err *err)
{
    struct search_terms t;
    char *q;

    if (search_terms_parse(text, max_words, &t, err) == -1)
        return NULL;
    q = store_sqlite_match(&t);
    search_terms_free(&t);
    return q;
}

static const char cursor_msg[] =
    "the cursor is not valid for this query; start again without a cursor";

/* Expected expression for text, or NULL when ERR_INVALID is expected. */
static void expect_query(const char *text, unsigned max_words, const char *want)
{
    struct err err = {0};
    char *got = fts_expression(text, max_words, &err);

    CHECK_STR_EQ(got, want);
    if (want == NULL) {
        CHECK_INT_EQ(err.code, ERR_INVALID);
        CHECK(err.msg[0] != '\0');
    }
    free(got);
}

static void test_query_quoting(void)
{
    struct err err = {0};
    char *q;

    expect_query("docker-compose", 0, "\"docker-compose\"");
    expect_query("caller:Maria", 0, "\"caller:Maria\"");
    expect_query("cancellation fee", 0, "\"cancellation\" \"fee\"");
    expect_query("  two   spaces\t\ttabs\nnewline ", 0, "\"two\" \"spaces\" \"tabs\" \"newline\"");
    expect_query("say \"hi\"", 0, "\"say\" \"\"\"hi\"\"\"");
    expect_query("a\"b", 0, "\"a\"\"b\"");
    expect_query("NEAR(", 0, "\"NEAR(\"");
    expect_query("NEAR(a b, 3)", 0, "\"NEAR(a\" \"b,\" \"3)\"");
    expect_query("cats OR dogs", 0, "\"cats\" \"OR\" \"dogs\"");
    expect_query("cats AND NOT dogs", 0, "\"cats\" \"AND\" \"NOT\" \"dogs\"");
    expect_query("refund*", 0, "\"refund*\"");
    expect_query("^start", 0, "\"^start\"");
    expect_query("col:x", 0, "\"col:x\"");
    expect_query("{a b}:c", 0, "\"{a\" \"b}:c\"");
    expect_query("- + ( ) x", 0, "\"-\" \"+\" \"(\" \")\" \"x\"");
    expect_query("Caf\xc3\xa9 na\xc3\xafve", 0, "\"Caf\xc3\xa9\" \"na\xc3\xafve\"");
    expect_query("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0,
                 "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"");
    /* No-break space and ideographic space separate words; control characters too. */
    expect_query("a\xc2\xa0"
                 "b\xe3\x80\x80"
                 "c",
                 0, "\"a\" \"b\" \"c\"");
    expect_query("a\x01"
                 "b\x7f"
                 "c\x1b[31m",
                 0, "\"a\" \"b\" \"c\" \"[31m\"");
    expect_query("a\xc2\x85"
                 "b",
                 0, "\"a\" \"b\""); /* U+0085, a C1 control */

    /* Nothing searchable. */
    expect_query(NULL, 0, NULL);
    expect_query("", 0, NULL);
    expect_query("   \t\r\n ", 0, NULL);
    expect_query("\"", 0, NULL);
    expect_query("\"\"", 0, NULL);
    expect_query("*", 0, NULL);
    expect_query("^", 0, NULL);
    expect_query("* ^ \" ( ) : -", 0, NULL);
    expect_query("\xe2\x80\x94 \xe2\x80\xa6", 0, NULL); /* em dash, ellipsis */
    q = fts_expression("", 0, &err);
    CHECK(q == NULL);
    CHECK_STR_EQ(err.msg, "query has no words to search for");

    /* Invalid UTF-8 is refused, not passed on. */
    expect_query("ab\xff", 0, NULL);
    expect_query("\xc3", 0, NULL);
    expect_query("\xed\xa0\x80", 0, NULL); /* a surrogate */

    /* Word and byte limits. */
    expect_query("a b c", 3, "\"a\" \"b\" \"c\"");
    expect_query("a b c d", 3, NULL);
    q = fts_expression("a b c d", 3, &err);
    CHECK(q == NULL);
    CHECK_STR_CONTAINS(err.msg, "more than 3 words");
    {
        char big[1002];

        memset(big, 'a', sizeof big);
        big[1000] = '\0';
        q = fts_expression(big, 0, &err);
        CHECK(q != NULL && strlen(q) == 1002);
        free(q);
        big[1000] = 'a';
        big[1001] = '\0';
        q = fts_expression(big, 0, &err);
        CHECK(q == NULL);
        CHECK_INT_EQ(err.code, ERR_INVALID);
        CHECK_STR_CONTAINS(err.msg, "longer than 1000 bytes");
        CHECK(strstr(err.msg, "aaaa") == NULL); /* the message does not quote the query */
    }
}

/* An in-memory FTS5 table with the store's tokenizer and a decoy column. */
static sqlite3 *fts_open(void)
{
    sqlite3 *db = NULL;

    CHECK_INT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db,
                              "CREATE VIRTUAL TABLE t USING fts5(col, body,"
                              " tokenize='unicode61 remove_diacritics 2');"
                              "INSERT INTO t (rowid, col, body) VALUES"
                              " (1, 'x', 'nothing to see'), (2, 'maria', 'caller'),"
                              " (3, '', 'cats and dogs'), (4, '', 'start here');",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    return db;
}

/*
 * Store text as row id's body, then MATCH the expression made from it: it
 * must be accepted and must find that row. Returns the number of rows the
 * expression matched (-1 when SQLite refused it), or -2 when no expression
 * was made.
 */
static int match_literal(sqlite3 *db, int64_t id, const char *text)
{
    struct err err = {0};
    char *q = fts_expression(text, 0, &err);
    sqlite3_stmt *s = NULL;
    int rc, rows = 0;
    bool found = false;

    if (q == NULL)
        return -2;
    sqlite3_prepare_v2(db, "INSERT INTO t (rowid, col, body) VALUES (?1, '', ?2)", -1, &s, NULL);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    CHECK_INT_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1", -1, &s, NULL);
    sqlite3_bind_text(s, 1, q, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_int64(s, 0) == id)
            found = true;
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "MATCH %s refused: %s\n", q, sqlite3_errmsg(db));
        rows = -1;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE && !found)
        fprintf(stderr, "MATCH %s did not find its own text\n", q);
    CHECK(rc == SQLITE_DONE);
    CHECK(found);
    free(q);
    return rows;
}

static void test_query_matches(void)
{
    static const char *const inputs[] = {
        "docker-compose up",
        "caller:Maria",
        "col:x",
        "maria:caller",
        "NEAR(",
        "NEAR(cats dogs)",
        "cats OR dogs",
        "cats AND NOT dogs",
        "NOT",
        "refund* fee",
        "^start here",
        "say \"hi\" now",
        "a\"\"b",
        "\"quoted phrase\"",
        "(parens) [brackets] {braces}",
        "+plus -minus",
        "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
        "emoji \xf0\x9f\x99\x82 ok",
        "don't won't",
        "x*y^z:w",
        "docker *",
    };
    sqlite3 *db = fts_open();
    size_t i;

    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        CHECK(match_literal(db, 100 + (int64_t)i, inputs[i]) >= 1);

    /* Literal means literal: the column name and the operators do nothing. */
    {
        struct err err = {0};
        char *q = fts_expression("col:x", 0, &err);
        sqlite3_stmt *s = NULL;

        sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE t MATCH ?1 AND rowid = 1", -1, &s,
                           NULL);
        sqlite3_bind_text(s, 1, q, -1, SQLITE_STATIC);
        CHECK_INT_EQ(sqlite3_step(s), SQLITE_ROW);
        CHECK_INT_EQ(sqlite3_column_int(s, 0), 0); /* row 1 has col = 'x' but not the words */
        sqlite3_finalize(s);
        free(q);
    }
    sqlite3_close(db);
}

/* Random text over an alphabet heavy in FTS5 syntax: never refused, always found. */
static void test_query_fuzz(void)
{
    static const char *const pieces[] = {
        "a",
        "b",
        "zz",
        "OR",
        "AND",
        "NOT",
        "NEAR",
        "(",
        ")",
        "\"",
        "*",
        "^",
        ":",
        "-",
        "+",
        "{",
        "}",
        ",",
        " ",
        " ",
        "\t",
        "\n",
        "col",
        "body",
        "\xc3\xa9",
        "\xe2\x80\x94",
        "\xf0\x9f\x99\x82",
        "\x01",
        "'",
        "\\",
        "1",
        "2.5",
    };
    sqlite3 *db = fts_open();
    uint64_t x = 0x9E3779B97F4A7C15u;
    int i, j, made = 0;

    for (i = 0; i < 2000; i++) {
        struct buf b = {0};
        int n = 1 + (int)(x % 12);

        for (j = 0; j < n; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf_puts(&b, pieces[x % (sizeof pieces / sizeof pieces[0])]);
        }
        if (b.len > 0) {
            char *text = buf_steal(&b, NULL);
            int rows = match_literal(db, 10000 + i, text);

            if (rows != -2)
                made++;
            CHECK(rows != -1 && rows != 0);
            free(text);
        }
        buf_free(&b);
    }
    CHECK(made > 1000);
    sqlite3_close(db);
}

static const unsigned char key1[32] = "0123456789abcdef0123456789abcde";
static const unsigned char key2[32] = "0123456789abcdef0123456789abcdX";

static char *make_cursor(const char *kind)
{
    cJSON *state = cJSON_CreateObject();
    char *c;

    cJSON_AddNumberToObject(state, "s", 1779645600000.0);
    cJSON_AddNumberToObject(state, "i", 42);
    cJSON_AddStringToObject(state, "q", "caf\xc3\xa9 \"x\"");
    c = cursor_encode(key1, kind, state);
    cJSON_Delete(state);
    return c;
}

static void expect_bad_cursor(const unsigned char *key, const char *kind, const char *cursor)
{
    struct err err = {0};
    cJSON *got = cursor_decode(key, kind, cursor, &err);

    CHECK(got == NULL);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_STR_EQ(err.msg, cursor_msg);
    cJSON_Delete(got);
}

static void test_cursor_round_trip(void)
{
    struct err err = {0};
    char *c = make_cursor("search_calls:abc"), *text;
    cJSON *state;
    size_t i;

    CHECK(c != NULL);
    for (i = 0; c != NULL && c[i] != '\0'; i++) /* URL-safe, no padding */
        CHECK((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= 'a' && c[i] <= 'z') ||
              (c[i] >= '0' && c[i] <= '9') || c[i] == '-' || c[i] == '_');
    state = cursor_decode(key1, "search_calls:abc", c, &err);
    CHECK(state != NULL);
    text = cJSON_PrintUnformatted(state);
    CHECK_STR_EQ(text, "{\"s\":1779645600000,\"i\":42,\"q\":\"caf\xc3\xa9 \\\"x\\\"\"}");
    free(text);
    cJSON_Delete(state);

    /* Another kind, another key. */
    expect_bad_cursor(key1, "search_calls:abd", c);
    expect_bad_cursor(key1, "search_calls:ab", c);
    expect_bad_cursor(key1, "list_follow_ups:abc", c);
    expect_bad_cursor(key2, "search_calls:abc", c);
    free(c);

    /* Kind and state cannot trade bytes across their boundary. */
    {
        cJSON *s1 = cJSON_Parse("{\"a\":1}");
        char *c1 = cursor_encode(key1, "k", s1);

        expect_bad_cursor(key1, "k{", c1);
        expect_bad_cursor(key1, "", c1);
        state = cursor_decode(key1, "k", c1, &err);
        CHECK(state != NULL);
        cJSON_Delete(state);
        free(c1);
        cJSON_Delete(s1);
    }

    /* Only objects are sealed; oversized states are refused. */
    {
        cJSON *arr = cJSON_CreateArray(), *big = cJSON_CreateObject();
        char *pad = xmalloc(2000);

        CHECK(cursor_encode(key1, "k", arr) == NULL);
        CHECK(cursor_encode(key1, "k", NULL) == NULL);
        memset(pad, 'p', 1499);
        pad[1499] = '\0';
        cJSON_AddStringToObject(big, "p", pad);
        c = cursor_encode(key1, "k", big);
        CHECK(c != NULL && strlen(c) <= 2048);
        free(c);
        memset(pad, 'p', 1599);
        pad[1599] = '\0';
        cJSON_ReplaceItemInObject(big, "p", cJSON_CreateString(pad));
        CHECK(cursor_encode(key1, "k", big) == NULL);
        free(pad);
        cJSON_Delete(arr);
        cJSON_Delete(big);
    }
}

static void test_cursor_tamper(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *c = make_cursor("search_calls:abc"), *t;
    size_t len = strlen(c), i, k;

    /* Every position, changed to every other character of the alphabet and to junk. */
    t = xstrdup(c);
    for (i = 0; i < len; i++) {
        for (k = 0; k < sizeof alphabet - 1; k++) {
            if (alphabet[k] == c[i])
                continue;
            t[i] = alphabet[k];
            expect_bad_cursor(key1, "search_calls:abc", t);
        }
        t[i] = '=';
        expect_bad_cursor(key1, "search_calls:abc", t);
        t[i] = '+';
        expect_bad_cursor(key1, "search_calls:abc", t);
        t[i] = c[i];
    }
    free(t);

    /* Every truncation, and extra characters at the end. */
    for (i = 0; i < len; i++) {
        t = xstrndup(c, i);
        expect_bad_cursor(key1, "search_calls:abc", t);
        free(t);
    }
    for (k = 0; k < 3; k++) {
        t = xasprintf("%s%.*s", c, (int)k + 1, "AAA");
        expect_bad_cursor(key1, "search_calls:abc", t);
        free(t);
    }
    t = xasprintf(" %s", c);
    expect_bad_cursor(key1, "search_calls:abc", t);
    free(t);
    free(c);
}

/* A cursor built by hand: version byte, body, and a correct MAC over (version | kind | NUL | body).
 */
static char *forge(unsigned char version, const char *kind, const char *body, bool mac_v1)
{
    struct buf m = {0}, blob = {0};
    unsigned char mac[32], v1 = 1;
    char *out;

    buf_append(&m, mac_v1 ? &v1 : &version, 1);
    buf_append(&m, kind, strlen(kind) + 1);
    buf_append(&m, body, strlen(body));
    auth_mac(key1, m.data, m.len, mac);
    buf_append(&blob, &version, 1);
    buf_append(&blob, body, strlen(body));
    buf_append(&blob, mac, 16);
    out = auth_b64url_encode(blob.data, blob.len);
    buf_free(&m);
    buf_free(&blob);
    return out;
}

static void test_cursor_garbage(void)
{
    struct err err = {0};
    char *c, *huge;
    cJSON *state;

    expect_bad_cursor(key1, "k", NULL);
    expect_bad_cursor(key1, "k", "");
    expect_bad_cursor(key1, "k", "!!!!");
    expect_bad_cursor(key1, "k", "AAAA");
    expect_bad_cursor(key1, "k", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect_bad_cursor(key1, "k", "eyJzIjoxfQ");
    expect_bad_cursor(key1, "k", "not a cursor at all");
    expect_bad_cursor(key1, "k", "abc\xc3\xa9");

    /* Over 2048 characters: refused before decoding. */
    huge = xmalloc(3000);
    memset(huge, 'A', 2999);
    huge[2999] = '\0';
    expect_bad_cursor(key1, "k", huge);
    free(huge);

    /* The forger's control: a well-formed forgery with the real key decodes. */
    c = forge(1, "k", "{\"a\":1}", true);
    state = cursor_decode(key1, "k", c, &err);
    CHECK(state != NULL);
    cJSON_Delete(state);
    free(c);
    /* Another version, with or without a matching MAC. */
    c = forge(2, "k", "{\"a\":1}", false);
    expect_bad_cursor(key1, "k", c);
    free(c);
    c = forge(2, "k", "{\"a\":1}", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
    /* Authentic bytes that are not one JSON object. */
    c = forge(1, "k", "[1,2]", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
    c = forge(1, "k", "{\"a\":1} x", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
    c = forge(1, "k", "{\"a\":", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
    c = forge(1, "k", "7", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
    c = forge(1, "k", "", true);
    expect_bad_cursor(key1, "k", c);
    free(c);
}

int main(void)
{
    xmalloc_init_json();
    if (auth_init() == -1) {
        fprintf(stderr, "libsodium did not initialise\n");
        return 1;
    }
    RUN(test_query_quoting);
    RUN(test_query_matches);
    RUN(test_query_fuzz);
    RUN(test_cursor_round_trip);
    RUN(test_cursor_tamper);
    RUN(test_cursor_garbage);
    return check_report();
}
