/*
 * mcp_stdio.c: MCP over standard input and output, one JSON-RPC message per
 * line in each direction.
 *
 * Threads: the calling thread reads. It serves inline, in arrival order,
 * everything that must not wait behind slow work or be reordered: invalid
 * lines, answers to us, notifications (cancellation above all),
 * initialize, ping and logging/setLevel, and every request while the
 * session is not initialized yet. Other requests go to a FIFO queue
 * served by `workers` threads, each with its own store connection (the
 * worker that went idle last takes the next request, so requests made
 * one at a time keep to one connection and its warm caches), except
 * a keyed tool call (get_call) that arrives while every worker is idle
 * and no more input is waiting: the reader answers that itself, on the
 * first worker's connection (no worker can take a job while the reader,
 * the only one to queue jobs, is busy). Waking a worker would cost more
 * than the call, and one lookup by key delays the reading of the next
 * message about as long as that wake-up would (longer when its pages
 * come from disk, or while the database is locked, which a WAL reader
 * meets only while another connection recovers the WAL).
 *
 * Every message written takes the output mutex, so lines never
 * interleave; the fd is written directly (no stdio buffer), so each
 * message is on its way when the call returns.
 *
 * Cancellation: notifications/cancelled drops a request still waiting in
 * the queue and marks one being served, so that nothing more is written
 * for it (this also covers the moment between a worker taking a request
 * and the session registering it); the session then interrupts its store
 * work and suppresses the response.
 *
 * Ownership: the queue owns each job (its request as the reader parsed
 * it, or for a long line a copy of the line and of its id) until the
 * worker that took it, or the cancellation that dropped it, frees it.
 * Each worker has its own store: the first is opened here before reading
 * starts, the others by their threads; all are closed after the workers
 * are joined.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "mcp_stdio.h"
#include "xmalloc.h"

#define STDIO_WORKERS_DEFAULT 4
#define STDIO_WORKERS_MAX     64
#define STDIO_QUEUE_MAX       1024                        /* requests waiting for a worker */
#define STDIO_QUEUE_BYTES     ((size_t)256 * 1024 * 1024) /* memory of requests waiting */
/*
 * A request waits parsed (so that its worker need not parse it again)
 * when its line is at most STDIO_PARSED_MAX bytes, and then counts as
 * STDIO_PARSED_COST bytes a byte against STDIO_QUEUE_BYTES: a cJSON value
 * takes about 80 bytes, and one can be written in two. A longer line
 * waits as text, counted as it is.
 */
#define STDIO_PARSED_MAX  65536
#define STDIO_PARSED_COST 40
#define STDIO_READ_CHUNK  ((size_t)65536) /* input read at a time */

struct stdio_srv;

struct job {
    struct stdio_srv *ss;
    struct rpc_msg msg; /* parsed by the reader; empty when text is set */
    char *text;         /* a long line, parsed by its worker */
    size_t text_len;    /* its length (it may hold NUL bytes) */
    cJSON *text_id;     /* that line's id, to match notifications/cancelled */
    size_t cost;        /* counted against STDIO_QUEUE_BYTES */
    atomic_bool cancelled;
    struct job *next;
};

struct stdio_srv {
    struct mcp_session *session;
    int out_fd;
    pthread_mutex_t out_lock;
    bool out_broken; /* the reader went away: drop what is left */

    pthread_mutex_t lock; /* guards everything below */
    struct job *head, *tail;
    struct worker **idle; /* [nworkers]: the workers waiting for a job, the last to wait on top */
    size_t nidle;
    size_t queued, queued_bytes;
    struct job **running; /* [nworkers]: the job each worker serves, or NULL */
    bool eof;
};

struct worker {
    struct stdio_srv *ss;
    struct store *st;
    const struct mcp_stdio_opts *opts; /* the database the worker opens itself */
    size_t index;
    pthread_t tid;
    bool started;
    pthread_cond_t wake; /* signalled when handed a job, and at end of input */
    bool waiting;        /* on the idle stack (guarded by the server's lock) */
};

/*
 * Hand the next job to the worker that went idle last (the server's lock
 * held): with requests one at a time, the same worker, and so the same
 * store connection with its caches warm, serves every one.
 */
static void wake_worker(struct stdio_srv *ss)
{
    if (ss->nidle > 0) {
        struct worker *w = ss->idle[--ss->nidle];

        w->waiting = false;
        pthread_cond_signal(&w->wake);
    }
}

