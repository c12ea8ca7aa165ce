/*
 * main.c: the phonely-mcp command line. A static table of subcommands
 * drives dispatch and the help text. Every command loads the settings the
 * same way: defaults, then the config file (--config or
 * PHONELY_MCP_CONFIG), then PHONELY_MCP_* variables, then flags.
 *
 * `stdio` and `tool` serve the MCP tools of tools.c through the engine in
 * mcp.c; both are read-only unless mcp_allow_writes or --allow-writes says
 * otherwise, and `tool` goes through a real in-process session (initialize,
 * then tools/call) so that it behaves exactly as a client sees the server.
 * `backup` copies the database through store_backup() from a read-only
 * store, so it runs beside a writing `serve`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auth.h"
#include "config.h"
#include "import.h"
#include "log.h"
#include "mcp.h"
#include "mcp_stdio.h"
#include "migrate.h"
#include "export.h"
#include "retention.h"
#include "serve.h"
#include "store.h"
#include "textutil.h"
#include "tools.h"
#include "xmalloc.h"

struct cli {
    struct config cfg;
    char **args; /* positional arguments after the command */
    int nargs;
    /* command-specific options */
    const char *outcome;
    unsigned limit;
    long long body_id;
    int writes;            /* stdio, tool: 0 as configured, 1 --allow-writes, -1 --read-only */
    bool list;             /* tool --list */
    bool force;            /* backup --force */
    const char *from, *to; /* migrate */
    unsigned batch;
    /* purge, erase, erasures, export */
    bool dry_run;
    int person_kinds; /* how many of --phone, --email, --call were given */
    struct store_person person;
    const char *format, *output;
    const char *audit_call; /* audit --call */
    const char *since;      /* audit --since */
    bool json;              /* audit --json */
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
static int cmd_stdio(struct cli *cli);
static int cmd_tool(struct cli *cli);
static int cmd_backup(struct cli *cli);
static int cmd_migrate(struct cli *cli);
static int cmd_purge(struct cli *cli);
static int cmd_erase(struct cli *cli);
static int cmd_erasures(struct cli *cli);
static int cmd_export(struct cli *cli);
static int cmd_audit(struct cli *cli);

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
    {"audit", cmd_audit, "audit [options] [--call ID] [--since TIME] [--limit N] [--json]",
     "List the access audit, newest first: every MCP tool call and resource read\n"
     "(stdio, HTTP and `tool`), with its time (UTC), transport, client (name/version\n"
     "from initialize), session, kind, tool or resource, result and the call ids the\n"
     "answer held. Never the arguments. --call ID lists only the reads that returned\n"
     "that call; --since TIME (ISO 8601, e.g. 2026-05-01 or 2026-05-01T08:00:00Z)\n"
     "only those since then; --limit N at most N (default 100); --json one JSON\n"
     "object per line. Entries are kept audit_retention_days (default 365). E.g.\n"
     "  phonely-mcp audit --call c-123\n"
     "  phonely-mcp audit --since 2026-05-01 --json",
     false},
    {"stdio", cmd_stdio, "stdio [options] [--read-only | --allow-writes]",
     "Serve MCP (the Model Context Protocol) on standard input and output, one\n"
     "JSON-RPC message per line, for AI assistants that start the server\n"
     "themselves (Claude Desktop, Claude Code, Cursor, ...). It reads the\n"
     "database named by --db while `serve` keeps writing to it. Standard output\n"
     "carries nothing but MCP messages; logs go to standard error. Exits 0 at\n"
     "end of input, 1 when the database cannot be opened.\n"
     "\n"
     "Read-only by default: tools that change stored data (resolve_follow_up)\n"
     "answer with an error saying how to allow them, and the database is opened\n"
     "read-only. --allow-writes (or the setting mcp_allow_writes yes) allows\n"
     "them; --read-only forces read-only whatever the setting says.\n"
     "\n"
     "A host entry (claude_desktop_config.json and the like):\n"
     "  {\"mcpServers\": {\"phonely\": {\"command\": \"phonely-mcp\",\n"
     "    \"args\": [\"stdio\", \"--db\", \"/var/lib/phonely-mcp/calls.db\"]}}}",
     false},
    {"tool", cmd_tool,
     "tool [options] [--read-only | --allow-writes] [--list | NAME ['{JSON arguments}']]",
     "Call one MCP tool from the shell, through the same MCP session an assistant\n"
     "uses, and print its result as JSON on standard output. Without NAME, or\n"
     "with --list, list the tools. Arguments are one JSON object (default {}).\n"
     "Tools that change stored data need --allow-writes (or mcp_allow_writes\n"
     "yes), as with stdio. Exits 0 on success, 1 when the tool reports an error\n"
     "(its message also goes to standard error), 2 on a usage error. E.g.\n"
     "  phonely-mcp tool --list\n"
     "  phonely-mcp tool search_calls '{\"query\": \"refund\", \"limit\": 5}'\n"
     "  phonely-mcp tool --allow-writes resolve_follow_up '{\"call_id\": \"c-123\"}'",
     true},
    {"backup", cmd_backup, "backup [options] [--force] DEST",
     "Write a consistent copy of the database (--db) to DEST while `serve` goes on\n"
     "writing: SQLite's online backup into a temporary file beside DEST, checked\n"
     "(the database's integrity check and the search index), synced, then renamed to DEST.\n"
     "DEST is one self-contained file. An existing DEST is kept unless --force.\n"
     "Prints the calls and bytes copied. Exits 0 when the checked copy is in\n"
     "place, 1 on errors (nothing is left behind), 2 on a usage error. E.g.\n"
     "  phonely-mcp backup --db /var/lib/phonely-mcp/calls.db /srv/backup/calls-$(date +%F).db\n"
     "Restore: stop the daemon, move the database and its -wal and -shm files\n"
     "aside, and back up the copy into the database's place:\n"
     "  phonely-mcp backup --db /srv/backup/calls-2026-05-24.db /var/lib/phonely-mcp/calls.db",
     true},
    {"migrate", cmd_migrate, "migrate [options] --from FILE --to URI [--batch N]",
     "Copy an SQLite database (calls, deliveries with their bodies, history,\n"
     "follow-up state) into a PostgreSQL database, whose schema is made when\n"
     "missing, then read both back and compare them table by table (rows and a\n"
     "SHA-256 of every row). A copy that stopped goes on where it stopped when run\n"
     "again. Shows progress on a terminal. Run it before daemons write to URI;\n"
     "stop `serve` on FILE first, or run it again afterwards for what came since.\n"
     "The password comes from URI, db_password(_file) or PGPASSFILE. Exits 0 when\n"
     "the copy is complete and checked, 1 otherwise, 2 on a usage error. E.g.\n"
     "  phonely-mcp migrate --from /var/lib/phonely-mcp/calls.db \\\n"
     "      --to postgresql://phonely@db.internal/phonely",
     false},
    {"purge", cmd_purge, "purge [options] [--dry-run]",
     "Run one retention sweep by hand, as `serve` does at start and every\n"
     "retention_interval seconds: remove the calls older than retention_days\n"
     "(with their deliveries, bodies, history and follow-up state) and the\n"
     "rejected deliveries older than retention_rejected_days, a small batch per\n"
     "transaction while `serve` goes on storing webhooks. Prints what it removed;\n"
     "with --dry-run, what it would remove, removing nothing. Exits 0, or 1 on\n"
     "errors and when no retention is set. E.g.\n"
     "  phonely-mcp purge --retention-days 365 --dry-run",
     false},
    {"erase", cmd_erase, "erase [options] --phone NUMBER | --email ADDRESS | --call ID [--dry-run]",
     "Erase everything stored about one caller (a deletion request): every call\n"
     "of that customer number (in any spelling: +1 415 555 0100, (415) 555-0100),\n"
     "of that mentioned email (any case), or the one call, with all their\n"
     "deliveries, bodies, history, follow-up notes and search entries, and every\n"
     "rejected delivery whose body holds the number, email or id. Then the\n"
     "removed bytes are made unreadable in the database files (SQLite: zeroed,\n"
     "the search index merged, the WAL truncated; PostgreSQL: the tables\n"
     "rewritten, which holds up webhooks while it runs: see docs/privacy.md).\n"
     "Records the erasure (time, kind, counts, a keyed hash of the identifier;\n"
     "never the identifier). `serve` keeps running meanwhile. With\n"
     "--dry-run, prints what would be erased. Backups and replicas still hold\n"
     "the data: see docs/privacy.md. Exits 0, 1 on errors, 2 on a usage error.",
     false},
    {"erasures", cmd_erasures, "erasures [options] [--phone NUMBER | --email ADDRESS | --call ID]",
     "List the recorded erasures (when, kind, calls and deliveries removed, the\n"
     "identifier's keyed hash); with an identifier, only the erasures of it, to\n"
     "show that a request was honoured. Exits 0 when something is listed, 1 when\n"
     "nothing (or on errors).",
     false},
    {"export", cmd_export,
     "export [options] --phone NUMBER | --email ADDRESS | --call ID [--format jsonl|csv]"
     " [--output FILE]",
     "Write everything stored about one caller (an access request): their calls\n"
     "with transcripts and follow-up notes, every delivery of those calls with its\n"
     "body, and the rejected deliveries whose bodies name them. JSON Lines (one\n"
     "record per line; the default) or CSV (record,call_id,delivery_id,field,value),\n"
     "to standard output or to FILE, made mode 0600 (an existing FILE is kept).\n"
     "Exits 0, 1 on errors, 2 on a usage error.",
     false},
};

