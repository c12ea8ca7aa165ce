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

/* s[0..n) as a JSON string, escaped as cJSON prints strings. */
static void json_string_append(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t done = 0;

    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = {'\\', 0};

        switch (ch) {
        case '"':
        case '\\':
            esc[1] = (char)ch;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (ch >= 0x20)
                continue;
            esc[1] = 'u';
            esc[2] = esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
        }
        buf_append(b, s + done, i - done);
        buf_puts(b, esc);
        done = i + 1;
    }
    buf_append(b, s + done, n - done);
    buf_puts(b, "\"");
}

/*
 * The turns JSON (as callfmt_turns_json() writes it) from text[0..len)
 * and the index callfmt_turn_index() made for it. NULL when the index
 * does not cut text into valid UTF-8 turns that use it all (a damaged
 * row). Caller frees.
 */
char *callfmt_turns_from_index(const char *text, size_t len, const char *index)
{
    cJSON *root = index != NULL ? cJSON_Parse(index) : NULL;
    const cJSON *first = root != NULL && cJSON_IsArray(root) ? root->child : NULL, *pair;
    struct buf b = {0};
    size_t at = 0;
    bool ok = first != NULL;

    buf_puts(&b, "[");
    for (pair = first; pair != NULL && ok; pair = pair->next) {
        const cJSON *role = cJSON_GetArrayItem(pair, 0), *bytes = cJSON_GetArrayItem(pair, 1);
        double n = cJSON_IsNumber(bytes) ? bytes->valuedouble : -1;

        ok = cJSON_GetArraySize(pair) == 2 && cJSON_IsString(role) &&
             utf8_valid(role->valuestring, strlen(role->valuestring)) && n >= 0 &&
             n <= (double)(len - at) && n == (double)(size_t)n && utf8_valid(text + at, (size_t)n);
        if (!ok)
            break;
        buf_puts(&b, pair == first ? "{\"role\":" : ",{\"role\":");
        json_string_append(&b, role->valuestring, strlen(role->valuestring));
        buf_puts(&b, ",\"content\":");
        json_string_append(&b, text + at, (size_t)n);
        buf_puts(&b, "}");
        at += (size_t)n;
        if (pair->next != NULL) { /* the separator */
            ok = at < len && text[at] == '\n';
            at++;
        }
    }
    cJSON_Delete(root);
    if (!ok || at != len) {
        buf_free(&b);
        return NULL;
    }
    buf_puts(&b, "]");
    return buf_steal(&b, NULL);
}
