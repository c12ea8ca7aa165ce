/* check.h: assertions that print both values, and a tiny test runner. */
#ifndef PHONELY_CHECK_H
#define PHONELY_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern int check_failures;
extern int check_count;
extern const char *check_current;

#define CHECK_FAIL_(...)                                                                           \
    do {                                                                                           \
        check_failures++;                                                                          \
        fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, check_current);                         \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond))                                                                               \
            CHECK_FAIL_("CHECK(%s) failed", #cond);                                                \
    } while (0)

#define CHECK_INT(a, op, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        check_count++;                                                                             \
        if (!(a_ op b_))                                                                           \
            CHECK_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);                            \
    } while (0)

#define CHECK_INT_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_DBL_NEAR(a, b, eps)                                                                  \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        check_count++;                                                                             \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps)))                                               \
            CHECK_FAIL_("%s == %s: %g vs %g", #a, #b, a_, b_);                                     \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        check_count++;                                                                             \
        if (a_ == NULL || b_ == NULL ? a_ != b_ : strcmp(a_, b_) != 0)                             \
            CHECK_FAIL_("%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)",                  \
                        b_ ? b_ : "(null)");                                                       \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        check_count++;                                                                             \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            CHECK_FAIL_("%s contains %s: \"%.300s\" lacks \"%s\"", #hay, #needle,                  \
                        h_ ? h_ : "(null)", n_);                                                   \
    } while (0)

/* Run one test function, naming it in failure messages. */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        int before_ = check_failures;                                                              \
        check_current = #fn;                                                                       \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);              \
    } while (0)

/* Print the closing line and give main()'s exit status. */
int check_report(void);

#endif
