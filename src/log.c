/*
 * log.c: leveled logging to stderr. Callers pass only trusted format strings;
 * anything that came from outside goes through log_escape() first. Secrets,
 * tokens and bodies are never handed to these functions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

int log_level = LOG_LEVEL_INFO;

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static void log_vemit(const char *tag, const char *fmt, va_list ap, const char *suffix)
    __attribute__((format(printf, 2, 0)));

static void log_vemit(const char *tag, const char *fmt, va_list ap, const char *suffix)
{
    char line[2048];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    (void)strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm); /* 19 bytes: fits */
    n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        line[0] = '\0';
    /* One write per line so concurrent threads do not interleave. */
    if (suffix != NULL)
        fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000, tag, line, suffix);
    else
        fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, tag, line);
}

#define LOG_FN(name, level, tag, with_errno)                                                       \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        int saved = errno;                                                                         \
        if (log_level < (level))                                                                   \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vemit(tag, fmt, ap, (with_errno) ? strerror(saved) : NULL);                            \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

LOG_FN(log_warn, LOG_LEVEL_WARN, "warn", 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, "warn", 0)
LOG_FN(log_info, LOG_LEVEL_INFO, "info", 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug", 0)

void fatal(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    log_vemit("fatal", fmt, ap, strerror(saved));
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit("fatal", fmt, ap, NULL);
    va_end(ap);
    exit(1);
}

/*
 * Render untrusted bytes as printable ASCII: control characters, quotes,
 * backslashes and non-ASCII bytes become \xNN. The result is truncated to
 * fit outsz (with "..." when cut) and is always NUL-terminated.
 */
const char *log_escape(const char *in, size_t len, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (outsz == 0)
        return out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > outsz) {
            if (o + 4 <= outsz) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
