/*
 * fuzz_schema.c: tool argument validation (schema_validate) against every
 * real tool's inputSchema and outputSchema from tools_registry(). The
 * input is any JSON text (nothing happens when it does not parse).
 *
 * Input schemas are flat (an object of properties with type, enum,
 * minimum/maximum, minLength/maxLength, format), so they get a full oracle
 * written here: the verdict must be exactly the oracle's (accept when every
 * required argument is present, no unknown one is sent to a closed schema,
 * and each argument - the first, when a name repeats - meets its property).
 * For every schema: a refusal is ERR_INVALID with a message that has no
 * control characters and is valid UTF-8 whenever the value's strings are.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "mcp.h"
#include "schema.h"
#include "textutil.h"
#include "tools.h"

#define MAX_TOOLS 32

static cJSON *in_schema[MAX_TOOLS], *out_schema[MAX_TOOLS];
static size_t ntools;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct mcp_registry *reg;

    (void)argc;
    (void)argv;
    fuzz_init();
    reg = tools_registry();
    FUZZ_CHECK(reg->ntools > 0 && reg->ntools <= MAX_TOOLS);
    ntools = reg->ntools;
    for (size_t i = 0; i < ntools; i++) {
        in_schema[i] = cJSON_Parse(reg->tools[i].input_schema);
        FUZZ_CHECK(cJSON_IsObject(in_schema[i]));
        if (reg->tools[i].output_schema != NULL) {
            out_schema[i] = cJSON_Parse(reg->tools[i].output_schema);
            FUZZ_CHECK(cJSON_IsObject(out_schema[i]));
        }
    }
    return 0;
}

/* Every string and member name in v is valid UTF-8. */
static bool all_utf8(const cJSON *v)
{
    if (v->string != NULL && !fuzz_utf8_ok(v->string, strlen(v->string)))
        return false;
    if (cJSON_IsString(v) && !fuzz_utf8_ok(v->valuestring, strlen(v->valuestring)))
        return false;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        if (!all_utf8(c))
            return false;
    return true;
}

static bool is_date(const char *s)
{
    static const char shape[] = "dddd-dd-dd";

    if (strlen(s) != 10)
        return false;
    for (size_t i = 0; i < 10; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    return true;
}

/* Code points, counting every byte that does not continue a sequence. */
static double chars(const char *s)
{
    double n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool same_scalar(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    return cJSON_IsNull(a) && cJSON_IsNull(b);
}

/* Whether v meets one property schema; *known false for keywords not modelled here. */
static bool prop_ok(const cJSON *ps, const cJSON *v, bool *known)
{
    static const char *const modelled[] = {"type",        "enum",      "minimum", "maximum",
                                           "minLength",   "maxLength", "format",  "default",
                                           "description", "title"};
    const cJSON *k, *t = cJSON_GetObjectItemCaseSensitive(ps, "type");
    bool ok = true;

    cJSON_ArrayForEach(k, ps)
    {
        bool m = false;
        for (size_t i = 0; i < sizeof modelled / sizeof modelled[0]; i++)
            m = m || strcmp(k->string, modelled[i]) == 0;
        if (!m)
            *known = false;
    }
    if (!cJSON_IsString(t)) {
        *known = false;
        return true;
    }
    if (strcmp(t->valuestring, "string") == 0)
        ok = cJSON_IsString(v);
    else if (strcmp(t->valuestring, "number") == 0)
        ok = cJSON_IsNumber(v) && isfinite(v->valuedouble);
    else if (strcmp(t->valuestring, "integer") == 0)
        ok = cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
             v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) <= 9007199254740992.0;
    else if (strcmp(t->valuestring, "boolean") == 0)
        ok = cJSON_IsBool(v);
    else
        *known = false;
    if (!ok)
        return false;
    cJSON_ArrayForEach(k, ps)
    {
        if (strcmp(k->string, "enum") == 0) {
            const cJSON *e;
            bool found = false;
            cJSON_ArrayForEach(e, k) found = found || same_scalar(e, v);
            ok = ok && found;
        } else if (strcmp(k->string, "minimum") == 0 && cJSON_IsNumber(v)) {
            ok = ok && v->valuedouble >= k->valuedouble;
        } else if (strcmp(k->string, "maximum") == 0 && cJSON_IsNumber(v)) {
            ok = ok && v->valuedouble <= k->valuedouble;
        } else if (strcmp(k->string, "minLength") == 0 && cJSON_IsString(v)) {
            ok = ok && chars(v->valuestring) >= k->valuedouble;
        } else if (strcmp(k->string, "maxLength") == 0 && cJSON_IsString(v)) {
            ok = ok && chars(v->valuestring) <= k->valuedouble;
        } else if (strcmp(k->string, "format") == 0 && cJSON_IsString(v)) {
            int64_t ms;
            bool parses = time_parse_iso8601(v->valuestring, &ms) == 0;
            if (strcmp(k->valuestring, "date") == 0)
                ok = ok && parses && is_date(v->valuestring);
            else if (strcmp(k->valuestring, "date-time") == 0)
                ok = ok && parses && !is_date(v->valuestring);
            else if (strcmp(k->valuestring, "date-or-date-time") == 0)
                ok = ok && parses;
            else
                *known = false;
        }
    }
    return ok;
}

/* The verdict on a flat object schema; *known false when it could not be decided here. */
static bool object_ok(const cJSON *schema, const cJSON *v, bool *known)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *it;
    bool ok = true;

    if (!cJSON_IsObject(v))
        return false;
    cJSON_ArrayForEach(it, v)
    {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, it->string);
        if (ps == NULL) {
            if (cJSON_IsFalse(addl))
                ok = false;
            continue;
        }
        /* Only the first member of a name is the argument (as the tools read it). */
        if (cJSON_GetObjectItemCaseSensitive(v, it->string) != it)
            continue;
        if (!prop_ok(ps, it, known))
            ok = false;
    }
    cJSON_ArrayForEach(it, req)
    {
        if (cJSON_GetObjectItemCaseSensitive(v, it->valuestring) == NULL)
            ok = false;
    }
    return ok;
}

static void check_refusal(const struct err *err, bool utf8)
{
    size_t n = strlen(err->msg);

    FUZZ_CHECK(err->code == ERR_INVALID);
    FUZZ_CHECK(n > 0 && n < sizeof err->msg);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)err->msg[i] >= 0x20 && err->msg[i] != 0x7F);
    if (utf8)
        FUZZ_CHECK(fuzz_utf8_ok(err->msg, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *v = cJSON_ParseWithLength((const char *)data, size);
    bool utf8;

    if (v == NULL)
        return 0;
    utf8 = all_utf8(v);
    for (size_t i = 0; i < ntools; i++) {
        struct err err = {0};
        bool known = true, want = object_ok(in_schema[i], v, &known);
        int rc = schema_validate(in_schema[i], v, &err);

        FUZZ_CHECK(rc == 0 || rc == -1);
        if (known)
            FUZZ_CHECK((rc == 0) == want);
        if (rc == -1)
            check_refusal(&err, utf8);
        if (out_schema[i] != NULL) {
            struct err e2 = {0};
            if (schema_validate(out_schema[i], v, &e2) == -1)
                check_refusal(&e2, utf8);
        }
    }
    cJSON_Delete(v);
    return 0;
}
