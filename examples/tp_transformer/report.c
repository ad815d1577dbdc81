/* SPDX-License-Identifier: MIT */
/*
 * report.c — rank 0's summary: the model and its split, the tokens, throughput of
 * prefill and decode, and the decode time per token split into compute and
 * communication with the bytes that crossed the wire.
 *
 * "comm" is time spent inside haloAllReduce/haloAllGather on rank 0, so it includes
 * waiting for the slowest rank; "compute" is the rest of the step (matmuls,
 * attention, the bf16 conversion). The per-rank shares show the imbalance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "tp.h"

static double ms(double s)
{
    return 1e3 * s;
}

static double share(double part, double whole)
{
    return whole > 0.0 ? 100.0 * part / whole : 0.0;
}

static void report_model(const tpt_options *o, const tpt_model *m, const tpt_result *r)
{
    const tpt_config *c = &m->cfg;
    const tpt_shard *sh = &m->sh;
    tpt_shard full;
    char err[256];
    tpt_shard_init(&full, c, 0, 1, 0, err, sizeof(err));
    printf("tp_transformer: %d rank%s, Megatron tensor parallelism, wire %s, logits %s\n", r->nranks,
           r->nranks == 1 ? "" : "s", tpt_wire_word(o->wire),
           sh->vocab_parallel ? "vocab-parallel (allgather)" : "replicated");
    if (o->model)
        printf("model: %s (%s classifier)", o->model, c->shared_cls ? "shared" : "own");
    else
        printf("model: generated from seed %llu", (unsigned long long)o->seed);
    printf(": dim %d, layers %d, heads %d (head size %d), kv-heads %d, ffn %d, vocab %d, seq-len %d\n", c->dim,
           c->layers, c->heads, sh->head_size, c->kv_heads, c->ffn, c->vocab, c->seq_len);
    printf("shard: %d heads, %d kv-heads, ffn %d, %d classifier rows per rank; %.1f MB of weights per rank "
           "(full model %.1f MB), %s in %.2f s\n", sh->heads, sh->kv_heads, sh->ffn, sh->vocab_valid,
           tpt_shard_bytes(c, sh) / 1e6, tpt_shard_bytes(c, &full) / 1e6, o->model ? "read" : "generated",
           r->load_s);
    const char *tr = getenv("HALO_TRANSPORT"), *algo = getenv("HALO_ALGO");
    printf("collectives: HALO_TRANSPORT=%s, HALO_ALGO=%s (no API reports the choice yet; HALO_DEBUG=INFO logs "
           "the transport of each peer)\n",
           tr && *tr ? tr : "auto", algo && *algo ? algo : "auto");
}

static void report_tokens(const char *what, const int *tok, int n, int prev, tpt_tokenizer *tz)
{
    printf("%s (%d):", what, n);
    for (int i = 0; i < n; i++)
        printf(" %d", tok[i]);
    printf("\n");
    if (!tz)
        return;
    printf("%s text: \"", what);
    for (int i = 0; i < n; i++) {
        fputs(tpt_tokenizer_piece(tz, prev, tok[i]), stdout);
        prev = tok[i];
    }
    printf("\"\n");
}

static void report_prefill(const tpt_result *r, int dim)
{
    const tpt_phase *p = &r->prefill;
    double comm = p->ar_s + p->ag_s;
    printf("prefill: %d tokens in %.2f ms = %.1f tok/s; %ld allreduces of %d x %d (%.0f B each), comm %.2f ms "
           "(%.1f%%)\n", p->steps, ms(p->seconds), p->steps / p->seconds, p->allreduces, p->steps, dim,
           p->allreduces ? (double)p->ar_bytes / p->allreduces : 0.0, ms(comm), share(comm, p->seconds));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the recorded allreduce durations: on a shared machine the mean carries
 * the outliers of preemption, the median the typical call. */
static double median_of(const tpt_phase *d, const double *each)
{
    long n = d->allreduces < d->ar_cap ? d->allreduces : d->ar_cap;
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(double)), med;
    if (!v || n == 0) {
        free(v);
        return 0.0;
    }
    memcpy(v, each, (size_t)n * sizeof(double));
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    free(v);
    return med;
}

