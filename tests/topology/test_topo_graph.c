/* SPDX-License-Identifier: MIT */
/*
 * test_topo_graph.c — host graph classification, order and neighbour links on
 * hand-made discovery records: single host, pair, chains in shuffled rank order,
 * ring, triangle, switch, a missing cable, a host with no link, two cables on one
 * subnet, forced HALO_TOPO / HALO_TOPO_ORDER, the management network, rendering.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "topo.h"
#include "topo_fake.h"

#define HALO_TEST_RAILS 4

#define MAXH 8
#define MAXR 32

/* A cluster described per host; ranks are stamped from the host templates. */
struct cluster {
    struct topo_rank_info host[MAXH];
    int nhosts;
    struct topo_rank_info infos[MAXR];
    int nranks;
};

static int host_add(struct cluster *c, const char *name)
{
    fake_rank(&c->host[c->nhosts], -1, name);
    return c->nhosts++;
}

static void cable(struct cluster *c, int a, int b, int k)
{
    char name[80], addr[32];

    snprintf(name, sizeof(name), "to_%s", c->host[b].hostname);
    snprintf(addr, sizeof(addr), "10.0.%d.1/24", k);
    fake_if(&c->host[a], name, addr, 10000, TOPO_IF_UP);
    snprintf(name, sizeof(name), "to_%s", c->host[a].hostname);
    snprintf(addr, sizeof(addr), "10.0.%d.2/24", k);
    fake_if(&c->host[b], name, addr, 10000, TOPO_IF_UP);
}

static void mgmt_all(struct cluster *c, unsigned flag)
{
    char addr[32];

    for (int h = 0; h < c->nhosts; h++) {
        snprintf(addr, sizeof(addr), "192.168.200.%d/24", 10 + h);
        fake_if(&c->host[h], "mgmt0", addr, 1000, TOPO_IF_UP | flag);
    }
}

/* rank r runs on host rank_host[r]; the records array is filled in reverse rank
 * order so the graph cannot rely on infos[i].rank == i. */
static void ranks_make(struct cluster *c, const int *rank_host, int nranks)
{
    c->nranks = nranks;
    for (int r = 0; r < nranks; r++) {
        struct topo_rank_info *in = &c->infos[nranks - 1 - r];
        *in = c->host[rank_host[r]];
        in->rank = r;
    }
}

static void ranks_one_per_host(struct cluster *c)
{
    int rh[MAXH];

    for (int h = 0; h < c->nhosts; h++)
        rh[h] = h;
    ranks_make(c, rh, c->nhosts);
}

static struct topo_graph *build_ok(struct cluster *c, const struct topo_options *opt)
{
    char err[TOPO_ERR_LEN];
    struct topo_graph *g = NULL;
    haloResult_t res = topo_graph_create(c->infos, c->nranks, opt, &g, err, sizeof(err));

    if (res != haloSuccess)
        TEST_FAIL("topo_graph_create: %d: %s", res, err);
    return g;
}

static haloResult_t build_err(struct cluster *c, const struct topo_options *opt, char *err, size_t len)
{
    struct topo_graph *g = (struct topo_graph *)0x1;
    haloResult_t res = topo_graph_create(c->infos, c->nranks, opt, &g, err, len);

    ASSERT_NE(res, haloSuccess);
    ASSERT_TRUE(g == (struct topo_graph *)0x1); /* output set only on success */
    return res;
}

static const char *host_at(const struct topo_graph *g, int pos)
{
    return g->hosts[g->host_order[pos]].name;
}

/* Structural checks every result must pass: order a permutation, consecutive hosts
 * linked (and closing link for rings), ranks of one host adjacent, neighbours set. */
