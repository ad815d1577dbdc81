/* SPDX-License-Identifier: MIT */
/*
 * test_abort.c — haloCommAbort from a second thread while the communicator is in
 * use, looped: `test_abort ITERATIONS [SEED [MODE]]`, two ranks, the transport
 * from HALO_TRANSPORT; MODE (a name below) runs only that case.
 *
 * The two ranks share a world communicator for the whole run. Each iteration
 * splits a fresh communicator off it; rank 0 blocks in a call on it that rank 1
 * never joins, and a second thread of rank 0 aborts it after a random 0-20 ms.
 * Rank 0's call must return an error within OP_BOUND_US of the abort (not crash,
 * not hang), haloCommAbort must return within ABORT_BOUND_US, and rank 1 must see
 * haloRemoteError within PEER_BOUND_US of the abort. What rank 0 blocks in varies
 * per iteration (the same pseudo-random sequence on both ranks):
 *   small    an all-reduce (one channel)
 *   group    the same inside haloGroupStart/End
 *   large    a 2 MiB all-reduce (both channels: a worker thread is inside too)
 *   warm     one all-reduce both ranks complete, then the blocked one
 *   double   two threads abort at once: exactly one succeeds
 *   split    haloCommSplit of the communicator (blocked in its bootstrap
 *            all-gather)
 *   race     nothing in flight: abort and destroy race; exactly one succeeds
 *   destroy  haloCommDestroy from a second thread while the all-reduce blocks
 *            (it waits for the call), then haloCommAbort from a third (it ends
 *            the call; the destroy frees): at least one succeeds
 * After an abort the handle must be rejected (haloCommCount fails).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mp.h"
#include "test.h"

#define OP_BOUND_US 2000000     /* abort called -> the blocked call returned */
#define ABORT_BOUND_US 3000000  /* haloCommAbort's own duration */
#define PEER_BOUND_US 2000000   /* abort called -> rank 1 sees haloRemoteError */
#define SMALL_COUNT 1000
#define LARGE_COUNT (512 * 1024) /* floats: 2 MiB, above the 1 MiB multi-channel threshold */

enum mode { M_SMALL, M_GROUP, M_LARGE, M_WARM, M_DOUBLE, M_SPLIT, M_RACE, M_DESTROY, M_NUM };
static const char *mode_name[M_NUM] = {"small", "group", "large", "warm", "double", "split", "race", "destroy"};

/* Shared between the two rank processes (MAP_SHARED before the fork). */
struct shared {
    _Atomic int64_t abort_at_us; /* when rank 0 called haloCommAbort, this iteration */
    _Atomic int64_t max_peer_us;
    _Atomic int call_done_iter; /* rank 0's blocked call of this iteration returned */
};

struct stats {
    int n[M_NUM];
    int by_result[haloNumResults]; /* of the blocked calls */
    int race_won[2];               /* abort, destroy */
    int destroy_ok[2];             /* destroy mode: destroy waited and freed; abort came first */
    int64_t max_op_us, max_abort_us;
};

