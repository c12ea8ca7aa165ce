/*
 * schema.c: a small JSON Schema validator for the subset our MCP tools use
 * in their inputSchema and outputSchema: type (one name or a list), enum,
 * const, properties, required, additionalProperties (false, true or a
 * schema), minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * minLength, maxLength (in characters), format (date, date-time,
 * date-or-date-time), items, minItems, maxItems and anyOf. Annotation
 * keywords (title, description, default, examples, $schema) are ignored, as
 * JSON Schema says unknown keywords must be.
 *
 * The messages are written for a language model that has to fix its call:
 * they name the argument by its path ("limit", "filters.phone",
 * "calls[2].followUp"), say what the value must be, and quote what was sent
 * when that is short ("limit must be an integer from 1 to 100 (got 500)").
 * Quoted text is cut to a few dozen bytes and has control characters
 * replaced, so a message never carries a long or raw argument back.
 *
 * Ownership: nothing is allocated; schema and value are only read.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "textutil.h"

#define PATH_MAX_LEN  160                /* longest argument path kept for messages */
#define QUOTE_MAX     40                 /* bytes of a sent value quoted in a message */
#define PHRASE_MAX    200                /* "an integer from 1 to 100", "one of: a, b" */
#define INT_EXACT_MAX 9007199254740992.0 /* 2^53: larger doubles are not exact */

/* The JSON types a schema can name, as bits, so a type list is one mask. */
enum {
    T_NULL = 1 << 0,
    T_BOOLEAN = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"null", T_NULL},     {"boolean", T_BOOLEAN}, {"object", T_OBJECT},   {"array", T_ARRAY},
    {"number", T_NUMBER}, {"string", T_STRING},   {"integer", T_INTEGER},
};

static const cJSON *kw(const cJSON *schema, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(schema, name);
}

static bool is_integer(const cJSON *v)
{
    double d;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) <= INT_EXACT_MAX;
}

/* The type bits a value has ("integer" values are numbers too). */
static unsigned value_types(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return T_NULL;
    if (cJSON_IsBool(v))
        return T_BOOLEAN;
    if (cJSON_IsObject(v))
        return T_OBJECT;
    if (cJSON_IsArray(v))
        return T_ARRAY;
    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble))
            return 0;
        return T_NUMBER | (is_integer(v) ? T_INTEGER : 0);
    }
    if (cJSON_IsString(v))
        return T_STRING;
    return 0;
}

/* The type mask a schema allows; all types when it names none it knows. */
static unsigned schema_types(const cJSON *schema)
{
    const cJSON *t = kw(schema, "type"), *it;
    unsigned mask = 0;

    if (cJSON_IsString(t)) {
        for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
            if (strcmp(t->valuestring, type_names[i].name) == 0)
                mask |= type_names[i].bit;
    } else if (cJSON_IsArray(t)) {
        cJSON_ArrayForEach(it, t)
        {
            if (!cJSON_IsString(it))
                continue;
            for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
                if (strcmp(it->valuestring, type_names[i].name) == 0)
                    mask |= type_names[i].bit;
        }
    }
    if (mask & T_NUMBER)
        mask |= T_INTEGER;
    return mask == 0 ? ~0u : mask;
}

/* Characters (code points) in a UTF-8 string: bytes that do not continue a sequence. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

/*
 * Copy s into out between qc quotes (' for names, " for values), cut at
 * QUOTE_MAX bytes on a character boundary (then "..."), with the quote
 * character and '\' escaped and control characters shown as '?'.
 */
static const char *quote_with(const char *s, char qc, char *out, size_t outsz)
{
    return text_quote(s, qc, QUOTE_MAX, true, out, outsz);
}

/* A sent value, in double quotes. */
static const char *quote(const char *s, char *out, size_t outsz)
{
    return quote_with(s, '"', out, outsz);
}

/* An argument or property name, in single quotes. */
static const char *quote_name(const char *s, char *out, size_t outsz)
{
    return quote_with(s, '\'', out, outsz);
}

