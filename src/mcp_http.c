/*
 * mcp_http.c: the Streamable HTTP transport (MCP 2025-03-26 .. 2025-11-25)
 * at /mcp on the private listener.
 *
 * POST carries one JSON-RPC message. Notifications and responses are
 * handed to the session at once and answered 202. Requests go to a pool of
 * workers, each with its own store connection, while the connection is
 * suspended; the answer's form is decided by what the engine sends first:
 * the response itself gives an application/json reply; a notification
 * (progress, log) first turns the reply into a text/event-stream that
 * carries a priming event, the notifications as they happen, and then the
 * response. GET is answered 405 (the server never sends unprompted
 * messages); DELETE ends a session.
 *
 * Sessions: initialize creates one with a signed id (Mcp-Session-Id, see
 * sid_make); every later request must carry it (400 without, 404 for an
 * unknown or ended one). A signed id this daemon has not seen began on
 * another daemon with the same key (behind one load balancer) and is taken
 * up as it comes. Idle sessions are dropped, and their number is bounded.
 *
 * Ownership and threads: a struct mh_req is shared by libmicrohttpd (until
 * the request completes), a worker (while it runs the request) and an
 * event-stream response (until libmicrohttpd frees it); each holds a
 * reference and the last release frees it. The request's output buffer and
 * flags are guarded by its mutex; a connection is resumed only by whoever
 * finds it suspended under that mutex, and a suspended connection cannot
 * complete, so a resume never reaches a closed connection. Sessions are
 * reference-counted the same way under the transport's session lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "jsonrpc.h"
#include "log.h"
#include "mcp_http.h"
#include "textutil.h"
#include "xmalloc.h"

#define MH_QUEUE_MAX 4096 /* requests waiting for a worker */

static const char *const mh_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

/*
 * A session id: base64url of version 1, the time it was made (ms, big
 * endian), 16 random bytes and the first 16 bytes of HMAC-SHA256 over
 * those under the server's key. Any daemon holding the same key (see
 * mcp_server_opts.key) can tell its own ids from forged ones.
 */
#define SID_RAW   (1 + 8 + 16)
#define SID_MAC   16
#define SID_LEN   55   /* base64url of SID_RAW + SID_MAC bytes, no padding */
#define SID_ENDED 1024 /* ended ids remembered, so that they stay ended here */

struct mh_session {
    char id[SID_LEN + 1];
    struct mcp_session *s;
    unsigned refs; /* the table's, plus one per request using it */
    int64_t last_ms;
    bool listed; /* still in the table (not ended or expired) */
    struct mh_session *next;
};

enum mh_state { MH_READING, MH_WORKING, MH_ANSWERED };
enum mh_mode { MH_UNDECIDED, MH_JSON, MH_SSE };

struct mh_req {
    struct mcp_http *h;
    struct MHD_Connection *conn;
    atomic_int refs;
    enum mh_state state;
    struct buf body;
    bool too_large;
    struct mh_session *sess;
    bool new_session; /* initialize made sess: send its id */
    pthread_mutex_t lock;
    enum mh_mode mode;
    struct buf out;
    size_t out_off;
    bool finished;  /* the worker is done with the request */
    bool suspended; /* the connection is suspended, waiting for output */
    struct mh_req *qnext;
};

struct mcp_http {
    struct mcp_http_opts opts;
    pthread_mutex_t qlock;
    pthread_cond_t qcond, qidle;
    struct mh_req *qhead, *qtail;
    unsigned qlen, busy, next_store;
    bool stopping;
    pthread_t *threads;
    struct store **stores;
    unsigned nworkers;
    pthread_mutex_t slock;
    struct mh_session *sessions;
    unsigned nsessions;
    char (*ended)[SID_LEN + 1]; /* ring of SID_ENDED ids ended or expired here */
    unsigned nended;
    atomic_ullong requests;
    atomic_ullong adopted; /* sessions taken up from another daemon */
    atomic_ullong events;  /* event ids: unique across every stream */
};

