/* harness.c: shared helpers for the test programs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "xmalloc.h"

int check_failures;
int check_count;
const char *check_current = "";

int check_report(void)
{
    printf("%d passed, %d failed\n", check_count - check_failures, check_failures);
    return check_failures == 0 ? 0 : 1;
}

char *fixture_read(const char *name, size_t *len)
{
    const char *dir = getenv("PHONELY_TEST_FIXTURES");
    char *path = xasprintf("%s/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    struct buf b = {0};
    char chunk[8192];
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "fixture %s: cannot open\n", path);
        abort();
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    free(path);
    return buf_steal(&b, len);
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
