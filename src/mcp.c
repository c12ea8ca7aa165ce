/*
 * mcp.c: the Model Context Protocol engine (revisions 2025-03-26,
 * 2025-06-18 and 2025-11-25), independent of the transport.
 *
 * One static method table drives dispatch, the "not initialized" rule and
 * the capabilities initialize advertises; the registry's static tables of
 * tools, resources and prompts drive both their list methods and their
 * calls, so what is listed is exactly what can be called.
 *
 * Threads: a transport may call mcp_session_handle for one session from
 * several threads at once. The session's mutable state (agreed version,
 * the requests in flight) is guarded by its mutex; the log level and each
 * request's cancel flag are atomics so handlers read them without locking.
 * The server is immutable after mcp_server_new.
 *
 * Ownership: the server owns the parsed tool schemas and template variable
 * names; a session owns nothing but its in-flight list, whose entries live
 * on the handling thread's stack and borrow their id from the parsed
 * message for the duration of the call. Handlers fill objects we made and
 * free; values handed to the mcp_call_* and mcp_result_* helpers are taken
 * over.
 *
 * Decisions worth knowing:
 *  - Before initialize, only initialize and ping are served. Any other known
 *    method gets -32600 "the session is not initialized; send initialize
 *    first"; unknown methods always get -32601 (dual-era clients probe with
 *    server/discover and must not be left waiting).
 *  - Requests are served once initialize has been answered; the client's
 *    notifications/initialized is recorded but does not gate them (on stdio
 *    it always precedes them anyway, and HTTP requests may overtake it).
 *  - The session's log level starts at "warning": a client that never
 *    calls logging/setLevel is not flooded with debug and info chatter.
 *  - Error answers never quote the input, except short tool, prompt and
 *    resource names ("Unknown tool: x"), cut at 64 bytes, and the uri in
 *    -32002's data, both of which the spec asks for.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "mcp.h"
#include "schema.h"
#include "search.h"
#include "textutil.h"
#include "xmalloc.h"

#define MCP_PROTOCOL_LATEST "2025-11-25"
#define MCP_PAGE_SIZE       50   /* items per page of tools/prompts/templates/resources */
#define MCP_ECHO_MAX        64   /* bytes of a name quoted back in an error */
#define MCP_URI_MAX         8192 /* bytes of a resource URI we look at */
#define MCP_CURSOR_MAX      4096 /* bytes of a cursor we try to decode */
#define MCP_COMPLETE_MAX    100  /* completion values per answer (spec) */
#define MCP_VALUE_MAX       4096 /* bytes of a completion argument value */
#define MCP_MATCH_BUDGET    100000
#define MCP_VARS_MAX        (sizeof(((struct mcp_vars *)0)->name) / sizeof(const char *))
#define MCP_CLIENT_INFO_MAX 128 /* bytes of a client's name or version kept for the audit */

