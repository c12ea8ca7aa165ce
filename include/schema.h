/* schema.h: check tool arguments against the subset of JSON Schema our tools use. */
#ifndef PHONELY_SCHEMA_H
#define PHONELY_SCHEMA_H

#include <cjson/cJSON.h>

#include "err.h"

/*
 * Validate value against schema (both parsed JSON). Supported keywords:
 * type (object, string, integer, number, boolean, array, or a list of
 * them), properties, required, additionalProperties (false), enum,
 * minimum, maximum, minLength, maxLength, pattern-free formats "date",
 * "date-time" and "date-or-date-time" (ISO 8601 via time_parse_iso8601),
 * items, minItems, maxItems. Returns 0, or -1 with ERR_INVALID and a
 * message for the model naming the argument and what it must be, e.g.
 * "limit must be an integer from 1 to 100". The message may quote short
 * argument values the caller sent.
 */
int schema_validate(const cJSON *schema, const cJSON *value, struct err *err);

#endif
