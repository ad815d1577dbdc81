/* SPDX-License-Identifier: MIT */
/*
 * tp.h — one rank of the tensor-parallel run, what it measured, and the two things
 * rank 0 does with that afterwards: the report and the single-rank check.
 */
#ifndef TPT_TP_H
#define TPT_TP_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"
#include "model.h"
#include "options.h"

/* One phase (prefill or decode) as seen by one rank. */
typedef struct {
    double seconds;              /* wall time of the phase */
    double ar_s, ag_s;           /* time inside haloAllReduce / haloAllGather */
    long allreduces, allgathers; /* calls */
    uint64_t ar_bytes, ag_bytes; /* payload of those calls in its wire format (allreduce) or float32 */
    int steps;                   /* positions run (prefill) or decode steps */
    double *ar_each;             /* duration of each allreduce (decode only), [ar_cap] */
    double *ar_enter;            /* when each allreduce was entered (CLOCK_MONOTONIC s) */
    double *ar_after_last;       /* rank 0: exit minus the last rank's entry, same clock only */
    long ar_cap;
    int same_clock;              /* every rank on this host: entry times are comparable */
} tpt_phase;

typedef struct {
    int rank, nranks;
    int ntokens;          /* P + T: the prompt, then the generated tokens */
    int *tokens;
    float *logits;        /* [ntokens - 1][vocab]: the logits after each position */
    tpt_phase prefill, decode;
    double load_s;        /* building or reading this rank's shard */
    size_t shard_bytes;
    uint64_t fingerprint; /* of tokens and logits */
    int ranks_agree;      /* every rank had the same fingerprint */
    double *rank_stats;   /* [nranks][4]: decode s, decode comm s, prefill s, prefill comm s */
} tpt_result;

/* Runs this rank: loads its shard, prefill, greedy decode, gathers the statistics;
 * rank 0 then reports and, with --check, runs the reference. Destroys comm (aborts
 * it on failure, so the peers stop instead of waiting). Returns the exit code. */
int tpt_run_rank(const tpt_options *o, haloComm_t comm);

/* report.c: rank 0's summary on stdout. */
void tpt_report(const tpt_options *o, const tpt_model *m, const tpt_result *r);

/* check.c: runs the unsharded model over the same tokens one position at a time and
 * compares its logits with r->logits. 0 within tolerance, 1 otherwise or on error. */
int tpt_check(const tpt_options *o, const tpt_result *r);

int tpt_argmax(const float *x, int n);
double tpt_now(void);

#endif
