/*
 * test_jsonrpc.c: the JSON-RPC 2.0 layer: how every kind of incoming text
 * is classified (requests, notifications, answers, and each reason a
 * message is invalid), ids of every type, and the shape of what we send
 * (one line of valid JSON, ids echoed exactly).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsonrpc.h"
#include "xmalloc.h"

static void parse_str(const char *text, struct rpc_msg *msg)
{
    rpc_parse(text, strlen(text), msg);
}

/* Classify text; expect kind (and for RPC_INVALID, code). */
static void expect(const char *text, enum rpc_kind kind, int code)
{
    struct rpc_msg m;

    parse_str(text, &m);
    CHECK_INT_EQ(m.kind, kind);
    if (m.kind != kind)
        fprintf(stderr, "  for: %.200s (%s)\n", text, m.error_msg);
    if (kind == RPC_INVALID) {
        CHECK_INT_EQ(m.error_code, code);
        CHECK(m.error_msg[0] != '\0');
    }
    rpc_msg_free(&m);
}

/* One line of valid JSON, with no raw newline anywhere. */
static cJSON *check_line(const char *text)
{
    cJSON *v;

    CHECK(text != NULL);
    if (text == NULL)
        return NULL;
    CHECK(strchr(text, '\n') == NULL);
    CHECK(strchr(text, '\r') == NULL);
    v = cJSON_Parse(text);
    CHECK(cJSON_IsObject(v));
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "jsonrpc")), "2.0");
    return v;
}

static void test_requests_and_notifications(void)
{
    struct rpc_msg m;

    parse_str("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &m);
    CHECK_INT_EQ(m.kind, RPC_REQUEST);
    CHECK_STR_EQ(m.method, "ping");
    CHECK(m.params == NULL);
    CHECK(cJSON_IsNumber(m.id) && m.id->valuedouble == 1);
    rpc_msg_free(&m);

    parse_str(" {\"method\":\"tools/call\",\"params\":{\"name\":\"x\"},\"id\":\"abc\","
              "\"jsonrpc\":\"2.0\"} \t\r\n",
              &m);
    CHECK_INT_EQ(m.kind, RPC_REQUEST);
    CHECK_STR_EQ(m.method, "tools/call");
    CHECK(cJSON_IsObject(m.params));
    CHECK_STR_EQ(cJSON_GetStringValue(m.id), "abc");
    rpc_msg_free(&m);

    parse_str("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m);
    CHECK_INT_EQ(m.kind, RPC_NOTIFICATION);
    CHECK(m.id == NULL);
    CHECK_STR_EQ(m.method, "notifications/initialized");
    rpc_msg_free(&m);

    /* Arrays are valid JSON-RPC params; the MCP layer refuses them. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\",\"params\":[1,2]}", RPC_REQUEST, 0);
    expect("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{}}", RPC_NOTIFICATION, 0);
    /* An empty method name is still a string: "method not found" is the MCP layer's job. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"\"}", RPC_REQUEST, 0);

    /* rpc_msg_free twice, and on NULL, is harmless. */
    rpc_msg_free(&m);
    rpc_msg_free(NULL);
}

static void test_ids(void)
{
    static const struct {
        const char *id;
        bool valid;
    } cases[] = {
        {"0", true},
        {"-7", true},
        {"42", true},
        {"9007199254740991", true},
        {"-9007199254740991", true},
        {"1e3", true}, /* the integer 1000 */
        {"\"\"", true},
        {"\"x y \\u00e9\"", true},
        {"1.5", false},
        {"-0.25", false},
        {"9007199254740993", false},
        {"1e20", false},
        {"1e999", false},
        {"null", false},
        {"true", false},
        {"{}", false},
        {"[]", false},
        {"[1]", false},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}", cases[i].id);
        struct rpc_msg m;

        parse_str(text, &m);
        CHECK_INT_EQ(m.kind, cases[i].valid ? RPC_REQUEST : RPC_INVALID);
        if (!cases[i].valid) {
            CHECK_INT_EQ(m.error_code, RPC_INVALID_REQUEST);
            CHECK(m.id == NULL);
            CHECK_STR_CONTAINS(m.error_msg, "id");
        }
        if (cases[i].valid) {
            char *out = rpc_result(m.id, NULL);
            cJSON *v = check_line(out), *back;
            char *want = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%s}", cases[i].id);
            cJSON *w = cJSON_Parse(want);
            /* The echoed id equals the sent one, as JSON. */
            back = cJSON_GetObjectItemCaseSensitive(v, "id");
            CHECK(cJSON_Compare(back, cJSON_GetObjectItemCaseSensitive(w, "id"), true));
            CHECK(strstr(out, "e+") == NULL); /* integers are never in exponent form */
            cJSON_Delete(v);
            cJSON_Delete(w);
            free(want);
            free(out);
        }
        rpc_msg_free(&m);
        free(text);
    }
}

