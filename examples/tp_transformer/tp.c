/* SPDX-License-Identifier: MIT */
/*
 * tp.c — the tensor-parallel driver of one rank: the model's two collectives mapped
 * onto haloccl (the wire format is the communicator's), prefill, greedy decode, timing.
 *
 * Sequence per rank (every rank runs the same calls in the same order):
 *   load own shard -> warm-up allreduces (untimed) -> prefill: one forward of the P
 *   prompt positions (2 * layers allreduces of P * dim) -> T-1 decode steps (2 * layers
 *   allreduces of dim each) -> allgather of a fingerprint of tokens and logits and of
 *   the timings (untimed) -> destroy the communicator -> rank 0: report, --check.
 * Greedy decoding picks the argmax on every rank from logits that are identical on
 * every rank (allreduce results are), so no broadcast of tokens is needed; the
 * fingerprint verifies that assumption at the end.
 */
#define _GNU_SOURCE
#include "tp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weights.h"

typedef struct {
    haloComm_t comm;
    int rank;
    int wire;         /* haloWireFormat_t of the communicator */
    tpt_phase *phase; /* where the collectives' time and bytes are counted now */
} tp_link;

double tpt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tpt_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* float32 -> bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
static int link_failed(const tp_link *l, const char *call, haloResult_t res)
{
    fprintf(stderr, "tp_transformer: rank %d: %s failed: %s: %s\n", l->rank, call, haloGetErrorString(res),
            haloGetLastError(l->comm));
    return -1;
}

/* The model's allreduce: sum partial results in place; the communicator's wire
 * format (config.wireFormat) decides what travels. */
static int link_allreduce(void *ctx, float *buf, size_t count)
{
    tp_link *l = ctx;
    double t0 = tpt_now();
    haloResult_t res = haloAllReduce(buf, buf, count, haloFloat32, haloSum, l->comm, NULL);
    double dt = tpt_now() - t0;
    if (l->phase->allreduces < l->phase->ar_cap) {
        l->phase->ar_each[l->phase->allreduces] = dt;
        l->phase->ar_enter[l->phase->allreduces] = t0;
    }
    l->phase->ar_s += dt;
    l->phase->allreduces++;
    l->phase->ar_bytes += (uint64_t)tpt_wire_bytes(l->wire, count);
    if (res != haloSuccess)
        return link_failed(l, "haloAllReduce", res);
    return 0;
}

/* The vocab-parallel classifier's allgather; logits travel as float32. */
static int link_allgather(void *ctx, const float *send, float *recv, size_t count)
{
    tp_link *l = ctx;
    double t0 = tpt_now();
    haloResult_t res = haloAllGather(send, recv, count, haloFloat32, l->comm, NULL);
    l->phase->ag_s += tpt_now() - t0;
    l->phase->allgathers++;
    l->phase->ag_bytes += count * 4u;
    return res == haloSuccess ? 0 : link_failed(l, "haloAllGather", res);
}

static int rank_load(const tpt_options *o, tpt_model *m, tpt_result *r)
{
    tpt_source *src = NULL;
    tpt_config header;
    if (o->model) {
        if (tpt_source_checkpoint(o->model, &header, &src) != 0)
            return 2;
    } else if (!(src = tpt_source_generated(&m->cfg, o->seed))) {
        return 1;
    }
    double t0 = tpt_now();
    int rc = tpt_weights_load(m, src) == 0 ? 0 : 1;
    r->load_s = tpt_now() - t0;
    r->shard_bytes = tpt_shard_bytes(&m->cfg, &m->sh);
    tpt_source_close(src);
    return rc;
}

