/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c — pipeline parallelism: rank s is stage s of a model cut by layers.
 * Stage 0 makes each micro-batch, every stage applies its "layer" (x = 2x + s + 1)
 * and sends the activations to the next stage with haloSend / haloRecv; the last
 * stage checks the result against the closed form.
 *
 * Message order: for micro-batch m, stage s receives from s-1 then sends to s+1.
 * Each pair only ever sends one way, so blocking calls cannot wait on each other
 * in a circle and no group is needed (an exchange both ways would need one).
 *
 *   mpirun -np 3 build/bin/pipeline
 */
#include "example_util.h"

#define N_ACT 4096   /* activations per micro-batch */
#define N_MICRO 8    /* micro-batches */

/* What stage 0 feeds in: micro-batch m, element i. */
static double input_at(int m, int i)
{
    return m * 1000.0 + i;
}

/* After stages 0..n-1, each x -> 2x + s + 1: x_n = 2^n x_0 + sum_s 2^(n-1-s) (s + 1). */
static double output_of(double x0, int n)
{
    double x = x0;
    for (int s = 0; s < n; s++)
        x = 2 * x + s + 1;
    return x;
}

int main(void)
{
    int rank, n;
    haloComm_t comm = ex_init("pipeline", &rank, &n);
    static double act[N_ACT];
    long wrong = 0;

    for (int m = 0; m < N_MICRO; m++) {
        if (rank == 0)
            for (int i = 0; i < N_ACT; i++)
                act[i] = input_at(m, i);
        else
            ex_check(haloRecv(act, N_ACT, haloFloat64, rank - 1, comm, NULL), "haloRecv", comm);

        for (int i = 0; i < N_ACT; i++) /* this stage's layer */
            act[i] = 2 * act[i] + rank + 1;

        if (rank < n - 1)
            ex_check(haloSend(act, N_ACT, haloFloat64, rank + 1, comm, NULL), "haloSend", comm);
        else
            for (int i = 0; i < N_ACT; i++)
                wrong += act[i] != output_of(input_at(m, i), n);
    }
    if (rank == n - 1) {
        printf("pipeline: %d micro-batches of %d activations through %d stages: %s\n", N_MICRO, N_ACT, n,
               wrong ? "WRONG" : "last stage matches the closed form");
        if (wrong)
            fprintf(stderr, "pipeline: %ld values differ\n", wrong);
    }
    haloCommDestroy(comm);
    return wrong != 0;
}
