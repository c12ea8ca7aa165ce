/*
 * test_mcp.c: the MCP engine through mcp_session_handle, with a fake
 * registry defined here: lifecycle and version negotiation, every method,
 * pagination, every error code, read-only refusal, argument validation,
 * progress, logging levels, cancellation and concurrency across threads,
 * and hostile params.
 *
 * Each message the session sends is captured (a copy per message) in a
 * struct capture; helpers parse the last one, the response.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "harness.h"
#include "mcp.h"
#include "xmalloc.h"

/* ---- capturing what the session sends ---- */

struct capture {
    pthread_mutex_t lock;
    char **msg;
    size_t n, cap;
};

static struct capture cap0 = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void cap_send(void *arg, const char *json)
{
    struct capture *c = arg;

    pthread_mutex_lock(&c->lock);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->msg = xreallocarray(c->msg, c->cap, sizeof *c->msg);
    }
    c->msg[c->n++] = xstrdup(json);
    pthread_mutex_unlock(&c->lock);
}

static void cap_clear(struct capture *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        free(c->msg[i]);
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

static void cap_free(struct capture *c)
{
    cap_clear(c);
    free(c->msg);
    c->msg = NULL;
    c->cap = 0;
}

static size_t cap_count(struct capture *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/*
 * Message i, parsed (caller deletes), or NULL when missing, not JSON or not
 * on one line. No CHECK here: worker threads call it, and the callers'
 * checks see the NULL.
 */
static cJSON *cap_get(struct capture *c, size_t i)
{
    cJSON *v = NULL;

    pthread_mutex_lock(&c->lock);
    if (i < c->n && strchr(c->msg[i], '\n') == NULL)
        v = cJSON_Parse(c->msg[i]);
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* How many captured messages contain needle. */
static size_t cap_grep(struct capture *c, const char *needle)
{
    size_t k = 0;

    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (strstr(c->msg[i], needle) != NULL)
            k++;
    pthread_mutex_unlock(&c->lock);
    return k;
}

/* ---- talking to a session ---- */

static int next_id = 1000;

/* Handle text on s (no store) and return the last message sent, parsed, or NULL. */
static cJSON *handle_on(struct mcp_session *s, struct store *st, struct capture *c,
                        const char *text, enum rpc_kind *kind)
{
    enum rpc_kind k;

    cap_clear(c);
    k = mcp_session_handle(s, st, text, strlen(text), cap_send, c);
    if (kind != NULL)
        *kind = k;
    return cap_count(c) ? cap_get(c, cap_count(c) - 1) : NULL;
}

static cJSON *handle(struct mcp_session *s, const char *text)
{
    return handle_on(s, NULL, &cap0, text, NULL);
}

/* Send a request with a fresh integer id; params is JSON text or NULL. */
static cJSON *request(struct mcp_session *s, const char *method, const char *params)
{
    char *text = params != NULL ? xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\","
                                            "\"params\":%s}",
                                            ++next_id, method, params)
                                : xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}",
                                            ++next_id, method);
    cJSON *r = handle(s, text);

    CHECK(r != NULL);
    if (r != NULL)
        CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble, next_id);
    free(text);
    return r;
}

static const cJSON *get(const cJSON *v, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(v, name);
}

static const cJSON *result_of(const cJSON *msg)
{
    const cJSON *r = get(msg, "result");

    if (r == NULL)
        fprintf(stderr, "  no result in: %s\n", msg ? cJSON_PrintUnformatted(msg) : "(none)");
    return r;
}

static int code_of(const cJSON *msg)
{
    const cJSON *e = get(msg, "error");

    return e != NULL ? get(e, "code")->valueint : 0;
}

static const char *message_of(const cJSON *msg)
{
    return cJSON_GetStringValue(get(get(msg, "error"), "message"));
}

static const char *str(const cJSON *v, const char *name)
{
    return cJSON_GetStringValue(get(v, name));
}

/* The text of a tool result's first content block. */
static const char *tool_text(const cJSON *msg)
{
    const cJSON *content = get(result_of(msg), "content");

    return str(cJSON_GetArrayItem(content, 0), "text");
}

static bool tool_is_error(const cJSON *msg)
{
    return cJSON_IsTrue(get(result_of(msg), "isError"));
}

/* Expect an error with code, whose message contains want (when not NULL). */
static void expect_error(struct mcp_session *s, const char *method, const char *params, int code,
                         const char *want)
{
    cJSON *r = request(s, method, params);

    CHECK_INT_EQ(code_of(r), code);
    if (code_of(r) != code)
        fprintf(stderr, "  for %s %s\n", method, params ? params : "");
    if (want != NULL)
        CHECK_STR_CONTAINS(message_of(r), want);
    CHECK(get(r, "result") == NULL);
    cJSON_Delete(r);
}

/* ---- the fake registry ---- */

static atomic_int cancel_seen;  /* wait_cancel saw mcp_call_cancelled */
static atomic_int wait_started; /* wait_cancel is running */
static atomic_int progress_after_cancel;
static atomic_int store_mismatch;    /* wait_cancel saw another store than expected_store */
static atomic_int store_interrupted; /* its store query failed with ERR_CANCELLED */
static struct store *expected_store;

static int echo_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    cJSON *s = cJSON_CreateObject();

    (void)c, (void)err;
    cJSON_AddStringToObject(s, "text", cJSON_GetObjectItemCaseSensitive(args, "text")->valuestring);
    mcp_result_structured(result, s, "Echo:");
    return 0;
}

static int progress_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)args, (void)err;
    mcp_call_progress(c, 1, 3, NULL);
    mcp_call_progress(c, 1, 3, "same again: dropped");
    mcp_call_progress(c, 0.5, 3, "lower: dropped");
    mcp_call_progress(c, NAN, 3, "not a number: dropped");
    mcp_call_progress(c, 2, 3, "two");
    mcp_call_progress(c, 3, 0, "three, total unknown");
    CHECK(!mcp_call_cancelled(c));
    mcp_result_text(result, "done");
    return 0;
}

static int count_row(const struct delivery_row *row, void *arg)
{
    (void)row, (void)arg;
    return 0;
}

static int wait_cancel_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)args;
    if (mcp_call_store(c) != expected_store)
        atomic_store(&store_mismatch, 1);
    mcp_call_progress(c, 1, 0, "started");
    atomic_store(&wait_started, 1);
    for (int i = 0; i < 2000 && !mcp_call_cancelled(c); i++)
        sleep_ms(5);
    if (mcp_call_cancelled(c)) {
        struct err e = {0};
        atomic_store(&cancel_seen, 1);
        /* The engine set the store to stop queries of a cancelled request. */
        if (mcp_call_store(c) != NULL &&
            store_list_deliveries(mcp_call_store(c), NULL, 1000, count_row, NULL, &e) == -1 &&
            e.code == ERR_CANCELLED)
            atomic_store(&store_interrupted, 1);
        /* Nothing more goes out for a cancelled request. */
        mcp_call_progress(c, 2, 0, "after cancel");
        mcp_call_log(c, "emergency", "test", cJSON_CreateString("after cancel"));
        atomic_store(&progress_after_cancel, 1);
        return err_set(err, ERR_CANCELLED, "cancelled");
    }
    mcp_result_text(result, "never cancelled");
    return 0;
}

static int resolve_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)err;
    CHECK(!mcp_call_read_only(c));
    char *t = xasprintf("resolved %s", cJSON_GetObjectItemCaseSensitive(args, "id")->valuestring);
    mcp_result_text(result, t);
    free(t);
    return 0;
}

static int boom_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)result;
    return err_set(err, ERR_INTERNAL, "an assertion about the schema failed");
}

static int missing_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args;
    mcp_result_text(result, "partial output that must not survive");
    return err_set(err, ERR_NOT_FOUND, "No call abc; use search_calls to find call ids.");
}

static int logger_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    static const char *const levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
    (void)args, (void)err;
    for (size_t i = 0; i < 8; i++)
        mcp_call_log(c, levels[i], "fake", cJSON_CreateString(levels[i]));
    mcp_call_log(c, "loud", "fake", cJSON_CreateString("unknown level"));
    mcp_call_log(c, NULL, NULL, NULL);
    mcp_call_log(c, "emergency", NULL, NULL);
    mcp_result_text(result, "logged");
    return 0;
}

static int bare_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)result, (void)err;
    return 0;
}

static int ctx_call(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    cJSON *s = cJSON_CreateObject();

    (void)args, (void)err;
    cJSON_AddStringToObject(s, "app", (const char *)mcp_call_app(c));
    cJSON_AddBoolToObject(s, "key", mcp_call_cursor_key(c) != NULL);
    cJSON_AddBoolToObject(s, "readOnly", mcp_call_read_only(c));
    mcp_result_structured(result, s, NULL);
    mcp_result_text(result, "second block");
    return 0;
}

