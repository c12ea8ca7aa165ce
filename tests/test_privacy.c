/*
 * test_privacy.c: retention, erasure and export through the real commands
 * (import, purge, erase, erasures, export, serve), on an SQLite file and on
 * a PostgreSQL database of the test cluster. After an erasure the raw
 * database files (SQLite: the file and its WAL; PostgreSQL: the database's
 * folder, after a checkpoint) are searched for the erased caller's number,
 * name, email and words, while a running daemon keeps storing webhooks.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "check.h"
#include "harness.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

#define WEBHOOK "/phonely/webhook"
#define DAY_MS  (86400LL * 1000)

/* The caller whose data is erased, and what of it must not survive. */
#define TARGET_NAME  "Quillon Vasquez-Ortega"
#define TARGET_EMAIL "Quillon.VO@example.org"
#define TARGET_WORD  "xylophonequartz"
/*
 * What the raw files are searched for. The search index keeps words with
 * their beginnings shared with the word before them, so the needles are
 * word endings: whatever a word shares with its neighbour, these remain.
 */
static const char *const needles[] = {"55550199", "uillon", "ophonequartz", "Vasquez"};
static const char *const spellings[] = {"+1 (415) 555-0199", "415.555.0199", "4155550199"};

struct ctx {
    bool pg;
    char *dir;
    char *db; /* a file in dir, or a URI */
    char *env_db;
};

static void ctx_init(struct ctx *c, bool pg, const char *tag)
{
    c->pg = pg;
    c->dir = tmpdir_make(tag);
    c->db = pg ? pg_newdb() : xasprintf("%s/calls.db", c->dir);
    c->env_db = xasprintf("PHONELY_MCP_DB=%s", c->db);
}

static void ctx_free(struct ctx *c)
{
    tmpdir_remove(c->dir);
    free(c->dir);
    free(c->db);
    free(c->env_db);
}

/* One call as Phonely sends it. */
static char *call_json(const char *id, const char *name, const char *phone, const char *email,
                       int64_t started_ms, const char *words)
{
    cJSON *o = cJSON_CreateObject();
    char when[40], *text;

    time_format_iso8601(started_ms, when, sizeof when);
    cJSON_AddStringToObject(o, "callId", id);
    cJSON_AddStringToObject(o, "callerName", name);
    cJSON_AddStringToObject(o, "customerPhoneNumber", phone);
    cJSON_AddStringToObject(o, "businessPhoneNumber", "+14155551212");
    if (email != NULL)
        cJSON_AddStringToObject(o, "mentionedEmail", email);
    cJSON_AddStringToObject(o, "callStarted", when);
    cJSON_AddStringToObject(o, "callDirection", "inbound");
    cJSON_AddStringToObject(o, "summary", words);
    text = xasprintf("Agent: Hello, how can I help?\nUser: %s, reach me at %s.", words, phone);
    cJSON_AddStringToObject(o, "transcriptText", text);
    free(text);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Run the CLI on c's database with extra env; returns the exit status, output in *out. */
static int cli(const struct ctx *c, const char *const *argv, const char *const *extra, char **out,
               char **err)
{
    const char *env[8] = {c->env_db};
    size_t n = 1;

    for (; extra != NULL && *extra != NULL && n < 7; extra++)
        env[n++] = *extra;
    env[n] = NULL;
    return run_cli(argv, env, NULL, out, err);
}

/* Import the lines of jsonl (one record each) into c's database. */
static void import_lines(const struct ctx *c, const char *jsonl)
{
    char *path = xasprintf("%s/in-%d.jsonl", c->dir, rand());
    const char *argv[] = {"import", path, NULL};
    FILE *f = fopen(path, "w");
    char *out = NULL, *err = NULL;

    CHECK(f != NULL);
    fputs(jsonl, f);
    fclose(f);
    CHECK(cli(c, argv, NULL, &out, &err) <= 2);
    free(out);
    free(err);
    unlink(path);
    free(path);
}

/*
 * Run the CLI; check its exit status and that standard output (or, with
 * on_err, standard error) holds want (when not NULL).
 */
static void expect_cli(const struct ctx *c, const char *const *argv, const char *const *extra,
                       int status, bool on_err, const char *want)
{
    char *out = NULL, *err = NULL;

    CHECK_INT_EQ(cli(c, argv, extra, &out, &err), status);
    if (want != NULL)
        CHECK_STR_CONTAINS(on_err ? err : out, want);
    free(out);
    free(err);
}

/* Import n calls of one caller that started 400 days ago and before. */
static void seed_old(const struct ctx *c, int n, int64_t now)
{
    struct buf b = {0};

    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%d", i);
        char *j = call_json(id, "Old Caller", "+1 212 555 0100", NULL, now - (400 + i) * DAY_MS,
                            "an old booking");
        buf_printf(&b, "%s\n", j);
        free(j);
    }
    import_lines(c, b.data);
    buf_free(&b);
}

