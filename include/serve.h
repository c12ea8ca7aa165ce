/* serve.h: the `serve` command: both listeners over one store. */
#ifndef PHONELY_SERVE_H
#define PHONELY_SERVE_H

#include "config.h"

/*
 * Open the store, start the writer and both listeners, and run until
 * SIGINT or SIGTERM; then stop accepting, commit what is queued and close.
 * Returns the process exit status.
 */
int serve_run(const struct config *cfg);

#endif
