/* SPDX-License-Identifier: MIT */
/*
 * test_auto_algo.c — the one-host thresholds of HALO_ALGO=auto on communicators
 * built by hand (no ranks): two-shot up to 1 MiB where ranks outnumber cores (3
 * ranks or more), up to 256 KiB from 4 ranks over shm where each has cores of its
 * own, never over loopback tcp with cores enough, on 2 ranks or across hosts; both
 * ways round the ring over loopback tcp from 3 ranks above 1 MiB. The machines
 * the suite runs on decide `crowded` one way only, so both ways are set here.
 * Also the zero-copy variant of HALO_ALGO=ring_bidir over ib (no ib needed to
 * choose it): ring_bidir_zc on 3+ ranks with an even channel count, the one-way
 * zero-copy ring on 2, the slots where a block is short of HALO_IB_ZCOPY_MIN, the
 * ring's neighbours are not all ib, or one channel is all the communicator has;
 * and the zero-copy variants of the daisy chain (chain_zc) and of two-shot
 * (two_shot_zc). Then the send/recv plan the perf tools' --model prices: the links a
 * message crosses as the relay forwards it, and how it travels. Last, the choice a
 * communicator keeps per collective for its last size (comm->choice): the same as
 * pricing afresh for every call of a sequence whose plans differ, reused for a
 * repeated size, and not for the same bytes sent in another wire format.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "api_pick.h"
#include "wire.h"
#include "comm.h"
#include "test.h"
#include "topo_cost.h"

static struct halo_peer peers[8];

/* A communicator of n ranks on one host, this rank 0, its peers on transport kind. */
static void one_host(struct halo_comm *comm, int n, int kind, int crowded)
{
    memset(comm, 0, sizeof(*comm));
    memset(peers, 0, sizeof(peers));
    comm->nranks = n;
    comm->rank = 0;
    comm->crowded = crowded;
    comm->peers = peers;
    peers[0].kind = HALO_TR_SELF;
    for (int p = 1; p < n; p++)
        peers[p].kind = kind;
}

static void test_two_shot(void)
{
    struct halo_comm c;
    one_host(&c, 3, HALO_TR_SHM, 1);
    ASSERT_EQ(api_two_shot_max(&c), 1 << 20);
    one_host(&c, 8, HALO_TR_TCP, 1);
    ASSERT_EQ(api_two_shot_max(&c), 1 << 20);
    one_host(&c, 4, HALO_TR_SHM, 1); /* crowded, 4 ranks or more over shm: every size */
    ASSERT_EQ(api_two_shot_max(&c), INT64_MAX);
    ASSERT_EQ(api_allreduce_algo(&c, (size_t)256 << 20), HALO_ALGO_TWO_SHOT);
    one_host(&c, 8, HALO_TR_SHM, 1);
    ASSERT_EQ(api_two_shot_max(&c), INT64_MAX);
    one_host(&c, 3, HALO_TR_SHM, 1); /* 3 ranks: the ring above 1 MiB */
    ASSERT_EQ(api_allreduce_algo(&c, (size_t)4 << 20), HALO_ALGO_RING);
    one_host(&c, 4, HALO_TR_SHM, 0);
    ASSERT_EQ(api_two_shot_max(&c), 256 << 10);
    one_host(&c, 8, HALO_TR_SHM, 0);
    ASSERT_EQ(api_two_shot_max(&c), 256 << 10);
    one_host(&c, 3, HALO_TR_SHM, 0); /* not measured with cores enough: the ring */
    ASSERT_EQ(api_two_shot_max(&c), -1);
    one_host(&c, 4, HALO_TR_TCP, 0);
    ASSERT_EQ(api_two_shot_max(&c), -1);
    one_host(&c, 2, HALO_TR_SHM, 1); /* two ranks: one-shot, then the ring */
    ASSERT_EQ(api_two_shot_max(&c), -1);
    one_host(&c, 4, HALO_TR_SHM, 0);
    c.topo = (struct topo_graph *)&c; /* several hosts: the cost model decides */
    ASSERT_EQ(api_two_shot_max(&c), -1);
}

