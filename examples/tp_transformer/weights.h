/* SPDX-License-Identifier: MIT */
/*
 * weights.h — where a rank's weights come from: a seed or a llama2.c checkpoint.
 *
 * Both sources answer the same question ("rows r0.. and columns c0.. of tensor t in
 * layer l"), so the shard layout is written once (tpt_weights_load) and a rank reads
 * or generates only its own slice, never the full model.
 */
#ifndef TPT_WEIGHTS_H
#define TPT_WEIGHTS_H

#include <stdint.h>

#include "model.h"

typedef struct tpt_source tpt_source;

/* Deterministic weights: every value is a hash of (seed, tensor, layer, row, col), so
 * any shard of any shape matches the full model bit for bit. Weights of matrices are
 * uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)], norms 1 +- 0.1, embeddings +-1.
 * cfg->shared_cls must be 0 (a generated model has its own classifier). */
tpt_source *tpt_source_generated(const tpt_config *cfg, uint64_t seed);

/* Opens a llama2.c checkpoint (legacy format: 7 int32 header dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size (< 0: own classifier), seq_len; then
 * float32 tensors) and checks the header and the file size. On success sets *cfg
 * and *out and returns 0; otherwise prints why (expected vs actual size) and returns 2. */
int tpt_source_checkpoint(const char *path, tpt_config *cfg, tpt_source **out);

void tpt_source_close(tpt_source *s);

/* Allocates and fills m->w for m->sh from src. 0, or -1 after printing why. */
int tpt_weights_load(tpt_model *m, tpt_source *src);
void tpt_weights_free(tpt_weights *w);

/* Writes the generated model of cfg and seed as a llama2.c checkpoint (unshared
 * classifier, so vocab_size is stored negative). 0, or -1 after printing why. */
int tpt_checkpoint_write(const char *path, const tpt_config *cfg, uint64_t seed);

/* 64-bit mixing function (splitmix64's finaliser); also used for prompt tokens. */
uint64_t tpt_mix64(uint64_t z);

#endif
