/*
 * bench_ingest.c: durable webhook ingest throughput and latency. Starts the
 * real daemon (release build, default durable settings) on loopback, drives
 * it with C connections that each keep one HTTP/1.1 connection alive and
 * POST ~5 KB generated calls with unique ids, and prints requests/s and
 * p50/p99 latency; then does the same with one commit per request
 * (commit_grouping no) and prints the ratio.
 *
 * usage: bench_ingest [SECONDS] [CONNECTIONS...]   (default 5 s; 1 8 32 128)
 * With PHONELY_BENCH_PORT set, drives the daemon already listening there.
 * Numbers are printed, never asserted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "textutil.h"
#include "xmalloc.h"

struct worker {
    uint16_t port;
    int id;
    double seconds;
    uint64_t done, errors;
    double *lat; /* ms */
    size_t nlat, caplat;
};

/* Send one request and read one response; returns the status or -1. */
static int roundtrip(int fd, const struct buf *req)
{
    char resp[4096];
    size_t got = 0, off = 0;
    ssize_t n;

    while (off < req->len) {
        n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    for (;;) {
        n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strstr(resp, "Content-Length:");
        if (cl == NULL)
            cl = strstr(resp, "content-length:");
        size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if (got >= (size_t)(end + 4 - resp) + want)
            return atoi(resp + 9);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct buf body = {0}, req = {0};
    int fd = tcp_connect(w->port);
    double end = time_mono() + w->seconds;

    while (fd != -1 && time_mono() < end) {
        bench_call_body(&body, w->id, w->done + w->errors, time_now_ms());
        buf_reset(&req);
        buf_printf(&req,
                   "POST /phonely/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\n\r\n",
                   body.len);
        buf_append(&req, body.data, body.len);
        double t0 = time_mono();
        int status = roundtrip(fd, &req);
        double ms = (time_mono() - t0) * 1000.0;
        if (status == 200) {
            w->done++;
            if (w->nlat == w->caplat) {
                w->caplat = w->caplat ? w->caplat * 2 : 4096;
                w->lat = xreallocarray(w->lat, w->caplat, sizeof *w->lat);
            }
            w->lat[w->nlat++] = ms;
        } else {
            w->errors++;
            close(fd);
            fd = tcp_connect(w->port);
        }
    }
    if (fd != -1)
        close(fd);
    buf_free(&body);
    buf_free(&req);
    return NULL;
}

/* Run one load level; returns requests/s. */
static double run_level(uint16_t port, int conns, double seconds, const char *label)
{
    pthread_t *th = xcalloc((size_t)conns, sizeof *th);
    struct worker *w = xcalloc((size_t)conns, sizeof *w);
    double t0 = time_mono(), elapsed;
    uint64_t done = 0, errors = 0;
    size_t nlat = 0;
    double *lat;

    for (int i = 0; i < conns; i++) {
        w[i] = (struct worker){.port = port, .id = i, .seconds = seconds};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    elapsed = time_mono() - t0;
    lat = xcalloc(nlat ? nlat : 1, sizeof *lat);
    nlat = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(lat + nlat, w[i].lat, w[i].nlat * sizeof *lat);
        nlat += w[i].nlat;
        free(w[i].lat);
    }
    double p50, p99;
    bench_percentiles(lat, nlat, &p50, &p99);
    double rps = (double)done / elapsed;
    printf("ingest %-9s conns=%-4d requests/s=%8.0f p50_ms=%6.2f p99_ms=%7.2f ok=%llu "
           "errors=%llu\n",
           label, conns, rps, p50, p99, (unsigned long long)done, (unsigned long long)errors);
    fflush(stdout);
    free(lat);
    free(w);
    free(th);
    return rps;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int levels[16] = {1, 8, 32, 128}, nlevels = 4;
    double grouped[16], single[16];

    if (argc > 2) {
        nlevels = 0;
        for (int i = 2; i < argc && nlevels < 16; i++)
            levels[nlevels++] = atoi(argv[i]);
    }
    /* PHONELY_BENCH_PORT: drive a daemon that is already running (e.g. under perf). */
    if (getenv("PHONELY_BENCH_PORT") != NULL) {
        for (int i = 0; i < nlevels; i++)
            run_level((uint16_t)atoi(getenv("PHONELY_BENCH_PORT")), levels[i], seconds, "external");
        return 0;
    }
    for (int mode = 0; mode < 2; mode++) {
        const char *env_grouped[] = {"PHONELY_MCP_COMMIT_GROUPING=yes",
                                     "PHONELY_MCP_CONNECTION_LIMIT=1024",
                                     "PHONELY_MCP_PER_IP_LIMIT=0", NULL};
        const char *env_single[] = {"PHONELY_MCP_COMMIT_GROUPING=no",
                                    "PHONELY_MCP_CONNECTION_LIMIT=1024",
                                    "PHONELY_MCP_PER_IP_LIMIT=0", NULL};
        struct daemon d;
        daemon_start(&d, mode == 0 ? env_grouped : env_single);
        for (int i = 0; i < nlevels; i++) {
            double r =
                run_level(d.webhook_port, levels[i], seconds, mode == 0 ? "grouped" : "single");
            (mode == 0 ? grouped : single)[i] = r;
        }
        daemon_cleanup(&d);
    }
    for (int i = 0; i < nlevels; i++)
        printf("ingest grouping_gain conns=%-4d ratio=%.2fx\n", levels[i],
               single[i] > 0 ? grouped[i] / single[i] : 0.0);
    return 0;
}
