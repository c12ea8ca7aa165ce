/*
 * bench_gen.h: what the benchmark programs share: a seeded generator of
 * realistic Phonely post-call bodies, figure output ("name value unit"
 * lines, also appended to a results file), and process measurements.
 */
#ifndef PHONELY_BENCH_GEN_H
#define PHONELY_BENCH_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xmalloc.h"

/* Bumped whenever the bodies generated for a (seed, index) change. */
#define BENCH_GEN_VERSION 1
/* The seed of the benchmark databases and of the ingest bodies. */
#define BENCH_GEN_SEED 20261101u
/* Generated databases span the year before 2026-11-01T00:00:00Z. */
#define BENCH_GEN_END_MS  INT64_C(1793491200000)
#define BENCH_GEN_SPAN_MS (INT64_C(365) * 86400 * 1000)
/* Callers who call again and again (a phone filter finds several calls). */
#define BENCH_GEN_REPEAT_CALLERS 3000u

/* splitmix64: tiny, fast, and good enough for test data. */
struct bench_rng {
    uint64_t state;
};

/* Seed r for stream (seed, stream); equal arguments give equal sequences. */
void bench_rng_seed(struct bench_rng *r, uint64_t seed, uint64_t stream);
uint64_t bench_rng_next(struct bench_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t bench_rng_below(struct bench_rng *r, uint32_t n);

/*
 * The body of call number index of the data set seed: ~5 KB of JSON in
 * Phonely's post-call shape, 10-40 transcript turns (also as
 * transcriptText), summary, analysis, E.164 numbers, a follow-up on about
 * a third of calls, and the designed common and rare terms below. The same
 * (seed, index) always gives the same content. call_id NULL gives a
 * ULID-like "call_..." id derived from the content, else call_id is used
 * as is; the call starts at started_ms. b is reset first.
 */
void bench_gen_call(struct buf *b, uint64_t seed, uint64_t index, const char *call_id,
                    int64_t started_ms);
/* Start of call index of count, in order over the generator's year. */
int64_t bench_gen_started_ms(uint64_t seed, uint64_t index, uint64_t count);
/* The E.164 number of repeat caller k (< BENCH_GEN_REPEAT_CALLERS) of data set seed. */
void bench_gen_repeat_phone(uint64_t seed, unsigned k, char *out, size_t outsz);

/* A term put into calls on purpose, in ppm (parts per million) of calls. */
struct bench_term {
    const char *word;
    unsigned ppm;
};
/* Common terms (each in 10-25% of calls) and rare ones (0.01-0.1%). */
extern const struct bench_term bench_gen_common[];
extern const size_t bench_gen_ncommon;
extern const struct bench_term bench_gen_rare[];
extern const size_t bench_gen_nrare;

/*
 * Print the figure "name value unit" on stdout and append it to the file
 * named by PHONELY_BENCH_RESULTS when set. Names are stable
 * (ingest.grouped.c32.rps): comparisons between runs go by name.
 */
void bench_figure(const char *name, double value, const char *unit);
/* The same with a printf-style name. */
void bench_figuref(double value, const char *unit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A "# key text" note line: stdout and the results file. */
void bench_note(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A field of /proc/PID/status in kB (VmRSS, VmHWM), or -1. */
long bench_proc_kb(pid_t pid, const char *field);

/*
 * Bound the program: after seconds (again from now on each call; 0 turns
 * it off) SIGKILL every watched child, say so on stderr and exit 3.
 */
void bench_watchdog(unsigned seconds);
void bench_watch(pid_t pid);
void bench_unwatch(pid_t pid);

#endif
