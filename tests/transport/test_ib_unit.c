/* SPDX-License-Identifier: MIT */
/*
 * test_ib_unit.c — the ib transport's checks that need no peer.
 *
 *   test_ib_unit               HALO_IB_HCA matching; a link's device without RC
 *                              queue pairs (iWARP) is refused; on a host without an ACTIVE
 *                              RDMA port, asking for ib fails with a sentence
 *   test_ib_unit IP            (in the Soft-RoCE VM; IP has rxe0 behind it) listening
 *                              works and fills the peer info; an address without an
 *                              RDMA device and an HCA spec that excludes the device
 *                              both fail with sentences naming interface and knob;
 *                              HALO_IB_GID_INDEX: the RoCE v2 GID of IP (found in
 *                              sysfs) is taken, an index beyond 255, an empty entry
 *                              and an IPv6 GID for an IPv4 listener are refused with
 *                              sentences naming device, port and index
 *   test_ib_unit IP memlock    (run with a small `ulimit -l` and without
 *                              CAP_IPC_LOCK) registration fails with a sentence
 *                              telling which limit to raise
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define HALO_IB_INTERNAL
#include "tp_ctx.h"
#include "ib.h"
#include "param.h"
#include "socket.h"
#include "test.h"

static struct tp_test comm0, comm1; /* contexts named as the communicators they stand for */

static struct halo_ib_config config_for(const char *ip)
{
    struct halo_ib_config cfg;
    char err[128];
    memset(&cfg, 0, sizeof(cfg));
    ASSERT_OK(halo_sockaddr_parse(ip, &cfg.addr, err, sizeof(err)));
    cfg.addr.port = 0;
    cfg.hca = "";
    cfg.slot_size = 512 * 1024;
    cfg.nslots = 8;
    cfg.timeout_us = 10 * 1000000;
    return cfg;
}

static void test_hca_match(void)
{
#ifdef HALO_IB_HEADERS
    ASSERT_TRUE(ib_hca_match("", "mlx5_0", 1));
    ASSERT_TRUE(ib_hca_match(NULL, "rxe0", 1));
    ASSERT_TRUE(ib_hca_match("mlx5", "mlx5_0", 1));
    ASSERT_TRUE(ib_hca_match("mlx5", "mlx5_1", 2));
    ASSERT_TRUE(!ib_hca_match("mlx5", "rxe0", 1));
    ASSERT_TRUE(ib_hca_match("=mlx5_0", "mlx5_0", 1));
    ASSERT_TRUE(!ib_hca_match("=mlx5_0", "mlx5_01", 1));
    ASSERT_TRUE(!ib_hca_match("^mlx5", "mlx5_0", 1));
    ASSERT_TRUE(ib_hca_match("^mlx5", "irdma0", 1));
    ASSERT_TRUE(ib_hca_match("mlx5_0:1", "mlx5_0", 1));
    ASSERT_TRUE(!ib_hca_match("mlx5_0:1", "mlx5_0", 2));
    ASSERT_TRUE(ib_hca_match("rxe0:1,mlx5_1:2", "mlx5_1", 2));
    ASSERT_TRUE(!ib_hca_match("rxe0:1,mlx5_1:2", "mlx5_1", 1));
    ASSERT_TRUE(!ib_hca_match("^=rxe0", "rxe0", 1));
    ASSERT_TRUE(ib_hca_match("^=rxe0", "rxe00", 1));
    ASSERT_TRUE(!ib_hca_match("mlx5_0:x", "mlx5_0", 1));
    /* A port beyond 8 bits never matches (it used to overflow an int: 2^32 + 1 wrapped to 1). */
    ASSERT_TRUE(!ib_hca_match("mlx5_0:4294967297", "mlx5_0", 1));
    ASSERT_TRUE(!ib_hca_match("mlx5_0:99999999999999999999", "mlx5_0", 1));
    ASSERT_TRUE(ib_hca_match("mlx5_0:255", "mlx5_0", 255));
    ASSERT_TRUE(ib_hca_match("mlx5_0:001", "mlx5_0", 1));
    printf("PASS HALO_IB_HCA matching\n");
#endif
}

