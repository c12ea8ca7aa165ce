/*
 * test_schema.c: unit tests for schema.c: every supported keyword, nested
 * objects and arrays, and the exact messages a model sees when its
 * arguments are wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "harness.h"
#include "schema.h"
#include "xmalloc.h"

/* Validate value_json against schema_json; returns 0/-1 and leaves the message in err. */
static int run(const char *schema_json, const char *value_json, struct err *err)
{
    cJSON *schema = cJSON_Parse(schema_json), *value = cJSON_Parse(value_json);
    int rc;

    if (schema == NULL || value == NULL) {
        fprintf(stderr, "bad test JSON: %s / %s\n", schema_json, value_json);
        abort();
    }
    err_clear(err);
    rc = schema_validate(schema, value, err);
    cJSON_Delete(schema);
    cJSON_Delete(value);
    return rc;
}

#define OK(schema, value)                                                                          \
    do {                                                                                           \
        struct err e_;                                                                             \
        int rc_ = run(schema, value, &e_);                                                         \
        CHECK_INT_EQ(rc_, 0);                                                                      \
        if (rc_ != 0)                                                                              \
            fprintf(stderr, "  %s against %s: %s\n", value, schema, e_.msg);                       \
    } while (0)

#define BAD(schema, value, message)                                                                \
    do {                                                                                           \
        struct err e_;                                                                             \
        CHECK_INT_EQ(run(schema, value, &e_), -1);                                                 \
        CHECK_INT_EQ(e_.code, ERR_INVALID);                                                        \
        CHECK_STR_EQ(e_.msg, message);                                                             \
    } while (0)

