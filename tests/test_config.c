/*
 * test_config.c: the config module through its public interface: defaults,
 * every directive type and its bounds, the file format and its file:line
 * errors, the environment, flags, secrets from files, cross-field checks,
 * listen addresses, and the shipped example config and docs.
 *
 * Each test owns its struct config and temporary files and frees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "config.h"
#include "harness.h"
#include "log.h"
#include "xmalloc.h"

#define TOKEN_A "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" /* 43 URL-safe characters */
#define TOKEN_B "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
#define SIGNING "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" /* Standard Webhooks test key */

static char *tmp;

/* Write content to tmp/name; returns the path (caller frees). */
static char *write_file(const char *name, const char *content)
{
    char *path = xasprintf("%s/%s", tmp, name);
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        abort();
    }
    fputs(content, f);
    fclose(f);
    return path;
}

/* Load content as a config file named name; *path receives its path (caller frees). */
static int load_text(struct config *cfg, const char *name, const char *content, char **path,
                     struct err *err)
{
    *path = write_file(name, content);
    err_clear(err);
    return config_load_file(cfg, *path, err);
}

/* Check that loading content fails with exactly "<path>:<line>: <rest>". */
static void expect_file_error(const char *content, int line, const char *rest)
{
    struct config cfg;
    struct err err;
    char *path, *want;

    config_defaults(&cfg);
    CHECK_INT_EQ(load_text(&cfg, "bad.conf", content, &path, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    want = xasprintf("%s:%d: %s", path, line, rest);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    free(path);
    config_free(&cfg);
}

/* Apply one flag; returns its result and leaves the message in err. */
static int flag(struct config *cfg, const char *name, const char *value, struct err *err)
{
    err_clear(err);
    return config_set_flag(cfg, name, value, err);
}

static void test_defaults(void)
{
    struct config cfg;

    config_defaults(&cfg);
    CHECK_STR_EQ(cfg.db_path, "./phonely-mcp.db");
    CHECK_STR_EQ(cfg.webhook_listen.host, "127.0.0.1");
    CHECK_INT_EQ(cfg.webhook_listen.port, 8080);
    CHECK_STR_EQ(cfg.private_listen.host, "127.0.0.1");
    CHECK_INT_EQ(cfg.private_listen.port, 9090);
    CHECK(cfg.webhook_token == NULL);
    CHECK(cfg.webhook_token_previous == NULL);
    CHECK(cfg.webhook_signing_secret == NULL);
    CHECK_INT_EQ(cfg.webhook_signature_tolerance, 300);
    CHECK_INT_EQ(cfg.body_max, 1024 * 1024);
    CHECK_INT_EQ(cfg.header_max, 32 * 1024);
    CHECK_INT_EQ(cfg.rejected_body_max, 1024 * 1024);
    CHECK_INT_EQ(cfg.connection_limit, 256);
    CHECK_INT_EQ(cfg.per_ip_limit, 64);
    CHECK_INT_EQ(cfg.connection_timeout, 30);
    CHECK_INT_EQ(cfg.request_deadline, 60);
    CHECK_INT_EQ(cfg.threads, 0);
    CHECK_INT_EQ(cfg.commit_batch_max, 256);
    CHECK(cfg.commit_grouping);
    CHECK_INT_EQ(cfg.busy_timeout_ms, 5000);
    CHECK_INT_EQ(cfg.min_free_bytes, 64 * 1024 * 1024);
    CHECK(!cfg.redact);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_INFO);
    CHECK(cfg.source_file == NULL);
    config_free(&cfg);
    CHECK(cfg.db_path == NULL);
    config_free(&cfg); /* twice is harmless */
    config_free(NULL);
}

static void test_sizes(void)
{
    static const struct {
        const char *name, *value;
        int ok;
        long long want;
    } cases[] = {
        {"body-max", "2M", 1, 2LL << 20},
        {"body-max", "1K", 1, 1024},
        {"body-max", "1k", 1, 1024},
        {"body-max", "64M", 1, 64LL << 20},
        {"body-max", "64MiB", 1, 64LL << 20},
        {"body-max", "1048576", 1, 1048576},
        {"body-max", "1024", 1, 1024},
        {"body-max", "1023", 0, 0},
        {"body-max", "65M", 0, 0},
        {"body-max", "67108865", 0, 0},
        {"body-max", "1.5M", 0, 0},
        {"body-max", "", 0, 0},
        {"body-max", "M", 0, 0},
        {"body-max", "-1", 0, 0},
        {"body-max", " 1M", 0, 0},
        {"body-max", "1M ", 0, 0},
        {"body-max", "1MB", 0, 0},
        {"body-max", "1X", 0, 0},
        {"body-max", "99999999999999999999999", 0, 0},
        {"body-max", "18014398509481984K", 0, 0}, /* 2^54 KiB overflows 64 bits */
        {"header-max", "8K", 1, 8192},
        {"header-max", "1M", 1, 1 << 20},
        {"header-max", "8191", 0, 0},
        {"header-max", "1025K", 0, 0},
        {"rejected-body-max", "0", 1, 0},
        {"rejected_body_max", "64M", 1, 64LL << 20},
        {"min-free-bytes", "0", 1, 0},
        {"min-free-bytes", "1T", 1, 1LL << 40},
        {"min-free-bytes", "1024G", 1, 1LL << 40},
        {"min-free-bytes", "1gib", 1, 1LL << 30},
        {"min-free-bytes", "1025G", 0, 0},
    };
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = flag(&cfg, cases[i].name, cases[i].value, &err);
        CHECK_INT_EQ(rc, cases[i].ok ? 0 : -1);
        if (rc != 0 && cases[i].ok)
            fprintf(stderr, "  case %zu: %s %s: %s\n", i, cases[i].name, cases[i].value, err.msg);
        if (!cases[i].ok)
            continue;
        if (strncmp(cases[i].name, "body", 4) == 0)
            CHECK_INT_EQ(cfg.body_max, cases[i].want);
        else if (strncmp(cases[i].name, "header", 6) == 0)
            CHECK_INT_EQ(cfg.header_max, cases[i].want);
        else if (strncmp(cases[i].name, "rejected", 8) == 0)
            CHECK_INT_EQ(cfg.rejected_body_max, cases[i].want);
        else
            CHECK_INT_EQ(cfg.min_free_bytes, cases[i].want);
    }
    CHECK_INT_EQ(flag(&cfg, "body-max", "65M", &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_EQ(err.msg, "--body-max: expected a size like 1M (1K..64M)");
    CHECK_INT_EQ(flag(&cfg, "header_max", "x", &err), -1);
    CHECK_STR_EQ(err.msg, "--header-max: expected a size like 32K (8K..1M)");
    CHECK_INT_EQ(flag(&cfg, "min-free-bytes", "2T", &err), -1);
    CHECK_STR_EQ(err.msg, "--min-free-bytes: expected a size like 64M (0..1T)");
    CHECK_INT_EQ(flag(&cfg, "rejected-body-max", "-1", &err), -1);
    CHECK_STR_EQ(err.msg, "--rejected-body-max: expected a size like 1M (0..64M)");
    /* A failed set leaves the old value (the last good case set 1024). */
    CHECK_INT_EQ(cfg.body_max, 1024);
    config_free(&cfg);
}

static void test_integers(void)
{
    static const struct {
        const char *name, *value;
        int ok;
        long long want;
    } cases[] = {
        {"connection-limit", "1", 1, 1},
        {"connection-limit", "65535", 1, 65535},
        {"connection-limit", "0", 0, 0},
        {"connection-limit", "65536", 0, 0},
        {"connection-limit", "12a", 0, 0},
        {"connection-limit", "+5", 0, 0},
        {"connection-limit", " 5", 0, 0},
        {"connection-limit", "0x10", 0, 0},
        {"connection-limit", "", 0, 0},
        {"per-ip-limit", "0", 1, 0},
        {"per-ip-limit", "65535", 1, 65535},
        {"per-ip-limit", "65536", 0, 0},
        {"connection-timeout", "1", 1, 1},
        {"connection-timeout", "3600", 1, 3600},
        {"connection-timeout", "0", 0, 0},
        {"request-deadline", "3600", 1, 3600},
        {"request-deadline", "3601", 0, 0},
        {"threads", "0", 1, 0},
        {"threads", "64", 1, 64},
        {"threads", "65", 0, 0},
        {"commit-batch-max", "10000", 1, 10000},
        {"commit-batch-max", "0", 0, 0},
        {"commit-batch-max", "10001", 0, 0},
        {"busy-timeout-ms", "0", 1, 0},
        {"busy-timeout-ms", "600000", 1, 600000},
        {"busy-timeout-ms", "600001", 0, 0},
        {"busy-timeout-ms", "99999999999999999999", 0, 0},
        {"webhook-signature-tolerance", "1", 1, 1},
        {"webhook-signature-tolerance", "3600", 1, 3600},
        {"webhook-signature-tolerance", "0", 0, 0},
        {"webhook-signature-tolerance", "-5", 0, 0},
        {"webhook-signature-tolerance", "3601", 0, 0},
    };
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *n = cases[i].name;
        long long got = -1;
        int rc = flag(&cfg, n, cases[i].value, &err);

        CHECK_INT_EQ(rc, cases[i].ok ? 0 : -1);
        if (rc != (cases[i].ok ? 0 : -1))
            fprintf(stderr, "  case %zu: %s %s\n", i, n, cases[i].value);
        if (!cases[i].ok)
            continue;
        if (strcmp(n, "connection-limit") == 0)
            got = cfg.connection_limit;
        else if (strcmp(n, "per-ip-limit") == 0)
            got = cfg.per_ip_limit;
        else if (strcmp(n, "connection-timeout") == 0)
            got = cfg.connection_timeout;
        else if (strcmp(n, "request-deadline") == 0)
            got = cfg.request_deadline;
        else if (strcmp(n, "threads") == 0)
            got = cfg.threads;
        else if (strcmp(n, "commit-batch-max") == 0)
            got = cfg.commit_batch_max;
        else if (strcmp(n, "busy-timeout-ms") == 0)
            got = cfg.busy_timeout_ms;
        else
            got = cfg.webhook_signature_tolerance;
        CHECK_INT_EQ(got, cases[i].want);
    }
    CHECK_INT_EQ(flag(&cfg, "connection-limit", "0", &err), -1);
    CHECK_STR_EQ(err.msg, "--connection-limit: expected an integer from 1 to 65535");
    CHECK_INT_EQ(flag(&cfg, "webhook_signature_tolerance", "-1", &err), -1);
    CHECK_STR_EQ(err.msg, "--webhook-signature-tolerance: expected an integer from 1 to 3600");
    config_free(&cfg);
}

static void test_bools_and_levels(void)
{
    static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        CHECK_INT_EQ(flag(&cfg, "commit-grouping", no[i], &err), 0);
        CHECK(!cfg.commit_grouping);
        CHECK_INT_EQ(flag(&cfg, "commit-grouping", yes[i], &err), 0);
        CHECK(cfg.commit_grouping);
    }
    CHECK_INT_EQ(flag(&cfg, "commit-grouping", "maybe", &err), -1);
    CHECK_STR_CONTAINS(err.msg, "--commit-grouping: expected yes or no");
    CHECK_INT_EQ(flag(&cfg, "commit-grouping", "", &err), -1);
    CHECK(cfg.commit_grouping);

    CHECK_INT_EQ(flag(&cfg, "log-level", "debug", &err), 0);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
    CHECK_INT_EQ(flag(&cfg, "log-level", "ERROR", &err), 0);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_ERROR);
    CHECK_INT_EQ(flag(&cfg, "log_level", "warn", &err), 0);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_WARN);
    CHECK_INT_EQ(flag(&cfg, "log-level", "verbose", &err), -1);
    CHECK_STR_EQ(err.msg, "--log-level: expected error, warn, info or debug");
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_WARN);
    config_free(&cfg);
}