static int rank_setup(const tpt_options *o, tpt_model *m, tpt_state *s, tpt_result *r, tp_link *l)
{
    size_t P = (size_t)o->prompt_tokens, V = (size_t)m->cfg.vocab;
    int rc = rank_load(o, m, r);
    if (rc != 0)
        return rc;
    r->ntokens = o->prompt_tokens + o->gen;
    r->tokens = calloc((size_t)r->ntokens, sizeof(int));
    r->logits = malloc(((size_t)r->ntokens - 1) * V * sizeof(float));
    r->rank_stats = calloc((size_t)r->nranks * 4, sizeof(double));
    r->decode.ar_cap = 2L * m->cfg.layers * o->gen;
    r->decode.ar_each = calloc((size_t)r->decode.ar_cap, sizeof(double));
    r->decode.ar_enter = calloc((size_t)r->decode.ar_cap, sizeof(double));
    r->decode.ar_after_last = calloc((size_t)r->decode.ar_cap, sizeof(double));
    if (!r->tokens || !r->logits || !r->rank_stats || !r->decode.ar_each ||
        tpt_state_alloc(s, m, o->prompt_tokens) != 0) {
        fprintf(stderr, "tp_transformer: rank %d: out of memory for the run state\n", r->rank);
        return 1;
    }
    memcpy(r->tokens, o->prompt, P * sizeof(int));
    return 0;
}

/* Untimed: lets the library set up whatever it sets up on first use for the message
 * sizes of this run, and lines the ranks up before the clock starts. */
static int warm_up(const tpt_options *o, const tpt_model *m, tpt_state *s, tp_link *l)
{
    size_t P = (size_t)o->prompt_tokens, D = (size_t)m->cfg.dim, VR = (size_t)m->sh.vocab_rows;
    memset(s->part, 0, P * D * sizeof(float));
    memset(s->lpart, 0, P * VR * sizeof(float));
    for (int i = 0; i < 3; i++) {
        if (link_allreduce(l, s->part, P * D) != 0 || link_allreduce(l, s->part, D) != 0)
            return -1;
        if (m->sh.vocab_parallel &&
            (link_allgather(l, s->lpart, s->lgather, P * VR) != 0 || link_allgather(l, s->lpart, s->lgather, VR) != 0))
            return -1;
    }
    return link_allreduce(l, s->part, 1);
}

static int prefill(const tpt_options *o, const tpt_model *m, tpt_state *s, tpt_result *r, tp_link *l,
                   const tpt_comm *ops)
{
    int P = o->prompt_tokens, V = m->cfg.vocab;
    l->phase = &r->prefill;
    double t0 = tpt_now();
    if (tpt_forward(m, s, r->tokens, P, 0, r->logits, ops) != 0)
        return -1;
    r->tokens[P] = tpt_argmax(r->logits + (size_t)(P - 1) * V, V);
    r->prefill.seconds = tpt_now() - t0;
    r->prefill.steps = P;
    return 0;
}

