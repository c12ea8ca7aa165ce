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
