/* xmalloc.h: allocators that abort on out-of-memory, and a growable buffer. */
#ifndef PHONELY_XMALLOC_H
#define PHONELY_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Route cJSON's allocations through xmalloc/free. Call once at start-up. */
void xmalloc_init_json(void);

struct cJSON;
/*
 * A cJSON raw item that takes over json (valid JSON text from malloc or a
 * cJSON print): printing copies the text as it is, cJSON_Delete frees it.
 */
struct cJSON *json_raw_take(char *json);

/* A growable byte buffer; data is always NUL-terminated when len > 0. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the bytes to the caller (NUL-terminated, never NULL); b is emptied. */
char *buf_steal(struct buf *b, size_t *len);
/*
 * Append s[0..n) as a JSON string, quotes included, escaped as cJSON
 * prints strings (", \, \b \f \n \r \t, other control characters as
 * \u00XX, every other byte as it is): the caller checks that s is UTF-8.
 */
void buf_json_string(struct buf *b, const char *s, size_t n);

#endif