static const struct mcp_tool fake_tools[] = {
    {"echo", "Echo", "Say the text back.",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"],"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}", true, false, true,
     false, false, echo_call},
    {"progress", NULL, "Reports progress.", "{\"type\":\"object\"}", NULL, true, false, true, false,
     false, progress_call},
    {"wait_cancel", "Wait", "Waits until cancelled.", "{\"type\":\"object\"}", NULL, true, false,
     false, false, false, wait_cancel_call},
    {"resolve", "Resolve", "Marks a follow-up done.",
     "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}},\"required\":[\"id\"]}",
     NULL, false, false, true, true, false, resolve_call},
    {"boom", "Boom", "Fails inside.", "{\"type\":\"object\"}", NULL, true, false, true, false,
     false, boom_call},
    {"missing", "Missing", "Finds nothing.", "{\"type\":\"object\"}", NULL, true, false, true,
     false, false, missing_call},
    {"logger", "Logger", "Logs at every level.", "{\"type\":\"object\"}", NULL, true, false, true,
     false, false, logger_call},
    {"bare", "Bare", "Fills nothing.", "{\"type\":\"object\"}", NULL, true, false, true, false,
     false, bare_call},
    {"ctx", "Context", "Shows the call context.", "{\"type\":\"object\"}", NULL, false, true, false,
     false, false, ctx_call},
};

static int readme_read(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                       cJSON *contents, struct err *err)
{
    cJSON *o = cJSON_CreateObject();

    (void)c, (void)err;
    CHECK_INT_EQ(vars->n, 0);
    cJSON_AddStringToObject(o, "uri", uri);
    cJSON_AddStringToObject(o, "mimeType", "text/plain");
    cJSON_AddStringToObject(o, "text", "hello");
    cJSON_AddItemToArray(contents, o);
    return 0;
}

static int call_read(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                     cJSON *contents, struct err *err)
{
    const char *id = mcp_vars_get(vars, "call_id");
    cJSON *o;

    (void)c;
    CHECK(id != NULL);
    CHECK(mcp_vars_get(vars, "nope") == NULL);
    if (strcmp(id, "nope") == 0)
        return err_set(err, ERR_NOT_FOUND, "no such call");
    if (strcmp(id, "bad") == 0)
        return err_set(err, ERR_INVALID, "call ids are letters and digits");
    if (strcmp(id, "boom") == 0)
        return err_set(err, ERR_INTERNAL, "bug");
    if (strcmp(id, "busy") == 0)
        return err_set(err, ERR_BUSY, "the database is busy; try again");
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "uri", uri);
    cJSON_AddStringToObject(o, "mimeType", "application/json");
    cJSON_AddStringToObject(o, "text", id);
    cJSON_AddItemToArray(contents, o);
    return 0;
}

static int transcript_read(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                           cJSON *contents, struct err *err)
{
    cJSON *o = cJSON_CreateObject();
    char *t = xasprintf("transcript of %s", mcp_vars_get(vars, "call_id"));

    (void)c, (void)err;
    cJSON_AddStringToObject(o, "uri", uri);
    cJSON_AddStringToObject(o, "text", t);
    cJSON_AddItemToArray(contents, o);
    free(t);
    return 0;
}

static const struct mcp_resource fake_resources[] = {
    {"fake://calls/{call_id}/transcript", true, "transcript", "Transcript", "A call's transcript",
     "text/plain", transcript_read},
    {"fake://readme", false, "readme", "Read me", "About the fakes", "text/plain", readme_read},
    {"fake://calls/{call_id}", true, "call", "Call", "One call", "application/json", call_read},
};

static int fake_list_resources(struct mcp_call *c, const char *cursor, cJSON *list, char **next,
                               struct err *err)
{
    static const char *const first[] = {"fake://calls/a", "fake://calls/b"};
    (void)c;
    *next = NULL;
    if (cursor == NULL) {
        for (size_t i = 0; i < 2; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "uri", first[i]);
            cJSON_AddStringToObject(o, "name", first[i] + 13);
            cJSON_AddItemToArray(list, o);
        }
        *next = xstrdup("page2");
        return 0;
    }
    if (strcmp(cursor, "page2") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "uri", "fake://calls/c");
        cJSON_AddStringToObject(o, "name", "c");
        cJSON_AddItemToArray(list, o);
        return 0;
    }
    return err_set(err, ERR_INVALID, "bad continuation");
}

static int brief_get(struct mcp_call *c, const cJSON *arguments, cJSON *result, struct err *err)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(arguments, "call_id");
    const cJSON *style = cJSON_GetObjectItemCaseSensitive(arguments, "style");
    cJSON *msgs, *m, *content;
    char *text;

    (void)c;
    if (strcmp(id->valuestring, "nope") == 0)
        return err_set(err, ERR_NOT_FOUND, "No call nope");
    if (strcmp(id->valuestring, "busy") == 0)
        return err_set(err, ERR_BUSY, "the database is busy");
    text = xasprintf("Brief call %s in a %s style", id->valuestring,
                     style ? style->valuestring : "plain");
    cJSON_AddStringToObject(result, "description", "A briefing");
    msgs = cJSON_AddArrayToObject(result, "messages");
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    content = cJSON_AddObjectToObject(m, "content");
    cJSON_AddStringToObject(content, "type", "text");
    cJSON_AddStringToObject(content, "text", text);
    cJSON_AddItemToArray(msgs, m);
    free(text);
    return 0;
}

static int plain_get(struct mcp_call *c, const cJSON *arguments, cJSON *result, struct err *err)
{
    (void)c, (void)arguments, (void)result, (void)err;
    return 0;
}

static const struct mcp_prompt_arg brief_args[] = {
    {"call_id", "The call to brief", true},
    {"style", "short or long", false},
};

static const struct mcp_prompt fake_prompts[] = {
    {"brief", "Briefing", "Brief a call", brief_args, 2, brief_get},
    {"plain", NULL, "No arguments", NULL, 0, plain_get},
};

static int fake_complete(struct mcp_call *c, const char *ref_type, const char *ref,
                         const char *argument, const char *value, const cJSON *context_args,
                         cJSON *values, bool *has_more, struct err *err)
{
    (void)c, (void)ref;
    if (strcmp(argument, "explode") == 0)
        return err_set(err, ERR_INVALID, "cannot complete that");
    if (strcmp(ref_type, "ref/resource") == 0) {
        cJSON_AddItemToArray(values, cJSON_CreateString("r1"));
        cJSON_AddItemToArray(values, cJSON_CreateNumber(2)); /* dropped: not a string */
        cJSON_AddItemToArray(values, cJSON_CreateString("r2"));
        return 0;
    }
    if (context_args != NULL && cJSON_GetObjectItemCaseSensitive(context_args, "style") != NULL)
        cJSON_AddItemToArray(values, cJSON_CreateString("with-context"));
    for (int i = 0; i < 150; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%03d", i);
        if (strncmp(id, value, strlen(value)) == 0)
            cJSON_AddItemToArray(values, cJSON_CreateString(id));
    }
    *has_more = false;
    return 0;
}

static const struct mcp_registry reg_full = {
    .tools = fake_tools,
    .ntools = sizeof fake_tools / sizeof fake_tools[0],
    .resources = fake_resources,
    .nresources = sizeof fake_resources / sizeof fake_resources[0],
    .list_resources = fake_list_resources,
    .prompts = fake_prompts,
    .nprompts = sizeof fake_prompts / sizeof fake_prompts[0],
    .complete = fake_complete,
    .resources_subscribe = true,
};

/* No subscriptions, no completion, no extra resources. */
static const struct mcp_registry reg_min = {
    .tools = fake_tools,
    .ntools = 2,
    .resources = fake_resources,
    .nresources = 2,
};

static struct mcp_tool many_tools[120];
static char many_names[120][16];
static struct mcp_registry reg_many;

static struct mcp_server *server(const struct mcp_registry *reg, bool read_only)
{
    struct mcp_server_opts o = {
        .name = "phonely-mcp-test",
        .title = "Phonely test",
        .version = "9.9.9",
        .instructions = "Use the fakes.",
        .registry = reg,
        .read_only = read_only,
        .app = (void *)"the-app",
    };
    return mcp_server_new(&o);
}

