/*
 * export.h: everything stored about one person (GDPR article 15, CCPA
 * access requests), as JSON Lines or CSV: their calls with transcripts and
 * follow-up notes, every delivery of those calls with its body (the
 * history), and the rejected deliveries whose bodies name them.
 */
#ifndef PHONELY_EXPORT_H
#define PHONELY_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

enum export_format { EXPORT_JSONL = 0, EXPORT_CSV };

/* "jsonl" or "csv"; -1 for anything else. */
int export_format_parse(const char *name);

/*
 * Write p's data to out. JSON Lines: one object per line, each with
 * "record": "export" first (who, when), then "call" (everything
 * store_get_call gives, transcript included) followed by its "delivery"
 * records (metadata and body), then rejected "delivery" records, and a
 * "summary" last. CSV: the same records flattened, one row per value:
 * record,call_id,delivery_id,field,value. *calls and *deliveries count what
 * was written. Returns 0, or -1 with err set (a write error included).
 */
int export_person(struct store *st, const struct store_person *p, enum export_format fmt,
                  int64_t now_ms, FILE *out, int64_t *calls, int64_t *deliveries, struct err *err);

#endif
