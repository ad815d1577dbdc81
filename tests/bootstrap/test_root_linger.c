/* SPDX-License-Identifier: MIT */
/*
 * test_root_linger.c — the process that serves the bootstrap root (rank 0 under
 * haloCommInitEnv) may finish first: its haloCommDestroy waits (bounded) until the
 * ranks of other processes have left, so a rank still busy after rank 0 is done
 * does not see the root vanish and take it for an abort.
 *
 * Rank 0 and rank 1 are two processes joined through HALO_ROOT. Both all-reduce;
 * rank 0 then destroys and exits, rank 1 works 700 ms more (as a slower rank
 * finishing its last collective would) and then asks for the communicator's
 * asynchronous error, which polls the bootstrap: it must still be haloSuccess.
 * Rank 0's destroy must have waited for rank 1 to leave.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "haloccl.h"
#include "mp.h"
#include "test.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int rank_main(int rank, int port)
{
    haloComm_t comm;

    mp_env_rank(rank, 2, port, "root-linger-test", "tcp");
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "rank %d: init: %s\n", rank, haloGetLastError(NULL));
        return 2;
    }
    if (mp_sum_check(comm, rank, 2, 1024, 0))
        return 3;
    if (rank == 1) { /* still busy after rank 0 is done; then the bootstrap is polled */
        usleep(700000);
        haloResult_t ae = haloSuccess;
        if (haloCommGetAsyncError(comm, &ae) != haloSuccess || ae != haloSuccess) {
            fprintf(stderr, "rank 1: after rank 0 finished: async error %d: %s\n", (int)ae, haloGetLastError(comm));
            return 5;
        }
    }
    double t0 = now_s();
    haloCommDestroy(comm);
    if (rank == 0 && now_s() - t0 < 0.5) {
        fprintf(stderr, "rank 0: destroy returned after %.3f s: it did not wait for rank 1\n", now_s() - t0);
        return 6;
    }
    return 0;
}

int main(void)
{
    int port = 20000 + (int)(getpid() % 20000);
    pid_t pid[2];
    for (int r = 0; r < 2; r++) {
        fflush(NULL);
        pid[r] = fork();
        ASSERT_TRUE(pid[r] >= 0);
        if (pid[r] == 0)
            _exit(rank_main(r, port));
    }
    int failed = 0;
    for (int r = 0; r < 2; r++) {
        int st;
        ASSERT_EQ(waitpid(pid[r], &st, 0), pid[r]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "rank %d exited with %d\n", r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            failed = 1;
        }
    }
    ASSERT_EQ(failed, 0);
    printf("test_root_linger: rank 0 finished first and waited for rank 1 to leave the root\n");
    return 0;
}
