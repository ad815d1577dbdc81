/* SPDX-License-Identifier: MIT */
/*
 * weights.c — deterministic weights from a seed, and llama2.c checkpoints: reading a
 * rank's shard (pread of its rows, or of its column range of every row), checking a
 * file before trusting it, and writing a generated model out.
 *
 * llama2.c legacy layout, all little-endian float32 after the 28-byte header:
 *   token_embedding [vocab][dim], rms_att [L][dim], wq [L][dim][dim],
 *   wk [L][kv_dim][dim], wv [L][kv_dim][dim], wo [L][dim][dim], rms_ffn [L][dim],
 *   w1 [L][hidden][dim], w2 [L][dim][hidden], w3 [L][hidden][dim], rms_final [dim],
 *   freq_cis_real [seq_len][head_size/2], freq_cis_imag (same; unused here),
 *   wcls [vocab][dim] only when the header's vocab_size is negative.
 */
#define _GNU_SOURCE
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensors in file order. */
enum { T_EMB, T_RMS_ATT, T_WQ, T_WK, T_WV, T_WO, T_RMS_FFN, T_W1, T_W2, T_W3, T_RMS_FINAL, T_CLS, T_COUNT };

static const char *const tensor_names[T_COUNT] = {"token_embedding", "rms_att", "wq", "wk", "wv", "wo",
                                                  "rms_ffn", "w1", "w2", "w3", "rms_final", "wcls"};

struct tpt_source {
    tpt_config cfg;
    uint64_t seed;
    int fd;                  /* checkpoint file, or -1 for generated weights */
    char path[512];
    uint64_t offset[T_COUNT]; /* checkpoint: byte offset of each tensor (layer 0) */
};

typedef struct {
    int layers; /* 1 for tensors that are not per layer */
    int rows, cols;
} tensor_shape;

static tensor_shape shape_of(const tpt_config *c, int t)
{
    int kvd = c->dim / c->heads * c->kv_heads, L = c->layers;
    switch (t) {
    case T_EMB: case T_CLS: return (tensor_shape){1, c->vocab, c->dim};
    case T_RMS_ATT: case T_RMS_FFN: return (tensor_shape){L, 1, c->dim};
    case T_WQ: case T_WO: return (tensor_shape){L, c->dim, c->dim};
    case T_WK: case T_WV: return (tensor_shape){L, kvd, c->dim};
    case T_W1: case T_W3: return (tensor_shape){L, c->ffn, c->dim};
    case T_W2: return (tensor_shape){L, c->dim, c->ffn};
    default: return (tensor_shape){1, 1, c->dim}; /* T_RMS_FINAL */
    }
}

static uint64_t tensor_floats(const tpt_config *c, int t)
{
    tensor_shape s = shape_of(c, t);
    return (uint64_t)s.layers * (uint64_t)s.rows * (uint64_t)s.cols;
}

uint64_t tpt_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- generated weights ---- */

tpt_source *tpt_source_generated(const tpt_config *cfg, uint64_t seed)
{
    tpt_source *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->seed = seed;
    s->fd = -1;
    return s;
}

/* value(seed, t, l, r, c): uniform in [-1, 1) from 24 hash bits, then scaled. */
static void generate_block(const tpt_source *s, int t, int l, int r0, int nr, int c0, int nc, float *dst)
{
    tensor_shape sh = shape_of(&s->cfg, t);
    uint64_t key = tpt_mix64(tpt_mix64(s->seed ^ (0x1000u + (uint64_t)t)) ^ (uint64_t)l);
    float scale = t == T_EMB ? 1.0f : t == T_RMS_ATT || t == T_RMS_FFN || t == T_RMS_FINAL ? 0.1f
                                                                                           : 1.0f / sqrtf((float)sh.cols);
    float bias = t == T_RMS_ATT || t == T_RMS_FFN || t == T_RMS_FINAL ? 1.0f : 0.0f;
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            uint64_t index = (uint64_t)(r0 + r) * (uint64_t)sh.cols + (uint64_t)(c0 + c);
            float u = (float)(tpt_mix64(key + index) >> 40) * (2.0f / 16777216.0f) - 1.0f;
            dst[(size_t)r * nc + c] = bias + scale * u;
        }
}

