/* SPDX-License-Identifier: MIT */
/*
 * test_tune.c — the HALO_TUNE_FILE format (src/topology/tune.c): a good file
 * parses to its numbers and round-trips through the writer; every kind of
 * malformed line is refused with its line number (and no prefix of a good file
 * crashes the parser); a file of other hosts, links or transport is refused and
 * leaves the model untouched; a matching one sets the model to the worst link's
 * numbers (largest alpha and overhead, smallest rate per channel count).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "topo_cost.h"
#include "topo_fake.h"
#include "tune.h"

#define CLOSE(a, b) ASSERT_TRUE(fabs((a) - (b)) <= 1e-9 * fabs(b) + 1e-15)

static const char one_host[] = "# comment\n"
                               "format = halo-tune 1\n"
                               "hosts = vm\n"
                               "\n"
                               "transport = shm\n"
                               "reduce_MBps = 7800.5\n"
                               "link = vm/r0 vm/r1 alpha_us=2.5 overhead_us=0.75 MBps_1ch=3000 MBps_2ch=4500 "
                               "MBps_4ch=5100\n"
                               "link = vm/r1 vm/r2 alpha_us=3.25 overhead_us=0.5 MBps_1ch=2800 MBps_2ch=4900 "
                               "MBps_4ch=4000\r\n";

static int parse(const char *text, struct topo_tune *t, char *err, size_t len)
{
    return topo_tune_parse(text, strlen(text), t, err, len);
}

static void test_good(void)
{
    struct topo_tune *t = calloc(1, sizeof(*t)), *back = calloc(1, sizeof(*back));
    char err[256], text[8192];

    ASSERT_OK(parse(one_host, t, err, sizeof(err)));
    ASSERT_EQ(t->nhosts, 1);
    ASSERT_STREQ(t->hosts[0], "vm");
    ASSERT_STREQ(t->transport, "shm");
    CLOSE(t->reduce_Bps, 7800.5e6);
    ASSERT_EQ(t->nlinks, 2);
    ASSERT_STREQ(t->links[1].end[0], "vm/r1");
    ASSERT_STREQ(t->links[1].end[1], "vm/r2");
    CLOSE(t->links[0].alpha_s, 2.5e-6);
    CLOSE(t->links[0].overhead_s, 0.75e-6);
    CLOSE(t->links[1].bw_Bps[0], 2800e6);
    CLOSE(t->links[1].bw_Bps[1], 4900e6);
    CLOSE(t->links[1].bw_Bps[2], 4000e6);
    /* the writer's text reads back to the same numbers */
    size_t n = topo_tune_format(t, text, sizeof(text));
    ASSERT_TRUE(n < sizeof(text));
    ASSERT_OK(topo_tune_parse(text, n, back, err, sizeof(err)));
    ASSERT_EQ(back->nlinks, t->nlinks);
    for (int i = 0; i < t->nlinks; i++) {
        ASSERT_STREQ(back->links[i].end[0], t->links[i].end[0]);
        CLOSE(back->links[i].alpha_s, t->links[i].alpha_s);
        CLOSE(back->links[i].overhead_s, t->links[i].overhead_s);
        for (int k = 0; k < TOPO_TUNE_NCH; k++)
            CLOSE(back->links[i].bw_Bps[k], t->links[i].bw_Bps[k]);
    }
    free(t);
    free(back);
}

/* Replaces the first occurrence of `from` in the good file by `to`. */
static void variant(const char *from, const char *to, char *out, size_t len)
{
    const char *at = strstr(one_host, from);
    ASSERT_TRUE(at != NULL);
    snprintf(out, len, "%.*s%s%s", (int)(at - one_host), one_host, to, at + strlen(from));
}

static void expect_bad(const char *text, size_t len, const char *needle)
{
    struct topo_tune *t = calloc(1, sizeof(*t));
    char err[256] = "";
    if (topo_tune_parse(text, len, t, err, sizeof(err)) == 0)
        TEST_FAIL("accepted a malformed file (expected \"%s\"):\n%s", needle, text);
    ASSERT_CONTAINS(err, needle);
    free(t);
}