static const char *const protocols[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

/* RFC 5424 severities, least severe first, as MCP names them. */
static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
#define LOG_LEVELS_N      (sizeof log_levels / sizeof log_levels[0])
#define LOG_LEVEL_DEFAULT 3 /* warning */

/* A template's variable names, parsed once. */
struct tvars {
    size_t n;
    char *name[MCP_VARS_MAX];
};

struct mcp_server {
    struct mcp_server_opts opts;
    const struct mcp_registry *reg;
    unsigned char key[MCP_CURSOR_KEY_BYTES];
    cJSON **in_schema;  /* [ntools] */
    cJSON **out_schema; /* [ntools], NULL when the tool has none */
    size_t *fixed;      /* indexes of non-template resources */
    size_t nfixed;
    size_t *templates; /* indexes of templates */
    size_t ntemplates;
    struct tvars *tvars; /* [nresources], empty for fixed ones */
};

struct mcp_call {
    struct mcp_session *s;
    struct store *st;
    const cJSON *id; /* borrowed from the parsed request */
    const cJSON *progress_token;
    double last_progress;
    bool progress_sent;
    atomic_bool cancelled;
    mcp_send_fn send;
    void *send_arg;
    struct mcp_call *next; /* in the session's in-flight list */
    /* For the audit: what was called (static or registry text) and the call ids answered. */
    const char *audit_name;
    char **returned;
    size_t nreturned, returned_cap;
};

struct mcp_session {
    struct mcp_server *srv;
    pthread_mutex_t lock;
    const char *protocol; /* one of protocols[], set once by initialize */
    bool client_ready;    /* notifications/initialized received */
    atomic_int log_level; /* index into log_levels */
    struct mcp_call *inflight;
    /* For the audit: set by the transport, and by initialize's clientInfo. */
    char transport[16];
    char session_id[72];
    char *client_name, *client_version;
};

/* Why a method failed: a JSON-RPC code, a message and optional data. */
struct fail {
    int code;
    char msg[320];
    cJSON *data;
};

typedef int (*method_fn)(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f);

#define M_BEFORE_INIT 0x1 /* served before initialize */
#define M_SUBSCRIBE   0x2 /* only when the registry accepts subscriptions */
#define M_COMPLETE    0x4 /* only when the registry completes arguments */
#define M_NO_CANCEL   0x8 /* never in the in-flight list (initialize) */

struct method {
    const char *name;
    method_fn fn;
    const char *capability; /* the capability it belongs to, or NULL */
    unsigned flags;
};

static int m_initialize(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_ping(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_tools_list(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_tools_call(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_resources_list(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_templates_list(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_resources_read(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_subscribe(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_prompts_list(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_prompts_get(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_complete(struct mcp_call *, const cJSON *, cJSON **, struct fail *);
static int m_set_level(struct mcp_call *, const cJSON *, cJSON **, struct fail *);

static const struct method methods[] = {
    {"initialize", m_initialize, NULL, M_BEFORE_INIT | M_NO_CANCEL},
    {"ping", m_ping, NULL, M_BEFORE_INIT},
    {"tools/list", m_tools_list, "tools", 0},
    {"tools/call", m_tools_call, "tools", 0},
    {"resources/list", m_resources_list, "resources", 0},
    {"resources/templates/list", m_templates_list, "resources", 0},
    {"resources/read", m_resources_read, "resources", 0},
    {"resources/subscribe", m_subscribe, "resources", M_SUBSCRIBE},
    {"resources/unsubscribe", m_subscribe, "resources", M_SUBSCRIBE},
    {"prompts/list", m_prompts_list, "prompts", 0},
    {"prompts/get", m_prompts_get, "prompts", 0},
    {"completion/complete", m_complete, "completions", M_COMPLETE},
    {"logging/setLevel", m_set_level, "logging", 0},
};

#define NMETHODS (sizeof methods / sizeof methods[0])

typedef void (*notify_fn)(struct mcp_session *s, const cJSON *params);

static void n_initialized(struct mcp_session *, const cJSON *);
static void n_cancelled(struct mcp_session *, const cJSON *);

static const struct notification {
    const char *name;
    notify_fn fn;
} notifications[] = {
    {"notifications/initialized", n_initialized},
    {"notifications/cancelled", n_cancelled},
};

/* ---- small helpers ---- */

static int fail_set(struct fail *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_set(struct fail *f, int code, const char *fmt, ...)
{
    va_list ap;

    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return -1;
}
#ifdef __clang_analyzer__
#define fail_set(...) err_set_result(fail_set(__VA_ARGS__)) /* always -1, as err.h explains */
#endif

/* Copy at most MCP_ECHO_MAX bytes of (valid UTF-8) s, cut on a character boundary. */
static const char *echo(const char *s, char *out, size_t outsz)
{
    size_t n = strlen(s), max = outsz - 4 < MCP_ECHO_MAX ? outsz - 4 : MCP_ECHO_MAX;

    if (n <= max) {
        memcpy(out, s, n + 1);
        return out;
    }
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the next line ends it */
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
    return out;
}

/* A string or a safe integer: what ids and progress tokens may be. */
static bool token_valid(const cJSON *v)
{
    if (cJSON_IsString(v))
        return true;
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           floor(v->valuedouble) == v->valuedouble && fabs(v->valuedouble) <= 9007199254740991.0;
}

static cJSON *token_copy(const cJSON *v)
{
    char num[32];

    if (cJSON_IsString(v))
        return cJSON_CreateString(v->valuestring);
    snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
    return cJSON_CreateRaw(num);
}

static bool token_equal(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    return false;
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/*
 * Read params[name] as a string into *out. Absent (or null) is an error
 * only when required. Wrong types name the member and what it must be.
 */
static int get_string(const cJSON *obj, const char *what, const char *name, bool required,
                      const char **out, struct fail *f)
{
    const cJSON *v = field(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        if (required)
            return fail_set(f, RPC_INVALID_PARAMS, "%s needs %s (a string)", what, name);
        return 0;
    }
    if (!cJSON_IsString(v))
        return fail_set(f, RPC_INVALID_PARAMS, "%s: %s must be a string", what, name);
    *out = v->valuestring;
    return 0;
}

static int get_object(const cJSON *obj, const char *what, const char *name, bool required,
                      const cJSON **out, struct fail *f)
{
    const cJSON *v = field(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        if (required)
            return fail_set(f, RPC_INVALID_PARAMS, "%s needs %s (an object)", what, name);
        return 0;
    }
    if (!cJSON_IsObject(v))
        return fail_set(f, RPC_INVALID_PARAMS, "%s: %s must be an object", what, name);
    *out = v;
    return 0;
}

static void add_opt_string(cJSON *obj, const char *name, const char *value)
{
    if (value != NULL)
        cJSON_AddStringToObject(obj, name, value);
}

/*
 * Map a handler's err (other than the cases the caller handles) to a
 * JSON-RPC error: what the caller asked for is wrong (-32602), or we
 * failed (-32603; a bug's detail stays in our log).
 */
static int fail_from_err(struct fail *f, const char *what, const struct err *e)
{
    switch (e->code) {
    case ERR_INVALID:
    case ERR_NOT_FOUND:
    case ERR_TOO_LARGE:
        return fail_set(f, RPC_INVALID_PARAMS, "%s", e->msg[0] ? e->msg : "invalid params");
    case ERR_INTERNAL:
    case ERR_NONE:
        log_warnx("mcp: %s failed: %s", what, e->msg[0] ? e->msg : "no reason given");
        return fail_set(f, RPC_INTERNAL_ERROR, "Internal error");
    default:
        return fail_set(f, RPC_INTERNAL_ERROR, "%s", e->msg[0] ? e->msg : "Internal error");
    }
}

/* ---- server ---- */

static bool tool_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 128)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static cJSON *schema_parse(const char *tool, const char *what, const char *text)
{
    cJSON *v = cJSON_Parse(text);

    if (!cJSON_IsObject(v))
        fatalx("mcp: tool %s: %s is not a JSON object schema", tool, what);
    return v;
}

/* Parse a URI template's {names}; refuses what level-1 matching cannot handle. */
static void template_parse(const char *tpl, struct tvars *tv)
{
    const char *p = tpl;

    tv->n = 0;
    while ((p = strchr(p, '{')) != NULL) {
        const char *close = strchr(p, '}');
        size_t len;

        if (close == NULL || close == p + 1)
            fatalx("mcp: template %s: unterminated or empty {name}", tpl);
        len = (size_t)(close - p - 1);
        for (size_t i = 1; i <= len; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                  (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                fatalx("mcp: template %s: only level-1 {name} expressions are supported", tpl);
        if (close[1] == '{')
            fatalx("mcp: template %s: two expressions need literal text between them", tpl);
        if (tv->n == MCP_VARS_MAX)
            fatalx("mcp: template %s: more than %zu variables", tpl, (size_t)MCP_VARS_MAX);
        tv->name[tv->n++] = xstrndup(p + 1, len);
        p = close + 1;
    }
    if (strchr(tpl, '}') != NULL && tv->n == 0)
        fatalx("mcp: template %s: stray '}'", tpl);
}

/*
 * Check the registry (names, schemas, templates: a bad one is a programming
 * error and aborts), parse the schemas once and draw a random cursor key.
 * opts and everything it points to must outlive the server. Caller frees
 * with mcp_server_free.
 */
struct mcp_server *mcp_server_new(const struct mcp_server_opts *opts)
{
    struct mcp_server *srv;
    const struct mcp_registry *reg;

    if (opts == NULL || opts->registry == NULL || opts->name == NULL || opts->version == NULL)
        fatalx("mcp_server_new: name, version and registry are required");
    reg = opts->registry;
    srv = xcalloc(1, sizeof *srv);
    srv->opts = *opts;
    srv->reg = reg;
    if (opts->key != NULL)
        memcpy(srv->key, opts->key, sizeof srv->key);
    else
        auth_random(srv->key, sizeof srv->key);

    /* NOLINTBEGIN(bugprone-sizeof-expression): arrays of pointers, sizeof(T *) each */
    srv->in_schema = xcalloc(reg->ntools + 1, sizeof *srv->in_schema);
    srv->out_schema = xcalloc(reg->ntools + 1, sizeof *srv->out_schema);
    /* NOLINTEND(bugprone-sizeof-expression) */
    for (size_t i = 0; i < reg->ntools; i++) {
        const struct mcp_tool *t = &reg->tools[i];
        if (t->name == NULL || !tool_name_valid(t->name))
            fatalx("mcp: tool %zu has no valid name", i);
        if (t->call == NULL || t->input_schema == NULL)
            fatalx("mcp: tool %s needs call and input_schema", t->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(reg->tools[j].name, t->name) == 0)
                fatalx("mcp: tool %s is defined twice", t->name);
        srv->in_schema[i] = schema_parse(t->name, "input_schema", t->input_schema);
        if (t->output_schema != NULL)
            srv->out_schema[i] = schema_parse(t->name, "output_schema", t->output_schema);
    }

    srv->fixed = xcalloc(reg->nresources + 1, sizeof *srv->fixed);
    srv->templates = xcalloc(reg->nresources + 1, sizeof *srv->templates);
    srv->tvars = xcalloc(reg->nresources + 1, sizeof *srv->tvars);
    for (size_t i = 0; i < reg->nresources; i++) {
        const struct mcp_resource *r = &reg->resources[i];
        if (r->uri == NULL || r->name == NULL || r->read == NULL)
            fatalx("mcp: resource %zu needs uri, name and read", i);
        if (r->is_template) {
            template_parse(r->uri, &srv->tvars[i]);
            srv->templates[srv->ntemplates++] = i;
        } else {
            srv->fixed[srv->nfixed++] = i;
        }
    }
    for (size_t i = 0; i < reg->nprompts; i++) {
        const struct mcp_prompt *p = &reg->prompts[i];
        if (p->name == NULL || p->get == NULL || (p->nargs > 0 && p->args == NULL))
            fatalx("mcp: prompt %zu needs name, get and its arguments", i);
    }
    return srv;
}

/* Free the server (NULL is fine); its sessions must be freed first. */
void mcp_server_free(struct mcp_server *srv)
{
    if (srv == NULL)
        return;
    for (size_t i = 0; i < srv->reg->ntools; i++) {
        cJSON_Delete(srv->in_schema[i]);
        cJSON_Delete(srv->out_schema[i]);
    }
    for (size_t i = 0; i < srv->reg->nresources; i++)
        for (size_t j = 0; j < srv->tvars[i].n; j++)
            free(srv->tvars[i].name[j]);
    free(srv->in_schema);
    free(srv->out_schema);
    free(srv->fixed);
    free(srv->templates);
    free(srv->tvars);
    free(srv);
}

/* ---- session ---- */

/* A new session on srv; the caller frees it with mcp_session_free. */
struct mcp_session *mcp_session_new(struct mcp_server *srv)
{
    struct mcp_session *s = xcalloc(1, sizeof *s);

    s->srv = srv;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        fatalx("mcp: cannot create a mutex");
    atomic_init(&s->log_level, LOG_LEVEL_DEFAULT);
    return s;
}

/*
 * A session that initialized elsewhere (another transport connection, or
 * another daemon on the same database) with the version protocol: ready,
 * as after notifications/initialized. NULL for a version this server
 * does not speak.
 */
struct mcp_session *mcp_session_resume(struct mcp_server *srv, const char *protocol)
{
    struct mcp_session *s;
    size_t i;

    for (i = 0; i < sizeof protocols / sizeof protocols[0]; i++)
        if (protocol != NULL && strcmp(protocol, protocols[i]) == 0)
            break;
    if (i == sizeof protocols / sizeof protocols[0])
        return NULL;
    s = mcp_session_new(srv);
    s->protocol = protocols[i];
    s->client_ready = true;
    return s;
}

const unsigned char *mcp_server_key(const struct mcp_server *srv)
{
    return srv->key;
}

/* Free a session (NULL is fine); no call may be in progress on it. */
void mcp_session_free(struct mcp_session *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->client_name);
    free(s->client_version);
    free(s);
}

void mcp_session_set_origin(struct mcp_session *s, const char *transport, const char *session_id)
{
    unsigned char raw[16];

    snprintf(s->transport, sizeof s->transport, "%s", transport);
    if (session_id != NULL) {
        snprintf(s->session_id, sizeof s->session_id, "%s", session_id);
        return;
    }
    auth_random(raw, sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(s->session_id + 2 * i, 3, "%02x", raw[i]);
}

/* A client's name or version as the audit keeps it: valid UTF-8, capped; NULL for none. */
static char *client_text(const cJSON *info, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(info, name);
    size_t n;

    if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
        return NULL;
    n = strlen(v->valuestring);
    if (n > MCP_CLIENT_INFO_MAX) {
        n = MCP_CLIENT_INFO_MAX;
        while (n > 0 && ((unsigned char)v->valuestring[n] & 0xC0) == 0x80)
            n--; /* not within a character */
    }
    return utf8_sanitize(v->valuestring, n);
}

/* The version agreed at initialize (a static string), or NULL before it. */
const char *mcp_session_protocol(const struct mcp_session *s)
{
    struct mcp_session *m = (struct mcp_session *)s;
    const char *p;

    pthread_mutex_lock(&m->lock);
    p = m->protocol;
    pthread_mutex_unlock(&m->lock);
    return p;
}

/* True once initialize has been answered (requests are served from then on). */
bool mcp_session_initialized(const struct mcp_session *s)
{
    return mcp_session_protocol(s) != NULL;
}

/* The registry's index of the tool called name, or ntools when there is none. */
static size_t tool_index(const struct mcp_server *srv, const char *name)
{
    size_t i;

    for (i = 0; i < srv->reg->ntools; i++)
        if (strcmp(srv->reg->tools[i].name, name) == 0)
            break;
    return i;
}

bool mcp_session_keyed(const struct mcp_session *s, const struct rpc_msg *msg)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(msg->params, "name");
    size_t i;

    if (msg->kind != RPC_REQUEST || strcmp(msg->method, "tools/call") != 0 || !cJSON_IsString(name))
        return false;
    i = tool_index(s->srv, name->valuestring);
    return i < s->srv->reg->ntools && s->srv->reg->tools[i].keyed;
}

static const struct method *method_find(const struct mcp_server *srv, const char *name)
{
    for (size_t i = 0; i < NMETHODS; i++) {
        const struct method *m = &methods[i];
        if (strcmp(m->name, name) != 0)
            continue;
        if ((m->flags & M_SUBSCRIBE) && !srv->reg->resources_subscribe)
            return NULL;
        if ((m->flags & M_COMPLETE) && srv->reg->complete == NULL)
            return NULL;
        return m;
    }
    return NULL;
}

static void send_take(struct mcp_call *c, char *json)
{
    c->send(c->send_arg, json);
    free(json);
}

static bool call_interrupted(void *arg)
{
    struct mcp_call *c = arg;

    return atomic_load(&c->cancelled);
}

static void inflight_add(struct mcp_session *s, struct mcp_call *c)
{
    pthread_mutex_lock(&s->lock);
    c->next = s->inflight;
    s->inflight = c;
    pthread_mutex_unlock(&s->lock);
}

static void inflight_remove(struct mcp_session *s, struct mcp_call *c)
{
    pthread_mutex_lock(&s->lock);
    for (struct mcp_call **pp = &s->inflight; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&s->lock);
}

/*
 * Hand the audit what a tools/call or resources/read was: by whom, over
 * which session, and the calls its answer held. Other methods are not
 * recorded.
 */
static void audit_request(struct mcp_call *c, const char *method, int64_t at_ms, bool error)
{
    struct mcp_session *s = c->s;
    struct store_audit_entry e = {
        .at_ms = at_ms,
        .name = c->audit_name != NULL ? c->audit_name : "(unknown)",
        .error = error,
        .call_ids = (const char *const *)c->returned,
        .ncall_ids = c->nreturned,
    };

    if (strcmp(method, "tools/call") == 0)
        e.kind = "tool";
    else if (strcmp(method, "resources/read") == 0)
        e.kind = "resource";
    else
        return;
    pthread_mutex_lock(&s->lock);
    e.transport = s->transport[0] != '\0' ? s->transport : "unknown";
    e.session_id = s->session_id[0] != '\0' ? s->session_id : NULL;
    e.client_name = s->client_name;
    e.client_version = s->client_version;
    s->srv->opts.audit(s->srv->opts.audit_arg, &e);
    pthread_mutex_unlock(&s->lock);
}

static void handle_request(struct mcp_session *s, struct store *st, const struct rpc_msg *msg,
                           mcp_send_fn send, void *send_arg)
{
    const struct method *m = method_find(s->srv, msg->method);
    struct mcp_call c = {.s = s, .st = st, .id = msg->id, .send = send, .send_arg = send_arg};
    struct fail f = {0};
    cJSON *result = NULL, *empty = NULL;
    const cJSON *params = msg->params, *meta;
    bool registered = false;
    int64_t at_ms = time_now_ms();
    double t0;
    int rc;

    atomic_init(&c.cancelled, false);
    if (m == NULL) {
        send_take(&c, rpc_error(msg->id, RPC_METHOD_NOT_FOUND, "Method not found", NULL));
        return;
    }
    if (!(m->flags & M_BEFORE_INIT) && !mcp_session_initialized(s)) {
        send_take(&c, rpc_error(msg->id, RPC_INVALID_REQUEST,
                                "the session is not initialized; send initialize first", NULL));
        return;
    }
    if (params != NULL && !cJSON_IsObject(params)) {
        send_take(&c, rpc_error(msg->id, RPC_INVALID_PARAMS,
                                "params must be an object (named members), not an array", NULL));
        return;
    }
    if (params == NULL)
        params = empty = cJSON_CreateObject();
    meta = field(params, "_meta");
    if (cJSON_IsObject(meta) && token_valid(field(meta, "progressToken")))
        c.progress_token = field(meta, "progressToken");

    if (!(m->flags & M_NO_CANCEL)) {
        inflight_add(s, &c);
        registered = true;
    }
    if (st != NULL)
        store_set_interrupt(st, call_interrupted, &c);
    t0 = time_mono();
    rc = m->fn(&c, params, &result, &f);
    if (st != NULL)
        store_set_interrupt(st, NULL, NULL);
    if (registered)
        inflight_remove(s, &c);

    if (s->srv->opts.audit != NULL)
        audit_request(&c, msg->method, at_ms,
                      rc != 0 || atomic_load(&c.cancelled) ||
                          cJSON_IsTrue(field(result, "isError")));
    for (size_t i = 0; i < c.nreturned; i++)
        free(c.returned[i]);
    free(c.returned);
    if (s->srv->opts.observe != NULL) {
        const cJSON *tool = strcmp(msg->method, "tools/call") == 0 ? field(params, "name") : NULL;
        const char *outcome = atomic_load(&c.cancelled) ? "cancelled"
                              : rc != 0                 ? "error"
                              : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"))
                                  ? "tool_error"
                                  : "ok";
        s->srv->opts.observe(s->srv->opts.observe_arg, msg->method, cJSON_GetStringValue(tool),
                             outcome, time_mono() - t0);
    }
    if (atomic_load(&c.cancelled)) {
        char name[80];
        log_debug("mcp: %s cancelled by the client; no response sent",
                  log_escape(msg->method, strlen(msg->method), name, sizeof name));
        cJSON_Delete(result);
        cJSON_Delete(f.data);
    } else if (rc == 0) {
        send_take(&c, rpc_result(msg->id, result));
    } else {
        cJSON_Delete(result);
        send_take(&c, rpc_error(msg->id, f.code, f.msg, f.data));
    }
    cJSON_Delete(empty);
}

static void handle_notification(struct mcp_session *s, const struct rpc_msg *msg)
{
    for (size_t i = 0; i < sizeof notifications / sizeof notifications[0]; i++)
        if (strcmp(notifications[i].name, msg->method) == 0) {
            notifications[i].fn(s, cJSON_IsObject(msg->params) ? msg->params : NULL);
            return;
        }
    if (log_level >= LOG_LEVEL_DEBUG) {
        char name[80];
        log_debug("mcp: ignoring notification %s",
                  log_escape(msg->method, strlen(msg->method), name, sizeof name));
    }
}

/*
 * Parse one message and act on it: answer requests (and invalid messages)
 * through send, apply notifications, ignore answers to us. Everything sent
 * for a request goes out on the calling thread before this returns.
 */
void mcp_session_handle_msg(struct mcp_session *s, struct store *st, const struct rpc_msg *msg,
                            mcp_send_fn send, void *send_arg)
{
    switch (msg->kind) {
    case RPC_INVALID: {
        char *json = rpc_error(msg->id, msg->error_code, msg->error_msg, NULL);
        send(send_arg, json);
        free(json);
        break;
    }
    case RPC_RESPONSE:
        break; /* we send no requests, so there is nothing to match */
    case RPC_NOTIFICATION:
        handle_notification(s, msg);
        break;
    case RPC_REQUEST:
        handle_request(s, st, msg, send, send_arg);
        break;
    }
}

enum rpc_kind mcp_session_handle(struct mcp_session *s, struct store *st, const char *text,
                                 size_t len, mcp_send_fn send, void *send_arg)
{
    struct rpc_msg msg;
    enum rpc_kind kind;

    rpc_parse(text, len, &msg);
    kind = msg.kind;
    mcp_session_handle_msg(s, st, &msg, send, send_arg);
    rpc_msg_free(&msg);
    return kind;
}

/* ---- lifecycle and utilities ---- */

static cJSON *capabilities(const struct mcp_server *srv)
{
    cJSON *caps = cJSON_CreateObject();

    for (size_t i = 0; i < NMETHODS; i++) {
        const struct method *m = &methods[i];
        cJSON *cap;

        if (m->capability == NULL || method_find(srv, m->name) == NULL ||
            field(caps, m->capability) != NULL)
            continue;
        cap = cJSON_AddObjectToObject(caps, m->capability);
        if (strcmp(m->capability, "resources") == 0)
            cJSON_AddBoolToObject(cap, "subscribe", srv->reg->resources_subscribe);
        if (strcmp(m->capability, "logging") != 0 && strcmp(m->capability, "completions") != 0)
            cJSON_AddBoolToObject(cap, "listChanged", false);
    }
    return caps;
}

static int m_initialize(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    struct mcp_session *s = c->s;
    const struct mcp_server_opts *o = &s->srv->opts;
    const char *asked, *chosen = MCP_PROTOCOL_LATEST, *client = NULL;
    const cJSON *info;
    cJSON *r, *si;

    if (get_string(params, "initialize", "protocolVersion", false, &asked, f) == -1)
        return -1;
    if (get_object(params, "initialize", "clientInfo", false, &info, f) == -1)
        return -1;
    if (info != NULL && cJSON_IsString(field(info, "name")))
        client = field(info, "name")->valuestring;
    for (size_t i = 0; asked != NULL && i < sizeof protocols / sizeof protocols[0]; i++)
        if (strcmp(asked, protocols[i]) == 0)
            chosen = protocols[i];

    pthread_mutex_lock(&s->lock);
    if (s->protocol != NULL) {
        pthread_mutex_unlock(&s->lock);
        return fail_set(f, RPC_INVALID_REQUEST, "the session is already initialized");
    }
    s->protocol = chosen;
    s->client_name = client_text(info, "name");
    s->client_version = client_text(info, "version");
    pthread_mutex_unlock(&s->lock);
    if (log_level >= LOG_LEVEL_DEBUG) {
        char name[80];
        log_debug("mcp: session initialized with protocol %s for client %s", chosen,
                  client ? log_escape(client, strlen(client), name, sizeof name) : "(unnamed)");
    }

    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "protocolVersion", chosen);
    cJSON_AddItemToObject(r, "capabilities", capabilities(s->srv));
    si = cJSON_AddObjectToObject(r, "serverInfo");
    cJSON_AddStringToObject(si, "name", o->name);
    add_opt_string(si, "title", o->title);
    cJSON_AddStringToObject(si, "version", o->version);
    add_opt_string(r, "instructions", o->instructions);
    *result = r;
    return 0;
}

static void n_initialized(struct mcp_session *s, const cJSON *params)
{
    bool early;

    (void)params;
    pthread_mutex_lock(&s->lock);
    early = s->protocol == NULL;
    if (!early)
        s->client_ready = true;
    pthread_mutex_unlock(&s->lock);
    if (early)
        log_debug("mcp: notifications/initialized before initialize; ignored");
}

static void n_cancelled(struct mcp_session *s, const cJSON *params)
{
    const cJSON *id = field(params, "requestId");
    int found = 0;

    if (params == NULL || !token_valid(id))
        return;
    pthread_mutex_lock(&s->lock);
    for (struct mcp_call *c = s->inflight; c != NULL; c = c->next)
        if (token_equal(c->id, id)) {
            atomic_store(&c->cancelled, true);
            found++;
        }
    pthread_mutex_unlock(&s->lock);
    log_debug("mcp: cancellation for %s request", found ? "an in-flight" : "an unknown");
}

static int m_ping(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    (void)c, (void)params, (void)f;
    *result = cJSON_CreateObject();
    return 0;
}

static int m_set_level(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const char *level;

    if (get_string(params, "logging/setLevel", "level", true, &level, f) == -1)
        return -1;
    for (size_t i = 0; i < LOG_LEVELS_N; i++)
        if (strcmp(level, log_levels[i]) == 0) {
            atomic_store(&c->s->log_level, (int)i);
            *result = cJSON_CreateObject();
            return 0;
        }
    return fail_set(f, RPC_INVALID_PARAMS,
                    "level must be one of debug, info, notice, warning, error, critical, alert, "
                    "emergency");
}

/* ---- pagination ---- */

/*
 * The state a list cursor carries, checked against kind. *state is the
 * caller's (NULL for the first page).
 */
static int cursor_state(struct mcp_call *c, const cJSON *params, const char *kind, cJSON **state,
                        struct fail *f)
{
    const char *cursor;
    struct err e = {0};

    *state = NULL;
    if (get_string(params, kind, "cursor", false, &cursor, f) == -1)
        return -1;
    if (cursor == NULL)
        return 0;
    if (strlen(cursor) > MCP_CURSOR_MAX ||
        (*state = cursor_decode(c->s->srv->key, kind, cursor, &e)) == NULL ||
        !cJSON_IsObject(*state)) {
        cJSON_Delete(*state);
        *state = NULL;
        return fail_set(f, RPC_INVALID_PARAMS,
                        "Invalid cursor: pass back nextCursor exactly as received, or leave "
                        "cursor out to start from the beginning");
    }
    return 0;
}

/* Where a page of a static table starts. */
static int page_offset(struct mcp_call *c, const cJSON *params, const char *kind, size_t n,
                       size_t *offset, struct fail *f)
{
    cJSON *state;
    const cJSON *o;

    *offset = 0;
    if (cursor_state(c, params, kind, &state, f) == -1)
        return -1;
    if (state == NULL)
        return 0;
    o = field(state, "o");
    if (!cJSON_IsNumber(o) || o->valuedouble < 0 || o->valuedouble > (double)n ||
        floor(o->valuedouble) != o->valuedouble) {
        cJSON_Delete(state);
        return fail_set(f, RPC_INVALID_PARAMS, "Invalid cursor: start again without a cursor");
    }
    *offset = (size_t)o->valuedouble;
    cJSON_Delete(state);
    return 0;
}

static void add_next_cursor(struct mcp_call *c, cJSON *result, const char *kind, cJSON *state)
{
    char *cursor = cursor_encode(c->s->srv->key, kind, state);

    cJSON_Delete(state);
    if (cursor == NULL)
        fatalx("mcp: cannot make a cursor");
    cJSON_AddStringToObject(result, "nextCursor", cursor);
    free(cursor);
}

static void add_offset_cursor(struct mcp_call *c, cJSON *result, const char *kind, size_t next,
                              size_t n)
{
    cJSON *state;

    if (next >= n)
        return;
    state = cJSON_CreateObject();
    cJSON_AddNumberToObject(state, "o", (double)next);
    add_next_cursor(c, result, kind, state);
}

/* ---- tools ---- */

static cJSON *tool_entry(const struct mcp_server *srv, size_t i)
{
    const struct mcp_tool *t = &srv->reg->tools[i];
    cJSON *e = cJSON_CreateObject(), *a;

    cJSON_AddStringToObject(e, "name", t->name);
    add_opt_string(e, "title", t->title);
    add_opt_string(e, "description", t->description);
    cJSON_AddItemToObject(e, "inputSchema", cJSON_Duplicate(srv->in_schema[i], true));
    if (srv->out_schema[i] != NULL)
        cJSON_AddItemToObject(e, "outputSchema", cJSON_Duplicate(srv->out_schema[i], true));
    a = cJSON_AddObjectToObject(e, "annotations");
    add_opt_string(a, "title", t->title);
    cJSON_AddBoolToObject(a, "readOnlyHint", t->read_only);
    if (!t->read_only)
        cJSON_AddBoolToObject(a, "destructiveHint", t->destructive);
    cJSON_AddBoolToObject(a, "idempotentHint", t->idempotent);
    cJSON_AddBoolToObject(a, "openWorldHint", false);
    return e;
}

static int m_tools_list(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    size_t off, end, n = srv->reg->ntools;
    cJSON *r, *list;

    if (page_offset(c, params, "tools/list", n, &off, f) == -1)
        return -1;
    end = off + MCP_PAGE_SIZE < n ? off + MCP_PAGE_SIZE : n;
    r = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(r, "tools");
    for (size_t i = off; i < end; i++)
        cJSON_AddItemToArray(list, tool_entry(srv, i));
    add_offset_cursor(c, r, "tools/list", end, n);
    *result = r;
    return 0;
}

static cJSON *tool_error(const char *text)
{
    cJSON *r = cJSON_CreateObject();

    mcp_result_text(r, text);
    cJSON_AddBoolToObject(r, "isError", true);
    return r;
}

static int m_tools_call(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    const struct mcp_tool *t;
    const char *name;
    const cJSON *args;
    cJSON *empty = NULL, *r;
    struct err e = {0};
    char shown[MCP_ECHO_MAX + 4];
    size_t i;

    if (get_string(params, "tools/call", "name", true, &name, f) == -1)
        return -1;
    if ((i = tool_index(srv, name)) == srv->reg->ntools)
        return fail_set(f, RPC_INVALID_PARAMS, "Unknown tool: %s", echo(name, shown, sizeof shown));
    t = &srv->reg->tools[i];
    c->audit_name = t->name;
    args = field(params, "arguments");
    if (args == NULL || cJSON_IsNull(args))
        args = empty = cJSON_CreateObject();
    else if (!cJSON_IsObject(args))
        return fail_set(f, RPC_INVALID_PARAMS,
                        "tools/call: arguments must be an object of named arguments");

    if (t->writes && srv->opts.read_only) {
        char *text =
            xasprintf("The tool %s changes stored data, and this phonely-mcp server is running "
                      "read-only, so it was not run. To allow writes, restart the server with "
                      "`phonely-mcp stdio --allow-writes` or set `mcp_allow_writes yes` in its "
                      "configuration.",
                      t->name);
        *result = tool_error(text);
        free(text);
        goto done;
    }
    if (schema_validate(srv->in_schema[i], args, &e) == -1) {
        char *text = xasprintf("Invalid arguments for %s: %s", t->name,
                               e.msg[0] ? e.msg : "they do not match the tool's inputSchema");
        *result = tool_error(text);
        free(text);
        goto done;
    }
    r = cJSON_CreateObject();
    err_clear(&e);
    if (t->call(c, args, r, &e) == -1) {
        cJSON_Delete(r);
        if (e.code == ERR_INTERNAL || e.code == ERR_NONE) {
            cJSON_Delete(empty);
            return fail_from_err(f, t->name, &e);
        }
        *result = tool_error(e.msg[0] ? e.msg : "The tool failed without saying why.");
        goto done;
    }
    if (!cJSON_IsArray(field(r, "content"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(r, "content");
        cJSON_AddArrayToObject(r, "content");
    }
    *result = r;
done:
    cJSON_Delete(empty);
    return 0;
}

/* ---- resources ---- */

static cJSON *resource_entry(const struct mcp_resource *r)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, r->is_template ? "uriTemplate" : "uri", r->uri);
    cJSON_AddStringToObject(e, "name", r->name);
    add_opt_string(e, "title", r->title);
    add_opt_string(e, "description", r->description);
    add_opt_string(e, "mimeType", r->mime_type);
    return e;
}

/* Extra resources from the registry; continuation is NULL for its first page. */
static int list_extra(struct mcp_call *c, const char *continuation, cJSON *r, cJSON *list,
                      struct fail *f)
{
    const struct mcp_registry *reg = c->s->srv->reg;
    struct err e = {0};
    char *next = NULL;

    if (reg->list_resources == NULL)
        return 0;
    if (reg->list_resources(c, continuation, list, &next, &e) == -1) {
        free(next);
        return fail_from_err(f, "resources/list", &e);
    }
    if (next != NULL) {
        cJSON *state = cJSON_CreateObject();
        cJSON_AddStringToObject(state, "x", next);
        add_next_cursor(c, r, "resources/list", state);
        free(next);
    }
    return 0;
}

static int m_resources_list(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    cJSON *state, *r = NULL, *list;
    const cJSON *x, *o;
    size_t off = 0, end;
    int rc = -1;

    if (cursor_state(c, params, "resources/list", &state, f) == -1)
        return -1;
    x = field(state, "x");
    o = field(state, "o");
    r = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(r, "resources");
    if (state != NULL && cJSON_IsString(x)) {
        if (list_extra(c, x->valuestring, r, list, f) == -1)
            goto fail;
        goto done;
    }
    if (state != NULL) {
        if (!cJSON_IsNumber(o) || o->valuedouble < 0 || o->valuedouble > (double)srv->nfixed ||
            floor(o->valuedouble) != o->valuedouble) {
            fail_set(f, RPC_INVALID_PARAMS, "Invalid cursor: start again without a cursor");
            goto fail;
        }
        off = (size_t)o->valuedouble;
    }
    end = off + MCP_PAGE_SIZE < srv->nfixed ? off + MCP_PAGE_SIZE : srv->nfixed;
    for (size_t i = off; i < end; i++)
        cJSON_AddItemToArray(list, resource_entry(&srv->reg->resources[srv->fixed[i]]));
    if (end < srv->nfixed)
        add_offset_cursor(c, r, "resources/list", end, srv->nfixed);
    else if (list_extra(c, NULL, r, list, f) == -1)
        goto fail;
done:
    *result = r;
    r = NULL;
    rc = 0;
fail:
    cJSON_Delete(r);
    cJSON_Delete(state);
    return rc;
}

static int m_templates_list(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    size_t off, end, n = srv->ntemplates;
    cJSON *r, *list;

    if (page_offset(c, params, "resources/templates/list", n, &off, f) == -1)
        return -1;
    end = off + MCP_PAGE_SIZE < n ? off + MCP_PAGE_SIZE : n;
    r = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(r, "resourceTemplates");
    for (size_t i = off; i < end; i++)
        cJSON_AddItemToArray(list, resource_entry(&srv->reg->resources[srv->templates[i]]));
    add_offset_cursor(c, r, "resources/templates/list", end, n);
    *result = r;
    return 0;
}

/* Percent-decode s[0..len); NULL when the result holds a NUL. Caller frees. */
static char *pct_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = text_hex_value(s[i + 1])) >= 0 &&
            (lo = text_hex_value(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
        if (out[o - 1] == '\0') {
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

struct match {
    const char *end; /* end of the URI */
    const char *from[MCP_VARS_MAX];
    const char *to[MCP_VARS_MAX];
    unsigned long budget; /* attempts left: hostile URIs cannot make us spin */
};

/*
 * Match t (a template tail) against u; var is the index of the next {name}.
 * Each {name} takes one or more characters other than '/', shortest first.
 */
/* NOLINTNEXTLINE(misc-no-recursion): one level per {name}, at most MCP_VARS_MAX */
static bool match_at(const char *t, const char *u, size_t var, struct match *m)
{
    while (*t != '\0' && *t != '{') {
        if (u == m->end || *u != *t)
            return false;
        t++, u++;
    }
    if (*t == '\0')
        return u == m->end;
    const char *close = strchr(t, '}'), *stop = u;
    while (stop < m->end && *stop != '/')
        stop++;
    for (const char *e = u + 1; e <= stop; e++) {
        if (m->budget == 0)
            return false;
        m->budget--;
        if (match_at(close + 1, e, var + 1, m)) {
            m->from[var] = u;
            m->to[var] = e;
            return true;
        }
    }
    return false;
}

/* Match uri against the template at resource index ri; fills vars (caller frees values). */
static bool template_match(const struct mcp_server *srv, size_t ri, const char *uri,
                           struct mcp_vars *vars)
{
    const struct tvars *tv = &srv->tvars[ri];
    struct match m = {.end = uri + strlen(uri), .budget = MCP_MATCH_BUDGET};

    memset(vars, 0, sizeof *vars);
    if (!match_at(srv->reg->resources[ri].uri, uri, 0, &m))
        return false;
    for (size_t i = 0; i < tv->n; i++) {
        char *v = pct_decode(m.from[i], (size_t)(m.to[i] - m.from[i]));
        if (v == NULL || !utf8_valid(v, strlen(v))) {
            free(v);
            for (size_t j = 0; j < vars->n; j++)
                free(vars->value[j]);
            vars->n = 0;
            return false;
        }
        vars->name[i] = tv->name[i];
        vars->value[i] = v;
        vars->n = i + 1;
    }
    return true;
}

/* The value of a template variable by name, or NULL. */
const char *mcp_vars_get(const struct mcp_vars *vars, const char *name)
{
    if (vars == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < vars->n; i++)
        if (strcmp(vars->name[i], name) == 0)
            return vars->value[i];
    return NULL;
}

static int not_found(struct fail *f, const char *uri)
{
    f->data = cJSON_CreateObject();
    cJSON_AddStringToObject(f->data, "uri", uri);
    return fail_set(f, MCP_RESOURCE_NOT_FOUND, "Resource not found");
}

static int m_resources_read(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    const struct mcp_resource *res = NULL;
    struct mcp_vars vars = {0};
    struct err e = {0};
    const char *uri;
    cJSON *r, *contents;
    int rc;

    if (get_string(params, "resources/read", "uri", true, &uri, f) == -1)
        return -1;
    if (strlen(uri) > MCP_URI_MAX)
        return fail_set(f, RPC_INVALID_PARAMS, "resources/read: uri is longer than %d bytes",
                        MCP_URI_MAX);
    for (size_t i = 0; i < srv->nfixed && res == NULL; i++)
        if (strcmp(srv->reg->resources[srv->fixed[i]].uri, uri) == 0)
            res = &srv->reg->resources[srv->fixed[i]];
    for (size_t i = 0; i < srv->ntemplates && res == NULL; i++)
        if (template_match(srv, srv->templates[i], uri, &vars))
            res = &srv->reg->resources[srv->templates[i]];
    if (res == NULL)
        return not_found(f, uri);
    c->audit_name = res->uri;

    r = cJSON_CreateObject();
    contents = cJSON_AddArrayToObject(r, "contents");
    rc = res->read(c, uri, &vars, contents, &e);
    for (size_t i = 0; i < vars.n; i++)
        free(vars.value[i]);
    if (rc == -1) {
        cJSON_Delete(r);
        if (e.code == ERR_NOT_FOUND)
            return not_found(f, uri);
        return fail_from_err(f, "resources/read", &e);
    }
    *result = r;
    return 0;
}

static int m_subscribe(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const char *uri;

    (void)c;
    if (get_string(params, "resources/subscribe", "uri", true, &uri, f) == -1)
        return -1;
    *result = cJSON_CreateObject();
    return 0;
}

/* ---- prompts ---- */

static const struct mcp_prompt *prompt_find(const struct mcp_server *srv, const char *name)
{
    for (size_t i = 0; i < srv->reg->nprompts; i++)
        if (strcmp(srv->reg->prompts[i].name, name) == 0)
            return &srv->reg->prompts[i];
    return NULL;
}

static int m_prompts_list(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    size_t off, end, n = srv->reg->nprompts;
    cJSON *r, *list;

    if (page_offset(c, params, "prompts/list", n, &off, f) == -1)
        return -1;
    end = off + MCP_PAGE_SIZE < n ? off + MCP_PAGE_SIZE : n;
    r = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(r, "prompts");
    for (size_t i = off; i < end; i++) {
        const struct mcp_prompt *p = &srv->reg->prompts[i];
        cJSON *e = cJSON_CreateObject(), *args;

        cJSON_AddStringToObject(e, "name", p->name);
        add_opt_string(e, "title", p->title);
        add_opt_string(e, "description", p->description);
        args = cJSON_AddArrayToObject(e, "arguments");
        for (size_t k = 0; k < p->nargs; k++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "name", p->args[k].name);
            add_opt_string(a, "description", p->args[k].description);
            cJSON_AddBoolToObject(a, "required", p->args[k].required);
            cJSON_AddItemToArray(args, a);
        }
        cJSON_AddItemToArray(list, e);
    }
    add_offset_cursor(c, r, "prompts/list", end, n);
    *result = r;
    return 0;
}

/* Every member of obj (may be NULL) must be a string. */
static int strings_only(const cJSON *obj, const char *what, struct fail *f)
{
    const cJSON *a;
    char shown[MCP_ECHO_MAX + 4];

    cJSON_ArrayForEach(a, obj)
    {
        if (!cJSON_IsString(a))
            return fail_set(f, RPC_INVALID_PARAMS, "%s: argument %s must be a string", what,
                            echo(a->string ? a->string : "", shown, sizeof shown));
    }
    return 0;
}

static int m_prompts_get(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_prompt *p;
    const char *name;
    const cJSON *args;
    cJSON *empty = NULL, *r;
    struct err e = {0};
    char shown[MCP_ECHO_MAX + 4];

    if (get_string(params, "prompts/get", "name", true, &name, f) == -1)
        return -1;
    if ((p = prompt_find(c->s->srv, name)) == NULL)
        return fail_set(f, RPC_INVALID_PARAMS, "Unknown prompt: %s",
                        echo(name, shown, sizeof shown));
    if (get_object(params, "prompts/get", "arguments", false, &args, f) == -1 ||
        strings_only(args, "prompts/get", f) == -1)
        return -1;
    for (size_t i = 0; i < p->nargs; i++) {
        const cJSON *v = field(args, p->args[i].name);
        if (p->args[i].required && v == NULL)
            return fail_set(f, RPC_INVALID_PARAMS, "Missing required argument: %s",
                            p->args[i].name);
    }
    if (args == NULL)
        args = empty = cJSON_CreateObject();
    r = cJSON_CreateObject();
    if (p->get(c, args, r, &e) == -1) {
        cJSON_Delete(r);
        cJSON_Delete(empty);
        return fail_from_err(f, p->name, &e);
    }
    cJSON_Delete(empty);
    if (!cJSON_IsArray(field(r, "messages"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(r, "messages");
        cJSON_AddArrayToObject(r, "messages");
    }
    *result = r;
    return 0;
}

/* ---- completion ---- */

static int m_complete(struct mcp_call *c, const cJSON *params, cJSON **result, struct fail *f)
{
    const struct mcp_server *srv = c->s->srv;
    const cJSON *ref, *arg, *ctx, *ctx_args = NULL;
    const char *type, *ref_name = NULL, *arg_name, *value;
    char shown[MCP_ECHO_MAX + 4];
    struct err e = {0};
    bool has_more = false, known = false;
    cJSON *values, *r, *comp;
    int n;

    if (get_object(params, "completion/complete", "ref", true, &ref, f) == -1 ||
        get_string(ref, "completion/complete: ref", "type", true, &type, f) == -1 ||
        get_object(params, "completion/complete", "argument", true, &arg, f) == -1 ||
        get_string(arg, "completion/complete: argument", "name", true, &arg_name, f) == -1 ||
        get_string(arg, "completion/complete: argument", "value", true, &value, f) == -1 ||
        get_object(params, "completion/complete", "context", false, &ctx, f) == -1 ||
        (ctx != NULL &&
         get_object(ctx, "completion/complete: context", "arguments", false, &ctx_args, f) == -1) ||
        strings_only(ctx_args, "completion/complete: context", f) == -1)
        return -1;
    if (strlen(value) > MCP_VALUE_MAX)
        return fail_set(f, RPC_INVALID_PARAMS,
                        "completion/complete: argument.value is longer than %d bytes",
                        MCP_VALUE_MAX);
    if (strcmp(type, "ref/prompt") == 0) {
        if (get_string(ref, "completion/complete: ref", "name", true, &ref_name, f) == -1)
            return -1;
        if (prompt_find(srv, ref_name) == NULL)
            return fail_set(f, RPC_INVALID_PARAMS, "Unknown prompt: %s",
                            echo(ref_name, shown, sizeof shown));
    } else if (strcmp(type, "ref/resource") == 0) {
        if (get_string(ref, "completion/complete: ref", "uri", true, &ref_name, f) == -1)
            return -1;
        for (size_t i = 0; i < srv->reg->nresources && !known; i++)
            known = strcmp(srv->reg->resources[i].uri, ref_name) == 0;
        if (!known)
            return fail_set(f, RPC_INVALID_PARAMS, "Unknown resource template: %s",
                            echo(ref_name, shown, sizeof shown));
    } else {
        return fail_set(f, RPC_INVALID_PARAMS,
                        "completion/complete: ref.type must be \"ref/prompt\" or "
                        "\"ref/resource\"");
    }

    values = cJSON_CreateArray();
    if (srv->reg->complete(c, type, ref_name, arg_name, value, ctx_args, values, &has_more, &e) ==
        -1) {
        cJSON_Delete(values);
        return fail_from_err(f, "completion/complete", &e);
    }
    /* Keep strings only, at most MCP_COMPLETE_MAX of them. */
    n = 0;
    for (cJSON *it = values->child; it != NULL;) {
        cJSON *nx = it->next;
        if (!cJSON_IsString(it) || n >= MCP_COMPLETE_MAX) {
            if (cJSON_IsString(it))
                has_more = true;
            cJSON_Delete(cJSON_DetachItemViaPointer(values, it));
        } else {
            n++;
        }
        it = nx;
    }
    r = cJSON_CreateObject();
    comp = cJSON_AddObjectToObject(r, "completion");
    cJSON_AddItemToObject(comp, "values", values);
    if (!has_more)
        cJSON_AddNumberToObject(comp, "total", n);
    cJSON_AddBoolToObject(comp, "hasMore", has_more);
    *result = r;
    return 0;
}

/* ---- for handlers ---- */

/* The store of the thread serving the call (NULL when the transport has none). */
struct store *mcp_call_store(struct mcp_call *c)
{
    return c->st;
}

/* The application pointer from mcp_server_opts.app. */
void *mcp_call_app(struct mcp_call *c)
{
    return c->s->srv->opts.app;
}

/* True when the server refuses tools that write. */
bool mcp_call_read_only(struct mcp_call *c)
{
    return c->s->srv->opts.read_only;
}

/* The server's random key for signing cursors (MCP_CURSOR_KEY_BYTES bytes). */
const unsigned char *mcp_call_cursor_key(struct mcp_call *c)
{
    return c->s->srv->key;
}

/* Note a call id the answer holds (copied; each once; at most STORE_AUDIT_IDS_MAX). */
void mcp_call_returned(struct mcp_call *c, const char *call_id)
{
    if (call_id == NULL || c->nreturned == STORE_AUDIT_IDS_MAX)
        return;
    for (size_t i = 0; i < c->nreturned; i++)
        if (strcmp(c->returned[i], call_id) == 0)
            return;
    if (c->nreturned == c->returned_cap) {
        c->returned_cap = c->returned_cap ? 2 * c->returned_cap : 8;
        c->returned = xreallocarray(c->returned, c->returned_cap, sizeof *c->returned);
    }
    c->returned[c->nreturned++] = xstrdup(call_id);
}

/* True once the client cancelled this request; the response will not be sent. */
bool mcp_call_cancelled(struct mcp_call *c)
{
    return atomic_load(&c->cancelled);
}

/*
 * Send notifications/progress when the request carried a progressToken.
 * Values that do not increase, and anything after cancellation, are
 * dropped. total <= 0 (unknown) and a NULL message are left out.
 */
void mcp_call_progress(struct mcp_call *c, double progress, double total, const char *message)
{
    cJSON *p;

    if (c->progress_token == NULL || atomic_load(&c->cancelled) || !isfinite(progress) ||
        (c->progress_sent && progress <= c->last_progress))
        return;
    c->progress_sent = true;
    c->last_progress = progress;
    p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "progressToken", token_copy(c->progress_token));
    cJSON_AddNumberToObject(p, "progress", progress);
    if (isfinite(total) && total > 0)
        cJSON_AddNumberToObject(p, "total", total);
    add_opt_string(p, "message", message);
    send_take(c, rpc_notification("notifications/progress", p));
}

/*
 * Send notifications/message {level, logger, data} when level is at or
 * above the session's (logging/setLevel; "warning" until set). data is
 * taken over on every path (NULL sends null); an unknown level drops it.
 */
void mcp_call_log(struct mcp_call *c, const char *level, const char *logger, cJSON *data)
{
    cJSON *p;
    size_t i;

    for (i = 0; level != NULL && i < LOG_LEVELS_N; i++)
        if (strcmp(level, log_levels[i]) == 0)
            break;
    if (level == NULL || i == LOG_LEVELS_N || (int)i < atomic_load(&c->s->log_level) ||
        atomic_load(&c->cancelled)) {
        cJSON_Delete(data);
        return;
    }
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "level", log_levels[i]);
    add_opt_string(p, "logger", logger);
    cJSON_AddItemToObject(p, "data", data != NULL ? data : cJSON_CreateNull());
    send_take(c, rpc_notification("notifications/message", p));
}

static cJSON *content_array(cJSON *result)
{
    cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");

    if (!cJSON_IsArray(content)) {
        cJSON_DeleteItemFromObjectCaseSensitive(result, "content");
        content = cJSON_AddArrayToObject(result, "content");
    }
    return content;
}

/* {"type":"text","text":text}, taking over text (a string item, or a raw one already quoted). */
static cJSON *text_block(cJSON *text)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddItemToObject(b, "text", text);
    return b;
}

/*
 * Set result's structuredContent to structured (taken over) and put its
 * compact JSON, after text_prefix and a newline when given, first in
 * content. structured is printed once: structuredContent holds that text
 * as a raw item, which printing the result copies as it is.
 */
void mcp_result_structured(cJSON *result, cJSON *structured, const char *text_prefix)
{
    char *json = cJSON_PrintUnformatted(structured);
    cJSON *content = content_array(result), *block;
    struct buf quoted = {0};

    if (json == NULL)
        fatalx("mcp: cannot print structured content");
    /* The text, quoted once here and kept raw: cJSON would copy it, then escape it byte by byte. */
    if (text_prefix != NULL) {
        struct buf b = {0};
        buf_puts(&b, text_prefix);
        buf_puts(&b, "\n");
        buf_puts(&b, json);
        buf_json_string(&quoted, b.data, b.len);
        buf_free(&b);
    } else {
        buf_json_string(&quoted, json, strlen(json));
    }
    block = text_block(json_raw_take(buf_steal(&quoted, NULL)));
    if (cJSON_GetArraySize(content) == 0)
        cJSON_AddItemToArray(content, block);
    else
        cJSON_InsertItemInArray(content, 0, block);
    cJSON_Delete(structured);
    cJSON_DeleteItemFromObjectCaseSensitive(result, "structuredContent");
    cJSON_AddItemToObject(result, "structuredContent", json_raw_take(json));
}

/* Append {"type":"text","text":text} to result's content. */
void mcp_result_text(cJSON *result, const char *text)
{
    cJSON_AddItemToArray(content_array(result),
                         text_block(cJSON_CreateString(text != NULL ? text : "")));
}
