/* harness.h: fixtures, temporary directories and daemon control for tests. */
#ifndef PHONELY_HARNESS_H
#define PHONELY_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read tests/fixtures/NAME into a NUL-terminated buffer; aborts when missing. */
char *fixture_read(const char *name, size_t *len);

/* Make a fresh directory under $TMPDIR; returns its path (caller frees). */
char *tmpdir_make(const char *tag);
/* Remove a directory made by tmpdir_make and everything in it. */
void tmpdir_remove(const char *path);

#endif
