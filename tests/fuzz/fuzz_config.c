/*
 * fuzz_config.c: the configuration parser. The first byte picks a source:
 * a config file (the rest written to a temporary file and read with
 * config_load_file), command-line flags (lines name, value, name, value...
 * through config_set_flag) or the environment (each line prefixed with
 * PHONELY_MCP_, through config_load_env). Every successful load then goes
 * through config_validate and config_validate_private.
 *
 * Invariants: no crash, leak or UB; failures are ERR_CONFIG with a message
 * (a file's naming the file); secrets are never accepted as flags and
 * never quoted in a message; what loads is within each setting's bounds.
 *
 * '/' in the input becomes '_', so that a *_file setting can only name a
 * file in the current directory: the fuzzer cannot make the parser read
 * /dev/stdin or /dev/tty and hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"

static const char *const secret_names[] = {"webhook_token", "webhook_token_previous",
                                           "webhook_signing_secret", "token"};
#define NSECRET_NAMES (sizeof secret_names / sizeof secret_names[0])

static char *config_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char path[4200];

    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(path, sizeof path, "%s/phonely-mcp.conf", fuzz_tmpdir("config"));
    config_path = path;
    return 0;
}

/* Values a message must not contain (secrets seen in the input). */
struct secrets_seen {
    char *v[16];
    size_t n;
};

static size_t count_in(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s), count = 0;

    for (size_t i = 0; n > 0 && i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            count++;
    return count;
}

/* Record value when it looks like a token and occurs only once in the input. */
static void seen_add(struct secrets_seen *s, const char *value, size_t len, const uint8_t *data,
                     size_t size)
{
    char *v;

    if (s->n == sizeof s->v / sizeof s->v[0] || len == 0)
        return;
    v = fuzz_strndup((const uint8_t *)value, len);
    if (fuzz_quotable(v, "._~-+=") && count_in(data, size, v) == 1)
        s->v[s->n++] = v;
    else
        free(v);
}

static void seen_check(const struct secrets_seen *s, const char *msg)
{
    for (size_t i = 0; i < s->n; i++)
        FUZZ_CHECK(strstr(msg, s->v[i]) == NULL);
}

