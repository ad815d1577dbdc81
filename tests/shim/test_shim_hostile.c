/* SPDX-License-Identifier: MIT */
/*
 * test_shim_hostile.c — calls a careless or hostile program makes through the NCCL
 * API: NULL, foreign and destroyed handles, bad op handles, unsupported features,
 * bad arguments. Each must return an error code with a sentence for
 * ncclGetLastError; none may crash or succeed silently. One rank, one process.
 */
#include <stdint.h>
#include <string.h>

#include "nccl_abi.h"
#include "test.h"

/* r is the expected code and the thread's last error names `words`. */
#define EXPECT_ERR(call, code, words)                                                            \
    do {                                                                                         \
        ASSERT_EQ((call), (code));                                                               \
        ASSERT_CONTAINS(ncclGetLastError(NULL), (words));                                        \
    } while (0)

static ncclComm_t one_rank(void)
{
    ncclUniqueId id;
    ncclComm_t comm = NULL;
    ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
    ASSERT_EQ(ncclCommInitRank(&comm, 1, id, 0), ncclSuccess);
    ASSERT_TRUE(comm != NULL);
    return comm;
}

static void bad_handles(void)
{
    int32_t x[4] = {1, 2, 3, 4}, y[4];
    ncclResult_t e;
    int n;
    char not_a_comm[64] = {0};

    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclInt32, ncclSum, NULL, NULL), ncclInvalidArgument, "comm is NULL");
    EXPECT_ERR(ncclSend(x, 4, ncclInt32, 0, NULL, NULL), ncclInvalidArgument, "comm is NULL");
    EXPECT_ERR(ncclCommCount(NULL, &n), ncclInvalidArgument, "comm is NULL");
    EXPECT_ERR(ncclCommGetAsyncError(NULL, &e), ncclInvalidArgument, "comm is NULL");
    EXPECT_ERR(ncclCommDestroy(NULL), ncclInvalidArgument, "comm is NULL");
    EXPECT_ERR(ncclAlltoAll(x, y, 1, ncclInt32, (ncclComm_t)not_a_comm, NULL), ncclInvalidArgument,
               "not a live communicator");
    EXPECT_ERR(ncclCommAbort((ncclComm_t)not_a_comm), ncclInvalidArgument, "not a live communicator");

    ncclComm_t comm = one_rank();
    ASSERT_EQ(ncclCommDestroy(comm), ncclSuccess);
    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclInt32, ncclSum, comm, NULL), ncclInvalidArgument,
               "not a live communicator");
    EXPECT_ERR(ncclCommDestroy(comm), ncclInvalidArgument, "not a live communicator");
    EXPECT_ERR(ncclCommUserRank(comm, &n), ncclInvalidArgument, "not a live communicator");
    EXPECT_ERR(ncclGather(x, y, 1, ncclInt32, 0, comm, NULL), ncclInvalidArgument, "not a live communicator");
}

static void bad_ops(ncclComm_t comm, ncclComm_t other)
{
    float x[4] = {1, 2, 3, 4}, y[4], s = 2.0f;
    ncclRedOp_t op;

    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclFloat32, (ncclRedOp_t)12345, comm, NULL), ncclInvalidArgument,
               "op 12345");
    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclFloat32, (ncclRedOp_t)-1, comm, NULL), ncclInvalidArgument, "op -1");
    EXPECT_ERR(ncclRedOpDestroy(ncclSum, comm), ncclInvalidArgument, "built-in");
    ASSERT_EQ(ncclRedOpCreatePreMulSum(&op, &s, ncclFloat32, ncclScalarHostImmediate, comm), ncclSuccess);
    /* used with another type, on another comm, after destroy */
    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclFloat64, op, comm, NULL), ncclInvalidArgument, "created for float32");
    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclFloat32, op, other, NULL), ncclInvalidArgument, "nor a live");
    ASSERT_EQ(ncclAllReduce(x, y, 4, ncclFloat32, op, comm, NULL), ncclSuccess);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(y[i], 2.0f * x[i]);
    ASSERT_EQ(ncclRedOpDestroy(op, comm), ncclSuccess);
    EXPECT_ERR(ncclRedOpDestroy(op, comm), ncclInvalidArgument, "not a live pre-mul-sum op");
    /* a device-resident scalar is read when the call runs (host memory here) */
    ASSERT_EQ(ncclRedOpCreatePreMulSum(&op, &s, ncclFloat32, ncclScalarDevice, comm), ncclSuccess);
    s = 3.0f;
    ASSERT_EQ(ncclAllReduce(x, y, 4, ncclFloat32, op, comm, NULL), ncclSuccess);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(y[i], 3.0f * x[i]);
    ASSERT_EQ(ncclRedOpDestroy(op, comm), ncclSuccess);
    EXPECT_ERR(ncclRedOpCreatePreMulSum(&op, &s, (ncclDataType_t)77, ncclScalarHostImmediate, comm),
               ncclInvalidArgument, "datatype 77");
}