static void test_bidir(void)
{
    struct halo_comm c;
    one_host(&c, 3, HALO_TR_TCP, 0);
    ASSERT_EQ(api_bidir_min(&c), 1 << 20);
    one_host(&c, 3, HALO_TR_SHM, 1);
    ASSERT_EQ(api_bidir_min(&c), -1);
    one_host(&c, 2, HALO_TR_TCP, 0);
    ASSERT_EQ(api_bidir_min(&c), -1);
}

#define ZC_RING 1  /* the ring's neighbours over ib */
#define ZC_CHAIN 2 /* the chain's */
#define ZC_ALL 4   /* every peer */

/* api_choose's pick for collective coll of count floats under HALO_ALGO=algo on a
 * communicator of n ranks with nch channels, zc the ZC_ bits of what is over ib. */
static struct halo_op forced_op(const char *algo, enum halo_coll coll, int n, int nch, int zc, size_t count)
{
    static struct halo_comm c;
    char err[256];
    one_host(&c, n, HALO_TR_IB, 0);
    setenv("HALO_ALGO", algo, 1);
    ASSERT_OK(halo_params_load(&c.params, err, sizeof(err))); /* its strings point into the environment */
    c.nchannels = nch;
    c.zc_ring = (zc & ZC_RING) != 0;
    c.zc_chain = (zc & ZC_CHAIN) != 0;
    c.zc_all = (zc & ZC_ALL) != 0;
    c.zc_min = 512 << 10;
    struct halo_op op = {.coll = coll, .count = count, .dtype = haloFloat32, .op = haloSum,
                         .root = coll == HALO_COLL_BROADCAST || coll == HALO_COLL_REDUCE ? 1 : -1, .comm = &c};
    api_choose(&c, &op);
    unsetenv("HALO_ALGO");
    return op;
}

/* An all-reduce under HALO_ALGO=ring_bidir. */
static struct halo_op bidir_op(int n, int nch, int zc, size_t count)
{
    return forced_op("ring_bidir", HALO_COLL_ALLREDUCE, n, nch, zc ? ZC_RING : 0, count);
}

static void test_bidir_zero_copy(void)
{
    size_t big = 4u << 20; /* 16 MiB: blocks of 2.7 MiB on 2 channels of 3 ranks */
    struct halo_op op = bidir_op(3, 2, 1, big);
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR_ZC);
    ASSERT_EQ(op.nchannels, 2);
    op = bidir_op(4, 3, 1, big); /* an odd count: the even one below it */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR_ZC);
    ASSERT_EQ(op.nchannels, 2);
    op = bidir_op(3, 4, 1, big);
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR_ZC);
    ASSERT_EQ(op.nchannels, 4);
    op = bidir_op(3, 2, 1, 192u << 10); /* 768 KiB: one channel by size, two for zero-copy, 128 KiB blocks */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR);
    op = bidir_op(3, 2, 1, 1u << 20); /* 4 MiB on 2 channels: blocks of 683 KiB */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR_ZC);
    ASSERT_EQ(op.nchannels, 2);
    op = bidir_op(3, 1, 1, big); /* HALO_NCHANNELS=1: both ways in one channel, through the slots */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR);
    ASSERT_EQ(op.nchannels, 1);
    op = bidir_op(3, 2, 0, big); /* a neighbour not over ib */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_BIDIR);
    op = bidir_op(2, 2, 1, big); /* two ranks: the one-way ring, zero-copy */
    ASSERT_EQ(op.algo, HALO_ALGO_RING_ZC);
}

/* HALO_ALGO=chain over ib: chain_zc for every collective (the all-reduce where a
 * half of the channel's range reaches the threshold); the slots for short blocks
 * and a neighbour not over ib; on two ranks the collectives but the all-reduce
 * are the one-way ring's. The ring's reduce goes zero-copy too. */
