/* SPDX-License-Identifier: MIT */
/*
 * shim_a2a.c — all-to-all(v), gather and scatter, which haloccl has no schedule
 * for, built from haloccl's grouped send/recv: each rank posts every send and
 * receive of the operation between haloGroupStart and haloGroupEnd, which runs them
 * concurrently, so no order of posting can deadlock. Inside a user's group the
 * inner group just joins it and runs at the user's ncclGroupEnd.
 *
 * Zero-sized pieces are skipped on both sides (the peer computes the same size from
 * matching arguments), so a zero count moves nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"
#include "shim.h"

struct a2a_plan {
    const char *sendbuff;
    char *recvbuff;
    const size_t *scounts, *sdispls, *rcounts, *rdispls; /* elements, per peer; NULL = none that way */
    size_t es;
    haloDataType_t dtype;
};

/* Posts the plan's sends and receives as one group; the first error wins, the group
 * is always closed. */
static haloResult_t a2a_post(struct ncclComm *c, const struct a2a_plan *p, ncclAbiStream_t stream)
{
    haloResult_t r = haloGroupStart();
    if (r != haloSuccess)
        return r;
    for (int peer = 0; peer < c->nranks && r == haloSuccess; peer++) {
        if (p->scounts && p->scounts[peer])
            r = haloSend(p->sendbuff + p->sdispls[peer] * p->es, p->scounts[peer], p->dtype, peer, c->halo, stream);
        if (r == haloSuccess && p->rcounts && p->rcounts[peer])
            r = haloRecv(p->recvbuff + p->rdispls[peer] * p->es, p->rcounts[peer], p->dtype, peer, c->halo, stream);
    }
    haloResult_t e = haloGroupEnd();
    return r != haloSuccess ? r : e;
}

/* The communicator (held on success: the caller puts it) and the element size of
 * dtype. */
static ncclResult_t a2a_begin(ncclComm_t comm, const char *fn, ncclDataType_t dtype, struct ncclComm **c,
                              size_t *es)
{
    ncclResult_t r = shim_comm_get(comm, fn, c);
    if (r != ncclSuccess)
        return r;
    if (!(*es = halo_dtype_size((haloDataType_t)dtype))) {
        r = shim_error(*c, ncclInvalidArgument, "%s: rank %d: datatype %d is not an ncclDataType_t", fn,
                       (*c)->rank, (int)dtype);
        shim_comm_put(*c);
        return r;
    }
    shim_group_note_op();
    return ncclSuccess;
}

/* In place (sendbuff == recvbuff): the sends read a copy, taken now. */
static ncclResult_t a2a_copy_if_in_place(struct ncclComm *c, const char *fn, struct a2a_plan *p)
{
    size_t end = 0;
    if (p->sendbuff != p->recvbuff)
        return ncclSuccess;
    for (int peer = 0; peer < c->nranks; peer++)
        if (p->scounts[peer] && p->sdispls[peer] + p->scounts[peer] > end)
            end = p->sdispls[peer] + p->scounts[peer];
    void *copy = shim_temp_alloc(end * p->es);
    if (!copy)
        return shim_error(c, ncclSystemError, "%s: rank %d: out of memory for the in-place copy (%zu bytes)", fn,
                          c->rank, end * p->es);
    memcpy(copy, p->sendbuff, end * p->es);
    p->sendbuff = copy;
    return ncclSuccess;
}

static ncclResult_t a2a_run(const char *fn, const void *sendbuff, const size_t *scounts, const size_t *sdispls,
                            void *recvbuff, const size_t *rcounts, const size_t *rdispls, ncclDataType_t dtype,
                            struct ncclComm *c, size_t es, ncclAbiStream_t stream)
{
    struct a2a_plan p = {.sendbuff = sendbuff, .recvbuff = recvbuff, .scounts = scounts, .sdispls = sdispls,
                         .rcounts = rcounts, .rdispls = rdispls, .es = es, .dtype = (haloDataType_t)dtype};
    ncclResult_t r = a2a_copy_if_in_place(c, fn, &p);
    if (r != ncclSuccess)
        return r;
    haloResult_t hr = a2a_post(c, &p, stream);
    shim_temp_release();
    return shim_pass(c, hr);
}

static ncclResult_t alltoall(const char *fn, const void *sendbuff, void *recvbuff, size_t count,
                             ncclDataType_t dtype, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    size_t es;
    ncclResult_t r = a2a_begin(comm, fn, dtype, &c, &es);
    if (r != ncclSuccess)
        return r;
    size_t *v = count ? malloc(2 * (size_t)c->nranks * sizeof(*v)) : NULL;
    if (count && !v)
        r = shim_error(c, ncclSystemError, "%s: rank %d: out of memory", fn, c->rank);
    if (v) {
        size_t *counts = v, *displs = v + c->nranks;
        for (int peer = 0; peer < c->nranks; peer++) {
            counts[peer] = count;
            displs[peer] = (size_t)peer * count;
        }
        r = a2a_run(fn, sendbuff, counts, displs, recvbuff, counts, displs, dtype, c, es, stream);
        free(v);
    }
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclAlltoAll);
SHIM_API ncclResult_t pncclAlltoAll(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                    ncclComm_t comm, ncclAbiStream_t stream)
{
    return alltoall("ncclAlltoAll", sendbuff, recvbuff, count, datatype, comm, stream);
}

