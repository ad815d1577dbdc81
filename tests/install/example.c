/* SPDX-License-Identifier: MIT */
/* The README's minimal example, built against an installed haloccl. */
#include <haloccl.h>
#include <stdio.h>

int main(void)
{
    haloComm_t comm;
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "init: %s\n", haloGetLastError(NULL));
        return 1;
    }
    int rank, n;
    haloCommUserRank(comm, &rank);
    haloCommCount(comm, &n);
    float x[4] = {rank, rank, rank, rank}, sum[4];
    haloResult_t r = haloAllReduce(x, sum, 4, haloFloat32, haloSum, comm, NULL);
    if (r != haloSuccess)
        fprintf(stderr, "allreduce: %s\n", haloGetLastError(comm));
    else if (rank == 0)
        printf("sum over %d ranks = %g\n", n, sum[0]);
    haloCommDestroy(comm);
    return r != haloSuccess || (rank == 0 && sum[0] != n * (n - 1) / 2.0f);
}
