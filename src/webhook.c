/*
 * webhook.c: POST /phonely/webhook[/<token>]. Checks run cheapest first and
 * before anything is buffered: framing (request smuggling shapes), method,
 * token, media type, declared size; the body is then read up to the cap
 * (also for chunked bodies), the signature checked on the raw bytes, card
 * and SSN numbers masked when the redact setting is on, the JSON parsed
 * and normalised, and the connection suspended while the writer
 * commits. The reply is sent only after the commit: 200 when stored (or a
 * duplicate), 503 when storage failed.
 *
 * Every request to the webhook path becomes a row in the deliveries log.
 * Bodies that were read go through the writer and are answered after the
 * commit: calls with 200 (or 503), bodies that are not a call with 400/422
 * once they are kept (bounded) for re-import. Requests refused before the
 * body was read are logged without waiting and without their body.
 *
 * Ownership: a struct wh_req lives from the first handler call until
 * libmicrohttpd reports the request complete (webhook_completed), which is
 * after the writer's callback resumed the connection. Refusal records are
 * separate heap objects freed by the writer's callback.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "callfmt.h"
#include "log.h"
#include "payload.h"
#include "redact.h"
#include "textutil.h"
#include "webhook.h"
#include "xmalloc.h"

/* How far past body_max a body is read (and dropped) to answer it 413. */
#define WH_DISCARD_FACTOR 16

enum wh_state { WH_READING, WH_COMMITTING, WH_COMMITTED, WH_ANSWERED };

struct wh_req {
    struct webhook_ctx *ctx;
    struct MHD_Connection *conn;
    enum wh_state state;
    int64_t start_ms;
    double t0; /* monotonic start, for the answer-time metric */
    char peer[64];
    uint64_t declared; /* Content-Length, or 0 */
    uint64_t received; /* bytes of body seen */
    bool too_large;
    struct buf body;
    struct call call;
    struct call_forms forms; /* made here, so that the writer does not have to */
    char sha256[AUTH_SHA256_HEX];
    char *webhook_id;
    unsigned reject_status; /* 400 or 422 once the body was refused, else 0 */
    const char *reject_code;
    char *reject_reason;
    struct ingest_job job;
};

/* A request refused before its body was read, on its way to the deliveries log. */
struct wh_record {
    struct ingest_job job;
    char peer[64];
    char *reason;
};

static void wh_record_done(struct ingest_job *job, void *arg)
{
    struct wh_record *rec = arg;

    (void)job;
    free(rec->reason);
    free(rec);
}

/*
 * Queue the refusal of req for the deliveries log without waiting for it:
 * the answer does not depend on it. The body is not kept: these requests
 * were unauthenticated, oversized or malformed at the HTTP level.
 */
static void wh_log_refusal(struct wh_req *req, unsigned status, const char *code,
                           const char *reason)
{
    struct wh_record *rec = xcalloc(1, sizeof *rec);
    struct delivery *d = &rec->job.d;

    memcpy(rec->peer, req->peer, sizeof rec->peer);
    rec->reason = xstrdup(reason);
    d->received_ms = req->start_ms;
    d->source = "webhook";
    d->peer = rec->peer;
    d->status = (int)status;
    d->reason = rec->reason;
    d->body_size = req->received > req->declared ? req->received : req->declared;
    rec->job.done = wh_record_done;
    rec->job.arg = rec;
    ingest_submit(req->ctx->ingest, &rec->job);
    req->state = WH_ANSWERED;
    metrics_webhook(req->ctx->metrics, status, code, time_mono() - req->t0);
    log_info("webhook %s -> %u %s (%s)", req->peer, status, code, reason);
}

static enum MHD_Result wh_refuse(struct wh_req *req, unsigned status, const char *code,
                                 const char *reason)
{
    wh_log_refusal(req, status, code, reason);
    return http_reply_error(req->conn, status, code, reason);
}

/*
 * Collect the places a webhook token may come in (see webhook.h): the path
 * segment after WEBHOOK_PATH "/", the "token" query argument, the
 * credentials of "Authorization: Bearer" (scheme case-insensitive, spaces
 * after it skipped) and X-Webhook-Token. Pure: no request, no allocation.
 */