/* ---- sessions ---- */

static void sid_mac(const struct mcp_http *h, const unsigned char *raw, unsigned char *mac)
{
    unsigned char full[32], msg[sizeof "mcp-session" + SID_RAW];

    memcpy(msg, "mcp-session", sizeof "mcp-session");
    memcpy(msg + sizeof "mcp-session", raw, SID_RAW);
    auth_mac(mcp_server_key(h->opts.srv), msg, sizeof msg, full);
    memcpy(mac, full, SID_MAC);
}

/* A fresh signed id into out. */
static void sid_make(const struct mcp_http *h, int64_t now, char out[SID_LEN + 1])
{
    unsigned char raw[SID_RAW + SID_MAC];
    char *text;

    raw[0] = 1;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)((uint64_t)now >> (56 - 8 * i));
    auth_random(raw + 9, 16);
    sid_mac(h, raw, raw + SID_RAW);
    text = auth_b64url_encode(raw, sizeof raw);
    memcpy(out, text, SID_LEN + 1);
    free(text);
}

/* Whether id is one this server's key signed. */
static bool sid_valid(const struct mcp_http *h, const char *id)
{
    unsigned char *raw = NULL, mac[SID_MAC];
    size_t len = 0;
    bool ok;

    if (strlen(id) != SID_LEN || auth_b64url_decode(id, &raw, &len) == -1)
        return false;
    ok = len == SID_RAW + SID_MAC && raw[0] == 1;
    if (ok) {
        sid_mac(h, raw, mac);
        ok = auth_equal(mac, raw + SID_RAW, SID_MAC);
    }
    free(raw);
    return ok;
}

/* Remember that id ended here (DELETE or idle), so that it is not taken up again. */
static void sid_ended_locked(struct mcp_http *h, const char *id)
{
    memcpy(h->ended[h->nended++ % SID_ENDED], id, SID_LEN + 1);
}

static bool sid_is_ended_locked(const struct mcp_http *h, const char *id)
{
    unsigned n = h->nended < SID_ENDED ? h->nended : SID_ENDED;

    for (unsigned i = 0; i < n; i++)
        if (auth_equal(h->ended[i], id, SID_LEN))
            return true;
    return false;
}

static void session_release_locked(struct mcp_http *h, struct mh_session *ss)
{
    (void)h;
    if (--ss->refs == 0) {
        mcp_session_free(ss->s);
        free(ss);
    }
}

/* Take a session out of the table; the table's reference passes to the caller. */
static void session_unlist_locked(struct mcp_http *h, struct mh_session *ss)
{
    struct mh_session **pp;

    for (pp = &h->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ss) {
            *pp = ss->next;
            ss->listed = false;
            h->nsessions--;
            return;
        }
    }
}

/* Drop sessions idle for longer than session_idle_s and not in use. */
static void sessions_expire_locked(struct mcp_http *h, int64_t now)
{
    struct mh_session *ss = h->sessions, *next;
    int64_t idle = (int64_t)h->opts.session_idle_s * 1000;

    for (; ss != NULL; ss = next) {
        next = ss->next;
        if (ss->refs == 1 && now - ss->last_ms > idle) {
            sid_ended_locked(h, ss->id);
            session_unlist_locked(h, ss);
            session_release_locked(h, ss); /* the table's reference: frees it */
        }
    }
}

/* A new session with a fresh random id, referenced for the caller; NULL when full. */
static struct mh_session *session_create(struct mcp_http *h)
{
    struct mh_session *ss;
    int64_t now = time_now_ms();

