/*
 * http.c: listeners on libmicrohttpd with every limit set. We bind the
 * socket ourselves (so port 0 works and the bound port can be reported),
 * then hand it to a daemon with an internal epoll thread pool, suspend and
 * resume (handlers wait for commits without holding a thread), and the
 * caps libmicrohttpd leaves off by default: connection count, per-IP
 * count, inactivity timeout and per-connection memory (which bounds
 * headers: larger ones get 431 from the library). The inactivity timeout
 * does not stop a client that sends its headers one byte at a time
 * (slowloris), so a watchdog thread shuts down connections whose headers
 * are still incomplete header_deadline seconds after the connection (or
 * its previous request) started.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

/* A connection the header watchdog tracks (libmicrohttpd's socket context). */
struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    atomic_llong since_ms;  /* start of the connection or of its current request */
    atomic_bool in_request; /* headers complete: the handler has the request */
};

struct http_listener {
    struct MHD_Daemon *daemon;
    int fd;
    uint16_t port;
    struct http_listener_opts opts;
    pthread_mutex_t lock; /* guards conns and stopping */
    pthread_cond_t wake;
    struct http_conn *conns;
    bool stopping;
    bool watchdog_started;
    pthread_t watchdog;
};

static long long http_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void http_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode toe)
{
    struct http_listener *l = cls;
    struct http_conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = xcalloc(1, sizeof *c);
        c->fd = ci != NULL ? (int)ci->connect_fd : -1;
        atomic_store(&c->since_ms, http_mono_ms());
        pthread_mutex_lock(&l->lock);
        c->next = l->conns;
        if (l->conns != NULL)
            l->conns->prev = c;
        l->conns = c;
        pthread_mutex_unlock(&l->lock);
        *socket_context = c;
    } else if (c != NULL) {
        /* Unlinked before libmicrohttpd closes the socket: the watchdog never sees a reused fd. */
        pthread_mutex_lock(&l->lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            l->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&l->lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Twice a second: cut off connections still sending headers past the deadline. */
static void *http_watchdog(void *arg)
{
    struct http_listener *l = arg;
    long long limit = (long long)l->opts.header_deadline * 1000;

    pthread_mutex_lock(&l->lock);
    while (!l->stopping) {
        struct timespec ts;
        long long now = http_mono_ms();
        for (struct http_conn *c = l->conns; c != NULL; c = c->next)
            if (c->fd != -1 && !atomic_load(&c->in_request) &&
                now - atomic_load(&c->since_ms) > limit) {
                shutdown(c->fd, SHUT_RDWR);
                c->fd = -1;
                log_info("%s listener: headers not complete after %u s; connection closed",
                         l->opts.name, l->opts.header_deadline);
            }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->wake, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static enum MHD_Result http_dispatch(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **req_cls)
{
    struct http_listener *l = cls;
    struct http_conn *c = http_conn_of(conn);

    (void)version;
    if (c != NULL && !atomic_load(&c->in_request))
        atomic_store(&c->in_request, true);
    return l->opts.handler(l->opts.ctx, conn, url, method, upload, upload_size, req_cls);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_listener *l = cls;
    struct http_conn *c = http_conn_of(conn);

    (void)toe;
    if (c != NULL) {
        /* The next request on a kept-alive connection gets its own deadline. */
        atomic_store(&c->since_ms, http_mono_ms());
        atomic_store(&c->in_request, false);
    }
    if (*req_cls != NULL && l->opts.completed != NULL)
        l->opts.completed(l->opts.ctx, *req_cls);
    *req_cls = NULL;
}

static void http_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void http_log(void *cls, const char *fmt, va_list ap)
{
    char line[512], safe[512];
    int n;

    (void)cls;
    n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("libmicrohttpd: %s", log_escape(line, (size_t)n, safe, sizeof safe));
}

/* Bind and listen on addr; returns the socket or -1. */
static int http_bind(const struct listen_addr *addr, uint16_t *bound, struct err *err)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char port[8];
    int fd = -1, rc, one = 1, saved = 0;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", addr->port);
    if ((rc = getaddrinfo(addr->host, port, &hints, &res)) != 0)
        return err_set(err, ERR_CONFIG, "cannot resolve %s: %s", addr->host, gai_strerror(rc));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == -1) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd == -1)
        return err_set(err, ERR_SYSTEM, "cannot listen on %s:%u: %s", addr->host, addr->port,
                       strerror(saved));

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

struct http_mhd mhd;

static const struct {
    const char *name;
    size_t offset;
} mhd_symbols[] = {
#define MHD_SYMBOL(f)                                                                              \
    {                                                                                              \
        "MHD_" #f, offsetof(struct http_mhd, f)                                                    \
    }
    MHD_SYMBOL(start_daemon),
    MHD_SYMBOL(stop_daemon),
    MHD_SYMBOL(get_connection_info),
    MHD_SYMBOL(get_connection_values),
    MHD_SYMBOL(lookup_connection_value),
    MHD_SYMBOL(suspend_connection),
    MHD_SYMBOL(resume_connection),
    MHD_SYMBOL(create_response_from_buffer),
    MHD_SYMBOL(create_response_from_callback),
    MHD_SYMBOL(add_response_header),
    MHD_SYMBOL(queue_response),
    MHD_SYMBOL(destroy_response),
#undef MHD_SYMBOL
};

static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[256]; /* why loading failed */

static void mhd_load_once(void)
{
    /* Kept open for the life of the process: listeners may come and go. */
    void *lib = dlopen(PHONELY_MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    struct http_mhd loaded;

    if (lib == NULL) {
        const char *why = dlerror();
        snprintf(mhd_error, sizeof mhd_error, "cannot load libmicrohttpd: %s",
                 why != NULL ? why : PHONELY_MHD_LIBRARY);
        return;
    }
    for (size_t i = 0; i < sizeof mhd_symbols / sizeof mhd_symbols[0]; i++) {
        void *sym = dlsym(lib, mhd_symbols[i].name);
        if (sym == NULL) {
            snprintf(mhd_error, sizeof mhd_error, "%s has no %s", PHONELY_MHD_LIBRARY,
                     mhd_symbols[i].name);
            dlclose(lib);
            return;
        }
        /* POSIX: a function's address from dlsym() converts through memcpy. */
        memcpy((char *)&loaded + mhd_symbols[i].offset, &sym, sizeof sym);
    }
    mhd = loaded;
}

bool http_mhd_load(struct err *err)
{
    pthread_once(&mhd_once, mhd_load_once);
    if (mhd.start_daemon != NULL)
        return true;
    err_set(err, ERR_SYSTEM, "%s", mhd_error);
    return false;
}

/*
 * Start a listener. The returned listener owns its socket and daemon;
 * http_listener_stop releases both.
 */
struct http_listener *http_listener_start(const struct http_listener_opts *opts, struct err *err)
{
    struct http_listener *l = xcalloc(1, sizeof *l);
    unsigned threads = opts->threads;

    if (!http_mhd_load(err)) {
        free(l);
        return NULL;
    }
    l->opts = *opts;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    l->fd = http_bind(&opts->addr, &l->port, err);
    if (l->fd == -1) {
        free(l);
        return NULL;
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
    }
    l->daemon = mhd.start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, http_dispatch, l, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, opts->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        opts->per_ip_limit, MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->header_max, MHD_OPTION_NOTIFY_COMPLETED,
        http_completed, l, MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, l, MHD_OPTION_END);
    if (l->daemon == NULL) {
        close(l->fd);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->wake);
        free(l);
        return err_set(err, ERR_SYSTEM, "cannot start the %s listener", opts->name), NULL;
    }
    if (opts->header_deadline > 0)
        l->watchdog_started = pthread_create(&l->watchdog, NULL, http_watchdog, l) == 0;
    return l;
}

void http_listener_stop(struct http_listener *l)
{
    if (l == NULL)
        return;
    if (l->watchdog_started) {
        pthread_mutex_lock(&l->lock);
        l->stopping = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->watchdog, NULL);
    }
    mhd.stop_daemon(l->daemon);
    close(l->fd);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}