/* Ten other callers, the target's three calls (each number spelled its own way), one rejected body.
 */
static void seed(const struct ctx *c, int64_t now)
{
    struct buf b = {0};

    for (int i = 0; i < 10; i++) {
        char id[32], phone[32], name[32];
        snprintf(id, sizeof id, "other-%d", i);
        snprintf(phone, sizeof phone, "+44 20 7946 %04d", i);
        snprintf(name, sizeof name, "Other Caller %d", i);
        char *j = call_json(id, name, phone, NULL, now - (int64_t)i * DAY_MS, "a routine booking");
        buf_printf(&b, "%s\n", j);
        free(j);
    }
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "target-%d", i);
        char *j = call_json(id, TARGET_NAME, spellings[i], i == 1 ? TARGET_EMAIL : NULL,
                            now - (int64_t)(i + 1) * 3600000, "about my " TARGET_WORD " order");
        buf_printf(&b, "%s\n", j);
        free(j);
    }
    /* Rejected (no call id), its body kept: it names the target too. */
    buf_printf(&b,
               "{\"customerPhoneNumber\":\"(415) 555 0199\",\"callerName\":\"" TARGET_NAME "\"}\n");
    import_lines(c, b.data);
    buf_free(&b);
}

/* Whether the file at path holds needle. */
static bool file_holds(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *data = file_read(path, &len);
    bool found = false;

    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(data + i, needle, n) == 0;
    free(data);
    return found;
}

/* The first needle the file at path holds (named on stderr), or NULL. */
static const char *file_leak(const char *path)
{
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (file_holds(path, needles[i])) {
            fprintf(stderr, "%s holds \"%s\"\n", path, needles[i]);
            return needles[i];
        }
    return NULL;
}

/* A superuser connection to the test cluster's database of uri (over its Unix socket). */
static PGconn *pg_super(const char *uri)
{
    const char *dir = getenv("PHONELY_TEST_PG_CLUSTER");
    char *portfile = xasprintf("%s/port", dir), *port = file_read(portfile, NULL);
    const char *name = strrchr(uri, '/') + 1;
    char *conninfo;
    PGconn *conn;

    port[strcspn(port, "\n")] = '\0';
    conninfo = xasprintf("host=%s port=%s user=postgres dbname=%.*s", dir, port,
                         (int)strcspn(name, "?"), name);
    conn = PQconnectdb(conninfo);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    free(conninfo);
    free(portfile);
    free(port);
    return conn;
}

static char *pg_one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *v = NULL;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = xstrdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/*
 * The first needle found in the database's files, or NULL. PostgreSQL:
 * every file of the database's folder after a checkpoint (which also drops
 * the files a rewrite replaced); its WAL is the server's, outside the
 * database (docs/privacy.md).
 */