static void test_gid_v4(void)
{
#ifdef HALO_IB_HEADERS
    union ibv_gid g;
    memset(&g, 0, sizeof(g));
    g.raw[10] = g.raw[11] = 0xff;
    g.raw[12] = 10;
    g.raw[15] = 1;
    ASSERT_TRUE(ib_gid_is_v4(&g));
    char buf[64];
    ASSERT_STREQ(ib_gid_str(&g, buf, sizeof(buf)), "::ffff:10.0.0.1");
    g.raw[0] = 0xfe;
    g.raw[1] = 0x80;
    ASSERT_TRUE(!ib_gid_is_v4(&g));
    printf("PASS GID family\n");
#endif
}

static void test_no_device(void)
{
    const char *why = ib_unsupported_reason();
    ASSERT_TRUE(why != NULL && why[0] != '\0');
    struct halo_ib_config cfg = config_for("127.0.0.1");
    struct halo_ib *ib = NULL;
    struct halo_ib_peer_info me;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloSystemError);
    ASSERT_TRUE(ib == NULL);
    ASSERT_CONTAINS(comm0.last_error, "ib transport cannot be used");
    ASSERT_CONTAINS(comm0.last_error, why);
    printf("PASS without an RDMA port: %s\n", comm0.last_error);
}

static void test_listen(const char *ip)
{
    struct halo_ib_config cfg = config_for(ip);
    struct halo_ib *ib = NULL;
    struct halo_ib_peer_info me;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloSuccess);
    ASSERT_EQ(me.active, 1);
    ASSERT_NE(me.addr.port, 0);
    ASSERT_TRUE(me.dev[0] != '\0');
    ASSERT_NE(me.port, 0);
    ASSERT_NE(me.mtu, 0);
    char dev[32], where[80];
    int port = 0, active = 0;
    ASSERT_EQ(ib_device_of_addr(&cfg.addr, dev, sizeof(dev), &port, &active), 1);
    ASSERT_STREQ(dev, me.dev);
    ASSERT_EQ(port, me.port);
    ASSERT_EQ(active, 1);
    printf("PASS listening on %s: %s port %u, MTU %u\n", halo_sockaddr_str(&me.addr, where, sizeof(where)), me.dev,
           me.port, me.mtu);
    ib_destroy(ib);

    /* An HCA spec that excludes the device behind the interface. */
    char spec[40];
    snprintf(spec, sizeof(spec), "^%s", me.dev);
    cfg.hca = spec;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloInvalidArgument);
    ASSERT_CONTAINS(comm0.last_error, "HALO_IB_HCA");
    ASSERT_CONTAINS(comm0.last_error, spec);
    printf("PASS excluded by HALO_IB_HCA: %s\n", comm0.last_error);

    /* The wildcard listens for every device. */
    struct halo_ib_config any = config_for("0.0.0.0");
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &any, &ib, &me), haloSuccess);
    ASSERT_NE(me.addr.port, 0);
    ASSERT_TRUE(me.dev[0] == '\0');
    printf("PASS wildcard listener on port %u\n", ntohs(me.addr.port));
    ib_destroy(ib);

    /* Loopback has no RDMA device. */
    struct halo_ib_config lo = config_for("127.0.0.1");
    struct halo_sockaddr la = lo.addr;
    ASSERT_EQ(ib_device_of_addr(&la, dev, sizeof(dev), &port, &active), 0);
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &lo, &ib, &me), haloSystemError);
    ASSERT_CONTAINS(comm0.last_error, "no RDMA device is bound to interface lo");
    printf("PASS no device behind lo: %s\n", comm0.last_error);
}

#ifdef HALO_IB_HEADERS
/* GID `index` of dev/port from sysfs (the oracle: not what the library reads):
 * 1 with *type "RoCE v2" / "IB/RoCE v1", 0 for an empty or missing entry. */
