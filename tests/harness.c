/* harness.c: shared helpers for the test programs. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "harness.h"
#include "store.h"
#include "textutil.h"
#include "xmalloc.h"

int check_failures;
int check_count;
const char *check_current = "";

int check_report(void)
{
    printf("%d passed, %d failed\n", check_count - check_failures, check_failures);
    return check_failures == 0 ? 0 : 1;
}

char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b = {0};
    char chunk[8192];
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        abort();
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, len);
}

char *fixture_read(const char *name, size_t *len)
{
    const char *dir = getenv("PHONELY_TEST_FIXTURES");
    char *path = xasprintf("%s/%s", dir ? dir : "tests/fixtures", name);
    size_t n;
    char *data = file_read(path, &n);

    free(path);
    pii_note(data, n);
    if (len != NULL)
        *len = n;
    return data;
}

/* ---- personal data sent, looked for in logs ---- */

/*
 * The noted items, each at least PII_MIN bytes, in a hash table keyed on
 * their first PII_MIN bytes: a log is scanned once, each position looked
 * up, so that thousands of items cost little more than a few.
 */
#define PII_MIN     6
#define PII_BUCKETS 65536

static struct {
    pthread_mutex_t lock;
    char **items;
    size_t *next; /* chain: index + 1 of the next item in the bucket, 0 at the end */
    size_t n, cap;
    size_t heads[PII_BUCKETS]; /* index + 1 of a bucket's first item, 0 when empty */
} pii = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t pii_bucket(const char *s)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < PII_MIN; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % PII_BUCKETS;
}

/* Note s[0..len) unless it is too short to search for or already noted. Holds pii.lock. */
static void pii_add(const char *s, size_t len)
{
    size_t b;

    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n'))
        len--;
    if (len < PII_MIN || memchr(s, '\0', len) != NULL)
        return;
    b = pii_bucket(s);
    for (size_t i = pii.heads[b]; i != 0; i = pii.next[i - 1])
        if (strlen(pii.items[i - 1]) == len && memcmp(pii.items[i - 1], s, len) == 0)
            return;
    if (pii.n == pii.cap) {
        pii.cap = pii.cap ? pii.cap * 2 : 256;
        pii.items = xreallocarray(pii.items, pii.cap, sizeof *pii.items);
        pii.next = xreallocarray(pii.next, pii.cap, sizeof *pii.next);
    }
    pii.items[pii.n] = xstrndup(s, len);
    pii.next[pii.n] = pii.heads[b];
    pii.heads[b] = ++pii.n;
}

/* The start of a text, cut before anything a log would escape; noted when at least 12 bytes. */
static void pii_add_snippet(const char *s)
{
    size_t n = 0;

    while (n < PII_SNIPPET && s[n] >= 0x20 && s[n] < 0x7F && s[n] != '"' && s[n] != '\\')
        n++;
    if (n >= 12)
        pii_add(s, n);
}

/* A member of obj as text: a string, or a number's digits. NULL otherwise. */
static const char *pii_member(const cJSON *obj, const char *name, char tmp[32])
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (cJSON_IsString(item))
        return item->valuestring;
    if (cJSON_IsNumber(item) && item->valuedouble >= 0 && item->valuedouble < 1e18) {
        snprintf(tmp, 32, "%.0f", item->valuedouble);
        return tmp;
    }
    return NULL;
}

/* The personal data of one call object. Holds pii.lock. */
static void pii_note_call(const cJSON *call)
{
    static const char *const names[] = {"callerName", "caller_name", "mentionedEmail",
                                        "mentioned_email"};
    static const char *const phones[] = {"customerPhoneNumber",   "customer_phone_number",
                                         "customer_phone",        "businessPhoneNumber",
                                         "business_phone_number", "business_phone"};
    static const char *const texts[] = {"summary",        "longSummary",     "long_summary",
                                        "transcriptText", "transcript_text", "transcript",
                                        "followUpReason"};
    const cJSON *turn;
    char tmp[32];
    const char *v;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((v = pii_member(call, names[i], tmp)) != NULL)
            pii_add(v, strlen(v));
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        char digits[32], plain[32];
        size_t n = 0;
        if ((v = pii_member(call, phones[i], tmp)) == NULL)
            continue;
        pii_add(v, strlen(v));
        if (phone_normalize(v, digits, sizeof digits) > 0)
            pii_add(digits, strlen(digits));
        for (const char *p = v; *p != '\0' && n + 1 < sizeof plain; p++)
            if (*p >= '0' && *p <= '9')
                plain[n++] = *p;
        pii_add(plain, n);
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if ((v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(call, texts[i]))) != NULL)
            pii_add_snippet(v);
    cJSON_ArrayForEach(turn, cJSON_GetObjectItemCaseSensitive(call, "transcript"))
    {
        if ((v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(turn, "content"))) != NULL ||
            (v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(turn, "text"))) != NULL)
            pii_add_snippet(v);
    }
}

