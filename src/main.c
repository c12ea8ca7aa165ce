/*
 * main.c: the phonely-mcp command line. A static table of subcommands
 * drives dispatch and the help text. Every command loads the settings the
 * same way: defaults, then the config file (--config or
 * PHONELY_MCP_CONFIG), then PHONELY_MCP_* variables, then flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "import.h"
#include "log.h"
#include "serve.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

struct cli {
    struct config cfg;
    char **args; /* positional arguments after the command */
    int nargs;
    /* command-specific options */
    const char *outcome;
    unsigned limit;
    long long body_id;
};

struct command {
    const char *name;
    int (*run)(struct cli *cli);
    const char *usage;
    const char *help;
    bool takes_args;
};

static int cmd_serve(struct cli *cli);
static int cmd_import(struct cli *cli);
static int cmd_token(struct cli *cli);
static int cmd_check_config(struct cli *cli);
static int cmd_deliveries(struct cli *cli);

static const struct command commands[] = {
    {"serve", cmd_serve, "serve [options]",
     "Run the webhook listener (default 127.0.0.1:8080) and the private listener\n"
     "(default 127.0.0.1:9090) until SIGINT or SIGTERM.",
     false},
    {"import", cmd_import, "import [options] FILE... | -",
     "Store calls from JSON files (one event each) or JSON Lines files (one event\n"
     "per line), or from standard input with '-', through the same checks as the\n"
     "webhook. Prints a summary; exits 0 when every record was stored or was a\n"
     "duplicate, 2 when some were rejected, 1 on errors.",
     true},
    {"token", cmd_token, "token",
     "Print a fresh random token (256 bits, URL-safe) for webhook_token.", false},
    {"check-config", cmd_check_config, "check-config [options]",
     "Load the config file, the environment and the flags, check them, and exit\n"
     "0 when valid or 1 with file:line errors.",
     false},
    {"deliveries", cmd_deliveries, "deliveries [options] [--outcome O] [--limit N] [--body ID]",
     "List the newest deliveries (every webhook request and import record), or\n"
     "with --body ID print the body kept for one of them to standard output, e.g.\n"
     "  phonely-mcp deliveries --outcome rejected\n"
     "  phonely-mcp deliveries --body 42 | phonely-mcp import -",
     false},
};

static const char common_options[] =
    "Options (each also a config file setting and a PHONELY_MCP_<NAME> variable):\n"
    "  --config FILE            read settings from FILE (env PHONELY_MCP_CONFIG)\n"
    "  --db PATH                SQLite database (default ./phonely-mcp.db)\n"
    "  --webhook-listen ADDR:PORT   webhook listener (default 127.0.0.1:8080)\n"
    "  --private-listen ADDR:PORT   private listener (default 127.0.0.1:9090)\n"
    "  --log-level LEVEL        error, warn, info or debug\n"
    "  --NAME VALUE             any other setting; see `phonely-mcp help settings`\n"
    "Secrets (webhook_token, webhook_token_previous, webhook_signing_secret) come\n"
    "only from the environment or the config file, directly or as *_file paths.\n";

static void usage_all(FILE *out)
{
    fprintf(out, "usage: phonely-mcp COMMAND [options]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out, "  help [COMMAND|settings]\n  version\n\n%s", common_options);
}

static void usage_command(const struct command *c, FILE *out)
{
    fprintf(out, "usage: phonely-mcp %s\n\n%s\n\n%s", c->usage, c->help, common_options);
}

static const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Parse argv after the command; load file, env and flags in that order. */
static int cli_load(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
    const char *config_path = getenv("PHONELY_MCP_CONFIG");
    struct err err = {0};
    struct flag {
        const char *name;
        const char *value;
    } *flags = xcalloc((size_t)argc + 1, sizeof *flags);
    size_t nflags = 0;
    int i, rc = -1;

    cli->args = xcalloc((size_t)argc + 1, sizeof *cli->args);
    for (i = 0; i < argc; i++) {
        char *a = argv[i];
        char name[128];
        const char *value = NULL, *eq;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage_command(cmd, stdout);
            exit(0);
        }
        if (strcmp(a, "-") == 0 || strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
            if (strcmp(a, "--") == 0)
                i++;
            for (; i < argc; i++)
                if (cmd->takes_args)
                    cli->args[cli->nargs++] = argv[i];
                else {
                    fprintf(stderr, "phonely-mcp %s: unexpected argument\n", cmd->name);
                    goto done;
                }
            break;
        }
        eq = strchr(a + 2, '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a - 2) : (int)strlen(a + 2), a + 2);
        if (eq != NULL)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(stderr, "phonely-mcp %s: --%s needs a value\n", cmd->name, name);
            goto done;
        }
        if (strcmp(name, "config") == 0) {
            config_path = value;
        } else if (strcmp(name, "outcome") == 0 && strcmp(cmd->name, "deliveries") == 0) {
            cli->outcome = value;
        } else if (strcmp(name, "limit") == 0 && strcmp(cmd->name, "deliveries") == 0) {
            cli->limit = (unsigned)strtoul(value, NULL, 10);
        } else if (strcmp(name, "body") == 0 && strcmp(cmd->name, "deliveries") == 0) {
            cli->body_id = strtoll(value, NULL, 10);
        } else {
            flags[nflags].name = xstrdup(name);
            flags[nflags++].value = value;
        }
    }

    config_defaults(&cli->cfg);
    /* The file and environment loaders log each error themselves. */
    if (config_path != NULL && config_load_file(&cli->cfg, config_path, &err) == -1)
        goto done;
    if (config_load_env(&cli->cfg, NULL, &err) == -1)
        goto done;
    for (size_t f = 0; f < nflags; f++)
        if (config_set_flag(&cli->cfg, flags[f].name, flags[f].value, &err) == -1)
            goto fail;
    log_level = cli->cfg.log_level;
    if (config_validate(&cli->cfg, &err) == -1)
        goto fail;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "phonely-mcp %s: %s\n", cmd->name, err.msg);