static void test_chain_zero_copy(void)
{
    size_t big = 4u << 20, mid = 192u << 10; /* 16 MiB; 768 KiB, halves of 384 KiB */
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLREDUCE, 3, 1, ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLREDUCE, 5, 2, ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLREDUCE, 3, 1, ZC_CHAIN, mid).algo, HALO_ALGO_CHAIN);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLGATHER, 3, 1, ZC_CHAIN, mid).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_BROADCAST, 4, 1, ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_REDUCESCATTER, 3, 1, ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_REDUCESCATTER, 3, 1, ZC_CHAIN, 100000).algo, HALO_ALGO_CHAIN);
    ASSERT_EQ(forced_op("chain", HALO_COLL_REDUCE, 3, 1, ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_REDUCE, 2, 1, ZC_RING | ZC_CHAIN, big).algo, HALO_ALGO_RING_ZC);
    ASSERT_EQ(forced_op("ring", HALO_COLL_REDUCE, 3, 1, ZC_RING, big).algo, HALO_ALGO_RING_ZC);
    ASSERT_EQ(forced_op("ring", HALO_COLL_REDUCE, 3, 1, ZC_CHAIN, big).algo, HALO_ALGO_RING);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLREDUCE, 3, 1, ZC_RING, big).algo, HALO_ALGO_CHAIN);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLGATHER, 2, 1, ZC_RING | ZC_CHAIN, big).algo, HALO_ALGO_RING_ZC);
    ASSERT_EQ(forced_op("chain", HALO_COLL_ALLREDUCE, 2, 1, ZC_RING | ZC_CHAIN, big).algo, HALO_ALGO_CHAIN_ZC);
    ASSERT_EQ(forced_op("ring", HALO_COLL_ALLREDUCE, 3, 1, ZC_CHAIN, big).algo, HALO_ALGO_RING); /* not a ring */
}

/* HALO_ALGO=two_shot: two_shot_zc where every peer is over ib and the blocks
 * (1/n of a channel's range) reach the threshold. */
static void test_two_shot_zero_copy(void)
{
    size_t big = 4u << 20, mid = 1u << 18; /* 16 MiB; 1 MiB, blocks of 256 KiB on 4 ranks */
    ASSERT_EQ(forced_op("two_shot", HALO_COLL_ALLREDUCE, 4, 1, ZC_ALL, big).algo, HALO_ALGO_TWO_SHOT_ZC);
    ASSERT_EQ(forced_op("two_shot", HALO_COLL_ALLREDUCE, 3, 2, ZC_ALL | ZC_RING, big).algo, HALO_ALGO_TWO_SHOT_ZC);
    ASSERT_EQ(forced_op("two_shot", HALO_COLL_ALLREDUCE, 4, 1, ZC_ALL, mid).algo, HALO_ALGO_TWO_SHOT);
    ASSERT_EQ(forced_op("two_shot", HALO_COLL_ALLREDUCE, 4, 1, ZC_RING | ZC_CHAIN, big).algo, HALO_ALGO_TWO_SHOT);
}

/* api_p2p_hops: along the rank order (0 2 1 3 here), the distance on a chain, the
 * shorter way on a ring, 1 where hosts are all linked or on one host. api_plan_p2p:
 * relayed (p2p_fwd) past one link; zero-copy from HALO_IB_ZCOPY_MIN where the
 * connection has it, in one frame; the slots otherwise; later over more links. */
