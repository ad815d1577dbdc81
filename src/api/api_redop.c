/* SPDX-License-Identifier: MIT */
/*
 * api_redop.c — pre-mul-sum reduction ops (haloRedOpCreatePreMulSum): the
 * per-communicator table, the checks a collective makes on an op, and the
 * scaling of a rank's input where the collective runs.
 *
 * Life of an op: create fills a slot of comm->redops and returns
 * haloNumOps + slot + (tag << 16), tag being 14 bits of a hash of the
 * communicator's address, so the value stays inside [haloNumOps, 2^31) and one
 * used on another communicator is caught by the tag (and always by the slot's
 * state). A collective given the op copies what it needs into its halo_op (the
 * value, or the scalar's address) when it is called: the op may be destroyed as
 * soon as the call returned, while the call still waits on its stream (NCCL's
 * rule, which PyTorch relies on: it destroys the op right after enqueueing).
 *
 * Where the call runs (coll_execute: at once in host mode, on the progress thread
 * for streams, on host-accessible or staged buffers), the input is copied and
 * multiplied by the scalar, and the collective sums the copies. A device-resident
 * scalar is read there, through the runtime on the progress thread's own stream,
 * so a kernel queued on the caller's stream before the call may still write it.
 */
#define HALO_ERR_SUBSYS HALO_SUB_COLL
#include <stdlib.h>
#include <string.h>

#include "api_redop.h"
#include "error.h"
#include "gpu_mem.h"
#include "hot.h"
#include "reduce.h"

#define REDOP_SLOT_BITS 16
#define REDOP_MAX_SLOTS (1 << REDOP_SLOT_BITS)

static unsigned redop_tag(const struct halo_comm *comm)
{
    uint64_t p = (uint64_t)(uintptr_t)comm;
    p ^= p >> 32;
    p *= 0x9e3779b97f4a7c13ull;
    return (unsigned)(p >> 50) & 0x3fff; /* 14 bits: the value stays below 2^31 */
}

/* The live slot of op on comm, or -1. */
static int redop_slot(const struct halo_comm *comm, haloRedOp_t op)
{
    if ((int)op < haloNumOps)
        return -1;
    unsigned v = (unsigned)op - haloNumOps;
    int slot = (int)(v & (REDOP_MAX_SLOTS - 1));
    if ((v >> REDOP_SLOT_BITS) != redop_tag(comm) || slot >= comm->nredops || !comm->redops[slot].used)
        return -1;
    return slot;
}

/* A free slot, growing the table; -1 when out of memory or slots. */
static int redop_free_slot(struct halo_comm *comm)
{
    for (int i = 0; i < comm->nredops; i++)
        if (!comm->redops[i].used)
            return i;
    if (comm->nredops == REDOP_MAX_SLOTS)
        return -1;
    int n = comm->nredops ? 2 * comm->nredops : 8;
    n = n > REDOP_MAX_SLOTS ? REDOP_MAX_SLOTS : n;
    struct halo_redop *t = realloc(comm->redops, (size_t)n * sizeof(*t));
    if (!t)
        return -1;
    memset(t + comm->nredops, 0, (size_t)(n - comm->nredops) * sizeof(*t));
    comm->redops = t;
    int slot = comm->nredops;
    comm->nredops = n;
    return slot;
}

static haloResult_t redop_create(struct halo_comm *comm, haloRedOp_t *op, void *scalar, haloDataType_t dt,
                                 haloScalarResidence_t residence)
{
    const char *fn = "haloRedOpCreatePreMulSum";
    if (!op || !scalar)
        return halo_error(comm, haloInvalidArgument, "%s: rank %d: op %p and scalar %p must both be non-NULL", fn,
                          comm->rank, (void *)op, scalar);
    if ((unsigned)dt >= haloNumTypes)
        return halo_error(comm, haloInvalidArgument, "%s: rank %d: invalid datatype %d (valid: 0..%d)", fn,
                          comm->rank, (int)dt, haloNumTypes - 1);
    if (residence != haloScalarDevice && residence != haloScalarHostImmediate)
        return halo_error(comm, haloInvalidArgument, "%s: rank %d: residence %d is neither haloScalarDevice (0) "
                          "nor haloScalarHostImmediate (1)", fn, comm->rank, (int)residence);
    int slot = redop_free_slot(comm);
    if (slot < 0)
        return halo_error(comm, haloSystemError, "%s: rank %d: no free reduction-op slot (%d in use, or out of "
                          "memory); destroy ops no longer used", fn, comm->rank, comm->nredops);
    struct halo_redop *r = &comm->redops[slot];
    memset(r, 0, sizeof(*r));
    r->used = 1;
    r->dtype = dt;
    r->residence = residence;
    if (residence == haloScalarHostImmediate)
        memcpy(r->scalar, scalar, halo_dtype_size(dt));
    else
        r->scalar_ptr = scalar;
    *op = (haloRedOp_t)(haloNumOps + slot + ((int)redop_tag(comm) << REDOP_SLOT_BITS));
    return haloSuccess;
}

