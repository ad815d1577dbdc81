/* SPDX-License-Identifier: MIT */
/*
 * test_ib_init.c — the ib transport chosen (or refused) at communicator creation.
 *
 *   test_ib_init        on a host without an ACTIVE RDMA port (the development and
 *                       CI machines): HALO_TRANSPORT=ib fails init on every rank with
 *                       a sentence saying why, promptly; auto still works (shm) and
 *                       says nothing about ib; a bad HALO_TRANSPORT lists ib.
 *                       Skips (77) on a host that has an ACTIVE RDMA port.
 *   test_ib_init vm     in the Soft-RoCE VM (rxe0 ACTIVE, HALO_SOCKET_IFNAME on its
 *                       netdev): HALO_TRANSPORT=ib joins local ranks over ib (every
 *                       connection is an ib one) and an allreduce is exact;
 *                       HALO_IB_HCA naming a missing device fails init naming the knob;
 *                       mismatched collectives over ib fail on both ranks with
 *                       haloInvalidUsage (no hang); auto keeps local ranks on shm;
 *                       zero-copy (HALO_IB_ZCOPY_MIN=4k): ring all-reduces in and out
 *                       of place, avg, several channels, a 20 MiB send (3 pieces),
 *                       registered and unregistered buffers, every element checked and
 *                       the zero-copy counters moved; a zero-copy call against a
 *                       copying one (different counts) fails on both ranks; the same
 *                       with HALO_IB_QPS_PER_PEER=3 (pieces spread over three QPs).
 *   Both: haloCommRegister / haloCommDeregister argument checks; a bad
 *   HALO_IB_QPS_PER_PEER fails init naming the range; so does HALO_RAILS.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "comm.h"
#include "ib.h"
#include "mp.h"
#include "test.h"

/* ib_supported() in a child: loading verbs in this process would be inherited by
 * the forked ranks, and verbs contexts do not survive fork. */
static int probe_ib_supported(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(ib_supported() ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Init must fail with a sentence containing arg (a string). */
static int init_fails_main(int rank, int n, haloUniqueId id, void *arg)
{
    const char *text = arg;
    haloComm_t comm;
    haloResult_t r = haloCommInitRank(&comm, n, id, rank);
    if (r == haloSuccess)
        TEST_FAIL("rank %d: init succeeded, expected a failure containing \"%s\"", rank, text);
    const char *msg = haloGetLastError(NULL);
    fprintf(stderr, "rank %d: init failed as expected (%s): %s\n", rank, haloGetErrorString(r), msg);
    /* Each rank finds the reason itself, or gets the first one's sentence relayed. */
    ASSERT_CONTAINS(msg, text);
    return 0;
}

/* Init works; every connection uses transport `want`; an allreduce is exact. */
static int init_works_main(int rank, int n, haloUniqueId id, void *arg)
{
    const char *want = arg;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    for (int i = 0; i < comm->nchannels * n; i++)
        if (comm->conns[i])
            ASSERT_STREQ(comm->conns[i]->ops->name, want);
    int x = rank + 1, s = 0;
    MP_CHECKC(haloAllReduce(&x, &s, 1, haloInt32, haloSum, comm, NULL), comm);
    ASSERT_EQ(s, n * (n + 1) / 2);
    size_t count = 300007; /* several slots and channels */
    float *buf = malloc(count * sizeof(float));
    ASSERT_TRUE(buf != NULL);
    for (size_t i = 0; i < count; i++)
        buf[i] = (float)((rank + 1) * (int)(i % 1000));
    MP_CHECKC(haloAllReduce(buf, buf, count, haloFloat32, haloSum, comm, NULL), comm);
    for (size_t i = 0; i < count; i++)
        if (buf[i] != (float)(n * (n + 1) / 2 * (int)(i % 1000)))
            TEST_FAIL("rank %d: element %zu is %g, expected %d", rank, i, buf[i], n * (n + 1) / 2 * (int)(i % 1000));
    free(buf);
    MP_CHECKC(haloCommDestroy(comm), NULL);
    return 0;
}

/* Rank 0 calls allreduce, the others allgather: every rank fails with haloInvalidUsage. */
static int mismatch_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float a[64] = {0}, b[512];
    haloResult_t r = rank == 0 ? haloAllReduce(a, b, 64, haloFloat32, haloSum, comm, NULL)
                               : haloAllGather(a, b, 32, haloFloat32, comm, NULL);
    if (r != haloInvalidUsage)
        TEST_FAIL("rank %d: mismatch over ib gave %s: %s", rank, haloGetErrorString(r), haloGetLastError(comm));
    fprintf(stderr, "rank %d: mismatch detected: %s\n", rank, haloGetLastError(comm));
    ASSERT_CONTAINS(haloGetLastError(comm), "allreduce(count=64");
    haloCommDestroy(comm);
    return 0;
}

/* Value of element i on rank r: differs per rank and per element. */
static float zc_val(int r, size_t i)
{
    return (float)((r + 1) * (int)(i % 997) + (int)(i % 13));
}

static void zc_fill(float *b, size_t n, int rank)
{
    for (size_t i = 0; i < n; i++)
        b[i] = zc_val(rank, i);
}

static int zc_check_sum(const float *b, size_t n, int nranks, int avg, const char *what, int rank)
{
    for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < nranks; r++)
            want += zc_val(r, i);
        if (avg)
            want /= (float)nranks;
        if (b[i] != want)
            TEST_FAIL("rank %d: %s: element %zu of %zu is %g, expected %g", rank, what, i, n, b[i], want);
    }
    return 0;
}

