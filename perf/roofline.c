/* SPDX-License-Identifier: MIT */
/*
 * roofline.c — copy and reduction bandwidth with the call's thread count, all
 * ranks at once (see roofline.h).
 */
#include "roofline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reduce.h"

#define ROOF_MIN_BYTES_MOVED (256u << 20) /* per thread and kind, so small sizes time long enough */
#define ROOF_MAX_REPS 100000

struct roof_part {
    char *a, *b, *c;
    size_t bytes, elems;
    haloDataType_t dt;
    int reps, reduce;
    pthread_barrier_t *start;
};

static double roof_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *roof_thread(void *arg)
{
    struct roof_part *p = arg;
    pthread_barrier_wait(p->start);
    for (int i = 0; i < p->reps; i++) {
        if (p->reduce)
            halo_reduce(p->c, p->a, p->b, p->elems, p->dt, haloSum);
        else
            memcpy(p->c, p->a, p->bytes);
    }
    return NULL;
}

int perf_roof_threads(size_t bytes, int local_ranks)
{
    const char *env = getenv("HALO_NCHANNELS");
    if (env && atoi(env) > 0)
        return atoi(env);
    if (bytes < (1u << 20))
        return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long per = local_ranks > 0 ? cpus / local_ranks : cpus;
    return per < 1 ? 1 : per > 8 ? 8 : (int)per; /* the library's one-host cap */
}

/* One timed pass of `threads` threads over their parts; seconds. */
static double roof_pass(struct roof_part *parts, int threads, int reduce)
{
    pthread_t th[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        parts[t].reduce = reduce;
        parts[t].start = &start;
        pthread_create(&th[t], NULL, roof_thread, &parts[t]);
    }
    pthread_barrier_wait(&start);
    double t0 = roof_now();
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    double dt = roof_now() - t0;
    pthread_barrier_destroy(&start);
    return dt;
}

int perf_roof_measure(haloComm_t comm, size_t bytes, int threads, haloDataType_t dt, struct perf_roof *out)
{
    size_t es = halo_dtype_size(dt);
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    size_t elems = bytes / es, per = (elems + (size_t)threads - 1) / (size_t)threads;
    size_t alloc = elems * es + 64;
    char *a = malloc(alloc), *b = malloc(alloc), *c = malloc(alloc);
    int ok = a && b && c;
    if (ok) { /* fault the pages in before timing: the call's buffers are warm too */
        memset(a, 1, alloc);
        memset(b, 2, alloc);
        memset(c, 3, alloc);
    }
    struct roof_part parts[64];
    size_t part_bytes = per * es > 0 ? per * es : es;
    int reps = (int)(ROOF_MIN_BYTES_MOVED / part_bytes);
    reps = reps < 3 ? 3 : reps > ROOF_MAX_REPS ? ROOF_MAX_REPS : reps;
    for (int t = 0; t < threads; t++) {
        size_t lo = (size_t)t * per < elems ? (size_t)t * per : elems;
        size_t n = elems - lo < per ? elems - lo : per;
        parts[t] = (struct roof_part){.a = a + lo * es, .b = b + lo * es, .c = c + lo * es, .bytes = n * es,
                                      .elems = n, .dt = dt, .reps = reps};
    }
    double copy_s = 0, red_s = 0;
    int32_t all_ok = ok, sum = 0;
    /* Every rank copies at once, then every rank reduces at once. */
    if (haloAllReduce(&all_ok, &sum, 1, haloInt32, haloMin, comm, NULL) != haloSuccess || !sum)
        goto fail;
    copy_s = roof_pass(parts, threads, 0);
    if (haloAllReduce(&all_ok, &sum, 1, haloInt32, haloMin, comm, NULL) != haloSuccess)
        goto fail;
    red_s = roof_pass(parts, threads, 1);
    free(a), free(b), free(c);
    double moved = (double)elems * (double)es * reps;
    out->threads = threads;
    out->copy_GBps = 2.0 * moved / copy_s / 1e9;
    out->reduce_GBps = 3.0 * moved / red_s / 1e9;
    return 0;
fail:
    fprintf(stderr, "--roofline: could not allocate or synchronise 3 x %zu bytes for the measurement\n", bytes);
    free(a), free(b), free(c);
    return -1;
}
