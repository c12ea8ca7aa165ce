/*
 * server.c: conformance_server, a test-only program that serves the
 * fixtures the official MCP conformance suite (@modelcontextprotocol/
 * conformance, server scenarios) asks for by name: the test_* tools, the
 * test:// resources and the test_* prompts. It runs the daemon's own code
 * path: the http listener, the private listener's guard (private_http,
 * private_auth off, loopback only), the Streamable HTTP transport
 * (mcp_http) and the MCP engine (mcp), with a fixture registry in place
 * of the production one.
 *
 *   conformance_server [PORT]     (PORT 0 or none: the kernel picks one)
 *
 * Prints "listening on http://127.0.0.1:PORT/mcp" on stdout once ready,
 * and runs until SIGTERM or SIGINT. The transport's workers each open the
 * store, so a throwaway database is created in a private temporary
 * directory at start and removed at exit.
 *
 * What it does not fake: the engine cannot send requests to the client
 * (sampling/createMessage, elicitation/create), so test_sampling and the
 * test_elicitation* tools answer isError saying so, and their scenarios
 * fail; tests/conformance/expected-failures.yml lists them.
 *
 * Ownership: everything is static or lives in main's frame; the fixture
 * handlers fill the objects the engine hands them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "mcp.h"
#include "mcp_http.h"
#include "private_http.h"
#include "store.h"
#include "xmalloc.h"

/* A 1x1 red PNG and a 1 ms, 8 kHz, 8-bit mono WAV of silence. */
#define PNG_B64                                                                                    \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJg" \
    "gg=="
#define WAV_B64 "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA=="

#define NO_ARGS "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"

/* ---- content blocks ---- */

static cJSON *content(cJSON *result)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(result, "content");

    return c != NULL ? c : cJSON_AddArrayToObject(result, "content");
}

static cJSON *media_block(const char *type, const char *data, const char *mime)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", type);
    cJSON_AddStringToObject(b, "data", data);
    cJSON_AddStringToObject(b, "mimeType", mime);
    return b;
}

static cJSON *text_block(const char *text)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

/* {"type":"resource","resource":{uri, mimeType, text}} */
static cJSON *resource_block(const char *uri, const char *mime, const char *text)
{
    cJSON *b = cJSON_CreateObject(), *r;

    cJSON_AddStringToObject(b, "type", "resource");
    r = cJSON_AddObjectToObject(b, "resource");
    cJSON_AddStringToObject(r, "uri", uri);
    cJSON_AddStringToObject(r, "mimeType", mime);
    cJSON_AddStringToObject(r, "text", text);
    return b;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- tools ---- */

static int t_simple_text(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    mcp_result_text(result, "This is a simple text response for testing.");
    return 0;
}

static int t_image(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    cJSON_AddItemToArray(content(result), media_block("image", PNG_B64, "image/png"));
    return 0;
}

static int t_audio(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    cJSON_AddItemToArray(content(result), media_block("audio", WAV_B64, "audio/wav"));
    return 0;
}

static int t_embedded(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    cJSON_AddItemToArray(content(result), resource_block("test://embedded-resource", "text/plain",
                                                         "This is an embedded resource content."));
    return 0;
}

static int t_mixed(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    cJSON *list = content(result);

    (void)c, (void)args, (void)err;
    cJSON_AddItemToArray(list, text_block("Multiple content types test:"));
    cJSON_AddItemToArray(list, media_block("image", PNG_B64, "image/png"));
    cJSON_AddItemToArray(list, resource_block("test://mixed-content-resource", "application/json",
                                              "{\"test\":\"data\",\"value\":123}"));
    return 0;
}

static int t_logging(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)args, (void)err;
    mcp_call_log(c, "info", "conformance", cJSON_CreateString("Tool execution started"));
    sleep_ms(50);
    mcp_call_log(c, "info", "conformance", cJSON_CreateString("Tool processing data"));
    sleep_ms(50);
    mcp_call_log(c, "info", "conformance", cJSON_CreateString("Tool execution completed"));
    mcp_result_text(result, "Tool with logging executed successfully");
    return 0;
}

static int t_progress(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)args, (void)err;
    mcp_call_progress(c, 0, 100, NULL);
    sleep_ms(50);
    mcp_call_progress(c, 50, 100, NULL);
    sleep_ms(50);
    mcp_call_progress(c, 100, 100, NULL);
    mcp_result_text(result, "Tool with progress executed successfully");
    return 0;
}