static void seen_free(struct secrets_seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

static bool is_secret_name(const char *name, size_t len)
{
    for (size_t i = 0; i < NSECRET_NAMES; i++)
        if (strlen(secret_names[i]) == len && memcmp(secret_names[i], name, len) == 0)
            return true;
    return false;
}

/* Scan config-file lines for secret directives ("name value" or "name=value"). */
static void seen_file(struct secrets_seen *s, const uint8_t *data, size_t size)
{
    size_t i = 0;

    while (i < size) {
        size_t end = i, name, nlen, v;
        while (end < size && data[end] != '\n')
            end++;
        while (i < end && (data[i] == ' ' || data[i] == '\t'))
            i++;
        name = i;
        while (i < end && data[i] != ' ' && data[i] != '\t' && data[i] != '=')
            i++;
        nlen = i - name;
        if (is_secret_name((const char *)data + name, nlen)) {
            while (i < end &&
                   (data[i] == ' ' || data[i] == '\t' || data[i] == '=' || data[i] == '"'))
                i++;
            v = i;
            while (i < end && data[i] != ' ' && data[i] != '\t' && data[i] != '"' &&
                   data[i] != '\r')
                i++;
            seen_add(s, (const char *)data + v, i - v, data, size);
        }
        i = end + 1;
    }
}

static void check_failure(const struct err *err, const struct secrets_seen *seen)
{
    FUZZ_CHECK(err->code == ERR_CONFIG);
    FUZZ_CHECK(err->msg[0] != '\0');
    seen_check(seen, err->msg);
}

/* What loaded stays within each setting's bounds; then the cross-field checks. */
static void check_loaded(const struct config *cfg, const struct secrets_seen *seen)
{
    struct err err = {0};
    const char *tokens[] = {cfg->webhook_token, cfg->webhook_token_previous, cfg->token};

    FUZZ_CHECK(cfg->db_path != NULL && cfg->db_path[0] != '\0');
    FUZZ_CHECK(cfg->body_max >= 1024 && cfg->body_max <= 64u * 1024 * 1024);
    FUZZ_CHECK(cfg->header_max >= 8192 && cfg->header_max <= 1024u * 1024);
    FUZZ_CHECK(cfg->rejected_body_max <= 64u * 1024 * 1024);
    FUZZ_CHECK(cfg->webhook_signature_tolerance >= 1 && cfg->webhook_signature_tolerance <= 3600);
    FUZZ_CHECK(cfg->connection_limit >= 1 && cfg->connection_limit <= 65535);
    FUZZ_CHECK(cfg->connection_timeout >= 1 && cfg->request_deadline >= 1);
    FUZZ_CHECK(cfg->threads <= 64 && cfg->mcp_workers >= 1 && cfg->mcp_workers <= 64);
    FUZZ_CHECK(cfg->commit_batch_max >= 1 && cfg->commit_batch_max <= 10000);
    FUZZ_CHECK(cfg->mcp_session_idle >= 10);
    FUZZ_CHECK(cfg->log_level >= 0 && cfg->log_level <= 3);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        if (tokens[i] != NULL) {
            struct err e = {0};
            FUZZ_CHECK(auth_token_validate(tokens[i], &e) == 0);
        }
    if (cfg->allowed_hosts != NULL)
        FUZZ_CHECK(cfg->allowed_hosts[strspn(cfg->allowed_hosts, " ")] != '\0');
    if (config_validate(cfg, &err) == -1)
        check_failure(&err, seen);
    err = (struct err){0};
    if (config_validate_private(cfg, &err) == -1)
        check_failure(&err, seen);
}

static void from_file(const uint8_t *data, size_t size)
{
    struct secrets_seen seen = {0};
    struct config cfg;
    struct err err = {0};
    FILE *f = fopen(config_path, "wb");
    int rc;

    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
    seen_file(&seen, data, size);

    config_defaults(&cfg);
    rc = config_load_file(&cfg, config_path, &err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(cfg.source_file != NULL && strcmp(cfg.source_file, config_path) == 0);
    if (rc == -1) {
        check_failure(&err, &seen);
        FUZZ_CHECK(strncmp(err.msg, config_path, strlen(config_path)) == 0);
    } else {
        check_loaded(&cfg, &seen);
    }
    config_free(&cfg);
    seen_free(&seen);
}

static void from_flags(struct fuzz_in *in, const uint8_t *data, size_t size)
{
    struct secrets_seen seen = {0};
    struct config cfg;
    char *name, *value;
    bool ok = true;

    config_defaults(&cfg);
    while ((name = fuzz_field(in, '\n', NULL)) != NULL) {
        struct err err = {0};
        const char *n = strncmp(name, "--", 2) == 0 ? name + 2 : name;
        char norm[80];
        size_t len = strlen(n);
        int rc;

        bool secret = false;

        value = fuzz_field(in, '\n', NULL);
        if (len < sizeof norm) {
            for (size_t i = 0; i <= len; i++)
                norm[i] = n[i] == '-' ? '_' : n[i];
            secret = is_secret_name(norm, len);
        }
        if (secret && value != NULL)
            seen_add(&seen, value, strlen(value), data, size);
        rc = config_set_flag(&cfg, name, value, &err);
        FUZZ_CHECK(rc == 0 || rc == -1);
        if (secret)
            FUZZ_CHECK(rc == -1);
        if (!config_is_flag(name))
            FUZZ_CHECK(rc == -1);
        if (rc == -1) {
            FUZZ_CHECK(err.code == ERR_CONFIG);
            FUZZ_CHECK(err.msg[0] != '\0');
            seen_check(&seen, err.msg);
            ok = false;
        }
        free(name);
        free(value);
    }
    if (ok)
        check_loaded(&cfg, &seen);
    config_free(&cfg);
    seen_free(&seen);
}

static void from_env(struct fuzz_in *in, const uint8_t *data, size_t size)
{
    struct secrets_seen seen = {0};
    struct config cfg;
    struct err err = {0};
    char *envp[33], *line;
    size_t n = 0;
    int rc;

    while (n < 32 && (line = fuzz_field(in, '\n', NULL)) != NULL) {
        char *eq = strchr(line, '=');
        size_t len = eq != NULL ? (size_t)(eq - line) : 0;
        char lower[64];

        if (eq != NULL && len < sizeof lower) {
            for (size_t i = 0; i < len; i++)
                lower[i] = line[i] >= 'A' && line[i] <= 'Z' ? (char)(line[i] - 'A' + 'a') : line[i];
            if (is_secret_name(lower, len))
                seen_add(&seen, eq + 1, strlen(eq + 1), data, size);
        }
        envp[n] = malloc(strlen(line) + sizeof "PHONELY_MCP_");
        FUZZ_CHECK(envp[n] != NULL);
        strcpy(envp[n], "PHONELY_MCP_");
        strcat(envp[n], line);
        n++;
        free(line);
    }
    envp[n] = NULL;
    config_defaults(&cfg);
    rc = config_load_env(&cfg, envp, &err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1)
        check_failure(&err, &seen);
    else
        check_loaded(&cfg, &seen);
    config_free(&cfg);
    for (size_t i = 0; i < n; i++)
        free(envp[i]);
    seen_free(&seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in;
    uint8_t *copy;
    uint8_t mode;

    if (size == 0)
        return 0;
    copy = malloc(size);
    FUZZ_CHECK(copy != NULL);
    for (size_t i = 0; i < size; i++)
        copy[i] = data[i] == '/' ? '_' : data[i];
    mode = copy[0] % 3;
    in = (struct fuzz_in){copy + 1, size - 1};
    if (mode == 0)
        from_file(copy + 1, size - 1);
    else if (mode == 1)
        from_flags(&in, copy + 1, size - 1);
    else
        from_env(&in, copy + 1, size - 1);
    free(copy);
    return 0;
}