static void check_order(const struct topo_graph *g)
{
    int seen[MAXR] = { 0 };

    for (int p = 0; p < g->nhosts; p++) {
        int h = g->host_order[p];
        ASSERT_EQ(g->hosts[h].pos, p);
        if (p + 1 < g->nhosts)
            ASSERT_TRUE(topo_graph_link_between(g, h, g->host_order[p + 1]) >= 0);
    }
    if (g->cls == TOPO_CLASS_RING && g->nhosts > 2)
        ASSERT_TRUE(topo_graph_link_between(g, g->host_order[g->nhosts - 1], g->host_order[0]) >= 0);
    for (int p = 0; p < g->nranks; p++) {
        int r = g->rank_order[p];
        ASSERT_TRUE(r >= 0 && r < g->nranks && !seen[r]);
        seen[r] = 1;
        ASSERT_EQ(topo_graph_rank_pos(g, r), p);
        /* host changes exactly at host boundaries: ranks of one host adjacent */
        if (p > 0 && g->rank_host[r] != g->rank_host[g->rank_order[p - 1]])
            ASSERT_EQ(g->hosts[g->rank_host[r]].pos, g->hosts[g->rank_host[g->rank_order[p - 1]]].pos + 1);
    }
    for (int h = 0; h < g->nhosts && g->nhosts > 1; h++) {
        const struct topo_host *ho = &g->hosts[h];
        if (ho->right.host >= 0) {
            const struct topo_link *l = &g->links[ho->right.link];
            ASSERT_TRUE(l->host[0] == h || l->host[1] == h);
            ASSERT_TRUE(ho->right.ifname[0] && ho->right.remote_addr[0]);
        }
    }
}

static void test_single_host(void)
{
    struct cluster c = { 0 };
    int rh[4] = { 0, 0, 0, 0 };
    int l, r;
    const struct topo_nbr *ln, *rn;

    host_add(&c, "solo");
    fake_if(&c.host[0], "eth0", "192.0.2.2/24", -1, TOPO_IF_UP | TOPO_IF_DEFAULT_ROUTE);
    ranks_make(&c, rh, 4);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_SINGLE);
    ASSERT_EQ(g->nhosts, 1);
    for (int p = 0; p < 4; p++)
        ASSERT_EQ(g->rank_order[p], p);
    topo_graph_rank_neighbors(g, 0, &l, &r, &ln, &rn);
    ASSERT_EQ(l, 3);
    ASSERT_EQ(r, 1);
    ASSERT_TRUE(ln == NULL && rn == NULL); /* same host: shm */
    check_order(g);
    topo_graph_destroy(g);
    struct topo_options opt;
    topo_options_init(&opt);
    opt.force = TOPO_CLASS_RING;
    g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_SINGLE);
    ASSERT_CONTAINS(g->notes, "ignored: the job runs on one host");
    topo_graph_destroy(g);
}

static void test_pair(void)
{
    struct cluster c = { 0 };
    int rh[4] = { 0, 1, 0, 1 };
    int l, r;
    const struct topo_nbr *ln, *rn;

    host_add(&c, "a");
    host_add(&c, "b");
    cable(&c, 0, 1, 1);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_make(&c, rh, 4);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_PAIR);
    ASSERT_TRUE(g->all_direct);
    ASSERT_STREQ(host_at(g, 0), "a");
    ASSERT_EQ(g->rank_order[0], 0);
    ASSERT_EQ(g->rank_order[1], 2);
    ASSERT_EQ(g->rank_order[2], 1);
    ASSERT_STREQ(g->hosts[0].right.ifname, "to_b");
    ASSERT_STREQ(g->hosts[0].right.local_addr, "10.0.1.1");
    ASSERT_STREQ(g->hosts[0].right.remote_addr, "10.0.1.2");
    ASSERT_STREQ(g->hosts[0].left.remote_addr, "10.0.1.2");
    ASSERT_STREQ(g->hosts[1].left.ifname, "to_a");
    /* rank 2 (a) sits between 0 (a) and 1 (b) */
    topo_graph_rank_neighbors(g, 2, &l, &r, &ln, &rn);
    ASSERT_EQ(l, 0);
    ASSERT_EQ(r, 1);
    ASSERT_TRUE(ln == NULL && rn == &g->hosts[0].right);
    check_order(g);
    topo_graph_destroy(g);

    /* forced classes a pair can carry */
    struct topo_options opt;
    enum topo_class ok[] = { TOPO_CLASS_PAIR, TOPO_CLASS_RING, TOPO_CLASS_CHAIN, TOPO_CLASS_MESH };
    topo_options_init(&opt);
    for (int i = 0; i < 4; i++) {
        opt.force = ok[i];
        g = build_ok(&c, &opt);
        ASSERT_EQ(g->cls, ok[i]);
        ASSERT_STREQ(g->hosts[0].right.ifname, "to_b");
        topo_graph_destroy(g);
    }
}

