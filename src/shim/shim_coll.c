/* SPDX-License-Identifier: MIT */
/*
 * shim_coll.c — collectives, point-to-point and groups.
 *
 * NCCL's collectives map one to one onto haloccl's, stream passed through. The
 * ones haloccl lacks are built from grouped send/recv: all-to-all(v), gather and
 * scatter. A pre-mul-sum op becomes a sum over a scaled temporary copy of the
 * input (shim_redop.c).
 *
 * Temporaries must outlive the operation that reads them: outside a group that is
 * the call; inside one it is the outermost ncclGroupEnd, so they are kept on a
 * per-thread list until then.
 */
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* Per thread, like haloccl's group queue. */
static _Thread_local int group_depth;
static _Thread_local int group_ops;   /* operations queued in the open group */
static _Thread_local void **temps;
static _Thread_local size_t ntemps, captemps;

int shim_group_depth(void)
{
    return group_depth;
}

void shim_group_note_op(void)
{
    if (group_depth > 0)
        group_ops++;
}

void *shim_temp_alloc(size_t bytes)
{
    if (ntemps == captemps) {
        size_t cap = captemps ? 2 * captemps : 8;
        void **t = realloc(temps, cap * sizeof(*t));
        if (!t)
            return NULL;
        temps = t;
        captemps = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        temps[ntemps++] = p;
    return p;
}

void shim_temp_release(void)
{
    if (group_depth > 0)
        return;
    for (size_t i = 0; i < ntemps; i++)
        free(temps[i]);
    ntemps = 0;
}

SHIM_ALIAS(ncclGroupStart);
SHIM_API ncclResult_t pncclGroupStart(void)
{
    ncclResult_t r = shim_pass(NULL, haloGroupStart());
    if (r == ncclSuccess)
        group_depth++;
    return r;
}

SHIM_ALIAS(ncclGroupEnd);
SHIM_API ncclResult_t pncclGroupEnd(void)
{
    haloResult_t hr = haloGroupEnd();
    if (group_depth > 0 && --group_depth == 0) {
        group_ops = 0;
        shim_temp_release();
    }
    return shim_pass(NULL, hr);
}

/* NCCL estimates the group's time and drops its operations. haloccl cannot drop
 * queued operations, so only an empty group can be "simulated". */
SHIM_ALIAS(ncclGroupSimulateEnd);
SHIM_API ncclResult_t pncclGroupSimulateEnd(ncclSimInfo_t *simInfo)
{
    if (!simInfo || simInfo->magic != NCCL_SIM_INFO_MAGIC)
        return shim_error(NULL, ncclInvalidArgument, "ncclGroupSimulateEnd: simInfo is NULL or not initialised "
                          "with NCCL_SIM_INFO_INITIALIZER");
    if (group_depth == 0)
        return shim_error(NULL, ncclInvalidUsage, "ncclGroupSimulateEnd: no group is open");
    if (group_ops > 0)
        return shim_error(NULL, ncclInvalidUsage, "ncclGroupSimulateEnd: haloccl cannot estimate a group's time "
                          "or drop its %d queued operation(s); the group stays open: end it with ncclGroupEnd",
                          group_ops);
    simInfo->estimatedTime = 0.0f;
    return pncclGroupEnd();
}

/* ---- collectives ---- */

/* The communicator, held: coll_done releases it. */
static ncclResult_t coll_prepare(ncclComm_t comm, const char *fn, struct ncclComm **out)
{
    struct ncclComm *c = NULL;
    ncclResult_t r = shim_comm_get(comm, fn, &c);
    if (r != ncclSuccess)
        return r;
    shim_group_note_op();
    *out = c;
    return ncclSuccess;
}

/* Frees the call's temporaries (outside a group), passes the result up and releases
 * the communicator. */
static ncclResult_t coll_done(struct ncclComm *c, haloResult_t hr)
{
    shim_temp_release();
    ncclResult_t r = shim_pass(c, hr);
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclAllReduce);
SHIM_API ncclResult_t pncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                     ncclRedOp_t op, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclAllReduce", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloAllReduce(sendbuff, recvbuff, count, (haloDataType_t)datatype, (haloRedOp_t)op, c->halo,
                                      stream));
}

SHIM_ALIAS(ncclReduce);
SHIM_API ncclResult_t pncclReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                  ncclRedOp_t op, int root, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclReduce", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloReduce(sendbuff, recvbuff, count, (haloDataType_t)datatype, (haloRedOp_t)op, root,
                                   c->halo, stream));
}

SHIM_ALIAS(ncclReduceScatter);
SHIM_API ncclResult_t pncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                         ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                         ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclReduceScatter", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloReduceScatter(sendbuff, recvbuff, recvcount, (haloDataType_t)datatype,
                                          (haloRedOp_t)op, c->halo, stream));
}

SHIM_ALIAS(ncclAllGather);
SHIM_API ncclResult_t pncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                                     ncclDataType_t datatype, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclAllGather", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloAllGather(sendbuff, recvbuff, sendcount, (haloDataType_t)datatype, c->halo, stream));
}

SHIM_ALIAS(ncclBroadcast);
SHIM_API ncclResult_t pncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                     int root, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclBroadcast", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloBroadcast(sendbuff, recvbuff, count, (haloDataType_t)datatype, root, c->halo, stream));
}

SHIM_ALIAS(ncclBcast);
SHIM_API ncclResult_t pncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                                 ncclAbiStream_t stream)
{
    return pncclBroadcast(buff, buff, count, datatype, root, comm, stream);
}

SHIM_ALIAS(ncclAllReduceWithBias);
SHIM_API ncclResult_t pncclAllReduceWithBias(const void *sendbuff, void *recvbuff, size_t count,
                                             ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                             ncclAbiStream_t stream, const void *acc)
{
    struct ncclComm *c = NULL;
    shim_comm_hold(comm, NULL, &c);
    ncclResult_t r = shim_error(c, ncclInvalidUsage, "ncclAllReduceWithBias (RCCL) is not supported by haloccl: "
                                "call ncclAllReduce and add the bias after it");
    shim_comm_put(c);
    return r;
}

/* ---- point to point ---- */

SHIM_ALIAS(ncclSend);
SHIM_API ncclResult_t pncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                                ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclSend", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloSend(sendbuff, count, (haloDataType_t)datatype, peer, c->halo, stream));
}

SHIM_ALIAS(ncclRecv);
SHIM_API ncclResult_t pncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                                ncclAbiStream_t stream)
{
    struct ncclComm *c;
    ncclResult_t r = coll_prepare(comm, "ncclRecv", &c);
    if (r != ncclSuccess)
        return r;
    return coll_done(c, haloRecv(recvbuff, count, (haloDataType_t)datatype, peer, c->halo, stream));
}