static const char *raw_leak(const struct ctx *c)
{
    const char *leak = NULL;

    if (!c->pg) {
        const char *suffix[] = {"", "-wal", "-shm"};
        for (size_t s = 0; s < 3 && leak == NULL; s++) {
            char *path = xasprintf("%s%s", c->db, suffix[s]);
            if (access(path, F_OK) == 0)
                leak = file_leak(path);
            free(path);
        }
        return leak;
    }
    PGconn *conn = pg_super(c->db);
    char *none = pg_one(conn, "CHECKPOINT");
    char *data = pg_one(conn, "SHOW data_directory");
    char *oid = pg_one(conn, "SELECT oid FROM pg_database WHERE datname = current_database()");
    char *folder = xasprintf("%s/base/%s", data, oid);
    DIR *d = opendir(folder);
    struct dirent *e;

    CHECK(d != NULL);
    while (d != NULL && leak == NULL && (e = readdir(d)) != NULL) {
        char *path = xasprintf("%s/%s", folder, e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            leak = file_leak(path);
        free(path);
    }
    if (d != NULL)
        closedir(d);
    free(none);
    free(data);
    free(oid);
    free(folder);
    PQfinish(conn);
    return leak;
}

/* Webhooks posted while an erasure runs: every one must be stored. */
struct poster {
    uint16_t port;
    volatile bool stop;
    int posted, ok;
};

static void *poster_main(void *arg)
{
    struct poster *p = arg;

    while (!p->stop && p->posted < 400) {
        char id[32], phone[32];
        struct http_resp r;
        snprintf(id, sizeof id, "during-%d", p->posted);
        snprintf(phone, sizeof phone, "+33 1 23 45 %02d %02d", p->posted / 100, p->posted % 100);
        char *body = call_json(id, "Someone Else", phone, NULL, time_now_ms(), "a new booking");
        if (http_post(p->port, WEBHOOK, NULL, body, strlen(body), &r) == 0) {
            p->ok += r.status == 200;
            http_resp_free(&r);
        }
        p->posted++;
        free(body);
        sleep_ms(5);
    }
    return NULL;
}

static int call_count_env(const struct ctx *c, const char *args, const char *const *extra)
{
    const char *argv[] = {"tool", "search_calls", args, NULL};
    char *out = NULL;
    cJSON *o, *total;
    int n = -1;

    if (cli(c, argv, extra, &out, NULL) == 0 && (o = cJSON_Parse(out)) != NULL) {
        total = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(o, "structuredContent"), "total");
        n = cJSON_IsNumber(total) ? total->valueint : -1;
        cJSON_Delete(o);
    }
    free(out);
    return n;
}

static int call_count(const struct ctx *c, const char *args)
{
    return call_count_env(c, args, NULL);
}

/*
 * Erase the target by one spelling of the number while serve stores other
 * calls: the dry run counts, the erasure removes the three calls, their
 * deliveries and the rejected body, the raw files keep nothing of them,
 * the record is listed by any spelling, and every webhook got its 200.
 */
static void erase_by_phone(bool pg)
{
    struct ctx c;
    struct daemon d;
    struct poster p = {0};
    pthread_t th;
    const char *dry[] = {"erase", "--phone", "(415) 555-0199", "--dry-run", NULL};
    const char *erase[] = {"erase", "--phone", "+1 415 555 0199", NULL};
    const char *list[] = {"erasures", "--phone", "415-555-0199", NULL};
    const char *list_other[] = {"erasures", "--phone", "+44 20 7946 0001", NULL};
    const char *daemon_env[] = {NULL};
    char *out = NULL, *err = NULL;
    const char *leak;

    ctx_init(&c, pg, "privacy-erase");
    seed(&c, time_now_ms());
    CHECK_INT_EQ(call_count(&c, "{\"phone\": \"4155550199\"}"), 3);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"" TARGET_WORD "\"}"), 3);
    CHECK(raw_leak(&c) != NULL); /* the search can find them while they are there */

    expect_cli(&c, dry, NULL, 0, false, "would erase 3 calls and 4 deliveries");
    CHECK_INT_EQ(call_count(&c, "{\"phone\": \"4155550199\"}"), 3);

    daemon_start_db(&d, c.db, daemon_env);
    p.port = d.webhook_port;
    pthread_create(&th, NULL, poster_main, &p);
    sleep_ms(100);
    CHECK_INT_EQ(cli(&c, erase, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "erased 3 calls and 4 deliveries");
    CHECK(strstr(out, "0199") == NULL && strstr(err, "0199") == NULL);
    free(out);
    free(err);
    sleep_ms(100);
    p.stop = true;
    pthread_join(th, NULL);
    CHECK(p.posted > 0);
    CHECK_INT_EQ(p.ok, p.posted);

    CHECK_INT_EQ(call_count(&c, "{\"phone\": \"4155550199\"}"), 0);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"" TARGET_WORD "\"}"), 0);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"routine\"}"), 10);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"new booking\"}"), p.posted);
    leak = raw_leak(&c);
    if (leak != NULL)
        fprintf(stderr, "%s: the database files still hold \"%s\"\n", pg ? "postgresql" : "sqlite",
                leak);
    CHECK(leak == NULL);

    CHECK_INT_EQ(cli(&c, list, NULL, &out, &err), 0);
    CHECK_STR_CONTAINS(out, "phone       3          4");
    CHECK(strstr(out, "0199") == NULL);
    free(out);
    free(err);
    expect_cli(&c, list_other, NULL, 1, true, "none recorded");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    ctx_free(&c);
}