static void fmt_number(double d, char *out, size_t outsz)
{
    snprintf(out, outsz, "%.15g", d);
}

/* What a value was, for "(got ...)": a short quote, a number, or its kind. */
static const char *describe(const cJSON *v, char *out, size_t outsz)
{
    if (cJSON_IsString(v))
        return quote(v->valuestring, out, outsz);
    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble))
            snprintf(out, outsz, "a number too large to represent");
        else
            fmt_number(v->valuedouble, out, outsz);
        return out;
    }
    if (cJSON_IsTrue(v))
        snprintf(out, outsz, "true");
    else if (cJSON_IsFalse(v))
        snprintf(out, outsz, "false");
    else if (cJSON_IsNull(v))
        snprintf(out, outsz, "null");
    else if (cJSON_IsArray(v))
        snprintf(out, outsz, "an array");
    else if (cJSON_IsObject(v))
        snprintf(out, outsz, "an object");
    else
        snprintf(out, outsz, "an unknown value");
    return out;
}

/* Append printf text to a fixed buffer, silently cutting at its end. */
__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t bufsz, const char *fmt,
                                                         ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (len + 1 >= bufsz)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, bufsz - len, fmt, ap);
    va_end(ap);
}

/* " from 1 to 100", " of at least 1", " of at most 100", or "" (numbers). */
static void range_phrase(const cJSON *schema, char *out, size_t outsz)
{
    const cJSON *lo = kw(schema, "minimum"), *hi = kw(schema, "maximum");
    const cJSON *xlo = kw(schema, "exclusiveMinimum"), *xhi = kw(schema, "exclusiveMaximum");
    char a[40], b[40];

    out[0] = '\0';
    if (cJSON_IsNumber(lo) && cJSON_IsNumber(hi)) {
        fmt_number(lo->valuedouble, a, sizeof a);
        fmt_number(hi->valuedouble, b, sizeof b);
        snprintf(out, outsz, " from %s to %s", a, b);
    } else if (cJSON_IsNumber(lo)) {
        fmt_number(lo->valuedouble, a, sizeof a);
        snprintf(out, outsz, " of at least %s", a);
    } else if (cJSON_IsNumber(hi)) {
        fmt_number(hi->valuedouble, b, sizeof b);
        snprintf(out, outsz, " of at most %s", b);
    }
    if (cJSON_IsNumber(xlo)) {
        fmt_number(xlo->valuedouble, a, sizeof a);
        append(out, outsz, "%s greater than %s", out[0] ? " and" : "", a);
    }
    if (cJSON_IsNumber(xhi)) {
        fmt_number(xhi->valuedouble, b, sizeof b);
        append(out, outsz, "%s less than %s", out[0] ? " and" : "", b);
    }
}

/* " of 1 to 500 characters" and friends, for strings (unit "character") and arrays ("item"). */
static void size_phrase(const cJSON *lo, const cJSON *hi, const char *unit, char *out, size_t outsz)
{
    out[0] = '\0';
    if (cJSON_IsNumber(lo) && cJSON_IsNumber(hi))
        snprintf(out, outsz, " of %.0f to %.0f %ss", lo->valuedouble, hi->valuedouble, unit);
    else if (cJSON_IsNumber(lo))
        snprintf(out, outsz, " of at least %.0f %s%s", lo->valuedouble, unit,
                 lo->valuedouble == 1 ? "" : "s");
    else if (cJSON_IsNumber(hi))
        snprintf(out, outsz, " of at most %.0f %s%s", hi->valuedouble, unit,
                 hi->valuedouble == 1 ? "" : "s");
}

/* How the formats we check are explained to the model. */
static const char *format_phrase(const char *format)
{
    if (strcmp(format, "date") == 0)
        return "an ISO 8601 date such as 2026-05-24";
    if (strcmp(format, "date-time") == 0)
        return "an ISO 8601 date-time such as 2026-05-24T18:00:00Z";
    if (strcmp(format, "date-or-date-time") == 0)
        return "an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z";
    return NULL;
}