static void test_p2p_plan(void)
{
    static struct halo_comm c;
    static struct halo_conn conn[4];
    static struct halo_conn *conns[4];
    int order[4] = {0, 2, 1, 3};
    struct api_plan p, one;

    one_host(&c, 4, HALO_TR_IB, 0);
    ASSERT_EQ(api_p2p_hops(&c, 3, 0), 1);
    c.topo = (struct topo_graph *)&c;
    c.ring = order;
    c.topo_class = TOPO_CLASS_CHAIN;
    ASSERT_EQ(api_p2p_hops(&c, 0, 3), 3);
    ASSERT_EQ(api_p2p_hops(&c, 3, 0), 3);
    ASSERT_EQ(api_p2p_hops(&c, 0, 1), 2);
    ASSERT_EQ(api_p2p_hops(&c, 1, 2), 1);
    ASSERT_EQ(api_p2p_hops(&c, 3, 1), 1);
    c.topo_class = TOPO_CLASS_RING;
    ASSERT_EQ(api_p2p_hops(&c, 0, 3), 1); /* over the closing cable */
    ASSERT_EQ(api_p2p_hops(&c, 0, 1), 2);
    c.topo_all_direct = 1;
    ASSERT_EQ(api_p2p_hops(&c, 0, 1), 1);
    c.topo_all_direct = 0;

    for (int i = 0; i < 4; i++) {
        conns[i] = &conn[i];
        conn[i].slot_size = 256u << 10;
        conn[i].zc_max = 8u << 20;
    }
    c.conns = conns;
    c.zc_min = 512u << 10;
    c.slot_size_tcp = 512u << 10;
    topo_cost_model_init(&c.cost, TOPO_CLASS_RING, 4);
    api_plan_p2p(&c, 3, 1, 4u << 20, &one);
    ASSERT_EQ(one.algo, HALO_ALGO_P2P_ZC);
    ASSERT_EQ(one.slice, 8u << 20);
    ASSERT_TRUE(one.modelled && one.time_s > 0);
    api_plan_p2p(&c, 3, 1, 256u << 10, &p); /* under HALO_IB_ZCOPY_MIN */
    ASSERT_EQ(p.algo, HALO_ALGO_P2P);
    ASSERT_EQ(p.slice, 256u << 10);
    conn[3].zc_max = 0; /* a connection without zero-copy */
    api_plan_p2p(&c, 3, 1, 4u << 20, &p);
    ASSERT_EQ(p.algo, HALO_ALGO_P2P);
    ASSERT_TRUE(p.time_s > 0);
    api_plan_p2p(&c, 1, 2, 4u << 20, &p);
    ASSERT_EQ(p.algo, HALO_ALGO_P2P_FWD);
    ASSERT_EQ(p.slice, 512u << 10);
    ASSERT_TRUE(p.time_s > one.time_s);
    api_plan_p2p(&c, 3, 1, 0, &p);
    ASSERT_TRUE(p.modelled && p.time_s == 0);
}

/* Four hosts on a ring under HALO_ALGO=auto: the cost model plans every call. */
static void ring_hosts(struct halo_comm *comm)
{
    char err[256];
    one_host(comm, 4, HALO_TR_TCP, 0);
    ASSERT_OK(halo_params_load(&comm->params, err, sizeof(err)));
    comm->topo = (struct topo_graph *)comm;
    comm->topo_class = TOPO_CLASS_RING;
    comm->nchannels = 4;
    comm->nchannels_auto = 1;
    comm->rail_channels = 1;
    topo_cost_model_init(&comm->cost, TOPO_CLASS_RING, 4);
}

struct choice_case {
    enum halo_coll coll;
    haloDataType_t dtype;
    size_t count;
};

