/* SPDX-License-Identifier: MIT */
/*
 * param.c — the parameter table of params.def: strict parsers, loading from the
 * environment, and the table that `halo-info --params` prints.
 *
 * Every value is parsed in full ("4M" is 4 MiB, "4x", " 4" and "-2" for a size are
 * errors); nothing is silently truncated the way strtoll would. An empty environment
 * value counts as unset: HALO_X= falls back to the NCCL alias, then to the default
 * (so an exported-but-empty variable from a launcher script never breaks a job).
 *
 * The parsers set errno on failure: ERANGE when the number does not fit in an
 * int64_t, EINVAL for anything else; the load error says which.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nccl_env.h"
#include "param.h"

struct param_row {
    const char *name;  /* without the HALO_ prefix */
    enum halo_param_type type;
    const char *def;
    const char *unit;
    const char *alias; /* NCCL_* variable honoured when HALO_<name> is unset, or NULL */
    const char *help;
    size_t off_i, off_s;
};

static const struct param_row param_rows[HALO_PI_COUNT] = {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help)                           \
    [HALO_PI_##field] = {#NAME, type, def, unit, alias, help,                           \
                         offsetof(struct halo_params, field##_i),                       \
                         offsetof(struct halo_params, field##_s)},
#include "params.def"
#undef HALO_PARAM
};

/* ---- strict parsers ---- */

static int parse_fail(int err)
{
    errno = err;
    return -1;
}

static int is_auto(const char *s)
{
    return strcasecmp(s, "auto") == 0;
}

/* Reads one or more decimal digits at *sp into a non-negative int64_t, advancing
 * *sp past them. */
static int parse_digits(const char **sp, int64_t *out)
{
    const char *s = *sp;
    int64_t v = 0;

    if (!isdigit((unsigned char)*s))
        return parse_fail(EINVAL);
    for (; isdigit((unsigned char)*s); s++) {
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return parse_fail(ERANGE);
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

static int mul_checked(int64_t v, int64_t m, int64_t *out)
{
    if (m != 0 && v > INT64_MAX / m)
        return parse_fail(ERANGE);
    *out = v * m;
    return 0;
}

/* Optional sign, then decimal digits, nothing else. INT64_MIN is HALO_AUTO and is
 * therefore out of range as a number. */
int halo_parse_int(const char *s, int allow_auto, int64_t *out)
{
    int neg = 0;
    int64_t v;

    if (!s)
        return parse_fail(EINVAL);
    if (allow_auto && is_auto(s)) {
        *out = HALO_AUTO;
        return 0;
    }
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (parse_digits(&s, &v) != 0)
        return -1;
    if (*s != '\0')
        return parse_fail(EINVAL);
    *out = neg ? -v : v;
    return 0;
}

static int64_t size_multiplier(char c)
{
    switch (c) {
    case 'k': case 'K': return INT64_C(1) << 10;
    case 'm': case 'M': return INT64_C(1) << 20;
    case 'g': case 'G': return INT64_C(1) << 30;
    default: return 0;
    }
}

/* Digits, then at most one of k/m/g (either case, powers of 1024). No sign. */
int halo_parse_size(const char *s, int allow_auto, int64_t *out)
{
    int64_t v, mult = 1;

    if (!s)
        return parse_fail(EINVAL);
    if (allow_auto && is_auto(s)) {
        *out = HALO_AUTO;
        return 0;
    }
    if (parse_digits(&s, &v) != 0)
        return -1;
    if (*s != '\0') {
        mult = size_multiplier(*s++);
        if (mult == 0 || *s != '\0')
            return parse_fail(EINVAL);
    }
    return mul_checked(v, mult, out);
}

/* Microseconds per unit; 0 for an unknown unit. */
static int64_t duration_unit_us(const char *unit)
{
    if (strcmp(unit, "us") == 0)
        return 1;
    if (strcmp(unit, "ms") == 0)
        return 1000;
    if (strcmp(unit, "s") == 0)
        return 1000000;
    return 0;
}

/* Digits, then us/ms/s or nothing (then default_unit; NULL or "" means us). */
int halo_parse_duration_us(const char *s, const char *default_unit, int64_t *out)
{
    int64_t v, mult;

    if (!s)
        return parse_fail(EINVAL);
    if (parse_digits(&s, &v) != 0)
        return -1;
    if (*s == '\0')
        s = default_unit && *default_unit ? default_unit : "us";
    mult = duration_unit_us(s);
    if (mult == 0)
        return parse_fail(EINVAL);
    return mul_checked(v, mult, out);
}

int halo_parse_bool(const char *s, int64_t *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};

    if (!s)
        return parse_fail(EINVAL);
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return parse_fail(EINVAL);
}

int halo_parse_word(const char *s, const char *words, int64_t *out)
{
    size_t n = strlen(s);
    int64_t i = 0;

    for (const char *w = words; *w; i++) {
        size_t wl = strcspn(w, "|");
        if (n > 0 && wl == n && strncmp(w, s, n) == 0) {
            *out = i;
            return 0;
        }
        w += wl + (w[wl] == '|');
    }
    return parse_fail(EINVAL);
}

/* ---- loading ---- */

static int row_allows_auto(const struct param_row *r)
{
    return is_auto(r->def);
}

static int row_parse(const struct param_row *r, const char *text, int64_t *out)
{
    switch (r->type) {
    case HALO_PT_INT: return halo_parse_int(text, row_allows_auto(r), out);
    case HALO_PT_SIZE: return halo_parse_size(text, row_allows_auto(r), out);
    case HALO_PT_DURATION: return halo_parse_duration_us(text, r->unit, out);
    case HALO_PT_BOOL: return halo_parse_bool(text, out);
    case HALO_PT_STRING: *out = 0; return 0;
    case HALO_PT_ENUM: return halo_parse_word(text, r->unit, out);
    }
    return parse_fail(EINVAL);
}

/* "expected auto, shm, tcp or ib" from "auto|shm|tcp|ib". */
static void row_expected_words(const char *words, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "expected");

    for (const char *w = words; *w && used < len;) {
        size_t wl = strcspn(w, "|");
        const char *sep = w == words ? " " : w[wl] ? ", " : " or ";
        used += (size_t)snprintf(buf + used, len - used, "%s%.*s", sep, (int)wl, w);
        w += wl + (w[wl] == '|');
    }
}

/* What a row accepts, for error messages. */
static void row_expected(const struct param_row *r, char *buf, size_t len)
{
    const char *or_auto = row_allows_auto(r) ? ", or auto" : "";

    switch (r->type) {
    case HALO_PT_INT:
        snprintf(buf, len, "expected a decimal integer%s", or_auto);
        break;
    case HALO_PT_SIZE:
        snprintf(buf, len, "expected a size in bytes with optional k/m/g suffix%s", or_auto);
        break;
    case HALO_PT_DURATION:
        snprintf(buf, len, "expected a duration with suffix us, ms or s (a bare number is in %s)",
                 r->unit && *r->unit ? r->unit : "us");
        break;
    case HALO_PT_BOOL:
        snprintf(buf, len, "expected 0/1, yes/no, true/false or on/off");
        break;
    case HALO_PT_STRING:
        snprintf(buf, len, "expected text");
        break;
    case HALO_PT_ENUM:
        row_expected_words(r->unit, buf, len);
        break;
    }
}

static const char *env_nonempty(const char *var)
{
    const char *v = var ? getenv(var) : NULL;
    return v && *v ? v : NULL;
}

/* Picks the text of a row: HALO_<name>, then the NCCL alias, then the default.
 * varname receives the variable the text came from. */
static const char *row_text(const struct param_row *r, char *varname, size_t len,
                            enum halo_param_source *src)
{
    const char *v;

    snprintf(varname, len, "HALO_%s", r->name);
    if ((v = env_nonempty(varname)) != NULL) {
        *src = HALO_SRC_ENV;
        return v;
    }
    /* NCCL's words may differ from ours (NCCL_NET=Socket is tcp); a value with no
     * counterpart leaves the default (the NCCL drop-in lists it once at INFO). */
    if ((v = env_nonempty(r->alias)) != NULL && (v = halo_nccl_env_translate(r->alias, v)) != NULL) {
        snprintf(varname, len, "%s", r->alias);
        *src = HALO_SRC_NCCL_ENV;
        return v;
    }
    *src = HALO_SRC_DEFAULT;
    return r->def;
}

static int row_load(const struct param_row *r, struct halo_params *p, enum halo_param_source *src,
                    char *err, size_t errlen)
{
    char var[64], expected[128];
    const char *text = row_text(r, var, sizeof(var), src);
    int64_t v;
    int perr;

    if (row_parse(r, text, &v) == 0) {
        *(int64_t *)((char *)p + r->off_i) = v;
        *(const char **)((char *)p + r->off_s) = text;
        return 0;
    }
    perr = errno;
    row_expected(r, expected, sizeof(expected));
    if (*src == HALO_SRC_DEFAULT)
        snprintf(err, errlen, "built-in default of HALO_%s (\"%s\") does not parse: %s", r->name, text,
                 expected);
    else
        snprintf(err, errlen, "%s=\"%s\": %s%s", var, text, perr == ERANGE ? "out of range; " : "",
                 expected);
    return -1;
}

int halo_params_load(struct halo_params *p, char *err, size_t errlen)
{
    struct halo_params tmp;

    memset(&tmp, 0, sizeof(tmp));
    for (int i = 0; i < HALO_PI_COUNT; i++) {
        if (row_load(&param_rows[i], &tmp, &tmp.source[i], err, errlen) != 0)
            return -1;
    }
    *p = tmp;
    return 0;
}

/* ---- printing ---- */

/* "4M (4194304 bytes)": the largest exact 1024-power suffix, then the bytes. */
static void format_size(int64_t v, char *buf, size_t len)
{
    static const char sfx[] = {'G', 'M', 'k'};

    for (int i = 0; i < 3 && v > 0; i++) {
        int64_t m = INT64_C(1) << (30 - 10 * i);
        if (v % m == 0) {
            snprintf(buf, len, "%" PRId64 "%c (%" PRId64 " bytes)", v / m, sfx[i], v);
            return;
        }
    }
    snprintf(buf, len, "%" PRId64 " bytes", v);
}

static void format_duration(int64_t us, char *buf, size_t len)
{
    if (us > 0 && us % 1000000 == 0)
        snprintf(buf, len, "%" PRId64 "s", us / 1000000);
    else if (us > 0 && us % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "ms", us / 1000);
    else
        snprintf(buf, len, "%" PRId64 "us", us);
}

/* Values that grant access to the job; the table is pasted into bug reports. */
static int row_is_secret(const struct param_row *r)
{
    return strcmp(r->name, "SECRET") == 0;
}

static void format_value(const struct param_row *r, const struct halo_params *p, char *buf, size_t len)
{
    int64_t v = *(const int64_t *)((const char *)p + r->off_i);
    const char *s = *(const char *const *)((const char *)p + r->off_s);

    if (row_is_secret(r) && s && *s) {
        snprintf(buf, len, "(set, hidden)");
        return;
    }
    if (r->type != HALO_PT_STRING && r->type != HALO_PT_BOOL && r->type != HALO_PT_ENUM && v == HALO_AUTO) {
        snprintf(buf, len, "auto");
        return;
    }
    switch (r->type) {
    case HALO_PT_INT: snprintf(buf, len, "%" PRId64, v); break;
    case HALO_PT_SIZE: format_size(v, buf, len); break;
    case HALO_PT_DURATION: format_duration(v, buf, len); break;
    case HALO_PT_BOOL: snprintf(buf, len, "%s", v ? "yes" : "no"); break;
    case HALO_PT_STRING: snprintf(buf, len, "%s", s && *s ? s : "\"\""); break;
    case HALO_PT_ENUM: snprintf(buf, len, "%s", s); break;
    }
}

static void format_source(const struct param_row *r, enum halo_param_source src, char *buf, size_t len)
{
    switch (src) {
    case HALO_SRC_DEFAULT: snprintf(buf, len, "default"); break;
    case HALO_SRC_ENV: snprintf(buf, len, "env"); break;
    case HALO_SRC_NCCL_ENV: snprintf(buf, len, "%s env", r->alias ? r->alias : "NCCL"); break;
    case HALO_SRC_CONFIG: snprintf(buf, len, "config"); break;
    }
}

#define PRINT_VALUE_MAX 28 /* longer values (long interface lists) push their row out */

void halo_params_print(FILE *out, const struct halo_params *p)
{
    char val[HALO_PI_COUNT][128], src[HALO_PI_COUNT][48];
    int wname = 4, wval = 5, wsrc = 6;

    for (int i = 0; i < HALO_PI_COUNT; i++) {
        const struct param_row *r = &param_rows[i];
        format_value(r, p, val[i], sizeof(val[i]));
        format_source(r, p->source[i], src[i], sizeof(src[i]));
        if ((int)strlen(r->name) + 5 > wname)
            wname = (int)strlen(r->name) + 5;
        if ((int)strlen(val[i]) > wval && strlen(val[i]) <= PRINT_VALUE_MAX)
            wval = (int)strlen(val[i]);
        if ((int)strlen(src[i]) > wsrc)
            wsrc = (int)strlen(src[i]);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-5s  %s\n", wname, "NAME", wval, "VALUE", wsrc, "SOURCE", "UNIT", "HELP");
    for (int i = 0; i < HALO_PI_COUNT; i++) {
        const struct param_row *r = &param_rows[i];
        fprintf(out, "HALO_%-*s  %-*s  %-*s  %-5s  %s\n", wname - 5, r->name, wval, val[i], wsrc, src[i],
                r->type == HALO_PT_ENUM ? "word" : r->unit, r->help);
    }
}

int halo_param_count(void)
{
    return HALO_PI_COUNT;
}

void halo_param_row(int i, const char **name, enum halo_param_type *type, const char **def, const char **unit,
                    const char **alias)
{
    const struct param_row *r = &param_rows[i];

    *name = r->name;
    *type = r->type;
    *def = r->def;
    *unit = r->unit;
    *alias = r->alias;
}

void halo_params_print_markdown(FILE *out)
{
    fprintf(out, "| variable | default | NCCL name | meaning |\n|---|---|---|---|\n");
    for (int i = 0; i < HALO_PI_COUNT; i++) {
        const struct param_row *r = &param_rows[i];
        fprintf(out, "| `HALO_%s` | %s | %s%s%s | %s |\n", r->name, r->def, r->alias ? "`" : "",
                r->alias ? r->alias : "", r->alias ? "`" : "", r->help);
    }
}
