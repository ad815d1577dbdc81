/* SPDX-License-Identifier: MIT */
/*
 * test_chain_links.c — the chain schedules use only the cables of a daisy chain.
 *
 * N local ranks (argv[1], default 4) run every collective with HALO_ALGO=chain,
 * small and large (the large ones use every channel when HALO_NCHANNELS > 1), and
 * check the results. Then each rank reads the engine's per-connection frame
 * counters: ranks at positions p and p+1 of comm->ring must have exchanged frames
 * on every channel, any other pair — above all the ends, positions 0 and n-1, which
 * a chain does not join — none. As a control, a communicator split off with
 * HALO_ALGO=ring must show traffic between the ends, so the counters do see it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mp.h"
#include "test.h"

#define BIG (600 * 1024) /* int32 elements: 2.4 MiB, above the multi-channel threshold */

static int pos_of(const struct halo_comm *comm, int rank)
{
    for (int i = 0; i < comm->nranks; i++)
        if (comm->ring[i] == rank)
            return i;
    return -1;
}

static int check(int ok, int rank, const char *what, size_t i)
{
    if (!ok)
        fprintf(stderr, "rank %d: %s wrong at index %zu\n", rank, what, i);
    return ok;
}

/* Every collective once at `count` elements; values are exact in int32. */
static int run_all(haloComm_t comm, int rank, int n, size_t count, int32_t *a, int32_t *b)
{
    int root = (int)(count % (size_t)n);
    for (size_t i = 0; i < count * (size_t)n; i++)
        a[i] = (int32_t)(rank * 7 + (int)(i % 1009));
    MP_CHECKC(haloAllReduce(a, b, count, haloInt32, haloSum, comm, NULL), comm);
    for (size_t i = 0; i < count; i++)
        if (!check(b[i] == (int32_t)(7 * n * (n - 1) / 2 + n * (int)(i % 1009)), rank, "allreduce", i))
            return 1;
    MP_CHECKC(haloReduce(a, b, count, haloInt32, haloMax, root, comm, NULL), comm);
    for (size_t i = 0; rank == root && i < count; i++)
        if (!check(b[i] == (int32_t)((n - 1) * 7 + (int)(i % 1009)), rank, "reduce", i))
            return 1;
    MP_CHECKC(haloReduceScatter(a, b, count, haloInt32, haloSum, comm, NULL), comm);
    for (size_t i = 0; i < count; i++)
        if (!check(b[i] == (int32_t)(7 * n * (n - 1) / 2 + n * (int)((rank * count + i) % 1009)), rank,
                   "reducescatter", i))
            return 1;
    MP_CHECKC(haloAllGather(a, b, count, haloInt32, comm, NULL), comm);
    for (size_t i = 0; i < count * (size_t)n; i++)
        if (!check(b[i] == (int32_t)((int)(i / count) * 7 + (int)(i % count % 1009)), rank, "allgather", i))
            return 1;
    MP_CHECKC(haloBroadcast(a, b, count, haloInt32, root, comm, NULL), comm);
    for (size_t i = 0; i < count; i++)
        if (!check(b[i] == (int32_t)(root * 7 + (int)(i % 1009)), rank, "broadcast", i))
            return 1;
    return 0;
}

/* Frames on every connection of every channel: neighbours > 0, others 0. */
static int check_links(struct halo_comm *comm)
{
    int me = pos_of(comm, comm->rank);
    for (int ch = 0; ch < comm->nchannels; ch++)
        for (int peer = 0; peer < comm->nranks; peer++) {
            if (peer == comm->rank)
                continue;
            uint64_t f = engine_conn_frames(comm, ch, peer);
            int dist = abs(pos_of(comm, peer) - me);
            if ((dist == 1) != (f > 0)) {
                fprintf(stderr, "rank %d (position %d): %llu frames with rank %d (position %d) on channel %d\n",
                        comm->rank, me, (unsigned long long)f, peer, pos_of(comm, peer), ch);
                return 1;
            }
        }
    return 0;
}

/* Control: the one-way ring does use the link between the ends. */
static int check_ring_control(haloComm_t comm, int rank, int n, int32_t *a, int32_t *b)
{
    haloComm_t ring;
    setenv("HALO_ALGO", "ring", 1);
    MP_CHECKC(haloCommSplit(comm, 0, rank, &ring, NULL), comm);
    MP_CHECKC(haloAllReduce(a, b, 4096, haloInt32, haloSum, ring, NULL), ring);
    int me = pos_of(ring, ring->rank), end = me == 0 ? ring->ring[n - 1] : me == n - 1 ? ring->ring[0] : -1;
    if (end >= 0 && engine_conn_frames(ring, 0, end) == 0) {
        fprintf(stderr, "rank %d: the ring control shows no frames between the ends\n", rank);
        return 1;
    }
    MP_CHECKC(haloCommDestroy(ring), NULL);
    return 0;
}

static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    haloComm_t comm;
    int32_t *a = malloc(BIG * sizeof(int32_t) * (size_t)n), *b = malloc(BIG * sizeof(int32_t) * (size_t)n);
    if (!a || !b)
        return 1;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    size_t counts[] = {1, (size_t)n + 1, 1000, BIG};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
        if (run_all(comm, rank, n, counts[k], a, b))
            return 1;
    if (check_links(comm) || (n > 2 && check_ring_control(comm, rank, n, a, b)))
        return 1;
    MP_CHECKC(haloCommDestroy(comm), NULL);
    free(a);
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    ASSERT_TRUE(n >= 2 && n <= 16);
    setenv("HALO_ALGO", "chain", 1);
    ASSERT_EQ(mp_run(n, rank_main, NULL, 120), 0);
    printf("test_chain_links: %d ranks: chain collectives used only neighbour links\n", n);
    return 0;
}
