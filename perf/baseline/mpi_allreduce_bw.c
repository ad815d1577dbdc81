/* SPDX-License-Identifier: MIT */
/*
 * mpi_allreduce_bw.c — the same sweep as allreduce_bw, around MPI_Allreduce
 * (float32 sum, out of place), so haloccl and MPI are measured the same way in one
 * session: warm-up calls, a barrier, back-to-back timed calls; time = the mean of one
 * call on each rank, then the maximum over ranks; busbw = algbw x 2(n-1)/n
 * (nccl-tests' all-reduce factor). After each size one more call on a poisoned output
 * is checked element by element; #wrong is summed over ranks.
 *
 *   mpirun -np 2 --mca btl vader,self build/bin/mpi_allreduce_bw [-b 8] [-e 64m] [-f 2] [-w 5] [--json]
 *
 * --json prints per size the object allreduce_bw --json prints, out-of-place keys only:
 * {"tool":"mpi_allreduce_bw","nranks":2,"size":1024,"count":256,"iters":200,"warmup":5,
 *  "oop_time_us":...,"oop_algbw":...,"oop_busbw":...,"oop_wrong":0}
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "size_arg.h"

struct opts {
    size_t minbytes, maxbytes, factor;
    int warmup, json;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t n;

        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!v || baseline_parse_size(v, &n)) {
            fprintf(stderr, "mpi_allreduce_bw: %s needs a size (8, 4k, 64m); usage: [-b MIN] [-e MAX] [-f FACTOR] "
                            "[-w WARMUP] [--json]\n", a);
            return -1;
        }
        if (!strcmp(a, "-b"))
            o->minbytes = n;
        else if (!strcmp(a, "-e"))
            o->maxbytes = n;
        else if (!strcmp(a, "-f"))
            o->factor = n;
        else if (!strcmp(a, "-w"))
            o->warmup = (int)n;
        else {
            fprintf(stderr, "mpi_allreduce_bw: unknown option %s\n", a);
            return -1;
        }
        i++;
    }
    if (o->factor < 2 || o->minbytes < 4 || o->maxbytes < o->minbytes) {
        fprintf(stderr, "mpi_allreduce_bw: want 4 <= -b <= -e and -f >= 2\n");
        return -1;
    }
    return 0;
}

/* Input of rank r at element i: an integer in [-8, 8], different per rank and per
 * element, so every partial sum is exact in float32 and a wrong offset shows. */
static float input_value(int rank, size_t i)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(rank + 1) * 40503u;
    h ^= h >> 13;
    return (float)((int)(h % 17) - 8);
}

/* One more call on a poisoned output; returns the number of wrong elements here. */
static long check_size(const float *in, float *out, int count, int n)
{
    long wrong = 0;

    for (int i = 0; i < count; i++)
        out[i] = 3.0e38f;
    MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < count; i++) {
        float want = 0;
        for (int r = 0; r < n; r++)
            want += input_value(r, (size_t)i);
        wrong += out[i] != want;
    }
    return wrong;
}

static void print_row(const struct opts *o, int n, size_t size, int count, size_t iters, double tmax, long wrong)
{
    double algbw = (double)size / tmax / 1e9, busbw = algbw * 2.0 * (n - 1) / n;

    if (o->json)
        printf("{\"tool\":\"mpi_allreduce_bw\",\"nranks\":%d,\"size\":%zu,\"count\":%d,\"iters\":%zu,\"warmup\":%d,"
               "\"oop_time_us\":%.3f,\"oop_algbw\":%.4f,\"oop_busbw\":%.4f,\"oop_wrong\":%ld}\n",
               n, size, count, iters, o->warmup, tmax * 1e6, algbw, busbw, wrong);
    else
        printf(" %12zu %13d %10.2f %8.3f %8.3f %8ld\n", size, count, tmax * 1e6, algbw, busbw, wrong);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct opts o = {.minbytes = 8, .maxbytes = 64u << 20, .factor = 2, .warmup = 5};
    int rank, n, status = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    if (parse_opts(argc, argv, &o)) {
        MPI_Finalize();
        return 2;
    }
    float *in = malloc(o.maxbytes), *out = malloc(o.maxbytes);
    if (!in || !out) {
        fprintf(stderr, "mpi_allreduce_bw: rank %d: cannot allocate 2 x %zu bytes\n", rank, o.maxbytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < o.maxbytes / 4; i++)
        in[i] = input_value(rank, i);
    memset(out, 0, o.maxbytes);
    if (rank == 0 && !o.json)
        printf("# mpi_allreduce_bw: %d ranks, float32 sum\n#%12s %13s %10s %8s %8s %8s\n", n, "size(B)", "count",
               "time(us)", "algbw", "busbw", "#wrong");
    for (size_t size = o.minbytes; size <= o.maxbytes; size *= o.factor) {
        int count = (int)(size / 4);
        /* As allreduce_bw's "-i auto": 256 MiB / size calls, clamped to 3..200. */
        size_t iters = (256u << 20) / size;
        iters = iters < 3 ? 3 : iters > 200 ? 200 : iters;
        for (int w = 0; w < o.warmup; w++)
            MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (size_t it = 0; it < iters; it++)
            MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t = (MPI_Wtime() - t0) / (double)iters, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        long wrong = check_size(in, out, count, n), wrong_all;
        MPI_Allreduce(&wrong, &wrong_all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        if (wrong_all)
            status = 1;
        if (rank == 0)
            print_row(&o, n, size, count, iters, tmax, wrong_all);
    }
    MPI_Finalize();
    free(in);
    free(out);
    return status;
}
