/* SPDX-License-Identifier: MIT */
/*
 * nccl_client.c — a program written against the NCCL API only (nccl.h's names,
 * no haloccl call), built against our nccl_abi.h and, where NCCL's own header is
 * installed, against that one too. It runs as N forked ranks on this host and
 * checks every element of every result; inputs differ per rank and per index.
 *
 *   nccl_client coll N         every collective, alltoall(v), gather, scatter,
 *                              send/recv, groups and pre-mul-sum, blocking init
 *   nccl_client nonblocking N  config.blocking = 0: ncclInProgress, then poll
 *   nccl_client initall K      ncclCommInitAll: K ranks in one process
 *   nccl_client split N        ncclCommSplit by parity, with NOCOLOR on one rank
 *   nccl_client abort N        ncclCommAbort with nothing in flight
 *   nccl_client abort_thread 2 ncclCommAbort from another thread while rank 0 is
 *                              blocked in a collective rank 1 never joins
 *
 * With HALO_SHIM_EXPECT_LIB set, every mapping of a libnccl/librccl in the process
 * must be that file (the LD_PRELOAD test).
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nccl.h>

#define FAIL(...)                                                                                \
    do {                                                                                         \
        fprintf(stderr, "%s:%d: rank %d: FAIL: ", __FILE__, __LINE__, g_rank);                   \
        fprintf(stderr, __VA_ARGS__);                                                            \
        fprintf(stderr, "\n");                                                                   \
        exit(1);                                                                                 \
    } while (0)

#define NCHECK(call)                                                                             \
    do {                                                                                         \
        ncclResult_t r_ = (call);                                                                \
        if (r_ != ncclSuccess)                                                                   \
            FAIL("%s -> %d (%s): %s", #call, (int)r_, ncclGetErrorString(r_), ncclGetLastError(NULL)); \
    } while (0)

#define EXPECT_EQ(what, idx, got, want)                                                          \
    do {                                                                                         \
        double g_ = (double)(got), w_ = (double)(want);                                          \
        if (g_ != w_)                                                                            \
            FAIL("%s[%zu]: got %.17g, expected %.17g", what, (size_t)(idx), g_, w_);             \
    } while (0)

static int g_rank = -1;

/* Rank r's element i: distinct per rank and index, exact in float. */
static double val(int r, size_t i)
{
    return (double)((r + 1) * 1000 + (int)(i % 997));
}

#define N 777 /* not a multiple of any rank count */

static void check_maps(void)
{
    const char *want = getenv("HALO_SHIM_EXPECT_LIB");
    char line[4096], real_want[PATH_MAX];
    int seen = 0;
    if (!want)
        return;
    if (!realpath(want, real_want))
        FAIL("HALO_SHIM_EXPECT_LIB=%s does not exist", want);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        FAIL("cannot read /proc/self/maps");
    while (fgets(line, sizeof(line), f)) {
        char *path = strchr(line, '/');
        if (!path || (!strstr(path, "libnccl") && !strstr(path, "librccl")))
            continue;
        path[strcspn(path, "\n")] = '\0';
        if (strcmp(path, real_want) != 0)
            FAIL("mapped %s, expected only %s", path, real_want);
        seen = 1;
    }
    fclose(f);
    if (!seen)
        FAIL("no libnccl mapped at all");
}

