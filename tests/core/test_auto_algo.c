/* SPDX-License-Identifier: MIT */
/*
 * test_auto_algo.c — the one-host thresholds of HALO_ALGO=auto on communicators
 * built by hand (no ranks): two-shot up to 1 MiB where ranks outnumber cores (3
 * ranks or more), up to 256 KiB from 4 ranks over shm where each has cores of its
 * own, never over loopback tcp with cores enough, on 2 ranks or across hosts; both
 * ways round the ring over loopback tcp from 3 ranks above 1 MiB. The machines
 * the suite runs on decide `crowded` one way only, so both ways are set here.
 */
#include <string.h>

#include "api_pick.h"
#include "comm.h"
#include "test.h"

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

int main(void)
{
    test_two_shot();
    test_bidir();
    printf("test_auto_algo: ok\n");
    return 0;
}