/* "one of: inbound, outbound" from an enum list (strings unquoted). */
static void enum_phrase(const cJSON *list, char *out, size_t outsz)
{
    const cJSON *it;
    bool first = true;

    snprintf(out, outsz, "one of: ");
    cJSON_ArrayForEach(it, list)
    {
        char num[40];
        const char *text = NULL;
        if (cJSON_IsString(it))
            text = it->valuestring;
        else if (cJSON_IsNumber(it))
            text = (fmt_number(it->valuedouble, num, sizeof num), num);
        else if (cJSON_IsBool(it))
            text = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNull(it))
            text = "null";
        else
            continue;
        append(out, outsz, "%s%s", first ? "" : ", ", text);
        first = false;
    }
}

/*
 * What the schema wants, in words: "an integer from 1 to 100", "a string
 * of at most 200 characters", "an ISO 8601 date such as ...", "true or
 * false", "a string or null".
 */
static void want_phrase(const cJSON *schema, char *out, size_t outsz)
{
    unsigned mask = schema_types(schema);
    const cJSON *format = kw(schema, "format");
    char extra[PHRASE_MAX];
    bool first = true;

    out[0] = '\0';
    if (cJSON_IsArray(kw(schema, "enum"))) {
        enum_phrase(kw(schema, "enum"), out, outsz);
        return;
    }
    if (mask == ~0u) {
        snprintf(out, outsz, "a valid value");
        return;
    }
    if ((mask & T_STRING) && cJSON_IsString(format) && format_phrase(format->valuestring)) {
        append(out, outsz, "%s", format_phrase(format->valuestring));
        first = false;
    } else if (mask & T_STRING) {
        size_phrase(kw(schema, "minLength"), kw(schema, "maxLength"), "character", extra,
                    sizeof extra);
        append(out, outsz, "a string%s", extra);
        first = false;
    }
    if (mask & T_NUMBER) {
        range_phrase(schema, extra, sizeof extra);
        append(out, outsz, "%sa number%s", first ? "" : " or ", extra);
        first = false;
    } else if (mask & T_INTEGER) {
        range_phrase(schema, extra, sizeof extra);
        append(out, outsz, "%san integer%s", first ? "" : " or ", extra);
        first = false;
    }
    if (mask & T_BOOLEAN) {
        append(out, outsz, "%s", first ? "true or false" : " or a boolean");
        first = false;
    }
    if (mask & T_ARRAY) {
        size_phrase(kw(schema, "minItems"), kw(schema, "maxItems"), "item", extra, sizeof extra);
        append(out, outsz, "%san array%s", first ? "" : " or ", extra);
        first = false;
    }
    if (mask & T_OBJECT) {
        append(out, outsz, "%san object", first ? "" : " or ");
        first = false;
    }
    if (mask & T_NULL)
        append(out, outsz, "%snull", first ? "" : " or ");
}

/* The path of a member: "limit" at the top, "a.b" below, with odd names quoted. */
static void path_member(char *out, size_t outsz, const char *base, const char *name)
{
    bool plain = name[0] != '\0';
    char q[QUOTE_MAX * 2 + 8];

    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            plain = false;
    if (plain)
        snprintf(out, outsz, "%s%s%s", base, base[0] ? "." : "", name);
    else
        snprintf(out, outsz, "%s[%s]", base[0] ? base : "arguments", quote_name(name, q, sizeof q));
}

static const char *path_name(const char *path)
{
    return path[0] ? path : "arguments";
}

/* "<path> must be <want> (got <what>)". */
static int fail_want(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    char want[PHRASE_MAX], got[QUOTE_MAX * 2 + 16];

    want_phrase(schema, want, sizeof want);
    return err_set(err, ERR_INVALID, "%s must be %s (got %s)", path_name(path), want,
                   describe(v, got, sizeof got));
}

static int validate(const cJSON *schema, const cJSON *v, const char *path, struct err *err);