static void test_paths_and_flags(void)
{
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    CHECK_INT_EQ(flag(&cfg, "db", "/var/lib/phonely/calls.db", &err), 0);
    CHECK_STR_EQ(cfg.db_path, "/var/lib/phonely/calls.db");
    CHECK_INT_EQ(flag(&cfg, "--db", "other.db", &err), 0);
    CHECK_STR_EQ(cfg.db_path, "other.db");
    CHECK_INT_EQ(flag(&cfg, "db", "", &err), -1);
    CHECK_STR_EQ(err.msg, "--db: expected a non-empty path");
    CHECK_STR_EQ(cfg.db_path, "other.db");
    CHECK_INT_EQ(flag(&cfg, "db", NULL, &err), -1);
    CHECK_STR_EQ(err.msg, "--db needs a value");

    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "0.0.0.0:8443", &err), 0);
    CHECK_STR_EQ(cfg.webhook_listen.host, "0.0.0.0");
    CHECK_INT_EQ(cfg.webhook_listen.port, 8443);
    CHECK_INT_EQ(flag(&cfg, "webhook_listen", "[::1]:1", &err), 0);
    CHECK_STR_EQ(cfg.webhook_listen.host, "::1");
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "nope", &err), -1);
    CHECK_STR_CONTAINS(err.msg, "--webhook-listen: missing port");
    CHECK_STR_EQ(cfg.webhook_listen.host, "::1");

    CHECK_INT_EQ(flag(&cfg, "no-such-thing", "1", &err), -1);
    CHECK_STR_EQ(err.msg, "unknown option --no-such-thing");
    CHECK_INT_EQ(flag(&cfg, "config", "x", &err), -1);

    CHECK(config_is_flag("webhook-listen"));
    CHECK(config_is_flag("webhook_listen"));
    CHECK(config_is_flag("db"));
    CHECK(config_is_flag("min-free-bytes"));
    CHECK(config_is_flag("webhook-token-file"));
    CHECK(config_is_flag("webhook-token")); /* recognised, so it is refused with a reason */
    CHECK(!config_is_flag("nope"));
    CHECK(!config_is_flag("config"));
    CHECK(!config_is_flag(""));
    CHECK(!config_is_flag("DB"));
    CHECK(!config_is_flag(NULL));
    config_free(&cfg);
}

