/*
 * split.c — haloCommSplit: ranks with the same color form a new communicator.
 *
 * Two all-gathers over the parent's bootstrap: first (color, key) of every rank,
 * from which each rank knows its group, its new rank (order by key, then old
 * rank) and the group's leader (new rank 0); then the leaders' freshly created
 * unique ids (own root service, own secret). Each group then initialises like
 * haloCommInitRank with its leader's id.
 */
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

HALO_API haloResult_t haloCommSplit(haloComm_t comm, int color, int key, haloComm_t *newcomm, haloConfig_t *config)
{
    haloResult_t r = comm_check(comm, "haloCommSplit");
    if (r != haloSuccess)
        return r;
    if (!newcomm)
        return halo_error(comm, haloInvalidArgument, "haloCommSplit: newcomm is NULL");
    if (color < 0 && color != HALO_SPLIT_NOCOLOR)
        return halo_error(comm, haloInvalidArgument,
                          "haloCommSplit: color %d must be >= 0 or HALO_SPLIT_NOCOLOR (-1)", color);
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
    if ((r = split_exchange_ids(comm, e, ids)) != haloSuccess)
        goto out_free;
    if (color == HALO_SPLIT_NOCOLOR) {
        *newcomm = NULL;
        goto out_free;
    }
    int n, pos = split_position(e, comm->nranks, comm->rank, &n);
    haloConfig_t inherit = HALO_CONFIG_INITIALIZER;
    inherit.timeoutMs = (int)(comm->timeout_us / 1000);
    inherit.nChannels = comm->nchannels;
    HLOG_INFO(HALO_SUB_INIT, comm->rank, "split: color %d key %d -> rank %d of %d", color, key, pos, n);
    r = comm_init_internal(newcomm, n, &ids[split_leader(e, comm->nranks, comm->rank)], pos,
                           config ? config : &inherit);
out_free:
    free(e);
    free(ids);
    return r;
}
