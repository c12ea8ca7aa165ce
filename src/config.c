/*
 * config.c: settings from defaults, the config file, PHONELY_MCP_* variables
 * and command-line flags.
 *
 * One static table of typed, bounded directives drives all four sources and
 * the --help listing, so a setting is declared exactly once. The defaults are
 * stored as text in that table and applied through the same parser as
 * everything else, so the help, the docs and the behaviour cannot drift.
 *
 * Ownership: struct config owns its strings (db_path, the three secrets and
 * source_file); config_free releases them, wiping secrets first. Every setter
 * overwrites the previous value and frees it, so the caller gets precedence
 * (defaults < file < environment < flags) by calling the loaders in that
 * order. Error messages and log lines never contain a secret's value, only
 * the setting's name and, for *_file settings, the file's path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"

extern char **environ;

#define CONFIG_LINE_MAX   4096 /* bytes of one config-file line, terminator excluded */
#define CONFIG_VALUE_MAX  4096 /* bytes of one value from any source */
#define SECRET_FILE_MAX   4096 /* bytes read from a *_file secret */
#define CONFIG_NAME_MAX   64   /* longest flag name worth looking up */
#define CONFIG_HOST_MAX   255
#define ENV_PREFIX        "PHONELY_MCP_"
#define ENV_PREFIX_LEN    (sizeof ENV_PREFIX - 1)
#define ENV_IGNORE_PREFIX "TEST" /* PHONELY_MCP_TEST*: test tooling, not settings */

#define KIB ((int64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

enum dtype {
    DT_PATH,     /* char *, non-empty */
    DT_STRING,   /* char *, a space-separated list; empty means unset (NULL) */
    DT_LISTEN,   /* struct listen_addr */
    DT_SIZE,     /* size_t, bytes with an optional K/M/G/T suffix (1024-based) */
    DT_UINT,     /* unsigned, decimal */
    DT_INT64,    /* int64_t, decimal */
    DT_BOOL,     /* bool: yes/no, true/false, on/off, 1/0 */
    DT_LOGLEVEL, /* int: error|warn|info|debug */
    DT_TOKEN,    /* char *, secret, checked with auth_token_validate */
    DT_SIGNING,  /* char *, secret, checked with auth_secrets_parse at validate time */
    DT_PASSWORD  /* char *, secret, any non-empty text */
};

#define DF_SECRET 0x1 /* the value is a secret: refused as a flag, never echoed */
#define DF_FILE   0x2 /* the value is a path; the secret is the file's content */

struct directive {
    const char *name; /* config-file key; env and flag names derive from it */
    enum dtype type;
    unsigned flags;
    size_t offset; /* of the field in struct config */
    int64_t min, max;
    const char *def; /* default as text (parsed by config_defaults); NULL: unset */
    const char *help;
};

#define OFF(field) offsetof(struct config, field)

