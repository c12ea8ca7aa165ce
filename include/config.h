/* config.h: settings from the config file, the environment and flags. */
#ifndef PHONELY_CONFIG_H
#define PHONELY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct listen_addr {
    char host[256]; /* "127.0.0.1", "::1", "0.0.0.0", "localhost" ... */
    uint16_t port;  /* 0 lets the kernel pick (tests) */
};

/* The most writer connections db_writers may ask for. */
#define DB_WRITERS_MAX 64

/*
 * Every setting has a name (config file key), an environment variable
 * PHONELY_MCP_<NAME upper-cased>, and for non-secrets a --name flag.
 * Precedence: flags beat environment beat the config file beat defaults.
 * Secrets (webhook_token, webhook_token_previous, webhook_signing_secret,
 * token, db_password)
 * may also be given as <name>_file / PHONELY_MCP_<NAME>_FILE holding the
 * value; they are never accepted as flags.
 */
struct config {
    char *db_path;                       /* db, default ./phonely-mcp.db, or a postgresql:// URI */
    char *db_password;                   /* secret: a PostgreSQL password, or NULL */
    struct listen_addr webhook_listen;   /* webhook_listen, default 127.0.0.1:8080 */
    struct listen_addr private_listen;   /* private_listen, default 127.0.0.1:9090 */
    char *webhook_token;                 /* secret */
    char *webhook_token_previous;        /* secret, still accepted during rotation */
    char *webhook_signing_secret;        /* secret: whsec_ list, space separated */
    int64_t webhook_signature_tolerance; /* seconds, default 300 */
    size_t body_max;                     /* bytes, default 1 MiB */
    size_t header_max;                   /* bytes of connection memory, default 32 KiB */
    size_t rejected_body_max;            /* bytes of a rejected body kept, default 1 MiB */
    unsigned connection_limit;           /* default 256 */
    unsigned per_ip_limit;               /* default 64 */
    unsigned connection_timeout;         /* seconds of inactivity, default 30 */
    unsigned request_deadline;           /* seconds for a whole request, default 60 */
    unsigned threads;                    /* HTTP worker threads, 0 = number of CPUs */
    unsigned commit_batch_max;           /* deliveries per transaction, default 256 */
    unsigned db_writers;                 /* PostgreSQL writers, default 4, <= DB_WRITERS_MAX */
    bool commit_grouping;                /* default true; false = one commit per request */
    unsigned busy_timeout_ms;            /* default 5000 */
    size_t min_free_bytes;   /* refuse ingest (503) below this free space, default 64 MiB */
    unsigned retention_days; /* remove calls older than this (0: keep forever) */
    unsigned retention_rejected_days; /* remove rejected deliveries older than this (0: keep) */
    unsigned retention_interval;      /* seconds between the daemon's sweeps, default 3600 */
    bool redact;           /* mask card and SSN numbers in call text before storing; default no */
    int log_level;         /* log_level: error|warn|info|debug */
    bool mcp_allow_writes; /* MCP tools that write are allowed; default no (read-only) */
    char *token;           /* secret: bearer token of the private listener */
    bool private_auth;     /* require token on the private listener; default yes */
    char *allowed_hosts;   /* extra Host names, space separated, or NULL */
    char *allowed_origins; /* extra Origins, space separated, or NULL */
    unsigned mcp_workers;
    unsigned mcp_sessions_max;
    unsigned mcp_session_idle;     /* seconds */
    bool audit;                    /* record MCP tool calls and resource reads; default yes */
    unsigned audit_retention_days; /* remove audit entries older than this; 0 keeps them */
    char *source_file;             /* the config file read, if any */
};

/* Fill cfg with defaults. */
void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/*
 * Read a config file: "name value" per line, '#' comments, blank lines.
 * Values may be double-quoted. Errors name "file:line: ...". An unknown
 * directive, a bad value or a duplicate is an error. Returns 0 or -1; on -1
 * err->msg holds the first error (every error is also logged).

 */
int config_load_file(struct config *cfg, const char *path, struct err *err);

/* Apply PHONELY_MCP_* variables from envp (NULL: the process environment). */
int config_load_env(struct config *cfg, char *const *envp, struct err *err);

/*
 * Apply one command-line setting: name without the leading "--" (e.g.
 * "db", "webhook-listen"), value as given. Secrets are refused here with a
 * message pointing at the environment or a _file setting.
 */
int config_set_flag(struct config *cfg, const char *name, const char *value, struct err *err);

/* True when name (without "--", dashes or underscores) is a flag config_set_flag takes. */
bool config_is_flag(const char *name);

/* Cross-field checks run after everything is loaded (e.g. a public listener
 * needs a token). Returns 0 or -1. */
int config_validate(const struct config *cfg, struct err *err);

/*
 * Checks that matter only when serving the private listener: beyond
 * loopback it needs a token and private_auth; with private_auth and no
 * token it cannot authenticate anyone. Returns 0 or -1.
 */
int config_validate_private(const struct config *cfg, struct err *err);

/* Parse "host:port", "[v6]:port" or ":port" into addr. */
int config_parse_listen(const char *text, struct listen_addr *addr, struct err *err);
/* True when the address is a loopback address (127.0.0.0/8, ::1, localhost). */
bool config_listen_is_loopback(const struct listen_addr *addr);

/* Print every setting with its env name and default (for --help). */
void config_print_help(FILE *out);

#endif