static int sysfs_gid(const char *dev, int port, int index, uint8_t gid[16], char *type, size_t typelen)
{
    char path[160], line[80];
    snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%d/gids/%d", dev, port, index);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    unsigned w[8];
    if (!ok || sscanf(line, "%4x:%4x:%4x:%4x:%4x:%4x:%4x:%4x", &w[0], &w[1], &w[2], &w[3], &w[4], &w[5], &w[6],
                      &w[7]) != 8)
        return 0;
    int zero = 1;
    for (int i = 0; i < 8; i++) {
        gid[2 * i] = (uint8_t)(w[i] >> 8);
        gid[2 * i + 1] = (uint8_t)w[i];
        zero = zero && w[i] == 0;
    }
    snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%d/gid_attrs/types/%d", dev, port, index);
    type[0] = 0;
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(type, (int)typelen, f))
            type[strcspn(type, "\n")] = 0;
        fclose(f);
    }
    return !zero;
}

/* HALO_IB_GID_INDEX on a listener bound to ip (an IPv4 address with rxe0 behind it). */
static void test_gid_index(const char *ip)
{
    struct halo_ib_config cfg = config_for(ip);
    struct halo_ib *ib = NULL;
    struct halo_ib_peer_info me;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloSuccess);
    ASSERT_EQ(me.gid_forced, 0);
    char dev[32];
    snprintf(dev, sizeof(dev), "%s", me.dev);
    int port = me.port;
    ib_destroy(ib);

    uint8_t want[16] = {0}, g[16];
    want[10] = want[11] = 0xff;
    ASSERT_EQ(inet_pton(AF_INET, ip, want + 12), 1);
    int v2 = -1, v6 = -1, empty = -1;
    char type[32];
    for (int i = 0; i < 256; i++) {
        if (!sysfs_gid(dev, port, i, g, type, sizeof(type))) {
            if (empty < 0)
                empty = i;
            continue;
        }
        if (strcmp(type, "RoCE v2") != 0)
            continue;
        if (!memcmp(g, want, 16))
            v2 = i;
        else if (v6 < 0 && memcmp(g, want, 10) != 0)
            v6 = i;
    }
    if (v2 < 0)
        TEST_FAIL("no RoCE v2 GID of %s in /sys/class/infiniband/%s/ports/%d/gids", ip, dev, port);

    cfg.force_gid = 1;
    cfg.gid_index = v2;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloSuccess);
    ASSERT_EQ(me.gid_forced, 1);
    ASSERT_EQ(me.gid_index, v2);
    printf("PASS HALO_IB_GID_INDEX=%d (the RoCE v2 GID of %s on %s port %d)\n", v2, ip, dev, port);
    ib_destroy(ib);

    char where[48], idx[48];
    snprintf(where, sizeof(where), "%s port %d", dev, port);
    snprintf(idx, sizeof(idx), "%d ::ffff:%s", v2, ip); /* the list names the good entry */
    cfg.gid_index = 999;
    ib = NULL;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloInvalidArgument);
    ASSERT_TRUE(ib == NULL);
    ASSERT_CONTAINS(comm0.last_error, "HALO_IB_GID_INDEX=999");
    ASSERT_CONTAINS(comm0.last_error, where);
    ASSERT_CONTAINS(comm0.last_error, "out of range");
    ASSERT_CONTAINS(comm0.last_error, idx);
    printf("PASS index beyond 255: %s\n", comm0.last_error);

    struct halo_ib_config any = config_for("0.0.0.0");
    any.force_gid = 1;
    any.gid_index = 999;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &any, &ib, &me), haloInvalidArgument);
    ASSERT_CONTAINS(comm0.last_error, "HALO_IB_GID_INDEX=999");
    ASSERT_CONTAINS(comm0.last_error, where);
    printf("PASS index beyond 255, wildcard listener: %s\n", comm0.last_error);

    if (empty >= 0) {
        cfg.gid_index = empty;
        ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloInvalidArgument);
        ASSERT_CONTAINS(comm0.last_error, "is empty");
        ASSERT_CONTAINS(comm0.last_error, where);
        printf("PASS empty entry %d: %s\n", empty, comm0.last_error);
    }
    if (v6 >= 0) {
        cfg.gid_index = v6;
        ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib, &me), haloInvalidArgument);
        ASSERT_CONTAINS(comm0.last_error, "an IPv6 address, but this connection runs over IPv4");
        printf("PASS IPv6 GID %d for an IPv4 listener: %s\n", v6, comm0.last_error);
    } else {
        printf("note: %s has no IPv6 RoCE v2 GID; the family check is not exercised\n", where);
    }
}
#endif