static const char init_msg[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
    "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}";

/* A session past initialize and notifications/initialized. */
static struct mcp_session *ready(struct mcp_server *srv)
{
    struct mcp_session *s = mcp_session_new(srv);
    cJSON *r = handle(s, init_msg);

    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    CHECK(r == NULL);
    CHECK(mcp_session_initialized(s));
    return s;
}

/* ---- tests ---- */

static void test_lifecycle(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = mcp_session_new(srv);
    enum rpc_kind kind;
    cJSON *r;
    const cJSON *res, *si;

    CHECK(!mcp_session_initialized(s));
    CHECK(mcp_session_protocol(s) == NULL);

    /* Before initialize: ping works, unknown methods are -32601, the rest -32600. */
    r = request(s, "ping", NULL);
    CHECK(cJSON_IsObject(result_of(r)));
    CHECK_INT_EQ(cJSON_GetArraySize(result_of(r)), 0);
    cJSON_Delete(r);
    expect_error(s, "server/discover", "{}", RPC_METHOD_NOT_FOUND, "Method not found");
    expect_error(s, "tools/list", NULL, RPC_INVALID_REQUEST, "send initialize first");
    expect_error(s, "tools/call", "{\"name\":\"echo\"}", RPC_INVALID_REQUEST, "not initialized");
    expect_error(s, "logging/setLevel", "{\"level\":\"debug\"}", RPC_INVALID_REQUEST, NULL);
    /* Notifications are never answered, before or after. */
    r = handle_on(s, NULL, &cap0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                  &kind);
    CHECK(r == NULL);
    CHECK_INT_EQ(kind, RPC_NOTIFICATION);
    CHECK(!mcp_session_initialized(s));

    /* initialize: echo a supported version. */
    r = handle_on(s, NULL, &cap0,
                  "{\"jsonrpc\":\"2.0\",\"id\":\"init\",\"method\":\"initialize\",\"params\":{"
                  "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                  "\"clientInfo\":{\"name\":\"c\\u0007x\",\"version\":\"1\"}}}",
                  &kind);
    CHECK_INT_EQ(kind, RPC_REQUEST);
    CHECK_STR_EQ(str(r, "id"), "init");
    res = result_of(r);
    CHECK_STR_EQ(str(res, "protocolVersion"), "2025-06-18");
    si = get(res, "serverInfo");
    CHECK_STR_EQ(str(si, "name"), "phonely-mcp-test");
    CHECK_STR_EQ(str(si, "title"), "Phonely test");
    CHECK_STR_EQ(str(si, "version"), "9.9.9");
    CHECK_STR_EQ(str(res, "instructions"), "Use the fakes.");
    CHECK(cJSON_IsObject(get(res, "capabilities")));
    cJSON_Delete(r);
    CHECK(mcp_session_initialized(s));
    CHECK_STR_EQ(mcp_session_protocol(s), "2025-06-18");

    /* A second initialize is refused and changes nothing. */
    expect_error(s, "initialize", "{\"protocolVersion\":\"2025-03-26\"}", RPC_INVALID_REQUEST,
                 "already initialized");
    CHECK_STR_EQ(mcp_session_protocol(s), "2025-06-18");

    /* Requests are served now; notifications/initialized is accepted. */
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    CHECK(r == NULL);
    r = request(s, "tools/list", "{}");
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    r = request(s, "ping", "{\"_meta\":{\"progressToken\":1}}");
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    mcp_session_free(s);

    /* Unknown, missing, and each supported version. */
    {
        static const struct {
            const char *params;
            const char *want;
        } cases[] = {
            {"{\"protocolVersion\":\"1999-01-01\"}", "2025-11-25"},
            {"{\"protocolVersion\":\"2024-11-05\"}", "2025-11-25"},
            {"{}", "2025-11-25"},
            {NULL, "2025-11-25"},
            {"{\"protocolVersion\":null}", "2025-11-25"},
            {"{\"protocolVersion\":\"2025-03-26\"}", "2025-03-26"},
            {"{\"protocolVersion\":\"2025-06-18\"}", "2025-06-18"},
            {"{\"protocolVersion\":\"2025-11-25\"}", "2025-11-25"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            s = mcp_session_new(srv);
            r = request(s, "initialize", cases[i].params);
            CHECK_STR_EQ(str(result_of(r), "protocolVersion"), cases[i].want);
            CHECK_STR_EQ(mcp_session_protocol(s), cases[i].want);
            cJSON_Delete(r);
            mcp_session_free(s);
        }
    }
    /* Wrong types in initialize are invalid params, and leave the session new. */
    s = mcp_session_new(srv);
    expect_error(s, "initialize", "{\"protocolVersion\":20251125}", RPC_INVALID_PARAMS,
                 "protocolVersion must be a string");
    expect_error(s, "initialize", "{\"clientInfo\":\"me\"}", RPC_INVALID_PARAMS, "clientInfo");
    expect_error(s, "initialize", "[\"2025-11-25\"]", RPC_INVALID_PARAMS,
                 "params must be an object");
    CHECK(!mcp_session_initialized(s));
    mcp_session_free(s);
    mcp_session_free(NULL);
    mcp_server_free(srv);
    mcp_server_free(NULL);
}

static void test_capabilities(void)
{
    struct mcp_server *srv = server(&reg_full, false), *min = server(&reg_min, false);
    struct mcp_session *s = mcp_session_new(srv), *m = mcp_session_new(min);
    cJSON *r = handle(s, init_msg);
    const cJSON *caps = get(result_of(r), "capabilities");

    CHECK(cJSON_IsFalse(get(get(caps, "tools"), "listChanged")));
    CHECK(cJSON_IsTrue(get(get(caps, "resources"), "subscribe")));
    CHECK(cJSON_IsFalse(get(get(caps, "resources"), "listChanged")));
    CHECK(cJSON_IsFalse(get(get(caps, "prompts"), "listChanged")));
    CHECK(cJSON_IsObject(get(caps, "logging")));
    CHECK_INT_EQ(cJSON_GetArraySize(get(caps, "logging")), 0);
    CHECK(cJSON_IsObject(get(caps, "completions")));
    CHECK_INT_EQ(cJSON_GetArraySize(caps), 5);
    cJSON_Delete(r);

    /* Without subscriptions or completion: not advertised, and -32601. */
    r = handle(m, init_msg);
    caps = get(result_of(r), "capabilities");
    CHECK(cJSON_IsFalse(get(get(caps, "resources"), "subscribe")));
    CHECK(get(caps, "completions") == NULL);
    cJSON_Delete(r);
    expect_error(m, "resources/subscribe", "{\"uri\":\"fake://readme\"}", RPC_METHOD_NOT_FOUND,
                 NULL);
    expect_error(m, "resources/unsubscribe", "{\"uri\":\"fake://readme\"}", RPC_METHOD_NOT_FOUND,
                 NULL);
    expect_error(m, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"x\"},\"argument\":{\"name\":\"a\","
                 "\"value\":\"\"}}",
                 RPC_METHOD_NOT_FOUND, NULL);
    /* No list_resources: just the fixed ones, no cursor. */
    r = request(m, "resources/list", NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(get(result_of(r), "resources")), 1);
    CHECK(get(result_of(r), "nextCursor") == NULL);
    cJSON_Delete(r);
    r = request(m, "prompts/list", NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(get(result_of(r), "prompts")), 0);
    cJSON_Delete(r);
    mcp_session_free(s);
    mcp_session_free(m);
    mcp_server_free(srv);
    mcp_server_free(min);
}

static const cJSON *find_named(const cJSON *list, const char *name)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list)
    {
        if (strcmp(str(e, "name"), name) == 0)
            return e;
    }
    return NULL;
}

static void test_tools_list(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r = request(s, "tools/list", NULL);
    const cJSON *tools = get(result_of(r), "tools"), *t, *a;

    CHECK_INT_EQ(cJSON_GetArraySize(tools), (int)reg_full.ntools);
    CHECK(get(result_of(r), "nextCursor") == NULL);
    /* Order is the table's. */
    CHECK_STR_EQ(str(cJSON_GetArrayItem(tools, 0), "name"), "echo");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(tools, 3), "name"), "resolve");

    t = find_named(tools, "echo");
    CHECK_STR_EQ(str(t, "title"), "Echo");
    CHECK_STR_EQ(str(t, "description"), "Say the text back.");
    CHECK_STR_EQ(str(get(t, "inputSchema"), "type"), "object");
    CHECK(cJSON_IsArray(get(get(t, "inputSchema"), "required")));
    CHECK_STR_EQ(str(get(t, "outputSchema"), "type"), "object");
    a = get(t, "annotations");
    CHECK_STR_EQ(str(a, "title"), "Echo");
    CHECK(cJSON_IsTrue(get(a, "readOnlyHint")));
    CHECK(get(a, "destructiveHint") == NULL);
    CHECK(cJSON_IsTrue(get(a, "idempotentHint")));
    CHECK(cJSON_IsFalse(get(a, "openWorldHint")));

    t = find_named(tools, "resolve");
    a = get(t, "annotations");
    CHECK(get(t, "outputSchema") == NULL);
    CHECK(cJSON_IsFalse(get(a, "readOnlyHint")));
    CHECK(cJSON_IsFalse(get(a, "destructiveHint")));
    CHECK(cJSON_IsTrue(get(a, "idempotentHint")));

    t = find_named(tools, "ctx");
    CHECK(cJSON_IsTrue(get(get(t, "annotations"), "destructiveHint")));
    CHECK(cJSON_IsFalse(get(get(t, "annotations"), "idempotentHint")));

    t = find_named(tools, "progress");
    CHECK(get(t, "title") == NULL);
    CHECK(get(get(t, "annotations"), "title") == NULL);
    cJSON_Delete(r);
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_tools_pagination(void)
{
    struct mcp_server *srv, *other;
    struct mcp_session *s, *s2;
    char *cursor = NULL, *params;
    int seen = 0, pages = 0;
    cJSON *r;

    for (int i = 0; i < 120; i++) {
        snprintf(many_names[i], sizeof many_names[i], "tool_%03d", i);
        many_tools[i] = (struct mcp_tool){
            .name = many_names[i],
            .description = "A generated tool.",
            .input_schema = "{\"type\":\"object\"}",
            .read_only = true,
            .call = bare_call,
        };
    }
    reg_many = (struct mcp_registry){.tools = many_tools, .ntools = 120};
    srv = server(&reg_many, true);
    other = server(&reg_many, true); /* same tables, another key */
    s = ready(srv);
    s2 = ready(other);

    do {
        const cJSON *tools, *next;
        params = cursor ? xasprintf("{\"cursor\":\"%s\"}", cursor) : xstrdup("{}");
        r = request(s, "tools/list", params);
        tools = get(result_of(r), "tools");
        CHECK_INT_EQ(cJSON_GetArraySize(tools), pages < 2 ? 50 : 20);
        for (int i = 0; i < cJSON_GetArraySize(tools); i++) {
            char want[16];
            snprintf(want, sizeof want, "tool_%03d", seen + i);
            CHECK_STR_EQ(str(cJSON_GetArrayItem(tools, i), "name"), want);
        }
        seen += cJSON_GetArraySize(tools);
        next = get(result_of(r), "nextCursor");
        free(cursor);
        cursor = cJSON_IsString(next) ? xstrdup(next->valuestring) : NULL;
        if (pages == 0 && cursor != NULL) {
            /* The same cursor from another server (another key) is refused. */
            char *p2 = xasprintf("{\"cursor\":\"%s\"}", cursor);
            expect_error(s2, "tools/list", p2, RPC_INVALID_PARAMS, "Invalid cursor");
            /* Used for another list, it is refused too. */
            expect_error(s, "prompts/list", p2, RPC_INVALID_PARAMS, "cursor");
            expect_error(s, "resources/templates/list", p2, RPC_INVALID_PARAMS, "cursor");
            expect_error(s, "resources/list", p2, RPC_INVALID_PARAMS, "cursor");
            free(p2);
            /* Tampered: one character changed. */
            {
                char *t = xstrdup(cursor);
                t[strlen(t) / 2] = t[strlen(t) / 2] == 'A' ? 'B' : 'A';
                p2 = xasprintf("{\"cursor\":\"%s\"}", t);
                expect_error(s, "tools/list", p2, RPC_INVALID_PARAMS, "cursor");
                free(p2);
                free(t);
            }
        }
        pages++;
        cJSON_Delete(r);
        free(params);
    } while (cursor != NULL && pages < 10);
    CHECK_INT_EQ(pages, 3);
    CHECK_INT_EQ(seen, 120);

    expect_error(s, "tools/list", "{\"cursor\":\"\"}", RPC_INVALID_PARAMS, "cursor");
    expect_error(s, "tools/list", "{\"cursor\":\"not-a-cursor\"}", RPC_INVALID_PARAMS, "cursor");
    expect_error(s, "tools/list", "{\"cursor\":5}", RPC_INVALID_PARAMS, "cursor must be a string");
    /* A null cursor is the first page. */
    r = request(s, "tools/list", "{\"cursor\":null}");
    CHECK_INT_EQ(cJSON_GetArraySize(get(result_of(r), "tools")), 50);
    cJSON_Delete(r);
    mcp_session_free(s);
    mcp_session_free(s2);
    mcp_server_free(srv);
    mcp_server_free(other);
}

