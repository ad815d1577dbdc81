/* SPDX-License-Identifier: MIT */
/*
 * test_badinput.c — bad input gets a clear error, never a crash or a hang:
 * invalid arguments (checked before any byte moves), a destroyed or never
 * initialised communicator, mismatched collectives and counts across ranks (both
 * sides fail with haloInvalidUsage naming both calls), a wrong secret, and a peer
 * killed in the middle of a collective (the others fail within HALO_TIMEOUT_MS).
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp.h"
#include "test.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define EXPECT_ERR(call, code, text, comm)                                              \
    do {                                                                                \
        haloResult_t _r = (call);                                                       \
        if (_r != (code))                                                               \
            TEST_FAIL("%s returned %s, expected %s", #call, haloGetErrorString(_r),      \
                      haloGetErrorString(code));                                        \
        ASSERT_CONTAINS(haloGetLastError(comm), text);                                  \
    } while (0)

static int args_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float buf[16] = {0};
    EXPECT_ERR(haloAllReduce(NULL, buf, 4, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "sendbuff is NULL", comm);
    EXPECT_ERR(haloAllReduce(buf, NULL, 4, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "recvbuff is NULL", comm);
    EXPECT_ERR(haloAllReduce(buf, buf, SIZE_MAX / 2, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "overflow", comm);
    EXPECT_ERR(haloAllGather(buf, buf, SIZE_MAX / 8, haloFloat64, comm, NULL), haloInvalidArgument, "overflow", comm);
    EXPECT_ERR(haloAllReduce(buf, buf, 4, (haloDataType_t)12, haloSum, comm, NULL), haloInvalidArgument, "invalid datatype 12", comm);
    EXPECT_ERR(haloAllReduce(buf, buf, 4, (haloDataType_t)-1, haloSum, comm, NULL), haloInvalidArgument, "invalid datatype", comm);
    EXPECT_ERR(haloAllReduce(buf, buf, 4, haloFloat32, (haloRedOp_t)5, comm, NULL), haloInvalidArgument, "invalid reduction op 5", comm);
    EXPECT_ERR(haloBroadcast(buf, buf, 4, haloFloat32, n, comm, NULL), haloInvalidArgument, "root", comm);
    EXPECT_ERR(haloReduce(buf, buf, 4, haloFloat32, haloSum, -1, comm, NULL), haloInvalidArgument, "root -1", comm);
    EXPECT_ERR(haloSend(buf, 4, haloFloat32, n + 3, comm, NULL), haloInvalidArgument, "peer", comm);
    EXPECT_ERR(haloRecv(buf, 4, haloFloat32, -2, comm, NULL), haloInvalidArgument, "peer -2", comm);
    EXPECT_ERR(haloSend(buf, 4, haloFloat32, rank, comm, NULL), haloInvalidUsage, "itself outside a group", comm);
    EXPECT_ERR(haloAllReduce(buf, buf, 4, haloFloat32, haloSum, comm, (haloStream_t)buf), haloInvalidArgument, "no GPU runtime is loaded", comm);
    EXPECT_ERR(haloCommCount(comm, NULL), haloInvalidArgument, "count is NULL", comm);
    EXPECT_ERR(haloGroupEnd(), haloInvalidUsage, "without a matching haloGroupStart", NULL);
    /* The communicator still works after rejected calls: nothing was sent. */
    float x = (float)rank, s = 0;
    MP_CHECKC(haloAllReduce(&x, &s, 1, haloFloat32, haloSum, comm, NULL), comm);
    ASSERT_EQ((int)s, n * (n - 1) / 2);
    MP_CHECKC(haloCommDestroy(comm), NULL);
    /* Destroyed handle: detected without touching freed memory. */
    EXPECT_ERR(haloAllReduce(&x, &s, 1, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "not a live communicator", NULL);
    EXPECT_ERR(haloCommDestroy(comm), haloInvalidArgument, "not a live communicator", NULL);
    char junk[256] = {0};
    EXPECT_ERR(haloCommCount((haloComm_t)junk, &n), haloInvalidArgument, "never initialised", NULL);
    EXPECT_ERR(haloAllReduce(&x, &s, 1, haloFloat32, haloSum, NULL, NULL), haloInvalidArgument, "communicator is NULL", NULL);
    return 0;
}

/* Partly overlapping send and receive buffers are refused on every rank before any
 * byte moves (a stream changes nothing: GPU pointers are addresses too); exact in
 * place and buffers that only touch still work, with correct results. */