static const char common_options[] =
    "Options (each also a config file setting and a PHONELY_MCP_<NAME> variable):\n"
    "  --config FILE            read settings from FILE (env PHONELY_MCP_CONFIG)\n"
    "  --db PATH|URI            SQLite database file (default ./phonely-mcp.db), or a\n"
    "                           PostgreSQL database: postgresql://USER@HOST:PORT/DBNAME\n"
    "  --webhook-listen ADDR:PORT   webhook listener (default 127.0.0.1:8080)\n"
    "  --private-listen ADDR:PORT   private listener (default 127.0.0.1:9090)\n"
    "  --log-level LEVEL        error, warn, info or debug\n"
    "  --NAME VALUE             any other setting; see `phonely-mcp help settings`\n"
    "Secrets (webhook_token, webhook_token_previous, webhook_signing_secret, token,\n"
    "db_password) come only from the environment or the config file, directly or\n"
    "as *_file paths; a PostgreSQL password may also come from PGPASSFILE.\n";

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
        if ((strcmp(cmd->name, "stdio") == 0 || strcmp(cmd->name, "tool") == 0) &&
            (strcmp(a, "--allow-writes") == 0 || strcmp(a, "--read-only") == 0)) {
            cli->writes = strcmp(a, "--allow-writes") == 0 ? 1 : -1;
            continue;
        }
        if (strcmp(cmd->name, "tool") == 0 && strcmp(a, "--list") == 0) {
            cli->list = true;
            continue;
        }
        if ((strcmp(cmd->name, "purge") == 0 || strcmp(cmd->name, "erase") == 0) &&
            strcmp(a, "--dry-run") == 0) {
            cli->dry_run = true;
            continue;
        }
        if (strcmp(cmd->name, "backup") == 0 && strcmp(a, "--force") == 0) {
            cli->force = true;
            continue;
        }
        if (strcmp(cmd->name, "audit") == 0 && strcmp(a, "--json") == 0) {
            cli->json = true;
            continue;
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
        } else if (strcmp(name, "call") == 0 && strcmp(cmd->name, "audit") == 0) {
            cli->audit_call = value;
        } else if (strcmp(name, "since") == 0 && strcmp(cmd->name, "audit") == 0) {
            cli->since = value;
        } else if (strcmp(name, "limit") == 0 &&
                   (strcmp(cmd->name, "deliveries") == 0 || strcmp(cmd->name, "audit") == 0)) {
            cli->limit = (unsigned)strtoul(value, NULL, 10);
        } else if (strcmp(name, "body") == 0 && strcmp(cmd->name, "deliveries") == 0) {
            cli->body_id = strtoll(value, NULL, 10);
        } else if (strcmp(name, "from") == 0 && strcmp(cmd->name, "migrate") == 0) {
            cli->from = value;
        } else if (strcmp(name, "to") == 0 && strcmp(cmd->name, "migrate") == 0) {
            cli->to = value;
        } else if (strcmp(name, "batch") == 0 && strcmp(cmd->name, "migrate") == 0) {
            cli->batch = (unsigned)strtoul(value, NULL, 10);
        } else if ((strcmp(name, "phone") == 0 || strcmp(name, "email") == 0 ||
                    strcmp(name, "call") == 0) &&
                   (strcmp(cmd->name, "erase") == 0 || strcmp(cmd->name, "erasures") == 0 ||
                    strcmp(cmd->name, "export") == 0)) {
            cli->person.kind = name[0] == 'p'   ? STORE_PERSON_PHONE
                               : name[0] == 'e' ? STORE_PERSON_EMAIL
                                                : STORE_PERSON_CALL;
            cli->person.value = value;
            cli->person_kinds++;
        } else if ((strcmp(name, "format") == 0 || strcmp(name, "output") == 0) &&
                   strcmp(cmd->name, "export") == 0) {
            *(name[0] == 'f' ? &cli->format : &cli->output) = value;
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
    struct err err = {0};

    /* What serve checks before it listens, too. */
    if (config_validate_private(c, &err) == -1) {
        fprintf(stderr, "phonely-mcp check-config: %s\n", err.msg);
        return 1;
    }
    printf("configuration ok%s%s\n", c->source_file ? ": " : "",
           c->source_file ? c->source_file : " (no config file)");
    {
        char *shown = store_db_display(c->db_path);

        printf("  db              %s%s\n", shown, c->db_password != NULL ? " (password set)" : "");
        free(shown);
    }
    printf("  webhook_listen  %s:%u\n", c->webhook_listen.host, c->webhook_listen.port);
    printf("  private_listen  %s:%u\n", c->private_listen.host, c->private_listen.port);
    printf("  webhook tokens  %d configured\n",
           (c->webhook_token != NULL) + (c->webhook_token_previous != NULL));
    printf("  signing secret  %s\n", c->webhook_signing_secret ? "configured" : "none");
    printf("  private token   %s\n", c->token != NULL  ? "configured"
                                     : c->private_auth ? "none"
                                                       : "none (private_auth no)");
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
        .password = cli->cfg.db_password,
    };
    struct import_ui ui = {.tty = isatty(STDERR_FILENO) == 1};
    struct import_opts io = {
        .record_max = cli->cfg.body_max,
        .rejected_body_max = cli->cfg.rejected_body_max,
        .batch_max = cli->cfg.commit_batch_max,
        .redact = cli->cfg.redact,
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
            (void)fclose(f); /* read-only: closing cannot lose data */
    }
    store_close(st);
    if (ui.tty)
        fprintf(stderr, "\r\033[K");
    printf("%llu records: %llu stored, %llu updated, %llu duplicate, %llu rejected\n",
           (unsigned long long)stats.records, (unsigned long long)stats.stored,
           (unsigned long long)stats.updated, (unsigned long long)stats.duplicate,
           (unsigned long long)stats.rejected);
    if (stats.queued > 0)
        printf("%llu queued while an erasure rewrote the tables; they are stored once it ends\n",
               (unsigned long long)stats.queued);
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