static void test_tools_call(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r;
    const cJSON *res, *content;

    /* Success with structured content and its text mirror. */
    r = request(s, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"text\":\"hi\\nthere\"}}");
    res = result_of(r);
    CHECK(!tool_is_error(r));
    CHECK(get(res, "isError") == NULL);
    CHECK_STR_EQ(str(get(res, "structuredContent"), "text"), "hi\nthere");
    CHECK_STR_EQ(tool_text(r), "Echo:\n{\"text\":\"hi\\nthere\"}");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(get(res, "content"), 0), "type"), "text");
    cJSON_Delete(r);

    /* Unknown tool: a protocol error naming it. */
    expect_error(s, "tools/call", "{\"name\":\"nope\",\"arguments\":{}}", RPC_INVALID_PARAMS,
                 "Unknown tool: nope");
    /* Malformed calls. */
    expect_error(s, "tools/call", "{}", RPC_INVALID_PARAMS, "name");
    expect_error(s, "tools/call", NULL, RPC_INVALID_PARAMS, "name");
    expect_error(s, "tools/call", "{\"name\":5}", RPC_INVALID_PARAMS, "name must be a string");
    expect_error(s, "tools/call", "{\"name\":\"echo\",\"arguments\":\"text=hi\"}",
                 RPC_INVALID_PARAMS, "arguments must be an object");
    expect_error(s, "tools/call", "{\"name\":\"echo\",\"arguments\":[\"hi\"]}", RPC_INVALID_PARAMS,
                 "arguments must be an object");
    expect_error(s, "tools/call", "[\"echo\"]", RPC_INVALID_PARAMS, "params must be an object");

    /* Arguments that do not match the schema: a tool error the model can act on. */
    r = request(s, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"text\":5}}");
    CHECK(tool_is_error(r));
    CHECK_STR_CONTAINS(tool_text(r), "Invalid arguments for echo");
    CHECK_STR_CONTAINS(tool_text(r), "text");
    cJSON_Delete(r);
    r = request(s, "tools/call", "{\"name\":\"echo\"}"); /* absent arguments = {} */
    CHECK(tool_is_error(r));
    CHECK_STR_CONTAINS(tool_text(r), "text");
    cJSON_Delete(r);
    r = request(s, "tools/call", "{\"name\":\"echo\",\"arguments\":null}");
    CHECK(tool_is_error(r));
    cJSON_Delete(r);
    r = request(s, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"text\":\"a\",\"extra\":1}}");
    CHECK(tool_is_error(r));
    CHECK_STR_CONTAINS(tool_text(r), "extra");
    cJSON_Delete(r);

    /* A tool error: isError with the handler's message, nothing else kept. */
    r = request(s, "tools/call", "{\"name\":\"missing\"}");
    CHECK(tool_is_error(r));
    CHECK_STR_EQ(tool_text(r), "No call abc; use search_calls to find call ids.");
    CHECK_INT_EQ(cJSON_GetArraySize(get(result_of(r), "content")), 1);
    cJSON_Delete(r);
    /* An internal error: -32603, and the detail stays in our log. */
    expect_error(s, "tools/call", "{\"name\":\"boom\"}", RPC_INTERNAL_ERROR, "Internal error");
    r = request(s, "tools/call", "{\"name\":\"boom\"}");
    CHECK(strstr(message_of(r), "assertion") == NULL);
    cJSON_Delete(r);

    /* A tool that fills nothing still answers with a content array. */
    r = request(s, "tools/call", "{\"name\":\"bare\",\"arguments\":{}}");
    content = get(result_of(r), "content");
    CHECK(cJSON_IsArray(content));
    CHECK_INT_EQ(cJSON_GetArraySize(content), 0);
    cJSON_Delete(r);

    /* What handlers can reach. */
    r = request(s, "tools/call", "{\"name\":\"ctx\"}");
    res = get(result_of(r), "structuredContent");
    CHECK_STR_EQ(str(res, "app"), "the-app");
    CHECK(cJSON_IsTrue(get(res, "key")));
    CHECK(cJSON_IsFalse(get(res, "readOnly")));
    content = get(result_of(r), "content");
    CHECK_INT_EQ(cJSON_GetArraySize(content), 2);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(content, 1), "text"), "second block");
    cJSON_Delete(r);

    /* The write tool runs when writes are allowed. */
    r = request(s, "tools/call", "{\"name\":\"resolve\",\"arguments\":{\"id\":\"c1\"}}");
    CHECK(!tool_is_error(r));
    CHECK_STR_EQ(tool_text(r), "resolved c1");
    cJSON_Delete(r);

    /* String ids are echoed. */
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{"
                  "\"name\":\"bare\"}}");
    CHECK_STR_EQ(str(r, "id"), "abc");
    cJSON_Delete(r);
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_read_only(void)
{
    struct mcp_server *srv = server(&reg_full, true);
    struct mcp_session *s = ready(srv);
    cJSON *r;

    r = request(s, "tools/call", "{\"name\":\"resolve\",\"arguments\":{\"id\":\"c1\"}}");
    CHECK(tool_is_error(r));
    CHECK_STR_CONTAINS(tool_text(r), "read-only");
    CHECK_STR_CONTAINS(tool_text(r), "phonely-mcp stdio --allow-writes");
    CHECK_STR_CONTAINS(tool_text(r), "mcp_allow_writes yes");
    cJSON_Delete(r);
    /* Refused before its arguments are even looked at. */
    r = request(s, "tools/call", "{\"name\":\"resolve\",\"arguments\":{}}");
    CHECK(tool_is_error(r));
    CHECK_STR_CONTAINS(tool_text(r), "read-only");
    cJSON_Delete(r);
    /* Tools that do not write still run. */
    r = request(s, "tools/call", "{\"name\":\"ctx\"}");
    CHECK(!tool_is_error(r));
    CHECK(cJSON_IsTrue(get(get(result_of(r), "structuredContent"), "readOnly")));
    cJSON_Delete(r);
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_progress(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r, *m;
    const cJSON *p;

    r = request(s, "tools/call", "{\"name\":\"progress\",\"_meta\":{\"progressToken\":\"tok-1\"}}");
    CHECK_STR_EQ(tool_text(r), "done");
    cJSON_Delete(r);
    /* 1, 2, 3 (the rest dropped), then the response. */
    CHECK_INT_EQ(cap_count(&cap0), 4);
    for (size_t i = 0; i < 3; i++) {
        m = cap_get(&cap0, i);
        CHECK_STR_EQ(str(m, "method"), "notifications/progress");
        CHECK(get(m, "id") == NULL);
        p = get(m, "params");
        CHECK_STR_EQ(str(p, "progressToken"), "tok-1");
        CHECK_DBL_NEAR(get(p, "progress")->valuedouble, (double)(i + 1), 1e-9);
        if (i < 2)
            CHECK_DBL_NEAR(get(p, "total")->valuedouble, 3, 1e-9);
        else
            CHECK(get(p, "total") == NULL);
        if (i == 0)
            CHECK(get(p, "message") == NULL);
        if (i == 1)
            CHECK_STR_EQ(str(p, "message"), "two");
        cJSON_Delete(m);
    }

    /* An integer token is echoed as an integer. */
    r = request(s, "tools/call", "{\"name\":\"progress\",\"_meta\":{\"progressToken\":42}}");
    cJSON_Delete(r);
    CHECK_INT_EQ(cap_count(&cap0), 4);
    CHECK_INT_EQ(cap_grep(&cap0, "\"progressToken\":42,"), 3);

    /* No token, or one of the wrong type: no notifications. */
    static const char *const none[] = {
        "{\"name\":\"progress\"}",
        "{\"name\":\"progress\",\"_meta\":{}}",
        "{\"name\":\"progress\",\"_meta\":\"tok\"}",
        "{\"name\":\"progress\",\"_meta\":{\"progressToken\":{\"a\":1}}}",
        "{\"name\":\"progress\",\"_meta\":{\"progressToken\":1.5}}",
        "{\"name\":\"progress\",\"_meta\":{\"progressToken\":null}}",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        r = request(s, "tools/call", none[i]);
        CHECK_STR_EQ(tool_text(r), "done");
        CHECK_INT_EQ(cap_count(&cap0), 1);
        cJSON_Delete(r);
    }
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_logging(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r, *m;

    /* Default: warning and above. */
    r = request(s, "tools/call", "{\"name\":\"logger\"}");
    CHECK_STR_EQ(tool_text(r), "logged");
    cJSON_Delete(r);
    CHECK_INT_EQ(cap_count(&cap0), 5 + 1 + 1); /* 5 levels, emergency with null data, response */
    m = cap_get(&cap0, 0);
    CHECK_STR_EQ(str(m, "method"), "notifications/message");
    CHECK_STR_EQ(str(get(m, "params"), "level"), "warning");
    CHECK_STR_EQ(str(get(m, "params"), "logger"), "fake");
    CHECK_STR_EQ(str(get(m, "params"), "data"), "warning");
    cJSON_Delete(m);
    m = cap_get(&cap0, 5);
    CHECK_STR_EQ(str(get(m, "params"), "level"), "emergency");
    CHECK(get(get(m, "params"), "logger") == NULL);
    CHECK(cJSON_IsNull(get(get(m, "params"), "data")));
    cJSON_Delete(m);

    r = request(s, "logging/setLevel", "{\"level\":\"debug\"}");
    CHECK(cJSON_IsObject(result_of(r)));
    CHECK_INT_EQ(cJSON_GetArraySize(result_of(r)), 0);
    cJSON_Delete(r);
    r = request(s, "tools/call", "{\"name\":\"logger\"}");
    cJSON_Delete(r);
    CHECK_INT_EQ(cap_count(&cap0), 8 + 1 + 1);

    r = request(s, "logging/setLevel", "{\"level\":\"emergency\"}");
    cJSON_Delete(r);
    r = request(s, "tools/call", "{\"name\":\"logger\"}");
    cJSON_Delete(r);
    CHECK_INT_EQ(cap_count(&cap0), 1 + 1 + 1);
    CHECK_INT_EQ(cap_grep(&cap0, "\"level\":\"alert\""), 0);

    expect_error(s, "logging/setLevel", "{\"level\":\"verbose\"}", RPC_INVALID_PARAMS,
                 "level must be one of debug, info");
    expect_error(s, "logging/setLevel", "{\"level\":\"DEBUG\"}", RPC_INVALID_PARAMS, "level");
    expect_error(s, "logging/setLevel", "{}", RPC_INVALID_PARAMS, "level");
    expect_error(s, "logging/setLevel", "{\"level\":3}", RPC_INVALID_PARAMS,
                 "level must be a string");
    /* A refused level leaves the last good one. */
    r = request(s, "tools/call", "{\"name\":\"logger\"}");
    cJSON_Delete(r);
    CHECK_INT_EQ(cap_count(&cap0), 3);
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_resources(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r;
    const cJSON *list, *c0;
    char *params;

    /* The fixed ones, then the registry's first page, then its second. */
    r = request(s, "resources/list", NULL);
    list = get(result_of(r), "resources");
    CHECK_INT_EQ(cJSON_GetArraySize(list), 3);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "uri"), "fake://readme");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "name"), "readme");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "title"), "Read me");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "description"), "About the fakes");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "mimeType"), "text/plain");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 2), "uri"), "fake://calls/b");
    CHECK(cJSON_IsString(get(result_of(r), "nextCursor")));
    params = xasprintf("{\"cursor\":\"%s\"}", str(result_of(r), "nextCursor"));
    CHECK(strstr(params, "page2") == NULL); /* the registry's continuation is wrapped */
    cJSON_Delete(r);
    r = request(s, "resources/list", params);
    list = get(result_of(r), "resources");
    CHECK_INT_EQ(cJSON_GetArraySize(list), 1);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "uri"), "fake://calls/c");
    CHECK(get(result_of(r), "nextCursor") == NULL);
    cJSON_Delete(r);
    free(params);

    /* Templates. */
    r = request(s, "resources/templates/list", "{}");
    list = get(result_of(r), "resourceTemplates");
    CHECK_INT_EQ(cJSON_GetArraySize(list), 2);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 0), "uriTemplate"),
                 "fake://calls/{call_id}/transcript");
    CHECK(get(cJSON_GetArrayItem(list, 0), "uri") == NULL);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(list, 1), "name"), "call");
    cJSON_Delete(r);

    /* Reading: fixed first, then templates. */
    r = request(s, "resources/read", "{\"uri\":\"fake://readme\"}");
    c0 = cJSON_GetArrayItem(get(result_of(r), "contents"), 0);
    CHECK_STR_EQ(str(c0, "text"), "hello");
    CHECK_STR_EQ(str(c0, "uri"), "fake://readme");
    cJSON_Delete(r);
    r = request(s, "resources/read", "{\"uri\":\"fake://calls/abc-1\"}");
    c0 = cJSON_GetArrayItem(get(result_of(r), "contents"), 0);
    CHECK_STR_EQ(str(c0, "text"), "abc-1");
    CHECK_STR_EQ(str(c0, "mimeType"), "application/json");
    cJSON_Delete(r);
    r = request(s, "resources/read", "{\"uri\":\"fake://calls/abc-1/transcript\"}");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(get(result_of(r), "contents"), 0), "text"),
                 "transcript of abc-1");
    cJSON_Delete(r);
    /* Variables are percent-decoded. */
    r = request(s, "resources/read", "{\"uri\":\"fake://calls/a%2Fb%20c\"}");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(get(result_of(r), "contents"), 0), "text"), "a/b c");
    cJSON_Delete(r);
    r = request(s, "resources/read", "{\"uri\":\"fake://calls/100%\"}");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(get(result_of(r), "contents"), 0), "text"), "100%");
    cJSON_Delete(r);

    /* Not found: no match, or the handler says so; data carries the uri. */
    static const char *const missing[] = {
        "fake://other",
        "fake://calls/",
        "fake://calls/a/b",
        "fake://calls//transcript",
        "fake://calls/a/transcript/more",
        "fake://readme2",
        "FAKE://readme",
        "fake://calls/%00",
        "fake://calls/%ff",
        "fake://calls/nope",
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        params = xasprintf("{\"uri\":\"%s\"}", missing[i]);
        r = request(s, "resources/read", params);
        CHECK_INT_EQ(code_of(r), MCP_RESOURCE_NOT_FOUND);
        CHECK_STR_EQ(message_of(r), "Resource not found");
        CHECK_STR_EQ(str(get(get(r, "error"), "data"), "uri"), missing[i]);
        cJSON_Delete(r);
        free(params);
    }
    expect_error(s, "resources/read", "{\"uri\":\"fake://calls/bad\"}", RPC_INVALID_PARAMS,
                 "call ids are letters and digits");
    expect_error(s, "resources/read", "{\"uri\":\"fake://calls/boom\"}", RPC_INTERNAL_ERROR,
                 "Internal error");
    expect_error(s, "resources/read", "{\"uri\":\"fake://calls/busy\"}", RPC_INTERNAL_ERROR,
                 "busy");
    expect_error(s, "resources/read", "{}", RPC_INVALID_PARAMS, "uri");
    expect_error(s, "resources/read", "{\"uri\":7}", RPC_INVALID_PARAMS, "uri must be a string");

    /* Subscriptions are accepted when the registry says so. */
    r = request(s, "resources/subscribe", "{\"uri\":\"fake://calls/a\"}");
    CHECK(cJSON_IsObject(result_of(r)));
    cJSON_Delete(r);
    r = request(s, "resources/unsubscribe", "{\"uri\":\"fake://calls/a\"}");
    CHECK(cJSON_IsObject(result_of(r)));
    cJSON_Delete(r);
    expect_error(s, "resources/subscribe", "{}", RPC_INVALID_PARAMS, "uri");
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_prompts(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r;
    const cJSON *p, *args, *msgs;

    r = request(s, "prompts/list", NULL);
    p = find_named(get(result_of(r), "prompts"), "brief");
    CHECK_STR_EQ(str(p, "title"), "Briefing");
    CHECK_STR_EQ(str(p, "description"), "Brief a call");
    args = get(p, "arguments");
    CHECK_INT_EQ(cJSON_GetArraySize(args), 2);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(args, 0), "name"), "call_id");
    CHECK(cJSON_IsTrue(get(cJSON_GetArrayItem(args, 0), "required")));
    CHECK(cJSON_IsFalse(get(cJSON_GetArrayItem(args, 1), "required")));
    CHECK_STR_EQ(str(cJSON_GetArrayItem(args, 1), "description"), "short or long");
    p = find_named(get(result_of(r), "prompts"), "plain");
    CHECK(get(p, "title") == NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(get(p, "arguments")), 0);
    CHECK(get(result_of(r), "nextCursor") == NULL);
    cJSON_Delete(r);

    r = request(s, "prompts/get",
                "{\"name\":\"brief\",\"arguments\":{\"call_id\":\"c7\",\"style\":\"short\"}}");
    msgs = get(result_of(r), "messages");
    CHECK_STR_EQ(str(result_of(r), "description"), "A briefing");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(msgs, 0), "role"), "user");
    CHECK_STR_EQ(str(get(cJSON_GetArrayItem(msgs, 0), "content"), "text"),
                 "Brief call c7 in a short style");
    cJSON_Delete(r);
    /* Optional arguments may be left out; unknown extra ones are ignored. */
    r = request(s, "prompts/get",
                "{\"name\":\"brief\",\"arguments\":{\"call_id\":\"c7\",\"x\":\"y\"}}");
    CHECK_STR_EQ(str(get(cJSON_GetArrayItem(get(result_of(r), "messages"), 0), "content"), "text"),
                 "Brief call c7 in a plain style");
    cJSON_Delete(r);
    /* A prompt without arguments; an empty messages array is filled in. */
    r = request(s, "prompts/get", "{\"name\":\"plain\"}");
    CHECK(cJSON_IsArray(get(result_of(r), "messages")));
    cJSON_Delete(r);

    expect_error(s, "prompts/get", "{\"name\":\"nope\"}", RPC_INVALID_PARAMS,
                 "Unknown prompt: nope");
    expect_error(s, "prompts/get", "{\"name\":\"brief\"}", RPC_INVALID_PARAMS,
                 "Missing required argument: call_id");
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":{\"style\":\"x\"}}",
                 RPC_INVALID_PARAMS, "call_id");
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":{\"call_id\":7}}",
                 RPC_INVALID_PARAMS, "argument call_id must be a string");
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":{\"call_id\":null}}",
                 RPC_INVALID_PARAMS, "must be a string");
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":[\"c7\"]}",
                 RPC_INVALID_PARAMS, "arguments must be an object");
    expect_error(s, "prompts/get", "{}", RPC_INVALID_PARAMS, "name");
    expect_error(s, "prompts/get", "{\"name\":[]}", RPC_INVALID_PARAMS, "name must be a string");
    /* The handler's own refusal. */
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":{\"call_id\":\"nope\"}}",
                 RPC_INVALID_PARAMS, "No call nope");
    expect_error(s, "prompts/get", "{\"name\":\"brief\",\"arguments\":{\"call_id\":\"busy\"}}",
                 RPC_INTERNAL_ERROR, "the database is busy");
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_completion(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    cJSON *r;
    const cJSON *c;

    /* Few values: total given, hasMore false. */
    r = request(s, "completion/complete",
                "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                "\"call_id\",\"value\":\"c01\"}}");
    c = get(result_of(r), "completion");
    CHECK_INT_EQ(cJSON_GetArraySize(get(c, "values")), 10);
    CHECK_STR_EQ(cJSON_GetArrayItem(get(c, "values"), 0)->valuestring, "c010");
    CHECK_INT_EQ(get(c, "total")->valueint, 10);
    CHECK(cJSON_IsFalse(get(c, "hasMore")));
    cJSON_Delete(r);

    /* 150 candidates: cut to 100, hasMore true, no total. */
    r = request(s, "completion/complete",
                "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                "\"call_id\",\"value\":\"\"}}");
    c = get(result_of(r), "completion");
    CHECK_INT_EQ(cJSON_GetArraySize(get(c, "values")), 100);
    CHECK(cJSON_IsTrue(get(c, "hasMore")));
    CHECK(get(c, "total") == NULL);
    cJSON_Delete(r);

    /* Context arguments reach the registry. */
    r = request(s, "completion/complete",
                "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                "\"call_id\",\"value\":\"zz\"},\"context\":{\"arguments\":{\"style\":\"short\"}}}");
    c = get(result_of(r), "completion");
    CHECK_INT_EQ(cJSON_GetArraySize(get(c, "values")), 1);
    CHECK_STR_EQ(cJSON_GetArrayItem(get(c, "values"), 0)->valuestring, "with-context");
    cJSON_Delete(r);

    /* A resource template reference; non-strings from the registry are dropped. */
    r = request(s, "completion/complete",
                "{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"fake://calls/{call_id}\"},"
                "\"argument\":{\"name\":\"call_id\",\"value\":\"r\"}}");
    c = get(result_of(r), "completion");
    CHECK_INT_EQ(cJSON_GetArraySize(get(c, "values")), 2);
    CHECK_INT_EQ(get(c, "total")->valueint, 2);
    cJSON_Delete(r);

    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"nope\"},\"argument\":{\"name\":"
                 "\"a\",\"value\":\"\"}}",
                 RPC_INVALID_PARAMS, "Unknown prompt: nope");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"fake://nope/{x}\"},\"argument\":{"
                 "\"name\":\"a\",\"value\":\"\"}}",
                 RPC_INVALID_PARAMS, "Unknown resource template");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/tool\",\"name\":\"echo\"},\"argument\":{\"name\":"
                 "\"a\",\"value\":\"\"}}",
                 RPC_INVALID_PARAMS, "ref.type must be");
    expect_error(s, "completion/complete", "{}", RPC_INVALID_PARAMS, "ref");
    expect_error(s, "completion/complete", "{\"ref\":\"brief\"}", RPC_INVALID_PARAMS,
                 "ref must be an object");
    expect_error(s, "completion/complete", "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"}}",
                 RPC_INVALID_PARAMS, "argument");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                 "\"call_id\"}}",
                 RPC_INVALID_PARAMS, "value");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                 "\"call_id\",\"value\":1}}",
                 RPC_INVALID_PARAMS, "value must be a string");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\"},\"argument\":{\"name\":\"call_id\","
                 "\"value\":\"\"}}",
                 RPC_INVALID_PARAMS, "name");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                 "\"call_id\",\"value\":\"\"},\"context\":{\"arguments\":{\"style\":1}}}",
                 RPC_INVALID_PARAMS, "must be a string");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                 "\"call_id\",\"value\":\"\"},\"context\":[]}",
                 RPC_INVALID_PARAMS, "context must be an object");
    expect_error(s, "completion/complete",
                 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{\"name\":"
                 "\"explode\",\"value\":\"\"}}",
                 RPC_INVALID_PARAMS, "cannot complete that");
    mcp_session_free(s);
    mcp_server_free(srv);
}

