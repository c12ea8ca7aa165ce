/*
 * fuzz_jsonrpc.c: the JSON-RPC/MCP message handler. Each line of the input
 * is one message (as on stdio) for one fresh session of the real tools
 * registry over a small seeded SQLite database in a temporary directory.
 * Unless the first line mentions "initialize", the session is initialized
 * first; a first line "#ro" picks the read-only server.
 *
 * Every message is parsed with rpc_parse here too, then handled by
 * mcp_session_handle, whose kind must agree. Everything the session sends
 * must be one line of valid UTF-8 JSON: an object with "jsonrpc":"2.0"
 * that is either a notification (method, no id) or a response (result or
 * error, with an integral code and a message). A request gets exactly one
 * response, last, carrying its id; an invalid message exactly one error
 * with rpc_parse's code (and its id when one could be read); notifications
 * and answers get nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "jsonrpc.h"
#include "mcp.h"
#include "payload.h"
#include "store.h"
#include "textutil.h"
#include "tools.h"
#include "xmalloc.h"

#define MAX_LINES    16
#define MAX_MESSAGES 64

static struct store *st;
static struct mcp_server *srv_rw, *srv_ro;
static struct mcp_server_opts opts_rw, opts_ro;

static struct {
    char *msg[MAX_MESSAGES];
    size_t n;
} sent;

static void capture(void *arg, const char *json)
{
    (void)arg;
    FUZZ_CHECK(sent.n < MAX_MESSAGES);
    sent.msg[sent.n++] = xstrdup(json);
}

static void sent_clear(void)
{
    for (size_t i = 0; i < sent.n; i++)
        free(sent.msg[i]);
    sent.n = 0;
}

static char *read_fixture(const char *name)
{
    char *path = xasprintf("%s/%s", FUZZ_FIXTURES, name), chunk[4096];
    FILE *f = fopen(path, "rb");
    struct buf b = {0};
    size_t n;

    if (f == NULL) {
        perror(path);
        abort();
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    free(path);
    return buf_steal(&b, NULL);
}

static void seed_one(const char *body)
{
    struct call call;
    struct delivery d = {0}, *items[1] = {&d};
    struct err err = {0};

    FUZZ_CHECK(payload_parse(body, strlen(body), &call, &err) == 0);
    d.received_ms = time_now_ms();
    d.source = "import";
    d.body = body;
    d.body_len = strlen(body);
    d.body_size = d.body_len;
    d.call = &call;
    FUZZ_CHECK(store_put_deliveries(st, items, 1, &err) == 0);
    payload_call_free(&call);
}

/* The fixture calls, and two recent calls the default periods find. */
static void seed(void)
{
    static const char *const fixtures[] = {"sample-call.json", "unicode-call.json",
                                           "loose-call.json", "minimal-call.json",
                                           "numeric-id-call.json"};
    int64_t now = time_now_ms();

    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char *body = read_fixture(fixtures[i]);
        seed_one(body);
        free(body);
    }
    for (int i = 0; i < 2; i++) {
        char started[40], *body;
        time_format_iso8601(now - (i + 1) * INT64_C(86400000), started, sizeof started);
        body = xasprintf(
            "{\"callId\":\"call_recent_%d\",\"callerName\":\"Caller %d\","
            "\"customerPhoneNumber\":\"+1 415 555 01%02d\",\"callDirection\":\"inbound\","
            "\"callStarted\":\"%s\",\"duration\":%d,\"agentName\":\"Front Desk\","
            "\"topic\":\"Billing\",\"sentiment\":\"negative\",\"summary\":\"Asked about the "
            "cancellation fee.\",\"followUp\":\"yes\",\"followUpReason\":\"Call back\","
            "\"actionItems\":[\"Call back about the fee\"],"
            "\"unansweredQuestions\":[\"What is the cancellation fee?\"],"
            "\"transcript\":[{\"role\":\"agent\",\"content\":\"Hello\"},"
            "{\"role\":\"user\",\"content\":\"What is the cancellation fee?\"}]}",
            i, i, i, started, 60 + i);
        seed_one(body);
        free(body);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct store_options so = {.busy_timeout_ms = 1000};
    struct err err = {0};
    char *path;

    (void)argc;
    (void)argv;
    fuzz_init();
    path = xasprintf("%s/calls.db", fuzz_tmpdir("jsonrpc"));
    st = store_open(path, &so, &err);
    if (st == NULL) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        abort();
    }
    free(path);
    seed();
    opts_rw = (struct mcp_server_opts){
        .name = "phonely-mcp",
        .title = "Phonely call log",
        .version = "fuzz",
        .instructions = tools_instructions(),
        .registry = tools_registry(),
    };
    opts_ro = opts_rw;
    opts_ro.read_only = true;
    srv_rw = mcp_server_new(&opts_rw);
    srv_ro = mcp_server_new(&opts_ro);
    return 0;
}