static void test_invalid_requests(void)
{
    struct rpc_msg m;

    /* Batches are refused as a whole, with no id to answer to. */
    expect("[]", RPC_INVALID, RPC_INVALID_REQUEST);
    parse_str("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", &m);
    CHECK_INT_EQ(m.kind, RPC_INVALID);
    CHECK_INT_EQ(m.error_code, RPC_INVALID_REQUEST);
    CHECK(m.id == NULL);
    CHECK_STR_CONTAINS(m.error_msg, "batch");
    rpc_msg_free(&m);

    /* Not an object. */
    expect("1", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("\"ping\"", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("null", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("true", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{}", RPC_INVALID, RPC_INVALID_REQUEST);

    /* jsonrpc must be exactly "2.0"; the id is still read for the answer. */
    parse_str("{\"id\":9,\"method\":\"ping\"}", &m);
    CHECK_INT_EQ(m.kind, RPC_INVALID);
    CHECK_INT_EQ(m.error_code, RPC_INVALID_REQUEST);
    CHECK(cJSON_IsNumber(m.id) && m.id->valuedouble == 9);
    CHECK_STR_CONTAINS(m.error_msg, "jsonrpc");
    rpc_msg_free(&m);
    expect("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"ping\"}", RPC_INVALID, RPC_INVALID_REQUEST);

    /* method must be a string. */
    parse_str("{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":5}", &m);
    CHECK_INT_EQ(m.kind, RPC_INVALID);
    CHECK_INT_EQ(m.error_code, RPC_INVALID_REQUEST);
    CHECK_STR_EQ(cJSON_GetStringValue(m.id), "q");
    CHECK_STR_CONTAINS(m.error_msg, "method");
    rpc_msg_free(&m);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0\",\"method\":[\"x\"]}", RPC_INVALID, RPC_INVALID_REQUEST);
    /* Neither a method nor an answer. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":1}", RPC_INVALID, RPC_INVALID_REQUEST);

    /* params must be structured. */
    parse_str("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\",\"params\":\"s\"}", &m);
    CHECK_INT_EQ(m.kind, RPC_INVALID);
    CHECK_INT_EQ(m.error_code, RPC_INVALID_REQUEST);
    CHECK(m.id != NULL);
    CHECK_STR_CONTAINS(m.error_msg, "params");
    rpc_msg_free(&m);
    expect("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\",\"params\":null}", RPC_INVALID,
           RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}", RPC_INVALID, RPC_INVALID_REQUEST);

    /* A null id is not a notification: it is an invalid request. */
    parse_str("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", &m);
    CHECK_INT_EQ(m.kind, RPC_INVALID);
    CHECK_STR_CONTAINS(m.error_msg, "null");
    rpc_msg_free(&m);
}

static void test_parse_errors(void)
{
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "{\"jsonrpc\":\"2.0\",",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}{}",
        "{} {}",
        "{'a':1}",
        "nul",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "\"unterminated",
    };
    /*
     * cJSON reads a few non-standard forms (a leading byte-order mark, a
     * leading zero, raw control characters inside strings). They are
     * harmless here: the message is then judged on its members.
     */
    static const char *const lenient[] = {
        "\xef\xbb\xbf{}",
        "{\"a\":01}",
        "{\"a\":\"\x01\"}",
    };
    struct rpc_msg m;
    char *deep;
    size_t depth = 5000;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], RPC_INVALID, RPC_PARSE_ERROR);
    for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++)
        expect(lenient[i], RPC_INVALID, RPC_INVALID_REQUEST);

    /* Invalid UTF-8 (a lone continuation byte, an overlong form) is a parse error. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":\"\x80\",\"method\":\"ping\"}", RPC_INVALID,
           RPC_PARSE_ERROR);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}", RPC_INVALID, RPC_PARSE_ERROR);

    /* Parse errors never carry an id. */
    parse_str("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"", &m);
    CHECK_INT_EQ(m.error_code, RPC_PARSE_ERROR);
    CHECK(m.id == NULL);
    rpc_msg_free(&m);

    /* Only len bytes are read: the rest of the buffer does not matter. */
    {
        const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}GARBAGE";
        rpc_parse(text, strlen(text) - 7, &m);
        CHECK_INT_EQ(m.kind, RPC_REQUEST);
        rpc_msg_free(&m);
        rpc_parse(text, strlen(text), &m);
        CHECK_INT_EQ(m.error_code, RPC_PARSE_ERROR);
        rpc_msg_free(&m);
    }
    /* An embedded NUL ends nothing: what follows it is trailing data. */
    {
        static const char text[] = "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\0{}";
        rpc_parse(text, sizeof text - 1, &m);
        CHECK_INT_EQ(m.kind, RPC_INVALID);
        CHECK_INT_EQ(m.error_code, RPC_PARSE_ERROR);
        rpc_msg_free(&m);
    }
    rpc_parse(NULL, 0, &m);
    CHECK_INT_EQ(m.error_code, RPC_PARSE_ERROR);
    rpc_msg_free(&m);

    /* Nesting beyond cJSON's limit is refused, not a crash. */
    deep = xmalloc(2 * depth + 64);
    strcpy(deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"a\":");
    {
        size_t o = strlen(deep);
        for (size_t i = 0; i < depth; i++)
            deep[o++] = '[';
        for (size_t i = 0; i < depth; i++)
            deep[o++] = ']';
        strcpy(deep + o, "}}");
    }
    expect(deep, RPC_INVALID, RPC_PARSE_ERROR);
    free(deep);
}

