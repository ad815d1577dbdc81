/* SPDX-License-Identifier: MIT */
/*
 * param.h — every knob of the library, declared once in params.def.
 *
 * Values are parsed strictly, once, when a communicator is created (or when
 * halo-info asks): the whole string must be consumed; sizes take k/m/g suffixes
 * (powers of 1024), durations us/ms/s (default unit per parameter); `auto` is a
 * word (stored as HALO_AUTO), never a magic number. A bad value is an error that
 * names the variable, the value and what is accepted.
 */
#ifndef HALO_PARAM_H
#define HALO_PARAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HALO_AUTO INT64_MIN

enum halo_param_type {
    HALO_PT_INT,      /* integer, `auto` allowed if the default is auto */
    HALO_PT_SIZE,     /* bytes with k/m/g suffix, `auto` allowed */
    HALO_PT_DURATION, /* stored in microseconds; suffix us/ms/s; bare number uses the unit column */
    HALO_PT_BOOL,     /* 0/1/yes/no/true/false/on/off */
    HALO_PT_STRING,   /* free text (validated by the user of the value) */
    HALO_PT_ENUM      /* one word of the unit column's list "a|b|c", exactly; <field>_i is
                       * its index in that list, <field>_s the word */
};

enum halo_param_source { HALO_SRC_DEFAULT = 0, HALO_SRC_ENV, HALO_SRC_NCCL_ENV, HALO_SRC_CONFIG };

/* params.def rows: HALO_PARAM(NAME, field, type, "default", "unit", "NCCL alias or NULL", "help");
 * for HALO_PT_ENUM the unit column lists the accepted words, "auto|shm|tcp|ib". */
enum halo_param_index {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) HALO_PI_##field,
#include "params.def"
#undef HALO_PARAM
    HALO_PI_COUNT
};

struct halo_params {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) int64_t field##_i; const char *field##_s;
#include "params.def"
#undef HALO_PARAM
    enum halo_param_source source[HALO_PI_COUNT];
};

/* Convenience accessors: integers/sizes/durations/bools live in <field>_i, strings in
 * <field>_s (never NULL; "" when unset). */
#define HALO_P_INT(p, field) ((p)->field##_i)
#define HALO_P_STR(p, field) ((p)->field##_s)

/* Parses every parameter from the environment. On a bad value returns -1 and writes
 * a sentence naming the variable into err. Strings point into the environment or
 * into static defaults (the environment must not change under a running comm). */
int halo_params_load(struct halo_params *p, char *err, size_t errlen);
/* Prints one row per parameter: name, value, source, unit, help. */
void halo_params_print(FILE *out, const struct halo_params *p);
/* The README's parameter table (name, default, NCCL alias, help), generated from
 * params.def; tests/core/check_readme_params.sh keeps the README equal to it. */
void halo_params_print_markdown(FILE *out);
/* Strict parsers, exposed for tests and for other env readers. Return 0 or -1. */
int halo_parse_int(const char *s, int allow_auto, int64_t *out);
int halo_parse_size(const char *s, int allow_auto, int64_t *out);
int halo_parse_duration_us(const char *s, const char *default_unit, int64_t *out);
int halo_parse_bool(const char *s, int64_t *out);
/* Index of word s in words ("a|b|c"), exact match; -1 when absent. */
int halo_parse_word(const char *s, const char *words, int64_t *out);

/* For tests and tools: the number of rows, and row i's name (without HALO_), type,
 * default, unit (enum: the word list) and NCCL alias (NULL when none). */
int halo_param_count(void);
void halo_param_row(int i, const char **name, enum halo_param_type *type, const char **def, const char **unit,
                    const char **alias);

#endif