/* Rank 1 connects to rank 0 in this same process: the registration comes before
 * any packet, so it fails before rank 0 would have to accept. */
static void test_memlock(const char *ip)
{
    struct rlimit rl;
    ASSERT_OK(getrlimit(RLIMIT_MEMLOCK, &rl));
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1024 * 1024)
        SKIP("run with `ulimit -l 64` (the limit is %llu)", (unsigned long long)rl.rlim_cur);
    struct halo_ib_config cfg = config_for(ip);
    struct halo_ib *ib0 = NULL, *ib1 = NULL;
    struct halo_ib_peer_info me0, me1;
    ASSERT_EQ(ib_listen_start(&comm0.ctx, &cfg, &ib0, &me0), haloSuccess);
    ASSERT_EQ(ib_listen_start(&comm1.ctx, &cfg, &ib1, &me1), haloSuccess);
    const struct halo_ib_peer_info *peers[2] = {&me0, NULL}; /* [ch * nranks + peer], one channel */
    struct halo_conn *conns[2] = {NULL, NULL};
    ASSERT_EQ(ib_connect_all(ib1, 1, peers, conns), haloSystemError);
    ASSERT_CONTAINS(comm1.last_error, "ibv_reg_mr");
    ASSERT_CONTAINS(comm1.last_error, "ulimit -l");
    ASSERT_TRUE(conns[0] == NULL);
    printf("PASS memlock limit: %s\n", comm1.last_error);
    ib_destroy(ib1);
    ib_destroy(ib0);
}

/* A link whose RDMA device cannot carry RC queue pairs (iWARP, usNIC), or with no
 * RDMA device on either end while both ranks use ib elsewhere: auto takes tcp on it
 * (a WARN names the link and why), HALO_TRANSPORT=ib fails with a sentence naming
 * the device or interface and why; a fit link stays ib. No RDMA hardware needed. */