static int t_error(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)result;
    return err_set(err, ERR_INVALID, "This tool intentionally returns an error for testing");
}

/* The honest answer of the fixtures that would need a request to the client. */
static int t_client_request(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)result;
    return err_set(err, ERR_UNSUPPORTED,
                   "phonely-mcp does not send requests to the client (sampling/createMessage, "
                   "elicitation/create), so this fixture cannot do what its scenario asks");
}

static int t_json_schema(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    char *json = cJSON_PrintUnformatted(args);

    (void)c, (void)err;
    mcp_result_text(result, json != NULL ? json : "{}");
    free(json);
    return 0;
}

static const struct mcp_tool tools[] = {
    {.name = "test_simple_text",
     .description = "Returns a simple text response",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_simple_text},
    {.name = "test_image_content",
     .description = "Returns a 1x1 PNG image",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_image},
    {.name = "test_audio_content",
     .description = "Returns a tiny WAV clip",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_audio},
    {.name = "test_embedded_resource",
     .description = "Returns an embedded text resource",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_embedded},
    {.name = "test_multiple_content_types",
     .description = "Returns text, an image and an embedded resource",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_mixed},
    {.name = "test_tool_with_logging",
     .description = "Sends three info log notifications while it runs",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_logging},
    {.name = "test_tool_with_progress",
     .description = "Reports progress 0, 50 and 100 of 100 when given a progressToken",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_progress},
    {.name = "test_error_handling",
     .description = "Always fails with an isError result",
     .input_schema = NO_ARGS,
     .read_only = true,
     .idempotent = true,
     .call = t_error},
    {.name = "test_sampling",
     .description = "Would ask the client for an LLM completion; unsupported here",
     .input_schema = "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\"}},"
                     "\"required\":[\"prompt\"]}",
     .read_only = true,
     .call = t_client_request},
    {.name = "test_elicitation",
     .description = "Would ask the user for input; unsupported here",
     .input_schema = "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\"}},"
                     "\"required\":[\"message\"]}",
     .read_only = true,
     .call = t_client_request},
    {.name = "test_elicitation_sep1034_defaults",
     .description = "Would elicit a form with defaults (SEP-1034); unsupported here",
     .input_schema = NO_ARGS,
     .read_only = true,
     .call = t_client_request},
    {.name = "test_elicitation_sep1330_enums",
     .description = "Would elicit a form with enums (SEP-1330); unsupported here",
     .input_schema = NO_ARGS,
     .read_only = true,
     .call = t_client_request},
    {.name = "json_schema_2020_12_tool",
     .description = "Tool with JSON Schema 2020-12 features",
     .input_schema = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                     "\"type\":\"object\",\"$defs\":{\"address\":{\"type\":\"object\","
                     "\"properties\":{\"street\":{\"type\":\"string\"},\"city\":{\"type\":"
                     "\"string\"}}}},\"properties\":{\"name\":{\"type\":\"string\"},"
                     "\"address\":{\"$ref\":\"#/$defs/address\"}},"
                     "\"additionalProperties\":false}",
     .read_only = true,
     .idempotent = true,
     .call = t_json_schema},
};

/* ---- resources ---- */

static void add_text(cJSON *contents, const char *uri, const char *mime, const char *text)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "uri", uri);
    cJSON_AddStringToObject(o, "mimeType", mime);
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddItemToArray(contents, o);
}

static int r_static_text(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                         cJSON *contents, struct err *err)
{
    (void)c, (void)vars, (void)err;
    add_text(contents, uri, "text/plain", "This is the content of the static text resource.");
    return 0;
}

static int r_static_binary(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                           cJSON *contents, struct err *err)
{
    cJSON *o = cJSON_CreateObject();

    (void)c, (void)vars, (void)err;
    cJSON_AddStringToObject(o, "uri", uri);
    cJSON_AddStringToObject(o, "mimeType", "image/png");
    cJSON_AddStringToObject(o, "blob", PNG_B64);
    cJSON_AddItemToArray(contents, o);
    return 0;
}

static int r_template(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                      cJSON *contents, struct err *err)
{
    const char *id = mcp_vars_get(vars, "id");
    cJSON *data = cJSON_CreateObject();
    char *line, *json;

    (void)c, (void)err;
    line = xasprintf("Data for ID: %s", id);
    cJSON_AddStringToObject(data, "id", id);
    cJSON_AddBoolToObject(data, "templateTest", true);
    cJSON_AddStringToObject(data, "data", line);
    json = cJSON_PrintUnformatted(data);
    add_text(contents, uri, "application/json", json);
    free(json);
    free(line);
    cJSON_Delete(data);
    return 0;
}

