/*
 * bench_report.c: compare a run's figures with the run before. Reads two
 * results files ("name value unit" lines; "#" lines are notes) and prints
 * every figure of NEW with its previous value and the ratio new/previous,
 * matched by name. Whether a ratio above 1 is better depends on the unit:
 * req/s and calls/s are better higher, ms, kB, bytes and s lower. Machines
 * are noisy: compare ratios between figures of one run first (grouped
 * against single commits, common against rare terms), across runs second.
 *
 * usage: bench_report NEW [PREV]   (a missing PREV prints NEW alone)
 * Ownership: main owns both figure arrays and frees them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct figure {
    char name[128];
    char value[32];
    char unit[32];
};

struct figures {
    struct figure *f;
    size_t n, cap;
};

/* Read path's figures into out; returns -1 when it cannot be opened. */
static int figures_read(const char *path, struct figures *out)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        struct figure fig;
        if (line[0] == '#' || sscanf(line, "%127s %31s %31s", fig.name, fig.value, fig.unit) != 3)
            continue;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 128;
            out->f = xreallocarray(out->f, out->cap, sizeof *out->f);
        }
        out->f[out->n++] = fig;
    }
    fclose(f);
    return 0;
}

static const struct figure *figures_find(const struct figures *fs, const char *name)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->f[i].name, name) == 0)
            return &fs->f[i];
    return NULL;
}

int main(int argc, char **argv)
{
    struct figures now = {0}, prev = {0};
    bool have_prev;
    const struct figure *total;

    if (argc < 2) {
        fprintf(stderr, "usage: bench_report NEW [PREV]\n");
        return 2;
    }
    if (figures_read(argv[1], &now) == -1) {
        fprintf(stderr, "bench_report: cannot read %s\n", argv[1]);
        return 1;
    }
    have_prev = argc > 2 && figures_read(argv[2], &prev) == 0 && prev.n > 0;
    printf("\n");
    if (have_prev)
        printf("Compared with the previous run (%s); ratio = new / previous:\n\n", argv[2]);
    else
        printf("Figures of this run (no previous run to compare with):\n\n");
    printf("%-40s %12s %-8s %12s %8s\n", "figure", "value", "unit", "previous", "ratio");
    for (size_t i = 0; i < now.n; i++) {
        const struct figure *f = &now.f[i], *p = have_prev ? figures_find(&prev, f->name) : NULL;
        char ratio[32] = "-";
        double a = strtod(f->value, NULL), b = p != NULL ? strtod(p->value, NULL) : 0;
        if (p != NULL && b != 0)
            snprintf(ratio, sizeof ratio, "%.2f", a / b);
        printf("%-40s %12s %-8s %12s %8s\n", f->name, f->value, f->unit, p ? p->value : "-", ratio);
    }
    if ((total = figures_find(&now, "bench.total")) != NULL)
        printf("\nbench: total %s %s\n", total->value, total->unit);
    free(now.f);
    free(prev.f);
    return 0;
}