/* The database opened for an operator's command, or NULL (the error printed). */
static struct store *cli_open(const struct cli *cli, const char *cmd, bool read_only)
{
    struct store_options opt = {
        .read_only = read_only,
        .busy_timeout_ms = cli->cfg.busy_timeout_ms,
        .password = cli->cfg.db_password,
    };
    struct err err = {0};
    struct store *st = store_open(cli->cfg.db_path, &opt, &err);

    if (st == NULL)
        fprintf(stderr, "phonely-mcp %s: %s\n", cmd, err.msg);
    return st;
}

static int cmd_deliveries(struct cli *cli)
{
    struct err err = {0};
    struct store *st = cli_open(cli, "deliveries", true);
    int rc = 0;

    if (st == NULL)
        return 1;
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

/* ---- audit ---- */

/* The call ids of a listed entry (a JSON array's text) joined by commas, escaped; into b. */
static void audit_ids_text(const char *json, struct buf *b)
{
    cJSON *ids = json != NULL ? cJSON_Parse(json) : NULL;
    const cJSON *id;
    char safe[200];

    cJSON_ArrayForEach(id, ids)
    {
        if (!cJSON_IsString(id))
            continue;
        buf_printf(b, "%s%s", b->len > 0 ? "," : "",
                   log_escape(id->valuestring, strlen(id->valuestring), safe, sizeof safe));
    }
    if (b->len == 0)
        buf_puts(b, "-");
    cJSON_Delete(ids);
}

static int print_audit(const struct store_audit_row *r, void *arg)
{
    const struct cli *cli = arg;
    char when[40];

    time_format_iso8601(r->at_ms, when, sizeof when);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject(), *ids = r->call_ids ? cJSON_Parse(r->call_ids) : NULL;
        char *text;

        cJSON_AddNumberToObject(o, "id", (double)r->id);
        cJSON_AddStringToObject(o, "at", when);
        cJSON_AddStringToObject(o, "transport", r->transport);
        cJSON_AddItemToObject(o, "clientName",
                              r->client_name ? cJSON_CreateString(r->client_name)
                                             : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "clientVersion",
                              r->client_version ? cJSON_CreateString(r->client_version)
                                                : cJSON_CreateNull());
        cJSON_AddItemToObject(
            o, "sessionId", r->session_id ? cJSON_CreateString(r->session_id) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "kind", r->kind);
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddBoolToObject(o, "error", r->error);
        cJSON_AddItemToObject(o, "callIds", cJSON_IsArray(ids) ? ids : cJSON_CreateArray());
        if (!cJSON_IsArray(ids))
            cJSON_Delete(ids);
        text = cJSON_PrintUnformatted(o);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        char client[300], version[300], session[100], name[200];
        struct buf ids = {0};

        audit_ids_text(r->call_ids, &ids);
        printf("%-24s %-9s %s/%s %s %-8s %-28s %-5s %s\n", when, r->transport,
               r->client_name
                   ? log_escape(r->client_name, strlen(r->client_name), client, sizeof client)
                   : "-",
               r->client_version ? log_escape(r->client_version, strlen(r->client_version), version,
                                              sizeof version)
                                 : "-",
               r->session_id
                   ? log_escape(r->session_id, strlen(r->session_id), session, sizeof session)
                   : "-",
               r->kind, log_escape(r->name, strlen(r->name), name, sizeof name),
               r->error ? "error" : "ok", ids.data);
        buf_free(&ids);
    }
    return 0;
}