uint16_t http_listener_port(const struct http_listener *l)
{
    return l->port;
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status, const char *json,
                                const char *extra_name, const char *extra_value)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = mhd.create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    mhd.add_response_header(resp, "Cache-Control", "no-store");
    mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (extra_name != NULL)
        mhd.add_response_header(resp, extra_name, extra_value);
    rc = mhd.queue_response(conn, status, resp);
    mhd.destroy_response(resp);
    return rc;
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                 const char *message)
{
    return http_reply_error_allow(conn, status, code, message, "POST");
}

enum MHD_Result http_reply_error_allow(struct MHD_Connection *conn, unsigned status,
                                       const char *code, const char *message, const char *allow)
{
    char json[512];
    const char *extra = NULL, *value = NULL;

    /* code and message are fixed strings of ours: no escaping needed, none quoted from input. */
    /* cppcheck-suppress ctunullpointer ; NULL only for 401, which private_refuse answers itself */
    snprintf(json, sizeof json, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        extra = MHD_HTTP_HEADER_ALLOW;
        value = allow;
    } else if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        extra = MHD_HTTP_HEADER_RETRY_AFTER;
        value = "5";
    }
    return http_reply_json(conn, status, json, extra, value);
}

void http_peer(struct MHD_Connection *conn, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    ci = mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(out, outsz, "%s:%u", host, port);
}

struct header_count {
    const char *name;
    unsigned n;
};

static enum MHD_Result http_count_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct header_count *hc = cls;

    (void)kind;
    (void)value;
    if (key != NULL && strcasecmp(key, hc->name) == 0)
        hc->n++;
    return MHD_YES;
}

unsigned http_header_count(struct MHD_Connection *conn, const char *name)
{
    struct header_count hc = {name, 0};

    mhd.get_connection_values(conn, MHD_HEADER_KIND, http_count_cb, &hc);
    return hc.n;
}

const char *http_header(struct MHD_Connection *conn, const char *name)
{
    return mhd.lookup_connection_value(conn, MHD_HEADER_KIND, name);
}