/* Bytes each rank sends per allreduce of S payload bytes: a ring sends 2(N-1)/N * S
 * (reduce-scatter then allgather), a one-shot direct allreduce (N-1) * S. */
static void report_decode_bytes(const tpt_result *r, const tpt_phase *d, int dim, int wire_bytes, const char *wire)
{
    int N = r->nranks;
    double per_tok = (double)d->ar_bytes / d->steps, ars = (double)d->allreduces / d->steps;
    printf("  per token: %.0f allreduces of %d values (%d B each as %s) = %.0f B payload; %.1f us per allreduce "
           "(median %.1f us)\n", ars, dim, wire_bytes, wire, per_tok,
           1e6 * d->ar_s / (d->allreduces ? d->allreduces : 1), 1e6 * median_of(d, d->ar_each));
    if (d->same_clock) {
        long n = d->allreduces < d->ar_cap ? d->allreduces : d->ar_cap;
        double sum = 0;
        for (long i = 0; i < n; i++)
            sum += d->ar_after_last[i];
        printf("  of which after the last rank arrived: %.1f us per allreduce (median %.1f us) = %.3f ms per "
               "token; the rest is waiting for slower ranks (compare with HALO_WIRE=%s allreduce_bw -b %d -e "
               "%d --cold 64m)\n",
               1e6 * sum / (n ? n : 1), 1e6 * median_of(d, d->ar_after_last), 1e3 * sum / d->steps, wire,
               dim * 4, dim * 4);
    }
    printf("  sent per rank per token: %.0f B by a ring (2(N-1)/N x payload), %.0f B by one-shot direct "
           "((N-1) x payload)\n", per_tok * 2.0 * (N - 1) / N, per_tok * (N - 1));
    printf("  for scale: the same syncs in distributed-llama's q80 format (34 B per 32 values) = %.0f B\n",
           ars * dim * 34.0 / 32.0);
    if (d->allgathers)
        printf("  per token: %.0f allgathers of %.0f B (logits), %.1f us each\n", (double)d->allgathers / d->steps,
               (double)d->ag_bytes / d->allgathers, 1e6 * d->ag_s / d->allgathers);
}

static void report_decode(const tpt_options *o, const tpt_result *r, int dim)
{
    const tpt_phase *d = &r->decode;
    if (d->steps == 0) {
        printf("decode: no decode steps (--gen 1)\n");
        return;
    }
    double per = d->seconds / d->steps, comm = (d->ar_s + d->ag_s) / d->steps;
    printf("decode: %d steps in %.2f ms = %.1f tok/s; per token %.3f ms = compute %.3f ms + comm %.3f ms "
           "(%.1f%%)\n", d->steps, ms(d->seconds), d->steps / d->seconds, ms(per), ms(per - comm), ms(comm),
           share(comm, per));
    report_decode_bytes(r, d, dim, (int)tpt_wire_bytes(o->wire, (size_t)dim), tpt_wire_word(o->wire));
    printf("  decode comm share by rank:");
    for (int i = 0; i < r->nranks; i++)
        printf(" r%d %.1f%%", i, share(r->rank_stats[4 * i + 1], r->rank_stats[4 * i]));
    printf("\n");
}

void tpt_report(const tpt_options *o, const tpt_model *m, const tpt_result *r)
{
    tpt_tokenizer *tz = o->tokenizer ? tpt_tokenizer_load(o->tokenizer, m->cfg.vocab) : NULL;
    int P = o->prompt_tokens;
    report_model(o, m, r);
    if (!o->quiet) {
        report_tokens("prompt", r->tokens, P, -1, tz);
        report_tokens("generated", r->tokens + P, r->ntokens - P, r->tokens[P - 1], tz);
    }
    report_prefill(r, m->cfg.dim);
    report_decode(o, r, m->cfg.dim);
    if (r->ranks_agree)
        printf("ranks agree: tokens and logits identical on all %d ranks (fingerprint %016llx)\n", r->nranks,
               (unsigned long long)r->fingerprint);
    else
        printf("ranks DISAGREE: tokens or logits differ between ranks (allreduce results not identical)\n");
    tpt_tokenizer_free(tz);
}