static void test_listen(void)
{
    static const struct {
        const char *text;
        const char *host;
        int port; /* -1: error expected */
        const char *why;
    } cases[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080, NULL},
        {"0.0.0.0:0", "0.0.0.0", 0, NULL},
        {"localhost:65535", "localhost", 65535, NULL},
        {"calls.example.com:443", "calls.example.com", 443, NULL},
        {"[::1]:9090", "::1", 9090, NULL},
        {"[::]:80", "::", 80, NULL},
        {"[2001:db8::7]:8080", "2001:db8::7", 8080, NULL},
        {":8080", "127.0.0.1", 8080, NULL},
        {"127.0.0.1:08080", "127.0.0.1", 8080, NULL},
        {"", NULL, -1, "empty address"},
        {"127.0.0.1", NULL, -1, "missing port"},
        {"127.0.0.1:", NULL, -1, "missing port"},
        {"[::1]", NULL, -1, "missing port"},
        {"[::1]:", NULL, -1, "missing port"},
        {"[::1:80", NULL, -1, "missing ']'"},
        {"[]:80", NULL, -1, "bad IPv6"},
        {"[not-v6]:80", NULL, -1, "bad IPv6"},
        {"[::1]x:80", NULL, -1, "missing port"},
        {"::1:80", NULL, -1, "needs brackets"},
        {"host:65536", NULL, -1, "port must be"},
        {"host:123456", NULL, -1, "port must be"},
        {"host:-1", NULL, -1, "port must be"},
        {"host:+80", NULL, -1, "port must be"},
        {"host:http", NULL, -1, "port must be"},
        {"host:80 ", NULL, -1, "port must be"},
        {"bad host:80", NULL, -1, "bad character"},
        {"a/b:80", NULL, -1, "bad character"},
    };
    struct listen_addr a;
    struct err err;
    char *longhost;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        memset(&a, 0x55, sizeof a);
        err_clear(&err);
        rc = config_parse_listen(cases[i].text, &a, &err);
        if (cases[i].port >= 0) {
            CHECK_INT_EQ(rc, 0);
            CHECK_STR_EQ(a.host, cases[i].host);
            CHECK_INT_EQ(a.port, cases[i].port);
        } else {
            CHECK_INT_EQ(rc, -1);
            CHECK_INT_EQ(err.code, ERR_CONFIG);
            CHECK_STR_CONTAINS(err.msg, cases[i].why);
            CHECK_INT_EQ(a.port, 0x5555); /* untouched on error */
        }
        if (rc != (cases[i].port >= 0 ? 0 : -1))
            fprintf(stderr, "  case '%s': %s\n", cases[i].text, err.msg);
    }
    CHECK_INT_EQ(config_parse_listen(NULL, &a, &err), -1);

    /* 255 bytes of host is the limit. */
    longhost = xmalloc(300);
    memset(longhost, 'h', 255);
    strcpy(longhost + 255, ":80");
    CHECK_INT_EQ(config_parse_listen(longhost, &a, &err), 0);
    CHECK_INT_EQ(strlen(a.host), 255);
    memset(longhost, 'h', 256);
    strcpy(longhost + 256, ":80");
    CHECK_INT_EQ(config_parse_listen(longhost, &a, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "longer than 255");
    free(longhost);
}

static void test_loopback(void)
{
    static const struct {
        const char *host;
        bool loopback;
    } cases[] = {
        {"127.0.0.1", true},
        {"127.1.2.3", true},
        {"127.255.255.255", true},
        {"::1", true},
        {"0:0:0:0:0:0:0:1", true},
        {"::ffff:127.0.0.1", true},
        {"localhost", true},
        {"LocalHost", true},
        {"0.0.0.0", false},
        {"::", false},
        {"128.0.0.1", false},
        {"10.0.0.1", false},
        {"192.168.1.1", false},
        {"::2", false},
        {"::ffff:10.0.0.1", false},
        {"example.com", false},
        {"localhost.example.com", false},
        {"", false},
    };
    struct listen_addr a;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a.host, sizeof a.host, "%s", cases[i].host);
        a.port = 80;
        CHECK_INT_EQ(config_listen_is_loopback(&a), cases[i].loopback);
        if (config_listen_is_loopback(&a) != cases[i].loopback)
            fprintf(stderr, "  host '%s'\n", cases[i].host);
    }
}

