/* SPDX-License-Identifier: MIT */
/*
 * test_p2p.c — sends, receives and groups on N ranks: every rank exchanges with
 * every other rank in one group (messages far larger than the FIFOs, so a
 * blocking implementation would deadlock), sends to itself, posts several messages
 * to one peer that must match in order; then haloCommSplit into even/odd groups
 * with reversed keys and an allreduce inside each new communicator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "test.h"

#define BIG (3u << 20) /* elements of int32: 12 MiB per message */

static int32_t val(int from, int to, size_t i, int msg)
{
    return (int32_t)(from * 1000003 + to * 7919 + (int)i * 31 + msg * 101);
}

static int exchange_all(haloComm_t comm, int rank, int n)
{
    int32_t **sb = calloc((size_t)n, sizeof(*sb)), **rb = calloc((size_t)n, sizeof(*rb));
    size_t cnt = n <= 4 ? BIG : BIG / 4;
    for (int p = 0; p < n; p++) {
        sb[p] = malloc(cnt * 4);
        rb[p] = malloc(cnt * 4);
        for (size_t i = 0; i < cnt; i++)
            sb[p][i] = val(rank, p, i, 0);
    }
    MP_CHECKC(haloGroupStart(), comm);
    for (int p = 0; p < n; p++) {
        MP_CHECKC(haloSend(sb[p], cnt, haloInt32, p, comm, NULL), comm);
        MP_CHECKC(haloRecv(rb[p], cnt, haloInt32, p, comm, NULL), comm);
    }
    MP_CHECKC(haloGroupEnd(), comm);
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < cnt; i++)
            if (rb[p][i] != val(p, rank, i, 0))
                TEST_FAIL("rank %d: message from %d index %zu: %d != %d", rank, p, i, rb[p][i], val(p, rank, i, 0));
    for (int p = 0; p < n; p++) {
        free(sb[p]);
        free(rb[p]);
    }
    free(sb);
    free(rb);
    return 0;
}

/* Three messages of different sizes to the next rank, received in order. */
static int ordered(haloComm_t comm, int rank, int n)
{
    int next = (rank + 1) % n, prev = (rank - 1 + n) % n;
    size_t sizes[3] = {1, 70000, 5};
    int32_t *s[3], *r[3];
    MP_CHECKC(haloGroupStart(), comm);
    for (int m = 0; m < 3; m++) {
        s[m] = malloc(sizes[m] * 4);
        r[m] = malloc(sizes[m] * 4);
        for (size_t i = 0; i < sizes[m]; i++)
            s[m][i] = val(rank, next, i, m);
        MP_CHECKC(haloSend(s[m], sizes[m], haloInt32, next, comm, NULL), comm);
    }
    for (int m = 0; m < 3; m++)
        MP_CHECKC(haloRecv(r[m], sizes[m], haloInt32, prev, comm, NULL), comm);
    MP_CHECKC(haloGroupEnd(), comm);
    for (int m = 0; m < 3; m++) {
        for (size_t i = 0; i < sizes[m]; i++)
            ASSERT_EQ(r[m][i], val(prev, rank, i, m));
        free(s[m]);
        free(r[m]);
    }
    return 0;
}

static int split_check(haloComm_t comm, int rank, int n)
{
    haloComm_t sub;
    MP_CHECKC(haloCommSplit(comm, rank % 2, -rank, &sub, NULL), comm);
    int sr, sn, expect_n = (n + 1 - rank % 2) / 2;
    MP_CHECKC(haloCommUserRank(sub, &sr), sub);
    MP_CHECKC(haloCommCount(sub, &sn), sub);
    ASSERT_EQ(sn, expect_n);
    /* keys are -rank: the highest old rank of the color becomes new rank 0 */
    int higher = 0;
    for (int q = rank + 2; q < n; q += 2)
        higher++;
    ASSERT_EQ(sr, higher);
    int64_t x = rank, sum = 0;
    MP_CHECKC(haloAllReduce(&x, &sum, 1, haloInt64, haloSum, sub, NULL), sub);
    int64_t want = 0;
    for (int q = rank % 2; q < n; q += 2)
        want += q;
    ASSERT_EQ(sum, want);
    haloComm_t none = (haloComm_t)&sum;
    MP_CHECKC(haloCommSplit(comm, rank == 0 ? HALO_SPLIT_NOCOLOR : 1, 0, &none, NULL), comm);
    if (rank == 0)
        ASSERT_TRUE(none == NULL);
    else
        MP_CHECKC(haloCommDestroy(none), NULL);
    MP_CHECKC(haloCommDestroy(sub), NULL);
    return 0;
}

static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    if (exchange_all(comm, rank, n) || ordered(comm, rank, n) || split_check(comm, rank, n))
        return 1;
    MP_CHECKC(haloCommDestroy(comm), NULL);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    ASSERT_EQ(mp_run(n, rank_main, NULL, 280), 0);
    printf("test_p2p: %d ranks ok\n", n);
    return 0;
}