/* 3-chain a-b-c, ranks shuffled: rank 0 on b, 1 on c, 2 on a, 3 on b, 4 on a, 5 on c.
 * The chain starts at the end with the lower rank: c (rank 1), then b, then a. */
static void test_chain3_shuffled(void)
{
    struct cluster c = { 0 };
    int rh[6] = { 1, 2, 0, 1, 0, 2 };
    int expect[6] = { 1, 5, 0, 3, 2, 4 };
    int l, r;

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_make(&c, rh, 6);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(g->searched, 0);
    ASSERT_STREQ(host_at(g, 0), "c");
    ASSERT_STREQ(host_at(g, 1), "b");
    ASSERT_STREQ(host_at(g, 2), "a");
    for (int p = 0; p < 6; p++)
        ASSERT_EQ(g->rank_order[p], expect[p]);
    ASSERT_EQ(g->hosts[g->host_order[0]].left.host, -1);
    ASSERT_EQ(g->hosts[g->host_order[2]].right.host, -1);
    topo_graph_rank_neighbors(g, 1, &l, &r, NULL, NULL);
    ASSERT_EQ(l, -1);
    ASSERT_EQ(r, 5);
    topo_graph_rank_neighbors(g, 4, &l, &r, NULL, NULL);
    ASSERT_EQ(l, 2);
    ASSERT_EQ(r, -1);
    check_order(g);
    topo_graph_destroy(g);
}

/* 4-chain b-d-a-c (cables not in name order), ranks 0..7 spread. */
static void test_chain4_shuffled(void)
{
    struct cluster c = { 0 };
    int rh[8] = { 2, 0, 3, 1, 2, 0, 3, 1 };

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    host_add(&c, "d");
    cable(&c, 1, 3, 1); /* b-d */
    cable(&c, 3, 0, 2); /* d-a */
    cable(&c, 0, 2, 3); /* a-c */
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_make(&c, rh, 8);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    /* ends b (first rank 1) and c (first rank 0): starts at c */
    ASSERT_STREQ(host_at(g, 0), "c");
    ASSERT_STREQ(host_at(g, 1), "a");
    ASSERT_STREQ(host_at(g, 2), "d");
    ASSERT_STREQ(host_at(g, 3), "b");
    ASSERT_EQ(g->rank_order[0], 0);
    ASSERT_EQ(g->rank_order[1], 4);
    check_order(g);
    topo_graph_destroy(g);
}

static void ring4_make(struct cluster *c)
{
    memset(c, 0, sizeof(*c));
    host_add(c, "a");
    host_add(c, "b");
    host_add(c, "c");
    host_add(c, "d");
    cable(c, 0, 1, 1);
    cable(c, 1, 2, 2);
    cable(c, 2, 3, 3);
    cable(c, 3, 0, 4);
    mgmt_all(c, TOPO_IF_MGMT);
    ranks_one_per_host(c);
}

static void test_ring4(void)
{
    struct cluster c;

    ring4_make(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_RING);
    ASSERT_EQ(g->all_direct, 0);
    ASSERT_STREQ(host_at(g, 0), "a");
    ASSERT_STREQ(host_at(g, 1), "b"); /* lower-rank neighbour first */
    ASSERT_STREQ(host_at(g, 3), "d");
    ASSERT_STREQ(g->hosts[0].left.ifname, "to_d");
    ASSERT_STREQ(g->hosts[0].right.ifname, "to_b");
    ASSERT_STREQ(g->hosts[3].right.remote_addr, "10.0.4.2");
    check_order(g);
    topo_graph_destroy(g);
}

static void test_triangle(void)
{
    struct cluster c = { 0 };

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    cable(&c, 2, 0, 3);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_RING);
    ASSERT_EQ(g->all_direct, 1); /* direct algorithms apply too */
    ASSERT_EQ(g->switched, 0);
    check_order(g);
    topo_graph_destroy(g);
}

