/*
 * shim_redop.c — NCCL's user reduction ops (ncclRedOpCreatePreMulSum): a table per
 * communicator, and the pre-mul-sum itself for host buffers.
 *
 * Handle encoding: ncclNumOps + slot + (tag << 16), where tag is 14 bits of a hash of
 * the communicator's address. A handle stays inside [ncclNumOps, ncclMaxRedOp], and
 * one used on another communicator (or after destroy) is usually caught by the tag
 * and always by the slot's state.
 *
 * Pre-mul-sum: each rank multiplies its input by the scalar, then the ranks sum. The
 * shim scales a temporary copy with the reduction kernels (prod against a buffer of
 * the scalar, so every datatype rounds as a haloccl reduction does) and sums it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "reduce.h"
#include "shim.h"

#define REDOP_SLOT_BITS 16
#define REDOP_MAX_SLOTS (1 << REDOP_SLOT_BITS)

static unsigned redop_tag(const struct ncclComm *c)
{
    uint64_t p = (uint64_t)(uintptr_t)c;
    p ^= p >> 32;
    p *= 0x9e3779b97f4a7c13ull;
    return (unsigned)(p >> 50) & 0x3fff; /* 14 bits: the handle stays below 2^31 */
}

static ncclRedOp_t redop_encode(const struct ncclComm *c, int slot)
{
    return (ncclRedOp_t)(ncclNumOps + slot + ((int)redop_tag(c) << REDOP_SLOT_BITS));
}

/* The slot of handle op on c, or -1. */
static int redop_decode(const struct ncclComm *c, ncclRedOp_t op)
{
    if ((int)op < ncclNumOps)
        return -1;
    unsigned v = (unsigned)op - ncclNumOps;
    int slot = (int)(v & (REDOP_MAX_SLOTS - 1));
    if ((v >> REDOP_SLOT_BITS) != redop_tag(c) || slot >= c->nops || !c->ops[slot].used)
        return -1;
    return slot;
}

/* Reads n bytes at p if this process can read them (host memory, or device memory
 * the CPU can reach); -1 without a fault otherwise. */
static int read_if_host_accessible(const void *p, void *out, size_t n)
{
    struct iovec local = {.iov_base = out, .iov_len = n};
    struct iovec remote = {.iov_base = (void *)p, .iov_len = n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static ncclResult_t redop_create(struct ncclComm *c, ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                 ncclScalarResidence_t residence)
{
    const char *fn = "ncclRedOpCreatePreMulSum";
    unsigned char value[8] = {0};
    size_t es = halo_dtype_size((haloDataType_t)datatype);
    if (!op || !scalar || !es)
        return shim_error(c, ncclInvalidArgument, "%s: rank %d: op %p, scalar %p, datatype %d: expected two "
                          "pointers and an ncclDataType_t", fn, c->rank, (void *)op, scalar, (int)datatype);
    if (residence != ncclScalarHostImmediate && residence != ncclScalarDevice)
        return shim_error(c, ncclInvalidArgument, "%s: rank %d: residence %d is not an ncclScalarResidence_t", fn,
                          c->rank, (int)residence);
    /* TODO(GPU layer): read a device scalar with the runtime's copy on the stream. */
    if (read_if_host_accessible(scalar, value, es) != 0)
        return shim_error(c, ncclInvalidUsage, "%s: rank %d: the scalar at %p is not readable by the CPU (device "
                          "memory): haloccl reads pre-mul-sum scalars from host-accessible memory only; pass a "
                          "host pointer with ncclScalarHostImmediate", fn, c->rank, scalar);
    pthread_mutex_lock(&c->lock);
    int slot = 0;
    while (slot < c->nops && c->ops[slot].used)
        slot++;
    if (slot == c->nops && slot < REDOP_MAX_SLOTS) {
        struct shim_redop *ops = realloc(c->ops, (size_t)(c->nops + 1) * sizeof(*ops));
        if (ops) {
            c->ops = ops;
            c->nops++;
        }
    }
    if (slot == c->nops) {
        pthread_mutex_unlock(&c->lock);
        return shim_error(c, ncclSystemError, "%s: rank %d: no free reduction-op slot (%d in use)", fn, c->rank,
                          c->nops);
    }
    c->ops[slot] = (struct shim_redop){.used = 1, .dtype = datatype, .residence = residence,
                                       .scalar_ptr = residence == ncclScalarDevice ? scalar : NULL};
    memcpy(c->ops[slot].scalar, value, es);
    pthread_mutex_unlock(&c->lock);
    *op = redop_encode(c, slot);
    return ncclSuccess;
}

SHIM_ALIAS(ncclRedOpCreatePreMulSum);
SHIM_API ncclResult_t pncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                                ncclScalarResidence_t residence, ncclComm_t comm)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclRedOpCreatePreMulSum", &c);
    if (r != ncclSuccess)
        return r;
    r = redop_create(c, op, scalar, datatype, residence);
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
    pthread_mutex_lock(&c->lock);
    int slot = redop_decode(c, op);
    if (slot >= 0)
        c->ops[slot].used = 0;
    pthread_mutex_unlock(&c->lock);
    if (slot < 0)
        r = shim_error(c, ncclInvalidArgument, "ncclRedOpDestroy: rank %d: op %d is %s", c->rank, (int)op,
                       (int)op < ncclNumOps ? "a built-in op, which cannot be destroyed"
                                            : "not a live op of this communicator");
    shim_comm_put(c);
    return r;
}

