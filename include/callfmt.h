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

/*
 * The text columns a call is stored with (schema 5). Making them needs no
 * database, so the thread that parsed a request makes them (callfmt_forms)
 * and the single writer only binds them. A call whose turns have text
 * keeps transcript (the contents joined by "\n") and turn_index; one with
 * turns but no text at all keeps turns (JSON) and the plain transcript.
 * Every member is NULL when there is nothing to keep; the owner frees them
 * with callfmt_forms_free.
 */
struct call_forms {
    char *transcript;
    char *turns;
    char *turn_index;
    char *key_points; /* JSON arrays of strings */
    char *action_items;
    char *unanswered_questions;
};
void callfmt_forms(const struct call *call, struct call_forms *f);
void callfmt_forms_free(struct call_forms *f);

#endif
