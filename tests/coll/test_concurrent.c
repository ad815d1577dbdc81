/* SPDX-License-Identifier: MIT */
/*
 * test_concurrent.c — two threads of one rank calling operations on one
 * communicator at the same time. The second gets haloInvalidUsage with a
 * sentence at once (its frames would otherwise interleave with the first one's
 * and both would deliver wrong results with success), and the first completes
 * correctly. Two ranks; rank 1 joins rank 0's all-reduce only after 600 ms, so
 * rank 0's worker thread is inside it while the main thread tries:
 *   - an all-reduce, a broadcast, a send: each refused, naming both calls;
 *   - a group (haloSend inside haloGroupStart/End): the group end reports it;
 *   - read-only queries and haloCommGetAsyncError: allowed.
 * Afterwards the communicator is unharmed: one more all-reduce from the main
 * thread, checked element by element on both ranks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mp.h"
#include "test.h"

#define N 4099

struct worker {
    haloComm_t comm;
    float *buf;
    haloResult_t r;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    w->r = haloAllReduce(w->buf, w->buf, N, haloFloat32, haloSum, w->comm, NULL);
    return NULL;
}

static void fill(float *b, int rank, int salt)
{
    for (int i = 0; i < N; i++)
        b[i] = (float)((i * 3 + rank * 7 + salt) % 13);
}

static void check_sum(const float *b, int nranks, int salt, const char *what)
{
    for (int i = 0; i < N; i++) {
        float want = 0;
        for (int r = 0; r < nranks; r++)
            want += (float)((i * 3 + r * 7 + salt) % 13);
        if (b[i] != want)
            TEST_FAIL("%s: element %d is %g, expected %g", what, i, b[i], want);
    }
}

static void expect_refused(haloResult_t r, haloComm_t comm, const char *fn)
{
    if (r != haloInvalidUsage)
        TEST_FAIL("%s from a second thread returned %d, expected haloInvalidUsage (%d)", fn, r, haloInvalidUsage);
    const char *msg = haloGetLastError(comm);
    ASSERT_CONTAINS(msg, fn);
    ASSERT_CONTAINS(msg, "haloAllReduce");
    ASSERT_CONTAINS(msg, "one operation at a time");
}

static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    haloComm_t comm = NULL;
    ASSERT_OK(haloCommInitRank(&comm, n, id, rank));
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    fill(a, rank, 1);
    if (rank == 1) {
        usleep(600000);
        ASSERT_OK(haloAllReduce(a, a, N, haloFloat32, haloSum, comm, NULL));
        check_sum(a, n, 1, "rank 1: the first all-reduce");
    } else {
        struct worker w = {comm, a, haloInternalError};
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, worker_main, &w), 0);
        usleep(150000); /* the worker is inside its all-reduce, waiting for rank 1 */
        expect_refused(haloAllReduce(b, b, N, haloFloat32, haloSum, comm, NULL), comm, "haloAllReduce");
        expect_refused(haloBroadcast(b, b, N, haloFloat32, 0, comm, NULL), comm, "haloBroadcast");
        expect_refused(haloSend(b, N, haloFloat32, 1, comm, NULL), comm, "haloSend");
        ASSERT_OK(haloGroupStart());
        haloSend(b, N, haloFloat32, 1, comm, NULL);
        expect_refused(haloGroupEnd(), comm, "haloSend");
        int count = 0;
        haloResult_t async = haloInternalError;
        ASSERT_OK(haloCommCount(comm, &count));
        ASSERT_EQ(count, n);
        ASSERT_OK(haloCommGetAsyncError(comm, &async));
        ASSERT_EQ(async, haloSuccess);
        pthread_join(th, NULL);
        ASSERT_OK(w.r);
        check_sum(a, n, 1, "rank 0: the worker's all-reduce");
    }
    fill(b, rank, 2); /* the communicator still works, from another thread now */
    ASSERT_OK(haloAllReduce(b, b, N, haloFloat32, haloSum, comm, NULL));
    check_sum(b, n, 2, "the all-reduce after the refusals");
    ASSERT_OK(haloCommDestroy(comm));
    free(a);
    free(b);
    printf("rank %d: concurrent calls refused, the communicator intact\n", rank);
    return 0;
}

int main(void)
{
    ASSERT_EQ(mp_run(2, rank_main, NULL, 120), 0);
    return 0;
}
