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
    HALO_PT_STRING    /* free text (validated by the user of the value) */
};

enum halo_param_source { HALO_SRC_DEFAULT = 0, HALO_SRC_ENV, HALO_SRC_NCCL_ENV, HALO_SRC_CONFIG };

/* params.def rows: HALO_PARAM(NAME, field, type, "default", "unit", "NCCL alias or NULL", "help") */
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
/* Strict parsers, exposed for tests and for other env readers. Return 0 or -1. */
int halo_parse_int(const char *s, int allow_auto, int64_t *out);
int halo_parse_size(const char *s, int allow_auto, int64_t *out);
int halo_parse_duration_us(const char *s, const char *default_unit, int64_t *out);
int halo_parse_bool(const char *s, int64_t *out);

#endif