/* "unknown argument 'foo'; allowed: a, b, c" for a closed object. */
static int fail_unknown(const cJSON *props, const char *name, const char *path, struct err *err)
{
    char allowed[PHRASE_MAX], q[QUOTE_MAX * 2 + 8];
    const cJSON *p;
    bool first = true;

    allowed[0] = '\0';
    cJSON_ArrayForEach(p, props)
    {
        append(allowed, sizeof allowed, "%s%s", first ? "" : ", ", p->string);
        first = false;
    }
    quote_name(name, q, sizeof q);
    if (path[0] == '\0')
        return err_set(err, ERR_INVALID, "unknown argument %s; allowed: %s", q,
                       first ? "none" : allowed);
    return err_set(err, ERR_INVALID, "unknown property %s in %s; allowed: %s", q, path,
                   first ? "none" : allowed);
}

/* NOLINTNEXTLINE(misc-no-recursion): each call goes one level down the schema, not the value */
static int validate_object(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    const cJSON *props = kw(schema, "properties"), *req = kw(schema, "required");
    const cJSON *addl = kw(schema, "additionalProperties"), *it;
    char sub[PATH_MAX_LEN];

    /* Unknown names first: a misspelt argument explains a "missing" one. */
    cJSON_ArrayForEach(it, v)
    {
        const cJSON *ps = cJSON_IsObject(props) ? kw(props, it->string) : NULL;
        if (ps != NULL)
            continue;
        if (cJSON_IsFalse(addl))
            return fail_unknown(props, it->string, path, err);
        if (cJSON_IsObject(addl)) {
            path_member(sub, sizeof sub, path, it->string);
            if (validate(addl, it, sub, err) == -1)
                return -1;
        }
    }
    cJSON_ArrayForEach(it, req)
    {
        char q[QUOTE_MAX * 2 + 8];
        if (!cJSON_IsString(it) || kw(v, it->valuestring) != NULL)
            continue;
        quote_name(it->valuestring, q, sizeof q);
        if (path[0] == '\0')
            return err_set(err, ERR_INVALID, "missing required argument %s", q);
        return err_set(err, ERR_INVALID, "%s is missing required property %s", path, q);
    }
    if (cJSON_IsObject(props)) {
        cJSON_ArrayForEach(it, props)
        {
            const cJSON *member = kw(v, it->string);
            if (member == NULL)
                continue;
            path_member(sub, sizeof sub, path, it->string);
            if (validate(it, member, sub, err) == -1)
                return -1;
        }
    }
    return 0;
}

/* NOLINTNEXTLINE(misc-no-recursion): each call goes one level down the schema, not the value */
static int validate_array(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    const cJSON *lo = kw(schema, "minItems"), *hi = kw(schema, "maxItems");
    const cJSON *items = kw(schema, "items"), *it;
    int n = cJSON_GetArraySize(v), i = 0;
    char sub[PATH_MAX_LEN];

    if ((cJSON_IsNumber(lo) && n < lo->valuedouble) ||
        (cJSON_IsNumber(hi) && n > hi->valuedouble)) {
        char want[PHRASE_MAX];
        want_phrase(schema, want, sizeof want);
        return err_set(err, ERR_INVALID, "%s must be %s (got %d item%s)", path_name(path), want, n,
                       n == 1 ? "" : "s");
    }
    if (!cJSON_IsObject(items) && !cJSON_IsBool(items))
        return 0;
    cJSON_ArrayForEach(it, v)
    {
        snprintf(sub, sizeof sub, "%s[%d]", path_name(path), i++);
        if (validate(items, it, sub, err) == -1)
            return -1;
    }
    return 0;
}

static int validate_string(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    const cJSON *lo = kw(schema, "minLength"), *hi = kw(schema, "maxLength");
    const cJSON *format = kw(schema, "format");
    size_t n = utf8_chars(v->valuestring);
    int64_t ms;

    if ((cJSON_IsNumber(lo) && (double)n < lo->valuedouble) ||
        (cJSON_IsNumber(hi) && (double)n > hi->valuedouble)) {
        char want[PHRASE_MAX];
        want_phrase(schema, want, sizeof want);
        if (n == 0)
            return err_set(err, ERR_INVALID, "%s must be %s (got an empty string)", path_name(path),
                           want);
        return err_set(err, ERR_INVALID, "%s must be %s (got %zu character%s)", path_name(path),
                       want, n, n == 1 ? "" : "s");
    }
    if (cJSON_IsString(format) && format_phrase(format->valuestring) != NULL) {
        const char *f = format->valuestring, *s = v->valuestring;
        bool date_only = strlen(s) == 10;
        bool ok = time_parse_iso8601(s, &ms) == 0;
        if (ok && strcmp(f, "date") == 0)
            ok = date_only;
        else if (ok && strcmp(f, "date-time") == 0)
            ok = !date_only;
        if (!ok)
            return fail_want(schema, v, path, err);
    }
    return 0;
}

