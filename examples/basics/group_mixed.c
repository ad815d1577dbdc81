/* SPDX-License-Identifier: MIT */
/*
 * group_mixed.c — several operations handed over as one unit between haloGroupStart
 * and haloGroupEnd: an all-reduce of gradients, an all-gather of per-rank counters,
 * and a ring exchange (send to the right neighbour, receive from the left) that
 * outside a group would make every rank wait on its neighbour's send. End returns
 * when all of them completed; then each result is checked.
 *
 *   mpirun -np 4 build/bin/group_mixed
 */
#include "example_util.h"

#define N_GRAD 10000
#define N_HALO 512

int main(void)
{
    int rank, n;
    haloComm_t comm = ex_init("group_mixed", &rank, &n);
    static float grad[N_GRAD], grad_sum[N_GRAD];
    static int halo_out[N_HALO], halo_in[N_HALO];
    int counter = 100 + rank, *counters = calloc((size_t)n, sizeof(int));
    if (!counters)
        return 1;
    for (int i = 0; i < N_GRAD; i++)
        grad[i] = (float)(rank + 1) * (float)(i % 64);
    for (int i = 0; i < N_HALO; i++)
        halo_out[i] = rank * 100000 + i;
    int right = (rank + 1) % n, left = (rank + n - 1) % n;

    ex_check(haloGroupStart(), "haloGroupStart", comm);
    ex_check(haloAllReduce(grad, grad_sum, N_GRAD, haloFloat32, haloSum, comm, NULL), "haloAllReduce", comm);
    ex_check(haloAllGather(&counter, counters, 1, haloInt32, comm, NULL), "haloAllGather", comm);
    ex_check(haloSend(halo_out, N_HALO, haloInt32, right, comm, NULL), "haloSend", comm);
    ex_check(haloRecv(halo_in, N_HALO, haloInt32, left, comm, NULL), "haloRecv", comm);
    ex_check(haloGroupEnd(), "haloGroupEnd", comm); /* all four ran when this returns */

    /* sum over ranks of (r + 1) = n (n + 1) / 2 */
    long wrong = 0;
    for (int i = 0; i < N_GRAD; i++)
        wrong += grad_sum[i] != (float)(n * (n + 1) / 2) * (float)(i % 64);
    for (int r = 0; r < n; r++)
        wrong += counters[r] != 100 + r;
    for (int i = 0; i < N_HALO; i++)
        wrong += halo_in[i] != left * 100000 + i;

    long total = 0;
    ex_check(haloAllReduce(&wrong, &total, 1, haloInt64, haloSum, comm, NULL), "haloAllReduce", comm);
    if (rank == 0)
        printf("group_mixed: all-reduce, all-gather and ring send/recv in one group on %d ranks: %s\n", n,
               total ? "WRONG" : "all results correct");
    if (wrong)
        fprintf(stderr, "rank %d: %ld wrong values\n", rank, wrong);
    free(counters);
    haloCommDestroy(comm);
    return total != 0;
}