struct bg {
    struct mcp_session *s;
    struct store *st;
    struct capture cap;
    const char *text;
    pthread_t tid;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;

    mcp_session_handle(b->s, b->st, b->text, strlen(b->text), cap_send, &b->cap);
    return NULL;
}

static void wait_for(atomic_int *flag)
{
    for (int i = 0; i < 2000 && !atomic_load(flag); i++)
        sleep_ms(5);
    CHECK(atomic_load(flag));
}

static void test_cancellation(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    char *dir = tmpdir_make("mcp-cancel"), *path = xasprintf("%s/calls.db", dir);
    struct store_options so = {.busy_timeout_ms = 1000};
    struct err err = {0};
    struct store *st = store_open(path, &so, &err);
    struct bg b = {.s = s, .st = st, .cap = {.lock = PTHREAD_MUTEX_INITIALIZER}};
    cJSON *r;

    CHECK(st != NULL);
    /* Enough rows that listing them takes many SQLite steps. */
    {
        static struct delivery d[1500];
        static struct delivery *items[1500];
        for (size_t i = 0; i < 1500; i++) {
            d[i] = (struct delivery){
                .received_ms = (int64_t)i, .source = "import", .reason = "test row", .status = 0};
            items[i] = &d[i];
        }
        CHECK_INT_EQ(store_put_deliveries(st, items, 1500, &err), 0);
    }
    expected_store = st;
    atomic_store(&cancel_seen, 0);
    atomic_store(&wait_started, 0);
    b.text = "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"wait_cancel\",\"_meta\":{\"progressToken\":\"w\"}}}";
    pthread_create(&b.tid, NULL, bg_main, &b);
    wait_for(&wait_started);

    /* Other ids, or the same number as a string, cancel nothing. */
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                  "\"requestId\":\"77\",\"reason\":\"wrong type\"}}");
    CHECK(r == NULL);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                  "\"requestId\":78}}");
    CHECK(r == NULL);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}");
    CHECK(r == NULL);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}");
    CHECK(r == NULL);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":[77]}");
    CHECK(r == NULL);
    /* Other requests are served meanwhile. */
    r = request(s, "ping", NULL);
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    sleep_ms(30);
    CHECK(!atomic_load(&cancel_seen));

    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                  "\"requestId\":77,\"reason\":\"user pressed stop\"}}");
    CHECK(r == NULL);
    pthread_join(b.tid, NULL);
    CHECK(atomic_load(&cancel_seen));
    CHECK(atomic_load(&progress_after_cancel));
    CHECK(!atomic_load(&store_mismatch));
    CHECK(atomic_load(&store_interrupted));
    /* Only the "started" progress went out: no response, nothing after the cancel. */
    CHECK_INT_EQ(cap_count(&b.cap), 1);
    CHECK_INT_EQ(cap_grep(&b.cap, "\"id\":77"), 0);
    CHECK_INT_EQ(cap_grep(&b.cap, "started"), 1);

    /* A late cancellation (the request is done) is ignored. */
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                  "\"requestId\":77}}");
    CHECK(r == NULL);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"tools/call\",\"params\":{"
                  "\"name\":\"bare\"}}");
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);

    /* A string id is matched as a string. */
    cap_clear(&b.cap);
    atomic_store(&cancel_seen, 0);
    atomic_store(&wait_started, 0);
    b.text = "{\"jsonrpc\":\"2.0\",\"id\":\"req-9\",\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"wait_cancel\"}}";
    pthread_create(&b.tid, NULL, bg_main, &b);
    wait_for(&wait_started);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                  "\"requestId\":\"req-9\"}}");
    CHECK(r == NULL);
    pthread_join(b.tid, NULL);
    CHECK(atomic_load(&cancel_seen));
    CHECK_INT_EQ(cap_count(&b.cap), 0);

    expected_store = NULL;
    cap_free(&b.cap);
    store_close(st);
    tmpdir_remove(dir);
    free(dir);
    free(path);
    mcp_session_free(s);
    mcp_server_free(srv);
}

