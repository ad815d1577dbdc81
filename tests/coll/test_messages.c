/* SPDX-License-Identifier: MIT */
/*
 * test_messages.c — error sentences name the real cause (each case was met by a
 * user): HALO_ALGO, HALO_RAIL_FAILOVER or HALO_CHECKSUM set differently per rank
 * names each rank's value; ranks that disagree on nranks fail at once with the
 * root's reason; a recv is described as a recv; a stall names the rank that
 * stopped, not its waiting neighbour; two ranks that both send a large message to
 * each other first fail with a sentence saying to group them; no raw result code
 * ("5|") inside a sentence; HALO_BUFFSIZE counts bytes on shm and a small value is
 * accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mp.h"
#include "test.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define ASSERT_NO_CODE(msg)                                                             \
    do {                                                                                \
        if (strstr((msg), "5|") || strstr((msg), "2|") || strstr((msg), "6|"))          \
            TEST_FAIL("a raw result code is inside the sentence: %s", (msg));           \
    } while (0)

/* A setting that must agree differs: rank 1 has one value, the others another. */
struct differ {
    const char *name, *others, *rank1;
};

static int differ_main(int rank, int n, haloUniqueId id, void *arg)
{
    const struct differ *d = arg;
    char want[96];
    setenv(d->name, rank == 1 ? d->rank1 : d->others, 1);
    haloComm_t comm;
    haloResult_t r = haloCommInitRank(&comm, n, id, rank);
    if (r != haloInvalidUsage)
        TEST_FAIL("rank %d: init with differing %s gave %s", rank, d->name, haloGetErrorString(r));
    const char *msg = haloGetLastError(NULL);
    snprintf(want, sizeof(want), "%s differs", d->name);
    ASSERT_CONTAINS(msg, want);
    ASSERT_CONTAINS(msg, "rank 0");
    snprintf(want, sizeof(want), "has %s", d->others);
    ASSERT_CONTAINS(msg, want);
    ASSERT_CONTAINS(msg, "rank 1");
    snprintf(want, sizeof(want), "has %s", d->rank1);
    ASSERT_CONTAINS(msg, want);
    ASSERT_NO_CODE(msg);
    return 0;
}

static int nranks_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    if (rank == 1)
        usleep(300000); /* the others joined first and wait in the all-gather */
    haloComm_t comm;
    double t0 = now_s();
    haloResult_t r = haloCommInitRank(&comm, rank == 1 ? n + 1 : n, id, rank);
    double dt = now_s() - t0;
    if (r == haloSuccess)
        TEST_FAIL("rank %d: init with disagreeing nranks succeeded", rank);
    const char *msg = haloGetLastError(NULL);
    ASSERT_CONTAINS(msg, "nranks=");
    ASSERT_CONTAINS(msg, "all ranks must pass the same nranks");
    if (dt > 5.0)
        TEST_FAIL("rank %d took %.1f s to fail (HALO_TIMEOUT_MS 60 s): %s", rank, dt, msg);
    return 0;
}

static int p2p_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    (void)n;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, 2, id, rank));
    float a[16] = {0};
    haloResult_t r = rank == 0 ? haloRecv(a, 10, haloFloat32, 1, comm, NULL)
                               : haloSend(a, 12, haloFloat32, 0, comm, NULL);
    if (rank == 0) {
        if (r != haloInvalidUsage)
            TEST_FAIL("a recv of 10 against a send of 12 gave %s", haloGetErrorString(r));
        const char *msg = haloGetLastError(comm);
        ASSERT_CONTAINS(msg, "rank 0 called recv(count=10, float32, from=1)");
        ASSERT_CONTAINS(msg, "peer 1 called send(count=12, float32, to=0)");
        ASSERT_NO_CODE(msg);
    }
    haloCommDestroy(comm);
    return 0;
}

/* Rank 1 never calls; rank 0's ring neighbour (2) is healthy and waits for 1. */
static int stall_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    float a[4096] = {0};
    if (rank == 1) {
        sleep(5);
        haloCommAbort(comm);
        return 0;
    }
    haloResult_t r = haloAllReduce(a, a, 4096, haloFloat32, haloSum, comm, NULL);
    if (r != haloRemoteError)
        TEST_FAIL("rank %d: stall gave %s", rank, haloGetErrorString(r));
    const char *msg = haloGetLastError(comm);
    fprintf(stderr, "rank %d: %s\n", rank, msg);
    if (!strstr(msg, "rank 1 stopped") && !strstr(msg, "peer 1 (")) /* either text names rank 1 */
        TEST_FAIL("rank %d: the stall message does not name rank 1: %s", rank, msg);
    if (strstr(msg, "peer 2 (") && !strstr(msg, "rank 1 stopped"))
        TEST_FAIL("rank %d: the stall message blames the waiting rank 2: %s", rank, msg);
    ASSERT_NO_CODE(msg);
    haloCommDestroy(comm);
    return 0;
}