static int overlap_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float b[64];
    int next = (rank + 1) % n; /* another rank's block: overlapping, not in place */
    EXPECT_ERR(haloAllReduce(b, b + 1, 4, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "partly overlap", comm);
    EXPECT_ERR(haloAllReduce(b + 3, b, 4, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "sendbuff == recvbuff", comm);
    EXPECT_ERR(haloAllReduce(b, b + 2, 4, haloFloat32, haloSum, comm, (haloStream_t)b), haloInvalidArgument, "partly overlap", comm);
    EXPECT_ERR(haloAllGather(b + next * 4, b, 4, haloFloat32, comm, NULL), haloInvalidArgument, "rank * sendcount", comm);
    EXPECT_ERR(haloAllGather(b + rank * 4 + 1, b, 4, haloFloat32, comm, NULL), haloInvalidArgument, "partly overlap", comm);
    EXPECT_ERR(haloReduceScatter(b, b + next * 4, 4, haloFloat32, haloSum, comm, NULL), haloInvalidArgument, "rank * recvcount", comm);
    EXPECT_ERR(haloReduce(b, b + 1, 4, haloFloat32, haloSum, rank, comm, NULL), haloInvalidArgument, "partly overlap", comm);
    EXPECT_ERR(haloBroadcast(b + 1, b, 4, haloFloat32, rank, comm, NULL), haloInvalidArgument, "partly overlap", comm);
    /* Allowed: touching buffers, and in place as each collective defines it. */
    for (int i = 0; i < 8; i++)
        b[i] = (float)(rank * 100 + i);
    MP_CHECKC(haloAllReduce(b, b + 4, 4, haloFloat32, haloSum, comm, NULL), comm);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ((int)b[4 + i], 100 * n * (n - 1) / 2 + n * i);
    for (int i = 0; i < 4; i++)
        b[rank * 4 + i] = (float)(rank * 100 + i);
    MP_CHECKC(haloAllGather(b + rank * 4, b, 4, haloFloat32, comm, NULL), comm);
    for (int i = 0; i < 4 * n; i++)
        ASSERT_EQ((int)b[i], i / 4 * 100 + i % 4);
    for (int i = 0; i < 4 * n; i++)
        b[i] = (float)(rank * 1000 + i);
    MP_CHECKC(haloReduceScatter(b, b + rank * 4, 4, haloFloat32, haloSum, comm, NULL), comm);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ((int)b[rank * 4 + i], 1000 * n * (n - 1) / 2 + n * (rank * 4 + i));
    MP_CHECKC(haloCommDestroy(comm), NULL);
    return 0;
}

static void test_init_args(void)
{
    haloUniqueId id;
    haloComm_t comm;
    ASSERT_EQ(haloGetUniqueId(&id), haloSuccess);
    EXPECT_ERR(haloCommInitRank(&comm, 0, id, 0), haloInvalidArgument, "nranks 0", NULL);
    EXPECT_ERR(haloCommInitRank(&comm, 2, id, 2), haloInvalidArgument, "rank 2 is out of range", NULL);
    EXPECT_ERR(haloCommInitRank(&comm, 2, id, -1), haloInvalidArgument, "rank -1", NULL);
    EXPECT_ERR(haloCommInitRank(NULL, 2, id, 0), haloInvalidArgument, "NULL", NULL);
    haloUniqueId garbage;
    memset(&garbage, 0x42, sizeof(garbage));
    EXPECT_ERR(haloCommInitRank(&comm, 2, garbage, 0), haloInvalidArgument, "not a haloccl id", NULL);
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.magic = 0;
    EXPECT_ERR(haloCommInitRankConfig(&comm, 1, id, 0, &cfg), haloInvalidArgument, "HALO_CONFIG_INITIALIZER", NULL);
    haloConfig_t wire = HALO_CONFIG_INITIALIZER;
    wire.wireFormat = 7;
    EXPECT_ERR(haloCommInitRankConfig(&comm, 1, id, 0, &wire), haloInvalidArgument, "config.wireFormat=7", NULL);
    wire.wireFormat = haloWireQ8;
    wire.wireMinBytes = -1;
    EXPECT_ERR(haloCommInitRankConfig(&comm, 1, id, 0, &wire), haloInvalidArgument, "config.wireMinBytes=-1", NULL);
    EXPECT_ERR(haloGetUniqueId(NULL), haloInvalidArgument, "NULL", NULL);
}

/* Rank 0 calls allreduce, rank 1 allgather / a different count: both must fail. */
static int mismatch_main(int rank, int n, haloUniqueId id, void *arg)
{
    int kind = *(int *)arg;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float a[64] = {0}, b[256];
    haloResult_t r;
    if (kind == 0)
        r = rank == 0 ? haloAllReduce(a, b, 64, haloFloat32, haloSum, comm, NULL)
                      : haloAllGather(a, b, 32, haloFloat32, comm, NULL);
    else
        r = haloAllReduce(a, b, rank == 0 ? 64 : 63, haloFloat32, haloSum, comm, NULL);
    if (r != haloInvalidUsage)
        TEST_FAIL("rank %d: mismatch gave %s: %s", rank, haloGetErrorString(r), haloGetLastError(comm));
    const char *msg = haloGetLastError(comm);
    ASSERT_CONTAINS(msg, kind == 0 ? "allreduce(count=64" : "count=63");
    ASSERT_CONTAINS(msg, kind == 0 ? "allgather(count=32" : "count=64");
    haloResult_t ae;
    MP_CHECKC(haloCommGetAsyncError(comm, &ae), comm);
    ASSERT_EQ(ae, haloInvalidUsage);
    haloCommDestroy(comm);
    return 0;
}

/* Rank n-1 dies in the middle of a large allreduce; the others must fail fast. */
static int killed_main(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    size_t count = 8 << 20;
    float *a = calloc(count, 4);
    if (rank == n - 1) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        kill(getpid(), SIGKILL);
    }
    double t0 = now_s();
    haloResult_t r = haloAllReduce(a, a, count, haloFloat32, haloSum, comm, NULL);
    double dt = now_s() - t0;
    if (r != haloRemoteError)
        TEST_FAIL("rank %d: got %s after a peer died: %s", rank, haloGetErrorString(r), haloGetLastError(comm));
    fprintf(stderr, "rank %d: failed after %.2f s with: %s\n", rank, dt, haloGetLastError(comm));
    if (dt > 5.0)
        TEST_FAIL("rank %d took %.1f s to notice a dead peer (timeout 3 s)", rank, dt);
    haloCommDestroy(comm);
    return 0;
}