static const struct directive directives[] = {
    {"db", DT_PATH, 0, OFF(db_path), 0, 0, "./phonely-mcp.db",
     "SQLite database file (created if missing), or a postgresql:// URI"},
    {"db_password", DT_PASSWORD, DF_SECRET, OFF(db_password), 0, 0, NULL,
     "password of a PostgreSQL db, when not in the URI or in PGPASSFILE"},
    {"db_password_file", DT_PASSWORD, DF_FILE, OFF(db_password), 0, 0, NULL,
     "file holding db_password"},
    {"webhook_listen", DT_LISTEN, 0, OFF(webhook_listen), 0, 0, "127.0.0.1:8080",
     "address of the webhook listener: host:port, [v6]:port or :port"},
    {"private_listen", DT_LISTEN, 0, OFF(private_listen), 0, 0, "127.0.0.1:9090",
     "address of the private listener (MCP over HTTP, read API)"},
    {"webhook_token", DT_TOKEN, DF_SECRET, OFF(webhook_token), 0, 0, NULL,
     "secret token webhook senders must present (required off loopback)"},
    {"webhook_token_file", DT_TOKEN, DF_FILE, OFF(webhook_token), 0, 0, NULL,
     "file holding webhook_token"},
    {"webhook_token_previous", DT_TOKEN, DF_SECRET, OFF(webhook_token_previous), 0, 0, NULL,
     "old token still accepted while senders move to the new one"},
    {"webhook_token_previous_file", DT_TOKEN, DF_FILE, OFF(webhook_token_previous), 0, 0, NULL,
     "file holding webhook_token_previous"},
    {"webhook_signing_secret", DT_SIGNING, DF_SECRET, OFF(webhook_signing_secret), 0, 0, NULL,
     "Standard Webhooks secrets (whsec_...), space separated; enables HMAC checks"},
    {"webhook_signing_secret_file", DT_SIGNING, DF_FILE, OFF(webhook_signing_secret), 0, 0, NULL,
     "file holding webhook_signing_secret"},
    {"webhook_signature_tolerance", DT_INT64, 0, OFF(webhook_signature_tolerance), 1, 3600, "300",
     "seconds a signed webhook's timestamp may differ from now"},
    {"body_max", DT_SIZE, 0, OFF(body_max), KIB, 64 * MIB, "1M",
     "largest webhook body accepted (bigger gets 413)"},
    {"header_max", DT_SIZE, 0, OFF(header_max), 8 * KIB, MIB, "32K",
     "memory per connection for request line and headers"},
    {"rejected_body_max", DT_SIZE, 0, OFF(rejected_body_max), 0, 64 * MIB, "1M",
     "bytes of a rejected delivery's body kept for the operator"},
    {"connection_limit", DT_UINT, 0, OFF(connection_limit), 1, 65535, "256",
     "most connections open at once on each listener"},
    {"per_ip_limit", DT_UINT, 0, OFF(per_ip_limit), 0, 65535, "64",
     "most connections from one client address (0: no limit)"},
    {"connection_timeout", DT_UINT, 0, OFF(connection_timeout), 1, 3600, "30",
     "seconds of inactivity before a connection is closed"},
    {"request_deadline", DT_UINT, 0, OFF(request_deadline), 1, 3600, "60",
     "seconds one whole request may take"},
    {"threads", DT_UINT, 0, OFF(threads), 0, 64, "0", "HTTP worker threads (0: one per CPU)"},
    {"commit_batch_max", DT_UINT, 0, OFF(commit_batch_max), 1, 10000, "256",
     "most deliveries committed in one transaction"},
    {"db_writers", DT_UINT, 0, OFF(db_writers), 1, DB_WRITERS_MAX, "4",
     "PostgreSQL: connections that commit webhooks in parallel (SQLite has one writer)"},
    {"commit_grouping", DT_BOOL, 0, OFF(commit_grouping), 0, 0, "yes",
     "group concurrent deliveries into one commit (no: one commit each)"},
    {"busy_timeout_ms", DT_UINT, 0, OFF(busy_timeout_ms), 0, 600000, "5000",
     "milliseconds to wait for a locked database"},
    {"min_free_bytes", DT_SIZE, 0, OFF(min_free_bytes), 0, TIB, "64M",
     "refuse new deliveries (503) when the disk has less free space"},
    {"retention_days", DT_UINT, 0, OFF(retention_days), 0, 36500, "0",
     "remove calls older than this many days, with their deliveries and history (0: keep)"},
    {"retention_rejected_days", DT_UINT, 0, OFF(retention_rejected_days), 0, 36500, "0",
     "remove rejected deliveries older than this many days (0: keep)"},
    {"retention_interval", DT_UINT, 0, OFF(retention_interval), 1, 604800, "3600",
     "seconds between the retention sweeps of serve (it also sweeps at start)"},
    {"redact", DT_BOOL, 0, OFF(redact), 0, 0, "no",
     "mask payment card and US social security numbers in call text before storing"},
    {"log_level", DT_LOGLEVEL, 0, OFF(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"mcp_allow_writes", DT_BOOL, 0, OFF(mcp_allow_writes), 0, 0, "no",
     "let MCP clients (stdio, tool, HTTP) run tools that change stored data"},
    {"token", DT_TOKEN, DF_SECRET, OFF(token), 0, 0, NULL,
     "bearer token for the private listener (MCP over HTTP, REST, metrics)"},
    {"token_file", DT_TOKEN, DF_FILE, OFF(token), 0, 0, NULL, "file holding token"},
    {"private_auth", DT_BOOL, 0, OFF(private_auth), 0, 0, "yes",
     "require the bearer token on the private listener (no: loopback only, for local tools)"},
    {"allowed_hosts", DT_STRING, 0, OFF(allowed_hosts), 0, 0, "",
     "Host names the private listener answers besides localhost, 127.0.0.1 and [::1]"},
    {"allowed_origins", DT_STRING, 0, OFF(allowed_origins), 0, 0, "",
     "browser Origins allowed besides loopback ones, e.g. https://app.example.com"},
    {"mcp_workers", DT_UINT, 0, OFF(mcp_workers), 1, 64, "8",
     "MCP requests over HTTP served at once (each with its own database connection)"},
    {"mcp_sessions_max", DT_UINT, 0, OFF(mcp_sessions_max), 1, 65535, "256",
     "MCP sessions open at once over HTTP"},
    {"mcp_session_idle", DT_UINT, 0, OFF(mcp_session_idle), 10, 604800, "1800",
     "seconds after which an unused MCP session ends"},
    {"audit", DT_BOOL, 0, OFF(audit), 0, 0, "yes",
     "record every MCP tool call and resource read: client, session, call ids (no arguments)"},
    {"audit_retention_days", DT_UINT, 0, OFF(audit_retention_days), 0, 36500, "365",
     "days audit entries are kept (0: kept until removed by hand)"},
};

#define NDIRECTIVES (sizeof directives / sizeof directives[0])

/* PHONELY_MCP_* names that are not settings but are read elsewhere. */
static const char *const env_ignored[] = {
    "CONFIG", /* the config file's path, read by main */
};

/* Overwrite a string's bytes in a way the compiler may not elide, then free it. */
static void secret_free(char *s)
{
    if (s == NULL)
        return;
    for (volatile char *p = s; *p != '\0'; p++)
        *p = '\0';
    free(s);
}

static void wipe(void *buf, size_t len)
{
    volatile unsigned char *p = buf;

    while (len-- > 0)
        *p++ = 0;
}

static void *field_of(struct config *cfg, const struct directive *d)
{
    return (char *)cfg + d->offset;
}

static bool is_secret_type(enum dtype t)
{
    return t == DT_TOKEN || t == DT_SIGNING || t == DT_PASSWORD;
}

/* "webhook_listen" -> "PHONELY_MCP_WEBHOOK_LISTEN" (or "--webhook-listen"). */
static void env_name(const struct directive *d, char *out, size_t outsz)
{
    size_t o = 0;

    for (const char *p = ENV_PREFIX; *p != '\0' && o + 1 < outsz; p++)
        out[o++] = *p;
    for (const char *p = d->name; *p != '\0' && o + 1 < outsz; p++)
        out[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    out[o] = '\0';
}

static void flag_name(const struct directive *d, char *out, size_t outsz)
{
    size_t o = 0;

    for (const char *p = "--"; *p != '\0' && o + 1 < outsz; p++)
        out[o++] = *p;
    for (const char *p = d->name; *p != '\0' && o + 1 < outsz; p++)
        out[o++] = (char)(*p == '_' ? '-' : *p);
    out[o] = '\0';
}

static const struct directive *lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        if (strlen(directives[i].name) == len && memcmp(directives[i].name, name, len) == 0)
            return &directives[i];
    }
    return NULL;
}