/* The calls in one JSON text: an object, or the objects of an array. Holds pii.lock. */
static bool pii_note_json(const char *s, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(s, len), *item;

    if (root == NULL)
        return false;
    if (cJSON_IsObject(root))
        pii_note_call(root);
    if (cJSON_IsArray(root)) {
        cJSON_ArrayForEach(item, root)
        {
            if (cJSON_IsObject(item))
                pii_note_call(item);
        }
    }
    cJSON_Delete(root);
    return true;
}

void pii_note(const char *body, size_t len)
{
    if (body == NULL)
        return;
    pthread_mutex_lock(&pii.lock);
    if (!pii_note_json(body, len)) {
        for (const char *p = body, *end = body + len; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
            pii_note_json(p, n);
            p += n + 1;
        }
    }
    pthread_mutex_unlock(&pii.lock);
}

const char *pii_leaked(const char *text)
{
    const char *found = NULL;
    size_t len = text != NULL ? strlen(text) : 0;

    pthread_mutex_lock(&pii.lock);
    for (size_t i = 0; pii.n > 0 && i + PII_MIN <= len && found == NULL; i++) {
        for (size_t j = pii.heads[pii_bucket(text + i)]; j != 0; j = pii.next[j - 1]) {
            size_t n = strlen(pii.items[j - 1]);
            if (n <= len - i && memcmp(text + i, pii.items[j - 1], n) == 0) {
                found = pii.items[j - 1];
                break;
            }
        }
    }
    pthread_mutex_unlock(&pii.lock);
    return found;
}

struct store *store_open_or_die(const char *db)
{
    struct store_options o = {.busy_timeout_ms = 5000};
    struct err err = {0};
    struct store *st = store_open(db, &o, &err);

    if (st == NULL) {
        fprintf(stderr, "open %s: %s\n", db, err.msg);
        abort();
    }
    return st;
}

char *pg_newdb(void)
{
    const char *dir = getenv("PHONELY_TEST_PG_CLUSTER"), *script = getenv("PHONELY_TEST_PG_SCRIPT");
    char *cmd, line[512] = "";
    FILE *p;

    if (dir == NULL || script == NULL) {
        fprintf(stderr, "no PostgreSQL cluster: run this test through CTest (fixture pg)\n");
        abort();
    }
    cmd = xasprintf("sh '%s' newdb '%s'", script, dir);
    p = popen(cmd, "r");
    if (p == NULL || fgets(line, sizeof line, p) == NULL || pclose(p) != 0 ||
        strncmp(line, "postgresql://", 13) != 0) {
        fprintf(stderr, "%s: no database\n", cmd);
        abort();
    }
    free(cmd);
    line[strcspn(line, "\n")] = '\0';
    return xstrdup(line);
}