/* Both ranks send 16 MiB first, outside a group. */
static int crossed_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    (void)n;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, 2, id, rank));
    size_t count = 4 << 20;
    float *x = calloc(count, 4), *y = calloc(count, 4);
    double t0 = now_s();
    haloResult_t r = haloSend(x, count, haloFloat32, 1 - rank, comm, NULL);
    if (r == haloSuccess)
        r = haloRecv(y, count, haloFloat32, 1 - rank, comm, NULL);
    double dt = now_s() - t0;
    if (r != haloInvalidUsage)
        TEST_FAIL("rank %d: crossed sends gave %s: %s", rank, haloGetErrorString(r), haloGetLastError(comm));
    const char *msg = haloGetLastError(comm);
    ASSERT_CONTAINS(msg, "both send first");
    ASSERT_CONTAINS(msg, "haloGroupStart/haloGroupEnd");
    ASSERT_NO_CODE(msg);
    if (dt > 10.0)
        TEST_FAIL("rank %d: crossed sends took %.1f s to fail", rank, dt);
    free(x);
    free(y);
    haloCommDestroy(comm);
    return 0;
}

/* Small HALO_BUFFSIZE values are FIFO bytes on every transport. */
static int buffsize_main(int rank, int n, haloUniqueId id, void *arg)
{
    const char *expect = arg;
    haloComm_t comm;
    haloResult_t r = haloCommInitRank(&comm, n, id, rank);
    if (expect) {
        if (r != haloInvalidArgument)
            TEST_FAIL("rank %d: expected a refusal, got %s", rank, haloGetErrorString(r));
        ASSERT_CONTAINS(haloGetLastError(NULL), expect);
        return 0;
    }
    MP_CHECK(r);
    char desc[8192];
    MP_CHECKC(haloCommDescribe(comm, desc, sizeof(desc)), comm);
    ASSERT_CONTAINS(desc, getenv("EXPECT_FIFO"));
    float x[70000], s[70000];
    for (int i = 0; i < 70000; i++)
        x[i] = (float)(rank + i % 7);
    MP_CHECKC(haloAllReduce(x, s, 70000, haloFloat32, haloSum, comm, NULL), comm);
    ASSERT_EQ((int)s[5], n * 5 + n * (n - 1) / 2);
    haloCommDestroy(comm);
    return 0;
}

int main(void)
{
    struct differ differ[] = {
        {"HALO_ALGO", "direct", "ring"}, {"HALO_RAIL_FAILOVER", "0", "1"}, {"HALO_CHECKSUM", "0", "1"}};
    for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
        ASSERT_EQ(mp_run(2, differ_main, &differ[i], 60), 0);
        unsetenv(differ[i].name);
    }
    ASSERT_EQ(mp_run(3, nranks_main, NULL, 60), 0);
    ASSERT_EQ(mp_run(2, p2p_main, NULL, 60), 0);
    setenv("HALO_TIMEOUT_MS", "3000", 1);
    setenv("HALO_ALGO", "ring", 1);
    ASSERT_EQ(mp_run(3, stall_main, NULL, 60), 0);
    unsetenv("HALO_ALGO");
    setenv("HALO_TIMEOUT_MS", "30000", 1);
    ASSERT_EQ(mp_run(2, crossed_main, NULL, 60), 0);
    setenv("HALO_TRANSPORT", "shm", 1);
    setenv("HALO_BUFFSIZE", "1m", 1);
    setenv("EXPECT_FIFO", "16 slots of 65536 bytes", 1);
    ASSERT_EQ(mp_run(2, buffsize_main, NULL, 60), 0);
    setenv("HALO_BUFFSIZE", "256k", 1);
    setenv("EXPECT_FIFO", "4 slots of 65536 bytes", 1);
    ASSERT_EQ(mp_run(2, buffsize_main, NULL, 60), 0);
    setenv("HALO_CHUNK_SIZE", "512k", 1);
    ASSERT_EQ(mp_run(2, buffsize_main, "fewer than two slots of HALO_CHUNK_SIZE=524288", 60), 0);
    printf("test_messages: every sentence names the real cause\n");
    return 0;
}