static int cmd_audit(struct cli *cli)
{
    struct err err = {0};
    struct store *st;
    int64_t since = INT64_MIN;
    int rc = 0;

    if (cli->since != NULL && time_parse_iso8601(cli->since, &since) == -1) {
        fprintf(stderr, "phonely-mcp audit: --since needs an ISO 8601 date or time, e.g. "
                        "2026-05-01 or 2026-05-01T08:00:00Z\n");
        return 1;
    }
    if ((st = cli_open(cli, "audit", true)) == NULL)
        return 1;
    if (!cli->json)
        printf("%-24s %-9s %s %s %-8s %-28s %-5s %s\n", "TIME", "TRANSPORT", "CLIENT/VERSION",
               "SESSION", "KIND", "NAME", "RESULT", "CALLS");
    if (store_audit_list(st, cli->audit_call, since, cli->limit ? cli->limit : 100, print_audit,
                         cli, &err) == -1) {
        fprintf(stderr, "phonely-mcp audit: %s\n", err.msg);
        rc = 1;
    }
    if (fflush(stdout) != 0)
        rc = 1;
    store_close(st);
    return rc;
}

/* ---- MCP: stdio and tool ---- */

/* Whether tools that write are allowed: the flags, else the setting. */
static bool cli_writes(const struct cli *cli)
{
    return cli->writes != 0 ? cli->writes > 0 : cli->cfg.mcp_allow_writes;
}

/* The MCP server of stdio and tool; a, when not NULL, is handed every audit entry. */
static struct mcp_server *mcp_server_make(struct cli *cli, bool writes, struct audit *a)
{
    struct mcp_server_opts o = {
        .name = "phonely-mcp",
        .title = "Phonely call log",
        .version = PHONELY_VERSION,
        .instructions = tools_instructions(),
        .registry = tools_registry(),
        .read_only = !writes,
        .app = &cli->cfg,
        .audit = a != NULL ? audit_record : NULL,
        .audit_arg = a,
    };
    return mcp_server_new(&o);
}

