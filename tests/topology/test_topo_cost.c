/* SPDX-License-Identifier: MIT */
/*
 * test_topo_cost.c — the alpha-beta model: closed-form values, the sizes where the
 * choice flips (computed from the formulas in cost.c, not read off the code), bounds
 * at large sizes, validity per class, channels and slices, the model of a graph;
 * the point-to-point message's pipeline over its hops.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "test.h"
#include "topo.h"
#include "topo_cost.h"
#include "topo_fake.h"

#define ASSERT_NEAR(a, b, rel)                                                          \
    do {                                                                                \
        double _a = (a), _b = (b);                                                      \
        if (!(fabs(_a - _b) <= (rel) * fabs(_b)))                                       \
            TEST_FAIL("%s ~ %s: %g vs %g", #a, #b, _a, _b);                             \
    } while (0)

/* A model with only alpha, B and o: the formulas reduce to their textbook forms. */
static struct topo_cost_model simple(enum topo_class cls, int n, double alpha, double gbit, double o)
{
    struct topo_cost_model m;

    topo_cost_model_init(&m, cls, n);
    m.alpha_s = alpha;
    m.bw_Bps = gbit * 1e9 / 8;
    m.msg_overhead_s = o;
    m.chan_overhead_s = 0;
    m.chan_bw_Bps = 0;
    m.reduce_Bps = 0;
    m.max_channels = 1;
    m.slice_min = 1024;
    m.slice_max = 64 << 20;
    return m;
}

static enum topo_algo choice(const struct topo_cost_model *m, size_t bytes)
{
    struct topo_plan p;

    ASSERT_EQ(topo_cost_plan(m, bytes, 0, &p), 0);
    return p.algo;
}

static void test_closed_forms(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_RING, 4, 10e-6, 8, 0); /* B = 1e9 B/s */
    double S = 4e6;

    /* ring: 2(n-1)(alpha + S/(nB)) */
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_RING, 4000000, 64 << 20, 1), 6 * (10e-6 + S / 4e9), 1e-9);
    /* two half rings: 2(n-1)(alpha + S/(2nB)) */
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_RING_BIDIR, 4000000, 64 << 20, 1), 6 * (10e-6 + S / 8e9), 1e-9);
    /* chain with slice c: 2(n-1) alpha + (k + 2n - 3)(2c/B), k = S/(2c) */
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_CHAIN, 4000000, 100000, 1),
                6 * 10e-6 + (20 + 5) * (2 * 100000 / 1e9), 1e-9);
    /* direct on a 4-switch: alpha + 3S/B */
    m = simple(TOPO_CLASS_MESH, 4, 10e-6, 8, 0);
    m.shared_nic = 1;
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_DIRECT, 4000000, 64 << 20, 1), 10e-6 + 3 * S / 1e9, 1e-9);
    /* two shot on a 4-switch, one slice per block: 2 alpha + 2(n-1)S/(nB) */
    m.shared_nic = 1;
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_TWO_SHOT, 4000000, 64 << 20, 1), 2 * 10e-6 + 1.5 * S / 1e9, 1e-9);
    /* k slices per block: k latencies of both phases */
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_TWO_SHOT, 4000000, 250000, 1), 4 * 2 * 10e-6 + 1.5 * S / 1e9, 1e-9);
    /* same on a full mesh of cables: each peer its own link */
    m.shared_nic = 0;
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_DIRECT, 4000000, 64 << 20, 1), 10e-6 + S / 1e9, 1e-9);
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_TWO_SHOT, 4000000, 64 << 20, 1), 2 * 10e-6 + 2 * S / 4e9, 1e-9);
}

/* A point-to-point message: h alpha + (k + h - 1)(o + f / B) over h links in k
 * frames of f (the broadcast's pipeline over h hops); one frame when f = 0 or f >= S;
 * zero-copy one alpha more (the grant); nothing to send, no time. */