static void test_switch4(void)
{
    struct cluster c = { 0 };
    char addr[32];

    for (int h = 0; h < 4; h++) {
        char name[16];
        snprintf(name, sizeof(name), "h%d", h);
        host_add(&c, name);
        snprintf(addr, sizeof(addr), "10.20.0.%d/24", 10 + h);
        fake_if(&c.host[h], "sw0", addr, 25000, TOPO_IF_UP);
    }
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_MESH);
    ASSERT_EQ(g->switched, 1);
    ASSERT_EQ(g->all_direct, 1);
    ASSERT_EQ(g->mgmt_used, 0);
    for (int h = 0; h < 4; h++)
        ASSERT_STREQ(g->hosts[h].right.ifname, "sw0");
    for (int i = 0; i < g->nlinks; i++)
        if (g->links[i].mgmt)
            ASSERT_EQ(topo_graph_link_between(g, g->links[i].host[0], g->links[i].host[1]) == i, 0);
    check_order(g);
    topo_graph_destroy(g);
}

/* chain a-b-c-d whose b-c cable is down at start: groups {a, b} and {c, d}. */
static void test_chain_missing_cable(void)
{
    struct cluster c = { 0 };
    char err[TOPO_ERR_LEN];

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    host_add(&c, "d");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    cable(&c, 2, 3, 3);
    c.host[1].ifaces[1].flags &= ~TOPO_IF_UP; /* b:to_c */
    c.host[2].ifaces[0].flags &= ~TOPO_IF_UP; /* c:to_b */
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    ASSERT_EQ(build_err(&c, NULL, err, sizeof(err)), haloInvalidUsage);
    ASSERT_CONTAINS(err, "{a, b} {c, d}");
    ASSERT_CONTAINS(err, "b:to_c (10.0.2.0/24)");
    ASSERT_CONTAINS(err, "c:to_b");
    ASSERT_CONTAINS(err, "a-b (10.0.1.0/24), c-d (10.0.3.0/24)");
    ASSERT_CONTAINS(err, "hosts:\n  a (ranks 0)"); /* the graph is printed */
}

static void test_host_without_link(void)
{
    struct cluster c = { 0 };
    char err[TOPO_ERR_LEN];

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    ASSERT_EQ(build_err(&c, NULL, err, sizeof(err)), haloInvalidUsage);
    ASSERT_CONTAINS(err, "no data link reaches host c");
    ASSERT_CONTAINS(err, "mgmt0 192.168.200.12/24");
}

/* Two cables between a and b, both in 10.0.1.0/24; cabled crosswise (a:tb0-b:tb1,
 * a:tb1-b:tb0), which only the probe can tell. */
static int probe_crossed(void *arg, const struct topo_link *l, double *rtt_us)
{
    int *calls = arg;

    (*calls)++;
    *rtt_us = 25.0;
    return strcmp(l->ifname[0], l->ifname[1]) == 0 ? -1 : 0;
}

static void test_two_cables_one_subnet(void)
{
    struct cluster c = { 0 };
    struct topo_options opt;
    int calls = 0, ok = 0;

    host_add(&c, "a");
    host_add(&c, "b");
    fake_if(&c.host[0], "tb0", "10.0.1.1/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[0], "tb1", "10.0.1.3/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb0", "10.0.1.2/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb1", "10.0.1.4/24", 10000, TOPO_IF_UP);
    ranks_one_per_host(&c);
    /* without a probe: the first pair is kept, the rest reported */
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_PAIR);
    ASSERT_EQ(g->nlinks, 4);
    for (int i = 0; i < g->nlinks; i++) {
        ok += g->links[i].state == TOPO_LINK_OK;
        ASSERT_EQ(g->links[i].index, i);
    }
    ASSERT_EQ(ok, 1);
    ASSERT_STREQ(g->hosts[0].right.ifname, "tb0");
    ASSERT_STREQ(g->hosts[0].right.remote_addr, "10.0.1.2");
    ASSERT_CONTAINS(g->notes, "give each cable its own subnet");
    topo_graph_destroy(g);
    /* with a probe: the first pair that answers is kept */
    topo_options_init(&opt);
    opt.probe = probe_crossed;
    opt.probe_arg = &calls;
    g = build_ok(&c, &opt);
    ASSERT_EQ(calls, 2); /* tb0-tb0 fails, tb0-tb1 answers; the rest are not probed */
    ASSERT_STREQ(g->hosts[0].right.ifname, "tb0");
    ASSERT_STREQ(g->hosts[0].right.remote_ifname, "tb1");
    ASSERT_EQ(g->links[g->hosts[0].right.link].rtt_us, 25);
    ASSERT_CONTAINS(g->notes, "did not answer the probe");
    topo_graph_destroy(g);
}