static void test_file_format(void)
{
    struct config cfg;
    struct err err;
    char *path;

    config_defaults(&cfg);
    CHECK_INT_EQ(load_text(&cfg, "ok.conf",
                           "# a comment\n"
                           "\n"
                           "   \t\n"
                           "  # an indented comment\n"
                           "db /srv/calls.db   # trailing comment\n"
                           "webhook_listen\t0.0.0.0:8080\n"
                           "private_listen \"[::1]:9191\"  # quoted, then a comment\n"
                           "body_max 2M\r\n"
                           "header_max \"64K\"\n"
                           "commit_grouping off\n"
                           "log_level debug\n"
                           "busy_timeout_ms 250",
                           &path, &err),
                 0);
    if (err.msg[0] != '\0')
        fprintf(stderr, "  %s\n", err.msg);
    CHECK_STR_EQ(cfg.source_file, path);
    CHECK_STR_EQ(cfg.db_path, "/srv/calls.db");
    CHECK_STR_EQ(cfg.webhook_listen.host, "0.0.0.0");
    CHECK_STR_EQ(cfg.private_listen.host, "::1");
    CHECK_INT_EQ(cfg.private_listen.port, 9191);
    CHECK_INT_EQ(cfg.body_max, 2 << 20);
    CHECK_INT_EQ(cfg.header_max, 64 << 10);
    CHECK(!cfg.commit_grouping);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
    CHECK_INT_EQ(cfg.busy_timeout_ms, 250);  /* last line without a newline */
    CHECK_INT_EQ(cfg.connection_limit, 256); /* untouched settings keep defaults */
    free(path);

    /* '#' inside a value without a blank before it, and inside quotes. */
    CHECK_INT_EQ(load_text(&cfg, "hash.conf", "db /srv/a#b.db\n", &path, &err), 0);
    CHECK_STR_EQ(cfg.db_path, "/srv/a#b.db");
    free(path);
    CHECK_INT_EQ(load_text(&cfg, "hash2.conf", "db \"/srv/my calls #1.db\" # c\n", &path, &err), 0);
    CHECK_STR_EQ(cfg.db_path, "/srv/my calls #1.db");
    free(path);
    CHECK_INT_EQ(load_text(&cfg, "esc.conf", "db \"a \\\"quoted\\\" \\\\ name\"\n", &path, &err),
                 0);
    CHECK_STR_EQ(cfg.db_path, "a \"quoted\" \\ name");
    free(path);
    /* An unquoted value keeps inner blanks and a backslash as is. */
    CHECK_INT_EQ(load_text(&cfg, "sp.conf", "db C:\\calls dir\\x.db\t \n", &path, &err), 0);
    CHECK_STR_EQ(cfg.db_path, "C:\\calls dir\\x.db");
    free(path);
    /* An empty file and a comments-only file are fine. */
    CHECK_INT_EQ(load_text(&cfg, "empty.conf", "", &path, &err), 0);
    free(path);
    CHECK_INT_EQ(load_text(&cfg, "comments.conf", "# only\n#db x\n", &path, &err), 0);
    CHECK_STR_EQ(cfg.db_path, "C:\\calls dir\\x.db");
    free(path);
    /* A line of exactly 4096 bytes is accepted. */
    {
        char *line = xmalloc(4096 + 2);
        memcpy(line, "db ", 3);
        memset(line + 3, 'p', 4096 - 3);
        strcpy(line + 4096, "\n");
        CHECK_INT_EQ(load_text(&cfg, "max.conf", line, &path, &err), 0);
        CHECK_INT_EQ(strlen(cfg.db_path), 4096 - 3);
        free(line);
        free(path);
    }
    config_free(&cfg);
}