static void test_closed_forms_p2p(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_CHAIN, 4, 10e-6, 8, 2e-6); /* B = 1e9 B/s */
    double S = 4e6, f = 500000;

    ASSERT_NEAR(topo_cost_p2p(&m, 4000000, 1, 500000, 0), 10e-6 + 8 * (2e-6 + f / 1e9), 1e-9);
    ASSERT_NEAR(topo_cost_p2p(&m, 4000000, 3, 500000, 0), 3 * 10e-6 + 10 * (2e-6 + f / 1e9), 1e-9);
    ASSERT_NEAR(topo_cost_p2p(&m, 4000000, 1, 0, 0), 10e-6 + 2e-6 + S / 1e9, 1e-9);
    ASSERT_NEAR(topo_cost_p2p(&m, 4000000, 1, 8 << 20, 1), 2 * 10e-6 + 2e-6 + S / 1e9, 1e-9);
    ASSERT_NEAR(topo_cost_p2p(&m, 4000000, 3, 500000, 0),
                topo_cost_coll(&m, TOPO_COLL_BROADCAST, TOPO_ALGO_CHAIN, 4000000, 500000, 1), 1e-9);
    ASSERT_TRUE(topo_cost_p2p(&m, 0, 3, 500000, 1) == 0);
    ASSERT_NEAR(topo_cost_p2p(&m, 1000, 0, 500000, 0), topo_cost_p2p(&m, 1000, 1, 500000, 0), 1e-12);
}

/* The other collectives on a 4-ring, one slice per block (no per-slice terms):
 * all-gather / reduce-scatter (n-1)(alpha + S/(nB)); broadcast / reduce a pipeline
 * of n-1 hops with k slices: (n-1) alpha + (k + n - 2) c / B. */
static void test_closed_forms_colls(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_RING, 4, 10e-6, 8, 0); /* B = 1e9 B/s */
    double S = 4e6, c = 100000;

    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_ALLGATHER, TOPO_ALGO_RING, 4000000, 64 << 20, 1),
                3 * (10e-6 + S / 4e9), 1e-9);
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_REDUCESCATTER, TOPO_ALGO_RING, 4000000, 64 << 20, 1),
                3 * (10e-6 + S / 4e9), 1e-9);
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_BROADCAST, TOPO_ALGO_RING, 4000000, 100000, 1),
                3 * 10e-6 + (S / c + 2) * c / 1e9, 1e-9);
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_REDUCE, TOPO_ALGO_CHAIN, 4000000, 100000, 1),
                3 * 10e-6 + (S / c + 2) * c / 1e9, 1e-9);
    /* the chain's gathers: the end cables carry n-1 blocks inward, as the ring's */
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_ALLGATHER, TOPO_ALGO_CHAIN, 4000000, 64 << 20, 1),
                3 * 10e-6 + 0.75 * S / 1e9, 1e-9);
    /* a reduction rate below the link rate bounds the reductions, not the gathers */
    m.reduce_Bps = 0.5e9;
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_REDUCESCATTER, TOPO_ALGO_RING, 4000000, 64 << 20, 1),
                3 * 10e-6 + 0.75 * S / 0.5e9, 1e-9);
    ASSERT_NEAR(topo_cost_coll(&m, TOPO_COLL_ALLGATHER, TOPO_ALGO_RING, 4000000, 64 << 20, 1),
                3 * (10e-6 + S / 4e9), 1e-9);
    /* no schedule, no price: ring_bidir, direct and two_shot are all-reduce only */
    ASSERT_TRUE(isinf(topo_cost_coll(&m, TOPO_COLL_ALLGATHER, TOPO_ALGO_RING_BIDIR, 4000000, 65536, 1)));
    m = simple(TOPO_CLASS_MESH, 4, 10e-6, 8, 0);
    ASSERT_TRUE(isinf(topo_cost_coll(&m, TOPO_COLL_BROADCAST, TOPO_ALGO_TWO_SHOT, 4000000, 65536, 1)));
    /* busbw per collective, as nccl-tests: allgather (n-1)/n, broadcast 1 */
    struct topo_plan p;
    ASSERT_EQ(topo_cost_plan_coll(&m, TOPO_COLL_ALLGATHER, 64 << 20, 0, &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_RING);
    ASSERT_NEAR(p.busbw_Bps, (64 << 20) / p.time_s * 0.75, 1e-9);
    ASSERT_EQ(topo_cost_plan_coll(&m, TOPO_COLL_BROADCAST, 64 << 20, 0, &p), 0);
    ASSERT_TRUE(p.busbw_Bps <= m.bw_Bps && p.busbw_Bps >= 0.9 * m.bw_Bps);
}

