/* SPDX-License-Identifier: MIT */
/*
 * split_tp_dp.c — one world communicator split into tensor-parallel and data-parallel
 * groups with haloCommSplit, as a training or serving job lays out its ranks:
 *
 *   world rank r, TP size t:  TP group = r / t (consecutive ranks: one model replica),
 *                             DP group = r % t (the same shard in every replica).
 *
 * With 4 ranks and t = 2: TP groups {0,1} {2,3}, DP groups {0,2} {1,3}. Each rank
 * all-reduces its world rank in both groups and checks the sums in closed form.
 *
 *   mpirun -np 4 build/bin/split_tp_dp          # TP size 2 (needs an even rank count)
 *   HALO_EXAMPLE_TP=4 mpirun -np 8 build/bin/split_tp_dp
 */
#include "example_util.h"

int main(void)
{
    int rank, n;
    haloComm_t world = ex_init("split_tp_dp", &rank, &n);
    const char *s = getenv("HALO_EXAMPLE_TP");
    int tp = s ? atoi(s) : 2;
    if (tp < 1 || n % tp != 0) {
        if (rank == 0)
            fprintf(stderr, "split_tp_dp: %d ranks do not split into TP groups of %d\n", n, tp);
        haloCommDestroy(world);
        return 2;
    }

    haloComm_t tp_comm, dp_comm;
    /* key = world rank keeps the world order inside each group. */
    ex_check(haloCommSplit(world, rank / tp, rank, &tp_comm, NULL), "haloCommSplit (TP)", world);
    ex_check(haloCommSplit(world, rank % tp, rank, &dp_comm, NULL), "haloCommSplit (DP)", world);
    int tp_rank, tp_n, dp_rank, dp_n;
    haloCommUserRank(tp_comm, &tp_rank);
    haloCommCount(tp_comm, &tp_n);
    haloCommUserRank(dp_comm, &dp_rank);
    haloCommCount(dp_comm, &dp_n);

    int tp_sum, dp_sum;
    ex_check(haloAllReduce(&rank, &tp_sum, 1, haloInt32, haloSum, tp_comm, NULL), "haloAllReduce (TP)", tp_comm);
    ex_check(haloAllReduce(&rank, &dp_sum, 1, haloInt32, haloSum, dp_comm, NULL), "haloAllReduce (DP)", dp_comm);

    /* TP group g holds g*tp .. g*tp + tp-1; DP group j holds j, j+tp, ..., j+(n/tp-1)*tp. */
    int g = rank / tp, j = rank % tp, k = n / tp;
    int want_tp = g * tp * tp + tp * (tp - 1) / 2;
    int want_dp = j * k + tp * k * (k - 1) / 2;
    int ok = tp_n == tp && dp_n == k && tp_rank == j && dp_rank == g && tp_sum == want_tp && dp_sum == want_dp;
    if (!ok)
        fprintf(stderr, "rank %d: TP rank %d/%d sum %d (want %d/%d, %d); DP rank %d/%d sum %d (want %d/%d, %d)\n",
                rank, tp_rank, tp_n, tp_sum, j, tp, want_tp, dp_rank, dp_n, dp_sum, g, k, want_dp);

    int bad = !ok, nbad = 0;
    ex_check(haloAllReduce(&bad, &nbad, 1, haloInt32, haloSum, world, NULL), "haloAllReduce", world);
    if (rank == 0)
        printf("split_tp_dp: %d ranks = %d TP groups of %d x %d DP groups of %d: %s\n", n, k, tp, tp, k,
               nbad ? "WRONG" : "groups and sums correct");
    haloCommDestroy(tp_comm);
    haloCommDestroy(dp_comm);
    haloCommDestroy(world);
    return nbad != 0;
}