/* ---- checkpoint reading ---- */

static int pread_full(const tpt_source *s, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t got = pread(s->fd, p, len, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fprintf(stderr, "tp_transformer: %s: read of %zu bytes at offset %llu failed: %s\n", s->path, len,
                    (unsigned long long)off, got < 0 ? strerror(errno) : "unexpected end of file");
            return -1;
        }
        p += got;
        len -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

static int read_block(const tpt_source *s, int t, int l, int r0, int nr, int c0, int nc, float *dst)
{
    tensor_shape sh = shape_of(&s->cfg, t);
    uint64_t base = s->offset[t] + 4 * ((uint64_t)l * sh.rows * sh.cols + (uint64_t)r0 * sh.cols);
    if (c0 == 0 && nc == sh.cols) /* whole rows: one contiguous read */
        return pread_full(s, dst, (size_t)nr * nc * 4, base);
    for (int r = 0; r < nr; r++)
        if (pread_full(s, dst + (size_t)r * nc, (size_t)nc * 4, base + 4 * ((uint64_t)r * sh.cols + c0)) != 0)
            return -1;
    return 0;
}

static int source_block(const tpt_source *s, int t, int l, int r0, int nr, int c0, int nc, float *dst)
{
    if (s->fd < 0) {
        generate_block(s, t, l, r0, nr, c0, nc, dst);
        return 0;
    }
    return read_block(s, t, l, r0, nr, c0, nc, dst);
}

/* Plausibility limits: far above any real model, low enough that sizes fit 64 bits
 * and that a text file or a different format is caught by the header alone. */
static int header_check(const char *path, const int32_t h[7], char *why, size_t len)
{
    const int32_t lim[7] = {1 << 16, 1 << 20, 1 << 10, 1 << 10, 1 << 10, 1 << 22, 1 << 22};
    const char *names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    if ((uint32_t)h[0] == 0x616b3432u) { /* "ak42": llama2.c export.py --version 1/2 */
        snprintf(why, len, "%s is a llama2.c version-%d export (magic \"ak42\"); only the legacy format "
                 "(export.py --version 0) is read", path, h[1]);
        return -1;
    }
    for (int i = 0; i < 7; i++) {
        int32_t v = i == 5 && h[i] < 0 && h[i] != INT32_MIN ? -h[i] : h[i];
        if (v <= 0 || v > lim[i]) {
            snprintf(why, len, "%s is not a llama2.c checkpoint: header field %s = %d is outside 1..%d "
                     "(header: dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, "
                     "seq_len %d)", path, names[i], h[i], lim[i], h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
            return -1;
        }
    }
    return 0;
}

/* Sets the tensor offsets and returns the size the file must have. */
static uint64_t layout_offsets(tpt_source *s)
{
    const tpt_config *c = &s->cfg;
    uint64_t off = 28;
    for (int t = T_EMB; t <= T_RMS_FINAL; t++) {
        s->offset[t] = off;
        off += 4 * tensor_floats(c, t);
    }
    off += 4 * 2 * (uint64_t)c->seq_len * (uint64_t)(c->dim / c->heads / 2); /* freq_cis_real, _imag */
    s->offset[T_CLS] = c->shared_cls ? s->offset[T_EMB] : off;
    return c->shared_cls ? off : off + 4 * tensor_floats(c, T_CLS);
}

static int checkpoint_validate(tpt_source *s, const int32_t h[7], uint64_t actual)
{
    char why[1024], shape[256];
    tpt_config *c = &s->cfg;
    if (header_check(s->path, h, why, sizeof(why)) != 0)
        goto bad;
    *c = (tpt_config){.dim = h[0], .ffn = h[1], .layers = h[2], .heads = h[3], .kv_heads = h[4],
                      .vocab = h[5] < 0 ? -h[5] : h[5], .seq_len = h[6], .shared_cls = h[5] > 0};
    if (tpt_config_check(c, shape, sizeof(shape)) != 0) {
        snprintf(why, sizeof(why), "%s has an inconsistent header: %s", s->path, shape);
        goto bad;
    }
    uint64_t expected = layout_offsets(s);
    if (actual != expected) {
        snprintf(why, sizeof(why), "%s: a llama2.c checkpoint with dim %d, hidden_dim %d, n_layers %d, n_heads %d, "
                 "n_kv_heads %d, vocab_size %d (%s classifier), seq_len %d is %llu bytes, but the file has %llu "
                 "(%s %llu bytes): %s", s->path, c->dim, c->ffn, c->layers, c->heads, c->kv_heads, h[5],
                 c->shared_cls ? "shared" : "own", c->seq_len, (unsigned long long)expected,
                 (unsigned long long)actual, actual < expected ? "missing" : "an extra",
                 (unsigned long long)(actual < expected ? expected - actual : actual - expected),
                 actual < expected ? "truncated" : "wrong format or trailing data");
        goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "tp_transformer: %s\n", why);
    return -1;
}

int tpt_source_checkpoint(const char *path, tpt_config *cfg, tpt_source **out)
{
    int32_t h[7];
    struct stat st;
    tpt_source *s = calloc(1, sizeof(*s));
    if (!s)
        return 2;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &st) != 0) {
        fprintf(stderr, "tp_transformer: cannot open checkpoint %s: %s\n", path, strerror(errno));
        goto err_free;
    }
    if (st.st_size < 28) {
        fprintf(stderr, "tp_transformer: %s is %lld bytes, shorter than the 28-byte llama2.c header: not a "
                "checkpoint\n", path, (long long)st.st_size);
        goto err_free;
    }
    if (pread_full(s, h, sizeof(h), 0) != 0 || checkpoint_validate(s, h, (uint64_t)st.st_size) != 0)
        goto err_free;
    *cfg = s->cfg;
    *out = s;
    return 0;
err_free:
    tpt_source_close(s);
    return 2;
}