/* Two cables between two hosts, each its own subnet: both are usable rails, the
 * pair is still a pair, and a third host on one cable sees one rail. */
static void test_two_cables_two_subnets(void)
{
    struct cluster c = { 0 };
    int rails[HALO_TEST_RAILS];

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    fake_if(&c.host[0], "tb0", "10.0.1.1/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[0], "tb1", "10.0.2.1/24", 20000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb0", "10.0.1.2/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb1", "10.0.2.2/24", 20000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb2", "10.0.3.1/24", 10000, TOPO_IF_UP);
    fake_if(&c.host[2], "tb0", "10.0.3.2/24", 10000, TOPO_IF_UP);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(topo_graph_rails(g, 0, 1, rails, HALO_TEST_RAILS), 2);
    ASSERT_EQ(topo_graph_rails(g, 1, 0, rails, HALO_TEST_RAILS), 2); /* either order */
    ASSERT_STREQ(g->links[rails[0]].ifname[0], "tb0");
    ASSERT_STREQ(g->links[rails[1]].ifname[0], "tb1");
    ASSERT_EQ(g->links[rails[0]].state, TOPO_LINK_OK);
    ASSERT_EQ(g->links[rails[1]].state, TOPO_LINK_OK);
    ASSERT_EQ(g->links[rails[0]].bw_mbps, -1); /* the caller measures */
    ASSERT_EQ(g->links[rails[0]].share, -1);
    ASSERT_EQ(topo_graph_rails(g, 0, 1, rails, 1), 2); /* counts past max */
    ASSERT_EQ(topo_graph_rails(g, 1, 2, rails, HALO_TEST_RAILS), 1);
    ASSERT_EQ(topo_graph_rails(g, 0, 2, rails, HALO_TEST_RAILS), 0);
    /* the best of the two is the faster cable */
    ASSERT_STREQ(g->links[topo_graph_link_between(g, 0, 1)].ifname[0], "tb1");
    topo_graph_destroy(g);
}

static void test_forced_ring_on_chain(void)
{
    struct cluster c = { 0 };
    struct topo_options opt;
    char err[TOPO_ERR_LEN];

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    topo_options_init(&opt);
    opt.force = TOPO_CLASS_RING;
    ASSERT_EQ(build_err(&c, &opt, err, sizeof(err)), haloInvalidUsage);
    ASSERT_CONTAINS(err, "HALO_TOPO=ring but hosts c and a have no direct link: the links found are "
                         "a-b (10.0.1.0/24), b-c (10.0.2.0/24)");
    opt.force = TOPO_CLASS_MESH;
    build_err(&c, &opt, err, sizeof(err));
    ASSERT_CONTAINS(err, "HALO_TOPO=mesh but hosts a and c have no direct link");
    opt.force = TOPO_CLASS_PAIR;
    build_err(&c, &opt, err, sizeof(err));
    ASSERT_CONTAINS(err, "HALO_TOPO=pair but the job has 3 hosts (a, b, c)");
    opt.force = TOPO_CLASS_CHAIN;
    struct topo_graph *g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(g->forced, 1);
    topo_graph_destroy(g);
}

static void test_forced_on_ring(void)
{
    struct cluster c;
    struct topo_options opt;

    ring4_make(&c);
    topo_options_init(&opt);
    opt.force = TOPO_CLASS_CHAIN; /* a ring carries a chain: opened at d-a */
    struct topo_graph *g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_STREQ(host_at(g, 0), "a");
    ASSERT_STREQ(host_at(g, 3), "d");
    ASSERT_EQ(g->hosts[0].left.host, -1);
    check_order(g);
    topo_graph_destroy(g);
}

static void test_order_override(void)
{
    struct cluster c;
    struct topo_options opt;
    char err[TOPO_ERR_LEN];

    ring4_make(&c);
    topo_options_init(&opt);
    opt.order = "a, d ,c,b";
    struct topo_graph *g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_RING);
    ASSERT_STREQ(host_at(g, 1), "d");
    ASSERT_STREQ(host_at(g, 3), "b");
    ASSERT_EQ(g->rank_order[1], 3);
    check_order(g);
    topo_graph_destroy(g);

    opt.order = "b,c,d,a"; /* auto: all consecutive links and the closing one: ring */
    g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_RING);
    ASSERT_STREQ(host_at(g, 0), "b");
    topo_graph_destroy(g);

    opt.order = "a,c,b,d";
    build_err(&c, &opt, err, sizeof(err));
    ASSERT_CONTAINS(err, "HALO_TOPO_ORDER=a,c,b,d but hosts a and c have no direct link");
    opt.order = "a,b,x,d";
    ASSERT_EQ(build_err(&c, &opt, err, sizeof(err)), haloInvalidArgument);
    ASSERT_CONTAINS(err, "names host 'x', which is not in the job (hosts: a, b, c, d)");
    opt.order = "a,b,a,d";
    build_err(&c, &opt, err, sizeof(err));
    ASSERT_CONTAINS(err, "names host 'a' twice");
    opt.order = "a,b,c";
    build_err(&c, &opt, err, sizeof(err));
    ASSERT_CONTAINS(err, "lists 3 of the 4 hosts; it leaves out d");
    opt.order = "d,a,b,c";
    opt.force = TOPO_CLASS_CHAIN; /* forced chain along a given order */
    g = build_ok(&c, &opt);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_STREQ(host_at(g, 0), "d");
    ASSERT_EQ(g->hosts[3].left.host, -1);
    topo_graph_destroy(g);
}