static void unsupported(ncclComm_t comm)
{
    ncclWindow_t win;
    ncclComm_t nc;
    int excl = 0;
    char buf[64];

    EXPECT_ERR(ncclCommWindowRegister(comm, buf, sizeof(buf), &win, NCCL_WIN_COLL_SYMMETRIC), ncclInvalidUsage,
               "not supported");
    EXPECT_ERR(ncclCommWindowDeregister(comm, NULL), ncclInvalidUsage, "not supported");
    EXPECT_ERR(ncclDevCommCreate(comm, NULL, NULL), ncclInvalidUsage, "device API");
    EXPECT_ERR(ncclCommShrink(comm, &excl, 1, &nc, NULL, NCCL_SHRINK_DEFAULT), ncclInvalidUsage, "ncclCommSplit");
    EXPECT_ERR(ncclCommRevoke(comm, 0), ncclInvalidUsage, "ncclCommAbort");
    EXPECT_ERR(ncclCommRevoke(comm, 3), ncclInvalidArgument, "revokeFlags");
    EXPECT_ERR(ncclAllReduceWithBias(buf, buf, 1, ncclInt8, ncclSum, comm, NULL, buf), ncclInvalidUsage,
               "not supported");
    EXPECT_ERR(ncclPutSignal(buf, 1, ncclInt8, 0, NULL, 0, 0, 0, 0, comm, NULL), ncclInvalidUsage, "one-sided");
    mscclAlgoHandle_t h;
    EXPECT_ERR(mscclLoadAlgo("x", &h, 0), ncclInvalidUsage, "MSCCL");
    ASSERT_EQ(ncclLLA2ACalcSlots(16, 4), 0);
    /* the last error is also on the comm */
    ASSERT_CONTAINS(ncclGetLastError(comm), "not supported");
    /* teams have answers */
    ncclTeam_t t = ncclTeamWorld(comm);
    ASSERT_EQ(t.nRanks, 1);
    ASSERT_EQ(t.stride, 1);
}