static void test_allreduce(ncclComm_t comm, int rank, int n)
{
    int32_t *si = malloc(N * 4), *ri = malloc(N * 4);
    float *sf = malloc(N * 4), *rf = malloc(N * 4);
    double *sd = malloc(N * 8), *rd = malloc(N * 8);
    for (size_t i = 0; i < N; i++) {
        si[i] = (int32_t)val(rank, i);
        sf[i] = (float)val(rank, i);
        sd[i] = val(rank, i);
    }
    /* sum, max, min on int32 */
    NCHECK(ncclAllReduce(si, ri, N, ncclInt32, ncclSum, comm, NULL));
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int r = 0; r < n; r++)
            want += val(r, i);
        EXPECT_EQ("allreduce int32 sum", i, ri[i], want);
    }
    NCHECK(ncclAllReduce(si, ri, N, ncclInt32, ncclMax, comm, NULL));
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("allreduce int32 max", i, ri[i], val(n - 1, i));
    NCHECK(ncclAllReduce(si, ri, N, ncclInt32, ncclMin, comm, NULL));
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("allreduce int32 min", i, ri[i], val(0, i));
    /* in place, float */
    memcpy(rf, sf, N * 4);
    NCHECK(ncclAllReduce(rf, rf, N, ncclFloat32, ncclSum, comm, NULL));
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int r = 0; r < n; r++)
            want += val(r, i);
        EXPECT_EQ("allreduce float sum in place", i, rf[i], want);
    }
    /* avg on double: sum is a multiple of n exactly only sometimes; compare sum/n */
    NCHECK(ncclAllReduce(sd, rd, N, ncclFloat64, ncclAvg, comm, NULL));
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int r = 0; r < n; r++)
            want += val(r, i);
        if (rd[i] < want / n - 1e-9 || rd[i] > want / n + 1e-9)
            FAIL("allreduce double avg[%zu]: got %.17g, expected %.17g", i, rd[i], want / n);
    }
    /* zero count is valid */
    NCHECK(ncclAllReduce(si, ri, 0, ncclInt32, ncclSum, comm, NULL));
    free(si), free(ri), free(sf), free(rf), free(sd), free(rd);
}

static void test_premulsum(ncclComm_t comm, int rank, int n)
{
    float *s = malloc(N * 4), *r = malloc(N * 4);
    double *sd = malloc(N * 8), *rd = malloc(N * 8);
    float scalar = (float)(rank + 2);
    double dscalar = 0.5 * (rank + 1);
    ncclRedOp_t op, dop;
    for (size_t i = 0; i < N; i++) {
        s[i] = (float)val(rank, i);
        sd[i] = val(rank, i);
    }
    NCHECK(ncclRedOpCreatePreMulSum(&op, &scalar, ncclFloat32, ncclScalarHostImmediate, comm));
    scalar = -100.0f; /* immediate: the value at create counts */
    NCHECK(ncclRedOpCreatePreMulSum(&dop, &dscalar, ncclFloat64, ncclScalarDevice, comm));
    if ((int)op < (int)ncclNumOps || (int)dop < (int)ncclNumOps || op == dop)
        FAIL("pre-mul-sum handles %d and %d", (int)op, (int)dop);
    NCHECK(ncclAllReduce(s, r, N, ncclFloat32, op, comm, NULL));
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int q = 0; q < n; q++)
            want += (q + 2) * val(q, i);
        EXPECT_EQ("premulsum float allreduce", i, r[i], want);
    }
    dscalar = 0.25 * (rank + 1); /* residence "device": read when the collective runs */
    NCHECK(ncclReduce(sd, rd, N, ncclFloat64, dop, 0, comm, NULL));
    if (rank == 0)
        for (size_t i = 0; i < N; i++) {
            double want = 0;
            for (int q = 0; q < n; q++)
                want += 0.25 * (q + 1) * val(q, i);
            EXPECT_EQ("premulsum double reduce", i, rd[i], want);
        }
    /* reduce-scatter with the op, inside a group with another collective */
    float *big = malloc((size_t)n * N * 4);
    for (size_t i = 0; i < (size_t)n * N; i++)
        big[i] = (float)val(rank, i);
    NCHECK(ncclGroupStart());
    NCHECK(ncclReduceScatter(big, r, N, ncclFloat32, op, comm, NULL));
    NCHECK(ncclAllReduce(sd, rd, N, ncclFloat64, ncclSum, comm, NULL));
    NCHECK(ncclGroupEnd());
    for (size_t i = 0; i < N; i++) {
        double want = 0, wsum = 0;
        for (int q = 0; q < n; q++) {
            want += (q + 2) * val(q, (size_t)rank * N + i);
            wsum += val(q, i);
        }
        EXPECT_EQ("premulsum reducescatter in group", i, r[i], want);
        EXPECT_EQ("allreduce in group", i, rd[i], wsum);
    }
    NCHECK(ncclRedOpDestroy(op, comm));
    NCHECK(ncclRedOpDestroy(dop, comm));
    if (ncclAllReduce(s, r, N, ncclFloat32, op, comm, NULL) != ncclInvalidArgument)
        FAIL("a destroyed op was accepted");
    free(s), free(r), free(sd), free(rd), free(big);
}