/*
 * PostgreSQL: while a rewrite holds the tables (here the test holds the
 * writers' gate and the tables' locks, longer than the daemon waits for a
 * lock), every webhook is still answered at once: queued, a malformed one
 * refused as always. Once the tables are free, the queue goes into them with
 * the outcomes it would have had, and nothing waits in it.
 */
static void webhooks_during_rewrite(void)
{
    struct ctx c;
    struct daemon d;
    const char *daemon_env[] = {"PHONELY_MCP_BUSY_TIMEOUT_MS=300", NULL};
    PGconn *hold;
    char *v;
    int64_t now = time_now_ms();
    int queued = 0, i;

    ctx_init(&c, true, "privacy-queue");
    seed(&c, now);
    daemon_start_db(&d, c.db, daemon_env);
    hold = pg_super(c.db);
    free(pg_one(hold, "SELECT pg_advisory_lock(7203341102)"));
    free(pg_one(hold, "BEGIN; LOCK TABLE calls, deliveries, call_search IN ACCESS EXCLUSIVE MODE"));
    for (i = 0; i < 12; i++) {
        char id[32];
        struct http_resp r;
        /* The last one sends the first again: a duplicate once moved. */
        snprintf(id, sizeof id, "held-%d", i == 11 ? 0 : i);
        char *body = call_json(id, "Someone Else", "+33 1 23 45 67 89", NULL, now + i % 11,
                               "a held booking");
        CHECK_INT_EQ(http_post(d.webhook_port, WEBHOOK, NULL, body, strlen(body), &r), 0);
        CHECK_INT_EQ(r.status, 200);
        queued += r.body != NULL && strstr(r.body, "\"status\":\"queued\"") != NULL;
        http_resp_free(&r);
        free(body);
    }
    {
        struct http_resp r;
        CHECK_INT_EQ(http_post(d.webhook_port, WEBHOOK, NULL, "{\"callId\":", 10, &r), 0);
        CHECK_INT_EQ(r.status, 400);
        http_resp_free(&r);
    }
    CHECK_INT_EQ(queued, 12);
    free(pg_one(hold, "COMMIT"));
    free(pg_one(hold, "SELECT pg_advisory_unlock(7203341102)"));

    /* The idle writers move the queue within a second or so. */
    for (i = 0; i < 100 && call_count(&c, "{\"query\": \"held booking\"}") != 11; i++)
        sleep_ms(100);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"held booking\"}"), 11);
    CHECK_STR_EQ(v = pg_one(hold, "SELECT count(*) FROM queued"), "0");
    free(v);
    CHECK_STR_EQ(v = pg_one(hold, "SELECT string_agg(outcome || ':' || n, ' ' ORDER BY outcome)"
                                  " FROM (SELECT outcome, count(*) n FROM deliveries"
                                  " WHERE source = 'webhook' GROUP BY outcome) s"),
                 "duplicate:1 rejected:1 stored:11");
    free(v);
    PQfinish(hold);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    ctx_free(&c);
}

/* Everything of the schema a rewrite must keep: indexes, constraints, triggers, options, owners,
 * privileges, where the ids go on. */
#define SCHEMA_PRINT                                                                               \
    "SELECT string_agg(d, E'\n' ORDER BY d) FROM ("                                                \
    " SELECT indexdef AS d FROM pg_indexes WHERE schemaname = current_schema()"                    \
    " UNION ALL SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)"   \
    "  || ' ' || convalidated FROM pg_constraint WHERE connamespace = "                            \
    "current_schema()::regnamespace"                                                               \
    " UNION ALL SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"              \
    " UNION ALL SELECT relname || ' ' || relkind::text || ' ' || coalesce(reloptions::text, '') "  \
    "|| ' '"                                                                                       \
    "  || relowner::regrole || ' ' || coalesce(relacl::text, '') FROM pg_class"                    \
    "  WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'S')"              \
    " UNION ALL SELECT 'next call id ' || last_value FROM calls_id_seq"                            \
    " UNION ALL SELECT 'next delivery id ' || last_value FROM deliveries_id_seq) x"

/* A command run on a thread of its own (cli_thread). */
struct cli_run {
    const struct ctx *c;
    const char *const *argv;
    int status;
    char *out, *err;
};