/* Upper-case env suffix ("WEBHOOK_LISTEN") to its directive; case matters. */
static const struct directive *lookup_env(const char *name, size_t len)
{
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const char *d = directives[i].name;
        size_t k;

        if (strlen(d) != len)
            continue;
        for (k = 0; k < len; k++) {
            char up = (char)(d[k] >= 'a' && d[k] <= 'z' ? d[k] - 'a' + 'A' : d[k]);
            if (up != name[k])
                break;
        }
        if (k == len)
            return &directives[i];
    }
    return NULL;
}

/* A flag name with dashes or underscores and an optional leading "--". */
static const struct directive *lookup_flag(const char *name)
{
    char norm[CONFIG_NAME_MAX + 1];
    size_t n = 0;

    if (name == NULL)
        return NULL;
    if (strncmp(name, "--", 2) == 0)
        name += 2;
    for (; name[n] != '\0'; n++) {
        if (n == CONFIG_NAME_MAX)
            return NULL;
        norm[n] = (char)(name[n] == '-' ? '_' : name[n]);
    }
    norm[n] = '\0';
    return lookup(norm, n);
}

/* Digits only (no sign, no spaces), without overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    if (*s != '\0')
        return -1;
    *out = v;
    return 0;
}

/* "123", "64K", "1M", "2GiB", "1t": bytes, suffixes in powers of 1024. */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        char letter;
        uint64_t mult;
    } units[] = {{'K', KIB}, {'M', MIB}, {'G', GIB}, {'T', TIB}};
    char digits[32];
    const char *p = s;
    uint64_t v, mult = 1;
    size_t n;

    while (*p >= '0' && *p <= '9')
        p++;
    n = (size_t)(p - s);
    if (n == 0 || n >= sizeof digits)
        return -1;
    memcpy(digits, s, n);
    digits[n] = '\0';
    if (parse_u64(digits, &v) != 0)
        return -1;
    if (*p != '\0') {
        size_t u;
        for (u = 0; u < sizeof units / sizeof units[0]; u++) {
            if (*p == units[u].letter || *p == units[u].letter - 'A' + 'a')
                break;
        }
        if (u == sizeof units / sizeof units[0])
            return -1;
        mult = units[u].mult;
        p++;
        if (strcmp(p, "iB") != 0 && strcmp(p, "ib") != 0 && *p != '\0')
            return -1;
    }
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* Bytes as the shortest exact text parse_size reads back: 1048576 -> "1M". */
static void format_size(int64_t v, char *out, size_t outsz)
{
    static const char letters[] = "TGMK";
    int64_t mult = TIB;

    for (size_t i = 0; letters[i] != '\0'; i++, mult /= 1024) {
        if (v != 0 && v % mult == 0) {
            snprintf(out, outsz, "%" PRId64 "%c", v / mult, letters[i]);
            return;
        }
    }
    snprintf(out, outsz, "%" PRId64, v);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A file holding a secret should not be readable by every local user. */
static void warn_world_readable(int fd, const char *path, const char *advice)
{
    struct stat sb;

    if (fstat(fd, &sb) == 0 && (sb.st_mode & S_IROTH))
        log_warnx("%s holds a secret and is readable by every user; %s", path, advice);
}

/*
 * Read a secret from path: at most SECRET_FILE_MAX bytes, trailing
 * whitespace (the usual newline) stripped. *out is the caller's. Errors name
 * the path, never the content; the read buffer is wiped either way.
 */
static int read_secret_file(const char *path, char **out, struct err *err)
{
    char buf[SECRET_FILE_MAX + 1];
    size_t len = 0;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return err_set(err, ERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(err, ERR_CONFIG, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf) {
            err_set(err, ERR_CONFIG, "%s is larger than %d bytes", path, SECRET_FILE_MAX);
            goto fail;
        }
    }
    while (len > 0 && strchr(" \t\r\n\v\f", buf[len - 1]) != NULL)
        len--;
    if (len == 0) {
        err_set(err, ERR_CONFIG, "%s is empty", path);
        goto fail;
    }
    if (memchr(buf, '\0', len) != NULL) {
        err_set(err, ERR_CONFIG, "%s contains a NUL byte", path);
        goto fail;
    }
    warn_world_readable(fd, path, "chmod 600 it");
    *out = xstrndup(buf, len);
    rc = 0;
fail:
    wipe(buf, sizeof buf);
    close(fd);
    return rc;
}

/*
 * Parse value for directive d and store it in cfg, freeing what it replaces.
 * On error err holds a message without the setting's name (the caller knows
 * how to name the source) and cfg is unchanged.
 */
static int directive_set(struct config *cfg, const struct directive *d, const char *value,
                         struct err *err)
{
    void *field = field_of(cfg, d);
    char lo[32], hi[32];
    uint64_t u;

    if (strlen(value) > CONFIG_VALUE_MAX)
        return err_set(err, ERR_CONFIG, "value is longer than %d bytes", CONFIG_VALUE_MAX);
    switch (d->type) {
    case DT_PATH:
        if (value[0] == '\0')
            return err_set(err, ERR_CONFIG, "expected a non-empty path");
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case DT_STRING:
        free(*(char **)field);
        *(char **)field =
            value[value[0] == ' ' ? strspn(value, " ") : 0] == '\0' ? NULL : xstrdup(value);
        return 0;
    case DT_LISTEN: {
        struct listen_addr addr;
        if (config_parse_listen(value, &addr, err) != 0)
            return -1;
        *(struct listen_addr *)field = addr;
        return 0;
    }
    case DT_SIZE:
        if (parse_size(value, &u) != 0 || u < (uint64_t)d->min || u > (uint64_t)d->max ||
            u > SIZE_MAX) {
            format_size(d->min, lo, sizeof lo);
            format_size(d->max, hi, sizeof hi);
            return err_set(err, ERR_CONFIG, "expected a size like %s (%s..%s)", d->def, lo, hi);
        }
        *(size_t *)field = (size_t)u;
        return 0;
    case DT_UINT:
    case DT_INT64:
        if (parse_u64(value, &u) != 0 || u < (uint64_t)d->min || u > (uint64_t)d->max)
            return err_set(err, ERR_CONFIG, "expected an integer from %" PRId64 " to %" PRId64,
                           d->min, d->max);
        if (d->type == DT_UINT)
            *(unsigned *)field = (unsigned)u;
        else
            *(int64_t *)field = (int64_t)u;
        return 0;
    case DT_BOOL:
        if (parse_bool(value, (bool *)field) != 0)
            return err_set(err, ERR_CONFIG, "expected yes or no (or true/false, on/off, 1/0)");
        return 0;
    case DT_LOGLEVEL: {
        enum log_level level;
        if (log_level_parse(value, &level) != 0)
            return err_set(err, ERR_CONFIG, "expected error, warn, info or debug");
        *(int *)field = (int)level;
        return 0;
    }
    case DT_TOKEN:
    case DT_SIGNING:
    case DT_PASSWORD: {
        char *secret = NULL;
        struct err e;
        if (d->flags & DF_FILE) {
            if (value[0] == '\0')
                return err_set(err, ERR_CONFIG, "expected a non-empty path");
            if (read_secret_file(value, &secret, err) != 0)
                return -1;
        } else {
            if (value[0] == '\0')
                return err_set(err, ERR_CONFIG, "value is empty");
            secret = xstrdup(value);
        }
        /* Signing secrets are decoded by config_validate (auth_secrets_parse). */
        if (d->type == DT_TOKEN && auth_token_validate(secret, &e) != 0) {
            secret_free(secret);
            if (d->flags & DF_FILE)
                return err_set(err, ERR_CONFIG, "%s: %s", value, e.msg);
            return err_set(err, ERR_CONFIG, "%s", e.msg);
        }
        secret_free(*(char **)field);
        *(char **)field = secret;
        return 0;
    }
    }
    return err_set(err, ERR_INTERNAL, "unknown setting type");
}

/*
 * Fill cfg with the defaults from the directive table. cfg must not hold
 * allocated strings (call config_free first when reusing one); afterwards
 * the caller owns db_path and releases everything with config_free.
 */
void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];
        struct err e;
        if (d->def == NULL)
            continue;
        if (directive_set(cfg, d, d->def, &e) != 0)
            fatalx("config: default of %s is invalid: %s", d->name, e.msg);
    }
}

