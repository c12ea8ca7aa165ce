/*
 * callfmt.c: render the parts of a normalised call (string lists, transcript
 * turns) as compact JSON or as plain text for the search index. Every
 * function returns a new string that belongs to the caller (free()), or NULL
 * when there is nothing to render. The call itself is only read.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "callfmt.h"
#include "log.h"
#include "textutil.h"
#include "xmalloc.h"

/* cJSON reports allocation failure with NULL; out-of-memory is fatal here. */
static cJSON *json_checked(cJSON *item)
{
    if (item == NULL)
        fatalx("out of memory building JSON");
    return item;
}

static void json_add(cJSON *parent, cJSON *item)
{
    if (!cJSON_AddItemToArray(parent, item))
        fatalx("out of memory building JSON");
}

static char *json_print_free(cJSON *root)
{
    char *text = cJSON_PrintUnformatted(root);

    cJSON_Delete(root);
    if (text == NULL)
        fatalx("out of memory printing JSON");
    return text;
}

/* The role name a turn is shown under in JSON: agent, caller or as sent. */
static const char *turn_role_name(const struct turn *t)
{
    switch (t->role) {
    case TURN_AGENT:
        return "agent";
    case TURN_CALLER:
        return "caller";
    case TURN_OTHER:
        break;
    }
    return t->role_text != NULL ? t->role_text : "other";
}

/*
 * JSON array of the list's strings, e.g. ["a","b"]. NULL entries are
 * skipped; NULL when nothing is left. Caller frees.
 */