static void *cli_thread(void *arg)
{
    struct cli_run *r = arg;

    r->status = cli(r->c, r->argv, NULL, &r->out, &r->err);
    return NULL;
}

/*
 * PostgreSQL: reads go on while an erasure rewrites the tables. A reader
 * that keeps calls open holds the rewrite at its swap; meanwhile other
 * reads answer (VACUUM FULL would queue them behind its lock) and the
 * erased caller is gone already. Once the reader lets go, the erasure ends
 * with the schema as it was.
 */
static void reads_during_rewrite(void)
{
    struct ctx c;
    const char *erase[] = {"erase", "--phone", "415 555 0199", NULL};
    const char *get[] = {"tool", "get_call", "{\"call_id\": \"other-3\"}", NULL};
    const char *impatient[] = {"PHONELY_MCP_BUSY_TIMEOUT_MS=1000", NULL};
    PGconn *hold;
    char *before, *after, *v, *out = NULL;
    struct cli_run run = {0};
    pthread_t th;
    int i;

    ctx_init(&c, true, "privacy-reads");
    seed(&c, time_now_ms());
    hold = pg_super(c.db);
    free(pg_one(hold, "GRANT SELECT ON calls TO PUBLIC"));
    before = pg_one(hold, SCHEMA_PRINT);
    free(pg_one(hold, "BEGIN; SELECT count(*) FROM calls"));
    run.c = &c;
    run.argv = erase;
    pthread_create(&th, NULL, cli_thread, &run);
    /* The erasure's backend waits for the table locks (or sleeps between tries). */
    for (i = 0; i < 200; i++) {
        free(pg_one(hold, "SELECT pg_stat_clear_snapshot()")); /* fresh within the transaction */
        v = pg_one(hold, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                         " AND state = 'active' AND wait_event IN ('relation', 'PgSleep')");
        bool waiting = v != NULL && strcmp(v, "0") != 0;
        free(v);
        if (waiting)
            break;
        sleep_ms(50);
    }
    CHECK(i < 200);
    /* Readers that give up after 1 s, where the erasure waits 5 s for a lock. */
    CHECK_INT_EQ(call_count_env(&c, "{\"query\": \"routine booking\"}", impatient), 10);
    CHECK_INT_EQ(call_count_env(&c, "{\"query\": \"" TARGET_WORD "\"}", impatient), 0);
    CHECK_INT_EQ(cli(&c, get, impatient, &out, NULL), 0);
    CHECK_STR_CONTAINS(out, "Other Caller 3");
    free(out);
    free(pg_one(hold, "COMMIT"));
    pthread_join(th, NULL);
    CHECK_INT_EQ(run.status, 0);
    if (run.status != 0)
        fprintf(stderr, "erase: %s%s\n", run.out != NULL ? run.out : "",
                run.err != NULL ? run.err : "");
    free(run.out);
    free(run.err);
    after = pg_one(hold, SCHEMA_PRINT);
    CHECK(before != NULL && after != NULL);
    if (before != NULL && after != NULL)
        CHECK_STR_EQ(after, before);
    CHECK_STR_EQ(v = pg_one(hold, "SELECT count(*) FROM pg_namespace WHERE nspname = "
                                  "'phonely_rewrite'"),
                 "0");
    free(v);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"routine booking\"}"), 10);
    CHECK(raw_leak(&c) == NULL);
    free(before);
    free(after);
    PQfinish(hold);
    ctx_free(&c);
}