#define CONC_THREADS  8
#define CONC_REQUESTS 150

struct worker_arg {
    struct mcp_session *s;
    int index;
    int answered;
    int wrong;
};

static void *conc_main(void *arg)
{
    struct worker_arg *w = arg;
    struct capture c = {.lock = PTHREAD_MUTEX_INITIALIZER};

    for (int i = 0; i < CONC_REQUESTS; i++) {
        int id = w->index * 100000 + i;
        char *text;
        cJSON *r;

        switch (i % 4) {
        case 0:
            text = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                             "{\"name\":\"echo\",\"arguments\":{\"text\":\"t%d\"}}}",
                             id, id);
            break;
        case 1:
            text = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}", id);
            break;
        case 2:
            text = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\"}", id);
            break;
        default:
            text = xasprintf("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                             "\"params\":{\"requestId\":%d}}",
                             id + 7);
            break;
        }
        r = handle_on(w->s, NULL, &c, text, NULL);
        if (i % 4 == 3) {
            if (r != NULL)
                w->wrong++;
        } else if (r != NULL && get(r, "result") != NULL &&
                   get(r, "id")->valuedouble == (double)id) {
            w->answered++;
            if (i % 4 == 0) {
                char want[32];
                snprintf(want, sizeof want, "t%d", id);
                if (strcmp(str(get(result_of(r), "structuredContent"), "text"), want) != 0)
                    w->wrong++;
            }
        } else {
            w->wrong++;
        }
        cJSON_Delete(r);
        free(text);
    }
    cap_free(&c);
    return NULL;
}

