/*
 * jsonrpc.c: JSON-RPC 2.0 framing for MCP: classify one incoming message
 * and build the compact one-line texts we send.
 *
 * Ownership: struct rpc_msg owns its parsed tree (root); id, method and
 * params borrow from it until rpc_msg_free. The builders return text the
 * caller frees, and take over the cJSON values they are handed (result,
 * params, data) on every path.
 *
 * Rules applied (JSON-RPC 2.0 as MCP 2025-06-18 and later narrow it):
 * the whole input must be one UTF-8 JSON value with nothing after it but
 * white space; batches (arrays) are refused as a whole; ids are strings or
 * integers, never null or fractional; a message with a method is a request
 * (with an id) or a notification (without); a message with result or error
 * and an id is an answer to a request of ours. Error texts never quote the
 * input.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonrpc.h"
#include "log.h"
#include "textutil.h"
#include "xmalloc.h"

/*
 * Integer ids are echoed from the parsed double, so only integers a double
 * holds exactly are accepted: 2^53 - 1 either way (JavaScript's safe range).
 */
#define RPC_ID_INT_MAX 9007199254740991.0

/*
 * cJSON 1.7 records the position of the last parse error in a process-wide
 * variable that every parse call writes; serialising our parses keeps
 * concurrent transports and workers free of that data race.
 */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_invalid(struct rpc_msg *msg, int code, const char *text)
{
    msg->kind = RPC_INVALID;
    msg->error_code = code;
    snprintf(msg->error_msg, sizeof msg->error_msg, "%s", text);
}

/* True when v is a valid id: a string, or a number holding a safe integer. */
static bool id_valid(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring != NULL;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        return isfinite(d) && floor(d) == d && fabs(d) <= RPC_ID_INT_MAX;
    }
    return false;
}

static bool only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return false;
    return true;
}

/*
 * Parse and classify text[0..len). msg is always filled; on RPC_INVALID the
 * id is kept when it could be read so the error answer can carry it.
 */
void rpc_parse(const char *text, size_t len, struct rpc_msg *msg)
{
    const char *end = NULL;
    const cJSON *id, *jsonrpc, *method, *params, *result, *error;
    bool has_id;

    memset(msg, 0, sizeof *msg);
    msg->kind = RPC_INVALID;
    if (text == NULL || len == 0 || only_space(text, text + len)) {
        set_invalid(msg, RPC_PARSE_ERROR, "Parse error: empty message");
        return;
    }
    if (!utf8_valid(text, len)) {
        set_invalid(msg, RPC_PARSE_ERROR, "Parse error: the message is not valid UTF-8");
        return;
    }
    pthread_mutex_lock(&parse_lock);
    msg->root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    pthread_mutex_unlock(&parse_lock);
    if (msg->root == NULL) {
        set_invalid(msg, RPC_PARSE_ERROR,
                    "Parse error: the message is not valid JSON (or is nested too deeply)");
        return;
    }
    if (end == NULL || end < text || end > text + len || !only_space(end, text + len)) {
        set_invalid(msg, RPC_PARSE_ERROR, "Parse error: unexpected data after the JSON value");
        return;
    }
    if (cJSON_IsArray(msg->root)) {
        set_invalid(msg, RPC_INVALID_REQUEST,
                    "Invalid Request: batches (JSON arrays) are not supported; send one "
                    "message per line");
        return;
    }
    if (!cJSON_IsObject(msg->root)) {
        set_invalid(msg, RPC_INVALID_REQUEST, "Invalid Request: a message must be a JSON object");
        return;
    }

    id = cJSON_GetObjectItemCaseSensitive(msg->root, "id");
    has_id = id != NULL;
    if (has_id && id_valid(id))
        msg->id = id;
    jsonrpc = cJSON_GetObjectItemCaseSensitive(msg->root, "jsonrpc");
    method = cJSON_GetObjectItemCaseSensitive(msg->root, "method");
    params = cJSON_GetObjectItemCaseSensitive(msg->root, "params");
    result = cJSON_GetObjectItemCaseSensitive(msg->root, "result");
    error = cJSON_GetObjectItemCaseSensitive(msg->root, "error");

    if (!cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0) {
        set_invalid(msg, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
        return;
    }
    if (method == NULL) {
        /*
         * An answer to a request of ours. An error answer may carry a null
         * id (the peer could not read ours); it is still an answer, and
         * replying to it could start an endless exchange of errors.
         */
        if ((result != NULL) != (error != NULL) &&
            (msg->id != NULL || (error != NULL && cJSON_IsNull(id)))) {
            msg->kind = RPC_RESPONSE;
            return;
        }
        set_invalid(msg, RPC_INVALID_REQUEST,
                    "Invalid Request: a message needs a method (or an id with result or error)");
        return;
    }
    if (has_id && msg->id == NULL) {
        set_invalid(msg, RPC_INVALID_REQUEST,
                    cJSON_IsNull(id) ? "Invalid Request: id must not be null"
                                     : "Invalid Request: id must be a string or an integer");
        return;
    }
    if (!cJSON_IsString(method) || method->valuestring == NULL) {
        set_invalid(msg, RPC_INVALID_REQUEST, "Invalid Request: method must be a string");
        return;
    }
    if (params != NULL && !cJSON_IsObject(params) && !cJSON_IsArray(params)) {
        set_invalid(msg, RPC_INVALID_REQUEST,
                    "Invalid Request: params must be an object or an array");
        return;
    }
    msg->method = method->valuestring;
    msg->params = params;
    msg->kind = has_id ? RPC_REQUEST : RPC_NOTIFICATION;
}

/* Release what rpc_parse filled; the struct may be reused afterwards. */
void rpc_msg_free(struct rpc_msg *msg)
{
    if (msg == NULL)
        return;
    cJSON_Delete(msg->root);
    memset(msg, 0, sizeof *msg);
}

/*
 * Add a copy of id to msg: strings as they are, integers written as
 * integers (never in exponent form). Without a valid id the member is left
 * out: JSON-RPC 2.0 writes null there, but MCP 2025-11-25's schema makes
 * the id of an error optional and never null, and the official SDK client
 * rejects a null one.
 */
static void add_id(cJSON *msg, const cJSON *id)
{
    char num[32];

    if (id == NULL || !id_valid(id))
        return;
    if (cJSON_IsString(id)) {
        cJSON_AddStringToObject(msg, "id", id->valuestring);
        return;
    }
    snprintf(num, sizeof num, "%lld", (long long)id->valuedouble);
    cJSON_AddRawToObject(msg, "id", num);
}

static char *print_take(cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);

    cJSON_Delete(msg);
    if (text == NULL)
        fatalx("jsonrpc: cannot print a message");
    return text;
}