static void test_rooted(ncclComm_t comm, int rank, int n)
{
    int root = n - 1;
    int32_t *s = malloc(N * 4), *r = malloc(N * 4), *all = malloc((size_t)n * N * 4);
    for (size_t i = 0; i < N; i++)
        s[i] = (int32_t)val(rank, i);
    /* broadcast, NULL sendbuff off the root (vLLM does that) */
    memset(r, 0, N * 4);
    NCHECK(ncclBroadcast(rank == root ? s : NULL, r, N, ncclInt32, root, comm, NULL));
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("broadcast", i, r[i], val(root, i));
    memcpy(r, s, N * 4);
    NCHECK(ncclBcast(r, N, ncclInt32, 0, comm, NULL));
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("bcast", i, r[i], val(0, i));
    /* reduce to rank 1 % n */
    int rroot = 1 % n;
    memset(r, 0, N * 4);
    NCHECK(ncclReduce(s, r, N, ncclInt32, ncclSum, rroot, comm, NULL));
    if (rank == rroot)
        for (size_t i = 0; i < N; i++) {
            double want = 0;
            for (int q = 0; q < n; q++)
                want += val(q, i);
            EXPECT_EQ("reduce", i, r[i], want);
        }
    /* allgather */
    NCHECK(ncclAllGather(s, all, N, ncclInt32, comm, NULL));
    for (size_t i = 0; i < (size_t)n * N; i++)
        EXPECT_EQ("allgather", i, all[i], val((int)(i / N), i % N));
    /* reduce-scatter: rank q's input block b is val(q, b*N + i) */
    for (size_t i = 0; i < (size_t)n * N; i++)
        all[i] = (int32_t)val(rank, i);
    NCHECK(ncclReduceScatter(all, r, N, ncclInt32, ncclSum, comm, NULL));
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int q = 0; q < n; q++)
            want += val(q, (size_t)rank * N + i);
        EXPECT_EQ("reducescatter", i, r[i], want);
    }
    /* gather to root, scatter from rank 0 */
    memset(all, 0, (size_t)n * N * 4);
    NCHECK(ncclGather(s, all, N, ncclInt32, root, comm, NULL));
    if (rank == root)
        for (size_t i = 0; i < (size_t)n * N; i++)
            EXPECT_EQ("gather", i, all[i], val((int)(i / N), i % N));
    for (size_t i = 0; i < (size_t)n * N; i++)
        all[i] = (int32_t)(val(rank, i) + 7);
    memset(r, 0, N * 4);
    NCHECK(ncclScatter(all, r, N, ncclInt32, 0, comm, NULL));
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("scatter", i, r[i], val(0, (size_t)rank * N + i) + 7);
    /* in-place gather on the root */
    for (size_t i = 0; i < (size_t)n * N; i++)
        all[i] = -1;
    int32_t *mine = rank == root ? all + (size_t)root * N : s;
    if (rank == root)
        memcpy(mine, s, N * 4);
    NCHECK(ncclGather(mine, all, N, ncclInt32, root, comm, NULL));
    if (rank == root)
        for (size_t i = 0; i < (size_t)n * N; i++)
            EXPECT_EQ("gather in place", i, all[i], val((int)(i / N), i % N));
    free(s), free(r), free(all);
}

/* Element i of the block rank `from` sends to rank `to`. */
static double a2a_val(int from, int to, size_t i)
{
    return from * 100000.0 + to * 1000.0 + (double)(i % 991);
}

