/* SPDX-License-Identifier: MIT */
/*
 * options.c — command-line parsing for tp_transformer: every number consumed whole
 * and range-checked, every mistake named with the flag, exit code 2.
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "weights.h"

static const char usage[] =
    "usage: tp_transformer [-n N] [options]\n"
    "A Llama-style decoder split Megatron-style over N ranks: two haloAllReduce per layer per token.\n"
    "\n"
    "launch:\n"
    "  -n, --nranks N         fork N local ranks (haloGetUniqueId + haloCommInitRank); without -n, one\n"
    "                         rank per process from the environment (haloCommInitEnv: mpirun, Slurm,\n"
    "                         torchrun, or HALO_ROOT/HALO_RANK/HALO_NRANKS)\n"
    "model (generated from --seed unless --model is given):\n"
    "  --preset NAME          default (dim 256, 4 layers, 8 heads, 4 KV heads, ffn 768, vocab 512) or\n"
    "                         d1024-l8 (dim 1024, 8 layers, 16 heads, 4 KV heads, ffn 2816, vocab 32000);\n"
    "                         other shape flags override it\n"
    "  --dim D --layers L --heads H --kv-heads K --ffn F --vocab V --seq-len S\n"
    "  --seed S               weights and prompt (default 1)\n"
    "  --model FILE           llama2.c checkpoint (legacy format); each rank reads only its shard\n"
    "  --tokenizer FILE       llama2.c tokenizer.bin: print text as well as token ids\n"
    "  --write-checkpoint FILE  write the generated model as a llama2.c checkpoint and exit\n"
    "run:\n"
    "  --prompt-tokens P      prompt length, tokens drawn from the seed (default 16)\n"
    "  --prompt IDS           prompt token ids, comma-separated (instead of --prompt-tokens)\n"
    "  --gen T                tokens to generate greedily (default 16): 1 from the prefill, T-1 decode steps\n"
    "  --wire q8|fp8|bf16|f32 the allreduce's wire format (config.wireFormat): int8 or e4m3 with a scale per\n"
    "                         32 values (1.0625 B per value), bfloat16 (default) or float32 (exact)\n"
    "  --vocab-parallel       split the classifier by rows and haloAllGather the logits\n"
    "  --check                rank 0 also runs the unsharded model and compares logits at every position;\n"
    "                         exit 1 over tolerance\n"
    "  --tolerance X          --check's limit on max|tp - ref| / max|ref| per position (default 1e-4\n"
    "                         for f32, 2e-2 for bf16)\n"
    "  --quiet                no token listing\n"
    "exit codes: 0 ok, 1 run or check failed, 2 bad arguments, shapes or checkpoint\n";

static int bad(const char *flag, const char *value, const char *why)
{
    if (value)
        fprintf(stderr, "tp_transformer: %s %s: %s (see --help)\n", flag, value, why);
    else
        fprintf(stderr, "tp_transformer: %s: %s (see --help)\n", flag, why);
    return 2;
}

static int parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof(why), "expected an integer in %ld..%ld", lo, hi);
        return bad(flag, s, why);
    }
    *out = (int)v;
    return 0;
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end != '\0' || s[0] == '-')
        return bad(flag, s, "expected an unsigned integer");
    *out = v;
    return 0;
}

static int parse_tolerance(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v > 0.0 && v < 1e6))
        return bad(flag, s, "expected a positive number");
    *out = v;
    return 0;
}

static void defaults(tpt_options *o)
{
    memset(o, 0, sizeof(*o));
    o->cfg = (tpt_config){.dim = 256, .ffn = 768, .layers = 4, .heads = 8, .kv_heads = 4, .vocab = 512,
                          .seq_len = 256};
    o->seed = 1;
    o->prompt_tokens = 16;
    o->gen = 16;
    o->wire = haloWireBf16;
    o->tolerance = -1.0;
}

static int apply_preset(tpt_options *o, const char *name)
{
    if (strcmp(name, "default") == 0)
        return 0;
    if (strcmp(name, "d1024-l8") == 0) {
        o->cfg = (tpt_config){.dim = 1024, .ffn = 2816, .layers = 8, .heads = 16, .kv_heads = 4,
                              .vocab = 32000, .seq_len = 256};
        return 0;
    }
    return bad("--preset", name, "known presets: default, d1024-l8");
}

/* Shape flags: the int field each sets, and its range. */
static int *shape_field(tpt_options *o, const char *flag, long *hi)
{
    static const struct { const char *flag; size_t off; long hi; } shapes[] = {
        {"--dim", offsetof(tpt_config, dim), 1 << 16},         {"--ffn", offsetof(tpt_config, ffn), 1 << 20},
        {"--layers", offsetof(tpt_config, layers), 1 << 10},   {"--heads", offsetof(tpt_config, heads), 1 << 10},
        {"--kv-heads", offsetof(tpt_config, kv_heads), 1 << 10}, {"--vocab", offsetof(tpt_config, vocab), 1 << 22},
        {"--seq-len", offsetof(tpt_config, seq_len), 1 << 20},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        if (strcmp(flag, shapes[i].flag) == 0) {
            *hi = shapes[i].hi;
            return (int *)((char *)&o->cfg + shapes[i].off);
        }
    return NULL;
}

static int parse_switch(tpt_options *o, const char *flag)
{
    if (strcmp(flag, "--vocab-parallel") == 0)
        o->vocab_parallel = 1;
    else if (strcmp(flag, "--check") == 0)
        o->check = 1;
    else if (strcmp(flag, "--quiet") == 0)
        o->quiet = 1;
    else
        return -1;
    return 0;
}

static int parse_valued(tpt_options *o, const char *flag, const char *v)
{
    long hi;
    int *field = shape_field(o, flag, &hi);
    if (field) {
        o->shape_flags = 1;
        return parse_int(flag, v, 1, hi, field);
    }
    if (strcmp(flag, "-n") == 0 || strcmp(flag, "--nranks") == 0)
        return parse_int(flag, v, 1, 64, &o->nlocal);
    if (strcmp(flag, "--preset") == 0)
        return 0; /* applied in the first pass */
    if (strcmp(flag, "--seed") == 0)
        return parse_u64(flag, v, &o->seed);
    if (strcmp(flag, "--prompt-tokens") == 0) {
        o->prompt_tokens_given = 1;
        return parse_int(flag, v, 1, 1 << 20, &o->prompt_tokens);
    }
    if (strcmp(flag, "--gen") == 0)
        return parse_int(flag, v, 1, 1 << 20, &o->gen);
    if (strcmp(flag, "--tolerance") == 0)
        return parse_tolerance(flag, v, &o->tolerance);
    if (strcmp(flag, "--wire") == 0) {
        for (int w = haloWireOff; w <= haloWireQ8; w++)
            if (strcmp(v, tpt_wire_word(w)) == 0) {
                o->wire = w;
                return 0;
            }
        return bad(flag, v, "expected q8, fp8, bf16 or f32");
    }
    const char **path = strcmp(flag, "--model") == 0             ? &o->model
                        : strcmp(flag, "--tokenizer") == 0        ? &o->tokenizer
                        : strcmp(flag, "--write-checkpoint") == 0 ? &o->write_checkpoint
                        : strcmp(flag, "--prompt") == 0           ? &o->prompt_list
                                                                  : NULL;
    if (!path)
        return bad(flag, NULL, "unknown option");
    *path = v;
    return 0;
}

/* "--flag=value" or "--flag value"; *consumed says how many argv entries were used. */
static int parse_one(tpt_options *o, int argc, char **argv, int i, int *consumed)
{
    char flag[64];
    const char *arg = argv[i], *eq = strchr(arg, '=');
    *consumed = 1;
    if (arg[0] != '-')
        return bad(arg, NULL, "unexpected argument");
    if (parse_switch(o, arg) == 0)
        return 0;
    if (strncmp(arg, "--", 2) == 0 && eq && (size_t)(eq - arg) < sizeof(flag)) {
        memcpy(flag, arg, (size_t)(eq - arg));
        flag[eq - arg] = '\0';
        return parse_valued(o, flag, eq + 1);
    }
    if (i + 1 >= argc)
        return bad(arg, NULL, "unknown option, or its value is missing");
    *consumed = 2;
    return parse_valued(o, arg, argv[i + 1]);
}

int tpt_options_parse(tpt_options *o, int argc, char **argv)
{
    defaults(o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        const char *name = strncmp(argv[i], "--preset=", 9) == 0 ? argv[i] + 9
                           : strcmp(argv[i], "--preset") == 0 && i + 1 < argc ? argv[i + 1]
                                                                              : NULL;
        if (name && apply_preset(o, name) != 0)
            return 2;
    }
    for (int i = 1, used; i < argc; i += used)
        if (parse_one(o, argc, argv, i, &used) != 0)
            return 2;
    if (o->model && o->shape_flags)
        return bad("--model", o->model, "shape flags (--dim, --layers, ...) cannot be combined with --model: "
                   "the checkpoint header sets the shape");
    if (o->prompt_list && o->prompt_tokens_given)
        return bad("--prompt", o->prompt_list, "give either --prompt or --prompt-tokens");
    return 0;
}

/* "ids,..." -> o->prompt; ids are checked against the vocabulary by the caller. */
static int parse_prompt_list(tpt_options *o)
{
    int n = 1;
    for (const char *p = o->prompt_list; *p; p++)
        n += *p == ',';
    o->prompt = calloc((size_t)n, sizeof(int));
    char *copy = strdup(o->prompt_list), *save = NULL, *tok;
    if (!o->prompt || !copy) {
        free(copy);
        return bad("--prompt", o->prompt_list, "out of memory");
    }
    int k = 0, rc = 0;
    for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
        rc = parse_int("--prompt", tok, 0, o->cfg.vocab - 1, &o->prompt[k++]);
    free(copy);
    if (rc == 0 && k != n)
        rc = bad("--prompt", o->prompt_list, "expected token ids separated by single commas");
    o->prompt_tokens = k;
    return rc;
}

static int build_prompt(tpt_options *o)
{
    if (o->prompt_list)
        return parse_prompt_list(o);
    o->prompt = calloc((size_t)o->prompt_tokens, sizeof(int));
    if (!o->prompt)
        return bad("--prompt-tokens", NULL, "out of memory");
    for (int i = 0; i < o->prompt_tokens; i++)
        o->prompt[i] = (int)(tpt_mix64(tpt_mix64(o->seed ^ 0x70726f6d7074ull) + (uint64_t)i) % (uint64_t)o->cfg.vocab);
    return 0;
}

int tpt_options_resolve(tpt_options *o)
{
    char err[512];
    if (o->model) {
        tpt_source *src = NULL;
        if (tpt_source_checkpoint(o->model, &o->cfg, &src) != 0)
            return 2;
        tpt_source_close(src);
    } else if (tpt_config_check(&o->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "tp_transformer: bad model shape: %s\n", err);
        return 2;
    }
    if (o->tokenizer) {
        tpt_tokenizer *t = tpt_tokenizer_load(o->tokenizer, o->cfg.vocab);
        if (!t)
            return 2;
        tpt_tokenizer_free(t);
    }
    if (build_prompt(o) != 0)
        return 2;
    long positions = (long)o->prompt_tokens + o->gen - 1;
    if (positions > o->cfg.seq_len) {
        fprintf(stderr, "tp_transformer: prompt %d + generated %d - 1 = %ld positions do not fit the KV cache of "
                "seq-len %d; raise --seq-len or shorten the run\n", o->prompt_tokens, o->gen, positions,
                o->cfg.seq_len);
        return 2;
    }
    return 0;
}

/* Why these limits (max|tp - ref| / max|ref| over the logits of one position):
 *  f32 wire: TP and reference differ only in the order in which partial sums are
 *    added (per rank, then across ranks). Reassociating float32 sums of a few thousand
 *    terms moves a result by ~1e-6 relative; over a few layers that stays below 1e-5,
 *    so 1e-4 leaves a 10x margin and still catches any wrong shard (errors of O(1)).
 *  bf16 wire: every allreduce input and partial sum is rounded to 8 significant bits
 *    (relative error up to 2^-9 = 2e-3) and each layer's residual update carries that
 *    error into the next; measured errors are a few 1e-3 for the default and d1024-l8
 *    models, so 2e-2 (ten bf16 roundings) passes them and still fails a wrong shard.
 *  q8 and fp8 wire: a value is off by up to half a step of its block's largest
 *    |value| / 127 (q8), or 2^-4 of itself (fp8, 3 mantissa bits), once per rank
 *    along its path; measured errors reach about 1e-2 (q8) and 3e-2 (fp8) of the
 *    largest logit, so 1e-1 and 2e-1 pass them; a wrong shard still errs by O(1). */
double tpt_options_tolerance(const tpt_options *o)
{
    if (o->tolerance > 0.0)
        return o->tolerance;
    switch (o->wire) {
    case haloWireQ8: return 1e-1;
    case haloWireFp8: return 2e-1;
    case haloWireBf16: return 2e-2;
    default: return 1e-4;
    }
}

const char *tpt_wire_word(int wire)
{
    switch (wire) {
    case haloWireQ8: return "q8";
    case haloWireFp8: return "fp8";
    case haloWireBf16: return "bf16";
    default: return "f32";
    }
}

double tpt_wire_bytes(int wire, size_t count)
{
    if (wire == haloWireQ8 || wire == haloWireFp8) /* a float16 scale per 32 values, one byte each */
        return 2.0 * (double)((count + 31) / 32) + (double)count;
    return (double)count * (wire == haloWireBf16 ? 2 : 4);
}

void tpt_options_free(tpt_options *o)
{
    free(o->prompt);
    o->prompt = NULL;
}
