/* SPDX-License-Identifier: MIT */
/*
 * model.c — the decoder's layers and math, as in llama2.c's run.c, split Megatron-style.
 *
 * Per layer and per forward call (n positions):
 *   attention: xb = rmsnorm(x); q,k,v = this rank's heads of Wq,Wk,Wv · xb (column-
 *              parallel, no exchange); RoPE; causal attention over the KV cache for the
 *              local heads; part = Wo[:, local heads] · out (row-parallel: a partial
 *              sum); allreduce(part); x += part
 *   MLP:       xb = rmsnorm(x); h = silu(W1_local · xb) * (W3_local · xb); part =
 *              W2[:, local ffn] · h; allreduce(part); x += part
 * So two allreduces of n * dim floats per layer; everything else is local. The
 * residual stream x is replicated: after each allreduce every rank holds the same x.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tpt_config_check(const tpt_config *c, char *err, size_t errlen)
{
    if (c->dim <= 0 || c->ffn <= 0 || c->layers <= 0 || c->heads <= 0 || c->kv_heads <= 0 || c->vocab <= 0 ||
        c->seq_len <= 0) {
        snprintf(err, errlen, "every size must be positive (dim %d, ffn %d, layers %d, heads %d, kv-heads %d, "
                 "vocab %d, seq-len %d)", c->dim, c->ffn, c->layers, c->heads, c->kv_heads, c->vocab, c->seq_len);
        return -1;
    }
    if (c->dim % c->heads != 0 || (c->dim / c->heads) % 2 != 0) {
        snprintf(err, errlen, "dim %d must be heads %d times an even head size (RoPE rotates pairs)", c->dim,
                 c->heads);
        return -1;
    }
    if (c->heads % c->kv_heads != 0) {
        snprintf(err, errlen, "kv-heads %d must divide heads %d (grouped-query attention)", c->kv_heads, c->heads);
        return -1;
    }
    return 0;
}

int tpt_shard_init(tpt_shard *sh, const tpt_config *c, int rank, int nranks, int vocab_parallel, char *err,
                   size_t errlen)
{
    if (c->heads % nranks != 0 || c->kv_heads % nranks != 0 || c->ffn % nranks != 0) {
        const char *what = c->heads % nranks ? "heads" : c->kv_heads % nranks ? "kv-heads" : "ffn";
        int val = c->heads % nranks ? c->heads : c->kv_heads % nranks ? c->kv_heads : c->ffn;
        snprintf(err, errlen, "tensor parallelism over %d ranks needs heads, kv-heads and ffn divisible by %d; "
                 "the model has heads %d, kv-heads %d, ffn %d: %s %d is not divisible by %d",
                 nranks, nranks, c->heads, c->kv_heads, c->ffn, what, val, nranks);
        return -1;
    }
    memset(sh, 0, sizeof(*sh));
    sh->rank = rank;
    sh->nranks = nranks;
    sh->vocab_parallel = vocab_parallel;
    sh->head_size = c->dim / c->heads;
    sh->heads = c->heads / nranks;
    sh->kv_heads = c->kv_heads / nranks;
    sh->ffn = c->ffn / nranks;
    sh->q_dim = sh->heads * sh->head_size;
    sh->kv_dim = sh->kv_heads * sh->head_size;
    sh->vocab_rows = vocab_parallel ? (c->vocab + nranks - 1) / nranks : c->vocab;
    sh->vocab_begin = vocab_parallel ? rank * sh->vocab_rows : 0;
    int left = c->vocab - sh->vocab_begin;
    sh->vocab_valid = left < 0 ? 0 : left < sh->vocab_rows ? left : sh->vocab_rows;
    return 0;
}

size_t tpt_shard_bytes(const tpt_config *c, const tpt_shard *sh)
{
    size_t d = (size_t)c->dim, per_layer = 2 * d + (size_t)sh->q_dim * d * 2 + (size_t)sh->kv_dim * d * 2 +
                                            (size_t)sh->ffn * d * 3;
    size_t cls = c->shared_cls && !sh->vocab_parallel ? 0 : (size_t)sh->vocab_rows * d;
    return 4 * ((size_t)c->vocab * d + per_layer * (size_t)c->layers + d + cls);
}

/* ---- state ---- */

static float *falloc(size_t n)
{
    return calloc(n ? n : 1, sizeof(float));
}

static void rope_table(tpt_state *s, int seq_len, int hs)
{
    for (int p = 0; p < seq_len; p++)
        for (int i = 0; i < hs; i += 2) {
            float freq = 1.0f / powf(10000.0f, i / (float)hs);
            s->rope_cos[(size_t)p * (hs / 2) + i / 2] = cosf(p * freq);
            s->rope_sin[(size_t)p * (hs / 2) + i / 2] = sinf(p * freq);
        }
}