static int r_watched(struct mcp_call *c, const char *uri, const struct mcp_vars *vars,
                     cJSON *contents, struct err *err)
{
    (void)c, (void)vars, (void)err;
    add_text(contents, uri, "text/plain", "Watched resource content");
    return 0;
}

static const struct mcp_resource resources[] = {
    {.uri = "test://static-text",
     .name = "Static Text Resource",
     .description = "A static text resource for testing",
     .mime_type = "text/plain",
     .read = r_static_text},
    {.uri = "test://static-binary",
     .name = "Static Binary Resource",
     .description = "A static binary resource (a 1x1 PNG) for testing",
     .mime_type = "image/png",
     .read = r_static_binary},
    {.uri = "test://template/{id}/data",
     .is_template = true,
     .name = "Resource Template",
     .description = "A resource template with parameter substitution",
     .mime_type = "application/json",
     .read = r_template},
    {.uri = "test://watched-resource",
     .name = "Watched Resource",
     .description = "A resource that can be subscribed to",
     .mime_type = "text/plain",
     .read = r_watched},
};

/* ---- prompts ---- */

static void add_message(cJSON *result, cJSON *block)
{
    cJSON *messages = cJSON_GetObjectItemCaseSensitive(result, "messages"), *m;

    if (messages == NULL)
        messages = cJSON_AddArrayToObject(result, "messages");
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddItemToObject(m, "content", block);
    cJSON_AddItemToArray(messages, m);
}

static const char *arg(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static int p_simple(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    cJSON_AddStringToObject(result, "description", "A simple prompt without arguments");
    add_message(result, text_block("This is a simple prompt for testing."));
    return 0;
}

static int p_with_args(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    char *text = xasprintf("Prompt with arguments: arg1='%s', arg2='%s'", arg(args, "arg1"),
                           arg(args, "arg2"));

    (void)c, (void)err;
    cJSON_AddStringToObject(result, "description", "A prompt with arguments");
    add_message(result, text_block(text));
    free(text);
    return 0;
}

static int p_embedded(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)err;
    cJSON_AddStringToObject(result, "description", "A prompt with an embedded resource");
    add_message(result, resource_block(arg(args, "resourceUri"), "text/plain",
                                       "Embedded resource content for testing."));
    add_message(result, text_block("Please process the embedded resource above."));
    return 0;
}

static int p_image(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err)
{
    (void)c, (void)args, (void)err;
    cJSON_AddStringToObject(result, "description", "A prompt with an image");
    add_message(result, media_block("image", PNG_B64, "image/png"));
    add_message(result, text_block("Please analyze the image above."));
    return 0;
}

static const struct mcp_prompt_arg with_args_args[] = {
    {"arg1", "First test argument", true},
    {"arg2", "Second test argument", true},
};

static const struct mcp_prompt_arg embedded_args[] = {
    {"resourceUri", "URI of the resource to embed", true},
};

static const struct mcp_prompt prompts[] = {
    {.name = "test_simple_prompt",
     .description = "A simple prompt without arguments",
     .get = p_simple},
    {.name = "test_prompt_with_arguments",
     .description = "A prompt with two required arguments",
     .args = with_args_args,
     .nargs = 2,
     .get = p_with_args},
    {.name = "test_prompt_with_embedded_resource",
     .description = "A prompt that embeds the resource it is given",
     .args = embedded_args,
     .nargs = 1,
     .get = p_embedded},
    {.name = "test_prompt_with_image", .description = "A prompt with an image", .get = p_image},
};

/* ---- completion ---- */

static int complete(struct mcp_call *c, const char *ref_type, const char *ref, const char *argument,
                    const char *value, const cJSON *context_args, cJSON *values, bool *has_more,
                    struct err *err)
{
    static const char *const words[] = {"paris", "park", "party", "test", "testing", "tested"};
    static const char *const ids[] = {"123", "456", "789"};
    const char *const *list = NULL;
    size_t n = 0, len = strlen(value);

    (void)c, (void)context_args, (void)err;
    *has_more = false;
    if (strcmp(ref_type, "ref/prompt") == 0 && strcmp(ref, "test_prompt_with_arguments") == 0 &&
        (strcmp(argument, "arg1") == 0 || strcmp(argument, "arg2") == 0)) {
        list = words;
        n = sizeof words / sizeof words[0];
    } else if (strcmp(ref_type, "ref/resource") == 0 &&
               strcmp(ref, "test://template/{id}/data") == 0 && strcmp(argument, "id") == 0) {
        list = ids;
        n = sizeof ids / sizeof ids[0];
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(list[i], value, len) == 0)
            cJSON_AddItemToArray(values, cJSON_CreateString(list[i]));
    return 0;
}

