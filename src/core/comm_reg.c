/* SPDX-License-Identifier: MIT */
/*
 * comm_reg.c — user buffer registration (haloCommRegister) and what zero-copy
 * transfers need from the communicator: the agreement that the whole ring can
 * take them, and each channel's registered landing area.
 *
 * Registrations live on the communicator and, through the mem_register of every
 * transport that has one (ib: each of its RDMA devices), in the transports. The
 * transport records a failure itself; these callers only pass it up. Owners:
 * 1..HALO_MAX_CHANNELS are the channels' landing areas, user registrations count
 * up from 1024.
 */
#define HALO_ERR_SUBSYS HALO_SUB_NET /* errors recorded here log under this subsystem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "log.h"

#define REG_MAGIC 0x52454748u /* "HGER" */
#define REG_FIRST_USER_OWNER 1024

struct halo_reg {
    uint32_t magic;
    void *buf;
    size_t size;
    uint64_t owner;
    struct halo_reg *next;
};

/* Registers with every transport that takes registrations; on failure undoes
 * those made. Sets *desc to what it registered with ("" if nothing). */
static haloResult_t comm_reg_add(struct halo_comm *comm, void *buf, size_t len, uint64_t owner, const char **desc)
{
    *desc = "";
    for (int i = 0; halo_transports[i]; i++) {
        const struct halo_tp_setup *t = halo_transports[i];
        if (!t->mem_register || !comm->tp.state[t->kind])
            continue;
        haloResult_t r = t->mem_register(&comm->tp, buf, len, owner);
        if (r != haloSuccess) {
            for (int j = 0; j < i; j++)
                if (halo_transports[j]->mem_deregister && comm->tp.state[halo_transports[j]->kind])
                    halo_transports[j]->mem_deregister(&comm->tp, owner);
            return r;
        }
        *desc = t->reg_desc ? t->reg_desc : t->name;
    }
    return haloSuccess;
}

static void comm_reg_drop(struct halo_comm *comm, uint64_t owner)
{
    for (int i = 0; halo_transports[i]; i++)
        if (halo_transports[i]->mem_deregister && comm->tp.state[halo_transports[i]->kind])
            halo_transports[i]->mem_deregister(&comm->tp, owner);
}

static haloResult_t comm_register(struct halo_comm *comm, void *buff, size_t size, void **handle)
{
    haloResult_t r;
    if (!handle || !buff || size == 0)
        return halo_error(comm, haloInvalidArgument, "haloCommRegister: %s", !handle ? "handle is NULL"
                          : !buff ? "buff is NULL" : "size is 0");
    *handle = NULL;
    struct halo_reg *g = calloc(1, sizeof(*g));
    if (!g)
        return halo_error(comm, haloSystemError, "haloCommRegister: out of memory");
    static _Atomic uint64_t next_owner = REG_FIRST_USER_OWNER;
    *g = (struct halo_reg){.magic = REG_MAGIC, .buf = buff, .size = size, .owner = next_owner++};
    const char *with;
    if ((r = comm_reg_add(comm, buff, size, g->owner, &with)) != haloSuccess) {
        free(g);
        return r;
    }
    g->next = comm->regs;
    comm->regs = g;
    *handle = g;
    HLOG_INFO(HALO_SUB_NET, comm->rank, "registered %zu bytes at %p%s%s", size, buff, with[0] ? " with " : "",
              with);
    return haloSuccess;
}

static haloResult_t comm_deregister(struct halo_comm *comm, void *handle)
{
    for (struct halo_reg **p = &comm->regs; *p; p = &(*p)->next) {
        if (*p != handle)
            continue;
        struct halo_reg *g = *p;
        *p = g->next;
        comm_reg_drop(comm, g->owner);
        g->magic = 0;
        free(g);
        return haloSuccess;
    }
    return halo_error(comm, haloInvalidArgument,
                      "haloCommDeregister: %p is not a registration of this communicator (deregistered already, "
                      "or from another communicator)", handle);
}

HALO_API haloResult_t haloCommRegister(const haloComm_t comm, void *buff, size_t size, void **handle)
{
    haloResult_t r = comm_enter(comm, "haloCommRegister");
    return r == haloSuccess ? comm_leave(comm, comm_register(comm, buff, size, handle)) : r;
}