static void test_types(void)
{
    static const struct {
        const char *type, *good, *bad, *msg;
    } cases[] = {
        {"string", "\"x\"", "5", "v must be a string (got 5)"},
        {"integer", "5", "\"5\"", "v must be an integer (got \"5\")"},
        {"integer", "5.0", "5.5", "v must be an integer (got 5.5)"},
        {"number", "5.5", "true", "v must be a number (got true)"},
        {"number", "-1e3", "null", "v must be a number (got null)"},
        {"boolean", "false", "\"yes\"", "v must be true or false (got \"yes\")"},
        {"object", "{}", "[]", "v must be an object (got an array)"},
        {"array", "[]", "{}", "v must be an array (got an object)"},
        {"null", "null", "0", "v must be null (got 0)"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *schema = xasprintf("{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"%s\"}}}",
                                 cases[i].type);
        char *good = xasprintf("{\"v\":%s}", cases[i].good);
        char *bad = xasprintf("{\"v\":%s}", cases[i].bad);
        OK(schema, good);
        BAD(schema, bad, cases[i].msg);
        free(schema);
        free(good);
        free(bad);
    }
    /* Integers past 2^53 are not exact, so they are not integers. */
    BAD("{\"type\":\"integer\"}", "1e300", "arguments must be an integer (got 1e+300)");
    OK("{\"type\":\"integer\"}", "9007199254740992");
    /* A type list. */
    OK("{\"type\":[\"string\",\"null\"]}", "null");
    OK("{\"type\":[\"string\",\"null\"]}", "\"a\"");
    BAD("{\"type\":[\"string\",\"null\"]}", "1", "arguments must be a string or null (got 1)");
    BAD("{\"type\":[\"integer\",\"boolean\"]}", "\"a\"",
        "arguments must be an integer or a boolean (got \"a\")");
    OK("{\"type\":[\"number\",\"null\"]}", "2.5");
    /* "number" accepts integers; no type accepts anything. */
    OK("{\"type\":\"number\"}", "3");
    OK("{}", "[1,{\"a\":null}]");
    OK("true", "{\"anything\":1}");
    /* The arguments object itself. */
    BAD("{\"type\":\"object\"}", "[]", "arguments must be an object (got an array)");
    BAD("false", "{}", "no arguments are allowed");
}

static void test_numbers(void)
{
    const char *limit = "{\"type\":\"object\",\"properties\":{\"limit\":{\"type\":\"integer\","
                        "\"minimum\":1,\"maximum\":100}}}";

    OK(limit, "{\"limit\":1}");
    OK(limit, "{\"limit\":100}");
    BAD(limit, "{\"limit\":500}", "limit must be an integer from 1 to 100 (got 500)");
    BAD(limit, "{\"limit\":0}", "limit must be an integer from 1 to 100 (got 0)");
    BAD(limit, "{\"limit\":2.5}", "limit must be an integer from 1 to 100 (got 2.5)");
    BAD(limit, "{\"limit\":\"ten\"}", "limit must be an integer from 1 to 100 (got \"ten\")");
    BAD("{\"type\":\"number\",\"minimum\":0}", "-0.5",
        "arguments must be a number of at least 0 (got -0.5)");
    BAD("{\"type\":\"number\",\"maximum\":86400}", "86400.5",
        "arguments must be a number of at most 86400 (got 86400.5)");
    OK("{\"type\":\"number\",\"exclusiveMinimum\":0}", "0.001");
    BAD("{\"type\":\"number\",\"exclusiveMinimum\":0}", "0",
        "arguments must be a number greater than 0 (got 0)");
    BAD("{\"type\":\"number\",\"minimum\":1,\"exclusiveMaximum\":10}", "10",
        "arguments must be a number of at least 1 and less than 10 (got 10)");
    /* Bounds on a value of another type do not apply. */
    OK("{\"minimum\":5}", "\"text\"");
}

static void test_strings(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\","
                    "\"minLength\":1,\"maxLength\":5}}}";

    OK(s, "{\"query\":\"abcde\"}");
    /* Lengths count characters, not bytes. */
    OK(s, "{\"query\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    OK(s, "{\"query\":\"\xf0\x9f\x98\x80\"}");
    BAD(s, "{\"query\":\"\"}", "query must be a string of 1 to 5 characters (got an empty string)");
    BAD(s, "{\"query\":\"abcdef\"}",
        "query must be a string of 1 to 5 characters (got 6 characters)");
    BAD("{\"type\":\"string\",\"maxLength\":1}", "\"ab\"",
        "arguments must be a string of at most 1 character (got 2 characters)");
    BAD("{\"type\":\"string\",\"minLength\":3}", "\"ab\"",
        "arguments must be a string of at least 3 characters (got 2 characters)");
}

static void test_formats(void)
{
    const char *either = "{\"type\":\"object\",\"properties\":{\"from\":{\"type\":\"string\","
                         "\"format\":\"date-or-date-time\"}}}";

    OK(either, "{\"from\":\"2026-05-24\"}");
    OK(either, "{\"from\":\"2026-05-24T18:00:00Z\"}");
    OK(either, "{\"from\":\"2026-05-24T18:00:00.250+02:00\"}");
    OK(either, "{\"from\":\"2024-02-29\"}");
    BAD(either, "{\"from\":\"yesterday\"}",
        "from must be an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z (got "
        "\"yesterday\")");
    BAD(either, "{\"from\":\"2026-02-30\"}",
        "from must be an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z (got "
        "\"2026-02-30\")");
    BAD(either, "{\"from\":\"2026-13-01\"}",
        "from must be an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z (got "
        "\"2026-13-01\")");
    BAD(either, "{\"from\":\" 2026-05-24\"}",
        "from must be an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z (got \" "
        "2026-05-24\")");
    BAD(either, "{\"from\":5}",
        "from must be an ISO 8601 date such as 2026-05-24 or 2026-05-24T18:00:00Z (got 5)");

    OK("{\"type\":\"string\",\"format\":\"date\"}", "\"2026-05-24\"");
    BAD("{\"type\":\"string\",\"format\":\"date\"}", "\"2026-05-24T10:00:00Z\"",
        "arguments must be an ISO 8601 date such as 2026-05-24 (got \"2026-05-24T10:00:00Z\")");
    OK("{\"type\":\"string\",\"format\":\"date-time\"}", "\"2026-05-24T10:00:00Z\"");
    BAD("{\"type\":\"string\",\"format\":\"date-time\"}", "\"2026-05-24\"",
        "arguments must be an ISO 8601 date-time such as 2026-05-24T18:00:00Z (got "
        "\"2026-05-24\")");
    /* Formats we do not check are annotations. */
    OK("{\"type\":\"string\",\"format\":\"email\"}", "\"not an email\"");
}

static void test_enum_const(void)
{
    const char *dir = "{\"type\":\"object\",\"properties\":{\"direction\":{\"type\":\"string\","
                      "\"enum\":[\"inbound\",\"outbound\"]}}}";

    OK(dir, "{\"direction\":\"inbound\"}");
    BAD(dir, "{\"direction\":\"Inbound\"}",
        "direction must be one of: inbound, outbound (got \"Inbound\")");
    BAD(dir, "{\"direction\":1}", "direction must be one of: inbound, outbound (got 1)");
    OK("{\"enum\":[1,\"a\",true,null]}", "null");
    OK("{\"enum\":[1,\"a\",true,null]}", "1");
    BAD("{\"enum\":[1,\"a\",true,null]}", "2",
        "arguments must be one of: 1, a, true, null (got 2)");
    OK("{\"const\":\"x\"}", "\"x\"");
    BAD("{\"const\":\"x\"}", "\"y\"", "arguments must be \"x\" (got \"y\")");
}

static void test_objects(void)
{
    const char *tool = "{\"type\":\"object\",\"properties\":{"
                       "\"call_id\":{\"type\":\"string\"},"
                       "\"note\":{\"type\":\"string\"},"
                       "\"reopen\":{\"type\":\"boolean\"}},"
                       "\"required\":[\"call_id\"],\"additionalProperties\":false}";

    OK(tool, "{\"call_id\":\"c1\"}");
    OK(tool, "{\"call_id\":\"c1\",\"reopen\":true,\"note\":\"n\"}");
    BAD(tool, "{}", "missing required argument 'call_id'");
    BAD(tool, "{\"call_id\":\"c\",\"foo\":1}",
        "unknown argument 'foo'; allowed: call_id, note, reopen");
    /* A misspelt name is reported as unknown rather than the real one as missing. */
    BAD(tool, "{\"callid\":\"c\"}", "unknown argument 'callid'; allowed: call_id, note, reopen");
    /* Names are case-sensitive. */
    BAD(tool, "{\"Call_Id\":\"c\"}", "unknown argument 'Call_Id'; allowed: call_id, note, reopen");
    BAD(tool, "{\"call_id\":\"c\",\"reopen\":\"yes\"}",
        "reopen must be true or false (got \"yes\")");
    BAD("{\"type\":\"object\",\"additionalProperties\":false}", "{\"x\":1}",
        "unknown argument 'x'; allowed: none");
    /* additionalProperties as a schema checks every extra member. */
    OK("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
       "{\"inbound\":3,\"outbound\":0}");
    BAD("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
        "{\"inbound\":3,\"outbound\":\"2\"}", "outbound must be an integer (got \"2\")");
    /* Boolean schemas. */
    BAD("{\"type\":\"object\",\"properties\":{\"x\":false}}", "{\"x\":1}", "x is not allowed");
    OK("{\"type\":\"object\",\"properties\":{\"x\":true}}", "{\"x\":[1]}");
    /* Open objects accept unknown members. */
    OK("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"b\":1}");
}

static void test_nested(void)
{
    const char *schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"calls\":{\"type\":\"array\",\"maxItems\":3,\"items\":{\"type\":\"object\","
        "\"properties\":{\"callId\":{\"type\":\"string\"},"
        "\"followUp\":{\"type\":\"object\",\"properties\":{"
        "\"status\":{\"type\":\"string\",\"enum\":[\"none\",\"pending\",\"resolved\"]},"
        "\"tags\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"string\"}}},"
        "\"required\":[\"status\"],\"additionalProperties\":false}},"
        "\"required\":[\"callId\"]}},"
        "\"filters\":{\"type\":\"object\",\"properties\":{\"phone\":{\"type\":\"string\","
        "\"minLength\":3}},\"additionalProperties\":false}},"
        "\"required\":[\"calls\"]}";

    OK(schema, "{\"calls\":[]}");
    OK(schema,
       "{\"calls\":[{\"callId\":\"a\",\"followUp\":{\"status\":\"none\",\"tags\":[\"x\"]}}]}");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\"},{\"callId\":5}]}",
        "calls[1].callId must be a string (got 5)");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\",\"followUp\":{}}]}",
        "calls[0].followUp is missing required property 'status'");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\",\"followUp\":{\"status\":\"open\"}}]}",
        "calls[0].followUp.status must be one of: none, pending, resolved (got \"open\")");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\",\"followUp\":{\"status\":\"none\",\"x\":1}}]}",
        "unknown property 'x' in calls[0].followUp; allowed: status, tags");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\",\"followUp\":{\"status\":\"none\",\"tags\":[]}}]}",
        "calls[0].followUp.tags must be an array of at least 1 item (got 0 items)");
    BAD(schema,
        "{\"calls\":[{\"callId\":\"a\",\"followUp\":{\"status\":\"none\",\"tags\":[\"a\",7]}}]}",
        "calls[0].followUp.tags[1] must be a string (got 7)");
    BAD(schema, "{\"calls\":[{\"callId\":\"a\"},{\"callId\":\"b\"},{\"callId\":\"c\"},{}]}",
        "calls must be an array of at most 3 items (got 4 items)");
    BAD(schema, "{\"calls\":[],\"filters\":{\"phone\":\"1\"}}",
        "filters.phone must be a string of at least 3 characters (got 1 character)");
    BAD(schema, "{\"calls\":{}}", "calls must be an array of at most 3 items (got an object)");
    BAD(schema, "{\"calls\":[\"a\"]}", "calls[0] must be an object (got \"a\")");
    BAD("{\"type\":\"array\",\"minItems\":2,\"maxItems\":3}", "[1]",
        "arguments must be an array of 2 to 3 items (got 1 item)");
    /* items: false forbids any item. */
    BAD("{\"type\":\"array\",\"items\":false}", "[1]", "arguments[0] is not allowed");
}