void tpt_source_close(tpt_source *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

/* ---- a shard's tensors ---- */

/* *dst = [layers][nr][nc]: rows r0.. and columns c0.. of tensor t in every layer. */
static int load_slice(const tpt_source *s, int t, int r0, int nr, int c0, int nc, float **dst)
{
    tensor_shape sh = shape_of(&s->cfg, t);
    size_t per = (size_t)nr * nc, total = per * (size_t)sh.layers;
    *dst = malloc((total > 0 ? total : 1) * sizeof(float));
    if (!*dst) {
        fprintf(stderr, "tp_transformer: out of memory for %s (%zu floats)\n", tensor_names[t], total);
        return -1;
    }
    for (int l = 0; l < sh.layers; l++)
        if (source_block(s, t, l, r0, nr, c0, nc, *dst + l * per) != 0)
            return -1;
    return 0;
}

static int load_classifier(tpt_model *m, const tpt_source *s)
{
    const tpt_shard *sh = &m->sh;
    int D = m->cfg.dim;
    if (m->cfg.shared_cls && !sh->vocab_parallel) { /* the embedding itself */
        m->w.cls = m->w.emb;
        return 0;
    }
    m->w.cls = calloc((size_t)sh->vocab_rows * D + 1, sizeof(float)); /* padding rows stay zero */
    m->w.cls_owned = 1;
    if (!m->w.cls)
        return -1;
    if (sh->vocab_valid == 0)
        return 0;
    return source_block(s, m->cfg.shared_cls ? T_EMB : T_CLS, 0, sh->vocab_begin, sh->vocab_valid, 0, D, m->w.cls);
}

int tpt_weights_load(tpt_model *m, tpt_source *s)
{
    const tpt_config *c = &m->cfg;
    const tpt_shard *sh = &m->sh;
    tpt_weights *w = &m->w;
    int D = c->dim, r = sh->rank;
    memset(w, 0, sizeof(*w));
    if (load_slice(s, T_EMB, 0, c->vocab, 0, D, &w->emb) || load_slice(s, T_RMS_ATT, 0, 1, 0, D, &w->rms_att) ||
        load_slice(s, T_WQ, r * sh->q_dim, sh->q_dim, 0, D, &w->wq) ||
        load_slice(s, T_WK, r * sh->kv_dim, sh->kv_dim, 0, D, &w->wk) ||
        load_slice(s, T_WV, r * sh->kv_dim, sh->kv_dim, 0, D, &w->wv) ||
        load_slice(s, T_WO, 0, D, r * sh->q_dim, sh->q_dim, &w->wo) ||
        load_slice(s, T_RMS_FFN, 0, 1, 0, D, &w->rms_ffn) ||
        load_slice(s, T_W1, r * sh->ffn, sh->ffn, 0, D, &w->w1) ||
        load_slice(s, T_W2, 0, D, r * sh->ffn, sh->ffn, &w->w2) ||
        load_slice(s, T_W3, r * sh->ffn, sh->ffn, 0, D, &w->w3) ||
        load_slice(s, T_RMS_FINAL, 0, 1, 0, D, &w->rms_final) || load_classifier(m, s)) {
        tpt_weights_free(w);
        return -1;
    }
    return 0;
}

void tpt_weights_free(tpt_weights *w)
{
    float *all[] = {w->emb, w->rms_att, w->wq, w->wk, w->wv, w->wo, w->rms_ffn, w->w1, w->w2, w->w3, w->rms_final};
    if (w->cls_owned)
        free(w->cls);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    memset(w, 0, sizeof(*w));
}

/* ---- checkpoint writing ---- */

static int write_tensor(FILE *f, const tpt_source *s, int t, float *row)
{
    tensor_shape sh = shape_of(&s->cfg, t);
    for (int l = 0; l < sh.layers; l++)
        for (int r = 0; r < sh.rows; r++) {
            generate_block(s, t, l, r, 1, 0, sh.cols, row);
            if (fwrite(row, sizeof(float), (size_t)sh.cols, f) != (size_t)sh.cols)
                return -1;
        }
    return 0;
}

/* freq_cis_real then _imag, [seq_len][head_size/2], as llama2.c's export writes them. */
static int write_freqs(FILE *f, const tpt_config *c)
{
    int half = c->dim / c->heads / 2;
    for (int part = 0; part < 2; part++)
        for (int p = 0; p < c->seq_len; p++)
            for (int i = 0; i < half; i++) {
                float freq = 1.0f / powf(10000.0f, 2 * i / (float)(2 * half));
                float v = part == 0 ? cosf(p * freq) : sinf(p * freq);
                if (fwrite(&v, sizeof(v), 1, f) != 1)
                    return -1;
            }
    return 0;
}

int tpt_checkpoint_write(const char *path, const tpt_config *cfg, uint64_t seed)
{
    tpt_source *s = tpt_source_generated(cfg, seed);
    int32_t h[7] = {cfg->dim, cfg->ffn, cfg->layers, cfg->heads, cfg->kv_heads, -cfg->vocab, cfg->seq_len};
    int widest = cfg->dim > cfg->ffn ? cfg->dim : cfg->ffn, rc = -1;
    float *row = malloc((size_t)widest * sizeof(float));
    FILE *f = fopen(path, "wb");
    if (!s || !row || !f) {
        fprintf(stderr, "tp_transformer: cannot write checkpoint %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (fwrite(h, sizeof(h), 1, f) != 1)
        goto write_error;
    for (int t = T_EMB; t <= T_RMS_FINAL; t++)
        if (write_tensor(f, s, t, row) != 0)
            goto write_error;
    if (write_freqs(f, cfg) != 0 || write_tensor(f, s, T_CLS, row) != 0)
        goto write_error;
    rc = 0;
    goto out;
write_error:
    fprintf(stderr, "tp_transformer: writing checkpoint %s failed: %s\n", path, strerror(errno));
out:
    if (f && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "tp_transformer: writing checkpoint %s failed: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(row);
    tpt_source_close(s);
    return rc;
}