static uint64_t zc_sent(haloComm_t comm)
{
    uint64_t s = 0;
    for (int i = 0; i < comm->nchannels * comm->nranks; i++)
        if (comm->conns[i])
            s += comm->conns[i]->zc_tx_posted;
    return s;
}

/* HALO_IB_ZCOPY_MIN=4k: all-reduces and a large send go zero-copy and are exact. */
static int zc_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    ASSERT_TRUE(comm->zc_ring);
    static const size_t counts[] = {20000, 65536, 300007, 1300001};
    size_t maxc = 5u << 20; /* 20 MiB of floats */
    float *a = malloc(maxc * sizeof(float)), *b = malloc(maxc * sizeof(float));
    ASSERT_TRUE(a && b);
    void *ha = NULL, *hb = NULL;
    for (int reg = 0; reg <= 1; reg++) {
        if (reg) {
            MP_CHECKC(haloCommRegister(comm, a, maxc * sizeof(float), &ha), comm);
            MP_CHECKC(haloCommRegister(comm, b, maxc * sizeof(float), &hb), comm);
        }
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
            size_t c = counts[k];
            uint64_t before = zc_sent(comm);
            zc_fill(a, c, rank);
            MP_CHECKC(haloAllReduce(a, b, c, haloFloat32, haloSum, comm, NULL), comm);
            if (zc_check_sum(b, c, n, 0, "out of place", rank))
                return 1;
            MP_CHECKC(haloAllReduce(a, a, c, haloFloat32, haloAvg, comm, NULL), comm);
            if (zc_check_sum(a, c, n, 1, "in place, avg", rank))
                return 1;
            if (zc_sent(comm) == before)
                TEST_FAIL("rank %d: count %zu: no zero-copy message was sent", rank, c);
        }
        /* A send of 20 MiB: three zero-copy pieces, the last one short. */
        int peer = rank ^ 1;
        if (peer < n) {
            zc_fill(a, maxc, rank);
            memset(b, 0, maxc * sizeof(float));
            MP_CHECKC(haloGroupStart(), comm);
            MP_CHECKC(haloSend(a, maxc - 7, haloFloat32, peer, comm, NULL), comm);
            MP_CHECKC(haloRecv(b, maxc - 7, haloFloat32, peer, comm, NULL), comm);
            MP_CHECKC(haloGroupEnd(), comm);
            for (size_t i = 0; i < maxc - 7; i++)
                if (b[i] != zc_val(peer, i))
                    TEST_FAIL("rank %d: received element %zu is %g, expected %g", rank, i, b[i], zc_val(peer, i));
            if (b[maxc - 7] != 0)
                TEST_FAIL("rank %d: the receive wrote past its end", rank);
        }
    }
    MP_CHECKC(haloCommDeregister(comm, ha), comm);
    MP_CHECKC(haloCommDeregister(comm, hb), comm);
    free(a);
    free(b);
    MP_CHECKC(haloCommDestroy(comm), NULL);
    return 0;
}