static void test_alltoall(ncclComm_t comm, int rank, int n)
{
    int64_t *s = calloc((size_t)n * N, 8), *r = calloc((size_t)n * N, 8);
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < N; i++)
            s[(size_t)p * N + i] = (int64_t)a2a_val(rank, p, i);
    NCHECK(ncclAlltoAll(s, r, N, ncclInt64, comm, NULL));
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < N; i++)
            EXPECT_EQ("alltoall", (size_t)p * N + i, r[(size_t)p * N + i], a2a_val(p, rank, i));
#ifdef HALO_NCCL_ABI_H /* RCCL's spellings: not in NCCL's header */
    memset(r, 0, (size_t)n * N * 8);
    NCHECK(ncclAllToAll(s, r, N, ncclInt64, comm, NULL));
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < N; i++)
            EXPECT_EQ("AllToAll", (size_t)p * N + i, r[(size_t)p * N + i], a2a_val(p, rank, i));
#endif
    /* in place */
    memcpy(r, s, (size_t)n * N * 8);
    NCHECK(ncclAlltoAll(r, r, N, ncclInt64, comm, NULL));
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < N; i++)
            EXPECT_EQ("alltoall in place", (size_t)p * N + i, r[(size_t)p * N + i], a2a_val(p, rank, i));
    NCHECK(ncclAlltoAll(s, r, 0, ncclInt64, comm, NULL));
#ifdef HALO_NCCL_ABI_H /* RCCL's ncclAlltoAllv / ncclAllToAllv */
    /* v: rank a sends (a + b) % 3 * 5 + 1 elements to rank b, packed in rank order,
     * and a zero-sized block to itself when n > 2 */
    size_t sc[64], sdis[64], rc[64], rdis[64], so = 0, ro = 0;
    for (int p = 0; p < n; p++) {
        sc[p] = (p == rank && n > 2) ? 0 : (size_t)((rank + p) % 3 * 5 + 1);
        rc[p] = (p == rank && n > 2) ? 0 : (size_t)((p + rank) % 3 * 5 + 1);
        sdis[p] = so, so += sc[p] + 2; /* gaps between blocks */
        rdis[p] = ro, ro += rc[p] + 3;
    }
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < sc[p]; i++)
            s[sdis[p] + i] = (int64_t)a2a_val(rank, p, i);
    for (size_t i = 0; i < ro; i++)
        r[i] = -5;
    NCHECK(ncclAlltoAllv(s, sc, sdis, r, rc, rdis, ncclInt64, comm, NULL));
    for (int p = 0; p < n; p++) {
        for (size_t i = 0; i < rc[p]; i++)
            EXPECT_EQ("alltoallv", rdis[p] + i, r[rdis[p] + i], a2a_val(p, rank, i));
        EXPECT_EQ("alltoallv gap untouched", rdis[p] + rc[p], r[rdis[p] + rc[p]], -5);
    }
    NCHECK(ncclAllToAllv(s, sc, sdis, r, rc, rdis, ncclInt64, comm, NULL));
#endif
    free(s), free(r);
}

