/* SPDX-License-Identifier: MIT */
/*
 * example_util.h — the two lines every small example needs: join the job started
 * by a launcher (mpirun, srun, torchrun, or HALO_ROOT/HALO_RANK/HALO_NRANKS by hand),
 * and stop with haloGetLastError's sentence when a call fails. Header-only so that
 * each example stays one file plus this.
 */
#ifndef HALO_EXAMPLE_UTIL_H
#define HALO_EXAMPLE_UTIL_H

#include <haloccl.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints what failed and the library's sentence, then exits 1. */
static inline void ex_check(haloResult_t r, const char *what, haloComm_t comm)
{
    if (r == haloSuccess)
        return;
    fprintf(stderr, "%s failed: %s: %s\n", what, haloGetErrorString(r), haloGetLastError(comm));
    exit(1);
}

/* Joins the job from the environment; sets *rank and *nranks. */
static inline haloComm_t ex_init(const char *name, int *rank, int *nranks)
{
    haloComm_t comm;
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "%s: haloCommInitEnv: %s\n(start it with mpirun -np N, or set HALO_ROOT, "
                "HALO_RANK, HALO_NRANKS and HALO_SECRET on every rank)\n", name, haloGetLastError(NULL));
        exit(1);
    }
    haloCommUserRank(comm, rank);
    haloCommCount(comm, nranks);
    return comm;
}

#endif
