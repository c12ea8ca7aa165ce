/* harness.h: fixtures, temporary directories and daemon control for tests. */
#ifndef PHONELY_HARNESS_H
#define PHONELY_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xmalloc.h"

struct store;

/* Read a whole file (NUL-terminated); aborts when it cannot be read. */
char *file_read(const char *path, size_t *len);
/* Read tests/fixtures/NAME into a NUL-terminated buffer; aborts when missing. */
char *fixture_read(const char *name, size_t *len);

/* Make a fresh directory under $TMPDIR; returns its path (caller frees). */
char *tmpdir_make(const char *tag);
/* Remove a directory made by tmpdir_make and everything in it. */
void tmpdir_remove(const char *path);
/*
 * How many times slower than native the programs under test run:
 * PHONELY_TEST_TIME_SCALE (valgrind runs set it), else 1. Tests that wait a
 * while for something to happen, or bound a latency, scale by it.
 */
long time_scale(void);
/* Sleep ms milliseconds (the whole time, across signals). */
void sleep_ms(long ms);

#endif

/* A running phonely-mcp daemon started by a test. */
struct daemon {
    pid_t pid;
    char *dir; /* its temporary directory (database, log) */
    char *db;  /* dir/calls.db */
    char *log; /* dir/daemon.log: everything it wrote to stderr */
    uint16_t webhook_port;
    uint16_t private_port;
    char **secrets; /* the secrets it was given (see secret_leaked) */
};

/*
 * Start `phonely-mcp serve` on 127.0.0.1 with kernel-chosen ports and a
 * fresh database in a new temporary directory. env is a
 * NULL-terminated list of extra "NAME=value" settings. Waits until both
 * listeners are ready; aborts the test program when it does not start.
 */
void daemon_start(struct daemon *d, const char *const *env);
/*
 * The same on the database file db (kept by daemon_cleanup, so a test can
 * restart the daemon on it); the log still goes to a new temporary directory.
 */
void daemon_start_db(struct daemon *d, const char *db, const char *const *env);
/* daemon_start_db in two steps: start the process, then wait until it listens. */
void daemon_spawn(struct daemon *d, const char *db, const char *const *env);
void daemon_wait_ready(struct daemon *d);
/* SIGKILL and reap: a crash, with no chance to clean up. */
void daemon_kill(struct daemon *d);
/* SIGTERM, wait for exit; returns the exit status (or 128+signal). */
int daemon_stop(struct daemon *d);
/* Stop if running and remove the temporary directory. */
void daemon_cleanup(struct daemon *d);
/*
 * The secrets among env: the values of every *_TOKEN, *_TOKEN_PREVIOUS,
 * *_SECRET and *_PASSWORD setting, the contents of their *_FILE forms, the
 * password of a *_DB URI (a whsec_ signing
 * secret also as its bare key). NULL-terminated; free with secrets_free.
 * Every daemon and CLI run checks its log against the secrets it was
 * given when it is cleaned up, and aborts the test when one is there.
 */
char **secrets_of(const char *const *env);
/* The same, with the password of db when it is a postgresql:// URI. */
char **secrets_of_db(const char *const *env, const char *db);
void secrets_free(char **secrets);
/* The first of secrets found in text, or NULL. */
const char *secret_leaked(const char *text, char *const *secrets);
/*
 * Personal data of the calls this test program sent anywhere: for each
 * JSON object in body (or in each of its lines, for JSON Lines), the
 * caller's name, the phone numbers as sent and as digits, the email, and
 * the start of the summaries, the transcript text and every turn (up to
 * PII_SNIPPET bytes of plain ASCII, at least 12). http_raw (so http_post)
 * notes every request body, fixture_read every fixture and run_cli its
 * standard input. Every daemon and CLI run checks its log against all
 * that was noted when it is cleaned up, like the secrets, and aborts the
 * test when one is there: logs carry ids, counts and outcomes, never
 * personal data. Thread-safe.
 */
#define PII_SNIPPET 24
void pii_note(const char *body, size_t len);
/* The first noted item found in text, or NULL. */
const char *pii_leaked(const char *text);
/*
 * A new empty database on the throwaway PostgreSQL cluster CTest's pg
 * fixture started (tests/pg/cluster.sh, named by PHONELY_TEST_PG_CLUSTER
 * and PHONELY_TEST_PG_SCRIPT): its URI, which the caller frees. Aborts
 * when there is no cluster.
 */
char *pg_newdb(void);
/* store_open(db) with a 5 s busy timeout; aborts with the error when it fails. */
struct store *store_open_or_die(const char *db);
/* Restart that cluster (a fast shutdown, then a start on the same port); -1 on failure. */
int pg_restart(void);
/* Run `phonely-mcp ARGS...` to completion with extra env; capture stdout and stderr. */
int run_cli(const char *const *argv, const char *const *env, const char *stdin_data, char **out,
            char **errout);

/* A parsed HTTP response. */
struct http_resp {
    int status;
    char *headers; /* raw header block */
    char *body;
    size_t body_len;
};

/* A TCP connection to 127.0.0.1:port (TCP_NODELAY), or -1. */
int tcp_connect(uint16_t port);
/* Send raw bytes to 127.0.0.1:port and read the response until close. */
int http_raw(uint16_t port, const char *req, size_t len, struct http_resp *out);
/* POST body to path with the extra header lines (each ending "\r\n", or NULL). */
int http_post(uint16_t port, const char *path, const char *headers, const char *body, size_t len,
              struct http_resp *out);
int http_get(uint16_t port, const char *path, struct http_resp *out);
/* Value of a response header (case-insensitive), copied into out; NULL when absent. */
const char *http_resp_header(const struct http_resp *r, const char *name, char *out, size_t outsz);
void http_resp_free(struct http_resp *r);
/*
 * POST one MCP message (JSON-RPC, protocol 2025-06-18) to /mcp on port with
 * the bearer token and, when not NULL, the Mcp-Session-Id session. The
 * parsed response (caller frees; NULL for none), its status in *status,
 * and the session id answered into sid_out when it is not NULL.
 */
struct cJSON;
struct cJSON *mcp_http_post(uint16_t port, const char *token, const char *session, const char *json,
                            int *status, char *sid_out, size_t sid_size);

/*
 * A plausible ~5 KB post-call body for benchmarks: 20 turns, summary,
 * analysis, E.164 numbers from a pool of 10,000, a follow-up on every third
 * call, topics and sentiments varied by seq. The call id is unique per
 * (worker, seq) and run; started_ms 0 means "now", else the call's start.
 */
void bench_call_body(struct buf *b, int worker, uint64_t seq, int64_t started_ms);
/* Sort n latencies in place and give their median and 99th percentile (0 when n is 0). */
void bench_percentiles(double *lat, size_t n, double *p50, double *p99);
