/* SPDX-License-Identifier: MIT */
/*
 * cold.c — --cold SIZE (see cold.h): the working set, the per-call clock, and the
 * time of each call from the last rank's arrival.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cold.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PERF_COLD_LINE 64 /* one read and one write per cache line */

struct perf_cold {
    unsigned char *set; /* the working set, bytes long */
    size_t bytes;
    int cap;            /* calls recorded at most */
    double *enter;      /* [cap] this rank's entry into call i (us) */
    double *leave;      /* [cap] its exit */
    volatile unsigned sink; /* keeps the reads of the touch */
};

static double perf_cold_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

/* A counting barrier: the last rank to arrive resets the count and opens the
 * round that the others spin on. */
struct perf_cold_meet {
    _Atomic unsigned arrived;
    _Atomic unsigned round;
};

#define PERF_COLD_MEET_GIVE_UP_US 60e6

struct perf_cold_meet *perf_cold_meet_create(void)
{
    void *m = mmap(NULL, sizeof(struct perf_cold_meet), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return m == MAP_FAILED ? NULL : m; /* zero-filled: no rank arrived, round 0 */
}

int perf_cold_meet(struct perf_cold_meet *m, int nranks)
{
    unsigned round = atomic_load(&m->round);
    double since = 0;

    if (atomic_fetch_add(&m->arrived, 1) + 1 == (unsigned)nranks) {
        atomic_store(&m->arrived, 0);
        atomic_fetch_add(&m->round, 1);
        return 0;
    }
    for (unsigned spin = 1; atomic_load(&m->round) == round; spin++) {
        if (spin % 1024)
            continue;
        sched_yield(); /* more ranks than cores: let the others finish their touch */
        double now = perf_cold_now_us();
        if (since == 0)
            since = now;
        else if (now - since > PERF_COLD_MEET_GIVE_UP_US)
            return -1;
    }
    return 0;
}

struct perf_cold *perf_cold_create(size_t bytes, int iters)
{
    struct perf_cold *cd = calloc(1, sizeof(*cd));

    if (!cd)
        return NULL;
    cd->bytes = bytes;
    cd->cap = iters;
    cd->enter = calloc((size_t)iters, sizeof(double));
    cd->leave = calloc((size_t)iters, sizeof(double));
    if (bytes && posix_memalign((void **)&cd->set, 4096, bytes))
        cd->set = NULL;
    if (!cd->enter || !cd->leave || (bytes && !cd->set)) {
        perf_cold_destroy(cd);
        return NULL;
    }
    if (bytes)
        memset(cd->set, 1, bytes); /* the pages exist before the first timed call */
    return cd;
}

void perf_cold_destroy(struct perf_cold *cd)
{
    if (!cd)
        return;
    free(cd->set);
    free(cd->enter);
    free(cd->leave);
    free(cd);
}

void perf_cold_touch(struct perf_cold *cd)
{
    unsigned acc = 0;

    for (size_t i = 0; i < cd->bytes; i += PERF_COLD_LINE) {
        acc += cd->set[i];
        cd->set[i] = (unsigned char)(acc + 1);
    }
    cd->sink += acc;
}

void perf_cold_enter(struct perf_cold *cd, int i)
{
    if (i < cd->cap)
        cd->enter[i] = perf_cold_now_us();
}

void perf_cold_leave(struct perf_cold *cd, int i)
{
    if (i < cd->cap)
        cd->leave[i] = perf_cold_now_us();
}

static int perf_cold_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1 when every rank reads the same CLOCK_MONOTONIC (one host), as tp_transformer
 * decides it; 0 otherwise; -1 with *r set when the all-gather failed. */
static int perf_cold_same_clock(haloComm_t comm, int nranks, haloResult_t *r)
{
    int64_t mine = (int64_t)gethostid(), *all = calloc((size_t)nranks, sizeof(int64_t));
    int same = 1;

    *r = all ? haloAllGather(&mine, all, 1, haloInt64, comm, NULL) : haloSystemError;
    for (int q = 0; *r == haloSuccess && q < nranks; q++)
        same &= all[q] == mine;
    free(all);
    return *r == haloSuccess ? same : -1;
}

haloResult_t perf_cold_result(struct perf_cold *cd, haloComm_t comm, int iters, double *mean_us, double *median_us,
                              int *from_last)
{
    int nranks = 0, n = iters < cd->cap ? iters : cd->cap;
    double *all = NULL, *each = calloc((size_t)(n > 0 ? n : 1), sizeof(double)), sum = 0, out[2];
    haloResult_t r;

    haloCommCount(comm, &nranks);
    *from_last = perf_cold_same_clock(comm, nranks, &r);
    if (r == haloSuccess && *from_last)
        all = calloc((size_t)nranks * (size_t)(n > 0 ? n : 1), sizeof(double));
    if (r == haloSuccess && (!each || (*from_last && !all)))
        r = haloSystemError;
    /* every rank takes the same branch: same_clock came from one all-gather */
    if (r == haloSuccess && *from_last && n > 0)
        r = haloAllGather(cd->enter, all, (size_t)n, haloFloat64, comm, NULL);
    for (int i = 0; r == haloSuccess && i < n; i++) {
        double last = cd->enter[i];
        for (int q = 0; *from_last && q < nranks; q++)
            last = all[(size_t)q * (size_t)n + (size_t)i] > last ? all[(size_t)q * (size_t)n + (size_t)i] : last;
        each[i] = cd->leave[i] - last;
        sum += each[i];
    }
    if (r == haloSuccess) {
        qsort(each, (size_t)n, sizeof(double), perf_cold_cmp);
        out[0] = n ? sum / n : 0;
        out[1] = n == 0 ? 0 : n % 2 ? each[n / 2] : 0.5 * (each[n / 2 - 1] + each[n / 2]);
        r = haloAllReduce(out, out, 2, haloFloat64, haloMax, comm, NULL);
    }
    if (r == haloSuccess) {
        *mean_us = out[0];
        *median_us = out[1];
    }
    free(all);
    free(each);
    return r;
}