static void expect_bad_variant(const char *from, const char *to, const char *needle)
{
    char text[4096];
    variant(from, to, text, sizeof(text));
    expect_bad(text, strlen(text), needle);
}

static void test_malformed(void)
{
    expect_bad_variant("hosts = vm", "hosts vm", "line 3: expected key = value");
    expect_bad_variant("hosts = vm", "hostz = vm", "line 3: unknown key hostz");
    expect_bad_variant("format = halo-tune 1", "format = halo-tune 2", "line 2: format halo-tune 2");
    expect_bad_variant("reduce_MBps = 7800.5", "reduce_MBps = fast", "line 6: reduce_MBps fast");
    expect_bad_variant("reduce_MBps = 7800.5", "reduce_MBps = 7800.5x", "line 6: reduce_MBps");
    expect_bad_variant("reduce_MBps = 7800.5", "reduce_MBps = -3", "line 6: reduce_MBps");
    expect_bad_variant("reduce_MBps = 7800.5", "reduce_MBps = nan", "line 6: reduce_MBps");
    expect_bad_variant("reduce_MBps = 7800.5", "reduce_MBps = 1e400", "line 6: reduce_MBps");
    expect_bad_variant("MBps_1ch=3000", "MBps_1ch=1e12", "line 7: link field MBps_1ch");
    expect_bad_variant("MBps_1ch=3000", "MBps_1ch=-3000", "line 7: link field MBps_1ch");
    expect_bad_variant("MBps_1ch=3000", "MBps_1ch=inf", "line 7: link field MBps_1ch");
    expect_bad_variant("alpha_us=2.5", "alpha_us=0", "line 7: link field alpha_us");
    expect_bad_variant("alpha_us=2.5", "alpha_us=5e9", "line 7: link field alpha_us");
    expect_bad_variant("overhead_us=0.75", "overhead_us=-1", "line 7: link field overhead_us");
    expect_bad_variant(" MBps_4ch=5100", "", "line 7: link lacks a field");
    expect_bad_variant("alpha_us=2.5", "alpha_us=2.5 alpha_us=3", "line 7: link field alpha_us given twice");
    expect_bad_variant("alpha_us=2.5", "speed=9", "line 7: unknown link field speed");
    expect_bad_variant("link = vm/r0 vm/r1", "link = vm/r0", "line 7: link needs two ends");
    expect_bad_variant("hosts = vm", "hosts = vm vm", "line 3: host vm is listed twice");
    expect_bad_variant("hosts = vm", "hosts =", "line 3: hosts lists no host");
    expect_bad_variant("transport = shm", "transport = carrier-pigeon", "line 5: transport carrier-pigeon");
    expect_bad_variant("transport = shm", "transport = shm\ntransport = tcp", "line 6: transport given twice");
    expect_bad_variant("format = halo-tune 1\n", "", "no format line");
    expect_bad_variant("reduce_MBps = 7800.5\n", "", "incomplete");
    expect_bad("", 0, "no format line");
    /* a NUL byte inside, and a line longer than the parser's buffer */
    char text[4096];
    snprintf(text, sizeof(text), "%s", one_host);
    text[30] = '\0';
    expect_bad(text, strlen(one_host), "line 2: a NUL byte");
    char *lng = malloc(3000);
    memset(lng, 'x', 2999);
    lng[2999] = '\0';
    memcpy(lng, "hosts = ", 8);
    expect_bad(lng, strlen(lng), "line 1: longer than 1023 bytes");
    free(lng);
    /* more links than a file holds */
    size_t cap = 80 * 128 + sizeof(one_host), pos;
    char *many = malloc(cap);
    pos = (size_t)snprintf(many, cap, "format = halo-tune 1\nhosts = vm\ntransport = shm\nreduce_MBps = 1\n");
    for (int i = 0; i <= TOPO_TUNE_MAX_LINKS; i++)
        pos += (size_t)snprintf(many + pos, cap - pos, "link = vm/r%d vm/r%d alpha_us=1 overhead_us=1 MBps_1ch=1 "
                                "MBps_2ch=1 MBps_4ch=1\n", i, i + 1);
    expect_bad(many, pos, "more than 64 links");
    free(many);
}

