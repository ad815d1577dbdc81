/* SPDX-License-Identifier: MIT */
/*
 * model.h — a Llama-style decoder (llama2.c's architecture) and its Megatron split.
 *
 * The model code knows nothing of haloccl: it sees its rank's slice of the weights
 * (tpt_shard says which) and calls the two collectives it needs through tpt_comm.
 * With one rank and no tpt_comm it is the plain, unsharded model.
 *
 * Matrices are stored as llama2.c stores them, [out][in] row-major, so
 * out[i] = sum_j W[i][j] * x[j]. Column-parallel layers keep a contiguous range of
 * rows (output features), row-parallel layers a contiguous range of columns.
 */
#ifndef TPT_MODEL_H
#define TPT_MODEL_H

#include <stddef.h>

typedef struct {
    int dim;        /* residual stream width */
    int ffn;        /* SwiGLU hidden width (llama2.c: hidden_dim) */
    int layers;
    int heads;      /* query heads; head size = dim / heads */
    int kv_heads;   /* key/value heads; divides heads (grouped-query attention) */
    int vocab;
    int seq_len;    /* KV-cache capacity in positions */
    int shared_cls; /* classifier rows = token embedding (llama2.c: vocab_size > 0) */
} tpt_config;

/* This rank's slice of every split tensor. Local counts are global / nranks. */
typedef struct {
    int rank, nranks;
    int vocab_parallel; /* classifier split by rows, logits all-gathered */
    int head_size;
    int heads, kv_heads, ffn; /* local */
    int q_dim, kv_dim;        /* local widths: heads * head_size, kv_heads * head_size */
    int vocab_rows;           /* classifier rows held (padded to equal size per rank) */
    int vocab_begin;          /* first classifier row held */
    int vocab_valid;          /* rows held that exist (the rest are zero padding) */
} tpt_shard;

typedef struct {
    float *emb;       /* [vocab][dim]          replicated */
    float *rms_att;   /* [layers][dim]         replicated */
    float *wq;        /* [layers][q_dim][dim]  column-parallel: this rank's heads */
    float *wk, *wv;   /* [layers][kv_dim][dim] column-parallel: this rank's KV heads */
    float *wo;        /* [layers][dim][q_dim]  row-parallel: columns of this rank's heads */
    float *rms_ffn;   /* [layers][dim]         replicated */
    float *w1, *w3;   /* [layers][ffn][dim]    gate, up: column-parallel */
    float *w2;        /* [layers][dim][ffn]    down: row-parallel */
    float *rms_final; /* [dim] */
    float *cls;       /* [vocab_rows][dim]; may point into emb (shared, replicated) */
    int cls_owned;    /* cls was allocated on its own */
} tpt_weights;

typedef struct {
    tpt_config cfg;
    tpt_shard sh;
    tpt_weights w;
} tpt_model;

/* Scratch and KV cache for up to max_batch positions per forward call. */
typedef struct {
    int max_batch;
    float *x, *xb, *part;    /* [batch][dim]: residual, normed input, partial sums */
    float *q, *ob;           /* [batch][q_dim]: queries, attention output */
    float *h1, *h3;          /* [batch][ffn]: gate, up */
    float *att;              /* [seq_len] attention scores of one head */
    float *lpart, *lgather;  /* vocab-parallel logits: own rows, gathered */
    float *kcache, *vcache;  /* [layers][seq_len][kv_dim] */
    float *rope_cos, *rope_sin; /* [seq_len][head_size / 2] */
} tpt_state;

/* The collectives the model calls; both return 0 on success. A NULL function (or a
 * NULL tpt_comm) means one rank: nothing to exchange. */
typedef struct {
    /* buf[i] = sum over ranks of buf[i], in place. */
    int (*allreduce)(void *ctx, float *buf, size_t count);
    /* recv[r * count + i] = rank r's send[i]. */
    int (*allgather)(void *ctx, const float *send, float *recv, size_t count);
    void *ctx;
} tpt_comm;

/* Shape checks of the full model; writes a sentence to err and returns -1 if bad. */
int tpt_config_check(const tpt_config *c, char *err, size_t errlen);
/* Fills sh for rank of nranks; -1 with a sentence naming the shapes when nranks does
 * not divide heads, kv_heads or ffn. */
int tpt_shard_init(tpt_shard *sh, const tpt_config *c, int rank, int nranks, int vocab_parallel, char *err,
                   size_t errlen);
/* Bytes of weights this shard holds. */
size_t tpt_shard_bytes(const tpt_config *c, const tpt_shard *sh);

int tpt_state_alloc(tpt_state *s, const tpt_model *m, int max_batch);
void tpt_state_free(tpt_state *s);

/* Runs tokens[0..n) at positions pos0..pos0+n-1 (a batched prefill when n > 1),
 * appending to the KV cache, and writes logits [n][vocab]. Two allreduces per layer
 * of n * dim floats each, plus one allgather when vocab-parallel. Returns 0, or -1
 * when a collective failed (it reported why). */
int tpt_forward(const tpt_model *m, tpt_state *s, const int *tokens, int n, int pos0, float *logits,
                const tpt_comm *comm);

#endif
