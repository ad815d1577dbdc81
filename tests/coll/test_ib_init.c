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
 *                       haloInvalidUsage (no hang); auto keeps local ranks on shm.
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

static void host_checks(void)
{
    if (probe_ib_supported())
        SKIP("this host has an ACTIVE RDMA port: `test_ib_init vm` and the rdma-vm rig cover ib here");
    setenv("HALO_TIMEOUT_MS", "20000", 1);
    setenv("HALO_TRANSPORT", "ib", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "the ib transport cannot be used: ", 60), 0);
    ASSERT_EQ(mp_run(3, init_fails_main, "the ib transport cannot be used: ", 60), 0);
    setenv("HALO_TRANSPORT", "auto", 1);
    ASSERT_EQ(mp_run(2, init_works_main, "shm", 60), 0);
    setenv("HALO_TRANSPORT", "infiniband", 1);
    ASSERT_EQ(mp_run(2, init_fails_main, "expected auto, shm, tcp or ib", 60), 0);
    printf("test_ib_init: HALO_TRANSPORT=ib without an RDMA port fails init with a sentence; auto uses shm\n");
}

static void vm_checks(void)
{
    setenv("HALO_TIMEOUT_MS", "60000", 1);
    setenv("HALO_TRANSPORT", "ib", 1);
    ASSERT_EQ(mp_run(2, init_works_main, "ib", 240), 0);
    ASSERT_EQ(mp_run(2, mismatch_main, NULL, 240), 0);
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