static void test_file_errors(void)
{
    struct config cfg;
    struct err err;
    char *path, *want, *line;

    expect_file_error("db x\nbogus 1\n", 2, "unknown directive 'bogus'");
    expect_file_error("body-max 1M\n", 1,
                      "unknown directive 'body-max' (did you mean 'body_max'?)");
    expect_file_error("\n\nbody_max 100M\n", 3, "body_max: expected a size like 1M (1K..64M)");
    expect_file_error("connection_limit 0\n", 1,
                      "connection_limit: expected an integer from 1 to 65535");
    expect_file_error("webhook_listen nowhere\n", 1,
                      "webhook_listen: missing port (expected host:port, [v6]:port or :port)");
    expect_file_error("db a\n# x\ndb b\n", 3, "duplicate directive 'db' (first set on line 1)");
    expect_file_error("db \"unterminated\n", 1, "db: unterminated quoted value");
    expect_file_error("db \"a\" b\n", 1, "db: unexpected text after the closing quote");
    expect_file_error("db \"a\\nb\"\n", 1,
                      "db: bad escape in quoted value (only \\\" and \\\\ are known)");
    expect_file_error("db\n", 1, "db: missing value");
    expect_file_error("db   # only a comment\n", 1, "db: missing value");
    expect_file_error("db \"\"\n", 1, "db: expected a non-empty path");
    expect_file_error("log_level loud\n", 1, "log_level: expected error, warn, info or debug");
    expect_file_error("commit_grouping perhaps\n", 1,
                      "commit_grouping: expected yes or no (or true/false, on/off, 1/0)");
    expect_file_error("webhook_token=" TOKEN_A "\n", 1,
                      "expected 'name value', not 'name=value' (for 'webhook_token')");
    expect_file_error("webhook_token " TOKEN_A "\nwebhook_token_file /x\n", 2,
                      "webhook_token_file conflicts with webhook_token on line 1; set only one");

    /* Long lines: 4097 bytes is one too many; the next line still counts. */
    line = xmalloc(5000);
    memset(line, 'x', 4097);
    strcpy(line + 4097, "\nbogus 1\n");
    expect_file_error(line, 1, "line is longer than 4096 bytes");
    free(line);

    /* Every error is reported; the first one is returned; line numbers go on. */
    line = xmalloc(6000);
    memset(line, '#', 5000);
    strcpy(line + 5000, "\nthreads 99\nthreads 1\nfoo bar\n");
    config_defaults(&cfg);
    CHECK_INT_EQ(
        load_text(&cfg, "multi.conf", "threads 65\nbody_max 1M\nthreads 1\nfoo bar\n", &path, &err),
        -1);
    want = xasprintf("%s:1: threads: expected an integer from 0 to 64", path);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    free(path);
    CHECK_INT_EQ(cfg.body_max, 1 << 20);
    CHECK_INT_EQ(load_text(&cfg, "multi2.conf", line, &path, &err), -1);
    want = xasprintf("%s:1: line is longer than 4096 bytes", path);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    free(path);
    free(line);
    config_free(&cfg);

    /* A NUL byte in a line. */
    config_defaults(&cfg);
    path = xasprintf("%s/nul.conf", tmp);
    {
        FILE *f = fopen(path, "wb");
        fwrite("db a\0b\n", 1, 7, f);
        fclose(f);
    }
    CHECK_INT_EQ(config_load_file(&cfg, path, &err), -1);
    want = xasprintf("%s:1: line holds a NUL byte", path);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    free(path);

    /* A file that does not exist. */
    path = xasprintf("%s/missing.conf", tmp);
    CHECK_INT_EQ(config_load_file(&cfg, path, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    want = xasprintf("%s: cannot open: ", path);
    CHECK_STR_CONTAINS(err.msg, want);
    free(want);
    free(path);

    /* A directory. */
    CHECK_INT_EQ(config_load_file(&cfg, tmp, &err), -1);
    CHECK_STR_CONTAINS(err.msg, tmp);
    config_free(&cfg);
}

/* Secrets must not show up in any message, whatever is wrong with them. */
static void test_secrets_not_echoed(void)
{
    static const char *const lines[] = {
        "webhook_token sh0rt-secret\n",
        "webhook_token has spaces in the secret value xx\n",
        "webhook_token \"unterminated-secret-value-xxxxxxxx\n",
        "webhook_token \"quoted-secret-value-xxxxxxxxx\" trailing-secret\n",
        "webhook_token=inline-secret-value-xxxxxxxxxxx\n",
        "webhook_token_previous bad!secret!value!xxxxxxxxxxx\n",
    };
    static const char *const needles[] = {"sh0rt",           "spaces",        "unterminated-secret",
                                          "trailing-secret", "inline-secret", "bad!secret"};
    struct config cfg;
    struct err err;
    char *path;

    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        config_defaults(&cfg);
        CHECK_INT_EQ(load_text(&cfg, "secret.conf", lines[i], &path, &err), -1);
        CHECK(strstr(err.msg, needles[i]) == NULL);
        if (strstr(err.msg, needles[i]) != NULL)
            fprintf(stderr, "  leaked: %s\n", err.msg);
        free(path);
        config_free(&cfg);
    }
    config_defaults(&cfg);
    char *envp[] = {"PHONELY_MCP_WEBHOOK_TOKEN=env-secret", NULL};
    CHECK_INT_EQ(config_load_env(&cfg, envp, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "PHONELY_MCP_WEBHOOK_TOKEN: ");
    CHECK(strstr(err.msg, "env-secret") == NULL);
    config_free(&cfg);
}

static void test_env(void)
{
    struct config cfg;
    struct err err;
    char *envp[] = {
        "HOME=/root",
        "PHONELY_MCP_DB=/env/calls.db",
        "PHONELY_MCP_WEBHOOK_LISTEN=[::1]:8181",
        "PHONELY_MCP_BODY_MAX=4M",
        "PHONELY_MCP_COMMIT_GROUPING=false",
        "PHONELY_MCP_LOG_LEVEL=error",
        "PHONELY_MCP_WEBHOOK_TOKEN=" TOKEN_A,
        "PHONELY_MCP_TESTING=1",     /* test tooling: silently ignored */
        "PHONELY_MCP_TEST_BIN=/x",   /* likewise */
        "PHONELY_MCP_CONFIG=/etc/x", /* read by main */
        "PHONELY_MCP_BODYMAX=1",     /* typo: warned about, not an error */
        "PHONELY_MCP_db=/lower.db",  /* names are upper-case: a typo */
        "PHONELY_MCP_THREADS=",      /* empty: unset */
        "PHONELY_MCPX_DB=/no",       /* not our prefix */
        "PHONELY_MCP_NO_EQUALS",     /* malformed entry */
        NULL,
    };

    config_defaults(&cfg);
    CHECK_INT_EQ(flag(&cfg, "threads", "3", &err), 0);
    err_clear(&err);
    CHECK_INT_EQ(config_load_env(&cfg, envp, &err), 0);
    CHECK_STR_EQ(err.msg, "");
    CHECK_STR_EQ(cfg.db_path, "/env/calls.db");
    CHECK_STR_EQ(cfg.webhook_listen.host, "::1");
    CHECK_INT_EQ(cfg.webhook_listen.port, 8181);
    CHECK_INT_EQ(cfg.body_max, 4 << 20);
    CHECK(!cfg.commit_grouping);
    CHECK_INT_EQ(cfg.log_level, LOG_LEVEL_ERROR);
    CHECK_STR_EQ(cfg.webhook_token, TOKEN_A);
    CHECK_INT_EQ(cfg.threads, 3);
    config_free(&cfg);

    /* Errors name the variable; all are collected, the first returned. */
    {
        char *bad[] = {
            "PHONELY_MCP_BODY_MAX=huge",
            "PHONELY_MCP_PER_IP_LIMIT=70000",
            "PHONELY_MCP_DB=/still/applied.db",
            NULL,
        };
        config_defaults(&cfg);
        CHECK_INT_EQ(config_load_env(&cfg, bad, &err), -1);
        CHECK_INT_EQ(err.code, ERR_CONFIG);
        CHECK_STR_EQ(err.msg, "PHONELY_MCP_BODY_MAX: expected a size like 1M (1K..64M)");
        CHECK_STR_EQ(cfg.db_path, "/still/applied.db");
        CHECK_INT_EQ(cfg.per_ip_limit, 64);
        config_free(&cfg);
    }
    /* The same variable twice keeps the first, as getenv would. */
    {
        char *twice[] = {"PHONELY_MCP_THREADS=2", "PHONELY_MCP_THREADS=9", NULL};
        config_defaults(&cfg);
        CHECK_INT_EQ(config_load_env(&cfg, twice, &err), 0);
        CHECK_INT_EQ(cfg.threads, 2);
        config_free(&cfg);
    }
    /* An empty array and NULL (the process environment). */
    {
        char *none[] = {NULL};
        config_defaults(&cfg);
        CHECK_INT_EQ(config_load_env(&cfg, none, &err), 0);
        setenv("PHONELY_MCP_CONNECTION_LIMIT", "77", 1);
        CHECK_INT_EQ(config_load_env(&cfg, NULL, &err), 0);
        CHECK_INT_EQ(cfg.connection_limit, 77);
        setenv("PHONELY_MCP_CONNECTION_LIMIT", "0", 1);
        CHECK_INT_EQ(config_load_env(&cfg, NULL, &err), -1);
        CHECK_STR_EQ(err.msg, "PHONELY_MCP_CONNECTION_LIMIT: expected an integer from 1 to 65535");
        unsetenv("PHONELY_MCP_CONNECTION_LIMIT");
        config_free(&cfg);
    }
}

/* The caller applies file, then environment, then flags; later wins. */
static void test_precedence(void)
{
    struct config cfg;
    struct err err;
    char *path;
    char *envp[] = {
        "PHONELY_MCP_BODY_MAX=2M",
        "PHONELY_MCP_THREADS=4",
        NULL,
    };

    config_defaults(&cfg);
    CHECK_INT_EQ(
        load_text(&cfg, "prec.conf", "body_max 3M\nthreads 5\nconnection_limit 10\n", &path, &err),
        0);
    CHECK_INT_EQ(cfg.body_max, 3 << 20);
    CHECK_INT_EQ(config_load_env(&cfg, envp, &err), 0);
    CHECK_INT_EQ(cfg.body_max, 2 << 20); /* env beats file */
    CHECK_INT_EQ(cfg.threads, 4);
    CHECK_INT_EQ(cfg.connection_limit, 10); /* file beats default */
    CHECK_INT_EQ(flag(&cfg, "threads", "6", &err), 0);
    CHECK_INT_EQ(cfg.threads, 6); /* flag beats env */
    CHECK_INT_EQ(cfg.body_max, 2 << 20);
    CHECK_INT_EQ(cfg.per_ip_limit, 64); /* default survives */
    free(path);
    config_free(&cfg);
}

static void test_secrets(void)
{
    struct config cfg;
    struct err err;
    char *path, *tokfile, *prevfile, *sigfile, *emptyfile, *blankfile, *bigfile, *shortfile;
    char *conf, *want, *big;

    tokfile = write_file("token", TOKEN_A "\n");
    prevfile = write_file("token.prev", TOKEN_B " \t\r\n\n");
    sigfile = write_file("signing", SIGNING "\n");
    emptyfile = write_file("empty", "");
    blankfile = write_file("blank", " \n\n\t\n");
    shortfile = write_file("short", "tooshort-secret\n");
    big = xmalloc(5000);
    memset(big, 'a', 4097);
    big[4097] = '\0';
    bigfile = write_file("big", big);
    free(big);

    /* From *_file in the config file, trailing whitespace stripped. */
    config_defaults(&cfg);
    conf = xasprintf("webhook_token_file %s\nwebhook_token_previous_file \"%s\"\n"
                     "webhook_signing_secret_file %s\n",
                     tokfile, prevfile, sigfile);
    CHECK_INT_EQ(load_text(&cfg, "sec.conf", conf, &path, &err), 0);
    CHECK_STR_EQ(cfg.webhook_token, TOKEN_A);
    CHECK_STR_EQ(cfg.webhook_token_previous, TOKEN_B);
    CHECK_STR_EQ(cfg.webhook_signing_secret, SIGNING);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    free(conf);
    free(path);
    config_free(&cfg);

    /* Directly in the file, and overwritten by the environment's _FILE form. */
    config_defaults(&cfg);
    CHECK_INT_EQ(load_text(&cfg, "direct.conf",
                           "webhook_token " TOKEN_B "\nwebhook_signing_secret \"" SIGNING "\"\n",
                           &path, &err),
                 0);
    CHECK_STR_EQ(cfg.webhook_token, TOKEN_B);
    CHECK_STR_EQ(cfg.webhook_signing_secret, SIGNING);
    {
        char *var = xasprintf("PHONELY_MCP_WEBHOOK_TOKEN_FILE=%s", tokfile);
        char *envp[] = {var, NULL};
        CHECK_INT_EQ(config_load_env(&cfg, envp, &err), 0);
        CHECK_STR_EQ(cfg.webhook_token, TOKEN_A);
        free(var);
    }
    free(path);
    config_free(&cfg);

    /* Environment, direct and _FILE; both for one secret is a conflict. */
    config_defaults(&cfg);
    {
        char *var = xasprintf("PHONELY_MCP_WEBHOOK_SIGNING_SECRET_FILE=%s", sigfile);
        char *envp[] = {"PHONELY_MCP_WEBHOOK_TOKEN=" TOKEN_B, var, NULL};
        char *both[] = {"PHONELY_MCP_WEBHOOK_TOKEN=" TOKEN_B, "PHONELY_MCP_WEBHOOK_TOKEN_FILE=/x",
                        NULL};
        CHECK_INT_EQ(config_load_env(&cfg, envp, &err), 0);
        CHECK_STR_EQ(cfg.webhook_token, TOKEN_B);
        CHECK_STR_EQ(cfg.webhook_signing_secret, SIGNING);
        CHECK_INT_EQ(config_load_env(&cfg, both, &err), -1);
        CHECK_STR_EQ(err.msg, "PHONELY_MCP_WEBHOOK_TOKEN_FILE conflicts with "
                              "PHONELY_MCP_WEBHOOK_TOKEN; set only one");
        free(var);
    }
    config_free(&cfg);

    /* Unusable files: the error names the path, never the content. */
    config_defaults(&cfg);
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", emptyfile, &err), -1);
    want = xasprintf("--webhook-token-file: %s is empty", emptyfile);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", blankfile, &err), -1);
    want = xasprintf("--webhook-token-file: %s is empty", blankfile);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    CHECK_INT_EQ(flag(&cfg, "webhook-signing-secret-file", bigfile, &err), -1);
    want = xasprintf("--webhook-signing-secret-file: %s is larger than 4096 bytes", bigfile);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", shortfile, &err), -1);
    CHECK_STR_CONTAINS(err.msg, shortfile);
    CHECK(strstr(err.msg, "tooshort-secret") == NULL);
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", "/nonexistent/phonely-token", &err), -1);
    CHECK_STR_CONTAINS(err.msg, "--webhook-token-file: cannot open /nonexistent/phonely-token: ");
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", tmp, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "cannot read");
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", "", &err), -1);
    CHECK(cfg.webhook_token == NULL);
    if (geteuid() != 0) { /* root reads mode 000 files anyway */
        chmod(tokfile, 0);
        CHECK_INT_EQ(flag(&cfg, "webhook-token-file", tokfile, &err), -1);
        CHECK_STR_CONTAINS(err.msg, "cannot open");
        CHECK_STR_CONTAINS(err.msg, "Permission denied");
        chmod(tokfile, 0600);
    }
    CHECK_INT_EQ(flag(&cfg, "webhook-token-file", tokfile, &err), 0);
    CHECK_STR_EQ(cfg.webhook_token, TOKEN_A);

    /* In the config file, the error carries file:line. */
    conf = xasprintf("\nwebhook_token_file %s\n", emptyfile);
    CHECK_INT_EQ(load_text(&cfg, "emptysec.conf", conf, &path, &err), -1);
    want = xasprintf("%s:2: webhook_token_file: %s is empty", path, emptyfile);
    CHECK_STR_EQ(err.msg, want);
    free(want);
    free(conf);
    free(path);
    expect_file_error("webhook_token \"\"\n", 1, "webhook_token: value is empty");
    config_free(&cfg);

    free(tokfile);
    free(prevfile);
    free(sigfile);
    free(emptyfile);
    free(blankfile);
    free(bigfile);
    free(shortfile);
}

static void test_secret_flags_refused(void)
{
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    CHECK_INT_EQ(flag(&cfg, "webhook-token", TOKEN_A, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_EQ(err.msg, "webhook_token is a secret and is not accepted on the command line; use "
                          "PHONELY_MCP_WEBHOOK_TOKEN, PHONELY_MCP_WEBHOOK_TOKEN_FILE or "
                          "webhook_token_file in the config file");
    CHECK(cfg.webhook_token == NULL);
    CHECK_INT_EQ(flag(&cfg, "webhook_token_previous", TOKEN_B, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_token_previous is a secret");
    CHECK_STR_CONTAINS(err.msg, "PHONELY_MCP_WEBHOOK_TOKEN_PREVIOUS_FILE");
    CHECK_INT_EQ(flag(&cfg, "webhook-signing-secret", SIGNING, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_signing_secret is a secret");
    CHECK(strstr(err.msg, "MfKQ9") == NULL);
    CHECK(cfg.webhook_signing_secret == NULL);
    config_free(&cfg);
}

static void test_validate(void)
{
    struct config cfg;
    struct err err;

    config_defaults(&cfg);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);

    /* Off loopback without a token. */
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "0.0.0.0:8080", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_EQ(err.msg, "webhook_listen 0.0.0.0:8080 is not a loopback address and no "
                          "webhook_token is set; refusing to accept unauthenticated webhooks "
                          "from the network");
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "[2001:db8::1]:80", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_listen [2001:db8::1]:80 is not a loopback");
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "example.com:80", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    cfg.webhook_token = xstrdup(TOKEN_A);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "[::1]:8080", &err), 0);

    /* Rotation. */
    cfg.webhook_token_previous = xstrdup(TOKEN_B);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    free(cfg.webhook_token_previous);
    cfg.webhook_token_previous = xstrdup(TOKEN_A);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_token_previous is the same as webhook_token");
    free(cfg.webhook_token_previous);
    cfg.webhook_token_previous = xstrdup(TOKEN_B);
    free(cfg.webhook_token);
    cfg.webhook_token = NULL;
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_token_previous is set but webhook_token is not");
    free(cfg.webhook_token_previous);
    cfg.webhook_token_previous = NULL;

    /* A token set behind the setters' back is still checked. */
    cfg.webhook_token = xstrdup("tiny-token");
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "webhook_token: ");
    CHECK(strstr(err.msg, "tiny") == NULL);
    free(cfg.webhook_token);
    cfg.webhook_token = NULL;

    /* Signing secrets. */
    cfg.webhook_signing_secret = xstrdup(SIGNING " whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    free(cfg.webhook_signing_secret);
    cfg.webhook_signing_secret = xstrdup("whsec_wronglength");
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_INT_EQ(err.code, ERR_CONFIG);
    CHECK_STR_CONTAINS(err.msg, "webhook_signing_secret: ");
    CHECK(strstr(err.msg, "wronglength") == NULL);
    free(cfg.webhook_signing_secret);
    cfg.webhook_signing_secret = NULL;

    /* Listener clashes. */
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "127.0.0.1:9090", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1);
    CHECK_STR_EQ(err.msg, "webhook_listen 127.0.0.1:9090 and private_listen 127.0.0.1:9090 use "
                          "the same port; give them different ports");
    cfg.webhook_token = xstrdup(TOKEN_A);
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "0.0.0.0:9090", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), -1); /* the wildcard covers 127.0.0.1 */
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "127.0.0.2:9090", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    CHECK_INT_EQ(flag(&cfg, "webhook-listen", "127.0.0.1:0", &err), 0);
    CHECK_INT_EQ(flag(&cfg, "private-listen", "127.0.0.1:0", &err), 0);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0); /* port 0: the kernel picks two ports */
    config_free(&cfg);
}

static void test_help(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    config_print_help(f);
    fclose(f);
    CHECK_STR_CONTAINS(text, "webhook_listen");
    CHECK_STR_CONTAINS(text, "PHONELY_MCP_WEBHOOK_LISTEN");
    CHECK_STR_CONTAINS(text, "127.0.0.1:8080");
    CHECK_STR_CONTAINS(text, "PHONELY_MCP_WEBHOOK_TOKEN_FILE");
    CHECK_STR_CONTAINS(text, "PHONELY_MCP_MIN_FREE_BYTES");
    CHECK_STR_CONTAINS(text, "64M");
    CHECK_STR_CONTAINS(text, "./phonely-mcp.db");
    for (char *p = text; *p != '\0';) {
        char *nl = strchr(p, '\n');
        CHECK(nl != NULL && nl - p <= 100);
        p = nl != NULL ? nl + 1 : p + strlen(p);
    }
    free(text);
}

/* Setting names, from the help table's rows (lines "  name  PHONELY_MCP_..."). */
static size_t help_names(char names[][64], size_t max)
{
    char *text = NULL, *save = NULL;
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&text, &len);

    config_print_help(f);
    fclose(f);
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[64], env[128];
        if (sscanf(line, " %63s %127s", name, env) == 2 && strncmp(env, "PHONELY_MCP_", 12) == 0 &&
            n < max)
            snprintf(names[n++], 64, "%s", name);
    }
    free(text);
    return n;
}