static int decode(const tpt_options *o, const tpt_model *m, tpt_state *s, tpt_result *r, tp_link *l,
                  const tpt_comm *ops)
{
    int V = m->cfg.vocab;
    l->phase = &r->decode;
    double t0 = tpt_now();
    for (int pos = o->prompt_tokens; pos < r->ntokens - 1; pos++) {
        float *lg = r->logits + (size_t)pos * V;
        if (tpt_forward(m, s, &r->tokens[pos], 1, pos, lg, ops) != 0)
            return -1;
        r->tokens[pos + 1] = tpt_argmax(lg, V);
    }
    r->decode.seconds = tpt_now() - t0;
    r->decode.steps = r->ntokens - 1 - o->prompt_tokens;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Splits each decode allreduce's time on rank 0 into waiting for the last rank to
 * arrive and the collective itself (exit minus the last arrival), which is what
 * allreduce_bw measures. Entry times are comparable only when every rank reads the
 * same CLOCK_MONOTONIC, i.e. runs on this host. */
static int split_waiting(tpt_result *r, tp_link *l)
{
    tpt_phase *d = &r->decode;
    long k = d->allreduces < d->ar_cap ? d->allreduces : d->ar_cap;
    double host = (double)gethostid(), *hosts = calloc((size_t)r->nranks, sizeof(double));
    double *all = calloc((size_t)r->nranks * (size_t)(k > 0 ? k : 1), sizeof(double));
    haloResult_t res = hosts && all ? haloAllGather(&host, hosts, 1, haloFloat64, l->comm, NULL) : haloSystemError;
    if (res == haloSuccess && k > 0)
        res = haloAllGather(d->ar_enter, all, (size_t)k, haloFloat64, l->comm, NULL);
    d->same_clock = res == haloSuccess;
    for (int q = 0; q < r->nranks && hosts; q++)
        d->same_clock &= hosts[q] == host;
    for (long i = 0; d->same_clock && i < k; i++) {
        double last = all[i];
        for (int q = 1; q < r->nranks; q++)
            last = all[(size_t)q * (size_t)k + (size_t)i] > last ? all[(size_t)q * (size_t)k + (size_t)i] : last;
        d->ar_after_last[i] = d->ar_enter[i] + d->ar_each[i] - last;
    }
    free(hosts);
    free(all);
    return res == haloSuccess ? 0 : link_failed(l, "haloAllGather", res);
}

/* Untimed: compares every rank's fingerprint and gathers every rank's timings. */
static int summarize(const tpt_model *m, tpt_result *r, tp_link *l)
{
    uint64_t *prints = calloc((size_t)r->nranks, sizeof(uint64_t));
    double mine[4] = {r->decode.seconds, r->decode.ar_s + r->decode.ag_s, r->prefill.seconds,
                      r->prefill.ar_s + r->prefill.ag_s};
    haloResult_t res;
    if (!prints)
        return -1;
    r->fingerprint = fnv1a(0xcbf29ce484222325ull, r->tokens, (size_t)r->ntokens * sizeof(int));
    r->fingerprint = fnv1a(r->fingerprint, r->logits, ((size_t)r->ntokens - 1) * m->cfg.vocab * sizeof(float));
    res = haloAllGather(&r->fingerprint, prints, 1, haloUint64, l->comm, NULL);
    if (res == haloSuccess)
        res = haloAllGather(mine, r->rank_stats, 4, haloFloat64, l->comm, NULL);
    r->ranks_agree = 1;
    for (int i = 0; i < r->nranks; i++)
        r->ranks_agree &= prints[i] == r->fingerprint;
    free(prints);
    if (res != haloSuccess)
        return link_failed(l, "haloAllGather", res);
    return split_waiting(r, l);
}

static int rank_run(const tpt_options *o, tpt_model *m, tpt_state *s, tpt_result *r, tp_link *l)
{
    tpt_phase setup = {0};
    tpt_comm ops = {.allreduce = link_allreduce, .allgather = link_allgather, .ctx = l};
    l->phase = &setup;
    if (warm_up(o, m, s, l) != 0 || prefill(o, m, s, r, l, &ops) != 0 || decode(o, m, s, r, l, &ops) != 0)
        return -1;
    l->phase = &setup;
    return summarize(m, r, l);
}

static void result_free(tpt_result *r)
{
    free(r->tokens);
    free(r->logits);
    free(r->rank_stats);
    free(r->decode.ar_each);
    free(r->decode.ar_enter);
    free(r->decode.ar_after_last);
}

int tpt_run_rank(const tpt_options *o, haloComm_t comm)
{
    tpt_model m = {.cfg = o->cfg};
    tpt_state s = {0};
    tpt_result r = {0};
    tp_link l = {.comm = comm, .wire = o->wire};
    char err[512];
    int rc;
    haloCommUserRank(comm, &r.rank);
    haloCommCount(comm, &r.nranks);
    l.rank = r.rank;
    if (tpt_shard_init(&m.sh, &m.cfg, r.rank, r.nranks, o->vocab_parallel, err, sizeof(err)) != 0) {
        if (r.rank == 0) /* the same on every rank: say it once, nobody waits for anybody */
            fprintf(stderr, "tp_transformer: %s\n", err);
        haloCommDestroy(comm);
        return 2;
    }
    rc = rank_setup(o, &m, &s, &r, &l);
    if (rc == 0 && rank_run(o, &m, &s, &r, &l) != 0)
        rc = 1;
    if (rc != 0) {
        haloCommAbort(comm); /* the peers stop with an error instead of waiting for us */
        goto out;
    }
    haloCommDestroy(comm);
    tpt_state_free(&s);
    tpt_weights_free(&m.w); /* rank 0's check builds the full model next */
    if (r.rank == 0) {
        tpt_report(o, &m, &r);
        if (!r.ranks_agree)
            rc = 1;
        if (o->check && tpt_check(o, &r) != 0)
            rc = 1;
    }
out:
    tpt_state_free(&s);
    tpt_weights_free(&m.w);
    result_free(&r);
    fflush(NULL);
    return rc;
}
