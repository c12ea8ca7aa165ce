/* err.c: filling and naming struct err values. */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

#undef err_set /* the function itself, not err.h's analyzer-only wrapper */

int err_set(struct err *err, enum err_code code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void err_clear(struct err *err)
{
    if (err != NULL) {
        err->code = ERR_NONE;
        err->msg[0] = '\0';
    }
}

const char *err_code_name(enum err_code code)
{
    static const char *const names[] = {
        [ERR_NONE] = "none",
        [ERR_INVALID] = "invalid",
        [ERR_NOT_A_CALL] = "not_a_call",
        [ERR_AUTH] = "unauthorized",
        [ERR_NOT_FOUND] = "not_found",
        [ERR_TOO_LARGE] = "too_large",
        [ERR_UNSUPPORTED] = "unsupported",
        [ERR_FULL] = "storage_full",
        [ERR_BUSY] = "storage_busy",
        [ERR_STORAGE] = "storage_error",
        [ERR_CONFIG] = "config",
        [ERR_SYSTEM] = "system",
        [ERR_CANCELLED] = "cancelled",
        [ERR_INTERNAL] = "internal",
    };
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code] != NULL)
        return names[code];
    return "unknown";
}
