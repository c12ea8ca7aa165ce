/* log.h: leveled logging to stderr; stdout belongs to MCP stdio. */
#ifndef PHONELY_LOG_H
#define PHONELY_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern int log_level; /* the one mutable global: checked before formatting */

int log_level_parse(const char *name, enum log_level *out);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy untrusted text into out as printable ASCII (\xNN escapes), truncated. */
const char *log_escape(const char *in, size_t len, char *out, size_t outsz);

#endif