static bool same_id(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    return false;
}

/* One sent message: its shape; returns the parsed tree (caller deletes). */
static cJSON *check_message(const char *json)
{
    size_t len = strlen(json);
    const char *end = NULL;
    cJSON *m, *v, *e;
    bool has_method, has_result, has_error;

    FUZZ_CHECK(len > 0);
    FUZZ_CHECK(strchr(json, '\n') == NULL && strchr(json, '\r') == NULL);
    FUZZ_CHECK(fuzz_utf8_ok(json, len));
    m = cJSON_ParseWithLengthOpts(json, len, &end, false);
    FUZZ_CHECK(m != NULL && end == json + len);
    FUZZ_CHECK(cJSON_IsObject(m));
    v = cJSON_GetObjectItemCaseSensitive(m, "jsonrpc");
    FUZZ_CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "2.0") == 0);
    has_method = cJSON_GetObjectItemCaseSensitive(m, "method") != NULL;
    has_result = cJSON_GetObjectItemCaseSensitive(m, "result") != NULL;
    has_error = (e = cJSON_GetObjectItemCaseSensitive(m, "error")) != NULL;
    if (has_method) {
        FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "method")));
        FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(m, "id") == NULL);
        FUZZ_CHECK(!has_result && !has_error);
    } else {
        FUZZ_CHECK(has_result != has_error);
        if (has_result)
            FUZZ_CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(m, "result")));
        if (has_error) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
            FUZZ_CHECK(cJSON_IsObject(e));
            FUZZ_CHECK(cJSON_IsNumber(code) && code->valuedouble == floor(code->valuedouble));
            FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
        }
    }
    return m;
}

static void handle(struct mcp_session *s, const char *line, size_t len)
{
    struct rpc_msg msg;
    enum rpc_kind kind;

    rpc_parse(line, len, &msg);
    kind = mcp_session_handle(s, st, line, len, capture, NULL);
    FUZZ_CHECK(kind == msg.kind);
    switch (kind) {
    case RPC_NOTIFICATION:
    case RPC_RESPONSE:
        FUZZ_CHECK(sent.n == 0);
        break;
    case RPC_INVALID:
    case RPC_REQUEST:
        FUZZ_CHECK(sent.n >= 1);
        for (size_t i = 0; i < sent.n; i++) {
            cJSON *m = check_message(sent.msg[i]);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            bool response = cJSON_GetObjectItemCaseSensitive(m, "method") == NULL;

            FUZZ_CHECK(response == (i == sent.n - 1));
            if (response) {
                if (msg.id != NULL)
                    FUZZ_CHECK(same_id(id, msg.id));
                else
                    FUZZ_CHECK(id == NULL);
            }
            if (response && kind == RPC_INVALID) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "error");
                FUZZ_CHECK(sent.n == 1 && e != NULL);
                FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(e, "code")->valuedouble ==
                           msg.error_code);
            }
            cJSON_Delete(m);
        }
        break;
    }
    sent_clear();
    rpc_msg_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char init[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                               "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
                               "\"clientInfo\":{\"name\":\"fuzz\",\"version\":\"1\"}}}";
    struct fuzz_in in = {data, size};
    struct mcp_server *srv = srv_rw;
    struct mcp_session *s;
    char *line;
    size_t len, lines = 0;
    bool first = true;

    if (size >= 4 && memcmp(data, "#ro\n", 4) == 0) {
        srv = srv_ro;
        in.p += 4;
        in.n -= 4;
    }
    s = mcp_session_new(srv);
    while (lines < MAX_LINES && (line = fuzz_field(&in, '\n', &len)) != NULL) {
        if (len == 0) { /* blank lines are not messages (stdio skips them) */
            free(line);
            continue;
        }
        if (first && strstr(line, "initialize") == NULL)
            handle(s, init, strlen(init));
        first = false;
        handle(s, line, len);
        free(line);
        lines++;
    }
    mcp_session_free(s);
    return 0;
}