static void test_choice_kept(void)
{
    static struct halo_comm c, fresh;
    /* sizes whose plans differ (algorithm, channels, slice), revisited out of order;
     * int32 and float32 of one size under a wire format: the same bytes, not the same
     * bytes on the wire */
    static const struct choice_case seq[] = {
        {HALO_COLL_ALLREDUCE, haloFloat32, 512},      {HALO_COLL_ALLREDUCE, haloFloat32, 1u << 22},
        {HALO_COLL_ALLREDUCE, haloFloat32, 512},      {HALO_COLL_ALLREDUCE, haloFloat32, 512},
        {HALO_COLL_ALLGATHER, haloFloat32, 1u << 18}, {HALO_COLL_ALLREDUCE, haloFloat32, 1u << 14},
        {HALO_COLL_ALLREDUCE, haloInt32, 1u << 14},   {HALO_COLL_ALLREDUCE, haloFloat32, 1u << 14},
        {HALO_COLL_ALLGATHER, haloFloat32, 64},       {HALO_COLL_ALLGATHER, haloFloat32, 1u << 18},
        {HALO_COLL_BROADCAST, haloFloat32, 1u << 20}, {HALO_COLL_ALLREDUCE, haloFloat32, 1u << 22},
    };
    unsigned algos = 0, slices = 0;

    ring_hosts(&c);
    c.wire = HALO_WIRE_BF16; /* float32 all-reduces travel at half their bytes */
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        struct halo_op op = {.coll = seq[i].coll, .count = seq[i].count, .dtype = seq[i].dtype, .op = haloSum,
                             .root = seq[i].coll == HALO_COLL_BROADCAST ? 0 : -1, .comm = &c};
        struct halo_op want = op;
        fresh = c;
        memset(fresh.choice, 0xa5, sizeof(fresh.choice)); /* garbage, never read */
        want.comm = &fresh;
        api_choose_afresh(&fresh, &want);
        ASSERT_EQ(fresh.choice[op.coll].bytes, (size_t)0xa5a5a5a5a5a5a5a5); /* nor written */
        api_choose(&c, &op);
        if (op.algo != want.algo || op.nchannels != want.nchannels || op.slice != want.slice || op.wire != want.wire)
            TEST_FAIL("call %zu (%zu x %d): %s/%d ch/slice %zu/wire %d kept against %s/%d/%zu/%d priced", i,
                      seq[i].count, (int)seq[i].dtype, op.algo_name, op.nchannels, op.slice, op.wire,
                      want.algo_name, want.nchannels, want.slice, want.wire);
        algos |= 1u << op.algo;
        slices |= 1u << (op.slice ? __builtin_ctzll(op.slice) % 32 : 0);
    }
    ASSERT_TRUE(__builtin_popcount(algos) >= 2); /* the sequence crosses plans */
    ASSERT_TRUE(__builtin_popcount(slices) >= 2);

    /* A repeated size takes what was kept (marked here by hand); another size, or the
     * same bytes in another wire format, is priced again. */
    struct halo_op op = {.coll = HALO_COLL_ALLREDUCE, .count = 1u << 22, .dtype = haloFloat32, .op = haloSum,
                         .root = -1, .comm = &c};
    api_choose(&c, &op);
    ASSERT_EQ(c.choice[HALO_COLL_ALLREDUCE].bytes, (size_t)4 << 22);
    ASSERT_EQ(c.choice[HALO_COLL_ALLREDUCE].wire_bytes, (size_t)2 << 22);
    c.choice[HALO_COLL_ALLREDUCE].slice = 12345;
    api_choose(&c, &op);
    ASSERT_EQ(op.slice, 12345u);
    op.dtype = haloInt32; /* same bytes, sent exact */
    api_choose(&c, &op);
    ASSERT_TRUE(op.slice != 12345u);
    ASSERT_EQ(c.choice[HALO_COLL_ALLREDUCE].wire_bytes, (size_t)4 << 22);
    c.choice[HALO_COLL_ALLREDUCE].slice = 12345;
    op.count = 1u << 21;
    api_choose(&c, &op);
    ASSERT_TRUE(op.slice != 12345u);
    ASSERT_EQ(c.choice[HALO_COLL_ALLGATHER].bytes, (size_t)4 * 4 << 18); /* other collectives keep their own */
}

int main(void)
{
    test_two_shot();
    test_bidir();
    test_bidir_zero_copy();
    test_chain_zero_copy();
    test_two_shot_zero_copy();
    test_p2p_plan();
    test_choice_kept();
    printf("test_auto_algo: ok\n");
    return 0;
}
