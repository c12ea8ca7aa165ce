/*
 * fuzz_fts.c: the query word parser (search_terms_parse), the FTS5
 * expression the SQLite backend makes of the words (store_sqlite_match),
 * and what SQLite makes of that. The first byte is the word limit (0: none),
 * the rest the text a user typed (cut at a NUL, as a C string would be).
 *
 * Invariants: text over 1000 bytes or not valid UTF-8 is refused with
 * ERR_INVALID; an expression is valid UTF-8 made only of double-quoted
 * words (inner quotes doubled) joined by single spaces, no more words than
 * the limit, each word a piece of the text, in order. Run through MATCH on
 * an in-memory FTS5 table with the store's tokenizer, it is never an error
 * (SQLITE_ERROR would be a user's bytes read as FTS5 syntax), and it finds
 * the row holding the text itself - unless no word holds a character the
 * tokenizer indexes (unicode61 indexes letters, digits and private use
 * only; an emoji-only query matches nothing), which is checked by matching
 * each word alone against a row holding just that word.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "backend.h"
#include "fuzz.h"
#include "search.h"
#include "textutil.h"

#define SELF_ROWID 1000000

static sqlite3 *db;
static sqlite3_stmt *ins, *match;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    FUZZ_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_exec(db,
                            "CREATE VIRTUAL TABLE t USING fts5(col, body,"
                            " tokenize='unicode61 remove_diacritics 2');"
                            "INSERT INTO t (rowid, col, body) VALUES"
                            " (1, 'x', 'nothing to see'), (2, 'maria', 'caller'),"
                            " (3, '', 'cats and dogs'), (4, '', 'start here');",
                            NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_prepare_v2(db, "INSERT INTO t (rowid, col, body) VALUES (?1, '', ?2)", -1,
                                  &ins, NULL) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1", -1, &match, NULL) ==
               SQLITE_OK);
    return 0;
}

/*
 * Check q's shape and that its words occur in text in order. Returns the
 * number of words.
 */
static unsigned check_shape(const char *q, const char *text)
{
    const char *p = q, *pos = text;
    unsigned words = 0;
    char *word = malloc(strlen(q) + 1);

    FUZZ_CHECK(word != NULL);
    while (*p != '\0') {
        size_t n = 0;

        if (words > 0) {
            FUZZ_CHECK(*p == ' ');
            p++;
        }
        FUZZ_CHECK(*p == '"');
        p++;
        for (;;) {
            FUZZ_CHECK(*p != '\0');
            if (*p == '"') {
                if (p[1] == '"') {
                    word[n++] = '"';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            FUZZ_CHECK((unsigned char)*p > ' ' && *p != 0x7F);
            word[n++] = *p++;
        }
        word[n] = '\0';
        FUZZ_CHECK(n > 0);
        pos = strstr(pos, word);
        FUZZ_CHECK(pos != NULL);
        pos += n;
        words++;
    }
    free(word);
    return words;
}

/* Each "word" of q, alone, finds nothing even in a row holding exactly that word. */
static void check_no_tokens(const char *q)
{
    const char *p = q;

    while (*p != '\0') {
        const char *start = p;
        char *phrase, *word;
        size_t n = 0;
        bool found = false;
        int rc;

        if (*p == ' ')
            start = ++p;
        for (p++; !(p[0] == '"' && p[1] != '"'); p += p[0] == '"' ? 2 : 1)
            ;
        p++;
        phrase = strndup(start, (size_t)(p - start));
        word = malloc(strlen(phrase) + 1);
        FUZZ_CHECK(phrase != NULL && word != NULL);
        for (const char *s = phrase + 1; s < phrase + strlen(phrase) - 1; s++) {
            word[n++] = *s;
            if (*s == '"')
                s++;
        }
        word[n] = '\0';
        FUZZ_CHECK(sqlite3_exec(db, "SAVEPOINT w", NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_bind_int64(ins, 1, SELF_ROWID + 1);
        sqlite3_bind_text(ins, 2, word, -1, SQLITE_STATIC);
        FUZZ_CHECK(sqlite3_step(ins) == SQLITE_DONE);
        sqlite3_reset(ins);
        sqlite3_bind_text(match, 1, phrase, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(match)) == SQLITE_ROW)
            found = true;
        sqlite3_reset(match);
        sqlite3_clear_bindings(match);
        sqlite3_clear_bindings(ins);
        FUZZ_CHECK(sqlite3_exec(db, "ROLLBACK TO w; RELEASE w", NULL, NULL, NULL) == SQLITE_OK);
        FUZZ_CHECK(rc == SQLITE_DONE);
        FUZZ_CHECK(!found);
        free(word);
        free(phrase);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned max_words = fuzz_byte(&in);
    char *text = fuzz_strndup(in.p, in.n);
    size_t len = strlen(text);
    struct err err = {0};
    struct search_terms terms;
    char *q = NULL;
    bool found = false;
    int rc;

    if (search_terms_parse(text, max_words, &terms, &err) == 0) {
        q = store_sqlite_match(&terms);
        search_terms_free(&terms);
    }
    if (len > 1000 || !fuzz_utf8_ok(text, len))
        FUZZ_CHECK(q == NULL);
    if (q == NULL) {
        FUZZ_CHECK(err.code == ERR_INVALID);
        FUZZ_CHECK(err.msg[0] != '\0');
        if (fuzz_quotable(text, ""))
            FUZZ_CHECK(strstr(err.msg, text) == NULL);
        free(text);
        return 0;
    }
    FUZZ_CHECK(utf8_valid(q, strlen(q)));
    {
        unsigned words = check_shape(q, text);
        FUZZ_CHECK(words >= 1);
        FUZZ_CHECK(max_words == 0 || words <= max_words);
    }

    FUZZ_CHECK(sqlite3_exec(db, "SAVEPOINT f", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_bind_int64(ins, 1, SELF_ROWID);
    sqlite3_bind_text(ins, 2, text, -1, SQLITE_STATIC);
    FUZZ_CHECK(sqlite3_step(ins) == SQLITE_DONE);
    sqlite3_reset(ins);
    sqlite3_bind_text(match, 1, q, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(match)) == SQLITE_ROW)
        if (sqlite3_column_int64(match, 0) == SELF_ROWID)
            found = true;
    sqlite3_reset(match);
    sqlite3_clear_bindings(match);
    sqlite3_clear_bindings(ins);
    FUZZ_CHECK(sqlite3_exec(db, "ROLLBACK TO f; RELEASE f", NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_CHECK(rc == SQLITE_DONE);
    if (!found)
        check_no_tokens(q);
    free(q);
    free(text);
    return 0;
}