static cJSON *envelope(void)
{
    cJSON *msg = cJSON_CreateObject();

    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    return msg;
}

/*
 * {"jsonrpc":"2.0","id":id,"result":result} on one line. Takes over result
 * (NULL means {}); the caller frees the text.
 */
char *rpc_result(const cJSON *id, cJSON *result)
{
    cJSON *msg = envelope();

    add_id(msg, id);
    cJSON_AddItemToObject(msg, "result", result != NULL ? result : cJSON_CreateObject());
    return print_take(msg);
}

/*
 * {"jsonrpc":"2.0","id":id,"error":{code,message,data?}} on one line, the
 * id left out when NULL (it could not be read). Takes over data (may be
 * NULL); the caller frees the text.
 */
char *rpc_error(const cJSON *id, int code, const char *message, cJSON *data)
{
    cJSON *msg = envelope(), *e = cJSON_CreateObject();

    add_id(msg, id);
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message != NULL ? message : "");
    if (data != NULL)
        cJSON_AddItemToObject(e, "data", data);
    cJSON_AddItemToObject(msg, "error", e);
    return print_take(msg);
}

/*
 * {"jsonrpc":"2.0","method":method,"params":params} on one line. Takes over
 * params (NULL means {}); the caller frees the text.
 */
/*
 * True when json is a notification made by rpc_notification: its members
 * come in the order the builders add them, so a notification starts with
 * the version and then "method", where a response has "id". Only for text
 * these builders made; it spares a transport parsing large results again.
 */
bool rpc_is_notification(const char *json)
{
    static const char prefix[] = "{\"jsonrpc\":\"2.0\",\"method\":";

    return strncmp(json, prefix, sizeof prefix - 1) == 0;
}

char *rpc_notification(const char *method, cJSON *params)
{
    cJSON *msg = envelope();

    cJSON_AddStringToObject(msg, "method", method);
    cJSON_AddItemToObject(msg, "params", params != NULL ? params : cJSON_CreateObject());
    return print_take(msg);
}