int tpt_state_alloc(tpt_state *s, const tpt_model *m, int max_batch)
{
    const tpt_config *c = &m->cfg;
    const tpt_shard *sh = &m->sh;
    size_t b = (size_t)max_batch, cache = (size_t)c->layers * c->seq_len * sh->kv_dim;
    memset(s, 0, sizeof(*s));
    s->max_batch = max_batch;
    s->x = falloc(b * c->dim);
    s->xb = falloc(b * c->dim);
    s->part = falloc(b * c->dim);
    s->q = falloc(b * sh->q_dim);
    s->ob = falloc(b * sh->q_dim);
    s->h1 = falloc(b * sh->ffn);
    s->h3 = falloc(b * sh->ffn);
    s->att = falloc((size_t)c->seq_len);
    s->lpart = falloc(b * sh->vocab_rows);
    s->lgather = falloc(b * sh->vocab_rows * sh->nranks);
    s->kcache = falloc(cache);
    s->vcache = falloc(cache);
    s->rope_cos = falloc((size_t)c->seq_len * sh->head_size / 2);
    s->rope_sin = falloc((size_t)c->seq_len * sh->head_size / 2);
    if (!s->x || !s->xb || !s->part || !s->q || !s->ob || !s->h1 || !s->h3 || !s->att || !s->lpart ||
        !s->lgather || !s->kcache || !s->vcache || !s->rope_cos || !s->rope_sin) {
        tpt_state_free(s);
        return -1;
    }
    rope_table(s, c->seq_len, sh->head_size);
    return 0;
}

void tpt_state_free(tpt_state *s)
{
    float **all[] = {&s->x, &s->xb, &s->part, &s->q, &s->ob, &s->h1, &s->h3, &s->att,
                     &s->lpart, &s->lgather, &s->kcache, &s->vcache, &s->rope_cos, &s->rope_sin};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* ---- math ---- */

/* Eight independent partial sums: the compiler vectorises them without -ffast-math.
 * The result depends only on a and b, never on the batch, so a batched prefill and
 * one-position-at-a-time decoding give bit-identical results. */
static float dot(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    float tail = 0.0f;
    for (; i < n; i++)
        tail += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

/* out[b * ostride + i] = W[i] · x[b]  for rows i < rows, positions b < n; W is
 * [rows][cols], x is [n][cols]. Row-outer so a weight row is reused across the batch. */
static void matmul(float *out, int ostride, const float *x, int n, const float *w, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        const float *wr = w + (size_t)i * cols;
        for (int b = 0; b < n; b++)
            out[(size_t)b * ostride + i] = dot(wr, x + (size_t)b * cols, cols);
    }
}

static void rmsnorm(float *o, const float *x, const float *w, int dim)
{
    float ss = 0.0f;
    for (int j = 0; j < dim; j++)
        ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / dim + 1e-5f);
    for (int j = 0; j < dim; j++)
        o[j] = w[j] * (ss * x[j]);
}