char *callfmt_strlist_json(const struct strlist *list)
{
    cJSON *arr;
    size_t i, added = 0;

    if (list == NULL || list->len == 0 || list->items == NULL)
        return NULL;
    arr = json_checked(cJSON_CreateArray());
    for (i = 0; i < list->len; i++) {
        if (list->items[i] == NULL)
            continue;
        json_add(arr, json_checked(cJSON_CreateString(list->items[i])));
        added++;
    }
    if (added == 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    return json_print_free(arr);
}

/*
 * JSON array of the call's turns, [{"role":"agent","content":"..."},...];
 * a turn without content gets "" so readers always see a string. NULL when
 * the call has no turns. Caller frees.
 */
char *callfmt_turns_json(const struct call *call)
{
    cJSON *arr, *obj;
    size_t i;

    if (call == NULL || call->nturns == 0 || call->turns == NULL)
        return NULL;
    arr = json_checked(cJSON_CreateArray());
    for (i = 0; i < call->nturns; i++) {
        const struct turn *t = &call->turns[i];

        obj = json_checked(cJSON_CreateObject());
        json_add(arr, obj);
        json_checked(cJSON_AddStringToObject(obj, "role", turn_role_name(t)));
        json_checked(cJSON_AddStringToObject(obj, "content", t->content != NULL ? t->content : ""));
    }
    return json_print_free(arr);
}

/*
 * Plain transcript for full-text search: the content of each turn that has
 * some, one per line. Speaker labels are left out so that words such as
 * "agent" or "caller" match only where someone said them (the turns JSON
 * keeps the roles). Without such turns, a copy of transcript_text; NULL
 * when neither exists. Caller frees.
 */
char *callfmt_transcript_plain(const struct call *call)
{
    struct buf b = {0};
    size_t i;

    if (call == NULL)
        return NULL;
    for (i = 0; call->turns != NULL && i < call->nturns; i++) {
        const struct turn *t = &call->turns[i];

        if (t->content == NULL)
            continue;
        if (b.len > 0)
            buf_puts(&b, "\n");
        buf_puts(&b, t->content);
    }
    if (b.len > 0)
        return buf_steal(&b, NULL);
    buf_free(&b);
    if (call->transcript_text != NULL)
        return xstrdup(call->transcript_text);
    return NULL;
}

/*
 * The turns in the form stored since schema 5: *text gets every turn's
 * content ("" for none) joined by "\n", which the search index reads as
 * it is, and the result is the index that cuts it back into turns,
 * [["role",bytes],...] with each turn's role as callfmt_turns_json() names
 * it. NULL, and *text NULL, when the call has no turns. Caller frees both.
 */
char *callfmt_turn_index(const struct call *call, char **text)
{
    struct buf b = {0};
    cJSON *index;

    *text = NULL;
    if (call == NULL || call->nturns == 0 || call->turns == NULL)
        return NULL;
    index = json_checked(cJSON_CreateArray());
    for (size_t i = 0; i < call->nturns; i++) {
        const struct turn *t = &call->turns[i];
        const char *content = t->content != NULL ? t->content : "";
        cJSON *pair = json_checked(cJSON_CreateArray());

        json_add(index, pair);
        json_add(pair, json_checked(cJSON_CreateString(turn_role_name(t))));
        json_add(pair, json_checked(cJSON_CreateNumber((double)strlen(content))));
        if (i > 0)
            buf_puts(&b, "\n");
        buf_puts(&b, content);
    }
    *text = buf_steal(&b, NULL);
    return json_print_free(index);
}

/*
 * Append one turn of the index (role[0..role_len), n bytes of text at
 * *at, then the separator unless last) to the turns JSON in b. False when
 * it does not fit: n is not a whole number of bytes left in text, a role
 * or a content is not valid UTF-8, or no newline follows.
 */
static bool turn_put(struct buf *b, bool first, const char *role, size_t role_len, double n,
                     const char *text, size_t len, size_t *at, bool last)
{
    if (!(n >= 0 && n <= (double)(len - *at) && n == (double)(size_t)n) ||
        !utf8_valid(role, role_len) || !utf8_valid(text + *at, (size_t)n))
        return false;
    buf_puts(b, first ? "{\"role\":" : ",{\"role\":");
    buf_json_string(b, role, role_len);
    buf_puts(b, ",\"content\":");
    buf_json_string(b, text + *at, (size_t)n);
    buf_puts(b, "}");
    *at += (size_t)n;
    if (last)
        return true;
    if (*at >= len || text[*at] != '\n')
        return false;
    (*at)++;
    return true;
}

/*
 * The index read in the form callfmt_turn_index() prints it,
 * [["role",N],...] with no escape in any role, without building a tree:
 * 1 when every turn fitted, 0 when one did not, -1 when the index is not
 * in that form (then nothing is decided).
 */
static int turns_scan(struct buf *b, const char *p, const char *text, size_t len, size_t *at)
{
    bool first = true, last;

    if (*p++ != '[')
        return -1;
    do {
        const char *role;
        size_t role_len;
        double n = 0;

        if (p[0] != '[' || p[1] != '"')
            return -1;
        role = p += 2;
        while (*p != '"' && *p != '\\' && *p != '\0')
            p++;
        if (*p != '"' || p[1] != ',' || p[2] < '0' || p[2] > '9')
            return -1;
        role_len = (size_t)(p - role);
        for (p += 2; *p >= '0' && *p <= '9' && n < 1e15; p++)
            n = n * 10 + (*p - '0');
        if (p[0] != ']' || (p[1] != ',' && p[1] != ']'))
            return -1;
        last = p[1] == ']';
        if (last && p[2] != '\0')
            return -1;
        if (!turn_put(b, first, role, role_len, n, text, len, at, last))
            return 0;
        first = false;
        p += 2;
    } while (!last);
    return 1;
}

/* The same for any JSON spelling of the index, through cJSON. */
static int turns_parse(struct buf *b, const char *index, const char *text, size_t len, size_t *at)
{
    cJSON *root = cJSON_Parse(index);
    const cJSON *first = root != NULL && cJSON_IsArray(root) ? root->child : NULL, *pair;
    int rc = first != NULL;

    for (pair = first; pair != NULL && rc == 1; pair = pair->next) {
        const cJSON *role = cJSON_GetArrayItem(pair, 0), *bytes = cJSON_GetArrayItem(pair, 1);

        if (cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(role) || !cJSON_IsNumber(bytes) ||
            !turn_put(b, pair == first, role->valuestring, strlen(role->valuestring),
                      bytes->valuedouble, text, len, at, pair->next == NULL))
            rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

/*
 * The turns JSON (as callfmt_turns_json() writes it) from text[0..len)
 * and the index callfmt_turn_index() made for it. NULL when the index
 * does not cut text into valid UTF-8 turns that use it all (a damaged
 * row). Caller frees.
 */
char *callfmt_turns_from_index(const char *text, size_t len, const char *index)
{
    struct buf b = {0};
    size_t at = 0;
    int rc;

    if (index == NULL)
        return NULL;
    buf_puts(&b, "[");
    if ((rc = turns_scan(&b, index, text, len, &at)) == -1) {
        buf_reset(&b);
        buf_puts(&b, "[");
        at = 0;
        rc = turns_parse(&b, index, text, len, &at);
    }
    if (rc != 1 || at != len) {
        buf_free(&b);
        return NULL;
    }
    buf_puts(&b, "]");
    return buf_steal(&b, NULL);
}

/* Whether some turn of c has text: the turns are then kept as text and index. */
static bool turns_have_text(const struct call *c)
{
    for (size_t i = 0; c->turns != NULL && i < c->nturns; i++)
        if (c->turns[i].content != NULL && c->turns[i].content[0] != '\0')
            return true;
    return false;
}

void callfmt_forms(const struct call *call, struct call_forms *f)
{
    if (turns_have_text(call)) {
        f->turn_index = callfmt_turn_index(call, &f->transcript);
        f->turns = NULL;
    } else {
        f->transcript = callfmt_transcript_plain(call);
        f->turns = callfmt_turns_json(call);
        f->turn_index = NULL;
    }
    f->key_points = callfmt_strlist_json(&call->key_points);
    f->action_items = callfmt_strlist_json(&call->action_items);
    f->unanswered_questions = callfmt_strlist_json(&call->unanswered_questions);
}

void callfmt_forms_free(struct call_forms *f)
{
    free(f->transcript);
    free(f->turns);
    free(f->turn_index);
    free(f->key_points);
    free(f->action_items);
    free(f->unanswered_questions);
    *f = (struct call_forms){0};
}