SHIM_ALIAS(ncclAllToAll);
SHIM_API ncclResult_t pncclAllToAll(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                    ncclComm_t comm, ncclAbiStream_t stream)
{
    return alltoall("ncclAllToAll", sendbuff, recvbuff, count, datatype, comm, stream);
}

static ncclResult_t alltoallv(const char *fn, const void *sendbuff, const size_t sendcounts[],
                              const size_t sdispls[], void *recvbuff, const size_t recvcounts[],
                              const size_t rdispls[], ncclDataType_t dtype, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    size_t es;
    ncclResult_t r = a2a_begin(comm, fn, dtype, &c, &es);
    if (r != ncclSuccess)
        return r;
    if (!sendcounts || !sdispls || !recvcounts || !rdispls)
        r = shim_error(c, ncclInvalidArgument, "%s: rank %d: the count and displacement arrays must not be NULL",
                       fn, c->rank);
    else
        r = a2a_run(fn, sendbuff, sendcounts, sdispls, recvbuff, recvcounts, rdispls, dtype, c, es, stream);
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclAlltoAllv);
SHIM_API ncclResult_t pncclAlltoAllv(const void *sendbuff, const size_t sendcounts[], const size_t sdispls[],
                                     void *recvbuff, const size_t recvcounts[], const size_t rdispls[],
                                     ncclDataType_t datatype, ncclComm_t comm, ncclAbiStream_t stream)
{
    return alltoallv("ncclAlltoAllv", sendbuff, sendcounts, sdispls, recvbuff, recvcounts, rdispls, datatype,
                     comm, stream);
}

SHIM_ALIAS(ncclAllToAllv);
SHIM_API ncclResult_t pncclAllToAllv(const void *sendbuff, const size_t sendcounts[], const size_t sdispls[],
                                     void *recvbuff, const size_t recvcounts[], const size_t rdispls[],
                                     ncclDataType_t datatype, ncclComm_t comm, ncclAbiStream_t stream)
{
    return alltoallv("ncclAllToAllv", sendbuff, sendcounts, sdispls, recvbuff, recvcounts, rdispls, datatype,
                     comm, stream);
}

/* Gather (to_root = 1): every rank's count elements land at root's recvbuff +
 * rank*count. Scatter (0): root's sendbuff + rank*count goes to every rank's recvbuff.
 * The root's own block is a local copy unless it is already in place. */
static ncclResult_t rooted_post(struct ncclComm *c, int to_root, const void *sendbuff, void *recvbuff,
                                size_t count, size_t es, ncclDataType_t dtype, int root, ncclAbiStream_t stream);

static ncclResult_t rooted(const char *fn, int to_root, const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t dtype, int root, ncclComm_t comm, ncclAbiStream_t stream)
{
    struct ncclComm *c;
    size_t es;
    ncclResult_t r = a2a_begin(comm, fn, dtype, &c, &es);
    if (r != ncclSuccess)
        return r;
    if (root < 0 || root >= c->nranks)
        r = shim_error(c, ncclInvalidArgument, "%s: rank %d: root %d is not a rank of this %d-rank communicator",
                       fn, c->rank, root, c->nranks);
    else if (count > 0)
        r = rooted_post(c, to_root, sendbuff, recvbuff, count, es, dtype, root, stream);
    shim_comm_put(c);
    return r;
}

static ncclResult_t rooted_post(struct ncclComm *c, int to_root, const void *sendbuff, void *recvbuff,
                                size_t count, size_t es, ncclDataType_t dtype, int root, ncclAbiStream_t stream)
{
    const char *rootbuf = to_root ? recvbuff : sendbuff; /* the root's nranks blocks */
    const char *mine = to_root ? sendbuff : recvbuff;    /* this rank's block */
    haloResult_t hr = haloGroupStart();
    for (int peer = 0; peer < c->nranks && hr == haloSuccess && c->rank == root; peer++) {
        char *block = (char *)rootbuf + (size_t)peer * count * es;
        if (peer == root && block == mine)
            continue; /* in place */
        hr = to_root ? haloRecv(block, count, (haloDataType_t)dtype, peer, c->halo, stream)
                     : haloSend(block, count, (haloDataType_t)dtype, peer, c->halo, stream);
    }
    if (hr == haloSuccess && !(c->rank == root && mine == rootbuf + (size_t)root * count * es))
        hr = to_root ? haloSend(sendbuff, count, (haloDataType_t)dtype, root, c->halo, stream)
                     : haloRecv(recvbuff, count, (haloDataType_t)dtype, root, c->halo, stream);
    haloResult_t e = haloGroupEnd();
    return shim_pass(c, hr != haloSuccess ? hr : e);
}

SHIM_ALIAS(ncclGather);
SHIM_API ncclResult_t pncclGather(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                  int root, ncclComm_t comm, ncclAbiStream_t stream)
{
    return rooted("ncclGather", 1, sendbuff, recvbuff, count, datatype, root, comm, stream);
}

SHIM_ALIAS(ncclScatter);
SHIM_API ncclResult_t pncclScatter(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                   int root, ncclComm_t comm, ncclAbiStream_t stream)
{
    return rooted("ncclScatter", 0, sendbuff, recvbuff, count, datatype, root, comm, stream);
}