/* Read a repository file beside the fixtures, or relative to the working directory. */
static char *repo_file(const char *rel)
{
    const char *fix = getenv("PHONELY_TEST_FIXTURES");
    char *path = fix != NULL ? xasprintf("%s/../../%s", fix, rel) : xstrdup(rel);
    FILE *f = fopen(path, "r");
    struct buf b = {0};
    char chunk[4096];
    size_t n;

    if (f == NULL) {
        free(path);
        path = xstrdup(rel);
        f = fopen(path, "r");
    }
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", rel);
        free(path);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    free(path);
    return buf_steal(&b, &n);
}

static void test_example_config(void)
{
    struct config cfg, def;
    struct err err;
    char *text = repo_file("config/phonely-mcp.conf"), *path, *on;
    char names[64][64];
    size_t nnames = help_names(names, 64);
    struct buf b = {0};

    CHECK(text != NULL);
    if (text == NULL)
        return;
    CHECK(nnames >= 20);

    /* As shipped: loads cleanly and changes nothing. */
    config_defaults(&cfg);
    config_defaults(&def);
    CHECK_INT_EQ(load_text(&cfg, "example.conf", text, &path, &err), 0);
    CHECK_STR_EQ(err.msg, "");
    CHECK_STR_EQ(cfg.db_path, def.db_path);
    CHECK_INT_EQ(cfg.body_max, def.body_max);
    CHECK_INT_EQ(cfg.webhook_listen.port, def.webhook_listen.port);
    free(path);
    config_free(&cfg);

    /* Every setting is shown, commented out, as "#name value". */
    for (size_t i = 0; i < nnames; i++) {
        char *want = xasprintf("\n#%s ", names[i]);
        CHECK_STR_CONTAINS(text, want);
        free(want);
    }

    /* Uncommenting every setting but the secrets gives the defaults back. */
    for (char *p = text; *p != '\0';) {
        char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z' && strncmp(p, "#webhook_token", 14) != 0 &&
            strncmp(p, "#webhook_signing", 16) != 0 && strncmp(p, "#token", 6) != 0 &&
            strncmp(p, "#db_password", 12) != 0)
            buf_append(&b, p + 1, n - 1);
        p += n;
    }
    on = buf_steal(&b, NULL);
    config_defaults(&cfg);
    CHECK_INT_EQ(load_text(&cfg, "example-on.conf", on, &path, &err), 0);
    CHECK_STR_EQ(err.msg, "");
    CHECK_STR_EQ(cfg.db_path, def.db_path);
    CHECK_STR_EQ(cfg.webhook_listen.host, def.webhook_listen.host);
    CHECK_INT_EQ(cfg.webhook_listen.port, def.webhook_listen.port);
    CHECK_INT_EQ(cfg.private_listen.port, def.private_listen.port);
    CHECK_INT_EQ(cfg.webhook_signature_tolerance, def.webhook_signature_tolerance);
    CHECK_INT_EQ(cfg.body_max, def.body_max);
    CHECK_INT_EQ(cfg.header_max, def.header_max);
    CHECK_INT_EQ(cfg.rejected_body_max, def.rejected_body_max);
    CHECK_INT_EQ(cfg.connection_limit, def.connection_limit);
    CHECK_INT_EQ(cfg.per_ip_limit, def.per_ip_limit);
    CHECK_INT_EQ(cfg.connection_timeout, def.connection_timeout);
    CHECK_INT_EQ(cfg.request_deadline, def.request_deadline);
    CHECK_INT_EQ(cfg.threads, def.threads);
    CHECK_INT_EQ(cfg.commit_batch_max, def.commit_batch_max);
    CHECK_INT_EQ(cfg.commit_grouping, def.commit_grouping);
    CHECK_INT_EQ(cfg.busy_timeout_ms, def.busy_timeout_ms);
    CHECK_INT_EQ(cfg.min_free_bytes, def.min_free_bytes);
    CHECK_INT_EQ(cfg.redact, def.redact);
    CHECK_INT_EQ(cfg.log_level, def.log_level);
    CHECK_INT_EQ(config_validate(&cfg, &err), 0);
    free(path);
    free(on);
    config_free(&cfg);
    config_free(&def);
    free(text);
}