ncclResult_t shim_redop_resolve(struct ncclComm *c, const char *fn, ncclRedOp_t op, ncclDataType_t dtype,
                                haloRedOp_t *halo_op, int *premul, unsigned char scalar_out[8])
{
    *premul = 0;
    if ((int)op >= 0 && (int)op < ncclNumOps) {
        *halo_op = (haloRedOp_t)op;
        return ncclSuccess;
    }
    pthread_mutex_lock(&c->lock);
    int slot = redop_decode(c, op);
    struct shim_redop o = slot >= 0 ? c->ops[slot] : (struct shim_redop){0};
    pthread_mutex_unlock(&c->lock);
    if (slot < 0)
        return shim_error(c, ncclInvalidArgument, "%s: rank %d: op %d is neither a built-in op nor a live "
                          "ncclRedOpCreatePreMulSum op of this communicator", fn, c->rank, (int)op);
    if (o.dtype != dtype)
        return shim_error(c, ncclInvalidArgument, "%s: rank %d: op %d was created for datatype %d, used with %d",
                          fn, c->rank, (int)op, (int)o.dtype, (int)dtype);
    memcpy(scalar_out, o.scalar, sizeof(o.scalar));
    /* A device-resident scalar is read when the collective runs, as NCCL does. */
    if (o.residence == ncclScalarDevice &&
        read_if_host_accessible(o.scalar_ptr, scalar_out, halo_dtype_size((haloDataType_t)dtype)) != 0)
        return shim_error(c, ncclInvalidUsage, "%s: rank %d: the pre-mul-sum scalar at %p is no longer readable "
                          "by the CPU", fn, c->rank, o.scalar_ptr);
    *halo_op = haloSum;
    *premul = 1;
    return ncclSuccess;
}

#define PREMUL_BLOCK 4096 /* elements of the scalar buffer the copy is multiplied by */

ncclResult_t shim_premul_copy(struct ncclComm *c, const void *src, size_t count, ncclDataType_t dtype,
                              const unsigned char scalar[8], void **out)
{
    haloDataType_t t = (haloDataType_t)dtype;
    size_t es = halo_dtype_size(t);
    size_t nfill = count < PREMUL_BLOCK ? count : PREMUL_BLOCK;
    unsigned char *copy = shim_temp_alloc(count * es);
    unsigned char *fill = malloc((nfill ? nfill : 1) * es);

    if (!copy || !fill) {
        free(fill);
        return shim_error(c, ncclSystemError, "rank %d: out of memory for the pre-mul-sum copy (%zu bytes)",
                          c->rank, count * es);
    }
    if (count && !src) {
        free(fill);
        return shim_error(c, ncclInvalidArgument, "rank %d: sendbuff is NULL", c->rank);
    }
    for (size_t i = 0; i < nfill; i++)
        memcpy(fill + i * es, scalar, es);
    for (size_t done = 0; done < count; done += nfill) {
        size_t n = count - done < nfill ? count - done : nfill;
        halo_reduce(copy + done * es, (const unsigned char *)src + done * es, fill, n, t, haloProd);
    }
    free(fill);
    *out = copy;
    return ncclSuccess;
}

void shim_redop_free_all(struct ncclComm *c)
{
    free(c->ops);
    c->ops = NULL;
    c->nops = 0;
}