static void test_responses(void)
{
    struct rpc_msg m;

    parse_str("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", &m);
    CHECK_INT_EQ(m.kind, RPC_RESPONSE);
    CHECK(m.method == NULL);
    rpc_msg_free(&m);
    expect("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"error\":{\"code\":-1,\"message\":\"x\"}}",
           RPC_RESPONSE, 0);
    /* An error answer the peer could not tie to a request: still an answer. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
           RPC_RESPONSE, 0);
    /* Both, or a result without a usable id: invalid. */
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", RPC_INVALID,
           RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0\",\"result\":{}}", RPC_INVALID, RPC_INVALID_REQUEST);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":{}}", RPC_INVALID, RPC_INVALID_REQUEST);
}

static void test_builders(void)
{
    cJSON *id = cJSON_CreateString("a\"b\nc"), *v, *e, *data;
    char *out;

    /* A result: the id as sent, NULL result means {}. */
    out = rpc_result(id, NULL);
    v = check_line(out);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "id")), "a\"b\nc");
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(v, "result")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v, "result")), 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(v, "error") == NULL);
    cJSON_Delete(v);
    free(out);

    /* A result object is taken over and written compactly on one line. */
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "text", "line one\nline two\r\n\ttab \xe2\x82\xac");
    out = rpc_result(id, v);
    v = check_line(out);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(v, "result"), "text")),
                 "line one\nline two\r\n\ttab \xe2\x82\xac");
    cJSON_Delete(v);
    free(out);
    cJSON_Delete(id);

    /* An integer id is written as an integer. */
    id = cJSON_CreateNumber(42);
    out = rpc_result(id, NULL);
    CHECK_STR_EQ(out, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{}}");
    free(out);
    cJSON_Delete(id);
    id = cJSON_CreateNumber(-9007199254740991.0);
    out = rpc_error(id, RPC_INTERNAL_ERROR, "boom", NULL);
    CHECK_STR_CONTAINS(out, "\"id\":-9007199254740991,");
    free(out);
    cJSON_Delete(id);

    /*
     * Errors: code, message, optional data; no id member when there is none
     * (MCP's schema allows leaving it out, never null), nor for an id that
     * is not a valid one.
     */
    out = rpc_error(NULL, RPC_PARSE_ERROR, "Parse error", NULL);
    CHECK_STR_EQ(out, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":"
                      "\"Parse error\"}}");
    free(out);
    id = cJSON_CreateTrue();
    out = rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request", NULL);
    CHECK(strstr(out, "\"id\"") == NULL);
    free(out);
    cJSON_Delete(id);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "uri", "x://y");
    id = cJSON_CreateString("r1");
    out = rpc_error(id, MCP_RESOURCE_NOT_FOUND, "Resource not found\nsecond line", data);
    v = check_line(out);
    e = cJSON_GetObjectItemCaseSensitive(v, "error");
    CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(e, "code")->valueint, -32002);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message")),
                 "Resource not found\nsecond line");
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(e, "data"), "uri")),
                 "x://y");
    CHECK(cJSON_GetObjectItemCaseSensitive(v, "result") == NULL);
    cJSON_Delete(v);
    free(out);
    cJSON_Delete(id);
    out = rpc_error(NULL, RPC_INVALID_PARAMS, NULL, NULL);
    CHECK_STR_CONTAINS(out, "\"message\":\"\"");
    free(out);

    /* Notifications: no id; NULL params means {}. */
    out = rpc_notification("notifications/message", NULL);
    CHECK_STR_EQ(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}");
    free(out);
    v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "progress", 0.5);
    out = rpc_notification("notifications/progress", v);
    v = check_line(out);
    CHECK(cJSON_GetObjectItemCaseSensitive(v, "id") == NULL);
    CHECK_DBL_NEAR(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "params"), "progress")
            ->valuedouble,
        0.5, 1e-9);
    cJSON_Delete(v);
    free(out);
}