    pthread_mutex_lock(&h->slock);
    sessions_expire_locked(h, now);
    if (h->nsessions >= h->opts.max_sessions) {
        pthread_mutex_unlock(&h->slock);
        return NULL;
    }
    ss = xcalloc(1, sizeof *ss);
    sid_make(h, now, ss->id);
    ss->s = mcp_session_new(h->opts.srv);
    mcp_session_set_origin(ss->s, "http", ss->id);
    ss->refs = 2; /* the table and the caller */
    ss->last_ms = now;
    ss->listed = true;
    ss->next = h->sessions;
    h->sessions = ss;
    h->nsessions++;
    pthread_mutex_unlock(&h->slock);
    return ss;
}

/*
 * The session with this id, referenced for the caller, or NULL. An id this
 * server's key signed that is not in the table began on another daemon
 * (or before a restart): it is taken up, ready, with the protocol version
 * the request names (MCP-Protocol-Version; 2025-03-26 when absent, as the
 * specification says), unless it ended here or the table is full.
 */
static struct mh_session *session_find(struct mcp_http *h, const char *id, const char *protocol)
{
    struct mh_session *ss, *found = NULL;
    int64_t now = time_now_ms();

    if (strlen(id) != SID_LEN)
        return NULL;
    pthread_mutex_lock(&h->slock);
    sessions_expire_locked(h, now);
    for (ss = h->sessions; ss != NULL; ss = ss->next) {
        if (auth_equal(ss->id, id, SID_LEN)) {
            found = ss;
            found->refs++;
            found->last_ms = now;
            break;
        }
    }
    if (found == NULL && protocol != NULL && h->nsessions < h->opts.max_sessions &&
        !sid_is_ended_locked(h, id) && sid_valid(h, id)) {
        struct mcp_session *ms = mcp_session_resume(h->opts.srv, protocol);

        if (ms != NULL) {
            found = xcalloc(1, sizeof *found);
            memcpy(found->id, id, SID_LEN + 1);
            found->s = ms;
            mcp_session_set_origin(ms, "http", found->id);
            found->refs = 2; /* the table and the caller */
            found->last_ms = now;
            found->listed = true;
            found->next = h->sessions;
            h->sessions = found;
            h->nsessions++;
            atomic_fetch_add(&h->adopted, 1);
        }
    }
    pthread_mutex_unlock(&h->slock);
    return found;
}

static void session_release(struct mcp_http *h, struct mh_session *ss)
{
    if (ss == NULL)
        return;
    pthread_mutex_lock(&h->slock);
    ss->last_ms = time_now_ms();
    session_release_locked(h, ss);
    pthread_mutex_unlock(&h->slock);
}

/* ---- requests ---- */

