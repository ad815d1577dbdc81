/* SPDX-License-Identifier: MIT */
/*
 * broadcast_weights.c — rank 0 holds the model's weights (here generated, in a real
 * engine read from disk); one haloBroadcast gives every rank the same copy, the way
 * an inference server starts its workers. Each rank checks every value and rank 0
 * prints one line when all did.
 *
 *   mpirun -np 4 build/bin/broadcast_weights
 */
#include "example_util.h"

#include <stdint.h>

#define N_WEIGHTS (1u << 20) /* 4 MiB of float32 */

/* The value rank 0 stores at index i: distinct per index, exact in float32. */
static float weight_at(uint32_t i)
{
    return (float)(i % 4099) * 0.25f - 512.0f;
}

int main(void)
{
    int rank, n;
    haloComm_t comm = ex_init("broadcast_weights", &rank, &n);
    float *w = malloc(N_WEIGHTS * sizeof(float));
    if (!w)
        return 1;
    for (uint32_t i = 0; i < N_WEIGHTS; i++) /* other ranks start with garbage */
        w[i] = rank == 0 ? weight_at(i) : -1.0f;

    /* In place: root's buffer is the source, everyone else's the destination. */
    ex_check(haloBroadcast(w, w, N_WEIGHTS, haloFloat32, 0, comm, NULL), "haloBroadcast", comm);

    uint32_t wrong = 0;
    for (uint32_t i = 0; i < N_WEIGHTS; i++)
        wrong += w[i] != weight_at(i);
    /* Rank 0 learns how many ranks saw a wrong value: a sum of 0/1 flags. */
    int bad = wrong != 0, nbad = 0;
    ex_check(haloAllReduce(&bad, &nbad, 1, haloInt32, haloSum, comm, NULL), "haloAllReduce", comm);
    if (wrong)
        fprintf(stderr, "rank %d: %u of %u weights differ from rank 0's\n", rank, wrong, N_WEIGHTS);
    if (rank == 0)
        printf("broadcast_weights: %u float32 weights from rank 0 on %d ranks: %s\n", N_WEIGHTS, n,
               nbad ? "MISMATCH" : "identical everywhere");
    free(w);
    haloCommDestroy(comm);
    return nbad != 0;
}
