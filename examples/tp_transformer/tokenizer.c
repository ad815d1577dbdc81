/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.c — llama2.c's tokenizer.bin, read for decoding only (prompts are ids).
 */
#include "tokenizer.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tpt_tokenizer {
    int vocab;
    char **pieces;
    char out[8];
};

void tpt_tokenizer_free(tpt_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; t->pieces && i < t->vocab; i++)
        free(t->pieces[i]);
    free(t->pieces);
    free(t);
}

/* One entry: float score (unused), int32 length, bytes. */
static char *read_piece(FILE *f, int max_len)
{
    float score;
    int32_t len;
    if (fread(&score, sizeof(score), 1, f) != 1 || fread(&len, sizeof(len), 1, f) != 1 || len < 0 ||
        len > max_len)
        return NULL;
    char *p = malloc((size_t)len + 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        return NULL;
    }
    if (p)
        p[len] = '\0';
    return p;
}

tpt_tokenizer *tpt_tokenizer_load(const char *path, int vocab)
{
    int32_t max_len;
    FILE *f = fopen(path, "rb");
    tpt_tokenizer *t = calloc(1, sizeof(*t));
    if (!f || !t || fread(&max_len, sizeof(max_len), 1, f) != 1 || max_len <= 0 || max_len > 4096) {
        fprintf(stderr, "tp_transformer: %s is not a llama2.c tokenizer (cannot read a sane max_token_length)\n",
                path);
        goto err;
    }
    t->pieces = calloc((size_t)vocab, sizeof(char *));
    t->vocab = vocab;
    for (int i = 0; t->pieces && i < vocab; i++)
        if (!(t->pieces[i] = read_piece(f, max_len))) {
            fprintf(stderr, "tp_transformer: tokenizer %s ends or breaks at entry %d of the model's %d tokens\n",
                    path, i, vocab);
            goto err;
        }
    fclose(f);
    return t;
err:
    if (f)
        fclose(f);
    tpt_tokenizer_free(t);
    return NULL;
}

const char *tpt_tokenizer_piece(tpt_tokenizer *t, int prev, int token)
{
    const char *p = t->pieces[token];
    unsigned int byte;
    if (prev == 1 && p[0] == ' ')
        p++;
    if (strlen(p) == 6 && p[5] == '>' && sscanf(p, "<0x%02X>", &byte) == 1) {
        t->out[0] = (char)byte;
        t->out[1] = '\0';
        p = t->out;
    }
    if (p[0] != '\0' && p[1] == '\0' && !isprint((unsigned char)p[0]) && !isspace((unsigned char)p[0]))
        return "";
    return p;
}