/* Release every string cfg owns (secrets wiped first); cfg may be NULL. */
void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];
        char **p = field_of(cfg, d);
        if (d->type == DT_PATH || d->type == DT_STRING) {
            free(*p);
            *p = NULL;
        } else if (is_secret_type(d->type)) {
            secret_free(*p);
            *p = NULL;
        }
    }
    free(cfg->source_file);
    cfg->source_file = NULL;
}

/* Collects a source's errors: logs each one and keeps the first for the caller. */
struct collector {
    struct err first;
    int count;
};

static void collect(struct collector *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void collect(struct collector *c, const char *fmt, ...)
{
    struct err e;
    va_list ap;

    e.code = ERR_CONFIG;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    log_warnx("%s", e.msg);
    if (c->count++ == 0)
        c->first = e;
}

static int collector_finish(const struct collector *c, struct err *err)
{
    if (c->count == 0)
        return 0;
    if (err != NULL)
        *err = c->first;
    return -1;
}

/*
 * Read one line into buf (terminator dropped, CR of a CRLF too). Returns 1
 * for a line, 0 at end of file. *too_long is set when the line had more than
 * CONFIG_LINE_MAX bytes (the rest is consumed), *nul when it held a NUL byte.
 */
static int read_line(FILE *f, char *buf, size_t size, bool *too_long, bool *nul)
{
    size_t len = 0;
    int c;

    *too_long = false;
    *nul = false;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == '\0')
            *nul = true;
        if (len + 1 < size)
            buf[len++] = (char)c;
        else
            *too_long = true;
    }
    if (c == EOF && len == 0 && !*too_long)
        return 0;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (len > CONFIG_LINE_MAX)
        *too_long = true;
    return 1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Split the value part of a line in place. A double-quoted value may hold
 * \" and \\; anything after its closing quote must be blank or a comment.
 * An unquoted value runs to the end of the line or to a '#' that follows
 * a blank, with trailing blanks dropped. Messages never quote the value.
 */
