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
/* Turns as stored since schema 5: the index, with the joined contents in *text. */
char *callfmt_turn_index(const struct call *call, char **text);
/* The turns JSON back from text[0..len) and its index; NULL when they do not agree. */
char *callfmt_turns_from_index(const char *text, size_t len, const char *index);

#endif