HALO_API haloResult_t haloCommDeregister(const haloComm_t comm, void *handle)
{
    haloResult_t r = comm_enter(comm, "haloCommDeregister");
    return r == haloSuccess ? comm_leave(comm, comm_deregister(comm, handle)) : r;
}

/* At destroy, before the devices go: what the user left registered, and the
 * landing areas. */
void comm_regs_free(struct halo_comm *comm)
{
    while (comm->regs) {
        struct halo_reg *g = comm->regs;
        comm->regs = g->next;
        comm_reg_drop(comm, g->owner);
        free(g);
    }
    for (int c = 0; c < HALO_MAX_CHANNELS; c++) {
        if (comm->zc_scratch[c])
            comm_reg_drop(comm, (uint64_t)c + 1);
        free(comm->zc_scratch[c]);
        comm->zc_scratch[c] = NULL;
    }
}

void *comm_zc_scratch(struct halo_comm *comm, int ch, size_t bytes, haloResult_t *r)
{
    *r = haloSuccess;
    if (comm->zc_scratch_bytes[ch] >= bytes)
        return comm->zc_scratch[ch];
    if (comm->zc_scratch[ch])
        comm_reg_drop(comm, (uint64_t)ch + 1);
    free(comm->zc_scratch[ch]);
    comm->zc_scratch[ch] = NULL;
    comm->zc_scratch_bytes[ch] = 0;
    if (posix_memalign(&comm->zc_scratch[ch], 4096, bytes) != 0) {
        comm->zc_scratch[ch] = NULL;
        *r = halo_error(comm, haloSystemError, "rank %d: out of memory for a %zu-byte landing area", comm->rank,
                        bytes);
        return NULL;
    }
    const char *with;
    if ((*r = comm_reg_add(comm, comm->zc_scratch[ch], bytes, (uint64_t)ch + 1, &with)) != haloSuccess) {
        free(comm->zc_scratch[ch]);
        comm->zc_scratch[ch] = NULL;
        return NULL;
    }
    comm->zc_scratch_bytes[ch] = bytes;
    return comm->zc_scratch[ch];
}

haloResult_t comm_zc_agree(struct halo_comm *comm)
{
    int n = comm->nranks;
    uint8_t *ok = calloc((size_t)n, 1);
    if (!ok)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    /* Every channel's: rails may carry one channel over ib and the next over tcp.
     * Bit 0: both ring neighbours; bit 1: the chain's (no neighbour past an end);
     * bit 2: every peer. */
    int p = comm->ring_pos, bits = comm->zc_min > 0 && n > 1 ? 7 : 0;
    for (int ch = 0; ch < comm->nchannels && bits; ch++) {
        for (int peer = 0; peer < n; peer++) {
            struct halo_conn *c = comm->conns[ch * n + peer];
            if (peer != comm->rank && !(c && c->zc_max))
                bits &= ~4;
        }
        struct halo_conn *next = comm->conns[ch * n + comm->ring[(p + 1) % n]];
        struct halo_conn *prev = comm->conns[ch * n + comm->ring[(p + n - 1) % n]];
        int next_ok = next && next->zc_max, prev_ok = prev && prev->zc_max;
        if (!next_ok || !prev_ok)
            bits &= ~1;
        if ((p < n - 1 && !next_ok) || (p > 0 && !prev_ok))
            bits &= ~2;
    }
    ok[comm->rank] = (uint8_t)bits;
    haloResult_t r = bootstrap_allgather(comm->bs, ok, 1);
    int all = r == haloSuccess && n > 1 ? 7 : 0;
    for (int i = 0; i < n; i++)
        all &= ok[i];
    free(ok);
    comm->zc_ring = all & 1;
    comm->zc_chain = (all & 2) != 0;
    comm->zc_all = (all & 4) != 0;
    if (comm->zc_ring)
        HLOG_INFO(HALO_SUB_INIT, comm->rank,
                  "ring blocks (every collective) of %zu bytes and more go zero-copy over ib", comm->zc_min);
    if (comm->zc_chain)
        HLOG_INFO(HALO_SUB_INIT, comm->rank,
                  "chain blocks (every collective; half a channel's range for all-reduce) of %zu bytes and more go "
                  "zero-copy over ib",
                  comm->zc_min);
    if (comm->zc_all)
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "two-shot blocks of %zu bytes and more go zero-copy over ib",
                  comm->zc_min);
    return r;
}
