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

/* Copy (and reduce, when rates[1] is wanted) rate of `bytes` split over the
 * threads, every rank at once; read + written bytes per second. */
static int roof_rates(haloComm_t comm, size_t bytes, int threads, haloDataType_t dt, int reduce, double rates[2])
{
    size_t es = halo_dtype_size(dt);
    size_t elems = bytes / es > 0 ? bytes / es : 1, per = (elems + (size_t)threads - 1) / (size_t)threads;
    size_t alloc = elems * es + 64;
    char *a = malloc(alloc), *b = malloc(alloc), *c = malloc(alloc);
    int ok = a && b && c;
    if (ok) { /* fault the pages in before timing: the call's buffers are warm too */
        memset(a, 1, alloc);
        memset(b, 2, alloc);
        memset(c, 3, alloc);
    }
    struct roof_part parts[64];
    size_t part_bytes = per * es;
    int reps = (int)(ROOF_MIN_BYTES_MOVED / part_bytes);
    reps = reps < 3 ? 3 : reps > ROOF_MAX_REPS ? ROOF_MAX_REPS : reps;
    for (int t = 0; t < threads; t++) {
        size_t lo = (size_t)t * per < elems ? (size_t)t * per : elems;
        size_t n = elems - lo < per ? elems - lo : per;
        parts[t] = (struct roof_part){.a = a + lo * es, .b = b + lo * es, .c = c + lo * es, .bytes = n * es,
                                      .elems = n, .dt = dt, .reps = reps};
    }
    int32_t all_ok = ok, sum = 0;
    double moved = (double)elems * (double)es * reps, secs[2] = {0, 0};
    /* Every rank copies at once, then every rank reduces at once. */
    for (int k = 0; k <= reduce; k++) {
        if (haloAllReduce(&all_ok, &sum, 1, haloInt32, haloMin, comm, NULL) != haloSuccess || !sum)
            break;
        secs[k] = roof_pass(parts, threads, k);
    }
    free(a), free(b), free(c);
    if (!sum)
        return -1;
    rates[0] = 2.0 * moved / secs[0];
    rates[1] = reduce ? 3.0 * moved / secs[1] : 0;
    return 0;
}

int perf_roof_measure(haloComm_t comm, size_t bytes, int threads, haloDataType_t dt, struct perf_roof *out)
{
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    size_t fifo = (size_t)threads * PERF_ROOF_FIFO_BYTES;
    double big[2], small[2];
    if (roof_rates(comm, bytes, threads, dt, 0, big) != 0 ||
        roof_rates(comm, bytes < fifo ? bytes : fifo, threads, dt, 1, small) != 0) {
        fprintf(stderr, "--roofline: could not allocate or synchronise 3 x %zu bytes for the measurement\n", bytes);
        return -1;
    }
    out->threads = threads;
    out->copy_GBps = big[0] / 1e9;
    out->fifo_GBps = small[0] / 1e9;
    out->reduce_GBps = small[1] / 1e9;
    return 0;
}