/* By email (any case) one call goes; by call id one more; usage errors say what to give. */
static void erase_by_email_and_call(bool pg)
{
    struct ctx c;
    const char *by_email[] = {"erase", "--email", "quillon.vo@EXAMPLE.org", NULL};
    const char *by_call[] = {"erase", "--call", "target-0", NULL};
    const char *none[] = {"erase", NULL};
    const char *two[] = {"erase", "--call", "a", "--phone", "4155550100", NULL};
    const char *bad[] = {"erase", "--phone", "12", NULL};

    ctx_init(&c, pg, "privacy-erase-email");
    seed(&c, time_now_ms());
    expect_cli(&c, by_email, NULL, 0, false, "erased 1 calls and 1 deliveries");
    if (pg) {
        /* A role that may not create a schema gets the rewrite that holds reads, and is told. */
        PGconn *admin = pg_super(c.db);
        free(pg_one(admin, "DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM"
                           " phonely', current_database()); END $$"));
        PQfinish(admin);
        expect_cli(&c, by_call, NULL, 0, true, "rewritten with VACUUM FULL");
    } else
        expect_cli(&c, by_call, NULL, 0, false, "erased 1 calls and 1 deliveries");
    CHECK_INT_EQ(call_count(&c, "{\"phone\": \"4155550199\"}"), 1);
    expect_cli(&c, none, NULL, 2, true, "name one of --phone");
    expect_cli(&c, two, NULL, 2, true, "name one of --phone");
    expect_cli(&c, bad, NULL, 2, true, "not a phone number");
    if (!pg) {
        /* A copy into PostgreSQL keeps the records, and finds them by the same identifier. */
        char *uri = pg_newdb(), *to_db = xasprintf("PHONELY_MCP_DB=%s", uri);
        const char *migrate[] = {"migrate", "--from", c.db, "--to", uri, NULL};
        const char *list[] = {"erasures", "--email", TARGET_EMAIL, NULL};
        const char *on_pg[] = {to_db, NULL};
        expect_cli(&c, migrate, NULL, 0, false, "erasures");
        char *out = NULL;
        CHECK_INT_EQ(run_cli(list, on_pg, NULL, &out, NULL), 0);
        CHECK_STR_CONTAINS(out, "email       1          1");
        free(out);
        free(to_db);
        free(uri);
    }
    ctx_free(&c);
}

/* Everything about the target: JSON Lines that parse, CSV rows, a 0600 file not overwritten. */
static void export_person(bool pg)
{
    struct ctx c;
    const char *jsonl[] = {"export", "--phone", "415 555 0199", NULL};
    const char *csv[] = {"export", "--email", TARGET_EMAIL, "--format", "csv", NULL};
    char *file, *out = NULL, *err = NULL, *line, *save = NULL;
    int calls = 0, deliveries = 0, rejected = 0, records = 0;
    struct stat sb;

    ctx_init(&c, pg, "privacy-export");
    seed(&c, time_now_ms());
    CHECK_INT_EQ(cli(&c, jsonl, NULL, &out, &err), 0);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        const char *rec;
        CHECK(o != NULL);
        if (o == NULL)
            continue;
        records++;
        rec = cJSON_GetObjectItemCaseSensitive(o, "record")->valuestring;
        if (strcmp(rec, "call") == 0) {
            char *text = cJSON_PrintUnformatted(o);
            calls++;
            CHECK_STR_CONTAINS(text, TARGET_WORD);
            CHECK_STR_CONTAINS(text, "\"transcript");
            free(text);
        } else if (strcmp(rec, "delivery") == 0) {
            deliveries++;
            rejected += cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "callId"));
            CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "body")));
        }
        cJSON_Delete(o);
    }
    CHECK_INT_EQ(calls, 3);
    CHECK_INT_EQ(deliveries, 4);
    CHECK_INT_EQ(rejected, 1);
    CHECK_INT_EQ(records, 3 + 4 + 2);
    CHECK_STR_CONTAINS(err, "3 calls and 4 deliveries");
    free(out);
    free(err);

    CHECK_INT_EQ(cli(&c, csv, NULL, &out, &err), 0);
    CHECK(strncmp(out, "record,call_id,delivery_id,field,value\n", 39) == 0);
    CHECK_STR_CONTAINS(out, "call,target-1,,call.callerName," TARGET_NAME "\n");
    CHECK_STR_CONTAINS(out, "delivery,target-1,");
    free(out);
    free(err);

    file = xasprintf("%s/export.jsonl", c.dir);
    {
        const char *to_file[] = {"export", "--call", "target-2", "--output", file, NULL};
        CHECK_INT_EQ(cli(&c, to_file, NULL, &out, &err), 0);
        free(out);
        free(err);
        CHECK(stat(file, &sb) == 0 && (sb.st_mode & 0777) == 0600);
        CHECK(file_holds(file, "target-2"));
        CHECK_INT_EQ(cli(&c, to_file, NULL, &out, &err), 1);
        CHECK_STR_CONTAINS(err, "cannot create");
        free(out);
        free(err);
    }
    free(file);
    ctx_free(&c);
}