/* Rank 0's all-reduce blocks reach HALO_IB_ZCOPY_MIN, rank 1's do not (counts
 * differ): both fail with a mismatch instead of waiting. Then a zero-copy send
 * against a small receive. */
static int zc_mismatch_main(int rank, int n, haloUniqueId id, void *arg)
{
    int p2p = arg != NULL;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    size_t big = 100000, small = 1000;
    float *a = calloc(big, sizeof(float)), *b = calloc(big, sizeof(float));
    ASSERT_TRUE(a && b);
    haloResult_t r;
    if (!p2p)
        r = haloAllReduce(a, b, rank == 0 ? big : small, haloFloat32, haloSum, comm, NULL);
    else if (rank == 0)
        r = haloSend(a, big, haloFloat32, 1, comm, NULL);
    else
        r = haloRecv(b, small, haloFloat32, 0, comm, NULL);
    if (r == haloSuccess)
        TEST_FAIL("rank %d: a mismatched %s succeeded", rank, p2p ? "send/receive" : "all-reduce");
    fprintf(stderr, "rank %d: zero-copy mismatch detected (%s): %s\n", rank, haloGetErrorString(r),
            haloGetLastError(comm));
    if (rank == (p2p ? 1 : 0) || !p2p)
        ASSERT_CONTAINS(haloGetLastError(comm), p2p ? "send(count=100000" : "allreduce(count=");
    free(a);
    free(b);
    haloCommDestroy(comm);
    return 0;
}

/* haloCommRegister / Deregister: argument checks; registered buffers work (shm). */
static int register_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float buf[1000], out[1000];
    void *h = NULL, *h2 = NULL;
    ASSERT_EQ(haloCommRegister(comm, buf, sizeof(buf), NULL), haloInvalidArgument);
    ASSERT_CONTAINS(haloGetLastError(comm), "handle is NULL");
    ASSERT_EQ(haloCommRegister(comm, NULL, 64, &h), haloInvalidArgument);
    ASSERT_EQ(haloCommRegister(comm, buf, 0, &h), haloInvalidArgument);
    ASSERT_EQ(haloCommRegister(NULL, buf, 64, &h), haloInvalidArgument);
    MP_CHECKC(haloCommRegister(comm, buf, sizeof(buf), &h), comm);
    MP_CHECKC(haloCommRegister(comm, out, sizeof(out), &h2), comm);
    zc_fill(buf, 1000, rank);
    MP_CHECKC(haloAllReduce(buf, out, 1000, haloFloat32, haloSum, comm, NULL), comm);
    if (zc_check_sum(out, 1000, n, 0, "registered buffers", rank))
        return 1;
    MP_CHECKC(haloCommDeregister(comm, h), comm);
    ASSERT_EQ(haloCommDeregister(comm, h), haloInvalidArgument);
    ASSERT_CONTAINS(haloGetLastError(comm), "is not a registration of this communicator");
    ASSERT_EQ(haloCommDeregister(comm, (void *)buf), haloInvalidArgument);
    MP_CHECKC(haloCommDestroy(comm), NULL); /* h2 is freed by destroy */
    return 0;
}

