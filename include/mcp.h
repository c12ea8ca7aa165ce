/*
 * mcp.h: the Model Context Protocol engine, independent of the transport.
 * A registry (static tables of tools, resources, templates and prompts)
 * drives both the list methods and the calls; stdio and HTTP feed it
 * messages and deliver what it sends.
 */
#ifndef PHONELY_MCP_H
#define PHONELY_MCP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "jsonrpc.h"
#include "store.h"

#define MCP_CURSOR_KEY_BYTES 32

/* The context of one request being served: handlers get it first. */
struct mcp_call;

/*
 * A tool. input_schema and output_schema are JSON text (output may be
 * NULL). The engine calls call only with args that validate against
 * input_schema (an empty object when the request sent none), so a tool
 * need not check them again. call fills result (an empty object) with
 * "content" and, when the tool has an output schema, "structuredContent"
 * (see mcp_result_structured).
 * It returns 0, or -1 with err set: ERR_INVALID / ERR_NOT_FOUND and other
 * codes become an isError result carrying err->msg for the model to act
 * on; ERR_INTERNAL becomes a JSON-RPC internal error.
 */
struct mcp_tool {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;
    const char *output_schema;
    bool read_only;   /* readOnlyHint */
    bool destructive; /* destructiveHint (meaningful when not read-only) */
    bool idempotent;  /* idempotentHint */
    bool writes;      /* refused when the server is read-only */
    /*
     * Answered from one lookup by key, in short and bounded time: a
     * transport may serve it on the thread that reads its input rather
     * than wake another for it.
     */
    bool keyed;
    int (*call)(struct mcp_call *c, const cJSON *args, cJSON *result, struct err *err);
};

/* Variables taken from a matched URI template, e.g. callId. */
struct mcp_vars {
    size_t n;
    const char *name[4];
    char *value[4];
};
const char *mcp_vars_get(const struct mcp_vars *vars, const char *name);

/*
 * A fixed resource or a URI template (RFC 6570 level 1: literal text and
 * {name} parts matching one or more characters other than '/'). read
 * appends {uri, mimeType, text|blob} objects to contents; ERR_NOT_FOUND
 * becomes -32002, ERR_INVALID -32602.
 */
struct mcp_resource {
    const char *uri; /* a URI, or a template when is_template */
    bool is_template;
    const char *name;
    const char *title;
    const char *description;
    const char *mime_type;
    int (*read)(struct mcp_call *c, const char *uri, const struct mcp_vars *vars, cJSON *contents,
                struct err *err);
};

struct mcp_prompt_arg {
    const char *name;
    const char *description;
    bool required;
};

/* A prompt: get fills result with "description" and "messages". */
struct mcp_prompt {
    const char *name;
    const char *title;
    const char *description;
    const struct mcp_prompt_arg *args;
    size_t nargs;
    int (*get)(struct mcp_call *c, const cJSON *arguments, cJSON *result, struct err *err);
};

struct mcp_registry {
    const struct mcp_tool *tools;
    size_t ntools;
    const struct mcp_resource *resources; /* fixed resources and templates */
    size_t nresources;
    /*
     * Extra resources for resources/list beyond the fixed ones (e.g. recent
     * calls): append {uri,name,...} objects to list; *next (caller frees) is
     * an opaque continuation or NULL. cursor is NULL for the first page.
     */
    int (*list_resources)(struct mcp_call *c, const char *cursor, cJSON *list, char **next,
                          struct err *err);
    const struct mcp_prompt *prompts;
    size_t nprompts;
    /*
     * completion/complete: ref_type "ref/prompt" (ref = prompt name) or
     * "ref/resource" (ref = URI template); append up to 100 strings to values.
     */
    int (*complete)(struct mcp_call *c, const char *ref_type, const char *ref, const char *argument,
                    const char *value, const cJSON *context_args, cJSON *values, bool *has_more,
                    struct err *err);
    bool resources_subscribe; /* accept resources/subscribe and unsubscribe */
};