static void req_release(struct mh_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    session_release(r->h, r->sess);
    buf_free(&r->body);
    buf_free(&r->out);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Wake the connection if it waits for output. Caller holds r->lock. */
static void req_wake_locked(struct mh_req *r)
{
    if (r->suspended) {
        r->suspended = false;
        mhd.resume_connection(r->conn);
    }
}

/* The engine's send callback: runs on the worker thread. */
static void mh_send(void *arg, const char *json)
{
    struct mh_req *r = arg;
    bool note = rpc_is_notification(json);

    pthread_mutex_lock(&r->lock);
    if (r->mode == MH_UNDECIDED) {
        r->mode = note ? MH_SSE : MH_JSON;
        if (r->mode == MH_SSE) /* the priming event: an id and empty data */
            buf_printf(&r->out, "id: %llu\ndata:\n\n",
                       (unsigned long long)atomic_fetch_add(&r->h->events, 1) + 1);
    }
    if (r->mode == MH_JSON)
        buf_puts(&r->out, json);
    else
        buf_printf(&r->out, "event: message\ndata: %s\n\n", json);
    req_wake_locked(r);
    pthread_mutex_unlock(&r->lock);
}

static void *mh_worker(void *arg)
{
    struct mcp_http *h = arg;
    struct store *st;
    unsigned idx;

    pthread_mutex_lock(&h->qlock);
    idx = h->next_store++; /* each worker takes the next store */
    st = h->stores[idx];
    for (;;) {
        struct mh_req *r;

        while (h->qhead == NULL && !h->stopping)
            pthread_cond_wait(&h->qcond, &h->qlock);
        if (h->qhead == NULL)
            break;
        r = h->qhead;
        h->qhead = r->qnext;
        if (h->qhead == NULL)
            h->qtail = NULL;
        h->qlen--;
        h->busy++;
        pthread_mutex_unlock(&h->qlock);

        mcp_session_handle(r->sess->s, st, r->body.data, r->body.len, mh_send, r);
        pthread_mutex_lock(&r->lock);
        r->finished = true;
        req_wake_locked(r);
        pthread_mutex_unlock(&r->lock);
        req_release(r);

        pthread_mutex_lock(&h->qlock);
        h->busy--;
        if (h->qhead == NULL && h->busy == 0)
            pthread_cond_broadcast(&h->qidle);
    }
    pthread_mutex_unlock(&h->qlock);
    return NULL;
}

/* Start the workers; each opens its own store connection here so errors are reported. */
struct mcp_http *mcp_http_new(const struct mcp_http_opts *opts, struct err *err)
{
    struct mcp_http *h = xcalloc(1, sizeof *h);
    unsigned i;

    h->opts = *opts;
    h->nworkers = opts->workers ? opts->workers : 4;
    h->ended = xcalloc(SID_ENDED, sizeof *h->ended);
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
    pthread_cond_init(&h->qidle, NULL);
    pthread_mutex_init(&h->slock, NULL);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    h->stores = xcalloc(h->nworkers, sizeof *h->stores);
    h->threads = xcalloc(h->nworkers, sizeof *h->threads);
    for (i = 0; i < h->nworkers; i++) {
        h->stores[i] = store_open(opts->db_path, &opts->store, err);
        if (h->stores[i] == NULL)
            goto fail;
    }
    pthread_mutex_lock(&h->qlock);
    for (i = 0; i < h->nworkers; i++) {
        if (pthread_create(&h->threads[i], NULL, mh_worker, h) != 0) {
            pthread_mutex_unlock(&h->qlock);
            fatalx("cannot start an MCP worker thread");
        }
    }
    pthread_mutex_unlock(&h->qlock);
    return h;
fail:
    for (i = 0; i < h->nworkers; i++)
        store_close(h->stores[i]);
    free(h->stores);
    free(h->threads);
    free(h->ended);
    free(h);
    return NULL;
}

void mcp_http_quiesce(struct mcp_http *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->qlock);
    h->stopping = true;
    pthread_cond_broadcast(&h->qcond);
    while (h->qhead != NULL || h->busy > 0)
        pthread_cond_wait(&h->qidle, &h->qlock);
    pthread_mutex_unlock(&h->qlock);
}

void mcp_http_free(struct mcp_http *h)
{
    struct mh_session *ss, *next;

    if (h == NULL)
        return;
    mcp_http_quiesce(h);
    for (unsigned i = 0; i < h->nworkers; i++)
        pthread_join(h->threads[i], NULL);
    for (unsigned i = 0; i < h->nworkers; i++)
        store_close(h->stores[i]);
    for (ss = h->sessions; ss != NULL; ss = next) {
        next = ss->next;
        mcp_session_free(ss->s);
        free(ss);
    }
    pthread_mutex_destroy(&h->qlock);
    pthread_cond_destroy(&h->qcond);
    pthread_cond_destroy(&h->qidle);
    pthread_mutex_destroy(&h->slock);
    free(h->stores);
    free(h->threads);
    free(h->ended);
    free(h);
}

void mcp_http_get_stats(struct mcp_http *h, struct mcp_http_stats *out)
{
    pthread_mutex_lock(&h->slock);
    out->sessions = h->nsessions;
    pthread_mutex_unlock(&h->slock);
    out->requests = atomic_load(&h->requests);
}