/*
 * Retention: purge --dry-run counts, purge removes the old calls with
 * their deliveries and nothing newer; serve sweeps at start and then every
 * retention_interval, and counts it in /metrics. Rejected deliveries go by
 * their own age (the store, with a cut-off in the future).
 */
static void retention(bool pg)
{
    struct ctx c;
    struct daemon d;
    struct http_resp r;
    const char *purge[] = {"purge", NULL};
    const char *dry[] = {"purge", "--dry-run", NULL};
    const char *keep[] = {"PHONELY_MCP_RETENTION_DAYS=365", NULL};
    const char *daemon_env[] = {"PHONELY_MCP_RETENTION_DAYS=365",
                                "PHONELY_MCP_RETENTION_INTERVAL=1", NULL};
    int64_t now = time_now_ms();
    char *old;
    struct store *st;
    struct store_removed removed = {0};
    struct err e = {0};

    ctx_init(&c, pg, "privacy-retention");
    seed(&c, now);
    seed_old(&c, 3, now);

    expect_cli(&c, purge, NULL, 1, true, "no retention is set");
    expect_cli(&c, dry, keep, 0, false, "would remove 3 calls and 3 deliveries");
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"old booking\"}"), 3);
    expect_cli(&c, purge, keep, 0, false, "removed 3 calls and 3 deliveries");
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"old booking\"}"), 0);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"routine\"}"), 10);

    /* serve: an old call arriving later goes at the next sweep. */
    daemon_start_db(&d, c.db, daemon_env);
    old = call_json("old-late", "Old Caller", "+1 212 555 0100", NULL, now - 500 * DAY_MS,
                    "an old booking");
    CHECK_INT_EQ(http_post(d.webhook_port, WEBHOOK, NULL, old, strlen(old), &r), 0);
    CHECK_INT_EQ(r.status, 200);
    http_resp_free(&r);
    free(old);
    for (int i = 0; i < 50 * time_scale() && call_count(&c, "{\"query\": \"old booking\"}") != 0;
         i++)
        sleep_ms(100);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"old booking\"}"), 0);
    CHECK_INT_EQ(http_get(d.private_port, "/metrics", &r), 0);
    CHECK_STR_CONTAINS(r.body, "phonely_retention_removed_calls_total 1\n");
    CHECK_STR_CONTAINS(r.body, "phonely_retention_removed_deliveries_total 1\n");
    http_resp_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_cleanup(&d);

    /* The one rejected delivery goes by its own age, with nothing else. */
    st = store_open_or_die(c.db);
    CHECK_INT_EQ(store_purge(st, INT64_MIN, now + DAY_MS, 50, true, &removed, &e), 0);
    CHECK_INT_EQ(removed.calls, 0);
    CHECK_INT_EQ(removed.deliveries, 1);
    removed = (struct store_removed){0};
    CHECK_INT_EQ(store_purge(st, INT64_MIN, now + DAY_MS, 50, false, &removed, &e), 0);
    CHECK_INT_EQ(removed.deliveries, 1);
    store_close(st);
    CHECK_INT_EQ(call_count(&c, "{\"query\": \"routine\"}"), 10);
    ctx_free(&c);
}

/* Batches: a sweep of more calls than one batch removes them all, a batch per transaction. */
static void retention_batches(bool pg)
{
    struct ctx c;
    struct store *st;
    struct store_removed removed = {0};
    struct err e = {0};
    int64_t now = time_now_ms();
    int rc, batches = 0;

    ctx_init(&c, pg, "privacy-batches");
    seed_old(&c, 120, now);
    st = store_open_or_die(c.db);
    do {
        rc = store_purge(st, now - 365 * DAY_MS, INT64_MIN, 50, false, &removed, &e);
        batches++;
    } while (rc == 1);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(batches, 3);
    CHECK_INT_EQ(removed.calls, 120);
    CHECK_INT_EQ(removed.deliveries, 120);
    store_close(st);
    ctx_free(&c);
}

static void test_sqlite(void)
{
    erase_by_phone(false);
    erase_by_email_and_call(false);
    export_person(false);
    retention(false);
    retention_batches(false);
}

static void test_postgresql(void)
{
    erase_by_phone(true);
    erase_by_email_and_call(true);
    export_person(true);
    retention(true);
    retention_batches(true);
    webhooks_during_rewrite();
    reads_during_rewrite();
}

int main(void)
{
    RUN(test_sqlite);
    RUN(test_postgresql);
    return check_report();
}
