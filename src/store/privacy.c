/*
 * privacy.c: the backend-neutral half of retention, erasure and export
 * (store.h, "personal data"): which identifier a person is matched by,
 * whether a loose body holds it, the keyed hash erasures are recorded
 * under, and the order an erasure runs in. The backends remove rows and
 * scrub their files (backend.h).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "backend.h"
#include "textutil.h"
#include "xmalloc.h"

/* Calls removed per transaction by an erasure. */
#define ERASE_BATCH 50
/* Loose bodies read per query, and removed per transaction. */
#define LOOSE_BATCH 200

static const char *const kind_names[] = {
    [STORE_PERSON_PHONE] = "phone",
    [STORE_PERSON_EMAIL] = "email",
    [STORE_PERSON_CALL] = "call",
};

const char *store_person_kind_name(enum store_person_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "unknown";
}

enum store_person_kind store_person_kind_parse(const char *name)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (enum store_person_kind)i;
    return STORE_PERSON_CALL; /* the schema allows no other value */
}

/* A plausible email address: one @, something on each side, no spaces or controls. */
static bool email_plausible(const char *s)
{
    const char *at = strchr(s, '@');

    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

char *store_person_key(const struct store_person *p, struct err *err)
{
    char digits[32];
    char *key;

    if (p->value == NULL || p->value[0] == '\0') {
        err_set(err, ERR_INVALID, "name the %s to look for", store_person_kind_name(p->kind));
        return NULL;
    }
    switch (p->kind) {
    case STORE_PERSON_PHONE:
        if (phone_normalize(p->value, digits, sizeof digits) < 7) {
            err_set(err, ERR_INVALID,
                    "not a phone number (7 to 15 digits, any spelling: +1 415 555 0100)");
            return NULL;
        }
        return xstrdup(digits);
    case STORE_PERSON_EMAIL:
        if (!email_plausible(p->value)) {
            err_set(err, ERR_INVALID, "not an email address (name@example.com)");
            return NULL;
        }
        key = xstrdup(p->value);
        for (char *c = key; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        return key;
    case STORE_PERSON_CALL:
        if (strlen(p->value) > 256) {
            err_set(err, ERR_INVALID, "not a call id (over 256 bytes)");
            return NULL;
        }
        return xstrdup(p->value);
    }
    err_set(err, ERR_INVALID, "unknown kind of identifier");
    return NULL;
}

int store_person_calls(struct store *st, const struct store_person *p, cJSON *ids, struct err *err)
{
    char *key = store_person_key(p, err);
    int rc;

    if (key == NULL)
        return -1;
    rc = st->be->person_calls(st, p, key, ids, err);
    free(key);
    return rc;
}

/* Case-insensitive search for needle (n bytes) in hay (len bytes). */
static bool holds_nocase(const char *hay, size_t len, const char *needle, size_t n)
{
    if (n == 0 || n > len)
        return false;
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static bool phone_char(char c)
{
    return (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
           c == '+' || c == '/';
}

/*
 * Whether body spells the number whose matching digits are key: some run
 * of digits and the separators numbers are written with holds, as digits,
 * key or key without its country code (so "(415) 555-0100" holds
 * 14155550100).
 */
static bool holds_phone(const char *body, size_t len, const char *key)
{
    size_t klen = strlen(key), i = 0;
    const char *national = key[0] == '1' && klen == 11 ? key + 1 : NULL;

    while (i < len) {
        char run[256];
        size_t n = 0;

        if (!(body[i] >= '0' && body[i] <= '9') && body[i] != '+' && body[i] != '(') {
            i++;
            continue;
        }
        for (; i < len && phone_char(body[i]); i++)
            if (body[i] >= '0' && body[i] <= '9' && n < sizeof run - 1)
                run[n++] = body[i];
        run[n] = '\0';
        if (n >= 7 && (strstr(run, key) != NULL || (national != NULL && strstr(run, national))))
            return true;
    }
    return false;
}

bool store_body_holds(const char *body, size_t len, const struct store_person *p, const char *key)
{
    switch (p->kind) {
    case STORE_PERSON_PHONE:
        return holds_phone(body, len, key);
    case STORE_PERSON_EMAIL:
    case STORE_PERSON_CALL:
        return holds_nocase(body, len, key, strlen(key));
    }
    return false;
}

int store_loose_bodies(struct store *st,
                       int (*fn)(int64_t id, const char *body, size_t len, void *arg,
                                 struct err *err),
                       void *arg, struct err *err)
{
    int64_t after = 0, last;

    for (;;) {
        last = after;
        if (st->be->loose_bodies(st, after, LOOSE_BATCH, fn, arg, &last, err) == -1)
            return -1;
        if (last == after)
            return 0;
        after = last;
    }
}

int store_person_hash(struct store *st, const struct store_person *p, char hash[65],
                      struct err *err)
{
    unsigned char key[32], digest[32];
    char *id = store_person_key(p, err);
    char *text;

    if (id == NULL)
        return -1;
    if (st->be->meta_key(st, "erasure_key", key, err) == -1) {
        free(id);
        return -1;
    }
    text = xasprintf("%s:%s", store_person_kind_name(p->kind), id);
    crypto_generichash(digest, sizeof digest, (const unsigned char *)text, strlen(text), key,
                       sizeof key);
    sodium_bin2hex(hash, 65, digest, sizeof digest);
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, strlen(text));
    sodium_memzero(id, strlen(id));
    free(text);
    free(id);
    return 0;
}

int store_copy_erasure_key(struct store *from, struct store *to, struct err *err)
{
    unsigned char key[32], have[32];
    struct err none = {0};
    int rc = 0;

    if (from->be->meta_key(from, "erasure_key", key, &none) == -1)
        return 0; /* from never erased anything: nothing to carry over */
    if (to->be->put_meta_key == NULL)
        rc = err_set(err, ERR_UNSUPPORTED, "copies go into PostgreSQL databases");
    else if (to->be->put_meta_key(to, "erasure_key", key, err) == -1 ||
             to->be->meta_key(to, "erasure_key", have, err) == -1)
        rc = -1;
    else if (sodium_memcmp(key, have, sizeof key) != 0)
        rc = err_set(err, ERR_STORAGE,
                     "the destination has another erasure key: its erasures and the copied ones"
                     " would not match; copy into a new database");
    sodium_memzero(key, sizeof key);
    sodium_memzero(have, sizeof have);
    return rc;
}

int store_purge(struct store *st, int64_t calls_before_ms, int64_t rejected_before_ms,
                unsigned limit, bool dry_run, struct store_removed *out, struct err *err)
{
    if (!dry_run && st->read_only)
        return err_set(err, ERR_STORAGE, "the store is open read-only");
    if (limit == 0)
        limit = 1;
    return st->be->purge(st, calls_before_ms, rejected_before_ms, limit, dry_run, out, err);
}

struct loose_match {
    const struct store_person *p;
    const char *key;
    int64_t *ids;
    size_t n, cap;
};

static int loose_match(int64_t id, const char *body, size_t len, void *arg, struct err *err)
{
    struct loose_match *m = arg;

    (void)err;
    if (!store_body_holds(body, len, m->p, m->key))
        return 0;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->ids = xreallocarray(m->ids, m->cap, sizeof *m->ids);
    }
    m->ids[m->n++] = id;
    return 0;
}

/* Remove the calls of ids in batches of ERASE_BATCH, adding to *out. */
static int erase_calls(struct store *st, const cJSON *ids, bool dry_run, struct store_removed *out,
                       struct err *err)
{
    int n = cJSON_GetArraySize(ids);

    for (int i = 0; i < n; i += ERASE_BATCH) {
        cJSON *batch = cJSON_CreateArray();
        int rc;
        for (int j = i; j < n && j < i + ERASE_BATCH; j++)
            cJSON_AddItemToArray(batch, cJSON_Duplicate(cJSON_GetArrayItem(ids, j), false));
        rc = st->be->remove_calls(st, batch, dry_run, out, err);
        cJSON_Delete(batch);
        if (rc == -1)
            return -1;
    }
    return 0;
}

int store_erase(struct store *st, const struct store_person *p, bool dry_run, int64_t now_ms,
                struct store_erasure *out, struct err *err)
{
    struct store_removed removed = {0};
    struct loose_match m = {.p = p};
    cJSON *ids = cJSON_CreateArray();
    char *key = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->kind = p->kind;
    out->at_ms = now_ms;
    if (!dry_run && st->read_only) {
        err_set(err, ERR_STORAGE, "the store is open read-only");
        goto done;
    }
    if ((key = store_person_key(p, err)) == NULL)
        goto done;
    /* The hash first: it needs the key, and an erasure that cannot be recorded must not start. */
    if (!dry_run && store_person_hash(st, p, out->hash, err) == -1)
        goto done;
    if (st->be->person_calls(st, p, key, ids, err) == -1)
        goto done;
    /* A call id also names deliveries whose call was never stored (rejected ones). */
    if (p->kind == STORE_PERSON_CALL && cJSON_GetArraySize(ids) == 0)
        cJSON_AddItemToArray(ids, cJSON_CreateString(key));
    if (erase_calls(st, ids, dry_run, &removed, err) == -1)
        goto done;
    m.key = key;
    if (store_loose_bodies(st, loose_match, &m, err) == -1)
        goto done;
    for (size_t i = 0; i < m.n; i += LOOSE_BATCH) {
        size_t k = m.n - i < LOOSE_BATCH ? m.n - i : LOOSE_BATCH;
        int64_t n = 0;
        if (dry_run)
            n = (int64_t)k;
        else if (st->be->remove_deliveries(st, m.ids + i, k, &n, err) == -1)
            goto done;
        removed.deliveries += n;
    }
    out->calls = removed.calls;
    out->deliveries = removed.deliveries;
    /* Recorded before the files are scrubbed: the rows are gone, whatever the scrub meets. */
    if (!dry_run && (st->be->add_erasure(st, out, err) == -1 || st->be->scrub(st, err) == -1))
        goto done;
    rc = 0;
done:
    if (key != NULL) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
    free(m.ids);
    cJSON_Delete(ids);
    return rc;
}

int store_list_erasures(struct store *st, const char *hash,
                        int (*fn)(const struct store_erasure *e, void *arg), void *arg,
                        struct err *err)
{
    return st->be->list_erasures(st, hash, fn, arg, err);
}