static void test_options_env(void)
{
    struct topo_options opt;
    char err[256];

    setenv("HALO_TOPO", "ring", 1);
    setenv("HALO_TOPO_ORDER", "a,b", 1);
    ASSERT_EQ(topo_options_from_env(&opt, err, sizeof(err)), haloSuccess);
    ASSERT_EQ(opt.force, TOPO_CLASS_RING);
    ASSERT_STREQ(opt.order, "a,b");
    setenv("HALO_TOPO", "star", 1);
    ASSERT_EQ(topo_options_from_env(&opt, err, sizeof(err)), haloInvalidArgument);
    ASSERT_CONTAINS(err, "HALO_TOPO=star is not a topology");
    setenv("HALO_TOPO", "rings", 1);
    ASSERT_EQ(topo_options_from_env(&opt, err, sizeof(err)), haloInvalidArgument);
    unsetenv("HALO_TOPO");
    unsetenv("HALO_TOPO_ORDER");
    ASSERT_EQ(topo_options_from_env(&opt, err, sizeof(err)), haloSuccess);
    ASSERT_EQ(opt.force, TOPO_CLASS_AUTO);
    ASSERT_TRUE(opt.order == NULL);
}

/* Management network: used only when there is no other network and nothing is down. */
static void test_mgmt_policy(void)
{
    struct cluster c = { 0 };
    char err[TOPO_ERR_LEN];

    host_add(&c, "a");
    host_add(&c, "b");
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_PAIR);
    ASSERT_EQ(g->mgmt_used, 1);
    ASSERT_STREQ(g->hosts[0].right.ifname, "mgmt0");
    ASSERT_CONTAINS(g->notes, "no network besides the management one");
    topo_graph_destroy(g);
    /* the pair's cable is down: an error, not a silent fallback to the LAN */
    cable(&c, 0, 1, 1);
    c.host[0].ifaces[1].flags &= ~TOPO_IF_UP;
    c.host[1].ifaces[1].flags &= ~TOPO_IF_UP;
    ranks_one_per_host(&c);
    build_err(&c, NULL, err, sizeof(err));
    ASSERT_CONTAINS(err, "no data link reaches host a, b");
    ASSERT_CONTAINS(err, "interfaces down: a:to_b (10.0.1.0/24), b:to_a (10.0.1.0/24)");
}