/* redact: a boolean from the file, the environment and --redact, off by default. */
static void test_redact_setting(void)
{
    struct config cfg;
    struct err err;
    char *path;
    char *on[] = {"PHONELY_MCP_REDACT=yes", NULL}, *off[] = {"PHONELY_MCP_REDACT=off", NULL},
         *bad[] = {"PHONELY_MCP_REDACT=maybe", NULL};

    config_defaults(&cfg);
    CHECK_INT_EQ(load_text(&cfg, "redact.conf", "redact yes\n", &path, &err), 0);
    CHECK(cfg.redact);
    free(path);
    CHECK_INT_EQ(config_load_env(&cfg, off, &err), 0);
    CHECK(!cfg.redact);
    CHECK_INT_EQ(config_load_env(&cfg, on, &err), 0);
    CHECK(cfg.redact);
    CHECK_INT_EQ(flag(&cfg, "redact", "no", &err), 0);
    CHECK(!cfg.redact);
    CHECK_INT_EQ(flag(&cfg, "redact", "true", &err), 0);
    CHECK(cfg.redact);
    CHECK(config_is_flag("redact"));
    err_clear(&err);
    CHECK_INT_EQ(config_load_env(&cfg, bad, &err), -1);
    CHECK_STR_CONTAINS(err.msg, "expected yes or no");
    config_free(&cfg);
    expect_file_error("redact sometimes\n", 1,
                      "redact: expected yes or no (or true/false, on/off, 1/0)");
}

static void test_docs_cover_settings(void)
{
    char *text = repo_file("docs/configuration.md");
    char names[64][64];
    size_t nnames = help_names(names, 64);

    CHECK(text != NULL);
    if (text == NULL)
        return;
    for (size_t i = 0; i < nnames; i++) {
        char *want = xasprintf("`%s`", names[i]);
        CHECK_STR_CONTAINS(text, want);
        free(want);
    }
    free(text);
}

int main(void)
{
    tmp = tmpdir_make("config");
    RUN(test_defaults);
    RUN(test_sizes);
    RUN(test_integers);
    RUN(test_bools_and_levels);
    RUN(test_paths_and_flags);
    RUN(test_listen);
    RUN(test_loopback);
    RUN(test_file_format);
    RUN(test_file_errors);
    RUN(test_secrets_not_echoed);
    RUN(test_env);
    RUN(test_precedence);
    RUN(test_secrets);
    RUN(test_secret_flags_refused);
    RUN(test_validate);
    RUN(test_help);
    RUN(test_redact_setting);
    RUN(test_example_config);
    RUN(test_docs_cover_settings);
    tmpdir_remove(tmp);
    free(tmp);
    return check_report();
}