static void test_any_of(void)
{
    const char *s = "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":2},{\"type\":\"integer\"}]}";

    OK(s, "\"ab\"");
    OK(s, "7");
    BAD(s, "\"abc\"", "arguments must be a string of at most 2 characters (got 3 characters)");
    BAD(s, "true", "arguments must be a string of at most 2 characters (got true)");
}

static void test_quoting(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"d\":{\"enum\":[\"a\"]}},"
                    "\"additionalProperties\":false}";
    struct err e;
    char *value;

    /* Long values are cut at 40 bytes with an ellipsis; quotes and control characters escaped. */
    BAD(s, "{\"d\":\"0123456789012345678901234567890123456789-tail\"}",
        "d must be one of: a (got \"0123456789012345678901234567890123456789...\")");
    BAD(s, "{\"d\":\"say \\\"hi\\\"\\n\\u0001\"}",
        "d must be one of: a (got \"say \\\"hi\\\"??\")");
    /* A cut never splits a UTF-8 character. */
    BAD(s, "{\"d\":\"012345678901234567890123456789012345678\xc3\xa9xyz\"}",
        "d must be one of: a (got \"012345678901234567890123456789012345678\xc3\xa9...\")");
    /* Unknown names are quoted too. */
    BAD(s, "{\"it's\":1}", "unknown argument 'it\\'s'; allowed: d");
    /* Odd property names in paths. */
    BAD("{\"type\":\"object\",\"properties\":{\"a b\":{\"type\":\"string\"}}}", "{\"a b\":1}",
        "arguments['a b'] must be a string (got 1)");

    /* A huge unknown name still gives a bounded message. */
    value = xmalloc(20000);
    memset(value, 'x', 19990);
    memcpy(value, "{\"", 2);
    memcpy(value + 19990 - 5, "\":1}", 5);
    CHECK_INT_EQ(run(s, value, &e), -1);
    CHECK(strlen(e.msg) < sizeof e.msg);
    CHECK_STR_CONTAINS(e.msg, "unknown argument 'xxxxxxxx");
    free(value);
}