size_t webhook_token_candidates(const char *url, const char *query_token, const char *authorization,
                                const char *x_token, const char *out[4])
{
    size_t n = 0;

    if (url != NULL && strncmp(url, WEBHOOK_PATH "/", sizeof WEBHOOK_PATH) == 0)
        out[n++] = url + sizeof WEBHOOK_PATH;
    if (query_token != NULL)
        out[n++] = query_token;
    if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *v = authorization + 7;
        while (*v == ' ')
            v++;
        out[n++] = v;
    }
    if (x_token != NULL)
        out[n++] = x_token;
    return n;
}

/* The token from the path, query, Authorization: Bearer or X-Webhook-Token. */
static bool wh_authorized(struct wh_req *req, const char *url)
{
    struct webhook_ctx *ctx = req->ctx;
    const char *cand[4];
    size_t ncand;
    bool ok = false;

    if (ctx->ntokens == 0)
        return true; /* loopback-only deployment without a token (config enforces this) */
    ncand = webhook_token_candidates(
        url, mhd.lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "token"),
        http_header(req->conn, MHD_HTTP_HEADER_AUTHORIZATION),
        http_header(req->conn, "X-Webhook-Token"), cand);
    /* Try every candidate against every token: no early exit on a match. */
    for (size_t i = 0; i < ncand; i++)
        ok |= auth_token_match(cand[i], strlen(cand[i]), ctx->tokens, ctx->ntokens);
    return ok;
}