/* Without a flagged bootstrap interface the default route marks the LAN. */
static void test_default_route_is_mgmt(void)
{
    struct cluster c = { 0 };

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    mgmt_all(&c, TOPO_IF_DEFAULT_ROUTE);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN); /* not a mesh over the LAN */
    topo_graph_destroy(g);
}

static void test_irregular(void)
{
    struct cluster c = { 0 };
    char err[TOPO_ERR_LEN];

    /* ring a-b-c-d plus a diagonal a-c: a ring found by search */
    ring4_make(&c);
    cable(&c, 0, 2, 5);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_RING);
    ASSERT_EQ(g->searched, 1);
    check_order(g);
    topo_graph_destroy(g);

    /* a triangle a-b-c with a tail c-d: a chain found by search, ending at d (the
     * degree-1 host) and starting at b, the other end, whose rank is lower */
    memset(&c, 0, sizeof(c));
    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    host_add(&c, "d");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    cable(&c, 2, 0, 3);
    cable(&c, 2, 3, 4);
    ranks_one_per_host(&c);
    g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(g->searched, 1);
    ASSERT_STREQ(host_at(g, 0), "b");
    ASSERT_STREQ(host_at(g, 3), "d");
    check_order(g);
    topo_graph_destroy(g);

    /* a star: centre a, leaves b c d: no ring, no chain */
    memset(&c, 0, sizeof(c));
    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    host_add(&c, "d");
    cable(&c, 0, 1, 1);
    cable(&c, 0, 2, 2);
    cable(&c, 0, 3, 3);
    ranks_one_per_host(&c);
    build_err(&c, NULL, err, sizeof(err));
    ASSERT_CONTAINS(err, "no ring or chain passes through all 4 hosts");
    ASSERT_CONTAINS(err, "HALO_TOPO_ORDER");
}

static void test_full_mesh_cables(void)
{
    struct cluster c = { 0 };
    int k = 1;

    for (int h = 0; h < 4; h++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", h);
        host_add(&c, name);
    }
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            cable(&c, a, b, k++);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_MESH);
    ASSERT_EQ(g->switched, 0);
    ASSERT_STREQ(g->hosts[0].right.ifname, "to_n1");
    ASSERT_STREQ(g->hosts[0].left.ifname, "to_n3");
    topo_graph_destroy(g);
}

static void test_ipv6_and_clones(void)
{
    struct cluster c = { 0 };

    host_add(&c, "a");
    host_add(&c, "b");
    fake_if(&c.host[0], "docker_like", "172.17.0.1/16", -1, TOPO_IF_UP);
    fake_if(&c.host[1], "docker_like", "172.17.0.1/16", -1, TOPO_IF_UP);
    fake_if(&c.host[0], "tb0", "fd00:1::1/64", 20000, TOPO_IF_UP);
    fake_if(&c.host[1], "tb0", "fd00:1::2/64", 20000, TOPO_IF_UP);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->cls, TOPO_CLASS_PAIR);
    ASSERT_STREQ(g->hosts[0].right.ifname, "tb0");
    ASSERT_STREQ(g->hosts[0].right.remote_addr, "fd00:1::2");
    ASSERT_STREQ(g->segments[g->links[g->hosts[0].right.link].segment].subnet, "fd00:1::/64");
    ASSERT_CONTAINS(g->notes, "both hold 172.17.0.1");
    topo_graph_destroy(g);
}

static void test_same_hostname(void)
{
    struct cluster c = { 0 };

    host_add(&c, "box");
    host_add(&c, "box");
    c.host[1].host_hash ^= 1; /* another namespace of the same machine */
    cable(&c, 0, 1, 1);
    ranks_one_per_host(&c);
    struct topo_graph *g = build_ok(&c, NULL);
    ASSERT_EQ(g->nhosts, 2);
    ASSERT_STREQ(g->hosts[0].name, "box");
    ASSERT_STREQ(g->hosts[1].name, "box#2");
    topo_graph_destroy(g);
}

