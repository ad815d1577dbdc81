/* SPDX-License-Identifier: MIT */
/*
 * algo_table.c — the algorithms, one row each: the name used by logs and by
 * HALO_ALGO, the cost model's counterpart, and the schedule for each collective.
 * api.c chooses a row; halo-info lists them; the words HALO_ALGO accepts
 * (params.def) are checked against the rows by tests/core/test_tables.c.
 */
#include <string.h>

#include "algos.h"
#include "hot.h"
#include "topo_cost.h"

#define ALGO_NO_TOPO (-1)

static const struct algo_row algo_rows[] = {
    {HALO_ALGO_RING, "ring", 1, TOPO_ALGO_RING,
     {[HALO_COLL_ALLREDUCE] = ring_allreduce, [HALO_COLL_ALLGATHER] = ring_allgather,
      [HALO_COLL_BROADCAST] = ring_broadcast, [HALO_COLL_REDUCESCATTER] = ring_reducescatter,
      [HALO_COLL_REDUCE] = ring_reduce},
     "reduce-scatter + all-gather round the ring, one direction, pipelined in slices"},
    {HALO_ALGO_DIRECT, "direct", 1, TOPO_ALGO_DIRECT,
     {[HALO_COLL_ALLREDUCE] = direct_allreduce},
     "one-shot all-reduce: every rank sends its whole buffer to every other and reduces locally"},
    {HALO_ALGO_CHAIN, "chain", 1, TOPO_ALGO_CHAIN,
     {[HALO_COLL_ALLREDUCE] = chain_allreduce, [HALO_COLL_ALLGATHER] = chain_allgather,
      [HALO_COLL_BROADCAST] = chain_broadcast, [HALO_COLL_REDUCESCATTER] = chain_reducescatter,
      [HALO_COLL_REDUCE] = chain_reduce},
     "daisy chain without a closing link: halves reduced in opposite directions, sent back"},
    {HALO_ALGO_RING_BIDIR, "ring_bidir", 1, TOPO_ALGO_RING_BIDIR,
     {[HALO_COLL_ALLREDUCE] = ring_bidir_allreduce},
     "all-reduce as two half-size rings, one each way round the ring"},
    {HALO_ALGO_TWO_SHOT, "two_shot", 1, TOPO_ALGO_TWO_SHOT,
     {[HALO_COLL_ALLREDUCE] = two_shot_allreduce},
     "two-shot all-reduce: each rank reduces its 1/n block from every peer, then sends it to every peer"},
    {HALO_ALGO_RING_ZC, "ring_zc", 0, TOPO_ALGO_RING,
     {[HALO_COLL_ALLREDUCE] = ring_zc_allreduce, [HALO_COLL_ALLGATHER] = ring_zc_allgather,
      [HALO_COLL_BROADCAST] = ring_zc_broadcast, [HALO_COLL_REDUCESCATTER] = ring_zc_reducescatter,
      [HALO_COLL_REDUCE] = ring_zc_reduce},
     "the one-way ring with zero-copy messages (ib, chosen by HALO_IB_ZCOPY_MIN): every collective"},
    {HALO_ALGO_RING_BIDIR_ZC, "ring_bidir_zc", 0, TOPO_ALGO_RING_BIDIR,
     {[HALO_COLL_ALLREDUCE] = ring_zc_bidir_allreduce},
     "ring_bidir with zero-copy messages (ib, 3+ ranks, an even number of channels, chosen by HALO_IB_ZCOPY_MIN): "
     "even channels run the zero-copy ring one way, odd channels the other"},
    {HALO_ALGO_CHAIN_ZC, "chain_zc", 0, TOPO_ALGO_CHAIN,
     {[HALO_COLL_ALLREDUCE] = chain_zc_allreduce, [HALO_COLL_ALLGATHER] = chain_zc_allgather,
      [HALO_COLL_BROADCAST] = chain_zc_broadcast, [HALO_COLL_REDUCESCATTER] = chain_zc_reducescatter,
      [HALO_COLL_REDUCE] = chain_zc_reduce},
     "the daisy chain with zero-copy messages (ib, chosen by HALO_IB_ZCOPY_MIN): every collective"},
    {HALO_ALGO_TWO_SHOT_ZC, "two_shot_zc", 0, TOPO_ALGO_TWO_SHOT,
     {[HALO_COLL_ALLREDUCE] = two_shot_zc_allreduce},
     "two_shot with zero-copy messages (ib to every peer, chosen by HALO_IB_ZCOPY_MIN)"},
    {HALO_ALGO_P2P, "p2p", 0, ALGO_NO_TOPO, {0}, "send/recv through the slots"},
    {HALO_ALGO_P2P_ZC, "p2p_zc", 0, ALGO_NO_TOPO, {0}, "send/recv as zero-copy messages (ib)"},
    {HALO_ALGO_P2P_FWD, "p2p_fwd", 0, ALGO_NO_TOPO, {0},
     "send/recv forwarded through the ranks between (no direct link: chains, rings of 4+)"},
};

#define ALGO_NROWS (int)(sizeof(algo_rows) / sizeof(algo_rows[0]))

int algo_count(void)
{
    return ALGO_NROWS;
}

const struct algo_row *algo_at(int i)
{
    return i >= 0 && i < ALGO_NROWS ? &algo_rows[i] : NULL;
}

const struct algo_row *algo_row_of(enum halo_algo a)
{
    for (int i = 0; i < ALGO_NROWS; i++)
        if (algo_rows[i].algo == a)
            return &algo_rows[i];
    return NULL;
}

const struct algo_row *algo_by_word(const char *word)
{
    for (int i = 0; word && i < ALGO_NROWS; i++)
        if (algo_rows[i].word && strcmp(algo_rows[i].name, word) == 0)
            return &algo_rows[i];
    return NULL;
}

HALO_HOT const char *algo_name(enum halo_algo a)
{
    const struct algo_row *r = algo_row_of(a);
    return r ? r->name : "?";
}

int algo_has_schedule(enum halo_algo a, enum halo_coll c)
{
    const struct algo_row *r = algo_row_of(a);
    return r && c >= 0 && c < HALO_COLL_NUM && r->schedules[c] != NULL;
}

HALO_HOT halo_channel_fn algo_schedule(enum halo_algo a, enum halo_coll c)
{
    return algo_has_schedule(a, c) ? algo_row_of(a)->schedules[c] : NULL;
}