static void test_link_fit(void)
{
    static const struct {
        const char *transport;
        int iwarp; /* 1: the peer's device is iWARP; 2: it has too few QPs; 3: neither end has an RDMA device */
        haloResult_t want;
        int yes;
    } cases[] = {{"auto", 0, haloSuccess, 1}, {"auto", 1, haloSuccess, 0}, {"ib", 1, haloSystemError, 0},
                 {"ib", 0, haloSuccess, 1},     {"auto", 2, haloSuccess, 0}, {"ib", 2, haloSystemError, 0},
                 {"auto", 3, haloSuccess, 0},   {"ib", 3, haloSystemError, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tp_test t;
        struct halo_params p;
        struct halo_ib_peer_info mine, theirs;
        struct halo_tp_peer peers[2];
        struct halo_tp_link link;
        char err[256];
        int yes = -1;
        tp_test_init(&t, 0, 2);
        setenv("HALO_TRANSPORT", cases[i].transport, 1);
        ASSERT_EQ(halo_params_load(&p, err, sizeof(err)), 0);
        unsetenv("HALO_TRANSPORT");
        t.ctx.params = &p;
        memset(peers, 0, sizeof(peers));
        snprintf(peers[1].hostname, sizeof(peers[1].hostname), "nodeB");
        t.ctx.peers = peers;
        memset(&mine, 0, sizeof(mine));
        mine.active = 1;
        theirs = mine;
        memset(&link, 0, sizeof(link));
        snprintf(link.mine.ifname, sizeof(link.mine.ifname), "ens2f1");
        snprintf(link.mine.rdma_dev, sizeof(link.mine.rdma_dev), "irdma1");
        link.mine.rdma_port = link.peer.rdma_port = 1;
        link.mine.rdma_active = link.peer.rdma_active = 1;
        snprintf(link.peer.ifname, sizeof(link.peer.ifname), "ens2f0");
        snprintf(link.peer.rdma_dev, sizeof(link.peer.rdma_dev), "irdma0");
        if (cases[i].iwarp == 1)
            snprintf(link.peer.rdma_unfit, sizeof(link.peer.rdma_unfit), "it is an iWARP device (RNIC)");
        if (cases[i].iwarp == 2) { /* the capability check's sentence, as comm_topo.c fills it */
            const struct halo_ib_caps one = {.max_qp = 1, .max_cq = 64, .max_qp_wr = 1u << 14,
                                             .max_cqe = 1u << 16, .max_sge = 4, .max_mr = 1024, .rc_ok = 1};
            struct halo_ib_needs need;
            ib_caps_needs(8, 6, 1, &need);
            ASSERT_TRUE(ib_caps_unfit(&one, &need, 1, link.peer.rdma_unfit, sizeof(link.peer.rdma_unfit)));
        }
        if (cases[i].iwarp == 3)
            link.mine.rdma_dev[0] = link.peer.rdma_dev[0] = '\0';
        ASSERT_EQ(halo_ib_setup.can_connect(&t.ctx, 1, 0, &mine, &theirs, &link, &yes), cases[i].want);
        if (cases[i].want != haloSuccess && cases[i].iwarp == 3) {
            ASSERT_TRUE(strstr(t.last_error, "interface ens2f1") && strstr(t.last_error, "no RDMA device") &&
                        strstr(t.last_error, "HALO_TRANSPORT=ib"));
            continue;
        }
        if (cases[i].want != haloSuccess) {
            ASSERT_TRUE(strstr(t.last_error, "irdma0") && strstr(t.last_error, "HALO_TRANSPORT=ib"));
            ASSERT_CONTAINS(t.last_error, cases[i].iwarp == 1 ? "iWARP"
                                                               : "irdma0 (interface ens2f0 of rank 1's host): port "
                                                                 "1 offers 1 queue pair, this job needs 6 there");
            continue;
        }
        ASSERT_EQ(yes, cases[i].yes);
    }
    printf("PASS a link whose RDMA device has no RC queue pairs, too few, or no RDMA device: tcp in auto, an "
           "error when ib is forced\n");
}

/* The device capability check (ib_caps_unfit), without hardware: a device with
 * enough of everything is fit; too few QPs, too short queues, or no RC QP at all
 * give one sentence naming the port, the capability and both numbers. */
static void test_caps_fit(void)
{
    /* 2 ranks here x 2 remote ranks x 2 channels = 8 connections, 2 QPs each. */
    struct halo_ib_needs need;
    ib_caps_needs(64, 8, 2, &need);
    ASSERT_EQ(need.nconns, 8);
    ASSERT_EQ(need.qps, 16u);
    ASSERT_EQ(need.cqs, 8u);
    ASSERT_EQ(need.sge, 1u);
    ASSERT_TRUE(need.qp_wr >= 64u && need.cqe > need.qp_wr && need.mrs >= 16u);
    const struct halo_ib_caps enough = {.max_qp = 1u << 17, .max_cq = 1u << 16, .max_qp_wr = 1u << 15,
                                        .max_cqe = 1u << 22, .max_sge = 32, .max_mr = 1u << 18, .rc_ok = 1};
    char why[192];
    ASSERT_TRUE(ib_caps_unfit(&enough, &need, 1, why, sizeof(why)) == NULL);
    /* Exactly the needs is enough. */
    struct halo_ib_caps exact = {.max_qp = need.qps, .max_cq = need.cqs, .max_qp_wr = need.qp_wr,
                                 .max_cqe = need.cqe, .max_sge = 1, .max_mr = need.mrs, .rc_ok = 1};
    ASSERT_TRUE(ib_caps_unfit(&exact, &need, 1, why, sizeof(why)) == NULL);

    struct halo_ib_caps few_qps = enough;
    few_qps.max_qp = 1;
    struct halo_ib_needs six;
    ib_caps_needs(64, 6, 1, &six);
    ASSERT_TRUE(ib_caps_unfit(&few_qps, &six, 1, why, sizeof(why)) == why);
    ASSERT_CONTAINS(why, "port 1 offers 1 queue pair, this job needs 6 there");

    struct halo_ib_caps few_wrs = enough;
    few_wrs.max_qp_wr = 16;
    ASSERT_TRUE(ib_caps_unfit(&few_wrs, &need, 2, why, sizeof(why)) == why);
    char want[96];
    snprintf(want, sizeof(want), "port 2 takes 16 work requests per queue pair, ib needs %u", need.qp_wr);
    ASSERT_CONTAINS(why, want);

    struct halo_ib_caps few_cqe = enough;
    few_cqe.max_cqe = need.cqe - 1;
    ASSERT_TRUE(ib_caps_unfit(&few_cqe, &need, 1, why, sizeof(why)) == why);
    ASSERT_CONTAINS(why, "per completion queue");

    struct halo_ib_caps no_sge = enough;
    no_sge.max_sge = 0;
    ASSERT_TRUE(ib_caps_unfit(&no_sge, &need, 1, why, sizeof(why)) == why);
    ASSERT_CONTAINS(why, "0 scatter/gather entries");

    struct halo_ib_caps few_mrs = enough;
    few_mrs.max_mr = 3;
    ASSERT_TRUE(ib_caps_unfit(&few_mrs, &need, 1, why, sizeof(why)) == why);
    ASSERT_CONTAINS(why, "registers 3 memory regions");

    /* A USB4-style engine with one UC QP: the RC QP fails, whatever the numbers. */
    struct halo_ib_caps no_rc = {.max_qp = 1, .max_cq = 1, .max_qp_wr = 1u << 15, .max_cqe = 1u << 16,
                                 .max_sge = 1, .max_mr = 64, .rc_ok = 0, .rc_errno = EOPNOTSUPP};
    ASSERT_TRUE(ib_caps_unfit(&no_rc, &need, 1, why, sizeof(why)) == why);
    ASSERT_CONTAINS(why, "cannot create a reliable-connection (RC) queue pair");
    ASSERT_CONTAINS(why, strerror(EOPNOTSUPP));
    no_rc.rc_errno = 0;
    ASSERT_TRUE(ib_caps_unfit(&no_rc, &need, 1, why, sizeof(why)) == why);
    ASSERT_TRUE(strstr(why, "(RC) queue pair, which ib needs") != NULL);
    /* No connection at all needs nothing beyond RC and the queue sizes. */
    struct halo_ib_needs none;
    ib_caps_needs(64, 0, 1, &none);
    ASSERT_EQ(none.qps, 0u);
    printf("PASS device capabilities: enough, too few QPs, too few WRs, CQEs, SGEs, MRs, no RC QP\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    tp_test_init(&comm0, 0, 2);
    tp_test_init(&comm1, 1, 2);
    test_hca_match();
    test_gid_v4();
    test_link_fit();
    test_caps_fit();
    if (argc < 2) {
        if (ib_supported())
            printf("note: this host has an ACTIVE RDMA port; the no-device check is left to hosts without one\n");
        else
            test_no_device();
        return 0;
    }
    if (!ib_supported())
        TEST_FAIL("an RDMA port was expected here: %s", ib_unsupported_reason());
    if (argc >= 3 && !strcmp(argv[2], "memlock"))
        test_memlock(argv[1]);
    else {
        test_listen(argv[1]);
#ifdef HALO_IB_HEADERS
        test_gid_index(argv[1]);
#endif
    }
    return 0;
}