/* One rank holds an id whose secret differs: it is refused, the real job runs. */
static int secret_main(int rank, int n, haloUniqueId id, void *arg)
{
    if (rank == n) {
        haloUniqueId bad = id;
        bad.internal[20] ^= 1; /* inside the secret (see struct halo_uid) */
        haloComm_t comm;
        haloResult_t r = haloCommInitRank(&comm, n, bad, 0);
        if (r == haloSuccess)
            TEST_FAIL("an id with a wrong secret was accepted");
        ASSERT_CONTAINS(haloGetLastError(NULL), "secret");
        return 0;
    }
    haloComm_t comm;
    if (rank == n - 1) /* the job forms after the wrong secret was refused: then the root stops listening */
        usleep(1000000);
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    int x = rank + 1, s = 0;
    MP_CHECKC(haloAllReduce(&x, &s, 1, haloInt32, haloSum, comm, NULL), comm);
    ASSERT_EQ(s, n * (n + 1) / 2);
    haloCommDestroy(comm);
    return 0;
}

static int secret_launch(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    return secret_main(rank, n - 1, id, NULL);
}

/* haloMemFree takes only what haloMemAlloc handed out, once. */
static void memfree_checks(void)
{
    void *p = NULL, *q = NULL;
    ASSERT_EQ(haloMemAlloc(NULL, 64), haloInvalidArgument);
    ASSERT_EQ(haloMemAlloc(&p, 4096), haloSuccess);
    ASSERT_TRUE(p != NULL);
    memset(p, 0x5a, 4096); /* host mode: CPU memory */
    ASSERT_EQ(haloMemFree((char *)p + 64), haloInvalidArgument); /* not its start */
    ASSERT_TRUE(strstr(haloGetLastError(NULL), "not the start of a live haloMemAlloc") != NULL);
    ASSERT_EQ(haloMemFree(p), haloSuccess);
    ASSERT_EQ(haloMemFree(p), haloInvalidArgument); /* twice */
    q = malloc(64);
    ASSERT_EQ(haloMemFree(q), haloInvalidArgument); /* another allocator's */
    free(q);
    ASSERT_EQ(haloMemFree(NULL), haloSuccess);
    ASSERT_EQ(haloMemAlloc(&p, 0), haloSuccess);
    ASSERT_TRUE(p == NULL);
}

int main(void)
{
    ASSERT_EQ(mp_run(2, args_main, NULL, 60), 0);
    ASSERT_EQ(mp_run(3, args_main, NULL, 60), 0);
    ASSERT_EQ(mp_run(2, overlap_main, NULL, 60), 0);
    ASSERT_EQ(mp_run(3, overlap_main, NULL, 60), 0);
    int kind = 0;
    setenv("HALO_TIMEOUT_MS", "20000", 1);
    ASSERT_EQ(mp_run(2, mismatch_main, &kind, 60), 0);
    kind = 1;
    ASSERT_EQ(mp_run(2, mismatch_main, &kind, 60), 0);
    setenv("HALO_TRANSPORT", "tcp", 1);
    kind = 0;
    ASSERT_EQ(mp_run(3, mismatch_main, &kind, 60), 0);
    unsetenv("HALO_TRANSPORT");
    setenv("HALO_TIMEOUT_MS", "3000", 1);
    mp_expect_killed = 2;
    ASSERT_EQ(mp_run(3, killed_main, NULL, 60), 0);
    setenv("HALO_TRANSPORT", "tcp", 1);
    ASSERT_EQ(mp_run(3, killed_main, NULL, 60), 0);
    unsetenv("HALO_TRANSPORT");
    mp_expect_killed = -1;
    setenv("HALO_TIMEOUT_MS", "20000", 1);
    ASSERT_EQ(mp_run(3, secret_launch, NULL, 60), 0);
    test_init_args(); /* last: it leaves a root thread running, and mp_run forks */
    printf("test_badinput: all bad inputs rejected with clear errors\n");
    memfree_checks();
    return 0;
}