/* ---- replies ---- */

static enum MHD_Result mh_reply(struct mh_req *r, unsigned status, const char *ctype,
                                const char *body)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    r->state = MH_ANSWERED;
    resp = mhd.create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (ctype != NULL)
        mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    mhd.add_response_header(resp, "Cache-Control", "no-store");
    if (r->new_session && r->sess != NULL)
        mhd.add_response_header(resp, "Mcp-Session-Id", r->sess->id);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST, DELETE");
    rc = mhd.queue_response(r->conn, status, resp);
    mhd.destroy_response(resp);
    return rc;
}

/* An HTTP error whose body is a JSON-RPC error (what MCP clients expect). */
static enum MHD_Result mh_rpc_error(struct mh_req *r, unsigned status, const cJSON *id, int code,
                                    const char *message)
{
    char *json = rpc_error(id, code, message, NULL);
    enum MHD_Result rc = mh_reply(r, status, "application/json", json);

    free(json);
    return rc;
}

static ssize_t mh_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mh_req *r = cls;
    ssize_t n = 0;

    (void)pos;
    pthread_mutex_lock(&r->lock);
    if (r->out_off < r->out.len) {
        size_t left = r->out.len - r->out_off;
        n = (ssize_t)(left < max ? left : max);
        memcpy(buf, r->out.data + r->out_off, (size_t)n);
        r->out_off += (size_t)n;
        if (r->out_off == r->out.len) {
            buf_reset(&r->out);
            r->out_off = 0;
        }
    } else if (r->finished) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        r->suspended = true;
        mhd.suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

static void mh_sse_free(void *cls)
{
    req_release(cls);
}

/* Called with r->lock held once output exists or the worker finished. */
static enum MHD_Result mh_answer_locked(struct mh_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    if (r->mode == MH_JSON) /* the response is the last message the engine sends */
        return mh_reply(r, MHD_HTTP_OK, "application/json", r->out.data);
    if (r->mode == MH_SSE) {
        r->state = MH_ANSWERED;
        atomic_fetch_add(&r->refs, 1); /* the response's reference */
        resp =
            mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, mh_sse_read, r, mh_sse_free);
        if (resp == NULL) {
            req_release(r);
            return MHD_NO;
        }
        mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        mhd.add_response_header(resp, "Cache-Control", "no-store");
        if (r->new_session)
            mhd.add_response_header(resp, "Mcp-Session-Id", r->sess->id);
        rc = mhd.queue_response(r->conn, MHD_HTTP_OK, resp);
        mhd.destroy_response(resp);
        return rc;
    }
    if (r->finished) /* cancelled: the engine sent nothing */
        return mh_reply(r, MHD_HTTP_ACCEPTED, NULL, "");
    /* Woken before any output: wait for it. */
    r->suspended = true;
    mhd.suspend_connection(r->conn);
    return MHD_YES;
}

/* True when the Accept header lists both JSON and event streams (or wildcards). */
static bool mh_accepts(const char *accept)
{
    bool json = false, sse = false;
    const char *p = accept;

    while (p != NULL && *p != '\0') {
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ",;");
        if ((n == 16 && strncasecmp(p, "application/json", 16) == 0) ||
            (n == 13 && strncasecmp(p, "application/*", 13) == 0))
            json = true;
        if ((n == 17 && strncasecmp(p, "text/event-stream", 17) == 0) ||
            (n == 6 && strncasecmp(p, "text/*", 6) == 0))
            sse = true;
        if (n == 3 && strncmp(p, "*/*", 3) == 0)
            json = sse = true;
        p += n;
        p += strcspn(p, ","); /* skip parameters */
    }
    return json && sse;
}

