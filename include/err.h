/* err.h: the error value every fallible function fills. */
#ifndef PHONELY_ERR_H
#define PHONELY_ERR_H

/*
 * A code says what kind of failure happened; the HTTP layer maps it to a
 * status and the RPC layer to a JSON-RPC code, nowhere else.
 */
enum err_code {
    ERR_NONE = 0,
    ERR_INVALID,     /* bad input from the caller: malformed, out of range */
    ERR_NOT_A_CALL,  /* well-formed JSON that cannot be a call */
    ERR_AUTH,        /* missing or wrong credentials */
    ERR_NOT_FOUND,   /* no such object */
    ERR_TOO_LARGE,   /* over a configured size cap */
    ERR_UNSUPPORTED, /* a media type or version we do not speak */
    ERR_FULL,        /* storage is out of space */
    ERR_BUSY,        /* storage locked past the timeout */
    ERR_STORAGE,     /* any other storage failure (I/O, corruption) */
    ERR_CONFIG,      /* configuration problem */
    ERR_SYSTEM,      /* an OS call failed */
    ERR_CANCELLED,   /* the caller gave up (MCP cancellation) */
    ERR_INTERNAL     /* a bug */
};

struct err {
    enum err_code code;
    char msg[256];
};

/* Fill err (may be NULL) with a code and a printf-style message; returns -1. */
int err_set(struct err *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The clang static analyzer does not follow calls into variadic functions,
 * so it would take err_set's result as unknown and report paths the code
 * cannot take. Under analysis only, spell out that the result is -1.
 */
#ifdef __clang_analyzer__
static inline int err_set_result(int rc)
{
    (void)rc;
    return -1;
}
#define err_set(...) err_set_result(err_set(__VA_ARGS__))
#endif

void err_clear(struct err *err);
const char *err_code_name(enum err_code code);

#endif
