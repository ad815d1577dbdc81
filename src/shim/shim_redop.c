/* SPDX-License-Identifier: MIT */
/*
 * shim_redop.c — NCCL's user reduction ops (ncclRedOpCreatePreMulSum), mapped
 * onto haloccl's haloRedOpCreatePreMulSum/haloRedOpDestroy.
 *
 * The values are the same: haloccl's op values lie in [haloNumOps, 2^31), inside
 * NCCL's [ncclNumOps, ncclMaxRedOp], so a collective passes the caller's op
 * through unchanged and haloccl checks it (live, of this communicator, created
 * for the call's datatype). haloccl does the pre-mul-sum where the collective
 * runs, so it works on streams and device buffers, and reads an
 * ncclScalarDevice scalar when the stream reaches the call, as NCCL does.
 */
#include "shim.h"

_Static_assert(sizeof(ncclRedOp_t) == sizeof(haloRedOp_t), "op values pass through unchanged");
_Static_assert((int)ncclScalarDevice == (int)haloScalarDevice &&
                   (int)ncclScalarHostImmediate == (int)haloScalarHostImmediate,
               "residence values pass through unchanged");

SHIM_ALIAS(ncclRedOpCreatePreMulSum);
SHIM_API ncclResult_t pncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                                ncclScalarResidence_t residence, ncclComm_t comm)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclRedOpCreatePreMulSum", &c);
    if (r != ncclSuccess)
        return r;
    haloRedOp_t hop;
    r = shim_pass(c, haloRedOpCreatePreMulSum(op ? &hop : NULL, scalar, (haloDataType_t)datatype,
                                              (haloScalarResidence_t)residence, c->halo));
    if (r == ncclSuccess)
        *op = (ncclRedOp_t)hop;
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclRedOpDestroy);
SHIM_API ncclResult_t pncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclRedOpDestroy", &c);
    if (r != ncclSuccess)
        return r;
    r = shim_pass(c, haloRedOpDestroy((haloRedOp_t)op, c->halo));
    shim_comm_put(c);
    return r;
}