/* JSON, or no Content-Type at all; parameters such as charset are ignored. */
static bool wh_json_media_type(const char *ct)
{
    size_t n;

    if (ct == NULL)
        return true;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    if (n == 9 && strncasecmp(ct, "text/json", 9) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/*
 * Writer callback: the commit finished; wake the connection to answer.
 * req may be freed as soon as the connection is resumed, so ctx is read
 * first and req is not touched afterwards.
 */
static void wh_committed(struct ingest_job *job, void *arg)
{
    struct wh_req *req = arg;
    struct webhook_ctx *ctx = req->ctx;

    (void)job;
    req->state = WH_COMMITTED;
    mhd.resume_connection(req->conn);
    pthread_mutex_lock(&ctx->lock);
    if (--ctx->waiting == 0)
        pthread_cond_broadcast(&ctx->idle);
    pthread_mutex_unlock(&ctx->lock);
}

void webhook_ctx_init(struct webhook_ctx *ctx)
{
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->idle, NULL);
    ctx->waiting = 0;
    ctx->stopping = false;
}

void webhook_ctx_destroy(struct webhook_ctx *ctx)
{
    pthread_mutex_destroy(&ctx->lock);
    pthread_cond_destroy(&ctx->idle);
}

void webhook_quiesce(struct webhook_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->stopping = true;
    while (ctx->waiting > 0)
        pthread_cond_wait(&ctx->idle, &ctx->lock);
    pthread_mutex_unlock(&ctx->lock);
}

static enum MHD_Result wh_answer_commit(struct wh_req *req)
{
    struct ingest_job *job = &req->job;
    cJSON *o;
    char *json;
    enum MHD_Result rc;

    req->state = WH_ANSWERED;
    if (req->reject_status != 0) {
        if (job->result != 0)
            log_warnx("webhook %s: the refused body could not be kept: %s", req->peer,
                      job->err.msg);
        log_info("webhook %s -> %u %s", req->peer, req->reject_status, req->reject_code);
        metrics_webhook(req->ctx->metrics, req->reject_status, req->reject_code,
                        time_mono() - req->t0);
        return http_reply_error(req->conn, req->reject_status, req->reject_code,
                                req->reject_reason);
    }
    if (job->result != 0) {
        log_warnx("webhook %s -> 503 (%s)", req->peer, job->err.msg);
        metrics_webhook(req->ctx->metrics, MHD_HTTP_SERVICE_UNAVAILABLE,
                        err_code_name(job->err.code), time_mono() - req->t0);
        return http_reply_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                err_code_name(job->err.code),
                                "the call could not be stored; retry later");
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", delivery_outcome_name(job->d.outcome));
    cJSON_AddStringToObject(o, "callId", req->call.call_id);
    if (job->d.outcome != DELIVERY_QUEUED) /* a queued one gets its id when it is moved */
        cJSON_AddNumberToObject(o, "deliveryId", (double)job->d.delivery_id);
    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    log_debug("webhook %s -> 200 %s delivery %lld", req->peer,
              delivery_outcome_name(job->d.outcome), (long long)job->d.delivery_id);
    metrics_webhook(req->ctx->metrics, MHD_HTTP_OK, delivery_outcome_name(job->d.outcome),
                    time_mono() - req->t0);
    rc = http_reply_json(req->conn, MHD_HTTP_OK, json, NULL, NULL);
    free(json);
    return rc;
}

/*
 * Replace the body with its redacted copy (payload_redact) when anything
 * was masked. Runs after the signature check, which needs the bytes as
 * sent, and before the digest, so that the stored body and its digest
 * agree.
 */
static void wh_redact(struct wh_req *req)
{
    struct redact_counts counts = {0};
    size_t len;
    char *red = payload_redact(req->body.data, req->body.len, &len, &counts);

    if (red == NULL)
        return;
    buf_free(&req->body);
    req->body = (struct buf){.data = red, .len = len, .cap = len + 1};
    log_debug("webhook %s: masked %zu card and %zu SSN numbers", req->peer, counts.cards,
              counts.ssns);
}

/* The whole body is here: verify, redact, parse, and queue the commit. */
static enum MHD_Result wh_finish_body(struct wh_req *req)
{
    struct webhook_ctx *ctx = req->ctx;
    struct err err = {0};
    const char *id, *ts, *sig;

    if (req->too_large)
        return wh_refuse(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                         "the body is larger than body_max");
    if (ctx->secrets != NULL) {
        id = http_header(req->conn, "webhook-id");
        ts = http_header(req->conn, "webhook-timestamp");
        sig = http_header(req->conn, "webhook-signature");
        if (id == NULL && ts == NULL && sig == NULL) {
            id = http_header(req->conn, "svix-id");
            ts = http_header(req->conn, "svix-timestamp");
            sig = http_header(req->conn, "svix-signature");
        }
        if (auth_verify_webhook(ctx->secrets, id, ts, sig, req->body.data, req->body.len,
                                time_now_ms() / 1000, ctx->cfg->webhook_signature_tolerance,
                                &err) == -1)
            return wh_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "the webhook signature did not verify");
        req->webhook_id = xstrdup(id);
    }
    if (ctx->cfg->redact)
        wh_redact(req);
    auth_sha256_hex(req->body.data, req->body.len, req->sha256);
    req->job.d = (struct delivery){
        .received_ms = req->start_ms,
        .source = "webhook",
        .peer = req->peer,
        .status = MHD_HTTP_OK,
        .webhook_id = req->webhook_id,
        .body = req->body.data,
        .body_len = req->body.len,
        .body_size = req->body.len,
        .body_sha256 = req->sha256,
        .call = &req->call,
    };
    if (payload_parse(req->body.data, req->body.len, &req->call, &err) == -1) {
        /*
         * Refused, but from an authenticated sender: keep the body (bounded)
         * and answer only once it is committed, so that it can be fixed and
         * re-imported. err.msg never quotes the input.
         */
        bool not_call = err.code == ERR_NOT_A_CALL;
        req->reject_status = not_call ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_BAD_REQUEST;
        req->reject_code = not_call ? "not_a_call" : "malformed_json";
        req->reject_reason = xstrdup(err.msg);
        req->job.d.call = NULL;
        req->job.d.status = (int)req->reject_status;
        req->job.d.reason = req->reject_reason;
        if (req->job.d.body_len > ctx->cfg->rejected_body_max)
            req->job.d.body_len = ctx->cfg->rejected_body_max;
    } else {
        callfmt_forms(&req->call, &req->forms);
        req->job.d.forms = &req->forms;
    }
    req->job.done = wh_committed;
    req->job.arg = req;
    pthread_mutex_lock(&ctx->lock);
    if (ctx->stopping) {
        pthread_mutex_unlock(&ctx->lock);
        req->state = WH_ANSWERED;
        metrics_webhook(ctx->metrics, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                        time_mono() - req->t0);
        return http_reply_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                                "the server is shutting down; retry later");
    }
    ctx->waiting++;
    pthread_mutex_unlock(&ctx->lock);
    req->state = WH_COMMITTING;
    /* Suspend before submitting: the writer may finish before we return. */
    mhd.suspend_connection(req->conn);
    ingest_submit(ctx->ingest, &req->job);
    return MHD_YES;
}

/* First call for a request: everything decidable from the headers. */
static enum MHD_Result wh_start(struct wh_req *req, const char *url, const char *method)
{
    struct webhook_ctx *ctx = req->ctx;
    const char *cl;

