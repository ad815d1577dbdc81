/* SPDX-License-Identifier: MIT */
/*
 * test_wait_cpu.c — a rank that waits long for a late peer sleeps instead of
 * burning its core. Rank 1 holds back HOLD_MS before each call; rank 0 measures its
 * process's CPU time over the call, which must stay under a third of the call's
 * wall time (it waited at least 0.8 x HOLD_MS). Three waits: a lone haloRecv (the
 * point-to-point loop), a send/recv group both ways, and an all-reduce (the
 * collectives' wait). Every received element is checked, and the same calls run
 * again with the peers on time. Over HALO_TRANSPORT (the ctest runs shm and tcp).
 */
#include <string.h>
#include <time.h>

#include "mp.h"

#define HOLD_MS 800
#define COUNT 4099

enum wait_kind { WAIT_RECV, WAIT_GROUP, WAIT_ALLREDUCE, WAIT_KINDS };
static const char *const kind_name[WAIT_KINDS] = {"haloRecv", "send/recv group", "haloAllReduce"};

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float value(int rank, int call, size_t i)
{
    return (float)(rank * 100000 + call * 1000 + (int)(i % 997));
}

/* One call of kind k by rank (the other is 1 - rank); 0 when its data is right. */
static int wait_call(haloComm_t comm, int rank, enum wait_kind k, int call, float *x, float *y)
{
    int peer = 1 - rank;
    for (size_t i = 0; i < COUNT; i++) {
        x[i] = value(rank, call, i);
        y[i] = -1;
    }
    haloResult_t r = haloSuccess;
    if (k == WAIT_RECV) {
        r = rank == 1 ? haloSend(x, COUNT, haloFloat32, peer, comm, NULL)
                      : haloRecv(y, COUNT, haloFloat32, peer, comm, NULL);
    } else if (k == WAIT_GROUP) {
        haloGroupStart();
        haloSend(x, COUNT, haloFloat32, peer, comm, NULL);
        haloRecv(y, COUNT, haloFloat32, peer, comm, NULL);
        r = haloGroupEnd();
    } else {
        r = haloAllReduce(x, y, COUNT, haloFloat32, haloSum, comm, NULL);
    }
    if (r != haloSuccess) {
        fprintf(stderr, "rank %d: %s: %s\n", rank, kind_name[k], haloGetLastError(comm));
        return 1;
    }
    if (k == WAIT_RECV && rank == 1)
        return 0;
    for (size_t i = 0; i < COUNT; i++) {
        float want = k == WAIT_ALLREDUCE ? value(0, call, i) + value(1, call, i) : value(peer, call, i);
        if (y[i] != want) {
            fprintf(stderr, "rank %d: %s #%d: y[%zu] = %g, expected %g\n", rank, kind_name[k], call, i, y[i], want);
            return 1;
        }
    }
    return 0;
}

static int wait_rank(int rank, int nranks, haloUniqueId id, void *arg)
{
    (void)arg;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, nranks, id, rank));
    float *x = malloc(COUNT * sizeof(float)), *y = malloc(COUNT * sizeof(float));
    int bad = !x || !y;
    for (int k = 0; !bad && k < WAIT_KINDS; k++) {
        /* a call with the peer on time first: the connection is set up and warm */
        bad = wait_call(comm, rank, (enum wait_kind)k, 2 * k, x, y);
        if (bad)
            break;
        if (rank == 1) {
            struct timespec hold = {HOLD_MS / 1000, (long)(HOLD_MS % 1000) * 1000000L};
            nanosleep(&hold, NULL);
        }
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        bad = wait_call(comm, rank, (enum wait_kind)k, 2 * k + 1, x, y);
        double wall = now_s(CLOCK_MONOTONIC) - w0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (bad || rank != 0)
            continue;
        printf("%s waiting for a late peer: %.0f ms, %.0f ms of CPU (%.0f%%)\n", kind_name[k], wall * 1e3, cpu * 1e3,
               100 * cpu / wall);
        fflush(stdout); /* the rank ends in _exit */
        if (wall < 0.8 * HOLD_MS / 1e3) {
            fprintf(stderr, "rank 0: the %s returned after %.0f ms: it did not wait for rank 1's %d ms\n",
                    kind_name[k], wall * 1e3, HOLD_MS);
            bad = 1;
        } else if (cpu > wall / 3) {
            fprintf(stderr, "rank 0: the %s used %.0f ms of CPU in %.0f ms of waiting: it polled instead of "
                    "sleeping\n", kind_name[k], cpu * 1e3, wall * 1e3);
            bad = 1;
        }
    }
    free(x);
    free(y);
    if (bad)
        return 1;
    MP_CHECKC(haloCommDestroy(comm), comm);
    return 0;
}

int main(void)
{
    unsetenv("HALO_SPIN");       /* "spin" never sleeps */
    unsetenv("HALO_WAIT_SPIN_US"); /* 0 never sleeps */
    int rc = mp_run(2, wait_rank, NULL, 120);
    printf("%s\n", rc == 0 ? "ok" : "FAILED");
    return rc;
}