static int split_value(char *p, char **value, struct err *err)
{
    if (*p == '"') {
        char *dst = p, *src = p + 1;
        *value = p;
        for (;; src++) {
            if (*src == '\0')
                return err_set(err, ERR_CONFIG, "unterminated quoted value");
            if (*src == '"')
                break;
            if (*src == '\\') {
                src++;
                if (*src != '"' && *src != '\\')
                    return err_set(err, ERR_CONFIG,
                                   "bad escape in quoted value (only \\\" and \\\\ are known)");
            }
            *dst++ = *src;
        }
        *dst = '\0';
        for (src++; is_blank(*src); src++)
            ;
        if (*src != '\0' && *src != '#')
            return err_set(err, ERR_CONFIG, "unexpected text after the closing quote");
        return 0;
    }
    *value = p;
    for (char *q = p; *q != '\0'; q++) {
        if (*q == '#' && q > p && is_blank(q[-1])) {
            *q = '\0';
            break;
        }
    }
    for (size_t n = strlen(p); n > 0 && is_blank(p[n - 1]); n--)
        p[n - 1] = '\0';
    return 0;
}

/* One config-file line; lines[] records where each directive was set. */
static int parse_line(struct config *cfg, char *line, int lineno, int lines[NDIRECTIVES],
                      bool *direct_secret, struct err *err)
{
    const struct directive *d;
    char *p = line, *name, *value;
    char shown[80];
    size_t namelen;
    struct err e;

    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    name = p;
    while (*p != '\0' && !is_blank(*p))
        p++;
    namelen = (size_t)(p - name);
    d = lookup(name, namelen);
    if (d == NULL) {
        const char *eq = memchr(name, '=', namelen);
        if (eq != NULL) {
            /* "name=value": show only the name, the value may be a secret. */
            log_escape(name, (size_t)(eq - name), shown, sizeof shown);
            return err_set(err, ERR_CONFIG, "expected 'name value', not 'name=value' (for '%s')",
                           shown);
        }
        log_escape(name, namelen, shown, sizeof shown);
        char alt[CONFIG_NAME_MAX + 1];
        if (namelen <= CONFIG_NAME_MAX) {
            for (size_t i = 0; i < namelen; i++)
                alt[i] = (char)(name[i] == '-' ? '_' : name[i]);
            alt[namelen] = '\0';
            if (lookup(alt, namelen) != NULL)
                return err_set(err, ERR_CONFIG, "unknown directive '%s' (did you mean '%s'?)",
                               shown, alt);
        }
        return err_set(err, ERR_CONFIG, "unknown directive '%s'", shown);
    }
    for (size_t j = 0; j < NDIRECTIVES; j++) {
        if (directives[j].offset != d->offset || lines[j] == 0)
            continue;
        if (&directives[j] == d)
            return err_set(err, ERR_CONFIG, "duplicate directive '%s' (first set on line %d)",
                           d->name, lines[j]);
        return err_set(err, ERR_CONFIG, "%s conflicts with %s on line %d; set only one", d->name,
                       directives[j].name, lines[j]);
    }
    lines[d - directives] = lineno;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return err_set(err, ERR_CONFIG, "%s: missing value", d->name);
    if (split_value(p, &value, &e) != 0 || directive_set(cfg, d, value, &e) != 0)
        return err_set(err, ERR_CONFIG, "%s: %s", d->name, e.msg);
    if (d->flags & DF_SECRET)
        *direct_secret = true;
    return 0;
}

