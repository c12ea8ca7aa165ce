/* jsonrpc.h: JSON-RPC 2.0 messages: parse one, build answers. */
#ifndef PHONELY_JSONRPC_H
#define PHONELY_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define RPC_PARSE_ERROR        (-32700)
#define RPC_INVALID_REQUEST    (-32600)
#define RPC_METHOD_NOT_FOUND   (-32601)
#define RPC_INVALID_PARAMS     (-32602)
#define RPC_INTERNAL_ERROR     (-32603)
#define MCP_RESOURCE_NOT_FOUND (-32002)

enum rpc_kind {
    RPC_REQUEST,      /* method and id: must be answered */
    RPC_NOTIFICATION, /* method, no id: never answered */
    RPC_RESPONSE,     /* result or error with an id: an answer to us */
    RPC_INVALID       /* error_code/error_msg say why; answer with id (or null) */
};

/*
 * One parsed message. root owns everything; id, method and params point
 * into it. For RPC_INVALID, error_code is RPC_PARSE_ERROR (not JSON,
 * trailing data) or RPC_INVALID_REQUEST (a batch array, jsonrpc not "2.0",
 * id null/fractional/not string or integer, method not a string, params
 * not an object or array), and id is set when it could be read.
 */
struct rpc_msg {
    enum rpc_kind kind;
    cJSON *root;
    const cJSON *id;
    const char *method;
    const cJSON *params;
    int error_code;
    char error_msg[160];
};

/* Parse text[0..len). Always fills *msg; release it with rpc_msg_free. */
void rpc_parse(const char *text, size_t len, struct rpc_msg *msg);
void rpc_msg_free(struct rpc_msg *msg);

/*
 * Build one message as compact JSON text on a single line (no newline at
 * the end); the caller frees the text. rpc_result and rpc_notification take
 * ownership of result/params (NULL means {}); rpc_error takes ownership of
 * data (may be NULL). id may be NULL: the member is then left out (MCP's
 * schema never allows a null id).
 */
char *rpc_result(const cJSON *id, cJSON *result);
char *rpc_error(const cJSON *id, int code, const char *message, cJSON *data);
char *rpc_notification(const char *method, cJSON *params);
/* True when json (made by the builders above) is a notification rather than a response. */
bool rpc_is_notification(const char *json);

#endif