static void softmax(float *x, int n)
{
    float max = x[0], sum = 0.0f;
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

/* llama2.c's rotary embedding: consecutive pairs (2i, 2i+1) of every head rotated
 * by pos * 10000^(-2i / head_size). */
static void rope(const tpt_state *s, float *vec, int nheads, int hs, int pos)
{
    const float *cs = s->rope_cos + (size_t)pos * (hs / 2), *sn = s->rope_sin + (size_t)pos * (hs / 2);
    for (int h = 0; h < nheads; h++)
        for (int i = 0; i < hs; i += 2) {
            float *v = vec + (size_t)h * hs + i, v0 = v[0], v1 = v[1];
            v[0] = v0 * cs[i / 2] - v1 * sn[i / 2];
            v[1] = v0 * sn[i / 2] + v1 * cs[i / 2];
        }
}

/* Causal attention of the local query heads of one position over cache[0..pos]. */
static void attend(const tpt_model *m, tpt_state *s, int layer, const float *q, float *out, int pos)
{
    const tpt_shard *sh = &m->sh;
    int hs = sh->head_size, kvd = sh->kv_dim, group = sh->heads / sh->kv_heads;
    size_t base = (size_t)layer * m->cfg.seq_len * kvd;
    float scale = 1.0f / sqrtf((float)hs);
    for (int h = 0; h < sh->heads; h++) {
        const float *qh = q + (size_t)h * hs;
        size_t off = base + (size_t)(h / group) * hs;
        for (int t = 0; t <= pos; t++)
            s->att[t] = dot(qh, s->kcache + off + (size_t)t * kvd, hs) * scale;
        softmax(s->att, pos + 1);
        float *oh = out + (size_t)h * hs;
        memset(oh, 0, (size_t)hs * sizeof(float));
        for (int t = 0; t <= pos; t++) {
            const float *v = s->vcache + off + (size_t)t * kvd;
            for (int i = 0; i < hs; i++)
                oh[i] += s->att[t] * v[i];
        }
    }
}

/* x += allreduce(part): the exchange that ends every row-parallel layer. */
static int reduce_into_residual(const tpt_model *m, tpt_state *s, int n, const tpt_comm *comm)
{
    size_t count = (size_t)n * m->cfg.dim;
    if (comm && comm->allreduce && comm->allreduce(comm->ctx, s->part, count) != 0)
        return -1;
    for (size_t i = 0; i < count; i++)
        s->x[i] += s->part[i];
    return 0;
}

static int attention_block(const tpt_model *m, tpt_state *s, int l, int n, int pos0, const tpt_comm *comm)
{
    const tpt_config *c = &m->cfg;
    const tpt_shard *sh = &m->sh;
    const tpt_weights *w = &m->w;
    size_t dd = (size_t)c->dim, qw = (size_t)sh->q_dim * dd, kvw = (size_t)sh->kv_dim * dd;
    float *kc = s->kcache + ((size_t)l * c->seq_len + pos0) * sh->kv_dim;
    float *vc = s->vcache + ((size_t)l * c->seq_len + pos0) * sh->kv_dim;

    for (int b = 0; b < n; b++)
        rmsnorm(s->xb + b * dd, s->x + b * dd, w->rms_att + l * dd, c->dim);
    matmul(s->q, sh->q_dim, s->xb, n, w->wq + l * qw, sh->q_dim, c->dim);
    matmul(kc, sh->kv_dim, s->xb, n, w->wk + l * kvw, sh->kv_dim, c->dim);
    matmul(vc, sh->kv_dim, s->xb, n, w->wv + l * kvw, sh->kv_dim, c->dim);
    for (int b = 0; b < n; b++) {
        rope(s, s->q + (size_t)b * sh->q_dim, sh->heads, sh->head_size, pos0 + b);
        rope(s, kc + (size_t)b * sh->kv_dim, sh->kv_heads, sh->head_size, pos0 + b);
    }
    /* All n keys are in the cache before any position attends: causal by pos bound. */
    for (int b = 0; b < n; b++)
        attend(m, s, l, s->q + (size_t)b * sh->q_dim, s->ob + (size_t)b * sh->q_dim, pos0 + b);
    matmul(s->part, c->dim, s->ob, n, w->wo + l * qw, c->dim, sh->q_dim);
    return reduce_into_residual(m, s, n, comm);
}

static int mlp_block(const tpt_model *m, tpt_state *s, int l, int n, const tpt_comm *comm)
{
    const tpt_config *c = &m->cfg;
    const tpt_shard *sh = &m->sh;
    const tpt_weights *w = &m->w;
    size_t dd = (size_t)c->dim, fw = (size_t)sh->ffn * dd, hn = (size_t)n * sh->ffn;

    for (int b = 0; b < n; b++)
        rmsnorm(s->xb + b * dd, s->x + b * dd, w->rms_ffn + l * dd, c->dim);
    matmul(s->h1, sh->ffn, s->xb, n, w->w1 + l * fw, sh->ffn, c->dim);
    matmul(s->h3, sh->ffn, s->xb, n, w->w3 + l * fw, sh->ffn, c->dim);
    for (size_t i = 0; i < hn; i++) {
        float g = s->h1[i];
        s->h1[i] = g / (1.0f + expf(-g)) * s->h3[i]; /* SwiGLU: silu(gate) * up */
    }
    matmul(s->part, c->dim, s->h1, n, w->w2 + l * fw, c->dim, sh->ffn);
    return reduce_into_residual(m, s, n, comm);
}

/* Vocab-parallel classifier: each rank computes its rows, an allgather assembles
 * [rank][n][rows] which is transposed into [n][vocab], padding rows dropped. */
static int classify_parallel(const tpt_model *m, tpt_state *s, int n, float *logits, const tpt_comm *comm)
{
    const tpt_shard *sh = &m->sh;
    int vr = sh->vocab_rows, V = m->cfg.vocab;
    size_t count = (size_t)n * vr;
    matmul(s->lpart, vr, s->xb, n, m->w.cls, vr, m->cfg.dim);
    if (comm && comm->allgather) {
        if (comm->allgather(comm->ctx, s->lpart, s->lgather, count) != 0)
            return -1;
    } else {
        memcpy(s->lgather, s->lpart, count * sizeof(float));
    }
    for (int r = 0; r < sh->nranks; r++)
        for (int b = 0; b < n; b++)
            for (int i = 0; i < vr && r * vr + i < V; i++)
                logits[(size_t)b * V + r * vr + i] = s->lgather[r * count + (size_t)b * vr + i];
    return 0;
}

int tpt_forward(const tpt_model *m, tpt_state *s, const int *tokens, int n, int pos0, float *logits,
                const tpt_comm *comm)
{
    const tpt_config *c = &m->cfg;
    size_t dd = (size_t)c->dim;
    for (int b = 0; b < n; b++)
        memcpy(s->x + b * dd, m->w.emb + (size_t)tokens[b] * dd, dd * sizeof(float));
    for (int l = 0; l < c->layers; l++) {
        if (attention_block(m, s, l, n, pos0, comm) != 0 || mlp_block(m, s, l, n, comm) != 0)
            return -1;
    }
    for (int b = 0; b < n; b++)
        rmsnorm(s->xb + b * dd, s->x + b * dd, m->w.rms_final, c->dim);
    if (m->sh.vocab_parallel)
        return classify_parallel(m, s, n, logits, comm);
    matmul(logits, c->vocab, s->xb, n, m->w.cls, c->vocab, c->dim);
    return 0;
}
