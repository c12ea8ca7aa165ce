/* callfmt.h: render a normalised call's parts as JSON or plain text. */
#ifndef PHONELY_CALLFMT_H
#define PHONELY_CALLFMT_H

#include "payload.h"

/* JSON text of a string list (e.g. ["a","b"]), or NULL when empty. Caller frees. */
char *callfmt_strlist_json(const struct strlist *list);
/* JSON text of the turns: [{"role":"agent","content":"..."},...], NULL when none.
 * role is "agent", "caller" or the role as sent. Caller frees. */
char *callfmt_turns_json(const struct call *call);
/* Plain transcript for search: each turn's content on its own line (no speaker
 * labels), or transcript_text when there are no turns; NULL when neither. Caller frees. */
char *callfmt_transcript_plain(const struct call *call);

#endif