static void test_validity(void)
{
    struct topo_cost_model chain = simple(TOPO_CLASS_CHAIN, 4, 5e-6, 10, 0);
    struct topo_cost_model pair = simple(TOPO_CLASS_PAIR, 2, 5e-6, 10, 0);
    struct topo_cost_model ring = simple(TOPO_CLASS_RING, 4, 5e-6, 10, 0);
    struct topo_plan p;

    ASSERT_TRUE(isinf(topo_cost_allreduce(&chain, TOPO_ALGO_RING, 1 << 20, 1 << 16, 1)));
    ASSERT_TRUE(isinf(topo_cost_allreduce(&chain, TOPO_ALGO_DIRECT, 1 << 20, 1 << 16, 1)));
    ASSERT_TRUE(isinf(topo_cost_allreduce(&ring, TOPO_ALGO_DIRECT, 1 << 20, 1 << 16, 1)));
    ASSERT_TRUE(isinf(topo_cost_allreduce(&pair, TOPO_ALGO_RING_BIDIR, 1 << 20, 1 << 16, 1)));
    ASSERT_EQ(topo_cost_plan(&chain, 1 << 20, 1u << TOPO_ALGO_RING, &p), -1);
    ASSERT_EQ(topo_cost_plan(&chain, 1 << 20, topo_algo_mask_parse("direct"), &p), -1);
    ASSERT_EQ(topo_cost_plan(&ring, 1 << 20, topo_algo_mask_parse("ring"), &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_RING);
    ASSERT_EQ(topo_algo_mask_parse("direct"), 1u << TOPO_ALGO_DIRECT);
    /* names of earlier versions and of algorithms without a schedule are gone */
    ASSERT_EQ(topo_algo_mask_parse("oneshot"), 0);
    ASSERT_EQ(topo_algo_mask_parse("twoshot"), 0);
    ASSERT_EQ(topo_algo_mask_parse("auto"), TOPO_ALGO_MASK_ALL);
    ASSERT_EQ(topo_algo_mask_parse("tree"), 0);
    ASSERT_STREQ(topo_algo_name(TOPO_ALGO_RING_BIDIR), "ring_bidir");
    /* one host: nothing crosses a link */
    struct topo_cost_model one = simple(TOPO_CLASS_SINGLE, 1, 5e-6, 10, 0);
    ASSERT_EQ(topo_cost_plan(&one, 1 << 20, 0, &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_RING);
    ASSERT_EQ(p.time_s, 0);
}

/* Pair: one-shot costs alpha + o + S/B, ring 2(alpha + o) + S/B: direct at 8 KiB. */
static void test_pair_direct_small(void)
{
    struct topo_cost_model m;

    topo_cost_model_init(&m, TOPO_CLASS_PAIR, 2);
    m.alpha_s = 15e-6;
    ASSERT_EQ(choice(&m, 8 << 10), TOPO_ALGO_DIRECT);
    ASSERT_EQ(choice(&m, 8), TOPO_ALGO_DIRECT);
}

/* 4-ring: with o per message, one ring costs 2(n-1)(alpha + o) + 2(n-1)S/(nB), two
 * half rings 2(n-1)(alpha + 2o) + (n-1)S/(nB) (a thread sends one message per ring
 * per step): they cross at S* = 2 n B o. */
static void test_ring_flip(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_RING, 4, 5e-6, 10, 2e-6);
    double star = 2 * 4 * m.bw_Bps * m.msg_overhead_s; /* 20000 bytes */

    ASSERT_EQ(choice(&m, (size_t)(star * 0.9)), TOPO_ALGO_RING);
    ASSERT_EQ(choice(&m, (size_t)(star * 1.1)), TOPO_ALGO_RING_BIDIR);
    ASSERT_EQ(choice(&m, 64 << 20), TOPO_ALGO_RING_BIDIR);
    /* with the defaults too: ring for large sizes on a ring is the two-way ring */
    topo_cost_model_init(&m, TOPO_CLASS_RING, 4);
    ASSERT_EQ(choice(&m, 16 << 20), TOPO_ALGO_RING_BIDIR);
}

/* 4-switch: direct (one shot) alpha + 3o + 3S/B against the ring
 * 6(alpha + o) + 1.5 S/B: they cross at S* = (5 alpha + 3o) B / 1.5. */
static void test_switch_flip(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_MESH, 4, 5e-6, 10, 2e-6);
    double star;

    struct topo_plan p;
    unsigned one_or_ring = (1u << TOPO_ALGO_DIRECT) | (1u << TOPO_ALGO_RING);

    m.shared_nic = 1;
    star = (5 * m.alpha_s + 3 * m.msg_overhead_s) * m.bw_Bps / 1.5;
    ASSERT_EQ(topo_cost_plan(&m, (size_t)(star * 0.9), one_or_ring, &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_DIRECT);
    ASSERT_EQ(topo_cost_plan(&m, (size_t)(star * 1.1), one_or_ring, &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_RING);
    /* behind a switch the two-way ring gains nothing over the one-way ring */
    ASSERT_NEAR(topo_cost_allreduce(&m, TOPO_ALGO_RING_BIDIR, 1 << 26, 64 << 20, 1) - 6 * (m.alpha_s + 2 * m.msg_overhead_s),
                topo_cost_allreduce(&m, TOPO_ALGO_RING, 1 << 26, 64 << 20, 1) - 6 * (m.alpha_s + m.msg_overhead_s), 1e-9);
}

/* 4-switch with slices up to 512 KiB (a tcp slot): the one shot alpha + 3o + 3S/B,
 * the two shot k(2 alpha + 6o) + 1.5 S/B (k = S/(4c) slices per block), the ring
 * 6(alpha + o k) + 1.5 S/B. The two shot beats the one shot above
 * S1 = (alpha + 3o) B / 1.5 and the ring while k(2 alpha) < 6 alpha, i.e. up to
 * k = 2: S2 = 2 n c_max (k = 3 ties; ties go to the ring). Below S1 the one
 * shot, above S2 the ring. */
static void test_two_shot_regime(void)
{
    struct topo_cost_model m = simple(TOPO_CLASS_MESH, 4, 5e-6, 10, 2e-6);
    double s1, s2;

    m.shared_nic = 1;
    m.slice_max = 512 << 10;
    s1 = (m.alpha_s + 3 * m.msg_overhead_s) * m.bw_Bps / 1.5; /* 9.2 KB */
    s2 = 2.0 * 4 * m.slice_max;                                 /* 4 MiB */
    ASSERT_EQ(choice(&m, 1024), TOPO_ALGO_DIRECT);
    ASSERT_EQ(choice(&m, (size_t)(s1 * 0.9)), TOPO_ALGO_DIRECT);
    ASSERT_EQ(choice(&m, (size_t)(s1 * 1.1)), TOPO_ALGO_TWO_SHOT);
    ASSERT_EQ(choice(&m, 1 << 20), TOPO_ALGO_TWO_SHOT);
    ASSERT_EQ(choice(&m, (size_t)s2), TOPO_ALGO_TWO_SHOT);
    ASSERT_EQ(choice(&m, (size_t)(s2 * 1.3)), TOPO_ALGO_RING);
    ASSERT_EQ(choice(&m, 256 << 20), TOPO_ALGO_RING);
    /* not valid where a pair is not linked: a ring of cables */
    m.cls = TOPO_CLASS_RING;
    m.all_direct = 0;
    ASSERT_TRUE(isinf(topo_cost_allreduce(&m, TOPO_ALGO_TWO_SHOT, 1 << 20, 1 << 16, 1)));
    ASSERT_TRUE(choice(&m, 1 << 20) != TOPO_ALGO_TWO_SHOT);
}

/* Chain: the only algorithm on a chain; at large sizes busbw -> 1.5 B (n = 4). */
static void test_chain(void)
{
    struct topo_cost_model m;
    struct topo_plan p;

    topo_cost_model_init(&m, TOPO_CLASS_CHAIN, 4);
    ASSERT_EQ(choice(&m, 8 << 10), TOPO_ALGO_CHAIN);
    ASSERT_EQ(choice(&m, 16 << 20), TOPO_ALGO_CHAIN);
    m = simple(TOPO_CLASS_CHAIN, 4, 5e-6, 1, 0); /* 1 Gbit/s */
    ASSERT_EQ(topo_cost_plan(&m, 64 << 20, 0, &p), 0);
    ASSERT_TRUE(p.busbw_Bps >= 0.95 * 1.5 * m.bw_Bps && p.busbw_Bps <= 1.5 * m.bw_Bps);
    /* the pipeline wants slices far below the message */
    ASSERT_TRUE(p.slice <= (1u << 20));
    /* the bound: never faster than S / B */
    ASSERT_TRUE(p.time_s >= (64 << 20) / m.bw_Bps);
    /* two-way ring on a ring of the same links: busbw -> 2 B */
    m = simple(TOPO_CLASS_RING, 4, 5e-6, 1, 0);
    ASSERT_EQ(topo_cost_plan(&m, 64 << 20, 0, &p), 0);
    ASSERT_EQ(p.algo, TOPO_ALGO_RING_BIDIR);
    ASSERT_NEAR(p.busbw_Bps, 2 * m.bw_Bps, 0.01);
}

static void test_channels_and_slices(void)
{
    struct topo_cost_model m;
    struct topo_plan p;

    topo_cost_model_init(&m, TOPO_CLASS_RING, 4);
    m.bw_Bps = 100e9 / 8; /* 100 GbE: one 2 GB/s channel cannot fill it */
    ASSERT_EQ(topo_cost_plan(&m, 64 << 20, 0, &p), 0);
    ASSERT_EQ(p.nchannels, m.max_channels);
    ASSERT_EQ(topo_cost_plan(&m, 4 << 10, 0, &p), 0);
    ASSERT_EQ(p.nchannels, 1);
    ASSERT_EQ(p.slice, HALO_SLICE_MIN_BYTES); /* slice_min: the message fits in one */
    ASSERT_TRUE(p.slice >= m.slice_min && p.slice <= m.slice_max);
}

static void test_table(void)
{
    struct topo_cost_model m;
    char buf[4096];
    size_t need;

    topo_cost_model_init(&m, TOPO_CLASS_CHAIN, 3);
    need = topo_cost_format_table(&m, 16 << 20, buf, sizeof(buf));
    ASSERT_TRUE(need < sizeof(buf));
    ASSERT_CONTAINS(buf, "allreduce 16 MiB on chain of 3 hosts");
    ASSERT_CONTAINS(buf, "ring        no closing link");
    ASSERT_CONTAINS(buf, "direct      not every pair linked");
    ASSERT_CONTAINS(buf, "* chain");
    ASSERT_EQ(topo_cost_format_table(&m, 16 << 20, NULL, 0), need);
    /* the JSON form: the table's names, an invalid row says why */
    need = topo_cost_format_json(&m, 16 << 20, buf, sizeof(buf));
    ASSERT_TRUE(need < sizeof(buf));
    ASSERT_CONTAINS(buf, "\"choice\":\"chain\"");
    ASSERT_CONTAINS(buf, "{\"name\":\"direct\",\"valid\":false,\"why\":\"not every pair linked\"}");
    ASSERT_CONTAINS(buf, "{\"name\":\"chain\",\"valid\":true,\"chosen\":true,");
    /* one host: no link to price, no 0.0 us row, no algorithm listed */
    topo_cost_model_init(&m, TOPO_CLASS_SINGLE, 1);
    topo_cost_format_table(&m, 1 << 20, buf, sizeof(buf));
    ASSERT_STREQ(buf, "allreduce 1 MiB on one host: no links between hosts, nothing for the cost model\n");
    topo_cost_format_json(&m, 1 << 20, buf, sizeof(buf));
    ASSERT_STREQ(buf, "{\"bytes\":1048576,\"class\":\"single\",\"nhosts\":1,\"algorithms\":[]}");
}

/* The model of a built graph takes the slowest link and the largest RTT/2. */
static int probe_rtt(void *arg, const struct topo_link *l, double *rtt_us)
{
    (void)arg;
    *rtt_us = strcmp(l->ifname[0], "to_c") == 0 || strcmp(l->ifname[1], "to_c") == 0 ? 80.0 : 30.0;
    return 0;
}

static void test_model_from_graph(void)
{
    struct topo_rank_info in[3];
    struct topo_options opt;
    struct topo_graph *g;
    struct topo_cost_model m;
    char err[TOPO_ERR_LEN];

    fake_rank(&in[0], 0, "a");
    fake_rank(&in[1], 1, "b");
    fake_rank(&in[2], 2, "c");
    fake_if(&in[0], "to_b", "10.0.1.1/24", 10000, TOPO_IF_UP);
    fake_if(&in[1], "to_a", "10.0.1.2/24", 10000, TOPO_IF_UP);
    fake_if(&in[1], "to_c", "10.0.2.1/24", 5000, TOPO_IF_UP);
    fake_if(&in[2], "to_b", "10.0.2.2/24", -1, TOPO_IF_UP); /* unknown: the other end's */
    topo_options_init(&opt);
    opt.probe = probe_rtt;
    ASSERT_EQ(topo_graph_create(in, 3, &opt, &g, err, sizeof(err)), haloSuccess);
    topo_cost_model_from_graph(g, &m);
    ASSERT_EQ(m.cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(m.nhosts, 3);
    ASSERT_EQ(m.all_direct, 0);
    ASSERT_EQ(m.shared_nic, 0);
    ASSERT_NEAR(m.alpha_s, 40e-6, 1e-9);
    ASSERT_NEAR(m.bw_Bps, 5000e6 / 8, 1e-9);
    topo_graph_destroy(g);
    /* without probe or speed: driver defaults (thunderbolt-net: 20 us, 10 Gbit/s) */
    in[2].ifaces[0].speed_mbps = -1;
    in[1].ifaces[1].speed_mbps = -1;
    ASSERT_EQ(topo_graph_create(in, 3, NULL, &g, err, sizeof(err)), haloSuccess);
    topo_cost_model_from_graph(g, &m);
    ASSERT_NEAR(m.alpha_s, topo_cost_driver_alpha_s("thunderbolt-net"), 1e-9);
    ASSERT_NEAR(m.bw_Bps, topo_cost_driver_bw_Bps("thunderbolt-net"), 1e-9);
    ASSERT_NEAR(m.bw_Bps, 10e9 / 8, 1e-9);
    topo_graph_destroy(g);
}

/* One name per algorithm: each algorithm the model prices is the HALO_ALGO row of
 * the algorithm table that names it as its counterpart, under the same name. */
static void test_names_match_table(void)
{
    for (int a = 0; a < TOPO_ALGO_COUNT; a++) {
        const struct algo_row *row = algo_by_word(topo_algo_name((enum topo_algo)a));
        ASSERT_TRUE(row != NULL);
        ASSERT_EQ(row->topo_algo, a);
        ASSERT_TRUE(algo_has_schedule(row->algo, HALO_COLL_ALLREDUCE));
    }
    /* the model prices exactly the collectives each algorithm has a schedule for */
    static const enum halo_coll colls[TOPO_COLL_COUNT] = {
        [TOPO_COLL_ALLREDUCE] = HALO_COLL_ALLREDUCE, [TOPO_COLL_ALLGATHER] = HALO_COLL_ALLGATHER,
        [TOPO_COLL_REDUCESCATTER] = HALO_COLL_REDUCESCATTER, [TOPO_COLL_BROADCAST] = HALO_COLL_BROADCAST,
        [TOPO_COLL_REDUCE] = HALO_COLL_REDUCE};
    for (int a = 0; a < TOPO_ALGO_COUNT; a++)
        for (int c = 0; c < TOPO_COLL_COUNT; c++)
            ASSERT_EQ(topo_cost_priced((enum topo_coll)c, (enum topo_algo)a),
                      algo_has_schedule(algo_by_word(topo_algo_name((enum topo_algo)a))->algo, colls[c]));
}

int main(void)
{
    test_names_match_table();
    test_closed_forms();
    test_closed_forms_colls();
    test_closed_forms_p2p();
    test_two_shot_regime();
    test_validity();
    test_pair_direct_small();
    test_ring_flip();
    test_switch_flip();
    test_chain();
    test_channels_and_slices();
    test_table();
    test_model_from_graph();
    printf("test_topo_cost: all passed\n");
    return 0;
}
