/*
 * replay.c: the main() of a fuzz target built without libFuzzer. Every
 * argument is a file or a directory; every file (directories are read one
 * level deep, in name order) is handed once to LLVMFuzzerTestOneInput.
 * An invariant violation or a sanitizer report aborts; otherwise it prints
 * how many inputs ran. Each input's path goes to stderr before it runs. A missing or empty corpus
 * is an error, so a misconfigured test cannot pass by running nothing.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "xmalloc.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct buf b = {0};
    char chunk[65536];
    size_t n;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    /* Named first, so that a crash or sanitizer report can be traced to its input. */
    fprintf(stderr, "%s\n", path);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    if (ferror(f)) {
        perror(path);
        fclose(f);
        buf_free(&b);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, so that ASan sees a read one past the input. */
    {
        uint8_t *data = b.len > 0 ? xmalloc(b.len) : NULL;
        if (b.len > 0)
            memcpy(data, b.data, b.len);
        LLVMFuzzerTestOneInput(data, b.len);
        free(data);
    }
    buf_free(&b);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xreallocarray(names, cap, sizeof *names);
        }
        names[n++] = xasprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (run_file(names[i]) == -1)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == -1) {
            perror(argv[i]);
            rc = 1;
        } else if (S_ISDIR(sb.st_mode)) {
            if (run_dir(argv[i], &count) == -1)
                rc = 1;
        } else if (run_file(argv[i]) == -1) {
            rc = 1;
        } else {
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    printf("%s: %zu inputs replayed, no invariant violated\n", argv[0], count);
    return rc;
}