static void test_p2p(ncclComm_t comm, int rank, int n)
{
    double s[N], r[N], self[N];
    int next = (rank + 1) % n, prev = (rank + n - 1) % n;
    for (size_t i = 0; i < N; i++)
        s[i] = val(rank, i);
    NCHECK(ncclGroupStart());
    NCHECK(ncclSend(s, N, ncclFloat64, next, comm, NULL));
    NCHECK(ncclRecv(r, N, ncclFloat64, prev, comm, NULL));
    NCHECK(ncclSend(s, N / 2, ncclFloat64, rank, comm, NULL)); /* to self */
    NCHECK(ncclRecv(self, N / 2, ncclFloat64, rank, comm, NULL));
    NCHECK(ncclGroupEnd());
    for (size_t i = 0; i < N; i++)
        EXPECT_EQ("recv from prev", i, r[i], val(prev, i));
    for (size_t i = 0; i < N / 2; i++)
        EXPECT_EQ("recv from self", i, self[i], val(rank, i));
    /* outside a group: rank 0 sends to rank 1, blocking */
    if (rank == 0)
        NCHECK(ncclSend(s, N, ncclFloat64, 1, comm, NULL));
    else if (rank == 1) {
        NCHECK(ncclRecv(r, N, ncclFloat64, 0, comm, NULL));
        for (size_t i = 0; i < N; i++)
            EXPECT_EQ("blocking recv", i, r[i], val(0, i));
    }
    /* nested groups: the inner end runs nothing, the outer end runs both */
    NCHECK(ncclGroupStart());
    NCHECK(ncclGroupStart());
    NCHECK(ncclSend(s, 3, ncclFloat64, prev, comm, NULL));
    NCHECK(ncclGroupEnd());
    NCHECK(ncclRecv(r, 3, ncclFloat64, next, comm, NULL));
    NCHECK(ncclGroupEnd());
    for (size_t i = 0; i < 3; i++)
        EXPECT_EQ("nested group recv", i, r[i], val(next, i));
}

static void check_comm(ncclComm_t comm, int rank, int n)
{
    int v = 0, c = -1, u = -1;
    ncclResult_t e = ncclInternalError;
    NCHECK(ncclGetVersion(&v));
    EXPECT_EQ("version", 0, v, 22809);
    NCHECK(ncclCommCount(comm, &c));
    NCHECK(ncclCommUserRank(comm, &u));
    EXPECT_EQ("count", 0, c, n);
    EXPECT_EQ("rank", 0, u, rank);
    NCHECK(ncclCommGetAsyncError(comm, &e));
    EXPECT_EQ("async error", 0, e, ncclSuccess);
}

/* ---- modes: each runs as one rank ---- */

static int run_coll(int rank, int n, ncclUniqueId id)
{
    ncclComm_t comm;
    check_maps();
    NCHECK(ncclCommInitRank(&comm, n, id, rank));
    check_comm(comm, rank, n);
    test_allreduce(comm, rank, n);
    test_rooted(comm, rank, n);
    test_alltoall(comm, rank, n);
    test_p2p(comm, rank, n);
    test_premulsum(comm, rank, n);
    NCHECK(ncclCommFinalize(comm));
    NCHECK(ncclCommDestroy(comm));
    return 0;
}

static int run_nonblocking(int rank, int n, ncclUniqueId id)
{
    ncclComm_t comm = NULL;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    ncclResult_t st;
    int polls = 0;
    config.blocking = 0;
    config.commName = "nonblocking-test";
    /* The last rank joins late, so the others see ncclInProgress for a while. */
    if (rank == n - 1)
        usleep(300 * 1000);
    ncclResult_t r = ncclCommInitRankConfig(&comm, n, id, rank, &config);
    if (r != ncclInProgress)
        FAIL("non-blocking init returned %d, expected ncclInProgress (7)", (int)r);
    if (!comm)
        FAIL("non-blocking init left *comm NULL");
    do {
        NCHECK(ncclCommGetAsyncError(comm, &st));
        polls++;
        if (st == ncclInProgress)
            usleep(1000);
    } while (st == ncclInProgress);
    if (st != ncclSuccess)
        FAIL("init ended with %d: %s", (int)st, ncclGetLastError(comm));
    if (rank == 0 && polls < 2)
        FAIL("rank 0 never saw ncclInProgress (%d polls)", polls);
    check_comm(comm, rank, n);
    test_allreduce(comm, rank, n);
    /* a second non-blocking comm used at once: the call waits for the init */
    ncclComm_t child;
    NCHECK(ncclCommSplit(comm, 0, n - rank, &child, &config));
    check_comm(child, n - 1 - rank, n);
    NCHECK(ncclCommDestroy(child));
    NCHECK(ncclCommDestroy(comm));
    return 0;
}