/* Every prefix of a good file (a file cut short while written) parses or is
 * refused; none crashes or reads past its end (ASan builds check the latter). */
static void test_prefixes(void)
{
    struct topo_tune *t = calloc(1, sizeof(*t));
    size_t len = strlen(one_host);
    char err[256];
    int ok = 0;
    for (size_t n = 0; n <= len; n++) {
        char *copy = malloc(n ? n : 1); /* exactly n bytes, no terminator */
        memcpy(copy, one_host, n);
        ok += topo_tune_parse(copy, n, t, err, sizeof(err)) == 0;
        free(copy);
    }
    /* whole files only: the first link cut after each digit of its last number
     * "5100" (4) or after its newline (1); the second likewise after "4000",
     * its '\r' or its '\n' (6). A cut anywhere else lacks a key or a field. */
    ASSERT_EQ(ok, 11);
    free(t);
}

/* ---------------------------------------------------------------- apply */

static void test_apply_one_host(void)
{
    struct topo_tune *t = calloc(1, sizeof(*t));
    struct topo_cost_model m, before;
    char err[256], why[512];

    ASSERT_OK(parse(one_host, t, err, sizeof(err)));
    topo_cost_model_local(&m, 3, 0);
    before = m;
    ASSERT_EQ(topo_tune_apply(t, NULL, "other-vm", "shm", &m, why, sizeof(why)), -1);
    ASSERT_CONTAINS(why, "measured on vm, this job runs on one host, other-vm");
    ASSERT_EQ(topo_tune_apply(t, NULL, "vm", "tcp", &m, why, sizeof(why)), -1);
    ASSERT_CONTAINS(why, "measured over shm, this job's ranks use tcp");
    ASSERT_TRUE(memcmp(&m, &before, sizeof(m)) == 0);
    ASSERT_OK(topo_tune_apply(t, NULL, "vm", "shm", &m, why, sizeof(why)));
    CLOSE(m.alpha_s, 3.25e-6);       /* the larger */
    CLOSE(m.msg_overhead_s, 0.75e-6);
    CLOSE(m.bw_Bps, 2800e6);         /* the smaller, per channel count */
    CLOSE(m.chan_gain[2], 4500.0 / 2800);
    CLOSE(m.chan_gain[4], 4000.0 / 2800);
    CLOSE(m.chan_gain[3], (4500.0 / 2800 + 4000.0 / 2800) / 2);
    CLOSE(m.chan_gain[8], 4000.0 / 2800);
    CLOSE(m.reduce_Bps, 7800.5e6);
    ASSERT_TRUE(m.chan_bw_Bps == 0);
    ASSERT_EQ(m.nhosts, 3);          /* the shape stays */
    ASSERT_EQ(m.shared_nic, 1);
    /* the time it predicts: one bandwidth term of the ring on 3 ranks, 1 channel */
    double S = 3 << 20, t1 = topo_cost_allreduce(&m, TOPO_ALGO_RING, (size_t)S, 1 << 20, 1);
    CLOSE(t1, 4 * (3.25e-6 + 0.75e-6) + 4 * S / 3 / 2800e6);
    free(t);
}

/* Hosts a - b - c, a chain: cables 10.0.1.x and 10.0.2.x. */
static struct topo_graph *chain3(void)
{
    struct topo_rank_info in[3];
    struct topo_options opt;
    struct topo_graph *g = NULL;
    char err[TOPO_ERR_LEN];

