/* SPDX-License-Identifier: MIT */
/*
 * test_stream_out.c — when a call writes its results with streaming stores
 * (engine_exec_init's stream_out, HALO_STREAM_STORE_MIN): out of place once every
 * local rank's input and output reach the threshold; a reduction in place never
 * (its output was just read as input); a broadcast or all-gather in place by its
 * output alone; never with the threshold at 0 or without an output. Reductions and
 * copies have thresholds of their own, and auto sets them from the last-level cache
 * and the cores per rank (comm_stream_thresholds).
 */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "engine.h"
#include "test.h"

#define MIB ((size_t)1 << 20)

/* stream_out of one call: COUNT float32 per rank, NRANKS ranks of which NLOCAL on
 * this host, thresholds MIN (copies) and RMIN (reductions) bytes; in place when
 * IN_PLACE. */
static int streams2(enum halo_coll coll, size_t count, int nranks, int nlocal, int64_t min, int64_t rmin,
                    int in_place)
{
    static char a, b;
    struct halo_comm *comm = calloc(1, sizeof(*comm));
    ASSERT_TRUE(comm != NULL);
    comm->nranks = nranks;
    comm->nlocal = nlocal;
    comm->stream_min = min;
    comm->stream_min_reduce = rmin;
    struct halo_op op = {.coll = coll, .sendbuf = &a, .recvbuf = in_place ? (void *)&a : (void *)&b,
                         .count = count, .dtype = haloFloat32, .op = haloSum, .root = -1, .comm = comm};
    struct halo_exec ex = {.comm = comm, .op = &op};
    engine_exec_init(&ex);
    free(comm);
    return ex.stream_out;
}

/* One threshold for all, as HALO_STREAM_STORE_MIN=MIN sets it. */
static int streams(enum halo_coll coll, size_t count, int nranks, int nlocal, int64_t min, int in_place)
{
    return streams2(coll, count, nranks, nlocal, min, min, in_place);
}

static void test_out_of_place(void)
{
    size_t m4 = MIB; /* 4 MiB of float32 */
    /* all-reduce: input + output per rank, times the local ranks */
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m4, 2, 2, 16 * MIB, 0), 1);     /* 2 x 8 MiB */
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m4, 2, 2, 17 * MIB, 0), 0);
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m4, 4, 1, 8 * MIB, 0), 1);      /* one local rank */
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m4, 4, 1, 9 * MIB, 0), 0);
    /* all-gather: the output is nranks blocks; reduce-scatter: the input is */
    ASSERT_EQ(streams(HALO_COLL_ALLGATHER, m4, 4, 4, 80 * MIB, 0), 1);     /* 4 x (4 + 16) */
    ASSERT_EQ(streams(HALO_COLL_ALLGATHER, m4, 4, 4, 81 * MIB, 0), 0);
    ASSERT_EQ(streams(HALO_COLL_REDUCESCATTER, m4, 4, 4, 80 * MIB, 0), 1);
    ASSERT_EQ(streams(HALO_COLL_REDUCESCATTER, m4, 4, 4, 81 * MIB, 0), 0);
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m4, 2, 2, 0, 0), 0);            /* HALO_STREAM_STORE_MIN=0 */
}

static void test_in_place(void)
{
    size_t m64 = 16 * MIB; /* 64 MiB of float32, far above the threshold */
    ASSERT_EQ(streams(HALO_COLL_ALLREDUCE, m64, 2, 2, MIB, 1), 0);
    ASSERT_EQ(streams(HALO_COLL_REDUCE, m64, 2, 2, MIB, 1), 0);
    ASSERT_EQ(streams(HALO_COLL_REDUCESCATTER, m64, 2, 2, MIB, 1), 0);
    /* broadcast and all-gather in place: the output alone counts */
    ASSERT_EQ(streams(HALO_COLL_BROADCAST, MIB, 2, 2, 8 * MIB, 1), 1);     /* 2 x 4 MiB */
    ASSERT_EQ(streams(HALO_COLL_BROADCAST, MIB, 2, 2, 9 * MIB, 1), 0);
    ASSERT_EQ(streams(HALO_COLL_ALLGATHER, MIB, 2, 2, 16 * MIB, 1), 1);    /* 2 x 2 x 4 MiB */
    ASSERT_EQ(streams(HALO_COLL_ALLGATHER, MIB, 2, 2, 17 * MIB, 1), 0);
}

/* Reductions by their own threshold, copies by the other; what auto makes of the
 * cache size and the cores per rank; a set value applies to both. */
static void test_thresholds(void)
{
    size_t m4 = MIB; /* 4 MiB of float32: 16 MiB of all-reduce buffers over 2 local ranks */
    ASSERT_EQ(streams2(HALO_COLL_ALLREDUCE, m4, 2, 2, 64 * MIB, 16 * MIB, 0), 1);
    ASSERT_EQ(streams2(HALO_COLL_ALLREDUCE, m4, 2, 2, 16 * MIB, 17 * MIB, 0), 0);
    ASSERT_EQ(streams2(HALO_COLL_REDUCE, m4, 2, 2, 16 * MIB, 0, 0), 0);
    ASSERT_EQ(streams2(HALO_COLL_REDUCESCATTER, m4, 2, 2, 0, 24 * MIB, 0), 1); /* 2 x (8 + 4) */
    ASSERT_EQ(streams2(HALO_COLL_REDUCESCATTER, m4, 2, 2, 1, 25 * MIB, 0), 0);
    ASSERT_EQ(streams2(HALO_COLL_ALLGATHER, m4, 2, 2, 24 * MIB, 0, 0), 1);     /* 2 x (4 + 8) */
    ASSERT_EQ(streams2(HALO_COLL_ALLGATHER, m4, 2, 2, 25 * MIB, 1, 0), 0);
    ASSERT_EQ(streams2(HALO_COLL_BROADCAST, m4, 2, 2, 16 * MIB, 0, 0), 1);

    struct halo_comm c;
    memset(&c, 0, sizeof(c));
    comm_stream_thresholds(&c, HALO_AUTO, 300 * MIB, 8); /* cores to spare */
    ASSERT_EQ(c.stream_min, (int64_t)(300 * MIB));
    ASSERT_EQ(c.stream_min_reduce, (int64_t)(75 * MIB));
    comm_stream_thresholds(&c, HALO_AUTO, 32 * MIB, 2);
    ASSERT_EQ(c.stream_min_reduce, (int64_t)(8 * MIB));
    comm_stream_thresholds(&c, HALO_AUTO, 32 * MIB, 1); /* one core per rank: reductions never */
    ASSERT_EQ(c.stream_min, (int64_t)(32 * MIB));
    ASSERT_EQ(c.stream_min_reduce, 0);
    comm_stream_thresholds(&c, HALO_AUTO, 32 * MIB, 0); /* crowded */
    ASSERT_EQ(c.stream_min_reduce, 0);
    comm_stream_thresholds(&c, (int64_t)(16 * MIB), 300 * MIB, 1); /* set by hand: both, whatever the cores */
    ASSERT_EQ(c.stream_min, (int64_t)(16 * MIB));
    ASSERT_EQ(c.stream_min_reduce, (int64_t)(16 * MIB));
    comm_stream_thresholds(&c, 0, 300 * MIB, 8);
    ASSERT_EQ(c.stream_min, 0);
    ASSERT_EQ(c.stream_min_reduce, 0);
}

int main(void)
{
    test_out_of_place();
    test_in_place();
    test_thresholds();
    printf("test_stream_out: ok\n");
    return 0;
}