static int run_split(int rank, int n, ncclUniqueId id)
{
    ncclComm_t comm, half;
    NCHECK(ncclCommInitRank(&comm, n, id, rank));
    /* rank 0 opts out; the others split by parity, ordered by descending rank */
    int color = rank == 0 ? NCCL_SPLIT_NOCOLOR : rank % 2;
    NCHECK(ncclCommSplit(comm, color, -rank, &half, NULL));
    if (rank == 0) {
        if (half != NULL)
            FAIL("NOCOLOR gave a communicator");
    } else {
        int members = 0, myidx = 0;
        for (int q = 1; q < n; q++)
            if (q % 2 == rank % 2) {
                members++;
                if (q > rank)
                    myidx++;
            }
        check_comm(half, myidx, members);
        int32_t x = rank * 10 + 1, sum = 0;
        NCHECK(ncclAllReduce(&x, &sum, 1, ncclInt32, ncclSum, half, NULL));
        int32_t want = 0;
        for (int q = 1; q < n; q++)
            if (q % 2 == rank % 2)
                want += q * 10 + 1;
        EXPECT_EQ("split allreduce", 0, sum, want);
        NCHECK(ncclCommDestroy(half));
    }
    NCHECK(ncclCommDestroy(comm));
    return 0;
}

static int run_abort(int rank, int n, ncclUniqueId id)
{
    ncclComm_t comm;
    ncclResult_t e;
    int32_t x = rank, y = 0;
    NCHECK(ncclCommInitRank(&comm, n, id, rank));
    NCHECK(ncclAllReduce(&x, &y, 1, ncclInt32, ncclSum, comm, NULL));
    EXPECT_EQ("allreduce before abort", 0, y, n * (n - 1) / 2);
    NCHECK(ncclCommAbort(comm));
    /* the handle is gone: every call says so, none crashes */
    if (ncclAllReduce(&x, &y, 1, ncclInt32, ncclSum, comm, NULL) != ncclInvalidArgument)
        FAIL("allreduce on an aborted comm did not fail with ncclInvalidArgument");
    if (!strstr(ncclGetLastError(NULL), "not a live communicator"))
        FAIL("last error after use of an aborted comm: \"%s\"", ncclGetLastError(NULL));
    if (ncclCommGetAsyncError(comm, &e) != ncclInvalidArgument || ncclCommAbort(comm) != ncclInvalidArgument)
        FAIL("aborted comm accepted by GetAsyncError or a second abort");
    return 0;
}

struct aborter {
    ncclComm_t comm;
    ncclResult_t result;
};

static void *abort_later(void *p)
{
    struct aborter *a = p;
    usleep(300 * 1000);
    a->result = ncclCommAbort(a->comm);
    return NULL;
}

static int run_abort_thread(int rank, int n, ncclUniqueId id)
{
    ncclComm_t comm;
    static float buf[1 << 16];
    NCHECK(ncclCommInitRank(&comm, n, id, rank));
    if (rank == 0) {
        struct aborter a = {.comm = comm, .result = ncclInternalError};
        pthread_t t;
        pthread_create(&t, NULL, abort_later, &a);
        ncclResult_t r = ncclAllReduce(buf, buf, 1 << 16, ncclFloat32, ncclSum, comm, NULL);
        pthread_join(t, NULL);
        if (r == ncclSuccess)
            FAIL("a collective that rank 1 never joined succeeded");
        if (a.result != ncclSuccess)
            FAIL("ncclCommAbort from another thread returned %d", (int)a.result);
        return 0;
    }
    usleep(1000 * 1000); /* rank 0 aborts meanwhile */
    if (ncclAllReduce(buf, buf, 1, ncclFloat32, ncclSum, comm, NULL) == ncclSuccess)
        FAIL("a collective after the peer's abort succeeded");
    NCHECK(ncclCommAbort(comm));
    return 0;
}

/* ---- ncclCommInitAll: threads of one process ---- */

struct initall_arg {
    ncclComm_t comm;
    int rank, n, ok;
};

