/* SPDX-License-Identifier: MIT */
/*
 * fake_nccl.c — a stand-in for NVIDIA's libnccl.so.2 (same SONAME, different
 * library) for the interposition tests: every function says it was called and
 * fails, and ncclGetVersion reports 99999. A program linked against it that still
 * passes its checks under LD_PRELOAD (or LD_AUDIT) ran entirely on haloccl's shim.
 *
 * The functions are defined without prototypes on purpose: they ignore their
 * arguments, and x86-64 callers may pass anything, the 128-byte unique id included.
 */
#include <stdio.h>

#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wold-style-definition"

static int fake_hit(const char *name)
{
    fprintf(stderr, "FAKE libnccl: %s called\n", name);
    return 2; /* ncclSystemError */
}

/* Each name and its profiling twin: a drop-in whose inner calls go through the
 * global scope would land here. */
#define FAKE(name)                                                                               \
    int name()                                                                                   \
    {                                                                                            \
        return fake_hit(#name);                                                                  \
    }                                                                                            \
    int p##name()                                                                                \
    {                                                                                            \
        return fake_hit("p" #name);                                                              \
    }

FAKE(ncclAllGather) FAKE(ncclAllReduce) FAKE(ncclAllToAll) FAKE(ncclAllToAllv) FAKE(ncclAlltoAll)
FAKE(ncclAlltoAllv) FAKE(ncclBcast) FAKE(ncclBroadcast) FAKE(ncclCommAbort) FAKE(ncclCommCount)
FAKE(ncclCommCuDevice) FAKE(ncclCommDestroy) FAKE(ncclCommFinalize) FAKE(ncclCommGetAsyncError)
FAKE(ncclCommInitAll) FAKE(ncclCommInitRank) FAKE(ncclCommInitRankConfig) FAKE(ncclCommSplit)
FAKE(ncclCommUserRank) FAKE(ncclGather) FAKE(ncclGetUniqueId) FAKE(ncclGroupEnd) FAKE(ncclGroupStart)
FAKE(ncclRecv) FAKE(ncclRedOpCreatePreMulSum) FAKE(ncclRedOpDestroy) FAKE(ncclReduce) FAKE(ncclReduceScatter)
FAKE(ncclScatter) FAKE(ncclSend)

int ncclGetVersion(int *version)
{
    fake_hit("ncclGetVersion");
    *version = 99999;
    return 0;
}

const char *ncclGetErrorString()
{
    return "fake libnccl";
}

const char *ncclGetLastError()
{
    return "fake libnccl";
}