static void test_bad_records(void)
{
    struct cluster c = { 0 };
    char err[TOPO_ERR_LEN];

    host_add(&c, "a");
    host_add(&c, "b");
    cable(&c, 0, 1, 1);
    ranks_one_per_host(&c);
    c.infos[0].magic = 0;
    ASSERT_EQ(build_err(&c, NULL, err, sizeof(err)), haloInvalidArgument);
    ASSERT_CONTAINS(err, "same haloccl build");
    ranks_one_per_host(&c);
    c.infos[0].rank = c.infos[1].rank;
    ASSERT_EQ(build_err(&c, NULL, err, sizeof(err)), haloInvalidArgument);
    ASSERT_EQ(build_err(&c, NULL, NULL, 0), haloInvalidArgument); /* no buffer is fine */
}

static void test_render(void)
{
    struct cluster c = { 0 };
    int rh[6] = { 0, 1, 2, 0, 1, 2 };
    char small[16], *big;
    size_t need;

    host_add(&c, "a");
    host_add(&c, "b");
    host_add(&c, "c");
    cable(&c, 0, 1, 1);
    cable(&c, 1, 2, 2);
    mgmt_all(&c, TOPO_IF_MGMT);
    ranks_make(&c, rh, 6);
    struct topo_graph *g = build_ok(&c, NULL);

    need = topo_graph_format_text(g, small, sizeof(small));
    ASSERT_TRUE(need > sizeof(small));
    ASSERT_EQ(strlen(small), sizeof(small) - 1);
    big = malloc(need + 1);
    ASSERT_EQ(topo_graph_format_text(g, big, need + 1), need);
    ASSERT_CONTAINS(big, "topology: chain, 3 hosts, 6 ranks");
    ASSERT_CONTAINS(big, "order: a - b - c");
    ASSERT_CONTAINS(big, "rank order: 0 3 | 1 4 | 2 5");
    ASSERT_CONTAINS(big, "right b via to_b 10.0.1.1 -> 10.0.1.2 (to_a)");
    ASSERT_CONTAINS(big, "a:to_b 10.0.1.1 <-> b:to_a 10.0.1.2  10.0.1.0/24  10000 Mbit/s");
    ASSERT_CONTAINS(big, "192.168.200.0/24 (management, unused): a:mgmt0, b:mgmt0, c:mgmt0\n");
    free(big);

    need = topo_graph_format_json(g, NULL, 0);
    big = malloc(need + 1);
    ASSERT_EQ(topo_graph_format_json(g, big, need + 1), need);
    ASSERT_CONTAINS(big, "{\"class\":\"chain\",\"nhosts\":3,\"nranks\":6");
    ASSERT_CONTAINS(big, "\"order\":[\"a\",\"b\",\"c\"],\"rank_order\":[0,3,1,4,2,5]");
    ASSERT_CONTAINS(big, "\"left\":null,\"right\":{\"host\":\"b\",\"ifname\":\"to_b\"");
    ASSERT_CONTAINS(big, "\"subnet\":\"10.0.1.0/24\",\"speed_mbps\":10000,\"mtu\":1500,\"rtt_us\":null");
    ASSERT_CONTAINS(big, "\"usable\":true,\"in_order\":true");
    ASSERT_TRUE(big[need - 1] == '\n' && big[need - 2] == '}');
    free(big);
    topo_graph_destroy(g);
}

int main(void)
{
    test_single_host();
    test_pair();
    test_chain3_shuffled();
    test_chain4_shuffled();
    test_ring4();
    test_triangle();
    test_switch4();
    test_chain_missing_cable();
    test_host_without_link();
    test_two_cables_one_subnet();
    test_two_cables_two_subnets();
    test_forced_ring_on_chain();
    test_forced_on_ring();
    test_order_override();
    test_options_env();
    test_mgmt_policy();
    test_default_route_is_mgmt();
    test_irregular();
    test_full_mesh_cables();
    test_ipv6_and_clones();
    test_same_hostname();
    test_bad_records();
    test_render();
    topo_graph_destroy(NULL);
    printf("test_topo_graph: all passed\n");
    return 0;
}