static struct store_options mcp_store_options(const struct cli *cli, bool writes)
{
    struct store_options o = {
        .read_only = !writes,
        .busy_timeout_ms = cli->cfg.busy_timeout_ms,
        .min_free_bytes = writes ? cli->cfg.min_free_bytes : 0,
        .password = cli->cfg.db_password,
    };
    return o;
}

static int cmd_stdio(struct cli *cli)
{
    bool writes = cli_writes(cli);
    struct audit *a = audit_start_config(&cli->cfg);
    struct mcp_server *srv = mcp_server_make(cli, writes, a);
    struct mcp_stdio_opts o = {
        .db_path = cli->cfg.db_path,
        .store = mcp_store_options(cli, writes),
        .workers = 4,
        .in_fd = STDIN_FILENO,
        .out_fd = STDOUT_FILENO,
    };
    char db[300], *shown = store_db_display(cli->cfg.db_path);
    int rc;

    log_info("stdio: serving MCP on %s (%s)", log_escape(shown, strlen(shown), db, sizeof db),
             writes ? "read-write" : "read-only");
    free(shown);
    rc = mcp_stdio_run(srv, &o);
    mcp_server_free(srv);
    audit_stop(a);
    return rc;
}

/* What the in-process session of `tool` sent: the response, and notifications shown. */
struct tool_capture {
    cJSON *response;
};

static void tool_send(void *arg, const char *json)
{
    struct tool_capture *t = arg;
    cJSON *v = cJSON_Parse(json);
    const cJSON *params;

    if (v == NULL)
        return;
    if (cJSON_GetObjectItemCaseSensitive(v, "id") != NULL) {
        cJSON_Delete(t->response);
        t->response = v;
        return;
    }
    params = cJSON_GetObjectItemCaseSensitive(v, "params");
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "method")) &&
        strcmp(cJSON_GetObjectItemCaseSensitive(v, "method")->valuestring,
               "notifications/message") == 0) {
        const cJSON *level = cJSON_GetObjectItemCaseSensitive(params, "level");
        char *data = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(params, "data"));
        fprintf(stderr, "phonely-mcp tool: %s: %s\n",
                cJSON_IsString(level) ? level->valuestring : "log", data ? data : "");
        free(data);
    }
    cJSON_Delete(v);
}

/* Send one message text to the session; returns the response (caller deletes) or NULL. */
static cJSON *tool_exchange(struct mcp_session *s, struct store *st, const char *text)
{
    struct tool_capture t = {0};

    mcp_session_handle(s, st, text, strlen(text), tool_send, &t);
    return t.response;
}

static void tool_list(const struct mcp_registry *reg)
{
    size_t width = 4;

    for (size_t i = 0; i < reg->ntools; i++)
        if (strlen(reg->tools[i].name) > width)
            width = strlen(reg->tools[i].name);
    printf("%-*s  %s\n", (int)width, "NAME", "TITLE");
    for (size_t i = 0; i < reg->ntools; i++)
        printf("%-*s  %s%s\n", (int)width, reg->tools[i].name,
               reg->tools[i].title ? reg->tools[i].title : "",
               reg->tools[i].writes ? " (writes: needs --allow-writes)" : "");
}

/* Print the text blocks of a tool result to standard error. */
static void tool_print_error_text(const cJSON *result)
{
    const cJSON *block;

    cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(result, "content"))
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(block, "text");
        if (cJSON_IsString(text))
            fprintf(stderr, "phonely-mcp tool: %s\n", text->valuestring);
    }
}