static void bad_arguments(ncclComm_t comm)
{
    int32_t x[4] = {0}, y[4];
    ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
    ncclComm_t nc;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    ncclUniqueId id;
    int d = 0;

    EXPECT_ERR(ncclGetVersion(NULL), ncclInvalidArgument, "version is NULL");
    ASSERT_STREQ(ncclGetErrorString((ncclResult_t)99), "unknown result code");
    ASSERT_STREQ(ncclGetErrorString(ncclSuccess), "no error");
    EXPECT_ERR(ncclAllReduce(x, y, 4, (ncclDataType_t)55, ncclSum, comm, NULL), ncclInvalidArgument, "");
    ASSERT_TRUE(strlen(ncclGetLastError(NULL)) > 0);
    /* a stream: host mode rejects it with haloccl's sentence */
    ASSERT_TRUE(ncclAllReduce(x, y, 4, ncclInt32, ncclSum, comm, (void *)0x1000) != ncclSuccess);
    ASSERT_TRUE(strlen(ncclGetLastError(NULL)) > 0);
    EXPECT_ERR(ncclGather(x, y, 1, ncclInt32, 5, comm, NULL), ncclInvalidArgument, "root 5");
    cfg.magic = 1;
    ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
    EXPECT_ERR(ncclCommInitRankConfig(&nc, 1, id, 0, &cfg), ncclInvalidArgument, "NCCL_CONFIG_INITIALIZER");
    EXPECT_ERR(ncclCommInitRank(NULL, 1, id, 0), ncclInvalidArgument, "NULL");
    /* simulate: refused while operations are queued (group stays open), fine when empty */
    ASSERT_EQ(ncclGroupStart(), ncclSuccess);
    ASSERT_EQ(ncclAllReduce(x, y, 4, ncclInt32, ncclSum, comm, NULL), ncclSuccess);
    EXPECT_ERR(ncclGroupSimulateEnd(&sim), ncclInvalidUsage, "ncclGroupEnd");
    ASSERT_EQ(ncclGroupEnd(), ncclSuccess);
    ASSERT_EQ(ncclGroupStart(), ncclSuccess);
    ASSERT_EQ(ncclGroupSimulateEnd(&sim), ncclSuccess);
    EXPECT_ERR(ncclGroupSimulateEnd(&sim), ncclInvalidUsage, "no group is open");
    /* zero counts are valid everywhere */
    ASSERT_EQ(ncclAllReduce(x, y, 0, ncclInt32, ncclSum, comm, NULL), ncclSuccess);
    ASSERT_EQ(ncclAlltoAll(x, y, 0, ncclInt32, comm, NULL), ncclSuccess);
    ASSERT_EQ(ncclGather(x, y, 0, ncclInt32, 0, comm, NULL), ncclSuccess);
    ASSERT_EQ(ncclBroadcast(x, y, 0, ncclInt32, 0, comm, NULL), ncclSuccess);
    /* queries */
    ASSERT_EQ(ncclCommCuDevice(comm, &d), ncclSuccess);
    ASSERT_EQ(d, 0); /* host mode: 0, see shim_current_device */
    void *mem = NULL, *reg = NULL;
    ASSERT_EQ(ncclMemAlloc(&mem, 1 << 16), ncclSuccess);
    ASSERT_EQ(ncclCommRegister(comm, mem, 1 << 16, &reg), ncclSuccess);
    ASSERT_EQ(ncclCommDeregister(comm, reg), ncclSuccess);
    ASSERT_EQ(ncclMemFree(mem), ncclSuccess);
    /* finalize: then only destroy */
    ASSERT_EQ(ncclCommFinalize(comm), ncclSuccess);
    EXPECT_ERR(ncclAllReduce(x, y, 4, ncclInt32, ncclSum, comm, NULL), ncclInvalidUsage, "finalized");
}

/* A non-blocking init that fails on its thread: the failure is polled, named, and
 * the handle can still be destroyed. */
static void failed_nonblocking_init(void)
{
    ncclUniqueId id;
    ncclComm_t comm = NULL;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    ncclResult_t st = ncclInProgress;
    int x = 0;

    cfg.blocking = 0;
    ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
    ASSERT_EQ(ncclCommInitRankConfig(&comm, 2, id, 5, &cfg), ncclInProgress); /* rank 5 of 2 */
    ASSERT_TRUE(comm != NULL);
    while (st == ncclInProgress)
        ASSERT_EQ(ncclCommGetAsyncError(comm, &st), ncclSuccess);
    ASSERT_EQ(st, ncclInvalidArgument);
    ASSERT_CONTAINS(ncclGetLastError(NULL), "rank");
    ASSERT_TRUE(strlen(ncclGetLastError(comm)) > 0);
    EXPECT_ERR(ncclAllReduce(&x, &x, 1, ncclInt32, ncclSum, comm, NULL), ncclInvalidUsage, "init failed");
    ASSERT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

int main(void)
{
    failed_nonblocking_init();
    bad_handles();
    ncclComm_t comm = one_rank(), other = one_rank();
    bad_ops(comm, other);
    unsupported(comm);
    bad_arguments(comm);
    ASSERT_EQ(ncclCommDestroy(comm), ncclSuccess);
    ASSERT_EQ(ncclCommDestroy(other), ncclSuccess);
    printf("test_shim_hostile: ok\n");
    return 0;
}