static void *initall_rank(void *p)
{
    struct initall_arg *a = p;
    int32_t v[N], r[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (int32_t)val(a->rank, i);
    if (ncclAllReduce(v, r, N, ncclInt32, ncclSum, a->comm, NULL) != ncclSuccess)
        return NULL;
    for (size_t i = 0; i < N; i++) {
        double want = 0;
        for (int q = 0; q < a->n; q++)
            want += val(q, i);
        if (r[i] != want)
            return NULL;
    }
    a->ok = 1;
    return NULL;
}

static int run_initall(int k)
{
    ncclComm_t comms[16];
    int devs[16] = {0};
    pthread_t th[16];
    struct initall_arg args[16];
    for (int i = 0; i < k; i++)
        devs[i] = 10 + i;
    NCHECK(ncclCommInitAll(comms, k, devs));
    for (int i = 0; i < k; i++) {
        int d = -1;
        check_comm(comms[i], i, k);
        NCHECK(ncclCommCuDevice(comms[i], &d));
        EXPECT_EQ("cuDevice", i, d, 10 + i);
        args[i] = (struct initall_arg){.comm = comms[i], .rank = i, .n = k};
        pthread_create(&th[i], NULL, initall_rank, &args[i]);
    }
    for (int i = 0; i < k; i++) {
        pthread_join(th[i], NULL);
        if (!args[i].ok)
            FAIL("InitAll rank %d's allreduce failed: %s", i, ncclGetLastError(comms[i]));
    }
    for (int i = 0; i < k; i++)
        NCHECK(ncclCommDestroy(comms[i]));
    return 0;
}

/* ---- forked ranks: fork first, then create the id and pass it through pipes ---- */

typedef int (*rank_fn)(int rank, int n, ncclUniqueId id);

static int run_ranks(int n, rank_fn fn)
{
    pid_t pids[16];
    int pipes[16][2], result = 0;
    for (int r = 0; r < n; r++) {
        if (pipe(pipes[r]) != 0)
            return 1;
        fflush(NULL);
        if ((pids[r] = fork()) == 0) {
            ncclUniqueId id;
            close(pipes[r][1]);
            if (read(pipes[r][0], &id, sizeof(id)) != (ssize_t)sizeof(id))
                _exit(99);
            g_rank = r;
            _exit(fn(r, n, id));
        }
        close(pipes[r][0]);
    }
    ncclUniqueId id;
    NCHECK(ncclGetUniqueId(&id));
    for (int r = 0; r < n; r++) {
        if (write(pipes[r][1], &id, sizeof(id)) != (ssize_t)sizeof(id))
            kill(pids[r], SIGKILL);
        close(pipes[r][1]);
    }
    time_t end = time(NULL) + 100;
    for (int left = n; left > 0;) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            left--;
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            if (code && !result)
                result = code;
            continue;
        }
        if (time(NULL) > end) {
            fprintf(stderr, "ranks still running after 100 s: killing them\n");
            for (int r = 0; r < n; r++)
                kill(pids[r], SIGKILL);
            result = result ? result : 124;
            end = time(NULL) + 3600;
        }
        usleep(2000);
    }
    return result;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        goto usage;
    int n = atoi(argv[2]);
    if (n < 1 || n > 16)
        goto usage;
    check_maps();
    int rc;
    if (strcmp(argv[1], "coll") == 0)
        rc = run_ranks(n, run_coll);
    else if (strcmp(argv[1], "nonblocking") == 0)
        rc = run_ranks(n, run_nonblocking);
    else if (strcmp(argv[1], "split") == 0)
        rc = run_ranks(n, run_split);
    else if (strcmp(argv[1], "abort") == 0)
        rc = run_ranks(n, run_abort);
    else if (strcmp(argv[1], "abort_thread") == 0)
        rc = run_ranks(n, run_abort_thread);
    else if (strcmp(argv[1], "initall") == 0)
        rc = run_initall(n);
    else
        goto usage;
    printf("nccl_client %s %d: %s\n", argv[1], n, rc ? "FAILED" : "ok");
    return rc;
usage:
    fprintf(stderr, "usage: nccl_client coll|nonblocking|split|abort|abort_thread|initall N\n");
    return 2;
}