done:
    for (size_t f = 0; f < nflags; f++)
        free((char *)flags[f].name);
    free(flags);
    return rc;
}

static int cmd_serve(struct cli *cli)
{
    return serve_run(&cli->cfg);
}

static int cmd_token(struct cli *cli)
{
    char token[AUTH_TOKEN_LEN + 1];

    (void)cli;
    auth_token_generate(token);
    printf("%s\n", token);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_check_config(struct cli *cli)
{
    const struct config *c = &cli->cfg;

    printf("configuration ok%s%s\n", c->source_file ? ": " : "",
           c->source_file ? c->source_file : " (no config file)");
    printf("  db              %s\n", c->db_path);
    printf("  webhook_listen  %s:%u\n", c->webhook_listen.host, c->webhook_listen.port);
    printf("  private_listen  %s:%u\n", c->private_listen.host, c->private_listen.port);
    printf("  webhook tokens  %d configured\n",
           (c->webhook_token != NULL) + (c->webhook_token_previous != NULL));
    printf("  signing secret  %s\n", c->webhook_signing_secret ? "configured" : "none");
    return 0;
}

struct import_ui {
    bool tty;
    int64_t last_ms;
    unsigned shown;
};

static void import_on_reject(const char *name, uint64_t line, const char *reason, void *arg)
{
    struct import_ui *ui = arg;
    char safe[300];

    if (ui->shown++ < 20)
        fprintf(stderr, "%s%s:%llu: rejected: %s\n", ui->tty ? "\r\033[K" : "",
                log_escape(name, strlen(name), safe, sizeof safe), (unsigned long long)line,
                reason);
    else if (ui->shown == 21)
        fprintf(stderr, "(further rejections are listed by `phonely-mcp deliveries --outcome "
                        "rejected`)\n");
}

static void import_on_progress(const char *name, const struct import_stats *s, void *arg)
{
    struct import_ui *ui = arg;
    int64_t now = time_now_ms();

    (void)name;
    if (!ui->tty || now - ui->last_ms < 200)
        return;
    ui->last_ms = now;
    fprintf(stderr,
            "\r\033[K%llu records: %llu stored, %llu updated, %llu duplicate, %llu rejected",
            (unsigned long long)s->records, (unsigned long long)s->stored,
            (unsigned long long)s->updated, (unsigned long long)s->duplicate,
            (unsigned long long)s->rejected);
}

static int cmd_import(struct cli *cli)
{
    struct store_options opt = {
        .busy_timeout_ms = cli->cfg.busy_timeout_ms,
        .min_free_bytes = cli->cfg.min_free_bytes,
    };
    struct import_ui ui = {.tty = isatty(STDERR_FILENO) == 1};
    struct import_opts io = {
        .record_max = cli->cfg.body_max,
        .rejected_body_max = cli->cfg.rejected_body_max,
        .batch_max = cli->cfg.commit_batch_max,
        .on_reject = import_on_reject,
        .on_progress = import_on_progress,
        .arg = &ui,
    };
    struct import_stats stats = {0};
    struct err err = {0};
    struct store *st;
    int rc = 0;

    if (cli->nargs == 0) {
        fprintf(stderr, "phonely-mcp import: name at least one FILE, or - for standard input\n");
        return 1;
    }
    if ((st = store_open(cli->cfg.db_path, &opt, &err)) == NULL) {
        fprintf(stderr, "phonely-mcp import: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < cli->nargs && rc == 0; i++) {
        const char *path = cli->args[i];
        bool is_stdin = strcmp(path, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(path, "r");
        if (f == NULL) {
            fprintf(stderr, "phonely-mcp import: %s: %s\n", path, strerror(errno));
            rc = 1;
            break;
        }
        if (import_file(st, f, is_stdin ? "stdin" : path, &io, &stats, &err) == -1) {
            fprintf(stderr, "%sphonely-mcp import: %s\n", ui.tty ? "\r\033[K" : "", err.msg);
            rc = 1;
        }
        if (!is_stdin)
            fclose(f);
    }
    store_close(st);
    if (ui.tty)
        fprintf(stderr, "\r\033[K");
    printf("%llu records: %llu stored, %llu updated, %llu duplicate, %llu rejected\n",
           (unsigned long long)stats.records, (unsigned long long)stats.stored,
           (unsigned long long)stats.updated, (unsigned long long)stats.duplicate,
           (unsigned long long)stats.rejected);
    if (rc == 0 && stats.rejected > 0)
        rc = 2;
    return rc;
}

static int print_delivery(const struct delivery_row *r, void *arg)
{
    char when[40], reason[200], peer[100], call[120];

    (void)arg;
    time_format_iso8601(r->received_ms, when, sizeof when);
    printf("%-8lld %-24s %-7s %3d %-9s %-24s %8llu %-22s %s\n", (long long)r->id, when, r->source,
           r->status, r->outcome,
           r->call_id ? log_escape(r->call_id, strlen(r->call_id), call, sizeof call) : "-",
           (unsigned long long)r->body_size,
           r->peer ? log_escape(r->peer, strlen(r->peer), peer, sizeof peer) : "-",
           r->reason ? log_escape(r->reason, strlen(r->reason), reason, sizeof reason) : "");
    return 0;
}

static int cmd_deliveries(struct cli *cli)
{
    struct store_options opt = {.read_only = true, .busy_timeout_ms = cli->cfg.busy_timeout_ms};
    struct err err = {0};
    struct store *st = store_open(cli->cfg.db_path, &opt, &err);
    int rc = 0;

    if (st == NULL) {
        fprintf(stderr, "phonely-mcp deliveries: %s\n", err.msg);
        return 1;
    }
    if (cli->body_id > 0) {
        char *body = NULL;
        size_t len = 0;
        if (store_delivery_body(st, cli->body_id, &body, &len, &err) == -1) {
            fprintf(stderr, "phonely-mcp deliveries: %s\n", err.msg);
            rc = 1;
        } else {
            fwrite(body, 1, len, stdout);
            if (len > 0 && body[len - 1] != '\n')
                putchar('\n');
        }
        free(body);
    } else {
        printf("%-8s %-24s %-7s %3s %-9s %-24s %8s %-22s %s\n", "ID", "RECEIVED", "SOURCE", "ST",
               "OUTCOME", "CALL", "BYTES", "PEER", "REASON");
        if (store_list_deliveries(st, cli->outcome, cli->limit ? cli->limit : 50, print_delivery,
                                  NULL, &err) == -1) {
            fprintf(stderr, "phonely-mcp deliveries: %s\n", err.msg);
            rc = 1;
        }
    }
    store_close(st);
    return rc;
}

int main(int argc, char **argv)
{
    const struct command *cmd;
    struct cli cli = {0};
    int rc;

    xmalloc_init_json();
    if (auth_init() == -1)
        fatalx("libsodium could not be initialised");
    if (argc < 2) {
        usage_all(stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[2], "settings") == 0)
            config_print_help(stdout);
        else if (argc > 2 && (cmd = command_find(argv[2])) != NULL)
            usage_command(cmd, stdout);
        else
            usage_all(stdout);
        return 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("phonely-mcp %s (schema %d)\n", PHONELY_VERSION, store_schema_version());
        return 0;
    }
    if ((cmd = command_find(argv[1])) == NULL) {
        fprintf(stderr, "phonely-mcp: unknown command '%s'\n\n", argv[1]);
        usage_all(stderr);
        return 1;
    }
    if (cli_load(&cli, cmd, argc - 2, argv + 2) == -1) {
        rc = 1;
    } else {
        rc = cmd->run(&cli);
    }
    free(cli.args);
    config_free(&cli.cfg);
    return rc;
}