int pg_restart(void)
{
    const char *dir = getenv("PHONELY_TEST_PG_CLUSTER"), *script = getenv("PHONELY_TEST_PG_SCRIPT");
    char *cmd;
    int rc;

    if (dir == NULL || script == NULL)
        return -1;
    cmd = xasprintf("sh '%s' restart '%s'", script, dir);
    rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

char *tmpdir_make(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = xasprintf("%s/phonely-%s-XXXXXX", base ? base : "/tmp", tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

void tmpdir_remove(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = xasprintf("%s/%s", path, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            tmpdir_remove(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

/* ---- daemon control ---- */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

long time_scale(void)
{
    const char *v = getenv("PHONELY_TEST_TIME_SCALE");
    long n = v != NULL ? strtol(v, NULL, 10) : 1;
    return n > 0 ? n : 1;
}

static const char *test_bin(void)
{
    const char *bin = getenv("PHONELY_TEST_BIN");
    return bin ? bin : "./phonely-mcp";
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static uint16_t log_port(const char *log, const char *what)
{
    const char *p = strstr(log, what);
    if (p == NULL)
        return 0;
    p = strstr(p, "http://");
    if (p == NULL)
        return 0;
    p = strchr(p + 7, ']') ? strchr(p + 7, ']') + 1 : p + 7;
    p = strchr(p, ':');
    return p ? (uint16_t)atoi(p + 1) : 0;
}

/* Set each "NAME=value" of env in this (child) process. */
static void env_apply(const char *const *env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq == NULL)
            continue;
        char *name = xstrndup(env[i], (size_t)(eq - env[i]));
        setenv(name, eq + 1, 1);
        free(name);
    }
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static void secret_add(struct buf *list, size_t *count, const char *value, size_t len)
{
    char *v;

    while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r' || value[len - 1] == ' '))
        len--;
    if (len < 12) /* shorter values are refused as secrets; too short to search for */
        return;
    v = xstrndup(value, len);
    buf_append(list, &v, sizeof v);
    (*count)++;
    if (strncmp(v, "whsec_", 6) == 0)
        secret_add(list, count, v + 6, len - 6);
}

/* The password in a postgresql:// URI's user part ("user:password@"), added as a secret. */
static void uri_secret_add(struct buf *list, size_t *count, const char *value)
{
    const char *rest = strstr(value, "://"), *at, *colon;

    if (rest == NULL || strncmp(value, "postgres", 8) != 0)
        return;
    rest += 3;
    at = strchr(rest, '@');
    colon = at != NULL ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (colon != NULL)
        secret_add(list, count, colon + 1, (size_t)(at - colon - 1));
}

char **secrets_of_db(const char *const *env, const char *db)
{
    struct buf list = {0};
    size_t count = 0;
    char *end = NULL;

    if (db != NULL)
        uri_secret_add(&list, &count, db);

    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        size_t nlen;
        if (eq == NULL)
            continue;
        nlen = (size_t)(eq - env[i]);
        if (ends_with(env[i], nlen, "_FILE")) {
            nlen -= 5;
            if (ends_with(env[i], nlen, "_TOKEN") || ends_with(env[i], nlen, "_TOKEN_PREVIOUS") ||
                ends_with(env[i], nlen, "_SECRET") || ends_with(env[i], nlen, "_PASSWORD")) {
                FILE *f = fopen(eq + 1, "r");
                char text[4096];
                size_t n = f != NULL ? fread(text, 1, sizeof text, f) : 0;
                if (f != NULL)
                    fclose(f);
                secret_add(&list, &count, text, n);
            }
        } else if (ends_with(env[i], nlen, "_TOKEN") ||
                   ends_with(env[i], nlen, "_TOKEN_PREVIOUS") ||
                   ends_with(env[i], nlen, "_SECRET") || ends_with(env[i], nlen, "_PASSWORD")) {
            secret_add(&list, &count, eq + 1, strlen(eq + 1));
        } else if (ends_with(env[i], nlen, "_DB")) {
            uri_secret_add(&list, &count, eq + 1);
        }
    }
    buf_append(&list, &end, sizeof end);
    return (char **)(void *)buf_steal(&list, NULL);
}

char **secrets_of(const char *const *env)
{
    return secrets_of_db(env, NULL);
}

void secrets_free(char **secrets)
{
    for (size_t i = 0; secrets != NULL && secrets[i] != NULL; i++)
        free(secrets[i]);
    free(secrets);
}

const char *secret_leaked(const char *text, char *const *secrets)
{
    for (size_t i = 0; text != NULL && secrets != NULL && secrets[i] != NULL; i++)
        if (strstr(text, secrets[i]) != NULL)
            return secrets[i];
    return NULL;
}

/*
 * Abort the test when the log text holds one of secrets, or personal data
 * of a call this test program sent (pii_leaked).
 */
static void secrets_check(const char *what, const char *text, char *const *secrets)
{
    const char *leak = secret_leaked(text, secrets);
    if (leak != NULL) {
        fprintf(stderr, "%s wrote a secret it was given (%.6s...) to its log:\n%s\n", what, leak,
                text);
        abort();
    }
    if ((leak = pii_leaked(text)) != NULL) {
        fprintf(stderr, "%s wrote personal data of a call it was sent (\"%s\") to its log:\n%s\n",
                what, leak, text);
        abort();
    }
}

void daemon_start(struct daemon *d, const char *const *env)
{
    daemon_start_db(d, NULL, env);
}

void daemon_spawn(struct daemon *d, const char *db, const char *const *env)
{
    memset(d, 0, sizeof *d);
    d->dir = tmpdir_make("daemon");
    d->db = db != NULL ? xstrdup(db) : xasprintf("%s/calls.db", d->dir);
    d->log = xasprintf("%s/daemon.log", d->dir);
    d->secrets = secrets_of_db(env, d->db);
    d->pid = fork();
    if (d->pid == -1) {
        perror("fork");
        abort();
    }
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        close(fd);
        setenv("PHONELY_MCP_DB", d->db, 1);
        setenv("PHONELY_MCP_WEBHOOK_LISTEN", "127.0.0.1:0", 1);
        setenv("PHONELY_MCP_PRIVATE_LISTEN", "127.0.0.1:0", 1);
        setenv("PHONELY_MCP_PRIVATE_AUTH", "no", 1); /* tests of the token set it again */
        env_apply(env);
        execl(test_bin(), "phonely-mcp", "serve", (char *)NULL);
        perror("exec");
        _exit(127);
    }
}

void daemon_wait_ready(struct daemon *d)
{
    for (int i = 0; i < 3000; i++) {
        size_t len;
        FILE *f = fopen(d->log, "r");
        char *text;
        int status;
        struct buf b = {0};
        char chunk[4096];
        size_t n;
        if (f != NULL) {
            while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                buf_append(&b, chunk, n);
            fclose(f);
        }
        text = buf_steal(&b, &len);
        d->webhook_port = log_port(text, "webhook listener ready");
        d->private_port = log_port(text, "private listener ready");
        if (d->webhook_port && d->private_port) {
            free(text);
            return;
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            fprintf(stderr, "daemon exited during start-up:\n%s\n", text);
            free(text);
            abort();
        }
        free(text);
        sleep_ms(10);
    }
    fprintf(stderr, "daemon did not become ready\n");
    kill(d->pid, SIGKILL);
    abort();
}

void daemon_start_db(struct daemon *d, const char *db, const char *const *env)
{
    daemon_spawn(d, db, env);
    daemon_wait_ready(d);
}

int daemon_stop(struct daemon *d)
{
    int status = 0;

    if (d->pid <= 0)
        return 0;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 3000; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    return 128 + SIGKILL;
}

void daemon_kill(struct daemon *d)
{
    int status;

    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
}

void daemon_cleanup(struct daemon *d)
{
    daemon_stop(d);
    if (d->log != NULL) {
        struct stat st;
        if (stat(d->log, &st) == 0) {
            char *text = file_read(d->log, NULL);
            secrets_check("the daemon", text, d->secrets);
            free(text);
        }
    }
    secrets_free(d->secrets);
    if (d->dir != NULL)
        tmpdir_remove(d->dir);
    free(d->dir);
    free(d->db);
    free(d->log);
    memset(d, 0, sizeof *d);
}

static char *read_fd_all(int fd)
{
    struct buf b = {0};
    char chunk[4096];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof chunk)) > 0 || (n == -1 && errno == EINTR))
        if (n > 0)
            buf_append(&b, chunk, (size_t)n);
    return buf_steal(&b, NULL);
}

int run_cli(const char *const *argv, const char *const *env, const char *stdin_data, char **out,
            char **errout)
{
    char *dir = tmpdir_make("cli");
    char *outp = xasprintf("%s/out", dir), *errp = xasprintf("%s/err", dir),
         *inp = xasprintf("%s/in", dir);
    int status = 0, fd;
    pid_t pid;
    size_t argc = 0;

    while (argv[argc])
        argc++;
    fd = open(inp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (stdin_data != NULL && write(fd, stdin_data, strlen(stdin_data)) < 0)
        abort();
    if (stdin_data != NULL)
        pii_note(stdin_data, strlen(stdin_data));
    close(fd);
    pid = fork();
    if (pid == 0) {
        char **args = xcalloc(argc + 2, sizeof *args);
        args[0] = (char *)"phonely-mcp";
        for (size_t i = 0; i < argc; i++)
            args[i + 1] = (char *)argv[i];
        fd = open(inp, O_RDONLY);
        dup2(fd, 0);
        fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        env_apply(env);
        execv(test_bin(), args);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    fd = open(outp, O_RDONLY);
    *out = read_fd_all(fd);
    close(fd);
    fd = open(errp, O_RDONLY);
    {
        char *err = read_fd_all(fd), **secrets = secrets_of(env);
        secrets_check(argv[0], err, secrets);
        secrets_free(secrets);
        if (errout != NULL)
            *errout = err;
        else
            free(err);
    }
    close(fd);
    tmpdir_remove(dir);
    free(dir);
    free(outp);
    free(errp);
    free(inp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- HTTP client over raw sockets ---- */

int tcp_connect(uint16_t port)
{
    struct sockaddr_in sa = {0};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/*
 * Send and receive at once (poll), so that a server that answers early and
 * closes (413 on a long upload) is heard before its close resets us.
 */
int http_raw(uint16_t port, const char *req, size_t len, struct http_resp *out)
{
    struct buf b = {0};
    char chunk[16384];
    ssize_t n;
    size_t off = 0;
    int fd = tcp_connect(port);
    char *hdr_end, *raw;
    size_t rawlen;

    memset(out, 0, sizeof *out);
    if (fd == -1)
        return -1;
    {
        /* The body of the request, whatever its path: the daemon must not log it. */
        for (size_t i = 0; i + 4 <= len; i++) {
            if (memcmp(req + i, "\r\n\r\n", 4) == 0) {
                pii_note(req + i + 4, len - i - 4);
                break;
            }
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        struct pollfd pfd = {fd, POLLIN | (off < len ? POLLOUT : 0), 0};
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(fd, chunk, sizeof chunk, 0);
            if (n > 0) {
                buf_append(&b, chunk, (size_t)n);
                continue;
            }
            if (n == -1 && (errno == EAGAIN || errno == EINTR))
                continue;
            break; /* EOF or reset */
        }
        if ((pfd.revents & POLLOUT) && off < len) {
            n = send(fd, req + off, len - off, MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n == -1 && errno != EAGAIN && errno != EINTR)
                off = len; /* the server stopped reading; keep listening */
        }
    }
    close(fd);
    raw = buf_steal(&b, &rawlen);
    if (sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1) {
        free(raw);
        return -1;
    }
    hdr_end = strstr(raw, "\r\n\r\n");
    if (hdr_end == NULL) {
        out->headers = raw;
        out->body = xstrdup("");
        return 0;
    }
    out->headers = xstrndup(raw, (size_t)(hdr_end - raw) + 2);
    out->body_len = rawlen - (size_t)(hdr_end + 4 - raw);
    out->body = xmalloc(out->body_len + 1);
    memcpy(out->body, hdr_end + 4, out->body_len);
    out->body[out->body_len] = '\0';
    free(raw);
    return 0;
}

int http_post(uint16_t port, const char *path, const char *headers, const char *body, size_t len,
              struct http_resp *out)
{
    char *req = xasprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                          path, port, len, headers ? headers : "");
    struct buf b = {0};
    int rc;

    buf_puts(&b, req);
    buf_append(&b, body, len);
    rc = http_raw(port, b.data, b.len, out);
    buf_free(&b);
    free(req);
    return rc;
}

int http_get(uint16_t port, const char *path, struct http_resp *out)
{
    char *req =
        xasprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", path, port);
    int rc = http_raw(port, req, strlen(req), out);
    free(req);
    return rc;
}

const char *http_resp_header(const struct http_resp *r, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    const char *p = r->headers;

    while (p != NULL && *p) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outsz, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

void http_resp_free(struct http_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- benchmark data ---- */

void bench_call_body(struct buf *b, int worker, uint64_t seq, int64_t started_ms)
{
    static const char *names[] = {"Maria Hernandez", "James Okafor", "Li Wei",       "Sofia Rossi",
                                  "Ahmed Khan",      "Emma Dubois",  "Noah Schmidt", "Aiko Tanaka"};
    static const char *topics[] = {"Scheduling", "Billing", "Cancellation", "Support", "Sales"};
    static const char *sentiments[] = {"positive", "neutral", "negative"};
    static const char *lines[] = {
        "Hi, I'd like to reschedule my appointment for next week if that is possible.",
        "Of course. Could you confirm your full name and the phone number on file?",
        "Sure, it's the number I'm calling from. I also wanted to ask about the cancellation fee.",
        "The cancellation fee applies only when you cancel less than twenty-four hours ahead.",
        "Great, that makes sense. Do you have anything on Thursday morning around ten?",
        "I have ten thirty on Thursday available. Shall I book that for you right now?",
        "Can you tell me whether my insurance covers the visit and the follow-up exam?",
        "I will send the confirmation by email and a reminder the day before."};
    static unsigned long run;
    char when[40] = "2026-05-24T18:02:14Z";

    if (run == 0)
        run = (unsigned long)time(NULL);
    if (started_ms != 0)
        time_format_iso8601(started_ms, when, sizeof when);
    buf_reset(b);
    buf_printf(
        b,
        "{\"callId\":\"bench_%lu_%d_%llu\",\"agentName\":\"%s\",\"callerName\":\"%s\","
        "\"callDirection\":\"%s\",\"callStarted\":\"%s\",\"duration\":%llu,"
        "\"businessPhoneNumber\":\"+14155551212\",\"customerPhoneNumber\":\"+1415555%04llu\","
        "\"transcript\":[",
        run, worker, (unsigned long long)seq, seq % 4 ? "Front Desk" : "After Hours",
        names[seq % 8], seq % 5 ? "inbound" : "outbound", when,
        (unsigned long long)(60 + seq % 600), (unsigned long long)(seq % 10000));
    for (int i = 0; i < 20; i++)
        buf_printf(b, "%s{\"role\":\"%s\",\"content\":\"%s\"}", i ? "," : "",
                   i % 2 ? "agent" : "user", lines[(seq + (uint64_t)i) % 8]);
    buf_printf(b,
               "],\"summary\":\"The caller asked to reschedule and about the cancellation fee; an "
               "appointment was offered for Thursday at 10:30.\",\"longSummary\":\"%s %s %s\","
               "\"purpose\":\"Reschedule appointment\",\"topic\":\"%s\",\"sentiment\":\"%s\","
               "\"keyPoints\":[\"Reschedule requested\",\"Fee explained\"],"
               "\"actionItems\":[\"Confirm Thursday 10:30\"],\"unansweredQuestions\":[%s],"
               "\"followUp\":\"%s\",\"followUpReason\":\"%s\",\"ai_success\":\"true\","
               "\"dashboardUrl\":\"https://app.phonely.ai/calls/x\"}",
               lines[0], lines[2], lines[3], topics[seq % 5], sentiments[seq % 3],
               seq % 7 == 0 ? "\"Does insurance cover the follow-up exam?\"" : "",
               seq % 3 == 0 ? "yes" : "no", seq % 3 == 0 ? "Caller wants a confirmation text" : "");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_percentiles(double *lat, size_t n, double *p50, double *p99)
{
    qsort(lat, n, sizeof *lat, cmp_double);
    *p50 = n ? lat[n / 2] : 0;
    *p99 = n ? lat[n * 99 / 100] : 0;
}

cJSON *mcp_http_post(uint16_t port, const char *token, const char *session, const char *json,
                     int *status, char *sid_out, size_t sid_size)
{
    struct http_resp r = {0};
    char *headers = xasprintf("Authorization: Bearer %s\r\n"
                              "Accept: application/json, text/event-stream\r\n"
                              "MCP-Protocol-Version: 2025-06-18\r\n%s%s%s",
                              token, session ? "Mcp-Session-Id: " : "", session ? session : "",
                              session ? "\r\n" : "");
    cJSON *out = NULL;

    *status = http_post(port, "/mcp", headers, json, strlen(json), &r) == 0 ? r.status : -1;
    if (sid_out != NULL && http_resp_header(&r, "Mcp-Session-Id", sid_out, sid_size) == NULL)
        sid_out[0] = '\0';
    if (r.body_len > 0)
        out = cJSON_ParseWithLength(r.body, r.body_len);
    http_resp_free(&r);
    free(headers);
    return out;
}