static int validate_number(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    const cJSON *lo = kw(schema, "minimum"), *hi = kw(schema, "maximum");
    const cJSON *xlo = kw(schema, "exclusiveMinimum"), *xhi = kw(schema, "exclusiveMaximum");
    double d = v->valuedouble;

    if ((cJSON_IsNumber(lo) && d < lo->valuedouble) ||
        (cJSON_IsNumber(hi) && d > hi->valuedouble) ||
        (cJSON_IsNumber(xlo) && d <= xlo->valuedouble) ||
        (cJSON_IsNumber(xhi) && d >= xhi->valuedouble))
        return fail_want(schema, v, path, err);
    return 0;
}

/* Check v against schema; path names v in messages ("" for the arguments object). */
/* NOLINTNEXTLINE(misc-no-recursion): each call goes one level down the schema, not the value */
static int validate(const cJSON *schema, const cJSON *v, const char *path, struct err *err)
{
    const cJSON *en, *cn, *any;
    unsigned have;

    if (cJSON_IsFalse(schema)) {
        if (path[0] == '\0')
            return err_set(err, ERR_INVALID, "no arguments are allowed");
        return err_set(err, ERR_INVALID, "%s is not allowed", path);
    }
    if (!cJSON_IsObject(schema))
        return 0; /* true, or not a schema: everything is valid */
    have = value_types(v);
    if ((have & schema_types(schema)) == 0)
        return fail_want(schema, v, path, err);
    if (cJSON_IsArray(en = kw(schema, "enum"))) {
        const cJSON *it;
        bool found = false;
        cJSON_ArrayForEach(it, en) found = found || cJSON_Compare(it, v, true);
        if (!found)
            return fail_want(schema, v, path, err);
    }
    if ((cn = kw(schema, "const")) != NULL && !cJSON_Compare(cn, v, true)) {
        char want[QUOTE_MAX * 2 + 16], got[QUOTE_MAX * 2 + 16];
        return err_set(err, ERR_INVALID, "%s must be %s (got %s)", path_name(path),
                       describe(cn, want, sizeof want), describe(v, got, sizeof got));
    }
    if (cJSON_IsArray(any = kw(schema, "anyOf")) && cJSON_GetArraySize(any) > 0) {
        const cJSON *alt;
        struct err first = {0};
        bool ok = false;
        cJSON_ArrayForEach(alt, any)
        {
            struct err e = {0};
            if (validate(alt, v, path, &e) == 0) {
                ok = true;
                break;
            }
            if (first.code == ERR_NONE)
                first = e;
        }
        if (!ok)
            return err_set(err, ERR_INVALID, "%s", first.msg);
    }
    if (have & T_OBJECT)
        return validate_object(schema, v, path, err);
    if (have & T_ARRAY)
        return validate_array(schema, v, path, err);
    if (have & T_STRING)
        return validate_string(schema, v, path, err);
    if (have & T_NUMBER)
        return validate_number(schema, v, path, err);
    return 0;
}

/*
 * Validate value against schema (see schema.h). Both are parsed JSON and
 * only read. Returns 0, or -1 with ERR_INVALID and a message naming the
 * first argument that is wrong and what it must be.
 */
int schema_validate(const cJSON *schema, const cJSON *value, struct err *err)
{
    if (schema == NULL || value == NULL)
        return err_set(err, ERR_INVALID, "arguments must be an object");
    return validate(schema, value, "", err);
}