    /* Request smuggling shapes that libmicrohttpd 0.9.75 lets through. */
    if (http_header_count(req->conn, MHD_HTTP_HEADER_CONTENT_LENGTH) > 1)
        return wh_refuse(req, MHD_HTTP_BAD_REQUEST, "bad_framing",
                         "more than one Content-Length header");
    if (http_header_count(req->conn, MHD_HTTP_HEADER_CONTENT_LENGTH) > 0 &&
        http_header_count(req->conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) > 0)
        return wh_refuse(req, MHD_HTTP_BAD_REQUEST, "bad_framing",
                         "Content-Length together with Transfer-Encoding");
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return wh_refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                         "the webhook accepts POST only");
    if (!wh_authorized(req, url))
        return wh_refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                         "missing or invalid webhook token");
    if (!wh_json_media_type(http_header(req->conn, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return wh_refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                         "the body must be JSON (Content-Type: application/json)");
    if ((cl = http_header(req->conn, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (!isdigit((unsigned char)*cl) || *end != '\0')
            return wh_refuse(req, MHD_HTTP_BAD_REQUEST, "bad_framing",
                             "Content-Length is not a number");
        req->declared = v;
        if (v > ctx->cfg->body_max)
            return wh_refuse(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                             "the body is larger than body_max");
    }
    return MHD_YES;
}

static bool wh_is_webhook_path(const char *url)
{
    size_t n = sizeof WEBHOOK_PATH - 1;
    return strncmp(url, WEBHOOK_PATH, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

/*
 * libmicrohttpd calls this once with the headers, once per body chunk, once
 * at the end of the body, and once more after a resume.
 */
enum MHD_Result webhook_handle(void *arg, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *upload, size_t *upload_size,
                               void **req_cls)
{
    struct webhook_ctx *ctx = arg;
    struct wh_req *req = *req_cls;

    if (req == NULL) {
        if (strcmp(url, "/healthz") == 0 && ctx->healthz != NULL)
            return ctx->healthz(ctx->healthz_arg, conn);
        if (!wh_is_webhook_path(url))
            return http_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
        req = xcalloc(1, sizeof *req);
        req->ctx = ctx;
        req->conn = conn;
        req->start_ms = time_now_ms();
        req->t0 = time_mono();
        http_peer(conn, req->peer, sizeof req->peer);
        *req_cls = req;
        return wh_start(req, url, method);
    }

    switch (req->state) {
    case WH_READING:
        if (*upload_size > 0) {
            size_t n = *upload_size;
            *upload_size = 0;
            req->received += n;
            /*
             * libmicrohttpd 0.9.75 cannot answer in the middle of a body, so
             * a body over the cap is read to its end and discarded, then
             * answered 413. A sender that goes on past WH_DISCARD_FACTOR
             * times the cap, or past the deadline, is cut off unanswered.
             */
            if ((uint64_t)(time_now_ms() - req->start_ms) >
                (uint64_t)ctx->cfg->request_deadline * 1000) {
                wh_log_refusal(req, MHD_HTTP_REQUEST_TIMEOUT, "timeout",
                               "the request took longer than request_deadline; connection closed");
                return MHD_NO;
            }
            if (req->received > (uint64_t)ctx->cfg->body_max * WH_DISCARD_FACTOR) {
                wh_log_refusal(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                               "the body is far larger than body_max; connection closed");
                return MHD_NO;
            }
            if (req->received > ctx->cfg->body_max) {
                req->too_large = true;
                buf_free(&req->body);
            }
            if (!req->too_large)
                buf_append(&req->body, upload, n);
            return MHD_YES;
        }
        return wh_finish_body(req);
    case WH_COMMITTING:
        return MHD_YES; /* spurious call while suspended */
    case WH_COMMITTED:
        return wh_answer_commit(req);
    case WH_ANSWERED:
        *upload_size = 0; /* discard what still arrives */
        return MHD_YES;
    }
    return MHD_NO;
}

void webhook_completed(void *ctx, void *arg)
{
    struct wh_req *req = arg;

    (void)ctx;
    payload_call_free(&req->call);
    callfmt_forms_free(&req->forms);
    buf_free(&req->body);
    free(req->webhook_id);
    free(req->reject_reason);
    free(req);
}