/* What a parsed id looks like once echoed: the round trip a server does. */
static void test_echo_round_trip(void)
{
    static const char *const texts[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":-1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":\"\\u0000x\",\"method\":\"ping\"}",
    };

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct rpc_msg m;
        cJSON *sent = cJSON_Parse(texts[i]), *v;
        char *out;

        parse_str(texts[i], &m);
        CHECK_INT_EQ(m.kind, RPC_REQUEST);
        out = rpc_error(m.id, RPC_METHOD_NOT_FOUND, "Method not found", NULL);
        v = check_line(out);
        CHECK(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(v, "id"),
                            cJSON_GetObjectItemCaseSensitive(sent, "id"), true));
        cJSON_Delete(v);
        cJSON_Delete(sent);
        free(out);
        rpc_msg_free(&m);
    }
}

/* The builders' notifications and responses are told apart without parsing. */
static void test_is_notification(void)
{
    cJSON *id = cJSON_CreateNumber(7);
    char *note = rpc_notification("notifications/progress", NULL);
    char *res = rpc_result(id, NULL);
    char *error = rpc_error(id, RPC_INTERNAL_ERROR, "x", NULL);
    char *noid = rpc_error(NULL, RPC_PARSE_ERROR, "x", NULL);

    CHECK(rpc_is_notification(note));
    CHECK(!rpc_is_notification(res));
    CHECK(!rpc_is_notification(error));
    CHECK(!rpc_is_notification(noid)); /* an error without an id is still a response */
    free(note);
    free(res);
    free(error);
    free(noid);
    cJSON_Delete(id);
}

int main(void)
{
    xmalloc_init_json();
    RUN(test_requests_and_notifications);
    RUN(test_is_notification);
    RUN(test_ids);
    RUN(test_invalid_requests);
    RUN(test_parse_errors);
    RUN(test_responses);
    RUN(test_builders);
    RUN(test_echo_round_trip);
    return check_report();
}
