/* SPDX-License-Identifier: MIT */
/*
 * split.c — haloCommSplit: ranks with the same color form a new communicator.
 *
 * Two all-gathers over the parent's bootstrap: first (color, key) of every rank,
 * from which each rank knows its group, its new rank (order by key, then old
 * rank) and the group's leader (new rank 0); then the leaders' freshly created
 * unique ids (own root service, own secret). Each group then initialises like
 * haloCommInitRank with its leader's id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "log.h"

struct split_entry {
    int32_t color, key;
};

/* New rank of old rank r among its color (order by key, then old rank); count via *n. */
static int split_position(const struct split_entry *e, int nranks, int r, int *n)
{
    int pos = 0;
    *n = 0;
    for (int q = 0; q < nranks; q++) {
        if (e[q].color != e[r].color)
            continue;
        (*n)++;
        if (e[q].key < e[r].key || (e[q].key == e[r].key && q < r))
            pos++;
    }
    return pos;
}

static int split_leader(const struct split_entry *e, int nranks, int r)
{
    int n;
    for (int q = 0; q < nranks; q++)
        if (e[q].color == e[r].color && split_position(e, nranks, q, &n) == 0)
            return q;
    return r;
}

static haloResult_t split_exchange_ids(struct halo_comm *comm, const struct split_entry *e, haloUniqueId *ids)
{
    int me = comm->rank;
    if (e[me].color != HALO_SPLIT_NOCOLOR && split_leader(e, comm->nranks, me) == me) {
        struct halo_sockaddr bind = {0};
        const struct sockaddr_storage *local = bootstrap_local_addr(comm->bs);
        halo_sockaddr_from(&bind, (const struct sockaddr *)local);
        bind.port = 0;
        struct sockaddr_storage ss;
        halo_sockaddr_to(&bind, &ss);
        haloResult_t r = bootstrap_root_start(&ids[me], &comm->params, &ss, 0);
        if (r != haloSuccess)
            return r;
    }
    return bootstrap_allgather(comm->bs, ids, sizeof(haloUniqueId));
}

/* The parent's part of a split (the two all-gathers), on a parent the caller
 * holds; fills the new rank, size, leader's id and inherited config. */
static haloResult_t split_agree(struct halo_comm *comm, int color, int key, int *pos, int *n, haloUniqueId *id,
                                haloConfig_t *inherit)
{
    haloResult_t r;
    struct split_entry *e = calloc((size_t)comm->nranks, sizeof(*e));
    haloUniqueId *ids = calloc((size_t)comm->nranks, sizeof(*ids));
    if (!e || !ids) {
        r = halo_error(comm, haloSystemError, "haloCommSplit: out of memory");
        goto out_free;
    }
    e[comm->rank].color = color;
    e[comm->rank].key = key;
    if ((r = bootstrap_allgather(comm->bs, e, sizeof(*e))) != haloSuccess)
        goto out_free;
    if ((r = split_exchange_ids(comm, e, ids)) != haloSuccess || color == HALO_SPLIT_NOCOLOR)
        goto out_free;
    *pos = split_position(e, comm->nranks, comm->rank, n);
    *id = ids[split_leader(e, comm->nranks, comm->rank)];
    inherit->timeoutMs = (int)(comm->timeout_us / 1000);
    inherit->nChannels = comm->nchannels;
    inherit->wireFormat = comm->wire;
    inherit->wireMinBytes = comm->wire_min > INT32_MAX ? INT32_MAX : (int)comm->wire_min;
    HLOG_INFO(HALO_SUB_INIT, comm->rank, "split: color %d key %d -> rank %d of %d", color, key, *pos, *n);
out_free:
    free(e);
    free(ids);
    return r;
}

/* The parent is held only for its part: the new communicator's init does not
 * touch it, so an abort of the parent meanwhile neither waits for that init nor
 * disturbs it. */
HALO_API haloResult_t haloCommSplit(haloComm_t comm, int color, int key, haloComm_t *newcomm, haloConfig_t *config)
{
    haloResult_t r = comm_enter(comm, "haloCommSplit");
    if (r != haloSuccess)
        return r;
    if (!newcomm)
        r = halo_error(comm, haloInvalidArgument, "haloCommSplit: newcomm is NULL");
    else if (color < 0 && color != HALO_SPLIT_NOCOLOR)
        r = halo_error(comm, haloInvalidArgument,
                       "haloCommSplit: color %d must be >= 0 or HALO_SPLIT_NOCOLOR (-1)", color);
    int pos = 0, n = 0;
    haloUniqueId id;
    memset(&id, 0, sizeof(id));
    haloConfig_t inherit = HALO_CONFIG_INITIALIZER;
    if (r == haloSuccess)
        r = split_agree(comm, color, key, &pos, &n, &id, &inherit);
    if ((r = comm_leave(comm, r)) != haloSuccess)
        return r;
    if (color == HALO_SPLIT_NOCOLOR) {
        *newcomm = NULL;
        return haloSuccess;
    }
    return comm_init_internal(newcomm, n, &id, pos, config ? config : &inherit);
}
