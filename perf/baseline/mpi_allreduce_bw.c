/* SPDX-License-Identifier: MIT */
/*
 * mpi_allreduce_bw.c — the same sweep as allreduce_bw, around MPI_Allreduce
 * (float32 sum), so haloccl and MPI are measured the same way in one session:
 * warm-up, barrier, back-to-back calls, time = max over ranks of the mean.
 *
 *   mpirun -np 2 --mca btl vader,self build/bin/mpi_allreduce_bw [-b 8] [-e 64m] [-f 2]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end == 'k' || *end == 'K')
        v *= 1024;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024;
    else if (*end == 'g' || *end == 'G')
        v *= 1024.0 * 1024 * 1024;
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t b = 8, e = 64u << 20, f = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-b"))
            b = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "-e"))
            e = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "-f"))
            f = parse_size(argv[i + 1]);
    }
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    float *in = malloc(e), *out = malloc(e);
    for (size_t i = 0; i < e / 4; i++)
        in[i] = (float)((rank + i) % 7);
    memset(out, 0, e);
    if (rank == 0)
        printf("# mpi_allreduce_bw: %d ranks, float32 sum\n#%12s %13s %10s %8s %8s %8s\n", n, "size(B)", "count",
               "time(us)", "algbw", "busbw", "#wrong");
    for (size_t size = b; size <= e; size *= f) {
        int count = (int)(size / 4);
        if (count == 0)
            continue;
        size_t iters = (256u << 20) / size;
        iters = iters < 3 ? 3 : iters > 200 ? 200 : iters;
        for (int w = 0; w < 3; w++)
            MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (size_t it = 0; it < iters; it++)
            MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t = (MPI_Wtime() - t0) / (double)iters, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        long wrong = 0;
        for (int i = 0; i < count; i++) {
            float want = 0;
            for (int r = 0; r < n; r++)
                want += (float)((r + (size_t)i) % 7);
            wrong += out[i] != want;
        }
        if (rank == 0) {
            double algbw = (double)size / tmax / 1e9;
            printf(" %12zu %13d %10.2f %8.3f %8.3f %8ld\n", size, count, tmax * 1e6, algbw,
                   algbw * 2.0 * (n - 1) / n, wrong);
        }
    }
    MPI_Finalize();
    free(in);
    free(out);
    return 0;
}