    fake_rank(&in[0], 0, "a");
    fake_rank(&in[1], 1, "b");
    fake_rank(&in[2], 2, "c");
    fake_if(&in[0], "to_b", "10.0.1.1/24", 10000, TOPO_IF_UP);
    fake_if(&in[1], "to_a", "10.0.1.2/24", 10000, TOPO_IF_UP);
    fake_if(&in[1], "to_c", "10.0.2.1/24", 10000, TOPO_IF_UP);
    fake_if(&in[2], "to_b", "10.0.2.2/24", 10000, TOPO_IF_UP);
    topo_options_init(&opt);
    if (topo_graph_create(in, 3, &opt, &g, err, sizeof(err)) != haloSuccess)
        TEST_FAIL("topo_graph_create: %s", err);
    return g;
}

static const char chain_file[] = "format = halo-tune 1\n"
                                 "hosts = c b a\n"
                                 "transport = links\n"
                                 "reduce_MBps = 6000\n"
                                 "link = b/10.0.1.2 a/10.0.1.1 alpha_us=40 overhead_us=3 MBps_1ch=20 MBps_2ch=24 "
                                 "MBps_4ch=25\n"
                                 "link = b/10.0.2.1 c/10.0.2.2 alpha_us=55 overhead_us=2 MBps_1ch=22 MBps_2ch=23 "
                                 "MBps_4ch=26\n";

static void expect_refused(const struct topo_graph *g, const char *from, const char *to, const char *needle)
{
    struct topo_tune *t = calloc(1, sizeof(*t));
    struct topo_cost_model m, before;
    char text[2048], err[256], why[512];
    const char *at = strstr(chain_file, from);

    ASSERT_TRUE(at != NULL);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - chain_file), chain_file, to, at + strlen(from));
    ASSERT_OK(parse(text, t, err, sizeof(err)));
    topo_cost_model_from_graph(g, &m);
    before = m;
    ASSERT_EQ(topo_tune_apply(t, g, NULL, NULL, &m, why, sizeof(why)), -1);
    ASSERT_CONTAINS(why, needle);
    ASSERT_TRUE(memcmp(&m, &before, sizeof(m)) == 0);
    free(t);
}

static void test_apply_graph(void)
{
    struct topo_graph *g = chain3();
    struct topo_tune *t = calloc(1, sizeof(*t));
    struct topo_cost_model m;
    char err[256], why[512], end[2][TOPO_TUNE_END_LEN];
    int pairs[4][2];

    ASSERT_EQ(g->cls, TOPO_CLASS_CHAIN);
    ASSERT_EQ(topo_tune_pairs(g, pairs, 4), 2);
    topo_tune_pair_ends(g, 0, 1, end);
    ASSERT_STREQ(end[0], "a/10.0.1.1");
    ASSERT_STREQ(end[1], "b/10.0.1.2");

    ASSERT_OK(parse(chain_file, t, err, sizeof(err)));
    topo_cost_model_from_graph(g, &m);
    ASSERT_OK(topo_tune_apply(t, g, NULL, NULL, &m, why, sizeof(why)));
    CLOSE(m.alpha_s, 55e-6);
    CLOSE(m.msg_overhead_s, 3e-6);
    CLOSE(m.bw_Bps, 20e6);
    CLOSE(m.chan_gain[2], 23.0 / 20);
    CLOSE(m.chan_gain[4], 25.0 / 20);
    CLOSE(m.reduce_Bps, 6000e6);
    ASSERT_EQ(m.cls, TOPO_CLASS_CHAIN);

    expect_refused(g, "hosts = c b a", "hosts = c b d", "measured on other hosts: a is not among them");
    expect_refused(g, "hosts = c b a", "hosts = c b a e", "measured on 4 hosts, this job runs on 3");
    expect_refused(g, "c/10.0.2.2", "c/10.0.9.2", "no measurement of the link b/10.0.2.1 - c/10.0.2.2");
    expect_refused(g, "transport = links", "transport = tcp", "measured on one host (tcp)");
    free(t);
    topo_graph_destroy(g);
}

int main(void)
{
    test_good();
    test_malformed();
    test_prefixes();
    test_apply_one_host();
    test_apply_graph();
    printf("test_tune: ok\n");
    return 0;
}