static void test_concurrency(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    struct worker_arg w[CONC_THREADS];
    pthread_t t[CONC_THREADS];
    int answered = 0, wrong = 0;

    for (int i = 0; i < CONC_THREADS; i++) {
        w[i] = (struct worker_arg){.s = s, .index = i};
        pthread_create(&t[i], NULL, conc_main, &w[i]);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(t[i], NULL);
        answered += w[i].answered;
        wrong += w[i].wrong;
    }
    CHECK_INT_EQ(answered, CONC_THREADS * (CONC_REQUESTS - CONC_REQUESTS / 4));
    CHECK_INT_EQ(wrong, 0);

    /* initialize racing on fresh sessions: exactly one wins each. */
    for (int round = 0; round < 20; round++) {
        struct mcp_session *fresh = mcp_session_new(srv);
        struct bg b[4];
        int ok = 0;
        for (int i = 0; i < 4; i++) {
            b[i] = (struct bg){
                .s = fresh, .text = init_msg, .cap = {.lock = PTHREAD_MUTEX_INITIALIZER}};
            pthread_create(&b[i].tid, NULL, bg_main, &b[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(b[i].tid, NULL);
            ok += (int)cap_grep(&b[i].cap, "\"result\"");
            cap_free(&b[i].cap);
        }
        CHECK_INT_EQ(ok, 1);
        mcp_session_free(fresh);
    }
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_invalid_messages(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = mcp_session_new(srv);
    enum rpc_kind kind;
    cJSON *r;

    r = handle_on(s, NULL, &cap0, "{not json", &kind);
    CHECK_INT_EQ(kind, RPC_INVALID);
    CHECK_INT_EQ(code_of(r), RPC_PARSE_ERROR);
    CHECK(get(r, "id") == NULL);
    cJSON_Delete(r);
    r = handle_on(s, NULL, &cap0, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", &kind);
    CHECK_INT_EQ(code_of(r), RPC_INVALID_REQUEST);
    CHECK(get(r, "id") == NULL);
    CHECK_INT_EQ(cap_count(&cap0), 1);
    cJSON_Delete(r);
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"params\":\"x\"}");
    CHECK_INT_EQ(code_of(r), RPC_INVALID_REQUEST);
    CHECK_INT_EQ(get(r, "id")->valueint, 3);
    cJSON_Delete(r);
    /* Answers to us are ignored. */
    r = handle_on(s, NULL, &cap0, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", &kind);
    CHECK(r == NULL);
    CHECK_INT_EQ(kind, RPC_RESPONSE);
    r = handle_on(s, NULL, &cap0,
                  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
                  &kind);
    CHECK(r == NULL);
    CHECK_INT_EQ(kind, RPC_RESPONSE);
    /* Unknown notifications: silence. */
    r = handle_on(s, NULL, &cap0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}",
                  &kind);
    CHECK(r == NULL);
    CHECK_INT_EQ(kind, RPC_NOTIFICATION);
    /* The session still works. */
    r = handle(s, init_msg);
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    /* A method name that looks like a notification, sent as a request. */
    expect_error(s, "notifications/initialized", NULL, RPC_METHOD_NOT_FOUND, NULL);
    expect_error(s, "", NULL, RPC_METHOD_NOT_FOUND, NULL);
    expect_error(s, "tools/list/", NULL, RPC_METHOD_NOT_FOUND, NULL);
    expect_error(s, "TOOLS/LIST", NULL, RPC_METHOD_NOT_FOUND, NULL);
    mcp_session_free(s);
    mcp_server_free(srv);
}

static void test_hostile(void)
{
    struct mcp_server *srv = server(&reg_full, false);
    struct mcp_session *s = ready(srv);
    size_t big = 1 << 20;
    char *name = xmalloc(big + 1), *params, *deep;
    cJSON *r;

    /* A megabyte-long tool name: refused, quoted only in part. */
    memset(name, 'x', big);
    name[big] = '\0';
    params = xasprintf("{\"name\":\"%s\",\"arguments\":{}}", name);
    r = request(s, "tools/call", params);
    CHECK_INT_EQ(code_of(r), RPC_INVALID_PARAMS);
    CHECK_STR_CONTAINS(message_of(r), "Unknown tool: xxxx");
    CHECK(strlen(message_of(r)) < 120);
    cJSON_Delete(r);
    free(params);
    /* Truncation never splits a UTF-8 character. */
    params = xstrdup("{\"name\":\"");
    {
        struct buf b = {0};
        buf_puts(&b, "{\"name\":\"a");
        for (int i = 0; i < 100; i++)
            buf_puts(&b, "\xe2\x82\xac");
        buf_puts(&b, "\"}");
        free(params);
        params = buf_steal(&b, NULL);
    }
    r = request(s, "prompts/get", params);
    CHECK_INT_EQ(code_of(r), RPC_INVALID_PARAMS);
    CHECK_STR_CONTAINS(message_of(r), "Unknown prompt: a\xe2\x82\xac");
    CHECK_STR_CONTAINS(message_of(r), "\xe2\x82\xac...");
    cJSON_Delete(r);
    free(params);

    /* A huge uri and a huge completion value. */
    params = xasprintf("{\"uri\":\"fake://calls/%.*s\"}", 10000, name);
    expect_error(s, "resources/read", params, RPC_INVALID_PARAMS, "longer than");
    free(params);
    params = xasprintf("{\"uri\":\"fake://calls/%.*s\"}", 8000, name);
    r = request(s, "resources/read", params); /* long but allowed: matches the template */
    CHECK(result_of(r) != NULL);
    cJSON_Delete(r);
    free(params);
    params = xasprintf("{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":{"
                       "\"name\":\"call_id\",\"value\":\"%s\"}}",
                       name);
    expect_error(s, "completion/complete", params, RPC_INVALID_PARAMS, "longer than");
    free(params);
    params = xasprintf("{\"cursor\":\"%s\"}", name);
    expect_error(s, "tools/list", params, RPC_INVALID_PARAMS, "cursor");
    free(params);
    /* A template match that could backtrack a lot stays cheap. */
    params = xasprintf("{\"uri\":\"fake://calls/%.*s/transcript/x\"}", 8000, name);
    expect_error(s, "resources/read", params, MCP_RESOURCE_NOT_FOUND, NULL);
    free(params);

    /* Deeply nested arguments (within cJSON's limit): validated, no crash. */
    {
        size_t depth = 900, o;
        deep = xmalloc(2 * depth + 128);
        strcpy(deep, "{\"name\":\"echo\",\"arguments\":{\"text\":");
        o = strlen(deep);
        for (size_t i = 0; i < depth; i++)
            deep[o++] = '[';
        for (size_t i = 0; i < depth; i++)
            deep[o++] = ']';
        strcpy(deep + o, "}}");
        r = request(s, "tools/call", deep);
        CHECK(tool_is_error(r));
        cJSON_Delete(r);
        free(deep);
    }

    /* Wrong types everywhere. */
    static const struct {
        const char *method, *params;
    } wrong[] = {
        {"tools/list", "[]"},
        {"tools/list", "{\"cursor\":{}}"},
        {"tools/call", "{\"name\":null}"},
        {"tools/call", "{\"name\":{\"a\":1}}"},
        {"tools/call", "{\"name\":\"echo\",\"arguments\":5}"},
        {"tools/call", "{\"name\":\"echo\",\"arguments\":true}"},
        {"resources/list", "{\"cursor\":[]}"},
        {"resources/templates/list", "{\"cursor\":1}"},
        {"resources/read", "{\"uri\":null}"},
        {"resources/read", "{\"uri\":{}}"},
        {"resources/subscribe", "{\"uri\":1}"},
        {"prompts/list", "{\"cursor\":false}"},
        {"prompts/get", "{\"name\":\"brief\",\"arguments\":5}"},
        {"prompts/get", "{\"name\":\"brief\",\"arguments\":{\"call_id\":[\"x\"]}}"},
        {"completion/complete", "{\"ref\":[],\"argument\":{}}"},
        {"completion/complete", "{\"ref\":{\"type\":5},\"argument\":{}}"},
        {"completion/complete",
         "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},\"argument\":[]}"},
        {"completion/complete", "{\"ref\":{\"type\":\"ref/resource\",\"uri\":5},\"argument\":{"
                                "\"name\":\"a\",\"value\":\"\"}}"},
        {"logging/setLevel", "{\"level\":null}"},
        {"logging/setLevel", "[\"debug\"]"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        r = request(s, wrong[i].method, wrong[i].params);
        CHECK_INT_EQ(code_of(r), RPC_INVALID_PARAMS);
        if (code_of(r) != RPC_INVALID_PARAMS)
            fprintf(stderr, "  for %s %s\n", wrong[i].method, wrong[i].params);
        CHECK(message_of(r) != NULL && strlen(message_of(r)) > 10);
        cJSON_Delete(r);
    }
    /* Invalid UTF-8 never reaches a handler. */
    r = handle(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                  "\"\xff\"}}");
    CHECK_INT_EQ(code_of(r), RPC_PARSE_ERROR);
    cJSON_Delete(r);
    free(name);
    mcp_session_free(s);
    mcp_server_free(srv);
}

/* r as a client reads it: printed, then parsed again. */
static cJSON *as_sent(const cJSON *r)
{
    char *printed = cJSON_PrintUnformatted(r);
    cJSON *back = cJSON_Parse(printed);

    CHECK(back != NULL);
    cJSON_free(printed);
    return back;
}

static void test_result_helpers(void)
{
    cJSON *r = cJSON_CreateObject(), *s = cJSON_CreateObject(), *content, *sent;
    const cJSON *blocks;

    mcp_result_text(r, "first");
    cJSON_AddNumberToObject(s, "n", 1);
    mcp_result_structured(r, s, NULL);
    content = cJSON_GetObjectItemCaseSensitive(r, "content");
    CHECK_INT_EQ(cJSON_GetArraySize(content), 2);
    sent = as_sent(r);
    blocks = get(sent, "content");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(blocks, 0), "text"), "{\"n\":1}");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(blocks, 0), "type"), "text");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(blocks, 1), "text"), "first");
    cJSON_Delete(sent);
    /* structuredContent is printed once and kept as a raw item. */
    CHECK(cJSON_IsRaw(get(r, "structuredContent")));
    CHECK_STR_EQ(get(r, "structuredContent")->valuestring, "{\"n\":1}");
    /* A second call replaces structuredContent and adds another mirror first. */
    s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "k", "v\"\\\n\x01\xc3\xa9");
    mcp_result_structured(r, s, "Result:");
    CHECK_STR_EQ(get(r, "structuredContent")->valuestring,
                 "{\"k\":\"v\\\"\\\\\\n\\u0001\xc3\xa9\"}");
    sent = as_sent(r);
    CHECK_STR_EQ(str(get(sent, "structuredContent"), "k"), "v\"\\\n\x01\xc3\xa9");
    blocks = get(sent, "content");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(blocks, 0), "text"),
                 "Result:\n{\"k\":\"v\\\"\\\\\\n\\u0001\xc3\xa9\"}");
    CHECK_INT_EQ(cJSON_GetArraySize(blocks), 3);
    cJSON_Delete(sent);
    cJSON_Delete(r);

    /* A content member of the wrong type is replaced. */
    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "content", "oops");
    mcp_result_text(r, "ok");
    CHECK_INT_EQ(cJSON_GetArraySize(get(r, "content")), 1);
    mcp_result_text(r, NULL);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(get(r, "content"), 1), "text"), "");
    cJSON_Delete(r);

    CHECK(mcp_vars_get(NULL, "x") == NULL);
}