static void test_edges(void)
{
    struct err e;
    cJSON *schema = cJSON_Parse("{\"type\":\"object\"}");

    /* NULL pointers are errors, not crashes. */
    CHECK_INT_EQ(schema_validate(schema, NULL, &e), -1);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    CHECK_INT_EQ(schema_validate(NULL, schema, &e), -1);
    CHECK_INT_EQ(schema_validate(schema, schema, NULL), 0);
    cJSON_Delete(schema);
    /* Unknown keywords and annotations are ignored. */
    OK("{\"type\":\"string\",\"description\":\"d\",\"default\":\"x\",\"examples\":[1],"
       "\"x-custom\":{},\"$schema\":\"https://json-schema.org/draft/2020-12/schema\"}",
       "\"v\"");
    /* A long allowed list is cut, never overflows. */
    {
        struct buf b = {0};
        buf_puts(&b, "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{");
        for (int i = 0; i < 60; i++)
            buf_printf(&b, "%s\"property_number_%02d\":{}", i ? "," : "", i);
        buf_puts(&b, "}}");
        CHECK_INT_EQ(run(b.data, "{\"zzz\":1}", &e), -1);
        CHECK_STR_CONTAINS(e.msg, "unknown argument 'zzz'; allowed: property_number_00, ");
        CHECK(strlen(e.msg) < sizeof e.msg);
        buf_free(&b);
    }
}

int main(void)
{
    xmalloc_init_json();
    RUN(test_types);
    RUN(test_numbers);
    RUN(test_strings);
    RUN(test_formats);
    RUN(test_enum_const);
    RUN(test_objects);
    RUN(test_nested);
    RUN(test_any_of);
    RUN(test_quoting);
    RUN(test_edges);
    return check_report();
}
