/*
 * test_ib_unit.c — the ib transport's checks that need no peer.
 *
 *   test_ib_unit               HALO_IB_HCA matching; on a host without an ACTIVE
 *                              RDMA port, asking for ib fails with a sentence
 *   test_ib_unit IP            (in the Soft-RoCE VM; IP has rxe0 behind it) listening
 *                              works and fills the peer info; an address without an
 *                              RDMA device and an HCA spec that excludes the device
 *                              both fail with sentences naming interface and knob
 *   test_ib_unit IP memlock    (run with a small `ulimit -l` and without
 *                              CAP_IPC_LOCK) registration fails with a sentence
 *                              telling which limit to raise
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define HALO_IB_INTERNAL
#include "comm.h"
#include "ib.h"
#include "socket.h"
#include "test.h"

static struct halo_comm comm0, comm1;

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
    printf("PASS HALO_IB_HCA matching\n");
#endif
}

static void test_no_device(void)
{
    const char *why = ib_unsupported_reason();
    ASSERT_TRUE(why != NULL && why[0] != '\0');
    struct halo_ib_config cfg = config_for("127.0.0.1");
    struct halo_ib *ib = NULL;
    struct halo_ib_peer_info me;
    ASSERT_EQ(ib_listen_start(&comm0, &cfg, &ib, &me), haloSystemError);
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
    ASSERT_EQ(ib_listen_start(&comm0, &cfg, &ib, &me), haloSuccess);
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
    ASSERT_EQ(ib_listen_start(&comm0, &cfg, &ib, &me), haloInvalidArgument);
    ASSERT_CONTAINS(comm0.last_error, "HALO_IB_HCA");
    ASSERT_CONTAINS(comm0.last_error, spec);
    printf("PASS excluded by HALO_IB_HCA: %s\n", comm0.last_error);

    /* The wildcard listens for every device. */
    struct halo_ib_config any = config_for("0.0.0.0");
    ASSERT_EQ(ib_listen_start(&comm0, &any, &ib, &me), haloSuccess);
    ASSERT_NE(me.addr.port, 0);
    ASSERT_TRUE(me.dev[0] == '\0');
    printf("PASS wildcard listener on port %u\n", ntohs(me.addr.port));
    ib_destroy(ib);

    /* Loopback has no RDMA device. */
    struct halo_ib_config lo = config_for("127.0.0.1");
    struct halo_sockaddr la = lo.addr;
    ASSERT_EQ(ib_device_of_addr(&la, dev, sizeof(dev), &port, &active), 0);
    ASSERT_EQ(ib_listen_start(&comm0, &lo, &ib, &me), haloSystemError);
    ASSERT_CONTAINS(comm0.last_error, "no RDMA device is bound to interface lo");
    printf("PASS no device behind lo: %s\n", comm0.last_error);
}

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
    ASSERT_EQ(ib_listen_start(&comm0, &cfg, &ib0, &me0), haloSuccess);
    ASSERT_EQ(ib_listen_start(&comm1, &cfg, &ib1, &me1), haloSuccess);
    const struct halo_ib_peer_info *peers[2] = {&me0, NULL};
    struct halo_conn *conns[2] = {NULL, NULL};
    ASSERT_EQ(ib_connect_all(ib1, 1, peers, conns), haloSystemError);
    ASSERT_CONTAINS(comm1.last_error, "ibv_reg_mr");
    ASSERT_CONTAINS(comm1.last_error, "ulimit -l");
    ASSERT_TRUE(conns[0] == NULL);
    printf("PASS memlock limit: %s\n", comm1.last_error);
    ib_destroy(ib1);
    ib_destroy(ib0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    comm0.rank = 0;
    comm0.nranks = 2;
    comm1.rank = 1;
    comm1.nranks = 2;
    test_hca_match();
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
    else
        test_listen(argv[1]);
    return 0;
}