/*
 * Write json and a newline with as few system calls as the pipe allows
 * (one, as a rule): the client wakes once per message, not once for the
 * text and again for its newline.
 */
static int write_line(int fd, const char *json)
{
    struct iovec iov[2] = {{.iov_base = (void *)json, .iov_len = strlen(json)},
                           {.iov_base = "\n", .iov_len = 1}};
    struct iovec *v = iov;
    int nv = 2;

    while (nv > 0) {
        ssize_t n = writev(fd, v, nv);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        while (nv > 0 && (size_t)n >= v->iov_len) {
            n -= (ssize_t)v->iov_len;
            v++;
            nv--;
        }
        if (nv > 0) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Write json and a newline as one message; once a write fails, drop the rest. */
static void write_message(struct stdio_srv *ss, const char *json)
{
    pthread_mutex_lock(&ss->out_lock);
    if (!ss->out_broken && write_line(ss->out_fd, json) == -1) {
        ss->out_broken = true;
        log_warn("mcp stdio: cannot write to the client; dropping further output");
    }
    pthread_mutex_unlock(&ss->out_lock);
}

static void reader_send(void *arg, const char *json)
{
    write_message(arg, json);
}

static void job_send(void *arg, const char *json)
{
    struct job *j = arg;

    if (!atomic_load(&j->cancelled))
        write_message(j->ss, json);
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    rpc_msg_free(&j->msg);
    free(j->text);
    cJSON_Delete(j->text_id);
    free(j);
}

static const cJSON *job_id(const struct job *j)
{
    return j->text != NULL ? j->text_id : j->msg.id;
}

static bool id_equal(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    return false;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct stdio_srv *ss = w->ss;

    /*
     * Workers other than the first open their connections here, beside
     * the first answers, so that a host's start-up waits for one open only.
     * One that cannot open leaves the work to the others.
     */
    if (w->st == NULL && w->opts != NULL) {
        struct err err = {0};
        if ((w->st = store_open(w->opts->db_path, &w->opts->store, &err)) == NULL) {
            log_warnx("mcp stdio: worker %zu: %s", w->index, err.msg);
            return NULL;
        }
    }
    pthread_mutex_lock(&ss->lock);
    for (;;) {
        struct job *j;

        while (ss->head == NULL && !ss->eof) {
            ss->idle[ss->nidle++] = w;
            w->waiting = true;
            while (w->waiting)
                pthread_cond_wait(&w->wake, &ss->lock);
        }
        if ((j = ss->head) == NULL)
            break; /* end of input and nothing left */
        ss->head = j->next;
        if (ss->head == NULL)
            ss->tail = NULL;
        ss->queued--;
        ss->queued_bytes -= j->cost;
        ss->running[w->index] = j;
        pthread_mutex_unlock(&ss->lock);

        if (j->text != NULL)
            mcp_session_handle(ss->session, w->st, j->text, j->text_len, job_send, j);
        else
            mcp_session_handle_msg(ss->session, w->st, &j->msg, job_send, j);

        pthread_mutex_lock(&ss->lock);
        ss->running[w->index] = NULL;
        job_free(j);
    }
    pthread_mutex_unlock(&ss->lock);
    return NULL;
}

/*
 * Hand a request (line, and msg as parsed from it) to the workers, or
 * answer "busy" when too much is waiting. A short line's msg is taken
 * over (*msg is emptied).
 */
static void enqueue(struct stdio_srv *ss, const char *line, size_t len, struct rpc_msg *msg)
{
    bool parsed = len <= STDIO_PARSED_MAX;
    size_t cost = parsed ? len * STDIO_PARSED_COST : len;
    struct job *j;

    pthread_mutex_lock(&ss->lock);
    if (ss->queued >= STDIO_QUEUE_MAX || cost > STDIO_QUEUE_BYTES - ss->queued_bytes) {
        char *json;
        pthread_mutex_unlock(&ss->lock);
        json = rpc_error(msg->id, RPC_INTERNAL_ERROR,
                         "server busy: too many requests are waiting; retry later", NULL);
        write_message(ss, json);
        free(json);
        return;
    }
    j = xcalloc(1, sizeof *j);
    j->ss = ss;
    if (parsed) {
        j->msg = *msg;
        memset(msg, 0, sizeof *msg);
    } else {
        j->text = xmalloc(len + 1);
        memcpy(j->text, line, len);
        j->text[len] = '\0';
        j->text_len = len;
        j->text_id = cJSON_Duplicate(msg->id, false);
    }
    j->cost = cost;
    atomic_init(&j->cancelled, false);
    if (ss->tail != NULL)
        ss->tail->next = j;
    else
        ss->head = j;
    ss->tail = j;
    ss->queued++;
    ss->queued_bytes += cost;
    wake_worker(ss);
    pthread_mutex_unlock(&ss->lock);
}

/* Drop waiting requests with this id and silence those being served. */
static void cancel_jobs(struct stdio_srv *ss, const cJSON *params, size_t nworkers)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "requestId");
    struct job **pp, *dropped = NULL;

    if (id == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    for (pp = &ss->head; *pp != NULL;) {
        struct job *j = *pp;
        if (id_equal(job_id(j), id)) {
            *pp = j->next;
            ss->queued--;
            ss->queued_bytes -= j->cost;
            j->next = dropped;
            dropped = j;
        } else {
            pp = &j->next;
        }
    }
    ss->tail = NULL;
    for (struct job *j = ss->head; j != NULL; j = j->next)
        ss->tail = j;
    for (size_t i = 0; i < nworkers; i++)
        if (ss->running[i] != NULL && id_equal(job_id(ss->running[i]), id))
            atomic_store(&ss->running[i]->cancelled, true);
    pthread_mutex_unlock(&ss->lock);
    while (dropped != NULL) {
        struct job *next = dropped->next;
        job_free(dropped);
        dropped = next;
    }
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/*
 * Requests the reader answers itself: they never touch the store, ping
 * must be prompt however busy the workers are, and a log level must apply
 * to the requests that follow it.
 */
static bool served_inline(const char *method)
{
    static const char *const inline_methods[] = {"initialize", "ping", "logging/setLevel"};

    for (size_t i = 0; i < sizeof inline_methods / sizeof inline_methods[0]; i++)
        if (strcmp(method, inline_methods[i]) == 0)
            return true;
    return false;
}

/*
 * The input, read in chunks into buf (cap bytes, allocated before the
 * first read): buf[start..end) is read and not yet taken. Unlike a stdio
 * stream, it can tell whether more input is waiting.
 */
struct input {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof, failed;
};

/*
 * The next line, newline removed and NUL-terminated in place (valid until
 * the next call), its length in *len; a last line without a newline counts.
 * NULL at end of input or when reading fails (in->failed).
 */
static char *input_line(struct input *in, size_t *len)
{
    size_t scanned = 0;

    for (;;) {
        char *line = in->buf + in->start;
        char *nl = memchr(line + scanned, '\n', in->end - in->start - scanned);
        ssize_t n;

        if (nl != NULL) {
            *nl = '\0';
            *len = (size_t)(nl - line);
            in->start += *len + 1;
            return line;
        }
        scanned = in->end - in->start;
        if (in->eof) {
            if (scanned == 0)
                return NULL;
            line[scanned] = '\0'; /* a read always leaves one byte free */
            *len = scanned;
            in->start = in->end;
            return line;
        }
        if (in->start > 0) {
            memmove(in->buf, line, scanned);
            in->start = 0;
            in->end = scanned;
        }
        if (in->cap - in->end < STDIO_READ_CHUNK + 1) {
            in->cap *= 2;
            in->buf = xrealloc(in->buf, in->cap);
        }
        n = read(in->fd, in->buf + in->end, in->cap - in->end - 1);
        if (n > 0) {
            in->end += (size_t)n;
        } else if (n == 0 || errno != EINTR) {
            in->eof = true;
            in->failed = n < 0;
        }
    }
}

/* True when input is waiting: read and not yet taken, or ready to read. */
static bool input_waiting(const struct input *in)
{
    struct pollfd p = {.fd = in->fd, .events = POLLIN};

    return in->start < in->end || (!in->eof && poll(&p, 1, 0) > 0);
}

/* True when no request waits for a worker and none is being served. */
static bool workers_idle(struct stdio_srv *ss, size_t nworkers)
{
    bool idle;

    pthread_mutex_lock(&ss->lock);
    idle = ss->head == NULL;
    for (size_t i = 0; idle && i < nworkers; i++)
        idle = ss->running[i] == NULL;
    pthread_mutex_unlock(&ss->lock);
    return idle;
}

/*
 * Read lines until end of input, serving or queueing each message; st is
 * the first worker's store, for the keyed calls the reader answers.
 */
static void read_loop(struct stdio_srv *ss, struct input *in, size_t nworkers, struct store *st)
{
    char *line;
    size_t len;

    while ((line = input_line(in, &len)) != NULL) {
        struct rpc_msg msg;

        while (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        if (blank(line, len))
            continue;
        rpc_parse(line, len, &msg);
        if (msg.kind == RPC_REQUEST && !served_inline(msg.method) &&
            mcp_session_initialized(ss->session)) {
            if (mcp_session_keyed(ss->session, &msg) && !input_waiting(in) &&
                workers_idle(ss, nworkers))
                mcp_session_handle_msg(ss->session, st, &msg, reader_send, ss);
            else
                enqueue(ss, line, len, &msg);
        } else {
            if (msg.kind == RPC_NOTIFICATION && strcmp(msg.method, "notifications/cancelled") == 0)
                cancel_jobs(ss, msg.params, nworkers);
            mcp_session_handle(ss->session, NULL, line, len, reader_send, ss);
        }
        rpc_msg_free(&msg);
    }
    if (in->failed)
        log_warn("mcp stdio: reading input failed; stopping");
}

/*
 * Serve one session on opts->in_fd / opts->out_fd until end of input, then
 * let every request already read finish and return 0; 1 when a store
 * cannot be opened or threads cannot start. in_fd is not closed. SIGPIPE
 * is ignored process-wide so a vanished client cannot kill the process.
 */
int mcp_stdio_run(struct mcp_server *srv, const struct mcp_stdio_opts *opts)
{
    struct stdio_srv ss = {.out_fd = opts->out_fd};
    size_t nworkers = opts->workers == 0 ? STDIO_WORKERS_DEFAULT : opts->workers;
    struct worker *workers = NULL;
    struct sigaction sa;
    struct err err = {0};
    struct input in = {.fd = opts->in_fd, .cap = 2 * STDIO_READ_CHUNK};
    int rc = 1;

    if (nworkers > STDIO_WORKERS_MAX)
        nworkers = STDIO_WORKERS_MAX;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    pthread_mutex_init(&ss.out_lock, NULL);
    pthread_mutex_init(&ss.lock, NULL);
    ss.session = mcp_session_new(srv);
    mcp_session_set_origin(ss.session, "stdio", NULL); /* one random id per process */
    in.buf = xmalloc(in.cap);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    ss.running = xcalloc(nworkers, sizeof *ss.running);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sizeof(T *) each */
    ss.idle = xcalloc(nworkers, sizeof *ss.idle);
    workers = xcalloc(nworkers, sizeof *workers);

    for (size_t i = 0; i < nworkers; i++) {
        pthread_cond_init(&workers[i].wake, NULL);
        workers[i].ss = &ss;
        workers[i].index = i;
        workers[i].opts = i > 0 && opts->db_path != NULL ? opts : NULL;
    }
    /* The first connection is opened before any input is read: a database that cannot be opened
     * fails at once. */
    if (opts->db_path != NULL &&
        (workers[0].st = store_open(opts->db_path, &opts->store, &err)) == NULL) {
        log_warnx("mcp stdio: %s", err.msg);
        goto fail;
    }
    for (size_t i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]) != 0) {
            log_warnx("mcp stdio: cannot start worker threads");
            goto stop;
        }
        workers[i].started = true;
    }
    log_debug("mcp stdio: serving with %zu workers", nworkers);

    read_loop(&ss, &in, nworkers, workers[0].st);
    rc = 0;
stop:
    pthread_mutex_lock(&ss.lock);
    ss.eof = true;
    while (ss.nidle > 0)
        wake_worker(&ss);
    pthread_mutex_unlock(&ss.lock);
    for (size_t i = 0; i < nworkers; i++)
        if (workers[i].started)
            pthread_join(workers[i].tid, NULL);
    while (ss.head != NULL) { /* only when no worker could start */
        struct job *next = ss.head->next;
        job_free(ss.head);
        ss.head = next;
    }
fail:
    free(in.buf);
    for (size_t i = 0; i < nworkers; i++) {
        store_close(workers[i].st);
        pthread_cond_destroy(&workers[i].wake);
    }
    free(workers);
    free(ss.running);
    free(ss.idle);
    mcp_session_free(ss.session);
    pthread_mutex_destroy(&ss.lock);
    pthread_mutex_destroy(&ss.out_lock);
    return rc;
}