static bool mh_json_type(const char *ct)
{
    size_t n;

    if (ct == NULL)
        return false;
    n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* The whole body is here: check the envelope, then route the message. */
static enum MHD_Result mh_post(struct mh_req *r)
{
    struct mcp_http *h = r->h;
    const char *sid = http_header(r->conn, "Mcp-Session-Id");
    const char *ver = http_header(r->conn, "MCP-Protocol-Version");
    struct rpc_msg msg;
    enum MHD_Result rc;

    if (r->too_large)
        return mh_rpc_error(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, RPC_INVALID_REQUEST,
                            "the message is larger than body_max");
    if (!mh_accepts(http_header(r->conn, MHD_HTTP_HEADER_ACCEPT)))
        return mh_rpc_error(r, MHD_HTTP_NOT_ACCEPTABLE, NULL, RPC_INVALID_REQUEST,
                            "Accept must list application/json and text/event-stream");
    if (!mh_json_type(http_header(r->conn, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return mh_rpc_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, RPC_INVALID_REQUEST,
                            "Content-Type must be application/json");
    if (ver != NULL) {
        bool known = false;
        for (size_t i = 0; i < sizeof mh_versions / sizeof mh_versions[0]; i++)
            known |= strcmp(ver, mh_versions[i]) == 0;
        if (!known)
            return mh_rpc_error(r, MHD_HTTP_BAD_REQUEST, NULL, RPC_INVALID_REQUEST,
                                "unsupported MCP-Protocol-Version; supported: 2025-11-25, "
                                "2025-06-18, 2025-03-26");
    }
    rpc_parse(r->body.data, r->body.len, &msg);
    if (msg.kind == RPC_INVALID) {
        /* The parser's advice for batches is stdio's ("one message per line"). */
        const char *text = cJSON_IsArray(msg.root)
                               ? "Invalid Request: batches (JSON arrays) are not "
                                 "supported; send one message per POST"
                               : msg.error_msg;
        rc = mh_rpc_error(r, MHD_HTTP_BAD_REQUEST, msg.id, msg.error_code, text);
        rpc_msg_free(&msg);
        return rc;
    }
    if (msg.kind == RPC_REQUEST && strcmp(msg.method, "initialize") == 0 && sid == NULL) {
        r->sess = session_create(h);
        if (r->sess == NULL) {
            rc = mh_rpc_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, msg.id, RPC_INTERNAL_ERROR,
                              "too many MCP sessions; end one with DELETE or retry later");
            rpc_msg_free(&msg);
            return rc;
        }
        r->new_session = true;
    } else if (sid == NULL) {
        rc = mh_rpc_error(r, MHD_HTTP_BAD_REQUEST, msg.id, -32000,
                          "Bad Request: Mcp-Session-Id header is required");
        rpc_msg_free(&msg);
        return rc;
    } else if ((r->sess = session_find(h, sid, ver != NULL ? ver : "2025-03-26")) == NULL) {
        rc = mh_rpc_error(r, MHD_HTTP_NOT_FOUND, msg.id, -32001,
                          "Session not found: start a new one with initialize");
        rpc_msg_free(&msg);
        return rc;
    }

    if (msg.kind != RPC_REQUEST) {
        /* Notifications (initialized, cancelled) and responses: no answer but 202. */
        rpc_msg_free(&msg);
        mcp_session_handle(r->sess->s, NULL, r->body.data, r->body.len, mh_send, r);
        return mh_reply(r, MHD_HTTP_ACCEPTED, NULL, "");
    }
    rpc_msg_free(&msg);
    atomic_fetch_add(&h->requests, 1);

    pthread_mutex_lock(&h->qlock);
    if (h->stopping || h->qlen >= MH_QUEUE_MAX) {
        pthread_mutex_unlock(&h->qlock);
        return mh_rpc_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, RPC_INTERNAL_ERROR,
                            "the server is busy or shutting down; retry later");
    }
    r->state = MH_WORKING;
    atomic_fetch_add(&r->refs, 1); /* the worker's reference */
    pthread_mutex_lock(&r->lock);
    r->suspended = true;
    mhd.suspend_connection(r->conn);
    pthread_mutex_unlock(&r->lock);
    if (h->qtail != NULL)
        h->qtail->qnext = r;
    else
        h->qhead = r;
    h->qtail = r;
    h->qlen++;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    return MHD_YES;
}

static enum MHD_Result mh_delete(struct mh_req *r)
{
    const char *sid = http_header(r->conn, "Mcp-Session-Id");
    struct mh_session *ss;

    if (sid == NULL)
        return mh_rpc_error(r, MHD_HTTP_BAD_REQUEST, NULL, -32000,
                            "Bad Request: Mcp-Session-Id header is required");
    if ((ss = session_find(r->h, sid, NULL)) == NULL) {
        /* Begun on another daemon: it ends here too. */
        bool known;

        pthread_mutex_lock(&r->h->slock);
        known = strlen(sid) == SID_LEN && !sid_is_ended_locked(r->h, sid) && sid_valid(r->h, sid);
        if (known)
            sid_ended_locked(r->h, sid);
        pthread_mutex_unlock(&r->h->slock);
        if (!known)
            return mh_rpc_error(r, MHD_HTTP_NOT_FOUND, NULL, -32001, "Session not found");
        return mh_reply(r, MHD_HTTP_OK, NULL, "");
    }
    pthread_mutex_lock(&r->h->slock);
    if (ss->listed) {
        sid_ended_locked(r->h, ss->id);
        session_unlist_locked(r->h, ss);
        ss->refs--; /* the table's reference; ours keeps it alive */
    }
    session_release_locked(r->h, ss);
    pthread_mutex_unlock(&r->h->slock);
    return mh_reply(r, MHD_HTTP_OK, NULL, "");
}

enum MHD_Result mcp_http_handle(struct mcp_http *h, struct MHD_Connection *conn, const char *method,
                                const char *upload, size_t *upload_size, void **req_cls)
{
    struct mh_req *r = *req_cls;
    enum MHD_Result rc;

    if (r == NULL) {
        const char *cl = http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        r = xcalloc(1, sizeof *r);
        r->h = h;
        r->conn = conn;
        atomic_init(&r->refs, 1);
        pthread_mutex_init(&r->lock, NULL);
        *req_cls = r;
        if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
            return mh_delete(r);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return mh_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
                            "{\"error\":\"method_not_allowed\",\"message\":\"use POST to send "
                            "messages and DELETE to end a session; this server sends no "
                            "messages on its own, so GET streams are not offered\"}");
        if (http_header_count(conn, MHD_HTTP_HEADER_CONTENT_LENGTH) > 1 ||
            (cl != NULL && http_header_count(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) > 0))
            return mh_rpc_error(r, MHD_HTTP_BAD_REQUEST, NULL, RPC_INVALID_REQUEST,
                                "conflicting Content-Length / Transfer-Encoding headers");
        if (cl != NULL && strtoull(cl, NULL, 10) > h->opts.body_max)
            return mh_rpc_error(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, RPC_INVALID_REQUEST,
                                "the message is larger than body_max");
        return MHD_YES;
    }
    switch (r->state) {
    case MH_READING:
        if (*upload_size > 0) {
            /* 0.9.75 cannot answer mid-body: read to the end, then 413. */
            if (!r->too_large && r->body.len + *upload_size <= r->h->opts.body_max)
                buf_append(&r->body, upload, *upload_size);
            else {
                r->too_large = true;
                buf_free(&r->body);
            }
            *upload_size = 0;
            return MHD_YES;
        }
        return mh_post(r);
    case MH_WORKING:
        pthread_mutex_lock(&r->lock);
        rc = mh_answer_locked(r);
        pthread_mutex_unlock(&r->lock);
        return rc;
    case MH_ANSWERED:
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

void mcp_http_completed(struct mcp_http *h, void *req)
{
    (void)h;
    req_release(req);
}
