/* SPDX-License-Identifier: MIT */
/*
 * options.h — the command line of tp_transformer, parsed strictly and checked once
 * before any rank starts.
 */
#ifndef TPT_OPTIONS_H
#define TPT_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

#include "model.h"

typedef struct {
    int nlocal;                   /* -n N: fork N local ranks; 0: one rank from the environment */
    tpt_config cfg;               /* shape (from the flags, or from --model's header) */
    uint64_t seed;                /* weights and prompt */
    const char *model;            /* --model: llama2.c checkpoint instead of generated weights */
    const char *tokenizer;        /* --tokenizer: llama2.c tokenizer.bin, for text output */
    const char *write_checkpoint; /* --write-checkpoint: write the generated model and exit */
    const char *prompt_list;      /* --prompt "ids,...", or NULL */
    int prompt_tokens;            /* P */
    int prompt_tokens_given;      /* --prompt-tokens was on the command line */
    int *prompt;                  /* [P] token ids, resolved by tpt_options_resolve */
    int gen;                      /* T: tokens to generate (1 from prefill, T-1 decode steps) */
    int wire;                     /* --wire: haloWireFormat_t (haloWireBf16 by default), or haloWireOff (f32) */
    int vocab_parallel;
    int check;
    double tolerance;             /* --tolerance, or < 0 for the wire's default */
    int shape_flags;              /* shape flags given (they conflict with --model) */
    int quiet;                    /* --quiet: no token listing */
} tpt_options;

/* Parses argv. Returns 0 to go on, 1 after printing --help (exit 0), 2 after
 * printing what is wrong (exit 2). */
int tpt_options_parse(tpt_options *o, int argc, char **argv);

/* Reads --model's header, checks the shape, builds the prompt and checks it fits
 * the vocabulary and the KV cache. 0, or 2 after printing what is wrong. */
int tpt_options_resolve(tpt_options *o);

/* The relative logits tolerance of --check for the chosen wire. */
double tpt_options_tolerance(const tpt_options *o);
/* "q8", "fp8", "bf16" or "f32" for a haloWireFormat_t. */
const char *tpt_wire_word(int wire);
/* Bytes an allreduce of count float32 values puts on the wire in that format. */
double tpt_wire_bytes(int wire, size_t count);

void tpt_options_free(tpt_options *o);

#endif