/*
 * Read the config file at path into cfg. Every error ("path:line: ...") is
 * logged; on -1 err holds the first and cfg may be partly updated. A
 * directive given twice, or a secret given both directly and as *_file, is
 * an error. cfg->source_file becomes a copy of path.
 */
int config_load_file(struct config *cfg, const char *path, struct err *err)
{
    struct collector c = {.count = 0};
    int lines[NDIRECTIVES] = {0};
    char line[CONFIG_LINE_MAX + 2];
    bool too_long, nul, direct_secret = false;
    int lineno = 0;
    FILE *f;

    f = fopen(path, "r");
    if (f == NULL)
        return err_set(err, ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    free(cfg->source_file);
    cfg->source_file = xstrdup(path);
    while (read_line(f, line, sizeof line, &too_long, &nul) == 1) {
        struct err e;
        lineno++;
        if (too_long)
            collect(&c, "%s:%d: line is longer than %d bytes", path, lineno, CONFIG_LINE_MAX);
        else if (nul)
            collect(&c, "%s:%d: line holds a NUL byte", path, lineno);
        else if (parse_line(cfg, line, lineno, lines, &direct_secret, &e) != 0)
            collect(&c, "%s:%d: %s", path, lineno, e.msg);
    }
    if (ferror(f))
        collect(&c, "%s: read error: %s", path, strerror(errno));
    else if (direct_secret)
        warn_world_readable(fileno(f), path, "chmod o-r it or use a *_file setting");
    (void)fclose(f); /* read-only: closing cannot lose data */
    wipe(line, sizeof line);
    return collector_finish(&c, err);
}

static bool env_is_ignored(const char *name, size_t len)
{
    if (len >= strlen(ENV_IGNORE_PREFIX) &&
        memcmp(name, ENV_IGNORE_PREFIX, strlen(ENV_IGNORE_PREFIX)) == 0)
        return true;
    for (size_t i = 0; i < sizeof env_ignored / sizeof env_ignored[0]; i++) {
        if (strlen(env_ignored[i]) == len && memcmp(env_ignored[i], name, len) == 0)
            return true;
    }
    return false;
}

/*
 * Apply every PHONELY_MCP_<NAME> in envp (NULL: the process environment).
 * Unknown names draw a warning (a typo would otherwise go unnoticed), except
 * PHONELY_MCP_TEST* and PHONELY_MCP_CONFIG, which belong to other readers.
 * An empty value is treated as unset. Errors name the variable; all are
 * logged and the first is returned in err.
 */
int config_load_env(struct config *cfg, char *const *envp, struct err *err)
{
    struct collector c = {.count = 0};
    bool set[NDIRECTIVES] = {false};
    char var[128], other[128], shown[80];

    if (envp == NULL)
        envp = environ;
    for (char *const *ep = envp; ep != NULL && *ep != NULL; ep++) {
        const char *entry = *ep, *eq, *name, *value;
        const struct directive *d;
        struct err e;
        size_t len;

        if (strncmp(entry, ENV_PREFIX, ENV_PREFIX_LEN) != 0 || (eq = strchr(entry, '=')) == NULL)
            continue;
        name = entry + ENV_PREFIX_LEN;
        len = (size_t)(eq - name);
        value = eq + 1;
        if (env_is_ignored(name, len))
            continue;
        d = lookup_env(name, len);
        if (d == NULL) {
            log_escape(entry, (size_t)(eq - entry), shown, sizeof shown);
            log_warnx("%s is not a phonely-mcp setting; ignored", shown);
            continue;
        }
        env_name(d, var, sizeof var);
        if (value[0] == '\0') {
            log_warnx("%s is empty; ignored", var);
            continue;
        }
        bool skip = false;
        for (size_t j = 0; j < NDIRECTIVES; j++) {
            if (directives[j].offset != d->offset || !set[j])
                continue;
            if (&directives[j] != d) {
                env_name(&directives[j], other, sizeof other);
                collect(&c, "%s conflicts with %s; set only one", var, other);
            }
            /* The same variable twice: keep the first, as getenv would. */
            skip = true;
        }
        if (skip)
            continue;
        set[d - directives] = true;
        if (directive_set(cfg, d, value, &e) != 0)
            collect(&c, "%s: %s", var, e.msg);
    }
    return collector_finish(&c, err);
}

/*
 * Apply one command-line setting. name is the directive's name with dashes
 * or underscores (a leading "--" is tolerated). Secrets are refused with a
 * message naming the ways they can be given; their *_file forms are
 * accepted because a path is not a secret.
 */
int config_set_flag(struct config *cfg, const char *name, const char *value, struct err *err)
{
    const struct directive *d = lookup_flag(name);
    char flag[128], var[128], shown[80];
    struct err e;

    if (d == NULL) {
        if (name == NULL)
            name = "";
        log_escape(name, strlen(name), shown, sizeof shown);
        return err_set(err, ERR_CONFIG, "unknown option --%s",
                       strncmp(shown, "--", 2) == 0 ? shown + 2 : shown);
    }
    if (d->flags & DF_SECRET) {
        env_name(d, var, sizeof var);
        return err_set(
            err, ERR_CONFIG,
            "%s is a secret and is not accepted on the command line; use %s, %s_FILE or %s_file "
            "in the config file",
            d->name, var, var, d->name);
    }
    flag_name(d, flag, sizeof flag);
    if (value == NULL)
        return err_set(err, ERR_CONFIG, "%s needs a value", flag);
    if (directive_set(cfg, d, value, &e) != 0)
        return err_set(err, e.code, "%s: %s", flag, e.msg);
    return 0;
}

/*
 * True when config_set_flag recognises name. Secret names count: the caller
 * should pass them on so the operator sees why they are refused rather than
 * "unknown option".
 */
bool config_is_flag(const char *name)
{
    return lookup_flag(name) != NULL;
}

static bool host_is_wildcard(const char *host)
{
    return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* Two listeners that cannot both bind: same non-zero port, same or wildcard host. */
static bool listeners_clash(const struct listen_addr *a, const struct listen_addr *b)
{
    if (a->port == 0 || a->port != b->port)
        return false;
    return strcasecmp(a->host, b->host) == 0 || host_is_wildcard(a->host) ||
           host_is_wildcard(b->host);
}

static void listen_format(const struct listen_addr *a, char *out, size_t outsz)
{
    if (strchr(a->host, ':') != NULL)
        snprintf(out, outsz, "[%s]:%u", a->host, (unsigned)a->port);
    else
        snprintf(out, outsz, "%s:%u", a->host, (unsigned)a->port);
}

/*
 * Private-listener checks, for `serve` only (stdio and the other commands
 * do not listen): a non-loopback private listener needs the token and
 * private_auth; private_auth needs a token to compare with; an unparsable
 * token was already refused by config_validate.
 */
int config_validate_private(const struct config *cfg, struct err *err)
{
    char where[CONFIG_HOST_MAX + 16];

    listen_format(&cfg->private_listen, where, sizeof where);
    if (!config_listen_is_loopback(&cfg->private_listen) &&
        (cfg->token == NULL || !cfg->private_auth))
        return err_set(err, ERR_CONFIG,
                       "private_listen %s is not a loopback address; it needs a token and "
                       "private_auth yes (it serves call transcripts)",
                       where);
    if (cfg->private_auth && cfg->token == NULL)
        return err_set(err, ERR_CONFIG,
                       "private_auth is on but no token is set: set PHONELY_MCP_TOKEN (or "
                       "token_file; make one with `phonely-mcp token`), or set private_auth no "
                       "to leave the loopback private listener open to local programs");
    return 0;
}

/*
 * Cross-field checks once every source is applied: a webhook listener off
 * loopback needs a token; a previous token needs a current one and must
 * differ from it; tokens and signing secrets must parse; the two listeners
 * must not collide. Returns 0, or -1 with ERR_CONFIG in err.
 */
int config_validate(const struct config *cfg, struct err *err)
{
    char where[CONFIG_HOST_MAX + 16], other[CONFIG_HOST_MAX + 16];
    struct err e;

    listen_format(&cfg->webhook_listen, where, sizeof where);
    if (cfg->webhook_token == NULL && !config_listen_is_loopback(&cfg->webhook_listen))
        return err_set(
            err, ERR_CONFIG,
            "webhook_listen %s is not a loopback address and no webhook_token is set; refusing "
            "to accept unauthenticated webhooks from the network",
            where);
    if (cfg->webhook_token != NULL && auth_token_validate(cfg->webhook_token, &e) != 0)
        return err_set(err, ERR_CONFIG, "webhook_token: %s", e.msg);
    if (cfg->token != NULL && auth_token_validate(cfg->token, &e) != 0)
        return err_set(err, ERR_CONFIG, "token: %s", e.msg);
    if (cfg->token != NULL && cfg->webhook_token != NULL &&
        strcmp(cfg->token, cfg->webhook_token) == 0)
        return err_set(err, ERR_CONFIG,
                       "token is the same as webhook_token; the private listener needs its own");
    if (cfg->webhook_token_previous != NULL) {
        if (cfg->webhook_token == NULL)
            return err_set(
                err, ERR_CONFIG,
                "webhook_token_previous is set but webhook_token is not; the previous token is "
                "only accepted beside a current one");
        if (auth_token_validate(cfg->webhook_token_previous, &e) != 0)
            return err_set(err, ERR_CONFIG, "webhook_token_previous: %s", e.msg);
        if (strcmp(cfg->webhook_token, cfg->webhook_token_previous) == 0)
            return err_set(
                err, ERR_CONFIG,
                "webhook_token_previous is the same as webhook_token; set a new webhook_token "
                "to rotate");
    }
    if (cfg->webhook_signing_secret != NULL) {
        struct auth_secrets *secrets = auth_secrets_parse(cfg->webhook_signing_secret, &e);
        if (secrets == NULL)
            return err_set(err, ERR_CONFIG, "webhook_signing_secret: %s", e.msg);
        auth_secrets_free(secrets);
    }
    if (listeners_clash(&cfg->webhook_listen, &cfg->private_listen)) {
        listen_format(&cfg->private_listen, other, sizeof other);
        return err_set(
            err, ERR_CONFIG,
            "webhook_listen %s and private_listen %s use the same port; give them different "
            "ports",
            where, other);
    }
    if (!config_listen_is_loopback(&cfg->private_listen)) {
        listen_format(&cfg->private_listen, other, sizeof other);
        log_warnx("private_listen %s is not a loopback address; keep MCP off the network", other);
    }
    return 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/*
 * Parse "host:port", "[v6]:port" or ":port" (host 127.0.0.1: a listener is
 * never exposed by omission). The port is 0..65535 in decimal digits; a
 * bracketed host must be an IPv6 address, an unbracketed one a hostname or
 * IPv4 address of at most 255 bytes. addr is written only on success.
 */
int config_parse_listen(const char *text, struct listen_addr *addr, struct err *err)
{
    static const char usage[] = "expected host:port, [v6]:port or :port";
    const char *host, *colon, *port;
    size_t hostlen;
    uint64_t p;
    struct listen_addr out;

    if (text == NULL || text[0] == '\0')
        return err_set(err, ERR_CONFIG, "empty address (%s)", usage);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        unsigned char bin[16];
        if (close == NULL)
            return err_set(err, ERR_CONFIG, "missing ']' (%s)", usage);
        host = text + 1;
        hostlen = (size_t)(close - host);
        if (close[1] != ':')
            return err_set(err, ERR_CONFIG, "missing port (%s)", usage);
        colon = close + 1;
        if (hostlen == 0 || hostlen > CONFIG_HOST_MAX)
            return err_set(err, ERR_CONFIG, "bad IPv6 address in brackets");
        memcpy(out.host, host, hostlen);
        out.host[hostlen] = '\0';
        if (inet_pton(AF_INET6, out.host, bin) != 1)
            return err_set(err, ERR_CONFIG, "bad IPv6 address in brackets");
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return err_set(err, ERR_CONFIG, "missing port (%s)", usage);
        host = text;
        hostlen = (size_t)(colon - host);
        if (memchr(host, ':', hostlen) != NULL)
            return err_set(err, ERR_CONFIG, "an IPv6 address needs brackets, as in [::1]:8080");
        if (hostlen > CONFIG_HOST_MAX)
            return err_set(err, ERR_CONFIG, "host is longer than %d bytes", CONFIG_HOST_MAX);
        for (size_t i = 0; i < hostlen; i++) {
            if (!host_char(host[i]))
                return err_set(err, ERR_CONFIG, "bad character in host (%s)", usage);
        }
        if (hostlen == 0)
            strcpy(out.host, "127.0.0.1");
        else {
            memcpy(out.host, host, hostlen);
            out.host[hostlen] = '\0';
        }
    }
    port = colon + 1;
    if (port[0] == '\0')
        return err_set(err, ERR_CONFIG, "missing port (%s)", usage);
    if (strlen(port) > 5 || parse_u64(port, &p) != 0 || p > 65535)
        return err_set(err, ERR_CONFIG, "port must be a number from 0 to 65535");
    out.port = (uint16_t)p;
    *addr = out;
    return 0;
}

/*
 * True for 127.0.0.0/8, ::1, ::ffff:127.x.x.x and "localhost". Anything else,
 * hostnames included, counts as reachable from the network.
 */
bool config_listen_is_loopback(const struct listen_addr *addr)
{
    unsigned char bin[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char v6loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    if (strcasecmp(addr->host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, addr->host, bin) == 1)
        return bin[0] == 127;
    if (inet_pton(AF_INET6, addr->host, bin) == 1)
        return memcmp(bin, v6loop, 16) == 0 || (memcmp(bin, mapped, 12) == 0 && bin[12] == 127);
    return false;
}

/*
 * Print every setting as a table (file name, environment variable,
 * default), each followed by its help line, then how flags are spelled.
 */
void config_print_help(FILE *out)
{
    size_t wname = strlen("SETTING"), wenv = strlen("ENVIRONMENT");
    char var[128];

    for (size_t i = 0; i < NDIRECTIVES; i++) {
        env_name(&directives[i], var, sizeof var);
        if (strlen(directives[i].name) > wname)
            wname = strlen(directives[i].name);
        if (strlen(var) > wenv)
            wenv = strlen(var);
    }
    fprintf(out, "Settings (config file, environment; flags: --name with dashes):\n");
    fprintf(out, "  %-*s  %-*s  %s\n", (int)wname, "SETTING", (int)wenv, "ENVIRONMENT", "DEFAULT");
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];
        env_name(d, var, sizeof var);
        fprintf(out, "  %-*s  %-*s  %s\n", (int)wname, d->name, (int)wenv, var,
                d->def != NULL ? d->def : "(none)");
        fprintf(out, "      %s%s\n", d->help, (d->flags & DF_SECRET) ? " [secret: no flag]" : "");
    }
    fprintf(out, "Sizes take K, M, G or T (powers of 1024). Precedence: flags, environment, "
                 "config file, defaults.\n");
}