struct mcp_server_opts {
    const char *name; /* serverInfo.name */
    const char *title;
    const char *version;
    const char *instructions; /* initialize's instructions for the model */
    const struct mcp_registry *registry;
    bool read_only; /* refuse tools with writes */
    void *app;      /* handed to handlers through mcp_call_app */
    /*
     * MCP_CURSOR_KEY_BYTES that sign cursors and session ids, so that every
     * daemon given the same key accepts the others' (copied). NULL: random.
     */
    const unsigned char *key;
    /*
     * Called after every request with its method, the tool name for
     * tools/call (else NULL), the outcome ("ok", "tool_error" for an
     * isError result, "error" for a JSON-RPC error, "cancelled") and the
     * time it took. NULL: not observed.
     */
    void (*observe)(void *arg, const char *method, const char *tool, const char *outcome,
                    double seconds);
    void *observe_arg;
    /*
     * The access audit: called after every tools/call and resources/read,
     * failed ones too, with what was called, by which client and session,
     * and the call ids the answer held (see mcp_call_returned); never the
     * arguments. The entry is borrowed for the call. NULL: not audited.
     */
    void (*audit)(void *arg, const struct store_audit_entry *e);
    void *audit_arg;
};

struct mcp_server;
struct mcp_session;

/* The server-wide part: registry, options, a random key for cursors. */
struct mcp_server *mcp_server_new(const struct mcp_server_opts *opts);
void mcp_server_free(struct mcp_server *srv);

/* Send one message (JSON text, no newline). Must be safe to call from several threads. */
typedef void (*mcp_send_fn)(void *arg, const char *json);

/* One client connection's state: negotiated version, log level, requests in flight. */
struct mcp_session *mcp_session_new(struct mcp_server *srv);
/* A session initialized elsewhere with protocol, ready for requests; NULL for an unknown one. */
struct mcp_session *mcp_session_resume(struct mcp_server *srv, const char *protocol);
void mcp_session_free(struct mcp_session *s);
/*
 * Where the session's requests come from, for the audit: the transport
 * ("stdio", "http") and the session's id (Mcp-Session-Id), or NULL for a
 * random one. Call it before the session handles anything.
 */
void mcp_session_set_origin(struct mcp_session *s, const char *transport, const char *session_id);
/* The key of mcp_server_opts (or the random one): MCP_CURSOR_KEY_BYTES. */
const unsigned char *mcp_server_key(const struct mcp_server *srv);
/* The protocol version agreed at initialize, or NULL before it. */
const char *mcp_session_protocol(const struct mcp_session *s);
bool mcp_session_initialized(const struct mcp_session *s);
/* True when msg calls a tool marked keyed (see struct mcp_tool). */
bool mcp_session_keyed(const struct mcp_session *s, const struct rpc_msg *msg);

/*
 * Handle one incoming message. Everything the session sends in answer
 * (progress and log notifications, then the response) goes through
 * send(send_arg, json), on the calling thread. st is the caller's store
 * (each worker thread has its own connection). Several threads may call
 * this at once for one session. Returns what the message was, so that a
 * transport can tell requests (answered) from notifications and responses.
 */
enum rpc_kind mcp_session_handle(struct mcp_session *s, struct store *st, const char *text,
                                 size_t len, mcp_send_fn send, void *send_arg);
/* The same for a message the transport has already parsed (still the caller's). */
void mcp_session_handle_msg(struct mcp_session *s, struct store *st, const struct rpc_msg *msg,
                            mcp_send_fn send, void *send_arg);

/* ---- for handlers ---- */

struct store *mcp_call_store(struct mcp_call *c);
void *mcp_call_app(struct mcp_call *c);
bool mcp_call_read_only(struct mcp_call *c);
const unsigned char *mcp_call_cursor_key(struct mcp_call *c); /* MCP_CURSOR_KEY_BYTES */
/*
 * Note that the answer holds the call call_id (for the access audit; each
 * id counts once). Handlers take the ids from what they answer, never
 * from their arguments.
 */
void mcp_call_returned(struct mcp_call *c, const char *call_id);
/* True once the client sent notifications/cancelled for this request. */
bool mcp_call_cancelled(struct mcp_call *c);
/* notifications/progress, when the request carried a progressToken; progress must increase. */
void mcp_call_progress(struct mcp_call *c, double progress, double total, const char *message);
/* notifications/message at an RFC 5424 level name ("debug", "info", "warning", ...),
 * sent when the session's logging/setLevel allows it. data is taken over. */
void mcp_call_log(struct mcp_call *c, const char *level, const char *logger, cJSON *data);

/*
 * Put structured (taken over) into result as structuredContent, and its
 * compact JSON text as the first text content block (the mirror the spec
 * asks for). text_prefix, when not NULL, is a short human line placed
 * before the JSON in that block.
 */
void mcp_result_structured(cJSON *result, cJSON *structured, const char *text_prefix);
/* Append a text content block. */
void mcp_result_text(cJSON *result, const char *text);

#endif