static int cmd_tool(struct cli *cli)
{
    const struct mcp_registry *reg = tools_registry();
    const char *name = NULL, *json = NULL, *end = NULL;
    struct mcp_server *srv = NULL;
    struct mcp_session *s = NULL;
    struct audit *audit = NULL;
    struct store_options so;
    struct store *st = NULL;
    struct err err = {0};
    cJSON *args = NULL, *req = NULL, *resp = NULL, *params;
    const cJSON *result, *error;
    char *text = NULL;
    bool known = false, writes;
    int rc = 2;

    /* The valueless flags may also follow NAME. */
    for (int i = 0; i < cli->nargs; i++) {
        const char *a = cli->args[i];
        if (strcmp(a, "--allow-writes") == 0 || strcmp(a, "--read-only") == 0)
            cli->writes = strcmp(a, "--allow-writes") == 0 ? 1 : -1;
        else if (strcmp(a, "--list") == 0)
            cli->list = true;
        else if (strncmp(a, "--", 2) == 0) {
            fprintf(stderr, "phonely-mcp tool: options such as %s go before NAME\n", a);
            return 2;
        } else if (name == NULL)
            name = a;
        else if (json == NULL)
            json = a;
        else {
            fprintf(stderr, "phonely-mcp tool: too many arguments; put every argument of the "
                            "tool in one JSON object\n");
            return 2;
        }
    }
    if (cli->list || name == NULL) {
        tool_list(reg);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    for (size_t i = 0; i < reg->ntools && !known; i++)
        known = strcmp(reg->tools[i].name, name) == 0;
    if (!known) {
        char safe[100];
        fprintf(stderr,
                "phonely-mcp tool: unknown tool '%s'; `phonely-mcp tool --list` lists them\n",
                log_escape(name, strlen(name), safe, sizeof safe));
        return 2;
    }
    if (json != NULL) {
        args = cJSON_ParseWithLengthOpts(json, strlen(json), &end, false);
        if (end != NULL)
            end += strspn(end, " \t\r\n");
        if (!cJSON_IsObject(args) || end == NULL || *end != '\0') {
            fprintf(stderr, "phonely-mcp tool: the arguments must be one JSON object, e.g. "
                            "'{\"limit\": 5}'\n");
            goto done;
        }
    } else {
        args = cJSON_CreateObject();
    }

    rc = 1;
    writes = cli_writes(cli);
    so = mcp_store_options(cli, writes);
    if ((st = store_open(cli->cfg.db_path, &so, &err)) == NULL) {
        fprintf(stderr, "phonely-mcp tool: %s\n", err.msg);
        goto done;
    }
    audit = audit_start_config(&cli->cfg);
    srv = mcp_server_make(cli, writes, audit);
    s = mcp_session_new(srv);
    mcp_session_set_origin(s, "cli", NULL);
    resp = tool_exchange(
        s, st,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
        "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
        "\"clientInfo\":{\"name\":\"phonely-mcp tool\",\"version\":\"" PHONELY_VERSION "\"}}}");
    if (!mcp_session_initialized(s)) {
        fprintf(stderr, "phonely-mcp tool: the MCP session did not initialize\n");
        goto done;
    }
    cJSON_Delete(resp);
    resp = tool_exchange(s, st, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");

    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", 1);
    cJSON_AddStringToObject(req, "method", "tools/call");
    params = cJSON_AddObjectToObject(req, "params");
    cJSON_AddStringToObject(params, "name", name);
    cJSON_AddItemToObject(params, "arguments", args);
    args = NULL;
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(resp);
    resp = tool_exchange(s, st, text);

    result = cJSON_GetObjectItemCaseSensitive(resp, "result");
    error = cJSON_GetObjectItemCaseSensitive(resp, "error");
    if (cJSON_IsObject(result)) {
        char *pretty = cJSON_Print(result);
        printf("%s\n", pretty);
        free(pretty);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError")))
            tool_print_error_text(result);
        else
            rc = 0;
        if (fflush(stdout) != 0)
            rc = 1;
    } else {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        fprintf(stderr, "phonely-mcp tool: %s (JSON-RPC error %d)\n",
                cJSON_IsString(msg) ? msg->valuestring : "no response",
                cJSON_IsNumber(code) ? code->valueint : 0);
    }
done:
    free(text);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    cJSON_Delete(args);
    mcp_session_free(s);
    mcp_server_free(srv);
    audit_stop(audit);
    store_close(st);
    return rc;
}

/* ---- backup ---- */

static int cmd_backup(struct cli *cli)
{
    struct store_options opt = {
        .read_only = true,
        .busy_timeout_ms = cli->cfg.busy_timeout_ms,
        .password = cli->cfg.db_password,
    };
    struct store_backup_info info = {0};
    struct err err = {0};
    struct store *st;
    const char *dest = NULL;
    char safe[300];
    int64_t t0;
    int rc = 0;

    for (int i = 0; i < cli->nargs; i++) {
        const char *a = cli->args[i];
        if (strcmp(a, "--force") == 0)
            cli->force = true;
        else if (strncmp(a, "--", 2) == 0) {
            fprintf(stderr, "phonely-mcp backup: options such as %s go before DEST\n",
                    log_escape(a, strlen(a), safe, sizeof safe));
            return 2;
        } else if (dest == NULL)
            dest = a;
        else {
            fprintf(stderr, "phonely-mcp backup: name one DEST file\n");
            return 2;
        }
    }
    if (dest == NULL) {
        fprintf(stderr, "phonely-mcp backup: name the DEST file to write the copy to\n");
        return 2;
    }
    log_escape(dest, strlen(dest), safe, sizeof safe);
    if (!cli->force && access(dest, F_OK) == 0) {
        fprintf(stderr, "phonely-mcp backup: %s already exists; --force replaces it\n", safe);
        return 1;
    }
    if ((st = store_open(cli->cfg.db_path, &opt, &err)) == NULL) {
        fprintf(stderr, "phonely-mcp backup: %s\n", err.msg);
        return 1;
    }
    t0 = time_now_ms();
    if (store_backup(st, dest, cli->force, &info, &err) == -1) {
        fprintf(stderr, "phonely-mcp backup: %s\n", err.msg);
        rc = 1;
    } else {
        printf("%s: %lld calls, %lld deliveries, %llu bytes copied and checked in %.1f s\n", safe,
               (long long)info.calls, (long long)info.deliveries, (unsigned long long)info.bytes,
               (double)(time_now_ms() - t0) / 1000.0);
        if (fflush(stdout) != 0)
            rc = 1;
    }
    store_close(st);
    return rc;
}

struct migrate_ui {
    bool tty;
    int64_t last_ms;
};

static void migrate_progress(enum store_table t, int64_t done, int64_t total, void *arg)
{
    struct migrate_ui *ui = arg;
    int64_t now = time_now_ms();

    if (!ui->tty || (now - ui->last_ms < 200 && done < total))
        return;
    ui->last_ms = now;
    fprintf(stderr, "\r%-10s %lld / %lld rows (%d%%)%s", store_table_name(t), (long long)done,
            (long long)total, total > 0 ? (int)(done * 100 / total) : 100,
            done >= total ? "\n" : "");
}

static int cmd_migrate(struct cli *cli)
{
    struct store_options from_opt = {.busy_timeout_ms = cli->cfg.busy_timeout_ms};
    struct store_options to_opt = {
        .busy_timeout_ms = cli->cfg.busy_timeout_ms,
        .password = cli->cfg.db_password,
    };
    struct migrate_ui ui = {.tty = isatty(STDERR_FILENO) == 1};
    struct migrate_report rep;
    struct store *from = NULL, *to = NULL;
    struct err err = {0};
    int rc = 1;

    if (cli->from == NULL || cli->to == NULL) {
        fprintf(stderr, "phonely-mcp migrate: name the SQLite file (--from) and the PostgreSQL "
                        "database (--to postgresql://...)\n");
        return 2;
    }
    if (store_is_postgres_uri(cli->from) || !store_is_postgres_uri(cli->to)) {
        fprintf(stderr, "phonely-mcp migrate: --from is an SQLite file and --to a "
                        "postgresql:// URI\n");
        return 2;
    }
    if (access(cli->from, F_OK) != 0) {
        fprintf(stderr, "phonely-mcp migrate: %s: %s\n", cli->from, strerror(errno));
        return 1;
    }
    if ((from = store_open(cli->from, &from_opt, &err)) == NULL ||
        (to = store_open(cli->to, &to_opt, &err)) == NULL) {
        fprintf(stderr, "phonely-mcp migrate: %s\n", err.msg);
        goto done;
    }
    if (migrate_run(from, to, cli->batch, migrate_progress, &ui, &rep, &err) == 0)
        rc = 0;
    for (int t = 0; t < STORE_TABLE_COUNT_; t++) {
        const struct migrate_table *r = &rep.tables[t];

        if (r->rows_from == 0 && r->rows_to == 0 && r->digest_from[0] == '\0')
            continue; /* not reached */
        printf("%-10s %lld rows copied (%lld there before); %lld rows in each, sha256 %.16s%s\n",
               store_table_name((enum store_table)t), (long long)r->copied, (long long)r->skipped,
               (long long)r->rows_from, r->digest_from,
               r->same ? " on both sides" : " here, another there: DIFFERENT");
    }
    if (rc != 0)
        fprintf(stderr, "phonely-mcp migrate: %s\n", err.msg);
    if (fflush(stdout) != 0)
        rc = 1;
done:
    store_close(from);
    store_close(to);
    return rc;
}

int main(int argc, char **argv)
{
    const struct command *cmd;
    struct cli cli = {0};
    int rc;

    /* Databases, backups and tokens hold personal data or secrets: whatever
     * the caller's umask, nothing this process creates is open to group or
     * others (files 0600, folders 0700). */
    umask(umask(0) | S_IRWXG | S_IRWXO);
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
        /* tool, backup, erase and export promise 2 for usage errors */
        rc = cmd->run == cmd_tool || cmd->run == cmd_backup || cmd->run == cmd_erase ||
                     cmd->run == cmd_export
                 ? 2
                 : 1;
    } else {
        rc = cmd->run(&cli);
    }
    free(cli.args);
    config_free(&cli.cfg);
    return rc;
}

/* ---- personal data: purge, erase, erasures, export ---- */

static int cmd_purge(struct cli *cli)
{
    struct store_removed removed = {0};
    struct retention_stats stats = {0};
    struct err err = {0};
    struct store *st;
    double t0 = time_mono();
    int rc;

    if (!retention_enabled(&cli->cfg)) {
        fprintf(stderr, "phonely-mcp purge: no retention is set; set retention_days or"
                        " retention_rejected_days (e.g. --retention-days 365)\n");
        return 1;
    }
    if ((st = cli_open(cli, "purge", false)) == NULL)
        return 1;
    rc = retention_sweep(st, &cli->cfg, time_now_ms(), cli->dry_run, 0, NULL, &removed, &stats,
                         &err);
    store_close(st);
    if (rc == -1) {
        fprintf(stderr, "phonely-mcp purge: %s (removed %lld calls and %lld deliveries before)\n",
                err.msg, (long long)stats.calls, (long long)stats.deliveries);
        return 1;
    }
    printf("%s %lld calls and %lld deliveries (calls kept %u days, rejected deliveries %u days;"
           " 0: forever) in %.1f s\n",
           cli->dry_run ? "would remove" : "removed", (long long)removed.calls,
           (long long)removed.deliveries, cli->cfg.retention_days, cli->cfg.retention_rejected_days,
           time_mono() - t0);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The one identifier erase and export need; 2 (usage) when there is not exactly one. */
static int person_check(const struct cli *cli, const char *cmd, bool optional)
{
    struct err err = {0};
    char *key;

    if (cli->person_kinds == 0 && optional)
        return 0;
    if (cli->person_kinds != 1) {
        fprintf(stderr, "phonely-mcp %s: name one of --phone NUMBER, --email ADDRESS, --call ID\n",
                cmd);
        return 2;
    }
    if ((key = store_person_key(&cli->person, &err)) == NULL) {
        fprintf(stderr, "phonely-mcp %s: --%s: %s\n", cmd, store_person_kind_name(cli->person.kind),
                err.msg);
        return 2;
    }
    free(key);
    return 0;
}

static int cmd_erase(struct cli *cli)
{
    struct store_erasure e;
    struct err err = {0};
    struct store *st;
    double t0 = time_mono();
    int rc;

    if ((rc = person_check(cli, "erase", false)) != 0)
        return rc;
    if ((st = cli_open(cli, "erase", false)) == NULL)
        return 1;
    rc = store_erase(st, &cli->person, cli->dry_run, time_now_ms(), &e, &err);
    if (rc == -1) {
        store_close(st);
        fprintf(stderr, "phonely-mcp erase: %s\n", err.msg);
        return 1;
    }
    if (cli->dry_run)
        printf("would erase %lld calls and %lld deliveries (%s)\n", (long long)e.calls,
               (long long)e.deliveries, store_person_kind_name(e.kind));
    else
        printf(
            "erased %lld calls and %lld deliveries in %.1f s; recorded as erasure %lld (%s %s)\n",
            (long long)e.calls, (long long)e.deliveries, time_mono() - t0, (long long)e.id,
            store_person_kind_name(e.kind), e.hash);
    /* Webhooks acknowledged during the rewrite go into the tables now (serve's writers help). */
    if (!cli->dry_run) {
        size_t moved = 0;

        t0 = time_mono();
        (void)fflush(stdout);
        if (store_drain_queued(st, &moved, &err) == -1)
            fprintf(stderr,
                    "phonely-mcp erase: the webhooks queued during the rewrite wait for "
                    "serve to store them: %s\n",
                    err.msg);
        else if (moved > 0)
            printf("stored %zu webhooks queued during the rewrite in %.1f s\n", moved,
                   time_mono() - t0);
    }
    store_close(st);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int print_erasure(const struct store_erasure *e, void *arg)
{
    char when[40];

    time_format_iso8601(e->at_ms, when, sizeof when);
    printf("%-6lld %-24s %-5s %7lld %10lld  %s\n", (long long)e->id, when,
           store_person_kind_name(e->kind), (long long)e->calls, (long long)e->deliveries, e->hash);
    (*(int *)arg)++;
    return 0;
}

static int cmd_erasures(struct cli *cli)
{
    struct err err = {0};
    struct store *st;
    char hash[65];
    int rc, n = 0;

    if ((rc = person_check(cli, "erasures", true)) != 0)
        return rc;
    /* With an identifier, the hash key may have to be made. */
    if ((st = cli_open(cli, "erasures", cli->person_kinds == 0)) == NULL)
        return 1;
    rc = cli->person_kinds > 0 ? store_person_hash(st, &cli->person, hash, &err) : 0;
    printf("%-6s %-24s %-5s %7s %10s  %s\n", "ID", "ERASED", "KIND", "CALLS", "DELIVERIES",
           "IDENTIFIER HASH");
    if (rc == 0)
        rc = store_list_erasures(st, cli->person_kinds > 0 ? hash : NULL, print_erasure, &n, &err);
    store_close(st);
    if (rc == -1) {
        fprintf(stderr, "phonely-mcp erasures: %s\n", err.msg);
        return 1;
    }
    if (n == 0)
        fprintf(stderr, "phonely-mcp erasures: none recorded%s\n",
                cli->person_kinds > 0 ? " for that identifier" : "");
    return fflush(stdout) == 0 && n > 0 ? 0 : 1;
}

static int cmd_export(struct cli *cli)
{
    int fmt = export_format_parse(cli->format);
    struct err err = {0};
    struct store *st;
    int64_t calls = 0, deliveries = 0;
    FILE *out = stdout;
    int rc;

    if ((rc = person_check(cli, "export", false)) != 0)
        return rc;
    if (fmt < 0) {
        fprintf(stderr, "phonely-mcp export: --format is jsonl or csv\n");
        return 2;
    }
    if ((st = cli_open(cli, "export", true)) == NULL)
        return 1;
    if (cli->output != NULL) {
        int fd = open(cli->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd == -1 || (out = fdopen(fd, "w")) == NULL) {
            fprintf(stderr, "phonely-mcp export: cannot create %s: %s\n", cli->output,
                    strerror(errno));
            if (fd != -1)
                close(fd);
            store_close(st);
            return 1;
        }
    }
    rc = export_person(st, &cli->person, (enum export_format)fmt, time_now_ms(), out, &calls,
                       &deliveries, &err);
    store_close(st);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = err_set(&err, ERR_SYSTEM, "cannot write %s", cli->output);
    if (rc == -1) {
        fprintf(stderr, "phonely-mcp export: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "phonely-mcp export: %lld calls and %lld deliveries%s%s\n", (long long)calls,
            (long long)deliveries, cli->output != NULL ? " written to " : "",
            cli->output != NULL ? cli->output : "");
    return 0;
}
