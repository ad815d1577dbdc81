/* SPDX-License-Identifier: MIT */
/*
 * test_resources.c — nothing leaks across communicators: 200 cycles of init, two
 * buffer registrations (haloCommRegister: one dropped with haloCommDeregister, one
 * left for destroy to release), an all-reduce (checked) from haloMemAlloc memory
 * and destroy of a 2-rank job whose ranks are threads of this process (which also serves the bootstrap root), then 50 inits that fail
 * (the second rank never comes; HALO_TIMEOUT_MS=100). Before and after, the
 * process's file descriptors (sockets and listeners included), its threads and
 * its mappings of haloccl-* shared-memory segments must be the same (the
 * segments are unlinked once mapped: a mapping is what would hold one), and its
 * resident memory may grow by at most 32 MiB (not checked under ASan, whose
 * quarantine keeps freed memory).
 *
 * Usage: test_resources [CYCLES [FAILED_INITS]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "haloccl.h"
#include "proc_self.h"
#include "test.h"

#define N 1024

struct rank_arg {
    haloUniqueId id;
    int rank, nranks, expect_fail;
    unsigned cycle;
    haloResult_t r;
    char err[256];
};

static void *rank_main(void *p)
{
    struct rank_arg *a = p;
    haloComm_t comm = NULL;
    a->r = haloCommInitRank(&comm, a->nranks, a->id, a->rank);
    if (a->r != haloSuccess) {
        snprintf(a->err, sizeof(a->err), "%s", haloGetLastError(NULL));
        return NULL;
    }
    float *x = NULL, y[64];
    void *hx = NULL, *hy = NULL;
    if (haloMemAlloc((void **)&x, N * sizeof(float)) != haloSuccess || !x) {
        a->r = haloSystemError;
        snprintf(a->err, sizeof(a->err), "haloMemAlloc: %s", haloGetLastError(NULL));
        haloCommDestroy(comm);
        return NULL;
    }
    /* y is deregistered here, x only by destroy */
    a->r = haloCommRegister(comm, x, N * sizeof(float), &hx);
    if (a->r == haloSuccess)
        a->r = haloCommRegister(comm, y, sizeof(y), &hy);
    if (a->r == haloSuccess)
        a->r = haloCommDeregister(comm, hy);
    for (int i = 0; i < N; i++)
        x[i] = (float)((i + a->rank * 3 + (int)a->cycle) % 9);
    if (a->r == haloSuccess)
        a->r = haloAllReduce(x, x, N, haloFloat32, haloSum, comm, NULL);
    for (int i = 0; a->r == haloSuccess && i < N; i++) {
        float want = 0;
        for (int r = 0; r < a->nranks; r++)
            want += (float)((i + r * 3 + (int)a->cycle) % 9);
        if (x[i] != want) {
            a->r = haloInternalError;
            snprintf(a->err, sizeof(a->err), "cycle %u: element %d is %g, expected %g", a->cycle, i, x[i], want);
        }
    }
    if (a->r != haloSuccess && !a->err[0])
        snprintf(a->err, sizeof(a->err), "%s", haloGetLastError(comm));
    haloCommDestroy(comm);
    haloMemFree(x);
    return NULL;
}

/* One job of `nranks` ranks of which `present` come. */
static void job(unsigned cycle, int nranks, int present, int expect_fail)
{
    haloUniqueId id;
    struct rank_arg args[2];
    pthread_t th[2];
    ASSERT_OK(haloGetUniqueId(&id));
    for (int r = 0; r < present; r++) {
        args[r] = (struct rank_arg){.id = id, .rank = r, .nranks = nranks, .cycle = cycle};
        ASSERT_EQ(pthread_create(&th[r], NULL, rank_main, &args[r]), 0);
    }
    for (int r = 0; r < present; r++) {
        pthread_join(th[r], NULL);
        if (expect_fail && args[r].r == haloSuccess)
            TEST_FAIL("cycle %u: an init without its peer succeeded", cycle);
        if (!expect_fail && args[r].r != haloSuccess)
            TEST_FAIL("cycle %u rank %d: %s", cycle, r, args[r].err);
    }
}

static void report(const char *when, struct proc_self c)
{
    printf("%-28s fds %d, threads %d, haloccl shm mappings %d, rss %ld KiB\n", when, c.fds, c.threads, c.shm_maps,
           c.rss_kib);
}

int main(int argc, char **argv)
{
    unsigned cycles = argc > 1 ? (unsigned)atoi(argv[1]) : 200, failed = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
    setenv("HALO_GPU_RUNTIME", "none", 1);
    job(0, 2, 2, 0); /* first-use state (logging, tables) is not a leak */
    usleep(100000);
    struct proc_self before = proc_self_read();
    report("after one job", before);
    for (unsigned c = 1; c <= cycles; c++)
        job(c, 2, 2, 0);
    usleep(300000); /* the roots' threads end once their ranks left */
    struct proc_self mid = proc_self_read();
    report("after the good jobs", mid);
    setenv("HALO_TIMEOUT_MS", "100", 1);
    for (unsigned c = 0; c < failed; c++)
        job(c, 2, 1, 1);
    unsetenv("HALO_TIMEOUT_MS");
    usleep(300000);
    struct proc_self after = proc_self_read();
    report("after the failed inits", after);
    ASSERT_EQ(mid.fds, before.fds);
    ASSERT_EQ(mid.threads, before.threads);
    ASSERT_EQ(mid.shm_maps, before.shm_maps);
    ASSERT_EQ(after.fds, before.fds);
    ASSERT_EQ(after.threads, before.threads);
    ASSERT_EQ(after.shm_maps, before.shm_maps);
#ifndef __SANITIZE_ADDRESS__ /* ASan keeps freed memory in quarantine: its RSS grows by design */
    ASSERT_TRUE(after.rss_kib - before.rss_kib < 32 * 1024);
#endif
    printf("%u jobs and %u failed inits: no descriptor, thread or segment left; rss +%ld KiB\n", cycles, failed,
           after.rss_kib - before.rss_kib);
    return 0;
}
