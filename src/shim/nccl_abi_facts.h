/* SPDX-License-Identifier: MIT */
/*
 * nccl_abi_facts.h — the numbers of NCCL 2.28's ABI, once: enum values, the sizes
 * and field offsets of ncclConfig_t, ncclUniqueId and ncclSimInfo_t.
 *
 * Checked at compile time against our nccl_abi.h (shim_abi.c) and, where the real
 * nccl.h is installed, against it (nccl_abi_check.c): the two headers agree because
 * both agree with this list.
 */
#define NCCL_ABI_ENUMS(X)                                                                        \
    X(ncclSuccess, 0) X(ncclUnhandledCudaError, 1) X(ncclSystemError, 2) X(ncclInternalError, 3) \
    X(ncclInvalidArgument, 4) X(ncclInvalidUsage, 5) X(ncclRemoteError, 6) X(ncclInProgress, 7)   \
    X(ncclNumResults, 8)                                                                         \
    X(ncclInt8, 0) X(ncclChar, 0) X(ncclUint8, 1) X(ncclInt32, 2) X(ncclInt, 2) X(ncclUint32, 3)  \
    X(ncclInt64, 4) X(ncclUint64, 5) X(ncclFloat16, 6) X(ncclHalf, 6) X(ncclFloat32, 7)           \
    X(ncclFloat, 7) X(ncclFloat64, 8) X(ncclDouble, 8) X(ncclBfloat16, 9) X(ncclFloat8e4m3, 10)   \
    X(ncclFloat8e5m2, 11) X(ncclNumTypes, 12)                                                    \
    X(ncclSum, 0) X(ncclProd, 1) X(ncclMax, 2) X(ncclMin, 3) X(ncclAvg, 4) X(ncclNumOps, 5)        \
    X(ncclMaxRedOp, 0x7fffffff)                                                                  \
    X(ncclScalarDevice, 0) X(ncclScalarHostImmediate, 1)                                         \
    X(NCCL_UNIQUE_ID_BYTES, 128) X(NCCL_CONFIG_UNDEF_INT, INT_MIN) X(NCCL_SPLIT_NOCOLOR, -1)      \
    X(NCCL_VERSION_CODE, 22809) X(NCCL_MAJOR, 2) X(NCCL_MINOR, 28) X(NCCL_PATCH, 9)               \
    X(NCCL_CTA_POLICY_EFFICIENCY, 1) X(NCCL_CTA_POLICY_ZERO, 2) X(NCCL_WIN_COLL_SYMMETRIC, 1)     \
    X(NCCL_WIN_REQUIRED_ALIGNMENT, 4096) X(NCCL_SHRINK_ABORT, 1)

/* X(type, field, offset) */
#define NCCL_ABI_FIELDS(X)                                                                       \
    X(ncclConfig_t, size, 0) X(ncclConfig_t, magic, 8) X(ncclConfig_t, version, 12)               \
    X(ncclConfig_t, blocking, 16) X(ncclConfig_t, cgaClusterSize, 20) X(ncclConfig_t, minCTAs, 24) \
    X(ncclConfig_t, maxCTAs, 28) X(ncclConfig_t, netName, 32) X(ncclConfig_t, splitShare, 40)     \
    X(ncclConfig_t, trafficClass, 44) X(ncclConfig_t, commName, 48)                              \
    X(ncclConfig_t, collnetEnable, 56) X(ncclConfig_t, CTAPolicy, 60)                            \
    X(ncclConfig_t, shrinkShare, 64) X(ncclConfig_t, nvlsCTAs, 68)                               \
    X(ncclConfig_t, nChannelsPerNetPeer, 72) X(ncclConfig_t, nvlinkCentricSched, 76)             \
    X(ncclUniqueId, internal, 0)                                                                 \
    X(ncclSimInfo_t, size, 0) X(ncclSimInfo_t, magic, 8) X(ncclSimInfo_t, version, 12)            \
    X(ncclSimInfo_t, estimatedTime, 16)

/* X(type, size) */
#define NCCL_ABI_SIZES(X)                                                                        \
    X(ncclConfig_t, 80) X(ncclUniqueId, 128) X(ncclSimInfo_t, 24) X(ncclResult_t, 4)               \
    X(ncclDataType_t, 4) X(ncclRedOp_t, 4) X(ncclScalarResidence_t, 4) X(ncclComm_t, 8)

#define NCCL_ABI_ASSERT_ENUM(name, value) _Static_assert((long long)(name) == (long long)(value), #name " is " #value);
#define NCCL_ABI_ASSERT_FIELD(type, field, off) \
    _Static_assert(offsetof(type, field) == (off), #type "." #field " is at offset " #off);
#define NCCL_ABI_ASSERT_SIZE(type, sz) _Static_assert(sizeof(type) == (sz), "sizeof(" #type ") is " #sz);
#define NCCL_ABI_ASSERT_ALL                    \
    NCCL_ABI_ENUMS(NCCL_ABI_ASSERT_ENUM)       \
    NCCL_ABI_FIELDS(NCCL_ABI_ASSERT_FIELD)     \
    NCCL_ABI_SIZES(NCCL_ABI_ASSERT_SIZE)