static const struct mcp_registry registry = {
    .tools = tools,
    .ntools = sizeof tools / sizeof tools[0],
    .resources = resources,
    .nresources = sizeof resources / sizeof resources[0],
    .prompts = prompts,
    .nprompts = sizeof prompts / sizeof prompts[0],
    .complete = complete,
    .resources_subscribe = true,
};

/* ---- the program ---- */

/* Remove the database, its WAL files and the directory; quiet when they are gone. */
static void scratch_remove(const char *dir)
{
    static const char *const names[] = {"conformance.db", "conformance.db-wal",
                                        "conformance.db-shm", "conformance.db-journal"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        if (unlink(p) == -1 && errno != ENOENT)
            log_warn("cannot remove %s", p);
        free(p);
    }
    if (rmdir(dir) == -1)
        log_warn("cannot remove %s", dir);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = NULL, *db = NULL, *end;
    struct config cfg;
    struct store_options wopt = {.busy_timeout_ms = 5000};
    struct store *st;
    struct mcp_server *srv = NULL;
    struct mcp_http *mh = NULL;
    struct http_listener *l = NULL;
    struct private_ctx priv;
    struct err err = {0};
    sigset_t set;
    unsigned long port = 0;
    int sig = 0, rc = 1;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: conformance_server [PORT]\n");
        return 2;
    }
    if (argc == 2) {
        errno = 0;
        port = strtoul(argv[1], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[1] || port > 65535) {
            fprintf(stderr, "conformance_server: bad port %s\n", argv[1]);
            return 2;
        }
    }
    xmalloc_init_json();
    log_level = LOG_LEVEL_WARN;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
    signal(SIGPIPE, SIG_IGN);

    config_defaults(&cfg);
    cfg.private_auth = false;
    snprintf(cfg.private_listen.host, sizeof cfg.private_listen.host, "127.0.0.1");
    cfg.private_listen.port = (uint16_t)port;
    if (config_validate_private(&cfg, &err) == -1)
        goto fail;

    dir = xasprintf("%s/phonely-conformance-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        err_set(&err, ERR_SYSTEM, "cannot create a directory from %s: %s", dir, strerror(errno));
        free(dir);
        dir = NULL;
        goto fail;
    }
    db = xasprintf("%s/conformance.db", dir);
    if ((st = store_open(db, &wopt, &err)) == NULL) /* creates the schema */
        goto fail;
    store_close(st);

    srv = mcp_server_new(&(struct mcp_server_opts){
        .name = "phonely-mcp-conformance",
        .title = "phonely-mcp conformance fixtures",
        .version = PHONELY_VERSION,
        .registry = &registry,
        .read_only = true,
    });
    mh = mcp_http_new(
        &(struct mcp_http_opts){
            .srv = srv,
            .db_path = db,
            .store = {.read_only = true, .busy_timeout_ms = 5000},
            .workers = cfg.mcp_workers,
            .max_sessions = cfg.mcp_sessions_max,
            .session_idle_s = cfg.mcp_session_idle,
            .body_max = cfg.body_max,
        },
        &err);
    if (mh == NULL)
        goto fail;
    priv = (struct private_ctx){.cfg = &cfg, .mcp = mh};
    l = http_listener_start(
        &(struct http_listener_opts){
            .name = "private",
            .addr = cfg.private_listen,
            .threads = 2,
            .connection_limit = cfg.connection_limit,
            .per_ip_limit = cfg.per_ip_limit,
            .connection_timeout = cfg.connection_timeout,
            .header_max = cfg.header_max,
            .handler = private_handle,
            .completed = private_completed,
            .ctx = &priv,
        },
        &err);
    if (l == NULL)
        goto fail;
    printf("listening on http://127.0.0.1:%u/mcp\n", http_listener_port(l));
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    rc = 0;
fail:
    if (rc != 0)
        log_warnx("conformance_server: %s", err.msg);
    mcp_http_quiesce(mh);
    http_listener_stop(l);
    mcp_http_free(mh);
    mcp_server_free(srv);
    if (dir != NULL)
        scratch_remove(dir);
    free(db);
    free(dir);
    config_free(&cfg);
    return rc;
}