/* mcp_server_new on reg in a child process: its exit status (0 when it returned). */
static int server_new_status(const struct mcp_registry *reg)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        struct mcp_server_opts o = {.name = "x", .version = "1", .registry = reg};
        FILE *quiet = freopen("/dev/null", "w", stderr);
        (void)quiet;
        mcp_server_free(mcp_server_new(&o));
        _exit(0);
    }
    CHECK(pid > 0);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A broken registry is a programming error: mcp_server_new refuses to start. */
static void test_bad_registry(void)
{
    static const struct mcp_tool bad_schema[] = {
        {"t", NULL, "d", "{\"type\":", NULL, true, false, true, false, false, bare_call}};
    static const struct mcp_tool array_schema[] = {
        {"t", NULL, "d", "[]", NULL, true, false, true, false, false, bare_call}};
    static const struct mcp_tool bad_output[] = {
        {"t", NULL, "d", "{}", "nope", true, false, true, false, false, bare_call}};
    static const struct mcp_tool bad_name[] = {
        {"a b", NULL, "d", "{}", NULL, true, false, true, false, false, bare_call}};
    static const struct mcp_tool twice[] = {
        {"t", NULL, "d", "{}", NULL, true, false, true, false, false, bare_call},
        {"t", NULL, "d", "{}", NULL, true, false, true, false, false, bare_call}};
    static const struct mcp_resource bad_templates[][1] = {
        {{"x://{a", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://{}", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://{a}{b}", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://{a-b}", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://{+a}", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://{a}/{b}/{c}/{d}/{e}", true, "n", NULL, NULL, NULL, readme_read}},
        {{"x://a}", true, "n", NULL, NULL, NULL, readme_read}},
    };
    static const struct mcp_resource good_template[] = {
        {"x://{a}/{b}/{c}/{d}", true, "n", NULL, NULL, NULL, readme_read}};
    struct mcp_registry r;

    r = (struct mcp_registry){.tools = fake_tools, .ntools = 2};
    CHECK_INT_EQ(server_new_status(&r), 0);
    r = (struct mcp_registry){.tools = bad_schema, .ntools = 1};
    CHECK_INT_EQ(server_new_status(&r), 1);
    r = (struct mcp_registry){.tools = array_schema, .ntools = 1};
    CHECK_INT_EQ(server_new_status(&r), 1);
    r = (struct mcp_registry){.tools = bad_output, .ntools = 1};
    CHECK_INT_EQ(server_new_status(&r), 1);
    r = (struct mcp_registry){.tools = bad_name, .ntools = 1};
    CHECK_INT_EQ(server_new_status(&r), 1);
    r = (struct mcp_registry){.tools = twice, .ntools = 2};
    CHECK_INT_EQ(server_new_status(&r), 1);
    for (size_t i = 0; i < sizeof bad_templates / sizeof bad_templates[0]; i++) {
        r = (struct mcp_registry){.resources = bad_templates[i], .nresources = 1};
        CHECK_INT_EQ(server_new_status(&r), 1);
    }
    r = (struct mcp_registry){.resources = good_template, .nresources = 1};
    CHECK_INT_EQ(server_new_status(&r), 0);
}

int main(void)
{
    xmalloc_init_json();
    if (auth_init() == -1)
        return 1;
    RUN(test_lifecycle);
    RUN(test_capabilities);
    RUN(test_tools_list);
    RUN(test_tools_pagination);
    RUN(test_tools_call);
    RUN(test_read_only);
    RUN(test_progress);
    RUN(test_logging);
    RUN(test_resources);
    RUN(test_prompts);
    RUN(test_completion);
    RUN(test_cancellation);
    RUN(test_concurrency);
    RUN(test_invalid_messages);
    RUN(test_hostile);
    RUN(test_result_helpers);
    RUN(test_bad_registry);
    cap_free(&cap0);
    return check_report();
}
