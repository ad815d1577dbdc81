/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tune.c — the HALO_TUNE_FILE parser (src/topology/tune.c) on any bytes: a
 * file that someone edited, truncated, or that is not a tune file at all.
 *
 * Input: the file's bytes, as topo_tune_parse gets them from topo_tune_read.
 * Invariants: a refusal says why; an accepted file has 1..64 distinct hosts, a
 * known transport, 1..64 links whose ends are host/address, and every number
 * finite and in range; the writer's text of it parses again to the same numbers
 * (to the six digits it prints) and the same names.
 */
#include "fuzz_util.h"

#include <math.h>

#include "tune.h"

static struct topo_tune parsed, again;
static char text[TOPO_TUNE_FILE_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static int in_range(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-5 * fabs(b);
}

static void check_accepted(const struct topo_tune *t)
{
    FUZZ_CHECK(t->nhosts >= 1 && t->nhosts <= TOPO_TUNE_MAX_HOSTS);
    for (int h = 0; h < t->nhosts; h++) {
        FUZZ_CHECK(t->hosts[h][0] != '\0');
        for (int k = 0; k < h; k++)
            FUZZ_CHECK(strcmp(t->hosts[h], t->hosts[k]) != 0);
    }
    FUZZ_CHECK(!strcmp(t->transport, "links") || !strcmp(t->transport, "shm") || !strcmp(t->transport, "tcp"));
    FUZZ_CHECK(in_range(t->reduce_Bps, 0.999e3, 1.001e13)); /* 10^-3 .. 10^7 MB/s, give or take rounding */
    FUZZ_CHECK(t->nlinks >= 1 && t->nlinks <= TOPO_TUNE_MAX_LINKS);
    for (int i = 0; i < t->nlinks; i++) {
        const struct topo_tune_link *l = &t->links[i];
        FUZZ_CHECK(strchr(l->end[0], '/') && strchr(l->end[1], '/'));
        FUZZ_CHECK(!strchr(l->end[0], '=') && !strchr(l->end[1], '='));
        FUZZ_CHECK(in_range(l->alpha_s, 0.999e-9, 1.001) && in_range(l->overhead_s, 0, 1.001));
        for (int k = 0; k < TOPO_TUNE_NCH; k++)
            FUZZ_CHECK(in_range(l->bw_Bps[k], 0.999e3, 1.001e13));
    }
}

static void check_round_trip(const struct topo_tune *a, const struct topo_tune *b)
{
    FUZZ_CHECK(a->nhosts == b->nhosts && a->nlinks == b->nlinks);
    for (int h = 0; h < a->nhosts; h++)
        FUZZ_CHECK(strcmp(a->hosts[h], b->hosts[h]) == 0);
    FUZZ_CHECK(strcmp(a->transport, b->transport) == 0 && near(b->reduce_Bps, a->reduce_Bps));
    for (int i = 0; i < a->nlinks; i++) {
        const struct topo_tune_link *x = &a->links[i], *y = &b->links[i];
        FUZZ_CHECK(strcmp(x->end[0], y->end[0]) == 0 && strcmp(x->end[1], y->end[1]) == 0);
        FUZZ_CHECK(near(y->alpha_s, x->alpha_s) && near(y->overhead_s, x->overhead_s));
        for (int k = 0; k < TOPO_TUNE_NCH; k++)
            FUZZ_CHECK(near(y->bw_Bps[k], x->bw_Bps[k]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";

    if (topo_tune_parse((const char *)data, size, &parsed, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    check_accepted(&parsed);
    size_t n = topo_tune_format(&parsed, text, sizeof(text));
    FUZZ_CHECK(n < sizeof(text));
    err[0] = '\0';
    if (topo_tune_parse(text, n, &again, err, sizeof(err)) != 0) {
        fprintf(stderr, "the writer's text did not parse again: %s\n%s", err, text);
        abort();
    }
    check_round_trip(&parsed, &again);
    return 0;
}