struct args {
    int iterations;
    unsigned seed;
    int only; /* a mode, or -1: all */
    struct shared *sh;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* ---- the aborting thread ---- */

struct aborter {
    haloComm_t comm;
    int delay_us;
    struct shared *sh;
    pthread_barrier_t *go; /* NULL: start after delay_us; else all start together */
    int destroy;           /* call haloCommDestroy instead of haloCommAbort */
    pthread_t thread;
    haloResult_t result;
    int64_t start_us, took_us;
};

static void *aborter_main(void *arg)
{
    struct aborter *a = arg;
    if (a->go)
        pthread_barrier_wait(a->go);
    else
        usleep((useconds_t)a->delay_us);
    a->start_us = now_us();
    if (!a->destroy)
        atomic_store(&a->sh->abort_at_us, a->start_us);
    a->result = a->destroy ? haloCommDestroy(a->comm) : haloCommAbort(a->comm);
    a->took_us = now_us() - a->start_us;
    return NULL;
}

static void aborter_start(struct aborter *a, haloComm_t comm, int delay_us, int destroy, struct shared *sh)
{
    memset(a, 0, sizeof(*a));
    a->comm = comm;
    a->delay_us = delay_us;
    a->destroy = destroy;
    a->sh = sh;
    if (pthread_create(&a->thread, NULL, aborter_main, a) != 0)
        TEST_FAIL("pthread_create");
}

/* ---- rank 0: block, get aborted ---- */

static haloResult_t rank0_block(haloComm_t c, enum mode m, float *buf)
{
    haloComm_t sub = NULL;
    haloResult_t r;
    switch (m) {
    case M_GROUP:
        haloGroupStart();
        r = haloAllReduce(buf, buf, SMALL_COUNT, haloFloat32, haloSum, c, NULL);
        haloResult_t e = haloGroupEnd();
        return r != haloSuccess ? r : e;
    case M_LARGE:
        return haloAllReduce(buf, buf, LARGE_COUNT, haloFloat32, haloSum, c, NULL);
    case M_SPLIT:
        r = haloCommSplit(c, 0, 0, &sub, NULL);
        if (r == haloSuccess)
            TEST_FAIL("haloCommSplit succeeded although rank 1 never joined it");
        return r;
    default:
        return haloAllReduce(buf, buf, SMALL_COUNT, haloFloat32, haloSum, c, NULL);
    }
}

static void check_result_kind(haloResult_t r, const char *what)
{
    /* haloRemoteError: the call was running and the abort ended it; InvalidUsage:
     * it started while the abort was tearing the communicator down; InvalidArgument:
     * after, when the handle is no longer live. */
    if (r != haloRemoteError && r != haloInvalidUsage && r != haloInvalidArgument)
        TEST_FAIL("%s returned %d (%s): expected an error naming the abort", what, r, haloGetErrorString(r));
}

static void check_after_abort(haloComm_t c)
{
    int n = 0;
    ASSERT_EQ(haloCommCount(c, &n), haloInvalidArgument);
    ASSERT_EQ(haloCommAbort(c), haloInvalidArgument);   /* twice: a clear error */
    ASSERT_EQ(haloCommDestroy(c), haloInvalidArgument); /* after abort: the same */
}

/* flip: which thread starts first (the last to reach the barrier tends to win). */
static void rank0_race(haloComm_t c, int flip, struct shared *sh, struct stats *st)
{
    pthread_barrier_t go;
    struct aborter a[2];
    pthread_barrier_init(&go, NULL, 2);
    for (int k = 0; k < 2; k++) {
        int i = k ^ flip;
        a[i] = (struct aborter){.comm = c, .sh = sh, .go = &go, .destroy = i};
        if (pthread_create(&a[i].thread, NULL, aborter_main, &a[i]) != 0)
            TEST_FAIL("pthread_create");
    }
    for (int i = 0; i < 2; i++)
        pthread_join(a[i].thread, NULL);
    pthread_barrier_destroy(&go);
    int ok = (a[0].result == haloSuccess) + (a[1].result == haloSuccess);
    if (ok != 1)
        TEST_FAIL("abort racing destroy: abort %d, destroy %d: expected exactly one success", a[0].result,
                  a[1].result);
    for (int i = 0; i < 2; i++)
        if (a[i].result != haloSuccess)
            check_result_kind(a[i].result, i ? "the losing haloCommDestroy" : "the losing haloCommAbort");
    st->race_won[a[0].result == haloSuccess ? 0 : 1]++;
    check_after_abort(c);
}

/* Destroy waits for the blocked call; the abort after it ends the call. Both may
 * succeed; if the destroy came before the call entered, it freed at once and the
 * abort finds nothing. */
static void rank0_destroy_busy(haloComm_t c, int delay_us, int it, struct shared *sh, struct stats *st,
                               float *buf)
{
    struct aborter a[2];
    aborter_start(&a[0], c, 1000 + delay_us / 4, 1, sh);
    aborter_start(&a[1], c, 1000 + delay_us / 2, 0, sh);
    int64_t t0 = now_us();
    haloResult_t r = rank0_block(c, M_SMALL, buf);
    int64_t t1 = now_us();
    atomic_store(&sh->call_done_iter, it);
    pthread_join(a[0].thread, NULL);
    pthread_join(a[1].thread, NULL);
    check_result_kind(r, "the call a destroy waited for");
    st->by_result[r]++;
    if (t1 - t0 > 1000 + delay_us / 2 + OP_BOUND_US)
        TEST_FAIL("destroy: the blocked call returned %.1f ms after it started", (t1 - t0) / 1e3);
    if (a[0].result != haloSuccess)
        check_result_kind(a[0].result, "haloCommDestroy while a call runs (the abort came first)");
    if (a[1].result != haloSuccess)
        check_result_kind(a[1].result, "haloCommAbort after haloCommDestroy");
    if (a[0].result != haloSuccess && a[1].result != haloSuccess)
        TEST_FAIL("destroy: neither haloCommDestroy (%d) nor haloCommAbort (%d) succeeded", a[0].result, a[1].result);
    st->destroy_ok[a[0].result == haloSuccess ? 0 : 1]++;
    for (int i = 0; i < 2; i++)
        if (a[i].took_us > ABORT_BOUND_US + (i == 0 ? delay_us / 2 : 0))
            TEST_FAIL("%s took %.1f ms", i ? "haloCommAbort" : "haloCommDestroy", a[i].took_us / 1e3);
    check_after_abort(c);
}

static void rank0_iteration(haloComm_t c, enum mode m, int delay_us, int it, struct shared *sh, struct stats *st,
                            float *buf)
{
    struct aborter a[2];
    int naborters = m == M_DOUBLE ? 2 : 1;
    for (int i = 0; i < naborters; i++)
        aborter_start(&a[i], c, delay_us, 0, sh);
    int64_t t0 = now_us();
    haloResult_t r = rank0_block(c, m, buf);
    int64_t t1 = now_us();
    atomic_store(&sh->call_done_iter, it);
    for (int i = 0; i < naborters; i++)
        pthread_join(a[i].thread, NULL);
    check_result_kind(r, mode_name[m]);
    st->by_result[r]++;
    int64_t from = a[0].start_us > t0 ? a[0].start_us : t0;
    if (t1 - from > OP_BOUND_US)
        TEST_FAIL("%s: the blocked call returned %.1f ms after the abort (bound %d ms)", mode_name[m],
                  (t1 - from) / 1e3, OP_BOUND_US / 1000);
    if (t1 - from > st->max_op_us)
        st->max_op_us = t1 - from;
    int ok = 0;
    for (int i = 0; i < naborters; i++) {
        if (a[i].took_us > ABORT_BOUND_US)
            TEST_FAIL("haloCommAbort took %.1f ms (bound %d ms)", a[i].took_us / 1e3, ABORT_BOUND_US / 1000);
        if (a[i].took_us > st->max_abort_us)
            st->max_abort_us = a[i].took_us;
        if (a[i].result == haloSuccess)
            ok++;
        else
            check_result_kind(a[i].result, "the second haloCommAbort");
    }
    if (ok != 1)
        TEST_FAIL("%s: %d of %d haloCommAbort calls succeeded: expected exactly one", mode_name[m], ok, naborters);
    check_after_abort(c);
}

/* ---- rank 1: never joins; must see the abort ---- */

/* maybe: rank 0 may end without an abort (mode destroy): stop waiting once its
 * call returned. */
static void rank1_wait_abort(haloComm_t c, int it, int maybe, struct shared *sh, float *buf)
{
    haloResult_t ae = haloSuccess;
    int64_t start = now_us();
    while (ae == haloSuccess && now_us() - start < 10 * PEER_BOUND_US) {
        if (haloCommGetAsyncError(c, &ae) != haloSuccess)
            TEST_FAIL("haloCommGetAsyncError: %s", haloGetLastError(c));
        if (ae == haloSuccess && maybe && atomic_load(&sh->call_done_iter) == it)
            return;
        if (ae == haloSuccess)
            usleep(200);
    }
    int64_t seen = now_us(), at = atomic_load(&sh->abort_at_us);
    if (ae != haloRemoteError)
        TEST_FAIL("rank 1: async error %d (%s) after %.1f ms, expected haloRemoteError", ae,
                  haloGetErrorString(ae), (seen - start) / 1e3);
    if (!maybe && seen - at > PEER_BOUND_US)
        TEST_FAIL("rank 1 saw the abort %.1f ms after it was called (bound %d ms)", (seen - at) / 1e3,
                  PEER_BOUND_US / 1000);
    if (!maybe && seen - at > atomic_load(&sh->max_peer_us))
        atomic_store(&sh->max_peer_us, seen - at);
    ASSERT_EQ(haloAllReduce(buf, buf, SMALL_COUNT, haloFloat32, haloSum, c, NULL), haloRemoteError);
}

static int world_sync(haloComm_t world, int it)
{
    int32_t v[2] = {it, it};
    MP_CHECKC(haloAllReduce(v, v, 2, haloInt32, haloMax, world, NULL), world);
    if (v[0] != it)
        TEST_FAIL("ranks out of step: iteration %d vs %d", it, v[0]);
    return 0;
}

static int rank_main(int rank, int nranks, haloUniqueId id, void *arg)
{
    struct args *ar = arg;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.nChannels = 2;
    haloComm_t world;
    MP_CHECK(haloCommInitRankConfig(&world, nranks, id, rank, &cfg));
    float *buf = calloc(LARGE_COUNT, sizeof(float));
    struct stats st = {0};
    unsigned s = ar->seed;
    for (int it = 0; it < ar->iterations; it++) {
        enum mode m = (enum mode)(next_rand(&s) % M_NUM);
        int delay_us = (int)(next_rand(&s) % 20001);
        if (ar->only >= 0)
            m = (enum mode)ar->only;
        st.n[m]++;
        haloComm_t c;
        MP_CHECKC(haloCommSplit(world, 0, rank, &c, NULL), world);
        if (m == M_WARM)
            MP_CHECKC(haloAllReduce(buf, buf, SMALL_COUNT, haloFloat32, haloSum, c, NULL), c);
        if (m == M_RACE) { /* nothing in flight; rank 1 leaves first (no root linger) */
            if (rank == 1)
                MP_CHECKC(haloCommDestroy(c), c);
            if (world_sync(world, it))
                return 1;
            if (rank == 0)
                rank0_race(c, delay_us & 1, ar->sh, &st);
        } else if (rank == 0 && m == M_DESTROY) {
            rank0_destroy_busy(c, delay_us, it, ar->sh, &st, buf);
        } else if (rank == 0) {
            rank0_iteration(c, m, delay_us, it, ar->sh, &st, buf);
        } else {
            rank1_wait_abort(c, it, m == M_DESTROY, ar->sh, buf);
            MP_CHECKC(haloCommDestroy(c), c);
        }
        if (world_sync(world, it))
            return 1;
    }
    if (rank == 0) {
        printf("%d iterations:", ar->iterations);
        for (int m = 0; m < M_NUM; m++)
            printf(" %s %d", mode_name[m], st.n[m]);
        printf("\nblocked call returned: remote error %d, invalid usage %d, invalid argument %d\n",
               st.by_result[haloRemoteError], st.by_result[haloInvalidUsage], st.by_result[haloInvalidArgument]);
        printf("abort racing destroy: abort won %d, destroy won %d\n", st.race_won[0], st.race_won[1]);
        printf("destroy while busy: destroy waited and freed %d, the abort came first %d\n", st.destroy_ok[0],
               st.destroy_ok[1]);
        printf("max: call returned %.2f ms after the abort; haloCommAbort took %.2f ms; ", st.max_op_us / 1e3,
               st.max_abort_us / 1e3);
        fflush(stdout); /* the harness ends ranks with _exit */
    }
    MP_CHECKC(haloCommDestroy(world), world);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {.iterations = argc > 1 ? atoi(argv[1]) : 50,
                     .seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : (unsigned)time(NULL)};
    a.only = -1;
    for (int m = 0; argc > 3 && m < M_NUM; m++)
        if (strcmp(argv[3], mode_name[m]) == 0)
            a.only = m;
    if (argc > 3 && a.only < 0)
        TEST_FAIL("unknown mode %s", argv[3]);
    a.sh = mmap(NULL, sizeof(*a.sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a.sh == MAP_FAILED)
        TEST_FAIL("mmap");
    a.sh->call_done_iter = -1;
    printf("test_abort: %d iterations, seed %u, transport %s\n", a.iterations, a.seed,
           getenv("HALO_TRANSPORT") ? getenv("HALO_TRANSPORT") : "auto");
    int r = mp_run(2, rank_main, &a, 60 + a.iterations);
    if (r == 0)
        printf("rank 1 saw the abort %.2f ms after it was called\n", atomic_load(&a.sh->max_peer_us) / 1e3);
    return r;
}