static void host_checks(void)
{
    setenv("HALO_TRANSPORT", "auto", 1);
    ASSERT_EQ(mp_run(2, register_main, NULL, 60), 0);
    setenv("HALO_IB_QPS_PER_PEER", "9", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "HALO_IB_QPS_PER_PEER=9: expected 1..8", 60), 0);
    unsetenv("HALO_IB_QPS_PER_PEER");
    setenv("HALO_RAILS", "9", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "HALO_RAILS=9: expected 1..4 or auto", 60), 0);
    setenv("HALO_RAILS", "0", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "HALO_RAILS=0: expected 1..4 or auto", 60), 0);
    unsetenv("HALO_RAILS");
    if (probe_ib_supported())
        SKIP("this host has an ACTIVE RDMA port: `test_ib_init vm` and the rdma-vm rig cover ib here");
    setenv("HALO_TIMEOUT_MS", "20000", 1);
    setenv("HALO_TRANSPORT", "ib", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "the ib transport cannot be used: ", 60), 0);
    ASSERT_EQ(mp_run(3, init_fails_main, "the ib transport cannot be used: ", 60), 0);
    setenv("HALO_TRANSPORT", "auto", 1);
    ASSERT_EQ(mp_run(2, init_works_main, "shm", 60), 0);
    setenv("HALO_TRANSPORT", "infiniband", 1); /* refused by the parameter table, at the first call */
    haloUniqueId id;
    ASSERT_EQ(haloGetUniqueId(&id), haloInvalidArgument);
    ASSERT_CONTAINS(haloGetLastError(NULL), "HALO_TRANSPORT=\"infiniband\": expected auto, shm, tcp or ib");
    printf("test_ib_init: HALO_TRANSPORT=ib without an RDMA port fails init with a sentence; auto uses shm\n");
}

static void vm_checks(void)
{
    setenv("HALO_TIMEOUT_MS", "60000", 1);
    setenv("HALO_TRANSPORT", "ib", 1);
    ASSERT_EQ(mp_run(2, init_works_main, "ib", 240), 0);
    ASSERT_EQ(mp_run(2, mismatch_main, NULL, 240), 0);
    setenv("HALO_IB_ZCOPY_MIN", "4k", 1);
    setenv("HALO_NCHANNELS", "2", 1);
    setenv("HALO_ALGO", "ring", 1); /* auto takes direct for the smaller counts */
    ASSERT_EQ(mp_run(2, zc_main, NULL, 400), 0);
    ASSERT_EQ(mp_run(3, zc_main, NULL, 400), 0);
    setenv("HALO_IB_QPS_PER_PEER", "3", 1); /* pieces over three QPs per connection */
    ASSERT_EQ(mp_run(2, zc_main, NULL, 400), 0);
    ASSERT_EQ(mp_run(3, zc_main, NULL, 400), 0);
    unsetenv("HALO_IB_QPS_PER_PEER");
    unsetenv("HALO_NCHANNELS");
    unsetenv("HALO_ALGO");
    ASSERT_EQ(mp_run(2, zc_mismatch_main, NULL, 240), 0);
    ASSERT_EQ(mp_run(2, zc_mismatch_main, "p2p", 240), 0);
    ASSERT_EQ(mp_run(2, register_main, NULL, 240), 0);
    unsetenv("HALO_IB_ZCOPY_MIN");
    setenv("HALO_IB_HCA", "mlx5_9", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "HALO_IB_HCA=mlx5_9 matches no ACTIVE RDMA port", 120), 0);
    unsetenv("HALO_IB_HCA");
    setenv("HALO_TRANSPORT", "auto", 1);
    ASSERT_EQ(mp_run(2, init_works_main, "shm", 240), 0);
    printf("test_ib_init vm: ib joins local ranks, HALO_IB_HCA mismatch and mismatched calls fail with sentences\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "vm") == 0)
        vm_checks();
    else
        host_checks();
    return 0;
}