HALO_API haloResult_t haloRedOpCreatePreMulSum(haloRedOp_t *op, void *scalar, haloDataType_t datatype,
                                               haloScalarResidence_t residence, haloComm_t comm)
{
    haloResult_t r = comm_enter(comm, "haloRedOpCreatePreMulSum");
    if (r != haloSuccess)
        return r;
    return comm_leave(comm, redop_create(comm, op, scalar, datatype, residence));
}

HALO_API haloResult_t haloRedOpDestroy(haloRedOp_t op, haloComm_t comm)
{
    haloResult_t r = comm_enter(comm, "haloRedOpDestroy");
    if (r != haloSuccess)
        return r;
    int slot = redop_slot(comm, op);
    if (slot >= 0)
        comm->redops[slot].used = 0;
    else
        r = halo_error(comm, haloInvalidArgument, "haloRedOpDestroy: rank %d: op %d is %s", comm->rank, (int)op,
                       (int)op >= 0 && (int)op < haloNumOps ? "a built-in op, which cannot be destroyed"
                                                            : "not a live pre-mul-sum op of this communicator");
    return comm_leave(comm, r);
}

HALO_HOT haloResult_t api_redop_check(struct halo_comm *comm, const char *fn, haloRedOp_t op, haloDataType_t dt)
{
    if ((int)op >= 0 && (int)op < haloNumOps)
        return haloSuccess;
    int slot = redop_slot(comm, op);
    if (slot < 0)
        return halo_error(comm, haloInvalidArgument, "%s: invalid reduction op %d: neither a built-in op (0..%d, "
                          "see haloRedOp_t) nor a live haloRedOpCreatePreMulSum op of rank %d's communicator", fn,
                          (int)op, haloNumOps - 1, comm->rank);
    if (comm->redops[slot].dtype != dt)
        return halo_error(comm, haloInvalidArgument, "%s: rank %d: pre-mul-sum op %d was created for %s and is used "
                          "with %s; create one op per datatype", fn, comm->rank, (int)op,
                          halo_dtype_name(comm->redops[slot].dtype), halo_dtype_name(dt));
    return haloSuccess;
}

HALO_HOT void api_redop_resolve(struct halo_comm *comm, struct halo_op *o)
{
    int slot = redop_slot(comm, o->op);
    if (slot < 0)
        return; /* a built-in op */
    const struct halo_redop *r = &comm->redops[slot];
    o->op = haloSum;
    if (r->residence == haloScalarHostImmediate) {
        o->premul = HALO_PREMUL_VALUE;
        memcpy(o->scalar, r->scalar, sizeof(o->scalar));
    } else {
        o->premul = HALO_PREMUL_POINTER;
        o->scalar_ptr = r->scalar_ptr;
    }
}

/* A scalar in memory, read now: directly when the CPU can reach it, else through
 * the runtime on the default stream (host mode; GPU calls stage the scalar and
 * hand HALO_PREMUL_HOST to the progress thread, which never calls the runtime). */
static haloResult_t redop_read_scalar(struct halo_comm *comm, const struct halo_op *op, unsigned char *out)
{
    size_t es = halo_dtype_size(op->dtype);
    const struct gpu_rt *rt = gpu_rt_get();
    struct gpu_ptr_attr a;
    memset(&a, 0, sizeof(a));
    int known = rt && rt->ptr_attr(&a, op->scalar_ptr) == 0;
    if (!known || a.type != GPU_MEM_DEVICE || a.host_ptr) {
        const void *src = known && (a.type == GPU_MEM_DEVICE || a.type == GPU_MEM_HOST) && a.host_ptr
                              ? a.host_ptr : op->scalar_ptr;
        memcpy(out, src, es);
        return haloSuccess;
    }
    int e = rt->memcpy_async(out, op->scalar_ptr, es, NULL);
    if (!e)
        e = rt->stream_sync(NULL);
    if (e)
        return halo_error(comm, haloUnhandledCudaError, "rank %d: %s copy of the pre-mul-sum scalar at %p failed: %s",
                          comm->rank, rt->name, op->scalar_ptr, rt->error_string(e));
    return haloSuccess;
}

haloResult_t api_premul_scale(struct halo_comm *comm, const struct halo_op *op, void **scaled)
{
    size_t n = op->count * (op->coll == HALO_COLL_REDUCESCATTER ? (size_t)comm->nranks : 1);
    size_t es = halo_dtype_size(op->dtype);
    unsigned char scalar[8];
    *scaled = NULL;
    if (n == 0)
        return haloSuccess;
    haloResult_t r = haloSuccess;
    if (op->premul == HALO_PREMUL_VALUE)
        memcpy(scalar, op->scalar, sizeof(scalar));
    else if (op->premul == HALO_PREMUL_HOST)
        memcpy(scalar, op->scalar_ptr, es);
    else
        r = redop_read_scalar(comm, op, scalar);
    if (r != haloSuccess)
        return r;
    void *copy = malloc(n * es);
    if (!copy)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for the pre-mul-sum copy of %s's input "
                          "(%zu bytes)", comm->rank, halo_coll_name(op->coll), n * es);
    halo_scale_mul(copy, op->sendbuf, n, op->dtype, scalar);
    *scaled = copy;
    return haloSuccess;
}
